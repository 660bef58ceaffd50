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


REVIEW_COLUMNS = [
    "rank", "neuron_id", "start_frame", "end_frame", "low_frames", "min_confidence",
    "worst_frame", "jump_px", "severity", "lost_frames",
]  # fmt: skip


def _positions(tracks: pd.DataFrame):
    """(ids, frames, positions (T, N, 2), confidence (T, N), lost (T, N) bool) on the union of
    frames (`lost`: the `status` column says lost; all False for a table without one)."""
    status = tracks["status"] if "status" in tracks.columns else pd.Series("", index=tracks.index)
    tracks = tracks.assign(_lost=(status.astype(str) == "lost").astype(float))
    wide = tracks.pivot_table(index="frame", columns="neuron_id",
                              values=["y", "x", "confidence", "_lost"], aggfunc="first",
                              dropna=False, sort=True)  # fmt: skip
    ids = list(wide["confidence"].columns)
    pos = np.stack([wide["y"][ids].to_numpy(float), wide["x"][ids].to_numpy(float)], axis=-1)
    lost = np.nan_to_num(wide["_lost"][ids].to_numpy(float)) > 0
    return ids, wide.index.to_numpy(), pos, wide["confidence"][ids].to_numpy(float), lost


def _jumps(pos: np.ndarray) -> np.ndarray:
    """(T, N) px a neuron moved between frames beyond the median motion of all neurons.

    The animal moves every neuron together; a track that jumps against that common motion has
    most likely hopped onto another blob. Frame 0 gets 0.
    """
    step = np.diff(pos, axis=0)
    if pos.shape[1] > 1:
        common = np.nanmedian(step, axis=1, keepdims=True)
        step = step - np.nan_to_num(common)
    jump = np.nan_to_num(np.linalg.norm(step, axis=-1))
    return np.vstack([np.zeros((1, pos.shape[1])), jump])


def review_stretches(
    tracks: pd.DataFrame, threshold: float = 0.5, merge_gap: int = 10
) -> pd.DataFrame:
    """Low-confidence stretches grouped per neuron and ranked worst first: what to check first.

    Frames below `threshold` form runs; runs of one neuron separated by at most `merge_gap`
    confident frames are one group (a focus dip flickering around the threshold is one place to
    look, not twenty). Each group's `severity` = the confidence it lacks, summed over its low
    frames (a frame at confidence 0 counts 1, at the threshold 0), times (1 + `jump_px` / 2),
    where `jump_px` is the largest frame-to-frame move of the track against the common motion of
    all tracks within the group (hopping onto another blob). `lost_frames` counts the group's
    frames whose `status` is lost (no peak of its own for longer than `lost_after`; 0 for a table
    without `status`). Returns REVIEW_COLUMNS sorted by severity (rank 1 = worst); a widget shows
    the first rows and counts the rest.
    """
    if not 0 < threshold <= 1:
        from napari_catrack.errors import InputError

        raise InputError(f"the confidence threshold must be in (0, 1], got {threshold}")
    if len(tracks) == 0:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    ids, frames, pos, conf, lost = _positions(tracks)
    jump = _jumps(pos)
    rows = []
    for n, nid in enumerate(ids):
        c = conf[:, n]
        low = np.flatnonzero(np.nan_to_num(c, nan=1.0) < threshold)
        if len(low) == 0:
            continue
        breaks = np.flatnonzero(np.diff(low) > merge_gap + 1)
        for grp in np.split(low, breaks + 1):
            s, e = grp[0], grp[-1]
            deficit = float(np.sum(1.0 - c[grp] / threshold))
            j = float(jump[max(s - 1, 0) : e + 2, n].max())
            worst = grp[np.argmin(c[grp])]
            rows.append((nid, int(frames[s]), int(frames[e]), len(grp), float(c[grp].min()),
                         int(frames[worst]), round(j, 2), round(deficit * (1 + j / 2), 3),
                         int(lost[grp, n].sum())))  # fmt: skip
    out = pd.DataFrame(rows, columns=REVIEW_COLUMNS[1:])
    out = out.sort_values(["severity", "start_frame"], ascending=[False, True], kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)
