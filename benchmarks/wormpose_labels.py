"""Audit of the WormPose labels against their own frames (used by bench_behaviour_real.py).

The labels are a centerline of 52 points (x, y) and a FULL body width in px at each point; the
benchmark derives a mask from them (`scoring.derived_mask`, the union of discs, which matches
WormPose's own drawing, `scoring.wormpose_mask`, to IoU 0.999). This module measures, from the
image, where the labels sit relative to the worm they label, without touching any segmenter:

- the tuning / reported split: alternate blocks of 24 consecutive labelled frames (neighbouring
  frames look alike, so a frame-by-frame alternation would leak);
- lateral offset: along the label's normal at each mid-body point (points 8-43), the centre of
  the body's cross-section at half its peak contrast, minus the label point; regressed on the
  label's own curvature (a centerline smoothed along the body is less bent than the worm, so it
  sits on the inner side of every bend by about gain x curvature);
- edge level: the image contrast (0 = background, 1 = mid-body core) on the derived mask's
  boundary, and the tips: how far past the last labelled point the image falls to that level,
  against the derived cap (radius width / 2);
- `bend`: labels moved along their normal by gain x curvature (the label-only correction whose
  gain is fitted on the tuning half), a view that shows how much of the disagreement is the
  labels' smoothing.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

BLOCK = 24
MID = slice(8, 44)


def split_halves(idx: np.ndarray, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """(tuning, reported) labelled frame indices: alternate blocks of `block` frames."""
    b = (np.arange(len(idx)) // block) % 2
    return idx[b == 0], idx[b == 1]


def normals_curvature(yx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (pointing away from the centre of curvature where it is > 0) and curvature."""
    tangent = np.gradient(yx, axis=0)
    ds = np.linalg.norm(tangent, axis=1)
    tangent /= ds[:, None]
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    angle = np.unwrap(np.arctan2(tangent[:, 0], tangent[:, 1]))
    return normal, np.gradient(angle) / ds


def bend(yx: np.ndarray, gain: float) -> np.ndarray:
    """The centerline moved along its normal by gain x curvature (undoes along-body smoothing)."""
    normal, curv = normals_curvature(yx)
    return yx + gain * curv[:, None] * normal


def normalised_contrast(img: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """0 = the background around the worm, 1 = its darkest (mid-body) core."""
    img = img.astype(float)
    ring = ndi.binary_dilation(truth, iterations=8) & ~ndi.binary_dilation(truth, iterations=3)
    core = ndi.binary_erosion(truth, iterations=3)
    bg = np.median(img[ring])
    dark = np.percentile(img[core], 10) if core.any() else img[truth].min()
    return (bg - img) / max(bg - dark, 1e-6)


def lateral_offsets(c: np.ndarray, yx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offset px, label curvature 1/px) at the mid-body points whose cross-section is clean."""
    normal, curv = normals_curvature(yx)
    t = np.arange(-9.0, 9.0001, 0.05)
    centre = int(np.argmin(np.abs(t)))
    off, kap = [], []
    for k in range(MID.start, MID.stop):
        pts = yx[k][None] + t[:, None] * normal[k][None]
        prof = ndi.map_coordinates(c, pts.T, order=1, mode="nearest")
        inside = prof > 0.5 * prof[np.abs(t) < 3].max()
        if not inside[centre]:
            continue
        left, right = inside[centre::-1], inside[centre:]
        lo = 0 if left.all() else centre - int(np.argmin(left)) + 1
        hi = len(t) - 1 if right.all() else centre + int(np.argmin(right)) - 1
        if lo == 0 or hi == len(t) - 1 or t[hi] - t[lo] > 14:  # another body part in the way
            continue
        off.append((t[lo] + t[hi]) / 2)
        kap.append(curv[k])
    return np.array(off), np.array(kap)


def edge_level(c: np.ndarray, truth: np.ndarray) -> float:
    """Mean contrast on the derived boundary (its last pixels inside and first outside)."""
    inner = truth & ~ndi.binary_erosion(truth)
    outer = ndi.binary_dilation(truth) & ~truth
    return float((c[inner].mean() + c[outer].mean()) / 2)


def tip_overshoot(c: np.ndarray, yx: np.ndarray, widths: np.ndarray, level: float) -> list:
    """Per end: (distance past the last point where the image falls to `level`) - width / 2."""
    t = np.arange(-1.0, 10.0, 0.05)
    out = []
    for p, q, w in ((yx[0], yx[2], widths[0]), (yx[-1], yx[-3], widths[-1])):
        u = (p - q) / np.linalg.norm(p - q)
        prof = ndi.map_coordinates(c, (p[None] + t[:, None] * u[None]).T, order=1, mode="nearest")
        below = np.flatnonzero(prof < level)
        if len(below):
            out.append(float(t[below[0]] - w / 2))
    return out
