"""An evaluation's folder: OUT/eval.json (its settings), OUT/runs.jsonl (one finished run a line) and the
reports made from them.

A run is appended only once it finished, in one write of one whole line, so a stop at any moment leaves the
file readable and the same command resumes after the last recorded run. The settings' fingerprint guards the
folder: runs measured against another model, other notebooks or other bars would make one table of two
different things, so such a resume is refused.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import OtherEvaluationError, UnreadableStoreError
from .records import RunRecord
from .settings import EvalSettings

SETTINGS_FILE = "eval.json"
RUNS_FILE = "runs.jsonl"
# Tokens spent by runs that were not recorded (a fatal error, the budget, Ctrl-C): a resume must not spend the
# budget again on them.
UNRECORDED_FILE = "unrecorded.jsonl"


class Store:
    """The files of one evaluation folder."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)

    @property
    def settings_path(self) -> Path:
        return self.out / SETTINGS_FILE

    @property
    def runs_path(self) -> Path:
        return self.out / RUNS_FILE

    def run_dir(self, notebook: str, run: int) -> Path:
        """The run's working folder (the kernel's cwd: model.tflite, firmware/ ...)."""
        return self.out / "runs" / notebook / f"run-{run:03d}"

    def notebook_path(self, notebook: str, run: int) -> Path:
        """Where the executed notebook of a run is saved."""
        return self.out / "runs" / notebook / f"run-{run:03d}.ipynb"

    def kernel_log_path(self, notebook: str, run: int) -> Path:
        """Where the run's kernel process writes its stderr."""
        return self.out / "runs" / notebook / f"run-{run:03d}.kernel.log"

    def open(self, settings: EvalSettings) -> list[RunRecord]:
        """Claim the folder for `settings` and return the runs already recorded in it. Refuses (one line) a
        folder whose eval.json has another fingerprint; rewrites eval.json otherwise (the run count and budget
        of this command are the ones that hold now)."""
        if self.settings_path.is_file():
            try:
                earlier = json.loads(self.settings_path.read_text(encoding="utf-8"))
                before = EvalSettings.from_json(earlier).fingerprint()
            except (OSError, ValueError, TypeError) as error:  # unreadable, not JSON, not settings
                raise UnreadableStoreError(self.settings_path, type(error).__name__) from None
            now = settings.fingerprint()
            differences = {name: (before.get(name), value) for name, value in now.items() if before.get(name) != value}
            if differences:
                raise OtherEvaluationError(self.out, differences)
        self.out.mkdir(parents=True, exist_ok=True)
        write_whole(self.settings_path, json.dumps(settings.to_json(), indent=2) + "\n")
        return self.records()

    def records(self) -> list[RunRecord]:
        """The finished runs, in the order they were recorded. A last line without its newline is the trace of a
        write the machine did not finish (a power cut): it is cut off here, so the next append starts clean."""
        if not self.runs_path.is_file():
            return []
        data = self.runs_path.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        if len(whole) != len(data):
            with self.runs_path.open("r+b") as file:
                file.truncate(len(whole))
        records = []
        for number, line in enumerate(whole.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(RunRecord.from_json(json.loads(line)))
            except (json.JSONDecodeError, TypeError, KeyError) as error:
                raise UnreadableStoreError(self.runs_path, f"line {number}: {type(error).__name__}") from None
        return records

    def append(self, record: RunRecord) -> None:
        """Add one finished run."""
        append_line(self.runs_path, record.to_json())

    def add_unrecorded(self, record: RunRecord) -> None:
        """The tokens of a run that stopped before it finished (its finished stages, and the ask that stopped it),
        kept so the budget counts them: one whole line, as for a finished run."""
        line = {"notebook": record.notebook, "run": record.run, "tokens": record.tokens, "started": record.started}
        append_line(self.out / UNRECORDED_FILE, line)

    def unrecorded_tokens(self) -> int:
        """What stopped runs spent, from every whole line of unrecorded.jsonl."""
        path = self.out / UNRECORDED_FILE
        if not path.is_file():
            return 0
        total = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                total += int(json.loads(line)["tokens"])
            except (ValueError, KeyError, TypeError):  # a line cut by a crash: nothing to count
                continue
        return total

    def write_reports(self, results: dict[str, Any], html: str) -> None:
        """Rewrite results.json and report.html; each file is replaced whole, so a reader never sees half."""
        write_whole(self.out / "results.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        write_whole(self.out / "report.html", html)


def append_line(path: Path, data: dict[str, Any]) -> None:
    """One JSON line: one write of the whole line to a file opened for appending, then to disk."""
    line = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_whole(path: Path, text: str) -> None:
    """Write `text` to a sibling file, then rename it over `path`: the old file or the new, never a part."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
