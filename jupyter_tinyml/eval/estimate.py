"""The tokens an evaluation will cost, said before it starts, and what a token budget leaves for each run.

An ask sends the system rules and the stage's prompt file, the notebook context (at most the context budget)
and the request, and gets an answer of at most max_tokens. A typical ask is answered in one round; at worst
every repair round is used, and each resends the conversation so far (earlier answers and the repair request)
with the new answer on top. The figures are upper-bound guesses from the prompt files' own length (4 characters
a token, as the context capture counts); the kernel's spend limit is what enforces a budget.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .plan import NotebookPlan, StageStep
from .settings import EvalSettings


@dataclass(frozen=True)
class AskEstimate:
    """One stage ask: the first round's prompt, the longest answer, and the rounds allowed."""

    stage: str
    prompt_tokens: int
    answer_tokens: int
    repair_tokens: int
    rounds: int

    @property
    def typical(self) -> int:
        return self.prompt_tokens + self.answer_tokens

    @property
    def worst(self) -> int:
        """Every round used; round k resends the k-1 earlier answers and repair requests."""
        return sum(self.prompt_tokens + (k - 1) * (self.answer_tokens + self.repair_tokens) + self.answer_tokens
                   for k in range(1, self.rounds + 1))


@dataclass(frozen=True)
class Estimate:
    """The asks of one run of each notebook, and the order the evaluation's runs go in."""

    asks: dict[str, list[AskEstimate]]  # notebook name -> its stages' asks
    order: list[tuple[str, int]]  # (notebook, run) in the order they run

    def run_typical(self, notebook: str) -> int:
        return sum(ask.typical for ask in self.asks[notebook])

    def run_worst(self, notebook: str) -> int:
        return sum(ask.worst for ask in self.asks[notebook])

    @property
    def typical(self) -> int:
        return sum(self.run_typical(notebook) for notebook, _ in self.order)

    @property
    def worst(self) -> int:
        return sum(self.run_worst(notebook) for notebook, _ in self.order)

    def runs_within(self, budget: int, *, worst: bool = False) -> int:
        """How many of the runs, in order, fit in `budget` tokens."""
        spent = 0
        for done, (notebook, _) in enumerate(self.order):
            spent += self.run_worst(notebook) if worst else self.run_typical(notebook)
            if spent > budget:
                return done
        return len(self.order)


def ask_estimate(step: StageStep, settings: EvalSettings) -> AskEstimate:
    """The tokens of one stage's ask, from its prompt files, the context budget and the request as written."""
    from ..notebook.context import estimate_tokens
    from ..stages.base import load_stage, prompt_text, repair_message

    system = prompt_text("system.md") + "\n" + prompt_text(load_stage(step.stage).prompt_file)
    user = f"Notebook context:\n\n\nRequest:\n{step.request.strip()}"
    context = step.context_budget or settings.token_budget
    return AskEstimate(
        stage=step.stage,
        prompt_tokens=estimate_tokens(system) + estimate_tokens(user) + context,
        answer_tokens=settings.max_tokens,
        repair_tokens=estimate_tokens(repair_message([])["content"]),
        rounds=settings.max_repairs + 1,
    )


def estimate(plans: Sequence[NotebookPlan], order: list[tuple[str, int]], settings: EvalSettings) -> Estimate:
    return Estimate({plan.name: [ask_estimate(step, settings) for step in plan.steps] for plan in plans}, order)


def describe(found: Estimate, settings: EvalSettings, *, spent: int = 0) -> list[str]:
    """The lines printed before starting: the estimate, and what the budget allows after `spent` tokens of the
    runs already recorded."""
    if settings.offline:
        return ["tokens: none (offline recipes answer every stage)"]
    rounds = settings.max_repairs + 1
    lines = [f"tokens, estimated: ~{found.typical:,} if every stage is answered in 1 round, "
             f"at most ~{found.worst:,} if every stage takes all {rounds} rounds"]
    for notebook in found.asks:
        lines.append(f"  {notebook}: ~{found.run_typical(notebook):,} to {found.run_worst(notebook):,} a run")
    if settings.max_tokens_total is not None:
        left = max(settings.max_tokens_total - spent, 0)
        typical, worst = found.runs_within(left), found.runs_within(left, worst=True)
        already = f" ({spent:,} spent by earlier runs)" if spent else ""
        lines.append(f"budget: {left:,} tokens left of {settings.max_tokens_total:,}{already}: "
                     f"enough for ~{typical} of the {len(found.order)} runs to do (at worst {worst})")
    return lines
