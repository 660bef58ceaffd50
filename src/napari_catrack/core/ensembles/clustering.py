"""Grouping ensemble events into ensembles: Jaccard similarity, average linkage, silhouette cut.

The cut rule: events that resemble no other event (best Jaccard < `min_similarity`) are set aside
first. For every candidate number of clusters k = 2 .. min(max_k, M - 1) the dendrogram of the rest
is cut into k clusters (`fcluster(..., "maxclust")`) and scored by the mean silhouette on the 1 -
Jaccard distances; the k with the best score wins. If no k reaches `min_silhouette` the events are
judged to form a single ensemble (silhouette cannot score k = 1, so a threshold stands in for it).
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.special import comb


def jaccard_similarity(vectors: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
    """Pairwise Jaccard similarity |A ∩ B| / |A ∪ B| of boolean row vectors (1 on the diagonal).

    Two empty vectors have similarity 1 (identical), an empty and a non-empty one 0.
    `observed` (same shape; None = all observed): each pair is compared over the columns observed
    in both rows only (a neuron not measured during one of two events says nothing about how
    alike they are); a True in `vectors` counts as observed.
    """
    x = np.asarray(vectors, dtype=bool).astype(np.float64)
    inter = x @ x.T
    if observed is None:
        size = x.sum(axis=1)
        union = size[:, None] + size[None, :] - inter
    else:
        o = (np.asarray(observed, dtype=bool) | (x > 0)).astype(np.float64)
        seen = x @ o.T  # [a, b]: columns of A observed in B
        union = seen + seen.T - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
    np.fill_diagonal(sim, 1.0)
    return sim


def silhouette_score(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of a clustering from a square distance matrix (0 for singletons)."""
    labels = np.asarray(labels)
    uniq, lab = np.unique(labels, return_inverse=True)
    k, m = len(uniq), len(labels)
    if k < 2 or k >= m:
        return float("nan")
    onehot = np.zeros((m, k))
    onehot[np.arange(m), lab] = 1.0
    sums = distance @ onehot
    sizes = onehot.sum(axis=0)
    own = sizes[lab]
    a = np.where(own > 1, sums[np.arange(m), lab] / np.maximum(own - 1, 1), 0.0)
    mean_other = sums / sizes
    mean_other[np.arange(m), lab] = np.inf
    b = mean_other.min(axis=1)
    denom = np.maximum(a, b)
    s = np.where((own > 1) & (denom > 0), (b - a) / np.where(denom > 0, denom, 1), 0.0)
    return float(s.mean())


def cluster_events(
    similarity: np.ndarray,
    *,
    method: str = "average",
    n_clusters: int | None = None,
    max_k: int = 20,
    min_silhouette: float = 0.1,
    min_similarity: float = 0.2,
    min_events: int = 3,
) -> tuple[np.ndarray, dict]:
    """Cluster events on 1 - Jaccard; returns labels (0 = largest cluster, -1 = none) and cut info.

    Events whose best similarity to any other event is below `min_similarity` repeat nothing, so
    they are left out (-1) before clustering; chance coactivity (up to 1 - percentile/100 of
    windows or bins under the pooled null) is mostly of this kind. Clusters with fewer than
    `min_events` events become -1.
    """
    m = len(similarity)
    info: dict = {"rule": "fixed k" if n_clusters else "silhouette", "scores": {}, "k": 0}
    labels = np.full(m, -1, dtype=np.int64)
    sim = np.asarray(similarity, dtype=float)
    others = sim - np.eye(m) * 2  # exclude self-similarity from the best match
    kept = np.flatnonzero(others.max(axis=1, initial=-1.0) >= min_similarity) if m > 1 else []
    info["n_singular"] = int(m - len(kept))
    if len(kept) >= 2:
        dist = np.clip(1.0 - sim[np.ix_(kept, kept)], 0.0, 1.0)
        dist = (dist + dist.T) / 2
        np.fill_diagonal(dist, 0.0)
        z = linkage(squareform(dist, checks=False), method=method)
        if n_clusters:
            k = min(int(n_clusters), len(kept))
        else:
            k, best = 1, -np.inf
            for cand in range(2, min(max_k, len(kept) - 1) + 1):
                score = silhouette_score(dist, fcluster(z, cand, criterion="maxclust"))
                info["scores"][cand] = score
                if np.isfinite(score) and score > best + 1e-12:
                    k, best = cand, score
            if best < min_silhouette:
                k = 1
        labels[kept] = fcluster(z, k, criterion="maxclust") - 1 if k > 1 else 0
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    labels[np.isin(labels, ids[counts < min_events])] = -1
    if (labels >= 0).any():
        labels[labels >= 0] = _relabel_by_size(labels[labels >= 0])
    info["k"] = int(labels.max(initial=-1) + 1)
    return labels, info


def event_linkage(similarity: np.ndarray, method: str = "average") -> np.ndarray | None:
    """Linkage of all events on 1 - Jaccard (for dendrograms); None with fewer than 2 events."""
    if len(similarity) < 2:
        return None
    dist = np.clip(1.0 - np.asarray(similarity, dtype=float), 0.0, 1.0)
    dist = (dist + dist.T) / 2
    np.fill_diagonal(dist, 0.0)
    return linkage(squareform(dist, checks=False), method=method)


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Number clusters 0, 1, ... from the largest to the smallest (ties: first appearance)."""
    uniq, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    new = np.empty(len(uniq), dtype=np.int64)
    new[order] = np.arange(len(uniq))
    return new[np.searchsorted(uniq, labels)]


def adjusted_rand_index(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Hubert & Arabie adjusted Rand index from the contingency table (1 = identical partitions)."""
    t = np.unique(np.asarray(labels_true), return_inverse=True)[1]
    p = np.unique(np.asarray(labels_pred), return_inverse=True)[1]
    n = len(t)
    if n < 2:
        return 1.0
    table = np.zeros((t.max() + 1, p.max() + 1), dtype=np.int64)
    np.add.at(table, (t, p), 1)
    sum_cells = comb(table, 2).sum()
    sum_rows = comb(table.sum(axis=1), 2).sum()
    sum_cols = comb(table.sum(axis=0), 2).sum()
    expected = sum_rows * sum_cols / comb(n, 2)
    max_index = (sum_rows + sum_cols) / 2
    if max_index == expected:  # both partitions trivial (one cluster, or all singletons)
        return 1.0
    return float((sum_cells - expected) / (max_index - expected))
