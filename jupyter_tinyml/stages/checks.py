"""Static checks of generated Python before it becomes a notebook cell.

The model's code is never run here. Three kinds of problem are *blocking* — a syntax error, a name that
exists nowhere, a module that is not installed — because the cell would fail the moment the person runs it,
so they go back to the model for repair. *Risky* calls (shell, file deletion, network, dynamic code) may be
exactly what was asked for, so they are flagged in the cell header for the person to look at (risks.py finds
them, through aliases and dynamic lookups) and `--run` refuses to execute them (`run_refusal`).

Everything works on the text alone: IPython's own TransformerManager turns `%magic`, `!shell`, `x = !ls`,
`%%cell` magics and `name?` into the `get_ipython()` calls IPython runs, `ast` reads the result, and
`importlib.util.find_spec` locates a top-level package without importing it.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import importlib.util
import re
import sys
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from IPython.core.inputtransformer2 import TransformerManager

from . import risks

__all__ = [
    "PIP_NAMES", "Problem", "check_code", "defined_names", "likely_defined_names", "python_source", "risks_of",
    "run_refusal",
]

SYNTAX = "syntax"
UNDEFINED_NAME = "undefined-name"
MISSING_MODULE = "missing-module"
RISKY = "risky"

_BLOCKING_KINDS = frozenset({SYNTAX, UNDEFINED_NAME, MISSING_MODULE})


@dataclass(frozen=True)
class Problem:
    """One finding about a piece of generated code.

    `kind` is "syntax", "undefined-name", "missing-module" or "risky"; `message` is a single line a person
    understands and that can be pasted into a repair prompt as is; `line` is 1-based when known, counted in
    the piece of code that was checked. `part` names that piece when an answer has several (answer.part_label:
    "part 2 (`history = model.fit(`)"); str() puts it in front of the message, so the model and the cell
    header learn which block a line number belongs to.
    """

    kind: str
    message: str
    line: int | None = None
    part: str = ""

    @property
    def blocking(self) -> bool:
        """True when the cell would fail as written, so the model should repair it before insertion."""
        return self.kind in _BLOCKING_KINDS

    def __str__(self) -> str:
        return f"{self.part}: {self.message}" if self.part else self.message


def check_code(code: str, known_names: Iterable[str] = ()) -> list[Problem]:
    """Check `code` (a notebook cell, IPython syntax allowed) without running it.

    `known_names` are the names already defined in the notebook's namespace. A syntax error is reported
    alone, since nothing else can be trusted then. Otherwise the problems come back ordered by line.
    """
    try:
        tree = _parse_cell(code)
        if isinstance(tree, Problem):
            return [tree]
        nodes = list(ast.walk(tree))  # walked once, shared by every check: this is most of the running time
        problems = [
            *_undefined_names(nodes, known_names),
            *_missing_modules(nodes),
            *_risk_problems(_risky_calls(nodes)),
        ]
    except RecursionError:
        # Python runs expressions nested deeper than these checks can follow; what cannot be read is a risk.
        return [Problem(RISKY, "the code is nested too deeply to check for risks; read it before running it")]
    return sorted(problems, key=lambda p: (p.line or 0, not p.blocking))


def python_source(code: str) -> str:
    """`code` as the Python IPython runs, with the cell's line numbers kept.

    IPython's TransformerManager turns `%pip ...` into `get_ipython().run_line_magic('pip', ...)`, `!ls` into
    `get_ipython().system('ls')`, `files = !ls` into `files = get_ipython().getoutput('ls')`, `np.mean?` into a
    `pinfo` magic and a `%%magic` cell into one `run_cell_magic` call; `%` and `!` inside brackets and strings
    stay Python. Where a transform joins lines (a backslash-continued magic, a cell magic's body), blank lines
    are put back after it so every later line keeps its number.
    """
    # Python itself treats \r\n and a lone \r as line ends; normalise so the line numbers agree with ast.
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    try:
        transformed = _TRANSFORMER.transform_cell(code)
    except SyntaxError:
        return code  # ast reports it, with its line
    before, after = code.splitlines(), transformed.splitlines()
    if len(after) != len(before):
        after = _realigned(before, after)
    return "\n".join(after) + ("\n" if code.endswith("\n") else "")


def defined_names(code: str) -> set[str]:
    """Names `code` leaves in the notebook namespace once run, so a following cell may use them.

    Only module-scope bindings (and `global` declarations) count: a function's locals are not visible to the
    next cell. A star import adds the marker "*", which `check_code` reads as "anything may be defined"
    when it comes back in `known_names`. Code that does not parse defines nothing.
    """
    tree = _parse_cell(code)
    if isinstance(tree, Problem):
        return set()
    names: set[str] = set()
    for node in _module_scope_nodes(tree):
        if isinstance(node, _BINDING_NODES):
            names.update(_names_bound_by(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # The function's own scope is skipped, but its `global x` binds a module name when it runs.
            names.update(n for inner in ast.walk(node) if isinstance(inner, ast.Global) for n in inner.names)
    return names


# A name plainly bound at the start of a line: `x = `, `a, b = `, `def f(`, `class C`, `for x in`, `import x`.
_ROUGH_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?::[^=]*)?=(?!=)")
_ROUGH_DEFINITION = re.compile(r"^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)")
_ROUGH_FOR = re.compile(r"^for\s+([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s+in\b")
_ROUGH_IMPORT = re.compile(r"^(?:from\s+[\w.]+\s+)?import\s+([\w., ]+)")


def likely_defined_names(code: str) -> set[str]:
    """`defined_names`, and for code that does not parse the names its unindented lines plainly bind.

    A part of an answer with one syntax error still tells which names it meant to define; checking the next
    part against them keeps that one error from echoing as "not defined" further down.
    """
    if not isinstance(_parse_cell(code), Problem):
        return defined_names(code)
    names: set[str] = set()
    for line in code.splitlines():
        for pattern in (_ROUGH_ASSIGNMENT, _ROUGH_DEFINITION, _ROUGH_FOR):
            if match := pattern.match(line):
                names.update(name.strip() for name in match[1].split(","))
        if match := _ROUGH_IMPORT.match(line):
            for alias in match[1].split(","):
                words = alias.split()
                if words:
                    names.add(words[-1] if len(words) == 3 and words[1] == "as" else words[0].split(".")[0])
    return names


# --- IPython syntax -----------------------------------------------------------------------------------------

_TRANSFORMER = TransformerManager()

# Magics that run Python handed over as a string: `%time stmt`, and cells under `%%time`, `%%capture`, ...
# That Python is parsed in place, so the names it reads are checked and the names it binds count.
_PYTHON_LINE_MAGICS = frozenset({"time"})
_PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


def _realigned(before: list[str], after: list[str]) -> list[str]:
    """`after` with blank lines where a transform joined several lines of `before` into one (or dropped them)."""
    lines: list[str] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        lines += after[j1:j2] + [""] * max(0, (i2 - i1) - (j2 - j1))
    return lines


class _EmbeddedPython(ast.NodeTransformer):
    """Replaces `%time stmt` and a Python-bodied cell magic by the statements they run, at their own lines."""

    def __init__(self) -> None:
        self.problem: Problem | None = None

    def visit_Expr(self, node: ast.Expr) -> ast.AST | list[ast.stmt]:
        call = risks.ipython_call(node.value)
        if call is None:
            return node
        method, args = call
        if method == "run_line_magic" and args[0] in _PYTHON_LINE_MAGICS and len(args) > 1:
            source, offset = args[1].strip(), node.lineno - 1  # the statement is on the magic's line
        elif method == "run_cell_magic" and args[0] in _PYTHON_BODY_CELL_MAGICS and len(args) > 2:
            source, offset = args[2], node.lineno  # the body starts on the line after `%%magic`
        else:
            return node
        tree = _parse_cell(source, offset)
        if isinstance(tree, Problem):
            self.problem = self.problem or tree
            return node
        return tree.body or node


# --- syntax -------------------------------------------------------------------------------------------------


def _parse_cell(code: str, offset: int = 0) -> ast.Module | Problem:
    """The cell's AST, IPython syntax included (python_source), with Python run by magics parsed in place.

    `offset` shifts every line number: the cell is a magic's body that starts below line `offset`.
    """
    tree = _parse(python_source(code), offset)
    if isinstance(tree, Problem):
        return tree
    if offset:
        ast.increment_lineno(tree, offset)
    embedded = _EmbeddedPython()
    tree = embedded.visit(tree)
    return embedded.problem or tree


def _parse(code: str, offset: int = 0) -> ast.Module | Problem:
    # Top-level `await` / `async with` is valid in IPython cells, so allow it here too.
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        return compile(code, "<cell>", "exec", flags=flags, dont_inherit=True)
    except SyntaxError as err:
        line = err.lineno + offset if err.lineno else None
        where = f"line {line}: " if line else ""
        return Problem(SYNTAX, f"{where}{err.msg}", line)
    except (ValueError, RecursionError, MemoryError) as err:
        # Null bytes or absurd nesting: the interpreter would refuse the cell as well.
        return Problem(SYNTAX, f"the code cannot be parsed ({type(err).__name__}: {err})", None)


# --- undefined names ----------------------------------------------------------------------------------------

# What an IPython kernel defines in every user namespace, besides the Python builtins.
_IPYTHON_NAMES = frozenset(
    {"display", "get_ipython", "In", "Out", "exit", "quit", "__builtins__", "_", "__", "___"}
)
_IPYTHON_HISTORY = re.compile(r"^_(?:i{1,3}|ih|oh|dh|i?\d+)$")
_BUILTIN_NAMES = frozenset(dir(builtins))

_TYPE_PARAMS = tuple(getattr(ast, n) for n in ("TypeVar", "ParamSpec", "TypeVarTuple") if hasattr(ast, n))
# Node types that can bind a name; checked first because calling into _names_bound_by for every node is slow.
_BINDING_NODES = (
    ast.Name, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.arg, ast.Import, ast.ImportFrom,
    ast.ExceptHandler, ast.Global, ast.Nonlocal, ast.MatchAs, ast.MatchStar, ast.MatchMapping, *_TYPE_PARAMS,
)


def _undefined_names(nodes: Sequence[ast.AST], known_names: Iterable[str]) -> list[Problem]:
    """Names read but bound nowhere: not in the code, the notebook, the builtins or IPython's namespace.

    Scope is deliberately ignored — a name bound anywhere in the cell counts as defined — because a false
    "not defined" sends good code back to the model, which is worse than missing a rare scoping bug.
    """
    bound, star_import = _bound_names(nodes)
    known = set(known_names) | bound
    if star_import or "*" in known:
        return []  # `from x import *`, here or in an earlier cell (see defined_names), can bind anything
    problems: list[Problem] = []
    reported: set[str] = set()
    for node in nodes:
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)):
            continue
        name = node.id
        if name in reported or _is_defined(name, known):
            continue
        reported.add(name)
        problems.append(Problem(UNDEFINED_NAME, _undefined_message(name, node.lineno, known), node.lineno))
    return problems


def _is_defined(name: str, known: set[str]) -> bool:
    return (
        name in known
        or name in _BUILTIN_NAMES
        or name in _IPYTHON_NAMES
        or _IPYTHON_HISTORY.match(name) is not None
    )


def _undefined_message(name: str, line: int, known: set[str]) -> str:
    message = f"line {line}: name '{name}' is not defined"
    candidates = known | _BUILTIN_NAMES
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return f"{message} (did you mean '{close[0]}'?)" if close else message


def _bound_names(nodes: Sequence[ast.AST]) -> tuple[set[str], bool]:
    """Every name the code binds anywhere, and whether it contains a star import."""
    bound: set[str] = set()
    for node in nodes:
        if isinstance(node, _BINDING_NODES):
            bound.update(_names_bound_by(node))
    star_import = "*" in bound  # from `from x import *`; never a real name
    bound.discard("*")
    return bound, star_import


# Nodes whose children live in a scope of their own (Python 3 comprehensions included).
_NEW_SCOPES = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
    ast.GeneratorExp,
)


def _module_scope_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """Every node whose bindings land in the module namespace; scope-opening nodes yield but are not entered."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _NEW_SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _names_bound_by(node: ast.AST) -> Iterator[str]:
    # Assignment, augmented/annotated assignment, walrus, for/with/comprehension targets and `del`
    # all reach here as a Name in Store or Del context.
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        yield node.id
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name
    elif isinstance(node, ast.arg):  # positional, keyword-only, *args, **kwargs and lambda arguments
        yield node.arg
    elif isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.asname or alias.name.split(".")[0]
    elif isinstance(node, ast.ImportFrom):
        for alias in node.names:
            yield alias.asname or alias.name
    elif isinstance(node, ast.ExceptHandler) and node.name:
        yield node.name
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        yield from node.names
    elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        yield node.name
    elif isinstance(node, ast.MatchMapping) and node.rest:
        yield node.rest
    elif isinstance(node, _TYPE_PARAMS):  # PEP 695 `def f[T]()`, Python 3.12+
        yield node.name


# --- missing modules ----------------------------------------------------------------------------------------

# Import names whose pip distribution is called something else. Only the ones a TinyML notebook meets.
PIP_NAMES: dict[str, str] = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "tflite_runtime": "tflite-runtime",
    "ai_edge_litert": "ai-edge-litert",
    "serial": "pyserial",
    "skimage": "scikit-image",
    "tensorflow": "tensorflow-cpu",
    "tensorflow_model_optimization": "tensorflow-model-optimization",
    "tf_keras": "tf-keras",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
}

_TRY_NODES = (ast.Try, *(getattr(ast, n) for n in ("TryStar",) if hasattr(ast, n)))  # `except*` is 3.11+
# Exceptions that, when caught around an import, mean the code already copes with the module being absent.
_IMPORT_GUARDS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _missing_modules(nodes: Sequence[ast.AST]) -> list[Problem]:
    """Top-level packages imported by the code that cannot be found on this kernel's path."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for node, top in _imported_top_levels(nodes, guarded=_guarded_imports(nodes)):
        if top in seen:
            continue
        seen.add(top)
        if not _is_installed(top):
            pip_name = PIP_NAMES.get(top, top)
            message = f"line {node.lineno}: module '{top}' is not installed — run %pip install {pip_name}"
            problems.append(Problem(MISSING_MODULE, message, node.lineno))
    return problems


def _imported_top_levels(nodes: Sequence[ast.AST], guarded: set[int]) -> Iterator[tuple[ast.stmt, str]]:
    for node in nodes:
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node, node.module.split(".")[0]


def _guarded_imports(nodes: Sequence[ast.AST]) -> set[int]:
    """ids of imports inside `try:` blocks whose handlers catch ImportError — the fallback pattern
    `try: import tflite_runtime ... except ImportError: import tensorflow.lite` is fine as written."""
    guarded: set[int] = set()
    for node in nodes:
        if isinstance(node, _TRY_NODES) and any(_catches_import_error(h) for h in node.handlers):
            for stmt in node.body:
                guarded.update(id(n) for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return guarded


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name) and t.id in _IMPORT_GUARDS for t in types)


def _is_installed(top: str) -> bool:
    if top in sys.modules:
        return True
    try:
        # For a top-level name find_spec only searches sys.path; nothing is imported or executed.
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


# --- risky calls --------------------------------------------------------------------------------------------

# The reasons a risk is flagged for (risks.py finds them); re-exported so callers need not know that module.
SHELL, DELETES, MOVES, NETWORK, DYNAMIC = risks.SHELL, risks.DELETES, risks.MOVES, risks.NETWORK, risks.DYNAMIC


def risks_of(problems: Iterable[Problem]) -> list[Problem]:
    """The risky problems among `problems` (the ones that only reach the cell header)."""
    return [problem for problem in problems if problem.kind == RISKY]


def run_refusal(sources: Iterable[str]) -> str | None:
    """One line refusing `--run` when the checks flag a risk in any of these code cells; None when all may run.

    Every cell is checked again here, on the exact text that would run, so no path that skipped or lost the
    checks can run risky code unasked. Nothing runs when one cell is risky: half a sequence run is worse than
    none, and the person runs the cells by hand once they have read them.
    """
    found = [
        f"cell {number}, {problem.message}"
        for number, source in enumerate(sources, 1)
        for problem in risks_of(check_code(source))
    ]
    if not found:
        return None
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (f"[tinyml] --run refused: {found[0]}{more}; nothing ran — read the inserted cells, then run them "
            "yourself.")


def _risky_calls(nodes: Sequence[ast.AST]) -> Iterator[risks.Risk]:
    """Calls and imports in the Python part of the cell that touch the shell, the disk or the network."""
    return risks.risky_nodes(nodes)


_WHAT_CHARS = 80


def _risk_problems(found: Iterable[risks.Risk]) -> list[Problem]:
    """One Problem per line and reason: `requests.get(requests.get(...))` is one risk, not two."""
    seen: set[tuple[int, str]] = set()
    problems: list[Problem] = []
    for line, reason, what in found:
        if (line, reason) not in seen:
            seen.add((line, reason))
            what = what if len(what) <= _WHAT_CHARS else what[: _WHAT_CHARS - 1] + "…"  # a 1 MB command stays a line
            problems.append(Problem(RISKY, f"line {line}: {reason} ({what})", line))
    return problems
