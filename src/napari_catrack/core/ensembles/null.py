"""Coactivity and its circular-shift null distribution.

Coactivity is the number of *distinct* neurons with an event in each time bin. The null shifts
each neuron's event train circularly by its own random offset, which keeps every neuron's rate and
autocorrelation but destroys their alignment with each other.

Speed comes from never building a dense raster: per shuffle we add offsets (mod T) to the event
frames, bin them, and count with one `np.bincount` over a flattened (shuffle, bin) index. Two
events of one neuron in the same bin must count once; because a circular shift keeps the cyclic
order of a neuron's events, an event is a duplicate exactly when its cyclic predecessor lands in
the same bin *and* is not on the other side of the wrap. Only events closer than one bin to their
predecessor can ever be duplicates, so only those are checked.

The pooled null also has an exact form: for any fixed bin of width w a uniform circular offset
shows neuron i an event with probability p_i(w) (the fraction of circular windows of width w that
contain one of its events), independently across neurons, so the count of active neurons is
Poisson-binomial. The shuffle histogram converges to it; `analytic_null_pmf` computes it directly.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from napari_catrack.core.ensembles.trains import EventTrains
from napari_catrack.errors import InputError, check_cancelled


def bin_frames(bin_s: float, fps: float) -> int:
    """Bin width in whole frames (at least one)."""
    if not fps or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive number; got {fps}")
    if not np.isfinite(bin_s) or bin_s <= 0:
        raise InputError(f"the bin width must be positive; got {bin_s} s")
    return max(1, round(bin_s * fps))


def n_bins(n_frames: int, width: int) -> int:
    """Bins covering the recording; the last one is partial when width does not divide it."""
    return -(-n_frames // width) if n_frames > 0 else 0


def coactivity(trains: EventTrains, width: int) -> np.ndarray:
    """Distinct active neurons per bin."""
    nb = n_bins(trains.n_frames, width)
    b = trains.frame // width
    first = np.ones(len(b), dtype=bool)  # events are sorted by (neuron, frame): runs are bins
    first[1:] = (np.diff(trains.neuron) != 0) | (np.diff(b) != 0)
    return np.bincount(b[first], minlength=nb).astype(np.int64)


def participation(trains: EventTrains, width: int, bins: np.ndarray) -> np.ndarray:
    """Boolean (len(bins), n_neurons): which neurons have an event in each of the given bins."""
    out = np.zeros((len(bins), trains.n_neurons), dtype=bool)
    lookup = np.full(n_bins(trains.n_frames, width), -1, dtype=np.int64)
    lookup[np.asarray(bins, dtype=np.int64)] = np.arange(len(bins))
    row = lookup[trains.frame // width]
    hit = row >= 0
    out[row[hit], trains.neuron[hit]] = True
    return out


def _predecessors(trains: EventTrains) -> np.ndarray:
    """Index of each event's cyclic predecessor within its own neuron (itself if alone)."""
    k = np.arange(trains.n_events)
    pred = k - 1
    starts = np.ones(trains.n_events, dtype=bool)
    starts[1:] = np.diff(trains.neuron) != 0
    ends = np.roll(starts, -1)
    pred[starts] = k[ends]  # the first event of a neuron follows its last one
    return pred


@dataclass(frozen=True)
class ShuffleNull:
    """Shuffle null samples: pooled histogram of bin counts and each shuffle's maximum."""

    hist: np.ndarray  # hist[c] = number of (shuffle, bin) pairs with c active neurons
    maxima: np.ndarray  # (n_shuffles,) largest coactivity in each shuffle
    offsets: np.ndarray  # (n_shuffles, n_neurons) the circular shifts used (frames)


def shift_offsets(trains: EventTrains, n_shuffles: int, seed: int | None) -> np.ndarray:
    """The circular shifts of the null, (n_shuffles, n_neurons) frames uniform in [0, T).

    One function for the bin null, the window null and the member test, so that with one seed
    they all see the same shuffles."""
    if n_shuffles < 1:
        raise InputError(f"the number of shuffles must be at least 1; got {n_shuffles}")
    rng = np.random.default_rng(seed)
    if trains.observed is not None:  # shifts over each neuron's observed frames only
        high = np.maximum(trains.observed.sum(axis=1), 1).astype(np.int64)
        return rng.integers(0, high, size=(n_shuffles, trains.n_neurons), dtype=np.int64)
    return rng.integers(
        0, max(trains.n_frames, 1), size=(n_shuffles, trains.n_neurons), dtype=np.int64
    )


def shifted_frames(trains: EventTrains, offsets: np.ndarray) -> np.ndarray:
    """(S, n_events) event frames of S circular shifts (`offsets`, S x n_neurons).

    Without an observation mask each neuron's frames move by its offset modulo T. With one, a
    neuron's events move by its offset along its *observed* frames only (the k-th observed frame
    goes to the (k + offset)-th, cyclically), so no shifted event lands where the neuron could
    not have been seen firing; a neuron observed throughout moves exactly as without a mask."""
    return shifter(trains)(offsets)


def shifter(trains: EventTrains):
    """`shifted_frames` for these trains as a function of the offsets, with the observed-frame
    index built once (the nulls call it once per chunk of shuffles)."""
    n_frames, counts = trains.n_frames, trains.counts()
    if trains.observed is None:

        def plain(offsets: np.ndarray) -> np.ndarray:
            x = np.repeat(np.asarray(offsets, dtype=np.int64), counts, axis=1) + trains.frame
            x -= (x >= n_frames) * n_frames
            return x

        return plain
    per = trains.observed.sum(axis=1).astype(np.int64)
    keys = np.flatnonzero(trains.observed.ravel())  # neuron * T + frame, observed only, sorted
    base = (np.cumsum(per) - per)[trains.neuron]
    rank = np.searchsorted(keys, trains.neuron * n_frames + trains.frame) - base  # observed
    frames = keys % n_frames
    length = np.maximum(per[trains.neuron], 1)

    def along_observed(offsets: np.ndarray) -> np.ndarray:
        off = np.repeat(np.asarray(offsets, dtype=np.int64), counts, axis=1)
        return frames[base + (rank + off) % length]

    return along_observed


def _masked_runner(trains: EventTrains, offsets, width, nb, n):
    """Bin null with an observation mask: shifted frames along the observed ones; gaps between a
    neuron's events are not kept by such a shift, so every event is checked against its
    predecessor (not only those closer than a bin, as in the fast runners)."""

    shift = shifter(trains)
    k = np.arange(trains.n_events)
    pred = _predecessors(trains)
    has_pred = pred != k

    def run(s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
        c = s1 - s0
        x = shift(offsets[s0:s1])
        keys = x // width + (np.arange(c, dtype=np.int64) * nb)[:, None]
        # the shift keeps each neuron's cyclic order: an event repeats its predecessor's bin
        # when the predecessor (not across the wrap) lies in the same bin
        dup = has_pred & (x[:, pred] < x) & (keys[:, pred] == keys)
        keys[dup] = c * nb
        counts = np.bincount(keys.ravel(), minlength=c * nb + 1)[: c * nb].reshape(c, nb)
        return np.bincount(counts.ravel(), minlength=n + 1), counts.max(axis=1)

    return run


def shuffle_null(
    trains: EventTrains,
    width: int,
    n_shuffles: int = 1000,
    seed: int | None = 0,
    *,
    chunk: int = 16,
    n_threads: int | None = None,
    progress=None,
    cancel=None,
) -> ShuffleNull:
    """Coactivity of `n_shuffles` independent circular shifts, counted from event indices."""
    n_frames, n = trains.n_frames, trains.n_neurons
    offsets = shift_offsets(trains, n_shuffles, seed)
    nb = n_bins(n_frames, width)
    hist = np.zeros(n + 1, dtype=np.int64)
    maxima = np.zeros(n_shuffles, dtype=np.int64)
    if trains.n_events == 0 or nb == 0:
        hist[0] = n_shuffles * nb
        return ShuffleNull(hist, maxima, offsets)

    if trains.observed is not None:
        run_in_chunks(
            _masked_runner(trains, offsets, width, nb, n),
            hist, maxima, chunk, n_threads, progress, cancel,
        )  # fmt: skip
        return ShuffleNull(hist, maxima, offsets)
    per_neuron = trains.counts()
    pred = _predecessors(trains)
    k = np.arange(trains.n_events)
    gap = (trains.frame - trains.frame[pred]) % n_frames
    close = np.flatnonzero((gap < width) & (pred != k))
    close_pred = pred[close]
    if n_frames % width == 0:
        run = _fold_runner(trains.frame, per_neuron, offsets, width, nb, n, close, close_pred)
    else:
        run = _wrap_runner(
            trains.frame, per_neuron, offsets, width, nb, n, close, close_pred, n_frames
        )

    run_in_chunks(run, hist, maxima, chunk, n_threads, progress, cancel)
    return ShuffleNull(hist, maxima, offsets)


def run_in_chunks(
    run,
    hist: np.ndarray,
    maxima: np.ndarray,
    chunk: int,
    n_threads: int | None,
    progress=None,
    cancel=None,
):
    """Run `run(s0, s1) -> (peak histogram, maxima)` over chunks of the shuffles, on threads
    (numpy releases the GIL in the counting), adding into `hist` and filling `maxima` in place.
    `progress(done, total, message)` after a chunk, at most every 1 % (and after the last);
    `cancel()` is checked between chunks (raises `errors.Cancelled`; nothing is added for the
    chunks not run)."""
    n_shuffles = maxima.size
    bounds = [(s, min(s + chunk, n_shuffles)) for s in range(0, n_shuffles, chunk)]
    workers = n_threads or min(len(bounds), os.cpu_count() or 1, 4)
    results = []
    every = max(1, n_shuffles // 100)  # progress at most every 1 % (and the last one)
    reported = 0
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        pending = [pool.submit(run, *b) for b in bounds] if pool is not None else None
        for i, b in enumerate(bounds):
            if cancel is not None and cancel():
                for f in pending[i:] if pending is not None else ():
                    f.cancel()
                check_cancelled(lambda: True, "shuffles")
            results.append(pending[i].result() if pending is not None else run(*b))
            if progress is not None and (b[1] - reported >= every or b[1] == n_shuffles):
                progress(b[1], n_shuffles, f"shuffles {b[1]}/{n_shuffles}")
                reported = b[1]
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    for (s0, s1), (h, m) in zip(bounds, results):
        hist += h
        maxima[s0:s1] = m


def _fold_runner(frame, per_neuron, offsets, width, nb, n, close, close_pred):
    """Whole bins fit the recording: bin the unwrapped frames (0 .. 2T) and fold bins nb.. onto
    0.., which spares a wrap pass over every event. A neuron's first event is a duplicate of its
    last one only when the last one wrapped into the same bin (key + nb == predecessor's key)."""
    frame = frame.astype(np.int64)
    shift = np.where(close_pred > close, nb, 0)  # the predecessor of a first event is the last

    def run(s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
        c = s1 - s0
        keys = np.repeat(offsets[s0:s1], per_neuron, axis=1)
        keys += frame
        keys //= width
        keys += (np.arange(c, dtype=np.int64) * (2 * nb))[:, None]
        if len(close):
            kc = keys[:, close]
            dup = (kc + shift) == keys[:, close_pred]
            keys[:, close] = np.where(dup, c * 2 * nb, kc)
        counts = np.bincount(keys.ravel(), minlength=c * 2 * nb + 1)[: c * 2 * nb]
        counts = counts.reshape(c, 2, nb).sum(axis=1)
        return np.bincount(counts.ravel(), minlength=n + 1), counts.max(axis=1)

    return run


def _wrap_runner(frame, per_neuron, offsets, width, nb, n, close, close_pred, n_frames):
    """General case (partial last bin): wrap shifted frames into 0 .. T-1, then bin. An event
    is a duplicate when its predecessor shares its bin and does not lie across the wrap."""
    frame = frame.astype(np.int32)

    def run(s0: int, s1: int) -> tuple[np.ndarray, np.ndarray]:
        c = s1 - s0
        x = np.repeat(offsets[s0:s1].astype(np.int32), per_neuron, axis=1)
        x += frame
        x -= (x >= n_frames) * np.int32(n_frames)  # x was in [0, 2T)
        keys = x // np.int32(width)
        keys += (np.arange(c, dtype=np.int32) * nb)[:, None]
        if len(close):
            kc = keys[:, close]
            dup = (x[:, close] > x[:, close_pred]) & (kc == keys[:, close_pred])
            keys[:, close] = np.where(dup, c * nb, kc)
        counts = np.bincount(keys.ravel(), minlength=c * nb + 1)[: c * nb].reshape(c, nb)
        return np.bincount(counts.ravel(), minlength=n + 1), counts.max(axis=1)

    return run


def activity_probability(trains: EventTrains, width: int) -> np.ndarray:
    """Per neuron, the chance that a circularly shifted copy has an event in a given bin.

    Equals the fraction of the T circular windows of `width` frames that contain an event:
    1 - sum over the gaps between consecutive events of max(0, gap - width + 1) / T.
    """
    n_frames = trains.n_frames
    if trains.observed is not None:
        raise InputError(
            "the analytic null assumes every neuron observed at every frame; with unobserved "
            "frames (NaN in the traces) use the shuffles (--null-method shuffle)"
        )
    p = np.zeros(trains.n_neurons)
    if trains.n_events == 0 or n_frames == 0:
        return p
    pred = _predecessors(trains)
    gap = (trains.frame - trains.frame[pred] - 1) % n_frames  # empty frames before each event
    empty = np.maximum(0, gap - width + 1).astype(float)
    p = 1.0 - np.bincount(trains.neuron, weights=empty, minlength=trains.n_neurons) / n_frames
    p[trains.counts() == 0] = 0.0
    return np.clip(p, 0.0, 1.0)


def poisson_binomial_pmf(p: np.ndarray) -> np.ndarray:
    """Distribution of the number of successes of independent Bernoulli(p_i) trials."""
    pmf = np.zeros(len(p) + 1)
    pmf[0] = 1.0
    for i, pi in enumerate(np.asarray(p, dtype=float)):
        pmf[1 : i + 2] = pmf[1 : i + 2] * (1 - pi) + pmf[: i + 1] * pi
        pmf[0] *= 1 - pi
    return pmf


def analytic_null_pmf(trains: EventTrains, width: int) -> np.ndarray:
    """Exact pooled circular-shift null: Poisson-binomial, mixed over full and partial bins."""
    n_frames = trains.n_frames
    nb = n_bins(n_frames, width)
    if nb == 0:
        out = np.zeros(trains.n_neurons + 1)
        out[0] = 1.0
        return out
    full, rest = divmod(n_frames, width)
    pmf = full * poisson_binomial_pmf(activity_probability(trains, width))
    if rest:
        pmf = pmf + poisson_binomial_pmf(activity_probability(trains, rest))
    return pmf / nb


def threshold_from_pmf(pmf: np.ndarray, percentile: float) -> int:
    """Smallest count c with P(X <= c) >= percentile/100 (numpy's 'inverted_cdf' percentile)."""
    cdf = np.cumsum(pmf) / np.sum(pmf)
    return int(np.argmax(cdf >= percentile / 100.0 - 1e-12))
