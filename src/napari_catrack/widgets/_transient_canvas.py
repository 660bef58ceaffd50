"""The curation plot: one cell's dF/F with its transients as shaded spans, edited by mouse.

Mouse grammar (left button), all in the plot of the selected cell:
- drag horizontally on empty trace  -> `span_drawn(start, end)` (the widget adds a transient),
- drag a transient's start/end edge -> `edge_moved(transient_id, "start"|"end", frame)`,
- click (no drag)                   -> `clicked(frame, transient_id or -1)` (select / move slider).
Frames in the signals are indices into the shown trace; the x axis is time in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import blended_transform_factory
from qtpy.QtCore import Qt, Signal

DRAG_PX = 5  # a press that moves less than this is a click
EDGE_PX = 6  # how close to a span edge a press must be to grab it
COLORS = {"manual": "C2", "selected": "C3"}


class TransientCanvas(FigureCanvasQTAgg):
    """Matplotlib canvas showing one trace; emits edit requests, never edits data itself."""

    span_drawn = Signal(int, int)
    edge_moved = Signal(int, str, int)
    clicked = Signal(int, int)

    def __init__(self) -> None:
        self.figure = Figure(figsize=(5, 2.6), layout="constrained")
        super().__init__(self.figure)
        self.ax = self.figure.add_subplot()
        self.setMinimumHeight(200)
        self.setFocusPolicy(Qt.StrongFocus)  # a click gives the plot the curation keys
        self.fps = 1.0
        self.frame0 = 0
        self.y = np.zeros(0)
        self.spans = pd.DataFrame(columns=["transient_id", "start", "peak", "end", "source"])
        self.selected = -1
        self._cursor = None
        self._cursor_frame = 0
        self._press: tuple[float, float] | None = None
        self._edge: tuple[int, str] | None = None
        self._moved = False
        self._last_x = 0.0
        self._preview: Rectangle | None = None
        self.mpl_connect("button_press_event", self._on_press)
        self.mpl_connect("motion_notify_event", self._on_motion)
        self.mpl_connect("button_release_event", self._on_release)

    # ------------------------------------------------------------ drawing
    def time(self, idx) -> np.ndarray:
        """Trace index -> seconds on the x axis (absolute recording time)."""
        return (np.asarray(idx, dtype=float) + self.frame0) / self.fps

    def index(self, x: float) -> int:
        """x (seconds) -> nearest trace index, clipped to the trace."""
        i = round(float(x) * self.fps) - self.frame0
        return int(np.clip(i, 0, max(self.y.size - 1, 0)))

    def show_trace(
        self,
        y: np.ndarray | None,
        spans: pd.DataFrame,
        fps: float,
        frame0: int = 0,
        title: str = "",
        selected: int = -1,
    ) -> None:
        """Draw a trace and its transients (`spans`: transient_id, start, peak, end, source)."""
        self.y = np.zeros(0) if y is None else np.asarray(y, dtype=float)
        self.spans, self.fps, self.frame0, self.selected = spans, float(fps), int(frame0), selected
        ax = self.ax
        ax.clear()
        self._preview = None
        if self.y.size:
            t = self.time(np.arange(self.y.size))
            ax.plot(t, self.y, color="0.25", lw=0.8)
            for tid, s, p, e, src in spans.itertuples(index=False):
                sel = int(tid) == selected
                color = COLORS["selected"] if sel else COLORS.get(src, "C1")
                ax.axvspan(t[s], t[e], color=color, alpha=0.35 if sel else 0.2, lw=0)
                ax.plot(t[p], self.y[p], "v", color=color, ms=7 if sel else 5)
                if sel:
                    for edge in (t[s], t[e]):
                        ax.axvline(edge, color=color, lw=1.5)
            ax.set_xlim(t[0], t[-1])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("dF/F")
        ax.set_title(title, fontsize=9)
        self._cursor = ax.axvline(self.time(self._cursor_frame - self.frame0), color="C0", lw=1)
        self.draw_idle()

    def set_cursor(self, frame: int) -> None:
        """Vertical line at a recording frame (napari's time slider)."""
        self._cursor_frame = int(frame)
        if self._cursor is not None:
            x = float(frame) / self.fps
            self._cursor.set_xdata([x, x])
            self.draw_idle()

    def cursor_time(self) -> float:
        return float(self._cursor.get_xdata()[0]) if self._cursor is not None else np.nan

    # ------------------------------------------------------------ mouse
    def _px(self, x: float) -> float:
        return float(self.ax.transData.transform((x, 0))[0])

    def _edge_at(self, px: float) -> tuple[int, str] | None:
        """The span edge within EDGE_PX of a pixel column, the selected transient first."""
        if not len(self.spans):
            return None
        rows = self.spans.sort_values(
            "transient_id", key=lambda s: s != self.selected, kind="stable"
        )
        for tid, s, _, e, _ in rows.itertuples(index=False):
            for which, i in (("start", s), ("end", e)):
                if abs(self._px(self.time(i)) - px) <= EDGE_PX:
                    return int(tid), which
        return None

    def transient_at(self, idx: int) -> int:
        """The transient whose span holds a trace index (nearest peak wins), or -1."""
        inside = self.spans[(self.spans["start"] <= idx) & (self.spans["end"] >= idx)]
        if inside.empty:
            return -1
        return int(inside.iloc[int(np.argmin(np.abs(inside["peak"] - idx)))]["transient_id"])

    def _on_press(self, event) -> None:
        if event.button != 1 or event.inaxes is not self.ax or not self.y.size:
            return
        self._press = (float(event.x), float(event.xdata))
        self._last_x = float(event.xdata)
        self._moved = False
        self._edge = self._edge_at(float(event.x))

    def _on_motion(self, event) -> None:
        if self._press is None:
            return
        if event.xdata is not None and event.inaxes is self.ax:
            self._last_x = float(event.xdata)
        if abs(float(event.x) - self._press[0]) > DRAG_PX:
            self._moved = True
        if not self._moved:
            return
        x0 = self._press[1]
        if self._edge is not None:
            s, e = self._edge_span()
            x0, x1 = (
                (self._last_x, self.time(e))
                if self._edge[1] == "start"
                else (
                    self.time(s),
                    self._last_x,
                )
            )
        else:
            x1 = self._last_x
        if self._preview is None:
            trans = blended_transform_factory(self.ax.transData, self.ax.transAxes)
            self._preview = Rectangle((0, 0), 0, 1, transform=trans, color="C4", alpha=0.3)
            self.ax.add_patch(self._preview)
        self._preview.set_x(min(x0, x1))
        self._preview.set_width(abs(x1 - x0))
        self.draw_idle()

    def _edge_span(self) -> tuple[int, int]:
        row = self.spans[self.spans["transient_id"] == self._edge[0]].iloc[0]
        return int(row["start"]), int(row["end"])

    def _on_release(self, event) -> None:
        if self._press is None:
            return
        if event.xdata is not None and event.inaxes is self.ax:
            self._last_x = float(event.xdata)
        if abs(float(event.x) - self._press[0]) > DRAG_PX:
            self._moved = True
        press_x, edge, moved = self._press[1], self._edge, self._moved
        self._press, self._edge, self._moved = None, None, False
        if self._preview is not None:
            self._preview.remove()
            self._preview = None
            self.draw_idle()
        end = self.index(self._last_x)
        if moved and edge is not None:
            self.edge_moved.emit(edge[0], edge[1], end)
        elif moved:
            start = self.index(press_x)
            self.span_drawn.emit(min(start, end), max(start, end))
        else:
            idx = self.index(press_x)
            self.clicked.emit(idx, self.transient_at(idx))
