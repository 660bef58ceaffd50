"""Per-neuron fluorescence extraction along tracks, with local background and red sampling.

For each tracked neuron and frame: the mean green (and red) intensity inside a disk (or a
given footprint) around the tracked centre, minus a local background (a low percentile of an
annulus), with saturated pixels and missing frames flagged rather than averaged away. Red is
sampled through the alignment transform, so the ROI covers the same tissue in both channels.

Stacks are read frame-chunk by frame-chunk, and from each chunk only the bounding box of that
chunk's ROIs, so lazily opened (dask / memmap) recordings larger than RAM work.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.core.signals.baselines import baseline, delta_f_over_f
from napari_catrack.core.signals.drift import correct_bleaching
from napari_catrack.core.signals.nan import nan_quantile
from napari_catrack.core.signals.params import TracesParams
from napari_catrack.core.signals.ratio import ratio
from napari_catrack.errors import InputError, check_cancelled

__all__ = [
    "TRACE_COLUMNS",
    "check_stacks",
    "extract_traces",
    "green_to_red_matrix",
    "lost_frames_note",
    "relative_red_floor",
    "warn_no_noise_floor",
]

# Tracks with fewer than this share of their rows on frames of the recording are refused (those of
# another recording: a few rows past its end are ignored, with a warning) (h22)
MIN_TRACK_ROWS_INSIDE = 0.5
TRACE_COLUMNS = ["neuron_id", "frame", "time_s", "green", "red", "ratio", "dff"]
"""The CLI contract's leading columns; flags and background columns follow them."""


# ---------------------------------------------------------------- alignment
def _transform_params(transform: Any) -> dict[str, float]:
    if isinstance(transform, dict):
        src = transform
    else:
        src = {
            k: getattr(transform, k)
            for k in ("dy", "dx", "rotation_deg", "scale")
            if hasattr(transform, k)
        }
    missing = [k for k in ("dy", "dx", "rotation_deg") if k not in src]
    if missing:
        raise InputError(
            f"alignment transform lacks {', '.join(missing)} (need dy, dx, rotation_deg)"
        )
    try:
        return {
            k: float(src.get(k, d))
            for k, d in (("dy", 0), ("dx", 0), ("rotation_deg", 0), ("scale", 1.0))
        }
    except (TypeError, ValueError) as exc:
        raise InputError(f"alignment transform values must be numbers: {exc}") from None


def green_to_red_matrix(transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """3x3 homogeneous matrix in (y, x) that maps a GREEN position q to the RED pixel p.

    The project's transform maps red onto green: q = s·R·U(p - c) + c + d (ARCHITECTURE.md; U the
    affine part, the identity for a rigid transform), so sampling red at q needs its inverse.
    `transform` is an AlignmentTransform, a dict with dy, dx, rotation_deg (and optionally scale,
    aspect, shear), a 3x3 red -> green matrix in (y, x) (such as the red layer's affine), or None
    (identity).
    """
    if transform is None:
        return np.eye(3)
    if isinstance(transform, np.ndarray):  # a 3x3 red -> green matrix (e.g. a layer's affine)
        if transform.shape != (3, 3) or not np.isfinite(transform).all():
            raise InputError(
                f"an alignment matrix must be a finite 3x3 array, got {transform.shape}"
            )
        if abs(np.linalg.det(transform[:2, :2])) < 1e-9:
            raise InputError("the alignment matrix collapses the image (determinant 0)")
        return np.linalg.inv(transform)
    if not isinstance(transform, dict) and hasattr(transform, "inverse_matrix"):
        # an AlignmentTransform: its own matrix, the affine part (aspect, shear) included
        return np.asarray(transform.inverse_matrix(shape[:2]), dtype=np.float64)
    p = _transform_params(transform)
    if p["scale"] <= 0:
        raise InputError(f"alignment scale must be positive, got {p['scale']}")
    from napari_catrack.core.rigid import AlignmentTransform

    affine = {
        k: transform[k]
        for k in ("aspect", "shear")
        if isinstance(transform, dict) and k in transform
    }
    return AlignmentTransform(**p, **affine).inverse_matrix(shape[:2])


# ---------------------------------------------------------------- stacks
def check_stacks(green, red=None) -> None:
    """Green must be a (T, Y, X) stack and red, when given, the same shape."""
    if getattr(green, "ndim", 0) != 3:
        raise InputError(
            f"green must be a (T, Y, X) stack, got shape {getattr(green, 'shape', None)}"
        )
    if red is not None and tuple(red.shape) != tuple(green.shape):
        raise InputError(
            f"red {tuple(red.shape)} and green {tuple(green.shape)} stacks differ in shape"
        )


# ---------------------------------------------------------------- tracks
def _validate_tracks(tracks: pd.DataFrame, n_frames: int) -> pd.DataFrame:
    if not isinstance(tracks, pd.DataFrame):
        raise InputError("tracks must be a table with columns neuron_id, frame, y, x")
    missing = [c for c in ("neuron_id", "frame", "y", "x") if c not in tracks.columns]
    if missing:
        raise InputError(
            f"tracks table lacks column(s) {', '.join(missing)} (need neuron_id, frame, y, x)"
        )
    t = tracks[["neuron_id", "frame", "y", "x"]].copy()
    # lost: the tracker's status "lost" (no peak of its own for more than `lost_after` frames,
    # the point HELD at its last supported place), unless the user placed the point there
    lost = tracks["status"].astype(str).eq("lost") if "status" in tracks.columns else False
    if "source" in tracks.columns:
        lost = lost & ~tracks["source"].astype(str).eq("manual")
    t["lost"] = lost
    for c in ("frame", "y", "x"):
        t[c] = pd.to_numeric(t[c], errors="coerce")
    bad_id = t["neuron_id"].isna()
    bad_frame = ~np.isfinite(t["frame"]) | (t["frame"] != np.round(t["frame"]))
    if bad_id.any() or bad_frame.any():
        warnings.warn(
            f"ignoring {int((bad_id | bad_frame).sum())} track rows without a neuron_id "
            "or an integer frame",
            UserWarning,
            stacklevel=3,
        )
        t = t[~(bad_id | bad_frame)]
    ids = t["neuron_id"]
    if ids.dtype.kind == "f" and (ids == np.round(ids)).all():
        ids = ids.astype(np.int64)  # a NaN made pandas read integer ids as floats: "1", not "1.0"
    t["neuron_id"] = ids
    t["frame"] = t["frame"].astype(np.int64)
    out = (t["frame"] < 0) | (t["frame"] >= n_frames)
    inside = int((~out).sum())
    if len(t) and inside < MIN_TRACK_ROWS_INSIDE * len(t):  # (h22) tracks of another recording
        lo, hi = int(t["frame"].min()), int(t["frame"].max())
        some = f"only {inside:,} of {len(t):,} track rows fall" if inside else "no track row falls"
        raise InputError(
            f"the tracks span frames {lo}..{hi} but the recording has {n_frames:,} frames "
            f"(0..{n_frames - 1}): {some} inside it (less than {MIN_TRACK_ROWS_INSIDE:.0%}): "
            "tracks of another recording?"
        )
    if out.any():
        warnings.warn(
            f"ignoring {int(out.sum())} track rows with frames outside the recording "
            f"(0..{n_frames - 1}), e.g. frame {int(t.loc[out, 'frame'].iloc[0])}",
            UserWarning,
            stacklevel=3,
        )
        t = t[~out]
    if t.empty:
        raise InputError(
            f"no usable track rows: the tracks name no frame of this {n_frames}-frame recording"
        )
    t["neuron_id"] = t["neuron_id"].astype(str)
    dup = t.duplicated(["neuron_id", "frame"])
    if dup.any():
        r = t[dup].iloc[0]
        raise InputError(
            f"tracks list neuron {r['neuron_id']!r} twice in frame {int(r['frame'])} "
            f"({int(dup.sum())} duplicate rows)"
        )
    return t


# ---------------------------------------------------------------- sampling
def _sample_channel(stack, t0, t1, t_local, centres, geo, pct, sat, floor_k=0.0):
    """ROI mean, background, saturation and coverage for rows whose centres are finite.

    Around round(centre), each row reads the ROI's square sub-patch (broadcast indexing) and
    the annulus' candidate pixels; ROI and annulus are then masks on the exact distances to
    the sub-pixel centre (squared distances are separable: dy² + dx²). With `floor_k` > 0 (and
    an annulus): also the noise floor of the background-subtracted value (`_noise_floor`).
    """
    k, kr, roi_r2, roi_patch, ring, bg_r2, sigma2, triples = geo
    n = len(centres)
    res = {"raw": np.full(n, np.nan), "bg": np.full(n, np.nan)}
    res["saturated"] = np.zeros(n, bool)
    res["npix"] = np.zeros(n, np.int64)
    res["edge"] = np.zeros(n, bool)
    res["nonfinite"] = np.zeros(n, bool)
    if n == 0:
        return res
    h, w = stack.shape[1:]
    y0 = int(np.clip(np.floor(centres[:, 0].min()) - k - 1, 0, h))
    y1 = int(np.clip(np.ceil(centres[:, 0].max()) + k + 2, 0, h))
    x0 = int(np.clip(np.floor(centres[:, 1].min()) - k - 1, 0, w))
    x1 = int(np.clip(np.ceil(centres[:, 1].max()) + k + 2, 0, w))
    if y1 <= y0 or x1 <= x0:
        res["edge"][:] = True
        return res
    crop = stack[t0:t1, y0:y1, x0:x1]  # the only read: a frame chunk, cropped to the ROIs
    # dask: one synchronous compute per chunk (the thread pool costs more than it gives here)
    crop = crop.compute(scheduler="synchronous") if hasattr(crop, "compute") else crop
    crop = np.ascontiguousarray(crop)  # fancy indexing on a strided view is much slower
    ch, cw = crop.shape[1:]
    base = np.round(centres).astype(np.intp)
    frac = centres - base
    ks = np.arange(-k, k + 1)
    ly = base[:, 0:1] - y0 + ks
    lx = base[:, 1:2] - x0 + ks
    iny, inx = (ly >= 0) & (ly < ch), (lx >= 0) & (lx < cw)
    ly, lx = np.clip(ly, 0, ch - 1), np.clip(lx, 0, cw - 1)
    dy2, dx2 = (ks - frac[:, 0:1]) ** 2, (ks - frac[:, 1:2]) ** 2
    tl = t_local[:, None, None]

    sub = slice(k - kr, k + kr + 1)  # the ROI's part of the patch
    vals = crop[tl, ly[:, sub, None], lx[:, None, sub]].astype(np.float32)
    inside = iny[:, sub, None] & inx[:, None, sub]
    valid = inside & np.isfinite(vals) if vals.dtype.kind == "f" else inside
    if roi_patch is None:
        roi = dy2[:, sub, None] + dx2[:, None, sub] <= roi_r2
    else:
        roi = np.broadcast_to(roi_patch, vals.shape)
    use = roi & valid
    res["npix"] = use.sum((1, 2))
    res["nonfinite"] = (roi & inside & ~valid).any((1, 2))  # NaN/Inf pixels left out
    res["edge"] = (roi & ~inside).any((1, 2))
    v0 = np.where(use, vals, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if sigma2:  # Gaussian-weighted mean (separable weights): the centre carries most signal
            wts = (
                np.exp(-dy2[:, sub] / (2 * sigma2))[:, :, None]
                * np.exp(-dx2[:, sub] / (2 * sigma2))[:, None, :]
            )
            wts = np.where(use, wts, 0.0)
            res["raw"] = (wts * v0).sum((1, 2)) / np.where(res["npix"] > 0, wts.sum((1, 2)), np.nan)
            # a weighted mean of independent pixels: its sd is sigma·sqrt(sum w²)/sum w
            mean_sd = np.sqrt((wts**2).sum((1, 2))) / wts.sum((1, 2))
        else:
            res["raw"] = v0.sum((1, 2), dtype=np.float64) / np.where(
                res["npix"] > 0, res["npix"], np.nan
            )
            mean_sd = 1.0 / np.sqrt(res["npix"])
    if sat is not None:
        res["saturated"] = (use & (vals >= sat)).any((1, 2))
    if bg_r2 is not None:
        oy, ox = ring
        bvals = crop[t_local[:, None], ly[:, oy], lx[:, ox]].astype(np.float32)
        bd2 = dy2[:, oy] + dx2[:, ox]
        keep = (bd2 >= bg_r2[0]) & (bd2 <= bg_r2[1]) & iny[:, oy] & inx[:, ox]
        bvals[~keep] = np.nan
        res["bg"] = nan_quantile(bvals, pct / 100.0)
        if floor_k > 0:
            res["floor"] = _noise_floor(bvals, triples, mean_sd, pct, floor_k)
    else:
        res["bg"] = np.zeros(n)
    return res


# which estimator made the `red_floor` column, recorded with the traces (`records.record_traces`)
# so that a re-run can tell floors of another estimator: v2 (h18) the annulus' pixel sd from
# second differences (`_noise_floor`); v1 (h17, recorded with no name) the spread of the
# annulus' lower half (median minus 15.9th percentile), higher where the annulus has structure
RED_FLOOR_ESTIMATOR = "annulus-second-differences-v2"


def _noise_floor(
    bvals: np.ndarray, triples: tuple[np.ndarray, ...], mean_sd: np.ndarray, pct: float, k: float
) -> np.ndarray:
    """The background-subtracted value an ROI on background alone stays below, but for chance.

    Background is a low percentile (p) of the annulus, so an ROI holding background alone does
    not measure 0 but the distance from the percentile to the mean, -z_p pixel sd (0.84 at the
    20th percentile); its noise sd is pixel-sd·sqrt(`mean_sd`² + c_p²/n), from the ROI's weighted
    mean of independent pixels (`mean_sd` = sqrt(sum w²)/sum w) and the percentile of the n
    annulus pixels (c_p = sqrt(p(1-p))/φ(z_p)). The floor is that offset plus `k` noise sd.
    The pixel sd is the annulus' own, per frame, from second differences of side-by-side pixels
    (2a - b - c for each pixel a and its two neighbours b, c in a row or a column, all in the
    annulus: sd·sqrt(6) for independent pixel noise), their median |.| (robust): tissue blurred
    by the optics is smooth at the pixel scale, so neighbours reaching into the annulus hardly
    change it (h18; before, the spread of the annulus' lower half, median minus 15.9th
    percentile, took a crowded annulus' neighbour tissue for noise: the focus-artefact
    recording's n10 had a pixel sd of 117 instead of about 12, a floor above its own red). So
    the floor follows the recording (camera, gain, brightness of the place) and never the
    neuron's own red, as the relative rule (`min_red_fraction`) does, which fails for a neuron
    that is itself near background; nor the trace's spread, which mixes in the red changes of a
    moving neuron the ratio is there to correct. Like the ROI's `mean_sd`, it takes the pixels'
    noise as independent (raw camera frames; a movie resampled upstream has correlated noise,
    which this underestimates).
    """
    from statistics import NormalDist

    p = min(max(pct / 100.0, 0.02), 0.98)  # the normal approximation of an extreme percentile
    z_p = NormalDist().inv_cdf(p)
    c_p = np.sqrt(p * (1 - p)) / NormalDist().pdf(z_p)
    mid, one, other = triples  # NaN where a pixel is not in the annulus: left out
    diff = np.abs(2 * bvals[:, mid] - bvals[:, one] - bvals[:, other])
    pixel_sd = nan_quantile(diff, 0.5) / (np.sqrt(6.0) * NormalDist().inv_cdf(0.75))
    n_ring = np.isfinite(bvals).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pixel_sd * (max(-z_p, 0.0) + k * np.sqrt(mean_sd**2 + c_p**2 / n_ring))


def _channel_geometry(stack, mat, radius, mask_off, background, r_in, r_out, sigma):
    """Patch sizes, ROI (squared radius or mask), annulus candidates, scaled by the transform."""
    sc = float(np.sqrt(abs(np.linalg.det(mat[:2, :2]))))  # green px -> this channel's px
    kr = int(np.ceil(radius * sc)) + 1
    roi_patch = None
    if mask_off is not None:
        kr = int(np.abs(mask_off).max())
        roi_patch = np.zeros((2 * kr + 1, 2 * kr + 1), bool)
        roi_patch[mask_off[:, 0] + kr, mask_off[:, 1] + kr] = True
    k = max(kr, int(np.ceil(r_out * sc)) + 1 if background == "annulus" else 0)
    ring, bg_r2, triples = None, None, None
    if background == "annulus":
        bg_r2 = ((r_in * sc) ** 2, (r_out * sc) ** 2)
        yy, xx = np.mgrid[-k : k + 1, -k : k + 1]
        r = np.hypot(yy, xx).ravel()
        cand = (r >= r_in * sc - 0.75) & (r <= r_out * sc + 0.75)  # 0.75 > sqrt(2)/2
        ring = (yy.ravel()[cand] + k, xx.ravel()[cand] + k)  # indices into the patch axes
        # the candidates with both neighbours in a row or a column among them: (pixel, one
        # neighbour, the other) for the noise floor's second differences (`_noise_floor`)
        index = np.full((2 * k + 2, 2 * k + 2), -1)  # the extra row, column (index -1): none
        index[ring] = np.arange(len(ring[0]))
        right, below = index[ring[0], ring[1] + 1], index[ring[0] + 1, ring[1]]
        left, above = index[ring[0], ring[1] - 1], index[ring[0] - 1, ring[1]]
        row, col = (right >= 0) & (left >= 0), (below >= 0) & (above >= 0)
        mid = np.concatenate([np.nonzero(row)[0], np.nonzero(col)[0]])
        triples = (
            mid,
            np.concatenate([left[row], above[col]]),
            np.concatenate([right[row], below[col]]),
        )
    sigma2 = 0.0 if (sigma is None or mask_off is not None) else (sigma * sc) ** 2
    return stack, mat, (k, kr, (radius * sc) ** 2, roi_patch, ring, bg_r2, sigma2, triples)


def _saturation_level(stack, saturation):
    if saturation == "auto":
        dt = np.dtype(stack.dtype)
        return float(np.iinfo(dt).max) if np.issubdtype(dt, np.integer) else None
    return None if saturation is None else float(saturation)


def extract_traces(
    green,
    tracks: pd.DataFrame,
    red=None,
    params: TracesParams | None = None,
    *,
    transform: Any = None,
    mask: np.ndarray | None = None,
    fps: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    **changes: Any,
) -> pd.DataFrame:
    """Traces of every tracked neuron in every frame from its first to its last tracked frame.

    green, red: (T, Y, X) arrays (numpy, memmap or dask; read lazily in chunks). tracks:
    `neuron_id, frame, y, x` in green-frame pixels. `params`: a `TracesParams` (keyword `changes`
    override single values, e.g. ``extract_traces(g, t, radius=2)``). `fps` gives time_s and the
    running baselines. ROI: pixels whose centres lie within `radius` of the tracked (sub-pixel) centre, or the True pixels of `mask` (an odd-sized 2-D
    footprint centred on the track). `weighting` "gaussian" (default) averages the disk with
    weights exp(-d²/2σ²), σ = `sigma` or radius/2: it follows a neuron's blurred profile and
    lowers the noise (see bench_signals: uniform vs Gaussian ROI); "uniform" is the plain mean
    (masks are always uniform). Background ("annulus" or "none"): the `bg_percentile`
    percentile of pixels between `bg_inner` (radius + 2) and `bg_outer` (radius + 6).
    `saturation`: pixel value counted as saturated ("auto" = the integer dtype's maximum).
    Red too low to divide by (ratio NaN, `red_invalid`), so a near-zero red never makes a huge
    ratio: background-subtracted red below `min_red_fraction` of the neuron's own red (its
    `red_reference_percentile`: `relative_red_floor`), or (with the annulus background) less than
    `red_noise_floor` noise sd above what background alone measures (`_noise_floor`). With
    `background="none"` there is no annulus and so no noise floor: one warning says so.
    `bleach` ("exponential" or "running", needs fps): divide each channel's background-subtracted
    trace by its photobleaching decay before the ratio (the green / red columns are corrected).
    `progress(done, total)` after each chunk of frames; `cancel()` is checked before each chunk
    (raises `errors.Cancelled`).

    Returns one row per neuron and frame: TRACE_COLUMNS (green/red background-subtracted; dff is
    dR/R0 when red is given and use_ratio, else green dF/F0), then dff_green, green_raw, green_bg,
    red_raw, red_bg, saturated, red_invalid, missing, lost, edge, roi_pixels. Frames without a
    track position, or whose ROI has no finite pixel, are `missing` with NaN values.

    `lost` marks the frames whose track row has `status` "lost" (the tracker found no peak of the
    neuron's own for more than `lost_after` frames and holds the point at its last supported
    place) and a `source` other than "manual". With `lost_frames="missing"` (the default) they
    are `missing` too, NaN in every value column: the fluorescence at a held place is that of an
    empty place or of a neighbour, not the neuron's, so it must not pass for its signal (the
    baselines, cleaning, noise and transient detection all skip NaN frames). "measure" measures
    them at the held place, as before h16. Tracks without a `status` column have no lost frames.
    `lost_frames_note` says how many samples were left out.
    """
    tp = TracesParams.resolve(params, **changes)
    radius, bleach, background = tp.radius, tp.bleach, tp.background
    check_stacks(green, red)
    roi_sigma = (tp.sigma or radius / 2.0) if tp.weighting == "gaussian" else None
    if bleach is not None and not fps:
        raise InputError("bleaching correction needs the frame rate (fps)")
    if tp.dff_baseline != "percentile" and not fps:
        raise InputError(f"baseline {tp.dff_baseline!r} needs the frame rate (fps)")
    n_frames = int(green.shape[0])
    t = _validate_tracks(tracks, n_frames)
    ids = list(pd.unique(t["neuron_id"]))
    frames = np.arange(t["frame"].min(), t["frame"].max() + 1)
    ni, nf = len(ids), len(frames)
    pos = np.full((ni, nf, 2), np.nan)
    rows = t["neuron_id"].map({k: i for i, k in enumerate(ids)}).to_numpy()
    pos[rows, t["frame"].to_numpy() - frames[0]] = t[["y", "x"]].to_numpy(dtype=np.float64)
    lost = np.zeros((ni, nf), bool)
    lost[rows, t["frame"].to_numpy() - frames[0]] = t["lost"].to_numpy(bool)
    if tp.lost_frames == "missing":  # a held place is not the neuron: no sample there
        pos[lost] = np.nan

    r_in = radius + 2.0 if tp.bg_inner is None else float(tp.bg_inner)
    r_out = radius + 6.0 if tp.bg_outer is None else float(tp.bg_outer)
    if background == "annulus" and not 0 <= r_in < r_out:
        raise InputError(f"background annulus needs 0 <= inner < outer, got {r_in}, {r_out}")
    if background not in ("annulus", "none"):
        raise InputError(f"unknown background {background!r}: use 'annulus' or 'none'")
    mask_off = None
    if mask is not None:
        m = np.asarray(mask, bool)
        if m.ndim != 2 or m.shape[0] % 2 == 0 or m.shape[1] % 2 == 0 or not m.any():
            raise InputError("ROI mask must be a non-empty 2-D boolean array with odd sides")
        mask_off = np.argwhere(m) - np.array(m.shape) // 2

    chans = {
        "green": _channel_geometry(
            green, np.eye(3), radius, mask_off, background, r_in, r_out, roi_sigma
        )
    }
    if red is not None:
        if background == "none" and tp.red_noise_floor > 0:
            warn_no_noise_floor("--background none has no annulus", tp, stacklevel=2)
        m_red = green_to_red_matrix(transform, tuple(red.shape[1:]))
        chans["red"] = _channel_geometry(
            red, m_red, radius, mask_off, background, r_in, r_out, roi_sigma
        )
    out = {f"{c}_{k}": np.full((ni, nf), np.nan) for c in chans for k in ("raw", "bg")}
    out["red_floor"] = np.full((ni, nf), np.nan)  # stays NaN without red, annulus or rule
    flags = {k: np.zeros((ni, nf), bool) for k in ("saturated", "edge", "nopix", "nonfinite")}
    npix = np.zeros((ni, nf), np.int64)

    for c0 in range(0, nf, tp.chunk_frames):
        check_cancelled(cancel, "trace extraction")
        c1 = min(c0 + tp.chunk_frames, nf)
        p = pos[:, c0:c1]
        nn, tt = np.nonzero(np.isfinite(p).all(-1))
        for name, (stack, mat, geo) in chans.items():
            cen = p[nn, tt] @ mat[:2, :2].T + mat[:2, 2]
            res = _sample_channel(
                stack,
                frames[0] + c0,
                frames[0] + c1,
                tt,
                cen,
                geo,
                tp.bg_percentile,
                _saturation_level(stack, tp.saturation),
                tp.red_noise_floor if name == "red" else 0.0,
            )
            out[f"{name}_raw"][nn, c0 + tt] = res["raw"]
            if "floor" in res:
                out["red_floor"][nn, c0 + tt] = res["floor"]
            out[f"{name}_bg"][nn, c0 + tt] = res["bg"]
            flags["saturated"][nn, c0 + tt] |= res["saturated"]
            flags["edge"][nn, c0 + tt] |= res["edge"]
            flags["nopix"][nn, c0 + tt] |= res["npix"] == 0
            if name == "green":
                npix[nn, c0 + tt] = res["npix"]
                flags["nonfinite"][nn, c0 + tt] |= res["nonfinite"]
        if progress is not None:
            progress(c1, nf)

    missing = ~np.isfinite(pos).all(-1) | flags["nopix"] | ~np.isfinite(out["green_raw"])
    g = out["green_raw"] - out["green_bg"]
    g[missing] = np.nan
    if bleach is not None:
        g = correct_bleaching(g, fps, method=bleach)[0]
    cols: dict[str, np.ndarray] = {"green": g}
    dff_params = tp.baseline_kwargs()
    dff_g = delta_f_over_f(g, baseline(g, fps, method=tp.dff_baseline, **dff_params), names=ids,
                           what="green dF/F0 (column " + ("dff)" if red is None else "dff_green)"))  # fmt: skip
    if red is not None:
        r = out["red_raw"] - out["red_bg"]
        r[missing] = np.nan
        red_floor = out["red_floor"]  # the noise floor; NaN (no annulus, rule off): none
        red_floor[missing] = np.nan
        if bleach is not None:
            r, decay = correct_bleaching(r, fps, method=bleach)
            red_floor = red_floor / decay  # the same division as red's: the same test
        floor = relative_red_floor(r, tp)
        rat, red_invalid = ratio(g, r, min_red=np.fmax(floor, red_floor), warn=False)
        red_invalid &= ~missing
        # each refused sample under the rule that refused it: the relative rule only when on
        # (at 0 it blamed every red <= 0 on that rule), else the noise floor, else red <= 0
        by_fraction = red_invalid & (r <= floor) & (tp.min_red_fraction > 0)
        by_noise = red_invalid & ~by_fraction & (r <= red_floor)  # (NaN floor: none)
        _warn_low_red(by_fraction, by_noise, tp,
                      by_zero=red_invalid & ~by_fraction & ~by_noise & np.isfinite(r))  # fmt: skip
        dff_r = delta_f_over_f(
            rat, baseline(rat, fps, method=tp.dff_baseline, **dff_params), names=ids,
            what="ratio dR/R0 (column dff)",
        )  # fmt: skip
    else:
        r = rat = dff_r = np.full((ni, nf), np.nan)
        red_invalid = np.zeros((ni, nf), bool)
    cols.update(
        red=r,
        ratio=rat,
        dff=dff_r if (red is not None and tp.use_ratio) else dff_g,
        dff_green=dff_g,
    )
    partial = flags["nonfinite"] & ~missing
    if partial.any():  # measured on what is left of the ROI: a mean of a few pixels
        first = np.argwhere(partial)[0]
        warnings.warn(
            f"{int(partial.sum())} of {partial.size} neuron-frames were measured without some of "
            f"their ROI's pixels, which were NaN or infinite (first: neuron {ids[first[0]]}, "
            f"frame {int(frames[first[1]])}); roi_pixels says how many were used",
            UserWarning,
            stacklevel=2,
        )
    n_missing = int((missing & ~(lost if tp.lost_frames == "missing" else False)).sum())
    if n_missing:
        warnings.warn(
            f"{n_missing} of {missing.size} neuron-frames have no usable ROI "
            "(untracked, off the image or NaN pixels): flagged 'missing'",
            UserWarning,
            stacklevel=2,
        )

    df = pd.DataFrame(
        {
            "neuron_id": np.repeat(np.array(ids, dtype=object), nf),
            "frame": np.tile(frames, ni),
            "time_s": np.tile(frames / fps if fps else np.full(nf, np.nan), ni),
        }
    )
    for k in ("green", "red", "ratio", "dff", "dff_green"):
        df[k] = cols[k].ravel()
    df["green_raw"] = out["green_raw"].ravel()
    df["green_bg"] = out["green_bg"].ravel()
    df["red_raw"] = out["red_raw"].ravel() if red is not None else np.nan
    df["red_bg"] = out["red_bg"].ravel() if red is not None else np.nan
    df["saturated"] = flags["saturated"].ravel()
    df["red_invalid"] = red_invalid.ravel()
    df["missing"] = missing.ravel()
    df["lost"] = lost.ravel()
    df["edge"] = flags["edge"].ravel()
    df["roi_pixels"] = npix.ravel()
    df["red_floor"] = red_floor.ravel() if red is not None else np.nan
    return df


def relative_red_floor(red: np.ndarray, params: TracesParams) -> np.ndarray:
    """(N, 1) red below which each neuron's ratio is not computed: `min_red_fraction` of the
    `red_reference_percentile` of its red (NaN frames left out; 0 where a neuron has none).

    The ratio G/R cancels what scales both channels (motion, focus), not what adds to green:
    the percentile background leaves an ROI holding no green signal at +0.84 green pixel sd, and
    green's noise does not shrink with red. Where red falls to a fraction f of the neuron's own,
    those parts of green are multiplied by 1/f in the ratio, while the neuron's green signal (if
    it is the same neuron) falls with red: a track leaving the field at the image edge (the
    worm sample's n24 at frame 1: red 0.15 of its own, just above the noise floor, green only
    the offset: ratio 7 times its usual, dR/R0 12.7), or a track on background most of the
    time that passes the noise floor by chance or on a neighbour's edge (n20: dR/R0 20-24).
    The reference is a high percentile (90, since h18), not the median (before), which is
    background for a track that sits on background more than half the time. The default
    fraction stays 0.05: 0.2 (h18's first default) caught n24 and n20 there, but a real neuron's
    red falls below 0.2 of its own with focus or bleaching (11 of 282 annotated neurons, each at
    two time points of the real targettrack volumes), and a track on a 5 x brighter neighbour
    for more than 10 % of its frames lost every frame on its own neuron (docs/signals.md, "Red
    too low to divide by"); 0.2 is the option for data like the sample's.
    """
    ref = nan_quantile(np.atleast_2d(red), params.red_reference_percentile / 100.0)[:, None]
    return np.nan_to_num(np.maximum(params.min_red_fraction * ref, 0.0))


def warn_no_noise_floor(why: str, params: TracesParams, stacklevel: int = 2) -> None:
    """Once per extraction: no red noise floor applies (no annulus to measure background and its
    noise from), only the relative rule, or none when `params.min_red_fraction` is 0 (then it
    says so: only a red of 0 or less is refused). Why no other floor: see docs/signals.md."""
    if params.min_red_fraction > 0:
        rest = ("so only the relative rule (min red fraction, --min-red-fraction) guards the "
                "ratio against a red too dim to divide by")  # fmt: skip
    else:  # (it said "only the relative rule guards the ratio" with that rule off)
        rest = ("and min red fraction is 0 (off, --min-red-fraction): only a red of 0 or less "
                "is refused, and a red near 0 makes a huge ratio")  # fmt: skip
    warnings.warn(
        f"no red noise floor: {why} to measure the background and its noise from, {rest}",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


def _reference_text(tp: TracesParams) -> str:
    """The reference as the warning names it: "median", "90th-percentile", "92nd-percentile"."""
    from napari_catrack.text import ordinal

    pct = tp.red_reference_percentile
    return "median" if pct == 50 else f"{ordinal(pct)}-percentile"


def _warn_low_red(
    by_fraction: np.ndarray, by_noise: np.ndarray, tp: TracesParams, by_zero=None
) -> None:
    """One warning for the samples whose red was too low to divide by, each rule named as the
    user sets it (the Traces widget's label, the CLI option), with its count when both hit. The
    count goes before the rule: after the option ("--red-noise-floor: 8") it read as the
    option's value. `by_zero`: refused by neither rule, only for a red of 0 or less (both off,
    or no annulus)."""
    rules = [
        (by_fraction, f"below {tp.min_red_fraction:g} of the neuron's {_reference_text(tp)} "
                      "red: min red fraction, --min-red-fraction"),
        (by_noise, f"not {tp.red_noise_floor:g} noise sd above background: red noise floor, "
                   "--red-noise-floor"),
        (np.zeros(0, bool) if by_zero is None else by_zero, "red 0 or less"),
    ]  # fmt: skip
    hit = [(int(m.sum()), text) for m, text in rules if m.any()]
    if not hit:
        return
    parts = [text if len(hit) == 1 else f"{n} {text}" for n, text in hit]
    warnings.warn(
        f"red intensity too low ({'; '.join(parts)}) in {sum(n for n, _ in hit)} samples: "
        "ratio set to NaN there",
        RuntimeWarning,
        stacklevel=3,
    )


def lost_frames_note(
    traces: pd.DataFrame,
    params: TracesParams | None = None,
    keep_hint: str = "--lost-frames measure keeps them",
) -> str:
    """One line on the lost frames of `traces` (an `extract_traces` table), "" when none: how
    many neurons had lost frames and how many samples were left out (NaN) or, with
    `lost_frames="measure"`, measured at the held place. What `catrack traces` prints and the
    Traces widget's status line shows."""
    if "lost" not in traces.columns:
        return ""
    lost = traces["lost"].fillna(False).to_numpy(bool)
    if not lost.any():
        return ""
    n_cells = traces.loc[lost, "neuron_id"].nunique()
    share = f"{100.0 * lost.sum() / len(lost):.1f} %"
    tp = TracesParams.resolve(params)
    if tp.lost_frames == "measure":
        return (
            f"{n_cells} neuron(s) had lost frames: {int(lost.sum()):,} samples measured at the "
            f"held place ({share}; lost frames: measure)"
        )
    return (
        f"{n_cells} neuron(s) had lost frames: {int(lost.sum()):,} samples missing ({share}); "
        f"{keep_hint}"
    )
