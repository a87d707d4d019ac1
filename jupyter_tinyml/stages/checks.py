"""Static checks of generated Python before it becomes a notebook cell.

The model's code is never run here. Three kinds of problem are *blocking* — a syntax error, a name that
exists nowhere, a module that is not installed — because the cell would fail the moment the person runs it,
so they go back to the model for repair. *Risky* calls (shell, file deletion, network, dynamic code) may be
exactly what was asked for, so they are only flagged in the cell header for the person to look at.

Everything works on the text alone: `ast` for Python, a line scanner for IPython's `%magic` / `!shell` lines,
and `importlib.util.find_spec` (which locates a top-level package without importing it).
"""
from __future__ import annotations

import ast
import builtins
import difflib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

__all__ = ["PIP_NAMES", "Problem", "check_code", "defined_names", "strip_ipython_syntax"]

SYNTAX = "syntax"
UNDEFINED_NAME = "undefined-name"
MISSING_MODULE = "missing-module"
RISKY = "risky"

_BLOCKING_KINDS = frozenset({SYNTAX, UNDEFINED_NAME, MISSING_MODULE})


@dataclass(frozen=True)
class Problem:
    """One finding about a piece of generated code.

    `kind` is "syntax", "undefined-name", "missing-module" or "risky"; `message` is a single line a person
    understands and that can be pasted into a repair prompt as is; `line` is 1-based when known.
    """

    kind: str
    message: str
    line: int | None = None

    @property
    def blocking(self) -> bool:
        """True when the cell would fail as written, so the model should repair it before insertion."""
        return self.kind in _BLOCKING_KINDS

    def __str__(self) -> str:
        return self.message


def check_code(code: str, known_names: Iterable[str] = ()) -> list[Problem]:
    """Check `code` (a notebook cell, IPython syntax allowed) without running it.

    `known_names` are the names already defined in the notebook's namespace. A syntax error is reported
    alone, since nothing else can be trusted then. Otherwise the problems come back ordered by line.
    """
    stripped = _strip(code)
    tree = _parse(stripped.code)
    if isinstance(tree, Problem):
        return [tree]
    nodes = list(ast.walk(tree))  # walked once, shared by every check: this is most of the running time
    problems = [
        *_undefined_names(nodes, known_names),
        *_missing_modules(nodes),
        *_risk_problems([*_risky_calls(nodes), *_risky_ipython_lines(stripped)]),
    ]
    return sorted(problems, key=lambda p: (p.line or 0, not p.blocking))


def strip_ipython_syntax(code: str) -> str:
    """Return `code` with IPython-only lines neutralised so `ast` can parse it; line numbers are kept.

    Line magics (`%pip ...`), shell escapes (`!ls`), a leading `%%cell_magic` line and help lines (`np.mean?`)
    are blanked; `files = !ls` keeps its assignment as `files = None` and `%time history = model.fit(...)`
    keeps its statement, so the names they bind still count as defined.
    A cell magic whose body is not Python (`%%bash`, `%%writefile`, ...) blanks the whole cell.
    Lines inside strings or brackets are left alone: `%` there is Python's modulo operator.
    """
    return _strip(code).code


def defined_names(code: str) -> set[str]:
    """Names `code` leaves in the notebook namespace once run, so a following cell may use them.

    Only module-scope bindings (and `global` declarations) count: a function's locals are not visible to the
    next cell. A star import adds the marker "*", which `check_code` reads as "anything may be defined"
    when it comes back in `known_names`. Code that does not parse defines nothing.
    """
    tree = _parse(_strip(code).code)
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


# --- IPython syntax -----------------------------------------------------------------------------------------

# Cell magics whose body is ordinary Python: only the `%%` line itself needs blanking.
_PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system", "sx"})

_TIMED_STATEMENT = re.compile(r"^(\s*)%time\s+(\S.*)$")
_ASSIGNED_MAGIC = re.compile(r"^(\s*[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)[!%]")
_HELP_LINE = re.compile(r"^\s*(?:\?\??[\w.]+|[\w.]+\?\??)\s*$")


@dataclass
class _Stripped:
    """Parseable code plus the IPython lines that were taken out of it, kept for the risk checks."""

    code: str
    # (line number, original text) of every magic / shell / help line, and of a leading `%%` line.
    ipython_lines: list[tuple[int, str]] = field(default_factory=list)
    cell_magic: str | None = None


# What the line scanner looks at: an escaped character, a quote, a comment start, a bracket. As far as finding
# the closing quote goes, a backslash escapes in raw strings too.
_LEXEME = re.compile(r"""\\.|'''|\"\"\"|['"#()\[\]{}]""")


@dataclass
class _LineScanner:
    """Tracks just enough Python lexing to know whether the next line starts a new statement.

    Only there can `%` or `!` begin IPython syntax; inside brackets, strings or after a backslash they are
    Python. f-strings that nest their own quote character (3.12+) are not understood; they are rare in
    generated code and the worst outcome is one unparsed magic line reported as a syntax error.
    """

    quote: str | None = None
    depth: int = 0
    continued: bool = False

    @property
    def at_statement_start(self) -> bool:
        return self.quote is None and self.depth == 0 and not self.continued

    def feed(self, line: str) -> None:
        comment = False
        for match in _LEXEME.finditer(line):
            token = match.group()
            if self.quote is not None:
                # A triple quote also ends a one-quote string: the closing quote, then an empty string.
                if token in (self.quote, self.quote * 3):
                    self.quote = None
                continue
            if token == "#":
                comment = True
                break
            if token[0] in "'\"":
                self.quote = token
            elif token in "([{":
                self.depth += 1
            elif token in ")]}":
                self.depth = max(0, self.depth - 1)
        ends_with_backslash = line.endswith("\\")
        if self.quote in ("'", '"') and not ends_with_backslash:
            self.quote = None  # an unterminated one-line string is a syntax error; ast will say so
        self.continued = self.quote is None and ends_with_backslash and not comment


def _strip(code: str) -> _Stripped:
    """Blank IPython lines, remembering them; see `strip_ipython_syntax`."""
    # Python itself treats \r\n and a lone \r as line ends; normalise so the line scanner agrees with ast.
    lines = code.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    result = _Stripped(code="")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        if _strip_cell_magic(lines, first, result):
            return result
    scanner = _LineScanner()
    in_magic_continuation = False
    for i, line in enumerate(lines):
        if in_magic_continuation:
            lines[i] = ""
            in_magic_continuation = line.endswith("\\")
            continue
        if scanner.at_statement_start and _is_ipython_line(line):
            result.ipython_lines.append((i + 1, line))
            in_magic_continuation = line.endswith("\\")
            lines[i] = _neutralise(line, keep_statement=not in_magic_continuation)
            scanner.feed(lines[i])  # harmless for a blank line; needed when `%time` kept a statement
            continue
        scanner.feed(line)
    result.code = "\n".join(lines)
    return result


def _strip_cell_magic(lines: list[str], first: int, result: _Stripped) -> bool:
    """Handle a leading `%%magic`; return True when the whole cell is not Python and is fully blanked."""
    header = lines[first]
    match = re.match(r"\s*%%(\w+)", header)
    result.cell_magic = match.group(1) if match else ""
    result.ipython_lines.append((first + 1, header))
    if result.cell_magic in _PYTHON_BODY_CELL_MAGICS:
        lines[first] = ""
        return False
    result.code = "\n" * (len(lines) - 1)
    return True


def _is_ipython_line(line: str) -> bool:
    stripped = line.lstrip()
    return (
        stripped.startswith(("%", "!"))
        or _ASSIGNED_MAGIC.match(line) is not None
        or _HELP_LINE.match(line) is not None
    )


def _neutralise(line: str, keep_statement: bool) -> str:
    """Replace one IPython line by Python that binds the same names and keeps an indented block non-empty."""
    timed = _TIMED_STATEMENT.match(line)
    if timed and keep_statement:
        return timed.group(1) + timed.group(2)
    assigned = _ASSIGNED_MAGIC.match(line)
    if assigned:
        return assigned.group(1) + "None"
    indent = line[: len(line) - len(line.lstrip())]
    return indent + "pass" if indent else ""


# --- syntax -------------------------------------------------------------------------------------------------


def _parse(code: str) -> ast.Module | Problem:
    # Top-level `await` / `async with` is valid in IPython cells, so allow it here too.
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        return compile(code, "<cell>", "exec", flags=flags, dont_inherit=True)
    except SyntaxError as err:
        where = f"line {err.lineno}: " if err.lineno else ""
        return Problem(SYNTAX, f"{where}{err.msg}", err.lineno)
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

SHELL = "runs a shell command"
DELETES = "deletes files"
MOVES = "moves files"
NETWORK = "network access"
DYNAMIC = "runs code built at run time"

# (line, reason, what): reason is one of the constants above, what names the call or command.
_Risk = tuple[int, str, str]

_NETWORK_MODULES = (
    "requests", "urllib.request", "http.client", "socket", "httpx", "aiohttp", "ftplib", "smtplib", "urllib3",
)
# Calls outside the network modules that download: urllib's urlretrieve and Keras' dataset fetcher.
_NETWORK_SUFFIXES = ("urlretrieve", "utils.get_file")
_OS_SHELL = frozenset({"os.system", "os.popen"})
_OS_SHELL_PREFIXES = ("subprocess.", "os.exec", "os.spawn", "os.posix_spawn")
_DELETE_CALLS = frozenset({"os.remove", "os.unlink", "os.rmdir", "os.removedirs", "shutil.rmtree"})
_DYNAMIC_BUILTINS = frozenset({"eval", "exec", "__import__"})
_PATH_DELETE_METHODS = frozenset({"unlink", "rmdir"})


def _risky_calls(nodes: Sequence[ast.AST]) -> Iterator[_Risk]:
    """Calls and imports in the Python part of the cell that touch the shell, the disk or the network."""
    aliases = _import_aliases(nodes)
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from _risky_import(node)
        elif isinstance(node, ast.Call):
            risk = _classify_call(node.func, aliases)
            if risk:
                yield (node.lineno, *risk)


def _import_aliases(nodes: Sequence[ast.AST]) -> dict[str, str]:
    """Local name -> dotted name it stands for: `sp` -> `subprocess`, `run` -> `subprocess.run`."""
    aliases: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _risky_import(node: ast.Import | ast.ImportFrom) -> Iterator[_Risk]:
    if isinstance(node, ast.Import):
        dotted = [alias.name for alias in node.names]
    elif node.level == 0 and node.module:
        dotted = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    else:
        return
    for name in dotted:
        if _in_modules(name, _NETWORK_MODULES):
            yield node.lineno, NETWORK, name


def _classify_call(func: ast.expr, aliases: dict[str, str]) -> tuple[str, str] | None:
    """(reason, what) for a risky callee, or None."""
    dotted = _dotted_name(func, aliases)
    if dotted is None:
        return _classify_method(func)
    if dotted in _OS_SHELL or dotted.startswith(_OS_SHELL_PREFIXES):
        return SHELL, dotted
    if dotted in _DELETE_CALLS:
        return DELETES, dotted
    if dotted == "shutil.move":
        return MOVES, dotted
    if dotted in _DYNAMIC_BUILTINS:
        return DYNAMIC, dotted
    if _in_modules(dotted, _NETWORK_MODULES) or dotted.endswith(_NETWORK_SUFFIXES):
        return NETWORK, dotted
    return _classify_method(func)


def _classify_method(func: ast.expr) -> tuple[str, str] | None:
    # `path.unlink()` on a pathlib.Path: the receiver's type is unknown, so the method name decides.
    if isinstance(func, ast.Attribute) and func.attr in _PATH_DELETE_METHODS:
        text = ast.unparse(func)
        return DELETES, text if len(text) <= 40 else f".{func.attr}()"
    return None


def _dotted_name(expr: ast.expr, aliases: dict[str, str]) -> str | None:
    """`sp.run` -> `subprocess.run` through import aliases; None when the callee is not a plain dotted name."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(aliases.get(expr.id, expr.id))
    return ".".join(reversed(parts))


def _in_modules(dotted: str, modules: Iterable[str]) -> bool:
    return any(dotted == m or dotted.startswith(m + ".") for m in modules)


# Shell commands that deserve a more specific reason than "runs a shell command".
_COMMAND_NETWORK = re.compile(r"\b(?:pip3?|conda|mamba)\s+install\b|^(?:wget|curl|git\s+clone)\b")
_COMMAND_DELETE = re.compile(r"^(?:rm|rmdir)\b")
_SHELL_LINE_MAGICS = ("sx", "system")


def _risky_ipython_lines(stripped: _Stripped) -> Iterator[_Risk]:
    """Risks in the magic and shell lines, judged on their original text (they are gone from the AST)."""
    for line_no, text in stripped.ipython_lines:
        assigned = _ASSIGNED_MAGIC.match(text)
        body = text[len(assigned.group(1)) :].strip() if assigned else text.strip()
        if body.startswith("%%"):
            if stripped.cell_magic in _SHELL_CELL_MAGICS:
                yield line_no, SHELL, f"%%{stripped.cell_magic}"
        elif body.startswith(("!", "%")):
            yield from _risky_command(line_no, body)


def _risky_command(line_no: int, body: str) -> Iterator[_Risk]:
    """`body` is `!command` or `%magic args`; `%pip install` is network access even though it is no shell."""
    if body.startswith("!"):
        command = body.lstrip("!").strip()
        yield line_no, SHELL, "!" + (command.split() or [""])[0]
    else:
        name, _, command = body[1:].partition(" ")
        if name in _SHELL_LINE_MAGICS:
            command = command.strip()
            yield line_no, SHELL, f"%{name}"
        else:
            command = body[1:]
    if _COMMAND_NETWORK.search(command):
        yield line_no, NETWORK, " ".join(command.split()[:2])
    if _COMMAND_DELETE.match(command):
        yield line_no, DELETES, command.split()[0]


def _risk_problems(risks: Iterable[_Risk]) -> list[Problem]:
    """One Problem per line and reason: `requests.get(requests.get(...))` is one risk, not two."""
    seen: set[tuple[int, str]] = set()
    problems: list[Problem] = []
    for line, reason, what in risks:
        if (line, reason) not in seen:
            seen.add((line, reason))
            problems.append(Problem(RISKY, f"line {line}: {reason} ({what})", line))
    return problems
