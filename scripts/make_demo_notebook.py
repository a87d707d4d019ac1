"""Writes example_notebooks/01_digits_lifecycle.ipynb (kept as a script so the notebook's cells are reviewable)."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(
        "# Digits, from data to an int8 model\n"
        "scikit-learn's 8×8 handwritten digits → a small CNN → a full-integer int8 TFLite model.\n"
        "Each `%%tinyml_*` cell holds a request in plain words; the code comes back as a new cell below for "
        "you to read. With no model configured, built-in offline recipes answer. `--run` also executes the "
        "code (used here so the notebook runs unattended; leave it out when you work)."
    ),
    new_code_cell("%load_ext jupyter_tinyml\n%tinyml status"),
    new_code_cell(
        "from sklearn.datasets import load_digits\n\n"
        "digits = load_digits()\n"
        "images, labels = digits.images, digits.target\n"
        "images.shape, labels.shape"
    ),
    new_code_cell("%%tinyml_prep --run\nUse the digit images and labels; keep 20% for testing."),
    new_code_cell("%%tinyml_train --run\nA small CNN that fits an Arduino Nano 33 BLE Sense."),
    new_code_cell("%%tinyml_convert --run --board nano33ble\nFull-integer int8 with int8 input and output; write model.tflite."),
    new_markdown_cell(
        "## On a board\n"
        "No board at hand: the virtual Cortex-M4 (QEMU) runs the same serial protocol as a real one, with the "
        "model compiled to plain C (no interpreter). With a board plugged in, pick it with `--board` and use the "
        "panel's buttons."
    ),
    new_code_cell("%%tinyml_deploy --run --board virtual-cortex-m4\nDeploy to the virtual board and check it over serial."),
    new_code_cell(
        "# What the panel's Build, Flash and Check buttons do, run here so the notebook runs unattended.\n"
        "device_build = deploy_panel.build()\n"
        "device_upload = deploy_panel.flash()\n"
        "device_check = deploy_panel.check()\n"
        "if device_check is None:  # each step reports its problem in the panel; unattended, stop here with it\n"
        "    raise RuntimeError(deploy_panel.log_view.value)\n"
        "device_check"
    ),
    new_markdown_cell("## Summary\nWhat the demo measured, written to `summary.json` beside this notebook."),
    new_code_cell(
        "import json\n\n"
        "summary = {\n"
        "    \"float_accuracy\": round(float(float_accuracy), 4),\n"
        "    \"quantized_accuracy\": round(float(quantized_accuracy), 4),\n"
        "    \"tflite_bytes\": len(tflite_model),\n"
        "    \"agreement\": round(float(quantization.agreement), 4),\n"
        "    \"arena_bytes\": model_info.arena_bytes,\n"
        "    \"ops\": [op.name for op in model_info.ops],\n"
        "    \"worst_layer\": quantization.summary()[\"worst_layer\"],\n"
        "    \"device\": project.board.id,\n"
        "    \"on_device_agreement\": float(device_check.agreement),\n"
        "    \"on_device_max_diff_steps\": int(device_check.max_abs_diff),\n"
        "    \"device_flash_bytes\": int(device_build.flash_bytes),\n"
        "    \"device_ram_bytes\": int(device_build.ram_bytes),\n"
        "    \"device_latency_us_emulated\": float(device_check.latency_us_median),\n"
        "    \"num_parameters\": int(model.count_params()),\n"
        "    \"test_samples\": int(len(x_test)),\n"
        "}\n"
        "with open(\"summary.json\", \"w\") as file:\n"
        "    json.dump(summary, file, indent=2)\n"
        "summary"
    ),
    new_code_cell("from jupyter_tinyml.hardware.virtual import qemu\n\nfor board in qemu.running():  # stop QEMU\n    board.stop()"),
]
notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
path = Path(__file__).resolve().parents[1] / "example_notebooks" / "01_digits_lifecycle.ipynb"
nbformat.write(notebook, path)
print(path)
