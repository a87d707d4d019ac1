"""Writes the three lifecycle notebooks in example_notebooks/ (kept as a script so the notebooks' cells are
reviewable, and so the cells every lifecycle shares are written once):

- 01_digits_lifecycle.ipynb: scikit-learn's 8×8 digits → CNN (`make demo` runs it);
- 02_colour_sensor_lifecycle.ipynb: colour-sensor proportions in a DataFrame → dense network;
- 03_gesture_lifecycle.ipynb: accelerometer windows N×T×3 → Conv1D network.

Each `%%tinyml_*` cell uses `--run` so the notebook runs unattended (scripts/run_demo.py, the tests), and each ends
with the on-device check on the virtual board and a summary.json. The data of 02 and 03 is generated in the
notebook with a fixed seed, so a workshop needs no download and every run sees the same rows.

Cell ids are derived from the notebook and the cell's position, so running this script again rewrites the
notebooks byte for byte unless a cell changed.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

FOLDER = Path(__file__).resolve().parents[1] / "example_notebooks"
KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
Cell = nbformat.NotebookNode


# The cells every lifecycle shares: load the extension, convert, deploy to the virtual board, check it, summarise.
def setup_cell() -> Cell:
    return new_code_cell("%load_ext jupyter_tinyml\n%tinyml status")


def convert_cell() -> Cell:
    return new_code_cell(
        "%%tinyml_convert --run --board nano33ble\nFull-integer int8 with int8 input and output; write model.tflite."
    )


ON_A_BOARD = (
    "No board at hand: the virtual Cortex-M4 (QEMU) runs the same serial protocol as a real one, with the "
    "model compiled to plain C (no interpreter). With a board plugged in, pick it with `--board` and use "
    "the panel's buttons."
)


def board_cells(heading: str = "## On a board", look_at: str = "") -> list[Cell]:
    """`look_at`: what a handout asks the reader to check in the panel (the digits notebook asks nothing)."""
    return [
        new_markdown_cell(f"{heading}\n{ON_A_BOARD}{look_at}"),
        new_code_cell(
            "%%tinyml_deploy --run --board virtual-cortex-m4\nDeploy to the virtual board and check it over serial."
        ),
        new_code_cell(
            "# What the panel's Build, Flash and Check buttons do, run here so the notebook runs unattended.\n"
            "device_build = deploy_panel.build()\n"
            "device_upload = deploy_panel.flash()\n"
            "device_check = deploy_panel.check()\n"
            "if device_check is None:  # each step reports its problem in the panel; unattended, stop here with it\n"
            "    raise RuntimeError(deploy_panel.log_view.value)\n"
            "device_check"
        ),
    ]


def summary_cells(heading: str = "## Summary", what: str = "What the demo measured") -> list[Cell]:
    return [
        new_markdown_cell(f"{heading}\n{what}, written to `summary.json` beside this notebook."),
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
        new_code_cell(
            "from jupyter_tinyml.hardware.virtual import qemu\n\nfor board in qemu.running():  # stop QEMU\n    board.stop()"
        ),
    ]


def digits() -> list[Cell]:
    return [
        new_markdown_cell(
            "# Digits, from data to an int8 model\n"
            "scikit-learn's 8×8 handwritten digits → a small CNN → a full-integer int8 TFLite model.\n"
            "Each `%%tinyml_*` cell holds a request in plain words; the code comes back as a new cell below for "
            "you to read. With no model configured, built-in offline recipes answer. `--run` also executes the "
            "code (used here so the notebook runs unattended; leave it out when you work)."
        ),
        setup_cell(),
        new_code_cell(
            "from sklearn.datasets import load_digits\n\n"
            "digits = load_digits()\n"
            "images, labels = digits.images, digits.target\n"
            "images.shape, labels.shape"
        ),
        new_code_cell("%%tinyml_prep --run\nUse the digit images and labels; keep 20% for testing."),
        new_code_cell("%%tinyml_train --run\nA small CNN that fits an Arduino Nano 33 BLE Sense."),
        convert_cell(),
        *board_cells(),
        *summary_cells(),
    ]


HOW_TO_WORK = (
    "Each `%%tinyml_*` cell holds a request in plain words, as you would say it to a teaching assistant; the code "
    "comes back as new cells below it for you to read before you run them. With no model configured, built-in "
    "offline recipes write the code. `--run` also executes it, so this handout runs top to bottom unattended; "
    "leave `--run` out when you work, and change the words to change the code."
)

# The convert step reads the same in both handouts.
CONVERT_NOTE = (
    "## 4. Convert to int8\n"
    "A microcontroller runs integers fastest and smallest: weights, activations, input and output all become "
    "int8. **Look at** the QuantizationReport: how often the int8 model agrees with the float one, and which "
    "layer lost most."
)


LOOK_AT_THE_BOARD = (
    " **Look at** the build log's flash and RAM against the board's budget, and the check's agreement: the "
    "board must give the same class as the int8 model on the host for every test sample."
)


def colour_sensor() -> list[Cell]:
    return [
        new_markdown_cell(
            "# Sorting fruit by colour: a colour sensor's readings → an int8 model on a board\n"
            "The Arduino Nano 33 BLE Sense has an APDS-9960 colour sensor: held against a fruit, it counts the red, "
            "green, blue and clear (unfiltered) light coming back. We teach a tiny network to tell an apple, a "
            "banana and a lime apart from those counts, shrink it to int8, and run it on a (virtual) board.\n\n"
            + HOW_TO_WORK
        ),
        setup_cell(),
        new_markdown_cell(
            "## 1. The readings\n"
            "No sensor in the room, so we make the readings up, the way the sensor would give them: each fruit "
            "reflects red, green and blue in its own proportions (fruits differ a little, so each reading gets its "
            "own share), the room's light makes every count larger or smaller, and counting light is noisy. "
            "200 readings per fruit, with a fixed seed so everyone gets the same table."
        ),
        new_code_cell(
            "import numpy as np\n"
            "import pandas as pd\n\n"
            "rng = np.random.default_rng(7)\n"
            "# Share of the reflected light in red, green and blue for each fruit.\n"
            "fruit_colours = {\"apple\": (0.55, 0.25, 0.20), \"banana\": (0.45, 0.40, 0.15), \"lime\": (0.30, 0.50, 0.20)}\n"
            "readings_per_fruit = 200\n\n"
            "counts = []\n"
            "for fruit, share in fruit_colours.items():\n"
            "    light = rng.uniform(300, 3000, size=(readings_per_fruit, 1))  # dim corner or desk lamp\n"
            "    this_fruit = rng.normal(share, 0.04, size=(readings_per_fruit, 3)).clip(0.01)  # no two fruits alike\n"
            "    rgb = rng.poisson(light * this_fruit)  # the sensor counts light: whole numbers, with counting noise\n"
            "    clear = rng.poisson(1.1 * rgb.sum(axis=1))  # the unfiltered channel sees a little more than r+g+b\n"
            "    counts.append(pd.DataFrame({\"r\": rgb[:, 0], \"g\": rgb[:, 1], \"b\": rgb[:, 2], \"clear\": clear,\n"
            "                                \"fruit\": fruit}))\n"
            "counts = pd.concat(counts, ignore_index=True)\n"
            "counts.sample(5, random_state=0)"
        ),
        new_markdown_cell(
            "The same apple gives counts ten times larger under a desk lamp than in a dim corner. Dividing each "
            "count by r + g + b keeps only the colour: these proportions are the features, as the Arduino "
            "colour-sensor examples compute them on the board. **Look at** the means per fruit: they should "
            "differ clearly in red and green."
        ),
        new_code_cell(
            "total = counts[[\"r\", \"g\", \"b\"]].sum(axis=1)\n"
            "readings = pd.DataFrame({\n"
            "    \"red\": counts[\"r\"] / total,\n"
            "    \"green\": counts[\"g\"] / total,\n"
            "    \"blue\": counts[\"b\"] / total,\n"
            "    \"fruit\": counts[\"fruit\"],\n"
            "})\n"
            "readings.groupby(\"fruit\").mean().round(3)"
        ),
        new_markdown_cell(
            "## 2. Prepare the data\n"
            "Ask for the split into training and test rows. **Look at** the code that comes back: which column it "
            "predicts, and that the features are standardised with the training rows' mean and spread only."
        ),
        new_code_cell(
            "%%tinyml_prep --run\n"
            "Use the readings table and predict the fruit column from red, green and blue; keep 20% for testing."
        ),
        new_markdown_cell(
            "## 3. Train\n"
            "Three numbers in, three fruits out: a small dense network is enough. **Look at** the training and "
            "validation accuracy, and the test accuracy at the end."
        ),
        new_code_cell(
            "%%tinyml_train --run\n"
            "A small dense network, no convolutions, that fits an Arduino Nano 33 BLE Sense; train for 30 epochs."
        ),
        new_markdown_cell(CONVERT_NOTE),
        convert_cell(),
        *board_cells("## 5. On a board", LOOK_AT_THE_BOARD),
        *summary_cells("## 6. Summary", "What this handout measured"),
    ]


def gestures() -> list[Cell]:
    return [
        new_markdown_cell(
            "# Gestures from an accelerometer → an int8 model on a board\n"
            "The Nano 33 BLE Sense's IMU measures acceleration along x, y and z. Two seconds of it at 50 Hz is a "
            "window of 100 × 3 numbers. We teach a small 1-D convolutional network to tell a punch, a flex of the "
            "forearm and a hand at rest apart, shrink it to int8, and run it on a (virtual) board.\n\n"
            + HOW_TO_WORK
        ),
        setup_cell(),
        new_markdown_cell(
            "## 1. The windows\n"
            "No board strapped to a wrist, so we make the windows up: gravity pulls 1 g on z while the hand is "
            "flat; a punch is a sharp push then stop along x; a flex slowly tips the forearm, moving gravity from z "
            "to y and back; at rest only the sensor's noise remains. 150 windows per gesture, each at its own "
            "speed, strength and moment, with a fixed seed so everyone gets the same windows."
        ),
        new_code_cell(
            "import numpy as np\n\n"
            "rng = np.random.default_rng(7)\n"
            "rate, seconds = 50, 2  # Hz, window length\n"
            "t = np.arange(rate * seconds) / rate  # 100 time steps\n\n\n"
            "def window(gesture):\n"
            "    \"\"\"One 100 x 3 window of acceleration in g (x, y, z).\"\"\"\n"
            "    xyz = np.zeros((t.size, 3))\n"
            "    xyz[:, 2] = 1.0  # gravity on z: the hand is flat\n"
            "    if gesture == \"punch\":  # push forward, then stop: a positive then a negative bump on x\n"
            "        start, width, strength = rng.uniform(0.3, 1.5), rng.uniform(0.06, 0.12), rng.uniform(1.5, 3.0)\n"
            "        xyz[:, 0] += strength * (np.exp(-((t - start) / width) ** 2) - np.exp(-((t - start - 2 * width) / width) ** 2))\n"
            "    elif gesture == \"flex\":  # the forearm tips up and back: gravity swings from z towards y\n"
            "        angle = rng.uniform(0.6, 1.3) * np.sin(np.pi * rng.uniform(0.4, 1.0) * t + rng.uniform(0, np.pi)) ** 2\n"
            "        xyz[:, 1], xyz[:, 2] = np.sin(angle), np.cos(angle)\n"
            "    return xyz + rng.normal(0, 0.05, xyz.shape)  # the sensor's noise\n\n\n"
            "gesture_names = [\"punch\", \"flex\", \"idle\"]\n"
            "labels = np.repeat(gesture_names, 150)\n"
            "windows = np.stack([window(gesture) for gesture in labels])\n"
            "windows.shape, labels.shape"
        ),
        new_markdown_cell(
            "**Look at** what sets the gestures apart, averaged over each gesture's windows: a punch's peak on x, "
            "a flex's swing of gravity onto y; at rest both stay near the noise."
        ),
        new_code_cell(
            "for gesture in gesture_names:\n"
            "    these = windows[labels == gesture]\n"
            "    peak_x = np.abs(these[..., 0]).max(axis=1).mean()\n"
            "    peak_y = these[..., 1].max(axis=1).mean()\n"
            "    print(f\"{gesture:>5}: largest |x| {peak_x:.2f} g, largest y {peak_y:.2f} g\")"
        ),
        new_markdown_cell(
            "## 2. Prepare the data\n"
            "Ask for the split into training and test windows. **Look at** the code that comes back: each of the "
            "three axes is standardised with the training windows' mean and spread, which the board must repeat "
            "on its raw readings."
        ),
        new_code_cell(
            "%%tinyml_prep --run\n"
            "Use the accelerometer windows and labels; keep 20% for testing."
        ),
        new_markdown_cell(
            "## 3. Train\n"
            "A 1-D convolution slides a short filter along time, so it finds a bump wherever in the window it "
            "happens. **Look at** the parameter count (it must fit the board's flash) and the test accuracy."
        ),
        new_code_cell(
            "%%tinyml_train --run\n"
            "A small Conv1D network that fits an Arduino Nano 33 BLE Sense; train for 20 epochs."
        ),
        new_markdown_cell(CONVERT_NOTE),
        convert_cell(),
        *board_cells("## 5. On a board", LOOK_AT_THE_BOARD),
        *summary_cells("## 6. Summary", "What this handout measured"),
    ]


NOTEBOOKS = {
    "01_digits_lifecycle.ipynb": digits,
    "02_colour_sensor_lifecycle.ipynb": colour_sensor,
    "03_gesture_lifecycle.ipynb": gestures,
}


def write(name: str, cells: list[Cell]) -> Path:
    """Write one notebook with stable cell ids (`<number>-<position>`), so regenerating changes only what changed."""
    prefix = name.split("_", 1)[0]
    for position, cell in enumerate(cells):
        cell.id = f"{prefix}-{position:02d}"
    path = FOLDER / name
    nbformat.write(new_notebook(cells=cells, metadata=KERNELSPEC), path)
    return path


if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        print(write(name, cells()))
