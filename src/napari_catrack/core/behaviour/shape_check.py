"""Is a centerline a worm's body? The check every frame's final centerline must pass.

A fit or a walk through a coil can go wrong without the mask saying so: the points bunch up
and fold back on themselves, or the curve covers only part of the body. Such a curve must not
give posture (its curvature comes out tens of times too high, its eigenworm amplitudes mean
nothing), so `compute_centerlines` replaces it by its neighbours' (short gaps, "filled") or
marks the frame "failed" (posture NaN). A centerline is implausible when
- its length is far from the video's median body length (below `min_length` or above
  `max_length` times it), or
- it folds back: resampled to 50 points (segments of 2 % of the body), its direction turns by
  more than `MAX_TURN_DEG` (90) between two consecutive segments somewhere. A worm bends at most
  about 30 degrees per 2 % of its length (the synthetic worms' tightest coils: 30; real frames
  read from their skeleton: 26), a fold-back is 180.
"""

from __future__ import annotations

import numpy as np

from napari_catrack.core.behaviour.centerline import curve_length, resample

CHECK_POINTS = 50
MAX_TURN_DEG = 90.0
MIN_LENGTH, MAX_LENGTH = 0.8, 1.25


def max_turn_deg(curve: np.ndarray, n: int = CHECK_POINTS) -> float:
    """Largest change of direction (degrees) between consecutive segments of the curve
    resampled to n evenly spaced points."""
    pts = resample(np.asarray(curve, float), n)
    d = np.diff(pts, axis=0)
    d = d[np.linalg.norm(d, axis=1) > 1e-9]
    if len(d) < 2:
        return 180.0  # collapsed onto a point
    angle = np.arctan2(d[:, 0], d[:, 1])
    return float(np.degrees(np.abs(np.angle(np.exp(1j * np.diff(angle))))).max())


def implausible(
    curve: np.ndarray,
    ref_length: float,
    *,
    min_length: float = MIN_LENGTH,
    max_length: float = MAX_LENGTH,
    max_turn: float = MAX_TURN_DEG,
) -> str:
    """Why this centerline is not a worm's body ("" when it is plausible)."""
    curve = np.asarray(curve, float)
    if not np.isfinite(curve).all():
        return "no centerline"
    length = curve_length(curve)
    if ref_length > 0 and length < min_length * ref_length:
        return f"too short ({length / ref_length:.0%} of the body length)"
    if ref_length > 0 and length > max_length * ref_length:
        return f"too long ({length / ref_length:.0%} of the body length)"
    turn = max_turn_deg(curve)
    if turn > max_turn:
        return f"folds back ({turn:.0f} degree turn)"
    return ""
