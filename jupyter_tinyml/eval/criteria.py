"""What each stage must leave for the next one, checked on the kernel's namespace and working folder.

A stage's generated code ran; these checks say whether it did the stage's job: prep leaves the four splits,
train a trained Keras model above the accuracy floor, convert a full-integer int8 model within a margin of the
float model's accuracy, deploy a firmware project that builds for the virtual board and agrees with that int8
model on the board. Each returns a Verdict (kind, first error line, what it measured), the StageResult fields
the probe fills in. The checks reuse the product's own evaluators (model/evaluate.py, the virtual board's build
and the on-device check), so an evaluation judges the notebook exactly as a student's own checks would.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .records import OK

VIRTUAL_BOARD = "virtual-cortex-m4"
SPLITS = ("x_train", "x_test", "y_train", "y_test")
INT8_FILE = "model.tflite"
INT8_NAME = "tflite_model"
PREDICT_BATCH = 256


@dataclass(frozen=True)
class Thresholds:
    """accuracy_floor: the trained model's least test accuracy; int8_margin: how far the int8 model's accuracy may
    fall below the float model's; check_samples: test samples the on-device check sends."""

    accuracy_floor: float = 0.8
    int8_margin: float = 0.05
    check_samples: int = 50


@dataclass
class Verdict:
    """A stage check's finding: `kind` is OK or a records.FAILURE_KINDS key, `first_error` its one line.

    `int8_model` carries the bytes the convert check validated, so the deploy check compares the board with them.
    """

    kind: str = OK
    first_error: str = ""
    measured: dict[str, Any] = field(default_factory=dict)
    int8_model: bytes | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.kind == OK


def missing(line: str, **measured: Any) -> Verdict:
    return Verdict("missing_result", line, dict(measured))


# ---- prep --------------------------------------------------------------------------------------------------


def check_prep(namespace: Mapping[str, Any], cwd: Path, thresholds: Thresholds) -> Verdict:
    """The four splits, non-empty, each x as long as its y."""
    for name in SPLITS:
        if name not in namespace:
            return missing(f"no {name} after prep")
    lengths: dict[str, int] = {}
    for name in SPLITS:
        try:
            lengths[name] = len(namespace[name])
        except TypeError:
            return missing(f"{name} has no length (a {type(namespace[name]).__name__}), not an array of samples")
        if not lengths[name]:
            return missing(f"{name} is empty after prep")
    for part in ("train", "test"):
        x, y = lengths[f"x_{part}"], lengths[f"y_{part}"]
        if x != y:
            return missing(f"x_{part} has {x} samples but y_{part} has {y}")
    return Verdict(measured={"train_samples": lengths["x_train"], "test_samples": lengths["x_test"]})


# ---- train -------------------------------------------------------------------------------------------------


def keras_model(namespace: Mapping[str, Any]) -> tuple[str, Any] | str:
    """(name, model): `model` when it is a Keras model, else the one Keras model in the namespace; else the line
    that says why there is none to judge."""
    import sys

    if "keras" not in sys.modules:  # nothing imported Keras: no cell can have built a model
        return "no Keras model after train"
    import keras

    value = namespace.get("model")
    if isinstance(value, keras.Model):
        return "model", value
    found = [(name, value) for name, value in namespace.items()
             if not name.startswith("_") and isinstance(value, keras.Model)]
    if len(found) == 1:
        return found[0]
    if not found:
        return "no Keras model after train"
    return f"several Keras models ({', '.join(name for name, _ in found)}) and none named model"


def trained_steps(model: Any) -> int:
    """The optimizer steps the model has taken: 0 for a model never fitted (or never compiled)."""
    optimizer = getattr(model, "optimizer", None)
    iterations = getattr(optimizer, "iterations", None)
    return 0 if iterations is None else int(iterations.numpy())


def float_accuracy(model: Any, x: Any, y: Any) -> float:
    """The Keras model's accuracy on (x, y), labels read as evaluate() reads them (indices, one-hot, 0/1)."""
    import numpy as np

    from ..errors import QuantizationError
    from ..model.evaluate import predict, read_labels

    outputs = np.asarray(model.predict(np.asarray(x, np.float32), batch_size=PREDICT_BATCH, verbose=0))
    outputs = outputs.reshape(len(outputs), -1)
    task, truth, _ = read_labels(y, *outputs.shape)
    if task != "classification" or truth is None:
        raise QuantizationError("the labels read as regression targets; the accuracy floor needs class labels")
    return float(np.mean(predict(task, outputs) == truth))


def check_train(namespace: Mapping[str, Any], cwd: Path, thresholds: Thresholds) -> Verdict:
    """A trained Keras model whose test accuracy reaches the floor."""
    found = keras_model(namespace)
    if isinstance(found, str):
        return missing(found)
    name, model = found
    if not trained_steps(model):
        return missing(f"the Keras model {name} is not trained (fit was never run)")
    for split in ("x_test", "y_test"):
        if split not in namespace:
            return missing(f"no {split} to measure the trained model on")
    accuracy = float_accuracy(model, namespace["x_test"], namespace["y_test"])
    measured = {"accuracy": accuracy, "model": name}
    if accuracy < thresholds.accuracy_floor:
        return Verdict("accuracy_floor", f"test accuracy {accuracy:.2f} is below the floor "
                                         f"{thresholds.accuracy_floor:.2f}", measured)
    return Verdict(measured=measured)


# ---- convert -----------------------------------------------------------------------------------------------


def int8_source(namespace: Mapping[str, Any], cwd: Path) -> tuple[str, bytes] | str:
    """(where, bytes) of the converted model: the file model.tflite when the cell wrote it, else the bytes in
    `tflite_model`; else the line that says there is none."""
    written = cwd / INT8_FILE
    if written.is_file():
        return INT8_FILE, written.read_bytes()
    value = namespace.get(INT8_NAME)
    if isinstance(value, (bytes, bytearray)):
        return INT8_NAME, bytes(value)
    return f"no {INT8_FILE} and no {INT8_NAME} bytes after convert"


def full_integer(content: bytes, where: str) -> str:
    """"" when the model takes and gives int8; else the line that says what it is instead (it may not be a
    TFLite model at all: QuantizationError, whose line is the reason)."""
    from ..errors import QuantizationError
    from ..model.compare import detect_quantization
    from ..model.tflite import read

    try:
        graph = read(content)
        mode = detect_quantization(content)
    except QuantizationError as error:
        return f"{where}: {error}"
    types = graph.inputs[0].dtype, graph.outputs[0].dtype
    if mode == "int8" and types == ("int8", "int8"):
        return ""
    return (f"{where} is not full-integer int8 (quantization {mode!r}, input {types[0]}, output {types[1]}): "
            "the board needs int8 input and output")


def int8_model(namespace: Mapping[str, Any], cwd: Path) -> tuple[str, bytes] | str:
    """The converted model when it is full-integer int8, else the line that says why not."""
    source = int8_source(namespace, cwd)
    if isinstance(source, str):
        return source
    problem = full_integer(source[1], source[0])
    return problem or source


def check_convert(namespace: Mapping[str, Any], cwd: Path, thresholds: Thresholds) -> Verdict:
    """A full-integer int8 model whose test accuracy is within the margin of the float model's."""
    from ..model.evaluate import evaluate

    converted = int8_model(namespace, cwd)
    if isinstance(converted, str):
        return missing(converted)
    where, content = converted
    for split in ("x_test", "y_test"):
        if split not in namespace:
            return missing(f"no {split} to measure the int8 model on")
    found = keras_model(namespace)
    if isinstance(found, str):
        return missing(f"{found}: nothing to compare the int8 model with")
    x_test, y_test = namespace["x_test"], namespace["y_test"]
    float_value = float_accuracy(found[1], x_test, y_test)
    int8_value = evaluate(content, x_test, y_test).accuracy
    if int8_value is None:
        return missing(f"{where} gives no accuracy on x_test (its output reads as regression)")
    measured = {"float_accuracy": float_value, "int8_accuracy": int8_value, "int8_bytes": len(content),
                "source": where}
    drop = float_value - int8_value
    if drop > thresholds.int8_margin:
        return Verdict("accuracy_floor", f"int8 accuracy {int8_value:.2f} is {drop:.2f} below float "
                                         f"{float_value:.2f}; the margin is {thresholds.int8_margin:.2f}", measured)
    return Verdict(measured=measured, int8_model=content)


# ---- deploy ------------------------------------------------------------------------------------------------


def firmware_project(namespace: Mapping[str, Any]) -> tuple[str, Any] | str:
    """(name, project): `project` when it is a project write_project wrote (TFLite Micro or C target), else the
    one in the namespace."""
    from ..firmware.c_project import CProject
    from ..firmware.project import Project

    kinds = (Project, CProject)
    value = namespace.get("project")
    if isinstance(value, kinds):
        return "project", value
    found = [(name, value) for name, value in namespace.items()
             if not name.startswith("_") and isinstance(value, kinds)]
    if len(found) == 1:
        return found[0]
    if not found:
        return "no firmware project after deploy"
    return f"several firmware projects ({', '.join(name for name, _ in found)}) and none named project"


def check_deploy(namespace: Mapping[str, Any], cwd: Path, thresholds: Thresholds, *,
                 int8: bytes | None = None) -> Verdict:
    """The project builds for the virtual board, and the board agrees with `int8` — the model the convert
    check validated (else the int8 model the namespace holds) — on the first test samples, within the tolerance
    of the project's target. Every QEMU board started here is stopped before it returns."""
    found = firmware_project(namespace)
    if isinstance(found, str):
        return missing(found)
    if int8 is None:
        converted = int8_model(namespace, cwd)
        if isinstance(converted, str):
            return missing(f"{converted}: nothing to check the board against")
        int8 = converted[1]
    if "x_test" not in namespace:
        return missing("no x_test to check the board with")
    from ..hardware.virtual import qemu

    try:
        return built_and_checked(found[1], int8, namespace["x_test"], thresholds)
    finally:
        for board in qemu.running():
            board.stop()


def built_and_checked(project: Any, int8: bytes, x_test: Any, thresholds: Thresholds) -> Verdict:
    from ..errors import TinyMLError
    from ..hardware.build import build as build_project
    from ..hardware.device_check import tolerance_for
    from ..hardware.flash import upload
    from ..hardware.serial_link import connect

    try:
        built = build_project(project.root, VIRTUAL_BOARD)
    except TinyMLError as error:
        return Verdict("build_error", str(error))
    measured: dict[str, Any] = {"flash_bytes": getattr(built, "flash_bytes", 0),
                                "ram_bytes": getattr(built, "ram_bytes", 0), "build_seconds": built.seconds}
    if not built.ok:
        first = str(built.errors[0]) if built.errors else built.headline()
        return Verdict("build_error", first, measured)
    try:
        uploaded = upload(built, VIRTUAL_BOARD)
        with connect(VIRTUAL_BOARD, uploaded.port) as link:
            result = link.check(int8, x_test, limit=thresholds.check_samples,
                                tolerance_steps=tolerance_for(getattr(project, "target", None)))
    except TinyMLError as error:  # the board runs another model, did not boot, or stopped answering
        return Verdict("device_disagreement", str(error), measured)
    measured.update(agreement=result.agreement, max_abs_diff=result.max_abs_diff, samples=result.n,
                    tolerance_steps=result.tolerance_steps)
    if not result.ok:
        return Verdict("device_disagreement", result.verdict().splitlines()[0], measured)
    return Verdict(measured=measured)
