"""The evaluation's figures per stage, computed from the run records: what the table, the JSON and the report show.

A stage's success rate comes with a 95% Wilson score interval because the runs are few (tens, not thousands):
the plain normal interval would claim 100% +- 0 after 5 successes in 5. Beside our figures stand the only
published ones for an LLM doing TinyML lifecycle stages; they were measured on another pipeline, so they are
context for a reader, never a pass mark.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any, Sequence

from ..stages.outcome import first_line
from .records import FAILURE_KINDS, STAGES, RunRecord, StageResult


@dataclass(frozen=True)
class Published:
    """One stage's published figures: `their_stage` is the paper's name for the nearest stage of its pipeline."""

    their_stage: str
    success_rate: float
    seconds: float
    tokens: int
    runs: int = 30


PUBLISHED_SOURCE = ("Wu, Tarkoma & Morabito, \"Consolidating TinyML Lifecycle with Large Language Models: Reality, "
                    "Illusion, or Opportunity?\", arXiv:2501.12420 (GPT-4o, 30 runs per stage)")
# Said wherever the figures are shown: a reader comparing columns should know the two pipelines differ.
PUBLISHED_NOTE = ("Published figures are another pipeline's, beside ours for context: its stages map onto ours only "
                  "approximately (its data processing ~ our prep, its model conversion ~ our convert, its sketch "
                  "compile ~ our deploy, which asks more: a build AND on-device agreement with the int8 model). "
                  "It published no training figure.")
PUBLISHED: dict[str, Published] = {
    "prep": Published("data processing", 0.90, 47.8, 10_800),
    "convert": Published("model conversion", 1.00, 6.1, 690),
    "deploy": Published("sketch compile", 0.37, 60.5, 13_300),
}


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of `successes` in `n` (z=1.96: 95%); (0, 1) when there were no trials.

    Unlike the normal approximation it stays inside [0, 1] and keeps a width at 0/n and n/n.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"wilson() needs 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    share = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (share + z2 / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class StageRow:
    """One stage over every run that reached it (`n`; runs end early when a stage and its fallback both fail).

    Means are over those `n` runs and 0 when `n` is 0 (`reached` is then False: show "not reached", not 0%).
    `cost_mean` is None unless litellm priced every one of them. `failures` counts each failure kind in
    FAILURE_KINDS order (kinds that occurred only); `first_errors` holds each kind's most common first error
    line. `fallbacks` counts the runs whose stage was replaced by the offline recipe so the next stage could run.
    """

    stage: str
    n: int
    successes: int
    rate: float
    ci: tuple[float, float]
    repairs_mean: float
    repairs_max: int
    prompt_tokens_mean: float
    completion_tokens_mean: float
    model_seconds_mean: float
    stage_seconds_mean: float
    cost_mean: float | None
    failures: dict[str, int] = field(default_factory=dict)
    first_errors: dict[str, str] = field(default_factory=dict)
    fallbacks: int = 0
    published: Published | None = None

    @property
    def reached(self) -> bool:
        return self.n > 0

    @property
    def tokens_mean(self) -> float:
        return self.prompt_tokens_mean + self.completion_tokens_mean

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["ci"] = list(self.ci)
        row["reached"] = self.reached
        return row


def stage_rows(records: Sequence[RunRecord]) -> list[StageRow]:
    """One row per stage, in STAGES order, over the runs in `records` that reached it (a stage no run reached
    gets a row too, with n=0)."""
    return [_row(stage, [result for record in records if (result := record.stage(stage)) is not None])
            for stage in STAGES]


def _row(stage: str, results: list[StageResult]) -> StageRow:
    n = len(results)
    successes = sum(result.ok for result in results)
    kinds = Counter(result.kind for result in results if not result.ok)
    # Known kinds in their documented order, then any kind this version does not know (a newer runs.jsonl).
    order = [kind for kind in FAILURE_KINDS if kind in kinds] + [kind for kind in kinds if kind not in FAILURE_KINDS]
    first_errors = {}
    for kind in order:
        lines = Counter(line for result in results if result.kind == kind and (line := first_line(result.first_error)))
        if lines:
            first_errors[kind] = lines.most_common(1)[0][0]  # ties: the line seen first
    costs = [result.cost_usd for result in results if result.cost_usd is not None]
    return StageRow(
        stage=stage,
        n=n,
        successes=successes,
        rate=successes / n if n else 0.0,
        ci=wilson(successes, n),
        repairs_mean=_mean([result.repairs for result in results]),
        repairs_max=max((result.repairs for result in results), default=0),
        prompt_tokens_mean=_mean([result.prompt_tokens for result in results]),
        completion_tokens_mean=_mean([result.completion_tokens for result in results]),
        model_seconds_mean=_mean([result.model_seconds for result in results]),
        stage_seconds_mean=_mean([result.stage_seconds for result in results]),
        cost_mean=fmean(costs) if n and len(costs) == n else None,  # a partial mean would look cheaper than it was
        failures={kind: kinds[kind] for kind in order},
        first_errors=first_errors,
        fallbacks=sum(result.fallback for result in results),
        published=PUBLISHED.get(stage),
    )


def _mean(values: Sequence[float]) -> float:
    return fmean(values) if values else 0.0

