"""Scoring extracted sources against ground truth (tests, benchmarks, peer comparisons).

Cells are matched one-to-one by the Hungarian algorithm on centre distance, a match counting
only within `tolerance_px` (4 px in the benchmarks, as neurofinder-style centre matching). The
trace score is the Pearson r of each matched cell's trace with its true activity.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def match_centres(est: np.ndarray, truth: np.ndarray, tolerance_px: float = 4.0):
    """(estimated index, true index) pairs within `tolerance_px`, one-to-one, closest overall."""
    est, truth = np.asarray(est, float).reshape(-1, 2), np.asarray(truth, float).reshape(-1, 2)
    if not len(est) or not len(truth):
        return np.zeros(0, int), np.zeros(0, int)
    d = np.hypot(*(est[:, None] - truth[None]).transpose(2, 0, 1))
    cost = np.where(d <= tolerance_px, d, 1e6)
    i, j = linear_sum_assignment(cost)
    ok = cost[i, j] <= tolerance_px
    return i[ok], j[ok]


def score_detection(est: np.ndarray, truth: np.ndarray, tolerance_px: float = 4.0) -> dict:
    i, _ = match_centres(est, truth, tolerance_px)
    tp = len(i)
    precision = tp / len(est) if len(est) else 0.0
    recall = tp / len(truth) if len(truth) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "n_est": len(est), "n_true": len(truth)}  # fmt: skip


def trace_correlations(est_traces: np.ndarray, true_traces: np.ndarray, pairs) -> np.ndarray:
    """r of each matched (est row, true row) pair; NaN where a trace is flat."""
    out = []
    for a, b in zip(*pairs, strict=True):
        x, y = np.asarray(est_traces[a], float), np.asarray(true_traces[b], float)
        ok = np.isfinite(x) & np.isfinite(y)
        out.append(np.corrcoef(x[ok], y[ok])[0, 1] if ok.sum() > 2 and x[ok].std() > 0 else np.nan)
    return np.asarray(out)
