"""Neuropil rings around binary ROIs (hand-drawn cells), suite2p's rule.

A cell's measured fluorescence F includes out-of-focus neuropil; suite2p subtracts
c x Fneu, Fneu the mean of a surround that (1) leaves a gap of `inner_neuropil_radius` px
around the ROI, so the cell's own blurred edge is not counted as neuropil, (2) holds no
pixel of any ROI, and (3) grows until it holds `min_neuropil_pixels` pixels
(suite2p/extraction/masks.py `create_neuropil_masks`). The ring's size does not scale with
the cell: suite2p has no outer radius and no cell-size ratio in its extraction (checked in
suite2p's masks.py of June 2026), only the minimum pixel count, so a large ROI gets a thin ring
of about `min_neuropil_pixels` and a small one a wider ring of the same count, here too.
suite2p grows a rectangle around the gap by 5 px per step (a circle with `circular_neuropil`)
until it holds more than the minimum; here the ring is every allowed pixel up to the smallest
Euclidean distance from the ROI that gives the minimum (a round ring of about that many pixels,
more only where pixels tie at the last distance). At the frame's edge or among dense ROIs the
ring reaches as far as it must; a frame without that many free pixels gives a smaller ring (the
caller warns). ROIs and rings are flat pixel-index lists (`neuropil_rings`), never a full frame
per ROI.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from napari_catrack.core.sources.params import NeuropilParams


def neuropil_masks(masks: np.ndarray, params: NeuropilParams | None = None) -> np.ndarray:
    """(K, Y, X) bool neuropil rings of the (K, Y, X) bool ROI masks (see the module doc)."""
    masks = np.asarray(masks, bool)
    shape = masks.shape[1:]
    pixels = [np.flatnonzero(m) for m in masks]
    out = np.zeros((len(masks), int(np.prod(shape))), bool)
    for k, ring in enumerate(neuropil_rings(pixels, shape, params)):
        out[k, ring] = True
    return out.reshape(masks.shape)


def neuropil_rings(
    pixels: list[np.ndarray], shape: tuple[int, int], params: NeuropilParams | None = None
) -> list[np.ndarray]:
    """The neuropil rings (flat, sorted pixel indices) of ROIs given as flat pixel indices in a
    frame of `shape` (see the module doc). Each ring is found in a window around its ROI, and
    only one full frame (the union of the ROIs) is held, so thousands of ROIs cost little."""
    p = params or NeuropilParams()
    ly, lx = int(shape[0]), int(shape[1])
    taken = np.zeros(ly * lx, bool)
    for px in pixels:
        taken[px] = True
    taken = taken.reshape(ly, lx)
    out = []
    for px in pixels:
        ys, xs = np.unravel_index(np.asarray(px, np.int64), (ly, lx))
        ring = np.zeros(0, np.int64)
        if not ys.size:
            out.append(ring)
            continue
        # a window around the ROI large enough for the ring; doubled until the ring fits in it
        margin = int(p.inner_neuropil_radius_px + np.sqrt((p.min_neuropil_pixels + ys.size) / np.pi)) + 2  # fmt: skip
        while True:
            y0, y1 = max(ys.min() - margin, 0), min(ys.max() + margin + 1, ly)
            x0, x1 = max(xs.min() - margin, 0), min(xs.max() + margin + 1, lx)
            whole = (y0, x0, y1, x1) == (0, 0, ly, lx)
            mask = np.zeros((y1 - y0, x1 - x0), bool)
            mask[ys - y0, xs - x0] = True
            dist = ndimage.distance_transform_edt(~mask)
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
                ry, rx = np.nonzero(free & (dist <= reach))
                ring = np.ravel_multi_index((ry + y0, rx + x0), (ly, lx)).astype(np.int64)
                break
            margin *= 2
        out.append(ring)
    return out
