"""The calcium call at each punctum in each frame: is there a local calcium signal here, now?

A local signal at a channel is a spot about as wide as the PSF; a diffuse calcium event (a
wave, a global rise) is microns wide. So the call measures the *local excess*: a Gaussian disk
at the punctum (`calcium_radius_nm` wide) minus a ring around it (1.75-3 radii), which cancels
anything broad; in noise units (Poisson + read noise), minus the same excess at that place in
the surrounding frames (a punctum that is always bright in the calcium channel is not
signalling). The probability is a logistic of that score, 0.5 at `calcium_threshold`.

The same pass finds calcium hotspots anywhere in the frame (local maxima of the score), for the
co-localisation statistics, and scores control positions (each punctum moved 1-2 um away).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.localize import check_finite
from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.errors import check_cancelled

BASELINE_FRAMES = 10  # frames on each side whose median is the punctum's baseline excess
SLOPE = 1.5  # logistic slope of the probability per noise unit


@dataclass
class CalciumCall:
    """Per localisation: score (noise units), probability, event; plus hotspots and controls."""

    score: np.ndarray
    probability: np.ndarray
    event: np.ndarray
    control_score: np.ndarray  # the same score at control positions
    hotspots: pd.DataFrame  # frame, x, y (px), score: local calcium maxima anywhere


def excess_kernel(radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, kernel^2): a unit Gaussian disk minus a unit ring (1.75-3 radii); sums to 0."""
    s = max(float(radius_px), 0.5)
    half = int(np.ceil(3 * s))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    rr = np.hypot(yy, xx)
    inner = np.exp(-(rr**2) / (2 * s**2)) * (rr <= 2 * s)
    ring = ((rr >= 1.75 * s) & (rr <= 3 * s)).astype(float)
    k = inner / inner.sum() - ring / ring.sum()
    return k.astype(np.float32), (k**2).astype(np.float32)


def score_movie(photons: np.ndarray, radius_px: float, read_var: float) -> np.ndarray:
    """Local excess in noise units for every pixel of a (T, H, W) photon chunk."""
    k, k2 = excess_kernel(radius_px)
    excess = ndi.correlate(photons, k[None], mode="mirror")
    var = ndi.correlate(np.clip(photons, 0, None), k2[None], mode="mirror") + read_var * k2.sum()
    return excess / np.sqrt(np.maximum(var, 1e-6))


def probability_from_score(score: np.ndarray, threshold: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-SLOPE * (np.asarray(score, float) - threshold)))


def call_calcium(
    calcium_stack,
    locs: pd.DataFrame,
    camera: CameraModel,
    params: PunctaParams | None = None,
    *,
    seed: int = 0,
    progress: Callable | None = None,
    cancel: Callable | None = None,
) -> CalciumCall:
    """Score every localisation (frame, x, y in px) against the calcium movie (ADU, lazy ok)."""
    params = params or PunctaParams()
    n_frames = int(calcium_stack.shape[0])
    h, w = (int(s) for s in calcium_stack.shape[1:])
    radius = params.calcium_radius_nm / params.pixel_size_nm
    read_var = camera.read_noise_photons**2
    frames = locs["frame"].to_numpy(int)
    rows = np.clip(np.round(locs["y"].to_numpy(float)).astype(int), 0, h - 1)
    cols = np.clip(np.round(locs["x"].to_numpy(float)).astype(int), 0, w - 1)
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, len(locs))
    dist = rng.uniform(1000, 2000, len(locs)) / params.pixel_size_nm
    c_rows = np.clip(np.round(rows + dist * np.sin(angle)).astype(int), 0, h - 1)
    c_cols = np.clip(np.round(cols + dist * np.cos(angle)).astype(int), 0, w - 1)
    offsets = np.arange(-BASELINE_FRAMES, BASELINE_FRAMES + 1)
    here = np.full(len(locs), np.nan)
    control = np.full(len(locs), np.nan)
    around = np.full((len(locs), offsets.size), np.nan)
    around_c = np.full((len(locs), offsets.size), np.nan)
    hotspots = []
    chunk = max(params.chunk_frames, 2 * BASELINE_FRAMES)
    for start in range(0, n_frames, chunk):
        check_cancelled(cancel, "calcium call")
        stop = min(n_frames, start + chunk)
        lo, hi = max(0, start - BASELINE_FRAMES), min(n_frames, stop + BASELINE_FRAMES)
        photons = camera.to_photons(np.asarray(calcium_stack[lo:hi]))
        check_finite(photons, lo, "calcium channel")
        z = score_movie(photons, radius, read_var)
        inside = (frames >= start) & (frames < stop)
        idx = np.nonzero(inside)[0]
        here[idx] = z[frames[idx] - lo, rows[idx], cols[idx]]
        control[idx] = z[frames[idx] - lo, c_rows[idx], c_cols[idx]]
        for j, off in enumerate(offsets):
            f = frames[idx] + off
            ok = (f >= lo) & (f < hi) & (off != 0)
            around[idx[ok], j] = z[f[ok] - lo, rows[idx[ok]], cols[idx[ok]]]
            around_c[idx[ok], j] = z[f[ok] - lo, c_rows[idx[ok]], c_cols[idx[ok]]]
        core = z[start - lo : stop - lo]
        peak = ndi.maximum_filter(core, size=(1, 5, 5), mode="constant", cval=-np.inf)
        t, r, c = np.nonzero((core == peak) & (core > params.calcium_threshold))
        hotspots.append(pd.DataFrame({"frame": t + start, "x": c.astype(float),
                                      "y": r.astype(float), "score": core[t, r, c]}))  # fmt: skip
        if progress is not None:
            progress(stop, n_frames, f"calcium frames {stop}/{n_frames}")
    with np.errstate(all="ignore"):
        base = np.nan_to_num(np.nanmedian(around, axis=1))
        base_c = np.nan_to_num(np.nanmedian(around_c, axis=1))
    score = here - base
    control_score = control - base_c
    prob = probability_from_score(score, params.calcium_threshold)
    return CalciumCall(
        score=score,
        probability=prob,
        event=(prob >= 0.5).astype(np.int8),
        control_score=control_score,
        hotspots=pd.concat(hotspots, ignore_index=True),
    )


def calcium_events(locs: pd.DataFrame) -> pd.DataFrame:
    """Per-track calcium events: runs of consecutive event frames of one track (a one-frame
    gap in the track, e.g. a blink, does not split an event).

    Columns: track_id, event_id, start_frame, end_frame, frames, peak_probability, peak_score.
    """
    cols = ["track_id", "event_id", "start_frame", "end_frame", "frames", "peak_probability",
            "peak_score"]  # fmt: skip
    hits = locs[(locs["track_id"] >= 0) & (locs["calcium"] == 1)].sort_values(["track_id", "frame"])
    if hits.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    new = (hits["track_id"].diff() != 0) | (hits["frame"].diff() > 2)
    run = np.cumsum(new.to_numpy())
    grouped = hits.groupby(run)
    out = pd.DataFrame(
        {
            "track_id": grouped["track_id"].first().to_numpy(int),
            "start_frame": grouped["frame"].min().to_numpy(int),
            "end_frame": grouped["frame"].max().to_numpy(int),
            "frames": grouped.size().to_numpy(int),
            "peak_probability": grouped["calcium_probability"].max().to_numpy(float),
            "peak_score": grouped["calcium_score"].max().to_numpy(float),
        }
    )
    out.insert(1, "event_id", np.arange(len(out)))
    return out
