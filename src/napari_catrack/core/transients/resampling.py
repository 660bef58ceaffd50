"""Traces onto another frame rate and back: how one detector serves 2.5 Hz and 500 Hz data.

Downsampling box-averages first, as a slower camera integrating light would (the noise drops by
the square root of the frames averaged), then interpolates linearly onto the new grid; upsampling
interpolates. Both grids start at the first frame, so time t maps to t at every rate.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d


def resample_rate(x: np.ndarray, fps: float, rate: float) -> np.ndarray:
    """(N, T) traces at `fps` onto a `rate` grid starting at frame 0 (the same array when the
    rates are exactly equal: a nearly equal rate still drifts over a long recording)."""
    if fps == rate:
        return x
    t = x.shape[-1]
    if fps > rate:
        x = uniform_filter1d(x, max(1, round(fps / rate)), axis=-1, mode="nearest")
    n_out = max(1, int(np.floor((t - 1) * rate / fps)) + 1)
    return _interp_rows(x, np.arange(n_out) * (fps / rate))


def to_native(p: np.ndarray, rate: float, fps: float, n_frames: int) -> np.ndarray:
    """Per-frame values (N, T') on the `rate` grid back onto `n_frames` native frames (linear)."""
    if rate == fps and p.shape[-1] == n_frames:
        return p
    pos = np.arange(n_frames) * (rate / fps)
    return _interp_rows(p, np.minimum(pos, p.shape[-1] - 1))


def _interp_rows(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of every row at fractional frame positions `pos` (vectorised)."""
    t = x.shape[-1]
    i0 = np.minimum(pos.astype(np.intp), t - 1)
    i1 = np.minimum(i0 + 1, t - 1)
    w = (pos - i0).astype(x.dtype if x.dtype.kind == "f" else float)
    return x[..., i0] * (1 - w) + x[..., i1] * w
