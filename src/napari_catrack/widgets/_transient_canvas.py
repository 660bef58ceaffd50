"""The curation plot: one cell's dF/F with its transients as shaded spans, edited by mouse.

Mouse grammar (left button), all in the plot of the selected cell:
- drag horizontally on empty trace  -> `span_drawn(start, end)` (the widget adds a transient),
- drag a transient's start/end edge -> `edge_moved(transient_id, "start"|"end", frame)`,
- click (no drag)                   -> `clicked(frame, transient_id or -1)` (select / move slider).
Frames in the signals are indices into the shown trace; the x axis is time in seconds.

Showing another cell updates the artists in place (no `ax.clear()`, the layout frozen, the time
cursor blitted: `_canvas.FastCanvas`), which keeps a key press in curation well under 100 ms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import blended_transform_factory
from qtpy.QtCore import Qt, Signal

from napari_catrack.figures.traces import isolated_samples
from napari_catrack.widgets._canvas import FastCanvas

DRAG_PX = 5  # a press that moves less than this is a click
EDGE_PX = 6  # how close to a span edge a press must be to grab it
COLORS = {"manual": "C2", "selected": "C3"}


def _nan_runs(y: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of NaN samples (the trace's missing frames)."""
    flags = np.isnan(y).astype(np.int8)
    edges = np.diff(np.r_[0, flags, 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


class TransientCanvas(FastCanvas):
    """Matplotlib canvas showing one trace; emits edit requests, never edits data itself."""

    span_drawn = Signal(int, int)
    edge_moved = Signal(int, str, int)
    clicked = Signal(int, int)

    def __init__(self) -> None:
        self.figure = Figure(figsize=(5, 2.6), layout="constrained")
        super().__init__(self.figure)
        self.ax = self.figure.add_subplot()
        self.ax.set_xlabel("time (s)")
        self.ax.set_ylabel("dF/F")
        self._line = self.ax.plot([], [], color="0.25", lw=0.8)[0]
        # the transients of the cell shown: three artists updated in place (one artist per
        # transient made showing a cell with 20 transients cost 20+ ms of artist creation)
        blend = blended_transform_factory(self.ax.transData, self.ax.transAxes)
        self._spans_art = PolyCollection([], transform=blend, linewidths=0, zorder=1)
        self.ax.add_collection(self._spans_art, autolim=False)
        # missing frames (NaN: lost, off the image) as grey bands, as in the Traces widget
        self._gaps_art = PolyCollection([], transform=blend, linewidths=0, zorder=0,
                                        facecolors="0.85")  # fmt: skip
        self.ax.add_collection(self._gaps_art, autolim=False)
        self._peaks_art = self.ax.scatter([], [], marker="v", zorder=3)
        self._edges_art = LineCollection([], transform=blend, linewidths=1.5, zorder=2)
        self.ax.add_collection(self._edges_art, autolim=False)
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
        if self._preview is not None:
            self._preview.remove()
            self._preview = None
        t = self.time(np.arange(self.y.size))
        self._line.set_data(t, self.y)
        alone = isolated_samples(self.y)  # a measured frame between missing ones: a dot
        self._line.set_marker("." if alone.any() else "None")
        self._line.set_markevery(alone if alone.any() else None)
        self._show_spans(t, spans, selected)
        half = 0.5 / self.fps
        gaps = _nan_runs(self.y)
        self._gaps_art.set_verts([[(t[a] - half, 0), (t[a] - half, 1), (t[b] + half, 1),
                                   (t[b] + half, 0)] for a, b in gaps])  # fmt: skip
        if self.y.size:
            ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)
            finite = self.y[np.isfinite(self.y)]
            if finite.size:
                lo, hi = float(finite.min()), float(finite.max())
                pad = 0.05 * (hi - lo) or 0.1
                ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(title, fontsize=9)
        if self._cursor is None:
            self._cursor = ax.axvline(0.0, color="C0", lw=1)
            self.set_animated([self._cursor])
        x = self.time(self._cursor_frame - self.frame0)
        self._cursor.set_xdata([x, x])
        self.draw_now()  # now: its repaint joins the viewer's (one window update per key)

    def _show_spans(self, t: np.ndarray, spans: pd.DataFrame, selected: int) -> None:
        """Shaded spans, peak markers and the selected transient's edges."""
        if not len(spans) or not t.size:
            self._spans_art.set_verts([])
            self._peaks_art.set_offsets(np.zeros((0, 2)))
            self._edges_art.set_segments([])
            return
        tid = spans["transient_id"].to_numpy(int)
        s, p, e = (np.clip(spans[c].to_numpy(int), 0, t.size - 1) for c in ("start", "peak", "end"))
        sel = tid == selected
        colors = np.array([to_rgba(COLORS["selected"] if on else COLORS.get(src, "C1"))
                           for on, src in zip(sel, spans["source"])])  # fmt: skip
        face = colors.copy()
        face[:, 3] = np.where(sel, 0.35, 0.2)
        self._spans_art.set_verts([[(t[a], 0), (t[a], 1), (t[b], 1), (t[b], 0)]
                                   for a, b in zip(s, e)])  # fmt: skip
        self._spans_art.set_facecolors(face)
        self._peaks_art.set_offsets(np.c_[t[p], self.y[p]])
        self._peaks_art.set_facecolors(colors)
        self._peaks_art.set_edgecolors(colors)
        self._peaks_art.set_sizes(np.where(sel, 49.0, 25.0))
        edges = [[(t[i], 0), (t[i], 1)] for i in (*s[sel], *e[sel])]
        self._edges_art.set_segments(edges)
        self._edges_art.set_color(to_rgba(COLORS["selected"]))

    def set_cursor(self, frame: int) -> None:
        """Vertical line at a recording frame (napari's time slider)."""
        self._cursor_frame = int(frame)
        if self._cursor is not None:
            x = float(frame) / self.fps
            if self._cursor.get_xdata()[0] != x:
                self._cursor.set_xdata([x, x])
                self.move_animated()

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
