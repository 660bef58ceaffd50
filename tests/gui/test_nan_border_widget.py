"""The Sources widget on a movie layer whose border is NaN (another tool's motion correction):
the border is left out, as by `catrack summary` (tests/core/test_nan_border.py)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.synthetic import make_two_photon_movie
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"


def test_sources_widget_leaves_a_nan_border_out(make_napari_viewer, qtbot):
    """A movie layer with a NaN border (another tool's motion correction): Summary images used
    to fail ("frame 0 contains NaN/infinite pixels"); they are added, NaN on the border, and
    the status line says which rows and columns were used."""
    movie = make_two_photon_movie(60, (40, 48), n_cells=4, seed=3, motion_px=0).movie
    bordered = movie.astype(np.float32)
    bordered[:, :, -3:] = np.nan
    viewer = make_napari_viewer()
    viewer.add_image(bordered, name="corrected elsewhere", metadata={"catrack": {"fps": 30.0}})
    src = viewer.window.add_plugin_dock_widget(PLUGIN, "Sources (two-photon)")[1]
    src.movie.setCurrentText("corrected elsewhere")
    wait_job(qtbot, src.run_summary(), timeout=120000)
    corr = viewer.layers["correlation image"].data
    assert np.isnan(corr[:, -3:]).all() and np.isfinite(corr[:, :-3]).all()
    assert "rows 0-39 and columns 0-44 of the 40x48 frame" in src.status.text()
    assert np.isfinite(viewer.layers["correlation image"].contrast_limits).all()
