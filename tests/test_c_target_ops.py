"""The C target's ops beyond the convolutions, each against LiteRT's reference kernels (BUILTIN_REF), exactly.

The activations are 256-entry tables on the device, so they are checked on every int8 input; the rest on random
shapes and data. Then the gesture recipe's Conv1D model (GlobalAveragePooling1D) through the C target with its
intermediate tensors, the refusals that name the layer, target="auto" falling back to TFLite Micro, and a
Cortex-M4 image with no `expf`.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tensorflow as tf  # noqa: E402 — a declared dependency (the ml extra): no skip
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402

from jupyter_tinyml.errors import QuantizationError  # noqa: E402
from jupyter_tinyml.firmware.c_target import generate_c  # noqa: E402
from jupyter_tinyml.model.tflite import model_bytes, read  # noqa: E402
from prerequisites import require_arm_tools  # noqa: E402
from test_c_target import check, int8_tflite, keras, reference, run_c  # noqa: E402

L = tf.keras.layers


def ops_of(tflite: bytes) -> list[str]:
    return [op.name for op in read(model_bytes(tflite)).operators]


# --------------------------------------------------------------------------------- activations: every input

ACTIVATIONS = {  # name -> (layers after the input, the op they must become)
    "sigmoid": ([L.Activation("sigmoid")], "LOGISTIC"),
    "tanh": ([L.Activation("tanh")], "TANH"),
    "relu": ([L.ReLU()], "RELU"),
    "relu6": ([L.ReLU(6.0)], "RELU6"),
    "relu_n1_to_1": ([L.Lambda(lambda x: tf.clip_by_value(x, -1.0, 1.0))], "RELU_N1_TO_1"),
    "leaky_relu": ([L.LeakyReLU(0.2)], "LEAKY_RELU"),
    "hard_swish": ([L.Activation("hard_swish")], "HARD_SWISH"),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("spread", [0.3, 2.0, 9.0])
def test_activation_matches_interpreter_on_every_int8_input(name, spread, tmp_path):
    layers, op = ACTIVATIONS[name]
    # The activation reads the model input itself, so each of the 256 int8 values can be fed straight to it;
    # the calibration spread changes the input (and for some ops the output) scale and zero point.
    rng = np.random.default_rng(int(spread * 10))
    calibration = (spread * rng.normal(size=(32, 256)) + spread / 3).astype(np.float32)
    tflite = int8_tflite(keras(layers, (256,)), calibration)
    assert op in ops_of(tflite)
    every = np.arange(-128, 128, dtype=np.int16).astype(np.int8)
    inputs = np.stack([every, every[::-1], rng.permutation(every)])
    got, model = run_c(tflite, inputs, tmp_path)
    assert op in model.ops
    np.testing.assert_array_equal(got, reference(tflite, inputs))


@pytest.mark.parametrize("depth, spread", [(10, 1.0), (4, 4.0), (37, 0.3)])
def test_softmax_matches_interpreter_exactly(depth, spread, tmp_path):
    # Integer-exact, not within 1 LSB: the float SOFTMAX this replaced missed on ~17 in 100,000 inputs.
    rng = np.random.default_rng(depth)
    calibration = (spread * rng.normal(size=(32, 6))).astype(np.float32)
    tflite = int8_tflite(keras([L.Dense(depth), L.Softmax()], (6,)), calibration)
    inputs = rng.integers(-128, 128, size=(3000, 6)).astype(np.int8)
    got, model = run_c(tflite, inputs, tmp_path)
    assert model.ops[-1] == "SOFTMAX"
    np.testing.assert_array_equal(got, reference(tflite, inputs))


# ------------------------------------------------------------------------------------ reductions


@pytest.mark.parametrize("case", range(5))
def test_reductions_match_interpreter_exactly(case, tmp_path):
    shape, layers, op = [
        ((17, 3), [L.Conv1D(6, 3, activation="relu"), L.GlobalAveragePooling1D()], "MEAN"),
        ((12, 4), [L.Conv1D(5, 3), L.GlobalMaxPooling1D()], "REDUCE_MAX"),
        ((7, 6, 2), [L.Conv2D(5, 3), L.GlobalMaxPooling2D(keepdims=True)], "REDUCE_MAX"),
        ((6, 5, 3), [L.Conv2D(7, 2), L.Lambda(lambda x: tf.reduce_mean(x, axis=-1, keepdims=True))], "MEAN"),
        ((6, 5, 3), [L.Conv2D(4, 2), L.Lambda(lambda x: tf.reduce_mean(x, axis=2))], "MEAN"),
    ][case]
    model = check(keras(layers, shape), shape, tmp_path, seed=200 + case, samples=64)
    assert op in model.ops


# -------------------------------------------------------------------------- elementwise with broadcasting


def _two_branch(kind: str) -> tf.keras.Model:
    """A squeeze-and-excitation-like block: a [h, w, c] tensor combined with a [1, 1, c] one (broadcast)."""
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(shape=(5, 6, 4))
    features = L.Conv2D(4, 3, padding="same")(inputs)
    pooled = L.GlobalAveragePooling2D(keepdims=True)(features)
    gate = L.Conv2D(4, 1, activation="sigmoid" if kind == "mul" else None)(pooled)
    combined = {"add": L.Add(), "sub": L.Subtract(), "mul": L.Multiply()}[kind]([features, gate])
    return tf.keras.Model(inputs, L.Conv2D(3, 1)(combined))


@pytest.mark.parametrize("kind", ["add", "sub", "mul"])
def test_broadcast_binary_ops_match_interpreter_exactly(kind, tmp_path):
    model = check(_two_branch(kind), (5, 6, 4), tmp_path, seed=210, samples=64)
    assert kind.upper() in model.ops


@pytest.mark.parametrize("case", range(3))
def test_binary_op_with_a_constant_operand_matches_interpreter(case, tmp_path):
    scales = tf.constant([0.5, -1.0, 2.0, 0.25, 1.5, -0.75])
    function, op = [(lambda x: x - 0.3, "SUB"), (lambda x: 0.3 - x, "SUB"),  # the constant second, then first
                     (lambda x: tf.nn.sigmoid(x) * scales, "MUL")][case]
    model = check(keras([L.Dense(6), L.Lambda(function)], (5,)), (5,), tmp_path, seed=220 + case, samples=64)
    assert op in model.ops


# ------------------------------------------------------------------------------- moving bytes, transpose conv


def test_concatenation_matches_interpreter_exactly(tmp_path):
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(shape=(6, 6, 3))
    a = L.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = L.Conv2D(2, 1, activation="relu")(inputs)
    joined = L.Concatenate(axis=-1)([a, b])
    stacked = L.Concatenate(axis=1)([joined, L.Conv2D(6, 1)(joined)])
    model = check(tf.keras.Model(inputs, L.Conv2D(3, 1)(stacked)), (6, 6, 3), tmp_path, seed=230, samples=32)
    assert model.ops.count("CONCATENATION") == 2


@pytest.mark.parametrize("case", range(3))
def test_pad_matches_interpreter_exactly(case, tmp_path):
    shape, layers, op = [
        ((6, 5, 2), [L.Conv2D(4, 3), L.ZeroPadding2D(((1, 2), (0, 3)))], "PAD"),
        ((9, 3), [L.Conv1D(4, 3), L.ZeroPadding1D((2, 1))], "PAD"),
        ((6, 5, 2), [L.Conv2D(4, 3), L.Lambda(lambda x: tf.pad(x, [[0, 0], [1, 1], [2, 0], [0, 1]],
                                                                constant_values=0.5))], "PADV2"),
    ][case]
    model = check(keras(layers, shape), shape, tmp_path, seed=240 + case, samples=32)
    assert op in model.ops


@pytest.mark.parametrize("order", [(2, 1, 3), (3, 1, 2)])
def test_transpose_matches_interpreter_exactly(order, tmp_path):
    model = check(keras([L.Conv2D(4, 2), L.Permute(order), L.Conv2D(3, 1)], (6, 5, 2)), (6, 5, 2), tmp_path,
                  seed=245, samples=16)
    assert "TRANSPOSE" in model.ops


@pytest.mark.parametrize("case", range(3))
def test_transpose_conv_matches_interpreter_exactly(case, tmp_path):
    shape, filters, kernel, strides, padding, activation = [((5, 5, 2), 3, 3, 2, "same", None),
                                                            ((4, 6, 3), 4, (2, 3), (2, 1), "valid", "relu"),
                                                            ((3, 3, 4), 2, 4, 3, "same", None)][case]
    layers = [L.Conv2DTranspose(filters, kernel, strides=strides, padding=padding, activation=activation)]
    model = check(keras(layers, shape), shape, tmp_path, seed=250 + case, samples=32)
    # The shape chain Keras emits for the free batch axis (SHAPE, STRIDED_SLICE, PACK) is folded away.
    assert model.ops == ["TRANSPOSE_CONV"]


# ------------------------------------------------------------------- the gesture recipe's model, layer by layer


def test_gesture_recipe_conv1d_runs_on_the_c_target_with_every_tensor_exact(tmp_path):
    """The train recipe's time-series model (Conv1D blocks, GlobalAveragePooling1D): every intermediate tensor of
    the C target equals the interpreter's. The C model is cut after each op that computes (not the byte copies
    RESHAPE and EXPAND_DIMS) by making that op's output the model's output."""
    from jupyter_tinyml.stages import train

    namespace_code = train._conv1d_layers(64)
    layers = [eval(line.split("#")[0].rstrip().rstrip(","), {"keras": tf.keras}) for line in namespace_code]
    model = keras([*layers, L.Dense(3, activation="softmax")], (64, 3))
    rng = np.random.default_rng(260)
    tflite = int8_tflite(model, rng.normal(size=(32, 64, 3)).astype(np.float32))
    assert "MEAN" in ops_of(tflite)
    inputs = np.clip(rng.normal(scale=40, size=(8, 64, 3)), -128, 127).astype(np.int8)
    got, c_model = run_c(tflite, inputs, tmp_path)
    np.testing.assert_array_equal(got, reference(tflite, inputs))

    interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                              experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    graph = read(model_bytes(tflite))
    source = interpreter.get_input_details()[0]
    computing = [(p, o) for p, o in enumerate(graph.operators[:-1]) if o.name not in ("RESHAPE", "EXPAND_DIMS")]
    for position, operator in computing:
        cut = _truncated(tflite, operator.outputs[0])
        folder = tmp_path / f"cut{position}"
        folder.mkdir()
        got, _ = run_c(cut, inputs, folder)
        for sample, values in zip(inputs, got):
            interpreter.set_tensor(source["index"], sample[None])
            interpreter.invoke()
            np.testing.assert_array_equal(values, interpreter.get_tensor(operator.outputs[0]).reshape(-1),
                                          err_msg=f"after op {position} {operator.name}")
    assert [o.name for _, o in computing] == ["CONV_2D", "MAX_POOL_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"]


def _truncated(tflite: bytes, tensor: int) -> bytes:
    """The model with `tensor` as its only output (the flatbuffer's subgraph output list rewritten)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite, 0))
    subgraph = model.subgraphs[0]
    subgraph.outputs = [tensor]
    producer = next(i for i, op in enumerate(subgraph.operators) if tensor in list(op.outputs))
    subgraph.operators = subgraph.operators[:producer + 1]
    import flatbuffers

    builder = flatbuffers.Builder(len(tflite))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _every_op_model() -> tf.keras.Model:
    """One small network with every op of this file: LEAKY_RELU, TANH, MEAN, LOGISTIC, broadcast MUL, SUB,
    HARD_SWISH, CONCATENATION, TRANSPOSE, TRANSPOSE_CONV, REDUCE_MAX, SOFTMAX."""
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((12, 12, 3))
    x = L.LeakyReLU(0.1)(L.Conv2D(8, 3, padding="same")(inputs))
    a = L.Conv2D(8, 3, activation="tanh")(L.ZeroPadding2D(1)(x))
    gate = L.Conv2D(8, 1, activation="sigmoid")(L.GlobalAveragePooling2D(keepdims=True)(a))
    x = L.Multiply()([a, gate])
    x = L.Activation("hard_swish")(L.Subtract()([x, L.Conv2D(8, 1)(x)]))
    x = L.Permute((2, 1, 3))(L.Concatenate()([x, L.Conv2D(4, 1)(x)]))
    x = L.Conv2DTranspose(6, 3, strides=2, padding="same")(x)
    x = L.Concatenate()([L.GlobalMaxPooling2D()(x), L.GlobalAveragePooling2D()(x)])
    return tf.keras.Model(inputs, L.Dense(5, activation="softmax")(x))


@pytest.mark.usefixtures("no_stray_qemu")
def test_every_op_runs_exactly_on_the_virtual_cortex_m4(tmp_path):
    """The same kernels compiled for the Cortex-M4 (its FPU, arm-none-eabi-gcc -O2) and run under QEMU: the board's
    outputs equal TFLite's reference kernels, 0 steps apart."""
    require_arm_tools()
    from jupyter_tinyml.hardware.serial_link import BoardLink
    from jupyter_tinyml.hardware.virtual import image, qemu

    rng = np.random.default_rng(300)
    tflite = int8_tflite(_every_op_model(), rng.normal(size=(32, 12, 12, 3)).astype(np.float32))
    model = generate_c(tflite)
    assert {"LEAKY_RELU", "TANH", "LOGISTIC", "MUL", "SUB", "HARD_SWISH", "CONCATENATION", "TRANSPOSE",
            "TRANSPOSE_CONV", "REDUCE_MAX", "MEAN", "SOFTMAX"} <= set(model.ops)
    built = image.build(model, output_dir=tmp_path / "c", labels=[f"c{i}" for i in range(5)])
    assert built.ok, built.output
    with qemu.flash(built) as board, BoardLink(board.port, board="virtual-cortex-m4", timeout=120.0) as link:
        result = link.check(tflite, rng.normal(size=(4, 12, 12, 3)).astype(np.float32))
    assert result.agreement == 1.0 and result.max_abs_diff == 0


# ----------------------------------------------------------------------- refusals, fallback, no expf


def test_refusal_names_the_layer_and_what_to_do():
    model = keras([L.Conv2D(3, 3), L.UpSampling2D(name="grow")], (6, 6, 2))
    tflite = int8_tflite(model, np.random.default_rng(0).normal(size=(16, 6, 6, 2)).astype(np.float32))
    with pytest.raises(QuantizationError) as error:
        generate_c(tflite)
    message = str(error.value)
    assert "no kernel for" in message and "TILE" in message
    assert "layer 'grow'" in message and "target='tflm'" in message


def test_a_lowering_refusal_names_the_layer_too():
    layers = [L.Conv2D(4, 3), L.Lambda(lambda x: tf.reduce_max(x, axis=[1, 3]), name="odd_max")]
    tflite = int8_tflite(keras(layers, (6, 6, 2)), np.random.default_rng(0).normal(size=(16, 6, 6, 2)))
    with pytest.raises(QuantizationError, match=r"^REDUCE_MAX in layer 'odd_max' over axes \[1, 3\]"):
        generate_c(tflite)


def test_auto_target_falls_back_to_tflite_micro_and_picks_c_for_gap1d(tmp_path):
    from jupyter_tinyml import write_project

    # MAXIMUM (keras.layers.Maximum): TFLite Micro has a kernel for it, the C target none.
    inputs = tf.keras.Input(shape=(6, 5, 2))
    larger = L.Maximum()([L.Conv2D(3, 3)(inputs), L.Conv2D(3, 3)(inputs)])
    refused = int8_tflite(tf.keras.Model(inputs, larger),
                          np.random.default_rng(0).normal(size=(16, 6, 5, 2)).astype(np.float32))
    with pytest.raises(QuantizationError, match="no kernel for MAXIMUM"):
        generate_c(refused)
    project = write_project(refused, board="virtual-cortex-m4", out_dir=tmp_path / "tflm", target="auto")
    assert project.target == "tflm" and "MAXIMUM" in project.target_reason, project.target_reason
    accepted = int8_tflite(keras([L.Conv1D(4, 3), L.GlobalAveragePooling1D(), L.Dense(3)], (12, 3)),
                           np.random.default_rng(0).normal(size=(16, 12, 3)).astype(np.float32))
    project = write_project(accepted, board="virtual-cortex-m4", out_dir=tmp_path / "c", target="auto")
    assert "portable C target" in project.target_reason


def test_cortex_m4_objects_call_no_expf_or_other_libm(tmp_path):
    """SOFTMAX, LOGISTIC and TANH use tables computed on the host: no object of the image needs libm."""
    require_arm_tools("arm-none-eabi-gcc")
    compiler = shutil.which("arm-none-eabi-gcc")
    nm = shutil.which("arm-none-eabi-nm")
    layers = [L.Dense(8, activation="tanh"), L.Dense(8, activation="sigmoid"), L.Dense(4, activation="softmax")]
    tflite = int8_tflite(keras(layers, (6,)), np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32))
    files = generate_c(tflite).files
    assert {"TANH", "LOGISTIC", "SOFTMAX"} <= set(generate_c(tflite).ops)
    undefined: set[str] = set()
    for filename, text in files.items():
        (tmp_path / filename).write_text(text)
    # The whole image: the generated model, the kernels and the virtual board's own sources (main.c shows a logit
    # model's top score, without expf).
    from jupyter_tinyml.hardware.virtual.toolchain import board_sources

    board = board_sources()
    sources = [name for name in files if name.endswith(".c")] + [str(path) for path in sorted(board.glob("*.c"))]
    for source in sources:
        obj = tmp_path / (Path(source).name + ".o")
        subprocess.run([compiler, "-std=c99", "-Wall", "-Wextra", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                        "-mfpu=fpv4-sp-d16", "-O2", f"-I{tmp_path}", f"-I{board}", "-c", source, "-o", str(obj)],
                       cwd=tmp_path, check=True, capture_output=True, text=True)
        listed = subprocess.run([nm, "-u", str(obj)], check=True, capture_output=True, text=True).stdout
        undefined |= {line.split()[-1] for line in listed.splitlines() if line.strip()}
    assert not undefined & {"expf", "exp", "tanhf", "tanh", "logf", "floorf", "roundf", "lroundf"}, undefined
    for text in files.values():
        assert "expf(" not in text and "<math.h>" not in text


def test_these_ops_kernels_compile_pedantic_c99_warning_free(tmp_path: Path):
    files = generate_c(int8_tflite(keras([L.Dense(4)], (3,)), np.random.default_rng(0).normal(size=(8, 3)))).files
    for filename, text in files.items():
        (tmp_path / filename).write_text(text)
    for source in ("tinyml_ops.c", "tinyml_transpose_conv.c"):
        done = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c", source,
                               "-o", "/dev/null"], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_shape_chains_of_a_free_batch_axis_are_folded(tmp_path):
    # Reshape((-1, 4)) with a free batch axis: SHAPE -> STRIDED_SLICE -> PACK computes the target shape.
    layers = [L.Conv2D(4, 3), L.Reshape((-1, 4)), L.GlobalAveragePooling1D()]
    model = check(keras(layers, (6, 6, 1)), (6, 6, 1), tmp_path, seed=270, samples=16)
    assert model.ops == ["CONV_2D", "RESHAPE", "MEAN"]


def test_dense_on_a_3d_input_says_how_to_avoid_the_run_time_shape(tmp_path):
    calibration = np.random.default_rng(280).normal(size=(16, 10, 3)).astype(np.float32)
    with pytest.raises(QuantizationError, match=r"^RESHAPE in layer 'dense\w*' .*fixed batch size of 1"):
        generate_c(int8_tflite(keras([L.Dense(4)], (10, 3)), calibration))
    tf.keras.utils.set_random_seed(0)
    fixed = tf.keras.Sequential([tf.keras.Input(shape=(10, 3), batch_size=1), L.Dense(4)])
    tflite = int8_tflite(fixed, calibration)
    assert ops_of(tflite) == ["FULLY_CONNECTED"]
    check(None, (10, 3), tmp_path, seed=281, samples=16, tflite=tflite)


@pytest.mark.parametrize("tensor_name, layer", [
    ("sequential/conv1d/Relu;sequential/conv1d/BiasAdd", "conv1d"),  # Keras 2: the scopes as written
    ("sequential_1/conv1d_1/convolution/Squeeze", "conv1d"),  # Keras 3 traces in a scope TF suffixes with _1
    ("sequential_1_1/dense_1_1/MatMul", "dense_1"),  # the second Dense of a session: its name is dense_1
    ("functional_1/my_block_1/add/Add", "my_block"),
    ("StatefulPartitionedCall_1:0", None),  # the model's output tensor names the call, not a layer
])
def test_layer_names_come_from_the_tensor_scope(tensor_name, layer):
    from jupyter_tinyml.firmware.c_target.lowering import layer_name

    assert layer_name(tensor_name) == layer
