"""Small helpers shared by widgets: the likeliest neurons layer, progress relayed from workers.

Channels, the alignment and the frame rate come from `_context.ViewerContext`; errors are
reported by `_worker.report_exception` (the one error policy).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error, show_info

from napari_catrack.layers import layer_source_path  # noqa: F401 (widgets import it from here)

if TYPE_CHECKING:
    import napari


def preferred_neuron_layer(viewer: napari.Viewer, names: list[str]) -> str | None:
    """Of these layer names, the neurons layer a user most likely means.

    Per-frame positions (a time axis) before seeds or candidates, visible before hidden, layers
    with a `neuron_id` feature first, Points before Tracks, the newest first: after tracking this
    is "tracked neurons". A layer marked as ground truth (the sample's true tracks) is never
    offered on its own: the user chooses it by hand if that is what they mean.
    """
    from napari.layers import Points, Tracks

    names = [
        n for n in names
        if n in viewer.layers
        and not viewer.layers[n].metadata.get("catrack", {}).get("ground_truth")
    ]  # fmt: skip

    def rank(i: int, layer) -> tuple:
        timed = isinstance(layer, Tracks) or (isinstance(layer, Points) and layer.ndim >= 3)
        has_id = "neuron_id" in getattr(layer, "features", {})
        return (has_id, timed, bool(layer.visible), isinstance(layer, Points), i)

    ranked = [(rank(i, lay), lay.name) for i, lay in enumerate(viewer.layers) if lay.name in names]
    return max(ranked)[1] if ranked else None


__all__ = ["preferred_neuron_layer", "progress_relay", "show_error", "show_info"]


@functools.cache
def _qt_progress_classes():
    import threading
    import time

    from qtpy.QtCore import QObject, QTimer, Signal

    class ProgressRelay(QObject):
        """Progress of a worker thread shown in a widget's bar and in napari's activity dock.

        `report(done, total, message="")` may be called from any thread, as often as the work
        likes: it keeps the latest value and wakes the GUI thread at most every `INTERVAL_S`;
        a timer shows a value held back by that throttle, so the last one is always shown.
        (Before: one queued signal per report, 12,500 for 200,000 shuffles; napari's progress
        bar processes events on each update, so they nested into a RecursionError storm and
        Cancel was not seen.) `start(what)` and `finish()` run in the GUI thread around the worker.
        """

        progressed = Signal()
        INTERVAL_S = 0.1

        def __init__(self, bar, parent=None) -> None:
            super().__init__(parent)
            self.bar = bar
            self._pbar = None
            self._lock = threading.Lock()
            self._latest: tuple[int, int, str] | None = None  # reported, not shown yet
            self._woken = -float("inf")  # when report() last woke the GUI thread
            self._showing = False
            self._shown = 0  # the bar's last value (percent), for `finish(keep=True)`
            self._timer = QTimer(self)
            self._timer.setInterval(int(self.INTERVAL_S * 1000))
            self._timer.timeout.connect(self._show)
            self.progressed.connect(self._show)

        def report(self, done: int, total: int, message: str = "") -> None:
            now = time.monotonic()
            with self._lock:
                self._latest = (int(done), int(total), str(message))
                if now - self._woken < self.INTERVAL_S:
                    return  # the timer shows it
                self._woken = now
            self.progressed.emit()

        def start(self, what: str) -> None:
            from napari.utils import progress

            if self.bar is not None:  # busy until the first report (a first stage may be long)
                self.bar.setRange(0, 0)
                self.bar.setValue(0)
                self.bar.setFormat("%p%")
            self._shown = 0
            self._pbar = progress(total=0, desc=f"napari-catrack: {what}")
            self._timer.start()

        def _show(self) -> None:
            if self._showing:  # napari's bar processes events: the outer call shows the latest
                return
            with self._lock:
                latest, self._latest = self._latest, None
            if latest is None:
                return
            done, total, message = latest
            self._shown = int(100 * done / max(total, 1))
            self._showing = True
            try:
                if self.bar is not None:
                    try:
                        self.bar.setRange(0, 100)
                        self.bar.setValue(self._shown)
                        self.bar.setFormat(f"%p%  {message}" if message else "%p%")
                    except RuntimeError:  # the widget holding the bar was closed
                        self.bar = None
                if self._pbar is not None:
                    if self._pbar.total != total:
                        self._pbar.total = total
                    self._pbar.update(done - self._pbar.n)
            finally:
                self._showing = False

        def finish(self, stopped: bool = False, keep: bool = False) -> None:
            """The job ended: the bar is full, or back to 0 when `stopped` (cancelled or failed)
            instead of keeping the value it had reached; with `keep` a stopped job keeps the
            value of its last report (a cancelled batch: what finished is kept, and shown)."""
            try:
                self._timer.stop()
            except RuntimeError:  # deleted with the widget that owned the job
                pass
            if keep and stopped:
                self._show()  # the last report, if the throttle held it back
            with self._lock:
                self._latest = None
            if self.bar is not None:  # the step's running text ("shuffling") ends with it
                try:
                    self.bar.setRange(0, 100)
                    self.bar.setValue((self._shown if keep else 0) if stopped else 100)
                    self.bar.setFormat("%p%")
                except RuntimeError:
                    self.bar = None
            if self._pbar is not None:
                self._pbar.close()
                self._pbar = None

    return ProgressRelay


def progress_relay(bar, parent=None):
    """A `ProgressRelay` (see above) for a QProgressBar (or None: the activity dock only)."""
    return _qt_progress_classes()(bar, parent)
