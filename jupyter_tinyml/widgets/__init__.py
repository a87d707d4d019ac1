"""Widgets that show a library result in the notebook, and the quantization report's static HTML and text.

`report_html`/`report_text` (drawn by model/report's templates) load without ipywidgets; `QuantizationReport`
and `DeployPanel` load ipywidgets on first use, `TrainingProgress` (a Keras callback) ipywidgets and Keras.
"""
from __future__ import annotations

from typing import Any

from ..model.report import report_html, report_text

__all__ = ["DeployPanel", "QuantizationReport", "TrainingProgress", "report_html", "report_text"]


def __getattr__(name: str) -> Any:
    if name == "QuantizationReport":
        from .quantization_report import QuantizationReport

        return QuantizationReport
    if name == "DeployPanel":
        from .deploy_panel import DeployPanel

        return DeployPanel
    if name == "TrainingProgress":
        from .training_progress import TrainingProgress

        return TrainingProgress
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
