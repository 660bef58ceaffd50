"""Denoising on (N, T) traces: wavelet shrinkage and Savitzky-Golay smoothing.

All functions work along the last axis and take explicit parameters. `denoise_wavelet` and
`denoise_savgol` are cleaning steps (NaN samples stay NaN); `smooth` is the transient
detectors' smoothing, whose "auto" window is tied to the frame counts their thresholds were
tuned at.
"""

from __future__ import annotations

import numpy as np
import pywt
from scipy.signal import savgol_filter

from napari_catrack.core.signals.arrays import as_traces, like
from napari_catrack.core.signals.nan import fill_nan
from napari_catrack.core.signals.noise import MAD_TO_SD
from napari_catrack.core.signals.windows import odd_frames, odd_window
from napari_catrack.errors import InputError

__all__ = [
    "AUTO_MAX_FRAMES",
    "AUTO_WINDOW_S",
    "SmoothWindow",
    "denoise_savgol",
    "denoise_wavelet",
    "smooth",
    "smooth_window_seconds",
]

# "auto" smoothing: 0.2 s, but never more than 13 frames. The SNR below is measured in units
# of the residual (raw - smoothed), and how white noise splits between residual and smoothed
# trace depends only on the Savitzky-Golay length in FRAMES: the thresholds were tuned at 13
# frames (0.2 s at 60 Hz, GCaMP6f/6s). A fixed 0.2 s is 25 frames at 122 Hz, which both
# flattens fast (jGCaMP8) transients and silently raises the effective threshold.
AUTO_WINDOW_S = 0.2
AUTO_MAX_FRAMES = 13
SmoothWindow = float | str


def denoise_wavelet(
    x: np.ndarray,
    *,
    wavelet: str = "sym4",
    method: str = "BayesShrink",
    mode: str = "soft",
    levels: int | None = None,
    sigma: float | np.ndarray | None = None,
) -> np.ndarray:
    """Wavelet shrinkage of each trace, the same rules as skimage.restoration.denoise_wavelet.

    Noise sigma per trace from the median absolute deviation of the finest detail coefficients
    (robust to transients). "VisuShrink": one universal threshold sigma·sqrt(2·ln T) (smooth,
    may flatten small transients); "BayesShrink": per level sigma²/sigma_signal (adapts to each
    scale, keeps more detail). Done on all traces at once with pywt along the time axis.
    """
    a = as_traces(x)
    bad = ~np.isfinite(a)
    filled = fill_nan(a)
    w = pywt.Wavelet(wavelet)
    max_level = pywt.dwt_max_level(a.shape[1], w.dec_len)
    if max_level < 1:
        raise InputError(f"traces of {a.shape[1]} frames are too short for wavelet {wavelet!r}")
    lev = max(max_level - 3, 1) if levels is None else int(np.clip(levels, 1, max_level))
    coeffs = pywt.wavedec(filled, w, level=lev, axis=-1)
    if sigma is None:
        sig = MAD_TO_SD * np.median(np.abs(coeffs[-1]), axis=-1)
    else:
        sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (a.shape[0],))
    sig = sig[:, None]
    if method == "VisuShrink":
        thr = [sig * np.sqrt(2 * np.log(a.shape[1]))] * lev
    elif method == "BayesShrink":
        thr = []
        for d in coeffs[1:]:
            sx = np.sqrt(np.maximum(np.mean(d**2, axis=-1, keepdims=True) - sig**2, 0.0))
            thr.append(
                np.where(sx > 0, sig**2 / np.where(sx > 0, sx, 1.0), np.abs(d).max(-1)[:, None])
            )
    else:
        raise InputError(f"unknown wavelet method {method!r}: use 'BayesShrink' or 'VisuShrink'")
    if mode == "soft":
        shrunk = [np.sign(d) * np.maximum(np.abs(d) - t, 0.0) for d, t in zip(coeffs[1:], thr)]
    elif mode == "hard":
        shrunk = [np.where(np.abs(d) > t, d, 0.0) for d, t in zip(coeffs[1:], thr)]
    else:
        raise InputError(f"unknown threshold mode {mode!r}: use 'soft' or 'hard'")
    out_coeffs = [coeffs[0], *shrunk]
    out = pywt.waverec(out_coeffs, w, axis=-1)[:, : a.shape[1]]
    out[bad] = np.nan
    return like(out, x)


def denoise_savgol(
    x: np.ndarray,
    *,
    window: int = 11,
    polyorder: int = 2,
    fps: float | None = None,
    window_s: float | None = None,
) -> np.ndarray:
    """Savitzky-Golay smoothing (local polynomial fit): keeps peak heights and rise times
    better than a moving average of the same width. Window in frames, or `window_s` with fps."""
    a = as_traces(x)
    if window_s is not None:
        if not fps:
            raise InputError("window_s needs the frame rate (fps)")
        window = round(window_s * fps)
    w = odd_frames(window, maximum=a.shape[1])
    if w <= polyorder:
        raise InputError(
            f"Savitzky-Golay window ({window} frames) must exceed polyorder ({polyorder})"
            f" and fit in the trace ({a.shape[1]} frames)"
        )
    out = savgol_filter(fill_nan(a), w, polyorder, axis=-1, mode="interp")
    out[~np.isfinite(a)] = np.nan
    return like(out, x)


def smooth_window_seconds(window_s: SmoothWindow, fps: float) -> float:
    """Resolve a smoothing window in seconds, or "auto" (see above); 0 = the 5-frame minimum."""
    if isinstance(window_s, str):
        if window_s.strip().lower() != "auto":
            raise InputError(
                f"smoothing window must be a number of seconds or 'auto', got {window_s!r}"
            )
        return min(AUTO_WINDOW_S, AUTO_MAX_FRAMES / fps)
    w = float(window_s)
    if not np.isfinite(w) or w < 0:
        raise InputError(f"smoothing window must be a number of seconds >= 0, got {window_s!r}")
    return w


def smooth(
    x: np.ndarray, fps: float, window_s: SmoothWindow = "auto", order: int = 2
) -> np.ndarray:
    """Savitzky-Golay smoothing along time: keeps peak height and timing better than a box."""
    w = odd_window(smooth_window_seconds(window_s, fps), fps, minimum=max(5, order + 2))
    if w > x.shape[-1]:
        return x.copy()
    return savgol_filter(x, w, order, axis=-1, mode="interp")
