"""Deployment: a TFLite Micro firmware project for the board, and the panel that builds, flashes and checks it.

Exact parts (bytes, op list, arena, quantization, budgets) are computed by `firmware.write_project`; a model
writes only the application glue inside the skeleton's marked regions. The GlueReader takes that glue in whatever
shape the model gave it (glue_answer.py), checks it (firmware.glue_checks) and compiles it against the model's own
project (firmware.glue_compile) inside the one generate loop, so errors go back to the model before anything is
inserted; what is inserted is always the same Python cell (templates/deploy_app.py.txt) with the final glue as an
`app` literal, so running it writes the project that compiled. The panel's glue repair (glue.py) reads with it too.
"""
from __future__ import annotations

import re
import tempfile
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NoGlueError, RecipeError, TinyMLError
from ..firmware import REGION_NAMES, regions, replace_regions, write_project
from ..firmware.cpp_text import masked
from ..firmware.glue_checks import check_glue
from ..firmware.glue_compile import GlueCompile, compile_glue
from ..notebook.cells import GeneratedCell
from ..notebook.context import NotebookContext
from . import checks
from .base import Asked, Reading, Stage
from .glue_answer import GlueAnswer, read_glue, region_of
from .templates import render

OUT_DIR = "firmware"
# Problem kinds of the glue (common to the deploy stage and the panel's repair).
GLUE_COMPILE, GLUE_CHECK, GLUE_DROPPED = "glue-compile", "glue-check", "glue-dropped"
GLUE_DELETED, GLUE_NOT_COMPILED = "glue-deleted", "glue-not-compiled"
GLUE_BLOCKING = frozenset({GLUE_COMPILE, GLUE_CHECK, GLUE_DELETED})
CONTRACT = (
    "Answer with one fenced ```python block that sets `app`, a dict of plain string literals (triple quotes are "
    "fine; no f-strings, no variables) for the sketch's regions \"app-includes\", \"app-globals\", \"app-setup\" and "
    "\"app-loop\", and calls `project = write_project(tflite_model, board=..., out_dir=\"firmware\", labels=..., "
    "app=app)`. Write only the glue: the skeleton already includes TFLite Micro and the model, builds the "
    "interpreter, opens Serial and serves the serial protocol. In C++ use SetInput(i, value), RunModel(), "
    "TopClass(&score), DequantizeOutput(i) and LabelOf(i)."
)


@dataclass(frozen=True)
class GlueProblem(checks.Problem):
    """A finding about the glue: blocking for the compile errors, the static checks and a refused deletion."""

    @property
    def blocking(self) -> bool:
        return self.kind in GLUE_BLOCKING


def find_tflite(context: NotebookContext) -> str:
    """The variable holding the int8 model: `tflite_model` by convention, else the first TFLite in the notebook."""
    candidates = [name for name, summary in context.variables.items() if summary.kind == "tflite"]
    if not candidates:
        raise RecipeError("No TFLite model in the notebook: convert one first (%%tinyml_convert).")
    return "tflite_model" if "tflite_model" in candidates else candidates[0]


def project_values(context: NotebookContext) -> dict[str, str]:
    """What the deploy cell names: the model expression, the board, labels and samples (from the notebook)."""
    if not context.board:
        raise RecipeError(
            "Deployment needs a board: %tinyml config board=nano33ble (or --board); %tinyml boards lists them."
        )
    name = find_tflite(context)
    model = name if context.variables[name].facts.get("source", "bytes") == "bytes" else f"open({name}, 'rb').read()"
    return dict(model=model, model_name=name, board=context.board["id"], board_name=context.board["board"],
                out_dir=OUT_DIR, labels="class_names" if "class_names" in context.variables else "None",
                samples="x_test" if "x_test" in context.variables else "None")


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """The serial-driven default: the project for the chosen board (the one the request names, else the setting)
    and a DeployPanel with the test samples."""
    from dataclasses import replace

    from ..boards import find_board
    from .wishes import read as read_wishes

    asked = read_wishes(request).board
    if asked:
        context = replace(context, board=find_board(asked).limits())
    values = project_values(context)
    code = render("deploy_project", **{key: values[key] for key in
                                       ("model", "board", "board_name", "out_dir", "labels", "samples")})
    board = values["board_name"] + (" (asked)" if asked else "")
    note = (f"**Recipe (offline):** `{values['model_name']}` → a TFLite Micro project for the {board} "
            f"in `{OUT_DIR}/` (serial-driven: features in, class out), then the deploy panel"
            + (" with `x_test` for the on-device check." if values["samples"] != "None" else "."))
    return [GeneratedCell(note, "markdown"), GeneratedCell(code)]


def app_literal(app: Mapping[str, str]) -> str:
    """`app` as a Python dict literal a person reads: each region a raw triple-quoted string, code unindented."""
    if not app:
        return "{}"
    lines = ["{"]
    for name, code in app.items():
        body = textwrap.dedent(code.replace("\r\n", "\n")).strip("\n")
        key = f'"{name}"'
        if not body.strip():
            lines.append(f'    {key}: "",')
        elif '"""' in body or body.endswith("\\"):
            lines.append(f"    {key}: {body!r},")
        else:
            lines.append(f'    {key}: r"""\n{body}\n""",')
    return "\n".join(lines + ["}"])


def has_code(text: str) -> bool:
    """Whether a region holds code, not only comments and blanks."""
    return bool(masked(text, strings=False).strip())


def tflite_bytes(value: Any) -> bytes | None:
    """The model's bytes from a kernel value: bytes, or a path to a .tflite file."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, Path)) and str(value).endswith(".tflite") and Path(value).is_file():
        return Path(value).read_bytes()
    return None


class GlueReader:
    """Reads application glue from answers, round after round, and judges it: checks, the compile, deletions.

    `tflite` is the model the glue is compiled against (None: it cannot be compiled, said as a finding); `board`
    the board id; `cell` turns the final app into the cells to insert; `app` is the glue so far (a repair starts
    from the project's own), kept when an answer would delete it. `last_compile` is the latest compile result.
    """

    def __init__(self, tflite: bytes | None, board: str, cell: Any, *, app: Mapping[str, str] | None = None,
                 no_model: str = "") -> None:
        self.tflite, self.board, self.cell = tflite, board, cell
        self.app: dict[str, str] = dict(app or {})
        self.no_model = no_model
        self.last_compile: GlueCompile | None = None
        self.form = ""
        self._work = tempfile.TemporaryDirectory(prefix="tinyml-deploy-")
        self._skeleton: str | None = None
        self._written_error = ""
        self._path = Path(self._work.name) / "project"

    def read(self, answer: str) -> Reading:
        glue = read_glue(answer)
        if glue.app is None:
            if glue.unreadable.startswith("its `app` is not literal"):
                problem = GlueProblem(GLUE_CHECK, f"{glue.unreadable}; write each region as a plain string literal")
                return Reading(self.cell(self.app, self.form), [problem], follow_up=(
                    f"Your `app` could not be read without running it ({glue.unreadable.split(': ', 1)[1]}). "
                    + CONTRACT))
            raise NoGlueError(glue.unreadable, f"Your answer could not be used: {glue.unreadable}. " + CONTRACT)
        app, problems = self._app_of(glue)
        if app is None:
            return Reading(self.cell(self.app, self.form), problems, follow_up=self._follow_up(problems, self.app))
        self.app, self.form = app, glue.form
        problems += [GlueProblem(GLUE_DROPPED, f"dropped {line}") for line in glue.dropped]
        problems += self.judge(app)
        blocking = [problem for problem in problems if problem.blocking]
        return Reading(self.cell(app, glue.form), problems,
                       follow_up=self._follow_up(blocking, app) if blocking else None)

    def _app_of(self, glue: GlueAnswer) -> tuple[dict[str, str] | None, list[checks.Problem]]:
        """The answer's app with region names checked and, for named parts, the other regions kept; None (with
        the blocking problem) when it would delete code the glue had."""
        assert glue.app is not None
        app: dict[str, str] = dict(self.app) if glue.partial else {}
        problems: list[checks.Problem] = []
        for name, code in glue.app.items():
            region = name if name in REGION_NAMES else region_of(name)
            if region is None:
                problems.append(GlueProblem(GLUE_CHECK, f"`{name}` is not a region of the sketch: use "
                                                        f"{', '.join(REGION_NAMES)}"))
                continue
            app[region] = code
        deleted = [name for name, code in self.app.items() if has_code(code) and not has_code(app.get(name, ""))]
        # The application is gone when no region keeps code, or when its loop is emptied; a region emptied on
        # purpose (a second Serial.begin removed from app-setup) is a repair, not a deletion.
        if deleted and (not any(has_code(code) for code in app.values()) or "app-loop" in deleted):
            return None, problems + [GlueProblem(GLUE_DELETED, (
                f"the answer empties {', '.join(deleted)}, which held the application's code; refused, the previous "
                "glue is kept — answer with the complete glue, changing only what the errors name"))]
        return {name: app[name] for name in REGION_NAMES if name in app}, problems

    def judge(self, app: Mapping[str, str]) -> list[checks.Problem]:
        """The static checks and the compile of `app` (against the model's own project when the model is known)."""
        sketch = self._sketch(app)
        input_is_float = bool(sketch and re.search(r"kInputIsFloat\s*=\s*true",
                                                    (sketch.parent / "model_settings.h").read_text(encoding="utf-8")))
        problems: list[checks.Problem] = [GlueProblem(GLUE_CHECK, str(finding), finding.line)
                                          for finding in check_glue(app, input_is_float=input_is_float)]
        if sketch is None:
            self.last_compile = None
            problems.append(GlueProblem(GLUE_NOT_COMPILED, self._written_error or self.no_model))
            return problems
        result = compile_glue(sketch, self.board)
        self.last_compile = result
        if result.skipped:
            problems.append(GlueProblem(GLUE_NOT_COMPILED, f"the glue was {result.skipped}"))
        problems += [GlueProblem(GLUE_COMPILE, f"does not compile: {error}", error.line) for error in result.errors]
        return problems

    def _sketch(self, app: Mapping[str, str]) -> Path | None:
        """The project's .ino with `app` in its regions, in the reader's work folder (written once per ask)."""
        if self.tflite is None:
            return None
        root = Path(self._work.name)
        if self._skeleton is None and not self._written_error:
            try:
                project = write_project(self.tflite, self.board, root / "project", target="tflm")
            except TinyMLError as error:
                self._written_error = f"the glue was not compiled: write_project refused the model ({error})"
                return None
            self._path = Path(project.sketch)
            self._skeleton = self._path.read_text(encoding="utf-8")
        if self._skeleton is None:
            return None
        try:
            text = replace_regions(self._skeleton, dict(app))
        except TinyMLError as error:
            self._written_error = f"the glue cannot go into the sketch: {error}"
            return None
        self._path.write_text(text, encoding="utf-8")
        return self._path

    def _follow_up(self, blocking: list[checks.Problem], app: Mapping[str, str]) -> str:
        listed = "\n".join(f"- {problem}" for problem in blocking)
        return ("Checking and compiling the glue before inserting it found these problems (all of them; fix them "
                f"together):\n{listed}\n\nThe glue as it stands:\n```python\napp = {app_literal(app)}\n```\n"
                "Answer again with the complete corrected `app` dict in one ```python block (plain string "
                "literals; regions you leave out are emptied), the same write_project call.")


def deploy_cells(values: Mapping[str, str], app: Mapping[str, str], form: str, note: str = "") -> list[GeneratedCell]:
    """The canonical deploy cells: a markdown note and the cell that writes the project with `app`."""
    code = render("deploy_app", app=app_literal(app), model=values["model"], board=values["board"],
                  board_name=values["board_name"], out_dir=values["out_dir"], labels=values["labels"],
                  samples=values["samples"])
    said = f" (the answer gave {form})" if form else ""
    text = (f"**Deploy:** `{values['model_name']}` → a TFLite Micro project for the {values['board_name']} in "
            f"`{values['out_dir']}/`, with the application glue in `app`{said}. {note}").strip()
    return [GeneratedCell(text, "markdown"), GeneratedCell(code)]


def DeployReader(asked: Asked) -> GlueReader:  # noqa: N802 - a Stage.reader factory, named like the reader it makes
    """The deploy stage's reader: the glue compiled against the kernel's model for the notebook's board."""
    values = project_values(asked.context)
    tflite = tflite_bytes(asked.values.get(values["model_name"]))
    no_model = ("" if tflite is not None else
                f"the glue was not compiled: `{values['model_name']}` is not in the kernel's namespace as .tflite "
                "bytes")

    def cell(app: Mapping[str, str], form: str) -> list[GeneratedCell]:
        return deploy_cells(values, app, form)

    return GlueReader(tflite, values["board"], cell, no_model=no_model)


def project_app(sketch: str | Path) -> dict[str, str]:
    """The glue a written project holds: its sketch's regions (the serial default's comments count as empty)."""
    return regions(Path(sketch).read_text(encoding="utf-8"))


STAGE = Stage(name="deploy", title="Deployment", prompt_file="deploy.md", recipe=recipe, reader=DeployReader,
              hears=frozenset({"board"}))
