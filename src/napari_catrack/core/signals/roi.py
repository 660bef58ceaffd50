"""Traces of a user-drawn polygon cell: mean green and red inside the polygon, ratio, dF/F.

A curator who sees a neuron the detector missed draws a polygon around it; this turns the
polygon into a trace with the same ratio and dF/F functions `extract_traces` uses, so the new
cell is comparable with every other one. Red is sampled inside the polygon mapped through the
alignment transform (a rigid map sends a polygon to a polygon, so the red mask is exact).
Stacks are read frame-chunk by frame-chunk, cropped to the polygon's bounding box, so lazy
(dask / memmap) recordings larger than RAM work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from skimage.draw import polygon2mask

from napari_catrack.core.signals.baselines import baseline, delta_f_over_f
from napari_catrack.core.signals.extraction import (
    TRACE_COLUMNS,
    check_stacks,
    green_to_red_matrix,
    relative_red_floor,
    warn_no_noise_floor,
)
from napari_catrack.core.signals.params import TracesParams
from napari_catrack.core.signals.ratio import ratio
from napari_catrack.errors import InputError

__all__ = ["polygon_mask", "polygon_trace"]


def _check_polygon(polygon_yx: np.ndarray) -> np.ndarray:
    poly = np.asarray(polygon_yx, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] < 2 or poly.shape[0] < 3:
        raise InputError(f"a polygon needs at least 3 (y, x) vertices, got shape {poly.shape}")
    poly = poly[:, -2:]  # napari shapes drawn over a (T, Y, X) stack carry a frame coordinate
    if not np.isfinite(poly).all():
        raise InputError("polygon vertices must be finite numbers")
    return poly


def polygon_mask(shape: tuple[int, int], polygon_yx: np.ndarray) -> np.ndarray:
    """Boolean (Y, X) mask of the pixels whose centres lie inside the polygon."""
    return polygon2mask(tuple(int(s) for s in shape[-2:]), _check_polygon(polygon_yx))


def _bbox(mask: np.ndarray) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    return slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1)


def _masked_means(stack, mask: np.ndarray, chunk_frames: int, progress, offset: int, total: int):
    """Mean of the masked pixels per frame, reading only the mask's bounding box per chunk."""
    sy, sx = _bbox(mask)
    m = mask[sy, sx]
    n_frames = int(stack.shape[0])
    out = np.full(n_frames, np.nan)
    for t0 in range(0, n_frames, chunk_frames):
        t1 = min(t0 + chunk_frames, n_frames)
        crop = stack[t0:t1, sy, sx]
        if hasattr(crop, "compute"):
            crop = crop.compute(scheduler="synchronous")
        vals = np.asarray(crop, dtype=np.float64)[:, m]  # (frames, pixels)
        with np.errstate(invalid="ignore"):
            out[t0:t1] = np.nanmean(np.where(np.isfinite(vals), vals, np.nan), axis=1)
        if progress is not None:
            progress(offset + t1, total)
    return out


def polygon_trace(
    green,
    red,
    polygon_yx: np.ndarray,
    transform: Any = None,
    params: TracesParams | None = None,
    *,
    neuron_id: str = "roi-1",
    fps: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    **changes: Any,
) -> pd.DataFrame:
    """Trace of the pixels inside a polygon (green-frame (y, x) vertices) in every frame.

    green, red: (T, Y, X) arrays (numpy, memmap or dask); red may be None. `transform` maps red
    onto green (an AlignmentTransform, a dict with dy, dx, rotation_deg, a 3x3 red -> green
    matrix, or None); the polygon is mapped to red coordinates with its inverse. dF/F is dR/R0
    of the ratio when red is given (and `use_ratio`), else dF/F0 of green, with the same
    baseline functions as `extract_traces` and its `params` (a `TracesParams`: `use_ratio`,
    the dF/F baseline, `chunk_frames` and the relative red rule, `min_red_fraction` of the
    cell's `red_reference_percentile` red; no local background: the polygon is the user's
    chosen footprint). Without an annulus there is
    no red noise floor (one warning says so): the raw means keep the camera's offset, so a red
    on background is not near 0 there and the ratio does not explode; in data whose background
    was removed before (offset 0) the relative rule is what guards the ratio.
    Returns `neuron_id, frame, time_s, green, red, ratio, dff` (time_s NaN without fps).
    """
    check_stacks(green, red)
    p = TracesParams.resolve(params, **changes)
    chunk_frames = p.chunk_frames
    poly = _check_polygon(polygon_yx)
    shape = tuple(int(s) for s in green.shape[1:])
    g_mask = polygon2mask(shape, poly)
    if not g_mask.any():
        raise InputError("the polygon covers no pixel centre of the image: draw it larger")
    n = int(green.shape[0])
    total = 2 * n if red is not None else n
    g = _masked_means(green, g_mask, int(chunk_frames), progress, 0, total)
    if red is not None:
        m = green_to_red_matrix(transform, shape)
        r_mask = polygon2mask(shape, poly @ m[:2, :2].T + m[:2, 2])
        if not r_mask.any():
            raise InputError("the polygon falls outside the red image after alignment")
        r = _masked_means(red, r_mask, int(chunk_frames), progress, n, total)
        if p.red_noise_floor > 0:
            warn_no_noise_floor("a polygon cell has no background annulus", p)
        min_red = relative_red_floor(r, p)[0, 0]
        rule = (
            f"below {p.min_red_fraction:g} of the cell's own red: min red fraction"
            if p.min_red_fraction > 0
            else "red 0 or less"
        )  # (the rule off: not its doing)
        rat, _ = ratio(g, r, min_red=min_red, warn=True, min_red_text=rule)
        sig = rat if p.use_ratio else g  # (use_ratio off: green's dF/F0, as extract_traces)
    else:
        r = rat = np.full(n, np.nan)
        sig = g
    dff = delta_f_over_f(sig, baseline(sig, fps, method=p.dff_baseline, **p.baseline_kwargs()))
    frames = np.arange(n)
    df = pd.DataFrame(
        {
            "neuron_id": np.full(n, str(neuron_id), dtype=object),
            "frame": frames,
            "time_s": frames / fps if fps else np.full(n, np.nan),
            "green": g,
            "red": r,
            "ratio": rat,
            "dff": np.asarray(dff, dtype=np.float64),
        }
    )
    return df[TRACE_COLUMNS]
