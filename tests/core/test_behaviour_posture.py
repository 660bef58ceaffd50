"""Posture: curvature, eigenworms (the real N2 basis from ../shared/data)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.behaviour import (
    curvature,
    eigen_amplitudes,
    fit_eigenworms,
    load_eigenworms,
    posture_table,
)
from napari_catrack.core.behaviour.posture import tangent_angles
from napari_catrack.errors import InputError
from tests.conftest import shared_data


def _arc(radius, n=50, sign=1):
    a = np.linspace(0, 1.5, n)
    return np.stack([sign * radius * np.sin(a), radius * np.cos(a)], axis=1)


def test_curvature_of_a_circle_is_one_over_radius_with_a_sign():
    k = curvature(_arc(20.0))
    np.testing.assert_allclose(np.abs(k), 1 / 20.0, rtol=0.01)
    assert np.sign(k).std() == 0
    assert np.sign(curvature(_arc(20.0, sign=-1))[5]) == -np.sign(k[5])
    np.testing.assert_allclose(curvature(_arc(20.0), pixel_size=2.0), k / 2.0, rtol=1e-9)


def test_n2_eigenworms_from_the_shared_file_project_a_shape():
    path = shared_data("worm", "eigenworms", "master_eigen_worms_N2.mat")
    basis = load_eigenworms(path)
    assert basis.shape == (7, 48)
    np.testing.assert_allclose(basis @ basis.T, np.eye(7), atol=0.05)  # nearly orthonormal
    # a centerline whose angles are 2 x mode 1 projects to about (2, 0, 0, ...)
    ang = 2.0 * basis[0]
    pts = np.concatenate([[[0.0, 0.0]], np.cumsum(np.stack([np.sin(ang), np.cos(ang)], 1), 0)])
    amp = eigen_amplitudes(pts[None] * 5.0, basis)[0]
    assert amp[0] == pytest.approx(2.0 - 0.0, abs=0.15) and np.abs(amp[1:]).max() < 0.2
    table = posture_table(pts[None] * 5.0, pixel_size_um=2.0, basis=basis)
    assert {"length_px", "length_um", "a1", "a7"} <= set(table.columns)
    assert table.length_um[0] == pytest.approx(2.0 * 5.0 * 48, rel=0.02)


def test_fitted_eigenworms_capture_the_shapes_they_come_from():
    rng = np.random.default_rng(0)
    s = np.linspace(0, 1, 49)
    curves = []
    for _ in range(40):
        ang = rng.normal(0, 0.5) * np.sin(2 * np.pi * s) + rng.normal(0, 0.5) * np.cos(
            2 * np.pi * s
        )
        curves.append(
            np.concatenate([[[0, 0]], np.cumsum(np.stack([np.sin(ang), np.cos(ang)], 1), 0)])
        )
    basis = fit_eigenworms(np.array(curves), k=2)
    amps = eigen_amplitudes(np.array(curves), basis)
    ang = tangent_angles(np.array(curves)[:, ::1])
    assert np.isfinite(amps).all() and basis.shape == (2, 48)
    assert ang.shape[1] == 49
    with pytest.raises(InputError):
        fit_eigenworms(np.array(curves[:2]), k=6)


def test_bad_eigenworm_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_eigenworms(tmp_path / "none.mat")
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\n3,4\n")
    with pytest.raises(InputError, match="eigenworm"):
        load_eigenworms(bad)
