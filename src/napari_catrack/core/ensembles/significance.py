"""Is a cluster of events an ensemble? Its members must co-activate more often than chance.

Clustering groups events whose neuron sets resemble each other; in chance data a few high-rate
neurons meet often enough to make such clusters (two neurons firing 0.1 Hz share a 0.6 s window
about five times in 20 min). A group of neurons is an ensemble when its members fire *together*
more often than their own trains allow. The statistic: the number of coactivity events (window
peaks, or bins) in which at least q of the m members are active, q = max(2, ceil(member_fraction
x m)); with unobserved frames (an observation mask) q at each event counts only the members
observed there (at its every frame, or active in it): a member missing at an event neither
supports nor refutes it. The null: the same count when each member's train is circularly
shifted (the shifts of the main null, so rates and autocorrelation are kept; the mask stays).
p = (1 + #shuffles at least as high) / (1 + #shuffles), kept when p < alpha; one test per
cluster, not corrected for the number of clusters (the pipeline records the Holm-adjusted p
beside it). The members were chosen from these data, which makes the test lenient rather than
strict; it still rejects what chance pairings of busy neurons produce (the chance-raster tests
and benchmarks/bench_ensembles.py measure it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from napari_catrack.core.ensembles.null import n_bins, shifted_frames
from napari_catrack.core.ensembles.trains import EventTrains
from napari_catrack.core.ensembles.windows import _counts, coactivity_peaks, shifted_cover_lengths


@dataclass(frozen=True)
class MemberTest:
    """Co-activations of one candidate ensemble's members, observed and under the null."""

    n_members: int
    min_active: int  # q of all m members (with a mask, q of the members observed at an event)
    observed: int  # events with >= q members active
    null_mean: float
    p_value: float

    def as_dict(self) -> dict:
        return {
            "members": self.n_members,
            "min_active": self.min_active,
            "coactivations": self.observed,
            "null_mean": round(self.null_mean, 3),
            "p": round(self.p_value, 4),
        }


def subset_trains(trains: EventTrains, neurons: np.ndarray) -> EventTrains:
    """The trains of `neurons` (indices into trains.neuron_ids) only, in that order."""
    neurons = np.asarray(neurons, dtype=np.int64)
    remap = np.full(trains.n_neurons, -1, dtype=np.int64)
    remap[neurons] = np.arange(len(neurons))
    keep = remap[trains.neuron] >= 0
    new = remap[trains.neuron[keep]]
    order = np.lexsort((trains.frame[keep], new))
    obs = None if trains.observed is None else trains.observed[neurons]
    return EventTrains(
        trains.neuron_ids[neurons], new[order], trains.frame[keep][order], trains.n_frames, obs
    )


def min_active(n_members, member_fraction: float):
    """q: the members that must be active together among `n_members` (scalar or array)."""
    q = np.ceil(member_fraction * np.asarray(n_members, dtype=np.float64) - 1e-9)
    return np.maximum(2, q).astype(np.int64)


def _coactivations(
    trains: EventTrains, offsets: np.ndarray, width: int, mode: str, member_fraction: float
) -> np.ndarray:
    """Per copy (rows of `offsets`, shifts per neuron): coactivity events (window peaks, or
    bins) with at least q of the members observed there active. A member counts as observed at
    a window (bin) when it was observed at every frame of it or is active in it (as the events'
    `n_observed`); without a mask that is every member, so q is one number, the old test."""
    n_frames = trains.n_frames
    x = shifted_frames(trains, offsets)
    if mode == "window":
        counts = _counts(x, shifted_cover_lengths(trains, x, width), n_frames, width)
        q = min_active(_observed_members(trains, x, width, counts.shape[1], "window"),
                       member_fraction)  # fmt: skip
        return ((counts >= q) & coactivity_peaks(counts, width)).sum(axis=1)
    nb = n_bins(n_frames, width)
    rows = np.arange(len(offsets), dtype=np.int64)[:, None]
    keys = (rows * nb + x // width) * trains.n_neurons + trains.neuron  # one per neuron and bin
    keys = np.unique(keys.ravel())
    bins = keys // trains.n_neurons
    per_bin = np.bincount(bins, minlength=len(offsets) * nb).reshape(len(offsets), nb)
    seen = _observed_members(trains, keys, width, nb, "bins", len(offsets))
    return (per_bin >= min_active(seen, member_fraction)).sum(axis=1)


def _whole(trains: EventTrains, width: int, n_pos: int, mode: str) -> np.ndarray:
    """(neurons, positions): each neuron observed at every frame of each window (bin)."""
    lost = np.zeros((trains.n_neurons, trains.n_frames + 1), dtype=np.int64)
    np.cumsum(~trains.observed, axis=1, out=lost[:, 1:])
    start = np.arange(n_pos, dtype=np.int64) * (1 if mode == "window" else width)
    end = np.minimum(start + width, trains.n_frames)
    return lost[:, end] == lost[:, start]


def _observed_members(trains, x, width, n_pos, mode, n_copies=None):
    """Members observed at each window (bin) of each copy: (n_copies, n_pos), or the plain
    member count without a mask. `x`: the shifted frames (windows), or the unique
    (copy, bin, neuron) keys (bins)."""
    m = trains.n_neurons
    if trains.observed is None:
        return m
    whole = _whole(trains, width, n_pos, mode)
    if mode == "bins":  # active in a bin it was not wholly observed at: observed there too
        neuron, cb = x % m, x // m
        part = ~whole[neuron, cb % n_pos]
        extra = np.bincount(cb[part], minlength=n_copies * n_pos).reshape(n_copies, n_pos)
        return whole.sum(axis=0) + extra
    s = x.shape[0]
    gaps = np.flatnonzero(~whole.all(axis=1))
    extra = np.zeros((s, n_pos), dtype=np.int64)
    for g in gaps:  # members with unobserved frames are few: one dense cover each
        xg = x[:, trains.neuron == g]
        if xg.shape[1] == 0:
            continue
        lo = np.maximum(xg - width + 1, 0)  # windows lo..hi hold the event
        hi = np.minimum(xg, n_pos - 1) + 1
        row = np.broadcast_to(np.arange(s, dtype=np.int64)[:, None] * (n_pos + 1), xg.shape)
        ok = hi > lo
        edge = np.bincount((lo + row)[ok], minlength=s * (n_pos + 1)) - np.bincount(
            (hi + row)[ok], minlength=s * (n_pos + 1)
        )
        active = np.cumsum(edge.reshape(s, n_pos + 1), axis=1)[:, :n_pos] > 0
        extra += active & ~whole[g]
    return whole.sum(axis=0) + extra


def member_test_shuffles(n_shuffles: int, alpha: float) -> int:
    """How many of the shuffles the member test uses: the first ceil(20 / alpha), at most all."""
    return min(int(n_shuffles), max(math.ceil(20.0 / max(alpha, 1e-6)), 1))


def too_few_shuffles(n_shuffles: int, alpha: float) -> str | None:
    """A one-line warning when `n_shuffles` cannot give a member-test p below `alpha` (the
    smallest p is 1 / (1 + shuffles used)), else None."""
    used = member_test_shuffles(n_shuffles, alpha)
    if 1.0 / (1.0 + used) < alpha:
        return None
    need = max(1, math.floor(1.0 / alpha))
    while 1.0 / (1.0 + need) >= alpha:
        need += 1
    return (
        f"{n_shuffles} shuffle(s) cannot give a member-test p below {alpha:.3g} (the smallest "
        f"possible p is 1/{used + 1} = {1.0 / (used + 1):.3g}), so no cluster can be kept as an "
        f"ensemble: use at least {need} shuffles (--shuffles)"
    )


def member_test(
    trains: EventTrains,
    members: np.ndarray,
    offsets: np.ndarray,
    width: int,
    mode: str = "window",
    member_fraction: float = 0.5,
    chunk: int = 64,
    alpha: float = 0.05,
) -> MemberTest:
    """Co-activation test of the neurons `members` (indices) against the circular shifts
    `offsets` (n_shuffles, n_neurons) of the main null (module docstring).

    Only the first ceil(20 / alpha) shifts are used (400 at alpha 0.05): enough to resolve p
    around alpha, at a fraction of the cost of all of them.
    """
    members = np.sort(np.asarray(members, dtype=np.int64))
    m = len(members)
    q = int(min_active(m, member_fraction))
    sub = subset_trains(trains, members)
    if m < 2 or sub.n_events == 0:
        return MemberTest(m, q, 0, 0.0, 1.0)
    observed = int(
        _coactivations(sub, np.zeros((1, m), dtype=np.int64), width, mode, member_fraction)[0]
    )
    shifts = offsets[: member_test_shuffles(len(offsets), alpha), members]
    null = np.concatenate(
        [
            _coactivations(sub, shifts[s : s + chunk], width, mode, member_fraction)
            for s in range(0, len(shifts), chunk)
        ]
    )
    p = (1.0 + float((null >= observed).sum())) / (1.0 + len(null))
    return MemberTest(m, q, observed, float(null.mean()) if len(null) else 0.0, p)
