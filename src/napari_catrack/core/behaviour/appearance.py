"""Head/tail cue from the image: one end of the body looks different, the same way all video.

A worm's two ends do not look alike under the microscope: in bright-field the pharynx at the
head is clearer than the gut-filled body towards the tail (on the WormPose sample video the
head's end absorbs 6.5 % less of the light than the tail's, on 99 % of the labelled frames). Which end is the lighter one
is not assumed: `appearance_evidence` learns it from the video itself, from the orientation the
other cues already chose on most frames, and only where it is consistent (the same sign on at
least `min_agreement` of the frames). A stretch the crawling-wave cue got backwards (a worm that
reverses for seconds between two coils) then disagrees with the rest of the video's look, and
the evidence turns it round in the video-wide Viterbi (`headtail.orient`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_catrack.core.behaviour.masks import padded_box


def end_difference(frame: np.ndarray, mask: np.ndarray, curve: np.ndarray) -> float:
    """Relative contrast near point 0 minus near the last point (0 = no difference).

    Relative contrast = (body - local background) / local background, in the body's own
    polarity: for a bright-field worm that is the fraction of light it absorbs, whatever the
    illumination there (vignetting would otherwise make the better-lit end look darker). The
    local background is a normalised Gaussian average (6 px) of the ring around the mask; the
    body is sampled along `curve` (N, 2) on the lightly smoothed frame at 5-20 % and 80-95 % of
    its length. NaN when there is no body or no background to compare with.
    """
    mask = np.asarray(mask, bool)
    curve = np.asarray(curve, float)
    box = padded_box(mask, 10)
    if box is None or not np.isfinite(curve).all():
        return float("nan")
    img = np.asarray(frame[box], np.float32)
    m = mask[box]
    dist = ndi.distance_transform_edt(~m)
    ring = (dist > 2) & (dist <= 6)  # background 2-6 px from the body
    if ring.sum() < 10:
        return float("nan")
    weight = ndi.gaussian_filter(ring.astype(np.float32), 6.0, truncate=2.5)
    bg = ndi.gaussian_filter(np.where(ring, img, 0), 6.0, truncate=2.5)
    bg /= np.maximum(weight, 1e-6)
    sign = 1.0 if np.median(img[m]) > np.median(img[ring]) else -1.0
    rel = sign * (ndi.gaussian_filter(img, 1.0) - bg) / np.maximum(np.abs(bg), 1e-6)
    n = len(curve)
    along = ndi.map_coordinates(
        rel, (curve - (box[0].start, box[1].start)).T, order=1, mode="nearest"
    )
    i0 = int(0.05 * n)
    i1 = max(int(0.2 * n), i0 + 1)
    return float(along[i0:i1].mean() - along[n - i1 : n - i0].mean())  # mirror-image spans


def appearance_evidence(
    diffs: np.ndarray, usable: np.ndarray, *, min_agreement: float = 0.8, min_frames: int = 20
) -> np.ndarray:
    """Per-frame evidence (> 0: the curve's point 0 is the head as given), zero when unlearnt.

    diffs: (T,) `end_difference` of each frame's curve in its current orientation. usable:
    frames to learn from (read from their own skeleton). The video's sign is that of the
    median over usable frames; it counts only when at least `min_agreement` of them agree.
    Evidence = diff / median, clipped to +-2 (1 for a typical frame, about one frame of
    crawling-wave evidence). The 80 % agreement keeps the cue out of videos where the ends
    look follows something else (uneven light, debris) as often as the body.
    """
    diffs = np.asarray(diffs, float)
    ok = np.asarray(usable, bool) & np.isfinite(diffs)
    out = np.zeros(len(diffs))
    if ok.sum() < min_frames:
        return out
    med = float(np.median(diffs[ok]))
    if med == 0 or np.mean(np.sign(diffs[ok]) == np.sign(med)) < min_agreement:
        return out
    z = np.nan_to_num(diffs / med, nan=0.0)  # > 0 where a frame looks like the majority
    return np.clip(z, -2.0, 2.0)
