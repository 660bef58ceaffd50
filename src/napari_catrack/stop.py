"""Stop requests (SIGTERM, SIGHUP) that cannot be lost.

The CLI's signal handler raises `Stopped` in the main thread, so `finally` blocks and the atomic
writes' cleanup run. A raise can land where Python drops it, though: in a weakref callback or a
`__del__` ("Exception ignored in ..."), or in a library's bare `except:`. So the handler also
records the request here, and the request is checked again at safe points: before a finished
file is placed over its target (`io.atomic`), between chunks of a movie being written, and when
the command returns. A dropped raise therefore never lets a stopped command replace its output
and exit 0; it stops at the next safe point with exit 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

_requested: int | None = None  # the first stop signal received, None when none
_shielded = 0  # depth of cleanup blocks a further signal must not cut short


class Stopped(KeyboardInterrupt):
    """A stop signal turned into an exception in the main thread, so `finally` blocks run (the
    atomic writes' cleanup): a Python killed by SIGTERM runs none and left `.partial` files.

    A KeyboardInterrupt, so whatever cancels cleanly on Ctrl-C does so on SIGTERM too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def request(signum: int) -> None:
    """Record a stop signal (the first one wins)."""
    global _requested
    if _requested is None:
        _requested = int(signum)


def requested() -> int | None:
    """The stop signal received since the last `reset()`, or None."""
    return _requested


def check() -> None:
    """Raise `Stopped` when a stop was requested: call it where stopping is safe."""
    if _requested is not None:
        raise Stopped(_requested)


def reset() -> None:
    global _requested
    _requested = None


def is_shielded() -> bool:
    return _shielded > 0


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A cleanup (removing temp files) that a second stop signal only records, not interrupts."""
    global _shielded
    _shielded += 1
    try:
        yield
    finally:
        _shielded -= 1
