"""Denoising (wavelet shrinkage, Savitzky-Golay) and CalTrig's SNR on (N, T) traces.

All functions work along the last axis, keep NaN samples NaN, and take explicit parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pywt
from scipy.ndimage import uniform_filter1d
from scipy.signal import savgol_filter

from napari_catrack.core.baselines import _like, as_traces, fill_nan
from napari_catrack.errors import InputError

__all__ = ["denoise_savgol", "denoise_wavelet", "snr_caltrig"]


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
        sig = np.median(np.abs(coeffs[-1]), axis=-1) / 0.6744897501960817
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
    return _like(out, x)


def _odd_window(window: int, n: int, polyorder: int) -> int:
    w = int(window) + 1 - int(window) % 2
    w = min(w, n if n % 2 else n - 1)
    if w <= polyorder:
        raise InputError(
            f"Savitzky-Golay window ({window} frames) must exceed polyorder ({polyorder})"
            f" and fit in the trace ({n} frames)"
        )
    return w


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
    w = _odd_window(window, a.shape[1], polyorder)
    out = savgol_filter(fill_nan(a), w, polyorder, axis=-1, mode="interp")
    out[~np.isfinite(a)] = np.nan
    return _like(out, x)


def snr_caltrig(
    dff: np.ndarray,
    *,
    window: int = 10,
    polyorder: int = 2,
    noise_window: int = 10,
    noise_stat: str = "mean",
    cap: float = 0.01,
    rescale: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame-wise SNR as CalTrig defines it (Lange et al. 2025 eNeuro; repository
    cci-MaLab/Calcium-Transient-Analysis, DataInstance.get_savgol / get_noise / get_SNR): the
    Savitzky-Golay-smoothed dF/F divided by a rolling estimate (mean, median or max over
    `noise_window` frames) of |dF/F - smoothed|, the noise floored at `cap`. CalTrig's defaults:
    window 10, polyorder 2, noise mean over 10 frames, cap 0.01.

    Returns (snr, smoothed, noise). CalTrig then rescales the SNR so its maximum equals the
    smoothed trace's maximum (for display on the same axis); `rescale=True` does the same.
    """
    a = as_traces(dff)
    n = a.shape[1]
    w = min(int(window), n)
    if w <= polyorder:
        raise InputError(f"SNR window ({window}) must exceed polyorder ({polyorder})")
    filled = fill_nan(a)
    smooth = savgol_filter(filled, w, polyorder, axis=-1, mode="interp")
    resid = np.abs(filled - smooth)
    if noise_stat == "mean":
        noise = uniform_filter1d(resid, noise_window, axis=-1, mode="constant")
    elif noise_stat in ("median", "max"):
        roll = pd.DataFrame(resid.T).rolling(noise_window, center=True, min_periods=1)
        noise = getattr(roll, noise_stat)().to_numpy().T
    else:
        raise InputError(f"unknown noise statistic {noise_stat!r}: use 'mean', 'median' or 'max'")
    noise = np.maximum(noise, cap)
    snr = np.abs(smooth) / noise
    if rescale:
        peak = np.nanmax(snr, axis=-1, keepdims=True)
        snr = snr / np.where(peak > 0, peak, 1.0) * np.nanmax(smooth, axis=-1, keepdims=True)
    bad = ~np.isfinite(a)
    for arr in (snr, smooth, noise):
        arr[bad] = np.nan
    return _like(snr, dff), _like(smooth, dff), _like(noise, dff)
