"""The QuantizationReport and the DeployPanel on one real model (the shared digits CNN and its int8 .tflite): they
name their arena figures and agree on them, the layer table speaks Keras layer names, the worst-layer badge is
coloured by what it costs, the "how obtained" section says how, and the generated deploy cell fits its board."""
from __future__ import annotations

import io
from contextlib import redirect_stdout
from typing import Any

import pytest

from jupyter_tinyml.model.report import GREEN, RED, format_bytes



@pytest.fixture(scope="module")
def compared(digits, digits_int8) -> tuple[Any, Any]:
    """compare() and inspect() of the digits CNN, as the convert stage's report cell calls them."""
    from jupyter_tinyml.model.compare import compare
    from jupyter_tinyml.model.inspection import inspect

    result = compare(digits.model, digits_int8, digits.x_test, digits.y_test, representative_data=digits.x_train)
    return result, inspect(digits_int8)


def worst_badge(headline: str) -> str:
    return headline.split("Worst layer:")[1].split("</span></span>")[0]


def test_the_layer_table_names_the_keras_layers_beside_the_tflite_tensors(digits, compared):
    from jupyter_tinyml.widgets import QuantizationReport

    result, _ = compared
    summary = io.StringIO()
    with redirect_stdout(summary):
        digits.model.summary()
    names = [layer.name for layer in digits.model.layers]
    assert all(name in summary.getvalue() for name in names)
    by_elements = {error.num_elements: error.layer for error in result.layer_errors if error.op == "FULLY_CONNECTED"}
    # Keras names the two Dense layers 'dense' and 'dense_1' in a fresh process (later ones count on); the traced
    # graph makes its scopes unique on top of that ('dense_1' and 'dense_1_2'), so names alone would mislead.
    hidden, output = [layer.name for layer in digits.model.layers if type(layer).__name__ == "Dense"]
    assert by_elements == {32: hidden, 10: output}
    assert {error.layer for error in result.layer_errors} == set(names)
    softmax = next(error for error in result.layer_errors if error.op == "SOFTMAX")
    assert softmax.layer == output and softmax.tensor.startswith("StatefulPartitionedCall")
    table = QuantizationReport(result)._layers.value
    for error in result.layer_errors:
        assert f'data-layer="{error.layer}"' in table and f"<b>{error.layer}</b>" in table
    assert "model.summary()" in table


def test_the_worst_layer_badge_is_coloured_by_what_it_costs(digits, digits_int8, compared):
    """A worst layer that changes no prediction is green, whatever its steps; it is amber or red only where
    quantization changes predictions (here: a copy calibrated on inputs scaled to 30%, so real inputs clip)."""
    from jupyter_tinyml.model.compare import compare
    from jupyter_tinyml.model.convert import convert
    from jupyter_tinyml.model.evaluate import evaluate
    from jupyter_tinyml.model.report import section_html

    result, _ = compared
    agreeing = result
    if result.agreement < 1.0:  # keep the test samples both models classify alike
        float_top = digits.model.predict(digits.x_test, verbose=0).argmax(axis=1)
        same = float_top == evaluate(digits_int8, digits.x_test).outputs.argmax(axis=1)
        agreeing = compare(digits.model, digits_int8, digits.x_test[same], digits.y_test[same],
                           representative_data=digits.x_train, max_debug_samples=32)
    assert agreeing.agreement == 1.0
    badge = worst_badge(section_html("headline", agreeing))
    assert f"background:{GREEN}" in badge and "no prediction changed" in badge
    assert f"{agreeing.layer_errors[0].rmse_over_scale:.2f} steps" in badge

    calibration = digits.x_train[:100] * 0.3
    clipped = compare(digits.model, convert(digits.model, calibration), digits.x_test, digits.y_test,
                      representative_data=calibration, max_debug_samples=32)
    steps = clipped.layer_errors[0].rmse_over_scale
    assert clipped.agreement < 0.99 and steps > 1.0
    badge = worst_badge(section_html("headline", clipped))
    assert f"background:{RED}" in badge and f"{steps:.2f} steps" in badge and "no prediction changed" not in badge


def test_how_the_figures_were_obtained_says_how(digits, compared):
    from jupyter_tinyml.widgets import QuantizationReport

    result, inspection = compared
    notes = QuantizationReport(result, inspection, board="nano33ble")._notes.value
    assert "How these figures were obtained" not in notes
    assert f"LiteRT (TensorFlow Lite&#39;s Python interpreter, its optimized CPU kernels) on the same " \
           f"{len(digits.x_test)} test samples" in notes
    assert "re-quantized on 64 samples of representative_data, measured on 64 test samples" in notes
    assert (f"{inspection.arena_measured_bytes:,} B measured by running the model with TFLite Micro&#39;s reference "
            f"kernels (its Python runtime) on this computer, + a {inspection.arena_margin_bytes:,} B margin") in notes


def test_the_report_and_the_panel_name_the_same_arena_figure(digits_int8, compared, tmp_path):
    """On a real board both show TFLite Micro's arena; on the virtual board the panel shows the C target's plan by
    its name and says in one line what the report's larger figure is."""
    from jupyter_tinyml.firmware import write_project
    from jupyter_tinyml.widgets import DeployPanel, QuantizationReport

    result, inspection = compared
    arena = inspection.arena_bytes
    budget = QuantizationReport(result, inspection, board="nano33ble")._budget.value
    assert f"TFLite Micro tensor arena {format_bytes(arena)}" in budget

    sketch = write_project(digits_int8, board="nano33ble", out_dir=tmp_path / "real", labels=list("0123456789"))
    assert sketch.target == "tflm" and sketch.arena_bytes == arena
    header = DeployPanel(sketch, digits_int8, ports=[], repair=None).header.value
    assert f"Arena: {arena:,} B TFLite Micro tensor arena (measured + margin), the figure the QuantizationReport" \
           in header

    emulated = write_project(digits_int8, board="virtual", out_dir=tmp_path / "virtual", labels=list("0123456789"))
    assert emulated.target == "c" and emulated.arena_bytes < arena
    header = DeployPanel(emulated, digits_int8, ports=[], repair=None).header.value
    assert f"Arena: {emulated.arena_bytes:,} B C target static memory plan (exact)." in header
    assert f"The QuantizationReport&#x27;s {arena:,} B is the TFLite Micro tensor arena for the same model" in header


@pytest.mark.parametrize("template", ["deploy_project", "deploy_app"])
def test_the_deploy_cell_does_not_talk_about_usb(template):
    from jupyter_tinyml.stages.templates import render

    values = dict(model="tflite_model", board="virtual-cortex-m4", board_name="Virtual Cortex-M4 (QEMU mps2-an386)",
                  out_dir="firmware", labels="None", samples="x_test", app="{}")
    code = render(template, **values)
    assert "DeployPanel(project, tflite_model, samples=x_test)" in code
    assert "USB" not in code and "arduino-cli" not in code
    compile(code, template, "exec")
