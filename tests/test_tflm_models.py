"""Many models through the real TFLite Micro library on the virtual board, with both of its kernel flavours.

For each model, write_project(target="tflm") writes the Arduino project a Nano 33 BLE Sense gets, tflm.build_sketch
links it against the library compiled for the emulated Cortex-M4 (CMSIS-NN with the DSP extension, and CMSIS-NN's
portable C path), QEMU runs it and the on-device check compares every output with TFLite's reference kernels: the
top class must always agree and every output must be within one int8 step of TFLite's reference kernels — or of
TFLite Micro's own reference kernels (the tflite_micro package) where those two differ, which happens in SOFTMAX:
TFLite Micro rounds it in fixed point, TFLite from a float table, a few steps apart on a confident class.

Models: MLPerf Tiny's KWS DS-CNN and a Conv1D time-series net (tests/reference_models.py; the digits CNN is
test_tflm_virtual.py's), and the
offline recipes' own models for images, tabular features and time series, built and converted by the code the
recipes generate. Needs the library (TINYML_TFLM_LIBRARY or an Arduino/PlatformIO install), arm-none-eabi-g++ with
newlib and qemu-system-arm; without them the file skips with the reason, except under CI=true, where it fails.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prerequisites import require_tflm_library

pytestmark = pytest.mark.usefixtures("no_stray_qemu")

SAMPLES = 20
KERNELS = ("cmsis-nn", "portable")
BOARD = "virtual-cortex-m4"
MICRO_ARENA_BYTES = 1 << 20  # the host runtime's arena: 64-bit pointers need more than the sketch's
# Models whose convolutions CMSIS-NN speeds up with the DSP extension's SIMD instructions.
CONVOLUTIONAL = ("digits", "kws", "conv1d", "recipe-image", "recipe-timeseries")


@pytest.fixture(scope="module")
def board_ready() -> None:
    """Skip (fail under CI=true) when the library or the Arm tools are missing."""
    require_tflm_library(with_board=True)


# ------------------------------------------------------------------------------------------------- the models


@pytest.mark.parametrize("architecture, input_shape, outputs, parameters", [
    ("kws_ds_cnn", (49, 10, 1), 12, 24_908),  # 10x4/2 conv of 64 filters, 4 depthwise-separable blocks of 64
    ("vww_mobilenet_v1", (96, 96, 3), 2, 221_794),  # alpha 0.25: 8 to 256 filters, 13 blocks
    ("ic_resnet8", (32, 32, 3), 10, 78_666),  # 16/32/64 filters, two 1x1 strided shortcuts
    ("ad_autoencoder", (640,), 640, 269_992),  # 640-128x4-8-128x4-640
])
def test_the_reference_architectures_are_mlperf_tinys(architecture: str, input_shape: tuple[int, ...],
                                                      outputs: int, parameters: int) -> None:
    """The counts (batch-norm statistics included) are those of mlcommons/tiny's own Keras definitions."""
    pytest.importorskip("keras")
    import reference_models

    model = getattr(reference_models, architecture)()
    assert model.input_shape[1:] == input_shape and model.output_shape[1:] == (outputs,)
    assert model.count_params() == parameters




@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    """name -> (.tflite, samples, labels), each built on first use (reference_models caches them)."""
    from reference_models import build

    def get(name: str) -> tuple[bytes, np.ndarray, list[str]]:
        reference = build(name)
        return reference.tflite, reference.samples[:SAMPLES], reference.labels

    return {"get": get}


# ------------------------------------------------------------------------------------------------- the check


def write_sketch(tflite: bytes, labels: list[str], name: str, folder: Path) -> Path:
    """write_project(target="tflm") for the virtual board: the Arduino project a real board gets; its folder."""
    from jupyter_tinyml.firmware.project import write_project

    project = write_project(tflite, BOARD, folder, labels=labels, name=name.replace("-", "_"), target="tflm")
    return Path(project.root)


def run_sketch(project: Path, tflite: bytes, samples: np.ndarray, kernels: str) -> Any:
    """build_sketch(kernels) -> QEMU -> BoardLink.check; the check's result."""
    from jupyter_tinyml.hardware.serial_link import BoardLink
    from jupyter_tinyml.hardware.virtual import qemu, tflm

    built = tflm.build_sketch(project, BOARD, kernels=kernels)
    assert built.ok, built.error_text()
    with qemu.flash(built) as board, BoardLink(board.port, board=BOARD) as link:
        return link.check(tflite, samples)


def micro_reference(tflite: bytes, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(TFLite Micro's own reference kernels, TFLite's reference kernels) on the host, for the samples quantized
    as the check quantizes them: the two oracles the device is held to."""
    from tflite_micro.python.tflite_micro import runtime

    from jupyter_tinyml.hardware.device_check import quantize_samples
    from jupyter_tinyml.model.evaluate import interpreter_for

    host = interpreter_for(tflite, reference=True)
    host.allocate_tensors()
    source, target = host.get_input_details()[0], host.get_output_details()[0]
    scale, zero_point = source["quantization"]
    quantized = quantize_samples(samples, np.int8, scale, zero_point).reshape(len(samples), *source["shape"][1:])
    micro = runtime.Interpreter.from_bytes(tflite, arena_size=MICRO_ARENA_BYTES)
    micro_outputs, host_outputs = [], []
    for sample in quantized:
        micro.set_input(sample[np.newaxis], 0)
        micro.invoke()
        micro_outputs.append(micro.get_output(0).reshape(-1))
        host.set_tensor(source["index"], sample[np.newaxis])
        host.invoke()
        host_outputs.append(host.get_tensor(target["index"]).reshape(-1))
    return np.array(micro_outputs), np.array(host_outputs)


# The digits CNN runs with both flavours in test_tflm_virtual.py, through write_project and the deploy panel. The
# recipes' image and tabular models differ from these in no op TFLite Micro runs (they reach the virtual board
# through the C target in the lifecycle notebooks); bench/bench_targets.py runs every model with every target.
@pytest.mark.parametrize("name", ["kws", "conv1d", "recipe-timeseries"])
def test_tflite_micro_on_the_virtual_board_computes_the_reference_scores(name: str, board_ready: None,
                                                                         models: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    tflite, samples, labels = models["get"](name)
    micro_outputs, host_outputs = micro_reference(tflite, samples)
    # TFLite Micro's SOFTMAX rounds differently from TFLite's (fixed point vs a float table): its own reference
    # kernels (the tflite_micro package) may already differ from TFLite's by a few steps on a confident class.
    # Every output must be within one step of TFLite's reference, or of TFLite Micro's where the two differ.
    micro = micro_outputs.astype(np.int32)
    host = host_outputs.astype(np.int32)
    softmax_gap = int(np.abs(micro - host).max())
    project = write_sketch(tflite, labels, name, tmp_path)  # one project, built with each kernel flavour
    results = {kernels: run_sketch(project, tflite, samples, kernels) for kernels in KERNELS}
    for kernels, result in results.items():
        assert result.n == len(samples) == SAMPLES, kernels
        device = result.device_outputs.astype(np.int32)
        np.testing.assert_array_equal(result.host_outputs, host_outputs)  # the check's oracle is TFLite's
        assert result.agreement == 1.0, (kernels, result.summary())
        assert result.max_abs_diff <= max(1, softmax_gap), (kernels, result.summary())
        nearest = np.minimum(np.abs(device - host), np.abs(device - micro))
        assert nearest.max() <= 1, (kernels, np.argwhere(nearest > 1).tolist())
        assert result.cycles and min(result.cycles) > 1000, kernels
    dsp, portable = (int(np.median(results[kernels].cycles)) for kernels in KERNELS)
    print(f"\n{name}: {dsp:,} instructions per inference with CMSIS-NN's DSP kernels, {portable:,} portable; "
          f"{results[KERNELS[0]].max_abs_diff} step(s) from TFLite's reference kernels, TFLite Micro's own "
          f"reference {softmax_gap}")
    if name in CONVOLUTIONAL:  # the two archives really differ: SIMD multiply-accumulates take fewer instructions
        assert dsp < portable
