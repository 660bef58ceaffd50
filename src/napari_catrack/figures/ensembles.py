"""Ensemble figures: coactivity with its null threshold, raster with ensemble events, Jaccard
heatmap with dendrogram, and per-ensemble member maps.

Each function takes an `EnsembleResult`, builds a `matplotlib.figure.Figure` (no pyplot) and
returns it; saving is the caller's job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.cluster.hierarchy import dendrogram

from napari_catrack.core.ensembles import EnsembleResult
from napari_catrack.figures.style import (
    COLUMN_IN,
    DOUBLE_IN,
    MAX_ROW_LABELS,
    OKABE_ITO,
    SEQUENTIAL_CMAP,
    colour,
    figsize,
    styled,
)


def ensemble_colors(n: int) -> np.ndarray:
    """RGBA colour per ensemble id, shared with the widget: the colour-blind-safe Okabe-Ito
    palette for up to 7 ensembles (tab10 put green beside red), tab20 beyond."""
    if n <= len(OKABE_ITO):
        return np.array([to_rgba(c) for c in OKABE_ITO[:n]]).reshape(-1, 4)
    cmap = colormaps["tab20"]
    return np.array([cmap(i % cmap.N) for i in range(n)]).reshape(-1, 4)


@styled
def coactivity_figure(result: EnsembleResult) -> Figure:
    """Distinct active neurons per window (or bin) over time, the null threshold and the
    ensemble events."""
    p = result.params
    width, fps = p["bin_frames"], p["fps"]
    t = result.coactivity_frames / fps
    fig = Figure(figsize=figsize(2.4), layout="constrained")
    ax = fig.add_subplot()
    ax.step(t, result.coactivity, where="post", color="0.3", lw=0.7, label="coactivity")
    if p.get("threshold") is not None:
        ax.axhline(
            result.threshold + 0.5,
            color=colour(3),
            ls="--",
            lw=1,
            label=f"threshold (> {result.threshold}, {p['null']} {p['percentile']:g}%)",
        )
    colors = ensemble_colors(max(result.n_ensembles, 1))
    for ens_id, start, n_active in result.events[
        ["ensemble_id", "start_frame", "n_active"]
    ].to_numpy():
        color = colors[ens_id] if ens_id >= 0 else (0.5, 0.5, 0.5, 1)
        ax.plot(start / fps, n_active, "v", color=color, ms=4)
    ax.set_xlabel("time (s)")
    kind = "window" if p.get("coactivity") == "window" else "bin"
    ax.set_ylabel(f"active neurons per {width / fps:.2g} s {kind}")
    ax.set_xlim(0, max(t[-1] if len(t) else 0, 1 / fps))
    top = max(float(np.max(result.coactivity)) if len(result.coactivity) else 0.0, 1.0)
    if p.get("threshold") is not None:  # the threshold in sight, also above every window
        top = max(top, result.threshold + 0.5)
    ax.set_ylim(0, top * 1.35)  # headroom: the legend never covers the event markers
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # neuron counts
    ax.legend(loc="upper right", fontsize="small", ncol=2, frameon=False)
    ax.set_title(f"Coactivity: {len(result.events)} events, {result.n_ensembles} ensembles")
    return fig


@styled
def raster_figure(result: EnsembleResult) -> Figure:
    """Event raster, neurons grouped by ensemble, with each ensemble event shaded in its colour."""
    tr, p = result.trains, result.params
    fps = p["fps"]
    member = result.membership_matrix()
    first = np.c_[member, np.ones(len(member), dtype=bool)].argmax(axis=1)  # no ensemble: last
    order = np.lexsort((np.arange(tr.n_neurons), first))
    row = np.empty(tr.n_neurons, dtype=np.int64)
    row[order] = np.arange(tr.n_neurons)
    labelled = tr.n_neurons <= MAX_ROW_LABELS  # rows named by neuron id: room for each label
    tall = 1.2 + 0.12 * tr.n_neurons if labelled else 1.5 + min(0.03 * tr.n_neurons, 4.5)
    fig = Figure(figsize=figsize(tall), layout="constrained")
    ax = fig.add_subplot()
    colors = ensemble_colors(max(result.n_ensembles, 1))
    for ens_id, start, end in result.events[["ensemble_id", "start_frame", "end_frame"]].to_numpy():
        color = colors[ens_id] if ens_id >= 0 else (0.6, 0.6, 0.6, 1)
        ax.axvspan(start / fps, (end + 1) / fps, color=color, alpha=0.45, lw=0)
    ax.scatter(tr.frame / fps, row[tr.neuron], s=8, c="k", marker="|", linewidths=0.7)
    if labelled:  # each row named by its neuron's id (the rows are
        # reordered by ensemble: a row number is no neuron id; h22 walk)
        ax.set_yticks(range(tr.n_neurons), [str(i) for i in np.asarray(tr.neuron_ids)[order]])
    else:  # beyond, the labels overlap: rows by number, as the transients raster
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(tr.n_frames, 1) / fps)
    ax.set_ylim(max(tr.n_neurons, 1) - 0.5, -0.5)
    ax.set_xlabel("time (s)")
    rows = "" if labelled else "row, "
    ax.set_ylabel(f"neuron ({rows}grouped by ensemble)")
    ax.set_title(f"Events of {tr.n_neurons} neurons; {len(result.events)} ensemble events shaded"
                 " (grey: no ensemble)")  # fmt: skip
    return fig


@styled
def similarity_figure(result: EnsembleResult) -> Figure:
    """Jaccard similarity of ensemble events, ordered by the dendrogram, with ensemble colours."""
    sim = result.similarity
    fig = Figure(figsize=(COLUMN_IN, 3.9), layout="constrained")
    if len(sim) == 0:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no ensemble events", ha="center", va="center")
        ax.set_axis_off()
        return fig
    grid = fig.add_gridspec(3, 2, height_ratios=(1, 0.12, 4), width_ratios=(20, 1))
    ax_dendro = fig.add_subplot(grid[0, 0])
    ax_bar = fig.add_subplot(grid[1, 0])
    ax_heat = fig.add_subplot(grid[2, 0])
    ax_cb = fig.add_subplot(grid[2, 1])
    if result.linkage is not None:
        d = dendrogram(
            result.linkage,
            ax=ax_dendro,
            no_labels=True,
            color_threshold=0,
            above_threshold_color="0.3",
        )
        leaves = np.asarray(d["leaves"])
    else:
        leaves = np.arange(len(sim))
    ax_dendro.set_axis_off()
    ax_dendro.set_title(f"{len(sim)} ensemble events: Jaccard similarity")
    labels = result.events["ensemble_id"].to_numpy()[leaves]
    colors = ensemble_colors(max(result.n_ensembles, 1))
    bar = np.where(labels[:, None] >= 0, colors[np.maximum(labels, 0)], (0.85, 0.85, 0.85, 1))
    ax_bar.imshow(bar[None], aspect="auto", interpolation="nearest")
    ax_bar.set_axis_off()
    im = ax_heat.imshow(
        sim[np.ix_(leaves, leaves)],
        cmap=SEQUENTIAL_CMAP,
        vmin=0,
        vmax=1,
        interpolation="nearest",
        aspect="auto",
    )
    ax_heat.set_xlabel("event (dendrogram order)")
    ax_heat.set_ylabel("event (dendrogram order)")
    fig.colorbar(im, cax=ax_cb, label="Jaccard")
    return fig


@styled
def members_figure(result: EnsembleResult, positions: pd.DataFrame | None = None) -> Figure:
    """Where each ensemble's members are: one map per ensemble from `positions` (neuron_id, y, x),
    else a neuron x ensemble participation matrix."""
    n_ens = result.n_ensembles
    ids = result.trains.neuron_ids
    frac = np.zeros((len(ids), n_ens))
    if len(result.members):
        rows = pd.Index(ids).get_indexer(result.members["neuron_id"])
        frac[rows, result.members["ensemble_id"].to_numpy(dtype=np.int64)] = result.members[
            "fraction"
        ]
    if n_ens == 0:
        fig = Figure(figsize=figsize(2.0, "column"), layout="constrained")
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no ensembles found", ha="center", va="center")
        ax.set_axis_off()
        return fig
    colors = ensemble_colors(n_ens)
    if positions is not None and {"neuron_id", "y", "x"} <= set(positions.columns):
        pos = positions.drop_duplicates("neuron_id").set_index("neuron_id")
        pos = pos.reindex(ids)
        ncol = min(n_ens, 4)
        nrow = -(-n_ens // ncol)
        side = DOUBLE_IN / 4
        fig = Figure(figsize=(side * ncol, side * nrow + 0.2), layout="constrained")
        for e in range(n_ens):
            ax = fig.add_subplot(nrow, ncol, e + 1)
            ax.scatter(pos["x"], pos["y"], s=8, color="0.8")
            on = frac[:, e] > 0
            ax.scatter(pos["x"][on], pos["y"][on], s=12 + 40 * frac[on, e], color=colors[e])
            ax.set_title(f"ensemble {e} ({on.sum()} neurons)")
            ax.set_aspect("equal")
            ax.invert_yaxis()
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("x (px)")
            ax.set_ylabel("y (px)")
        return fig
    involved = np.flatnonzero(frac.any(axis=1))
    involved = involved[np.argsort(frac[involved].argmax(axis=1), kind="stable")]  # by ensemble
    fig = Figure(figsize=(min(2 + 0.4 * n_ens, DOUBLE_IN), 1.5 + min(0.12 * len(involved), 6.5)),
                 layout="constrained")  # fmt: skip
    ax = fig.add_subplot()
    im = ax.imshow(
        frac[involved], aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest"
    )
    ax.set_xticks(range(n_ens), [str(e) for e in range(n_ens)])
    if len(involved) <= 60:  # beyond, the labels overlap: rows by number instead
        ax.set_yticks(range(len(involved)), [str(i) for i in ids[involved]], fontsize="x-small")
    ax.set_xlabel("ensemble")
    ax.set_ylabel("neuron")
    fig.colorbar(im, ax=ax, label="share of ensemble events joined")
    ax.set_title(f"Ensemble members ({len(involved)} neurons)")
    return fig


def ensemble_figures(
    result: EnsembleResult, positions: pd.DataFrame | None = None
) -> dict[str, Figure]:
    """All four figures, keyed by the file stem the CLI uses."""
    return {
        "coactivity": coactivity_figure(result),
        "raster": raster_figure(result),
        "similarity": similarity_figure(result),
        "members": members_figure(result, positions),
    }
