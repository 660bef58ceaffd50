"""Small helpers shared by widgets: find channel layers, report errors the napari way."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error, show_info

from napari_catrack.errors import CatrackError

if TYPE_CHECKING:
    import napari


def channel_layer(viewer: napari.Viewer, role: str):
    """The most recently added Image layer whose napari-catrack role is `role` ("green"/"red")."""
    from napari.layers import Image

    for layer in reversed(list(viewer.layers)):
        if isinstance(layer, Image) and layer.metadata.get("catrack", {}).get("role") == role:
            return layer
    return None


def preferred_neuron_layer(viewer: napari.Viewer, names: list[str]) -> str | None:
    """Of these layer names, the neurons layer a user most likely means.

    Per-frame positions (a time axis) before seeds or candidates, visible before hidden (the
    sample's ground truth is hidden), layers with a `neuron_id` feature first, Points before
    Tracks, the newest first: after tracking this is "tracked neurons".
    """
    from napari.layers import Points, Tracks

    def rank(i: int, layer) -> tuple:
        timed = isinstance(layer, Tracks) or (isinstance(layer, Points) and layer.ndim >= 3)
        has_id = "neuron_id" in getattr(layer, "features", {})
        return (has_id, timed, bool(layer.visible), isinstance(layer, Points), i)

    ranked = [(rank(i, lay), lay.name) for i, lay in enumerate(viewer.layers) if lay.name in names]
    return max(ranked)[1] if ranked else None


def report_error(exc: BaseException) -> None:
    """User mistakes as one line; anything else keeps napari's traceback notification."""
    if isinstance(exc, CatrackError):
        show_error(f"napari-catrack: {exc}")
    else:
        raise exc


__all__ = ["channel_layer", "preferred_neuron_layer", "report_error", "show_error", "show_info"]


@functools.cache
def _qt_progress_classes():
    from qtpy.QtCore import QObject, Signal

    class ProgressRelay(QObject):
        """Progress of a worker thread shown in a widget's bar and in napari's activity dock.

        `report(done, total, message="")` may be called from any thread (it emits a queued
        signal); `start(what)` and `finish()` run in the GUI thread around the worker.
        """

        progressed = Signal(int, int, str)

        def __init__(self, bar, parent=None) -> None:
            super().__init__(parent)
            self.bar = bar
            self._pbar = None
            self.progressed.connect(self._show)

        def report(self, done: int, total: int, message: str = "") -> None:
            self.progressed.emit(int(done), int(total), str(message))

        def start(self, what: str) -> None:
            from napari.utils import progress

            if self.bar is not None:
                self.bar.setValue(0)
                self.bar.setFormat("%p%")
            self._pbar = progress(total=0, desc=f"napari-catrack: {what}")

        def _show(self, done: int, total: int, message: str) -> None:
            if self.bar is not None:
                self.bar.setValue(int(100 * done / max(total, 1)))
                self.bar.setFormat(f"%p%  {message}" if message else "%p%")
            if self._pbar is not None:
                if self._pbar.total != total:
                    self._pbar.total = total
                self._pbar.update(done - self._pbar.n)

        def finish(self) -> None:
            if self._pbar is not None:
                self._pbar.close()
                self._pbar = None

    return ProgressRelay


def progress_relay(bar, parent=None):
    """A `ProgressRelay` (see above) for a QProgressBar (or None: the activity dock only)."""
    return _qt_progress_classes()(bar, parent)
