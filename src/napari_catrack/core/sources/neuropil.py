"""Neuropil rings around binary ROIs (hand-drawn cells), suite2p's rule.

A cell's measured fluorescence F includes out-of-focus neuropil; suite2p subtracts
c x Fneu, Fneu the mean of a surround that (1) leaves a gap of `inner_neuropil_radius` px
around the ROI, so the cell's own blurred edge is not counted as neuropil, (2) holds no
pixel of any ROI, and (3) grows until it holds `min_neuropil_pixels` pixels
(suite2p/extraction/masks.py `create_neuropil_masks`). suite2p grows its ring by city-block
steps of 5 px until the count passes the minimum; here the ring is every allowed pixel up to
the smallest Euclidean distance from the ROI that gives the minimum (a round ring of about
that many pixels, more only where pixels tie at the last distance). At the frame's edge or
among dense ROIs the ring reaches as far as it must; a frame without that many free pixels
gives a smaller ring (the caller warns).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_catrack.core.sources.params import NeuropilParams


def neuropil_masks(masks: np.ndarray, params: NeuropilParams | None = None) -> np.ndarray:
    """(K, Y, X) bool neuropil rings of the (K, Y, X) bool ROI masks (see the module doc)."""
    p = params or NeuropilParams()
    masks = np.asarray(masks, bool)
    taken = masks.any(axis=0)
    out = np.zeros_like(masks)
    ly, lx = taken.shape
    for k, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        if not ys.size:
            continue
        # a window around the ROI large enough for the ring; doubled until the ring fits in it
        margin = int(p.inner_neuropil_radius_px + np.sqrt((p.min_neuropil_pixels + ys.size) / np.pi)) + 2  # fmt: skip
        while True:
            y0, y1 = max(ys.min() - margin, 0), min(ys.max() + margin + 1, ly)
            x0, x1 = max(xs.min() - margin, 0), min(xs.max() + margin + 1, lx)
            whole = (y0, x0, y1, x1) == (0, 0, ly, lx)
            dist = ndimage.distance_transform_edt(~mask[y0:y1, x0:x1])
            free = ~taken[y0:y1, x0:x1] & (dist > p.inner_neuropil_radius_px)
            d = np.sort(dist[free])
            if not d.size:
                if whole:
                    break
                margin *= 2
                continue
            reach = d[min(p.min_neuropil_pixels, d.size) - 1]
            # a pixel outside the window is farther than `margin` from the ROI: exact if within
            if whole or (d.size >= p.min_neuropil_pixels and reach <= margin):
                out[k, y0:y1, x0:x1] = free & (dist <= reach)
                break
            margin *= 2
    return out
