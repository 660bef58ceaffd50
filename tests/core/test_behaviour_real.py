"""Real bright-field frames (WormPose sample data, ../shared/data/worm/wormpose): the classical
method against masks derived from the published centerlines and widths.

Derived mask = union of discs of diameter `width` centred on the centerline (interpolated every
0.25 px), at pixel centres; the labels sit half a pixel off the images (a pixel-corner
convention), corrected by +0.5 px in y and x (benchmarks/bench_behaviour_real.py explains it and
also reports the numbers without any shift).
"""

from __future__ import annotations

import numpy as np

from napari_catrack.core.behaviour import Anchor, SegmentParams, segment_video
from napari_catrack.core.behaviour.centerline import mask_centerline
from tests.conftest import shared_data
from tests.core._behaviour_helpers import iou

FRAMES = (160, 257, 300, 357, 528, 560, 628, 700, 828, 990)


def _derived_mask(skeleton_xy, width, shape, shift=(0.5, 0.5)):
    yx = skeleton_xy[:, ::-1] + shift
    seg = np.linalg.norm(np.diff(yx, axis=0), axis=1)
    arc = np.concatenate([[0], np.cumsum(seg)])
    a = np.linspace(0, arc[-1], int(arc[-1] * 4) + 2)
    pts = np.stack([np.interp(a, arc, yx[:, 0]), np.interp(a, arc, yx[:, 1])], 1)
    rad = np.interp(a, arc, width) / 2
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for (py, px), r in zip(pts, rad):
        mask |= (yy - py) ** 2 + (xx - px) ** 2 <= r * r
    return mask


def test_classical_on_real_wormpose_frames():
    import h5py
    from PIL import Image

    folder = shared_data("worm", "wormpose", "sample_data")
    with h5py.File(folder / "features.h5") as f:
        skel, width = f["skeletons"][:], f["width"][:]
    scores, errors = [], []
    for i in FRAMES:
        img = np.asarray(Image.open(folder / f"{i:05d}.png"))
        assert np.isfinite(skel[i]).all()
        truth = _derived_mask(skel[i], width[i], img.shape)
        prompt = skel[i][26][::-1] + 0.5
        r = segment_video(img[None], Anchor(0, [prompt], [1]), SegmentParams(method="classical"))
        scores.append(iou(r.masks[0], truth))
        cl = mask_centerline(r.masks[0])
        # distance of the published centerline points from ours (their ends stop short of tips)
        theirs = skel[i][:, ::-1] + 0.5
        d = np.linalg.norm(theirs[:, None] - cl.points[None], axis=2).min(axis=1)
        errors.append(np.median(d))
    assert np.median(scores) > 0.88, scores
    assert np.median(errors) < 1.5, errors
    assert r.info["polarity"] == "dark"
