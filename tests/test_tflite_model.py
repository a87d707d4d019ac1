"""The model reader, inspect and the arena on real .tflite files made here: ops, tensors and options against LiteRT
and TensorFlow's own flatbuffer reader, the arena against TFLite Micro."""
from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tflite_micro")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from jupyter_tinyml.errors import QuantizationError  # noqa: E402
from jupyter_tinyml.model import tflite as tflite_model  # noqa: E402
from jupyter_tinyml.model.arena import measure_arena, probe_tflm_ops  # noqa: E402
from jupyter_tinyml.model.inspection import ModelInspection, inspect  # noqa: E402
from jupyter_tinyml.model.tflite import OpInfo, model_bytes, read  # noqa: E402

# Runs a model once in TFLite Micro with a given arena, in its own process: the runtime can crash on a small one.
RUN_IN_TFLM = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
interpreter = runtime.Interpreter.from_bytes(open(sys.argv[1], "rb").read(), arena_size=int(sys.argv[2]))
details = interpreter.get_input_details(0)
sample = np.random.default_rng(0).integers(-128, 128, size=details["shape"]).astype(details["dtype"])
interpreter.set_input(sample, 0)
interpreter.invoke()
print("invoked", interpreter.get_output(0).shape)
"""


def ops(tflite: object) -> list[OpInfo]:
    return list(read(model_bytes(tflite)).ops)


def runs_in_tflm(path: Path, arena: int) -> tuple[bool, str]:
    result = subprocess.run([sys.executable, "-c", RUN_IN_TFLM, str(path), str(arena)],
                            capture_output=True, text=True, timeout=60)
    return result.returncode == 0 and "invoked" in result.stdout, result.stderr


def digits_cnn() -> object:
    """A small digits-like CNN, 28x28 grey images, 10 classes: Conv2D / MaxPool / Dense / Softmax."""
    return tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        tf.keras.layers.Conv2D(8, 3, activation="relu"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10),
        tf.keras.layers.Softmax(),
    ])


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """int8 (int8 input and output), float, and one with TOPK_V2, which TFLite Micro lacks; written to files."""
    tf.keras.utils.set_random_seed(0)
    model = digits_cnn()
    images = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")

    from jupyter_tinyml.model.convert import convert

    made = {"int8": convert(model, images), "float": convert(model, quantization="none")}

    top_k = tf.function(lambda scores: tf.math.top_k(scores, k=3).values,
                        input_signature=[tf.TensorSpec([1, 10], tf.float32)])
    made["topk"] = tf.lite.TFLiteConverter.from_concrete_functions(
        [top_k.get_concrete_function()], top_k).convert()
    cumsum = tf.function(lambda values: tf.math.cumsum(values, axis=1),
                         input_signature=[tf.TensorSpec([1, 8], tf.float32)])
    made["cumsum"] = tf.lite.TFLiteConverter.from_concrete_functions(
        [cumsum.get_concrete_function()], cumsum).convert()

    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for name, data in made.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def int8_inspection(models: dict[str, Path]) -> ModelInspection:
    return inspect(models["int8"].read_bytes())


@pytest.mark.parametrize("kind", ["int8", "float", "topk"])
def test_op_names_and_counts_match_litert_and_versions_match_the_file(models: dict[str, Path], kind: str) -> None:
    from tensorflow.lite.tools import flatbuffer_utils  # TensorFlow's own reader of the same schema

    data = models[kind].read_bytes()
    found = ops(data)
    reference = flatbuffer_utils.convert_bytearray_to_object(data)
    counted = Counter(flatbuffer_utils.opcode_to_name(reference, operator.opcodeIndex)
                      for subgraph in reference.subgraphs for operator in subgraph.operators)
    assert {op.name: op.count for op in found} == dict(counted)
    assert [op.name for op in found] == sorted(op.name for op in found)

    builtin_names = {value: name for name, value in vars(flatbuffer_utils.schema_fb.BuiltinOperator).items()
                     if isinstance(value, int)}
    versions = {builtin_names[max(code.builtinCode, code.deprecatedBuiltinCode)]: code.version
                for code in reference.operatorCodes}
    assert {op.name: op.version for op in found} == {name: versions[name] for name in counted}
    # The interpreter runs as many operators as the file lists.
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    assert sum(op.count for op in found) == len(reference.subgraphs[0].operators)


def test_int8_cnn_uses_the_expected_kernels_at_int8_versions(int8_inspection: ModelInspection) -> None:
    by_name = {op.name: op for op in int8_inspection.ops}
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(by_name)
    assert by_name["CONV_2D"].version >= 3  # int8 per-channel conv is version 3 and later
    assert all(op.supported_by_tflm for op in int8_inspection.ops)
    assert int8_inspection.unsupported_ops == []


def test_codes_above_127_use_the_new_field(models: dict[str, Path]) -> None:
    # CUMSUM is 128: the old int8 field holds 127 (PLACEHOLDER_FOR_GREATER_OP_CODES) and the new one 128.
    assert [(op.name, op.count) for op in ops(models["cumsum"])] == [("CUMSUM", 1)]


def test_old_files_with_only_the_deprecated_code_read_the_same(models: dict[str, Path]) -> None:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(models["int8"].read_bytes())
    for code in model.operatorCodes:
        code.builtinCode = 0  # what a file written before the field existed reads as
    old = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    assert ops(old) == ops(models["int8"])
    assert [op.name for op in read(old).operators] == [op.name for op in read(model_bytes(models["int8"])).operators]


def test_a_model_is_parsed_once_per_content(models: dict[str, Path]) -> None:
    data = models["int8"].read_bytes()
    assert read(data) is read(model_bytes(models["int8"])) is read(bytes(bytearray(data)))
    assert read(data).size == len(data)
    with pytest.raises(QuantizationError, match="is not a TFLite flatbuffer"):
        read(b"PK\x03\x04 a zip file, not a model")


def test_tensors_and_quantization_match_litert(models: dict[str, Path]) -> None:
    data = models["int8"].read_bytes()
    graph = read(data)
    interpreter = Interpreter(model_content=data)
    # Read as the file states them: once allocated, LiteRT's FULLY_CONNECTED repeats a per-tensor weight scale per
    # output channel in what it reports.
    details = interpreter.get_tensor_details()
    interpreter.allocate_tensors()
    assert len(details) == len(graph.tensors)
    per_channel = 0
    for detail in details:
        tensor = graph.tensors[detail["index"]]
        assert (tensor.index, tensor.name) == (detail["index"], detail["name"])
        assert tensor.shape == tuple(detail["shape"]) and tensor.dtype == np.dtype(detail["dtype"]).name
        parameters = detail["quantization_parameters"]
        assert np.array_equal(np.float32(tensor.scales), parameters["scales"])
        assert np.array_equal(np.array(tensor.zero_points, dtype=np.int64), parameters["zero_points"])
        if tensor.quantization is not None:
            assert tensor.quantization.quantized_dimension == parameters["quantized_dimension"]
            per_channel += len(tensor.scales) > 1
        if tensor.data is not None:  # a constant: the bytes in the file are the values the interpreter holds
            assert np.array_equal(tensor.values(), interpreter.get_tensor(detail["index"]))
    assert per_channel >= 1  # the conv's weights are quantized per output channel
    assert [graph.tensors[i].name for i in graph.input_indices] == [d["name"] for d in interpreter.get_input_details()]


def test_operators_their_tensors_and_options_match_tensorflows_reader(models: dict[str, Path]) -> None:
    from tensorflow.lite.tools import flatbuffer_utils

    data = models["int8"].read_bytes()
    reference = flatbuffer_utils.convert_bytearray_to_object(data).subgraphs[0]
    graph = read(data)
    assert len(graph.subgraphs) == 1 and len(graph.operators) == len(reference.operators)
    for ours, theirs in zip(graph.operators, reference.operators):
        assert ours.inputs == tuple(theirs.inputs) and ours.outputs == tuple(theirs.outputs)
        expected = vars(theirs.builtinOptions) if theirs.builtinOptions is not None else {}
        # The two schemas come from different releases: a newer one may add fields, never drop them.
        assert set(expected) <= set(ours.options)
        for key, value in expected.items():
            assert np.array_equal(ours.options[key], value), (ours.name, key)
    conv = next(op for op in graph.operators if op.name == "CONV_2D")
    assert (conv.options["strideH"], conv.options["strideW"]) == (1, 1) and not conv.custom


@pytest.mark.parametrize("kind", ["int8", "float"])
def test_inputs_and_outputs_match_litert(models: dict[str, Path], kind: str) -> None:
    data = models[kind].read_bytes()
    interpreter = Interpreter(model_content=data)
    for ours, theirs in ((read(data).inputs, interpreter.get_input_details()),
                         (read(data).outputs, interpreter.get_output_details())):
        assert len(ours) == len(theirs)
        for tensor, details in zip(ours, theirs):
            assert tensor.name == details["name"]
            assert tensor.shape == tuple(details["shape"])
            assert tensor.dtype == np.dtype(details["dtype"]).name
            scale, zero_point = details["quantization"]
            if kind == "int8":
                assert tensor.dtype == "int8"
                assert tensor.scale == pytest.approx(scale, rel=1e-7) and tensor.zero_point == zero_point
            else:
                assert (scale, zero_point) == (0.0, 0)
                assert tensor.scale is None and tensor.zero_point is None


def test_measured_arena_allocates_and_invokes_and_a_quarter_less_does_not(
        models: dict[str, Path], int8_inspection: ModelInspection) -> None:
    measured = int8_inspection.arena_measured_bytes
    assert measured is not None and measured % 16 == 0
    assert int8_inspection.arena_bytes - int8_inspection.arena_margin_bytes == measured
    works, log = runs_in_tflm(models["int8"], measured)
    assert works, log
    fails, _ = runs_in_tflm(models["int8"], int(measured * 0.75))
    assert not fails
    # The search stops at 16 bytes: one step less no longer fits.
    assert not runs_in_tflm(models["int8"], measured - 16)[0]
    # Cross-check with TFLite Micro's RecordingMicroAllocator for the same run.
    assert int8_inspection.arena_recorded_bytes is not None
    assert abs(measured - int8_inspection.arena_recorded_bytes) <= 256
    # The activations alone (26x26x8 conv output and the 13x13x8 pooled one) must fit in it.
    assert measured > 26 * 26 * 8 + 13 * 13 * 8


def test_arena_is_measured_quickly_and_cached(models: dict[str, Path]) -> None:
    data = models["float"].read_bytes()
    started = time.perf_counter()
    first = measure_arena(data)
    took = time.perf_counter() - started
    started = time.perf_counter()
    assert measure_arena(models["float"]) == first  # a path to the same bytes hits the cache
    assert time.perf_counter() - started < 0.1
    assert took < 10
    assert runs_in_tflm(models["float"], first)[0]


def test_arena_search_survives_the_runtime_crashing_on_small_arenas(models: dict[str, Path]) -> None:
    # TFLite Micro's Python runtime segfaults on some too-small arenas for this model; the search runs in a
    # child process and goes on.
    measured = measure_arena(models["cumsum"])
    assert runs_in_tflm(models["cumsum"], measured)[0]
    assert not runs_in_tflm(models["cumsum"], measured - 16)[0]


def test_margin_is_the_stated_one(models: dict[str, Path], int8_inspection: ModelInspection) -> None:
    measured = int8_inspection.arena_measured_bytes
    scratch = int8_inspection.kernel_scratch_bytes
    # CMSIS-NN's im2col buffer for the conv: 2 columns x align4(1 channel * 3 * 3) int16 = 48 bytes.
    assert scratch == 48
    expected = -(-(0.10 * measured + 1024 + scratch) // 16) * 16
    assert int8_inspection.arena_margin_bytes == expected
    assert int8_inspection.arena_bytes == measured + expected
    bare = inspect(models["int8"], margin_fraction=0, margin_bytes=0)
    assert bare.arena_margin_bytes == scratch and bare.arena_measured_bytes == measured


def test_flash_is_the_model_size(models: dict[str, Path], int8_inspection: ModelInspection) -> None:
    assert int8_inspection.flash_bytes == models["int8"].stat().st_size


def test_op_tflm_lacks_is_reported_and_nothing_is_run(models: dict[str, Path]) -> None:
    inspection = inspect(models["topk"])
    assert inspection.unsupported_ops == ["TOPK_V2"]
    assert [op.supported_by_tflm for op in inspection.ops if op.name == "TOPK_V2"] == [False]
    assert inspection.arena_measured_bytes is None and inspection.arena_bytes is None
    assert inspection.arena_margin_bytes is None
    assert "TOPK_V2" in inspection.arena_error
    assert "UNSUPPORTED by TFLite Micro: TOPK_V2" in str(inspection)
    with pytest.raises(QuantizationError, match="TOPK_V2"):
        measure_arena(models["topk"])
    # The runtime agrees: it has no kernel for it.
    works, log = runs_in_tflm(models["topk"], 1 << 16)
    assert not works and "Didn't find op for builtin opcode 'TOPK_V2'" in log


def test_supported_op_list_is_what_the_installed_runtime_resolves() -> None:
    builtins, custom = probe_tflm_ops(tuple(sorted(tflite_model.tflm_custom_ops())))
    assert set(builtins) == set(tflite_model.tflm_builtin_ops()), (
        "jupyter_tinyml/model/data/tflm_ops.txt differs from the installed tflite-micro: regenerate it from "
        "jupyter_tinyml.model.arena.probe_tflm_ops()")
    assert set(custom) == set(tflite_model.tflm_custom_ops())
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "MAX_POOL_2D"} <= set(builtins)
    assert "TOPK_V2" not in builtins


def test_not_a_tflite_and_a_missing_path_are_refused(tmp_path: Path, models: dict[str, Path]) -> None:
    with pytest.raises(QuantizationError, match="is not a TFLite flatbuffer"):
        inspect(b"PK\x03\x04 a zip file, not a model")
    with pytest.raises(QuantizationError, match="is not a TFLite flatbuffer"):
        ops(b"TFL3")
    missing = tmp_path / "model.tflite"
    with pytest.raises(QuantizationError, match=r"model\.tflite is not a TFLite flatbuffer \(no such file\)"):
        inspect(missing)
    text = tmp_path / "notes.tflite"
    text.write_text("hello, microcontroller")
    with pytest.raises(QuantizationError, match="notes.tflite is not a TFLite flatbuffer"):
        ops(str(text))
    assert model_bytes(models["int8"]) == model_bytes(str(models["int8"])) == models["int8"].read_bytes()
    assert model_bytes(bytearray(models["int8"].read_bytes())) == models["int8"].read_bytes()


def test_report_reads_well(int8_inspection: ModelInspection) -> None:
    text = str(int8_inspection)
    conv = next(op for op in int8_inspection.ops if op.name == "CONV_2D")
    assert f"CONV_2D v{conv.version}" in text
    assert "Input:  serving_default" in text and "int8 [1, 28, 28, 1], scale" in text
    assert "Output:" in text and "int8 [1, 10]" in text
    assert f"Flash:  {int8_inspection.flash_bytes:,} bytes" in text
    assert (f"{int8_inspection.arena_bytes:,} bytes = {int8_inspection.arena_measured_bytes:,} measured"
            in text)
    assert "UNSUPPORTED" not in text
    html = int8_inspection._repr_html_()
    assert html.startswith("<table") and "CONV_2D" in html
