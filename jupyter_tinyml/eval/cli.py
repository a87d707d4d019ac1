"""`python -m jupyter_tinyml.eval` and `%tinyml eval`: plan, estimate, then run every (notebook, run) in order.

Runs go round the notebooks (run 1 of each, then run 2 of each ...), so an evaluation stopped early has every
notebook at about the same count. Each finished run is recorded at once and the reports rewritten, so Ctrl-C, a
fatal model error or a spent budget loses at most the run under way; the same command resumes.

Exit codes: 0 all runs done; 1 stopped early (a fatal model error, the token budget spent, a failing setup
cell); 2 bad input (nothing run); 130 Ctrl-C.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, TypeVar

from ..errors import BadArgumentsError, BudgetSpentError, NoExampleNotebooksError, SameNameError, TinyMLError
from .settings import EvalSettings, model_slug

if TYPE_CHECKING:  # the plan reads notebooks, the store files: neither is needed for --help
    from .plan import NotebookPlan
    from .records import RunRecord
    from .store import Store
    from .summary import StageRow

Number = TypeVar("Number", int, float)

PREFIX = "tinyml eval: "
EXIT_DONE, EXIT_STOPPED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXAMPLES = Path(__file__).resolve().parents[2] / "example_notebooks"
EXAMPLE_PATTERN = "[0-9][0-9]_*.ipynb"


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors raised as one line instead of a usage block and sys.exit: `%tinyml eval`
    calls main() inside a kernel, which must not exit."""

    def error(self, message: str) -> NoReturn:
        raise BadArgumentsError(f"{message} (see --help)")


def positive(kind: Callable[[str], Number]) -> Callable[[str], Number]:
    """An argparse type: a number of `kind` above zero, else a one-line error."""
    wanted = "a whole number above zero" if kind is int else "a number above zero"

    def convert(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"needs {wanted}, got {text!r}") from None
        if not value > 0 or value == float("inf"):  # also refuses nan
            raise argparse.ArgumentTypeError(f"needs {wanted}, got {text!r}")
        return value
    return convert


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"needs a number from 0 to 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m jupyter_tinyml.eval",
        description="Run the lifecycle notebooks' stage requests against a model, each run in a fresh headless "
        "kernel with the generated code executed, and report each stage's success rate, repairs, tokens and time.",
    )
    parser.add_argument("--model", required=True,
                        help="litellm model name, e.g. openai/gpt-4o-mini; 'offline' evaluates the built-in recipes")
    parser.add_argument("--api-base", default="", help="base URL of an OpenAI-compatible server (model openai/<name>)")
    parser.add_argument("--runs", type=positive(int), default=5, help="runs of each notebook (default: %(default)s)")
    parser.add_argument("--notebooks", nargs="+", type=Path, metavar="NOTEBOOK",
                        help=f"lifecycle notebooks to run (default: the examples in {EXAMPLES})")
    parser.add_argument("--out", type=Path, help="folder for the results (default: ./tinyml-eval/<model>)")
    parser.add_argument("--max-tokens-total", type=positive(int), default=None,
                        help="token budget for the whole evaluation; it stops when the budget is spent")
    parser.add_argument("--accuracy-floor", type=fraction, default=0.8,
                        help="test accuracy a trained model must reach (default: %(default)s)")
    parser.add_argument("--int8-margin", type=fraction, default=0.05,
                        help="accuracy the int8 model may lose against float (default: %(default)s)")
    parser.add_argument("--check-samples", type=positive(int), default=50,
                        help="test samples the on-device check compares (default: %(default)s)")
    parser.add_argument("--timeout", type=positive(float), default=900.0,
                        help="seconds one cell may run: a magic, its code, or a check (default: %(default)s)")
    return parser


def default_notebooks() -> list[Path]:
    found = sorted(EXAMPLES.glob(EXAMPLE_PATTERN)) if EXAMPLES.is_dir() else []
    if not found:
        raise NoExampleNotebooksError(EXAMPLES)
    return found


def settings_from(arguments: argparse.Namespace) -> EvalSettings:
    from .settings import magic_defaults

    notebooks = arguments.notebooks or default_notebooks()
    out = arguments.out or Path("tinyml-eval") / model_slug(arguments.model)
    return EvalSettings(
        model=arguments.model.strip(),
        api_base=arguments.api_base.strip(),
        runs=arguments.runs,
        notebooks=[str(Path(path).resolve()) for path in notebooks],
        out=str(Path(out).resolve()),
        accuracy_floor=arguments.accuracy_floor,
        int8_margin=arguments.int8_margin,
        check_samples=arguments.check_samples,
        max_tokens_total=arguments.max_tokens_total,
        timeout=arguments.timeout,
        **magic_defaults(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run an evaluation from command-line words; returns the exit code (never exits: a kernel calls it too)."""
    try:
        arguments = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as leaving:  # --help
        return int(leaving.code or 0)
    except TinyMLError as error:
        return refuse(error)
    try:
        evaluation = Evaluation.prepare(settings_from(arguments))
    except TinyMLError as error:
        return refuse(error)
    return evaluation.run()


def refuse(error: TinyMLError) -> int:
    print(PREFIX + str(error), file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


@dataclass
class Evaluation:
    """The notebooks' plans, the folder the runs go to, and the runs already recorded there."""

    settings: EvalSettings
    plans: list["NotebookPlan"]
    store: "Store"
    records: list["RunRecord"]

    @classmethod
    def prepare(cls, settings: EvalSettings) -> "Evaluation":
        """Read every notebook and claim the folder: anything wrong is refused here, before a kernel starts."""
        from .plan import plan_notebook
        from .store import Store

        plans = [plan_notebook(Path(path)) for path in settings.notebooks]
        names = [plan.name for plan in plans]
        for name in names:
            if names.count(name) > 1:
                raise SameNameError(name)
        store = Store(settings.out_dir)
        return cls(settings, plans, store, store.open(settings))

    @property
    def order(self) -> list[tuple["NotebookPlan", int]]:
        """Run 1 of every notebook, then run 2 of every notebook, ..."""
        return [(plan, run) for run in range(1, self.settings.runs + 1) for plan in self.plans]

    @property
    def spent(self) -> int:
        """Tokens of the recorded runs and of the runs stopped before they finished."""
        return sum(record.tokens for record in self.records) + self.store.unrecorded_tokens()

    def run(self) -> int:
        """Every run not yet recorded, in order; the exit code."""
        from .progress import Progress
        from .runner import run_notebook

        order = self.order
        self.announce()
        progress = Progress(len(order), self.records)
        recorded = {record.key for record in self.records}
        done = sum((plan.name, run) in recorded for plan, run in order)
        if done:
            progress.resumed(done)
        try:
            for position, (plan, run) in enumerate(order, 1):
                if (plan.name, run) in recorded:
                    continue
                record = run_notebook(plan, run, self.settings, self.store, spend_limit=self.spend_limit(plan),
                                      progress=progress, position=position)
                self.store.append(record)
                self.records.append(record)
                done += 1
                progress.run_finished(position, record)
                self.write_reports()
        except KeyboardInterrupt:
            print(f"{PREFIX}stopped after {done} runs; run the same command again to resume", file=sys.stderr,
                  flush=True)
            return EXIT_INTERRUPTED
        except TinyMLError as error:  # a fatal stage, a failing setup cell, no kernel, the budget spent
            print(PREFIX + str(error), file=sys.stderr, flush=True)
            self.finish()
            return EXIT_STOPPED
        self.finish()
        return EXIT_DONE

    def spend_limit(self, plan: "NotebookPlan") -> int | None:
        """What the budget leaves for the next run of `plan` (its kernel refuses a call that could pass it);
        None without a budget. Raises BudgetSpentError when what is left would not pay for the run's first ask:
        the kernel would refuse it at once, with advice for a notebook rather than for this command."""
        from ..config import RANGES
        from .estimate import ask_estimate

        budget = self.settings.max_tokens_total
        if budget is None or self.settings.offline:
            return None
        left = budget - self.spent
        if left < ask_estimate(plan.steps[0], self.settings).typical:
            raise BudgetSpentError(budget, self.spent, len(self.records))
        return min(left, int(RANGES["spend_limit"][1]))

    def announce(self) -> None:
        """The plan and the token estimate, before the first kernel starts."""
        from .estimate import describe, estimate

        settings = self.settings
        where = f" at {settings.api_base}" if settings.api_base else ""
        print(f"{PREFIX}{settings.model}{where} · {len(self.plans)} notebook{'s' if len(self.plans) != 1 else ''} "
              f"x {settings.runs} runs = {len(self.order)} runs · results in {settings.out}")
        for plan in self.plans:
            print(f"  {plan.name}: {' -> '.join(plan.stages)} ({len(plan.setup)} setup cells)")
        print(f"  a stage succeeds when its code runs and leaves what the next needs: test accuracy >= "
              f"{settings.accuracy_floor}, int8 within {settings.int8_margin} of float, the board agreeing on "
              f"{settings.check_samples} samples; each cell may run {settings.timeout:.0f} s")
        recorded = {record.key for record in self.records}
        to_do = [(plan.name, run) for plan, run in self.order if (plan.name, run) not in recorded]
        found = estimate(self.plans, to_do, settings)
        for line in describe(found, settings, spent=self.spent):
            print(line)
        sys.stdout.flush()

    def summarize(self) -> tuple[list["StageRow"], dict[str, Any]]:
        from .summary import stage_rows

        return stage_rows(self.records), self.settings.to_json()

    def write_reports(self) -> None:
        """results.json and report.html from every record so far (rewritten after each run)."""
        from .report import html_report, results_json

        rows, settings = self.summarize()
        self.store.write_reports(results_json(self.records, rows, settings), html_report(self.records, rows, settings))

    def finish(self) -> None:
        """The reports once more (a resume with nothing left to run still brings them up to date), then the
        table."""
        if not self.records:
            return
        from .report import text_table

        self.write_reports()
        rows, settings = self.summarize()
        print(text_table(rows, settings), flush=True)
