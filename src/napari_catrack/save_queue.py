"""One background writer for the GUI's session autosaves, so a result shown or a centerline
dragged never waits for the HDF5 write (0.3-2 s on napari's main thread before: a 20,000-frame
behaviour session took 2 s per drag).

`request(session)` takes the session's snapshot (`Session.snapshot`: a shallow copy of its steps
and layers, cheap) in the calling thread and queues it; one thread writes the queued snapshots,
one at a time, so there are never two writers on one file. A newer snapshot of a session replaces
its queued one (the last edit always lands; the ones in between need not), and a snapshot older
than what a synchronous `Session.save` already wrote is skipped (`Session.write_snapshot`).
A failed write is one line (`to_main_thread`: a napari warning in the GUI) and loses nothing: the
results stay in memory, the previous file stays whole (atomic write), and the next request or
`flush` writes again. `flush()` waits until everything queued is written: on closing a napari
window (`flush_on_close`), at exit, and before this process reads a session file
(`Session.load`), so an edit made just before is never missed.
An array painted while it is written (a Labels layer's data, shared with the snapshot, not
copied: a 20,000-frame video's masks are 1.3 GB) would leave the file half-painted: the writer
checks each array it writes from memory (`EditedWhileSaved`) and this module writes again (the
GUI thread's snapshot under a new generation, `Session.renewed`: its arrays are the live ones; a
snapshot taken in this thread could catch the GUI half-way through a change), so the file holds
one whole state, never a mix.
Qt-free but for `flush_on_close` and the main-thread relay (imported lazily).
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from napari_catrack.errors import CatrackError

logger = logging.getLogger("napari_catrack")

_cond = threading.Condition()
_pending: dict[int, tuple[Any, Any]] = {}  # id(session) -> (session, its latest snapshot)
_failed: dict[int, Any] = {}  # id(session) -> session whose last background write failed
_writing = 0  # snapshots being written now (0 or 1: one writer thread)
_thread: threading.Thread | None = None
_relay: Any = None  # a QObject in the GUI thread (`_install_relay`)
_calls: collections.deque = collections.deque()  # (fn, args) for the GUI thread to run
_closing: weakref.WeakSet = weakref.WeakSet()  # Qt windows whose close flushes the queue
_edits = 0  # paint strokes seen in the viewers (`note_edit`): an edit during a write is seen
EDITED_RETRIES = 3
"""Writes of a session in a row given up for an edit meanwhile (`EditedWhileSaved`) before the
next one is written unchecked: while the user paints on, a checked write of a long video's masks
(tens of seconds) would be given up for ever and the file never updated."""
_edited: dict[int, int] = {}  # session key: checked writes given up in a row


class EditedWhileSaved(Exception):
    """An array changed while the background writer wrote it (a Labels layer painted): the file
    being written would hold part of the old and part of the new content. Not replaced; written
    again from a new snapshot (`_run`)."""


def note_edit(*_args: Any) -> None:
    """Count an in-place edit (a napari Labels layer's `paint` event, one per finished stroke;
    napari's undo emits none): the writer compares the count around each array it writes, so a stroke
    undone before the check (the bytes hashed alike) is seen too."""
    global _edits
    _edits += 1  # (the GUI thread only; read by the writer: an int, no lock needed)


def edits() -> int:
    """How many edits `note_edit` counted so far."""
    return _edits


def request(session: Any) -> None:
    """Queue a write of `session` as it is now (its file: `session.path` when written)."""
    global _thread
    snap = session.snapshot()
    here = False
    with _cond:
        _pending[id(session)] = (session, snap)
        if _thread is None:
            # not a daemon: an interpreter that exits waits for the write under way
            thread = threading.Thread(target=_run, name="napari-catrack save", daemon=False)
            try:
                thread.start()
                _thread = thread
            except RuntimeError:  # no new thread (at exit since Python 3.12, atexit's retry;
                here = True  # none left): written here, else it stayed queued and flush hung
        _cond.notify_all()
    if here:
        _run()


def idle() -> bool:
    """Nothing queued and nothing being written."""
    with _cond:
        return not _pending and _writing == 0


def writing_thread() -> threading.Thread | None:
    """The writer thread while it runs (tests check where a save ran)."""
    return _thread


def flush(timeout: float | None = None, retry_failed: bool = False) -> bool:
    """Wait until every queued save is written (True) or `timeout` seconds passed (False);
    with `retry_failed` the sessions whose last background write failed are written once more."""
    if retry_failed:
        with _cond:
            again = list(_failed.values())
        for session in again:
            if session.path is not None:
                request(session)
    if threading.current_thread() is _thread:
        return idle()  # the writer itself never waits for itself
    with _cond:
        done = _cond.wait_for(lambda: not _pending and _writing == 0, timeout)
    if threading.current_thread() is threading.main_thread():
        _run_calls()  # what the writes had to say is said now, not at the next event
    return done


def _run() -> None:
    global _thread, _writing
    while True:
        with _cond:
            if not _pending:
                if _thread is threading.current_thread():  # (not one written in `request`)
                    _thread = None
                _cond.notify_all()
                return
            key = next(iter(_pending))
            session, snap = _pending.pop(key)
            _writing += 1
        checked = _edited.get(key, 0) < EDITED_RETRIES
        try:
            if checked:
                session.write_snapshot(snap)
            else:  # lands even if a stroke is half in it (no fingerprint: written again next)
                session.write_snapshot(snap, checked=False)
            with _cond:
                _failed.pop(key, None)
                _edited.pop(key, None)
                if not checked and key not in _pending:  # a whole state follows, checked
                    _pending[key] = (session, session.renewed(snap))
        except EditedWhileSaved as exc:  # the previous file is whole: write what is there now
            logger.info("napari-catrack: %s changed while it was saved; saving it again", exc)
            with _cond:  # (before `_writing` drops: a `flush` meanwhile waits for this one too)
                _edited[key] = _edited.get(key, 0) + 1
                if key not in _pending:
                    _pending[key] = (session, session.renewed(snap))
        except Exception as exc:  # one line; the results stay in memory, the old file whole
            with _cond:
                _failed[key] = session
            name = getattr(session.path, "name", session.path)
            if isinstance(exc, CatrackError):  # said in one line already (a full disk, ...)
                line = f"autosave of {name} failed: {save_failed_line(exc)}"
            else:
                line = (
                    f"autosave of {name} failed ({type(exc).__name__}: {exc}); the results are "
                    "kept in this viewer and the next save writes them (File > Save All "
                    "Layers... to save elsewhere)"
                )
            bug = not isinstance(exc, (OSError, CatrackError))  # a disk's fault needs no trace
            trace = (type(exc), exc, exc.__traceback__) if bug else None
            logger.warning("napari-catrack: %s", line, exc_info=trace)
            # the viewer's error line when it has one (`Session.on_save_error`), else a warning
            to_main_thread(getattr(session, "on_save_error", None) or _warn, line)
        finally:
            with _cond:
                _writing -= 1
                _cond.notify_all()


def save_failed_line(exc: BaseException) -> str:
    """What a viewer says when an autosave failed: the reason, and that nothing is lost (here,
    not in session.py, which imports this module: no import cycle)."""
    return (
        f"{exc}. The results are still in this viewer: save them elsewhere with "
        "File > Save All Layers... (napari-catrack session, .catrack.h5)"
    )


def _warn(line: str) -> None:
    try:
        from napari.utils.notifications import show_warning
    except ImportError:  # no napari: the log line above is all
        return
    show_warning(f"napari-catrack: {line}")


def to_main_thread(fn: Callable[..., Any], *args: Any) -> None:
    """Call `fn(*args)` in the GUI thread (at once when called there, or without a GUI)."""
    relay = _relay
    if relay is None or threading.current_thread() is threading.main_thread():
        fn(*args)
        return
    _calls.append((fn, args))
    try:
        relay.wake.emit()  # queued to the thread the relay lives in
    except RuntimeError:  # Qt is gone (shutting down): say it where we are
        _run_calls()


def _run_calls() -> None:
    while True:
        try:
            fn, args = _calls.popleft()
        except IndexError:
            return
        fn(*args)


def _install_relay() -> None:
    global _relay
    if _relay is not None or threading.current_thread() is not threading.main_thread():
        return
    from qtpy.QtCore import QObject, Signal, Slot

    class Relay(QObject):
        wake = Signal()

        @Slot()
        def run(self) -> None:
            _run_calls()

    relay = Relay()
    relay.wake.connect(relay.run)  # the receiver lives in the GUI thread: a queued call
    _relay = relay


def flush_on_close(viewer: Any) -> None:
    """Closing this napari viewer's window waits for the queued saves (an edit made just before
    the close is written); also installs the relay that shows a failed save's line."""
    window = getattr(getattr(viewer, "window", None), "_qt_window", None)
    if window is None:
        return
    _install_relay()
    if window in _closing:
        return
    from qtpy.QtCore import QEvent, QObject

    class CloseFlush(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:
            if event.type() == QEvent.Type.Close:
                flush(retry_failed=True)
            return False

    watcher = CloseFlush(window)  # lives (and dies) with the window
    window.installEventFilter(watcher)
    _closing.add(window)
    _count_paints(viewer)


def _count_paints(viewer: Any) -> None:
    """Every Labels layer of the viewer, now and later, counts its strokes (`note_edit`)."""
    on_paint(viewer, note_edit)


def on_paint(viewer: Any, callback: Callable[[Any], None]) -> None:
    """`callback(event)` at the end of every brush stroke on the viewer's Labels layers, those
    added later too (napari's `paint` event; none on undo)."""
    layers = getattr(viewer, "layers", None)
    if layers is None:
        return

    def watch(layer: Any) -> None:
        paint = getattr(getattr(layer, "events", None), "paint", None)
        if paint is not None:
            paint.connect(callback)

    for layer in layers:
        watch(layer)
    layers.events.inserted.connect(lambda event: watch(event.value))


def _at_exit() -> None:
    flush(retry_failed=True)  # (no new thread at shutdown: `request` writes in this one)


atexit.register(_at_exit)
