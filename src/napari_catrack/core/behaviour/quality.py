"""Which frames a person should look at: the low-confidence list of the segmentation.

A frame is listed when its score is low (SAM's own predicted IoU, or for the classical method
the shape overlap with the previous frame), when the mask area jumps against the recent median
(the mask grabbed something, or lost part of the worm), when the mask touches the image border
(the worm is partly out of view), or when it is empty. The reasons are kept in words, so the
list in the widget says why each frame is there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def frame_quality(
    masks: np.ndarray,
    score: np.ndarray,
    *,
    low_score: float = 0.75,
    area_jump: float = 0.25,
    window: int = 15,
) -> pd.DataFrame:
    """Per frame: `frame,score,area,area_change,touches_border,low_confidence,reason`."""
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
        if area[t] == 0:
            why.append("empty mask")
        else:
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
