"""Event-triggered average figures: per event kind, a heat map of every neuron's average
(sorted by response, significant neurons marked) over the mean curves of the significant ones."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from napari_catrack.figures.style import (
    COLUMN_IN,
    DIVERGING_CMAP,
    MAX_ROW_LABELS,
    colour,
    signal_label,
    styled,
    symmetric_limits,
)


@styled
def eta_figure(
    eta: pd.DataFrame,
    significance: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    signal: str = "dff",
    ratio: bool = False,
) -> Figure:
    """Per event kind a column 3.5 in wide (a journal column): one kind fills a column, two a
    page width, more wrap onto further rows of two (a page is 7 in wide whatever the kinds).
    `events` (the aligned events table) shades the kinds that are intervals."""
    kinds = max(eta["event"].astype(str).nunique(), 1)
    rows = -(-kinds // 2)
    fig = Figure(figsize=(COLUMN_IN * min(kinds, 2), 4.2 * rows), layout="constrained")
    draw_eta(fig, eta, significance, signal=signal, columns=2, durations=kind_durations(events),
             ratio=ratio)  # fmt: skip
    return fig


def kind_durations(events: pd.DataFrame | None) -> dict[str, float]:
    """The median duration (s) of each event kind that has intervals (`duration_s` > 0), for
    the shaded span after the onset line of the averages; kinds of moments are left out."""
    if events is None or "duration_s" not in events:
        return {}
    d = events.assign(duration_s=events["duration_s"].astype(float))
    d = d[np.isfinite(d["duration_s"]) & (d["duration_s"] > 0)]
    return {str(k): float(v) for k, v in d.groupby("event")["duration_s"].median().items()}


def draw_eta(
    fig: Figure,
    eta: pd.DataFrame,
    significance: pd.DataFrame,
    *,
    stacked: bool = False,
    durations: dict[str, float] | None = None,
    signal: str = "dff",
    columns: int | None = None,
    ratio: bool = False,
) -> None:
    """Draw the ETA panels into `fig` (the widget's canvas, or `eta_figure`'s own figure): per
    event kind a heat map over its mean curves, side by side, or one kind under the other
    (`stacked`, for a narrow dock, where side-by-side titles ran into each other), or `columns`
    kinds per row. The onset is the line at 0; a kind of intervals (`durations`, kind: median
    seconds, `kind_durations`) also gets a shaded span from 0 to that duration on its curves.
    `signal` is the traces column that was averaged (`EtaParams.signal`), named on the axes
    with its unit (ΔR/R₀ for dff when `ratio`: traces made from the green/red ratio)."""
    durations = durations or {}
    unit = signal_label(signal, ratio)
    kinds = sorted(eta["event"].astype(str).unique())
    n = max(len(kinds), 1)
    per_row = 1 if stacked else min(columns or n, n)
    rows = -(-n // per_row)
    grid = fig.subplots(2 * rows, per_row, squeeze=False, height_ratios=(3, 2) * rows)
    cells = [(2 * (k // per_row), k % per_row) for k in range(n)]
    axes = np.array([[grid[r, c] for r, c in cells], [grid[r + 1, c] for r, c in cells]])
    for r in range(2 * rows):  # an odd number of kinds leaves the last row's right cell empty
        for c in range(per_row):
            if (r - r % 2, c) not in cells:
                grid[r, c].remove()
    for col, kind in enumerate(kinds):
        mine = eta[eta["event"].astype(str) == kind]
        # dropna=False: a kind with no event in the recording has all-NaN averages, and
        # dropping them left no lag columns (IndexError in `catrack events` and the export)
        wide = mine.pivot_table(
            index="neuron_id", columns="lag_s", values="mean", sort=False, dropna=False
        )
        sig = significance[significance["event"].astype(str) == kind].set_index("neuron_id")
        order = sig.reindex(wide.index)["response"].fillna(0).sort_values(ascending=False).index
        wide = wide.reindex(order)
        lags = wide.columns.to_numpy(float)
        finite = np.isfinite(wide.to_numpy(float))
        lim = symmetric_limits(wide.to_numpy(float))  # diverging map centred at 0
        ax = axes[0, col]
        im = ax.imshow(
            wide.to_numpy(),
            aspect="auto",
            cmap=DIVERGING_CMAP,
            vmin=-lim,
            vmax=lim,
            extent=(lags[0], lags[-1], len(wide) - 0.5, -0.5),
            interpolation="nearest",
        )
        ax.axvline(0, color="k", lw=0.8)
        flagged = sig.reindex(wide.index)["significant"].fillna(False).to_numpy(bool)
        if flagged.any():  # an empty unclipped line has a bounding box at the figure's corner:
            ax.plot(  # constrained layout then collapsed every axes (docs review 7, item 2)
                np.full(flagged.sum(), lags[0]),
                np.flatnonzero(flagged),
                ">",
                color="k",
                ms=4,
                clip_on=False,
            )
        if finite.any():
            ax.set_title(f"{kind}: {int(flagged.sum())} of {len(wide)} neurons respond")
        else:
            ax.set_title(f"{kind}: no event in the recording")
        ax.set_xlabel(f"time from {kind} (s)")
        ax.set_ylabel("neuron (by response)")
        if len(wide) <= MAX_ROW_LABELS:  # ids, not row numbers, when they fit
            ax.set_yticks(range(len(wide)), [str(i) for i in wide.index])
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # rows
        fig.colorbar(im, ax=ax, label=unit, shrink=0.8)
        ax = axes[1, col]
        for direction, tint in (("excited", colour(3)), ("inhibited", colour(0))):
            ids = sig.index[sig["significant"].astype(bool) & (sig["direction"] == direction)]
            if len(ids):
                curves = wide.reindex(ids).to_numpy(float)
                with warnings.catch_warnings():  # a lag no responsive neuron has data at
                    warnings.simplefilter("ignore", RuntimeWarning)  # (a gap): NaN, drawn as one
                    m = np.nanmean(curves, axis=0)
                    s = np.nanstd(curves, axis=0) / np.sqrt(len(ids))
                ax.plot(lags, m, color=tint, label=f"{direction} ({len(ids)})")
                ax.fill_between(lags, m - s, m + s, color=tint, alpha=0.25, lw=0)
        ax.axvline(0, color="k", lw=0.8)
        if durations.get(kind, 0) > 0:  # an interval: the span it lasts (median), after onset
            ax.axvspan(0, min(durations[kind], lags[-1]), color="0.5", alpha=0.15, lw=0)
        if not ax.get_legend_handles_labels()[0]:
            ax.set_xlim(lags[0], lags[-1])
            ax.set_yticks([])  # no curve: the 0-1 axis of an empty panel would read as data
            ax.text(0.5, 0.5, "no neuron responds", transform=ax.transAxes, ha="center",
                    va="center", color="0.4", bbox={"fc": "white", "ec": "none"})  # fmt: skip
        lasts = f"; shaded: lasts {durations[kind]:.3g} s" if durations.get(kind, 0) > 0 else ""
        ax.set_xlabel(f"time from {kind} (s){lasts}")
        ax.set_ylabel(f"mean {unit} (± s.e.m.)")
        if ax.get_legend_handles_labels()[0]:  # above the panel: inside, it hid the curves
            ax.legend(frameon=False, fontsize="small", loc="lower center", ncols=2,
                      bbox_to_anchor=(0.5, 1.0), borderaxespad=0.2)  # fmt: skip


def draw_event_ticks(axes, events: pd.DataFrame, to_x, fps: float | None = None) -> None:
    """Behaviour events on trace axes, one colour per kind: a moment as a vertical tick at its
    frame, an interval (a `duration_s` > 0) as a shaded span from its onset to its end, so a
    5 s tone reads as 5 s, not as its first instant. `to_x(frame)` is the axes' x of an imaging
    frame (time or frame, as the traces are drawn; fractional frames too); `fps`, the imaging
    frame rate, turns a duration into frames (without it an interval is drawn as a tick)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    inside = events[events["frame"].to_numpy() >= 0]
    handles = []
    for k, (kind, group) in enumerate(inside.groupby("event", sort=True)):
        tint = colour(k + 4)
        frames = group["frame"].to_numpy(float)
        durations = (
            group["duration_s"].to_numpy(float)
            if "duration_s" in group and fps
            else np.full(len(group), np.nan)
        )
        span = np.isfinite(durations) & (durations > 0)
        for ax in axes:
            for f in frames[~span]:
                ax.axvline(to_x(int(f)), color=tint, lw=0.7, alpha=0.5, ls="--")
            for f, d in zip(frames[span], durations[span], strict=True):
                ax.axvspan(to_x(int(f)), to_x(int(f) + d * fps), color=tint, alpha=0.2, lw=0)
        if span.all():
            handles.append(Patch(color=tint, alpha=0.2, label=str(kind)))
        else:
            handles.append(Line2D([], [], color=tint, ls="--", label=str(kind)))
    if handles:
        axes[0].legend(handles=handles, fontsize="x-small", loc="upper right", frameon=False)
