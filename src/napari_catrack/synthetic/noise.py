"""Pure noise with nothing to find: white and pink (1/f) traces at a chosen Cascade noise level.

A transient detector must stay quiet on these, raw or after the denoising a user may already
have applied (tests, the pure-noise benchmark and the detector's training all draw from here).
The level is Cascade's standardised noise nu (100 x median |first difference| / sqrt(fps), in
% Hz^-1/2), the quantity the Cascade ground-truth datasets are described by (0.2-13).
"""

from __future__ import annotations

import numpy as np

NOISE_KINDS = ("white", "pink")
# median |x[t+1] - x[t]| of unit white Gaussian noise: sqrt(2) x 0.6745
_MEDIAN_ABS_DIFF_WHITE = 0.9538725524


def white_sd_for_nu(nu: float, fps: float) -> float:
    """Per-frame SD of white Gaussian noise whose standardised noise is `nu` (% Hz^-1/2)."""
    return float(nu) / 100.0 * np.sqrt(fps) / _MEDIAN_ABS_DIFF_WHITE


def pink_noise(
    n: int, n_frames: int, rng: np.random.Generator, exponent: float = 1.0
) -> np.ndarray:
    """(n, T) zero-mean noise with a 1/f^exponent power spectrum down to 1/T (1: pink; unit
    scale: rescale it)."""
    f = np.fft.rfftfreq(n_frames)
    f[0] = f[1] if f.size > 1 else 1.0  # no DC term: the mean is arbitrary
    spec = rng.standard_normal((n, f.size)) + 1j * rng.standard_normal((n, f.size))
    x = np.fft.irfft(spec / f ** (exponent / 2.0), n=n_frames, axis=-1)
    return x - x.mean(axis=-1, keepdims=True)


def noise_traces(
    n: int,
    n_frames: int,
    fps: float,
    nu: float = 1.0,
    kind: str = "white",
    seed: int | np.random.Generator | None = 0,
    exponent: float = 1.0,
) -> np.ndarray:
    """(n, T) pure-noise dF/F traces whose standardised noise is exactly `nu` per trace
    (`exponent`: of the pink noise's 1/f^exponent spectrum)."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; choose {', '.join(NOISE_KINDS)}")
    rng = np.random.default_rng(seed)
    if kind == "white":
        x = rng.standard_normal((n, n_frames))
    else:
        x = pink_noise(n, n_frames, rng, exponent)
    measured = 100.0 * np.median(np.abs(np.diff(x, axis=-1)), axis=-1) / np.sqrt(fps)
    return x * (nu / np.where(measured > 0, measured, 1.0))[:, None]
