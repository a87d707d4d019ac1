"""What in a cell's Python touches the shell, the disk, the network or runs code it was handed — read, never run.

checks.py turns IPython syntax into the Python IPython runs and hands the parsed nodes here. The hard part is
that a risky callee need not be spelled plainly: `o = os; o.system(...)`, `getattr(os, 'sys' + 'tem')`,
`importlib.import_module('os')`, `sys.modules['os']`, `e = eval`, `builtins.exec`, `from subprocess import *`,
`ip = get_ipython(); ip.system(cmd)`. `Names` follows those bindings and lookups back to a dotted name
(`os.system`) before `classify` judges it; a lookup whose name is computed at run time on a risky module is a
risk of its own, since nobody can tell what it reaches.

Writing files is judged by the target, not the call: `open("summary.json", "w")` and the project writer's
`firmware/` folder are what a notebook does, while a hidden file (`~/.bashrc`, `.git/hooks/...`), a system
path or a file that runs later (`*.py`, `*.pth`, `*.sh`) is how code outlives its cell. Environment variables
likewise: `%env` and `os.environ[...] =` are flagged for the names that change what programs load or where
they connect (PATH, LD_PRELOAD, PYTHON*, proxies, ...), and `%env` alone, which prints every value.
"""
from __future__ import annotations

import ast
import functools
import re
from typing import Iterator, Sequence

__all__ = ["Names", "Risk", "classify", "dangerous_path", "ipython_call", "ipython_risks", "risky_nodes"]

SHELL = "runs a shell command"
DELETES = "deletes files"
MOVES = "moves files"
NETWORK = "network access"
DYNAMIC = "runs code built at run time"
RUNS_FILE = "runs code from another file"
WRITES = "writes a hidden, system or code file"
UNPICKLE = "loads a pickle (which runs code stored in it)"
NATIVE = "loads native code"
ENVIRON = "changes environment variables that decide what runs"
PRINTS_ENV = "prints every environment variable, secrets included"

# (line, reason, what): reason is one of the constants above, what names the call, command or file.
Risk = tuple[int, str, str]

COMPUTED = "<computed>"  # a name looked up at run time: getattr(os, name), import_module(name)

_NETWORK_MODULES = (
    "requests", "urllib.request", "http.client", "socket", "httpx", "aiohttp", "ftplib", "smtplib", "urllib3",
    "webbrowser", "telnetlib", "paramiko", "xmlrpc.client", "imaplib", "poplib",
)
_NATIVE_MODULES = ("ctypes", "_ctypes", "cffi")
# Calls outside the network modules that download: urllib's urlretrieve and Keras' dataset fetcher.
_NETWORK_SUFFIXES = ("urlretrieve", "utils.get_file")
_SHELL_CALLS = frozenset({
    "os.system", "os.popen", "os.fork", "os.forkpty", "os.startfile", "posix.system", "nt.system", "pty.spawn",
    "pty.fork", "platform.popen", "get_ipython().system", "get_ipython().getoutput", "get_ipython().system_piped",
    "get_ipython().system_raw",
})
_SHELL_PREFIXES = (
    "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "asyncio.create_subprocess_", "asyncio.subprocess.",
    "_posixsubprocess.", "commands.",
)
_DELETE_CALLS = frozenset({"os.remove", "os.unlink", "os.rmdir", "os.removedirs", "shutil.rmtree"})
_MOVE_CALLS = frozenset({"shutil.move", "os.replace", "os.rename", "os.renames"})
_DYNAMIC_CALLS = frozenset({
    "eval", "exec", "__import__", "runpy.run_path", "runpy.run_module", "code.interact",
    "get_ipython().run_cell", "get_ipython().run_cell_async", "get_ipython().ex", "get_ipython().ev",
    "get_ipython().run_code", "get_ipython().run_ast_nodes", "get_ipython().run_line_magic",
    "get_ipython().run_cell_magic", "get_ipython().magic", "get_ipython().safe_execfile",
    "get_ipython().safe_execfile_ipy", "get_ipython().safe_run_module",
})
_UNPICKLE_CALLS = frozenset({
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "cPickle.load",
    "cPickle.loads", "dill.load", "dill.loads", "cloudpickle.load", "cloudpickle.loads", "joblib.load",
    "marshal.load", "marshal.loads", "shelve.open", "pandas.read_pickle",
})
# Where a lookup with a computed name cannot be told apart from a risky call.
_RISKY_ROOTS = frozenset({
    "os", "posix", "nt", "subprocess", "shutil", "pty", "ctypes", "pickle", "importlib", "sys", "builtins",
    "__builtins__", "socket", "webbrowser", "asyncio", "runpy", "get_ipython()", "<globals>",
})
_HOME_VARIABLES = frozenset({"HOME", "USERPROFILE"})
_BUILTIN_MODULES = frozenset({"builtins", "__builtins__"})
# Import names notebooks use without importing them in the cell at hand (an earlier cell did).
_CONVENTIONAL = {"pd": "pandas", "np": "numpy"}
# What `get_ipython()` stands for: its methods that run what they are handed are in _SHELL_CALLS and
# _DYNAMIC_CALLS; called with literal arguments only, the text they run is judged instead (ipython_risks).
_IPYTHON_RECEIVER = "get_ipython()"


def ipython_call(node: ast.AST, names: "Names | None" = None) -> tuple[str, list[str]] | None:
    """`get_ipython().system('ls')` -> ("system", ["ls"]): what IPython syntax became, every argument a literal.

    With `names`, the receiver may be an alias (`ip = get_ipython(); ip.system('ls')`).
    """
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    receiver = node.func.value
    if names is not None:
        if names.dotted(receiver) != _IPYTHON_RECEIVER:
            return None
    elif not (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name)
              and receiver.func.id == "get_ipython"):
        return None
    texts = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return (node.func.attr, texts) if texts and len(texts) == len(node.args) and not node.keywords else None


class Names:
    """What the cell's names and lookups stand for, as dotted names: imports, plain assignments (`o = os`),
    `getattr` with a name that is a constant expression, `importlib.import_module`, `sys.modules[...]`,
    `builtins.X` and star imports. Scope is ignored, as in the name check: a binding anywhere counts."""

    def __init__(self, nodes: Sequence[ast.AST]) -> None:
        self.imports: dict[str, str] = {}
        self.star_modules: list[str] = []
        self.values: dict[str, list[str]] = {}
        self.strings: dict[str, str] = {}
        self.paths: dict[str, str] = {}
        pairs: list[tuple[str, ast.expr]] = []
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    if alias.name == "*":
                        self.star_modules.append(node.module)
                    else:
                        self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    pairs.extend(_assigned_pairs(target, node.value))
        # A few passes resolve chains written in any order (`s = o.system` above `o = os` in a loop body).
        for _ in range(3):
            changed = False
            for name, value in pairs:
                text = self.string(value)
                if text is not None and self.strings.get(name) != text:
                    self.strings[name], changed = text, True
                path = self.path(value)
                if path is not None and self.paths.get(name) != path:
                    self.paths[name], changed = path, True
                dotted = self.dotted(value)
                if dotted is not None and dotted != name and dotted not in self.values.setdefault(name, []):
                    self.values[name].append(dotted)
                    changed = True
            if not changed:
                break
        # From here on the bindings are settled, so each node's dotted name is worked out once.
        self._settled: dict[int, str | None] = {}

    # -- dotted names --------------------------------------------------------------------------------------

    def dotted(self, expr: ast.expr) -> str | None:
        """The dotted name `expr` stands for (`sp.run` -> `subprocess.run`), or None when it is no plain lookup."""
        settled = getattr(self, "_settled", None)
        if settled is None:
            return self._dotted(expr)
        key = id(expr)
        if key not in settled:
            settled[key] = self._dotted(expr)
        return settled[key]

    def _dotted(self, expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            return self._name(expr.id)
        if isinstance(expr, ast.Attribute):
            base = self.dotted(expr.value)
            return None if base is None else _member(base, expr.attr)
        if isinstance(expr, ast.NamedExpr):
            return self.dotted(expr.value)
        if isinstance(expr, ast.Call):
            return self._call(expr)
        if isinstance(expr, ast.Subscript):
            return self._subscript(expr)
        return None

    def _name(self, name: str) -> str:
        candidates = self.values.get(name)
        if candidates:
            # A name bound several times stands for the risky binding, if any: flagging is the safe side.
            return next((c for c in candidates if classify(c)), candidates[-1])
        if name in self.imports:
            return self.imports[name]
        for module in self.star_modules:
            if classify(f"{module}.{name}"):
                return f"{module}.{name}"
        return _CONVENTIONAL.get(name, name)

    def _call(self, call: ast.Call) -> str | None:
        func = self.dotted(call.func)
        args = call.args
        if func == "getattr" and len(args) >= 2:
            base = self.dotted(args[0])
            return None if base is None else _member(base, self.string(args[1]) or COMPUTED)
        if func in {"importlib.import_module", "__import__"} and args:
            return self.string(args[0]) or COMPUTED
        if func == "get_ipython" and not args:
            return _IPYTHON_RECEIVER
        if func in {"globals", "locals"} or (func == "vars" and not args):
            return "<globals>"
        if func == "vars" and len(args) == 1:
            base = self.dotted(args[0])
            return None if base is None else f"{base}.__dict__"
        if func == "sys.modules.get" and args:
            return self.string(args[0]) or COMPUTED
        return None

    def _subscript(self, subscript: ast.Subscript) -> str | None:
        base = self.dotted(subscript.value)
        if base is None:
            return None
        key = self.string(subscript.slice)
        if base == "sys.modules":
            return key or COMPUTED
        if base == "<globals>":
            return self._name(key) if key else COMPUTED
        if base in _BUILTIN_MODULES:  # `__builtins__` is a dict outside __main__
            return key or COMPUTED
        if base.endswith(".__dict__"):
            return _member(base[: -len(".__dict__")], key or COMPUTED)
        return None

    # -- strings and paths ---------------------------------------------------------------------------------

    def string(self, expr: ast.expr) -> str | None:
        """The text of a string built from constants (`'sys' + 'tem'`, `''.join([...])`, `'metsys'[::-1]`)."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name):
            return self.strings.get(expr.id)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left, right = self.string(expr.left), self.string(expr.right)
            return left + right if left is not None and right is not None else None
        if isinstance(expr, ast.JoinedStr):
            parts = [self.string(v) if not isinstance(v, ast.FormattedValue) else self.string(v.value)
                     for v in expr.values]
            return "".join(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Slice):
            text = self.string(expr.value)
            step = expr.slice.step
            if text is not None and expr.slice.lower is None and expr.slice.upper is None:
                if step is None:
                    return text
                if isinstance(step, ast.UnaryOp) and isinstance(step.operand, ast.Constant) and step.operand.value == 1:
                    return text[::-1]
            return None
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and len(expr.args) == 1:
            joiner = self.string(expr.func.value)
            if expr.func.attr == "join" and joiner is not None and isinstance(expr.args[0], (ast.List, ast.Tuple)):
                parts = [self.string(e) for e in expr.args[0].elts]
                return joiner.join(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
        if isinstance(expr, ast.Call) and self.dotted(expr.func) == "str" and len(expr.args) == 1:
            return self.string(expr.args[0])
        return None

    def path(self, expr: ast.expr) -> str | None:
        """A sketch of the file path `expr` names, `*` for parts known only at run time; None when nothing is
        known. `Path.home() / '.bashrc'` -> `~/.bashrc`, `f"{name}.py"` -> `*.py`."""
        text = self.string(expr)
        if text is not None:
            return text
        if isinstance(expr, ast.Name):
            return self.paths.get(expr.id)
        if isinstance(expr, ast.JoinedStr):
            parts = [self.string(v.value if isinstance(v, ast.FormattedValue) else v) for v in expr.values]
            return "".join(p if p is not None else "*" for p in parts)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Div, ast.Add)):
            left, right = self.path(expr.left), self.path(expr.right)
            if left is None and right is None:
                return None
            glue = "/" if isinstance(expr.op, ast.Div) else ""
            return f"{left if left is not None else '*'}{glue}{right if right is not None else '*'}"
        if isinstance(expr, ast.Attribute) and expr.attr == "parent":
            inner = self.path(expr.value)
            return inner.rsplit("/", 1)[0] if inner and "/" in inner else None
        if isinstance(expr, ast.Subscript) and self.dotted(expr.value) == "os.environ":
            return "~" if self.string(expr.slice) in _HOME_VARIABLES else None
        if not isinstance(expr, ast.Call):
            return None
        func = self.dotted(expr.func)
        args = [self.path(a) for a in expr.args]
        if func in {"pathlib.Path.home", "Path.home"}:
            return "~"
        if func == "os.path.expanduser" and args:
            return args[0]
        if func in {"os.getenv", "os.environ.get"} and expr.args and self.string(expr.args[0]) in _HOME_VARIABLES:
            return "~"
        if func in {"pathlib.Path", "Path", "pathlib.PurePath", "pathlib.PosixPath", "os.path.join", "str",
                    "os.fspath", "os.path.abspath", "os.path.realpath"} and args:
            if all(a is None for a in args):
                return None
            return "/".join(a if a is not None else "*" for a in args)
        if isinstance(expr.func, ast.Attribute):
            base = self.path(expr.func.value)
            if base is None:
                return None
            attr = expr.func.attr
            if attr == "joinpath":
                return "/".join([base, *(a if a is not None else "*" for a in args)])
            if attr in {"with_suffix"} and args and args[0] is not None:
                return re.sub(r"\.[^./]*$", "", base) + args[0]
            if attr in {"with_name"} and args and args[0] is not None:
                return (base.rsplit("/", 1)[0] + "/" if "/" in base else "") + args[0]
            if attr in {"expanduser", "resolve", "absolute"}:
                return base
        return None


def _assigned_pairs(target: ast.expr, value: ast.expr) -> Iterator[tuple[str, ast.expr]]:
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
        if len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts):
                yield from _assigned_pairs(t, v)


def _member(base: str, attr: str) -> str:
    # `builtins.exec` and `__builtins__.exec` are `exec` itself.
    return attr if base in _BUILTIN_MODULES else f"{base}.{attr}"


def _in_modules(dotted: str, modules: Sequence[str]) -> bool:
    return any(dotted == m or dotted.startswith(m + ".") for m in modules)


@functools.lru_cache(maxsize=4096)  # a cell names the same few callees over and over
def classify(dotted: str) -> tuple[str, str] | None:
    """(reason, what) for a risky dotted name, or None."""
    if dotted == COMPUTED or dotted.endswith("." + COMPUTED):
        root = dotted.rsplit(".", 1)[0] if "." in dotted else ""
        if not root or root.split(".")[0] in _RISKY_ROOTS:
            return DYNAMIC, f"{root or 'builtins'}.{COMPUTED}"
        return None
    if dotted in _SHELL_CALLS or dotted.startswith(_SHELL_PREFIXES):
        return SHELL, dotted
    if dotted in _DELETE_CALLS:
        return DELETES, dotted
    if dotted in _MOVE_CALLS:
        return MOVES, dotted
    if dotted in _DYNAMIC_CALLS:
        return DYNAMIC, dotted
    if dotted in _UNPICKLE_CALLS:
        return UNPICKLE, dotted
    if _in_modules(dotted, _NATIVE_MODULES):
        return NATIVE, dotted
    if _in_modules(dotted, _NETWORK_MODULES) or dotted.endswith(_NETWORK_SUFFIXES):
        return NETWORK, dotted
    return None


# --- the walk -----------------------------------------------------------------------------------------------

# Methods whose receiver is the file written (pathlib), and calls whose argument at an index is.
_PATH_WRITE_METHODS = frozenset({"write_text", "write_bytes"})
_WRITE_TARGET_ARG = {
    "shutil.copy": 1, "shutil.copy2": 1, "shutil.copyfile": 1, "shutil.copytree": 1, "shutil.move": 1,
    "os.replace": 1, "os.rename": 1, "os.symlink": 1, "os.link": 1, "urllib.request.urlretrieve": 1,
}
_SAVE_METHODS = frozenset({"to_csv", "to_json", "to_pickle", "to_parquet", "save", "savez", "savetxt", "savefig",
                           "tofile", "save_weights", "export"})
_OPEN_CALLS = frozenset({"open", "io.open", "codecs.open"})
_PATH_DELETE_METHODS = frozenset({"unlink", "rmdir"})
# Callees a URL is only shown by, never fetched.
_SHOWS_TEXT = frozenset({"print", "display", "Markdown", "HTML", "Latex", "repr", "str", "len", "isinstance",
                         "logging.info", "logging.warning", "logging.debug", "warnings.warn"})
_STRING_METHODS = frozenset({"format", "startswith", "endswith", "replace", "split", "strip", "join", "encode",
                             "append", "extend", "add", "info", "warning", "debug", "error", "write"})
_URL = re.compile(r"^(?:https?|ftp|s3|gs|hf|wss?)://", re.IGNORECASE)


_LOOKUPS = (ast.Name, ast.Attribute, ast.Subscript)
_WHOLE_MODULES = frozenset({*_NETWORK_MODULES, *_NATIVE_MODULES})  # judged at their import


def risky_nodes(nodes: Sequence[ast.AST]) -> Iterator[Risk]:
    """Every risk in the parsed cell: calls, references to risky callables (`map(os.system, ...)`), imports,
    IPython magics and shell escapes, file writes to dangerous targets and URL arguments."""
    names = Names(nodes)
    callees = {id(node.func) for node in nodes if isinstance(node, ast.Call)}  # judged with their call
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from _risky_import(node)
        elif isinstance(node, ast.Call):
            yield from _risky_call(node, names)
        elif isinstance(node, _LOOKUPS) and isinstance(node.ctx, ast.Load) and id(node) not in callees:
            dotted = names.dotted(node)
            risk = classify(dotted) if dotted else None
            # A bare module name is judged at its import; here only what it reaches.
            if risk and dotted not in _WHOLE_MODULES:
                yield (node.lineno, *risk)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and names.dotted(target.value) == "os.environ":
                    yield from _environment_write(node.lineno, names.string(target.slice), "os.environ")


def _risky_import(node: ast.Import | ast.ImportFrom) -> Iterator[Risk]:
    if isinstance(node, ast.Import):
        dotted = [alias.name for alias in node.names]
    elif node.level == 0 and node.module:
        dotted = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")]
        if any(alias.name == "*" for alias in node.names):
            module = node.module
            # The module is judged by what its star import binds: `from subprocess import *` binds `run`.
            probes = (classify(f"{module}.{probe}") for probe in ("system", "run", "spawn", "rmtree", "loads"))
            star = next((risk for risk in probes if risk), None)
            if star:
                yield node.lineno, star[0], f"from {module} import *"
    else:
        return
    for name in dotted:
        if _in_modules(name, _NETWORK_MODULES):
            yield node.lineno, NETWORK, name
        elif _in_modules(name, _NATIVE_MODULES):
            yield node.lineno, NATIVE, name


def _risky_call(node: ast.Call, names: Names) -> Iterator[Risk]:
    line = node.lineno
    magic = ipython_call(node, names)
    if magic is not None:
        yield from ipython_risks(line, *magic)
        return
    dotted = names.dotted(node.func)
    risk = classify(dotted) if dotted else None
    if risk:
        yield (line, *risk)
    reached = names.dotted(node)  # getattr(os, 'system'), import_module(...): what the call itself hands back
    reached_risk = classify(reached) if reached and reached not in _WHOLE_MODULES else None
    if reached_risk:
        yield (line, *reached_risk)
    if dotted in {"numpy.load", "np.load"} and any(
        k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value is True for k in node.keywords
    ):
        yield line, UNPICKLE, "numpy.load(allow_pickle=True)"
    if dotted in {"os.putenv", "os.environ.setdefault"} and node.args:
        yield from _environment_write(line, names.string(node.args[0]), dotted)
    elif dotted == "os.environ.update":
        keys: list[str | None] = [k.arg for k in node.keywords if k.arg]
        for arg in node.args:  # a dict literal names its keys; anything else could set any variable
            keys += [names.string(k) if k else None for k in arg.keys] if isinstance(arg, ast.Dict) else [None]
        for key in keys:
            yield from _environment_write(line, key, dotted)
    yield from _file_write(node, dotted, names)
    yield from _url_argument(node, dotted, names)
    if isinstance(node.func, ast.Attribute) and node.func.attr in _PATH_DELETE_METHODS and not risk:
        # `path.unlink()` on a pathlib.Path: the receiver's type is unknown, so the method name decides.
        text = ast.unparse(node.func)
        yield line, DELETES, text if len(text) <= 40 else f".{node.func.attr}()"


def _file_write(node: ast.Call, dotted: str | None, names: Names) -> Iterator[Risk]:
    """A write whose target is a hidden, system or code file."""
    target: ast.expr | None = None
    func = node.func
    if dotted in _OPEN_CALLS and node.args and _writes(_mode(node, 1, names)):
        target = node.args[0]
    elif dotted in _WRITE_TARGET_ARG and len(node.args) > _WRITE_TARGET_ARG[dotted]:
        target = node.args[_WRITE_TARGET_ARG[dotted]]
    elif isinstance(func, ast.Attribute) and func.attr in _PATH_WRITE_METHODS:
        target = func.value
    elif isinstance(func, ast.Attribute) and func.attr == "open" and _writes(_mode(node, 0, names)):
        target = func.value
    elif isinstance(func, ast.Attribute) and func.attr in _SAVE_METHODS and node.args:
        target = node.args[0]
    if target is None:
        return
    path = names.path(target)
    if path is not None and dangerous_path(path):
        yield node.lineno, WRITES, path


def _mode(node: ast.Call, index: int, names: Names) -> str:
    for keyword in node.keywords:
        if keyword.arg == "mode":
            return names.string(keyword.value) or "w"  # unknown mode: may write
    return (names.string(node.args[index]) or "w") if len(node.args) > index else "r"


def _writes(mode: str) -> bool:
    return any(c in mode for c in "wax+")


# A file that runs or configures code later, wherever it is written.
_CODE_SUFFIXES = (
    ".py", ".pyw", ".pyc", ".pth", ".sh", ".bash", ".zsh", ".fish", ".so", ".dylib", ".dll", ".exe", ".bat",
    ".cmd", ".ps1", ".ipynb", ".desktop", ".service", ".plist",
)
_CODE_NAMES = frozenset({"authorized_keys", "crontab", "sitecustomize", "usercustomize"})
_SYSTEM_ROOTS = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/boot", "/var", "/opt", "/root", "/System", "/Library")


def dangerous_path(path: str) -> bool:
    """Whether writing `path` (a sketch: `*` for unknown parts) can change what runs later or hide a change:
    any hidden part (`~/.bashrc`, `.git/hooks/x`), a system folder, or a code/startup file name."""
    path = path.replace("\\", "/").strip()
    parts = [p for p in path.split("/") if p]
    if any(p.startswith(".") and p not in {".", ".."} for p in parts):
        return True
    if path.startswith(_SYSTEM_ROOTS) or re.match(r"^[A-Za-z]:/(?:Windows|Program Files)", path):
        return True
    name = parts[-1].lower() if parts else ""
    return name.endswith(_CODE_SUFFIXES) or name.split(".")[0] in _CODE_NAMES


def _url_argument(node: ast.Call, dotted: str | None, names: Names) -> Iterator[Risk]:
    """`pd.read_csv("https://...")`: a reader handed a URL downloads; showing the URL does not."""
    if dotted in _SHOWS_TEXT or (isinstance(node.func, ast.Attribute) and node.func.attr in _STRING_METHODS):
        return
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        text = names.string(arg)
        if text is not None and _URL.match(text.strip()):
            callee = dotted or (node.func.attr if isinstance(node.func, ast.Attribute) else "call")
            yield node.lineno, NETWORK, f"{callee}({text.strip()[:40]})"
            return


# --- IPython syntax -----------------------------------------------------------------------------------------

# Shell commands that deserve a more specific reason than "runs a shell command".
_COMMAND_NETWORK = re.compile(r"\b(?:pip3?|conda|mamba)\s+install\b|^(?:wget|curl|git\s+clone)\b")
_COMMAND_DELETE = re.compile(r"^(?:rm|rmdir)\b")
_SHELL_LINE_MAGICS = frozenset({"sx", "system"})
_SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system", "sx", "python", "python2", "python3", "pypy",
                                "perl", "ruby"})
_BROWSER_CELL_MAGICS = frozenset({"javascript", "js"})
_WRITE_CELL_MAGICS = frozenset({"writefile", "file"})
_RUN_LINE_MAGICS = frozenset({"run"})
_ENV_LINE_MAGICS = frozenset({"env", "set_env"})
# Line magics that run the Python statement they are given (after their options).
_STATEMENT_LINE_MAGICS = frozenset({"time", "timeit", "prun", "debug"})
# Environment variables that decide which programs and libraries load, what Python runs at start-up, or where
# connections go. Others (TF_CPP_MIN_LOG_LEVEL, a cost-map switch) are settings.
_DANGEROUS_ENV = re.compile(
    r"^(?:PATH|LD_\w+|DYLD_\w+|PYTHON\w*|\w*_PRELOAD|HOME|SHELL|BASH_ENV|ENV|PROMPT_COMMAND|IFS|BROWSER|EDITOR|"
    r"VISUAL|PAGER|GIT_\w+|PIP_\w+|UV_\w+|CONDA_\w+|SSL_CERT_\w+|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|\w*_PROXY|"
    r"NODE_OPTIONS|JUPYTER_\w+|IPYTHONDIR|TMPDIR)$",
    re.IGNORECASE,
)


def ipython_risks(line: int, method: str, args: list[str]) -> Iterator[Risk]:
    """Risks of a magic or shell escape, judged on the command text IPython would run."""
    if method in {"system", "getoutput", "system_piped", "system_raw"}:  # `!cmd`, `x = !cmd`
        command = args[0].strip()
        yield line, SHELL, "!" + (command.split() or [""])[0]
    elif method == "run_line_magic":
        name, rest = args[0], (args[1] if len(args) > 1 else "")
        if name in _SHELL_LINE_MAGICS:
            command = rest.strip()
            yield line, SHELL, f"%{name}"
        elif name in _RUN_LINE_MAGICS:
            yield line, RUNS_FILE, f"%run {rest.strip()}"[:60]
            return
        elif name in _ENV_LINE_MAGICS:
            yield from _env_magic(line, name, rest)
            return
        elif name in _STATEMENT_LINE_MAGICS:
            yield from _statement_risks(line, rest)
            return
        else:
            command = f"{name} {rest}"  # `%pip install x` is network access even though it is no shell
    elif method == "run_cell_magic" and len(args) >= 2:
        name = args[0]
        if name in _SHELL_CELL_MAGICS:
            yield line, SHELL, f"%%{name}"
        elif name in _BROWSER_CELL_MAGICS:
            yield line, DYNAMIC, f"%%{name}"
        elif name in _WRITE_CELL_MAGICS:
            target = _magic_target(args[1])
            if target is None or dangerous_path(target):
                yield line, WRITES, f"%%{name} {target or args[1].strip()}"
        return
    else:
        risk = classify(f"{_IPYTHON_RECEIVER}.{method}")  # run_cell('...') runs code; set_next_input does not
        if risk:
            yield (line, *risk)
        return
    if _COMMAND_NETWORK.search(command):
        yield line, NETWORK, " ".join(command.split()[:2])
    if _COMMAND_DELETE.match(command):
        yield line, DELETES, command.split()[0]


def _magic_target(line: str) -> str | None:
    """The file `%%writefile [-a] FILE` writes; `$x` and `{x}` (expanded by IPython at run time) become `*`."""
    words = [w.strip("'\"") for w in _MAGIC_WORD.findall(line) if not w.startswith("-")]  # linear, unlike shlex
    if not words:
        return None
    return re.sub(r"\$\{?\w+\}?|\{[^{}]*\}", "*", words[-1])  # [^{}]: linear on a run of `{`


_MAGIC_WORD = re.compile(r""""[^"]*"|'[^']*'|\S+""")


def _env_magic(line: int, name: str, rest: str) -> Iterator[Risk]:
    text = rest.strip()
    if not text:
        yield line, PRINTS_ENV, f"%{name}"
        return
    match = re.match(r"([^\s=]+)\s*(=|\s)\s*", text)
    if match is None:
        return  # `%env NAME` shows one value
    variable = match[1]
    yield from _environment_write(line, None if "$" in variable or "{" in variable else variable, f"%{name}")


def _environment_write(line: int, variable: str | None, how: str) -> Iterator[Risk]:
    """A variable set by `how` (`%env`, `os.environ`, `os.putenv`): risky when it decides what runs, or unknown."""
    if variable is None or _DANGEROUS_ENV.match(variable):
        yield line, ENVIRON, f"{how} {variable or COMPUTED}"


_MAX_OPTION_WORDS = 8  # `%timeit -n 3 -r 2 -q stmt`: a long line of prose is not parsed again and again


def _statement_risks(line: int, rest: str) -> Iterator[Risk]:
    """Risks of the statement after a magic's options (`%timeit -n 3 os.system('ls')`), at the magic's line."""
    words = rest.split(" ")
    # The statement starts at 0 or after an option word (`-n`) and its value: a few tries, not one per word.
    options = [i for i, word in enumerate(words[:_MAX_OPTION_WORDS]) if word.startswith("-")]
    starts = sorted({0, *(i + 1 for i in options), *(i + 2 for i in options)})
    for start in starts:
        source = " ".join(words[start:]).strip()
        if not source:
            return
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for _, reason, what in risky_nodes(list(ast.walk(tree))):
            yield line, reason, what
        return
