"""The transient table every detector returns: one row per transient with the shared columns
(`CORE_COLUMNS`) and, by default, the features (`features.add_features`), so figures, curation
and export never care which detector produced a row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bounds import bounds_flat
from .features import add_features
from .prepare import Prepared


def table_from_peaks(
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
    return table_from_bounds(prep, neuron_ids, idx, start, peak, end, source, features)


def table_from_bounds(
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
    if prep.measured is not None and rows.size:
        rows, start, peak, end = within_measured(prep.measured, rows, start, peak, end)
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
        table = add_features(table, prep, neuron_ids)
    return table


def within_measured(
    measured: np.ndarray, rows: np.ndarray, start, peak: np.ndarray, end
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Transients on measured frames only: a peak on a NaN frame (a missing sample, e.g. a lost
    neuron's, which detection saw as a straight line filled in) is no transient and is dropped;
    the others' onset and end are clipped to the stretch of measured frames around their peak,
    so no transient reaches into (or across) a gap where nothing was seen."""
    ok = measured[rows, peak]
    rows, peak = rows[ok], peak[ok]
    start, end = np.asarray(start, np.int64)[ok], np.asarray(end, np.int64)[ok]
    n_frames = measured.shape[1]
    idx = np.arange(n_frames)
    last_gap = np.maximum.accumulate(np.where(measured, -1, idx), axis=1)
    next_gap = np.minimum.accumulate(np.where(measured, n_frames, idx)[:, ::-1], axis=1)[:, ::-1]
    start = np.maximum(start, last_gap[rows, peak] + 1)
    end = np.minimum(end, next_gap[rows, peak] - 1)
    return rows, start, peak, end
