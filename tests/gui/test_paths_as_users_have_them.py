"""Paths as users have them (data-safety review, item 1): spaces, non-ASCII, `~` typed into the
Loader and Export widgets. A typed `~/...` made a folder named `~` in the folder napari was
started from (Export) or was "file not found" (Loader)."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.session import Session, session_for_viewer

pytestmark = pytest.mark.gui

PLUGIN = "napari-catrack"


def _export_session_to(viewer, qtbot, typed_folder: str):
    """Dock Export, type `typed_folder` as a user would, tick the session file, click Export and
    wait; returns the widget."""
    from tests.gui.helpers import wait_job

    _, export = viewer.window.add_plugin_dock_widget(PLUGIN, "Export")
    export.folder.setText(typed_folder)
    export.select(["session"], {})
    qtbot.mouseClick(export.export_button, Qt.LeftButton)
    wait_job(qtbot, export.job, timeout=60000)
    return export


def test_loader_and_export_take_home_spaces_and_umlauts(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    home, started_in = tmp_path / "home", tmp_path / "started here"
    folder = home / "Messungen" / "Wurm ä 1"
    folder.mkdir(parents=True), started_in.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(started_in)
    movie = np.random.default_rng(0).integers(0, 999, (12, 16, 20), dtype=np.uint16)
    write_movie_tiff(folder / "Aufnahme ß 1.tif", movie, movie[:, ::-1], fps=5.0)
    viewer = make_napari_viewer()
    _, loader = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    loader.path.value = "~/Messungen/Wurm ä 1/Aufnahme ß 1.tif"  # as typed in its text box
    qtbot.mouseClick(loader.open_button.native, Qt.LeftButton)
    qtbot.waitUntil(lambda: not loader.job.running, timeout=60000)  # read in a worker
    assert not loader.info.value.startswith("error"), loader.info.value
    assert len(viewer.layers) == 2
    session = session_for_viewer(viewer)
    assert session.path == folder / "Aufnahme ß 1.catrack.h5"
    session.record("settings", attrs={"fps": 5.0})  # autosaves beside the recording
    assert Session.load(session.path)["settings"].attrs["fps"] == 5.0

    export = _export_session_to(viewer, qtbot, "~/Messungen/Wurm ä 1/Export ä")
    written = list((folder / "Export ä").iterdir())
    assert [p.suffix for p in written] == [".h5"], export.status.text()
    assert not (started_in / "~").exists()  # no folder named "~" where napari was started


def test_a_relative_export_folder_is_beside_the_session_not_where_napari_started(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """A relative folder typed into Export was taken from the folder napari was started from,
    which the user cannot see (data-safety review, left); it now starts at the session file's
    folder, and the status line names that folder whole."""
    data, started_in = tmp_path / "data", tmp_path / "started here"
    data.mkdir(), started_in.mkdir()
    monkeypatch.chdir(started_in)
    viewer = make_napari_viewer()
    session = session_for_viewer(viewer)
    session.path = data / "movie.catrack.h5"
    session.record("settings", attrs={"fps": 5.0})
    export = _export_session_to(viewer, qtbot, "results")
    assert [p.suffix for p in (data / "results").iterdir()] == [".h5"], export.status.text()
    assert not (started_in / "results").exists()
    assert export.status.text() == f"Wrote 1 file to {data / 'results'}"
