"""The registration template: a sharp mean image built from a sample of the movie.

Start (as suite2p does) from the frames most correlated with each other, so motion and activity
outliers do not blur it; then iterate: register the sample to the template, average the best
registered frames (by correlation peak), repeat. Each round sharpens the template, which in turn
makes the next round's sub-pixel shifts more accurate.
"""

from __future__ import annotations

import warnings

import numpy as np

from napari_catrack.core.registration.rigid import estimate_rigid, make_reference, shift_frames
from napari_catrack.errors import InputError

MIN_FRAMES = 3


def check_frames(frames: np.ndarray, first_index: int = 0) -> np.ndarray:
    """Boolean (n,) good-frame mask; raises naming the first constant or NaN frame."""
    x = np.asarray(frames)
    finite = np.isfinite(x).all(axis=(1, 2)) if x.dtype.kind == "f" else np.ones(len(x), bool)
    flat = x.reshape(len(x), -1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN frame: bad, said below
        const = np.nanmax(flat, axis=1) == np.nanmin(flat, axis=1)
    return finite & ~const


def bad_frame_message(frames: np.ndarray, good: np.ndarray, first_index: int) -> str:
    i = int(np.flatnonzero(~good)[0])
    frame = np.asarray(frames[i])
    if frame.dtype.kind == "f" and not np.isfinite(frame).all():
        what = f"contains {int((~np.isfinite(frame)).sum())} NaN/infinite pixels"
    else:
        what = f"is constant (every pixel {frame.flat[0]})"
    return (
        f"frame {first_index + i} {what}: there is nothing to register it by; remove it, or "
        "keep such frames unshifted with --bad-frames keep"
    )


def initial_template(sample: np.ndarray, n_best: int = 20) -> np.ndarray:
    """Mean of the frame with the most highly correlated neighbours and those neighbours."""
    x = np.asarray(sample, dtype=np.float32)
    n = len(x)
    step = max(1, int(np.ceil(max(x.shape[1:]) / 64)))  # correlations on a coarse grid: fast
    small = x[:, ::step, ::step].reshape(n, -1)
    small = small - small.mean(axis=1, keepdims=True)
    small /= np.linalg.norm(small, axis=1, keepdims=True) + 1e-12
    corr = small @ small.T
    k = min(n_best, n)
    top = np.sort(corr, axis=1)[:, -k:]
    best = int(top.mean(axis=1).argmax())
    members = np.argsort(corr[best])[-k:]
    return x[members].mean(axis=0)


def build_template(
    sample: np.ndarray,
    *,
    iterations: int = 4,
    max_shift: float = 20.0,
    smooth_sigma: float = 1.15,
    highpass_px: float = 0.0,
) -> np.ndarray:
    """Iteratively refined template (Y, X) float32 from a sample of frames (n, Y, X)."""
    sample = np.asarray(sample, dtype=np.float32)
    if len(sample) < MIN_FRAMES:
        raise InputError(
            f"the movie has {len(sample)} frame(s): too short to build a registration template "
            f"(at least {MIN_FRAMES} frames are needed)"
        )
    template = initial_template(sample)
    if np.ptp(template) == 0:
        raise InputError("the movie is constant: there is no structure to register against")
    n = len(sample)
    for it in range(iterations):
        ref = make_reference(template, smooth_sigma, highpass_px)
        shifts, peak, _ = estimate_rigid(sample, ref, max_shift)
        # keep a growing fraction of the best-matching frames (suite2p's schedule, simplified)
        frac = 0.25 + 0.5 * (it + 1) / max(iterations, 1)
        keep = np.argsort(peak)[-max(MIN_FRAMES, int(frac * n)) :]
        centre = np.median(shifts[keep], axis=0)  # keep the template where the sample sits
        template = shift_frames(sample[keep], shifts[keep] - centre).mean(axis=0)
    return template.astype(np.float32)
