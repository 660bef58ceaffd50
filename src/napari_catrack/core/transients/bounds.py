"""Onset and end of each transient peak: walk away from the peak to the trough, then back to
the last frame within a fraction of the rise (or decay); vectorised over all peaks at once.
"""

from __future__ import annotations

import numpy as np


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
