"""Widgets that show a library result in the notebook, and their static HTML and text renderings.

`report_html`/`report_text` load without ipywidgets (a result object's `_repr_html_` can use them);
`QuantizationReport` loads ipywidgets on first use.
"""
from __future__ import annotations

from typing import Any

from ..model.report import report_html, report_text

__all__ = ["DeployPanel", "QuantizationReport", "report_html", "report_text"]


def __getattr__(name: str) -> Any:
    if name == "QuantizationReport":
        from .quantization_report import QuantizationReport

        return QuantizationReport
    if name == "DeployPanel":
        from .deploy_panel import DeployPanel

        return DeployPanel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
