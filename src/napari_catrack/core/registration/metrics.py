"""Registration quality: correlation with the template, crispness, residual motion, shift error.

The first three are what CaImAn's `compute_metrics_motion_correction` reports beside a corrected
movie (per-frame correlation with the template, crispness = the gradient norm of the mean image,
and what motion is left); `shift_error` scores estimated shifts against known ones (benchmarks).
"""

from __future__ import annotations

import numpy as np


def border_crop(shape: tuple[int, int], shifts: np.ndarray) -> tuple[slice, slice]:
    """The region every registered frame fills with real data (edges hold clamped pixels)."""
    h, w = shape
    if len(shifts) == 0:
        return slice(0, h), slice(0, w)
    m = np.ceil(np.nanmax(np.abs(shifts), axis=0)).astype(int) if np.isfinite(shifts).any() else np.zeros(2, int)  # fmt: skip
    my, mx = (int(min(v, s // 4)) for v, s in zip(m, (h, w), strict=True))
    return slice(my, h - my), slice(mx, w - mx)


def frame_correlations(frames: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Pearson correlation of each frame with the template."""
    x = np.asarray(frames, dtype=np.float32).reshape(len(frames), -1)
    t = np.asarray(template, dtype=np.float32).ravel()
    x = x - x.mean(axis=1, keepdims=True)
    t = t - t.mean()
    den = np.linalg.norm(x, axis=1) * np.linalg.norm(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, x @ t / den, np.nan)


def crispness(image: np.ndarray) -> float:
    """Frobenius norm of the gradient of a (mean) image: larger = sharper (CaImAn's definition)."""
    gy, gx = np.gradient(np.asarray(image, dtype=np.float64))
    return float(np.sqrt(np.sum(gy**2 + gx**2)))


def shift_error(estimated: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Errors of estimated vs true (n, 2) shifts after removing their constant offset.

    The template sits wherever the sample happened to be, so shifts are defined up to a
    constant; the offset removed is the median difference. Euclidean errors per frame.
    """
    est, tru = np.asarray(estimated, float), np.asarray(truth, float)
    ok = np.isfinite(est).all(axis=1) & np.isfinite(tru).all(axis=1)
    diff = est[ok] - tru[ok]
    offset = np.median(diff, axis=0)
    err = np.linalg.norm(diff - offset, axis=1)
    axis_err = np.abs(diff - offset)
    return {
        "median_px": float(np.median(err)),
        "mean_px": float(err.mean()),
        "p95_px": float(np.percentile(err, 95)),
        "max_px": float(err.max()),
        "median_axis_px": float(np.median(axis_err)),
        "offset_y": float(offset[0]),
        "offset_x": float(offset[1]),
    }


def patch_shift_error(estimated: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Errors of (T, P, 2) patch shifts vs the true displacement at the patch centres.

    Each patch's constant offset (its median difference) is removed: the template holds the
    average warp of the sample, so only changes of the field over time are measurable.
    """
    diff = np.asarray(estimated, float) - np.asarray(truth, float)
    diff = diff - np.median(diff, axis=0, keepdims=True)
    err = np.linalg.norm(diff, axis=-1)
    return {"median_px": float(np.median(err)), "p95_px": float(np.percentile(err, 95))}
