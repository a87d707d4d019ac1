"""Scripted model answers for evaluating the colour-sensor notebook, and the loopback server that plays them.

Three runs of example_notebooks/02_colour_sensor_lifecycle.ipynb in which each of the eight failure kinds an
evaluation can find appears once, so each stage's success rate is known exactly (tests/test_eval_loop.py); the
bench (bench/bench_eval.py) plays the CORRECT answers. The answers are files (tests/eval_answers/<name>.md: a
`says` line, then one answer per `=== round ===`, or `=== round finish_reason=length ===` for an answer cut off
at max_tokens); RUNS says which answer each stage gets in each run and what the evaluation must find.

The server tells the stages apart by the system prompt (each stage's prompt file is appended to system.md, and the
deploy panel's glue repair sends its own), keeps one queue per stage, and serves a stage's repair and "answer
again" rounds from the same queue: a stage that asks less or more than its answer file holds leaves an answer
unserved or gets an HTTP 500 that names the stage, and both show in `ScriptedServer.unserved()` / `.unscripted`.
"""
from __future__ import annotations

import functools
import re
import threading
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai_server import ChatServer, Reply, usage

from jupyter_tinyml.eval.records import STAGES
from jupyter_tinyml.stages.base import prompt_text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "example_notebooks" / "02_colour_sensor_lifecycle.ipynb"
ANSWERS = Path(__file__).parent / "eval_answers"
FRONT_MATTER = re.compile(r"\A\+\+\+\n(?P<toml>.*?)\n\+\+\+\n", re.DOTALL)
ROUND_LINE = re.compile(r"^=== round(?: finish_reason=(\w+))? ===[ \t]*$", re.MULTILINE)
GLUE_REPAIR = "glue_repair"  # the deploy panel's repair of a failed build: asked only if a build fails in the panel
# The first line of each prompt file names its stage ("Stage: data preparation.").
PROMPT_FILES = {GLUE_REPAIR: "glue_repair.md", **{stage: f"{stage}.md" for stage in STAGES}}


@dataclass(frozen=True)
class Answer:
    """One answer file: what the model answers round by round (repairs, "answer again" and continuations
    included), each with how its choice finished ("length": cut off at max_tokens)."""

    name: str
    says: str
    rounds: tuple[Reply, ...]


@dataclass(frozen=True)
class Expected:
    """What the evaluation must find for one stage of one run: the kind, a piece of the first error line that
    names the scripted fault ("" for a success), and whether the offline recipe then ran in its place and worked
    (`fallback`)."""

    answer: str
    kind: str
    first_error: str = ""
    fallback: bool = False

    @property
    def asks(self) -> int:
        """The requests the stage makes: every answer in the file, continuations included."""
        return len(load(self.answer).rounds)

    @property
    def rounds(self) -> int:
        """The rounds the stage counts: a continuation of a cut-off answer is part of the answer it continues."""
        replies = load(self.answer).rounds
        return sum(index == 0 or replies[index - 1].finish_reason != "length" for index in range(len(replies)))


# The answers a model that gets every stage right gives (the bench plays them).
CORRECT: dict[str, Expected] = {
    "prep": Expected("prep_ok", "ok"),
    "train": Expected("train_ok", "ok"),
    "convert": Expected("convert_ok", "ok"),
    "deploy": Expected("deploy_ok", "ok"),
}

# Run by run (1, 2, 3), stage by stage: one success per stage and each of the eight failure kinds once. A failed
# stage is followed by the offline recipe (no request), so the next stage starts from working code; deploy is the
# last stage, so no recipe follows it.
RUNS: tuple[dict[str, Expected], ...] = (
    {
        **CORRECT,
        "convert": Expected("convert_other_file", "missing_result", "no model.tflite and no tflite_model",
                            fallback=True),
    },
    {
        "prep": Expected("prep_no_code", "no_code", "no Python code", fallback=True),
        "train": Expected("train_runtime_error", "runtime_error", "KeyError: 'val_accuracy'", fallback=True),
        "convert": Expected("convert_accuracy_floor", "accuracy_floor", "int8 accuracy 0.33 is", fallback=True),
        "deploy": Expected("deploy_build_error", "build_error", "undefined reference to `ReadAmbientLight()'"),
    },
    {
        "prep": Expected("prep_check_failure", "check_failure", "name 'colour_table' is not defined", fallback=True),
        "train": Expected("train_cut_twice", "model_error", "cut off at max_tokens", fallback=True),
        "convert": Expected("convert_other_model", "ok"),
        "deploy": Expected("deploy_ok", "device_disagreement", "the top class differs"),
    },
)


def load(name: str) -> Answer:
    """tests/eval_answers/<name>.md as an Answer; ValueError naming the file for a malformed one."""
    path = ANSWERS / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER.match(text)
    if match is None:
        raise ValueError(f"{path.name}: no +++ front matter")
    meta = tomllib.loads(match["toml"])
    # split() with the one group gives: text before the first round line, then (finish reason, answer) pairs.
    pieces = ROUND_LINE.split(text[match.end():])
    if pieces[0].strip() or len(pieces) < 3:
        raise ValueError(f"{path.name}: the answers must follow '=== round ===' lines")
    rounds = tuple(Reply(answer.strip("\n") + "\n", finish_reason=finish or "stop")
                   for finish, answer in zip(pieces[1::2], pieces[2::2]))
    return Answer(name, str(meta.get("says", "")), rounds)


def success_rates(runs: int) -> dict[str, tuple[int, int]]:
    """(successes, runs) per stage over the first `runs` runs of RUNS."""
    return {stage: (sum(run[stage].kind == "ok" for run in RUNS[:runs]), runs) for stage in STAGES}


def stage_of(request: dict[str, Any]) -> str:
    """The stage a chat request is for, from its system prompt; "" when it is none of them."""
    system = next((str(message.get("content", "")) for message in request.get("messages", [])
                   if message.get("role") == "system"), "")
    for stage, first_line in first_lines().items():
        if first_line in system:
            return stage
    return ""


@functools.cache
def first_lines() -> dict[str, str]:
    """Each prompt file's first line by stage, the glue repair's first: "Stage: deployment, repairing ..." must
    not be taken for the deploy stage's "Stage: deployment." (which it does not contain, but looks like)."""
    return {stage: prompt_text(name).splitlines()[0].strip() for stage, name in PROMPT_FILES.items()}


@dataclass(frozen=True)
class Served:
    """One request the server answered: its stage, which run's script answered it, and the usage it reported."""

    stage: str
    run: int
    answer: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ScriptedServer(ChatServer):
    """The loopback chat server (openai_server.ChatServer) answering each stage from its own queue.

    `answer_delay_s` holds every answer back that long before it is sent (the model's own time, for the bench).
    A reply put first with `fail_next` (an HTTP error for any stage) is served before the queues.
    """

    answer_delay_s: float = 0.0
    queues: dict[str, list[tuple[int, str, Reply]]] = field(default_factory=lambda: defaultdict(list))
    served: list[Served] = field(default_factory=list)
    unscripted: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, runs: tuple[dict[str, Expected], ...] = RUNS, first_run: int = 1) -> "ScriptedServer":
        """Queue every round of every stage of `runs`, run after run, numbered from `first_run`."""
        for number, run in enumerate(runs, start=first_run):
            for stage in STAGES:
                answer = load(run[stage].answer)
                self.queues[stage].extend((number, answer.name, reply) for reply in answer.rounds)
        return self

    def fail_next(self, reply: Reply) -> None:
        """The next request, whatever its stage, gets `reply` (401, 429, ...)."""
        self.replies.insert(0, reply)

    def next_reply(self) -> Reply:
        with self._lock:
            request = self.requests[-1]
            if self.replies:
                return self.replies.pop(0)
            stage = stage_of(request) or "unknown"
            queue = self.queues.get(stage)
            if not queue:
                self.unscripted.append(stage)
                return Reply(f"no scripted answer left for the {stage} stage", status=500)
            run, name, reply = queue.pop(0)
            reported = usage(request, reply.text)  # what the server reports for this answer (chars / 4)
            self.served.append(Served(stage, run, name, reported["prompt_tokens"], reported["completion_tokens"]))
        if self.answer_delay_s:
            time.sleep(self.answer_delay_s)
        return reply

    def unserved(self) -> dict[str, list[str]]:
        """What is still queued, stage by stage ({} when every scripted round was asked for)."""
        return {stage: [f"run {run}: {name}" for run, name, _ in queue]
                for stage, queue in self.queues.items() if queue}
