"""What the puncta network sees: photons normalised per movie, three puncta frames, the calcium
frame and its local baseline. One function for training and inference, so both see the same."""

from __future__ import annotations

import numpy as np

from napari_catrack.core.signals.noise import MAD_TO_SD

BASELINE_HALF = 6  # calcium baseline: median of frames t-6..t+6 without t-1..t+1


def normalisation(photons: np.ndarray) -> tuple[float, float]:
    """(offset, scale) of a photon movie: median and robust spread of its pixels (scale >= 1),
    so the network's inputs do not depend on the camera or the background level."""
    sample = np.asarray(photons, np.float32).ravel()
    if sample.size > 2_000_000:
        sample = sample[:: sample.size // 1_000_000]
    med = float(np.median(sample))
    spread = MAD_TO_SD * float(np.median(np.abs(sample - med)))
    return med, max(spread, 1.0)


def calcium_baseline(calcium: np.ndarray, t: int, half: int = BASELINE_HALF) -> np.ndarray:
    """Median of the calcium frames around t, leaving out t-1..t+1 (where a brief local signal
    lives); the frames of `calcium` are all the movie (or chunk) has."""
    n = calcium.shape[0]
    idx = [f for f in range(t - half, t + half + 1) if 0 <= f < n and abs(f - t) > 1]
    if not idx:
        idx = [t]
    return np.median(calcium[idx], axis=0)


def network_input(
    puncta: np.ndarray,
    calcium: np.ndarray | None,
    frames: np.ndarray,
    puncta_norm: tuple[float, float],
    calcium_norm: tuple[float, float],
) -> np.ndarray:
    """(len(frames), 5, H, W) float32 inputs for frames of (T, H, W) photon movies (the frame
    numbers index `puncta`; neighbours beyond the ends repeat the edge frame)."""
    n = puncta.shape[0]
    po, ps = puncta_norm
    co, cs = calcium_norm
    out = np.zeros((len(frames), 5, *puncta.shape[1:]), np.float32)
    for i, t in enumerate(frames):
        for j, dt in enumerate((-1, 0, 1)):
            out[i, j] = (puncta[min(max(t + dt, 0), n - 1)] - po) / ps
        if calcium is not None:
            out[i, 3] = (calcium[t] - co) / cs
            out[i, 4] = (calcium_baseline(calcium, t) - co) / cs
    return out
