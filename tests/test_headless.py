"""Where no frontend inserts cells (nbclient, nbconvert --execute, papermill, terminal IPython) the generated code
reaches the output with a line that says so, and --run still executes it (issue 13, item 4)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import nbformat
import pytest
from nbclient import NotebookClient

DATA = (
    "%load_ext jupyter_tinyml\n"
    "import numpy as np\n"
    "rng = np.random.default_rng(0)\n"
    "features = rng.normal(size=(60, 3)).astype('float32')\n"
    "labels = (features[:, 0] > 0).astype('int64')"
)
PREP = "%%tinyml_prep\nUse the features and labels; keep 20% for testing.\n"
PREP_RUN = "%%tinyml_prep --run\nUse the features and labels; keep 20% for testing.\n"
OFFLINE = {key: value for key, value in os.environ.items() if key not in ("TINYML_MODEL", "TINYML_API_BASE")}


def notebook_of(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def texts(cell: nbformat.NotebookNode) -> tuple[str, list[dict]]:
    """The cell's streamed text, and its display outputs' data."""
    stream = "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")
    return stream, [output.data for output in cell.outputs if output.output_type == "display_data"]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nbformat.NotebookNode]:
    """One notebook through nbclient, as nbconvert --execute runs it: prep shown, then prep run."""
    folder = tmp_path_factory.mktemp("headless")
    notebook = notebook_of(DATA, PREP, "print('x_train' in globals())", PREP_RUN, "print(x_train.shape, x_test.shape)")
    os.environ.pop("TINYML_MODEL", None)
    NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    yield notebook


def test_nbclient_gets_the_code_in_the_output_as_a_code_block(executed) -> None:
    stream, displays = texts(executed.cells[1])
    assert "No frontend here inserts cells (a headless run" in stream and "Inserted below" not in stream
    assert "run the magic with --run" in stream
    [code] = [data for data in displays if "text/markdown" in data]
    assert code["text/markdown"].startswith("```python\n# tinyml prep · offline recipe · UNREVIEWED")
    assert "train_test_split" in code["text/plain"] and code["text/markdown"].rstrip().endswith("```")
    assert texts(executed.cells[2])[0].strip() == "False"  # shown, not run


def test_run_still_executes_the_code_where_nothing_inserts(executed) -> None:
    stream, _ = texts(executed.cells[3])
    assert "--run executes it next" in stream
    assert texts(executed.cells[4])[0].strip() == "(48, 3) (12, 3)"


def test_papermill_keeps_the_code_in_the_saved_notebook(tmp_path: Path) -> None:
    import papermill

    source, saved = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(notebook_of(DATA, PREP), source)
    papermill.execute_notebook(str(source), str(saved), kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    cell = nbformat.read(saved, as_version=4).cells[1]
    stream, displays = texts(cell)
    assert "No frontend here inserts cells" in stream
    assert any("train_test_split" in data.get("text/markdown", "") for data in displays)


def test_terminal_ipython_prints_the_code_and_puts_it_in_the_next_prompt(tmp_path: Path) -> None:
    script = tmp_path / "session.ipy"
    script.write_text(
        DATA + "\n"
        "get_ipython().run_cell(" + json.dumps(PREP) + ")\n"
        "print('NEXT PROMPT HOLDS CODE:', 'train_test_split' in (get_ipython().rl_next_input or ''))\n"
    )
    ipython = Path(sys.executable).with_name("ipython")
    result = subprocess.run([str(ipython), "--quick", "--no-banner", str(script)], capture_output=True, text=True,
                            cwd=tmp_path, env=OFFLINE, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "# tinyml prep · offline recipe · UNREVIEWED" in result.stdout  # printed
    assert "waits in your next prompt" in result.stdout and "Inserted below" not in result.stdout
    assert "NEXT PROMPT HOLDS CODE: True" in result.stdout
