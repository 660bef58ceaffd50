"""Transient detection: CalTrig-style rules (peak, interval, SNR), classical k-sigma, and the
dispatch by method name (trained detectors live in `learned.py`).

Every method returns the same table (`results.py`). Peaks come from one `scipy.signal.find_peaks`
call per neuron; everything else is vectorised over neurons. The rules' SNR is in units of the
smoothed trace's own noise (`prepare.py`), so it means the same on raw and denoised traces, and a
transient must RISE: climb `rise_snr` noise units within `rise_window_s` before its peak, which
slow wander (pink noise, a drifting baseline, the slow residue of wavelet shrinkage) does not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import minimum_filter1d
from scipy.signal import find_peaks

from napari_catrack.core.signals.noise import robust_sd
from napari_catrack.errors import InputError

from .learned import resolve_detector
from .params import METHODS, TransientParams
from .prepare import Prepared, neuron_ids_for, noise_colour, prepare
from .results import table_from_peaks


def detect_rules(
    dff: np.ndarray,
    fps: float,
    neuron_ids: np.ndarray | None = None,
    params: TransientParams | None = None,
    *,
    features: bool = True,
    prepared: Prepared | None = None,
    **changes: Any,
) -> pd.DataFrame:
    """Parameter-based detection (CalTrig style) on smoothed dF/F.

    `params`: a `TransientParams` (keyword `changes` override single values). A candidate peak
    is kept when its height above baseline is at least `peak_threshold` (dF/F) and its SNR
    (smoothed dF/F over the smoothed trace's noise) at least `snr_threshold` times the trace's
    noise colour (`prepare.noise_colour`, 1 for white noise, capped at `colour_max`), it is at least
    `min_interval_s` from a higher kept peak, it stands `prominence_snr` noise units above the
    valleys around it (so noise ripples on a transient are not split off), and the trace rose
    `rise_snr` noise units within `rise_window_s` before it. `prepared` reuses
    smoothing/baseline/noise already computed with `prepare`; `smooth_window_s` takes seconds or
    "auto" (0.2 s, at most 13 frames).
    """
    p = TransientParams.resolve(params, **changes)
    prep = prepared or prepare(dff, fps, p.smooth_window_s, p.noise_window_s, p.baseline_window_s)
    ids = neuron_ids_for(neuron_ids, prep.raw.shape[0])
    dist = max(1, round(p.min_interval_s * prep.fps))
    # slow (pink) noise: the SNR threshold scales with the trace's noise colour (>= 1)
    colour = np.clip(noise_colour(prep), 1.0, p.colour_max)[:, None]
    height = prep.base + np.maximum(p.peak_threshold, p.snr_threshold * colour * prep.noise)
    prom = p.prominence_snr * prep.noise_level
    w = max(1, round(p.rise_window_s * prep.fps))
    # lowest point of the `w` frames before each frame (and the frame itself)
    low = minimum_filter1d(prep.smooth, w + 1, axis=1, origin=w // 2, mode="nearest")
    peaks = []
    for i in range(prep.raw.shape[0]):
        pk = find_peaks(prep.smooth[i], height=height[i], distance=dist, prominence=prom[i])[0]
        peaks.append(pk[prep.smooth[i, pk] - low[i, pk] >= p.rise_snr * prep.noise[i, pk]])
    return table_from_peaks(prep, ids, peaks, "rules", features, p.onset_fraction)


def detect_ksigma(
    dff: np.ndarray,
    fps: float,
    neuron_ids: np.ndarray | None = None,
    params: TransientParams | None = None,
    *,
    features: bool = True,
    **changes: Any,
) -> pd.DataFrame:
    """Classical k-sigma events: cleaned signal above k robust SDs (MAD) over baseline.

    `params`: a `TransientParams` (keyword `changes` override single values). The cleaned
    signal is the smoothed dF/F minus a rolling-percentile (`baseline_percentile`) baseline
    (drift removal); sigma is its MAD-based SD. `abs_threshold` (dF/F) adds a floor so a nearly
    silent neuron's tiny sigma does not turn noise into events. An event must stay above
    threshold for `min_duration_s`; peaks inside one event that are separated by a valley
    deeper than `split_k` sigma are kept as separate (compound) transients. Its sigma is
    measured on the smoothed trace itself, so "auto" smoothing is a fixed 0.2 s here.
    """
    p = TransientParams.resolve(params, **changes)
    window = p.ksigma_smooth_window_s()
    prep = prepare(dff, fps, window, None, p.baseline_window_s, p.baseline_percentile)
    ids = neuron_ids_for(neuron_ids, prep.raw.shape[0])
    r = prep.smooth - prep.base
    # sigma from recorded frames only: interpolated gaps are flat and would shrink it
    recorded = r if prep.measured is None else np.where(prep.measured, r, np.nan)
    sd = np.maximum(robust_sd(recorded), np.finfo(float).eps)
    thr = np.maximum(p.k * sd, p.abs_threshold)
    above = r > thr[:, None]
    min_len = max(1, round(p.min_duration_s * prep.fps))
    # label each supra-threshold stretch (all rows at once) and keep the long ones
    starts = above & ~np.pad(above[:, :-1], ((0, 0), (1, 0)))
    labels = np.cumsum(starts.ravel()).reshape(above.shape) * above
    long_enough = above & (np.bincount(labels.ravel())[labels] >= min_len)
    peaks = []
    for i in range(prep.raw.shape[0]):
        pk = find_peaks(prep.smooth[i], height=prep.base[i] + thr[i], prominence=p.split_k * sd[i])
        peaks.append(pk[0][long_enough[i, pk[0]]])
    return table_from_peaks(prep, ids, peaks, "ksigma", features, p.onset_fraction)


def detect_transients(
    dff: np.ndarray,
    fps: float,
    method: str | None = None,
    neuron_ids=None,
    params: TransientParams | None = None,
    *,
    features: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    chunk_rows: int = 16,
    **changes: Any,
) -> pd.DataFrame:
    """Dispatch by method (`method`, else `params.method`): "rules", "ksigma", or "model" (a
    trained detector: `model` a `TransientDetector` or a file, or None for the shipped one).

    With `progress(done, total, message)` or `cancel()` the cells are detected `chunk_rows` at
    a time (every detector treats each cell on its own, so the table is the same), reporting
    after each chunk and raising `errors.Cancelled` between chunks when `cancel()` is True. The
    trained detector is loaded once and batches the windows of a chunk's cells together.
    """
    if method is not None and method not in METHODS:
        raise InputError(
            f"unknown transient method {method!r}; choose {', '.join(repr(m) for m in METHODS)}"
        )
    if method is not None:
        changes["method"] = method
    p = TransientParams.resolve(params, **changes)
    dff, neuron_ids = _without_lost_cells(dff, neuron_ids)
    detector = resolve_detector(p.model) if p.method == "model" else None  # loaded once
    if progress is None and cancel is None:
        return _detect_all(dff, fps, neuron_ids, p, features, detector)
    from napari_catrack.errors import check_cancelled

    dff = np.atleast_2d(np.asarray(dff, dtype=float))
    ids = np.arange(dff.shape[0]) if neuron_ids is None else np.asarray(neuron_ids)
    parts, n = [], dff.shape[0]
    for start in range(0, max(n, 1), max(1, int(chunk_rows))):
        check_cancelled(cancel, "transient detection")
        stop = min(start + chunk_rows, n)
        parts.append(_detect_all(dff[start:stop], fps, ids[start:stop], p, features, detector))
        if progress is not None:
            progress(stop, n, f"{stop} of {n} cells")
    offset = 0
    for part in parts:  # ids in row order over all cells, as one call numbers them
        part["transient_id"] = part["transient_id"].to_numpy(np.int64) + offset
        offset += len(part)
    kept = [part for part in parts if len(part)] or parts[:1]
    table = pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0]
    if features:  # the feature table's order (see features.add_features)
        table = table.sort_values(["neuron_id", "peak_frame"], kind="stable")
    return table.reset_index(drop=True)


def _without_lost_cells(dff, neuron_ids):
    """Drop the cells with no finite dF/F at all (a track lost on background gives F0 <= 0, so
    dF/F is NaN throughout), with a warning naming them: they have no transients, and one such
    cell no longer fails the whole recording. When every cell is lost, `prepare` refuses."""
    x = np.asarray(dff, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] == 0:
        return dff, neuron_ids
    lost = ~np.isfinite(x).any(axis=1)
    if not lost.any() or lost.all():
        return dff, neuron_ids
    ids, kept, note = without_lost(neuron_ids_for(neuron_ids, x.shape[0]), x)
    warnings.warn(note, RuntimeWarning, stacklevel=3)
    return kept, ids


def without_lost(ids, dff: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """(ids, values, note): the neurons whose values are all NaN (a track lost on background)
    left out, and the note naming them (`lost_cells_message`; "" if none). The one split
    `catrack transients`, the batch and the transients widget make."""
    ids = np.asarray(ids)
    keep = np.isfinite(dff).any(axis=1)
    note = "" if keep.all() else lost_cells_message(ids[~keep], len(ids))
    return ids[keep], dff[keep], note


def lost_cells_message(lost_ids, n_cells: int) -> str:
    """What `catrack transients`, the batch and the transients widget say about the neurons
    they leave out because their dF/F has no finite value (the first 8 named)."""
    lost_ids = list(lost_ids)
    names = ", ".join(str(i) for i in lost_ids[:8]) + (", ..." if len(lost_ids) > 8 else "")
    return (
        f"{len(lost_ids)} of {n_cells} neuron(s) have no finite dF/F values (neuron_id "
        f"{names}): no transients detected in them"
    )


def _detect_all(dff, fps, neuron_ids, p: TransientParams, features: bool, detector=None):
    if p.method == "rules":
        return detect_rules(dff, fps, neuron_ids, p, features=features)
    if p.method == "ksigma":
        return detect_ksigma(dff, fps, neuron_ids, p, features=features)
    return detector.detect(
        dff,
        fps,
        neuron_ids,
        threshold=p.threshold,
        min_gap_s=p.min_gap_s,
        onset_fraction=p.onset_fraction,
        smooth_window_s=p.smooth_window_s,
        baseline_window_s=p.baseline_window_s,
        features=features,
    )
