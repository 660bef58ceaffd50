"""Signal helpers local to transient detection: smoothing, baseline, noise and SNR.

`core/signal.py` (written in parallel) will own the shared versions; these are kept small,
vectorised over neurons (rows) and free of per-frame Python loops so detection stays fast.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.signal import savgol_filter

from napari_catrack.errors import InputError

MAD_TO_SD = 1.4826
# "auto" smoothing: 0.2 s, but never more than 13 frames. The SNR below is measured in units
# of the residual (raw - smoothed), and how white noise splits between residual and smoothed
# trace depends only on the Savitzky-Golay length in FRAMES: the thresholds were tuned at 13
# frames (0.2 s at 60 Hz, GCaMP6f/6s). A fixed 0.2 s is 25 frames at 122 Hz, which both
# flattens fast (jGCaMP8) transients and silently raises the effective threshold.
AUTO_WINDOW_S = 0.2
AUTO_MAX_FRAMES = 13
SmoothWindow = float | str


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


def odd_window(seconds: float, fps: float, minimum: int = 5) -> int:
    """A Savitzky-Golay window in frames: odd, at least `minimum`, from a duration."""
    n = max(int(minimum), round(seconds * fps))
    return n + 1 - n % 2


def fill_nan(x: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN frames per row so filters can run; all-NaN rows become 0."""
    x = np.array(x, dtype=np.float64, ndmin=2, copy=True)
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    idx = np.arange(x.shape[1])
    for i in np.nonzero(bad.any(axis=1))[0]:
        good = ~bad[i]
        x[i] = np.interp(idx, idx[good], x[i, good]) if good.any() else 0.0
    return x


def smooth(
    x: np.ndarray, fps: float, window_s: SmoothWindow = "auto", order: int = 2
) -> np.ndarray:
    """Savitzky-Golay smoothing along time: keeps peak height and timing better than a box."""
    w = odd_window(smooth_window_seconds(window_s, fps), fps, minimum=max(5, order + 2))
    if w > x.shape[-1]:
        return x.copy()
    return savgol_filter(x, w, order, axis=-1, mode="interp")


def rolling_baseline(x: np.ndarray, fps: float, window_s: float = 30.0, q: float = 20.0):
    """Slow baseline: a low percentile of blocks, median-smoothed and interpolated back.

    Block quantiles instead of a per-frame running percentile keep this O(T) and vectorised;
    the percentile (not the mean) ignores the transients riding on top.
    """
    n, t = x.shape
    block = max(1, round(window_s * fps / 4))
    nb = int(np.ceil(t / block))
    if nb < 2:
        return np.repeat(np.percentile(x, q, axis=1, keepdims=True), t, axis=1)
    pad = nb * block - t
    xp = np.concatenate([x, x[:, t - pad :][:, ::-1]], axis=1) if pad else x
    step = max(1, block // 32)  # the input is smooth: ~32 samples per block are plenty
    qb = np.percentile(xp.reshape(n, nb, block)[:, :, ::step], q, axis=2)
    qb = median_filter(qb, size=(1, 5), mode="nearest")
    # linear interpolation between block centres, the same weights for every row
    pos = np.clip((np.arange(t) - (block - 1) / 2) / block, 0, nb - 1)
    i0 = np.minimum(pos.astype(np.intp), nb - 2)
    w = pos - i0
    return qb[:, i0] * (1 - w) + qb[:, i0 + 1] * w


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
    sd = np.where(sd > 0, sd, np.finfo(float).eps)
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


def snr(
    dff: np.ndarray,
    fps: float,
    smooth_window_s: SmoothWindow = "auto",
    noise_window_s: float | None = 10.0,
    baseline_window_s: float = 30.0,
) -> np.ndarray:
    """CalTrig-style SNR per frame: (smoothed dF/F - baseline) / rolling residual noise."""
    x = fill_nan(dff)
    s = smooth(x, fps, smooth_window_s)
    b = rolling_baseline(s, fps, baseline_window_s)
    measured = np.isfinite(np.array(dff, dtype=float, ndmin=2))
    out = (s - b) / rolling_noise(x, s, fps, noise_window_s, measured)[0]
    return out if np.ndim(dff) == 2 else out[0]
