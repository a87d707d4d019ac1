"""The judge inside the evaluated kernel: run right after a stage magic cell, it says how the stage went.

    from jupyter_tinyml.eval.probe import judge
    judge("train", accuracy_floor=0.8)

It reads the magics' record of the stage's last ask (stages/outcome.py) — which error ended it, what blocked the
cells, whether --run was refused or raised — and only when the code ran, the stage's check of what it left
(criteria.py). The result is one display output of MIME_TYPE holding StageResult.to_json() (kind "fatal" for an
error that would stop every later ask too); the controller reads it from the executed notebook, so nothing else
is printed. The int8 model the convert check validated is kept here for the deploy check of the same kernel.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import errors
from ..stages.outcome import FAILED, REFUSED, AskRecord
from . import criteria
from .records import FATAL, PROBE_MIME_TYPE, StageResult

MIME_TYPE = PROBE_MIME_TYPE

# Errors that end every later ask the same way, or spend what was not allowed: the evaluation stops.
FATAL_ERRORS: tuple[type[errors.TinyMLError], ...] = (
    errors.MissingKeyError,
    errors.RateLimitedError,
    errors.UnknownModelError,
    errors.UnreachableModelError,
    errors.SpendLimitError,
)
# Answers that held no code the stage could take (also after the request for the contract form).
NO_CODE_ERRORS: tuple[type[errors.TinyMLError], ...] = (errors.AnswerFormError, errors.EmptyAnswerError)
# The model call failed, or its answer stayed cut off.
MODEL_ERRORS: tuple[type[errors.TinyMLError], ...] = (errors.ModelError, errors.AnswerCutOffError)

CHECKS = {
    "prep": criteria.check_prep,
    "train": criteria.check_train,
    "convert": criteria.check_convert,
}

# The int8 model bytes the convert check accepted in this kernel, for the deploy check.
validated_int8: dict[str, bytes] = {}


def judge(stage: str, *, accuracy_floor: float = 0.8, int8_margin: float = 0.05, check_samples: int = 50,
          magic_error: str = "") -> None:
    """Judge the stage's last ask in this kernel and display the StageResult (returns None: nothing else shows).

    magic_error: the magic cell's own error line, said when the magic made no ask at all (a usage error).
    """
    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("TinyMLMagics") if shell is not None else None
    record = last_unjudged(magics.asks if magics is not None else [], stage)
    thresholds = criteria.Thresholds(accuracy_floor, int8_margin, check_samples)
    namespace = shell.user_ns if shell is not None else {}
    result = judged(stage, record, namespace, Path.cwd(), thresholds, magic_error=magic_error)
    display({MIME_TYPE: result.to_json()}, raw=True)


def last_unjudged(asks: list[AskRecord], stage: str) -> AskRecord | None:
    """The stage's latest ask that no judge has read yet."""
    return next((ask for ask in reversed(asks) if ask.stage == stage and not ask.judged), None)


def judged(stage: str, record: AskRecord | None, namespace: Any, cwd: Path, thresholds: criteria.Thresholds, *,
           magic_error: str = "") -> StageResult:
    """The StageResult of one ask: its own failure when it had one, else the stage's check of the namespace."""
    result = StageResult(stage)
    if record is None:
        result.kind = "runtime_error"
        result.first_error = magic_error or f"the {stage} magic made no ask"
        return result
    record.judged = True
    result.rounds, result.cost_usd, result.model_seconds = record.rounds, record.cost_usd, record.model_seconds
    result.prompt_tokens, result.completion_tokens = record.prompt_tokens, record.completion_tokens
    failure = ask_failure(record)
    verdict = criteria.Verdict(*failure) if failure else checked(stage, namespace, cwd, thresholds)
    result.kind, result.first_error, result.measured = verdict.kind, verdict.first_error, verdict.measured
    if result.kind == FATAL:  # the controller words a spent budget for its own command line
        result.measured = {"error_class": record.error_class}
    return result


def ask_failure(record: AskRecord) -> tuple[str, str] | None:
    """(kind, first line) when the ask itself failed: an error, blocked cells, --run refused or raising."""
    if record.error_class:
        return error_kind(record.error_class), record.error_line
    if record.blocked:
        return "check_failure", record.blocked[0]
    if record.run == REFUSED:
        return "check_failure", record.run_line
    if record.run == FAILED:
        return "runtime_error", record.run_line
    return None


def error_kind(class_name: str) -> str:
    """The failure kind of the TinyMLError class (named in errors.py) that ended an ask."""
    error_class = getattr(errors, class_name, None)
    if not (isinstance(error_class, type) and issubclass(error_class, errors.TinyMLError)):
        return "runtime_error"
    if issubclass(error_class, FATAL_ERRORS):
        return FATAL
    if issubclass(error_class, NO_CODE_ERRORS):
        return "no_code"
    if issubclass(error_class, MODEL_ERRORS):
        return "model_error"
    return "runtime_error"


def checked(stage: str, namespace: Any, cwd: Path, thresholds: criteria.Thresholds) -> criteria.Verdict:
    """The stage's check; anything it raises on what the code left (a model that cannot run on x_test) means
    the result is not what the next stage needs."""
    from ..stages.outcome import exception_line

    try:
        if stage == "deploy":
            return criteria.check_deploy(namespace, cwd, thresholds, int8=validated_int8.get("convert"))
        verdict = CHECKS[stage](namespace, cwd, thresholds)
    except Exception as error:  # the check runs on whatever the generated code left; its failure is a finding
        return criteria.missing(f"the {stage} check failed on what the code left: {exception_line(error)}")
    if verdict.int8_model is not None:
        validated_int8["convert"] = verdict.int8_model
    return verdict
