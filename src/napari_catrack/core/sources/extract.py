"""CNMF-style source extraction over independent patches, merged: the sources step's core.

    result = extract_sources("registered.tif", SourcesParams(), fps=30)
    result.components      # neuron_id, y, x, area, snr, r_value, accepted, reason
    result.traces_table()  # neuron_id, frame, time_s, raw, denoised, spikes, dff
    result.footprints      # Footprints: sparse (Y*X, K) CSC, component k = row k of components

Per patch (CaImAn's recipe, kept practical on 2 cores): seeds and greedy footprints from the
correlation x PNR image (init.py), HALS with a low-rank background (hals.py), merging of
overlapping components whose traces correlate, r-values. Patches overlap; a cell is kept once,
from the patch that owns it (patches.py). Then every trace is
deconvolved (OASIS), evaluated (evaluation.py), and turned into dF/F relative to the cell's
baseline plus the background under it (CaImAn's `detrend_df_f` idea); the components'
`dff_kind` says "dF" for a cell without such a denominator, whose dff is then dF (dff.py).

Reading: a patch needs all its frames at once. Patches are taken in groups (consecutive patches,
so whole rows of patches) whose bounding window, as float32 for every frame, fits
`IN_MEMORY_BYTES`; the movie is read once per group (once in all when it fits) and the group's
patches run in parallel. Reading the movie once per patch, as before, read a 2.6 GB movie 104
times over (review 7, finding 4).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from napari_catrack.core.sources.deconv import deconvolve_traces, trace_noise
from napari_catrack.core.sources.dff import dff_and_kind
from napari_catrack.core.sources.evaluation import area, evaluate, peak_snr, r_values
from napari_catrack.core.sources.footprints import Footprints
from napari_catrack.core.sources.hals import component_support, factorise, temporal_full
from napari_catrack.core.sources.init import (
    bin_frames,
    filtered,
    find_seeds,
    greedy_footprints,
    remove_shared,
)
from napari_catrack.core.sources.params import EvaluationParams, SourcesParams
from napari_catrack.core.sources.patches import Found, Patch, centroids, dedupe, owned, tile
from napari_catrack.core.valid_region import NonFinitePixels, ValidRegion, finite_region
from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.io.frames import FrameSource, open_frames

IN_MEMORY_BYTES = 1.5e9  # window of a group of patches (float32, all frames) held at once
#: fewer frames than this: cells are told from noise by how their pixels co-vary over time, and a
#: short movie holds too few transients for that (the footprints are then mostly speckle)
FEW_FRAMES = 100


@dataclass
class SourcesResult:
    footprints: Footprints  # K sparse footprints of the (Y, X) frame, peak 1 (footprints.py)
    components: pd.DataFrame
    raw: np.ndarray  # (K, T) fluorescence at the footprint peak, background removed
    denoised: np.ndarray
    spikes: np.ndarray
    dff: np.ndarray
    fps: float
    params: SourcesParams = field(default_factory=SourcesParams)
    evaluation: EvaluationParams = field(default_factory=EvaluationParams)
    warnings: list[str] = field(default_factory=list)  # what the user should know about the run
    notes: list[str] = field(default_factory=list)  # how an import was read (coefficient, fs)
    tool_fps: float | None = None  # the frame rate an imported tool stored (None: none stored)
    made_with: dict = field(default_factory=dict)  # an import's own settings (provenance)
    # (K, T) red (second) channel of an import that has one (suite2p's F_chan2.npy): `red` =
    # red_raw - red_background, as raw is made (traces columns red, red_raw, red_bg); None: none
    red: np.ndarray | None = None
    red_background: np.ndarray | None = None

    def traces_table(self) -> pd.DataFrame:
        """Long table; `time_s` = frame / fps, plus the cell's `time_offset_s` when the
        components have one (a multi-plane import: each plane imaged later in the volume)."""
        k, t = self.raw.shape
        times = np.tile(np.arange(t) / self.fps, k)
        if "time_offset_s" in self.components and k:
            offset = self.components["time_offset_s"].to_numpy(float)
            times = times + np.repeat(np.where(np.isfinite(offset), offset, 0.0), t)
        table = pd.DataFrame(
            {
                "neuron_id": np.repeat(self.components["neuron_id"].to_numpy(), t),
                "frame": np.tile(np.arange(t), k),
                "time_s": times,
                "raw": self.raw.ravel(),
                "denoised": self.denoised.ravel(),
                "spikes": self.spikes.ravel(),
                "dff": self.dff.ravel(),
            }
        )
        if self.red is not None:  # the red channel's traces (suite2p F_chan2), no ratio made
            bg = self.red_background if self.red_background is not None else np.zeros_like(self.red)  # fmt: skip
            table["red"] = np.asarray(self.red, float).ravel()
            table["red_raw"] = (np.asarray(self.red, float) + bg).ravel()
            table["red_bg"] = np.asarray(bg, float).ravel()
        return table

    def reevaluate(self, evaluation: EvaluationParams) -> SourcesResult:
        """The same components judged with other thresholds (nothing recomputed)."""
        return replace(self, components=evaluate(self.components, evaluation), evaluation=evaluation)  # fmt: skip


def _trace_correlation(C: np.ndarray) -> np.ndarray:
    """Pearson correlation of the traces (K, T). A flat trace (a component the fit emptied)
    correlates with none: np.corrcoef divided by its zero spread (a numpy warning per patch)."""
    d = C - C.mean(axis=1, keepdims=True)
    norm = np.sqrt((d * d).sum(axis=1))
    flat = norm == 0
    d /= np.where(flat, 1.0, norm)[:, None]
    cc = d @ d.T
    np.fill_diagonal(cc, 1.0)
    return cc


def _merge_in_patch(A: np.ndarray, C: np.ndarray, thr: float) -> np.ndarray | None:
    """Merged footprints (P, K') when overlapping components' traces correlate > thr; else None."""
    k = A.shape[1]
    if k < 2:
        return None
    overlap = (A.T @ A) > 0
    pair = overlap & (_trace_correlation(C) > thr)
    np.fill_diagonal(pair, False)
    if not pair.any():
        return None
    from scipy.sparse.csgraph import connected_components

    n, lab = connected_components(pair, directed=False)
    scale = C.max(axis=1)
    return np.stack([(A[:, lab == g] * scale[lab == g]).sum(axis=1) for g in range(n)], axis=1)


def _fit_patch(Y: np.ndarray, p: SourcesParams, bin_k: int) -> dict | None:
    """Components of one patch movie (T, h, w): footprints, traces, r-values, background under.

    Seeds, footprints and r-values come from the movie binned by `bin_k` frames; the traces
    are then fitted at the full frame rate with the footprints fixed (hals.temporal_full).
    """
    t, h, w = Y.shape
    Yb = bin_frames(Y, bin_k)
    tb = len(Yb)
    yf = filtered(remove_shared(Yb), p.cell_radius_px, temporal_sigma=0.0 if bin_k > 1 else 1.0)
    thresholds = dict(min_corr=p.min_corr, min_pnr=p.min_pnr, min_activity=p.min_activity)
    seeds, images = find_seeds(yf, p.cell_radius_px, max_n=p.max_per_patch, **thresholds)
    A0 = greedy_footprints(yf, seeds, p.cell_radius_px, images["noise"], max_n=p.max_per_patch, **thresholds)  # fmt: skip
    del yf
    if len(A0) == 0:
        return None
    Ym = Yb.reshape(tb, -1).T
    support = component_support(A0, p.cell_radius_px)
    opts = dict(background_rank=p.background_rank, iterations=p.iterations, shape=(h, w),
                background_grid_px=2 * p.cell_radius_px)  # fmt: skip
    fac = factorise(Ym, A0.reshape(len(A0), -1).T, support, **opts)
    merged = _merge_in_patch(fac.A, fac.C, p.merge_threshold)
    if merged is not None:
        # a component whose trace the fit emptied comes back all zero: nothing to normalise
        # (0 / 0 made NaN footprints and a singular trace fit), so it is dropped here
        merged = merged[:, merged.max(axis=0) > 0]
        fp = (merged.T / merged.max(axis=0)[:, None]).reshape(-1, h, w)
        support = component_support(fp, p.cell_radius_px)
        fac = factorise(Ym, merged / merged.max(axis=0), support, **opts)
    support = support[:, fac.kept]
    k = fac.A.shape[1]
    if k == 0:
        return None
    support = np.asarray(fac.A > 0) | support
    r = r_values(Ym, fac.A, fac.C, support)
    full = temporal_full(Y.reshape(t, -1).T, fac, bin_k)
    norm = (full.A * full.A).sum(axis=0)
    bg = ((full.A.T @ full.b) @ full.f) / norm[:, None]
    return {"A": full.A.T.reshape(k, h, w), "raw": full.C + full.YrA, "bg": bg, "r": r}


def time_bin(p: SourcesParams, fps: float, n_frames: int) -> int:
    """Frames per bin of the initialisation/footprint movie: `time_bin_s` at `fps`, keeping at
    least 100 bins."""
    return int(max(1, min(round(p.time_bin_s * fps), n_frames // 100)))


def extract_sources(
    movie,
    params: SourcesParams | None = None,
    evaluation: EvaluationParams | None = None,
    *,
    fps: float | None = None,
    progress=None,
    cancel=None,
    memory_bytes: float | None = None,
) -> SourcesResult:
    """Footprints, traces (raw, denoised, spikes, dF/F) and evaluated components of a movie.

    `memory_bytes` (default `IN_MEMORY_BYTES`) bounds the window of movie held at once; a
    smaller bound reads the movie more times, with the same result. A NaN border (another tool's
    motion correction) is left out: extraction runs on the pixels finite in every frame and the
    result is mapped back to the full frame (`core.valid_region`; a warning says so).
    """
    p = params or SourcesParams()
    source = movie if isinstance(movie, FrameSource) else open_frames(movie, fps=fps)
    budget = IN_MEMORY_BYTES if memory_bytes is None else memory_bytes
    ev = evaluation or EvaluationParams()
    try:
        try:
            return _extract(source, p, ev, fps or source.fps, progress, cancel, budget)
        except NonFinitePixels:  # a NaN border is left out; other NaN pixels: one line
            region = finite_region(source, "source extraction needs", 500, cancel)
        result = _extract(region.crop(source), p, ev, fps or source.fps, progress, cancel, budget)
        return _in_full_frame(result, region)
    finally:
        if not isinstance(movie, FrameSource):
            source.close()


def _in_full_frame(result: SourcesResult, region: ValidRegion) -> SourcesResult:
    """A result computed on `region` of the frame, in full-frame coordinates: footprints are 0
    outside the region, centroids shift by its corner; the warning says what was left out."""
    comps = result.components.copy()
    comps["y"] += region.ys[0]
    comps["x"] += region.xs[0]
    return replace(
        result,
        footprints=result.footprints.padded(region.shape, region.ys, region.xs),
        components=comps,
        warnings=[region.note("source extraction"), *result.warnings],
    )


@dataclass(frozen=True)
class _Group:
    """Consecutive patches read together: their bounding window of the frame."""

    indices: list[int]
    ys: tuple[int, int]
    xs: tuple[int, int]


def patch_groups(patches: list[Patch], n_frames: int, budget: float) -> list[_Group]:
    """Consecutive patches whose bounding window, as float32 for every frame, fits `budget`
    (a patch alone may exceed it). Patches run row by row, so groups are bands of patch rows."""
    groups: list[_Group] = []
    for i, pt in enumerate(patches):
        if groups:
            g = groups[-1]
            ys = (min(g.ys[0], pt.ys[0]), max(g.ys[1], pt.ys[1]))
            xs = (min(g.xs[0], pt.xs[0]), max(g.xs[1], pt.xs[1]))
            if n_frames * (ys[1] - ys[0]) * (xs[1] - xs[0]) * 4 <= budget:
                groups[-1] = _Group([*g.indices, i], ys, xs)
                continue
        groups.append(_Group([i], pt.ys, pt.xs))
    return groups


def _read_window(source: FrameSource, g: _Group) -> np.ndarray:
    """The group's window of every frame as float32, filled chunk by chunk (one pass)."""
    (y0, y1), (x0, x1) = g.ys, g.xs
    out = np.empty((source.n_frames, y1 - y0, x1 - x0), np.float32)
    for t0, t1 in source.chunks(500):
        out[t0:t1] = source.read(t0, t1)[:, y0:y1, x0:x1]
    bad = np.flatnonzero(~np.isfinite(out).all(axis=(1, 2)))
    if bad.size:
        more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
        raise NonFinitePixels(
            f"frame {bad[0]}{more} contains NaN/infinite pixels; source extraction needs finite "
            "data (fill or drop those frames; `catrack register --bad-frames keep` fills them)"
        )
    return out


def _extract(source: FrameSource, p: SourcesParams, ev: EvaluationParams, fps, progress, cancel, budget: float):  # fmt: skip
    n, h, w = source.shape
    if n < 8:
        raise InputError(f"source extraction needs at least 8 frames; the movie has {n}")
    if fps is None:
        raise InputError("the frame rate is unknown: give it (--fps)")
    patches = tile((h, w), p.patch_px, p.patch_overlap_px)
    found: list[Found] = []
    bin_k = time_bin(p, fps, n)

    def work(window: np.ndarray, g: _Group, i: int):
        (y0, y1), (x0, x1) = patches[i].ys, patches[i].xs
        Y = window[:, y0 - g.ys[0] : y1 - g.ys[0], x0 - g.xs[0] : x1 - g.xs[0]]
        return _fit_patch(Y, p, bin_k)

    # patches are independent: one per core, each with single-threaded BLAS (no oversubscription)
    workers = max(1, min(len(patches), os.cpu_count() or 1))
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        for g in patch_groups(patches, n, budget):
            check_cancelled(cancel, "source extraction")
            window = _read_window(source, g)
            futures = [pool.submit(work, window, g, i) for i in g.indices]
            for i, fut in zip(g.indices, futures, strict=True):
                try:
                    while True:
                        try:
                            fit = fut.result(timeout=0.5)
                            break
                        except FuturesTimeout:
                            check_cancelled(cancel, "source extraction")
                except BaseException:
                    for other in futures:
                        other.cancel()
                    raise
                if fit is not None:
                    found.extend(owned(fit, patches[i], i))
                if progress:
                    progress(i + 1, len(patches) + 1, "source extraction: patches")
            del window, futures
    found = dedupe(found, p.cell_radius_px)
    check_cancelled(cancel, "source extraction")
    if not found:
        fp = Footprints.from_pixels([], (h, w))
        raw = bg = np.zeros((0, n))
        r = np.zeros(0)
    else:
        # each footprint from its patch's box (sparse): never a full frame per component
        fp = Footprints.from_boxes([(f.footprint, f.patch.ys[0], f.patch.xs[0]) for f in found], (h, w))  # fmt: skip
        raw = np.stack([f.raw for f in found]).astype(np.float64)
        bg = np.stack([f.bg for f in found]).astype(np.float64)
        r = np.array([f.r_value for f in found])
    den, spk = deconvolve_traces(raw, p.deconvolution) if len(raw) else (raw, raw)
    noise = trace_noise(raw) if len(raw) else np.zeros(0)
    snr = peak_snr(raw, den, noise) if len(raw) else np.zeros(0)
    notes: list[str] = []
    # CaImAn's F0 for CNMF traces (C + residual rest at ~0): the percentile at the mode (dff.py)
    dff, kind = dff_and_kind(raw, bg, fps, p.baseline_window_s, baseline="caiman", notes=notes, ids=np.arange(1, len(raw) + 1))  # fmt: skip
    cen = centroids(fp) if len(fp) else np.zeros((0, 2))
    comps = pd.DataFrame(
        {
            "neuron_id": np.arange(1, len(fp) + 1),
            "y": cen[:, 0],
            "x": cen[:, 1],
            "area": area(fp) if len(fp) else np.zeros(0, int),
            "snr": snr,
            "r_value": r,
        }
    )
    if progress:
        progress(len(patches) + 1, len(patches) + 1, "source extraction: done")
    if n < FEW_FRAMES:
        notes.append(
            f"only {n} frames: cells are found by how their pixels vary together over time, and "
            f"this is too short to tell cells from noise (use at least {FEW_FRAMES} frames, with "
            "several transients per cell); treat these components with suspicion"
        )
    comps = evaluate(comps, ev)
    comps["dff_kind"] = kind  # dF/F, or dF where a cell has no denominator (dff.py)
    return SourcesResult(fp, comps, raw, den, spk, dff, float(fps), p, ev, notes)
