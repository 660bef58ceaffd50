"""From event trains to ensembles: coactivity events, clustering, member test, members.

Coactivity is counted in a sliding window by default (`windows.py`: events are coactivity peaks,
each onset in one event at most), or in fixed bins (`null.py`; adjacent supra-threshold bins
are merged by default, since a co-activation jittered across a bin edge would otherwise split
into two events with disjoint neurons). Events are clustered on their Jaccard similarity
(`clustering.py`), and a cluster is kept as an ensemble when its members co-activate more often
than in the circular shifts (`significance.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack import __version__
from napari_catrack.core.ensembles.clustering import (
    cluster_events,
    event_linkage,
    jaccard_similarity,
)
from napari_catrack.core.ensembles.null import (
    analytic_null_pmf,
    bin_frames,
    coactivity,
    n_bins,
    participation,
    shift_offsets,
    shuffle_null,
    threshold_from_pmf,
)
from napari_catrack.core.ensembles.params import EnsembleParams
from napari_catrack.core.ensembles.significance import member_test, too_few_shuffles
from napari_catrack.core.ensembles.trains import EventTrains
from napari_catrack.core.ensembles.windows import (
    n_windows,
    window_events,
    window_frames,
    window_null,
)
from napari_catrack.errors import check_cancelled
from napari_catrack.text import ordinal

EVENT_COLUMNS = ("event_id", "bin", "start_frame", "end_frame", "n_active", "ensemble_id")
MEMBER_COLUMNS = ("ensemble_id", "neuron_id", "fraction")


@dataclass
class EnsembleResult:
    """Everything the figures, the CLI, the widget and the session need from one run."""

    events: pd.DataFrame  # EVENT_COLUMNS; end_frame inclusive; ensemble_id -1 = unassigned
    members: pd.DataFrame  # MEMBER_COLUMNS; fraction = share of the ensemble's events joined
    event_neurons: pd.DataFrame  # event_id, neuron_id: the contributing neurons of each event
    similarity: np.ndarray  # (n_events, n_events) Jaccard, in events-table order
    linkage: np.ndarray | None  # scipy linkage matrix on 1 - similarity (None: < 2 events)
    coactivity: np.ndarray  # distinct active neurons per window (start frame) or per bin
    threshold: int  # an event's coactivity is > threshold (and >= min_neurons)
    null_pmf: np.ndarray  # null distribution (index = neuron count): shuffled peaks, or bins
    null_maxima: np.ndarray | None  # per-shuffle maxima (shuffle method only)
    trains: EventTrains
    params: dict
    warnings: list[str] = field(default_factory=list)

    @property
    def coactivity_frames(self) -> np.ndarray:
        """First frame of each `coactivity` value (every frame for windows, bin starts)."""
        step = 1 if self.params.get("coactivity") == "window" else self.params["bin_frames"]
        return np.arange(len(self.coactivity), dtype=np.int64) * step

    @property
    def n_ensembles(self) -> int:
        ids = self.events["ensemble_id"].to_numpy()
        return int(ids.max() + 1) if len(ids) and ids.max() >= 0 else 0

    def membership_matrix(self) -> np.ndarray:
        """Boolean (n_neurons, n_ensembles) in `trains.neuron_ids` order."""
        out = np.zeros((self.trains.n_neurons, self.n_ensembles), dtype=bool)
        idx = pd.Index(self.trains.neuron_ids).get_indexer(self.members["neuron_id"])
        out[idx, self.members["ensemble_id"].to_numpy(dtype=np.int64)] = True
        return out


def empty_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Well-formed empty events, members and event-neuron tables."""
    ints = {c: pd.Series(dtype=np.int64) for c in EVENT_COLUMNS}
    members = pd.DataFrame(
        {"ensemble_id": pd.Series(dtype=np.int64), "neuron_id": [], "fraction": []}
    )
    return pd.DataFrame(ints), members, pd.DataFrame({"event_id": [], "neuron_id": []})


def find_ensembles(
    trains: EventTrains,
    fps: float,
    params: EnsembleParams | None = None,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    **changes: Any,
) -> EnsembleResult:
    """Find significant coactivity events and group them into ensembles.

    `params`: an `EnsembleParams` (keyword `changes` override single values). `coactivity`:
    "window" counts neurons in a sliding window of `bin_s` (at least `min_window_frames`) and
    takes coactivity peaks as events; "bins" uses fixed bins. `null`: "pooled" allows chance
    events at the rate 1 - percentile/100 per window (per bin); "max" thresholds at the
    percentile of each shuffle's largest count (family-wise: chance of any false event in the
    recording). `null_method="analytic"` (pooled bins only) replaces the shuffles by the exact
    Poisson-binomial limit. Clusters with fewer than `min_events` events, or (`test_members`)
    whose members co-activate no more often than in the shuffles, are not ensembles (their
    events get ensemble_id -1). Unusable input (no events, one neuron, a window as long as the
    recording) gives empty, well-formed tables and a message in `result.warnings`.
    `progress(done, total, message)` follows the shuffles; `cancel()` is checked between chunks
    of shuffles and between member tests (raises `errors.Cancelled`).
    """
    p = EnsembleParams.resolve(params, **changes)
    # seed None: draw one and record it, so that even an unseeded run can be repeated exactly
    seed = p.seed if p.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    windowed = p.coactivity == "window"
    if windowed:
        width = window_frames(p.bin_s, fps, p.min_window_frames)
        nb = n_windows(trains.n_frames, width)
    else:
        width = bin_frames(p.bin_s, fps)
        nb = n_bins(trains.n_frames, width)
    params = {
        "fps": float(fps),
        "coactivity": p.coactivity,
        "bin_s": float(p.bin_s),
        "bin_frames": int(width),
        "min_window_frames": int(p.min_window_frames),
        "n_bins": int(nb),
        "n_frames": int(trains.n_frames),
        "n_neurons": int(trains.n_neurons),
        "n_input_events": int(trains.n_events),
        "n_shuffles": int(p.n_shuffles),
        "seed": p.seed,
        "seed_used": seed,
        "percentile": float(p.percentile),
        "null": p.null,
        "null_method": p.null_method,
        "min_neurons": int(p.min_neurons),
        "merge_adjacent": bool(p.merge_adjacent),
        "member_fraction": float(p.member_fraction),
        "linkage_method": p.linkage_method,
        "n_ensembles": p.n_ensembles,
        "max_k": int(p.max_k),
        "min_silhouette": float(p.min_silhouette),
        "min_similarity": float(p.min_similarity),
        "min_events": int(p.min_events),
        "test_members": bool(p.test_members),
        "cut_rule": "fixed k" if p.n_ensembles else "best mean silhouette over k",
        "version": __version__,
    }
    if trains.observed is not None:  # absent: every neuron observed at every frame
        params["observation"] = _observation_summary(trains)
    problem = None
    if trains.n_events == 0:
        problem = "no events at all: nothing can be coactive"
    elif trains.n_neurons < max(2, p.min_neurons):
        problem = (
            f"only {trains.n_neurons} neuron(s): an ensemble needs at least {max(2, p.min_neurons)}"
        )
    elif nb < 2:
        kind = "window" if windowed else "bin"
        problem = (
            f"the {kind} ({width} frames) is as long as the recording ({trains.n_frames} frames): "
            "one position leaves nothing to compare"
        )
    if problem:
        coact = np.zeros(max(nb, 0), dtype=np.int64) if windowed else coactivity(trains, width)
        pmf = np.zeros(trains.n_neurons + 1)
        pmf[0] = 1.0
        events, members, event_neurons = empty_tables()
        return EnsembleResult(
            events=events,
            members=members,
            event_neurons=event_neurons,
            similarity=np.zeros((0, 0)),
            linkage=None,
            coactivity=coact,
            threshold=int(coact.max(initial=0)),
            null_pmf=pmf,
            null_maxima=None,
            trains=trains,
            params={**params, "threshold": None},
            warnings=[problem],
        )

    maxima = offsets = None
    if windowed:
        wn = window_null(trains, width, p.n_shuffles, seed, progress=progress, cancel=cancel)
        threshold, pmf, maxima, offsets = (
            wn.threshold(p.percentile, p.null),
            wn.pmf(),
            wn.maxima,
            wn.offsets,
        )
        first_bin, coact, part = window_events(trains, width, threshold, p.min_neurons)
        last_bin = first_bin
        start_frame, end_frame = first_bin, first_bin + width - 1
    else:
        threshold, pmf, maxima, offsets = _bin_threshold(trains, width, p, seed, progress, cancel)
        coact = coactivity(trains, width)
        first_bin, last_bin, part = _bin_events(trains, width, threshold, coact, p)
        start_frame = first_bin * width
        end_frame = np.minimum((last_bin + 1) * width, trains.n_frames) - 1
    params["threshold"] = threshold
    n_active = part.sum(axis=1)
    seen = _observed_at_events(trains, part, start_frame, end_frame)

    similarity = jaccard_similarity(part, seen)
    ensemble_id, cut = cluster_events(
        similarity,
        method=p.linkage_method,
        n_clusters=p.n_ensembles,
        max_k=p.max_k,
        min_silhouette=p.min_silhouette,
        min_similarity=p.min_similarity,
        min_events=p.min_events,
    )
    frac = _member_fractions(ensemble_id, part, seen)
    notes = []
    alpha = round(1.0 - p.percentile / 100.0, 12)  # 95 -> 0.05, not 0.050000000000000044
    if p.null == "max" and 1.0 / (p.n_shuffles + 1) > alpha + 1e-12:
        # the threshold is then the largest of n shuffle maxima, exceeded by chance 1/(n+1)
        need = math.ceil(1.0 / alpha - 1.0 - 1e-9)
        notes.append(
            f"{p.n_shuffles} shuffle(s) are too few for the max null at the {ordinal(p.percentile)} "
            f"percentile: its chance of a false event is about 1/{p.n_shuffles + 1} = "
            f"{1.0 / (p.n_shuffles + 1):.3g}, not {alpha:g}; use at least {need} shuffles "
            "(--shuffles)"
        )
    tests = []
    if p.test_members and len(frac):
        if offsets is None:  # the analytic null drew no shifts: draw them as the shuffles would
            offsets = shift_offsets(trains, p.n_shuffles, seed)
        mode = "window" if windowed else "bins"
        few = too_few_shuffles(p.n_shuffles, alpha)
        if few:
            notes.append(few)
        keep, raw_p = [], []
        for e in range(len(frac)):
            check_cancelled(cancel, "ensembles")
            test = member_test(trains, np.flatnonzero(frac[e] >= p.member_fraction), offsets,
                               width, mode, p.member_fraction, alpha=alpha)  # fmt: skip
            tests.append({"cluster": e, **test.as_dict(), "kept": test.p_value < alpha})
            raw_p.append(test.p_value)
            keep.append(test.p_value < alpha)
        # each cluster is tested at alpha, uncorrected (docs/ensembles.md, step 6); the
        # Holm-adjusted p over the clusters tested is recorded beside it for readers who need a
        # family-wise statement
        for t, ph in zip(tests, holm(raw_p)):
            t["p_holm"] = round(ph, 4)
        dropped = [t for t in tests if not t["kept"]]
        if dropped:
            ensemble_id = _keep_clusters(ensemble_id, np.asarray(keep))
            frac = _member_fractions(ensemble_id, part, seen)
            notes.append(
                f"{len(dropped)} cluster(s) of events set aside: their members co-activate no "
                f"more often than in the shuffles (p = "
                + ", ".join(f"{t['p']:.3g}" for t in dropped)
                + ")"
            )
    z = event_linkage(similarity, p.linkage_method)
    params["cut"] = {
        "k": len(frac),
        "n_singular": cut.get("n_singular", 0),
        "silhouette": {
            int(k): float(v) if np.isfinite(v) else None for k, v in cut["scores"].items()
        },
        "member_tests": tests,
    }

    events = pd.DataFrame(
        {
            "event_id": np.arange(len(first_bin), dtype=np.int64),
            "bin": first_bin.astype(np.int64),
            "start_frame": np.asarray(start_frame, dtype=np.int64),
            "end_frame": np.asarray(end_frame, dtype=np.int64),
            "n_active": n_active.astype(np.int64),
            "ensemble_id": ensemble_id.astype(np.int64),
        }
    )
    if seen is not None:  # neurons observed throughout the event (or taking part in it)
        events["n_observed"] = seen.sum(axis=1).astype(np.int64)
    ev, nu = np.nonzero(part)
    event_neurons = pd.DataFrame(
        {"event_id": ev.astype(np.int64), "neuron_id": trains.neuron_ids[nu]}
    )
    ens, neu = np.nonzero(frac >= p.member_fraction)
    members = pd.DataFrame(
        {
            "ensemble_id": ens.astype(np.int64),
            "neuron_id": trains.neuron_ids[neu],
            "fraction": frac[ens, neu],
        }
    )
    if len(first_bin) == 0:
        notes.append(f"no coactivity exceeds the null threshold ({threshold} coactive neurons)")
    return EnsembleResult(
        events=events,
        members=members,
        event_neurons=event_neurons,
        similarity=similarity,
        linkage=z,
        coactivity=coact,
        threshold=threshold,
        null_pmf=pmf,
        null_maxima=maxima,
        trains=trains,
        params=params,
        warnings=notes,
    )


def _bin_threshold(
    trains: EventTrains, width: int, p: EnsembleParams, seed: int, progress=None, cancel=None
):
    """(threshold, pmf, maxima, offsets) of the fixed-bin null."""
    maxima = offsets = None
    if p.null_method == "analytic":
        pmf = analytic_null_pmf(trains, width)
    else:
        sh = shuffle_null(trains, width, p.n_shuffles, seed, progress=progress, cancel=cancel)
        pmf, maxima, offsets = sh.hist / sh.hist.sum(), sh.maxima, sh.offsets
    if p.null == "max":
        threshold = int(np.percentile(maxima, p.percentile, method="inverted_cdf"))
    else:
        threshold = threshold_from_pmf(pmf, p.percentile)
    return threshold, pmf, maxima, offsets


def _bin_events(trains: EventTrains, width: int, threshold: int, coact: np.ndarray, p):
    """Supra-threshold bins (runs of adjacent ones merged): first bin, last bin, participation."""
    sig = np.flatnonzero((coact > threshold) & (coact >= p.min_neurons))
    part = participation(trains, width, sig)
    if p.merge_adjacent and len(sig):
        run_start = np.r_[True, np.diff(sig) > 1]
        starts = np.flatnonzero(run_start)
        first_bin, last_bin = sig[starts], sig[np.r_[starts[1:] - 1, len(sig) - 1]]
        part = np.logical_or.reduceat(part, starts, axis=0)
    else:
        first_bin = last_bin = sig
    return first_bin, last_bin, part


def holm(p: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in input order."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


def _member_fractions(
    ensemble_id: np.ndarray, part: np.ndarray, seen: np.ndarray | None = None
) -> np.ndarray:
    """(k, n_neurons): the share of each ensemble's events that each neuron joins; with `seen`
    (events x neurons observed), of the ensemble's events at which the neuron was observed (one
    it missed is neither joined nor not joined; never observed at any: 0)."""
    k = int(ensemble_id.max(initial=-1) + 1)
    onehot = np.zeros((len(ensemble_id), k))
    assigned = ensemble_id >= 0
    onehot[np.flatnonzero(assigned), ensemble_id[assigned]] = 1.0
    if seen is None:
        return (onehot.T @ part) / np.maximum(onehot.sum(axis=0), 1)[:, None]
    return (onehot.T @ part) / np.maximum(onehot.T @ seen, 1)


def _observed_at_events(trains: EventTrains, part: np.ndarray, start, end) -> np.ndarray | None:
    """(events, neurons): whether each neuron was observed at each event: at every frame of it
    (start..end inclusive), or it took part (an onset there was seen). None without a mask."""
    if trains.observed is None:
        return None
    lost = np.zeros((trains.n_neurons, trains.n_frames + 1), dtype=np.int32)
    np.cumsum(~trains.observed, axis=1, out=lost[:, 1:])
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    whole = (lost[:, end + 1] - lost[:, start]).T == 0
    return whole | part


def _observation_summary(trains: EventTrains) -> dict:
    """What params.json / the session record of the observation mask."""
    obs = trains.observed
    return {
        "masks": True,
        "unobserved_neuron_frames": trains.n_unobserved,
        "neurons_with_unobserved_frames": int((~obs.all(axis=1)).sum()),
        "neuron_frames": int(obs.size),
    }


def _keep_clusters(ensemble_id: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Drop the clusters not kept (their events become -1) and number the rest 0, 1, ... in
    their previous order (largest first)."""
    new = np.full(len(keep) + 1, -1, dtype=np.int64)
    new[:-1][keep] = np.arange(int(keep.sum()))
    return new[ensemble_id]  # index -1 reads the last entry: -1
