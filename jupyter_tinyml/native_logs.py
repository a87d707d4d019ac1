"""TensorFlow's native log lines kept out of the notebook.

Why: TensorFlow's C++ core (absl logging) and the TFLite converter write dozens of `I0000 ...`/`W0000 ...` lines
straight to the process's stderr, below Python, where ipykernel shows them in red under the cell. A room of
students reads them as errors, and they push the QuantizationReport off screen. Two measures:

- `quiet_tensorflow()` sets TensorFlow's own switches before TensorFlow loads (the C++ core reads them once, at its
  first log line). A value the person set is kept: they asked for those lines.
- `native_output_kept()` holds what native code writes to file descriptors 1 and 2 during one call (the
  converter's `fully_quantize: ...` is a bare fprintf no switch reaches), so an error can still quote it.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

# TF_CPP_MIN_LOG_LEVEL 2: TensorFlow's C++ INFO and WARNING lines are dropped, ERROR and FATAL still shown.
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR"}
# Python loggers that print INFO lines during conversion ("INFO:tensorflow:Assets written to: /tmp/...").
NOISY_LOGGERS = ("tensorflow", "absl")


def quiet_tensorflow() -> None:
    """Set TensorFlow's log switches unless the person set them; called by %load_ext, before TensorFlow loads."""
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


@dataclass
class KeptOutput:
    """What native code wrote while `native_output_kept` held it; filled when the block ends."""

    text: str = ""


@contextlib.contextmanager
def native_output_kept() -> Iterator[KeptOutput]:
    """Within the block, file descriptors 1 and 2 write to a temporary file, and the Python loggers above
    print errors only; afterwards everything is as before and `kept.text` holds what was written.

    Why file descriptors: the lines come from C and C++ (stdio, absl), which never pass through sys.stdout.
    """
    kept = KeptOutput()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    loggers = {name: logging.getLogger(name) for name in NOISY_LOGGERS}
    levels = {name: logger.level for name, logger in loggers.items()}
    with tempfile.TemporaryFile() as sink:
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        try:
            for fd in saved:
                os.dup2(sink.fileno(), fd)
            for logger in loggers.values():
                logger.setLevel(logging.ERROR)
            with contextlib.redirect_stdout(_Discard()):
                yield kept
        finally:
            _flush_c_streams()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            for name, logger in loggers.items():
                logger.setLevel(levels[name])
            sink.seek(0)
            kept.text = sink.read().decode("utf-8", "replace")


class _Discard:
    """A text stream that drops Python-level prints (Keras 3's "Saved artifact at /tmp/...")."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _flush_c_streams() -> None:
    """fflush(NULL): C stdio buffers what it writes to a file, and must empty it before the descriptors return."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to name (an unusual platform): nothing buffered to lose
        pass
