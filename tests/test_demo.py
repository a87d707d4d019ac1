"""`make demo`'s notebook, executed headless in a real kernel: offline prep -> train -> convert through the magics."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def test_demo_notebook_runs_offline_end_to_end(tmp_path):
    env = {**os.environ, "TINYML_DEMO_OUT": str(tmp_path)}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_demo.py")], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["float_accuracy"] >= 0.9
    assert abs(summary["float_accuracy"] - summary["quantized_accuracy"]) <= 0.01  # int8 within 1 point
    assert summary["agreement"] >= 0.97
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(summary["ops"])
    assert 1_000 < summary["arena_bytes"] < 100_000
    assert summary["worst_layer"]["rmse_over_scale"] > 0
    model = (tmp_path / "model.tflite").read_bytes()
    assert model[4:8] == b"TFL3" and summary["tflite_bytes"] == len(model)
    executed = nbformat.read(tmp_path / "01_digits_lifecycle.ipynb", as_version=4)
    generated = [cell for cell in executed.cells if "tinyml-generated" in cell.metadata.get("tags", [])]
    assert len(generated) == 3  # prep, train, convert: shown below their magics as a person would see them
    assert all(cell.source.startswith("# tinyml ") and "offline recipe" in cell.source for cell in generated)
    assert "float_accuracy" in done.stdout
