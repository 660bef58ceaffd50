"""Who closes a recording's file once napari layers show it: the viewer, when its last layer goes.

A recording read through a file handle (a compressed TIFF, an HDF5 file, a video) must keep that
handle open while a layer shows it (napari reads frames on demand). Left to garbage collection it
is closed late, with `ResourceWarning: unclosed file`. The reader hands the recording to the
viewer instead: it is closed when the last layer showing its arrays is removed, which closing the
viewer does for every layer. (An uncompressed TIFF is memory-mapped and holds no handle.)

Two more ways it closes, and one way it waits:
- Layer data napari never added (a reader's result discarded, an error while adding): closed as
  soon as its arrays are garbage (`weakref.finalize`), not when the viewer closes (the viewer's
  event connections held the recording, arrays and all, until then).
- A background job (`widgets._worker.start_job`) holds every recording handed to a viewer open
  until it ends (`hold_open`): a job still reading one whose last layer the user removed
  meanwhile finishes; the file is closed when the job ends (finished, failed or cancelled). A job
  cannot say which recordings it reads, so it holds all of them: another recording whose layer
  goes during the job closes when the job ends, not at once.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)
_LOCK = threading.RLock()  # (a finalizer may run inside a locked block of its own thread)
_OPEN: set[_Closing] = set()  # recordings handed to a viewer, not closed yet


class _Closing:
    """When one recording's handles close: once due (its layers gone, or its arrays garbage)
    and no job holds it. Holds no array (that would keep them from being garbage)."""

    def __init__(self, closers: list) -> None:
        self.closers = closers  # the recording's own list: `Recording.close` empties it too
        self.holds = 0
        self.due = False
        self.closed = False
        self.on_close: list[Callable[[], None]] = []

    def close_when_free(self) -> None:
        with _LOCK:
            if self.closed:
                return
            self.due = True
            if self.holds:
                return  # the last job holding it closes it (`hold_open`'s release)
            self.closed = True
            _OPEN.discard(self)
        self._close()

    def _close(self) -> None:
        for forget in self.on_close:
            try:
                forget()
            except (RuntimeError, TypeError, ValueError):  # the viewer is gone already
                pass
        self.on_close.clear()
        closers = list(self.closers)
        self.closers.clear()
        for close in closers:  # each on its own: one failing keeps no other open, and never
            try:  # stops what called this (a job's end re-enables its buttons after it)
                close()
            except Exception:
                logger.warning("napari-catrack: closing a recording's file failed", exc_info=True)


def hold_open() -> Callable[[], None]:
    """Keep every recording handed to a viewer open until the returned `release()` is called
    (once; later calls do nothing): one whose last layer goes meanwhile closes at the release."""
    with _LOCK:
        held = list(_OPEN)
        for closing in held:
            closing.holds += 1
    released = False

    def release() -> None:
        nonlocal released
        due = []
        with _LOCK:
            if released:
                return
            released = True
            for closing in held:
                closing.holds -= 1
                if closing.due and not closing.holds and not closing.closed:
                    closing.closed = True
                    _OPEN.discard(closing)
                    due.append(closing)
        for closing in due:
            closing._close()

    return release


def close_with_layers(viewer: Any, recording: Any) -> None:
    """Close `recording` once the layers of `viewer` that showed its arrays are all removed, or
    once its arrays are garbage (never shown: a reader's result napari did not add); while a
    job holds it (`hold_open`), when that job ends.

    Nothing happens before one such layer was added (a reader's layer data that napari never
    added stays readable as long as it is referenced), nor for a recording without handles.
    """
    if viewer is None or not getattr(recording, "_closers", None):
        return
    arrays = [a for a in (recording.green, recording.red) if a is not None]
    refs = []
    for array in arrays:
        try:
            refs.append(weakref.ref(array))
        except TypeError:  # an array type without weak references: compared while alive below
            refs.append(lambda array=array: array)
    closing = _Closing(recording._closers)
    layers = viewer.layers
    seen = False

    def shows(layer: Any) -> bool:
        data = getattr(layer, "data", None)
        return data is not None and any(data is ref() for ref in refs)

    def inserted(event: Any) -> None:
        nonlocal seen
        seen = seen or shows(event.value)

    def removed(_event: Any = None) -> None:
        if not seen or any(shows(layer) for layer in layers):
            return
        closing.close_when_free()

    def forget() -> None:
        layers.events.inserted.disconnect(inserted)
        layers.events.removed.disconnect(removed)

    closing.on_close.append(forget)
    with _LOCK:
        _OPEN.add(closing)
    layers.events.inserted.connect(inserted)
    layers.events.removed.connect(removed)
    alive = [len(arrays)]  # arrays not yet garbage: all of them gone closes the file

    def collected() -> None:
        with _LOCK:
            alive[0] -= 1
            last = alive[0] == 0
        if last:
            closing.close_when_free()

    for array in arrays:
        try:
            weakref.finalize(array, collected)
        except TypeError:  # no weak references: closed with its layers (or the viewer) only
            pass
