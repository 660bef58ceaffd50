"""The Sources widget's import uses the dF/F window of its form (h22): it used
`SourcesParams`' default whatever the form said."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.session import session_for_viewer
from napari_catrack.synthetic import make_two_photon_movie
from tests.core.test_imports import _write_suite2p
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"


def test_the_widget_import_uses_and_restores_the_forms_dff_window(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    from napari_catrack.io.suite2p import read_suite2p
    from napari_catrack.io.tiff import write_movie_tiff

    mov = make_two_photon_movie(60, (20, 30), n_cells=2, seed=3, silent_fraction=0)
    movie = write_movie_tiff(tmp_path / "tp.tif", mov.movie.astype(np.uint16), fps=15.0)
    _write_suite2p(tmp_path / "s2p" / "plane0")  # 60 frames of 20 x 30 at 15 Hz
    viewer = make_napari_viewer()
    viewer.open(str(movie), plugin=PLUGIN)
    src = viewer.window.add_plugin_dock_widget(PLUGIN, "Sources (two-photon)")[1]
    session = session_for_viewer(viewer)
    src.form.set_value("baseline_window_s", 1.5)
    wait_job(qtbot, src.run_import("suite2p", tmp_path / "s2p"))
    assert session["sources"].params["import"]["baseline_window_s"] == 1.5
    traces = session["traces"].tables["traces"]
    dff = np.stack([g["dff"].to_numpy() for _, g in traces.groupby("neuron_id", sort=True)])
    np.testing.assert_allclose(dff, read_suite2p(tmp_path / "s2p", baseline_window_s=1.5).dff, rtol=1e-6, atol=1e-9)  # fmt: skip
    src.form.set_value("baseline_window_s", 30.0)
    src._restore_forms()  # as when the session is reopened: the window the import used
    assert src.form.value("baseline_window_s") == 1.5
