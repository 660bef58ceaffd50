"""Behaviour figures: signed speed, curvature kymograph, frames with centerlines, eigenworms."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from napari_catrack.core.behaviour.velocity import direction_values, time_gaps
from napari_catrack.figures.style import DIVERGING_CMAP, OKABE_ITO, colour, figsize, styled

_ASCII = FuncFormatter(lambda v, _p: f"{v:g}")  # plain minus signs in every font


#: each bout state's colour (Okabe-Ito: green, vermillion, grey, purple), fixed, so the widget's
#: plot (not drawn under `STYLE`) and the figures agree; a `colour(7)` pause was the styled
#: cycle's blue (7 colours: C7 is C0), the colour of the speed curve
BOUT_COLOURS = {"forward": OKABE_ITO[2], "reversal": OKABE_ITO[3], "pause": "0.6",
                "turn": OKABE_ITO[4]}  # fmt: skip


@styled
def speed_figure(
    velocity: pd.DataFrame,
    truth: np.ndarray | None = None,
    bouts: pd.DataFrame | None = None,
    planted: np.ndarray | None = None,
) -> Figure:
    """Signed speed over time (forward +, backward -), with the true one when known; `bouts`
    (`core.behaviour.bouts.COLUMNS`) as a strip of coloured bars along the top, one per bout;
    `planted`: the true reversal onsets (s; the synthetic worm's) as ticks under the strip, to
    be compared with the reversal bouts' starts."""
    fig = Figure(figsize=figsize(2.4), layout="constrained")
    ax = fig.add_subplot(111)
    t = velocity["time_s"].to_numpy(float)
    ax.axhline(0, color="0.8", lw=0.6)
    if truth is not None:
        ax.plot(*_gapped(t, truth), color="0.55", lw=2.2, alpha=0.6, label="true")
    ax.plot(*_gapped(t, velocity["signed_speed_um_s"]), color=colour(0), lw=1.0,
            label="measured")  # fmt: skip
    unknown = _draw_unknown_direction(ax, velocity, lw=1.0)
    back = direction_values(velocity) < 0  # (an unknown direction, NaN: not shaded)
    if back.any():
        tg, shade = _gapped_where(t, back)  # (not across a gap in the times)
        ax.fill_between(tg, 0, 1, where=shade, transform=ax.get_xaxis_transform(),
                        color=colour(3), alpha=0.15, lw=0, label="backward")  # fmt: skip
    strip = draw_bout_strip(ax, bouts)
    if planted is not None and len(planted):
        ax.plot(np.asarray(planted, float), np.full(len(planted), 0.9), "v", ms=4,
                color=BOUT_COLOURS["reversal"], mec="k", mew=0.4,
                transform=ax.get_xaxis_transform(), label="true reversal onsets")  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("signed speed (µm/s)")
    ax.yaxis.set_major_formatter(_ASCII)
    if truth is not None or unknown or strip:  # beside the axes: inside, it covered the curve
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title("Signed speed (forward +, backward −; shaded: backward"
                 f"{'; grey: speed, direction unknown' if unknown else ''}"
                 f"{'; top strip: bouts' if strip else ''})")  # fmt: skip
    return fig


def draw_bout_strip(ax, bouts: pd.DataFrame | None, height: float = 0.06) -> bool:
    """`bouts` (`core.behaviour.bouts.COLUMNS`) as a strip of coloured bars along the top of
    `ax` (time on x, s), one per bout, labelled "<state> bouts" for a legend (the exported speed
    figure and the widget's Behaviour plot). Whether there were any."""
    if bouts is None or not len(bouts):
        return False
    for state, c in BOUT_COLOURS.items():
        b = bouts[bouts["state"] == state]
        if len(b):
            ax.broken_barh(list(zip(b["onset_s"].astype(float), b["duration_s"].astype(float))),
                           (1.0 - height, height), transform=ax.get_xaxis_transform(),
                           color=c, lw=0, label=f"{state} bouts")  # fmt: skip
    return True


def _draw_unknown_direction(ax, velocity: pd.DataFrame, lw: float) -> bool:
    """The speed (unsigned, grey) of the moving frames whose direction is unknown (no centerline
    for the head: `catrack velocity --tracks`, or a stage path alone), where the signed speed
    has no value: without it those frames were blank. Whether there were any."""
    unknown = np.isnan(direction_values(velocity))
    speed = velocity["speed_um_s"].to_numpy(float)
    if not (unknown & np.isfinite(speed)).any():
        return False
    ax.plot(*_gapped(velocity["time_s"], np.where(unknown, speed, np.nan)), color="0.55",
            lw=lw, label="speed, direction unknown")  # fmt: skip
    return True


def _gapped(times, values) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) with a NaN after each gap in the times (`time_gaps`: a paused recording),
    so a line is not drawn across it as if the worm had been measured there."""
    t = np.asarray(times, float)
    y = np.asarray(values, float)
    after = [i + 1 for i, _ in time_gaps(t, 0.0)]
    return np.insert(t, after, np.nan), np.insert(y, after, np.nan)


def _gapped_where(times, mask) -> tuple[np.ndarray, np.ndarray]:
    """`_gapped` for shading: (times, where) with a False after each gap in the times, so a
    backward stretch on both sides of a paused recording is not shaded across the pause."""
    t, m = _gapped(times, np.asarray(mask, float))
    return t, m == 1.0


def draw_velocity_panel(ax, velocity: pd.DataFrame) -> None:
    """Signed speed (µm/s) against time (s) into `ax`, beside neuron traces on the same time axis
    (the behaviour camera's frame times; the traces' x axis is seconds of the imaging)."""
    t = velocity["time_s"].to_numpy(float)
    ax.axhline(0, color="0.8", lw=0.6)
    ax.plot(*_gapped(t, velocity["signed_speed_um_s"]), color=colour(0), lw=0.9)
    _draw_unknown_direction(ax, velocity, lw=0.9)
    back = direction_values(velocity) < 0  # (an unknown direction, NaN: not shaded)
    if back.any():
        tg, shade = _gapped_where(t, back)  # (not across a gap in the times)
        ax.fill_between(tg, 0, 1, where=shade, transform=ax.get_xaxis_transform(),
                        color=colour(3), alpha=0.08, lw=0)  # fmt: skip
    ax.set_ylabel("signed speed\n(µm/s)")
    ax.yaxis.set_major_formatter(_ASCII)


@styled
def kymograph_figure(
    curvature: np.ndarray,
    times: np.ndarray,
    unit: str = "1/µm",
    good: np.ndarray | None = None,
    length: float | None = None,
) -> Figure:
    """Curvature along the body (head at the top) over time: waves travel down when forward.

    good: (T,) the frames whose curvature sets the colour scale (`CenterlineResult.reliable`);
    rows of NaN (frames without usable posture) are left blank. length: the body's length in
    the curvature's unit (`median_length`), the colour limits' floor (`colour_limit`), so a
    straight worm's rounding noise looks flat."""
    from napari_catrack.core.behaviour.posture import colour_limit

    fig = Figure(figsize=figsize(2.4), layout="constrained")
    ax = fig.add_subplot(111)
    lim = colour_limit(curvature, good, length=length)
    im = ax.imshow(curvature.T, aspect="auto", cmap=DIVERGING_CMAP, vmin=-lim, vmax=lim,
                   extent=(times[0], times[-1], 1.0, 0.0), interpolation="nearest")  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("body (head 0 → tail 1)")
    cb = fig.colorbar(im, ax=ax, pad=0.01)
    cb.set_label(f"curvature ({unit})")
    cb.ax.yaxis.set_major_formatter(_ASCII)
    ax.set_title("Body curvature (kymograph; colour scale centred at 0)")
    return fig


@styled
def frames_figure(
    frames: np.ndarray, masks: np.ndarray, points: np.ndarray, indices, status=None
) -> Figure:
    """A row of frames, each cropped around the worm: mask outline, centerline, head (magenta),
    said by a legend under the row (they were unexplained), images without axis lines."""
    from matplotlib.lines import Line2D

    indices = list(indices)
    fig = Figure(figsize=(min(1.4 * len(indices), 7.0), 1.9), layout="constrained")
    for k, t in enumerate(indices):
        ax = fig.add_subplot(1, len(indices), k + 1)
        ys, xs = np.nonzero(masks[t]) if masks[t].any() else (np.array([0]), np.array([0]))
        pad = 12
        y0, y1 = max(ys.min() - pad, 0), min(ys.max() + pad, frames.shape[1] - 1)
        x0, x1 = max(xs.min() - pad, 0), min(xs.max() + pad, frames.shape[2] - 1)
        ax.imshow(frames[t], cmap="gray", interpolation="nearest")
        ax.contour(masks[t].astype(float), [0.5], colors="gold", linewidths=0.6)
        ax.plot(points[t, :, 1], points[t, :, 0], color="cyan", lw=1.0)
        ax.plot(points[t, 0, 1], points[t, 0, 0], "o", color="magenta", ms=4)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y1, y0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_axis_off()  # the style's left and bottom lines drew an L beside each image
        label = f"frame {t}" + (
            f" ({status[t]})" if status is not None and status[t] != "ok" else ""
        )
        ax.set_title(label, fontsize=8)
    handles = [
        Line2D([], [], color="gold", lw=0.8, label="mask outline"),
        Line2D([], [], color="cyan", lw=1.0, label="centerline"),
        Line2D([], [], color="magenta", marker="o", ms=4, lw=0, label="head"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False, fontsize=7)
    return fig


@styled
def eigenworms_figure(amplitudes: np.ndarray, times: np.ndarray, n: int = 3) -> Figure:
    """The first eigenworm amplitudes over time (a1/a2 rotate during crawling)."""
    fig = Figure(figsize=figsize(2.2), layout="constrained")
    ax = fig.add_subplot(111)
    for k in range(min(n, amplitudes.shape[1])):
        ax.plot(times, amplitudes[:, k], lw=0.9, label=f"a{k + 1}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("eigenworm amplitude (a.u.)")
    ax.set_title("Eigenworm amplitudes")
    ax.yaxis.set_major_formatter(_ASCII)
    ax.legend(loc="upper right", fontsize=7, frameon=False, ncol=n)
    return fig
