"""Transient figures: traces with highlighted transients, raster, amplitude and ITI histograms.

Each function builds a `matplotlib.figure.Figure` (no pyplot, no GUI) and returns it; the
caller chooses SVG/PNG/PDF with `fig.savefig`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def traces_figure(
    dff: np.ndarray,
    fps: float,
    transients: pd.DataFrame,
    neuron_ids=None,
    max_neurons: int = 10,
    spacing: float | None = None,
) -> Figure:
    """Stacked dF/F traces; each transient's onset..end span shaded and its peak marked."""
    x = np.atleast_2d(np.asarray(dff, float))
    ids = np.arange(x.shape[0]) if neuron_ids is None else np.asarray(neuron_ids)
    n = min(max_neurons, x.shape[0])
    t = np.arange(x.shape[1]) / fps
    if spacing is None:
        spread = np.nanpercentile(x[:n], 99.5, axis=1) - np.nanpercentile(x[:n], 0.5, axis=1)
        spacing = float(np.nanmax(spread)) if n and np.isfinite(spread).any() else 1.0
    fig = Figure(figsize=(10, 1.0 + 0.8 * n), layout="constrained")
    ax = fig.add_subplot()
    for k in range(n):
        off = (n - 1 - k) * spacing
        y = x[k] - np.nanmedian(x[k]) + off
        ax.plot(t, y, color="0.3", lw=0.6)
        mine = transients[transients["neuron_id"] == ids[k]]
        for st, pk, en in mine[["start_frame", "peak_frame", "end_frame"]].to_numpy(int):
            ax.plot(t[st : en + 1], y[st : en + 1], color="C1", lw=1.0)
            ax.plot(t[pk], y[pk], "v", color="C3", ms=4)
    ax.set_yticks([(n - 1 - k) * spacing for k in range(n)], [str(i) for i in ids[:n]])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron (dF/F, offset)")
    ax.set_xlim(t[0], t[-1])
    ax.set_title(f"Transients ({len(transients)} in {x.shape[0]} neurons; first {n} shown)")
    return fig


def raster_figure(transients: pd.DataFrame, neuron_ids, fps: float, n_frames: int) -> Figure:
    """Raster of transient peak times (x) per neuron (y)."""
    ids = list(np.asarray(neuron_ids))
    fig = Figure(figsize=(10, 1.5 + 0.12 * len(ids)), layout="constrained")
    ax = fig.add_subplot()
    groups = transients.groupby("neuron_id")["peak_frame"]
    times = [groups.get_group(i).to_numpy() / fps if i in groups.groups else [] for i in ids]
    ax.eventplot(times, colors="k", linelengths=0.8, linewidths=0.8)
    ax.set_xlim(0, n_frames / fps)
    ax.set_ylim(-0.5, len(ids) - 0.5)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron (row)")
    ax.set_title("Detected transients (peak times)")
    return fig


def amplitude_figure(transients: pd.DataFrame, bins: int = 40) -> Figure:
    """Distribution of transient peak amplitudes (dF/F above baseline)."""
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.add_subplot()
    a = transients["peak_amplitude"].to_numpy(float)
    a = a[np.isfinite(a)]
    if a.size:
        ax.hist(a, bins=bins, color="C0")
        ax.axvline(np.median(a), color="C3", ls="--", label=f"median {np.median(a):.3g}")
        ax.legend(frameon=False)
    ax.set_xlabel("peak amplitude (dF/F)")
    ax.set_ylabel("transients")
    return fig


def iti_figure(transients: pd.DataFrame, bins: int = 40) -> Figure:
    """Histogram of inter-transient intervals (peak to peak, same neuron), log-spaced bins."""
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.add_subplot()
    iti = transients["iti_s"].to_numpy(float) if "iti_s" in transients else np.zeros(0)
    iti = iti[np.isfinite(iti) & (iti > 0)]
    if iti.size:
        edges = np.logspace(np.log10(iti.min()), np.log10(iti.max()) + 1e-9, bins)
        ax.hist(iti, bins=edges, color="C2")
        ax.set_xscale("log")
    ax.set_xlabel("inter-transient interval (s)")
    ax.set_ylabel("intervals")
    return fig
