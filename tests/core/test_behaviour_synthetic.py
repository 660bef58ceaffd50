"""The synthetic behaviour video: ground truth that the other behaviour tests rely on."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.errors import InputError
from napari_catrack.synthetic.behaviour import body_radius_profile, make_behaviour_video
from tests.core._behaviour_helpers import small_video


def test_truth_is_consistent_with_the_frames():
    v = small_video()
    t = v.truth
    T, h, w = v.frames.shape
    assert v.frames.dtype == np.uint8 and t.masks.shape == (T, h, w)
    # the centerline runs inside the mask, head tip to tail tip
    for f in (0, T // 2, T - 1):
        iy, ix = np.rint(t.centerline[f, 5:-5]).astype(int).T
        assert t.masks[f, iy, ix].mean() > 0.95
    # bright-field: the worm is darker than the background around it
    assert v.frames[t.masks].mean() < v.frames[~t.masks].mean() - 20
    # world positions = stage + pixel offsets (the ARCHITECTURE.md convention)
    c = (np.array([h, w]) - 1) / 2
    back = t.stage_um[:, None] + (t.centerline - c) * v.pixel_size_um
    np.testing.assert_allclose(back, t.world_centerline_um, atol=1e-6)
    # body length is kept while crawling (no stretching)
    lengths = np.linalg.norm(np.diff(t.world_centerline_um, axis=1), axis=2).sum(axis=1)
    np.testing.assert_allclose(lengths, lengths[0], rtol=0.01)


def test_behaviours_forward_reverse_and_coils_happen():
    v = make_behaviour_video(200, shape=(192, 192), seed=1, pixel_size_um=10.0,
                             forward_s=(2.0, 3.0), reverse_s=(1.0, 1.5))  # fmt: skip
    t = v.truth
    assert {"forward", "reverse"} <= set(t.state)
    assert (t.direction == 1).sum() > 50 and (t.direction == -1).sum() > 10
    assert t.coiled.any()
    fwd = t.state == "forward"
    # forward crawling moves the centroid towards the head
    head_dir = t.world_centerline_um[:, :10].mean(axis=1) - t.centroid_um
    along = np.einsum("ij,ij->i", t.velocity_um_s, head_dir)
    assert np.mean(along[fwd & (t.direction == 1)] > 0) > 0.8


def test_bright_polarity_and_determinism():
    a = small_video(polarity="bright")
    b = make_behaviour_video(30, shape=(160, 160), seed=5, pixel_size_um=10.0, polarity="bright")
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.frames[a.truth.masks].mean() > a.frames[~a.truth.masks].mean() + 20


def test_tail_is_narrower_than_head_and_tips_close():
    x = np.linspace(0, 1, 201)
    r = body_radius_profile(x)
    assert r[0] == 0 and r[-1] == 0 and r.max() == pytest.approx(1.0, abs=0.01)
    assert r[10] > r[-11]  # head blunter than tail


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(InputError):
        make_behaviour_video(1)
    with pytest.raises(InputError):
        make_behaviour_video(5, polarity="green")
