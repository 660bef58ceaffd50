"""The variance of possibly unresolved pairs (core/puncta/unresolved.py), on tables with known
pairs and on a simulated movie scored against its ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from napari_catrack.core.puncta.unresolved import (
    REACH,
    add_unresolved_variance,
    pair_probability,
)

SIGMA0 = 1.2


def _table(n_single=3000, n_pair=30, seed=0):
    """Single puncta (log-normal brightness, 5 % width spread) and merged pairs (the sum of two
    brightnesses, wider by d^2 / 8 for d uniform over the unresolved disc)."""
    rng = np.random.default_rng(seed)
    bright = 1500 * np.exp(rng.normal(0, 0.3, (n_single + 2 * n_pair)))
    photons = np.r_[bright[:n_single], bright[n_single::2] + bright[n_single + 1 :: 2]]
    sigma = SIGMA0 * (1 + 0.05 * rng.standard_normal(n_single + n_pair))
    d2 = (REACH * SIGMA0) ** 2 * rng.uniform(0, 1, n_pair)  # uniform over the disc
    sigma[n_single:] = np.sqrt(sigma[n_single:] ** 2 + d2 / 8)
    u = np.full(n_single + n_pair, 0.03)
    table = pd.DataFrame({"photons": photons, "sigma": sigma, "uncertainty_x": u,
                          "uncertainty_y": u, "uncertainty": u})  # fmt: skip
    return table, np.r_[np.zeros(n_single, bool), np.ones(n_pair, bool)]


def test_pairs_are_flagged_by_brightness_and_width_and_singles_keep_their_bound():
    table, is_pair = _table()
    w = pair_probability(table, n_frames=60, area_px=128 * 128, sigma0=SIGMA0)
    assert np.median(w[is_pair]) > 10 * np.median(w[~is_pair])
    # an ordinary punctum's weight is about the prior (< 1 % at this density)
    assert np.median(w[~is_pair]) < 0.01
    # the expected number of pairs is about right (not a blanket inflation)
    assert 0.3 * is_pair.sum() < w.sum() < 3 * is_pair.sum()
    out = add_unresolved_variance(table, 60, 128 * 128, SIGMA0)
    ratio = out.uncertainty.to_numpy() / table.uncertainty.to_numpy()
    assert np.median(ratio[~is_pair]) < 1.05
    assert np.median(ratio[is_pair]) > 2
    assert np.allclose(out.uncertainty**2, (out.uncertainty_x**2 + out.uncertainty_y**2) / 2)


def test_few_localisations_or_an_empty_table_change_nothing():
    table, _ = _table(n_single=10, n_pair=2)
    assert not pair_probability(table, 5, 64 * 64, SIGMA0).any()
    empty = table.iloc[:0]
    assert add_unresolved_variance(empty, 5, 64 * 64, SIGMA0).empty


@pytest.mark.slow
def test_merged_pairs_are_covered_on_a_simulated_movie():
    """Moderate density (0.5 /um^2 for enough close pairs in a small movie): localisations of
    puncta with another within REACH PSF widths are no longer off by 5-8 reported sigmas, and
    the whole movie's per-localisation error / reported uncertainty stays near 1."""
    from napari_catrack.core.puncta.localize import localize_classical
    from napari_catrack.core.puncta.params import PunctaParams
    from napari_catrack.synthetic.puncta import make_puncta_recording, match_to_truth

    rec = make_puncta_recording(shape=(96, 96), n_frames=30, seed=3, density_per_um2=0.5)
    params = PunctaParams()
    locs = localize_classical(rec.puncta, rec.camera, params).reset_index(drop=True)
    truth = rec.truth.emitters.reset_index(drop=True)
    ti, li = match_to_truth(truth, locs, 250 / 108)
    near = np.full(len(truth), np.inf)
    for _, g in truth.groupby("frame"):
        dist, _ = cKDTree(g[["x", "y"]].values).query(g[["x", "y"]].values, k=2)
        near[g.index.to_numpy()] = dist[:, 1]
    z = np.c_[
        (locs.x.values[li] - truth.x.values[ti]) / locs.uncertainty_x.values[li],
        (locs.y.values[li] - truth.y.values[ti]) / locs.uncertainty_y.values[li],
    ]
    merged = near[ti] < REACH * params.psf_sigma_px
    assert merged.sum() >= 5
    assert np.sqrt(np.mean(z[merged] ** 2)) < 3.5
    assert 0.8 < np.sqrt(np.mean(z**2)) < 1.25
