"""What a run executes of a lifecycle notebook: its setup cells, then each stage's magic cell in order.

Read once from the notebook, before any kernel starts, so a notebook the evaluation cannot use is refused with
one line at once rather than after an hour of other runs. Cells after the last stage magic are the notebook's
own checks (the panel's build/flash/check, a summary): the eval's probe judges each stage instead, so they are
not run.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadStageLineError, NoStageCellError, NotANotebookError, NotebookNotFoundError, RepeatedStageError
from .records import STAGES

LOAD_EXTENSION = "%load_ext jupyter_tinyml"
# Options of a stage line the evaluation removes: the model under evaluation answers every stage, whatever
# model the notebook's author pinned on a cell.
MODEL_OPTIONS = ("--model", "-m")


@dataclass(frozen=True)
class StageStep:
    """One stage of a notebook: the code cells between the previous stage and this one (`before`), then the
    magic cell, rewritten to execute its code (`--run`) with the evaluated model."""

    stage: str
    magic: str
    request: str
    before: tuple[str, ...] = ()

    @property
    def context_budget(self) -> int | None:
        """The cell's own --budget, if it sets one (the estimate counts that context instead of the setting's)."""
        words = shlex.split(self.magic.splitlines()[0])[1:]
        for index, word in enumerate(words):
            if word == "--budget" and index + 1 < len(words):
                return int(words[index + 1])
            if word.startswith("--budget="):
                return int(word.partition("=")[2])
        return None


@dataclass(frozen=True)
class NotebookPlan:
    """A notebook as a run executes it. `name` is the file's stem, the key its runs are recorded under."""

    path: Path
    setup: tuple[str, ...]
    steps: tuple[StageStep, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def stages(self) -> list[str]:
        return [step.stage for step in self.steps]


def stage_of(source: str) -> str | None:
    """The stage a cell's magic asks (`%%tinyml_train ...` -> "train"), None for any other cell."""
    first = source.lstrip().split("\n", 1)[0].split()
    if not first or not first[0].startswith("%%tinyml_"):
        return None
    name = first[0].removeprefix("%%tinyml_")
    return name if name in STAGES else None


def runnable_magic(source: str) -> str:
    """The magic cell with `--run` on its line and any pinned model removed; the request below is unchanged."""
    line, _, body = source.lstrip().partition("\n")
    magic, *words = shlex.split(line)
    kept: list[str] = []
    skip_value = False
    for word in words:
        if skip_value:
            skip_value = False
        elif word in MODEL_OPTIONS:
            skip_value = True
        elif not word.startswith("--model="):
            kept.append(word)
    if "--run" not in kept:
        kept.append("--run")
    return f"{magic} {shlex.join(kept)}\n{body}"


def read_cells(path: Path) -> list[dict]:
    if not path.is_file():
        raise NotebookNotFoundError(path)
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        problem = "no cells" if isinstance(error, (KeyError, TypeError)) else type(error).__name__
        raise NotANotebookError(path, problem) from None
    if not isinstance(cells, list):
        raise NotANotebookError(path, "no cells")
    return cells


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def plan_notebook(path: Path) -> NotebookPlan:
    """The notebook's setup cells (every code cell before the first stage magic, with `%load_ext
    jupyter_tinyml` first when the notebook does not load it), then its stages in order."""
    path = Path(path).resolve()
    setup: list[str] = []
    steps: list[StageStep] = []
    between: list[str] = []
    for cell in read_cells(path):
        if cell.get("cell_type") != "code" or not source_of(cell).strip():
            continue
        source = source_of(cell)
        stage = stage_of(source)
        if stage is None:
            (between if steps else setup).append(source)
            continue
        if stage in {step.stage for step in steps}:
            raise RepeatedStageError(path, stage)
        line, _, request = source.lstrip().partition("\n")
        try:
            step = StageStep(stage, runnable_magic(source), request, tuple(between if steps else ()))
            step.context_budget  # noqa: B018 (read now, so a bad --budget is refused before any run)
        except ValueError as error:
            raise BadStageLineError(path, line, str(error).lower()) from None
        steps.append(step)
        between = []
    if not steps:
        raise NoStageCellError(path, STAGES)
    if not any(LOAD_EXTENSION in line for cell in setup for line in cell.splitlines()):
        setup.insert(0, LOAD_EXTENSION)
    return NotebookPlan(path, tuple(setup), tuple(steps))
