"""Where to look: low-confidence stretches of tracks, grouped per neuron and ranked by severity."""

from __future__ import annotations

import numpy as np
import pandas as pd


def low_confidence(
    tracks: pd.DataFrame, threshold: float = 0.5, min_length: int = 1
) -> pd.DataFrame:
    """Stretches where a neuron's confidence stays below `threshold`: where to look and fix.

    Returns `neuron_id,start_frame,end_frame,min_confidence` (frames inclusive).
    """
    out = []
    for nid, g in tracks.sort_values(["neuron_id", "frame"]).groupby("neuron_id", sort=False):
        low = (g.confidence.to_numpy() < threshold).astype(np.int8)
        edges = np.diff(np.concatenate([[0], low, [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        frames, c = g.frame.to_numpy(), g.confidence.to_numpy()
        for s, e in zip(starts, ends):
            if e - s + 1 >= min_length:
                out.append((nid, int(frames[s]), int(frames[e]), float(c[s : e + 1].min())))
    return pd.DataFrame(out, columns=["neuron_id", "start_frame", "end_frame", "min_confidence"])
