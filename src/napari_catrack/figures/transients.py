"""Transient figures: traces with highlighted transients, raster, amplitude and ITI histograms.

Each function builds a `matplotlib.figure.Figure` (no pyplot, no GUI) and returns it; the
caller saves it (`napari_catrack.figures.save_figure`: SVG/PNG/PDF). Time axes are seconds: the
recording's frame times when given (`times`), else frame / fps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from napari_catrack.figures.style import DFF_LABEL, MAX_ROW_LABELS, colour, figsize, styled


def _times(n_frames: int, fps: float, times: np.ndarray | None) -> np.ndarray:
    """Seconds of frames 0..n_frames-1: the recording's frame times when known, else frame/fps."""
    if times is not None:
        t = np.asarray(times, float)
        if t.shape == (n_frames,) and np.isfinite(t).all():
            return t
    return np.arange(n_frames) / fps


@styled
def traces_figure(
    dff: np.ndarray,
    fps: float,
    transients: pd.DataFrame,
    neuron_ids=None,
    max_neurons: int = 10,
    spacing: float | None = None,
    *,
    times: np.ndarray | None = None,
    signal: str = DFF_LABEL,
) -> Figure:
    """Stacked ΔF/F traces; each transient's onset..end span shaded and its peak marked.

    At most `max_neurons`: when there are more, the neurons with transients come first (in the
    given order), then the others, as the title says.

    The traces are offset, so the y axis has no common zero: a scale bar at the right end says
    how tall a round ΔF/F step is (its height is written beside it)."""
    x = np.atleast_2d(np.asarray(dff, float))
    ids = np.arange(x.shape[0]) if neuron_ids is None else np.asarray(neuron_ids)
    n = min(max_neurons, x.shape[0])
    if n < x.shape[0]:  # not all fit: the neurons with transients first (what was found)
        found = pd.Index(ids).astype(str).isin(transients["neuron_id"].astype(str))
        order = np.concatenate([np.flatnonzero(found), np.flatnonzero(~found)])
        x, ids = x[order], ids[order]
    t = _times(x.shape[1], fps, times)
    if spacing is None:
        spread = np.nanpercentile(x[:n], 99.5, axis=1) - np.nanpercentile(x[:n], 0.5, axis=1)
        spacing = float(np.nanmax(spread)) if n and np.isfinite(spread).any() else 1.0
    fig = Figure(figsize=figsize(0.8 + 0.55 * n), layout="constrained")
    ax = fig.add_subplot()
    for k in range(n):
        off = (n - 1 - k) * spacing
        y = x[k] - np.nanmedian(x[k]) + off
        ax.plot(t, y, color="0.35", lw=0.5)
        mine = transients[transients["neuron_id"] == ids[k]]
        for st, pk, en in mine[["start_frame", "peak_frame", "end_frame"]].to_numpy(int):
            ax.plot(t[st : en + 1], y[st : en + 1], color=colour(1), lw=0.9)  # orange on grey
            ax.plot(t[pk], y[pk], "v", color="k", ms=3)
    ax.set_yticks([(n - 1 - k) * spacing for k in range(n)], [str(i) for i in ids[:n]])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron")
    ax.set_xlim(t[0], t[-1])
    _scale_bar(ax, t, spacing, signal)
    shown = "all shown" if n == x.shape[0] else f"{n} shown, those with transients first"
    ax.set_title(f"Transients: {len(transients)} in {x.shape[0]} neurons ({shown})")
    return fig


def _scale_bar(ax, t: np.ndarray, spacing: float, signal: str) -> None:
    """A vertical bar of a round ΔF/F height at the right end of the time axis."""
    if not (np.isfinite(spacing) and spacing > 0):
        return
    target = spacing / 2
    size = float(10 ** np.floor(np.log10(target)))
    for m in (5, 2, 1):
        if m * size <= target:
            size *= m
            break
    x0 = t[-1] + 0.01 * (t[-1] - t[0] if len(t) > 1 else 1.0)
    ax.plot([x0, x0], [0, size], color="k", lw=1.2, clip_on=False)
    ax.text(x0, size / 2, f" {size:g} {signal}", va="center", ha="left", fontsize=7)


@styled
def raster_figure(
    transients: pd.DataFrame,
    neuron_ids,
    fps: float,
    n_frames: int,
    *,
    times: np.ndarray | None = None,
) -> Figure:
    """Raster of transient peak times (x, s) per neuron (y, labelled with its id)."""
    ids = list(np.asarray(neuron_ids))
    t = _times(n_frames, fps, times)
    fig = Figure(figsize=figsize(1.2 + min(0.12 * len(ids), 4.8)), layout="constrained")
    ax = fig.add_subplot()
    groups = transients.groupby("neuron_id")["peak_frame"]
    peaks = [groups.get_group(i).to_numpy(int) if i in groups.groups else np.zeros(0, int)
             for i in ids]  # fmt: skip
    peaks = [p[(p >= 0) & (p < len(t))] for p in peaks]
    ax.eventplot([t[p] for p in peaks], colors="k", linelengths=0.8, linewidths=0.6)
    step = float(np.median(np.diff(t))) if len(t) > 1 else 1 / fps
    ax.set_xlim(t[0] if len(t) else 0, (t[-1] + step) if len(t) else 1)
    ax.set_ylim(-0.5, max(len(ids), 1) - 0.5)  # (no neuron: every cell rejected)
    ax.invert_yaxis()
    if len(ids) <= MAX_ROW_LABELS:
        ax.set_yticks(range(len(ids)), [str(i) for i in ids])
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron" if len(ids) <= MAX_ROW_LABELS else "neuron (row)")
    n_in = int(sum(len(p) for p in peaks))
    ax.set_title(f"Transient peaks: {n_in} in {len(ids)} neurons")
    return fig


@styled
def amplitude_figure(transients: pd.DataFrame, bins: int = 40, *, signal: str = DFF_LABEL):
    """Distribution of transient peak amplitudes (ΔF/F above baseline)."""
    fig = Figure(figsize=figsize(2.6, "column"), layout="constrained")
    ax = fig.add_subplot()
    a = transients["peak_amplitude"].to_numpy(float)
    a = a[np.isfinite(a)]
    if a.size:
        ax.hist(a, bins=bins, color=colour(0))
        ax.axvline(np.median(a), color="k", ls="--", lw=0.8, label=f"median {np.median(a):.3g}")
        ax.legend(frameon=False)
    ax.set_xlabel(f"peak amplitude ({signal})")
    ax.set_ylabel("transients")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts
    ax.set_title(f"Transient amplitudes (n = {a.size})")
    return fig


@styled
def iti_figure(transients: pd.DataFrame, bins: int = 40) -> Figure:
    """Histogram of inter-transient intervals (peak to peak, same neuron), log-spaced bins."""
    fig = Figure(figsize=figsize(2.6, "column"), layout="constrained")
    ax = fig.add_subplot()
    iti = transients["iti_s"].to_numpy(float) if "iti_s" in transients else np.zeros(0)
    iti = iti[np.isfinite(iti) & (iti > 0)]
    if iti.size:
        edges = np.logspace(np.log10(iti.min()), np.log10(iti.max()) + 1e-9, bins)
        ax.hist(iti, bins=edges, color=colour(0))
        ax.set_xscale("log")
    ax.set_xlabel("inter-transient interval (s)")
    ax.set_ylabel("intervals")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts
    ax.set_title(f"Inter-transient intervals (n = {iti.size})")
    return fig


FIGURES = ("transients_traces", "transients_raster", "transients_amplitudes", "transients_iti")
DFF_AXES = ("transients_traces", "transients_amplitudes")  # the figures with a dF/F axis


def transient_figures(dff: np.ndarray, ids, transients: pd.DataFrame, fps: float, df_ids=()) -> tuple[dict, int]:  # fmt: skip
    """The four transient figures (`FIGURES`) of these cells (`dff` rows of `ids`, the table's
    frames indexing its columns), as `catrack transients --figures` and the curation widget's
    Export figures draw them: cells in `df_ids` (dff is dF, not dF/F: the sources' `dff_kind`)
    are left off the dF/F axes (`DFF_AXES`) and kept in the raster and ITI figures. Returns
    (figures by name, how many cells the dF/F axes leave out) for the caller's titles."""
    ids = np.asarray(ids)
    df = {str(i) for i in df_ids}
    ratio = ~np.isin(ids.astype(str), list(df))
    on_axis = transients[~transients["neuron_id"].astype(str).isin(df)]
    figs = dict(zip(FIGURES, (
        traces_figure(dff[ratio], fps, on_axis, ids[ratio]),
        raster_figure(transients, ids, fps, dff.shape[1]),
        amplitude_figure(on_axis),
        iti_figure(transients),
    )))  # fmt: skip
    return figs, int((~ratio).sum())
