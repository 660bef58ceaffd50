"""Fitting drawn cells keeps an import's red (second-channel) traces in step with its cells.

A suite2p import with F_chan2.npy carries red traces, one row per cell (h18). "Fit drawn/edited
cells" added a row to every trace but red: the result then had K + 1 cells and K red rows, and
writing its traces (the session, sources files) failed with a pandas "Length of values" error.
A drawn cell has no red measured (NaN); a cell whose footprint was redrawn neither (the tool
measured its red on the old one); every other cell keeps its red (h19 review)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from napari_catrack.core.sources import SourcesParams, extract_sources
from napari_catrack.core.sources.refit import refit_components
from napari_catrack.synthetic import make_two_photon_movie


def test_a_drawn_and_a_redrawn_cell_have_no_red_and_the_others_keep_theirs():
    m = make_two_photon_movie(80, (40, 48), n_cells=5, seed=3, motion_px=0)
    found = extract_sources(m.movie, SourcesParams(patch_px=0), fps=m.fps)
    k, t = found.raw.shape
    assert k == 3  # the case: cells at (29, 38) and (16, 16) were missed
    red = np.arange(1.0, k + 1)[:, None] * np.full((k, t), 100.0)
    with_red = replace(found, red=red, red_background=red / 10)
    yy, xx = np.mgrid[0:40, 0:48]
    drawn = (yy - 29.1) ** 2 + (xx - 37.6) ** 2 <= 9  # a missed cell, drawn by hand
    cy, cx = found.components.loc[1, ["y", "x"]]
    redrawn_id = int(found.components.loc[1, "neuron_id"])
    redrawn = (yy - cy) ** 2 + (xx - cx) ** 2 <= 12
    out = refit_components(m.movie, with_red, {99: drawn, redrawn_id: redrawn})
    assert out.raw.shape == out.red.shape == out.red_background.shape == (k + 1, t)
    assert out.components["neuron_id"].tolist()[-1] == 99
    assert np.isnan(out.red[[1, k]]).all() and np.isnan(out.red_background[[1, k]]).all()
    np.testing.assert_array_equal(out.red[[0, 2]], red[[0, 2]])  # untouched cells: kept
    np.testing.assert_array_equal(out.red_background[[0, 2]], red[[0, 2]] / 10)
    table = out.traces_table()  # failed: 3 red rows for 4 cells
    assert len(table) == (k + 1) * t and table.loc[table.neuron_id == 99, "red"].isna().all()
    # without red (an extraction, most imports) nothing changes
    plain = refit_components(m.movie, found, {99: drawn})
    assert plain.red is None and plain.red_background is None
