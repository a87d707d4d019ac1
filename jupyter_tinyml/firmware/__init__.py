"""Firmware for the board: the model as a C array, a TFLite Micro project (Arduino sketch + PlatformIO), budgets.

    from jupyter_tinyml import firmware
    project = firmware.write_project(tflite_model, board="nano33ble", out_dir="fw", labels=["idle", "wave"])

Exact parts are pure functions of the model's bytes (`c_array`, `op_resolver_code`, `check_budget`), and so are
the skeleton's application regions (`regions`, `replace_regions`); `write_project` is the one that writes files.
The board speaks the serial protocol of PROTOCOL.md (next to this file).
"""
from __future__ import annotations

from ..budget import Budget, check_budget, firmware_overhead
from .c_code import c_array, float_literal, op_resolver_code, resolver_methods
from .project import TARGETS, Project, output_is_probability, write_project
from .skeleton import REGION_NAMES, default_app, regions, replace_regions

__all__ = [
    "Budget", "Project", "REGION_NAMES", "TARGETS", "c_array", "check_budget", "default_app", "firmware_overhead",
    "float_literal", "op_resolver_code", "output_is_probability", "regions", "replace_regions", "resolver_methods",
    "write_project",
]
