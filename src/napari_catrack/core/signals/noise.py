"""Noise and SNR: robust SD (median absolute deviation), noise that smoothing cannot hide,
rolling residual noise, CalTrig's SNR.

Noise that means the same on raw, denoised or deconvolved traces (issue 12): a trace smoothed
before it reaches a detector has almost no frame-to-frame noise left, so any SNR measured against
that noise calls every ripple a transient. `standardized_noise` is Cascade's noise level nu
(median absolute first difference / sqrt(frame rate)), the quantity ground-truth datasets and
trained detectors are described by; `lag_noise` measures the noise from differences `lag`
frames apart, which stays the SD of the trace's fluctuations at that time scale however the
trace was smoothed before (for white noise every lag gives the same value). Both use recorded
frames only and are robust (medians) to the transients themselves.

`MAD_TO_SD` is the one copy of the constant that turns a median absolute deviation into the
standard deviation of Gaussian noise (1 / the normal distribution's 75th percentile). The
transient detectors' SNR (`transients.prepare.Prepared.snr`: baseline-subtracted smoothed dF/F
over the winsorised rolling noise) scored better on the Cascade ground truth than CalTrig's
definition (`snr_caltrig`, kept for fidelity and comparison).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d

from napari_catrack.core.signals.arrays import as_traces, like
from napari_catrack.core.signals.nan import fill_nan
from napari_catrack.errors import InputError

__all__ = [
    "MAD_TO_SD",
    "lag_noise",
    "robust_sd",
    "rolling_noise",
    "snr_caltrig",
    "standardized_noise",
]

MAD_TO_SD = 1.0 / 0.6744897501960817
"""Median absolute deviation -> standard deviation of Gaussian noise: 1 / Phi^-1(3/4) = 1.4826
(exact, as scikit-image's wavelet noise estimate and scipy's `median_abs_deviation(scale=
"normal")`)."""


def robust_sd(r: np.ndarray, max_samples: int = 4000) -> np.ndarray:
    """MAD-based standard deviation per row: insensitive to the transients themselves.

    Long rows are subsampled to about `max_samples` evenly spaced frames: the MAD of a
    few thousand samples is as precise as we need and keeps this linear and cheap.
    NaN marks a missing frame and is ignored; a row with no finite value gives 0.
    """
    step = max(1, r.shape[-1] // max_samples)
    r = r[..., ::step]
    if np.isfinite(r).all():
        med = np.median(r, axis=-1, keepdims=True)
        return MAD_TO_SD * np.median(np.abs(r - med), axis=-1)
    r = np.where(np.isfinite(r), r, np.nan)
    with warnings.catch_warnings():  # all-NaN rows: handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(r, axis=-1, keepdims=True)
        sd = MAD_TO_SD * np.nanmedian(np.abs(r - med), axis=-1)
    return np.nan_to_num(sd, nan=0.0)


def standardized_noise(x: np.ndarray, fps: float) -> np.ndarray:
    """Cascade's noise level nu per trace, in % Hz^-1/2: 100 x median |x[t+1] - x[t]| / sqrt(fps).

    For white noise of SD s, nu = 95.4 s / sqrt(fps): the same at any frame rate, so recordings
    at 7.5 and 120 Hz compare (Rupprecht et al. 2021). Pairs with a missing (NaN) frame are
    skipped; a trace without a recorded pair gives NaN."""
    a = as_traces(x)
    d = np.abs(np.diff(a, axis=-1))
    if d.shape[-1] == 0:
        return like(np.full(a.shape[0], np.nan), x) if np.ndim(x) == 2 else np.nan
    if np.isfinite(d).all():
        med = np.median(d, axis=-1)
    else:
        with warnings.catch_warnings():  # all-NaN rows give NaN, as documented
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(np.where(np.isfinite(d), d, np.nan), axis=-1)
    nu = 100.0 * med / np.sqrt(fps)
    return nu if np.ndim(x) == 2 else nu[0]


def lag_noise(x: np.ndarray, lag: int = 1, measured: np.ndarray | None = None) -> np.ndarray:
    """Noise SD per row from differences `lag` frames apart: robust SD of x[t+lag] - x[t] / sqrt(2).

    For white noise this is its SD at any lag. For a trace that was smoothed over fewer than
    `lag` frames it is still the SD of what is left, where the first difference (lag 1) would
    report almost nothing; for pink (1/f) noise it grows with the lag, as the wander a detector
    working at that time scale sees does. `measured` (bool, like x) excludes pairs that touch an
    unrecorded frame. A row without a usable pair gives 0."""
    a = np.asarray(x, dtype=np.float64)
    a = a[None] if a.ndim == 1 else a
    lag = int(lag)
    if lag < 1:
        raise InputError(f"noise lag must be >= 1 frame, got {lag}")
    if a.shape[-1] <= lag:
        return np.zeros(a.shape[0])
    d = a[:, lag:] - a[:, :-lag]
    if measured is not None:
        m = np.asarray(measured, bool)
        m = m[None] if m.ndim == 1 else m
        d = np.where(m[:, lag:] & m[:, :-lag], d, np.nan)
    return robust_sd(d) / np.sqrt(2.0)


def noise_floor(x: np.ndarray, relative: float = 1e-9) -> np.ndarray:
    """The least noise a trace can be said to have, per row: `relative` times its largest
    magnitude. float64 rounding leaves ~1e-16 of that, so without a floor a constant (or
    noiseless, or clipped) trace reads as a rounding ripple billions of noise units high."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    with warnings.catch_warnings():  # all-NaN rows: no scale at all
        warnings.simplefilter("ignore", RuntimeWarning)
        mag = np.nanmax(a, axis=-1) if a.size else np.zeros(a.shape[:-1])
    return np.maximum(relative * np.nan_to_num(mag), np.finfo(np.float64).tiny)


def rolling_noise(
    x: np.ndarray,
    smoothed: np.ndarray,
    fps: float,
    window_s: float | None = 10.0,
    measured: np.ndarray | None = None,
):
    """Residual noise (raw - smoothed) per frame: rolling RMS of the winsorised residual.

    Winsorising at 4 robust SDs keeps the sharp transient rises (large residuals) from
    inflating the noise estimate; `window_s=None` gives one global value per neuron.
    `measured` (bool, like x) marks real frames: gaps filled by interpolation are smooth and
    would otherwise read as no noise. Returns (noise per frame (N, T), robust SD per neuron).
    """
    r = x - smoothed
    sd = robust_sd(r if measured is None else np.where(measured, r, np.nan))
    sd = np.maximum(sd, noise_floor(x))  # a flat trace has no noise to divide by
    if window_s is None:
        return np.broadcast_to(sd[:, None], x.shape), sd
    np.clip(r, -4 * sd[:, None], 4 * sd[:, None], out=r)  # in place: this runs on (N, T)
    np.square(r, out=r)
    w = max(3, round(window_s * fps))
    if measured is not None and not measured.all():
        # mean square over the measured frames of each window; windows with none get the SD
        r[~measured] = 0.0
        count = uniform_filter1d(measured.astype(float), w, axis=-1, mode="nearest")
        uniform_filter1d(r, w, axis=-1, mode="nearest", output=r)
        r = np.where(count > 0.1, r / np.maximum(count, 1e-12), sd[:, None] ** 2)
    else:
        uniform_filter1d(r, w, axis=-1, mode="nearest", output=r)
    np.maximum(r, sd[:, None] ** 2 * 1e-4, out=r)
    return np.sqrt(r, out=r), sd


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
    from scipy.signal import savgol_filter  # here: scipy.signal costs 0.4 s to import, and
    # every user of MAD_TO_SD (detection, tracking, alignment) would pay it

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
    return like(snr, dff), like(smooth, dff), like(noise, dff)
