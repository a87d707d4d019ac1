"""The deploy panel's glue repair: a failed build's errors go back to the model, read as the deploy stage reads.

Only the sketch's regions are the model's to change: the exact parts (model bytes, op resolver, arena, protocol)
are computed. Each round goes through the stages' own loop (base.converse) and the deploy stage's GlueReader, so an
answer in any shape is taken (the `app` dict, named C++ parts, a whole sketch), checked, compiled before it is
used (all errors back at once, each with its region), and refused when it deletes the application's code. A glue
that passes is written with write_project(app=...) — the project is written again, never edited — and rebuilt.
What the repair ends with is `GlueRepair.app`, which the panel puts into the notebook as the canonical deploy cell,
so re-running the notebook brings back the repaired glue, not the broken one. A build that failed for a reason
the model cannot fix (a sensor library not installed) is not sent at all: `unfixable` says what to install.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..config import TinyML
from ..errors import NoGlueError
from ..firmware import write_project
from ..firmware.glue_checks import SKELETON_HEADER
from ..firmware.glue_compile import LIBRARY_OF_HEADER, MissingLibrary, errors_of
from ..notebook.cells import GeneratedCell
from . import checks, llm
from .base import converse, prompt_text
from .deploy import GlueReader, app_literal, deploy_cells, project_app

_MISSING_HEADER = re.compile(r"fatal error:\s*(?P<header>[^:\s]+):\s*No such file or directory")


class Build(Protocol):
    """What the repair reads of a build (hardware's BuildResult); stages sit beside hardware, not above it."""

    @property
    def ok(self) -> bool: ...

    @property
    def output(self) -> str: ...

    def error_text(self) -> str: ...


@dataclass
class GlueRepair:
    """What the repair did: the last build, each round's answer, the glue the project now holds and what remains."""

    build: Build
    app: dict[str, str] = field(default_factory=dict)
    rounds: int = 0
    completions: list[llm.Completion] = field(default_factory=list)
    problems: list[checks.Problem] = field(default_factory=list)
    unfixable: str = ""  # why no model was asked (what to install)
    changed: bool = False  # the project was written again with new glue
    cells: list[GeneratedCell] = field(default_factory=list)  # the canonical deploy cell with `app`

    @property
    def ok(self) -> bool:
        return bool(self.build.ok)


def project_labels(sketch_dir: Path) -> list[str] | None:
    """The labels a written project holds (model_settings.h's kLabels), so writing it again keeps them."""
    settings = sketch_dir / "model_settings.h"
    if not settings.is_file():
        return None
    match = re.search(r"kLabels\[[^\]]*\]\s*=\s*\{(.*?)\};", settings.read_text(encoding="utf-8"), re.DOTALL)
    if match is None:
        return None
    return [bytes(text, "utf-8").decode("unicode_escape") for text in re.findall(r'"((?:[^"\\]|\\.)*)"', match[1])]


def unfixable(output: str) -> str:
    """One line saying what to install when the build failed on a header no installed library has (not one the
    skeleton owns, which the model fixes by deleting the include); "" otherwise."""
    missing = [match["header"] for match in _MISSING_HEADER.finditer(output)
               if not SKELETON_HEADER.match(match["header"])]
    lines = [str(MissingLibrary(header, LIBRARY_OF_HEADER.get(Path(header).name))) for header in dict.fromkeys(missing)]
    return "; ".join(lines)


def build_errors(build: Build, sketch: Path) -> str:
    """The build's errors, each with its region where it is in the sketch; the tool's excerpt when none is."""
    text = sketch.read_text(encoding="utf-8") if sketch.is_file() else ""
    errors = errors_of(build.output, sketch, text)
    return "\n".join(f"- {error}" for error in errors) if errors else build.error_text()


def repair_glue(
    project: Any,
    failed_build: Build,
    rebuild: Callable[[], Build],
    settings: TinyML,
    *,
    tflite: bytes | None,
    values: Mapping[str, str] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> GlueRepair:
    """Up to settings.max_repairs rounds of: errors -> model -> glue read, checked and compiled -> write_project ->
    `rebuild()`. `project` is what write_project returned; `tflite` its model's bytes; `values` names the
    notebook's variables for the canonical cell (deploy.project_values' keys)."""
    sketch = Path(project.sketch)
    board = str(getattr(project.board, "id", project.board))
    outcome = GlueRepair(build=failed_build, app=project_app(sketch))
    if failed_build.ok:
        return outcome
    outcome.unfixable = unfixable(failed_build.output) or ("" if tflite is not None else (
        "the repair writes the project again and needs the model: DeployPanel(project, tflite_model)"))
    if outcome.unfixable or tflite is None:
        return outcome
    labels = project_labels(sketch.parent)
    cell_values = dict(values or {})

    def cell(app: Mapping[str, str], form: str) -> list[GeneratedCell]:
        return deploy_cells(cell_values, app, form) if cell_values else []

    reader = GlueReader(tflite, board, cell, app=outcome.app,
                        no_model="the glue was not compiled before the build: the panel has no model bytes")
    messages: list[llm.Message] = [
        {"role": "system", "content": prompt_text("glue_repair.md")},
        {"role": "user", "content": f"Build errors:\n{build_errors(failed_build, sketch)}\n\nThe glue as it stands:\n"
                                    f"```python\napp = {app_literal(outcome.app)}\n```"}]
    asked_for_form = False

    def judge(completion: llm.Completion) -> list[llm.Message] | None:
        nonlocal messages, asked_for_form
        outcome.rounds += 1
        try:
            reading = reader.read(completion.text)
        except NoGlueError as error:
            if asked_for_form:
                raise
            asked_for_form = True
            follow_up = error.follow_up
        else:
            outcome.problems = reading.problems
            if reading.blocking:
                follow_up = reading.follow_up or ""
            else:
                outcome.app = dict(reader.app)
                write_project(tflite, board, project.root,
                              labels=labels, app=outcome.app, name=project.name,
                              target=getattr(project, "target", "tflm"))
                outcome.changed = True
                outcome.cells = cell(outcome.app, reader.form)
                outcome.build = rebuild()
                if outcome.build.ok:
                    return None
                follow_up = (f"The glue compiled on its own, but the build failed:\n"
                             f"{build_errors(outcome.build, sketch)}\n\nThe glue as it stands:\n```python\napp = "
                             f"{app_literal(outcome.app)}\n```\nAnswer again with the complete corrected `app` dict.")
        messages = messages + [{"role": "assistant", "content": completion.text},
                               {"role": "user", "content": follow_up}]
        return messages

    outcome.completions = converse(messages, settings, judge, rounds=settings.max_repairs, on_text=on_text)
    return outcome
