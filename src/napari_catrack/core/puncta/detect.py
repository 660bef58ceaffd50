"""Candidate puncta: a band-pass filter (ThunderSTORM's B-spline wavelet, or a difference of
Gaussians) and local maxima above a threshold scaled to each frame's noise.

The wavelet filter is the "à trous" B-spline of order 3 at scale 2 that ThunderSTORM uses by
default (Izeddin et al. 2012): V1 = I * k1, V2 = V1 * k2 (k2 = k1 with holes), F2 = V1 - V2.
The threshold is `threshold` x the robust (MAD) standard deviation of the first wavelet level
F1 = I - V1, ThunderSTORM's "1.5 * std(Wave.F1)", made robust so bright puncta do not raise it.
All filters run on the whole (T, H, W) chunk at once (scipy.ndimage along the image axes).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_catrack.core.signals.noise import MAD_TO_SD

_K1 = np.array([1, 4, 6, 4, 1], float) / 16.0
_K2 = np.array([1, 0, 4, 0, 6, 0, 4, 0, 1], float) / 16.0


def _separable(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    out = ndi.correlate1d(stack, kernel, axis=-1, mode="mirror")
    return ndi.correlate1d(out, kernel, axis=-2, mode="mirror")


def robust_sd(x: np.ndarray, axis=(-2, -1)) -> np.ndarray:
    """MAD_TO_SD x the median absolute deviation: a noise estimate that ignores a few bright spots."""
    med = np.median(x, axis=axis, keepdims=True)
    return MAD_TO_SD * np.median(np.abs(x - med), axis=axis, keepdims=True)


def band_pass(
    stack: np.ndarray, method: str = "wavelet", sigma_px: float = 1.2
) -> tuple[np.ndarray, np.ndarray]:
    """(filtered stack, per-frame noise (T, 1, 1)) for (T, H, W) photons."""
    stack = np.asarray(stack, np.float32)
    v1 = _separable(stack, _K1)
    noise = robust_sd(stack - v1)
    if method == "wavelet":
        filtered = v1 - _separable(v1, _K2)
    elif method == "dog":
        s = max(float(sigma_px), 0.5)
        filtered = ndi.gaussian_filter(stack, (0, s, s), mode="mirror") - ndi.gaussian_filter(
            stack, (0, 1.6 * s, 1.6 * s), mode="mirror"
        )
    else:
        raise ValueError(f"unknown filter {method!r}")
    return filtered, np.maximum(noise, 1e-6)


def detect_candidates(
    stack: np.ndarray,
    threshold: float = 1.5,
    method: str = "wavelet",
    sigma_px: float = 1.2,
    border: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima (8-connected) of the filtered stack above `threshold` x noise.

    Returns (frame, row, col, filtered value) arrays; `border` drops maxima that close to the edge.
    """
    filtered, noise = band_pass(stack, method, sigma_px)
    peak = ndi.maximum_filter(filtered, size=(1, 3, 3), mode="constant", cval=-np.inf)
    is_max = (filtered == peak) & (filtered > threshold * noise)
    if border > 0:
        is_max[:, :border] = is_max[:, -border:] = False
        is_max[:, :, :border] = is_max[:, :, -border:] = False
    t, r, c = np.nonzero(is_max)
    # plateaus (equal neighbours) would give two maxima for one spot: keep the first of each pair
    if len(t):
        keep = _first_of_plateaus(t, r, c, filtered.shape)
        t, r, c = t[keep], r[keep], c[keep]
    return t, r, c, filtered[t, r, c]


def _first_of_plateaus(t, r, c, shape) -> np.ndarray:
    occupied = np.zeros(shape, bool)
    keep = np.ones(len(t), bool)
    # maxima are in raster order: a maximum whose already-seen neighbour is a maximum is a twin
    occupied[t, r, c] = True
    for dr, dc in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
        rr, cc = r + dr, c + dc
        ok = (rr >= 0) & (cc >= 0) & (cc < shape[2])
        twin = np.zeros(len(t), bool)
        twin[ok] = occupied[t[ok], rr[ok], cc[ok]]
        keep &= ~twin
    return keep
