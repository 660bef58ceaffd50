"""Scoring detected transients against ground-truth spike times (e.g. the Cascade data).

Matching rule (documented in docs/transients.md):
1. Spikes closer than `burst_gap_s` to their predecessor join its burst, which spans
   [first spike, last spike]. A burst of one spike is a "single spike".
2. A detected transient can match a burst when the transient's rise window
   [onset - tolerance, peak + tolerance] contains the burst's first spike
   (`rule="first_spike"`, strict) or any of its spikes (`rule="overlap"`, default).
3. Matching is one-to-one and maximises the number of matched pairs, preferring the
   smallest |first spike - onset| (scipy's linear_sum_assignment on a penalised cost).
Unmatched transients are false positives; unmatched bursts are misses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class MatchResult:
    """Counts for one recording (add them up across recordings before taking ratios)."""

    n_detected: int
    n_bursts: int
    n_matched: int
    n_single: int
    n_single_matched: int
    matched_burst: np.ndarray  # bool per burst
    matched_event: np.ndarray  # bool per detected transient

    def __add__(self, other: MatchResult) -> MatchResult:
        return MatchResult(
            self.n_detected + other.n_detected,
            self.n_bursts + other.n_bursts,
            self.n_matched + other.n_matched,
            self.n_single + other.n_single,
            self.n_single_matched + other.n_single_matched,
            np.concatenate([self.matched_burst, other.matched_burst]),
            np.concatenate([self.matched_event, other.matched_event]),
        )


def empty_result() -> MatchResult:
    """Neutral element for summing results."""
    return MatchResult(0, 0, 0, 0, 0, np.zeros(0, bool), np.zeros(0, bool))


def group_bursts(spike_times: np.ndarray, burst_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """First-spike time and spike count of each burst (spikes closer than `burst_gap_s`)."""
    first, _, counts = burst_spans(spike_times, burst_gap_s)
    return first, counts


def burst_spans(spike_times: np.ndarray, burst_gap_s: float):
    """(first spike, last spike, spike count) of each burst."""
    t = np.sort(np.asarray(spike_times, float))
    if t.size == 0:
        return t, t, np.zeros(0, np.int64)
    new = np.r_[True, np.diff(t) >= burst_gap_s]
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, t.size - 1]
    return t[first], t[last], last - first + 1


def match_events(
    onsets_s: np.ndarray,
    peaks_s: np.ndarray,
    spike_times_s: np.ndarray,
    burst_gap_s: float = 0.3,
    tolerance_s: float = 0.15,
    rule: str = "overlap",
) -> MatchResult:
    """One-to-one matching of detected transients to spike bursts (rule in the module doc)."""
    on = np.asarray(onsets_s, float)
    pk = np.asarray(peaks_s, float)
    first, last, counts = burst_spans(spike_times_s, burst_gap_s)
    if rule == "first_spike":
        last = first
    elif rule != "overlap":
        raise ValueError(f"unknown matching rule {rule!r}")
    mb = np.zeros(first.size, bool)
    me = np.zeros(on.size, bool)
    if first.size and on.size:
        ok = (last[None, :] >= on[:, None] - tolerance_s) & (
            first[None, :] <= pk[:, None] + tolerance_s
        )
        ev, bu = np.nonzero(ok)
        if ev.size:
            # only rows/cols that can match: keeps the assignment problem small
            ue, ie = np.unique(ev, return_inverse=True)
            ub, ib = np.unique(bu, return_inverse=True)
            dist = np.abs(first[bu] - on[ev])
            big = 1e6
            cost = np.full((ue.size, ub.size), big)
            cost[ie, ib] = dist
            r, c = linear_sum_assignment(cost)
            good = cost[r, c] < big
            me[ue[r[good]]] = True
            mb[ub[c[good]]] = True
    single = counts == 1
    return MatchResult(
        int(on.size),
        int(first.size),
        int(mb.sum()),
        int(single.sum()),
        int((mb & single).sum()),
        mb,
        me,
    )


def _prf(tp: int, n_det: int, n_true: int) -> tuple[float, float, float]:
    p = tp / n_det if n_det else float("nan")
    r = tp / n_true if n_true else float("nan")
    f1 = 2 * tp / (n_det + n_true) if n_det + n_true else float("nan")
    return p, r, f1


def precision_recall_f1(res: MatchResult) -> dict[str, float]:
    """Scores from (summed) counts.

    `precision/recall/f1`: every burst, single spikes included, is an event to find.
    `burst_*`: only bursts of >= 2 spikes are events; a detection matched to a single spike
    is neither a hit nor a false positive there (it is scored by `single_spike_recall`).
    """
    p, r, f1 = _prf(res.n_matched, res.n_detected, res.n_bursts)
    tp_b = res.n_matched - res.n_single_matched
    bp, br, bf1 = _prf(tp_b, res.n_detected - res.n_single_matched, res.n_bursts - res.n_single)
    sr = res.n_single_matched / res.n_single if res.n_single else float("nan")
    return {
        "precision": p,
        "recall": r,
        "f1": f1,
        "burst_precision": bp,
        "burst_recall": br,
        "burst_f1": bf1,
        "single_spike_recall": sr,
    }


def binned_correlation(
    event_times_s: np.ndarray,
    weights: np.ndarray,
    spike_times_s: np.ndarray,
    t0: float,
    t1: float,
    bin_hz: float = 25.0,
) -> float:
    """Pearson correlation of a weighted event train with true spike counts in bins.

    Spikefinder's measure: both series are binned at 25 Hz (40 ms) over the imaged span.
    """
    edges = np.arange(t0, t1 + 1.0 / bin_hz, 1.0 / bin_hz)
    a = np.histogram(event_times_s, edges, weights=weights)[0]
    b = np.histogram(spike_times_s, edges)[0]
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
