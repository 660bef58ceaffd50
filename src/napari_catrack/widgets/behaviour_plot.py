"""Docked plot of the worm's signed speed and its curvature kymograph, synced to the time slider.

Top: signed speed (forward +, backward -) and speed, in µm/s, with the behavioural bouts (step
"bouts") as a strip of coloured bars along its top (the key in the line above the plot); bottom: curvature along the body
(head at the top) over time, with a colour bar: red (+) where the body bends counter-clockwise on
screen going from head to tail, blue (-) clockwise (`core.behaviour.posture.curvature`; which side
is ventral the video does not say), in 1/µm when the session holds the video's pixel size (`behaviour_pixel_size_um`), else 1/px, the
limits ± the 99th percentile of the good frames, at least 1/body length (`colour_limit`: a
straight worm's rounding noise looks flat). A vertical line follows
the time slider; clicking either plot moves the viewer to that frame. The data come from the
session (steps "velocity", "bouts" and "centerline"), so the plot shows whatever the behaviour widget or
a reopened session file holds; `refresh_plots(viewer)` redraws every open plot after a step.

In a short, wide dock (docked under the viewer of a laptop-sized window, where napari's layer
controls leave it 170-280 px) the two plots stand side by side and fill the dock's height: one
above the other they needed 260 px and the kymograph was scrolled out of sight.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import QLabel, QPushButton, QWidget

from napari_catrack.widgets._canvas import FastCanvas
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import scroll_body

if TYPE_CHECKING:
    import napari

_PLOTS: weakref.WeakSet = weakref.WeakSet()


def plots_of(viewer) -> list[BehaviourPlotWidget]:
    """The behaviour plots open in this viewer (each dock holds its own proxy of the viewer:
    compared as the real viewer); a plot whose dock was closed and deleted is left out."""
    from napari_catrack.session import real_viewer
    from napari_catrack.widgets._worker import _alive

    viewer = real_viewer(viewer)
    return [p for p in list(_PLOTS) if real_viewer(p.viewer) is viewer and _alive(p)]


def refresh_plots(viewer) -> None:
    """Redraw every behaviour plot docked in this viewer (after a step changed the session)."""
    for plot in plots_of(viewer):
        plot.refresh()


#: the canvas' least height with the speed plot above the kymograph
STACKED_MIN_HEIGHT = 260
#: ... with them side by side, which they are in a view shorter than `STACKED_MIN_HEIGHT` + 40
#: px and at least `SIDE_BY_SIDE_ASPECT` times as wide as tall
SIDE_BY_SIDE_MIN_HEIGHT = 120
SIDE_BY_SIDE_ASPECT = 3.0
QWIDGETSIZE_MAX = (1 << 24) - 1  # Qt's "no maximum"


class _ViewResized(QObject):
    """Calls `plot._arrange()` when the plot's scroll view changes size or is shown."""

    def __init__(self, plot: BehaviourPlotWidget) -> None:
        super().__init__(plot)
        self._plot = plot

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Resize, QEvent.Show):  # (Show: a tab brought to the front)
            self._plot._arrange()
        return False


class BehaviourPlotWidget(QWidget):
    """Signed speed + curvature kymograph with a cursor on the current frame."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.figure = Figure(figsize=(4.5, 3.6), layout="constrained")
        # the cursor is blitted over a cached background: a full redraw (tight layout, 2,000
        # frames' kymograph) on every slider step held the UI 2.5 s (scripts/ui_stall_probe.py)
        self.canvas = FastCanvas(self.figure)
        self.canvas.setMinimumHeight(STACKED_MIN_HEIGHT)
        self.side_by_side = False  # the speed plot left of the kymograph (a short, wide view)
        self._laid_out_for = False  # whether the view was short and wide at the last refresh
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.bouts_key = QLabel("")  # the strip's colours, in their colours (hidden: no bouts)
        self.bouts_key.setTextFormat(Qt.RichText)
        self.bouts_key.setWordWrap(True)
        self.bouts_key.hide()
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        lay = scroll_body(self)  # scrolls and tabs with the other catrack docks
        lay.addWidget(self.bouts_key)  # above the plot: in view however short the dock
        lay.addWidget(self.canvas, 1)  # the plot takes a tall dock's room (the line below sat
        # in the middle of a blank half of it, h20)
        lay.addWidget(self.info)
        lay.addWidget(refresh)
        self.times: np.ndarray | None = None  # time of each frame on the x axis
        self.bouts = None  # the session's bout table drawn over the speed (None: none)
        self.colorbar = None  # the kymograph's colour bar (None without a centerline)
        self.curvature_unit = "1/px"
        self._cursors: list = []
        self.canvas.mpl_connect("button_press_event", self._clicked)
        self.scroll_area.viewport().installEventFilter(_ViewResized(self))
        self.viewer.dims.events.current_step.connect(self._move_cursor)
        self.ctx.events.session.connect(lambda *_: self.refresh())
        _PLOTS.add(self)
        self.refresh()

    def _data(self):
        from napari_catrack.core.behaviour.posture import kymograph, median_length
        from napari_catrack.core.behaviour.records import (
            behaviour_pixel_size_um,
            bouts_from_session,
            centerline_from_session,
            velocity_from_session,
        )

        session = self.ctx.session
        vel = velocity_from_session(session)
        self.bouts = bouts_from_session(session) if vel is not None else None
        cl = centerline_from_session(session)
        if cl is None:
            return vel, None, None, None
        # in 1/µm when the session holds the behaviour video's pixel size: the posture's, else
        # (a posture from before session 20) the video velocity's or recording's, as the
        # exported figure and posture table (`posture_from_session`) read it
        px = behaviour_pixel_size_um(session)
        self.curvature_unit = "1/µm" if px else "1/px"
        kymo = kymograph(cl[0].points, cl[0].posture_ok, pixel_size=float(px) if px else 1.0)
        length = median_length(cl[0].points, cl[0].posture_ok, float(px) if px else 1.0)
        return vel, kymo, cl[0].reliable, length  # (length: the colour limits' floor)

    def _wants_side_by_side(self) -> bool:
        view = self.scroll_area.viewport()
        if not view.isVisible():  # not laid out yet: its size says nothing (a resize follows)
            return False
        height = view.height()
        return height < STACKED_MIN_HEIGHT + 40 and view.width() >= SIDE_BY_SIDE_ASPECT * height

    def _arrange(self) -> None:
        """After a resize of the view: in a short, wide view the canvas fills its height (the
        line and button below scroll) with the plots side by side; re-laid out when that flips."""
        side = self._wants_side_by_side()
        if side:  # fixed: the word-wrapped line below makes the view lay the body out at its
            # preferred height, which took the figure's 360 px
            margins = self.body.layout().contentsMargins()
            fill = self.scroll_area.viewport().height() - margins.top() - margins.bottom()
            if not self.bouts_key.isHidden():  # the key above it stays in view too
                fill -= self.bouts_key.sizeHint().height() + self.body.layout().spacing()
            self.canvas.setFixedHeight(max(SIDE_BY_SIDE_MIN_HEIGHT, fill))
        else:
            self.canvas.setMinimumHeight(STACKED_MIN_HEIGHT)
            self.canvas.setMaximumHeight(QWIDGETSIZE_MAX)
        if side != self._laid_out_for:
            QTimer.singleShot(0, self._rearrange)

    def _rearrange(self) -> None:
        try:
            if self._wants_side_by_side() != self._laid_out_for:
                self.refresh()
        except RuntimeError:  # closed meanwhile
            pass

    def refresh(self) -> None:
        from napari_catrack.core.behaviour.posture import colour_limit

        vel, kymo, good, length = self._data()
        self._laid_out_for = self._wants_side_by_side()
        self.figure.clear()
        self._cursors = []
        self.canvas.set_animated([])
        self.canvas.relayout()
        self.bouts_key.hide()  # (shown again by `_show_bouts` when there are bouts)
        if vel is None and kymo is None:
            self.info.setText("no velocity or centerline yet: run the behaviour steps")
            self.canvas.draw_idle()
            return
        fps = self.ctx.fps()
        n = len(kymo) if kymo is not None else len(vel)
        if vel is not None and "time_s" in vel:
            t = vel["time_s"].to_numpy(float)
            frames = vel["frame"].to_numpy(int)
            times = np.interp(np.arange(n), frames, t) if len(frames) > 1 else np.arange(n) * 1.0
            unit = "s"
        else:
            times = np.arange(n) / fps if fps else np.arange(n, dtype=float)
            unit = "s" if fps else "frame"
        self.times = times
        # a narrow column on the right for the kymograph's colour bar (empty beside the speed
        # plot, so both plots keep the same time axis width)
        rows = (vel is not None) + (kymo is not None)
        self.side_by_side = side = rows == 2 and self._laid_out_for
        if side:  # speed | kymograph | colour bar, each with its time axis
            grid = self.figure.add_gridspec(1, 3, width_ratios=(30, 30, 1))
            ax_v = self.figure.add_subplot(grid[0, 0])
            ax_k = self.figure.add_subplot(grid[0, 1], sharex=ax_v)
        else:
            grid = self.figure.add_gridspec(rows, 2 if kymo is not None else 1,
                                            width_ratios=(30, 1) if kymo is not None else None)  # fmt: skip
            ax_v = self.figure.add_subplot(grid[0, 0]) if vel is not None else None
            ax_k = self.figure.add_subplot(grid[-1, 0], sharex=ax_v) if kymo is not None else None
        axes = [ax for ax in (ax_v, ax_k) if ax is not None]
        if ax_v is not None and ax_k is not None and not side:
            ax_v.tick_params(labelbottom=False)  # one time axis, under the kymograph
        self.colorbar = None
        if ax_v is not None:
            ax_v.axhline(0, color="0.7", lw=0.6)
            ax_v.plot(vel["time_s"], vel["speed_um_s"], color="0.6", lw=0.8, label="speed")
            ax_v.plot(vel["time_s"], vel["signed_speed_um_s"], color="C0", lw=1.0,
                      label="signed speed")  # fmt: skip
            ax_v.set_ylabel("µm/s")
            ax_v.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))  # ASCII minus
            lines = ax_v.get_lines()[1:]  # (the strip's bars are keyed above the plot)
            ax_v.legend(handles=lines, loc="upper right", fontsize=7, frameon=False)
            self._show_bouts(ax_v)
        if ax_k is not None:
            # from the good frames (coils do not set it), at least 1/length (a straight worm's
            # rounding noise showed as full-scale stripes: h19)
            lim = colour_limit(kymo, good, length=length)
            image = ax_k.imshow(kymo.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                                extent=(times[0], times[-1], 1.0, 0.0), interpolation="nearest")  # fmt: skip
            # side by side the axis is short: the long label was cut at both ends
            ax_k.set_ylabel("head 0 → tail 1" if side else "body (head 0 → tail 1)")
            ax_k.set_xlabel(f"time ({unit})")
            self.colorbar = bar = self.figure.colorbar(
                image, cax=self.figure.add_subplot(grid[-1, -1])
            )
            bar.set_ticks([-lim, 0.0, lim])
            bar.set_ticklabels([f"−{lim:.2g}", "0", f"+{lim:.2g}"])
            bar.set_label(f"curvature ({self.curvature_unit})\nred + CCW · blue − CW", fontsize=7)
            bar.ax.tick_params(labelsize=7)
        if ax_v is not None and (ax_k is None or side):
            ax_v.set_xlabel(f"time ({unit})")
        for ax in axes:
            self._cursors.append(ax.axvline(times[0], color="k", lw=0.8))
        self.canvas.set_animated(self._cursors)
        self.canvas.relayout()
        moving = ""
        if vel is not None:
            from napari_catrack.core.behaviour.velocity import direction_values

            d = direction_values(vel)  # NaN: a moving frame without a head (tracks only)
            unknown = int((np.isnan(d) & np.isfinite(vel["speed_um_s"].to_numpy(float))).sum())
            moving = f"; {int((np.abs(d) == 1).sum()) + unknown} moving" + (
                f" ({unknown} of unknown direction)" if unknown else "")  # fmt: skip
            moving += f", median speed {np.nanmedian(vel['speed_um_s']):.0f} µm/s"
        bends = ""
        if self.colorbar is not None:
            lim = self.colorbar.mappable.norm.vmax
            bends = (
                f"\ncurvature: red (+) body bends counter-clockwise on screen, head → tail; blue (−) "
                f"clockwise; colour limits ±{lim:.3g} {self.curvature_unit} (99th percentile of "
                "the good frames, at least 1/body length; which side is ventral the video does "
                "not say)"
            )
        self.info.setText(f"{n} frames{moving}{bends}")
        self._move_cursor()
        self.canvas.draw_idle()

    def _show_bouts(self, ax) -> None:
        """The session's bouts as a strip along the top of the speed plot (as the exported
        speed figure draws them), keyed in their colours above the plot."""
        from matplotlib.colors import to_hex

        from napari_catrack.core.behaviour.bouts import STATES
        from napari_catrack.figures.behaviour import BOUT_COLOURS, draw_bout_strip

        if not draw_bout_strip(ax, self.bouts, height=0.08):
            self.bouts_key.hide()
            return
        lo, hi = ax.get_ylim()  # room above the curve for the strip
        ax.set_ylim(lo, hi + 0.12 * (hi - lo))
        counts = self.bouts["state"].value_counts()
        keys = [f'<span style="color:{to_hex(BOUT_COLOURS[s])}">&#9632;</span> {s} '
                f"({int(counts.get(s, 0))})" for s in STATES]  # fmt: skip
        self.bouts_key.setText("bouts (top strip): " + " &nbsp; ".join(keys))
        self.bouts_key.show()
        self._arrange()  # (a short, wide view: the canvas leaves the key its line)

    def frame_at(self, time: float) -> int:
        return int(np.argmin(np.abs(self.times - time))) if self.times is not None else 0

    def _clicked(self, event) -> None:
        if event.xdata is None or self.times is None:
            return
        self.viewer.dims.set_current_step(0, self.frame_at(event.xdata))

    def _move_cursor(self, *_) -> None:
        if self.times is None or not self._cursors:
            return
        frame = int(self.viewer.dims.current_step[0]) if self.viewer.dims.ndim else 0
        t = self.times[min(max(frame, 0), len(self.times) - 1)]
        for line in self._cursors:
            line.set_xdata([t, t])
        self.canvas.move_animated()
