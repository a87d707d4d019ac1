"""`make demo`'s notebook, executed headless in a real kernel: offline prep -> train -> convert through the magics."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_demo_notebook_runs_offline_end_to_end(tmp_path):
    missing = [tool for tool in ("arm-none-eabi-gcc", "qemu-system-arm") if shutil.which(tool) is None]
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"the demo ends on the virtual board, which needs {', '.join(missing)} "
                    "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
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
    assert "float_accuracy" in done.stdout
