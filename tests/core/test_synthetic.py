"""Ground-truth checks of the synthetic generators (napari_catrack.synthetic)."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from scipy.ndimage import affine_transform, gaussian_filter, map_coordinates, shift
from scipy.spatial import cKDTree
from skimage.feature import peak_local_max

from napari_catrack.errors import InputError
from napari_catrack.synthetic import (
    calcium_kernel,
    make_two_photon_movie,
    make_worm_recording,
    misalignment_matrix,
    spikes_to_dff,
)

MIS = {"dy": 2.5, "dx": -2.0, "rotation_deg": 2.5}


@pytest.fixture(scope="module")
def rec():
    return make_worm_recording(160, (160, 160), seed=3, misalignment=MIS)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _peaks(img: np.ndarray, n: int) -> np.ndarray:
    sm = gaussian_filter(img.astype(float), 1.0)
    return peak_local_max(sm, min_distance=2, num_peaks=n, exclude_border=False).astype(float)


def _refine(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Sub-pixel peak positions: centroid of the smoothed image in a 5x5 window."""
    sm = gaussian_filter(img.astype(float), 1.0)
    out = []
    for y, x in pts.astype(int):
        y0, x0 = max(y - 2, 0), max(x - 2, 0)
        win = sm[y0 : y + 3, x0 : x + 3]
        win = np.clip(win - np.median(sm), 0, None)
        yy, xx = np.mgrid[y0 : y0 + win.shape[0], x0 : x0 + win.shape[1]]
        out.append([(yy * win).sum() / win.sum(), (xx * win).sum() / win.sum()])
    return np.array(out)


def test_deterministic_by_seed():
    a = make_worm_recording(12, (64, 64), n_neurons=6, seed=5)
    b = make_worm_recording(12, (64, 64), n_neurons=6, seed=5)
    c = make_worm_recording(12, (64, 64), n_neurons=6, seed=6)
    assert np.array_equal(a.green, b.green) and np.array_equal(a.red, b.red)
    assert np.array_equal(a.truth.positions, b.truth.positions)
    assert a.truth.misalignment == b.truth.misalignment
    assert not np.array_equal(a.green, c.green)
    m1, m2 = (
        make_two_photon_movie(20, (48, 48), 5, seed=1),
        make_two_photon_movie(20, (48, 48), 5, 1),
    )
    assert np.array_equal(m1.movie, m2.movie)


def test_shapes_dtypes_and_params(rec):
    T, (H, W), N = 160, (160, 160), 15
    assert rec.green.shape == rec.red.shape == (T, H, W)
    assert rec.green.dtype == rec.red.dtype == np.uint16
    tr = rec.truth
    assert tr.positions.shape == (T, N, 2) and tr.positions.dtype == np.float64
    assert tr.activity.shape == tr.spikes.shape == (N, T)
    assert np.issubdtype(tr.spikes.dtype, np.integer)
    assert tr.stage_um.shape == (T, 2)
    assert len(tr.neuron_ids) == N == len(set(tr.neuron_ids))
    assert tr.misalignment == MIS
    assert set(inspect.signature(make_worm_recording).parameters) == set(rec.params)
    json.dumps(rec.params)  # provenance must be storable as JSON
    assert tr.in_view.shape == (T, N) and tr.in_view.all()
    assert rec.fps == 10.0 and rec.pixel_size_um == pytest.approx(0.45)
    # camera offset visible in dark pixels, nothing wraps
    assert 90 < np.percentile(rec.green[0], 5) < 120


def test_red_peaks_at_inverse_mapped_truth(rec):
    rot, t = misalignment_matrix(MIS, rec.red.shape[1:])
    for f in (0, 80, 159):
        green_pos = rec.truth.positions[f]
        red_pos = (green_pos - t) @ rot  # inverse of the red→green map
        np.testing.assert_allclose(rec.truth.red_positions[f], red_pos, atol=1e-9)
        n = len(red_pos)
        peaks = _refine(rec.red[f], _peaks(rec.red[f], 2 * n))
        d_red, _ = cKDTree(peaks).query(red_pos)
        d_green, _ = cKDTree(peaks).query(green_pos)
        assert np.median(d_red) < 0.6 and np.mean(d_red < 1.2) >= 0.85, d_red
        assert np.median(d_green) > 1.5  # the misalignment is really there


def test_green_peaks_at_truth_when_active(rec):
    tr = rec.truth
    f = int(np.argmax(tr.green_intensity.mean(axis=0)))
    bright = tr.green_intensity[:, f] >= np.median(tr.green_intensity[:, f])
    peaks = _refine(rec.green[f], _peaks(rec.green[f], 3 * len(bright)))
    d, _ = cKDTree(peaks).query(tr.positions[f, bright])
    assert np.median(d) < 0.6 and np.mean(d < 1.2) >= 0.8, d


def test_truth_misalignment_warps_red_onto_green(rec):
    rot, t = misalignment_matrix(MIS, rec.red.shape[1:])
    flipped, _ = misalignment_matrix(dict(MIS, rotation_deg=-MIS["rotation_deg"]), (1, 1))
    for f in (10, 100):
        g = gaussian_filter(rec.green[f].astype(float), 1.5)
        r = gaussian_filter(rec.red[f].astype(float), 1.5)

        def warp(rm, tv, r=r):
            inv = rm.T
            return affine_transform(r, inv, offset=-inv @ tv, order=1, mode="nearest")

        c = (np.array(r.shape) - 1) / 2
        t_flip = c + np.array([MIS["dy"], MIS["dx"]]) - flipped @ c
        good, raw, bad = _corr(g, warp(rot, t)), _corr(g, r), _corr(g, warp(flipped, t_flip))
        assert good > raw + 0.02 and good > bad + 0.02, (good, raw, bad)


def test_stage_jumps_move_the_image(rec):
    tr, px = rec.truth, rec.pixel_size_um
    dstage = np.diff(tr.stage_um, axis=0) / px
    jump = np.hypot(*dstage.T)
    max_jump = rec.params["max_jump_px"]
    assert 0.75 * max_jump <= jump.max() <= max_jump + 1e-9
    assert (jump > 1).sum() >= 2  # several discrete jumps ...
    assert (jump == 0).mean() > 0.5  # ... with the stage at rest in between
    # image motion = -(Δstage)/pixel size, plus the animal's own (smaller) motion
    dpos = np.diff(tr.positions, axis=0).mean(axis=1)
    residual = np.hypot(*(dpos + dstage).T)
    assert residual.max() < 0.5 * max_jump
    at_jump = jump > 0.5 * max_jump
    assert np.all(np.hypot(*dpos[at_jump].T) > 0.25 * max_jump)


def test_min_spacing_and_density(rec):
    pos = rec.truth.positions
    sp = rec.params["min_spacing_px"]
    nn = np.array([cKDTree(p).query(p, k=2)[0][:, 1] for p in pos])
    assert nn.min() >= 0.8 * sp
    assert sp <= np.median(nn) <= 1.6 * sp


def test_ratio_removes_focus_dips_green_keeps_them():
    r = make_worm_recording(
        200, (128, 128), n_neurons=10, seed=11, focus_dip_rate_hz=0.3, global_dip_rate_hz=0,
        silent_fraction=0.0, event_rate_hz=(0.2, 0.4), bleach_tau_green_s=1e9, bleach_tau_red_s=1e9,
    )  # fmt: skip
    tr = r.truth
    ratio_true = tr.green_intensity / tr.red_intensity
    assert tr.focus.min() < 0.75
    # truth: ratio is exactly proportional to 1 + activity, green is not
    for i in range(10):
        assert _corr(ratio_true[i], 1 + tr.activity[i]) > 0.999
    # measured in the images at the truth positions (3x3-smoothed, bilinear)
    g = np.stack([gaussian_filter(f.astype(float), 1.0) for f in r.green]) - 100
    rd = np.stack([gaussian_filter(f.astype(float), 1.0) for f in r.red]) - 100
    tt = np.arange(200)
    better = 0
    for i in range(10):
        gi = map_coordinates(g, [tt, *tr.positions[:, i].T], order=1)
        ri = map_coordinates(rd, [tt, *tr.red_positions[:, i].T], order=1)
        dipped = tr.focus[i] < 0.85
        if dipped.sum() < 2:
            continue
        # green drops in the dips although activity does not, the ratio does not
        act = 1 + tr.activity[i]
        better += _corr(gi / ri, act) > _corr(gi, act)
    assert better >= 5


def test_calcium_kernel_shape():
    fps = 100.0
    k = calcium_kernel(fps, 0.07, 0.8)
    assert k.max() == pytest.approx(1.0, abs=0.02)
    peak = np.argmax(k) / fps
    assert 0.1 < peak < 0.35
    after = k[np.argmax(k) + int(0.8 * fps)] / k.max()  # one decay constant after the peak
    assert 0.3 < after < 0.45
    s = np.zeros((1, 500))
    s[0, 100] = 1
    assert spikes_to_dff(s, fps, 0.07, 0.8, 0.4, None).max() == pytest.approx(0.4, abs=0.01)
    big = np.zeros((1, 500))
    big[0, 100] = 50
    assert spikes_to_dff(big, fps, 0.07, 0.8, 0.4, 3.0).max() < 3.0


def test_two_photon_footprints_match_mean_image():
    m = make_two_photon_movie(150, (64, 64), n_cells=8, seed=2)
    tr = m.truth
    assert m.movie.shape == (150, 64, 64) and m.movie.dtype == np.uint16
    assert tr.footprints.shape == (8, 64, 64) and tr.traces.shape == tr.spikes.shape == (8, 150)
    assert tr.shifts.shape == (150, 2) and 0.1 < np.abs(tr.shifts).max() < 4
    model = (
        np.tensordot(tr.baseline * (1 + tr.traces.mean(axis=1)), tr.footprints, 1)
        + tr.neuropil.mean() * tr.neuropil_image
    )
    frames = m.movie.astype(float)
    fixed = np.stack([shift(f, -s, order=1, mode="nearest") for f, s in zip(frames, tr.shifts)])
    wrong = np.stack([shift(f, s, order=1, mode="nearest") for f, s in zip(frames, tr.shifts)])
    assert _corr(fixed.mean(0), model) > 0.97
    # registering with the truth shifts sharpens the movie; the opposite sign does not
    per_frame = [_corr(f, model) for f in fixed[::5]]
    per_wrong = [_corr(f, model) for f in wrong[::5]]
    assert np.mean(per_frame) > np.mean(per_wrong)
    # each footprint is centred on its centre (filled or ring-like)
    yy, xx = np.mgrid[0:64, 0:64]
    mass = tr.footprints.sum(axis=(1, 2))
    cy = (tr.footprints * yy).sum(axis=(1, 2)) / mass
    cx = (tr.footprints * xx).sum(axis=(1, 2)) / mass
    assert np.all(np.hypot(cy - tr.centres[:, 0], cx - tr.centres[:, 1]) < 0.5)


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError):
        make_worm_recording(5, (8, 8))
    with pytest.raises(InputError):
        make_worm_recording(5, (64, 64), misalignment={"dy": 1.0})
    with pytest.raises(InputError):
        make_two_photon_movie(5, (20, 20), n_cells=200)


def test_worm_ground_truth_has_coactive_groups():
    from napari_catrack.synthetic import make_worm_recording

    rec = make_worm_recording(n_frames=300, shape=(48, 48), n_neurons=15, seed=2)
    groups = rec.truth.ensemble_members
    assert len(groups) == 2 and all(len(g) == 5 for g in groups)
    assert not set(groups[0]) & set(groups[1])  # disjoint
    ids = {n: i for i, n in enumerate(rec.truth.neuron_ids)}
    for members, frames in zip(groups, rec.truth.ensemble_events):
        assert len(frames) >= 3
        rows = [ids[m] for m in members]
        assert (
            rec.truth.spikes[np.ix_(rows, frames)] > 0
        ).all()  # every member fires at each event
    # activations a transient apart within a group, and never on top of the other group's
    for frames in rec.truth.ensemble_events:
        assert (np.diff(frames) >= 2.0 * rec.fps - 1).all()  # 2 s refractory (frame rounding)
    both = np.sort(np.concatenate(rec.truth.ensemble_events))
    assert (np.diff(both) >= 1.0 * rec.fps - 1).all()  # 1 s separation
    rate = sum(map(len, rec.truth.ensemble_events)) / 2 / (300 / rec.fps)
    assert 0.15 <= rate <= 0.45  # about ensemble_rate_hz = 0.3
    none = make_worm_recording(n_frames=30, shape=(48, 48), n_neurons=4, seed=2, ensembles=0)
    assert none.truth.ensemble_members == []
