"""Small geometry of a binary worm mask shared by the segmenter, its tip step, the centerline
fit, the head/tail look cue and the quality list: the mask's box, a padded crop around it,
skeleton end points, and which holes are noise and which a coil's loop."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) inclusive bounds of a mask's pixels (row/column projections: fast)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def padded_box(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    """Slices of the mask's box grown by `pad` px on every side, within the image (None when
    the mask is empty): the crop the per-mask steps work in instead of the whole frame."""
    box = bbox(mask)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    h, w = mask.shape
    return slice(max(y0 - pad, 0), min(y1 + pad + 1, h)), slice(
        max(x0 - pad, 0), min(x1 + pad + 1, w)
    )


def skeleton_tips(skel: np.ndarray) -> np.ndarray:
    """(K, 2) (y, x) of skeleton pixels with exactly one neighbour (the ends of its branches;
    none for a closed loop)."""
    nb = ndi.convolve(skel.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant")
    return np.argwhere(skel & (nb == 2))  # itself + one neighbour


SMALL_HOLE = 0.15  # holes under this x width^2 are noise in the body, larger ones a loop


def fill_small_holes(mask: np.ndarray, width: float) -> np.ndarray:
    """`mask` with its small holes filled; holes of `SMALL_HOLE` x width^2 or more stay open.

    Noise and a lighter gut leave holes of a few pixels inside the body; background enclosed
    by a coiled worm's loop is at least a good part of a body width across (on the WormPose
    omega turn 70-90 px for a 9-12 px wide worm, against 1 px for the largest hole of noise).
    Filling such a loop turns the coil into a blob whose skeleton is a stub: the centerline,
    curvature and eigenworms of the frame then come out wrong. (The threshold used to be
    (0.8 x width)^2, which filled the whole loop of that omega turn.)
    """
    filled = ndi.binary_fill_holes(mask)
    holes, n = ndi.label(filled & ~mask)
    if n:
        sizes = np.bincount(holes.ravel())
        big = sizes >= SMALL_HOLE * width * width
        big[0] = False
        filled &= ~big[holes]
    return filled


def encloses_loop(mask: np.ndarray) -> bool:
    """True when the mask encloses background as large as a coil's loop (`fill_small_holes`):
    the worm touches or crosses itself."""
    box = padded_box(mask, 1)
    if box is None:
        return False
    crop = np.asarray(mask[box], bool)
    holes = ndi.binary_fill_holes(crop) & ~crop
    if not holes.any():
        return False
    width = 2.0 * float(ndi.distance_transform_edt(crop).max())
    return bool((fill_small_holes(crop, width) & ~crop).sum() < holes.sum())
