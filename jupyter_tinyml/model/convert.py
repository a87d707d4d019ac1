"""Keras -> TFLite bytes, in one of five quantization modes; full int8 is what a microcontroller runs.

    tflite = convert(model, x_train)                      # full int8: int8 weights, activations, input, output

Dense layers get one weight scale per layer (per tensor) in the int8 modes: TFLite Micro's CMSIS-NN
FULLY_CONNECTED, which the Arduino library runs, applies a single output multiplier to every channel, so a Dense
layer quantized per channel (TensorFlow's default since 2.16) computes wrong scores on the board. Convolutions
stay per channel: TFLite Micro handles those. `per_channel_dense=True` keeps TensorFlow's default for a runtime
that supports it.

TensorFlow is imported inside the functions: importing jupyter_tinyml must stay fast.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import (
    ConversionError,
    FloatOpsError,
    InputCountError,
    LibraryError,
    MissingRepresentativeDataError,
    ModelSourceError,
    QuantizationError,
    UnknownQuantizationError,
)
from .samples import check_sample_shape, sample_rows
from .tflite import read
from ..native_logs import native_output_kept

QUANTIZATION_MODES = ("int8", "int8-float-io", "float16", "dynamic", "none")
# Modes whose activations are int8: they need representative data and must not keep float ops inside.
INT8_MODES = ("int8", "int8-float-io")
KERAS_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")

RepresentativeDataset = Callable[[], Iterator[list[np.ndarray]]]


def convert(
    model: Any,
    representative_data: Any = None,
    quantization: str = "int8",
    *,
    max_samples: int = 300,
    seed: int = 0,
    per_channel_dense: bool = False,
) -> bytes:
    """Convert a Keras model to TFLite bytes.

    model: a Keras model, a path to a `.keras`/`.h5` file, or a SavedModel directory (one input, one output).
    representative_data: samples shaped like the model input (e.g. x_train); needed by "int8" and
        "int8-float-io", which run at most `max_samples` of them (picked at random with `seed`) through the
        float model to fix each tensor's int8 scale. A generator function, as the TFLite converter takes it,
        is passed on unchanged. Ignored by the other modes.
    quantization:
        "int8"          full integer: int8 weights and activations, int8 input and output (microcontrollers)
        "int8-float-io" int8 inside, float32 input and output
        "float16"       float16 weights, float32 compute
        "dynamic"       int8 weights, float activations (dynamic range)
        "none"          float32
    per_channel_dense: in the int8 modes, quantize Dense (FULLY_CONNECTED) weights with one scale per output
        channel, as TensorFlow does by default; the default False gives one scale per layer, which every TFLite
        Micro release computes exactly (write_project refuses per-channel Dense for a library that does not).
    Raises QuantizationError for an unknown mode, missing or mis-shaped representative data, or a model the
    converter cannot turn into the requested kind (naming the op when the converter does, or when an int8
    mode would keep an op in float).
    """
    if quantization not in QUANTIZATION_MODES:
        raise UnknownQuantizationError(quantization, QUANTIZATION_MODES)
    if quantization in INT8_MODES and representative_data is None:
        raise MissingRepresentativeDataError(quantization)
    if int(max_samples) < 1:
        raise QuantizationError(f"max_samples must be at least 1, got {max_samples}.")

    import tensorflow as tf

    converter, input_shape = converter_for(model)
    if quantization in INT8_MODES:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(representative_data, input_shape, max_samples, seed)
        # Only int8 builtin kernels: what TFLite Micro and CMSIS-NN run.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # TensorFlow's own switch (private, but the only one): per-tensor Dense weights, per-channel convolutions.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
        if quantization == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    elif quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

    content = _run_converter(converter, quantization)
    if quantization in INT8_MODES:
        _reject_float_ops(content, quantization)
    return content


def converter_for(model: Any) -> tuple[Any, tuple[int | None, ...] | None]:
    """A TFLiteConverter for a Keras model, .keras/.h5 file or SavedModel directory, and its input shape
    (None when the model does not say: the converter then reports what is wrong)."""
    import tensorflow as tf

    if isinstance(model, (str, Path)):
        path = Path(model)
        if path.is_dir():
            if not (path / "saved_model.pb").exists():
                raise ModelSourceError(f"{path} is a directory without saved_model.pb")
            return tf.lite.TFLiteConverter.from_saved_model(str(path)), _saved_model_input_shape(path)
        model = load_keras(path)
    if not hasattr(model, "predict"):
        raise ModelSourceError(f"Cannot convert a {type(model).__name__}")
    return tf.lite.TFLiteConverter.from_keras_model(model), _keras_input_shape(model)


def load_keras(path: Path) -> Any:
    """The Keras model in a .keras/.h5 file, loaded without its optimizer (conversion needs none)."""
    if not path.exists():
        raise ModelSourceError(f"No model at {path}")
    if path.suffix.lower() not in KERAS_FILE_SUFFIXES:
        raise ModelSourceError(f"{path} is not a Keras model file")
    import keras

    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as error:  # a bad file can fail in many layers of Keras; the person needs the file named
        raise LibraryError(f"Keras could not load {path}", error) from error


def _keras_input_shape(model: Any) -> tuple[int | None, ...] | None:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return None  # a subclassed model that was never built: the converter reports it
    if len(inputs) != 1:
        raise InputCountError("model", len(inputs))
    return tuple(inputs[0].shape)


def _saved_model_input_shape(path: Path) -> tuple[int | None, ...] | None:
    import tensorflow as tf

    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        specs = list(signature.structured_input_signature[1].values()) or list(signature.structured_input_signature[0])
    except Exception:  # the converter gives the precise reason a SavedModel is unusable
        return None
    if len(specs) != 1:
        raise InputCountError("SavedModel", len(specs))
    return tuple(specs[0].shape)


def representative_dataset(
    data: Any, input_shape: tuple[int | None, ...] | None, max_samples: int, seed: int
) -> RepresentativeDataset:
    """The converter's calibration generator: at most max_samples rows of data, one sample per step.

    A generator function (the converter's own form) is passed on unchanged.
    """
    if callable(data):
        return data
    samples = sample_rows(data, max_samples, seed, "representative_data")
    if input_shape is not None:
        check_sample_shape(samples.shape, input_shape, "representative_data")

    def one_at_a_time() -> Iterator[list[np.ndarray]]:
        for sample in samples:
            yield [sample[np.newaxis]]  # one sample at a time, with a batch axis

    return one_at_a_time


def _run_converter(converter: Any, quantization: str) -> bytes:
    # Keras 3 prints "Saved artifact at /tmp/..." for the temporary SavedModel the converter writes, and the
    # converter's C++ core a dozen log lines: noise in a notebook, kept out of it for the duration.
    try:
        with native_output_kept(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bytes(converter.convert())
    except QuantizationError:
        raise
    except Exception as error:  # ConverterError, or whatever the representative dataset raised during calibration
        raise _conversion_error(str(error), quantization) from error


_OP_IN_MESSAGE = re.compile(r"'(tfl?)\.(\w+)' op")


def _conversion_error(message: str, quantization: str) -> ConversionError:
    """The op the converter's many lines name, if any, and whether it asked for TensorFlow's flex ops."""
    match = _OP_IN_MESSAGE.search(message)
    detail = QuantizationError.first_line(message)
    if match is None:
        return ConversionError(quantization, detail)
    return ConversionError(quantization, detail, match.group(2), flex="neither a custom op nor a flex op" in message)


def _reject_float_ops(content: bytes, quantization: str) -> None:
    """Raise when an int8 model kept ops in float.

    With TFLITE_BUILTINS_INT8 the converter does not fail on an op without an int8 kernel (SIN, CUMSUM, ...):
    it keeps the op in float between DEQUANTIZE and QUANTIZE, which int8-only firmware cannot run.
    """
    graph = read(content)
    float_ops = [
        operator.name
        for operator in graph.operators
        if operator.name != "DEQUANTIZE"
        and any(index >= 0 and graph.tensors[index].dtype in ("float32", "float16") for index in operator.outputs)
    ]
    if float_ops:
        raise FloatOpsError(quantization, list(dict.fromkeys(float_ops)))
