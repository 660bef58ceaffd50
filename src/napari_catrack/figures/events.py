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
def eta_figure(eta: pd.DataFrame, significance: pd.DataFrame, *, signal: str = "dff") -> Figure:
    """Per event kind a column 3.5 in wide (a journal column): one kind fills a column, two a
    page width, more wrap onto further rows of two (a page is 7 in wide whatever the kinds)."""
    kinds = max(eta["event"].astype(str).nunique(), 1)
    rows = -(-kinds // 2)
    fig = Figure(figsize=(COLUMN_IN * min(kinds, 2), 4.2 * rows), layout="constrained")
    draw_eta(fig, eta, significance, signal=signal, columns=2)
    return fig


def draw_eta(
    fig: Figure,
    eta: pd.DataFrame,
    significance: pd.DataFrame,
    *,
    stacked: bool = False,
    signal: str = "dff",
    columns: int | None = None,
) -> None:
    """Draw the ETA panels into `fig` (the widget's canvas, or `eta_figure`'s own figure): per
    event kind a heat map over its mean curves, side by side, or one kind under the other
    (`stacked`, for a narrow dock, where side-by-side titles ran into each other), or `columns`
    kinds per row. `signal` is the traces column that was averaged (`EtaParams.signal`), named
    on the axes with its unit."""
    unit = signal_label(signal)
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
        if not ax.get_legend_handles_labels()[0]:
            ax.set_xlim(lags[0], lags[-1])
            ax.set_yticks([])  # no curve: the 0-1 axis of an empty panel would read as data
            ax.text(0.5, 0.5, "no neuron responds", transform=ax.transAxes, ha="center",
                    va="center", color="0.4", bbox={"fc": "white", "ec": "none"})  # fmt: skip
        ax.set_xlabel(f"time from {kind} (s)")
        ax.set_ylabel(f"mean {unit} (± s.e.m.)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize="small")


def draw_event_ticks(axes, events: pd.DataFrame, to_x) -> None:
    """Behaviour events as vertical ticks (one colour per kind) on trace axes; `to_x(frame)` is
    the axes' x of an imaging frame (time or frame, as the traces are drawn)."""
    inside = events[events["frame"].to_numpy() >= 0]
    for k, (kind, group) in enumerate(inside.groupby("event", sort=True)):
        xs = [to_x(int(f)) for f in group["frame"]]
        for ax in axes:
            for x in xs:
                ax.axvline(x, color=colour(k + 4), lw=0.7, alpha=0.5, ls="--")
        axes[0].plot([], [], color=colour(k + 4), ls="--", label=str(kind))
    if len(inside):
        axes[0].legend(fontsize="x-small", loc="upper right", frameon=False)
