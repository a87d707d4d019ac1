"""A board that floods the serial link cannot fill the kernel's memory, and its error text stays one short line.

The peer is a real pseudo-terminal: a thread on the master side answers the link's requests with a 4 MB line
without the protocol's prefix, a 1 MB `TINYML ERROR`, or many long lines, as a broken firmware could.
"""
from __future__ import annotations

import os
import select
import threading
import tracemalloc
import tty
from typing import Callable, Iterator

import pytest

from jupyter_tinyml.errors import DeviceError
from jupyter_tinyml.hardware.protocol import MAX_LINE, MAX_MESSAGE, error_text
from jupyter_tinyml.hardware.serial_link import TEXT_CHARS_KEPT, BoardLink

pytestmark = pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")

FOUR_MB = 4_000_000
ONE_MB = 1 << 20
INFO = ("TINYML INFO model=m in=2 out=2 in_scale=0.1 in_zero=0 out_scale=0.1 out_zero=0 arena=1024 "
        "ops=FULLY_CONNECTED")


class FloodingPeer:
    """A pty whose master side answers each request line with what `answers[word]` returns (bytes, no line end)."""

    def __init__(self, answers: dict[str, Callable[[], list[bytes]]]) -> None:
        self.answers = answers
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo: bytes pass as a USB CDC port passes them
        self.path = os.ttyname(self.slave)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        pending = b""
        while not self.stopping.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                pending += os.read(self.master, 4096)
            except OSError:
                return
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                word = line.decode("ascii", "replace").strip().split(" ", 1)[0]
                for data in self.answers.get(word, lambda: [b"TINYML ERROR unknown command"])():
                    self.send(data)  # apart from its line end: no copy, so the peer holds nothing new
                    self.send(b"\r\n")

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.stopping.is_set():
            if select.select([], [self.master], [], 0.05)[1]:
                view = view[os.write(self.master, view[:65536]):]

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def flood() -> Iterator[Callable[[dict[str, Callable[[], list[bytes]]]], BoardLink]]:
    opened: list[tuple[FloodingPeer, BoardLink]] = []

    def open_link(answers: dict[str, Callable[[], list[bytes]]]) -> BoardLink:
        peer = FloodingPeer(answers)
        link = BoardLink(peer.path, wait_ready=False, timeout=20)
        opened.append((peer, link))
        return link

    yield open_link
    for peer, link in opened:
        link.close()
        peer.close()


def test_a_4_mb_line_is_kept_cut_with_a_note_and_the_link_still_answers(flood) -> None:
    flood_line = b"x" * FOUR_MB  # made before tracing: only what the link holds counts
    link = flood({"PING": lambda: [flood_line, b"TINYML PONG"], "INFO": lambda: [INFO.encode()]})
    tracemalloc.start()
    try:
        link.ping()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = link.text[-1]
    assert kept.startswith("x" * 1000) and len(kept) < MAX_LINE + 64
    assert kept.endswith(f"[{FOUR_MB - MAX_LINE} more bytes cut]")
    assert peak < 2 * ONE_MB, f"reading a 4 MB line held {peak / ONE_MB:.1f} MB"
    assert link.info().model == "m"  # the next answer is read as usual


def test_a_1_mb_device_error_is_one_short_line_with_a_note(flood) -> None:
    link = flood({"INFER": lambda: [b"TINYML ERROR AllocateTensors failed " + b"e" * ONE_MB]})
    with pytest.raises(DeviceError) as raised:
        link.infer(b"\x01\x02")
    message = str(raised.value)
    assert len(message) < MAX_MESSAGE + 400 and "\n" not in message
    assert message.count("e" * 50) and "AllocateTensors failed" in message
    assert f"the board's message is {len('AllocateTensors failed ') + ONE_MB:,} characters" in message
    assert "larger tensor arena" in message  # the hint still reads the start of the message
    assert len(raised.value.device_message) < MAX_MESSAGE + 100


def test_the_free_text_a_link_keeps_is_bounded_in_total(flood) -> None:
    line = b"log " + b"y" * 60_000
    link = flood({"PING": lambda: [line] * 40 + [b"TINYML PONG"]})
    link.ping()
    assert len(link.text) >= 10 and link.text[-1] == line.decode()
    assert sum(map(len, link.text)) <= TEXT_CHARS_KEPT


def test_error_text_cuts_long_messages_and_leaves_short_ones() -> None:
    assert error_text("TINYML ERROR arena too small") == "arena too small"
    cut = error_text("TINYML ERROR " + "z" * 5000)
    assert cut.startswith("z" * MAX_MESSAGE) and cut.endswith("[cut: the board's message is 5,000 characters]")
