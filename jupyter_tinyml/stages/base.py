"""What every stage shares: the Stage record and the generate loop.

prompt + context -> model (or the offline recipe) -> checks -> repair rounds (bounded) -> cells.
Nothing here knows IPython: the magics hand in a request and get a Generation back, so every stage can be
driven from plain Python and is tested that way too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Callable, Iterable

from . import checks, llm
from ..notebook.cells import GeneratedCell
from ..config import TinyML, api_key_from_environment
from ..notebook.context import NotebookContext

# An offline recipe: deterministic code for the stage, built from the request text and the notebook context.
# It raises RecipeError (with what to do) when the notebook holds nothing it can work with.
Recipe = Callable[[str, NotebookContext], "list[GeneratedCell]"]

OFFLINE_LABEL = "offline recipe"


@dataclass(frozen=True)
class Stage:
    """A lifecycle stage: `name` is the magic suffix (prep, train, convert, deploy, fix)."""

    name: str
    title: str
    prompt_file: str
    recipe: Recipe


@dataclass
class Generation:
    """What a stage produced, and what is known about it."""

    cells: list[GeneratedCell]
    model: str
    problems: list[checks.Problem] = field(default_factory=list)
    completions: list[llm.Completion] = field(default_factory=list)
    rounds: int = 0

    @property
    def offline(self) -> bool:
        return self.model == OFFLINE_LABEL

    def findings(self) -> list[str]:
        """Check messages that remain, for the cell header and the output."""
        return [problem.message for problem in self.problems]


def prompt_text(name: str) -> str:
    """A prompt file shipped in jupyter_tinyml/prompts."""
    return resources.files(__package__).joinpath("prompts", name).read_text(encoding="utf-8")


def build_messages(stage: Stage, request: str, context: NotebookContext) -> list[llm.Message]:
    """System rules + the stage's task, then the notebook context and the person's request."""
    system = prompt_text("system.md") + "\n" + prompt_text(stage.prompt_file)
    user = f"Notebook context:\n{context.render()}\n\nRequest:\n{request.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def check_cells(cells: list[GeneratedCell], known_names: Iterable[str]) -> list[checks.Problem]:
    """Check code cells in order; names defined by an earlier cell count as known for the next."""
    known = set(known_names)
    problems: list[checks.Problem] = []
    for cell in cells:
        if cell.cell_type != "code":
            continue
        problems += checks.check_code(cell.source, known)
        known |= checks.defined_names(cell.source)
    return problems


def cells_from_answer(answer: llm.CodeAnswer) -> list[GeneratedCell]:
    """A short prose preamble becomes a markdown cell, each python block a code cell."""
    cells = [GeneratedCell(answer.prose, "markdown")] if answer.prose and len(answer.prose) < 1500 else []
    return cells + [GeneratedCell(block) for block in answer.code_blocks]


def repair_message(problems: list[checks.Problem]) -> llm.Message:
    listed = "\n".join(f"- {problem.message}" for problem in problems)
    return {
        "role": "user",
        "content": "Checking your code before inserting it found these problems:\n"
        f"{listed}\nAnswer again with the complete corrected code, same format.",
    }


def generate(
    stage: Stage,
    request: str,
    context: NotebookContext,
    settings: TinyML,
    *,
    known_names: Iterable[str] = (),
    on_text: Callable[[str], None] | None = None,
) -> Generation:
    """Produce checked cells for one stage; raises a TinyMLError subclass on anything the person must act on."""
    known = set(known_names)
    if settings.offline:
        cells = stage.recipe(request, context)
        return Generation(cells, OFFLINE_LABEL, check_cells(cells, known))
    messages = build_messages(stage, request, context)
    generation = Generation([], settings.model)
    for round_number in range(settings.max_repairs + 1):
        completion = llm.complete(
            messages,
            model=settings.model,
            api_base=settings.api_base or None,
            api_key=api_key_from_environment(),
            timeout=settings.timeout,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            stream=settings.stream,
            on_text=on_text,
            mock_response=settings.mock_response or None,
        )
        generation.completions.append(completion)
        generation.rounds = round_number + 1
        answer = llm.extract_code(completion.text)
        generation.cells = cells_from_answer(answer)
        generation.problems = check_cells(generation.cells, known)
        blocking = [problem for problem in generation.problems if problem.blocking]
        if not blocking or round_number == settings.max_repairs:
            break
        messages = messages + [{"role": "assistant", "content": completion.text}, repair_message(blocking)]
    return generation
