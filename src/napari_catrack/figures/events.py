"""Event-triggered average figures: per event kind, a heat map of every neuron's average
(sorted by response, significant neurons marked) over the mean curves of the significant ones."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def eta_figure(
    eta: pd.DataFrame, significance: pd.DataFrame, events: pd.DataFrame | None = None
) -> Figure:
    kinds = eta["event"].astype(str).nunique()
    fig = Figure(figsize=(4.0 * max(kinds, 1), 6.5), layout="constrained")
    draw_eta(fig, eta, significance, durations=kind_durations(events))
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
) -> None:
    """Draw the ETA panels into `fig` (the widget's canvas, or `eta_figure`'s own figure): per
    event kind a heat map over its mean curves, side by side, or one kind under the other
    (`stacked`, for a narrow dock, where side-by-side titles ran into each other). The onset is
    the line at 0; a kind of intervals (`durations`, kind: median seconds, `kind_durations`)
    also gets a shaded span from 0 to that duration on its curves."""
    durations = durations or {}
    kinds = sorted(eta["event"].astype(str).unique())
    n = max(len(kinds), 1)
    if stacked:
        grid = fig.subplots(2 * n, 1, squeeze=False, height_ratios=(3, 2) * n)[:, 0]
        axes = np.stack([grid[0::2], grid[1::2]])  # axes[row, kind] as side by side
    else:
        axes = fig.subplots(2, n, squeeze=False, height_ratios=(3, 2))
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
        finite = np.abs(wide.to_numpy(float))
        finite = finite[np.isfinite(finite)]
        lim = float(np.percentile(finite, 98)) if finite.size else 1.0
        lim = lim if lim > 0 else 1.0
        ax = axes[0, col]
        im = ax.imshow(
            wide.to_numpy(),
            aspect="auto",
            cmap="RdBu_r",
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
        if finite.size:
            ax.set_title(f"{kind}: {int(flagged.sum())} of {len(wide)} neurons respond")
        else:
            ax.set_title(f"{kind}: no event in the recording")
        ax.set_ylabel("neuron (by response)")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # rows
        fig.colorbar(im, ax=ax, label="ΔF/F", shrink=0.8)
        ax = axes[1, col]
        for direction, colour in (("excited", "C3"), ("inhibited", "C0")):
            ids = sig.index[sig["significant"].astype(bool) & (sig["direction"] == direction)]
            if len(ids):
                curves = wide.reindex(ids).to_numpy(float)
                with warnings.catch_warnings():  # a lag no responsive neuron has data at
                    warnings.simplefilter("ignore", RuntimeWarning)  # (a gap): NaN, drawn as one
                    m = np.nanmean(curves, axis=0)
                    s = np.nanstd(curves, axis=0) / np.sqrt(len(ids))
                ax.plot(lags, m, color=colour, label=f"{direction} ({len(ids)})")
                ax.fill_between(lags, m - s, m + s, color=colour, alpha=0.25, lw=0)
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
        ax.set_ylabel("ΔF/F")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize="small")


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
        colour = f"C{(k + 4) % 10}"
        frames = group["frame"].to_numpy(float)
        durations = (
            group["duration_s"].to_numpy(float)
            if "duration_s" in group and fps
            else np.full(len(group), np.nan)
        )
        span = np.isfinite(durations) & (durations > 0)
        for ax in axes:
            for f in frames[~span]:
                ax.axvline(to_x(int(f)), color=colour, lw=0.7, alpha=0.5, ls="--")
            for f, d in zip(frames[span], durations[span], strict=True):
                ax.axvspan(to_x(int(f)), to_x(int(f) + d * fps), color=colour, alpha=0.2, lw=0)
        if span.all():
            handles.append(Patch(color=colour, alpha=0.2, label=str(kind)))
        else:
            handles.append(Line2D([], [], color=colour, ls="--", label=str(kind)))
    if handles:
        axes[0].legend(handles=handles, fontsize="x-small", loc="upper right", frameon=False)
