"""Trace figures: per-neuron channels / ratio / dF/F panels, and the cleaning-steps figure.

Each function builds a `matplotlib.figure.Figure` (no pyplot, no GUI) and returns it; the
caller saves it (`fig.savefig("x.svg")`). The trace viewer widget draws the same panels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from napari_catrack.errors import InputError
from napari_catrack.figures.style import (
    DFF_LABEL,
    MAX_LINE_NEURONS,
    MAX_ROW_LABELS,
    RATIO_LABEL,
    SEQUENTIAL_CMAP,
    colour,
    figsize,
    styled,
)


def isolated_samples(y) -> np.ndarray:
    """Finite samples with no finite neighbour (a measured frame between missing ones): a line
    draws nothing there, so the value (and a transient found on it) was invisible; plots mark
    them with a dot (`Line2D.set_markevery`)."""
    ok = np.isfinite(np.asarray(y, dtype=float))
    left = np.r_[False, ok[:-1]]
    right = np.r_[ok[1:], False]
    return ok & ~left & ~right


PANELS = {
    "green": ("green", "green (a.u.,\nbg-sub.)", "tab:green"),
    "red": ("red", "red (a.u.,\nbg-sub.)", "tab:red"),
    "ratio": ("ratio", "ratio G/R", "0.25"),
    "dff": ("dff", DFF_LABEL, "tab:blue"),
    "dff_green": ("dff_green", f"green {DFF_LABEL}", "tab:olive"),
    "cleaned": ("dff_clean", f"cleaned {DFF_LABEL}", "tab:purple"),
}
"""Panel name -> (table column, axis label, colour); the widget offers the same choices. Raw
channels are camera counts after background subtraction (a.u.); ratio and ΔF/F have no unit.
Each panel is labelled, so a red and a green line never carry meaning by colour alone."""


def dff_is_ratio(traces: pd.DataFrame) -> bool:
    """Is the table's `dff` the ratio-based dR/R0? (`catrack traces` writes dR/R0 there when
    it had a red channel and the ratio on, else the green dF/F0, which `dff_green` repeats.)"""
    if "dff" not in traces or "dff_green" not in traces:
        return False
    if "ratio" in traces and not traces["ratio"].notna().any():
        return False
    a = traces["dff"].to_numpy(dtype=float)
    b = traces["dff_green"].to_numpy(dtype=float)
    return not np.allclose(a, b, equal_nan=True)


def session_dff_is_ratio(session) -> bool:
    """Is the session's traces `dff` the ratio-based dR/R0 (False without traces)?"""
    if session is None or "traces" not in session:
        return False
    table = session["traces"].tables.get("traces")
    return table is not None and dff_is_ratio(table)


RAW_LABEL = "raw (a.u.)"  # sources' trace: extracted here or a tool's (suite2p F - c x Fneu, ...)


def sources_green(traces: pd.DataFrame) -> bool:
    """Is the table's `green` the copy of `raw` that sources' traces keep for the trace viewer?"""
    if "raw" not in traces or "green" not in traces:
        return False
    a, b = traces["raw"].to_numpy(dtype=float), traces["green"].to_numpy(dtype=float)
    return bool(np.array_equal(a, b, equal_nan=True))


def panel_label(panel: str, traces: pd.DataFrame) -> str:
    """The axis label of `panel`: dF/F panels say dR/R0 when the table's dff is the ratio's;
    the green panel of sources' traces (extracted or imported: `green` is the session's copy of
    `raw`, a tool's trace such as suite2p's F - c x Fneu) says raw, not camera counts."""
    if panel == "green" and sources_green(traces):
        return RAW_LABEL
    label = PANELS[panel][1]
    if panel in ("dff", "cleaned") and dff_is_ratio(traces):
        label = label.replace(DFF_LABEL, RATIO_LABEL)
    return label


def _time(df: pd.DataFrame) -> tuple[np.ndarray, str]:
    if "time_s" in df and df["time_s"].notna().all():
        return df["time_s"].to_numpy(), "time (s)"
    return df["frame"].to_numpy(), "frame"


#: the axis label of a dF/F panel that shows only cells whose dff is dF (core/sources/dff.py)
DF_LABEL = "dF (trace units: no baseline + background to divide by)"


def draw_trace_panels(
    axes: Sequence[Axes],
    traces: pd.DataFrame,
    neuron_ids: Sequence,
    panels: Sequence[str],
    df_ids: Sequence = (),
) -> str:
    """Draw `panels` for `neuron_ids` into `axes` (one axis per panel); returns the x label.

    Missing / saturated frames are marked so nobody mistakes a gap for a dip. `df_ids`: cells
    whose dff is dF, not dF/F (`core.sources.session.df_cells`): on a dF/F panel with other
    cells they are left out and named on the panel; alone, the panel's axis says dF.
    """
    wanted = {str(n) for n in neuron_ids}
    df = {str(n) for n in df_ids} & wanted
    codes, names = _id_codes(traces)  # once: a filter per neuron and panel took minutes
    keep = np.flatnonzero(np.isin(names, list(wanted)))
    picked = np.isin(codes, keep)
    rows = {names[c]: d.sort_values("frame")
            for c, d in traces[picked].groupby(codes[picked])}  # fmt: skip
    empty = traces.iloc[:0]
    for ax, panel in zip(axes, panels):
        col, _, panel_colour = PANELS[panel]
        label = panel_label(panel, traces)
        multi = len(neuron_ids) > 1
        skip: set[str] = set()
        if df and panel in ("dff", "cleaned"):
            if df == wanted:  # only dF cells: their axis says what it shows
                label = DF_LABEL if panel == "dff" else f"cleaned {DF_LABEL}"
            else:  # never dF on a dF/F axis (its thousands would set the scale)
                skip = df
                left = ", ".join(sorted(df))
                ax.text(0.01, 0.97, f"not drawn (dF, not dF/F): {left}", transform=ax.transAxes,
                        fontsize="x-small", va="top", color="0.4")  # fmt: skip
        for k, nid in enumerate(neuron_ids):
            if str(nid) in skip:
                continue
            d = rows.get(str(nid), empty)
            x, xlabel = _time(d)
            if col not in d or d[col].isna().all():
                continue
            y = d[col].to_numpy()
            alone = isolated_samples(y)
            ax.plot(
                x,
                y,
                lw=0.8,
                color=colour(k) if multi else panel_colour,
                label=str(nid),
                marker="." if alone.any() else None,
                markevery=alone if alone.any() else None,
            )
            if "saturated" in d and d["saturated"].any():
                s = d["saturated"].to_numpy(bool)
                ax.plot(x[s], d[col].to_numpy()[s], "x", ms=4, color="k")
            if "missing" in d and d["missing"].any():  # one grey band per stretch (a lost
                half = 0.5 * _step(x)  # neuron's hundreds of frames: one patch, not hundreds)
                for i0, i1 in _runs(d["missing"].to_numpy(bool)):
                    ax.axvspan(x[i0] - half, x[i1] + half, color="0.85", lw=0)
        ax.set_ylabel(label)
        if multi and ax is axes[0]:
            ax.legend(fontsize="small", ncol=min(len(neuron_ids), 5), frameon=False)
    return xlabel if len(neuron_ids) else "frame"


def _id_codes(traces: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(code of each row, the ids as strings in first-seen order): ids compared as text, but
    converted once per neuron, not once per row (6 million rows: a second each time)."""
    codes, uniques = pd.factorize(traces["neuron_id"], sort=False)
    return codes, np.array([str(u) for u in uniques], dtype=object)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in `flags`."""
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _step(x: np.ndarray) -> float:
    return float(np.median(np.diff(x))) if len(x) > 1 else 1.0


@styled
def trace_figure(
    traces: pd.DataFrame,
    neuron_ids: Sequence | None = None,
    panels: Sequence[str] = ("green", "red", "ratio", "dff"),
    *,
    figsize: tuple[float, float] | None = None,
    heatmap: bool | None = None,
) -> Figure:
    """Stacked panels (raw green, red, ratio, ΔF/F, cleaned ...) for selected neurons.

    `traces` is the table from `extract_traces` / `catrack traces` (a `dff_clean` column adds the
    "cleaned" panel). Neurons default to the first one; grey bands are missing frames, crosses
    saturated ones. More than `MAX_LINE_NEURONS` neurons are drawn as one heat map per panel
    (a row per neuron), which stays readable and fast for hundreds of neurons; `heatmap`
    True / False forces one or the other.
    """
    unknown = [p for p in panels if p not in PANELS]
    if unknown:
        raise InputError(f"unknown panel(s) {unknown}: choose from {list(PANELS)}")
    ids = list(_id_codes(traces)[1])
    chosen = [str(n) for n in (neuron_ids if neuron_ids is not None else ids[:1])]
    absent = [n for n in chosen if n not in ids]
    if absent:
        raise InputError(f"neuron(s) {absent} not in the traces table")
    as_heatmap = heatmap if heatmap is not None else len(chosen) > MAX_LINE_NEURONS
    # a heat map's panel grows with its rows (0.12 in each, a 7-pt label) up to 4.5 in
    panel_in = min(max(1.3, 0.12 * len(chosen)), 4.5) if as_heatmap else 1.3
    size = figsize or _figsize(panel_in * len(panels) + 0.5)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    if as_heatmap:
        xlabel = draw_trace_heatmaps(fig, axes, traces, chosen, panels)
    else:
        xlabel = draw_trace_panels(axes, traces, chosen, panels)
    axes[-1].set_xlabel(xlabel)
    if len(chosen) <= 6:
        fig.suptitle(f"Traces: neuron{'s' if len(chosen) > 1 else ''} {', '.join(chosen)}")
    else:
        fig.suptitle(f"Traces: {len(chosen)} neurons")
    return fig


def _figsize(height: float) -> tuple[float, float]:
    return figsize(height)


def draw_trace_heatmaps(fig, axes, traces: pd.DataFrame, neuron_ids: Sequence, panels) -> str:
    """One heat map per panel, a row per neuron (in `neuron_ids` order), x the frames' times;
    returns the x label. Rows are placed by index arithmetic, not a filter per neuron or a
    pivot (300 neurons x 20,000 frames: seconds, not minutes)."""
    ids = [str(n) for n in neuron_ids]
    codes, names = _id_codes(traces)
    row_of_code = pd.Index(ids).get_indexer(names)  # -1: not shown
    rows = row_of_code[codes]
    picked = rows >= 0
    sub = traces[picked]
    rows = rows[picked]
    frames, col_idx = np.unique(sub["frame"].to_numpy(), return_inverse=True)
    has_time = "time_s" in sub and sub["time_s"].notna().all()
    if has_time:
        times = np.empty(len(frames))
        times[col_idx] = sub["time_s"].to_numpy(float)
        x, xlabel = times, "time (s)"
    else:
        x, xlabel = frames.astype(float), "frame"
    step = _step(x)
    extent = (x[0] - step / 2, x[-1] + step / 2, len(ids) - 0.5, -0.5) if len(x) else None
    for ax, panel in zip(axes, panels):
        col = PANELS[panel][0]
        if col not in sub:
            ax.set_axis_off()
            continue
        m = np.full((len(ids), len(frames)), np.nan)
        m[rows, col_idx] = pd.to_numeric(sub[col], errors="coerce").to_numpy(float)
        finite = m[np.isfinite(m)]
        lo, hi = np.percentile(finite, (1, 99)) if finite.size else (0.0, 1.0)
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap=SEQUENTIAL_CMAP,
                       vmin=lo, vmax=hi if hi > lo else lo + 1, extent=extent)  # fmt: skip
        fig.colorbar(im, ax=ax, label=panel_label(panel, traces), pad=0.01)
        ax.set_ylabel("neuron")
        if len(ids) <= MAX_ROW_LABELS:
            ax.set_yticks(range(len(ids)), ids)
    return xlabel


@styled
def cleaning_steps_figure(
    intermediates: dict[str, np.ndarray],
    fps: float,
    neuron: int = 0,
    *,
    neuron_label: str | None = None,
    raw: np.ndarray | None = None,
) -> Figure:
    """One panel per cleaning stage (before, normalised, drift-removed, denoised ...).

    `intermediates` is the third return of `clean_traces(..., return_intermediates=True)`;
    `raw` (optional, (N, T)) adds the un-normalised fluorescence as the first panel. Each later
    stage is drawn over the previous one in grey, so what a step removed is visible.
    """
    stages = ([("raw", np.asarray(raw))] if raw is not None else []) + list(intermediates.items())
    if not stages:
        raise InputError("no cleaning stages to draw")
    fig = Figure(figsize=figsize(1.2 * len(stages) + 0.5), layout="constrained")
    axes = fig.subplots(len(stages), 1, sharex=True, squeeze=False)[:, 0]
    prev = None
    for ax, (name, arr) in zip(axes, stages):
        y = np.atleast_2d(arr)[neuron]
        t = np.arange(y.size) / fps
        if prev is not None and prev.shape == y.shape and name != "input":
            ax.plot(t, prev, lw=0.6, color="0.7", label="before this step")
        ax.plot(t, y, lw=0.8, color="tab:blue" if name != "raw" else "tab:green")
        title = {"input": "before cleaning", "raw": "raw fluorescence"}.get(
            name, name.split(":", 1)[-1]
        )
        ax.set_ylabel(title, fontsize="small")
        prev = y if name != "raw" else None
    axes[0].set_title(f"cleaning steps: {neuron_label or f'neuron {neuron}'}", fontsize="medium")
    axes[-1].set_xlabel("time (s)")
    return fig
