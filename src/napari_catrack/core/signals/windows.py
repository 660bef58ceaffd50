"""Time windows along traces: odd window lengths and running quantiles on a coarse grid.

Odd windows keep running filters centred on their frame. Running quantiles are evaluated on a
coarse grid of centres and interpolated back, which keeps (N, T) arrays of tens of thousands of
frames well under a second.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from napari_catrack.core.signals.nan import nan_quantile
from napari_catrack.errors import InputError

WINDOW_BUDGET = 4_000_000
"""Most window samples (rows x centres x window) a running quantile copies at once (32 MB)."""

__all__ = [
    "coarse_running_quantile",
    "interp_rows",
    "odd_frames",
    "odd_window",
    "running_quantile",
]


def odd_frames(frames: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A window length in frames made odd (rounded up), at least `minimum`, and at most the
    largest odd number <= `maximum` (e.g. a trace's length)."""
    n = int(frames) if minimum is None else max(int(frames), int(minimum))
    n = n + 1 - n % 2
    if maximum is not None:
        n = min(n, maximum if maximum % 2 else maximum - 1)
    return n


def odd_window(seconds: float, fps: float, *, minimum: int = 3) -> int:
    """A window in seconds as an odd number of frames, at least `minimum` (0 s -> minimum)."""
    if fps is None or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"frame rate must be a positive number, got {fps!r}")
    if not np.isfinite(seconds) or seconds < 0:
        raise InputError(f"window must be a duration >= 0 s, got {seconds} s")
    return odd_frames(round(seconds * fps), minimum=minimum)


def coarse_running_quantile(
    a: np.ndarray, w: int, q: float, step: int, odd: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Quantile over a centred window of w frames at every `step`-th frame: (centres, (N, C)).

    Edges are padded by mirroring; `odd` mirrors through the end value (linear extrapolation),
    which keeps a slope going instead of folding it into a peak or a valley.
    """
    t = a.shape[1]
    centres = np.arange(0, t, step)
    if centres[-1] != t - 1:
        centres = np.append(centres, t - 1)
    if w >= t:
        return centres, np.repeat(nan_quantile(a, q)[:, None], len(centres), axis=1)
    half = w // 2
    kind = "odd" if odd else "even"
    padded = np.pad(a, ((0, 0), (half, half)), mode="reflect", reflect_type=kind)
    view = sliding_window_view(padded, w, axis=-1)  # (N, T, w), no copy
    method = "nearest" if w >= 50 else "linear"
    # picking the centres copies (rows, C, w): a few rows at a time keeps that bounded (a 30 s
    # window at 500 Hz is 15,001 frames: 300 neurons x 5 min took ~10 GB at once)
    rows = max(1, WINDOW_BUDGET // max(len(centres) * w, 1))
    vals = [nan_quantile(view[i : i + rows, centres, :], q, method=method)
            for i in range(0, a.shape[0], rows)]  # fmt: skip
    return centres, np.concatenate(vals, axis=0) if vals else np.empty((0, len(centres)))


def interp_rows(centres: np.ndarray, vals: np.ndarray, t: int) -> np.ndarray:
    """Linear interpolation of each row's coarse values back to all t frames (vectorised)."""
    frames = np.arange(t)
    i1 = np.clip(np.searchsorted(centres, frames), 1, len(centres) - 1)
    i0 = i1 - 1
    span = (centres[i1] - centres[i0]).astype(np.float64)
    f = np.clip((frames - centres[i0]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    out = vals[:, i0]
    out += (vals[:, i1] - out) * f
    if len(centres) == 1:
        out = np.repeat(vals[:, :1], t, axis=1)
    for r in np.flatnonzero(~np.isfinite(vals).all(axis=1)):  # rows with gaps: skip the gaps
        ok = np.isfinite(vals[r])
        out[r] = np.interp(frames, centres[ok], vals[r, ok]) if ok.any() else np.nan
    return out


def running_quantile(a: np.ndarray, w: int, q: float, step: int, odd: bool = False) -> np.ndarray:
    """Running quantile of (N, T) rows evaluated every `step` frames, interpolated to every frame."""
    centres, vals = coarse_running_quantile(a, w, q, step, odd)
    return interp_rows(centres, vals, a.shape[1])
