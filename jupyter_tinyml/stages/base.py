"""What every stage shares: the Stage record and the one generate loop.

prompt + context -> model (or the offline recipe) -> checks -> repair rounds (bounded) -> cells.
Nothing here knows IPython: the magics hand in a StageRequest and get a Generation back (`run`), so every
stage can be driven from plain Python and is tested that way too. `converse` is the loop itself; the deploy
glue repair (glue.py) asks through it as well.

How a stage's AnswerReader talks to the loop:
- It only ever sees whole answers. A cut one (finish_reason "length", or a fence left open) gets one request
  to continue inside `converse`, and the two texts are joined (answer.join); cut again, the loop raises
  AnswerCutOffError.
- `read` returns a Reading. Its blocking problems go back to the model while rounds remain, listed (their
  str() names the part they belong to), or as `Reading.follow_up` when the reader has words of its own.
- An answer in no form the reader takes (no Python at all; for deploy, no glue it can map) is an
  AnswerFormError subclass raised by `read`, carrying `follow_up`: the request for the contract form. The
  loop sends it once while rounds remain; when the next answer is no better the error ends the ask — unless
  an earlier round gave cells, which are kept. Any other TinyMLError raised by `read` ends the ask at once.
- Every TinyMLError that ends an ask after the model answered carries the answers it cost as
  `error.completions` (`spent(error)` reads them), so the magics print the usage lines before the error line.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Iterable, Protocol

from ..config import TinyML
from ..errors import AnswerCutOffError, AnswerFormError, TinyMLError, UnknownStageError
from ..notebook.cells import GeneratedCell
from ..notebook.context import NotebookContext
from ..notebook.redaction import redact_prompt
from . import answer, checks, llm, wishes
from .request import STAGE_NAMES, StageRequest

# An offline recipe: deterministic code for the stage, built from the request text and the notebook context.
# It raises RecipeError (with what to do) when the notebook holds nothing it can work with.
Recipe = Callable[[str, NotebookContext], "list[GeneratedCell]"]

OFFLINE_LABEL = "offline recipe"


@dataclass(frozen=True)
class Asked:
    """What a stage's answer reader knows of the ask.

    `known_names` are the names the notebook already defines; `values` is the kernel's namespace where there is
    one (the magics hand in `user_ns`; plain Python may hand in a dict or nothing). A reader only looks values up
    (the deploy reader needs the model's bytes to compile the glue against it); it never runs the answer.
    """

    request: str
    context: NotebookContext
    settings: TinyML
    known_names: frozenset[str] = frozenset()
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Reading:
    """What a reader made of one answer: the cells to insert and what the checks found.

    Blocking problems go back to the model while rounds remain; the rest only reach the cell header.
    `follow_up`, when set, is what the model is told instead of the list of blocking problems.
    """

    cells: list[GeneratedCell]
    problems: list[checks.Problem] = field(default_factory=list)
    follow_up: str | None = None

    @property
    def blocking(self) -> list[checks.Problem]:
        return [problem for problem in self.problems if problem.blocking]


class AnswerReader(Protocol):
    """Turns one model answer into a Reading; made afresh for every ask, so it may remember earlier rounds."""

    def read(self, answer: str) -> Reading: ...


class PythonReader:
    """The reader of the Python stages: Python blocks become code cells, each checked on its own against the
    notebook; prose and output blocks become markdown where they stood (answer.py). No Python at all raises
    NoPythonBlockError, an AnswerFormError: the loop asks once for ```python blocks."""

    def __init__(self, asked: Asked) -> None:
        self.known = set(asked.known_names)

    def read(self, text: str) -> Reading:
        cells, problems = answer.read_python(text, self.known)
        return Reading(cells, problems)


@dataclass(frozen=True)
class Stage:
    """A lifecycle stage: `name` is the magic suffix (prep, train, convert, deploy, fix).

    `reader` makes the AnswerReader for one ask: Python cells for most stages, the application glue for deploy.
    `hears` names the wishes the recipe reads from the request; the clauses of other wishes are listed as unused.
    None: the request is not words to read (fix's is the failing cell), so nothing is listed.
    """

    name: str
    title: str
    prompt_file: str
    recipe: Recipe
    reader: Callable[[Asked], AnswerReader] = PythonReader
    hears: frozenset[str] | None = None  # the wishes (wishes.Wishes fields) the offline recipe honours


@dataclass
class Generation:
    """What a stage produced, and what is known about it."""

    cells: list[GeneratedCell]
    model: str
    problems: list[checks.Problem] = field(default_factory=list)
    completions: list[llm.Completion] = field(default_factory=list)
    rounds: int = 0
    notices: list[str] = field(default_factory=list)  # one line each, printed after the cells are inserted

    @property
    def offline(self) -> bool:
        return self.model == OFFLINE_LABEL

    def findings(self) -> list[str]:
        """Check messages that remain, for the cell header and the output."""
        return [str(problem) for problem in self.problems]


def data_names(context: NotebookContext) -> set[str]:
    """The names a request may use for the notebook's data: its variables and their columns. A clause that only
    names these ("use the images and labels") asks nothing the recipe could miss."""
    names = set(context.variables)
    for summary in context.variables.values():
        for column in summary.facts.get("columns") or ():
            names.update({str(column), *re.findall(r"\w+", str(column))})  # "petal width (cm)" word by word
    return names


def prompt_text(name: str) -> str:
    """A prompt file shipped in jupyter_tinyml/prompts."""
    return resources.files(__package__).joinpath("prompts", name).read_text(encoding="utf-8")


def build_messages(stage: Stage, request: str, context: NotebookContext) -> list[llm.Message]:
    """System rules + the stage's task, then the notebook context and the person's request.

    The user message goes through redact_prompt as a whole: whatever path a secret took into it (a variable, a
    recent cell, a traceback, the failing cell of fix, a reviewer's note), this is the one door every stage's
    prompt passes. The offline recipes read the request unredacted: they send nothing and must keep the code."""
    system = prompt_text("system.md") + "\n" + prompt_text(stage.prompt_file)
    user = redact_prompt(f"Notebook context:\n{context.render()}\n\nRequest:\n{request.strip()}")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def check_cells(cells: list[GeneratedCell], known_names: Iterable[str]) -> list[checks.Problem]:
    """Check code cells in order, each on its own (names an earlier cell defines count for the next), and mark
    each with the blocking problems it has (GeneratedCell.blocked_by)."""
    return answer.check_cells(cells, known_names)


def repair_message(problems: list[checks.Problem]) -> llm.Message:
    listed = "\n".join(f"- {problem}" for problem in problems)
    return {
        "role": "user",
        "content": "Checking your code before inserting it found these problems:\n"
        f"{listed}\nAnswer again with the complete corrected code, same format.",
    }


CONTINUE_REQUEST = (
    "Your answer was cut off. Continue exactly where it stopped: do not repeat what you already wrote, and "
    "close any code block you are in."
)


def whole_answer(
    messages: list[llm.Message],
    settings: TinyML,
    calls: list[llm.Completion],
    on_text: Callable[[str], None] | None = None,
) -> llm.Completion:
    """One answer, with one request to continue when it was cut off; every call made is added to `calls`.

    Raises AnswerCutOffError when the joined answer is still cut: asking a third time would repeat the cut.
    """
    first = llm.complete(messages, settings, on_text=on_text)
    calls.append(first)
    if not (first.cut_off or answer.is_cut(first.text)):
        return first
    asking = messages + [
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": CONTINUE_REQUEST},
    ]
    if on_text:
        on_text("\n[tinyml] the answer was cut off: asking the model to continue ...\n")
    more = llm.complete(asking, settings, on_text=on_text)
    calls.append(more)
    text = answer.join(first.text, more.text)
    if more.cut_off or answer.is_cut(text):
        raise AnswerCutOffError(settings.max_tokens)
    return llm.joined(first, more, text)


def spent(error: BaseException) -> list[llm.Completion]:
    """The model's answers an error cost (attached by `converse`), for the usage lines; [] when none."""
    completions = getattr(error, "completions", None)
    return list(completions) if isinstance(completions, list) else []


def converse(
    messages: list[llm.Message],
    settings: TinyML,
    judge: Callable[[llm.Completion], "list[llm.Message] | None"],
    *,
    rounds: int,
    on_text: Callable[[str], None] | None = None,
) -> list[llm.Completion]:
    """The one generate loop: ask, let `judge` look at the answer, ask again while it wants to, `rounds` at most.

    `judge` keeps what it makes of each answer (cells, a rebuilt sketch) and returns the messages for another
    round, or None when the answer is good. Every stage and the deploy glue repair ask through here, so
    rounds are bounded and model errors surface (as ModelError subclasses) the same way everywhere.

    A cut answer is continued once before `judge` sees it (`whole_answer`). A TinyMLError raised on the way —
    by the model call, the continuation or `judge` — leaves with the completions so far as `error.completions`
    and the round it ended in as `error.rounds`.
    """
    completions: list[llm.Completion] = []
    round_number = 0
    try:
        for round_number in range(1, rounds + 1):
            if on_text and round_number > 1:  # a streamed answer must not run into the next one
                on_text(f"\n[tinyml] round {round_number}: the problems went back to the model ...\n")
            follow_up = judge(whole_answer(messages, settings, completions, on_text))
            if follow_up is None:
                break
            messages = follow_up
    except TinyMLError as error:
        error.completions = completions  # read back through spent()
        error.rounds = round_number  # the round it ended in: a continuation's extra call is no round of its own
        raise
    return completions


def generate(
    stage: Stage,
    request: str,
    context: NotebookContext,
    settings: TinyML,
    *,
    known_names: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Generation:
    """Produce checked cells for one stage; raises a TinyMLError subclass on anything the person must act on."""
    known = frozenset(known_names)
    if settings.offline:
        cells = stage.recipe(request, context)
        notice = (None if stage.hears is None else
                  wishes.unused_notice(wishes.read(request), stage.hears, data_names(context)))
        return Generation(cells, OFFLINE_LABEL, check_cells(cells, known), notices=[notice] if notice else [])
    generation = Generation([], settings.model)
    rounds = settings.max_repairs + 1
    messages = build_messages(stage, request, context)
    reader = stage.reader(Asked(request, context, settings, known, values if values is not None else {}))

    asked_for_form = False

    def judge(completion: llm.Completion) -> list[llm.Message] | None:
        """Cells and their problems from the answer; blocking problems go back to the model with its answer."""
        nonlocal messages, asked_for_form
        generation.rounds += 1
        try:
            reading = reader.read(completion.text)
        except AnswerFormError as error:
            if asked_for_form or generation.rounds == rounds:
                if generation.cells:
                    return None  # an earlier round's cells, with their problems, beat nothing
                raise
            asked_for_form = True
            follow_up: llm.Message = {"role": "user", "content": error.follow_up}
        else:
            generation.cells, generation.problems = reading.cells, reading.problems
            blocking = reading.blocking
            if not blocking or generation.rounds == rounds:
                return None
            follow_up = {"role": "user", "content": reading.follow_up} if reading.follow_up else repair_message(blocking)
        messages = messages + [{"role": "assistant", "content": completion.text}, follow_up]
        return messages

    generation.completions = converse(messages, settings, judge, rounds=rounds, on_text=on_text)
    return generation


def load_stage(name: str) -> Stage:
    """The Stage of a module in this package, imported on first use (recipes pull in templates and data kinds)."""
    if name not in STAGE_NAMES:
        raise UnknownStageError(name, STAGE_NAMES)
    return importlib.import_module(f"{__package__}.{name}").STAGE


def run(
    request: StageRequest,
    context: NotebookContext,
    session: TinyML,
    *,
    known_names: Iterable[str] = (),
    values: Mapping[str, Any] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Generation:
    """One StageRequest against a captured context: the stage's model (or recipe) with the request's overrides."""
    return generate(
        load_stage(request.stage),
        request.prompt,
        context,
        request.settings(session),
        known_names=known_names,
        values=values,
        on_text=on_text,
    )
