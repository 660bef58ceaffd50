"""Photobleaching correction and slow-drift removal on (N, T) trace arrays.

Both follow the traces' lower envelope, so transients riding on top keep their amplitude.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import uniform_filter1d

from napari_catrack.core.signals.arrays import as_traces, like
from napari_catrack.core.signals.nan import fill_nan, nan_quantile
from napari_catrack.core.signals.windows import (
    coarse_running_quantile,
    interp_rows,
    odd_frames,
    odd_window,
)
from napari_catrack.errors import InputError

__all__ = ["correct_bleaching", "remove_drift"]


def _lower_envelope(a: np.ndarray, w: int, q: float) -> np.ndarray:
    """Lower envelope that follows slopes without lag: a running low quantile q over w frames,
    then the mirrored quantile 1-q of that (an "opening" made of quantiles instead of min / max,
    so noise does not drag it down further), both on a coarse grid of w/4 and interpolated.
    Edges are extended linearly (odd mirroring), so decays and ramps continue to the ends."""
    step = max(1, w // 4)
    centres, low = coarse_running_quantile(a, w, q, step, odd=True)
    kc = 5  # w frames on the coarse grid
    padded = np.pad(low, ((0, 0), (kc // 2, kc // 2)), mode="reflect", reflect_type="odd")
    env = nan_quantile(sliding_window_view(padded, kc, axis=-1), 1.0 - q)
    return interp_rows(centres, env, a.shape[1])


def correct_bleaching(
    x: np.ndarray,
    fps: float,
    *,
    method: str = "exponential",
    window_s: float = 30.0,
    percentile: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Divide out photobleaching: returns (corrected, decay) with decay normalised to 1 at t=0.

    - "exponential": a single exponential a·exp(-t/τ) fitted (log-linear least squares, all
      traces at once) to the lower envelope (see `_lower_envelope`), so transients do not
      pull it up.
    - "running": the lower envelope itself (bleaching of any shape; it also
      removes other slow changes, like drift removal does).
    Each channel is corrected separately, before the ratio.
    """
    a = as_traces(x)
    if method not in ("exponential", "running"):
        raise InputError(f"unknown bleaching method {method!r}: use 'exponential' or 'running'")
    w = odd_window(window_s, fps)
    t_len = a.shape[1]
    if w >= t_len and t_len >= 9:
        # a window as long as the recording makes the envelope one constant: nothing would be
        # corrected at all. A third of the recording still follows a decay.
        short = odd_frames(t_len // 3, minimum=3)
        warnings.warn(
            f"recording ({t_len} frames) not longer than the bleaching window ({window_s:g} s = "
            f"{w} frames): the envelope uses {short} frames ({short / fps:.3g} s) instead",
            RuntimeWarning,
            stacklevel=2,
        )
        w = short
    env = _lower_envelope(a, w, percentile / 100.0)
    if method == "exponential":
        t = np.arange(a.shape[1]) / fps
        # only where the trace itself was measured: the envelope fills NaN gaps (a neuron
        # tracked late) with constants that would flatten the fitted decay
        ok = np.isfinite(env) & (env > 0) & np.isfinite(a)
        logv = np.where(ok, np.log(np.where(ok, env, 1.0)), 0.0)
        wsum = ok.sum(-1)
        tm = (ok * t).sum(-1) / np.maximum(wsum, 1)
        ym = logv.sum(-1) / np.maximum(wsum, 1)
        dt = np.where(ok, t - tm[:, None], 0.0)
        slope = (dt * (logv - ym[:, None])).sum(-1) / np.maximum((dt**2).sum(-1), 1e-12)
        slope = np.minimum(slope, 0.0)  # bleaching only decays; never amplify a rising trace
        decay = np.exp(slope[:, None] * t[None, :])
    else:  # "running"
        first = env[:, :1]
        decay = np.where(first > 0, env / np.where(first > 0, first, 1.0), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(decay > 0, a / decay, np.nan)
    return like(out, x), like(decay, x)


def remove_drift(
    x: np.ndarray,
    fps: float,
    *,
    cutoff_s: float = 20.0,
    method: str = "envelope",
    percentile: float = 10.0,
    mode: str = "subtract",
) -> tuple[np.ndarray, np.ndarray]:
    """Remove changes slower than `cutoff_s` but keep fast transients; returns (clean, trend).

    - "envelope" (default): the trend is the lower envelope: a running low percentile over
      `cutoff_s`, then the mirrored high percentile of that (which removes the lag on slopes),
      then a light moving average. Transients sit above the envelope, so their
      amplitude survives even when they last several seconds.
    - "highpass": zero-phase 2nd-order Butterworth high-pass at 1/cutoff_s Hz; simple, but it
      eats into long transients and rings around them.
    mode "subtract" (for dF/F traces) or "divide" (for raw fluorescence; result is F/trend).
    """
    a = as_traces(x)
    if method == "envelope":
        w = odd_window(cutoff_s, fps)
        env = _lower_envelope(a, w, percentile / 100.0)
        k = max(3, w // 2)
        padded = np.pad(env, ((0, 0), (k, k)), mode="reflect", reflect_type="odd")
        trend = uniform_filter1d(padded, k, axis=-1)[:, k:-k]
    elif method == "highpass":
        from scipy.signal import butter, sosfiltfilt

        if a.shape[1] < 16:
            raise InputError("high-pass drift removal needs at least 16 frames")
        sos = butter(2, 1.0 / cutoff_s, btype="lowpass", fs=fps, output="sos")
        filled = fill_nan(a)
        trend = sosfiltfilt(sos, filled, axis=-1)
        trend[~np.isfinite(a)] = np.nan
    else:
        raise InputError(f"unknown drift method {method!r}: use 'envelope' or 'highpass'")
    if mode == "subtract":
        out = a - trend
    elif mode == "divide":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(trend > 0, a / trend, np.nan)
    else:
        raise InputError(f"unknown drift mode {mode!r}: use 'subtract' or 'divide'")
    return like(out, x), like(trend, x)
