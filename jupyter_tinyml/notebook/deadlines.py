"""A time limit that really stops Python code: SIGALRM, in the main thread.

Why a signal and not a thread: a summary may call code the user wrote (a `__repr__`, a Mapping's `__iter__`)
and that code may sleep, loop or read a pipe. A watcher thread can notice the time is up but cannot stop it;
a signal handler runs inside the blocked call (time.sleep, a read, a Python loop) and raises there.

Limits, said plainly: it works only in the main thread on POSIX (where IPython runs cells and comm handlers);
elsewhere `time_limit` limits nothing and callers must rely on not calling user code they cannot stop. A C
function that never returns to the interpreter (a stat on a dead network mount) cannot be interrupted.
A timer already running (pytest-timeout, the user's own alarm) is kept: ours nests inside it and the outer
one is re-armed with the time it had left.
"""
from __future__ import annotations

import signal
import threading
import time

# After the deadline the handler fires again every this many seconds, in case the code it stopped swallowed
# the first exception (a bare `except:` inside a user's __repr__).
_REFIRE_S = 0.05


class Overtime(BaseException):
    """The time limit passed. A BaseException, so user code's `except Exception` does not swallow it."""


def can_interrupt() -> bool:
    """True where `time_limit` can stop code: POSIX, main thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class time_limit:  # noqa: N801 - used as `with time_limit(0.25):`, like contextlib's lower-case helpers
    """Raise Overtime inside the `with` body once `seconds` have passed (main thread only; a no-op elsewhere).

    The caller that catches Overtime should call `close()` (idempotent): the alarm can fire while `__exit__`
    itself runs, and then only a second call puts the previous handler and timer back.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._armed = False
        self._previous: object = None
        self._outer: tuple[float, float] = (0.0, 0.0)
        self._started = 0.0

    def __enter__(self) -> "time_limit":
        if not can_interrupt():
            return self
        self._outer = signal.getitimer(signal.ITIMER_REAL)
        if self._outer[0] and self._outer[0] <= self.seconds:
            return self  # an outer alarm comes first anyway; replacing it would delay it
        self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._armed = True
        self._started = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, self.seconds, _REFIRE_S)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the alarm and put back the handler and timer that were there before."""
        if not self._armed:
            return
        self._armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)  # type: ignore[arg-type]
        left, interval = self._outer
        if left:
            signal.setitimer(signal.ITIMER_REAL, max(left - (time.monotonic() - self._started), 1e-3), interval)

    def _on_alarm(self, signum: int, frame: object) -> None:
        if self._armed:
            raise Overtime()
