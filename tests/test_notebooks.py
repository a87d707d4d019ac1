"""The colour-sensor and gesture handouts (example_notebooks/02_*, 03_*), executed headless in a real kernel as
`scripts/run_demo.py` runs them: data generated in the notebook -> offline prep -> train -> convert -> deploy
through the magics, ending with the on-device check on the virtual board.

The digits notebook is tests/test_demo.py's. Each run here also asks the kernel the recipe chains' contract
(lifecycle_contract.py), so a recipe that picked the wrong table, column or array would fail here, not only a
number in summary.json.
"""
from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from lifecycle_contract import CONTRACT, assert_int8_contract, contract_result
from prerequisites import require_arm_tools
from quiet_output import noisy_outputs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "example_notebooks"


@functools.cache
def run_demo():
    """scripts/run_demo.py as a module, loaded once per test process."""
    spec = importlib.util.spec_from_file_location("run_demo", ROOT / "scripts" / "run_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Asked after the contract: the check's own verdict and the tolerance of the firmware target it ran on (the C
# target and TFLite Micro differ), which summary.json does not keep.
DEVICE_VERDICT = """
print("DEVICE", json.dumps({"ok": device_check.ok, "tolerance_steps": int(device_check.tolerance_steps)}))
"""


def execute(name: str, out: Path, capsys, monkeypatch) -> tuple[dict, dict, nbformat.NotebookNode]:
    """Run one notebook into `out`; its summary.json (with the check's verdict under "device_verdict"), the
    contract values and the executed notebook."""
    require_arm_tools()  # every handout ends on the virtual board
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # what the script sets for itself, restored after
    # %load_ext keeps TensorFlow's native lines out (native_logs.py); the test does not do it for the product.
    for switch in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY"):
        monkeypatch.delenv(switch, raising=False)
    returncode = run_demo().main(NOTEBOOKS / name, out=out, extra_cells=[CONTRACT + DEVICE_VERDICT])
    printed = capsys.readouterr()
    assert returncode == 0, printed.err[-3000:]
    assert "on_device_agreement" in printed.out  # the script printed the summary
    executed = nbformat.read(out / name, as_version=4)
    stdout = "".join(output.get("text", "") for output in executed.cells[-1].outputs if output.get("name") == "stdout")
    summary = json.loads((out / "summary.json").read_text())
    verdict = next(line for line in stdout.splitlines() if line.startswith("DEVICE "))
    summary["device_verdict"] = json.loads(verdict.removeprefix("DEVICE "))
    return summary, contract_result(stdout), executed


def assert_checked_on_the_virtual_board(summary: dict, out: Path) -> None:
    """Deployed, built, flashed and checked over serial against the host int8 model; int8 close to float."""
    assert summary["device"] == "virtual-cortex-m4"
    assert summary["device_verdict"]["ok"] and summary["on_device_agreement"] >= 0.95
    assert summary["on_device_max_diff_steps"] <= summary["device_verdict"]["tolerance_steps"]
    assert summary["agreement"] >= 0.95  # int8 vs float on the test split
    assert 1_000 < summary["device_flash_bytes"] < 1 << 20 and 1_000 < summary["device_ram_bytes"] < 1 << 20
    assert summary["device_latency_us_emulated"] > 0
    model = (out / "model.tflite").read_bytes()
    assert model[4:8] == b"TFL3" and summary["tflite_bytes"] == len(model)


def assert_generated_code_kept(executed: nbformat.NotebookNode) -> None:
    """prep, train, convert and deploy each kept their code in the executed notebook (headless: in the output)."""
    generated = run_demo().generated_code(executed)
    assert [code.split(" · ", 1)[0] for code in generated] == [
        "# tinyml prep", "# tinyml train", "# tinyml convert", "# tinyml deploy"
    ]
    assert all("offline recipe" in code for code in generated)
    assert noisy_outputs(executed) == []  # no TensorFlow/absl/LiteRT log line or warning under any cell


def test_colour_sensor_handout_runs_to_the_virtual_board(tmp_path, capsys, monkeypatch):
    summary, result, executed = execute("02_colour_sensor_lifecycle.ipynb", tmp_path, capsys, monkeypatch)
    assert_checked_on_the_virtual_board(summary, tmp_path)
    assert_generated_code_kept(executed)
    # The readings DataFrame, its text label column `fruit`, the three proportions as features.
    assert_int8_contract(result)
    assert result["data_kind"] == "tabular" and result["class_names"] == ["apple", "banana", "lime"]
    assert result["input_shape"] == [3] and result["feature_stats"] == ["float32", [3], "float32"]
    assert summary["test_samples"] == 120  # 20% of 600 readings
    assert summary["float_accuracy"] >= 0.9
    assert "FULLY_CONNECTED" in summary["ops"]


def test_gesture_handout_runs_to_the_virtual_board(tmp_path, capsys, monkeypatch):
    summary, result, executed = execute("03_gesture_lifecycle.ipynb", tmp_path, capsys, monkeypatch)
    assert_checked_on_the_virtual_board(summary, tmp_path)
    assert_generated_code_kept(executed)
    # The accelerometer windows (N×100×3, 2 s at 50 Hz) with their gesture names, one mean/std per axis.
    assert_int8_contract(result)
    assert result["data_kind"] == "timeseries" and result["class_names"] == ["flex", "idle", "punch"]
    assert result["input_shape"] == [100, 3] and result["feature_stats"] == ["float32", [3], "float32"]
    assert summary["test_samples"] == 90  # 20% of 450 windows
    assert summary["float_accuracy"] >= 0.9
    assert "CONV_2D" in summary["ops"]  # Conv1D runs as a 2-D convolution in TFLite


@pytest.mark.parametrize("name", sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")))
def test_handouts_are_what_the_generator_writes(name):
    """The notebooks in the repository are scripts/make_demo_notebook.py's output, not hand edits that the next
    regeneration would silently undo."""
    spec = importlib.util.spec_from_file_location("make_demo_notebook", ROOT / "scripts" / "make_demo_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stored = nbformat.read(NOTEBOOKS / name, as_version=4)
    written = module.NOTEBOOKS[name]()
    assert [(cell.cell_type, cell.source) for cell in stored.cells] == [(c.cell_type, c.source) for c in written]
