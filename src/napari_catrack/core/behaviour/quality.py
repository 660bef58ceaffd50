"""Which frames a person should look at: the low-confidence list of the segmentation.

A frame is listed when its score is low (SAM's own predicted IoU, or for the classical method
the shape overlap with the previous frame), when the mask area jumps against the recent median
(the mask grabbed something, or lost part of the worm), when the mask touches the image border
(the worm is partly out of view), when it encloses a loop (the worm touches or crosses itself:
its centerline is walked through the crossing or fitted, not read off the skeleton), or when
it is empty. Once centerlines exist, their frame status adds to the list (`doubtful_frames`):
coiled, filled from the neighbours, or failed (no usable centerline, posture NaN). The reasons
are kept in words, so the list in the widget says why each frame is there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.behaviour.masks import encloses_loop
from napari_catrack.text import frame_ranges

LOOP = "worm touches itself (loop)"
BLANK = "blank frame (could not be decoded): no mask"
CENTERLINE_REASONS = {
    "coiled": "coiled: centerline walked through the crossing or fitted",
    "filled": "no usable centerline: filled from the neighbours",
    "failed": "no usable centerline: position only, posture NaN",
}


def frame_quality(
    masks: np.ndarray,
    score: np.ndarray,
    *,
    low_score: float = 0.75,
    area_jump: float = 0.25,
    window: int = 15,
    source: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per frame: `frame,score,area,area_change,touches_border,low_confidence,reason`.

    source: the segmentation's per-frame source (`SegmentationResult.source`); "blank" frames
    (no image: lost or undecodable video frames) are listed as such."""
    blank = np.zeros(len(masks), bool) if source is None else np.asarray(source, str) == "blank"
    masks = np.asarray(masks)
    T = len(masks)
    area = masks.reshape(T, -1).sum(axis=1).astype(float)
    border = (
        masks[:, 0, :].any(axis=1) | masks[:, -1, :].any(axis=1)
        | masks[:, :, 0].any(axis=1) | masks[:, :, -1].any(axis=1)
    )  # fmt: skip
    ref = (
        pd.Series(np.where(area > 0, area, np.nan))
        .rolling(2 * window + 1, center=True, min_periods=1)
        .median()
        .to_numpy()
    )
    change = np.where(ref > 0, (area - ref) / ref, np.nan)
    reasons = []
    for t in range(T):
        why = []
        if blank[t]:
            why.append(BLANK)
        elif area[t] == 0:
            why.append("empty mask")
        else:
            if encloses_loop(masks[t]):
                why.append(LOOP)
            if score[t] < low_score:
                why.append(f"low score {score[t]:.2f}")
            if np.isfinite(change[t]) and abs(change[t]) > area_jump:
                why.append(f"area {change[t]:+.0%}")
            if border[t]:
                why.append("touches the border")
        reasons.append(", ".join(why))
    return pd.DataFrame(
        {
            "frame": np.arange(T),
            "score": np.asarray(score, float),
            "area": area.astype(int),
            "area_change": change,
            "touches_border": border,
            "low_confidence": [bool(r) for r in reasons],
            "reason": reasons,
        }
    )


def doubtful_frames(quality: pd.DataFrame | None, status=None) -> pd.DataFrame:
    """`frame,reason` of every frame to look at: the segmentation's low-confidence frames
    (`frame_quality`) and the frames whose centerline is not read off their own skeleton
    (`status`: coiled / filled / failed), one row per frame with the reasons joined."""
    reasons: dict[int, list[str]] = {}
    if quality is not None and len(quality):
        low = quality[quality["low_confidence"].astype(bool)]
        for f, r in zip(low["frame"].to_numpy(int), low["reason"].astype(str)):
            reasons.setdefault(int(f), []).append(r)
    if status is not None:
        for f, s in enumerate(np.asarray(status, str)):
            if s in CENTERLINE_REASONS:
                have = reasons.setdefault(f, [])
                if s == "coiled" and any(LOOP in r for r in have):
                    continue  # already listed as touching itself
                have.append(CENTERLINE_REASONS[s])
    frames = sorted(reasons)
    return pd.DataFrame(
        {"frame": np.asarray(frames, int), "reason": [", ".join(reasons[f]) for f in frames]}
    )


def status_warnings(status) -> list[str]:
    """One line per kind of frame whose centerline is not read off its own skeleton."""
    status = np.asarray(status, str)
    lines = []
    for s, what in (
        ("coiled", "the worm touches itself: centerline walked through the crossing or "
                   "fitted from the neighbours"),
        ("filled", "no usable centerline: filled from the neighbours"),
        ("failed", "no usable centerline, and the gap too long or its neighbours too "
                   "different to fill: the points stand in for the position only, posture "
                   "(curvature, eigenworms) is NaN"),
    ):  # fmt: skip
        frames = np.flatnonzero(status == s)
        if len(frames):
            lines.append(f"{len(frames)} frame(s) {s} ({what}): {frame_ranges(frames)}")
    return lines
