"""Footprints the user drew or edited: fit them in their neighbourhood with the other cells.

A mask (a cell painted in the Labels layer, a polygon, an edited label) becomes the support of
a component; in a window around it the same factorisation as extraction runs (HALS with the
low-rank background) together with every existing component that reaches into the window, so
the new trace is demixed from its neighbours rather than being a plain mask average.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from napari_catrack.core.sources.deconv import deconvolve_traces, trace_noise
from napari_catrack.core.sources.dff import dff_and_kind
from napari_catrack.core.sources.evaluation import (
    area,
    evaluate,
    peak_snr,
    r_values,
    tool_verdicts,
)
from napari_catrack.core.sources.extract import SourcesResult, centroids
from napari_catrack.core.sources.footprints import Footprints, as_footprints
from napari_catrack.core.sources.hals import factorise
from napari_catrack.core.valid_region import NonFinitePixels, ValidRegion, finite_region
from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.io.frames import FrameSource, open_frames


def _window(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (slice(max(0, ys.min() - margin), min(h, ys.max() + margin + 1)),
            slice(max(0, xs.min() - margin), min(w, xs.max() + margin + 1)))  # fmt: skip


def refit_components(movie, result: SourcesResult, masks: dict, *, tool: str | None = None, progress=None, cancel=None) -> SourcesResult:  # fmt: skip
    """`masks` maps a neuron id (an existing one: its new support; a new id: a new cell) to a
    (Y, X) boolean mask. Returns the result with those components refitted or added.

    `tool`: the cells are that tool's import (`session.imported_tool`); its own verdicts stay
    apart from the thresholds' (`evaluation.tool_verdicts`): the drawn and reshaped cells have
    none, so a later threshold change judges them, and only them, while the box 're-judge
    imported cells' is off.

    A NaN border (another tool's motion correction) is left out as extraction leaves it out:
    the fit runs on the largest rectangle finite in every frame (`core.valid_region`), a mask's
    pixels outside it are dropped (never measured), and the refitted footprints are mapped back
    to the full frame (0 outside the region; a warning says which region was used)."""
    source = movie if isinstance(movie, FrameSource) else open_frames(movie)
    try:
        try:
            out = _refit(source, result, masks, progress, cancel)
        except NonFinitePixels:
            region = finite_region(source, "fitting drawn cells needs", 500, cancel)
            out = _refit_in_region(source, result, masks, region, progress, cancel)
    finally:
        if not isinstance(movie, FrameSource):
            source.close()
    if tool is None:
        return out
    refitted = out.components["neuron_id"].astype(int).isin([int(n) for n in masks]).to_numpy()
    comps = tool_verdicts(result.components.reset_index(drop=True), out.components, refitted, tool)
    return replace(out, components=comps)


def _refit_in_region(source: FrameSource, result: SourcesResult, masks: dict, region: ValidRegion, progress, cancel) -> SourcesResult:  # fmt: skip
    """`_refit` on `region` of the frame, in full-frame coordinates: only the drawn cells change
    (the other components' footprints and centroids are the full-frame ones, as given)."""
    (y0, y1), (x0, x1) = region.ys, region.xs
    h, w = region.shape
    inside = {nid: np.asarray(m, bool)[y0:y1, x0:x1] for nid, m in masks.items()}
    for nid, mask in masks.items():
        if np.shape(mask) != (h, w):
            raise InputError(f"the mask of cell {nid} must be a {h}x{w} region of at least 3 pixels")  # fmt: skip
        if inside[nid].sum() < 3:
            raise InputError(
                f"the mask of cell {nid} lies in the NaN border (pixels not measured in every "
                f"frame): draw it inside rows {y0}-{y1 - 1} and columns {x0}-{x1 - 1}"
            )
    comps = result.components.copy()
    comps["y"] -= y0
    comps["x"] -= x0
    before = as_footprints(result.footprints)
    cropped = replace(result, footprints=before.cropped((y0, y1), (x0, x1)), components=comps)
    out = _refit(region.crop(source), cropped, inside, progress, cancel)
    n_before = len(result.components)
    padded = out.footprints.padded(region.shape, region.ys, region.xs)
    # the cells not drawn: as they were; new cells: as fitted in the region
    footprints = before.appended(padded[n_before:])
    comps = out.components.copy()
    comps.loc[: n_before - 1, ["y", "x"]] = result.components[["y", "x"]].to_numpy()
    drawn = comps["neuron_id"].astype(int).isin([int(n) for n in masks]).to_numpy()
    for k in np.flatnonzero(drawn):
        footprints = footprints.replaced(k, padded[k])
        comps.loc[k, "y"] = out.components.loc[k, "y"] + y0
        comps.loc[k, "x"] = out.components.loc[k, "x"] + x0
    note = region.note("fitting drawn cells")
    warnings = [*out.warnings, *([note] if note not in out.warnings else [])]
    return replace(out, footprints=footprints, components=comps, warnings=warnings)


def _refit(source: FrameSource, result: SourcesResult, masks: dict, progress, cancel) -> SourcesResult:  # fmt: skip
    n, h, w = source.shape
    if result.footprints.shape[1:] != (h, w) or result.raw.shape[1] != n:
        raise InputError(f"the sources were found on a {result.footprints.shape[1:]} x {result.raw.shape[1]}-frame movie, not this {h}x{w} x {n} one")  # fmt: skip
    p = result.params
    fp = as_footprints(result.footprints)  # sparse; one component's window densified at a time
    comps = result.components.reset_index(drop=True).copy()
    ids = [int(i) for i in comps["neuron_id"]]
    raw, den, spk, dff = (
        a.copy() for a in (result.raw, result.denoised, result.spikes, result.dff)
    )
    margin = int(np.ceil(2 * p.cell_radius_px))
    for step, (nid, mask) in enumerate(masks.items()):
        check_cancelled(cancel, "fitting the drawn cell")
        mask = np.asarray(mask, bool)
        if mask.shape != (h, w) or mask.sum() < 3:
            raise InputError(f"the mask of cell {nid} must be a {h}x{w} region of at least 3 pixels")  # fmt: skip
        wy, wx = _window(mask, margin)
        Y = np.concatenate([source.read(a, b)[:, wy, wx] for a, b in source.chunks(500)]).astype(np.float32)  # fmt: skip
        if not np.isfinite(Y).all():  # a NaN border: the caller fits in the finite region
            raise NonFinitePixels(f"the movie around cell {nid} has NaN/infinite pixels")
        t, ph, pw = Y.shape
        nid = int(nid)
        win = fp.cropped((wy.start, wy.stop), (wx.start, wx.stop))  # the window, sparse
        peaks = win.peaks()
        others = [k for k, i in enumerate(ids) if i != nid and peaks[k] > 0]
        old = ids.index(nid) if nid in ids else None
        start = mask[wy, wx] * (win[old] if old is not None and (win[old] * mask[wy, wx]).max() > 0 else 1.0)  # fmt: skip
        A0 = np.stack([win[k] for k in others] + [start]).reshape(len(others) + 1, -1).T
        support = np.stack([win[k] > 0 for k in others] + [mask[wy, wx]]).reshape(len(others) + 1, -1).T  # fmt: skip
        fac = factorise(Y.reshape(t, -1).T, A0, support, background_rank=p.background_rank,
                        iterations=p.iterations, shape=(ph, pw), background_grid_px=2 * p.cell_radius_px)  # fmt: skip
        if len(others) not in fac.kept:
            raise InputError(f"cell {nid}: nothing in the drawn region varies like a cell")
        j = list(fac.kept).index(len(others))
        full = np.zeros((h, w), np.float32)
        full[wy, wx] = fac.A[:, j].reshape(ph, pw)
        r_trace = (fac.C[j] + fac.YrA[j])[None]
        bg = (fac.A[:, j] @ fac.b @ fac.f)[None] / max(float(fac.A[:, j] @ fac.A[:, j]), 1e-12)
        d, s = deconvolve_traces(r_trace, p.deconvolution)
        sup = (fac.A[:, [j]] > 0) | support[:, [len(others)]]
        row = {
            "neuron_id": nid,
            "y": centroids(full[None])[0, 0],
            "x": centroids(full[None])[0, 1],
            "area": int(area(full[None])[0]),
            "snr": float(peak_snr(r_trace, d, trace_noise(r_trace))[0]),
            "r_value": float(r_values(Y.reshape(t, -1).T, fac.A[:, [j]], fac.C[[j]], sup)[0]),
        }
        new_dff, kind = dff_and_kind(r_trace, bg, result.fps, p.baseline_window_s, baseline="caiman")  # fmt: skip
        row["dff_kind"] = kind[0]
        if old is None:
            ids.append(nid)
            fp = fp.appended(Footprints.from_dense(full[None]))
            raw, den, spk, dff = (np.vstack([a, b]) for a, b in ((raw, r_trace), (den, d), (spk, s), (dff, new_dff)))  # fmt: skip
            comps = pd.concat([comps, pd.DataFrame([row])], ignore_index=True)
        else:
            fp = fp.replaced(old, full)
            raw[old], den[old], spk[old], dff[old] = (
                r_trace[0],
                d[0],
                s[0],
                new_dff[0],
            )
            for key, val in row.items():
                comps.at[old, key] = val
        if progress:
            progress(step + 1, len(masks), "fitting drawn cells")
    comps = _imaged_as_the_others(comps, result.components)
    refitted = comps["neuron_id"].astype(int).isin([int(n) for n in masks]).to_numpy()
    comps = _judged(comps, refitted, result.evaluation)
    red = _red_of_the_others(result, ids, [int(n) for n in masks])
    return replace(result, footprints=fp, components=comps, raw=raw, denoised=den, spikes=spk, dff=dff, **red)  # fmt: skip


def _red_of_the_others(result: SourcesResult, ids: list[int], drawn: list[int]) -> dict:
    """An import's red channel (suite2p F_chan2) for the cells after a fit: the cells not drawn
    keep theirs; drawn and reshaped cells get NaN (the tool measured red on its own ROIs, the
    fit measures green only; a warning says so). Before h19 the red rows were not extended and
    recording a drawn cell stopped with a traceback (3,000 red values for 3,300 rows)."""
    if result.red is None:
        return {}
    t = result.red.shape[1]
    row = {int(i): k for k, i in enumerate(result.components["neuron_id"])}
    keep = [row.get(i) if i not in drawn else None for i in ids]
    out = {}
    for name, arr in (("red", result.red), ("red_background", result.red_background)):
        if arr is None:
            continue
        new = np.full((len(ids), t), np.nan)
        have = [k for k, r in enumerate(keep) if r is not None]
        new[have] = np.asarray(arr, float)[[keep[k] for k in have]]
        out[name] = new
    line = "the red channel's traces of cells drawn or reshaped by hand are empty (NaN): the import measured red on its own ROIs, the fit measures green only"  # fmt: skip
    out["warnings"] = [*result.warnings, *([line] if line not in result.warnings else [])]
    return out


def _judged(comps: pd.DataFrame, refitted: np.ndarray, evaluation) -> pd.DataFrame:
    """The thresholds judge the cells drawn or reshaped (`refitted`); every other cell keeps the
    verdict it had: an imported tool's own (suite2p's iscell: "rejected by suite2p"), or the
    thresholds' on unchanged values. Before h19 every cell was judged again, so a fit on a
    suite2p import turned the cells suite2p rejected into accepted ones."""
    out = evaluate(comps.drop(columns=["accepted", "reason"], errors="ignore"), evaluation)
    if {"accepted", "reason"} <= set(comps.columns):
        keep = ~refitted & comps["accepted"].notna().to_numpy()
        out.loc[keep, "accepted"] = comps.loc[keep, "accepted"].astype(bool).to_numpy()
        out.loc[keep, "reason"] = comps.loc[keep, "reason"].fillna("").astype(str).to_numpy()
    return out


# where and when the cells were imaged (an imported suite2p plane: `plane`, and its time in the
# volume, `time_offset_s`): a cell drawn on the same movie shares them when every cell does
IMAGED = ("plane", "time_offset_s")


def _imaged_as_the_others(comps: pd.DataFrame, before_fit: pd.DataFrame) -> pd.DataFrame:
    """Cells drawn by hand (rows from `n_before` on) take the `IMAGED` values every earlier cell
    shares: drawn on a one-plane import's movie, a cell is that plane's, its samples timed as
    the plane's (it had NaN: time_s at frame / fps, and the NWB series of all cells at 0). Where
    the cells differ (several planes) the drawn cell's stay NaN: which plane it is, is unknown.
    `plane_roi` (the row in suite2p's files) stays NaN: a drawn cell has none. The column's type
    is read from `before_fit` (the cells before the drawn rows were appended, which made an
    integer `plane` float): 1, not 1.0, in components.csv."""
    n_before = len(before_fit)
    if not n_before or len(comps) == n_before:
        return comps
    comps = comps.copy()
    for col in IMAGED:
        if col not in comps:
            continue
        before = comps[col].iloc[:n_before]
        values = pd.to_numeric(before, errors="coerce")
        if values.notna().all() and values.nunique() == 1:
            comps.loc[n_before:, col] = values.iloc[0]
            dtype = before_fit[col].dtype if col in before_fit else before.dtype
            if pd.api.types.is_integer_dtype(dtype):
                comps[col] = comps[col].astype(dtype)
    return comps


def masks_from_labels(labels: np.ndarray, footprints: np.ndarray, ids, level: float = 0.2) -> dict:
    """Edited or new labels of a Labels layer: {id: mask} for every label whose region differs
    from the footprint it was drawn from (new ids included), so only those are refitted."""
    from napari_catrack.core.sources.session import label_offset, labels_from_footprints

    labels = np.asarray(labels)
    before = labels_from_footprints(footprints, ids, level)
    offset = label_offset(ids)  # label = id + offset (label 0 is the background)
    out = {}
    for lab in np.unique(labels):
        if lab == 0:
            continue
        now = labels == lab
        if not np.array_equal(now, before == lab):
            out[int(lab) - offset] = now
    return out
