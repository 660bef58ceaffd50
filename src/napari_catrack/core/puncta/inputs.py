"""What the puncta network sees: photons normalised per movie, three puncta frames, the calcium
frame, its local baseline and the local excess of the calcium change. One function for training
and inference, so both see the same.

The sixth channel is the calcium call's own statistic (`calcium.excess_kernel`: a disk at each
pixel minus the ring around it, in noise units) applied to the change frame - baseline. A diffuse
event (microns wide) cancels in it and a brief spot at a punctum does not, so the calcium head
sees the surroundings it needs to tell the two apart without having to learn a ring filter from
rare examples (the first network, without it, called 6-10 % of punctum-frames under diffuse
events).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_catrack.core.signals.noise import MAD_TO_SD

BASELINE_HALF = 6  # calcium baseline: median of frames t-6..t+6 without t-1..t+1
EXCESS_UNIT = 4.0  # the excess channel is in units of 4 noise standard deviations


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


def calcium_excess(
    frame: np.ndarray, baseline: np.ndarray, radius_px: float, noise: tuple[float, float]
) -> np.ndarray:
    """Local excess of (frame - baseline) in noise units (photons in, `noise` = (likelihood
    scale, read-noise variance)): the statistic the classical calcium call thresholds."""
    from napari_catrack.core.puncta.calcium import excess_kernel

    k, k2 = excess_kernel(radius_px)
    change = np.asarray(frame, np.float32) - np.asarray(baseline, np.float32)
    excess = ndi.correlate(change, k, mode="mirror")
    var = noise[0] * ndi.correlate(np.clip(frame, 0, None).astype(np.float32), k2, mode="mirror")
    return excess / np.sqrt(np.maximum(var + noise[1] * k2.sum(), 1e-6))


def input_options(config, camera) -> dict:
    """The `network_input` options a network config was trained with, for a camera's noise."""
    return {"channels": config.in_channels, "excess_radius_px": config.excess_radius_px,
            "noise": (camera.likelihood_scale, camera.read_noise_photons**2)}  # fmt: skip


def network_input(
    puncta: np.ndarray,
    calcium: np.ndarray | None,
    frames: np.ndarray,
    puncta_norm: tuple[float, float],
    calcium_norm: tuple[float, float],
    *,
    channels: int = 6,
    excess_radius_px: float = 2.3,
    noise: tuple[float, float] = (1.0, 0.0),
) -> np.ndarray:
    """(len(frames), channels, H, W) float32 inputs for frames of (T, H, W) photon movies (the
    frame numbers index `puncta`; neighbours beyond the ends repeat the edge frame). Channels:
    puncta t-1, t, t+1, calcium t, calcium baseline, and (6 channels) the calcium excess."""
    n = puncta.shape[0]
    po, ps = puncta_norm
    co, cs = calcium_norm
    out = np.zeros((len(frames), channels, *puncta.shape[1:]), np.float32)
    for i, t in enumerate(frames):
        for j, dt in enumerate((-1, 0, 1)):
            out[i, j] = (puncta[min(max(t + dt, 0), n - 1)] - po) / ps
        if calcium is not None:
            base = calcium_baseline(calcium, t)
            out[i, 3] = (calcium[t] - co) / cs
            out[i, 4] = (base - co) / cs
            if channels > 5:
                out[i, 5] = calcium_excess(calcium[t], base, excess_radius_px, noise) / EXCESS_UNIT
    return out
