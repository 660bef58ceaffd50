"""Transient detection: CalTrig-style rules (peak, interval, SNR) and classical k-sigma.

Both methods return the same table (one row per transient, `TRANSIENT_COLUMNS`), so figures,
curation and export never care which detector produced a row. Peaks come from one
`scipy.signal.find_peaks` call per neuron; everything else is vectorised over neurons.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

from napari_catrack.core.signals.baselines import rolling_baseline
from napari_catrack.core.signals.denoise import smooth
from napari_catrack.core.signals.nan import fill_nan
from napari_catrack.core.signals.noise import robust_sd, rolling_noise
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
METHODS = ("rules", "ksigma", "model")


@dataclass
class Prepared:
    """Per-neuron arrays (N, T) shared by detection and features."""

    raw: np.ndarray  # NaN-filled dF/F
    smooth: np.ndarray  # Savitzky-Golay smoothed dF/F
    base: np.ndarray  # slow baseline of the smoothed trace
    noise: np.ndarray  # rolling residual noise (raw - smoothed)
    fps: float
    noise_level: np.ndarray  # one robust residual-noise SD per neuron
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


def prepare(
    dff: np.ndarray,
    fps: float,
    smooth_window_s: float | str = "auto",
    noise_window_s: float | None = 10.0,
    baseline_window_s: float = 30.0,
    baseline_percentile: float = 20.0,
) -> Prepared:
    """Smooth, baseline and noise once; detection and features reuse them.

    `smooth_window_s` is in seconds, or "auto": 0.2 s but at most 13 frames, so the SNR
    thresholds keep the meaning they were tuned with at high frame rates (see
    `core.signals.denoise`).
    """
    fps = check_fps(fps)
    given = as_matrix(dff)
    raw = fill_nan(given)
    s = smooth(raw, fps, smooth_window_s)
    base = rolling_baseline(s, fps, baseline_window_s, baseline_percentile)
    noise, level = rolling_noise(raw, s, fps, noise_window_s, np.isfinite(given))
    measured = np.isfinite(given)
    return Prepared(raw, s, base, noise, fps, level, None if measured.all() else measured)


def _walk(
    s: np.ndarray,
    peaks: np.ndarray,
    limit: np.ndarray,
    tol: np.ndarray,
    span: int,
    direction: int,
    frac: float,
):
    """Onsets (direction -1) or ends (+1) of peaks on the flat array `s`, all at once.

    For each peak, the frames from the peak towards `limit` (at most `span` away) are
    gathered into one row of a matrix. Walking away from the peak, the trough is the lowest
    point before the trace climbs back more than `tol` above its running minimum (so a
    noise ripple does not stop the walk, and an earlier event does); the bound is the frame
    nearest the peak that is within `frac` of the peak-to-trough drop.
    """
    out = np.empty_like(peaks)
    chunk = max(1, 2_000_000 // (span + 1))
    k = np.arange(span + 1)
    for c in range(0, peaks.size, chunk):
        p, lim = peaks[c : c + chunk, None], limit[c : c + chunk, None]
        idx = p + direction * k
        valid = idx * direction <= lim * direction
        vals = np.where(valid, s[np.where(valid, idx, p)], np.inf)
        climbed = (vals - np.minimum.accumulate(vals, axis=1) > tol[c : c + chunk, None]) & valid
        stop = np.where(climbed.any(axis=1), np.argmax(climbed, axis=1), span + 1)
        vals = np.where(k < stop[:, None], vals, np.inf)
        tr = np.argmin(vals, axis=1)
        low = vals[np.arange(tr.size), tr]
        level = low + frac * (s[p[:, 0]] - low)
        below = (vals <= level[:, None]) & (k <= tr[:, None])
        out[c : c + chunk] = p[:, 0] + direction * np.argmax(below, axis=1)
    return out


def bounds_flat(
    s: np.ndarray,
    rows: np.ndarray,
    peaks: np.ndarray,
    fps: float,
    onset_fraction: float = 0.1,
    max_rise_s: float = 1.5,
    max_decay_s: float = 5.0,
    noise_level: np.ndarray | None = None,
    walk_tolerance: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Onset and end of every peak (row, frame) of the smoothed traces `s` (N, T).

    Onset: walk back from the peak (at most to the previous peak or `max_rise_s`) to the
    trough, stopping early once the trace has climbed `walk_tolerance` x `noise_level[row]`
    above its running minimum; then forward to the last frame still within `onset_fraction`
    of the rise above that trough.
    End: the same rule mirrored on the decay, stopping at the next peak's trough, so
    compound transients split at the valley between their peaks. Peaks must be sorted by
    (row, frame). Vectorised over all peaks of all neurons.
    """
    _n, t = s.shape
    rows = np.asarray(rows, np.int64)
    peaks = np.asarray(peaks, np.int64)
    if peaks.size == 0:
        return peaks.copy(), peaks.copy()
    g = rows * t + peaks  # flat index
    same_prev = np.r_[False, rows[1:] == rows[:-1]]
    same_next = np.r_[rows[1:] == rows[:-1], False]
    prev = np.where(same_prev, np.r_[0, g[:-1]], rows * t)
    nxt = np.where(same_next, np.r_[g[1:], 0], rows * t + t - 1)
    rise = max(1, round(max_rise_s * fps))
    decay = max(1, round(max_decay_s * fps))
    flat = s.ravel()
    tol = np.full(peaks.size, np.inf) if noise_level is None else walk_tolerance * noise_level[rows]
    on = _walk(flat, g, np.maximum(prev, g - rise), tol, rise, -1, onset_fraction)
    en = _walk(flat, g, np.minimum(nxt, g + decay), tol, decay, 1, onset_fraction)
    return on - rows * t, en - rows * t


def bounds_from_peaks(
    s: np.ndarray,
    peaks: np.ndarray,
    fps: float,
    onset_fraction: float = 0.1,
    max_rise_s: float = 1.5,
    max_decay_s: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """`bounds_flat` for the sorted peaks of one smoothed trace."""
    peaks = np.asarray(peaks, np.int64)
    return bounds_flat(
        np.asarray(s, float)[None],
        np.zeros_like(peaks),
        peaks,
        fps,
        onset_fraction,
        max_rise_s,
        max_decay_s,
    )


def _table(
    prep: Prepared,
    neuron_ids: np.ndarray,
    peaks: list[np.ndarray],
    source: str,
    features: bool,
    onset_fraction: float = 0.1,
) -> pd.DataFrame:
    """Transient table from the per-neuron peak lists (bounds found here, all at once)."""
    idx = np.concatenate([np.full(p.size, i, np.int64) for i, p in enumerate(peaks)])
    peak = np.concatenate(peaks).astype(np.int64)
    start, end = bounds_flat(prep.smooth, idx, peak, prep.fps, onset_fraction)
    return _table_from_bounds(prep, neuron_ids, idx, start, peak, end, source, features)


def _table_from_bounds(
    prep: Prepared,
    neuron_ids: np.ndarray,
    rows: np.ndarray,
    start: np.ndarray,
    peak: np.ndarray,
    end: np.ndarray,
    source: str,
    features: bool,
) -> pd.DataFrame:
    """The shared transient table of every detector, from (row, start, peak, end) arrays."""
    rows = np.asarray(rows, np.int64)
    peak = np.asarray(peak, np.int64)
    table = pd.DataFrame(
        {
            "transient_id": np.arange(rows.size, dtype=np.int64),
            "neuron_id": neuron_ids[rows],
            "start_frame": np.asarray(start, np.int64),
            "peak_frame": peak,
            "end_frame": np.asarray(end, np.int64),
            "peak_amplitude": prep.smooth[rows, peak] - prep.base[rows, peak],
            "snr": prep.snr_at(rows, peak),
            "source": source,
        }
    )
    if features:
        from .features import add_features

        table = add_features(table, prep, neuron_ids)
    return table


def _ids(neuron_ids, n: int) -> np.ndarray:
    ids = np.arange(n) if neuron_ids is None else np.asarray(neuron_ids)
    if ids.shape != (n,):
        raise InputError(f"got {ids.size} neuron ids for {n} traces")
    return ids


def detect_rules(
    dff: np.ndarray,
    fps: float,
    neuron_ids: np.ndarray | None = None,
    *,
    peak_threshold: float = 0.0,
    min_interval_s: float = 0.3,
    snr_threshold: float = 3.0,
    prominence_snr: float = 3.0,
    smooth_window_s: float | str = "auto",
    noise_window_s: float | None = 10.0,
    baseline_window_s: float = 30.0,
    onset_fraction: float = 0.1,
    features: bool = True,
    prepared: Prepared | None = None,
) -> pd.DataFrame:
    """Parameter-based detection (CalTrig style) on smoothed dF/F.

    A candidate peak is kept when its height above baseline is at least `peak_threshold`
    (dF/F) and its SNR (smoothed dF/F over residual noise) at least `snr_threshold`, it is
    at least `min_interval_s` from a higher kept peak, and it stands `prominence_snr` noise
    units above the valleys around it (so noise ripples on a transient are not split off).
    `prepared` reuses smoothing/baseline/noise already computed with `prepare`;
    `smooth_window_s` takes seconds or "auto" (0.2 s, at most 13 frames).
    """
    prep = prepared or prepare(dff, fps, smooth_window_s, noise_window_s, baseline_window_s)
    ids = _ids(neuron_ids, prep.raw.shape[0])
    dist = max(1, round(min_interval_s * prep.fps))
    height = prep.base + np.maximum(peak_threshold, snr_threshold * prep.noise)
    prom = prominence_snr * prep.noise_level
    peaks = [
        find_peaks(prep.smooth[i], height=height[i], distance=dist, prominence=prom[i])[0]
        for i in range(prep.raw.shape[0])
    ]
    return _table(prep, ids, peaks, "rules", features, onset_fraction)


def detect_ksigma(
    dff: np.ndarray,
    fps: float,
    neuron_ids: np.ndarray | None = None,
    *,
    k: float = 2.5,
    abs_threshold: float = 0.0,
    split_k: float = 3.0,
    min_duration_s: float = 0.1,
    smooth_window_s: float | str = 0.2,
    baseline_window_s: float = 30.0,
    baseline_percentile: float = 50.0,
    onset_fraction: float = 0.1,
    features: bool = True,
) -> pd.DataFrame:
    """Classical k-sigma events: cleaned signal above k robust SDs (MAD) over baseline.

    The cleaned signal is the smoothed dF/F minus a rolling-percentile baseline (drift
    removal); sigma is its MAD-based SD. `abs_threshold` (dF/F) adds a floor so a nearly
    silent neuron's tiny sigma does not turn noise into events. An event must stay above
    threshold for `min_duration_s`; peaks inside one event that are separated by a valley
    deeper than `split_k` sigma are kept as separate (compound) transients. Its sigma is
    measured on the smoothed trace itself, so the fixed 0.2 s window stays the default here
    ("auto", which serves the residual-noise SNR of `detect_rules`, is accepted too).
    """
    prep = prepare(dff, fps, smooth_window_s, None, baseline_window_s, baseline_percentile)
    ids = _ids(neuron_ids, prep.raw.shape[0])
    r = prep.smooth - prep.base
    # sigma from recorded frames only: interpolated gaps are flat and would shrink it
    recorded = r if prep.measured is None else np.where(prep.measured, r, np.nan)
    sd = np.maximum(robust_sd(recorded), np.finfo(float).eps)
    thr = np.maximum(k * sd, abs_threshold)
    above = r > thr[:, None]
    min_len = max(1, round(min_duration_s * prep.fps))
    # label each supra-threshold stretch (all rows at once) and keep the long ones
    starts = above & ~np.pad(above[:, :-1], ((0, 0), (1, 0)))
    labels = np.cumsum(starts.ravel()).reshape(above.shape) * above
    long_enough = above & (np.bincount(labels.ravel())[labels] >= min_len)
    peaks = []
    for i in range(prep.raw.shape[0]):
        p = find_peaks(prep.smooth[i], height=prep.base[i] + thr[i], prominence=split_k * sd[i])[0]
        peaks.append(p[long_enough[i, p]])
    return _table(prep, ids, peaks, "ksigma", features, onset_fraction)


def detect_transients(
    dff: np.ndarray, fps: float, method: str = "rules", neuron_ids=None, **params
) -> pd.DataFrame:
    """Dispatch by method name: "rules", "ksigma", or "model" (a trained detector: pass
    `model=` a `TransientDetector` or a path, or nothing for the shipped one)."""
    if method == "rules":
        return detect_rules(dff, fps, neuron_ids, **params)
    if method == "ksigma":
        return detect_ksigma(dff, fps, neuron_ids, **params)
    if method == "model":
        from .learned import resolve_detector

        detector = resolve_detector(params.pop("model", None))
        return detector.detect(dff, fps, neuron_ids, **params)
    raise InputError(
        f"unknown transient method {method!r}; choose {', '.join(repr(m) for m in METHODS)}"
    )
