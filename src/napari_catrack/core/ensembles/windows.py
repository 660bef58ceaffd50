"""Coactivity in a sliding window, its coactivity peaks, and their circular-shift null.

Why a sliding window: with fixed bins, neurons that fire together but whose onsets fall on either
side of a bin edge (a frame of onset jitter is enough) are split into two bins of half the
count, and a real co-activation can stay below threshold in both. Here every window position is
counted: `coactivity[t]` is the number of distinct neurons with an event in frames
[t, t + w), for every start t = 0 .. T - w (windows that would run past the end are not used).
An ensemble event is a coactivity *peak*: a window whose count is larger than that of the w - 1
windows before it and at least that of the w - 1 after it. Two peaks are therefore at least w
frames apart, so their windows never share an event: each onset belongs to one event at most,
as with bins.

The null applies the same operator to circularly shifted trains (each neuron by its own random
offset; rates and autocorrelation kept, alignment between neurons destroyed), so the threshold
is calibrated on what is actually tested: peaks, not all windows (a peak is the best of 2w - 1
overlapping windows and runs higher than a bin). "pooled": the smallest count h such that
shuffled data hold at most (1 - percentile/100) peaks above h per w frames of recording -- the
same chance-event rate per unit time that the pooled bin null promises per bin; "max": the
percentile of each shuffle's largest window count (family-wise).

Counting without a raster: events per window are a cumulative sum of one histogram of event
frames (all shuffles of a chunk at once, one `np.bincount`). A neuron must count once per
window, so an event closer than w frames to its cyclic predecessor (gap g < w) is taken off the
window starts [x - w + 1, x - g] that hold both; a circular shift keeps every gap, so these
corrections are known before shuffling. Windows that would wrap past the end of the recording
(starts beyond T - w) are never used, so a predecessor across the wrap needs no correction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_catrack.core.ensembles.null import (
    _predecessors,
    run_in_chunks,
    shift_offsets,
    shifter,
)
from napari_catrack.core.ensembles.trains import EventTrains
from napari_catrack.errors import InputError


def window_frames(window_s: float, fps: float, min_frames: int = 3) -> int:
    """Window width in whole frames: `window_s` at `fps`, but never under `min_frames`.

    Onset times are known to about a frame whatever the frame rate, so a tolerance shorter than
    ±1 frame (3 frames) would split co-activations again at low frame rates.
    """
    if not fps or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive number; got {fps}")
    if not np.isfinite(window_s) or window_s <= 0:
        raise InputError(f"the coactivity window must be positive; got {window_s} s")
    return max(int(min_frames), round(window_s * fps), 1)


def n_windows(n_frames: int, width: int) -> int:
    """Window starts 0 .. T - w (none when the window is longer than the recording)."""
    return max(n_frames - width + 1, 0)


def _cover_lengths(trains: EventTrains, width: int) -> np.ndarray:
    """Per event, how many window starts it adds to its neuron's coverage (disjoint intervals)."""
    k = np.arange(trains.n_events)
    pred = _predecessors(trains)
    gap = np.where(
        pred == k, trains.n_frames, (trains.frame - trains.frame[pred]) % trains.n_frames
    )
    return np.minimum(gap, width).astype(np.int64)


def shifted_cover_lengths(trains: EventTrains, x: np.ndarray, width: int) -> np.ndarray:
    """`_cover_lengths` of each shifted copy (rows of `x`, S x E frames): with an observation
    mask a shift along the observed frames does not keep the gaps between a neuron's events, so
    they are measured per copy (the cyclic order of a neuron's events is kept); without one,
    the shared 1-D lengths."""
    if trains.observed is None:
        return _cover_lengths(trains, width)
    k = np.arange(trains.n_events)
    pred = _predecessors(trains)
    gap = (x - x[:, pred]) % trains.n_frames
    return np.where(pred == k, width, np.minimum(gap, width)).astype(np.int64)


def _counts(frames: np.ndarray, lengths: np.ndarray, n_frames: int, width: int) -> np.ndarray:
    """(S, E) event frames of S (shifted) copies -> (S, T - w + 1) distinct-neuron counts.

    Events per window come from one histogram and its cumulative sum; an event closer than w
    frames to its neuron's previous one (`lengths` < w, usually few) is then taken off the
    windows that hold both, so each neuron counts once. `lengths` is (E,) shared by every copy,
    or (S, E) per copy (shifts along observed frames, `shifted_cover_lengths`).
    """
    s, nw = frames.shape[0], n_windows(n_frames, width)
    size = s * (n_frames + 1)
    row = (np.arange(s, dtype=np.int64) * (n_frames + 1))[:, None]
    per_frame = np.bincount((frames + 1 + row).ravel(), minlength=size)
    # int32 halves the memory traffic of the sums (counts are at most the number of neurons)
    below = np.cumsum(per_frame.reshape(s, n_frames + 1), axis=1, dtype=np.int32)
    counts = below[:, width : width + nw] - below[:, :nw]
    per_copy = lengths.ndim == 2
    close = np.flatnonzero((lengths < width).any(axis=0) if per_copy else lengths < width)
    if len(close):
        x = frames[:, close]
        lo = np.maximum(x - width + 1, 0)  # windows [lo, hi) hold the event and its predecessor
        hi = x - (lengths[:, close] if per_copy else lengths[close]) + 1
        ok = hi > lo
        r = np.broadcast_to(row, x.shape)
        twice = np.bincount((lo + r)[ok], minlength=size) - np.bincount(
            (hi + r)[ok], minlength=size
        )
        counts -= np.cumsum(twice.reshape(s, n_frames + 1), axis=1, dtype=np.int32)[:, :nw]
    return counts


def window_coactivity(trains: EventTrains, width: int) -> np.ndarray:
    """Distinct neurons with an event in frames [t, t + width), for t = 0 .. T - width."""
    if trains.n_events == 0:
        return np.zeros(n_windows(trains.n_frames, width), dtype=np.int64)
    return _counts(trains.frame[None], _cover_lengths(trains, width), trains.n_frames, width)[0]


def coactivity_peaks(counts: np.ndarray, width: int) -> np.ndarray:
    """Boolean mask of peaks along the last axis: above the w - 1 counts before, at least the
    w - 1 after, and at least one neuron (plateaus peak at their first window)."""
    c = np.atleast_2d(counts)
    before = np.full(c.shape, -1, dtype=c.dtype)
    after = np.full(c.shape, -1, dtype=c.dtype)
    for d in range(1, min(width, c.shape[-1])):
        np.maximum(before[:, d:], c[:, :-d], out=before[:, d:])
        np.maximum(after[:, :-d], c[:, d:], out=after[:, :-d])
    peak = (c > before) & (c >= after) & (c > 0)
    return peak.reshape(np.shape(counts))


@dataclass(frozen=True)
class WindowNull:
    """Circular-shift null of window coactivity: how high shuffled peaks and maxima run."""

    peak_hist: np.ndarray  # peak_hist[c] = peaks of count c, summed over shuffles
    maxima: np.ndarray  # (n_shuffles,) each shuffle's largest window count
    offsets: np.ndarray  # (n_shuffles, n_neurons) the circular shifts used (frames)
    width: int
    n_frames: int

    @property
    def n_shuffles(self) -> int:
        return len(self.maxima)

    def peaks_above(self) -> np.ndarray:
        """[h] = mean number of peaks per shuffle with a count above h."""
        tail = np.cumsum(self.peak_hist[::-1])[::-1] / max(self.n_shuffles, 1)
        return np.append(tail[1:], 0.0)

    def threshold(self, percentile: float, null: str = "pooled") -> int:
        """Events are peaks with a count above this (module docstring for both rules)."""
        if null == "max":
            return int(np.percentile(self.maxima, percentile, method="inverted_cdf"))
        allowed = (1.0 - percentile / 100.0) * n_windows(self.n_frames, self.width) / self.width
        above = self.peaks_above()
        return int(np.argmax(above <= allowed + 1e-12))

    def pmf(self) -> np.ndarray:
        """Distribution of shuffled peak heights (index = neuron count), for figures."""
        total = self.peak_hist.sum()
        return self.peak_hist / total if total else self.peak_hist.astype(float)


def window_null(
    trains: EventTrains,
    width: int,
    n_shuffles: int = 1000,
    seed: int | None = 0,
    *,
    chunk: int = 16,
    n_threads: int | None = None,
    progress=None,
    cancel=None,
) -> WindowNull:
    """Peaks and maxima of window coactivity in `n_shuffles` circular shifts of the trains."""
    n_frames, n = trains.n_frames, trains.n_neurons
    offsets = shift_offsets(trains, n_shuffles, seed)
    hist = np.zeros(n + 1, dtype=np.int64)
    maxima = np.zeros(n_shuffles, dtype=np.int64)
    if trains.n_events == 0 or n_windows(n_frames, width) == 0:
        return WindowNull(hist, maxima, offsets, width, n_frames)

    shift = shifter(trains)

    def run(s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
        x = shift(offsets[s0:s1])
        counts = _counts(x, shifted_cover_lengths(trains, x, width), n_frames, width)
        peaks = coactivity_peaks(counts, width)
        return np.bincount(counts[peaks], minlength=n + 1), counts.max(axis=1)

    run_in_chunks(run, hist, maxima, chunk, n_threads, progress, cancel)
    return WindowNull(hist, maxima, offsets, width, n_frames)


def window_events(
    trains: EventTrains, width: int, threshold: int, min_neurons: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ensemble events: peaks above `threshold` (and of at least `min_neurons`).

    Returns (window starts, coactivity of every window, participation (events, neurons)).
    """
    counts = window_coactivity(trains, width)
    starts = np.flatnonzero(
        coactivity_peaks(counts, width) & (counts > threshold) & (counts >= min_neurons)
    )
    part = np.zeros((len(starts), trains.n_neurons), dtype=bool)
    if len(starts):
        row = np.full(trains.n_frames, -1, dtype=np.int64)
        for i, s in enumerate(starts):  # windows of peaks never overlap
            row[s : s + width] = i
        hit = row[trains.frame]
        ok = hit >= 0
        part[hit[ok], trains.neuron[ok]] = True
    return starts, counts, part
