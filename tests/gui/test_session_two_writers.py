"""Two napari viewers on one recording: each autosaves the same session file. The second save
must not silently replace the first one's results (data-safety review, item 3)."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.session import Session, session_for_viewer

pytestmark = pytest.mark.gui

PLUGIN = "napari-catrack"


def test_two_viewers_autosaving_one_session_keep_both_results(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import napari.utils.notifications as notifications

    from napari_catrack.io.tiff import write_movie_tiff

    shown: list[str] = []
    monkeypatch.setattr(notifications, "show_warning", shown.append)
    movie = np.random.default_rng(0).integers(0, 1000, size=(20, 16, 20), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "rec.tif", movie, movie[:, ::-1], fps=10.0)
    docks = []
    for _ in range(2):  # both opened before either saved: both autosave to rec.catrack.h5
        viewer = make_napari_viewer()
        viewer.open(str(path), plugin=PLUGIN)
        assert session_for_viewer(viewer).path == tmp_path / "rec.catrack.h5"
        docks.append(
            (
                viewer,
                viewer.window.add_plugin_dock_widget(PLUGIN, "Align channels")[1],
            )
        )
    for (_viewer, align), dy in zip(docks, (1.5, -2.0), strict=True):
        align.set_transform(AlignmentTransform(dy, 0.0, 0.0, source="manual"))
        qtbot.mouseClick(align.accept_button, Qt.LeftButton)
    first = Session.load(tmp_path / "rec.catrack.h5")
    assert first["alignment"].attrs["dy"] == 1.5  # the first viewer's result is intact
    second = Session.load(tmp_path / "rec-2.catrack.h5")
    assert second["alignment"].attrs["dy"] == -2.0  # the second one's is kept beside it
    assert session_for_viewer(docks[1][0]).path == tmp_path / "rec-2.catrack.h5"
    assert any("rec.catrack.h5 was changed on disk" in s and "rec-2.catrack.h5" in s for s in shown)
