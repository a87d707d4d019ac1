"""`make demo`: execute the digits lifecycle notebook headless on the offline default, then print its summary.

Writes build/demo/: the executed notebook, model.tflite and summary.json.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "example_notebooks" / "01_digits_lifecycle.ipynb"
OUT = Path(os.environ.get("TINYML_DEMO_OUT", ROOT / "build" / "demo"))


def show_inserted_cells(notebook: nbformat.NotebookNode, inserted: dict[int, str]) -> None:
    """Put the generated cells where JupyterLab would have, so the saved notebook shows the code that ran."""
    for index in sorted(inserted, reverse=True):
        cell = nbformat.v4.new_code_cell(inserted[index], metadata={"tags": ["tinyml-generated"]})
        notebook.cells.insert(index + 1, cell)


def main(out: Path = OUT, extra_cells: Sequence[str] = ()) -> int:
    """Run the notebook into `out`; `extra_cells` run after it in the same kernel (the tests ask the namespace the
    lifecycle left behind this way, rather than running the lifecycle a second time)."""
    out.mkdir(parents=True, exist_ok=True)
    for variable in ("TINYML_MODEL", "TINYML_API_BASE"):  # the demo shows the offline default
        os.environ.pop(variable, None)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in extra_cells)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(out)}})
    inserted: dict[int, str] = {}  # cell index -> what set_next_input would have put below it in a live frontend
    client.on_cell_executed = lambda cell, cell_index, execute_reply: inserted.update(
        {cell_index: p["text"] for p in execute_reply["content"].get("payload", []) if p.get("source") == "set_next_input"}
    )
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        nbformat.write(notebook, out / NOTEBOOK.name)
        print(f"demo failed; the executed notebook is in {out / NOTEBOOK.name}\n{error}", file=sys.stderr)
        return 1
    show_inserted_cells(notebook, inserted)
    nbformat.write(notebook, out / NOTEBOOK.name)
    summary = json.loads((out / "summary.json").read_text())
    print(f"demo: {NOTEBOOK.name} executed in {time.perf_counter() - started:.0f} s (offline recipes) -> {out}")
    for key, value in summary.items():
        print(f"  {key:<20} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
