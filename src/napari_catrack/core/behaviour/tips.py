"""Body tips of a thresholded worm: extended to the edge level the threshold misses there.

A worm's head and tail taper: the body there is thinner, so it absorbs (or emits) less, and the
smoothing before the threshold blurs a tip from three sides instead of two. A threshold that
puts the body's sides at the right place therefore stops short of the tips (measured on the real
WormPose frames: the visible tip, at the same absolute contrast as the body's edge, lies about
3 px past the last labelled point, where our masks stopped 0.5-1 px earlier). So, near the ends of
the mask's skeleton only, the mask grows (a few 1-px steps, staying connected) into pixels of the
(smoothed) contrast above a lower level. Away from the tips nothing changes, so the body's sides
keep the edge the main threshold gives them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

_EIGHT = np.ones((3, 3), bool)


def skeleton_ends(mask: np.ndarray) -> np.ndarray:
    """(K, 2) pixel (y, x) of the skeleton's end points (none for a closed loop)."""
    from skimage.morphology import skeletonize

    sk = skeletonize(mask)
    neighbours = ndi.convolve(sk.astype(np.uint8), _EIGHT.astype(np.uint8), mode="constant")
    return np.argwhere(sk & (neighbours == 2))  # itself + one neighbour


def extend_tips(
    mask: np.ndarray, contrast: np.ndarray, level: float, *, reach: int = 6, steps: int = 3
) -> np.ndarray:
    """`mask` grown at its tips into connected pixels with `contrast` above `level`.

    Growth is limited to discs of radius `reach` px around the skeleton's end points and to
    `steps` one-pixel dilations, so a tip can lengthen by at most `steps` px and nothing
    elsewhere (debris next to the body, a neighbouring body part) is reached.
    """
    if not mask.any():
        return mask
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    pad = reach + steps
    y0, x0 = max(rows[0] - pad, 0), max(cols[0] - pad, 0)
    y1, x1 = rows[-1] + pad + 1, cols[-1] + pad + 1
    crop = mask[y0:y1, x0:x1]
    ends = skeleton_ends(crop)
    if len(ends) == 0:
        return mask
    yy, xx = np.ogrid[: crop.shape[0], : crop.shape[1]]
    near = np.zeros(crop.shape, bool)
    for y, x in ends:
        near |= (yy - y) ** 2 + (xx - x) ** 2 <= reach * reach
    allowed = near & (contrast[y0:y1, x0:x1] > level)
    grown = crop.copy()
    for _ in range(steps):
        grown |= ndi.binary_dilation(grown) & allowed
    out = mask.copy()
    out[y0:y1, x0:x1] = grown
    return out
