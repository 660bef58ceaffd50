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
    "worst_frame", "jump_px", "severity", "lost_frames", "poor_match_frames",
]  # fmt: skip

STATUS_RISK = {"tracked": 20.0, "predicted": 1.0, "lost": 0.25}
"""How much a low-confidence frame of each `status` weighs in a place's `severity`: how likely
it is wrong, relative to a `predicted` frame (no peak of its own, carried by the motion
estimate). A `tracked` frame below the threshold sits on a peak that fits badly (far from where
the neuron was predicted, of another brightness, with a rival peak close by, or on probation after
a take-back away from its held place): of such frames 19-21 % were more than 4 px off on ZephIR
and 49 % more than 2 px on hard synthetic worms, against 2.0-2.4 % and 6.7 % of predicted ones,
and a tracked frame lacks less confidence than a predicted one (mostly 0.1-0.5 against 0.1),
hence 20. A `lost` frame is held where the neuron was last seen, moved with its neighbours: on
ZephIR 0.2 % of them were off (predicted 2 %), on the synthetic movies 0.8-16 % (predicted
7-55 %); 0.25 is about the middle of those ratios. Before h18 every low frame weighed 1 and whole-recording lost stretches of
neurons held in the right place filled the first places of the list (ZephIR: 16 % of the
failures in its first 10 places; now 77 %; docs/tracking.md)."""


def _statuses(tracks: pd.DataFrame) -> pd.Series:
    """The `status` of each row; for a table written before the column (h15) what the tracker
    of then meant: above the no-peak confidence (0.1) tracked, else predicted (never lost)."""
    if "status" in tracks.columns:
        return tracks["status"].astype(str)
    from napari_catrack.core.tracking.tracker import status_from_confidence

    source = tracks["source"] if "source" in tracks.columns else pd.Series("auto", tracks.index)
    return pd.Series(status_from_confidence(tracks.confidence, source), index=tracks.index)


def _positions(tracks: pd.DataFrame):
    """(ids, frames, positions (T, N, 2), confidence (T, N), status (T, N) as STATUS_RISK
    keys, "" where a neuron has no row) on the union of frames."""
    status = _statuses(tracks)
    codes = {name: float(i) for i, name in enumerate(STATUS_RISK)}
    tracks = tracks.assign(_status=status.map(codes).astype(float))
    wide = tracks.pivot_table(index="frame", columns="neuron_id",
                              values=["y", "x", "confidence", "_status"], aggfunc="first",
                              dropna=False, sort=True)  # fmt: skip
    ids = list(wide["confidence"].columns)
    pos = np.stack([wide["y"][ids].to_numpy(float), wide["x"][ids].to_numpy(float)], axis=-1)
    code = wide["_status"][ids].to_numpy(float)
    names = np.array([*STATUS_RISK, ""], dtype=object)
    status = names[np.where(np.isnan(code), len(STATUS_RISK), np.nan_to_num(code)).astype(int)]
    return ids, wide.index.to_numpy(), pos, wide["confidence"][ids].to_numpy(float), status


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
    """Low-confidence stretches grouped per neuron and ranked by how likely they are wrong.

    Frames below `threshold` form runs; runs of one neuron separated by at most `merge_gap`
    confident frames are one group (a focus dip flickering around the threshold is one place to
    look, not twenty). Each group's `severity` = the confidence it lacks, summed over its low
    frames (a frame at confidence 0 counts 1, at the threshold 0), each frame weighted by the
    risk of its `status` (STATUS_RISK: tracked 20, on a peak that fits badly; predicted 1; lost
    0.25, held in place with its neighbours), times (1 + `jump_px` / 2), where `jump_px` is the
    largest frame-to-frame move of the track against the common motion of all tracks within the
    group (hopping onto another blob). `lost_frames` and `poor_match_frames` count the group's
    low frames whose `status` is lost (no peak of its own for longer than `lost_after`) and
    tracked (on a peak, below the threshold). A table without `status` (before h15) reads it from
    the confidence (`status_from_confidence`). Returns REVIEW_COLUMNS sorted by severity (rank 1
    = worst); a widget shows the first rows and counts the rest. A `threshold` of 0 (allowed by
    `TrackParams.low_confidence`) lists nothing: no frame is below it.
    """
    if not 0 <= threshold <= 1:
        from napari_catrack.errors import InputError

        raise InputError(f"the confidence threshold must be in [0, 1], got {threshold}")
    if len(tracks) == 0 or threshold == 0:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    ids, frames, pos, conf, status = _positions(tracks)
    jump = _jumps(pos)
    risk = np.ones(status.shape)  # a status of no known kind weighs as a predicted frame
    for name, weight in STATUS_RISK.items():
        risk[status == name] = weight
    rows = []
    for n, nid in enumerate(ids):
        c = conf[:, n]
        low = np.flatnonzero(np.nan_to_num(c, nan=1.0) < threshold)
        if len(low) == 0:
            continue
        breaks = np.flatnonzero(np.diff(low) > merge_gap + 1)
        for grp in np.split(low, breaks + 1):
            s, e = grp[0], grp[-1]
            deficit = float(np.sum(risk[grp, n] * (1.0 - c[grp] / threshold)))
            j = float(jump[max(s - 1, 0) : e + 2, n].max())
            worst = grp[np.argmin(c[grp])]
            rows.append((nid, int(frames[s]), int(frames[e]), len(grp), float(c[grp].min()),
                         int(frames[worst]), round(j, 2), round(deficit * (1 + j / 2), 3),
                         int((status[grp, n] == "lost").sum()),
                         int((status[grp, n] == "tracked").sum())))  # fmt: skip
    out = pd.DataFrame(rows, columns=REVIEW_COLUMNS[1:])
    out = out.sort_values(["severity", "start_frame"], ascending=[False, True], kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)
