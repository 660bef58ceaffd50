"""Small geometry of a binary worm mask shared by the segmenter, its tip step, the centerline
fit and the head/tail look cue: the mask's box, a padded crop around it, skeleton end points."""

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
