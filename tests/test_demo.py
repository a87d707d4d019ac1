"""`make demo`'s notebook, executed headless in a real kernel: offline prep -> train -> convert -> deploy through
the magics, ending with the on-device check on the virtual board.

It is also the digits image lifecycle's test: the namespace it leaves is checked against the same contract as the
recipe chains in test_recipes.py, so the lifecycle is trained once, not twice.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat

from lifecycle_contract import CONTRACT, assert_int8_contract, contract_result
from prerequisites import require_arm_tools

ROOT = Path(__file__).resolve().parents[1]


def demo_script():
    spec = importlib.util.spec_from_file_location("run_demo", ROOT / "scripts" / "run_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_notebook_runs_offline_end_to_end(tmp_path, capsys, monkeypatch):
    require_arm_tools()  # the demo ends on the virtual board
    # What the script sets for itself, restored after the test.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    returncode = demo_script().main(out=tmp_path, extra_cells=[CONTRACT])
    printed = capsys.readouterr()
    assert returncode == 0, printed.err[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["float_accuracy"] >= 0.9
    assert abs(summary["float_accuracy"] - summary["quantized_accuracy"]) <= 0.01  # int8 within 1 point
    assert summary["agreement"] >= 0.97
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(summary["ops"])
    assert 1_000 < summary["arena_bytes"] < 100_000
    assert summary["worst_layer"]["rmse_over_scale"] > 0
    # deployed to the virtual board and checked over serial against the host int8 model
    assert summary["device"] == "virtual-cortex-m4" and summary["on_device_agreement"] == 1.0
    assert summary["on_device_max_diff_steps"] == 0
    assert 1_000 < summary["device_flash_bytes"] < 4 << 20 and 1_000 < summary["device_ram_bytes"] < 4 << 20
    model = (tmp_path / "model.tflite").read_bytes()
    assert model[4:8] == b"TFL3" and summary["tflite_bytes"] == len(model)
    executed = nbformat.read(tmp_path / "01_digits_lifecycle.ipynb", as_version=4)
    generated = [cell for cell in executed.cells if "tinyml-generated" in cell.metadata.get("tags", [])]
    assert len(generated) == 4  # prep, train, convert, deploy: shown below their magics as a person would see them
    assert all(cell.source.startswith("# tinyml ") and "offline recipe" in cell.source for cell in generated)
    assert "float_accuracy" in printed.out

    # The digits image lifecycle leaves what the next stage and the firmware need (the recipe chains' contract).
    stdout = "".join(output.get("text", "") for output in executed.cells[-1].outputs if output.get("name") == "stdout")
    result = contract_result(stdout)
    assert_int8_contract(result)
    assert result["data_kind"] == "image" and result["input_shape"] == [8, 8, 1] and result["input_scale"] == 16.0
    assert result["feature_stats"] is None
    assert result["float"] >= 0.95
    assert (tmp_path / "model.tflite").stat().st_size == result["tflite_bytes"]
