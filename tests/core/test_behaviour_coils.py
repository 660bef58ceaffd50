"""Coiled frames (omega turns): the loop is kept open, the centerline walks the body or is
flagged, posture is never garbage, head/tail stay continuous, the frames are listed, and the
kymograph's colours come from the good frames."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_catrack.core.behaviour import (
    Anchor,
    CenterlineParams,
    SegmentParams,
    compute_centerlines,
    frame_quality,
    posture_table,
    segment_video,
)
from napari_catrack.core.behaviour.classical import ClassicalSegmenter
from napari_catrack.core.behaviour.crossing import crossing_path
from napari_catrack.core.behaviour.posture import colour_limit, kymograph
from napari_catrack.core.behaviour.prompts import Prompt
from napari_catrack.core.behaviour.quality import LOOP, doubtful_frames
from napari_catrack.core.behaviour.shape_check import implausible, max_turn_deg
from napari_catrack.synthetic.behaviour import make_behaviour_video
from tests.conftest import shared_data
from tests.core._behaviour_helpers import wormpose_on_canvas


def _p_shape(shape=(96, 96), width=9.0, hole=4.5):
    """A worm whose head curls round and presses against its own body: a stem and a loop (a
    'P'). Returns (centerline points, mask, bright-field frame: a cylinder's absorption)."""
    stem = np.stack([np.linspace(75, 28, 120), np.full(120, 40.0)], axis=1)  # tail up
    radius = width / 2 + hole
    theta = np.linspace(0, 0.92 * 2 * np.pi, 300)[1:]  # round the loop, back into the stem
    loop = np.stack([28 - radius * np.sin(theta), 40 + radius * (1 - np.cos(theta))], axis=1)
    pts = np.concatenate([stem, loop])
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d = np.full(shape, np.inf)
    for y, x in pts:
        d = np.minimum(d, np.hypot(yy - y, xx - x))
    mask = d <= width / 2
    depth = np.sqrt(np.clip(1 - (d / (width / 2)) ** 2, 0, 1))
    frame = 200.0 - 120.0 * depth + np.random.default_rng(0).normal(0, 2, shape)
    return pts, mask, frame


def test_a_coils_loop_is_background_and_stays_open():
    """The classical clean-up used to fill holes up to (0.8 x width)^2: the whole loop of the
    WormPose omega turn (70-90 px for a 12 px wide worm) became worm, a blob with a stub for a
    skeleton. Only holes of noise (< 0.15 x width^2) are filled now."""
    _, mask, frame = _p_shape()
    hole = ndi.binary_fill_holes(mask) & ~mask
    width = 2.0 * ndi.distance_transform_edt(mask).max()
    assert 0.15 * width**2 < hole.sum() < 0.64 * width**2
    frame[60, 40] = 200.0  # one light pixel of noise inside the body
    seg = ClassicalSegmenter()
    out = seg.segment(frame, Prompt(np.array([[60.0, 40.0]]), np.array([1]))).mask
    kept = ndi.binary_fill_holes(out) & ~out
    assert kept.sum() > 0.7 * hole.sum() and out[hole].mean() < 0.2  # the loop: background
    assert out[60, 40]  # the noise hole is filled
    quality = frame_quality(out[None], np.ones(1))
    assert LOOP in quality["reason"][0] and quality["low_confidence"][0]


def test_a_head_pressed_against_the_body_is_walked_round_its_loop():
    pts, mask, _ = _p_shape()
    found = crossing_path(mask, 9.0)
    assert found is not None
    path, pressed = found
    assert pressed
    true_len = np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()
    walked = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    assert walked > 0.8 * true_len  # not the stub of the skeleton's longest path


def test_shape_check_finds_fold_backs_and_short_curves():
    s = np.linspace(0, 100, 60)
    straight = np.stack([s, np.zeros_like(s)], axis=1)
    assert implausible(straight, 100.0) == "" and max_turn_deg(straight) < 1
    back = straight[39:19:-1] + np.array([0.0, 0.5])
    folded = np.concatenate([straight[:40], back])
    assert "folds back" in implausible(
        folded, np.linalg.norm(np.diff(folded, axis=0), axis=1).sum()
    )
    assert "too short" in implausible(straight * 0.6, 100.0)
    assert implausible(np.full((10, 2), np.nan), 100.0) == "no centerline"


def test_coiled_frames_never_give_garbage_posture():
    """On a synthetic video with long coils (seed 4): every frame either has a centerline that
    looks like a body (about the body length, no fold-backs) and posture, or is flagged
    'failed' with NaN posture. Before, fits that folded back on themselves were kept as
    'coiled' and gave curvatures many times the worm's."""
    v = make_behaviour_video(200, shape=(192, 192), seed=4, pixel_size_um=10.0,
                             forward_s=(2.0, 3.0), reverse_s=(1.0, 1.5))  # fmt: skip
    res = compute_centerlines(v.truth.masks, CenterlineParams(points=50))
    assert np.isfinite(res.points).all()  # every frame keeps a position
    table = posture_table(res.points, usable=res.posture_ok)
    ok = res.status == "ok"
    ref = np.median(res.length_px[ok])
    usable = table["mean_abs_curvature_per_px"].notna().to_numpy()
    assert (usable == (res.status != "failed")).all()
    for t in np.flatnonzero(usable):
        assert max_turn_deg(res.points[t]) <= 90, (t, res.status[t])
        assert 0.75 * ref <= res.length_px[t] <= 1.25 * ref, (t, res.status[t])
    k_ok = np.median(table["mean_abs_curvature_per_px"][ok])
    assert table["mean_abs_curvature_per_px"][usable].max() < 4 * k_ok
    assert table["length_px"][~usable].isna().all()


def test_short_gaps_are_filled_long_ones_failed():
    v = make_behaviour_video(60, shape=(160, 160), seed=5, pixel_size_um=10.0)
    masks = v.truth.masks.copy()
    masks[10:13] = False  # 3 frames: filled
    masks[30:45] = False  # 15 frames: too long to interpolate a shape over
    res = compute_centerlines(masks, CenterlineParams(max_fill=5))
    assert set(res.status[10:13]) == {"filled"} and set(res.status[30:45]) == {"failed"}
    assert np.isfinite(res.points).all()
    assert not res.posture_ok[30:45].any() and res.posture_ok[10:13].all()
    listed = doubtful_frames(None, res.status)
    assert set(range(10, 13)) | set(range(30, 45)) <= set(listed["frame"])
    assert "posture NaN" in listed.set_index("frame")["reason"][30]


def test_kymograph_colours_come_from_the_good_frames():
    rng = np.random.default_rng(0)
    k = rng.normal(0, 0.05, (100, 20))
    k[40:50] = rng.normal(0, 3.0, (10, 20))  # a coil's (or a failed fit's) curvature
    good = np.ones(100, bool)
    good[40:50] = False
    assert colour_limit(k) > 1.0  # the old way: the coil sets the scale
    assert colour_limit(k, good) == pytest.approx(np.percentile(np.abs(k[good]), 99))
    pts = np.cumsum(rng.normal(0, 1, (5, 10, 2)), axis=1)
    ky = kymograph(pts, np.array([True, False, True, True, True]))
    assert np.isnan(ky[1]).all() and np.isfinite(ky[0]).all()


def _wormpose_omega_turn():
    """WormPose frames 340-410 (the omega turn is 361-387) pasted on a 128 x 128 canvas."""
    import h5py

    folder = shared_data("worm", "wormpose", "sample_data")
    with h5py.File(folder / "features.h5") as f:
        skel = f["skeletons"][:]
    video, offsets = wormpose_on_canvas(folder, range(340, 411))
    return video, skel[340][26][::-1] + offsets[0]


def test_real_omega_turn_is_followed_and_flagged():
    """The review's coil (video frames 209-235 = WormPose 361-387): the mask filled the loop,
    the centerline was a 60 px stub with 180 degree fold-backs (curvature 2.6 /px against
    0.052, a1 6.6 against -1), the head jumped onto the previous tail, and no frame was
    listed as doubtful."""
    frames, prompt = _wormpose_omega_turn()
    coil = np.arange(361, 388) - 340
    seg = segment_video(frames, Anchor(0, [prompt], [1]), SegmentParams(method="classical"))
    loops = np.array([bool((ndi.binary_fill_holes(m) & ~m).sum() > 20) for m in seg.masks])
    assert loops[coil].mean() > 0.9  # the loop is background
    res = compute_centerlines(seg.masks, CenterlineParams(), frames=frames)
    ok = res.status == "ok"
    assert (res.status[coil] != "ok").all()  # flagged
    table = posture_table(res.points, usable=res.posture_ok)
    k = table["mean_abs_curvature_per_px"].to_numpy()
    k_ok = np.median(k[ok])
    assert np.nanmax(k[coil]) < 3 * k_ok  # no fold-backs: a worm's curvature, or NaN
    ref = np.median(res.length_px[ok])
    usable = np.isfinite(k)
    assert (res.length_px[coil][usable[coil]] > 0.8 * ref).all()
    # head and tail continuous: the head never jumps onto the previous frame's tail (it did
    # at WormPose 372: 23 px, landing 2.4 px from the old tail). Where the head crosses the
    # body and comes out beside the tail (371), it moves 12 px, as far from either old end.
    to_head = np.linalg.norm(res.points[1:, 0] - res.points[:-1, 0], axis=1)
    to_tail = np.linalg.norm(res.points[1:, 0] - res.points[:-1, -1], axis=1)
    assert (to_tail > 0.5 * to_head).all(), np.flatnonzero(to_tail <= 0.5 * to_head) + 341
    assert to_head.max() < 0.15 * ref
    # listed as doubtful, with the segmentation's loop reason
    quality = frame_quality(seg.masks, seg.score, source=seg.source)
    listed = set(doubtful_frames(quality, res.status)["frame"])
    assert set(coil) <= listed
    # the kymograph's colour scale is the good frames' own
    ky = kymograph(res.points, res.posture_ok)
    assert colour_limit(ky, res.reliable) == pytest.approx(
        np.percentile(np.abs(ky[ok]), 99), rel=1e-6
    )
