"""Repair of the last failing cell: the model sees the cell and its traceback; offline, a few sure fixes."""
from __future__ import annotations

import difflib
import io
import re
import tokenize

from ..notebook.cells import GeneratedCell
from .checks import PIP_NAMES
from ..notebook.context import NotebookContext
from ..notebook.failures import error_line
from ..errors import RecipeError
from .base import Stage

MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")
UNDEFINED_NAME = re.compile(r"NameError: name '(\w+)' is not defined")


def request_for(failing_source: str, note: str = "") -> str:
    """The repair request: the failing cell itself (its traceback travels in the context), plus the person's note.

    Left as written: the offline recipes rebuild the cell from it, so a key in it must survive here; what goes
    to a model is redacted as a whole by base.build_messages (the one place every prompt passes)."""
    extra = f"\nNote from the person: {note.strip()}" if note.strip() else ""
    return f"Fix this cell:\n```python\n{failing_source.rstrip()}\n```{extra}"


def failing_source_of(request: str) -> str:
    match = re.search(r"```python\n(.*?)\n```", request, re.DOTALL)
    return match.group(1) if match else request


def rename(source: str, old: str, new: str) -> str:
    """Replace the identifier `old` by `new`, leaving strings and comments alone."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    changed = [
        token._replace(string=new) if token.type == tokenize.NAME and token.string == old else token
        for token in tokens
    ]
    return tokenize.untokenize(changed)


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """Sure fixes only: install a missing module, or correct a misspelt name that is close to a known one."""
    source = failing_source_of(request)
    error = context.last_error or ""
    if match := MISSING_MODULE.search(error):
        module = match.group(1).split(".")[0]
        package = PIP_NAMES.get(module, module)
        return [
            GeneratedCell(f"Recipe (offline): `{module}` is not installed; install `{package}`, then rerun.", "markdown"),
            GeneratedCell(f"%pip install {package}"),
            GeneratedCell(source),
        ]
    if match := UNDEFINED_NAME.search(error):
        name = match.group(1)
        close = difflib.get_close_matches(name, list(context.variables), n=1, cutoff=0.75)
        if close:
            return [
                GeneratedCell(f"Recipe (offline): `{name}` is not defined; the notebook has `{close[0]}`.", "markdown"),
                GeneratedCell(rename(source, name, close[0])),
            ]
        raise RecipeError(
            f"'{name}' is not defined and nothing in the notebook is close to it: run the cell that defines it "
            "first, or configure a model (%tinyml config model=...) for a full repair."
        )
    last_line = error_line(error) or "no error recorded"
    raise RecipeError(
        f"The offline recipes fix missing modules and misspelt names only ({last_line[:120]}); configure a "
        "model with %tinyml config model=... for this one."
    )


STAGE = Stage(name="fix", title="Repair of the last failing cell", prompt_file="fix.md", recipe=recipe)
