"""`make demo`: execute the digits lifecycle notebook headless on the offline default, then print its summary.

Writes build/demo/: the executed notebook, model.tflite and summary.json.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "example_notebooks" / "01_digits_lifecycle.ipynb"
OUT = ROOT / "build" / "demo"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for variable in ("TINYML_MODEL", "TINYML_API_BASE"):  # the demo shows the offline default
        os.environ.pop(variable, None)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(OUT)}})
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        nbformat.write(notebook, OUT / NOTEBOOK.name)
        print(f"demo failed; the executed notebook is in {OUT / NOTEBOOK.name}\n{error}", file=sys.stderr)
        return 1
    nbformat.write(notebook, OUT / NOTEBOOK.name)
    summary = json.loads((OUT / "summary.json").read_text())
    print(f"demo: {NOTEBOOK.name} executed in {time.perf_counter() - started:.0f} s (offline recipes) -> {OUT}")
    for key, value in summary.items():
        print(f"  {key:<20} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
