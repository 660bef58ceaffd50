"""Transient detection: CalTrig-style rules (peak, interval, SNR), classical k-sigma, and the
dispatch by method name (trained detectors live in `learned.py`).

Every method returns the same table (`results.py`). Peaks come from one `scipy.signal.find_peaks`
call per neuron; everything else is vectorised over neurons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

from napari_catrack.core.signals.noise import robust_sd
from napari_catrack.errors import InputError

from .learned import resolve_detector
from .prepare import METHODS, Prepared, neuron_ids_for, prepare
from .results import table_from_peaks


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
    ids = neuron_ids_for(neuron_ids, prep.raw.shape[0])
    dist = max(1, round(min_interval_s * prep.fps))
    height = prep.base + np.maximum(peak_threshold, snr_threshold * prep.noise)
    prom = prominence_snr * prep.noise_level
    peaks = [
        find_peaks(prep.smooth[i], height=height[i], distance=dist, prominence=prom[i])[0]
        for i in range(prep.raw.shape[0])
    ]
    return table_from_peaks(prep, ids, peaks, "rules", features, onset_fraction)


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
    ids = neuron_ids_for(neuron_ids, prep.raw.shape[0])
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
    return table_from_peaks(prep, ids, peaks, "ksigma", features, onset_fraction)


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
        detector = resolve_detector(params.pop("model", None))
        return detector.detect(dff, fps, neuron_ids, **params)
    raise InputError(
        f"unknown transient method {method!r}; choose {', '.join(repr(m) for m in METHODS)}"
    )
