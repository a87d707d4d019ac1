"""The answer corpus (tests/llm_answers/*.md) and its player: model answers in the shapes real models give, played
through the loopback chat server and a real kernel, each ending as the case says.

One file per case: a TOML front matter between `+++` lines (stage, shape, request, given, expect, ...) and the
model's answers, one per round, each after a `=== round ===` line (`=== round finish_reason=length ===` for an
answer cut at max_tokens). The expected end of a case is one of:
  runs    the inserted cell (the one-cell set_next_input payload) runs without error in the kernel;
  builds  it runs, writes the firmware project, and the sketch compiles for the virtual board and passes the
          Nano 33 BLE Sense compile check (compile_glue: the .ino against the shim and the real TFLite Micro
          headers, a second each). The bench, and the tests for cases marked `link = true`, build the whole
          sketch for the virtual board instead (hardware/virtual/tflm.build_sketch: the sketch's files compiled
          and linked with the library, several seconds each);
  error   the magic's output holds the case's `error` line, after the usage lines of the answers it got.
Every scripted round must be used: a product that stops early (accepting a broken answer) leaves one unanswered.

tests/test_answer_shapes_*.py assert every case; bench/bench_answer_shapes.py counts them. Both play a case the
same way (`Player.play`), so the bench measures what the tests check.
"""
from __future__ import annotations

import os
import re
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "llm_answers"
STAGES = ("prep", "train", "convert", "fix", "deploy")
EXPECTED_ENDS = ("runs", "builds", "error")
FRONT_MATTER = re.compile(r"\A\+\+\+\n(?P<toml>.*?)\n\+\+\+\n", re.DOTALL)
ROUND_LINE = re.compile(r"^=== round(?: finish_reason=(?P<finish>\w+))? ===[ \t]*$", re.MULTILINE)
USAGE = re.compile(r"(\d+) in / (\d+) out tokens")
BOARD = "nano33ble"
VIRTUAL_BOARD = "virtual-cortex-m4"


@dataclass(frozen=True)
class Round:
    """One answer of the model, and how its choice finished ("length": cut at max_tokens)."""

    text: str
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Case:
    """One corpus file: what is asked, what the model answers round by round, and how it must end."""

    name: str
    stage: str
    shape: str
    request: str
    rounds: tuple[Round, ...]
    expect: str
    contract: bool = False
    given: tuple[str, ...] = ()
    error: str = ""
    failing: str = ""
    cell_has: tuple[str, ...] = ()
    cell_lacks: tuple[str, ...] = ()
    sketch_has: tuple[str, ...] = ()
    sketch_lacks: tuple[str, ...] = ()
    asked_has: tuple[str, ...] = ()
    link: bool = False  # the tests build (compile and link) this sketch for the virtual board; the bench builds all


def load(path: Path) -> Case:
    """A corpus file as a Case; ValueError naming the file for a malformed one (a corpus mistake, not a product one)."""
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER.match(text)
    if match is None:
        raise ValueError(f"{path.name}: no +++ front matter")
    meta: dict[str, Any] = tomllib.loads(match["toml"])
    body = text[match.end():]
    marks = list(ROUND_LINE.finditer(body))
    if not marks or body[: marks[0].start()].strip():
        raise ValueError(f"{path.name}: the answers must follow '=== round ===' lines")
    rounds = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(body)
        rounds.append(Round(body[mark.end():end].strip("\n"), mark["finish"] or "stop"))
    case = Case(
        name=path.stem,
        stage=meta["stage"],
        shape=meta["shape"],
        request=meta.get("request", ""),
        rounds=tuple(rounds),
        expect=meta["expect"],
        contract=bool(meta.get("contract", False)),
        given=tuple(meta.get("given", ())),
        error=meta.get("error", ""),
        failing=meta.get("failing", "").strip("\n"),
        link=bool(meta.get("link", False)),
        **{key: tuple(meta.get(key, ())) for key in ("cell_has", "cell_lacks", "sketch_has", "sketch_lacks",
                                                      "asked_has")},
    )
    if case.stage not in STAGES or case.expect not in EXPECTED_ENDS or not set(case.given) <= set(GIVEN):
        raise ValueError(f"{path.name}: stage {case.stage!r}, expect {case.expect!r} or given {case.given} unknown")
    if (case.stage == "fix") != bool(case.failing) or (case.expect == "error") != bool(case.error):
        raise ValueError(f"{path.name}: a fix case needs `failing`, an error case needs `error` (and only they)")
    return case


def cases(*stages: str) -> list[Case]:
    """The corpus in file order, of the given stages (all when none are named)."""
    found = [load(path) for path in sorted(CORPUS.glob("*.md"))]
    return [case for case in found if not stages or case.stage in stages]


# ---------------------------------------------------------------------------------------------- the kernel's data
# Code a case's `given` runs in the kernel before the magic: small real data, so the inserted code really runs.
# MODEL_DIR is replaced by the folder of the shared model files (shared_models()).
GIVEN: dict[str, str] = {
    "raw": """
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits, load_wine
digits = load_digits()                          # 1797 images, 8x8, values 0..16
wine_df = load_wine(as_frame=True).frame        # 178 rows, 13 features and 'target'
_rng = np.random.default_rng(0)
_t = np.linspace(0.0, 1.28, 64, dtype=np.float32)[:, None]
signal_classes = ["idle", "walk", "shake"]
signal_labels = np.repeat(np.arange(3), 90)
_shape = {0: 0.0, 1: 1.0, 2: 3.0}
signals = np.stack([_shape[k] * np.sin(2 * np.pi * (2 + 6 * k) * _t + _rng.uniform(0, 6, (1, 3)))
                    + _rng.normal(0, 0.2, (64, 3)) + [0.0, 0.0, 1.0] for k in signal_labels]).astype(np.float32)
del _rng, _t, _shape
""",
    "digits_split": """
from sklearn.model_selection import train_test_split
x_train, x_test, y_train, y_test = train_test_split(
    (digits.images / 16.0).astype(np.float32)[..., np.newaxis], digits.target.astype(np.int64),
    test_size=360, random_state=0, stratify=digits.target)
input_scale, num_classes, input_shape = 1 / 16.0, 10, (8, 8, 1)
class_names = [str(i) for i in range(10)]
data_kind = "image"
""",
    "wine_split": """
from sklearn.model_selection import train_test_split
_x = wine_df.drop(columns="target").to_numpy(np.float32)
_y = wine_df["target"].to_numpy(np.int64)
x_train, x_test, y_train, y_test = train_test_split(_x, _y, test_size=0.25, stratify=_y, random_state=7)
feature_mean, feature_std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
x_train, x_test = (x_train - feature_mean) / feature_std, (x_test - feature_mean) / feature_std
num_classes, input_shape, class_names, data_kind = 3, (13,), ["class_0", "class_1", "class_2"], "tabular"
del _x, _y
""",
    "signals_split": """
from sklearn.model_selection import train_test_split
x_train, x_test, y_train, y_test = train_test_split(signals, signal_labels.astype(np.int64), test_size=0.2,
                                                    stratify=signal_labels, random_state=3)
feature_mean, feature_std = x_train.mean(axis=(0, 1)), x_train.std(axis=(0, 1))
x_train, x_test = (x_train - feature_mean) / feature_std, (x_test - feature_mean) / feature_std
num_classes, input_shape, class_names, data_kind = 3, (64, 3), list(signal_classes), "timeseries"
""",
    "digits_model": """
import keras
model = keras.models.load_model(r"MODEL_DIR/digits.keras")
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # as a notebook has it
""",
    "digits_tflite": """
tflite_model = open(r"MODEL_DIR/digits_int8.tflite", "rb").read()
""",
    "digits_tflite_float": """
tflite_model = open(r"MODEL_DIR/digits_float_io.tflite", "rb").read()
""",
}


def shared_models(folder: Path) -> Path:
    """The digits CNN (tests/trained_models.py) as a .keras file and two .tflite conversions, written once into
    `folder`: the kernel loads them instead of training (a second per case)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "digits_float_io.tflite").is_file():
        from trained_models import digits_cnn

        from jupyter_tinyml.model.convert import convert

        trained = digits_cnn()
        trained.model.save(folder / "digits.keras")
        (folder / "digits_int8.tflite").write_bytes(convert(trained.model, trained.x_train))
        (folder / "digits_float_io.tflite").write_bytes(
            convert(trained.model, trained.x_train, quantization="int8-float-io"))
    return folder


# ------------------------------------------------------------------------------------------------- the player
@dataclass
class Build:
    """One compile of the written sketch: ok, the first error lines, or why it was not tried."""

    ok: bool
    errors: str = ""
    skipped: str = ""


@dataclass
class Outcome:
    """What playing a case gave: the magic's run, the inserted cell's run, and the builds of a deploy case."""

    magic_ok: bool = False
    output: str = ""                 # stdout + stderr + the error line of the magic
    inserted: str | None = None      # the set_next_input payload
    cell_ok: bool = False
    cell_error: str = ""
    rounds: int = 0                  # requests the chat server answered
    prompt_tokens: int = 0
    completion_tokens: int = 0
    asked: str = ""                  # the follow-up messages to the model (repairs, continuations)
    sketch: str = ""                 # the .ino the cell wrote
    virtual: Build | None = None
    nano: Build | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # the magic, the cell, each build

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def shortfalls(case: Case, outcome: Outcome, *, boards: tuple[str, ...] = ("virtual", "nano")) -> list[str]:
    """Why the case did not end as it says (empty: it did). `boards` are the builds a `builds` case needs."""
    found = []
    if outcome.rounds != len(case.rounds):
        found.append(f"{outcome.rounds} round(s) asked, {len(case.rounds)} scripted")
    missing = [text for text in case.asked_has if text not in outcome.asked]
    if missing:
        found.append(f"the follow-up to the model lacks {missing}")
    if case.expect == "error":
        if case.error not in outcome.output:
            found.append(f"no line {case.error!r} in the output: {last_lines(outcome.output)}")
        if not USAGE.search(outcome.output):
            found.append("no usage line before the error: the spent tokens are not shown")
        return found
    if outcome.inserted is None:
        return found + [f"nothing inserted: {last_lines(outcome.output)}"]
    found += [f"the cell lacks {text!r}" for text in case.cell_has if text not in outcome.inserted]
    found += [f"the cell holds {text!r}" for text in case.cell_lacks if text in outcome.inserted]
    if not outcome.cell_ok:
        found.append(f"the inserted cell failed: {outcome.cell_error}")
    if case.expect == "builds":
        if not outcome.sketch:
            return found + ["no sketch written"]
        found += [f"the sketch lacks {text!r}" for text in case.sketch_has if text not in outcome.sketch]
        found += [f"the sketch holds {text!r}" for text in case.sketch_lacks if text in glue_of(outcome.sketch)]
        for name in boards:
            build = getattr(outcome, name)
            if build is None or not build.ok:
                found.append(f"{name} build: " + (build.skipped or build.errors if build else "not run"))
    return found


def glue_of(sketch: str) -> str:
    """The text inside the sketch's app regions (what the model wrote), for `sketch_lacks`."""
    return "\n".join(re.findall(r"// >>> tinyml:app-\w+\n(.*?)// <<< tinyml:app-", sketch, re.DOTALL))


def last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])[-400:]


class Player:
    """A real kernel with the extension loaded and the chat server configured, playing corpus cases one by one."""

    def __init__(self, server: Any, models: Path, work: Path, *, link_all: bool = False) -> None:
        from jupyter_client.manager import start_new_kernel

        self.server, self.models, self.work, self.link_all = server, models, work, link_all
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TINYML_MODEL": "openai/gpt-4o-corpus", "TINYML_API_BASE": server.base_url,
               "TINYML_API_KEY": "sk-corpus-test-key-0000", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
               "MPLBACKEND": "Agg"}
        self.manager, self.client = start_new_kernel(kernel_name="python3", env=env, cwd=str(work))
        reply, outputs = self.execute(f"%load_ext jupyter_tinyml\n%tinyml config board={BOARD}")
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel did not load the extension: {text_of(outputs)}")

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)

    def execute(self, code: str, timeout: float = 180) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        outputs: list[dict[str, Any]] = []
        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=outputs.append)
        return reply, outputs

    def play(self, case: Case, *, stream: bool) -> Outcome:
        """Givens, the failing cell of a fix, the magic against the scripted rounds, the inserted cell, the builds."""
        from openai_server import Reply

        folder = self.work / case.name
        folder.mkdir(parents=True, exist_ok=True)
        setup = "\n".join(GIVEN[name].replace("MODEL_DIR", str(self.models)) for name in case.given)
        reply, outputs = self.execute(f"import os\nos.chdir(r'{folder}')\n{setup}")
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{case.name}: the given data failed: {text_of(outputs)}")
        self.execute(f"%tinyml config stream={'true' if stream else 'false'}")
        if case.failing:
            reply, _ = self.execute(case.failing)
            if reply["content"]["status"] != "error":
                raise RuntimeError(f"{case.name}: the failing cell ran without error")
        cut = "finish_reason" in getattr(Reply, "__dataclass_fields__", {})
        self.server.replies[:] = [Reply(r.text, finish_reason=r.finish_reason) if cut else Reply(r.text)
                                  for r in case.rounds]
        asked_before = len(self.server.requests)
        magic = "%tinyml_fix" if case.stage == "fix" else f"%%tinyml_{case.stage}\n{case.request}\n"
        started = time.perf_counter()
        reply, outputs = self.execute(magic)
        seconds = {"magic": time.perf_counter() - started}
        self.server.replies.clear()
        requests = self.server.requests[asked_before:]
        outcome = Outcome(magic_ok=reply["content"]["status"] == "ok", output=text_of(outputs), rounds=len(requests),
                          asked="\n".join(str(r["messages"][-1]["content"]) for r in requests[1:]),
                          seconds=seconds)
        for prompt, completion in USAGE.findall(outcome.output):
            outcome.prompt_tokens += int(prompt)
            outcome.completion_tokens += int(completion)
        payloads = [p for p in reply["content"].get("payload", []) if p.get("source") == "set_next_input"]
        if payloads:
            outcome.inserted = payloads[-1]["text"]
            started = time.perf_counter()
            ran, _ = self.execute(outcome.inserted)
            seconds["cell"] = time.perf_counter() - started
            outcome.cell_ok = ran["content"]["status"] == "ok"
            if not outcome.cell_ok:
                outcome.cell_error = f"{ran['content'].get('ename')}: {ran['content'].get('evalue')}"[:400]
        if case.expect == "builds" and outcome.cell_ok:
            build_sketch(folder, outcome, link=self.link_all or case.link)
        return outcome


def text_of(outputs: list[dict[str, Any]]) -> str:
    """Streams and error lines of a cell's output messages, in order."""
    parts = []
    for message in outputs:
        content = message["content"]
        if message["msg_type"] == "stream":
            parts.append(content["text"])
        elif message["msg_type"] == "error":
            parts.append(f"{content['ename']}: {content['evalue']}\n")
    return "".join(parts)


def build_sketch(folder: Path, outcome: Outcome, *, link: bool) -> None:
    """The sketch the cell wrote: compiled for the virtual board (built and linked with TFLite Micro when `link`),
    and the Nano's compile check."""
    inos = sorted(folder.glob("**/*.ino"))
    if not inos:
        return
    ino = inos[0]
    outcome.sketch = ino.read_text(encoding="utf-8")
    project = next((p for p in ino.parents if (p / "platformio.ini").is_file()), ino.parent)
    from jupyter_tinyml.hardware.virtual import tflm

    if link:
        started = time.perf_counter()
        try:
            built = tflm.build_sketch(project, VIRTUAL_BOARD, output_dir=folder / "virtual-build")
            outcome.virtual = Build(bool(built.ok), "" if built.ok else first_errors(built.error_text()))
        except Exception as error:  # a missing toolchain or library: the build was not tried
            outcome.virtual = Build(False, skipped=f"{type(error).__name__}: {error}"[:300])
        outcome.seconds["virtual"] = time.perf_counter() - started
    else:
        outcome.virtual = compile_check(ino, VIRTUAL_BOARD, outcome)
    outcome.nano = compile_check(ino, BOARD, outcome)


def compile_check(ino: Path, board: str, outcome: Outcome) -> Build:
    """firmware.glue_compile.compile_glue: the .ino for `board`, syntax only, timed into outcome.seconds."""
    try:
        from jupyter_tinyml.firmware.glue_compile import compile_glue
    except ImportError as error:
        return Build(False, skipped=f"no compile_glue yet ({error})")
    started = time.perf_counter()
    checked = compile_glue(ino, board)
    outcome.seconds["nano" if board == BOARD else "virtual"] = time.perf_counter() - started
    if checked.skipped:
        return Build(False, skipped=str(checked.skipped))
    return Build(bool(checked.ok), "" if checked.ok else first_errors("\n".join(map(str, checked.errors))))


def first_errors(text: str, count: int = 2) -> str:
    lines = [line.strip() for line in text.splitlines() if "error" in line.lower()]
    return " | ".join(lines[:count])[:400] or text.strip()[:300]
