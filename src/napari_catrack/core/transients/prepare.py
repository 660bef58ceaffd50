"""What every transient detector starts from: checked traces, smoothed once, with a baseline and
a noise estimate (`prepare` -> `Prepared`), and the columns every detector's table shares.

Noise that smoothing cannot hide (issue 12). The SNR is in units of the noise of the SMOOTHED
trace, measured from differences one smoothing window apart (`signals.noise.lag_noise`, rolling
and winsorised as `signals.noise.rolling_noise`). A trace that was already smoothed,
wavelet-denoised or deconvolved has almost no frame-to-frame (residual) noise left, so the former
residual-noise SNR (raw - smoothed) called every ripple of it a transient; the lag noise is the
same whether the smoothing was ours or the user's, so an SNR threshold means the same on raw and
denoised input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_catrack.core.signals.baselines import rolling_baseline
from napari_catrack.core.signals.denoise import smooth, smooth_window_seconds
from napari_catrack.core.signals.nan import fill_nan
from napari_catrack.core.signals.noise import rolling_noise
from napari_catrack.core.signals.windows import odd_window
from napari_catrack.errors import InputError

CORE_COLUMNS = [
    "transient_id",
    "neuron_id",
    "start_frame",
    "peak_frame",
    "end_frame",
    "peak_amplitude",
    "snr",
    "source",
]
SOURCES = ("rules", "ksigma", "model", "manual")
#: the fewest frames a trace can have for transient detection: a baseline, a noise level and a
#: rise need a handful of frames each (shorter traces used to end in tracebacks or absurd SNRs)
MIN_FRAMES = 10
_TINY = np.finfo(np.float64).tiny


@dataclass
class Prepared:
    """Per-neuron arrays (N, T) shared by detection and features."""

    raw: np.ndarray  # NaN-filled dF/F
    smooth: np.ndarray  # Savitzky-Golay smoothed dF/F
    base: np.ndarray  # slow baseline of the smoothed trace
    noise: np.ndarray  # rolling noise of the smoothed trace (lag noise, see the module doc)
    fps: float
    noise_level: np.ndarray  # one robust noise SD of the smoothed trace per neuron
    measured: np.ndarray | None = None  # bool (N, T): frames that were not NaN (None: all)

    @property
    def snr(self) -> np.ndarray:
        """SNR per frame (N, T)."""
        return (self.smooth - self.base) / self.noise

    def snr_at(self, rows: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """SNR at given (row, frame) pairs without building the full matrix."""
        return (self.smooth[rows, frames] - self.base[rows, frames]) / self.noise[rows, frames]


def check_fps(fps: float | None) -> float:
    """Every duration parameter is in seconds, so a usable frame rate is mandatory."""
    if fps is None or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"frame rate must be a positive number of frames per second, got {fps!r}")
    return float(fps)


def as_matrix(dff: np.ndarray) -> np.ndarray:
    """(T,) or (N, T) float array with at least one finite value per neuron."""
    x = np.asarray(dff, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"traces must be a non-empty (neurons, frames) array, got shape {x.shape}")
    dead = ~np.isfinite(x).any(axis=1)
    if dead.any():
        raise InputError(
            f"{int(dead.sum())} neuron(s) have no finite dF/F values (rows {np.nonzero(dead)[0][:5].tolist()})"
        )
    return x


def smoothed_noise(
    s: np.ndarray,
    fps: float,
    lag: int,
    window_s: float | None = 10.0,
    measured: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise of the smoothed traces `s` from differences `lag` frames apart: (per frame (N, T),
    per neuron). Rolling RMS over `window_s` of the winsorised differences / sqrt(2)
    (`signals.noise.rolling_noise` on s[t + lag] - s[t]); `window_s=None`: one robust value."""
    n_frames = s.shape[1]
    lag = max(1, min(int(lag), n_frames // 2))
    if n_frames < 2:
        eps = np.finfo(float).eps
        return np.full(s.shape, eps), np.full(s.shape[0], eps)
    # s[t + lag]; the last `lag` frames continue the trend of the lag before them
    tail = s[:, -lag:] + (s[:, -lag:] - s[:, -2 * lag : -lag])
    ahead = np.concatenate([s[:, lag:], tail], axis=1)
    pairs = None
    if measured is not None:
        pairs = measured & np.concatenate([measured[:, lag:], measured[:, -lag:]], axis=1)
    noise, level = rolling_noise(ahead, s, fps, window_s, pairs)
    return noise / np.sqrt(2.0), level / np.sqrt(2.0)


def prepare(
    dff: np.ndarray,
    fps: float,
    smooth_window_s: float | str = "auto",
    noise_window_s: float | None = 10.0,
    baseline_window_s: float = 30.0,
    baseline_percentile: float = 20.0,
) -> Prepared:
    """Smooth, baseline and noise once; detection and features reuse them.

    `smooth_window_s` is in seconds, or "auto": 0.2 s but at most 13 frames (see
    `core.signals.denoise`). The noise is that of the smoothed trace at a lag of one smoothing
    window (`smoothed_noise`), measured on recorded frames only.
    """
    fps = check_fps(fps)
    given = as_matrix(dff)
    check_length(given.shape[1])
    raw = fill_nan(given)
    s = smooth(raw, fps, smooth_window_s)
    measured = np.isfinite(given)
    kept = None if measured.all() else measured
    base = rolling_baseline(s, fps, baseline_window_s, baseline_percentile, kept)
    lag = odd_window(smooth_window_seconds(smooth_window_s, fps), fps, minimum=5)
    noise, level = smoothed_noise(s, fps, lag, noise_window_s, kept)
    return Prepared(raw, s, base, noise, fps, level, kept)


_COLOUR_Q = (10.0, 30.0)  # percentiles of the lower side: transients rarely reach below them
_COLOUR_Z = 0.7576  # Phi^-1(0.30) - Phi^-1(0.10): their distance for Gaussian noise, in SDs
_COLOUR_FRAMES = 4000  # a strided sample is enough for two percentiles


def noise_colour(prep: Prepared) -> np.ndarray:
    """Per neuron: the spread of the baseline-subtracted smoothed trace over its lag noise.

    About 1 for white noise, raw or smoothed; larger when the noise is slower than the
    smoothing window, as pink (1/f) noise, neuropil wander or a wavelet-denoised trace are:
    their slow excursions are many lag-noise units high and pass an SNR test although nothing
    happened. The spread comes from the 10th-30th percentiles (the lower side, which
    transients hardly touch, so an active neuron is not penalised), on recorded frames only.
    """
    step = max(1, prep.smooth.shape[1] // _COLOUR_FRAMES)
    r = prep.smooth[:, ::step] - prep.base[:, ::step]
    if prep.measured is None:
        lo, hi = np.percentile(r, _COLOUR_Q, axis=1)
        level = np.median(prep.noise[:, ::step], axis=1)
    else:  # (the noise in a gap is no noise of the trace: a lost neuron's tail is most of it)
        lo, hi = np.nanpercentile(np.where(prep.measured[:, ::step], r, np.nan), _COLOUR_Q, axis=1)
        level = np.nanmedian(np.where(prep.measured[:, ::step], prep.noise[:, ::step], np.nan), 1)
    return np.where(level > 0, (hi - lo) / _COLOUR_Z / np.maximum(level, _TINY), 1.0)


def check_length(n_frames: int) -> None:
    """InputError when traces are too short to detect transients in (`MIN_FRAMES`)."""
    if n_frames < MIN_FRAMES:
        raise InputError(
            f"transient detection needs at least {MIN_FRAMES} frames per trace; these traces "
            f"have {n_frames}"
        )


def neuron_ids_for(neuron_ids, n: int) -> np.ndarray:
    """The ids of n traces: the given ones (checked against n), else 0..n-1."""
    ids = np.arange(n) if neuron_ids is None else np.asarray(neuron_ids)
    if ids.shape != (n,):
        raise InputError(f"got {ids.size} neuron ids for {n} traces")
    return ids
