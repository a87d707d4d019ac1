"""One run: a lifecycle notebook's stages executed in a fresh headless kernel against the model, each judged.

The kernel gets the model from the environment (TINYML_MODEL, TINYML_API_BASE) and everything else the person's
environment holds (their provider key variables among it), so the magics capture, redact and ask exactly as
they do for a student. After each stage's magic (with `--run`: the generated code is executed) the probe
(probe.judge) runs in the same kernel and displays the stage's StageResult; this module reads it back. A stage
that failed is replaced by the offline recipe, so the next stage is judged on its own rather than on the
wreck of the previous one.

The cells run are appended to a new notebook as they go, saved as OUT/runs/<notebook>/run-NNN.ipynb: the code
the model wrote is in the magics' outputs there (headless, nothing is inserted), with its errors.
"""
from __future__ import annotations

import json
import math
import os
import shlex
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..errors import BudgetReachedError, EvaluationStoppedError, KernelStartError, SetupCellError
from .plan import NotebookPlan, StageStep
from .records import BUDGET_ERROR, FATAL, PROBE_MIME_TYPE, RunRecord, StageResult
from .settings import EvalSettings

if TYPE_CHECKING:  # nbclient and nbformat load with the first run: `--help` and the plan need neither
    from nbclient import NotebookClient
    from nbformat import NotebookNode

    from .progress import Progress
    from .store import Store

KERNEL_DIED = "the kernel died (out of memory, or a crash in native code)"
# The lifecycle's last cell, run after a run that reached deploy: a virtual board the probe started must not
# outlive its kernel (QEMU is stopped at the kernel's exit too, but not when the kernel is killed).
STOP_VIRTUAL_BOARDS = ("from jupyter_tinyml.hardware.virtual import qemu\n\n"
                       "for board in qemu.running():\n    board.stop()")


@dataclass
class Executed:
    """A cell's outcome: `error` is the error it raised ("NameError: ..."), `ended` why the kernel can take no
    further cell (a timeout, a death); both empty when it ran through."""

    cell: "NotebookNode"
    error: str = ""
    ended: str = ""


def kernel_environment(settings: EvalSettings, spend_limit: int | None) -> dict[str, str]:
    """The person's environment with the evaluated model in it and the spend limit the budget leaves."""
    environment = dict(os.environ)
    environment["TINYML_MODEL"] = settings.model
    for variable, value in (("TINYML_API_BASE", settings.api_base),
                            ("TINYML_SPEND_LIMIT", "" if spend_limit is None else str(spend_limit))):
        if value:
            environment[variable] = value
        else:
            environment.pop(variable, None)  # the record says which server and limit; none must come from elsewhere
    environment.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return environment


def probe_source(stage: str, settings: EvalSettings, magic_error: str) -> str:
    return ("from jupyter_tinyml.eval.probe import judge\n\n"
            f"judge({stage!r}, accuracy_floor={settings.accuracy_floor!r}, int8_margin={settings.int8_margin!r}, "
            f"check_samples={settings.check_samples!r}, magic_error={magic_error!r})")


def config_source(model: str) -> str:
    return f"%tinyml config {shlex.quote('model=' + model)}"


def probe_result(executed: Executed, stage: str) -> StageResult:
    """The StageResult the probe displayed; a probe that displayed none is a runtime error of the stage, with
    the probe's own error, so one strange namespace cannot stop a whole evaluation."""
    for output in reversed(executed.cell.get("outputs", [])):
        data = output.get("data", {}).get(PROBE_MIME_TYPE)
        if data is not None:
            return StageResult.from_json(json.loads(data) if isinstance(data, str) else dict(data))
    problem = executed.ended or executed.error or "it displayed no result"
    return StageResult(stage, kind="runtime_error", first_error=f"the eval's check of the stage failed: {problem}")


class KernelRun:
    """One notebook in one fresh kernel: its cells appended to `notebook` as they are executed."""

    def __init__(self, client: "NotebookClient", notebook: "NotebookNode", timeout: float) -> None:
        self.client = client
        self.notebook = notebook
        self.timeout = timeout

    def execute(self, source: str) -> Executed:
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
        from nbformat.v4 import new_code_cell

        cell = new_code_cell(source)
        self.notebook.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.notebook.cells) - 1)
        except CellExecutionError as error:
            evalue = " ".join(str(error.evalue).split())
            return Executed(cell, error=evalue if error.ename == "UsageError" else f"{error.ename}: {evalue}")
        except CellTimeoutError:
            return Executed(cell, ended=f"cell timed out after {self.timeout:.0f} s")
        except DeadKernelError:
            return Executed(cell, ended=KERNEL_DIED)
        return Executed(cell)

    def judge(self, step: StageStep, settings: EvalSettings) -> tuple[StageResult, bool]:
        """The stage's magic, then the probe: its StageResult timed over both, and whether the kernel can go on."""
        started = time.perf_counter()
        magic = self.execute(step.magic)
        if magic.ended:
            result, ended = StageResult(step.stage, kind="runtime_error", first_error=magic.ended), magic.ended
        else:
            probe = self.execute(probe_source(step.stage, settings, magic.error))
            result, ended = probe_result(probe, step.stage), probe.ended
        result.stage_seconds = time.perf_counter() - started
        return result, not ended

    def fall_back(self, step: StageStep, settings: EvalSettings) -> tuple[StageResult, bool]:
        """The offline recipe in the failed stage's place, judged like the stage; the model is set back after."""
        switched = self.execute(config_source("offline"))
        if switched.ended or switched.error:
            return StageResult(step.stage, kind="runtime_error", first_error=switched.ended or switched.error), False
        result, alive = self.judge(step, settings)
        if alive:
            restored = self.execute(config_source(settings.model))
            alive = not restored.ended
        return result, alive


def run_notebook(plan: NotebookPlan, run: int, settings: EvalSettings, store: "Store", *,
                 spend_limit: int | None, progress: "Progress", position: int) -> RunRecord:
    """Execute one run and return its record (the caller appends it). Raises EvaluationStoppedError on a fatal
    stage result and SetupCellError when the notebook's own setup fails; the kernel is shut down whatever
    happens (a Ctrl-C included), and the executed notebook saved."""
    import nbformat
    from nbclient import NotebookClient

    workdir = store.run_dir(plan.name, run)
    workdir.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "tinyml_eval": {"notebook": str(plan.path), "run": run, "model": settings.model},
    })
    client = NotebookClient(notebook, timeout=math.ceil(settings.timeout), kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    record = RunRecord(plan.name, run, settings.model,
                       started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    progress.run_started(position, plan.name, run)
    started = time.perf_counter()
    finished = False
    # The kernel process's own messages (its start-up warnings, a native crash's last words) go to a log beside
    # the executed notebook, not between the progress lines.
    try:
        with store.kernel_log_path(plan.name, run).open("w", encoding="utf-8") as kernel_log, \
                client.setup_kernel(env=kernel_environment(settings, spend_limit), stderr=kernel_log):
            record.kernel_seconds = time.perf_counter() - started
            run_stages(KernelRun(client, notebook, settings.timeout), plan, settings, record, progress, position)
        finished = True
    except (RuntimeError, KeyError, OSError) as error:  # jupyter_client's words for a kernel that would not start
        if record.kernel_seconds:
            raise
        raise KernelStartError(" ".join(str(error).split()) or type(error).__name__) from None
    finally:
        record.seconds = time.perf_counter() - started
        nbformat.write(notebook, store.notebook_path(plan.name, run))
        if not finished and record.tokens:  # paid for, though the run is not recorded: the budget counts it
            store.add_unrecorded(record)
    return record


def run_stages(kernel: KernelRun, plan: NotebookPlan, settings: EvalSettings, record: RunRecord,
               progress: "Progress", position: int) -> None:
    """Setup cells, then each stage until one fails with no working replacement (or the kernel is gone)."""
    for source in plan.setup:
        executed = kernel.execute(source)
        if executed.error or executed.ended:
            raise SetupCellError(plan.name, source, executed.error or executed.ended)
    alive = True
    for step in plan.steps:
        progress.stage_started(position, plan.name, step.stage)
        started = time.perf_counter()
        result, alive = run_before(kernel, step)
        fallback = None
        if result is not None:
            result.stage_seconds = time.perf_counter() - started
        else:
            result, alive = kernel.judge(step, settings)
            # The offline recipe stands in so the NEXT stage starts from working code: after the last stage
            # there is none, and the recipe would only spend a build and a check.
            last = step is plan.steps[-1]
            if result.kind != FATAL and not result.ok and alive and not settings.offline and not last:
                fallback, alive = kernel.fall_back(step, settings)
                result.fallback = fallback.ok
        for judged in (result, fallback):
            if judged is not None and judged.kind == FATAL:
                progress.say("fatal")
                record.stages.append(judged)  # the run is not recorded, but what its asks spent is (run_notebook)
                if judged.measured.get("error_class") == BUDGET_ERROR:
                    raise BudgetReachedError(plan.name, step.stage)
                raise EvaluationStoppedError(plan.name, step.stage, judged.first_error)
        progress.stage_finished(result, fallback)
        record.stages.append(result)
        if not (result.ok or result.fallback):
            break
    if alive and "deploy" in {stage.stage for stage in record.stages}:
        kernel.execute(STOP_VIRTUAL_BOARDS)


def run_before(kernel: KernelRun, step: StageStep) -> tuple[StageResult | None, bool]:
    """The notebook's own cells between the previous stage and this one, counted as part of this stage: a
    failing one is this stage's runtime error (None when they ran), and whether the kernel can go on."""
    for source in step.before:
        executed = kernel.execute(source)
        if executed.error or executed.ended:
            problem = executed.error or executed.ended
            failed = StageResult(step.stage, kind="runtime_error",
                                 first_error=f"the notebook's cell before the magic failed: {problem}")
            return failed, not executed.ended
    return None, True
