"""convert / evaluate / compare on real small models trained here: a digits CNN (8x8x1), a wine MLP, a Conv1D on
time-series windows and a regression MLP. Each is trained once per module, in a few seconds; the digits CNN
once per test process (conftest.py)."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jupyter_tinyml.errors import QuantizationError
from jupyter_tinyml.model.compare import compare, detect_quantization
from jupyter_tinyml.model.convert import QUANTIZATION_MODES, convert
from jupyter_tinyml.model.evaluate import evaluate
from trained_models import Trained, fit

keras = pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from sklearn.datasets import load_wine  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


@pytest.fixture(scope="module")
def wine() -> Trained:
    data = load_wine()
    x = StandardScaler().fit_transform(data.data).astype(np.float32)
    layers = [keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    return fit(layers, x, data.target, "sparse_categorical_crossentropy", epochs=15)


@pytest.fixture(scope="module")
def wine_int8(wine: Trained) -> bytes:
    return convert(wine.model, wine.x_train)


@pytest.fixture(scope="module")
def windows() -> Trained:
    """Three-axis accelerometer-like windows of 32 steps: the class is the frequency of a noisy sine."""
    rng = np.random.default_rng(0)
    n, steps = 600, 32
    labels = rng.integers(0, 3, n)
    t = np.arange(steps) / steps
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 3))
    signal = np.sin(2 * np.pi * (1 + 2 * labels)[:, None, None] * t[None, :, None] + phase)
    x = (signal + rng.normal(0, 0.3, signal.shape)).astype(np.float32)
    layers = [
        keras.layers.Conv1D(8, 5, activation="relu"),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(3, activation="softmax"),
    ]
    return fit(layers, x, labels, "sparse_categorical_crossentropy", epochs=15)


@pytest.fixture(scope="module")
def regression() -> Trained:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(800, 6)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5, 0.0, 1.0, -0.5]) + 0.5 * np.sin(3 * x[:, 0])).astype(np.float32)
    layers = [keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    return fit(layers, x, y, "mse", epochs=20)


def loop_predictions(content: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plain way: one sample per invoke(), quantized and dequantized by hand."""
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    in_scale, in_zero = source["quantization"]
    out_scale, out_zero = target["quantization"]
    outputs = []
    for sample in x:
        quantized = np.clip(np.round(sample / in_scale + in_zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(source["index"], quantized[np.newaxis])
        interpreter.invoke()
        outputs.append((interpreter.get_tensor(target["index"])[0].astype(np.float32) - out_zero) * out_scale)
    outputs = np.array(outputs)
    return outputs, outputs.argmax(axis=1)


def tensor_types(content: bytes) -> tuple[str, str, set[str]]:
    interpreter = Interpreter(model_content=content)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    every = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    return np.dtype(source["dtype"]).name, np.dtype(target["dtype"]).name, every


# ------------------------------------------------------------------------------------------------ convert


@pytest.mark.parametrize(
    "mode, io_type, inside",
    [
        ("int8", "int8", "int8"),
        ("int8-float-io", "float32", "int8"),
        ("float16", "float32", "float16"),
        ("dynamic", "float32", "int8"),
        ("none", "float32", None),
    ],
)
def test_every_mode_converts_runs_and_has_its_types(
    digits: Trained, mode: str, io_type: str, inside: str | None
) -> None:
    content = convert(digits.model, digits.x_train, quantization=mode)

    input_type, output_type, every = tensor_types(content)
    assert (input_type, output_type) == (io_type, io_type)
    if inside:
        assert inside in every
    else:
        assert every <= {"float32", "int32"}
    assert detect_quantization(content) == mode
    assert evaluate(content, digits.x_test, digits.y_test).accuracy > 0.85


def weight_scales(content: bytes, op: str) -> list[int]:
    """How many scales the weights (input 1) of each `op` carry, in execution order."""
    from jupyter_tinyml.model.tflite import read

    graph = read(content)
    return [len(graph.tensors[operator.inputs[1]].scales) for operator in graph.operators if operator.name == op]


@pytest.mark.parametrize("mode", ["int8", "int8-float-io"])
def test_dense_weights_get_one_scale_and_convolutions_one_per_channel(digits: Trained, digits_int8: bytes,
                                                                       mode: str) -> None:
    """TFLite Micro's Arduino library applies one multiplier per FULLY_CONNECTED: the default gives it that."""
    from jupyter_tinyml.model.tflite import read

    content = digits_int8 if mode == "int8" else convert(digits.model, digits.x_train, quantization=mode)
    assert weight_scales(content, "FULLY_CONNECTED") == [1, 1]  # Dense(32), Dense(10)
    assert weight_scales(content, "CONV_2D") == [8]  # Conv2D(8): TFLite Micro handles per-channel convolutions
    assert read(content).per_channel_fully_connected == ()


def test_per_channel_dense_is_kept_on_request_and_accuracy_stays_without_it(digits: Trained,
                                                                             digits_int8: bytes) -> None:
    per_channel = convert(digits.model, digits.x_train, per_channel_dense=True)
    assert weight_scales(per_channel, "FULLY_CONNECTED") == [32, 10]
    from jupyter_tinyml.model.tflite import read

    graph = read(per_channel)
    assert [graph.operators[i].name for i in graph.per_channel_fully_connected] == ["FULLY_CONNECTED"] * 2
    keras_accuracy = float(np.mean(digits.model.predict(digits.x_test, verbose=0).argmax(axis=1) == digits.y_test))
    per_tensor_accuracy = evaluate(digits_int8, digits.x_test, digits.y_test).accuracy
    per_channel_accuracy = evaluate(per_channel, digits.x_test, digits.y_test).accuracy
    assert keras_accuracy > 0.9
    assert per_tensor_accuracy >= keras_accuracy - 0.02 and per_tensor_accuracy >= per_channel_accuracy - 0.02


def test_dynamic_float16_and_none_need_no_representative_data(digits: Trained) -> None:
    assert convert(digits.model, quantization="dynamic")[4:8] == b"TFL3"


def test_converts_a_keras_file_and_a_saved_model_directory(digits: Trained, digits_int8: bytes, tmp_path: Path) -> None:
    keras_file = tmp_path / "digits.keras"
    digits.model.save(keras_file)
    saved_model = tmp_path / "saved_model"
    digits.model.export(saved_model, verbose=False)

    from_file = convert(keras_file, digits.x_train)
    from_directory = convert(str(saved_model), digits.x_train)

    reference = evaluate(digits_int8, digits.x_test).predictions
    assert np.array_equal(evaluate(from_file, digits.x_test).predictions, reference)
    assert np.mean(evaluate(from_directory, digits.x_test).predictions == reference) > 0.97
    # A SavedModel has no predict(): compare takes its float outputs from its float32 TFLite conversion.
    report = compare(saved_model, from_directory, digits.x_test, digits.y_test)
    keras_classes = digits.model.predict(digits.x_test, verbose=0).argmax(axis=1)
    assert report.float_accuracy == pytest.approx(np.mean(keras_classes == digits.y_test))
    assert report.layer_errors


@pytest.fixture
def calibration_samples(monkeypatch: pytest.MonkeyPatch, digits: Trained) -> list[np.ndarray]:
    """Every sample the real converter draws from its representative dataset during the next conversions."""
    import tensorflow as tf

    converter_class = type(tf.lite.TFLiteConverter.from_keras_model(digits.model))
    original = converter_class.convert
    seen: list[np.ndarray] = []

    def counting_convert(self: Any) -> bytes:
        dataset = self.representative_dataset

        def counted() -> Any:
            for inputs in dataset():
                seen.append(inputs[0])
                yield inputs

        if dataset is not None:
            self.representative_dataset = counted
        return original(self)

    monkeypatch.setattr(converter_class, "convert", counting_convert)
    return seen


def test_representative_data_is_bounded_so_60000_samples_convert_as_fast_as_300(
    digits: Trained, digits_int8: bytes, calibration_samples: list
) -> None:
    many = np.resize(digits.x_train, (60_000, *digits.x_train.shape[1:])).astype(np.float64)

    start = time.perf_counter()
    convert(digits.model, digits.x_train[:300])
    few_seconds = time.perf_counter() - start
    calibration_samples.clear()
    start = time.perf_counter()
    convert(digits.model, many)
    many_seconds = time.perf_counter() - start

    assert len(calibration_samples) == 300
    assert all(s.shape == (1, 8, 8, 1) and s.dtype == np.float32 for s in calibration_samples)
    assert many_seconds < 2 * few_seconds + 0.5


def test_max_samples_bounds_calibration_and_small_data_is_used_whole(
    digits: Trained, calibration_samples: list
) -> None:
    convert(digits.model, digits.x_train, max_samples=50)
    assert len(calibration_samples) == 50
    calibration_samples.clear()
    convert(digits.model, digits.x_train[:40])
    assert len(calibration_samples) == 40


def test_sampling_is_seeded(wine: Trained, wine_int8: bytes) -> None:
    assert convert(wine.model, wine.x_train, max_samples=300, seed=0) == wine_int8


def test_int8_without_representative_data_says_pass_x_train(digits: Trained) -> None:
    with pytest.raises(QuantizationError, match=r"pass representative_data=x_train"):
        convert(digits.model)
    with pytest.raises(QuantizationError, match=r"pass representative_data=x_train"):
        convert(digits.model, quantization="int8-float-io")


def test_unknown_mode_lists_the_modes(digits: Trained) -> None:
    with pytest.raises(QuantizationError) as raised:
        convert(digits.model, digits.x_train, quantization="int4")
    assert all(mode in str(raised.value) for mode in QUANTIZATION_MODES)


def test_representative_data_of_the_wrong_shape_names_both_shapes(digits: Trained) -> None:
    with pytest.raises(QuantizationError) as raised:
        convert(digits.model, digits.x_train[..., 0])
    message = str(raised.value)
    assert "(8, 8)" in message and "(8, 8, 1)" in message and "np.newaxis" in message


def test_not_a_model_or_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match="Keras model"):
        convert({"weights": 1}, quantization="none")
    with pytest.raises(QuantizationError, match="No model at"):
        convert(tmp_path / "missing.keras", quantization="none")


def sin_model() -> Any:
    """SIN has no int8 kernel: the converter keeps it in float between DEQUANTIZE and QUANTIZE without failing."""
    inputs = keras.Input((16,))
    hidden = keras.layers.Lambda(lambda t: keras.ops.sin(t))(keras.layers.Dense(16)(inputs))
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


def test_an_op_left_in_float_by_int8_conversion_is_named() -> None:
    x = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    with pytest.raises(QuantizationError, match=r"Op SIN has no int8 kernel"):
        convert(sin_model(), x)


def test_an_op_without_a_builtin_kernel_is_named() -> None:
    inputs = keras.Input((16,))
    hidden = keras.layers.Lambda(lambda t: keras.ops.erf(t))(keras.layers.Dense(16)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    x = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    with pytest.raises(QuantizationError, match=r"op Erf has no TFLite builtin kernel") as raised:
        convert(model, x)
    assert "\n" not in str(raised.value)


def test_an_lstm_over_time_is_named_with_the_fix() -> None:
    inputs = keras.Input((10, 4))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.LSTM(8)(inputs)))
    x = np.random.default_rng(0).normal(size=(40, 10, 4)).astype(np.float32)
    with pytest.raises(QuantizationError, match=r"TensorList\w+.*unroll=True"):
        convert(model, x)


# ----------------------------------------------------------------------------------------------- evaluate


def test_batched_evaluate_matches_a_plain_per_sample_loop(digits: Trained, digits_int8: bytes) -> None:
    loop_outputs, loop_classes = loop_predictions(digits_int8, digits.x_test)

    result = evaluate(digits_int8, digits.x_test, digits.y_test, batch_size=100)  # 4 chunks, the last one of 60

    assert result.task == "classification"
    assert np.array_equal(result.predictions, loop_classes)
    assert np.array_equal(result.outputs, loop_outputs)
    assert result.accuracy == pytest.approx(np.mean(loop_classes == digits.y_test))


def test_evaluate_reads_a_tflite_file_and_one_hot_labels(digits: Trained, digits_int8: bytes, tmp_path: Path) -> None:
    path = tmp_path / "digits.tflite"
    path.write_bytes(digits_int8)
    one_hot = np.eye(10)[digits.y_test]

    from_file = evaluate(path, digits.x_test, one_hot)

    assert from_file.accuracy == evaluate(digits_int8, digits.x_test, digits.y_test).accuracy
    assert np.array_equal(from_file.labels, digits.y_test)


def test_evaluate_without_labels_still_predicts(digits: Trained, digits_int8: bytes) -> None:
    result = evaluate(digits_int8, digits.x_test)
    assert result.task == "classification" and result.accuracy is None and len(result.predictions) == 360


def test_not_tflite_bytes_or_file(digits: Trained, tmp_path: Path) -> None:
    # evaluate reads the bytes with model.tflite's model_bytes, so its refusals read as that reader's.
    with pytest.raises(QuantizationError, match="is not a TFLite flatbuffer"):
        evaluate(b"\x00" * 64, digits.x_test)
    fake = tmp_path / "model.tflite"
    fake.write_text("not a model at all")
    with pytest.raises(QuantizationError, match=r"model\.tflite is not a TFLite flatbuffer"):
        evaluate(fake, digits.x_test)
    with pytest.raises(QuantizationError, match=r"missing\.tflite is not a TFLite flatbuffer \(no such file\)"):
        evaluate(tmp_path / "missing.tflite", digits.x_test)


def test_x_of_the_wrong_shape_names_expected_and_got(digits_int8: bytes, digits: Trained) -> None:
    with pytest.raises(QuantizationError) as raised:
        evaluate(digits_int8, digits.x_test.reshape(-1, 64))
    assert "(64,)" in str(raised.value) and "(8, 8, 1)" in str(raised.value)


def test_bad_labels_say_what_to_pass(digits_int8: bytes, digits: Trained) -> None:
    names = np.array([f"digit {k}" for k in digits.y_test])
    with pytest.raises(QuantizationError, match="convert labels to class indices"):
        evaluate(digits_int8, digits.x_test, names)
    with pytest.raises(QuantizationError, match="y has 100 labels but x has 360 samples"):
        evaluate(digits_int8, digits.x_test, digits.y_test[:100])
    with pytest.raises(QuantizationError, match="model has 10 outputs"):
        evaluate(digits_int8, digits.x_test, digits.y_test + 5)


def test_regression_gives_mae_and_rmse(regression: Trained) -> None:
    content = convert(regression.model, regression.x_train)
    result = evaluate(content, regression.x_test, regression.y_test)

    assert result.task == "regression" and result.accuracy is None
    assert result.predictions.shape == regression.y_test.shape
    error = result.predictions - regression.y_test
    assert result.mae == pytest.approx(np.mean(np.abs(error)), rel=1e-5)
    assert result.rmse == pytest.approx(np.sqrt(np.mean(error**2)), rel=1e-5)
    assert result.mae < 0.5 * np.std(regression.y_test)


# ------------------------------------------------------------------------------------------------ compare


@pytest.fixture(scope="module")
def digits_report(digits: Trained, digits_int8: bytes) -> Any:
    return compare(digits.model, digits_int8, digits.x_test, digits.y_test, representative_data=digits.x_train)


def test_compare_digits_cnn(digits_report: Any, digits: Trained, digits_int8: bytes) -> None:
    report = digits_report
    float_accuracy = np.mean(digits.model.predict(digits.x_test, verbose=0).argmax(axis=1) == digits.y_test)

    assert report.task == "classification" and report.n_samples == 360 and report.quantization == "int8"
    assert report.float_accuracy == pytest.approx(float_accuracy)
    assert report.float_accuracy > 0.85
    assert abs(report.quantized_accuracy - report.float_accuracy) <= 0.02
    assert report.agreement >= 0.97
    assert report.confusion_float.shape == report.confusion_quantized.shape == (10, 10)
    assert report.confusion_float.sum() == report.confusion_quantized.sum() == 360
    assert np.array_equal(report.confusion_float.sum(axis=1), np.bincount(digits.y_test, minlength=10))
    assert np.trace(report.confusion_quantized) / 360 == pytest.approx(report.quantized_accuracy)
    assert len(report.per_class_float) == len(report.per_class_quantized) == len(report.class_names) == 10
    assert report.quantized_bytes == len(digits_int8)
    assert report.float_bytes == len(convert(digits.model, quantization="none")) > report.quantized_bytes


def test_compare_layer_errors_worst_first(digits_report: Any) -> None:
    errors = digits_report.layer_errors
    ops = {e.op for e in errors}

    assert {"CONV_2D", "FULLY_CONNECTED"} <= ops
    ratios = [e.rmse_over_scale for e in errors]
    assert ratios == sorted(ratios, reverse=True)
    assert all(math.isfinite(r) and r >= 0 for r in ratios)
    assert 0 < digits_report.worst_layer.rmse_over_scale < 5
    assert all(e.scale > 0 and e.num_elements > 0 and e.tensor for e in errors)
    assert digits_report.summary()["worst_layer"]["op"] == digits_report.worst_layer.op


def test_compare_reads_well(digits_report: Any, digits: Trained) -> None:
    import json

    text = repr(digits_report)
    worst = digits_report.worst_layer
    assert "Accuracy" in text and f"Worst layer: {worst.layer} ({worst.op}, TFLite {worst.tensor})" in text
    assert worst.layer in [layer.name for layer in digits.model.layers]
    assert digits_report.summary()["worst_layer"]["layer"] == worst.layer
    assert "<table" in digits_report._repr_html_() and "Agreement" in digits_report._repr_html_()
    json.dumps(digits_report.summary())


def test_compare_is_fast_on_the_digits_test_split(digits: Trained, digits_int8: bytes) -> None:
    start = time.perf_counter()
    compare(digits.model, digits_int8, digits.x_test, digits.y_test)
    assert time.perf_counter() - start < 10


def test_compare_tabular_mlp_with_class_names(wine: Trained, wine_int8: bytes) -> None:
    content = wine_int8
    report = compare(wine.model, content, wine.x_test, wine.y_test, class_names=["barolo", "grignolino", "barbera"])

    assert report.class_names == ["barolo", "grignolino", "barbera"]
    assert report.float_accuracy > 0.85 and abs(report.quantized_accuracy - report.float_accuracy) <= 0.06
    assert report.confusion_quantized.sum() == len(wine.y_test)
    # Worst first, over the MLP's own ops. Which of the two is worst depends on the trained weights (the softmax's
    # 1/256 steps or a dense layer's), and those on TensorFlow's thread scheduling: a run under another load made
    # the SOFTMAX worst, so the test asks for the order, not for one winner.
    errors = [error.rmse_over_scale for error in report.layer_errors]
    assert errors and errors == sorted(errors, reverse=True)
    assert {error.op for error in report.layer_errors} <= {"FULLY_CONNECTED", "SOFTMAX"}
    assert "FULLY_CONNECTED" in {error.op for error in report.layer_errors}
    with pytest.raises(QuantizationError, match="class_names has 2 names but the model has 3 classes"):
        compare(wine.model, content, wine.x_test, wine.y_test, class_names=["a", "b"])


def test_compare_conv1d_on_time_series_windows(windows: Trained) -> None:
    content = convert(windows.model, windows.x_train)
    report = compare(windows.model, content, windows.x_test, windows.y_test, representative_data=windows.x_train)

    assert report.float_accuracy > 0.8 and report.agreement >= 0.95
    assert "CONV_2D" in {e.op for e in report.layer_errors}  # TFLite runs Conv1D as a 2-D convolution


def test_compare_regression(regression: Trained) -> None:
    content = convert(regression.model, regression.x_train)
    report = compare(regression.model, content, regression.x_test, regression.y_test)

    assert report.task == "regression" and report.float_accuracy is None and report.confusion_float is None
    assert 0 < report.float_mae <= report.float_rmse
    assert report.quantized_mae == pytest.approx(evaluate(content, regression.x_test, regression.y_test).mae)
    assert abs(report.quantized_mae - report.float_mae) < 0.25 * report.float_mae + 0.05
    assert report.layer_errors


def test_compare_a_float16_model_has_no_int8_layer_errors(wine: Trained) -> None:
    report = compare(wine.model, convert(wine.model, quantization="float16"), wine.x_test, wine.y_test)
    assert report.quantization == "float16" and report.layer_errors == [] and report.agreement >= 0.97


def test_compare_without_the_debugger_warns_and_keeps_the_rest(
    wine: Trained, wine_int8: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorflow as tf

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("Please check if the quantized model is in debug mode")

    monkeypatch.setattr(tf.lite.experimental, "QuantizationDebugger", broken)
    with pytest.warns(UserWarning, match="Per-tensor errors unavailable"):
        report = compare(wine.model, wine_int8, wine.x_test, wine.y_test)
    assert report.layer_errors == [] and report.quantized_accuracy is not None
    assert any("unavailable" in note for note in report.notes)


def test_compare_rejects_text_labels_before_converting(wine: Trained, wine_int8: bytes) -> None:
    with pytest.raises(QuantizationError, match="convert labels to class indices"):
        compare(wine.model, wine_int8, wine.x_test, np.array(["red"] * len(wine.x_test)))
