"""The evaluation's controller: what it plans to run of a notebook, what it estimates, how it records, resumes,
refuses and stops — and one real run in a fresh kernel (the offline recipes answer, the real probe judges).

The full loop against a scripted model (repairs, fallbacks, fatal errors, the virtual board) is test_eval_loop.py.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_tinyml.eval import cli
from jupyter_tinyml.eval.estimate import AskEstimate, describe, estimate
from jupyter_tinyml.eval.plan import (
    LOAD_EXTENSION,
    BadStageLineError,
    NoStageCellError,
    NotANotebookError,
    NotebookNotFoundError,
    RepeatedStageError,
    StageStep,
    plan_notebook,
)
from jupyter_tinyml.eval.progress import Progress
from jupyter_tinyml.eval.records import STAGES, RunRecord, StageResult
from jupyter_tinyml.eval.runner import STOP_VIRTUAL_BOARDS, EvaluationStoppedError, kernel_environment, run_stages
from jupyter_tinyml.eval.settings import EvalSettings
from jupyter_tinyml.eval.store import OtherEvaluationError, Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "example_notebooks").glob("0*_*.ipynb"))
PROMPTS = ROOT / "jupyter_tinyml" / "stages" / "prompts"
# A dataset the prep recipe can split, made in the notebook's setup: three classes of 4x4 "images".
TINY_DATA = (
    "import numpy as np\n"
    "rng = np.random.default_rng(0)\n"
    "images = rng.normal(size=(60, 4, 4))\n"
    "labels = np.arange(60) % 3\n"
    "images[np.arange(60), 0, 0] += labels * 3"
)


def write_notebook(path: Path, *sources: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)
    return path


def settings_for(tmp_path: Path, **changes: Any) -> EvalSettings:
    values: dict[str, Any] = dict(model="openai/m", notebooks=[str(EXAMPLES[0])], out=str(tmp_path / "out"))
    values.update(changes)
    return EvalSettings(**values)


def record(notebook: str, run: int, *kinds: str, tokens: int = 0) -> RunRecord:
    stages = [StageResult(stage, kind=kind, prompt_tokens=tokens) for stage, kind in zip(STAGES, kinds)]
    return RunRecord(notebook, run, "openai/m", stages=stages)


# ---- plan ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_plan_of_each_example_notebook_runs_its_setup_then_the_four_stages_with_run(path: Path) -> None:
    plan = plan_notebook(path)
    notebook = nbformat.read(path, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    first_stage = next(index for index, source in enumerate(code) if source.startswith("%%tinyml_"))

    assert plan.name == path.stem
    assert plan.stages == ["prep", "train", "convert", "deploy"]
    assert list(plan.setup) == code[:first_stage]
    assert plan.setup[0].startswith(LOAD_EXTENSION)
    for step in plan.steps:
        line = step.magic.splitlines()[0]
        assert line.startswith(f"%%tinyml_{step.stage} ") and line.split().count("--run") == 1
        assert step.magic.endswith(step.request) and step.request.strip()
        assert step.before == ()
    assert "--board nano33ble" in plan.steps[2].magic and "--board virtual-cortex-m4" in plan.steps[3].magic
    # The notebook's own checks after the last stage (the panel's cell, the summary) are not part of a run.
    planned = "\n".join([*plan.setup, *(step.magic for step in plan.steps)])
    assert "deploy_panel.build()" not in planned and "summary.json" not in planned


def test_plan_adds_run_and_the_extension_and_drops_a_pinned_model(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "pinned.ipynb", TINY_DATA,
                          "%%tinyml_prep --model openai/other -b nano33ble\nsplit it", "print('between')",
                          "%%tinyml_train --budget 500\ntrain it", "print('after the last stage')")
    plan = plan_notebook(path)
    assert plan.setup == (LOAD_EXTENSION, TINY_DATA)
    assert plan.steps[0].magic == "%%tinyml_prep -b nano33ble --run\nsplit it"
    assert plan.steps[1] == StageStep("train", "%%tinyml_train --budget 500 --run\ntrain it", "train it",
                                      before=("print('between')",))
    assert plan.steps[1].context_budget == 500 and plan.steps[0].context_budget is None


@pytest.mark.parametrize(("sources", "refusal"), [
    ((TINY_DATA, "print('no stage')"), NoStageCellError),
    (("%%tinyml_prep\nsplit", "%%tinyml_prep\nagain"), RepeatedStageError),
    (("%%tinyml_prep --budget 'lots\nsplit",), BadStageLineError),
])
def test_plan_refuses_a_notebook_it_cannot_judge(tmp_path: Path, sources: tuple[str, ...], refusal: type) -> None:
    with pytest.raises(refusal) as raised:
        plan_notebook(write_notebook(tmp_path / "odd.ipynb", *sources))
    assert "odd.ipynb" in str(raised.value) and "\n" not in str(raised.value)


def test_plan_refuses_a_missing_file_and_a_file_that_is_no_notebook(tmp_path: Path) -> None:
    with pytest.raises(NotebookNotFoundError, match="no notebook at"):
        plan_notebook(tmp_path / "missing.ipynb")
    (tmp_path / "notes.txt").write_text("not json")
    with pytest.raises(NotANotebookError, match="not a Jupyter notebook"):
        plan_notebook(tmp_path / "notes.txt")


# ---- estimate ------------------------------------------------------------------------------------------------

def test_estimate_counts_the_prompt_files_the_context_budget_the_request_and_the_answer(tmp_path: Path) -> None:
    plan = plan_notebook(EXAMPLES[0])
    settings = settings_for(tmp_path, max_repairs=2, token_budget=2000, max_tokens=1000)
    found = estimate([plan], [(plan.name, 1), (plan.name, 2)], settings)
    prep = found.asks[plan.name][0]

    system = "\n".join((PROMPTS / name).read_text(encoding="utf-8") for name in ("system.md", "prep.md"))
    user = f"Notebook context:\n\n\nRequest:\n{plan.steps[0].request.strip()}"
    assert prep.prompt_tokens == math.ceil(len(system) / 4) + math.ceil(len(user) / 4) + 2000
    assert prep.typical == prep.prompt_tokens + 1000
    # Three rounds; the second resends one answer and one repair request, the third two of each.
    assert prep.worst == 3 * prep.prompt_tokens + 3 * 1000 + 3 * (1000 + prep.repair_tokens)
    assert found.typical == 2 * sum(ask.typical for ask in found.asks[plan.name])


def test_estimate_says_how_many_runs_a_budget_allows(tmp_path: Path) -> None:
    ask = AskEstimate("prep", prompt_tokens=600, answer_tokens=400, repair_tokens=10, rounds=2)  # 1,000 / 2,410
    plans = [plan_notebook(write_notebook(tmp_path / f"{name}.ipynb", "%%tinyml_prep\nsplit")) for name in "ab"]
    order = [(plan.name, run) for run in (1, 2) for plan in plans]
    found = estimate(plans, order, settings_for(tmp_path))
    found.asks.update({"a": [ask], "b": [ask]})
    assert (found.runs_within(3_500), found.runs_within(3_500, worst=True)) == (3, 1)
    lines = describe(found, settings_for(tmp_path, max_tokens_total=4_000, max_repairs=1), spent=500)
    assert lines[0] == ("tokens, estimated: ~4,000 if every stage is answered in 1 round, at most ~9,640 if every "
                        "stage takes all 2 rounds")
    assert lines[-1] == ("budget: 3,500 tokens left of 4,000 (500 spent by earlier runs): "
                         "enough for ~3 of the 4 runs to do (at worst 1)")
    offline = settings_for(tmp_path, model="offline")
    assert describe(found, offline) == ["tokens: none (offline recipes answer every stage)"]


# ---- store ---------------------------------------------------------------------------------------------------

def test_store_resumes_with_the_runs_recorded_and_refuses_other_settings(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = Store(settings.out_dir)
    assert store.open(settings) == []
    store.append(record("01_digits_lifecycle", 1, "ok", "runtime_error", tokens=120))
    store.append(record("01_digits_lifecycle", 2, "ok"))

    more_runs = settings_for(tmp_path, runs=9, max_tokens_total=10_000)  # how far to go may change
    resumed = Store(settings.out_dir).open(more_runs)
    assert [(run.key, run.tokens, [stage.kind for stage in run.stages]) for run in resumed] == [
        (("01_digits_lifecycle", 1), 240, ["ok", "runtime_error"]), (("01_digits_lifecycle", 2), 0, ["ok"])]
    assert json.loads(store.settings_path.read_text())["runs"] == 9

    with pytest.raises(OtherEvaluationError) as refused:
        store.open(settings_for(tmp_path, model="openai/other", accuracy_floor=0.9))
    assert str(refused.value) == (
        f"{settings.out_dir} holds an evaluation with other settings (model: 'openai/m' there, 'openai/other' now; "
        "accuracy_floor: 0.8 there, 0.9 now): give another --out, or the same settings to resume it.")


def test_store_cuts_a_half_written_line_so_the_next_run_starts_clean(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = Store(settings.out_dir)
    store.open(settings)
    store.append(record("01_digits_lifecycle", 1, "ok"))
    with store.runs_path.open("a") as runs:  # what a power cut in the middle of a write would leave
        runs.write('{"notebook": "01_digits_lifecycle", "run": 2, "st')
    assert [run.key for run in store.open(settings)] == [("01_digits_lifecycle", 1)]
    store.append(record("01_digits_lifecycle", 2, "ok"))
    lines = store.runs_path.read_text().splitlines(keepends=True)
    assert [json.loads(line)["run"] for line in lines] == [1, 2] and all(line.endswith("\n") for line in lines)


# ---- a run's stages, in order, with a scripted kernel --------------------------------------------------------

class ScriptedKernel:
    """Stands in for KernelRun: each stage's judgement (and the offline recipe's) comes from the script."""

    def __init__(self, judged: dict[str, str], fallback: dict[str, str]) -> None:
        self.judged, self.fallback = judged, fallback
        self.executed: list[str] = []
        self.fell_back: list[str] = []

    def execute(self, source: str) -> Any:
        self.executed.append(source)
        return type("Executed", (), {"error": "", "ended": ""})()

    def judge(self, step: StageStep, settings: EvalSettings) -> tuple[StageResult, bool]:
        kind = self.judged[step.stage]
        return StageResult(step.stage, kind=kind, first_error="" if kind == "ok" else f"{step.stage} broke"), True

    def fall_back(self, step: StageStep, settings: EvalSettings) -> tuple[StageResult, bool]:
        self.fell_back.append(step.stage)
        return StageResult(step.stage, kind=self.fallback[step.stage]), True


def run_scripted(tmp_path: Path, kernel: ScriptedKernel, **changes: Any) -> tuple[RunRecord, str]:
    plan = plan_notebook(EXAMPLES[0])
    progress_file = tmp_path / "progress.txt"
    run = RunRecord(plan.name, 1, "openai/m")
    with progress_file.open("w") as stream:
        try:
            run_stages(kernel, plan, settings_for(tmp_path, **changes), run, Progress(3, stream=stream), 1)
        finally:
            stream.flush()
    return run, progress_file.read_text()


def test_a_failed_stage_is_replaced_by_the_offline_recipe_and_the_next_is_judged_on_its_own(tmp_path: Path) -> None:
    kernel = ScriptedKernel({"prep": "ok", "train": "accuracy_floor", "convert": "ok", "deploy": "build_error"},
                            {"train": "ok", "deploy": "ok"})
    run, progress = run_scripted(tmp_path, kernel)
    assert [(stage.stage, stage.kind, stage.fallback) for stage in run.stages] == [
        ("prep", "ok", False), ("train", "accuracy_floor", True), ("convert", "ok", False),
        ("deploy", "build_error", False)]
    assert kernel.fell_back == ["train"]  # no stage follows deploy: its recipe would only spend a build
    assert kernel.executed[-1] == STOP_VIRTUAL_BOARDS  # deploy was reached: its virtual board must not outlive the run
    assert "[run 1/3] 01_digits_lifecycle · train ... accuracy floor: train broke" in progress
    assert "the offline recipe ran in its place · success so far: prep 1/1, train 0/1" in progress
    assert "success so far: prep 1/1, train 0/1, convert 1/1, deploy 0/1" in progress


def test_a_run_ends_at_a_stage_whose_fallback_fails_too(tmp_path: Path) -> None:
    kernel = ScriptedKernel({"prep": "ok", "train": "runtime_error"}, {"train": "runtime_error"})
    run, progress = run_scripted(tmp_path, kernel)
    assert [(stage.stage, stage.fallback) for stage in run.stages] == [("prep", False), ("train", False)]
    assert "the offline recipe failed too" in progress and STOP_VIRTUAL_BOARDS not in kernel.executed


def test_a_fatal_stage_stops_the_evaluation_without_a_fallback(tmp_path: Path) -> None:
    kernel = ScriptedKernel({"prep": "ok", "train": "fatal"}, {})
    with pytest.raises(EvaluationStoppedError) as stopped:
        run_scripted(tmp_path, kernel)
    assert str(stopped.value) == ("stopped at 01_digits_lifecycle · train: train broke — nothing recorded for "
                                  "this run")
    assert kernel.fell_back == []


def test_a_refused_call_for_the_budget_says_to_raise_the_budget_not_the_notebook_setting(tmp_path: Path) -> None:
    class OverBudget(ScriptedKernel):
        def judge(self, step: StageStep, settings: EvalSettings) -> tuple[StageResult, bool]:
            result, alive = super().judge(step, settings)
            if result.kind == "fatal":
                result.measured = {"error_class": "SpendLimitError"}
                result.prompt_tokens = 0
            return result, alive

    kernel = OverBudget({"prep": "ok", "train": "fatal"}, {})
    with pytest.raises(EvaluationStoppedError) as stopped:
        run_scripted(tmp_path, kernel)
    assert str(stopped.value) == ("stopped at 01_digits_lifecycle · train: the next call could pass the token "
                                  "budget; raise --max-tokens-total and run the same command again to go on — "
                                  "nothing recorded for this run")


def test_a_stopped_runs_tokens_count_against_the_budget_of_the_next_command(tmp_path: Path) -> None:
    store = Store(tmp_path / "out")
    store.open(settings_for(tmp_path))
    store.append(record("01_digits_lifecycle", 1, "ok", tokens=1000))
    store.add_unrecorded(record("01_digits_lifecycle", 2, "ok", tokens=700))
    with (store.out / "unrecorded.jsonl").open("a") as unrecorded:
        unrecorded.write('{"notebook": "01_digits_lifecycle", "tok')  # a line a crash cut
    assert store.unrecorded_tokens() == 700
    assert [run.run for run in store.records()] == [1]  # the stopped run is not a recorded one: it runs again

def test_the_offline_recipes_have_no_fallback_to_run(tmp_path: Path) -> None:
    kernel = ScriptedKernel({"prep": "missing_result"}, {})
    run, _ = run_scripted(tmp_path, kernel, model="offline")
    assert [stage.kind for stage in run.stages] == ["missing_result"] and kernel.fell_back == []


# ---- the command line ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("words", "line"), [
    (["--model", "m", "--runs", "-2"], "argument --runs: needs a whole number above zero, got '-2' (see --help)"),
    (["--model", "m", "--timeout", "0"], "argument --timeout: needs a number above zero, got '0' (see --help)"),
    (["--runs", "2"], "the following arguments are required: --model (see --help)"),
    (["--model", "m", "--accuracy-floor", "1.5"],
     "argument --accuracy-floor: needs a number from 0 to 1, got '1.5' (see --help)"),
    (["--model", "m", "--notebooks", "{tmp}/missing.ipynb"],
     "no notebook at {tmp}/missing.ipynb: check the path given to --notebooks."),
    (["--model", "m", "--notebooks", "{tmp}/notes.txt"],
     "{tmp}/notes.txt is not a Jupyter notebook (JSONDecodeError): give .ipynb files to --notebooks."),
    (["--model", "m", "--notebooks", "{tmp}/staged.ipynb", "{tmp}/other/staged.ipynb"],
     "two notebooks are named staged: runs are recorded by notebook name; rename one."),
    (["--model", "m", "--notebooks", "{tmp}/plain.ipynb"],
     "plain.ipynb has no %%tinyml_{prep,train,convert,deploy} cell: nothing to evaluate in it."),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                words: list[str], line: str) -> None:
    (tmp_path / "notes.txt").write_text("not json")
    write_notebook(tmp_path / "plain.ipynb", TINY_DATA)
    (tmp_path / "other").mkdir()
    for folder in (tmp_path, tmp_path / "other"):
        write_notebook(folder / "staged.ipynb", TINY_DATA, "%%tinyml_prep\nsplit it")
    code = cli.main([word.replace("{tmp}", str(tmp_path)) for word in words] + ["--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert (code, captured.out, captured.err) == (2, "", "tinyml eval: " + line.replace("{tmp}", str(tmp_path)) + "\n")
    assert not (tmp_path / "out").exists()


def test_default_notebooks_missing_say_to_pass_notebooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "EXAMPLES", tmp_path / "site-packages" / "example_notebooks")  # as from a wheel
    assert cli.main(["--model", "m", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"tinyml eval: no example notebooks at {tmp_path}/site-packages/example_notebooks (an installed package "
        "does not carry them): pass --notebooks with the notebooks to evaluate.\n")


def test_a_spent_budget_stops_before_the_next_kernel_with_one_line(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    notebook = write_notebook(tmp_path / "tiny.ipynb", TINY_DATA, "%%tinyml_prep\nsplit it")
    words = ["--model", "openai/m", "--runs", "3", "--notebooks", str(notebook), "--out", str(tmp_path / "out")]
    settings = cli.settings_from(cli.build_parser().parse_args(words))
    store = Store(settings.out_dir)
    store.open(settings)
    store.append(record("tiny", 1, "ok", tokens=600))
    store.append(record("tiny", 2, "ok", tokens=500))

    assert cli.main([*words, "--max-tokens-total", "1100"]) == 1
    captured = capsys.readouterr()
    assert captured.err == ("tinyml eval: stopped: the token budget of 1,100 is spent (1,100 used so far, 2 runs "
                            "recorded; too little left for another ask); raise --max-tokens-total and run the same "
                            "command again to go on.\n")
    assert "resuming: 2 of 3 runs already done" in captured.out and "starting a fresh kernel" not in captured.out
    assert "budget: 0 tokens left of 1,100 (1,100 spent by earlier runs)" in captured.out
    assert "prep" in captured.out.split("starting")[-1]  # the table of the runs recorded is printed at the stop

    plan = plan_notebook(notebook)
    first_ask = estimate([plan], [], settings).asks["tiny"][0].typical
    budgeted = cli.Evaluation(settings_for(tmp_path, max_tokens_total=1100 + first_ask), [plan], store, store.records())
    assert budgeted.spend_limit(plan) == first_ask  # what the next run's kernel may spend (TINYML_SPEND_LIMIT)
    budgeted.settings.max_tokens_total -= 1  # too little for the first ask: the kernel would refuse it at once
    with pytest.raises(cli.BudgetSpentError):
        budgeted.spend_limit(plan)
    assert cli.Evaluation(settings, [plan], store, store.records()).spend_limit(plan) is None


def test_the_kernel_gets_the_model_and_the_limit_and_keeps_the_persons_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-persons-own")
    monkeypatch.setenv("TINYML_API_BASE", "http://elsewhere/v1")
    monkeypatch.setenv("TINYML_SPEND_LIMIT", "5")
    environment = kernel_environment(EvalSettings(model="openai/m"), spend_limit=None)
    assert environment["TINYML_MODEL"] == "openai/m" and environment["OPENAI_API_KEY"] == "sk-the-persons-own"
    assert "TINYML_API_BASE" not in environment and "TINYML_SPEND_LIMIT" not in environment
    environment = kernel_environment(EvalSettings(model="openai/m", api_base="http://127.0.0.1:9/v1"), spend_limit=700)
    assert (environment["TINYML_API_BASE"], environment["TINYML_SPEND_LIMIT"]) == ("http://127.0.0.1:9/v1", "700")


def test_help_is_fast_and_loads_no_kernel_machinery() -> None:
    started = time.perf_counter()
    shown = subprocess.run(
        [sys.executable, "-c", "import sys; from jupyter_tinyml.eval.cli import main; code = main(['--help']); "
         "print(code, sorted(m for m in ('nbclient', 'numpy', 'litellm', 'tensorflow') if m in sys.modules))"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert time.perf_counter() - started < 5
    assert shown.stdout.rstrip().endswith("0 []") and "--max-tokens-total" in shown.stdout, shown.stderr


# ---- real kernels --------------------------------------------------------------------------------------------

def evaluate(*words: str, cwd: Path) -> subprocess.Popen:
    """`python -m jupyter_tinyml.eval --model offline ...` as a person starts it (Ctrl-C reaches it)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TINYML_")}
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter_tinyml.eval", "--model", "offline", *words],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        env={**environment, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background job would ignore it
    )


def kernels_in(folder: Path) -> list[int]:
    """The kernel processes still running with their working folder in `folder`."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and b"ipykernel" in (process / "cmdline").read_bytes() \
                    and Path(os.readlink(process / "cwd")).is_relative_to(folder):
                found.append(int(process.name))
        except OSError:
            continue
    return found


def test_a_real_run_records_the_stage_then_a_cell_timeout_ends_it_and_a_resume_skips_it(tmp_path: Path) -> None:
    """Offline recipes in a fresh kernel: prep is judged by the real probe; the notebook's cell before train
    sleeps past --timeout, which is train's runtime error and ends the run; the same command then resumes."""
    notebook = write_notebook(tmp_path / "tiny.ipynb", LOAD_EXTENSION, TINY_DATA,
                              "%%tinyml_prep\nUse the images and labels; keep 20% for testing.",
                              "import time\ntime.sleep(60)", "%%tinyml_train\nA small dense network.")
    words = ["--runs", "1", "--timeout", "6", "--notebooks", str(notebook), "--out", "out"]
    first = evaluate(*words, cwd=tmp_path)
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr

    out = tmp_path / "out"
    [line] = (out / "runs.jsonl").read_text().splitlines()
    run = RunRecord.from_json(json.loads(line))
    assert (run.key, run.model) == (("tiny", 1), "offline")
    assert [(stage.stage, stage.kind) for stage in run.stages] == [("prep", "ok"), ("train", "runtime_error")]
    assert run.stages[0].measured == {"train_samples": 48, "test_samples": 12} and run.stages[0].stage_seconds > 0
    assert run.stages[1].first_error == "the notebook's cell before the magic failed: cell timed out after 6 s"
    assert 0 < run.kernel_seconds < run.seconds
    assert "[run 1/1] tiny · prep ... ok (" in stdout and "success so far: prep 1/1, train 0/1" in stdout

    executed = nbformat.read(out / "runs" / "tiny" / "run-001.ipynb", as_version=4)
    sources = [cell.source for cell in executed.cells]
    prep = "%%tinyml_prep --run\nUse the images and labels; keep 20% for testing."
    assert sources[:3] == [LOAD_EXTENSION, TINY_DATA, prep]
    assert sources[3].startswith("from jupyter_tinyml.eval.probe import judge") and "judge('prep'" in sources[3]
    assert "train" not in "".join(sources[3:])  # the train magic never ran: the cell before it timed out
    assert json.loads((out / "results.json").read_text()) and "<svg" in (out / "report.html").read_text()
    assert json.loads((out / "eval.json").read_text())["notebooks"] == [str(notebook)]
    assert kernels_in(out) == []

    again = evaluate(*words, cwd=tmp_path)
    stdout, stderr = again.communicate(timeout=60)
    assert again.returncode == 0, stderr
    assert "resuming: 1 of 1 runs already done" in stdout and "starting a fresh kernel" not in stdout
    assert len((out / "runs.jsonl").read_text().splitlines()) == 1


def test_ctrl_c_shuts_the_kernel_down_and_records_nothing(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "slow.ipynb", LOAD_EXTENSION, "import time\ntime.sleep(60)",
                              "%%tinyml_prep\nsplit it")
    running = evaluate("--runs", "1", "--notebooks", str(notebook), "--out", "out", cwd=tmp_path)
    assert running.stdout is not None
    for line in running.stdout:
        if "starting a fresh kernel" in line:
            break
    out = tmp_path / "out"
    deadline = time.monotonic() + 30
    while not kernels_in(out) and time.monotonic() < deadline:  # the kernel is up and in its sleeping cell
        time.sleep(0.2)
    assert kernels_in(out)
    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 130
    assert stderr.strip().splitlines()[-1] == "tinyml eval: stopped after 0 runs; run the same command again to resume"
    assert not (out / "runs.jsonl").exists() or (out / "runs.jsonl").read_text() == ""
    assert kernels_in(out) == []
