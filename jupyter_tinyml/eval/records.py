"""What one evaluation run found, stage by stage: the records every part of `jupyter_tinyml.eval` passes around.

A run is one lifecycle notebook executed once in a fresh headless kernel against the model under evaluation.
Each stage it reached gives a StageResult: whether the generated code ran and left what the next stage needs,
and if not, which kind of failure it was and the first error line. The records are plain data with a JSON form
(one RunRecord per line of runs.jsonl), so a stopped evaluation resumes from the file and the table, the JSON
and the HTML report are all made from the same records.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STAGES = ("prep", "train", "convert", "deploy")

OK = "ok"
# The one output the in-kernel judge (probe.py) displays and the runner reads back: a StageResult's JSON form.
PROBE_MIME_TYPE = "application/vnd.jupyter-tinyml.eval+json"
# The failure kinds, in the order a stage can meet them, each with the words the table and report use.
FAILURE_KINDS: dict[str, str] = {
    "no_code": "no code",  # the model's answer held no code the stage could take, even after asking once more
    "model_error": "model error",  # the model call failed (timeout, server error, an answer cut off twice)
    "check_failure": "check failure after repairs",  # blocking check findings left after the last repair round
    "runtime_error": "runtime error",  # the inserted code raised when run
    "missing_result": "missing result",  # it ran, but did not leave what the next stage needs
    "accuracy_floor": "accuracy floor",  # train below the floor, or int8 further below float than the margin
    "build_error": "build error",  # the project did not build for the virtual board
    "device_disagreement": "on-device disagreement",  # the board did not agree 1.0 with the int8 model
}
# What stops a whole evaluation at the first occurrence (one line, no run recorded for it): every later ask
# would fail the same way, or spend what the person did not allow.
FATAL = "fatal"
# The fatal error that means the token budget (passed to the kernel as its spend limit) would be passed.
BUDGET_ERROR = "SpendLimitError"


@dataclass
class StageResult:
    """One stage of one run.

    `rounds` counts the model's answers that went into the cells (1: no repair). `model_seconds` is the model's
    own time (the completions' latency); `stage_seconds` the stage's wall time (ask, execution and the check of
    what it left). `fallback` is True when the stage failed and the offline recipe then ran in its place, so the
    next stage starts from working code and is judged on its own. `measured` holds the figures the check found
    (accuracies, agreement, flash bytes) for the report.
    """

    stage: str
    kind: str = OK
    first_error: str = ""
    rounds: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    model_seconds: float = 0.0
    stage_seconds: float = 0.0
    fallback: bool = False
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind == OK

    @property
    def repairs(self) -> int:
        """Repair rounds: answers after the first."""
        return max(self.rounds - 1, 0)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StageResult":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass
class RunRecord:
    """One notebook executed once: the stages it reached, in order, and what the run cost in time.

    `notebook` is the notebook's file stem (01_digits_lifecycle); `run` counts from 1. `kernel_seconds` is the
    fresh kernel's start; `seconds` the whole run's wall time.
    """

    notebook: str
    run: int
    model: str
    stages: list[StageResult] = field(default_factory=list)
    kernel_seconds: float = 0.0
    seconds: float = 0.0
    started: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.notebook, self.run)

    @property
    def tokens(self) -> int:
        return sum(stage.tokens for stage in self.stages)

    @property
    def model_seconds(self) -> float:
        return sum(stage.model_seconds for stage in self.stages)

    def stage(self, name: str) -> StageResult | None:
        return next((stage for stage in self.stages if stage.stage == name), None)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["stages"] = [stage.to_json() for stage in self.stages]
        return record

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunRecord":
        fields = {name: data[name] for name in cls.__dataclass_fields__ if name in data and name != "stages"}
        return cls(stages=[StageResult.from_json(stage) for stage in data.get("stages", [])], **fields)
