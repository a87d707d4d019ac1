"""The lines an evaluation prints while it runs: which run and stage it is at, how each stage went, and the
success rate of each stage so far (runs recorded before a resume included).

Plain prints, flushed: a terminal, a log file and a notebook cell (`%tinyml eval`) all show them as they come.
A stage's line is written in two parts, its name when it starts and its outcome when judged, so a long stage
shows where the evaluation is.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from .records import FAILURE_KINDS, FATAL, STAGES, RunRecord, StageResult

FIRST_ERROR_SHOWN = 120  # characters of a stage's first error line shown in its progress line


class Progress:
    """Counts each stage's successes and attempts over the finished runs and the one under way."""

    def __init__(self, total: int, records: Iterable[RunRecord] = (), stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream
        self.tally: dict[str, list[int]] = {stage: [0, 0] for stage in STAGES}
        for record in records:
            for result in record.stages:
                self.count(result)

    def say(self, text: str, *, end: str = "\n") -> None:
        print(text, end=end, file=self.stream or sys.stdout, flush=True)

    def count(self, result: StageResult) -> None:
        if result.stage in self.tally and result.kind != FATAL:
            self.tally[result.stage][0] += result.ok
            self.tally[result.stage][1] += 1

    def success_so_far(self) -> str:
        return ", ".join(f"{stage} {ok}/{tried}" for stage, (ok, tried) in self.tally.items() if tried)

    def resumed(self, done: int) -> None:
        self.say(f"resuming: {done} of {self.total} runs already done")

    def run_started(self, position: int, notebook: str, run: int) -> None:
        self.say(f"[run {position}/{self.total}] {notebook} (run {run}): starting a fresh kernel ...")

    def stage_started(self, position: int, notebook: str, stage: str) -> None:
        self.say(f"[run {position}/{self.total}] {notebook} · {stage} ... ", end="")

    def stage_finished(self, result: StageResult, fallback: StageResult | None = None) -> None:
        """The outcome after the stage's `...`; `fallback` is the offline recipe's judgement when it ran."""
        self.count(result)
        figures = describe_cost(result)
        if result.ok:
            outcome = f"ok ({figures})"
        else:
            outcome = f"{words_for(result.kind)}: {shorten(result.first_error)} ({figures})"
        if fallback is not None:
            failed_too = f"{words_for(fallback.kind)}: {shorten(fallback.first_error)}"
            outcome += ("; the offline recipe ran in its place" if fallback.ok else
                        f"; the offline recipe failed too ({failed_too}), the run ends here")
        self.say(f"{outcome} · success so far: {self.success_so_far()}")

    def run_finished(self, position: int, record: RunRecord) -> None:
        reached = ", ".join(f"{stage.stage} {'ok' if stage.ok else words_for(stage.kind)}" for stage in record.stages)
        self.say(f"[run {position}/{self.total}] {record.notebook} (run {record.run}) recorded in "
                 f"{record.seconds:.0f} s (kernel start {record.kernel_seconds:.1f} s): {reached}")


def words_for(kind: str) -> str:
    return FAILURE_KINDS.get(kind, kind)


def shorten(line: str) -> str:
    line = " ".join(line.split()) or "no error line"
    return line if len(line) <= FIRST_ERROR_SHOWN else line[: FIRST_ERROR_SHOWN - 3] + "..."


def describe_cost(result: StageResult) -> str:
    """"12.3 s, 1 round, 2,345 tokens"; the offline recipe asks nothing, so only its time."""
    parts = [f"{result.stage_seconds:.1f} s"]
    if result.rounds:
        parts.append(f"{result.rounds} round{'s' if result.rounds != 1 else ''}")
        parts.append(f"{result.tokens:,} tokens")
    return ", ".join(parts)
