"""`python -m jupyter_tinyml.eval` end to end: the colour-sensor notebook against a scripted model on the loopback
chat server, each run in a fresh kernel, the generated code executed, built and checked on the virtual board.

The script (tests/eval_scenarios.py) gives each stage one success and known failures over three runs, so the
success rates, failure kinds, first error lines, repair rounds and fallbacks the evaluation reports are known
exactly, and the tokens it counts must equal what the server reported for each stage's requests. One evaluation
is shared by the file: two runs, then the same command with three (a resume that must ask only run 3).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest

from eval_scenarios import NOTEBOOK, ROOT, RUNS, ScriptedServer, Served, success_rates
from openai_server import Reply
from prerequisites import require_tflm_library

from jupyter_tinyml.eval.records import STAGES
from jupyter_tinyml.eval.summary import wilson

MODEL = "openai/scripted"
NOTEBOOK_NAME = NOTEBOOK.stem


@dataclass
class Invocation:
    """One `python -m jupyter_tinyml.eval` command: its exit code, its output, and the requests it made."""

    code: int
    stdout: str
    stderr: str
    served: list[Served]


# Keys the shared evaluation's notebook and environment hold: none may reach the server.
VARIABLE_KEY = "tok-3f9a8c7e5d1b2a4c6e8f0a1b3c5d7e9f"
REQUEST_KEY = "sk-proj-Q8wE2rT6yU0iO4pA7sD1fG5hJ9kL3zX"
ENVIRONMENT_KEY = "sk-env-7Hq2Lx9Vb4Nc8Mz1Kd5Rf3Tg6Yw0Pe"


def evaluate(server: ScriptedServer, out: Path, *words: str, notebook: Path = NOTEBOOK) -> Invocation:
    before = len(server.served)
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_tinyml.eval", "--model", MODEL, "--api-base", server.base_url,
         "--notebooks", str(notebook), "--out", str(out), *words],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
        env={**os.environ, "TINYML_TEST_PROVIDER_KEY": ENVIRONMENT_KEY},
    )
    return Invocation(done.returncode, done.stdout, done.stderr, server.served[before:])


@dataclass
class Evaluated:
    server: ScriptedServer
    out: Path
    first: Invocation
    resumed: Invocation

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.out / "runs.jsonl").read_text().splitlines()]

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.out / "results.json").read_text())

    def stage(self, run: int, stage: str) -> dict[str, Any]:
        record = next(record for record in self.records if record["run"] == run)
        return next(result for result in record["stages"] if result["stage"] == stage)


def notebook_with_keys(folder: Path) -> Path:
    """The colour-sensor notebook (same name) with a key in a setup cell's variable and one in the prep request."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.insert(2, nbformat.v4.new_code_cell(f"service_token = {VARIABLE_KEY!r}"))
    prep = next(cell for cell in notebook.cells if cell.source.startswith("%%tinyml_prep"))
    prep.source += f" The key is {REQUEST_KEY}."
    path = folder / NOTEBOOK.name
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluated]:
    require_tflm_library(with_board=True)  # the deploy stage builds and checks the glue on the virtual board
    server = ScriptedServer().start().script(RUNS)
    out = tmp_path_factory.mktemp("eval")
    notebook = notebook_with_keys(tmp_path_factory.mktemp("notebook"))
    try:
        first = evaluate(server, out, "--runs", "2", notebook=notebook)
        resumed = evaluate(server, out, "--runs", "3", notebook=notebook)
        yield Evaluated(server, out, first, resumed)
    finally:
        server.stop()


def test_two_runs_say_the_estimate_first_and_ask_only_their_answers(evaluated):
    assert evaluated.first.code == 0, evaluated.first.stderr
    assert evaluated.first.stdout.index("tokens, estimated:") < evaluated.first.stdout.index("[run 1/2]")
    assert {served.run for served in evaluated.first.served} == {1, 2}
    assert len(evaluated.first.served) == sum(run[stage].asks for run in RUNS[:2] for stage in STAGES)


def test_the_same_command_with_more_runs_resumes_and_asks_only_the_new_run(evaluated):
    resumed = evaluated.resumed
    assert resumed.code == 0, resumed.stderr
    assert "resuming: 2 of 3 runs already done" in resumed.stdout
    assert {served.run for served in resumed.served} == {3}
    assert evaluated.server.unserved() == {} and evaluated.server.unscripted == []
    assert [(record["notebook"], record["run"]) for record in evaluated.records] == [(NOTEBOOK_NAME, 1),
                                                                                     (NOTEBOOK_NAME, 2),
                                                                                     (NOTEBOOK_NAME, 3)]


@pytest.mark.parametrize("run", [1, 2, 3])
def test_each_stage_finds_the_scripted_kind_and_its_first_error_line(evaluated, run):
    for stage, expected in RUNS[run - 1].items():
        found = evaluated.stage(run, stage)
        assert (found["kind"], found["fallback"]) == (expected.kind, expected.fallback), (stage, found)
        assert expected.first_error in found["first_error"], (stage, found["first_error"])
        asked = [served for served in evaluated.server.served if (served.run, served.stage) == (run, stage)]
        assert len(asked) == expected.asks, stage
        if expected.rounds == expected.asks:  # a cut-off answer's continuation: test_a_continuation_is_no_repair
            assert found["rounds"] == expected.rounds, stage


def test_a_continuation_is_no_repair_round(evaluated):
    # Run 3's train answer was cut off, and its continuation too: two requests, one round, no repair.
    assert RUNS[2]["train"].asks == 2
    assert evaluated.stage(3, "train")["rounds"] == RUNS[2]["train"].rounds == 1


def test_success_rates_and_failures_per_stage_are_the_scripted_ones(evaluated):
    rows = {row["stage"]: row for row in evaluated.results["stages"]}
    for stage, (successes, runs) in success_rates(3).items():
        row = rows[stage]
        assert (row["successes"], row["n"]) == (successes, runs), stage
        assert tuple(row["ci"]) == pytest.approx(wilson(successes, runs)), stage
        failed = Counter(run[stage].kind for run in RUNS if run[stage].kind != "ok")
        assert row["failures"] == dict(failed), stage
        assert row["fallbacks"] == sum(run[stage].fallback for run in RUNS), stage
    assert rows["prep"]["repairs_max"] == 2  # the undefined name went back to the model twice
    assert rows["prep"]["repairs_mean"] == pytest.approx((0 + 1 + 2) / 3)  # no code: asked once more


def test_tokens_of_each_stage_are_what_the_server_reported(evaluated):
    for run in (1, 2, 3):
        for stage in STAGES:
            found = evaluated.stage(run, stage)
            reported = [served for served in evaluated.server.served if served.run == run and served.stage == stage]
            assert found["prompt_tokens"] == sum(served.prompt_tokens for served in reported), (run, stage)
            assert found["completion_tokens"] == sum(served.completion_tokens for served in reported), (run, stage)
    rows = {row["stage"]: row for row in evaluated.results["stages"]}
    for stage in STAGES:
        reported = [served for served in evaluated.server.served if served.stage == stage]
        assert rows[stage]["prompt_tokens_mean"] == pytest.approx(sum(s.prompt_tokens for s in reported) / 3)


def test_the_report_has_one_plot_per_stage_and_every_run_is_kept(evaluated):
    report = (evaluated.out / "report.html").read_text()
    assert report.count("<svg") == len(STAGES)
    for run in (1, 2, 3):
        assert (evaluated.out / "runs" / NOTEBOOK_NAME / f"run-{run:03d}.ipynb").is_file()
    table = evaluated.resumed.stdout[evaluated.resumed.stdout.rindex("recorded in"):]  # printed after the last run
    for stage, (successes, runs) in success_rates(3).items():
        assert any(line.split()[:2] == [stage, f"{successes}/{runs}"] for line in table.splitlines()), stage


def test_a_refused_key_stops_at_once_with_one_line_and_records_no_run(tmp_path):
    server = ScriptedServer().start().script(RUNS[:1])
    server.fail_next(Reply("Incorrect API key provided", status=401))
    try:
        stopped = evaluate(server, tmp_path / "out", "--runs", "2")
    finally:
        server.stop()
    assert stopped.code == 1
    lines = stopped.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml eval: stopped"), stopped.stderr
    assert "No valid API key" in lines[0]
    assert len(server.requests) == 1  # no later stage, no second run asked
    runs = tmp_path / "out" / "runs.jsonl"
    assert not runs.exists() or not runs.read_text().strip()


def test_a_budget_too_small_for_the_next_ask_stops_before_it_is_sent_and_a_resume_counts_what_was_spent(tmp_path):
    # Enough for prep's ask (its prompt plus a whole answer of max_tokens: ~3,300 tokens), not for train's after it
    # (~1,600 spent, ~3,700 more): the kernel refuses train's call before it is sent. The run is not recorded, but
    # its tokens are: the same command again has only what is left.
    server = ScriptedServer().start().script(RUNS[:1] + RUNS[:1])
    try:
        stopped = evaluate(server, tmp_path / "out", "--runs", "1", "--max-tokens-total", "5000")
        first_spent = sum(served.tokens for served in server.served)
        again = evaluate(server, tmp_path / "out", "--runs", "1", "--max-tokens-total", "5000")
    finally:
        server.stop()
    assert "budget: 5,000 tokens left of 5,000" in stopped.stdout  # said before starting
    assert stopped.code == 1
    lines = stopped.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml eval: stopped"), stopped.stderr
    assert "could pass the token budget; raise --max-tokens-total" in lines[0]
    assert [served.stage for served in stopped.served] == ["prep"]
    assert f"budget: {5000 - first_spent:,} tokens left of 5,000" in again.stdout
    assert again.code == 1
    assert sum(served.tokens for served in server.served) <= 5000


def test_no_key_from_the_notebook_the_request_or_the_environment_reaches_the_server(evaluated):
    """The evaluation asks through the magics in the kernel, so their capture and redaction hold for every request
    of every run: the request's words arrive, its key does not."""
    sent = b"".join(evaluated.server.raw_bodies).decode("utf-8")
    assert "keep 20% for testing" in sent
    for secret in (VARIABLE_KEY, REQUEST_KEY, ENVIRONMENT_KEY):
        assert secret not in sent
