"""Camera model, camera.json and the puncta simulator's ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_catrack.core.puncta.camera import CameraModel, simulate_camera
from napari_catrack.errors import InputError
from napari_catrack.io.camera import read_camera, write_camera
from napari_catrack.synthetic.puncta import EMCCD, SCMOS, make_puncta_recording


def test_adu_to_photons_inverts_the_camera_and_keeps_detected_photons():
    cam = CameraModel(offset_adu=100, e_per_adu=0.5, em_gain=1, quantum_efficiency=0.7)
    photons = np.array([0.0, 10.0, 1000.0])
    assert np.allclose(cam.to_photons(cam.to_adu(photons)), photons, atol=1e-3)
    emccd = CameraModel(offset_adu=100, e_per_adu=10, em_gain=200, quantum_efficiency=0.9)
    assert emccd.photons_per_adu == pytest.approx(0.05)
    assert emccd.likelihood_scale == 2.0 and cam.likelihood_scale == 1.0


@pytest.mark.parametrize("camera, factor", [(SCMOS, 1.0), (EMCCD, 2.0)])
def test_simulated_camera_mean_and_excess_noise(camera, factor):
    rng = np.random.default_rng(0)
    detected = 50.0
    adu = simulate_camera(np.full(200_000, detected / camera.quantum_efficiency), camera, rng)
    photons = camera.to_photons(adu)
    assert photons.mean() == pytest.approx(detected, rel=0.02)
    read = camera.read_noise_photons**2 + (camera.photons_per_adu**2) / 12  # + rounding
    assert photons.var() == pytest.approx(factor * detected + read, rel=0.05)


def test_camera_file_round_trip_and_clear_errors(tmp_path):
    path = write_camera(SCMOS, tmp_path / "camera.json")
    assert read_camera(path) == SCMOS
    (tmp_path / "missing.json").write_text(json.dumps({"offset_adu": 100, "em_gain": 1}))
    with pytest.raises(InputError, match="lacks key\\(s\\) e_per_adu, quantum_efficiency"):
        read_camera(tmp_path / "missing.json")
    (tmp_path / "typo.json").write_text(json.dumps({**SCMOS.to_dict(), "gain": 3}))
    with pytest.raises(InputError, match="unknown key\\(s\\) gain"):
        read_camera(tmp_path / "typo.json")
    (tmp_path / "text.json").write_text(json.dumps({**SCMOS.to_dict(), "em_gain": "high"}))
    with pytest.raises(InputError, match="em_gain must be a number"):
        read_camera(tmp_path / "text.json")
    (tmp_path / "bad.json").write_text("{offset")
    with pytest.raises(InputError, match="not valid JSON"):
        read_camera(tmp_path / "bad.json")
    with pytest.raises(InputError, match="quantum_efficiency"):
        CameraModel(quantum_efficiency=1.5)


def test_simulator_truth_matches_the_image():
    rec = make_puncta_recording(shape=(48, 48), n_frames=30, seed=2, background=10.0)
    assert rec.puncta.dtype == np.uint16 and rec.puncta.shape == (30, 48, 48)
    assert rec.stack().shape == (30, 2, 48, 48)
    em = rec.truth.emitters
    # the photons in the image above background equal the truth's photons (edge losses aside)
    inner = em[(em.x > 5) & (em.x < 42) & (em.y > 5) & (em.y < 42)]
    frame = int(inner.frame.mode()[0])
    photons = rec.camera.to_photons(rec.puncta[frame]).astype(float) - 10.0
    everything = em[em.frame == frame].photons.sum()
    assert photons.sum() == pytest.approx(everything, rel=0.15)
    # puncta blink (gaps inside a punctum's life), some are mobile, calcium has both kinds
    frames_per = em.groupby("punctum_id").frame.agg(lambda f: f.max() - f.min() + 1 - len(f))
    assert (frames_per > 0).any()
    assert em.mobile.any() and not em.mobile.all()
    assert len(rec.truth.calcium_events) > 0 and len(rec.truth.diffuse_events) > 0
    assert em.calcium.sum() > 0
    again = make_puncta_recording(shape=(48, 48), n_frames=30, seed=2, background=10.0)
    assert np.array_equal(again.puncta, rec.puncta)


def test_airy_psf_has_unit_energy_and_rings():
    from napari_catrack.core.puncta.psf import render_spots

    img = render_spots((1, 41, 41), [0], [20.0], [20.0], [1000.0], [1.2], "airy")
    # an Airy disk keeps ~5 % of its energy beyond 8 sigma, which the window (and a camera) loses
    assert 930 < img.sum() < 1000
    profile = img[0, 20, 20:]
    assert profile[0] == profile.max()
    assert np.any(np.diff(profile[3:12]) > 0)  # a dark ring, then the first bright ring
