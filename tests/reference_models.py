"""Reference models for the targets' benchmark and the many-models tests on the virtual board.

The digits CNN is trained (tests/trained_models.py); the others have MLPerf Tiny's reference architectures
(mlcommons/tiny: KWS DS-CNN, VWW MobileNetV1 alpha=0.25, IC ResNet-8, AD autoencoder) and a Conv1D time-series
net with random weights: what the targets are measured on is the arithmetic, flash and RAM of the shape, which does
not depend on the weights' values; each is converted to full int8 (int8 input and output) by the product's
convert() (per-tensor Dense weights, which TFLite Micro computes exactly), calibrated on samples of its input's
kind. The offline recipes' own models (image, tabular, time series) are built, briefly trained and converted by the
code the train and convert recipes generate.

    model = build("kws")                 # a ReferenceModel: name, Keras model, .tflite, held-out samples
    for name in NAMES: build(name)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CALIBRATION_SAMPLES = 200  # enough for stable int8 ranges; the converter runs them one at a time
TEST_SAMPLES = 20
# The last Dense of a random classifier gives near-equal scores, whose int8 values tie: its weights are scaled
# so the top class is decided by more than one output step, as in a trained model.
LOGIT_SPREAD = 4.0
RECIPE_EPOCHS = 3  # the recipes' own fit trains longer; a few epochs make the scores decisive, which is all needed


@dataclass
class ReferenceModel:
    """A Keras model and its full-int8 .tflite; `samples` are float inputs the conversion never saw."""

    name: str
    description: str
    keras_model: Any
    tflite: bytes
    samples: np.ndarray
    labels: list[str]

    def __repr__(self) -> str:
        return f"ReferenceModel({self.name!r}: {self.description}, .tflite {len(self.tflite):,} bytes)"


def to_int8(model: Any, calibration: np.ndarray) -> bytes:
    """Full int8 (int8 input and output) calibrated on `calibration`, with the product's convert(): per-tensor
    Dense weights, which the Arduino library's FULLY_CONNECTED computes exactly."""
    from jupyter_tinyml.model.convert import convert

    return convert(model, calibration, max_samples=CALIBRATION_SAMPLES)


# ------------------------------------------------------------------------------------------- architectures


def _conv_bn_relu(x: Any, filters: int, kernel: Any, strides: Any = 1) -> Any:
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", kernel_initializer="he_normal")(x)
    return layers.Activation("relu")(layers.BatchNormalization()(x))


def _depthwise_bn_relu(x: Any, strides: int = 1) -> Any:
    from keras import layers

    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", depthwise_initializer="he_normal")(x)
    return layers.Activation("relu")(layers.BatchNormalization()(x))


def kws_ds_cnn() -> Any:
    """MLPerf Tiny keyword spotting: DS-CNN on 49x10 MFCC frames, 64 filters, 4 depthwise-separable blocks,
    average pool over the 25x5 map, 12 classes (mlcommons/tiny training/keyword_spotting/keras_model.py)."""
    import keras
    from keras import layers

    inputs = keras.Input((49, 10, 1))
    x = _conv_bn_relu(inputs, 64, (10, 4), strides=(2, 2))
    x = layers.Dropout(0.2)(x)
    for _ in range(4):
        x = _conv_bn_relu(_depthwise_bn_relu(x), 64, 1)
    x = layers.Dropout(0.4)(x)
    x = layers.AveragePooling2D((25, 5))(x)
    outputs = layers.Dense(12, activation="softmax")(layers.Flatten()(x))
    return keras.Model(inputs, outputs, name="kws_ds_cnn")


def vww_mobilenet_v1() -> Any:
    """MLPerf Tiny visual wake words: MobileNetV1 with alpha=0.25 on 96x96 RGB, 2 classes (13 depthwise-separable
    blocks, average pool over the 3x3 map; mlcommons/tiny benchmarks/visual_wake_words/vww_model.py)."""
    import keras
    from keras import layers

    inputs = keras.Input((96, 96, 3))
    x = _conv_bn_relu(inputs, 8, 3, strides=2)
    # (stride of the depthwise conv, filters of the pointwise conv after it)
    blocks = [(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128), *[(1, 128)] * 5, (2, 256), (1, 256)]
    for stride, filters in blocks:
        x = _conv_bn_relu(_depthwise_bn_relu(x, stride), filters, 1)
    x = layers.AveragePooling2D(x.shape[1:3])(x)
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(x))
    return keras.Model(inputs, outputs, name="vww_mobilenet_v1")


def ic_resnet8() -> Any:
    """MLPerf Tiny image classification: ResNet-8 on 32x32 RGB (CIFAR-10), three stacks of 16/32/64 filters with
    1x1 strided shortcuts, 10 classes (mlcommons/tiny benchmarks/image_classification/keras_model.py)."""
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 3))
    x = _conv_bn_relu(inputs, 16, 3)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = _conv_bn_relu(x, filters, 3, strides=stride)
        y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal")(y))
        if stride != 1:
            x = layers.Conv2D(filters, 1, strides=stride, padding="same", kernel_initializer="he_normal")(x)
        x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.AveragePooling2D(x.shape[1:3])(x)
    outputs = layers.Dense(10, activation="softmax", kernel_initializer="he_normal")(layers.Flatten()(x))
    return keras.Model(inputs, outputs, name="ic_resnet8")


def ad_autoencoder() -> Any:
    """MLPerf Tiny anomaly detection: a fully-connected autoencoder on 640 log-mel values (5 frames x 128),
    128-128-128-128-8-128-128-128-128 with batch norm and ReLU (mlcommons/tiny anomaly_detection/keras_model.py)."""
    import keras
    from keras import layers

    inputs = keras.Input((640,))
    x = inputs
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = layers.Activation("relu")(layers.BatchNormalization()(layers.Dense(units)(x)))
    return keras.Model(inputs, layers.Dense(640)(x), name="ad_autoencoder")


def conv1d_timeseries() -> Any:
    """A Conv1D classifier for 128 steps of 3-axis sensor data, 6 classes: two conv blocks with max pooling, then
    a Dense head (a gesture/activity model of the usual TinyML course shape)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((128, 3)),
        layers.Conv1D(16, 5, padding="same", activation="relu"),
        layers.MaxPooling1D(2),
        layers.Conv1D(32, 5, padding="same", activation="relu"),
        layers.MaxPooling1D(2),
        layers.Flatten(),
        layers.Dense(32, activation="relu"),
        layers.Dense(6, activation="softmax"),
    ], name="conv1d_timeseries")


# ------------------------------------------------------------------------------------------- random inputs


def _uniform(shape: tuple[int, ...]) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Image-like inputs: pixel values in [0, 1]."""
    return lambda rng, n: rng.uniform(0.0, 1.0, (n, *shape)).astype(np.float32)


def _normal(shape: tuple[int, ...]) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Feature-like inputs (MFCCs, log-mel energies, standardised sensor values): zero mean, unit spread."""
    return lambda rng, n: rng.normal(0.0, 1.0, (n, *shape)).astype(np.float32)


def _sensor_windows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noisy sine waves at random frequencies and phases on three axes, like accelerometer windows."""
    t = np.linspace(0.0, 1.0, 128)[np.newaxis, :, np.newaxis]
    frequency = rng.uniform(1.0, 8.0, (n, 1, 3))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1, 3))
    return (np.sin(2 * np.pi * frequency * t + phase) + rng.normal(0.0, 0.2, (n, 128, 3))).astype(np.float32)


def _decisive(model: Any, calibration: np.ndarray) -> None:
    """Scale the last Dense layer of a random softmax classifier so its logits spread by about LOGIT_SPREAD."""
    import keras

    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense) or head.activation is not keras.activations.softmax:
        return
    features = np.asarray(keras.Model(model.inputs[0], head.input)(calibration, training=False))
    kernel, bias = head.get_weights()
    spread = float(np.std(features @ kernel + bias)) or 1.0
    head.set_weights([kernel * (LOGIT_SPREAD / spread), bias])


# ------------------------------------------------------------------------------------- the recipes' models


def _recipe_data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Data of each kind, shaped as the recipes' prep leaves it (float32 features, integer class labels)."""
    if kind == "image":
        from trained_models import digits_images

        return digits_images()
    if kind == "tabular":
        from sklearn.datasets import load_wine

        data = load_wine()
        x = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)  # prep standardises numeric columns
        return x.astype(np.float32), data.target
    # Accelerometer-like windows, 64 steps x 3 axes, three gestures (the shape of tests/test_recipes.py's).
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 1.0, 64)
    labels = np.repeat([0, 1, 2], 100)
    windows = []
    for label in labels:
        wave = np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 2 * np.pi))
        base = [wave, np.sign(wave), rng.normal(0, 0.7, t.size)][label]
        windows.append(np.stack([base, 0.5 * base, -0.8 * base], axis=1) + rng.normal(0, 0.2, (t.size, 3)))
    return np.stack(windows).astype(np.float32), labels


def recipe_model(kind: str) -> ReferenceModel:
    """The offline train recipe's model for `kind` ("image", "tabular", "timeseries"), built by the code the recipe
    generates, trained briefly, then converted by the code the convert recipe generates."""
    import tempfile

    from sklearn.model_selection import train_test_split

    from jupyter_tinyml.notebook.context import capture
    from jupyter_tinyml.stages import convert, train

    x, y = _recipe_data(kind)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    namespace: dict[str, Any] = {"x_train": x_train, "x_test": x_test, "y_train": y_train, "y_test": y_test}
    model_cell = train.recipe("", capture(namespace)).pop(1)  # [note, model cell, fit cell]
    exec(compile(model_cell.source, f"<train recipe: {kind}>", "exec"), namespace)
    namespace["model"].fit(x_train, y_train, epochs=RECIPE_EPOCHS, batch_size=32, verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{kind}.tflite"
        convert_cell = convert.recipe(f"save it as {path}", capture(namespace)).pop(1)  # [note, convert, evaluate]
        exec(compile(convert_cell.source, f"<convert recipe: {kind}>", "exec"), namespace)
        tflite = path.read_bytes()
    assert tflite == namespace["tflite_model"]
    model = namespace["model"]
    return ReferenceModel(f"recipe-{kind}", f"the offline recipe's {model.name} for {kind} data", model, tflite,
                          x_test[:TEST_SAMPLES], [f"class{i}" for i in range(int(y.max()) + 1)])


# A random model: what it is, its architecture, and inputs of its kind.
_RANDOM: dict[str, tuple[str, Callable[[], Any], Callable[[np.random.Generator, int], np.ndarray]]] = {
    "kws": ("MLPerf Tiny KWS DS-CNN, 49x10x1, 12 classes", kws_ds_cnn, _normal((49, 10, 1))),
    "vww": ("MLPerf Tiny VWW MobileNetV1 0.25, 96x96x3, 2 classes", vww_mobilenet_v1, _uniform((96, 96, 3))),
    "ic": ("MLPerf Tiny IC ResNet-8, 32x32x3, 10 classes", ic_resnet8, _uniform((32, 32, 3))),
    "ad": ("MLPerf Tiny AD FC autoencoder, 640 in/out", ad_autoencoder, _normal((640,))),
    "conv1d": ("Conv1D time series, 128x3, 6 classes", conv1d_timeseries, _sensor_windows),
}
RECIPES = ("recipe-image", "recipe-tabular", "recipe-timeseries")
NAMES = ("digits", *_RANDOM, *RECIPES)


@lru_cache(maxsize=None)
def build(name: str, seed: int = 0) -> ReferenceModel:
    """The reference model `name` (one of NAMES), converted to int8; built once per process."""
    import keras

    if name == "digits":
        from trained_models import digits_cnn

        trained = digits_cnn()
        return ReferenceModel("digits", "digits CNN, 8x8x1 conv -> pool -> dense, 10 classes (trained)",
                              trained.model, to_int8(trained.model, trained.x_train), trained.x_test[:TEST_SAMPLES],
                              [str(i) for i in range(10)])
    if name in RECIPES:
        return recipe_model(name.removeprefix("recipe-"))
    if name not in _RANDOM:
        raise KeyError(f"No reference model {name!r}: pick one of {', '.join(NAMES)}")
    description, architecture, inputs = _RANDOM[name]
    keras.utils.set_random_seed(seed)
    model = architecture()
    rng = np.random.default_rng(seed)
    calibration, samples = inputs(rng, CALIBRATION_SAMPLES), inputs(rng, TEST_SAMPLES)
    _decisive(model, calibration)
    classes = int(model.output_shape[-1])
    return ReferenceModel(name, description, model, to_int8(model, calibration), samples,
                          [f"class{i}" for i in range(classes)])


def requantize_tflite(in_scale: float, in_zero: int, out_scale: float, out_zero: int, *, values: int = 24,
                      input_name: str = "in", output_name: str = "out") -> bytes:
    """A one-op model: int8 -> QUANTIZE -> int8 with another scale (converters make these between branches),
    built with the schema's object API so its tensor names can hold anything a .tflite can."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    def tensor(name: str, scale: float, zero: int) -> Any:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode("utf-8"), [1, values], schema.TensorType.INT8, 0
        t.quantization = schema.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [scale], [zero]
        return t

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.QUANTIZE
    code.version = 2
    operator = schema.OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = 0, [0], [1]
    subgraph = schema.SubGraphT()
    subgraph.tensors = [tensor(input_name, in_scale, in_zero), tensor(output_name, out_scale, out_zero)]
    subgraph.inputs, subgraph.outputs, subgraph.operators = [0], [1], [operator]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [subgraph], [schema.BufferT()]
    out = flatbuffers.Builder(1024)
    out.Finish(model.Pack(out), file_identifier=b"TFL3")
    return bytes(out.Output())
