"""Execute a lifecycle notebook headless on the offline default, then print its summary.

`make demo` runs the digits one: `python scripts/run_demo.py`. The others:
`python scripts/run_demo.py example_notebooks/02_colour_sensor_lifecycle.ipynb`.
Writes build/demo/<notebook name>/ (or $TINYML_DEMO_OUT): the executed notebook, model.tflite and summary.json.
The tests (tests/test_demo.py, tests/test_notebooks.py) call `main` with their own folder.
"""
from __future__ import annotations

import argparse
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
NOTEBOOKS = ROOT / "example_notebooks"
DIGITS = NOTEBOOKS / "01_digits_lifecycle.ipynb"


def default_out(notebook: Path) -> Path:
    """Where a run writes when the caller names no folder: one folder per notebook, so runs do not overwrite
    each other's summary.json."""
    return Path(os.environ.get("TINYML_DEMO_OUT", ROOT / "build" / "demo" / notebook.stem))


def generated_code(notebook: nbformat.NotebookNode) -> list[str]:
    """The code each `%%tinyml_*` magic wrote, as the executed notebook keeps it: headless, nothing inserts cells,
    so the magic shows the code in its own output (a display whose plain text is the code)."""
    return [
        output["data"]["text/plain"]
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source.startswith("%%tinyml_")
        for output in cell.get("outputs", [])
        if output.get("output_type") == "display_data" and output["data"].get("text/plain", "").startswith("# tinyml ")
    ]


def main(notebook_path: Path = DIGITS, out: Path | None = None, extra_cells: Sequence[str] = ()) -> int:
    """Run the notebook into `out`; `extra_cells` run after it in the same kernel (the tests ask the namespace the
    lifecycle left behind this way, rather than running the lifecycle a second time)."""
    notebook_path = Path(notebook_path).resolve()
    out = default_out(notebook_path) if out is None else out
    out.mkdir(parents=True, exist_ok=True)
    for variable in ("TINYML_MODEL", "TINYML_API_BASE"):  # the demo shows the offline default
        os.environ.pop(variable, None)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.extend(nbformat.v4.new_code_cell(source) for source in extra_cells)
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(out)}})
    executed = out / notebook_path.name
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        nbformat.write(notebook, executed)
        print(f"{notebook_path.name} failed; the executed notebook is in {executed}\n{error}", file=sys.stderr)
        return 1
    nbformat.write(notebook, executed)
    summary = json.loads((out / "summary.json").read_text())
    print(f"demo: {notebook_path.name} executed in {time.perf_counter() - started:.0f} s (offline recipes) -> {out}")
    print(f"  the code of {len(generated_code(notebook))} stages is in their magics' outputs in {executed.name}")
    for key, value in summary.items():
        print(f"  {key:<20} {value}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=DIGITS,
                        help="the notebook to run (default: the digits one, %(default)s)")
    parser.add_argument("--out", type=Path, help="folder for the results (default: build/demo/<notebook name>/)")
    arguments = parser.parse_args()
    if not arguments.notebook.is_file():
        parser.error(f"no notebook at {arguments.notebook}; the lifecycle notebooks are in {NOTEBOOKS}")
    sys.exit(main(arguments.notebook, arguments.out))
