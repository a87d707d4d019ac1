"""What an evaluation adds to the model's own time: kernel start, context, checks, execution, build and board.

Run: .venv/bin/python bench/bench_eval.py [--delay SECONDS] [--runs N] [--verbose]

`python -m jupyter_tinyml.eval` on the colour-sensor notebook (example_notebooks/02) against the loopback chat
server answering every stage correctly (tests/eval_scenarios.py: CORRECT) with a fixed delay per answer
standing in for a real model's latency (default 2 s: an assumed latency of a short hosted answer, not a measured
one). Per run: the fresh kernel's start, the notebook's setup cells, the model's time (the completions' latency,
which includes the delay), and the overhead — each stage's wall time less its model time: context capture, the
checks, loading the model client (once per kernel), executing the generated code, and the evaluation's own check
(for deploy the build for the virtual board, QEMU and the on-device check). The ratio overhead / model time is
measured in the same run; with a slower model the overhead stays and the ratio falls in proportion. The sketches
compile without the object cache of earlier builds (see without_sketch_objects); the TFLite Micro library's
archive is the machine's.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from eval_scenarios import CORRECT, NOTEBOOK, ROOT, ScriptedServer  # noqa: E402
from prerequisites import SHARED_TFLM_LIBRARY  # noqa: E402

from jupyter_tinyml.eval.records import RunRecord  # noqa: E402
from jupyter_tinyml.hardware.virtual.archive import CACHE_ENV, cache_root  # noqa: E402

CLIENT_LOADED = re.compile(r"model client loaded in (\d+) s")


def client_load_seconds(executed: Path) -> int | None:
    """The magics' own line for the first litellm import in the run's kernel (whole seconds), if it printed one."""
    notebook = json.loads(executed.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            match = CLIENT_LOADED.search("".join(output.get("text", "")))
            if match:
                return int(match[1])
    return None


def without_sketch_objects(work: Path) -> Path:
    """A cache folder (for $XDG_CACHE_HOME) with the machine's compiled TFLite Micro archives but none of the
    sketches' compiled objects: the library compiles once per machine, while a student's new model and glue
    compile afresh — the same answers in every run would otherwise build from cache in a tenth of a second.
    Every other cache (matplotlib's fonts, ...) is linked as it is."""
    machine_tflm = cache_root()
    machine = machine_tflm.parents[1]
    fresh = work / "cache"
    tflm = fresh / machine_tflm.relative_to(machine)
    tflm.mkdir(parents=True)
    for entry in machine.iterdir() if machine.is_dir() else ():
        if entry.name != tflm.parent.name:
            (fresh / entry.name).symlink_to(entry)
    for entry in machine_tflm.iterdir() if machine_tflm.is_dir() else ():
        if entry.is_dir() and entry.name != "objects":
            (tflm / entry.name).symlink_to(entry)
    return fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--delay", type=float, default=2.0, help="seconds the server holds each answer back")
    parser.add_argument("--runs", type=int, default=2, help="runs of the notebook (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="also print the evaluation's own output")
    arguments = parser.parse_args()
    if (SHARED_TFLM_LIBRARY / "library.properties").is_file():
        os.environ.setdefault("TINYML_TFLM_LIBRARY", str(SHARED_TFLM_LIBRARY))
    for variable in ("TINYML_MODEL", "TINYML_API_BASE", "TINYML_API_KEY", "OPENAI_API_KEY"):
        os.environ.pop(variable, None)

    server = ScriptedServer(answer_delay_s=arguments.delay).start().script((CORRECT,) * arguments.runs)
    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    out = work / "out"
    environment = {**os.environ, CACHE_ENV: str(without_sketch_objects(work))}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jupyter_tinyml.eval", "--model", "openai/scripted", "--api-base",
             server.base_url, "--runs", str(arguments.runs), "--notebooks", str(NOTEBOOK), "--out", str(out)],
            capture_output=True, text=True, cwd=ROOT, env=environment,
        )
    finally:
        server.stop()
    elapsed = time.perf_counter() - started
    if arguments.verbose or done.returncode:
        print(done.stdout + done.stderr)
    if done.returncode:
        sys.exit(f"the evaluation stopped with exit code {done.returncode}")

    records = [RunRecord.from_json(json.loads(line)) for line in (out / "runs.jsonl").read_text().splitlines()]
    print(f"Evaluation of {NOTEBOOK.name}, {arguments.runs} runs, correct answers from the loopback server held "
          f"{arguments.delay:g} s each: {elapsed:.0f} s in all (results in {out})")
    print(f"{'run':<5}{'kernel':>8}{'setup':>8}{'model':>8}{'overhead':>10}{'client':>8}{'build':>7}{'ratio':>7}"
          "   per stage: model s / overhead s")
    for record in records:
        staged = sum(stage.stage_seconds for stage in record.stages)
        setup = record.seconds - record.kernel_seconds - staged
        model = record.model_seconds
        overhead = staged - model
        client = client_load_seconds(out / "runs" / record.notebook / f"run-{record.run:03d}.ipynb")
        deployed = record.stage("deploy")
        build = deployed.measured.get("build_seconds") if deployed is not None else None
        per_stage = "  ".join(f"{stage.stage} {stage.model_seconds:.1f}/{stage.stage_seconds - stage.model_seconds:.1f}"
                              for stage in record.stages)
        print(f"{record.run:<5}{record.kernel_seconds:>7.1f}s{setup:>7.1f}s{model:>7.1f}s{overhead:>9.1f}s"
              f"{'-' if client is None else f'{client}s':>8}{'-' if build is None else f'{build:.1f}s':>7}"
              f"{overhead / model:>7.2f}   {per_stage}")
    print("kernel: the fresh kernel's start; setup: the notebook's own cells before the first stage;\n"
          "model: the completions' latency; overhead: the stages' wall time less the model's, of which client is\n"
          "the first litellm import in the kernel and build the deploy check's build for the virtual board (a run\n"
          "whose sketch is the same as an earlier run's builds from its objects); ratio: overhead / model")


if __name__ == "__main__":
    main()
