"""Nothing hangs and no answer breaks the reply (issue 12, items 3 and 4): linear regexes on 1 MB of user
text, context capture bounded per object in a real shell, and answers cleaned, capped and parsed bounded."""
from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
from jupyter_client.session import json_packer

from jupyter_tinyml.notebook import summaries
from jupyter_tinyml.notebook.cells import GeneratedCell, Provenance, clean_text
from jupyter_tinyml.notebook.writers import CommWriter
from jupyter_tinyml.notebook.context import capture_shell
from jupyter_tinyml.stages import answer, data_kinds

pytestmark = pytest.mark.timeout(120)

MB = 1_000_000
# Shapes that made a backtracking regex quadratic, or that a careless rewrite would make so.
HOSTILE_TEXTS = {
    "word run": "a" * MB,
    "word run ending in .csv": "a" * MB + ".csv",
    "quote then words": "'" + "a" * MB,
    "many quotes": "'a" * (MB // 2),
    "csv after csv": "x.csv" * (MB // 5),
    "dotted words": "a.b" * (MB // 3),
    "blanks": " " * MB,
    "fence then blanks": "```x" + " " * MB + "y",
    "backticks": "`" * MB + "x",
    "repeated cue": " predict label " * (MB // 15),
    "short lines": "x\n" * (MB // 2),
}


def under_a_second(call: Any) -> float:
    """CPU seconds, not wall time: the suite shares two cores with other work, and a quadratic regex shows in
    the CPU it burns as much as in the wall clock."""
    started = time.process_time()
    call()
    elapsed = time.process_time() - started
    assert elapsed < 1.0, f"took {elapsed:.2f} s of CPU"
    return elapsed


@pytest.mark.parametrize("text", list(HOSTILE_TEXTS.values()), ids=list(HOSTILE_TEXTS))
def test_request_regexes_take_under_a_second_on_a_megabyte(text):
    under_a_second(lambda: data_kinds.csv_path_in_request(text))
    under_a_second(lambda: data_kinds.requested_kind(text))
    under_a_second(lambda: data_kinds.pick_label_column(text, ["species", "label", "a", "x.csv", "sepal length"]))
    under_a_second(lambda: data_kinds.mentions(text, "images"))


@pytest.mark.parametrize("text", list(HOSTILE_TEXTS.values()), ids=list(HOSTILE_TEXTS))
def test_answer_reading_takes_under_a_second_on_a_megabyte(text):
    under_a_second(lambda: answer.segments(text))
    under_a_second(lambda: answer.looks_like_python(text))
    under_a_second(lambda: answer.looks_like_code(text))


def test_csv_path_is_still_found_as_written():
    assert data_kinds.csv_path_in_request("train on data/iris.csv please") == "data/iris.csv"
    assert data_kinds.csv_path_in_request("use 'my data.csv' here") == "my data.csv"
    assert data_kinds.csv_path_in_request("x.csv.csv then 'b.csv'") == "x.csv.csv"
    assert data_kinds.csv_path_in_request("no table here") is None


def test_prose_of_thousands_of_words_is_not_code():
    """CPython's parser raises MemoryError on a few thousand bare words; that is prose, not a traceback."""
    assert answer.looks_like_python("word " * 1500) is False
    assert answer.looks_like_python("x = 1\n" * (answer.MAX_PARSE_LINES + 1)) is False
    assert answer.looks_like_python("x = 1\n") is True


# --- context capture in a real shell ------------------------------------------------------------------------


class SleepyRepr:
    def __repr__(self) -> str:
        time.sleep(60)
        return "never"


class SleepyInt(int):
    def __repr__(self) -> str:
        time.sleep(60)
        return "never"


class BlockingMapping(Mapping):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, key: Any) -> Any:
        time.sleep(60)

    def __iter__(self) -> Iterator[Any]:
        time.sleep(60)
        yield "key"


class ClassRaises:
    @property  # type: ignore[misc]
    def __class__(self):  # noqa: D105
        raise RuntimeError("no class for you")


class Gone:
    pass


def dead_proxy() -> Any:
    target = Gone()
    proxy = weakref.proxy(target)
    del target
    return proxy


def test_capture_is_bounded_for_slow_and_odd_objects(shell, tmp_path):
    fifo = tmp_path / "stream.csv"
    os.mkfifo(fifo)
    shell.user_ns.update(
        slow=SleepyRepr(),
        slow_number=SleepyInt(3),
        slow_cells=pd.DataFrame({"a": [SleepyRepr(), SleepyRepr()], "b": [1, 2]}),
        slow_elements=np.array([SleepyRepr(), SleepyRepr()], dtype=object),
        blocking=BlockingMapping(),
        fifo_path=str(fifo),
        odd_class=ClassRaises(),
        dead=dead_proxy(),
        kept=np.arange(10),
    )
    started = time.perf_counter()
    context = capture_shell(shell)
    elapsed = time.perf_counter() - started
    # One object runs out its time (the Mapping); none of the reprs is called at all.
    assert elapsed < summaries.SUMMARY_SECONDS + 1.5, f"capture took {elapsed:.1f} s"
    variables = context.variables
    assert "kept" in variables and "never" not in context.render()
    assert variables["blocking"].text == "blocking: BlockingMapping"  # past its time: type only
    assert "special file" in variables["fifo_path"].text
    assert "odd_class" not in variables and "dead" not in variables  # cannot be asked: skipped
    assert "slow_number: SleepyInt = 3" in variables["slow_number"].text


def test_a_magic_still_runs_with_odd_objects_in_the_namespace(shell, capsys):
    shell.user_ns.update(dead=dead_proxy(), odd_class=ClassRaises(), blocking=BlockingMapping())
    result = shell.run_cell("%%tinyml_prep --no-insert\nsplit the data\n")
    assert "Traceback" not in capsys.readouterr().err
    assert not isinstance(result.error_in_exec, (ReferenceError, RuntimeError))


def test_a_million_column_frame_summarises_in_under_a_second():
    wide = pd.DataFrame(np.zeros((3, 1_000_000), dtype=np.float32))
    made = []
    under_a_second(lambda: made.append(summaries.summarize("wide", wide)))
    summary = made[0]
    assert summary.facts["shape"] == (3, 1_000_000)
    assert "+999988 more" in summary.text and len(summary.facts["columns"]) <= summaries.SAMPLE_COLUMNS


def test_an_earlier_alarm_survives_the_time_limit():
    """pytest-timeout (or the user) may have an alarm running: ours nests inside it and gives it back."""
    import signal

    previous = signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 50.0)
    try:
        assert summaries.summarize("slow", BlockingMapping()).text == "slow: BlockingMapping"
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 45.0 < left <= 50.0 and signal.getsignal(signal.SIGALRM) is signal.SIG_IGN
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- answers --------------------------------------------------------------------------------------------------


class PackingChannel:
    """The lab comm's end as the kernel packs it: jupyter_client's own packer, which raised on a surrogate."""

    live, pending = True, False

    def __init__(self) -> None:
        self.packed: list[bytes] = []

    def send(self, message: dict[str, Any]) -> None:
        self.packed.append(json_packer(message))


def test_surrogates_are_cleaned_before_the_frontend(shell):
    cells = [GeneratedCell("x = '\ud800'\n"), GeneratedCell("Note \udfff and \x00", "markdown")]
    channel = PackingChannel()
    CommWriter(channel, shell).insert(cells, Provenance("prep", "m", "req \ud83d"))
    assert b"\\ud800" not in channel.packed[0] and "\ufffd".encode() in channel.packed[0]
    assert clean_text("\ud83d\ude00 a\r\nb\x1b") == "\U0001F600 a\nb"


def test_a_surrogate_in_an_answer_is_inserted_cleaned(shell, chat_server):
    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model, settings.api_base = "openai/test-coder", chat_server.base_url
    chat_server.answer("```python\nname = 'caf\ud800'\n```")
    shell.run_cell("%%tinyml_prep\nsplit\n")
    assert "name = 'caf\ufffd'" in shell.rl_next_input
    shell.rl_next_input.encode("utf-8")


def test_an_answer_over_the_cap_is_refused_with_one_line(shell, chat_server, capsys):
    from jupyter_tinyml.stages.llm import MAX_ANSWER_CHARS

    settings = shell.magics_manager.registry["TinyMLMagics"].settings
    settings.model, settings.api_base = "openai/test-coder", chat_server.base_url
    settings.stream = False  # one body of 200 KB; streamed, it would be 30,000 chunks
    chat_server.answer("```python\n" + "x = 1\n" * (MAX_ANSWER_CHARS // 6 + 10) + "```\n")
    shell.run_cell("%%tinyml_prep\nsplit\n")
    err = capsys.readouterr().err
    assert shell.rl_next_input is None
    assert "more than the 200,000 tinyml takes" in err and "Traceback" not in err


SKETCH = "void setup() {}\nvoid loop() {}\n"
HOSTILE_SKETCHES = {
    "nested namespaces": SKETCH + "namespace {\n" * 8_000,
    "empty blocks": SKETCH + "{}" * 50_000,
    "semicolons": SKETCH + ";" * 100_000,
    "declarations": SKETCH + "int x;\n" * 14_000,
}


@pytest.mark.parametrize("text", list(HOSTILE_SKETCHES.values()), ids=list(HOSTILE_SKETCHES))
def test_a_whole_sketch_as_large_as_an_answer_may_be_is_read_in_linear_time(text):
    """The deploy reader splits whole sketches; a quadratic step (a slice at every brace, a namespace parsed
    again per level) took 2 s to minutes (and a RecursionError) on these 100 KB texts."""
    from jupyter_tinyml.firmware.sketch_glue import glue_from_sketch

    started = time.process_time()
    glue_from_sketch(text)
    assert time.process_time() - started < 2.0
