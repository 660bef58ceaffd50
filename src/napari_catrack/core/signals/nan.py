"""Missing samples (NaN frames): interpolation for filters that cannot skip them, NaN quantiles."""

from __future__ import annotations

import numpy as np

__all__ = ["fill_nan", "nan_quantile"]


def fill_nan(x: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN (and inf) samples of each row so filters can run; returns a
    float64 copy, at least 2-D (N, T). Rows without any finite sample become 0."""
    x = np.array(x, dtype=np.float64, ndmin=2, copy=True)
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    idx = np.arange(x.shape[-1])
    for i in np.flatnonzero(bad.any(axis=-1)):
        good = ~bad[i]
        x[i] = np.interp(idx, idx[good], x[i, good]) if good.any() else 0.0
    return x


def nan_quantile(a: np.ndarray, q: float, axis: int = -1, method: str = "linear") -> np.ndarray:
    """Quantile (q in 0..1, linear interpolation) along an axis, ignoring NaN, vectorised.

    np.nanpercentile falls back to a Python loop over rows; sorting once (NaN sort last) and
    indexing by each row's own count is orders of magnitude faster for (N, T) traces.
    `method="nearest"` (rows without NaN only) partitions once instead of twice: for windows
    of hundreds of samples it halves the cost at a negligible difference.
    """
    a = np.asarray(a)
    a = np.moveaxis(a if a.dtype.kind == "f" else a.astype(np.float64), axis, -1)
    finite = np.isfinite(a)
    if finite.all():
        return np.quantile(a, q, axis=-1, method=method)
    s = np.sort(np.where(finite, a, np.nan), axis=-1)
    n = finite.sum(axis=-1)
    pos = q * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    frac = pos - lo
    v_lo = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
    v_hi = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
    out = v_lo + frac * (v_hi - v_lo)
    return np.where(n > 0, out, np.nan)
