"""What one stage ask in the magics came to, as plain data: AskRecord.

The magics keep one record per ask (`TinyMLMagics.asks`), made here from the Generation or the error that ended
the ask, and `--run` fills in how the execution went. An evaluation reads them inside the kernel (eval/probe.py)
to tell a model that gave no code from code that failed to run or left the wrong result, and to count the tokens,
rounds and model time each stage took — the same figures the usage lines print.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from ..config import TinyML
    from ..errors import TinyMLError
    from .base import Generation
    from .llm import Completion

# How `--run` went: not asked for, refused by the risk checks, stopped by an exception, or every cell ran.
NOT_ASKED, REFUSED, FAILED, RAN = "not asked", "refused", "failed", "ran"


@dataclass
class AskRecord:
    """One ask of a stage in the magics.

    Token counts, cost and model_seconds sum the completions the ask took (repairs and continuations included;
    tokens 0 when the provider reported none, cost None when any call's cost is unknown). `blocked` holds the
    blocking check findings the inserted cells still had after the last repair round. `error_class` and
    `error_line` name the TinyMLError that ended the ask (nothing was inserted then). `run` says how `--run` went
    (NOT_ASKED, REFUSED, FAILED or RAN), `run_line` the refusal or the first line "ExcType: message" of the exception. `judged` is set
    when an evaluation has read the record.
    """

    stage: str
    model: str
    offline: bool = False
    rounds: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    model_seconds: float = 0.0
    code_cells: int = 0
    blocked: list[str] = field(default_factory=list)
    error_class: str = ""
    error_line: str = ""
    run: str = NOT_ASKED
    run_line: str = ""
    judged: bool = False

    def ran(self) -> None:
        self.run, self.run_line = RAN, ""

    def refused(self, refusal: str) -> None:
        self.run, self.run_line = REFUSED, refusal

    def failed(self, error: BaseException | None) -> None:
        self.run, self.run_line = FAILED, exception_line(error)


def usage_of(record: AskRecord, completions: Iterable[Completion]) -> AskRecord:
    """The record with the completions' tokens, cost and latency summed into it."""
    calls = list(completions)
    record.prompt_tokens = sum(call.prompt_tokens or 0 for call in calls)
    record.completion_tokens = sum(call.completion_tokens or 0 for call in calls)
    costs = [call.cost_usd for call in calls if call.cost_usd is not None]
    record.cost_usd = sum(costs) if calls and len(costs) == len(calls) else None  # a partial sum would mislead
    record.model_seconds = sum((call.latency_s for call in calls), 0.0)
    return record


def asked(stage: str, generation: Generation) -> AskRecord:
    """The record of an ask that gave cells (they were inserted or shown)."""
    code = [cell for cell in generation.cells if cell.cell_type == "code"]
    record = AskRecord(
        stage=stage,
        model=generation.model,
        offline=generation.offline,
        rounds=generation.rounds,
        code_cells=len(code),
        blocked=[finding for cell in code for finding in cell.blocked_by],
    )
    return usage_of(record, generation.completions)


def failed_ask(stage: str, settings: TinyML, error: TinyMLError) -> AskRecord:
    """The record of an ask a TinyMLError ended, under the ask's `settings`: the answers it cost (base.spent)
    still count."""
    from .base import OFFLINE_LABEL, spent

    completions = spent(error)
    record = AskRecord(
        stage=stage,
        model=OFFLINE_LABEL if settings.offline else settings.model,
        offline=settings.offline,
        rounds=error.rounds,
        error_class=type(error).__name__,
        error_line=first_line(str(error)),
    )
    return usage_of(record, completions)


def first_line(text: str) -> str:
    """The first non-blank line of a text, stripped: the one line an error keeps in a record or a table."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# Keras wraps an error raised inside a layer's call: its first line only names the call ("Exception encountered when
# calling Sequential.call()."), the line after it says what went wrong.
KERAS_WRAPPER = "Exception encountered when calling "
ANSI_STYLE = re.compile(r"\x1b\[[0-9;]*m")  # Keras prints layer names in bold on a terminal, in its messages too


def exception_line(error: BaseException | None) -> str:
    """'ExcType: first line of the message' (the type alone when the message is empty), "" for no exception."""
    if error is None:
        return ""
    lines = [line.strip() for line in ANSI_STYLE.sub("", str(error)).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith(KERAS_WRAPPER):
        lines = lines[1:]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
