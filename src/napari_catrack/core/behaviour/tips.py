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

from napari_catrack.core.behaviour.masks import padded_box, skeleton_tips


def skeleton_ends(mask: np.ndarray) -> np.ndarray:
    """(K, 2) pixel (y, x) of the skeleton's end points (none for a closed loop)."""
    from skimage.morphology import skeletonize

    return skeleton_tips(skeletonize(mask))


def extend_tips(
    mask: np.ndarray, contrast: np.ndarray, level: float, *, reach: int = 6, steps: int = 3
) -> np.ndarray:
    """`mask` grown at its tips into connected pixels with `contrast` above `level`.

    Growth is limited to discs of radius `reach` px around the skeleton's end points and to
    `steps` one-pixel dilations, so a tip can lengthen by at most `steps` px and nothing
    elsewhere (debris next to the body, a neighbouring body part) is reached.
    """
    box = padded_box(mask, reach + steps)
    if box is None:
        return mask
    crop = mask[box]
    ends = skeleton_ends(crop)
    if len(ends) == 0:
        return mask
    yy, xx = np.ogrid[: crop.shape[0], : crop.shape[1]]
    near = np.zeros(crop.shape, bool)
    for y, x in ends:
        near |= (yy - y) ** 2 + (xx - x) ** 2 <= reach * reach
    allowed = near & (contrast[box] > level)
    grown = crop.copy()
    for _ in range(steps):
        grown |= ndi.binary_dilation(grown) & allowed
    out = mask.copy()
    out[box] = grown
    return out
