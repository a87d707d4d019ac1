"""QuantizationReport: the widget, its static HTML and plain-text fallbacks, from realistic comparison results.

The results are filled in by hand with the numbers a 10-class digits model gives (360 test samples), so these
tests do not need TensorFlow.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pytest

from jupyter_tinyml.boards import Board, find_board
from jupyter_tinyml.model.compare import QuantizationComparison
from jupyter_tinyml.model.inspection import ModelInspection
from jupyter_tinyml.model.layer_errors import LayerError
from jupyter_tinyml.model.tflite import OpInfo, TensorInfo
from jupyter_tinyml.widgets import QuantizationReport, report_html, report_text

VIEW = "application/vnd.jupyter.widget-view+json"
DIGITS_PER_CLASS = [33, 28, 33, 34, 46, 47, 35, 34, 30, 40]  # sklearn digits, 20% test split: 360 samples


def confusion(mistakes: list[tuple[int, int]]) -> np.ndarray:
    matrix = np.diag(DIGITS_PER_CLASS).astype(np.int64)
    for true, predicted in mistakes:
        matrix[true, true] -= 1
        matrix[true, predicted] += 1
    return matrix


FLOAT_MISTAKES = [(1, 8), (2, 8), (3, 5), (3, 8), (5, 9), (7, 9), (8, 1), (8, 3), (9, 5)]  # 351 of 360 right
# int8 gets one 5 right that float missed, and misses one more 3 (as 8) and one more 8 (as 1): 350 of 360 right,
# and the two models disagree on 3 samples.
INT8_MISTAKES = [m for m in FLOAT_MISTAKES if m != (5, 9)] + [(3, 8), (8, 1)]

LAYERS = [
    LayerError("sequential/conv2d_1/Relu;sequential/conv2d_1/BiasAdd;sequential/conv2d_1/Conv2D", "CONV_2D", 0.92, 0.0412, 576),
    LayerError("sequential/dense/MatMul;sequential/dense/Relu;sequential/dense/BiasAdd", "FULLY_CONNECTED", 0.61, 0.0734, 64),
    LayerError("sequential/conv2d/Relu;sequential/conv2d/BiasAdd;sequential/conv2d/Conv2D", "CONV_2D", 0.41, 0.0265, 288),
    LayerError("sequential/max_pooling2d/MaxPool", "MAX_POOL_2D", 0.33, 0.0265, 72),
    LayerError("sequential/dense_1/MatMul;sequential/dense_1/BiasAdd", "FULLY_CONNECTED", 0.31, 0.1187, 10),
    LayerError("StatefulPartitionedCall:0", "SOFTMAX", 0.29, 0.00390625, 10),
]


@pytest.fixture
def digits() -> QuantizationComparison:
    float_matrix, int8_matrix = confusion(FLOAT_MISTAKES), confusion(INT8_MISTAKES)
    counts = np.array(DIGITS_PER_CLASS)
    return QuantizationComparison(
        task="classification", n_samples=360, float_bytes=74_212, quantized_bytes=22_656, quantization="int8",
        float_accuracy=351 / 360, quantized_accuracy=350 / 360, agreement=357 / 360,
        class_names=[str(digit) for digit in range(10)],
        per_class_float=list(np.diag(float_matrix) / counts), per_class_quantized=list(np.diag(int8_matrix) / counts),
        confusion_float=float_matrix, confusion_quantized=int8_matrix, layer_errors=list(LAYERS))


@pytest.fixture
def inspection() -> ModelInspection:
    return ModelInspection(
        ops=[OpInfo("CONV_2D", 3, 2), OpInfo("MAX_POOL_2D", 2, 1), OpInfo("RESHAPE", 1, 1),
             OpInfo("FULLY_CONNECTED", 9, 2), OpInfo("SOFTMAX", 2, 1)],
        inputs=[TensorInfo("serving_default_conv2d_input:0", (1, 8, 8, 1), "int8", 0.0627451, -128)],
        outputs=[TensorInfo("StatefulPartitionedCall:0", (1, 10), "int8", 0.00390625, -128)],
        flash_bytes=22_656, arena_measured_bytes=9_812, arena_margin_bytes=1_964, arena_bytes=11_776)


@pytest.fixture
def regression() -> QuantizationComparison:
    return QuantizationComparison(
        task="regression", n_samples=200, float_bytes=18_340, quantized_bytes=6_912, quantization="int8",
        float_mae=0.412, quantized_mae=0.431, float_rmse=0.583, quantized_rmse=0.611,
        layer_errors=[LayerError("sequential/dense/MatMul;sequential/dense/Relu", "FULLY_CONNECTED", 0.47, 0.051, 32),
                      LayerError("StatefulPartitionedCall:0", "FULLY_CONNECTED", 0.30, 0.0121, 1)])


class Tree(HTMLParser):
    """Checks that tags nest and close, and collects the confusion tables' cells and all text."""

    VOID = {"br", "hr", "img", "input", "meta", "link", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.matrices: dict[str, list[dict[str, Any]]] = {}
        self.text: list[str] = []
        self._matrix: str | None = None
        self._cell: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and "data-matrix" in attributes:
            self._matrix = attributes["data-matrix"]
            self.matrices[self._matrix] = []
        if tag == "td" and self._matrix is not None:
            self._cell = {"row": int(attributes["data-row"]), "col": int(attributes["data-col"]),
                          "changed": "data-changed" in attributes, "text": ""}
            self.matrices[self._matrix].append(self._cell)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "table":
            self._matrix = None
        if tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None and not self._cell["text"]:
            self._cell["text"] = data  # the count; a change follows in <sup>

    def words(self) -> str:
        """The text as a reader sees it: one space between words, whatever the tags."""
        return " ".join(" ".join(self.text).split())

    @classmethod
    def of(cls, text: str) -> "Tree":
        tree = cls()
        tree.feed(text)
        tree.close()
        return tree


def all_children(widget: widgets.Widget) -> list[widgets.Widget]:
    found = []
    for child in getattr(widget, "children", ()):
        found += [child, *all_children(child)]
    return found


def test_report_from_a_classification_result_is_made_of_real_widgets(digits, inspection):
    report = QuantizationReport(digits)
    assert isinstance(report, widgets.VBox)
    children = all_children(report)
    assert children and all(isinstance(child, widgets.Widget) for child in children)
    headline, tabs, notes = report.children
    assert isinstance(headline, widgets.HTML) and isinstance(tabs, widgets.Tab)
    assert isinstance(notes, widgets.Accordion)
    assert tabs.titles == ("Confusion matrices", "Per class", "Per-layer error", "Board")
    assert "97.5%" in headline.value and "97.2%" in headline.value and "99.2%" in headline.value
    assert "−0.3 points" in headline.value and "3.3× smaller" in headline.value
    # The Board tab sits under its own dropdown: it points there, not at a `board=` argument.
    assert "No board chosen: pick one in the Board menu above" in report._budget.value
    assert "pass <code>board=" not in report._budget.value and "pass <code>board=" in report_html(digits, inspection)


def test_mimebundle_carries_the_widget_view_static_html_and_text(digits, inspection):
    bundle = QuantizationReport(digits, inspection, board="nano33ble")._repr_mimebundle_()
    assert set(bundle) == {VIEW, "text/html", "text/plain"}
    assert bundle[VIEW]["model_id"]
    assert "97.5%" in bundle["text/html"] and "fits Arduino Nano 33 BLE Sense" in bundle["text/html"]
    assert bundle["text/plain"].startswith("Quantization report: int8 vs float (classification, 360 test samples)")
    assert "accuracy   float 97.5%  int8 97.2%  (-0.3 points, within 1 point)" in bundle["text/plain"]


def test_static_html_holds_the_headline_worst_layer_and_both_confusion_matrices(digits):
    page = report_html(digits)
    tree = Tree.of(page)
    assert not tree.errors and not tree.stack
    text = tree.words()
    for figure in ("97.5%", "97.2%", "99.2%", "357 of 360", "72.5 KB", "22.1 KB"):
        assert figure in text
    assert "Worst: conv2d_1 (CONV_2D) 0.92 steps, dense (FULLY_CONNECTED) 0.61 steps" in text
    assert "0.29 is the ideal rounding error" in text
    assert set(tree.matrices) == {"float", "quantized"}
    for kind, matrix in (("float", digits.confusion_float), ("quantized", digits.confusion_quantized)):
        cells = tree.matrices[kind]
        assert len(cells) == 100
        assert all(int(cell["text"]) == matrix[cell["row"], cell["col"]] for cell in cells)
        assert sum(int(cell["text"]) for cell in cells) == 360
    changed = {(cell["row"], cell["col"]) for cell in tree.matrices["quantized"] if cell["changed"]}
    assert changed == {(3, 3), (3, 8), (5, 5), (5, 9), (8, 8), (8, 1)}
    assert not any(cell["changed"] for cell in tree.matrices["float"])
    assert "Mistakes only int8 makes: true 3 predicted as 8 , true 8 predicted as 1 ." in text
    assert "Mistakes float makes and int8 does not: true 5 predicted as 9 ." in text


def test_text_report_names_what_changed_and_the_worst_layers(digits):
    text = report_text(digits)
    assert "  mistakes int8 adds (true->predicted): 3->8, 8->1" in text
    assert "  mistakes int8 avoids (true->predicted): 5->9" in text
    assert "  per class  largest drops: 8 -3.3 points, 3 -2.9 points" in text
    assert "0.92  conv2d_1 (CONV_2D, TFLite conv2d_1)" in text and "... 1 more" in text


def test_per_class_table_puts_the_largest_drop_first(digits):
    page = QuantizationReport(digits)._per_class.value
    rows = page.split("<tbody>")[1].split("</tr>")
    assert ">8 ⚠</th>" in rows[0] and ">3 ⚠</th>" in rows[1]  # one sample of 30 and of 34: -3.3 and -2.9 points
    assert "−3.3" in rows[0] and "+2.1" in rows[-2]  # class 5 gained the sample float missed
    assert "one sample is 2.9 points" in page


def test_layer_chart_shows_worst_first_with_the_ideal_marked(digits):
    chart = QuantizationReport(digits)._layers.value
    names = [row.split("white-space:nowrap\"><b>")[1].split("<")[0] for row in chart.split("<tr ")[1:]]
    assert names == ["conv2d_1", "dense", "conv2d", "max_pooling2d", "dense_1", "StatefulPartitionedCall:0"]
    assert 'title="ideal rounding error 0.29"' in chart and "1 step" in chart


def test_a_class_without_test_samples_shows_a_dash_and_goes_last(digits):
    per_class_float, per_class_quantized = list(digits.per_class_float), list(digits.per_class_quantized)
    per_class_float[4] = per_class_quantized[4] = float("nan")
    report = QuantizationReport(replace(digits, per_class_float=per_class_float, per_class_quantized=per_class_quantized))
    last_row = report._per_class.value.split("<tbody>")[1].split("</tr>")[-2]
    assert ">4</th>" in last_row and last_row.count("—") == 3
    assert "largest drops: 8 -3.3 points" in report_text(replace(digits, per_class_float=per_class_float))


def test_notes_say_how_the_figures_were_obtained(digits, inspection):
    noted = replace(digits, notes=["labels: one-hot y_test, argmax taken",
                                   "per-tensor errors: a copy re-quantized on 200 samples of x_train, measured on 100 test samples"])
    report = QuantizationReport(noted, inspection, board="nano33ble")
    accordion = report.children[-1]
    assert isinstance(accordion, widgets.Accordion) and accordion.titles == ("How these figures were obtained",)
    shown = Tree.of(report._notes.value).words()
    # It says how, not its own title again: runtimes and kernels, sample counts, the arena's measurement and margin.
    assert "How these figures were obtained" not in shown
    assert "LiteRT (TensorFlow Lite's Python interpreter, its optimized CPU kernels) on the same 360 test" in shown
    assert "Per-tensor errors: a copy re-quantized on 200 samples of x_train" in shown
    assert ("TFLite Micro tensor arena: 9,812 B measured by running the model with TFLite Micro's reference kernels "
            "(its Python runtime) on this computer, + a 1,964 B margin") in shown
    assert "re-quantized on 200 samples" in report_html(noted)
    assert "    - Labels: one-hot y_test, argmax taken" in report_text(noted)


def test_an_unmeasured_arena_says_why(digits, inspection):
    unmeasured = replace(inspection, arena_measured_bytes=None, arena_margin_bytes=None, arena_bytes=None,
                         arena_error="the tflite-micro runtime is not installed (pip install tflite-micro)")
    budget = Tree.of(QuantizationReport(digits, unmeasured, board="nano33ble")._budget.value).words()
    assert "RAM tensor arena not measured: the tflite-micro runtime is not installed" in budget
    assert "2.2%" in budget


def test_layer_chart_keeps_the_worst_ten(digits):
    many = [replace(LAYERS[2], tensor=f"sequential/conv2d_{n}/Relu", rmse_over_scale=0.5 - n / 100) for n in range(2, 10)]
    chart = QuantizationReport(replace(digits, layer_errors=[*LAYERS[:2], *many, *LAYERS[2:]]))._layers.value
    assert chart.count("<tr ") == 10 and "Showing the worst 10 of 14 tensors." in chart
    assert "conv2d_9" in chart and "max_pooling2d" not in chart


def test_a_board_without_inspection_shows_flash_and_asks_for_the_arena(digits, regression):
    report = QuantizationReport(digits, board="pico")
    budget = Tree.of(report._budget.value).words()
    assert "22.1 KB of 2.00 MB" in budget and "1.1%" in budget
    assert "tensor arena not measured: pass inspect(tflite_model) to see it" in budget
    assert "fits Raspberry Pi Pico" in report._headline.value
    assert "6.8 KB of 2.00 MB (0.3%)" in report_text(regression, board=find_board("pico"))


def test_board_bars_show_percentages_of_flash_and_ram(digits, inspection):
    report = QuantizationReport(digits, inspection, board="nano33ble")
    budget = Tree.of(report._budget.value).words()
    assert "22.1 KB of 1.00 MB" in budget and "2.2%" in budget  # 22,656 of 1,048,576 bytes
    assert "11.5 KB of 256.0 KB" in budget and "4.5%" in budget  # arena 11,776 of 262,144 bytes
    assert "9.6 KB measured + 1.9 KB margin" in budget
    assert "CONV_2D ×2" in budget and "scale 0.0627451, zero point -128" in budget
    assert "Over budget" not in budget
    assert "2.2%" in report_html(digits, inspection, find_board("nano33ble"))


def test_over_budget_board_says_it_does_not_fit(digits, inspection):
    person_detector = replace(inspection, flash_bytes=1_258_304, arena_measured_bytes=301_000,
                              arena_margin_bytes=30_100, arena_bytes=331_100)
    report = QuantizationReport(digits, person_detector, board="Arduino Nano 33 BLE Sense")
    assert "does not fit Arduino Nano 33 BLE Sense: Flash and RAM over budget" in report._headline.value
    budget = Tree.of(report._budget.value).words()
    assert "Over budget: the model needs 1.20 MB of Flash" in budget and "120.0%" in budget
    assert "Over budget: the tensor arena needs 323.3 KB of RAM" in budget and "126.3%" in budget
    text = report_text(digits, person_detector, report.board)
    assert "Flash 1.36 MB of 1.00 MB (135.6%)  OVER BUDGET: model 1.20 MB of 1.00 MB (120.0%)" in text


def test_tight_budget_is_amber_not_red(digits, inspection):
    # 22,656 B of model + 160 KiB of firmware (estimate) = 186,496 B: 93% of this flash.
    tiny = Board(id="tiny", name="Tiny test board", cpu="Cortex-M0+", clock_mhz=48, flash_bytes=200_000, ram_bytes=256_000)
    report = QuantizationReport(digits, inspection, board=tiny)
    assert "fits Tiny test board, tight on Flash" in report._headline.value
    assert "Tight:" in report._budget.value and "Over budget" not in report._budget.value
    assert report._board_picker.value == "tiny"


def test_the_report_and_the_project_writer_agree_on_a_model_that_fits_only_without_the_firmware(digits, tmp_path):
    """One verdict: a board whose flash holds the model's bytes but not the firmware beside them."""
    keras = pytest.importorskip("keras")
    pytest.importorskip("tflite_micro")
    from jupyter_tinyml import convert, inspect, write_project
    from jupyter_tinyml.budget import firmware_overhead
    from jupyter_tinyml.errors import ConfigError

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    tflite = convert(model, np.random.default_rng(0).normal(size=(32, 12)).astype(np.float32))
    inspection = inspect(tflite)
    nano = find_board("nano33ble")
    firmware_flash, _ = firmware_overhead(nano)
    shrunk = replace(nano, flash_bytes=len(tflite) + firmware_flash // 2)
    assert len(tflite) < shrunk.flash_bytes < len(tflite) + firmware_flash
    result = replace(digits, quantized_bytes=len(tflite))

    report = QuantizationReport(result, inspection, board=shrunk)
    assert "does not fit Arduino Nano 33 BLE Sense: Flash over budget" in report._headline.value
    assert "Over budget: the model needs" in Tree.of(report._budget.value).words()
    assert "OVER BUDGET" in report_text(result, inspection, shrunk)
    with pytest.raises(ConfigError, match="does not fit"):
        write_project(tflite, shrunk, tmp_path / "shrunk")
    assert not (tmp_path / "shrunk").exists() or not any((tmp_path / "shrunk").iterdir())

    report.board = nano  # the same model on the real board: both say it fits
    assert "fits Arduino Nano 33 BLE Sense" in report._headline.value and "does not fit" not in report._headline.value
    write_project(tflite, nano, tmp_path / "nano")


def test_unsupported_ops_are_listed_in_red(digits, inspection):
    spectrogram = replace(inspection, ops=[*inspection.ops, OpInfo("RFFT2D", 1, 1, supported_by_tflm=False)],
                          unsupported_ops=["RFFT2D"])
    report = QuantizationReport(digits, spectrogram, board="nano33ble")
    assert "1 op(s) not supported by TFLite Micro" in report._headline.value
    assert "Not supported by TFLite Micro" in report._budget.value
    assert "background:#cf222e;color:#fff;font-weight:600;font-size:0.92em;white-space:nowrap\">RFFT2D<" in report._budget.value
    assert "NOT SUPPORTED by TFLite Micro: RFFT2D" in report_text(digits, spectrogram)


def test_regression_shows_mae_and_rmse_instead_of_accuracy(regression):
    report = QuantizationReport(regression)
    assert report.children[1].titles == ("Per-layer error", "Board")
    headline = report._headline.value
    assert "0.412 → 0.431" in headline and "0.583 → 0.611" in headline and "+4.6%" in headline
    assert "Accuracy" not in headline and "Agreement" not in headline
    page = report_html(regression)
    assert not Tree.of(page).errors and not Tree.of(page).matrices
    text = report_text(regression)
    assert "MAE        float 0.412  int8 0.431  (+4.6%)" in text and "accuracy" not in text


def test_empty_layer_errors_say_not_measured(digits):
    unmeasured = replace(digits, layer_errors=[])
    report = QuantizationReport(unmeasured)
    assert "Per-layer error was not measured" in report._layers.value
    assert "Worst layer" not in report._headline.value
    assert "layer error: not measured" in report_text(unmeasured)
    assert not Tree.of(report_html(unmeasured)).errors


@pytest.mark.parametrize("quantized, colour", [(350 / 360, "#1a7f37"), (0.955, "#9a6700"), (0.90, "#cf222e")])
def test_accuracy_delta_is_green_amber_or_red(digits, quantized, colour):
    headline = QuantizationReport(replace(digits, quantized_accuracy=quantized))._headline.value
    delta = headline.split("points</span>")[0].rsplit("<span", 1)[1]
    assert f"background:{colour}" in delta


def test_picking_another_board_redraws_the_budget(digits, inspection):
    report = QuantizationReport(digits, inspection)
    report._board_picker.value = "pico"
    assert report.board == find_board("pico")
    assert "Raspberry Pi Pico" in report._budget.value and "fits Raspberry Pi Pico" in report._headline.value
    report.board = "xiao-esp32s3"
    assert report._board_picker.value == "xiao-esp32s3" and "Seeed XIAO ESP32S3 Sense" in report._budget.value
    assert "Seeed XIAO ESP32S3 Sense" in report._repr_mimebundle_()["text/html"]
    report.board = None
    assert report._board_picker.value == "" and "No board chosen" in report._budget.value


def test_an_unknown_board_name_lists_the_known_ones(digits):
    from jupyter_tinyml.errors import ConfigError

    with pytest.raises(ConfigError, match="known boards: .*nano33ble"):
        QuantizationReport(digits, board="uno")


def test_repr_is_one_line_with_the_headline(digits):
    assert repr(QuantizationReport(digits)) == (
        "QuantizationReport(int8 vs float: accuracy 97.5% -> 97.2% (-0.3 points), agreement 99.2%, 72.5 KB -> 22.1 KB)")


def test_static_html_file_is_well_formed_and_renders(digits, inspection, tmp_path):
    page = f"<!doctype html><html><head><meta charset=\"utf-8\"></head><body>{report_html(digits, inspection, find_board('nano33ble'))}</body></html>"
    assert "<script" not in page and "<link" not in page and "http" not in page.lower().replace("http-equiv", "")
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    tree = Tree.of(path.read_text(encoding="utf-8"))
    assert not tree.errors and not tree.stack
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        pytest.skip("chromium is not installed: the HTML is checked for well-formedness only")
    png = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
                    "--window-size=1200,1800", path.as_uri()], check=True, timeout=60, capture_output=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_importing_the_widgets_is_cheap():
    code = ("import sys, jupyter_tinyml.widgets as w; assert 'ipywidgets' not in sys.modules; "
            "from jupyter_tinyml import QuantizationReport; assert 'ipywidgets' in sys.modules; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'litellm')]")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_an_executed_notebook_keeps_the_static_report(digits, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    source = "\n".join([
        "import numpy as np",
        "from jupyter_tinyml.model.compare import QuantizationComparison",
        "from jupyter_tinyml.model.layer_errors import LayerError",
        "from jupyter_tinyml import QuantizationReport",
        f"result = QuantizationComparison(task='classification', n_samples=360, float_bytes=74212, quantized_bytes=22656,"
        f" quantization='int8', float_accuracy=351/360, quantized_accuracy=350/360, agreement=357/360,"
        f" class_names={digits.class_names!r}, per_class_float={[float(x) for x in digits.per_class_float]!r},"
        f" per_class_quantized={[float(x) for x in digits.per_class_quantized]!r},"
        f" confusion_float=np.array({digits.confusion_float.tolist()!r}),"
        f" confusion_quantized=np.array({digits.confusion_quantized.tolist()!r}),"
        f" layer_errors=[LayerError({LAYERS[0].tensor!r}, 'CONV_2D', 0.92, 0.0412, 576)])",
        "QuantizationReport(result, board='pico')",
    ])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    (output,) = notebook.cells[0].outputs
    assert output.output_type == "execute_result"
    assert set(output.data) == {VIEW, "text/html", "text/plain"}
    assert "fits Raspberry Pi Pico" in output.data["text/html"] and "conv2d_1" in output.data["text/html"]
    assert "accuracy   float 97.5%  int8 97.2%" in output.data["text/plain"]
