"""From event trains to ensembles: threshold coactivity, collect events, cluster, find members.

Adjacent supra-threshold bins are merged (default): a run of consecutive bins whose coactivity
exceeds the null threshold is one ensemble event, its contributing neurons the union over the run.
Activations jittered across a bin edge would otherwise split into two events with disjoint
neurons (each neuron fires once), which look unrelated to Jaccard. With `merge_adjacent=False`
every supra-threshold bin is its own event.
"""

from __future__ import annotations

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
    shuffle_null,
    threshold_from_pmf,
)
from napari_catrack.core.ensembles.params import EnsembleParams
from napari_catrack.core.ensembles.trains import EventTrains

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
    coactivity: np.ndarray  # distinct active neurons per bin
    threshold: int  # a bin is an event when its coactivity > threshold (and >= min_neurons)
    null_pmf: np.ndarray  # pooled null distribution of coactivity (index = neuron count)
    null_maxima: np.ndarray | None  # per-shuffle maxima (shuffle method only)
    trains: EventTrains
    params: dict
    warnings: list[str] = field(default_factory=list)

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
    trains: EventTrains, fps: float, params: EnsembleParams | None = None, **changes: Any
) -> EnsembleResult:
    """Find significant coactivity events and group them into ensembles.

    `params`: an `EnsembleParams` (keyword `changes` override single values). `null`: "pooled"
    thresholds at the percentile of all shuffled bins (per-bin false-positive rate
    1 - percentile/100); "max" at the percentile of each shuffle's largest bin (family-wise:
    chance of any false event in the recording). `null_method="analytic"` replaces the pooled
    shuffles by the exact Poisson-binomial limit. Clusters with fewer than `min_events` events are
    not ensembles (their events get ensemble_id -1). Unusable input (no events, one neuron, one
    bin) gives empty, well-formed tables and a message in `result.warnings`.
    """
    p = EnsembleParams.resolve(params, **changes)
    width = bin_frames(p.bin_s, fps)
    nb = n_bins(trains.n_frames, width)
    params = {
        "fps": float(fps),
        "bin_s": float(p.bin_s),
        "bin_frames": int(width),
        "n_bins": int(nb),
        "n_frames": int(trains.n_frames),
        "n_neurons": int(trains.n_neurons),
        "n_input_events": int(trains.n_events),
        "n_shuffles": int(p.n_shuffles),
        "seed": p.seed,
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
        "cut_rule": "fixed k" if p.n_ensembles else "best mean silhouette over k",
        "version": __version__,
    }
    coact = coactivity(trains, width)
    problem = None
    if trains.n_events == 0:
        problem = "no events at all: nothing can be coactive"
    elif trains.n_neurons < max(2, p.min_neurons):
        problem = (
            f"only {trains.n_neurons} neuron(s): an ensemble needs at least {max(2, p.min_neurons)}"
        )
    elif nb < 2:
        problem = (
            f"the bin ({width} frames) is as long as the recording ({trains.n_frames} frames): "
            "one bin leaves nothing to compare"
        )
    if problem:
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

    maxima = None
    if p.null_method == "analytic":
        pmf = analytic_null_pmf(trains, width)
    else:
        sh = shuffle_null(trains, width, p.n_shuffles, p.seed)
        pmf = sh.hist / sh.hist.sum()
        maxima = sh.maxima
    if p.null == "max":
        threshold = int(np.percentile(maxima, p.percentile, method="inverted_cdf"))
    else:
        threshold = threshold_from_pmf(pmf, p.percentile)
    params["threshold"] = threshold

    sig = np.flatnonzero((coact > threshold) & (coact >= p.min_neurons))
    part = participation(trains, width, sig)
    if p.merge_adjacent and len(sig):
        run_start = np.r_[True, np.diff(sig) > 1]
        starts = np.flatnonzero(run_start)
        first_bin, last_bin = sig[starts], sig[np.r_[starts[1:] - 1, len(sig) - 1]]
        part = np.logical_or.reduceat(part, starts, axis=0)
    else:
        first_bin = last_bin = sig
    n_active = part.sum(axis=1)

    similarity = jaccard_similarity(part)
    ensemble_id, cut = cluster_events(
        similarity,
        method=p.linkage_method,
        n_clusters=p.n_ensembles,
        max_k=p.max_k,
        min_silhouette=p.min_silhouette,
        min_similarity=p.min_similarity,
        min_events=p.min_events,
    )
    z = event_linkage(similarity, p.linkage_method)
    params["cut"] = {
        "k": cut["k"],
        "n_singular": cut.get("n_singular", 0),
        "silhouette": {
            int(k): float(v) if np.isfinite(v) else None for k, v in cut["scores"].items()
        },
    }

    events = pd.DataFrame(
        {
            "event_id": np.arange(len(first_bin), dtype=np.int64),
            "bin": first_bin.astype(np.int64),
            "start_frame": (first_bin * width).astype(np.int64),
            "end_frame": np.minimum((last_bin + 1) * width, trains.n_frames).astype(np.int64) - 1,
            "n_active": n_active.astype(np.int64),
            "ensemble_id": ensemble_id.astype(np.int64),
        }
    )
    ev, nu = np.nonzero(part)
    event_neurons = pd.DataFrame(
        {"event_id": ev.astype(np.int64), "neuron_id": trains.neuron_ids[nu]}
    )

    k = cut["k"]
    onehot = np.zeros((len(ensemble_id), k))
    assigned = ensemble_id >= 0
    onehot[np.flatnonzero(assigned), ensemble_id[assigned]] = 1.0
    frac = (onehot.T @ part) / np.maximum(onehot.sum(axis=0), 1)[:, None]  # (k, n_neurons)
    ens, neu = np.nonzero(frac >= p.member_fraction)
    members = pd.DataFrame(
        {
            "ensemble_id": ens.astype(np.int64),
            "neuron_id": trains.neuron_ids[neu],
            "fraction": frac[ens, neu],
        }
    )
    notes = []
    if len(sig) == 0:
        notes.append(f"no bin exceeds the null threshold ({threshold} coactive neurons)")
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
