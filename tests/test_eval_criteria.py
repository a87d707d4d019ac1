"""The evaluation's side in the kernel: the four stage checks on real objects, the probe's classification of
what the magics recorded for an ask (in a real IPython shell), and `%tinyml eval`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jupyter_tinyml import errors
from jupyter_tinyml.eval import criteria, probe
from jupyter_tinyml.eval.records import FATAL, FAILURE_KINDS
from jupyter_tinyml.stages.outcome import FAILED, RAN, REFUSED, AskRecord
from prerequisites import require_arm_tools

THRESHOLDS = criteria.Thresholds()


def splits(trained, **more):
    """The namespace a prep stage leaves, with the trained digits CNN as `model`."""
    return {"model": trained.model, "x_train": trained.x_train, "x_test": trained.x_test,
            "y_train": trained.y_train, "y_test": trained.y_test, **more}


@pytest.fixture(scope="module")
def float_tflite(digits) -> bytes:
    from jupyter_tinyml.model.convert import convert

    return convert(digits.model, quantization="none")


@pytest.fixture(scope="module")
def off_scale_int8(digits) -> bytes:
    """An int8 model calibrated on data 100 times too small: its input scale clips every real image."""
    from jupyter_tinyml.model.convert import convert

    return convert(digits.model, digits.x_train * 0.01)


# ---- prep ----------------------------------------------------------------------------------------------------


def test_prep_passes_with_the_four_splits(digits):
    verdict = criteria.check_prep(splits(digits), Path.cwd(), THRESHOLDS)
    assert verdict.ok and verdict.measured == {"train_samples": len(digits.x_train), "test_samples": 360}


def test_prep_names_the_first_missing_split(digits):
    namespace = splits(digits)
    del namespace["x_test"]
    verdict = criteria.check_prep(namespace, Path.cwd(), THRESHOLDS)
    assert (verdict.kind, verdict.first_error) == ("missing_result", "no x_test after prep")


@pytest.mark.parametrize("change, line", [
    ({"y_test": np.arange(359)}, "x_test has 360 samples but y_test has 359"),
    ({"x_train": np.empty((0, 8, 8, 1))}, "x_train is empty after prep"),
    ({"y_train": 3}, "y_train has no length (a int), not an array of samples"),
])
def test_prep_refuses_empty_or_unmatched_splits(digits, change, line):
    verdict = criteria.check_prep({**splits(digits), **change}, Path.cwd(), THRESHOLDS)
    assert (verdict.kind, verdict.first_error) == ("missing_result", line)


# ---- train ---------------------------------------------------------------------------------------------------


def test_train_measures_the_trained_model_on_the_test_split(digits):
    verdict = criteria.check_train(splits(digits), Path.cwd(), THRESHOLDS)
    assert verdict.ok, verdict
    assert verdict.measured["accuracy"] == pytest.approx(
        float(np.mean(digits.model.predict(digits.x_test, verbose=0).argmax(1) == digits.y_test)))
    assert verdict.measured["accuracy"] > 0.8


def test_train_reads_one_hot_labels_and_a_model_under_another_name(digits):
    namespace = splits(digits, y_test=np.eye(10)[digits.y_test])
    namespace["cnn"] = namespace.pop("model")
    verdict = criteria.check_train(namespace, Path.cwd(), THRESHOLDS)
    expected = criteria.check_train(splits(digits), Path.cwd(), THRESHOLDS).measured["accuracy"]
    assert verdict.ok and verdict.measured == {"accuracy": expected, "model": "cnn"}


def test_train_below_the_floor_says_both_figures(digits):
    verdict = criteria.check_train(splits(digits), Path.cwd(), criteria.Thresholds(accuracy_floor=0.999))
    accuracy = verdict.measured["accuracy"]
    assert verdict.kind == "accuracy_floor"
    assert verdict.first_error == f"test accuracy {accuracy:.2f} is below the floor 1.00"


def test_an_untrained_model_is_no_result(digits):
    import keras

    untrained = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    untrained.compile("adam", "sparse_categorical_crossentropy")
    verdict = criteria.check_train(splits(digits, model=untrained), Path.cwd(), THRESHOLDS)
    assert (verdict.kind, verdict.first_error) == ("missing_result", "the Keras model model is not trained (fit "
                                                                     "was never run)")
    namespace = splits(digits)
    del namespace["model"]
    assert criteria.check_train(namespace, Path.cwd(), THRESHOLDS).first_error == "no Keras model after train"


# ---- convert -------------------------------------------------------------------------------------------------


def test_convert_takes_model_tflite_from_the_working_folder(digits, digits_int8, tmp_path):
    (tmp_path / "model.tflite").write_bytes(digits_int8)
    verdict = criteria.check_convert(splits(digits), tmp_path, THRESHOLDS)
    assert verdict.ok, verdict
    assert verdict.int8_model == digits_int8 and verdict.measured["source"] == "model.tflite"
    assert verdict.measured["float_accuracy"] - verdict.measured["int8_accuracy"] <= 0.05


def test_convert_takes_tflite_model_bytes_when_no_file_was_written(digits, digits_int8, tmp_path):
    verdict = criteria.check_convert(splits(digits, tflite_model=digits_int8), tmp_path, THRESHOLDS)
    assert verdict.ok and verdict.measured["source"] == "tflite_model"


def test_a_float_model_or_none_is_no_int8_result(digits, float_tflite, tmp_path):
    verdict = criteria.check_convert(splits(digits, tflite_model=float_tflite), tmp_path, THRESHOLDS)
    assert verdict.kind == "missing_result" and verdict.int8_model is None
    assert verdict.first_error == ("tflite_model is not full-integer int8 (quantization 'none', input float32, "
                                   "output float32): the board needs int8 input and output")
    (tmp_path / "model.tflite").write_bytes(b"not a model at all")
    assert criteria.check_convert(splits(digits), tmp_path, THRESHOLDS).first_error.startswith(
        "model.tflite: the given 18 bytes is not a TFLite flatbuffer")
    assert criteria.check_convert(splits(digits), tmp_path / "empty", THRESHOLDS).first_error == (
        "no model.tflite and no tflite_model bytes after convert")


def test_int8_too_far_below_float_fails_the_margin(digits, off_scale_int8, tmp_path):
    verdict = criteria.check_convert(splits(digits, tflite_model=off_scale_int8), tmp_path, THRESHOLDS)
    measured = verdict.measured
    drop = measured["float_accuracy"] - measured["int8_accuracy"]
    assert verdict.kind == "accuracy_floor" and drop > 0.05 and verdict.int8_model is None
    assert verdict.first_error == (f"int8 accuracy {measured['int8_accuracy']:.2f} is {drop:.2f} below float "
                                   f"{measured['float_accuracy']:.2f}; the margin is 0.05")


# ---- deploy on the virtual board -----------------------------------------------------------------------------


@pytest.fixture
def c_project(digits_int8, tmp_path):
    """The digits CNN written as a C-target project for the virtual board (seconds to build)."""
    require_arm_tools()
    from jupyter_tinyml import write_project

    return write_project(digits_int8, board="virtual-cortex-m4", out_dir=tmp_path / "firmware", target="c")


def test_deploy_builds_flashes_and_agrees_with_the_validated_model(digits, digits_int8, c_project, no_stray_qemu):
    verdict = criteria.check_deploy(splits(digits, project=c_project), Path.cwd(), THRESHOLDS, int8=digits_int8)
    assert verdict.ok, verdict
    assert verdict.measured["agreement"] == 1.0 and verdict.measured["samples"] == THRESHOLDS.check_samples
    assert verdict.measured["flash_bytes"] > c_project.flash_bytes and verdict.measured["ram_bytes"] > 0


def test_a_project_of_another_model_disagrees(digits, off_scale_int8, c_project, no_stray_qemu):
    verdict = criteria.check_deploy(splits(digits, project=c_project), Path.cwd(), THRESHOLDS, int8=off_scale_int8)
    assert verdict.kind == "device_disagreement" and "runs another model" in verdict.first_error


def test_a_project_that_does_not_compile_is_a_build_error(digits, digits_int8, c_project, no_stray_qemu):
    source = c_project.root / "model_c.c"
    source.write_text(source.read_text() + "\nint broken(void) { return undeclared_value; }\n")
    verdict = criteria.check_deploy(splits(digits, project=c_project), Path.cwd(), THRESHOLDS, int8=digits_int8)
    assert verdict.kind == "build_error"
    assert "error: 'undeclared_value' undeclared" in verdict.first_error and "model_c.c" in verdict.first_error


# ---- the probe: classification of the ask ---------------------------------------------------------------------


@pytest.mark.parametrize("error_class, kind", [
    ("NoPythonBlockError", "no_code"),
    ("NoGlueError", "no_code"),
    ("EmptyAnswerError", "no_code"),
    ("MissingKeyError", FATAL),
    ("RateLimitedError", FATAL),
    ("UnknownModelError", FATAL),
    ("UnreachableModelError", FATAL),
    ("SpendLimitError", FATAL),
    ("ModelTimeoutError", "model_error"),
    ("ServerAnsweredError", "model_error"),
    ("StreamCutError", "model_error"),
    ("AnswerCutOffError", "model_error"),
    ("RecipeError", "runtime_error"),
    ("QuantizationError", "runtime_error"),
])
def test_an_error_that_ended_the_ask_decides_the_kind(error_class, kind):
    assert isinstance(getattr(errors, error_class), type)
    record = AskRecord("prep", "openai/m", rounds=2, prompt_tokens=900, completion_tokens=40, cost_usd=0.002,
                       model_seconds=3.5, error_class=error_class, error_line="the one line")
    result = probe.judged("prep", record, {}, Path.cwd(), THRESHOLDS)
    assert (result.kind, result.first_error) == (kind, "the one line")
    assert (result.rounds, result.tokens, result.cost_usd, result.model_seconds) == (2, 940, 0.002, 3.5)
    assert record.judged and result.stage_seconds == 0.0


@pytest.mark.parametrize("record, kind, line", [
    (AskRecord("train", "m", code_cells=2, blocked=["cell 2: name 'x_tarin' is not defined"], run=RAN),
     "check_failure", "cell 2: name 'x_tarin' is not defined"),
    (AskRecord("train", "m", code_cells=1, run=REFUSED, run_line="[tinyml] --run refused: cell 1, subprocess"),
     "check_failure", "[tinyml] --run refused: cell 1, subprocess"),
    (AskRecord("train", "m", code_cells=1, run=FAILED, run_line="NameError: name 'x_tarin' is not defined"),
     "runtime_error", "NameError: name 'x_tarin' is not defined"),
])
def test_blocked_refused_and_failed_code_come_before_the_check(digits, record, kind, line):
    result = probe.judged("train", record, splits(digits), Path.cwd(), THRESHOLDS)
    assert (result.kind, result.first_error, result.measured) == (kind, line, {})


def test_code_that_ran_is_judged_by_the_stage_check(digits, digits_int8, tmp_path):
    ran = AskRecord("convert", "offline recipe", offline=True, code_cells=2, run=RAN)
    result = probe.judged("convert", ran, splits(digits, tflite_model=digits_int8), tmp_path, THRESHOLDS)
    assert result.ok and result.measured["int8_accuracy"] > 0.8 and result.kind not in FAILURE_KINDS
    assert probe.validated_int8["convert"] == digits_int8  # kept for the deploy check of this kernel
    left_nothing = AskRecord("train", "m", code_cells=1, run=RAN)
    result = probe.judged("train", left_nothing, {"x": 1}, tmp_path, THRESHOLDS)
    assert (result.kind, result.first_error) == ("missing_result", "no Keras model after train")


def test_a_check_that_cannot_run_on_what_was_left_is_a_missing_result(digits, tmp_path):
    namespace = splits(digits, x_test=np.zeros((360, 5)))  # the model takes 8x8x1 images
    result = probe.judged("train", AskRecord("train", "m", code_cells=1, run=RAN), namespace, tmp_path, THRESHOLDS)
    assert result.kind == "missing_result"
    assert result.first_error.startswith("the train check failed on what the code left: ValueError: ")


def test_a_keras_layer_error_keeps_the_line_that_says_what_broke():
    """Keras wraps an error inside a layer's call in "Exception encountered when calling Sequential.call()." and
    prints names in bold: the first error line is the cause, without terminal codes."""
    import keras

    from jupyter_tinyml.stages.outcome import exception_line

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError) as raised:
        model(np.zeros((1, 4), dtype="float32"))
    assert str(raised.value).lstrip().startswith("Exception encountered when calling")
    line = exception_line(raised.value)
    assert line.startswith("ValueError: Input 0 ") and "is incompatible with the layer" in line
    assert "\x1b[" not in line


def test_no_record_is_a_runtime_error_with_the_magics_line():
    result = probe.judged("deploy", None, {}, Path.cwd(), THRESHOLDS, magic_error="UsageError: tinyml: bad option")
    assert (result.kind, result.first_error) == ("runtime_error", "UsageError: tinyml: bad option")


# ---- the probe in a real shell, after real asks ----------------------------------------------------------------

PREP_ANSWER = """Split the digits.
```python
import numpy as np
x = np.arange(100, dtype=np.float32).reshape(50, 2)
y = np.arange(50) % 2
x_train, x_test, y_train, y_test = x[:40], x[40:], y[:40], y[40:]
```
"""


def shown(shell, stage: str, **options) -> dict:
    """What judge() displays, read as the controller reads it (the one MIME bundle)."""
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        assert probe.judge(stage, **options) is None
    (output,) = captured.outputs
    return output.data[probe.MIME_TYPE]


def use_mock(shell, answer: str) -> None:
    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model, settings.mock_response = "openai/gpt-4o-mini", answer


def test_the_magics_record_every_ask_and_judge_reads_each_once(shell):
    magics = shell.magics_manager.registry["TinyMLMagics"]
    use_mock(shell, PREP_ANSWER)
    shell.run_cell("%%tinyml_prep --run\nsplit 80/20\n")
    (record,) = magics.asks
    assert (record.stage, record.model, record.run, record.code_cells, record.rounds) == (
        "prep", "openai/gpt-4o-mini", RAN, 1, 1)
    assert record.prompt_tokens > 100 and record.completion_tokens > 10 and record.model_seconds > 0
    result = shown(shell, "prep")
    assert result["kind"] == "ok" and result["measured"] == {"train_samples": 40, "test_samples": 10}
    assert result["prompt_tokens"] == record.prompt_tokens and result["rounds"] == 1 and record.judged
    again = shown(shell, "prep", magic_error="UsageError: tinyml: the cell is empty")
    assert (again["kind"], again["first_error"]) == ("runtime_error", "UsageError: tinyml: the cell is empty")


def test_a_failing_run_and_an_answer_without_code_are_recorded(shell):
    magics = shell.magics_manager.registry["TinyMLMagics"]
    use_mock(shell, "```python\nx_train = [1]\n```\n```python\nratio = 1 / 0\n```")
    assert not shell.run_cell("%%tinyml_prep --run\nsplit\n").success
    failed = magics.asks[-1]
    assert (failed.run, failed.run_line, failed.code_cells) == (FAILED, "ZeroDivisionError: division by zero", 2)
    assert shown(shell, "prep")["kind"] == "runtime_error"

    use_mock(shell, "I cannot help with that.")
    shell.run_cell("%%tinyml_train --run\nsmall CNN\n")
    no_code = magics.asks[-1]
    assert (no_code.error_class, no_code.run, no_code.rounds) == ("NoPythonBlockError", "not asked", 2)
    assert no_code.completion_tokens > 0  # the answers it cost still count
    result = shown(shell, "train")
    assert (result["kind"], result["first_error"]) == ("no_code", no_code.error_line)


def test_risky_code_under_run_is_recorded_as_refused(shell):
    magics = shell.magics_manager.registry["TinyMLMagics"]
    use_mock(shell, "```python\nimport subprocess\nsubprocess.run(['ls'])\n```")
    shell.run_cell("%%tinyml_prep --run\nlist the files\n")
    refused = magics.asks[-1]
    assert refused.run == REFUSED and refused.run_line.startswith("[tinyml] --run refused: cell 1")
    assert shown(shell, "prep")["kind"] == "check_failure"


def test_an_offline_ask_is_recorded_and_judged_the_same_way(shell):
    magics = shell.magics_manager.registry["TinyMLMagics"]
    shell.run_cell("%%tinyml_train --run\nsmall CNN\n")  # offline, and no splits: the recipe has nothing to train
    offline = magics.asks[-1]
    assert offline.offline and offline.model == "offline recipe" and offline.error_class == "RecipeError"
    assert (offline.prompt_tokens, offline.cost_usd, offline.model_seconds) == (0, None, 0.0)
    assert shown(shell, "train")["kind"] == "runtime_error"


def test_tinyml_eval_runs_the_evaluations_command_line_in_the_kernel(shell, capsys):
    result = shell.run_cell("%tinyml eval --help")
    assert result.success and "--max-tokens-total" in capsys.readouterr().out
    refused = shell.run_cell("%tinyml eval --runs 3")  # no --model: the evaluation says so, and nothing runs
    err = capsys.readouterr().err
    assert "--model" in err and "Traceback" not in err and refused.error_in_exec is None
