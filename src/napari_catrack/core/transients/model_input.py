"""What a trained detector sees: any trace, at any rate and scale, in the detector's own units.

1. The trace is put on the detector's rate (30 Hz: box-averaged when faster, interpolated when
   slower; `resampling.py`), so one network serves 2.5-500 Hz recordings.
2. A slow baseline (20th percentile over 30 s) is removed and the result divided by the
   frame-to-frame noise at that rate (robust SD of first differences: Cascade's noise measure,
   hardly touched by transients, measured on recorded frames only). Inputs are in noise units, so
   the scale of a trace (dF/F, ratio, raw counts) does not matter.
3. Conditioning per trace (`N_COND` numbers): log of the camera rate (capped at the detector's
   rate: faster recordings look alike after averaging) and the log ratios of the noise at lags
   of 0.1, 0.33 and 1 s to the frame-to-frame noise. For white noise these are 0; a trace that
   was smoothed, wavelet-denoised or deconvolved before it reached us, or whose noise is pink
   (1/f), has larger ones. The detector is trained on such traces (`training.py`) and learns
   from these numbers not to take a smoothed ripple for a transient.
4. Channels: the trace in noise units (clipped, and compressed with asinh so large transients
   keep their shape) and the same trace in units of the 0.33 s-lag noise, which stays moderate
   when the frame-to-frame noise has been smoothed away.

Files written by the first version of the detector (`inputs_version` 1: two channels, no
conditioning) are still read, with `legacy_inputs`.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from napari_catrack.core.signals.baselines import rolling_baseline
from napari_catrack.core.signals.denoise import smooth
from napari_catrack.core.signals.nan import fill_nan
from napari_catrack.core.signals.noise import lag_noise, noise_floor, robust_sd

from .resampling import resample_rate

INPUTS_VERSION = 2
N_CHANNELS = 3
N_COND = 4
LAGS_S = (0.1, 1.0 / 3.0, 1.0)  # the conditioning's noise lags; the second one scales channel 3


def _measured_on_grid(measured: np.ndarray, fps: float, rate: float, n: int) -> np.ndarray | None:
    """Which model-rate frames come from a recorded (not NaN) native frame; None: all did."""
    if measured.all():
        return None
    idx = np.minimum(np.round(np.arange(n) * fps / rate).astype(np.intp), measured.shape[1] - 1)
    return measured[:, idx]


def _lag_noises(y: np.ndarray, lags: list[int], measured: np.ndarray | None) -> np.ndarray:
    """`lag_noise` at several lags (len(lags), N) in one robust-SD pass over the same frames."""
    span = max(lags)
    n = y.shape[1] - span
    if n < 8:  # too short to share frames: one lag at a time
        return np.stack([lag_noise(y, k, measured) for k in lags])
    d = np.concatenate([y[:, k : k + n] - y[:, :n] for k in lags])
    if measured is not None:
        ok = np.concatenate([measured[:, k : k + n] & measured[:, :n] for k in lags])
        d = np.where(ok, d, np.nan)
    return (robust_sd(d) / np.sqrt(2.0)).reshape(len(lags), y.shape[0])


def model_inputs(
    dff: np.ndarray, fps: float, rate: float = 30.0, baseline_window_s: float = 30.0
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (N, N_CHANNELS, T') float32 at `rate`, conditioning (N, N_COND) float32)."""
    raw = np.asarray(dff, dtype=np.float64)
    raw = raw[None] if raw.ndim == 1 else raw
    y = resample_rate(fill_nan(raw), fps, rate)
    measured = _measured_on_grid(np.isfinite(raw), fps, rate, y.shape[1])
    lags = [1] + [max(1, round(s * rate)) for s in LAGS_S]
    noise = _lag_noises(y, lags, measured)
    s1 = np.maximum(noise[0], noise_floor(y))  # a flat trace: no transients, not rounding noise
    sk = [np.maximum(v, s1) for v in noise[1:]]
    # the baseline of a lightly box-smoothed trace (0.2 s): only its percentile matters
    box = max(1, round(0.2 * rate))
    base = rolling_baseline(  # (from measured frames: a gap's filled values are no level)
        uniform_filter1d(y, box, axis=-1, mode="nearest"), rate, baseline_window_s, 20.0, measured
    )
    d = y - base
    z = d / s1[:, None]
    z_slow = d / sk[1][:, None]
    x = np.stack([np.clip(z, -10, 40) / 5.0, np.arcsinh(z / 3.0), np.arcsinh(z_slow / 3.0)], 1)
    rate_term = np.full(s1.shape, np.log(min(fps, rate) / rate))
    cond = np.stack([rate_term] + [np.log(s / s1) for s in sk], axis=1)
    return x.astype(np.float32), cond.astype(np.float32)


def legacy_inputs(
    dff: np.ndarray, fps: float, rate: float = 30.0, baseline_window_s: float = 30.0
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of detectors saved by the first version (two channels, no conditioning)."""
    raw = np.asarray(dff, dtype=np.float64)
    raw = raw[None] if raw.ndim == 1 else raw
    noise = robust_sd(np.diff(raw, axis=-1)) / np.sqrt(2.0) / np.sqrt(max(1.0, fps / rate))
    noise = np.where(noise > 0, noise, np.finfo(float).eps)
    y = resample_rate(fill_nan(raw), fps, rate)
    base = rolling_baseline(smooth(y, rate, 0.2), rate, baseline_window_s)
    z = (y - base) / noise[:, None]
    x = np.stack([np.clip(z, -10, 40) / 5.0, np.arcsinh(z / 3.0)], axis=1).astype(np.float32)
    return x, np.zeros((x.shape[0], 0), np.float32)


def label_grid(intervals_s: np.ndarray, n: int, rate: float) -> np.ndarray:
    """Frame labels on the model grid: 1 inside any [start, end] interval (at least one frame)."""
    lab = np.zeros(n, np.float32)
    iv = np.asarray(intervals_s, float).reshape(-1, 2)
    if iv.size == 0:
        return lab
    i0 = np.maximum(0, np.floor(iv[:, 0] * rate + 0.5).astype(np.int64))
    i1 = np.minimum(n - 1, np.maximum(i0, np.floor(iv[:, 1] * rate + 0.5).astype(np.int64)))
    ok = i0 < n
    # +1 at each start, -1 after each end, cumulated: overlapping intervals stay 1
    edges = np.zeros(n + 1, np.int64)
    np.add.at(edges, i0[ok], 1)
    np.add.at(edges, i1[ok] + 1, -1)
    lab[np.cumsum(edges[:n]) > 0] = 1.0
    return lab
