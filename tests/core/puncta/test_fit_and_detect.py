"""Detection and the vectorised MLE fitter against simulated spots with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.puncta.detect import detect_candidates
from napari_catrack.core.puncta.fit import fit_spots, localize_boxes, pair_guess
from napari_catrack.core.puncta.psf import render_spots


def _boxes(n, photons=800.0, bg=15.0, sigma=1.3, seed=0, size=7):
    rng = np.random.default_rng(seed)
    x = size // 2 + rng.uniform(-0.5, 0.5, n)
    y = size // 2 + rng.uniform(-0.5, 0.5, n)
    mu = render_spots((n, size, size), np.arange(n), y, x, photons, sigma) + bg
    return rng.poisson(mu).astype(float), x, y, rng, mu


def test_mle_reaches_the_cramer_rao_bound_without_bias():
    boxes, x, y, *_ = _boxes(3000)
    res = localize_boxes(boxes, np.zeros(3000), np.zeros(3000), 1.3)
    assert res.converged.mean() > 0.99
    err = np.concatenate([res.x - x, res.y - y])
    bound = np.sqrt(np.mean(np.concatenate([res.crlb_x, res.crlb_y]) ** 2))
    assert np.sqrt(np.mean(err**2)) / bound == pytest.approx(1.0, abs=0.1)
    assert abs(err.mean()) < 0.2 * bound
    assert np.median(res.photons) == pytest.approx(800, rel=0.03)
    assert np.median(res.background) == pytest.approx(15, rel=0.05)
    assert np.median(res.sigma) == pytest.approx(1.3, rel=0.03)


def test_emccd_scaling_keeps_the_bound_calibrated():
    """Photons with twice the Poisson variance (EM excess noise): scale 2 gives honest bounds."""
    _, x, _, rng, mu = _boxes(2000, photons=1500.0, bg=20.0)
    noisy = 2 * rng.poisson(mu / 2)  # variance = 2 x mean
    plain = localize_boxes(noisy.astype(float), np.zeros(2000), np.zeros(2000), 1.3)
    scaled = localize_boxes(noisy.astype(float), np.zeros(2000), np.zeros(2000), 1.3, scale=2.0)
    rmse = np.sqrt(np.mean((scaled.x - x) ** 2))
    assert rmse / np.sqrt(np.mean(scaled.crlb_x**2)) == pytest.approx(1.0, abs=0.15)
    assert rmse / np.sqrt(np.mean(plain.crlb_x**2)) > 1.25  # Poisson alone under-reports
    assert np.median(scaled.photons) == pytest.approx(np.median(plain.photons), rel=0.02)


def test_scmos_variance_and_fixed_sigma():
    boxes, x, _, rng, _ = _boxes(1500, bg=5.0)
    noisy = boxes + rng.normal(0, 3.0, boxes.shape)  # read noise 3 photons
    res = localize_boxes(noisy, np.zeros(1500), np.zeros(1500), 1.3, variance=9.0)
    rmse = np.sqrt(np.mean((res.x - x) ** 2))
    assert rmse / np.sqrt(np.mean(res.crlb_x**2)) == pytest.approx(1.0, abs=0.15)
    fixed = localize_boxes(boxes, np.zeros(1500), np.zeros(1500), 1.3, fit_sigma=False)
    assert np.allclose(fixed.sigma, 1.3)


def test_two_emitter_fit_separates_a_close_pair():
    rng = np.random.default_rng(3)
    n, size = 400, 9
    mu = render_spots((n, size, size), np.arange(n), np.full(n, 4.0), np.full(n, 2.8), 1500, 1.2)
    mu = render_spots((n, size, size), np.arange(n), np.full(n, 4.0), np.full(n, 5.2), 1500, 1.2,
                      out=mu) + 10  # fmt: skip
    boxes = rng.poisson(mu).astype(float)
    one, _, ll1, _, _ = fit_spots(boxes, 1.2)
    two, _, ll2, _, ok = fit_spots(boxes, 1.2, theta0=pair_guess(boxes, one, 1.2))
    assert ok.mean() > 0.95
    xs = np.sort(two[:, [0, 3]], axis=1)
    assert np.median(xs[:, 0]) == pytest.approx(2.8, abs=0.05)
    assert np.median(xs[:, 1]) == pytest.approx(5.2, abs=0.05)
    assert np.mean(2 * (ll2 - ll1) > 30) > 0.95


def test_detection_finds_spots_and_not_noise():
    rng = np.random.default_rng(1)
    truth = np.array([[10, 12], [30, 40], [50, 20]], float)
    mu = render_spots((1, 64, 64), [0, 0, 0], truth[:, 0], truth[:, 1], 800, 1.2) + 20
    t, r, c, _ = detect_candidates(rng.poisson(mu).astype(np.float32), threshold=2.0)
    found = np.column_stack([r, c])
    assert len(found) == 3
    assert np.abs(np.sort(found, axis=0) - np.sort(truth, axis=0)).max() <= 1
    t, *_ = detect_candidates(rng.poisson(np.full((5, 64, 64), 20.0)).astype(np.float32), 2.0)
    assert len(t) <= 2  # at most a couple of noise maxima in 5 empty frames
    t_dog, *_ = detect_candidates(rng.poisson(mu).astype(np.float32), 2.0, method="dog")
    assert len(t_dog) == 3
