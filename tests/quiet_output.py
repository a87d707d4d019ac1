"""What counts as noise under a cell (issue 13): TensorFlow's and absl's native log lines, LiteRT's INFO lines,
the converter's bare prints and Python warnings. The recipe chains and the lifecycle notebooks assert none."""
from __future__ import annotations

import nbformat

NOISE_MARKS = ("I0000", "W0000", "E0000", "cpu_feature_guard", "absl::", "INFO:", "fully_quantize", "Warning:",
               "warnings.warn")


def quiet_breach(text: str) -> list[str]:
    """The lines of `text` that are TensorFlow log noise or Python warnings."""
    return [line for line in text.splitlines() if any(mark in line for mark in NOISE_MARKS)]


def noisy_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """Every noise line any cell of an executed notebook printed (stdout or stderr), with the cell's index."""
    return [
        f"cell {index}: {line}"
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
        for line in quiet_breach(output.get("text", ""))
    ]
