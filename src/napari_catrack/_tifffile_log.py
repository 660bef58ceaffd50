"""tifffile's logger, shared safely between threads: the one place that changes its handlers.

tifffile logs (rather than warns) what it finds odd in a file. Two things of ours change where
those records go: opening a TIFF holds this thread's records back until the file opened or was
refused (`hold`, used by `io.tiff.open_tiff`), and a command or batch step turns them into
warning lines (`added_handler`, used by `errors.warnings_as_lines`). Each used to save the
logger's handlers and `propagate`, change them and put the saved ones back, which two threads at
once undo out of order: one's holder (or line handler) stayed on the logger for good, or
`propagate` stayed off, and one thread's records went to the other's holder (h13).

Here, under one lock: while any thread holds, one router (`_Router`) is the logger's only
handler and the logger's own handlers and `propagate` are set aside (the first holder sets them
aside, the last puts them back); a record goes to the innermost holder of the thread that logged
it, or, from a thread that holds none, where it would have gone without the router. A handler
added meanwhile joins the set-aside ones; `propagate` is off while any added handler is on, and
back to what it was when the last one goes. Only the standard library is imported (`catrack
--help` imports no numpy).
"""

from __future__ import annotations

import contextlib
import logging
import threading

NAME = "tifffile"


class Held:
    """This thread's tifffile records while a file is opened: `pass_on()` once it opened (later
    records then go straight through), or dropped with it when our own one-line message says
    what is wrong (a user would see tifffile's lines first, then ours)."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        self.holding = True

    def pass_on(self) -> None:
        _release(self)
        records, self.records = self.records, []
        for record in records:
            _deliver(record)


class _Router(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        holders = _HOLDERS.get(threading.get_ident())
        if holders:
            holders[-1].records.append(record)
        else:
            _deliver(record)


_LOCK = threading.RLock()
_HOLDERS: dict[int, list[Held]] = {}  # thread -> its holders (innermost last)
_ROUTER = _Router()
_ASIDE: dict = {"handlers": [], "propagate": True}  # the logger's own, while the router is on
_ADDED: dict = {"count": 0, "propagate": True}  # added handlers on, and `propagate` before them


def _logger() -> logging.Logger:
    return logging.getLogger(NAME)


def _routing() -> bool:
    return _ROUTER in _logger().handlers


def _own_propagate() -> bool:
    return _ASIDE["propagate"] if _routing() else _logger().propagate


def _set_own_propagate(value: bool) -> None:
    if _routing():
        _ASIDE["propagate"] = value
    else:
        _logger().propagate = value


def _deliver(record: logging.LogRecord) -> None:
    """Handle `record` as tifffile's logger would without the router (`Logger.callHandlers`)."""
    logger = _logger()
    with _LOCK:
        if _routing():
            handlers, propagate = list(_ASIDE["handlers"]), _ASIDE["propagate"]
        else:
            handlers, propagate = list(logger.handlers), logger.propagate
    found = 0
    node: logging.Logger | None = logger
    while node is not None:
        for handler in handlers:
            found += 1
            if record.levelno >= handler.level:
                handler.handle(record)
        if not propagate:
            break
        node = node.parent
        handlers, propagate = (list(node.handlers), node.propagate) if node else ([], False)
    last = logging.lastResort
    if not found and last is not None and record.levelno >= last.level:
        last.handle(record)


def _release(held: Held) -> None:
    """End `held`'s hold; the last hold of any thread puts the logger's own handlers back."""
    with _LOCK:
        if not held.holding:
            return
        held.holding = False
        ident = threading.get_ident()
        mine = _HOLDERS.get(ident, [])
        if held in mine:
            mine.remove(held)
        if not mine:
            _HOLDERS.pop(ident, None)
        if _HOLDERS:
            return
        logger = _logger()
        logger.removeHandler(_ROUTER)
        for handler in _ASIDE["handlers"]:
            logger.addHandler(handler)  # (a handler already there is not added twice)
        logger.propagate = _ASIDE["propagate"]
        _ASIDE.update(handlers=[], propagate=True)


@contextlib.contextmanager
def hold():
    """Hold this thread's tifffile records in the `Held` yielded (see the module)."""
    held = Held()
    with _LOCK:
        logger = _logger()
        if not _HOLDERS:
            _ASIDE.update(handlers=list(logger.handlers), propagate=logger.propagate)
            for handler in _ASIDE["handlers"]:
                logger.removeHandler(handler)
            logger.addHandler(_ROUTER)
            logger.propagate = False
        _HOLDERS.setdefault(threading.get_ident(), []).append(held)
    try:
        yield held
    finally:
        _release(held)


@contextlib.contextmanager
def added_handler(handler: logging.Handler):
    """`handler` on tifffile's logger for the block, with `propagate` off (records are not also
    printed raw by logging's last-resort handler); safe beside other threads' holds and added
    handlers (see the module)."""
    with _LOCK:
        if _ADDED["count"] == 0:
            _ADDED["propagate"] = _own_propagate()
        _ADDED["count"] += 1
        if _routing():
            _ASIDE["handlers"].append(handler)
        else:
            _logger().addHandler(handler)
        _set_own_propagate(False)
    try:
        yield handler
    finally:
        with _LOCK:
            if _routing():
                if handler in _ASIDE["handlers"]:
                    _ASIDE["handlers"].remove(handler)
            else:
                _logger().removeHandler(handler)
            _ADDED["count"] -= 1
            if _ADDED["count"] == 0:
                _set_own_propagate(_ADDED["propagate"])
