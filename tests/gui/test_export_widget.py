"""The Export widget lists what the session holds and writes the ticked items in one action, in
the layout catrack batch uses; its NWB button writes the NWB file alone."""

from __future__ import annotations

import pandas as pd
import pytest

from napari_catrack.session import attach_session

from ..core._session_helpers import worm_session
from .helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
TITLE = "Export (tables, figures, masks, session, NWB)"


def test_export_widget_writes_the_layout(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    assert widget.items and widget.items[0].key == "session"  # an empty session: itself only
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)  # a session opened later: the list follows it
    keys = [i.key for i in widget.items]
    assert {
        "tracks",
        "traces",
        "transients",
        "events:eta_significance",
        "figure:eta",
        "nwb",
    } <= set(keys)
    files = {widget.table.item(r, 2).text() for r in range(widget.table.rowCount())}
    assert {"tracks.csv", "behaviour/velocity.csv", "session.nwb"} <= files
    assert widget.export() is None and "choose the folder" in widget.status.text()
    widget.folder.setText(str(tmp_path / "out"))
    widget.select(["tracks", "cells", "figure:eta", "nwb"], {"cells": "xlsx", "figure:eta": "png"})
    widget.subject.setText("worm7")
    wait_job(qtbot, widget.export(), timeout=120000)
    out = tmp_path / "out"
    assert sorted(map(str, widget.last_result.written)) == [
        "cells.xlsx",
        "figures/eta.png",
        "session.nwb",
        "tracks.csv",
    ]
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "tracks.csv"), session["tracks"].tables["tracks"], check_dtype=False
    )
    assert "4 file(s) written" in widget.status.text()
    assert "session.nwb" in widget.written.toPlainText()
    widget.folder.setText(str(tmp_path / "out" / "tracks.csv"))  # a file as the folder: refused
    assert widget.export() is None
    assert "tracks.csv is a file, but export folder is a folder" in widget.status.text()
    assert widget.written.toPlainText() == "nothing written by this export"  # not the old list
    wait_job(qtbot, widget.export_nwb(tmp_path / "alone.txt"), timeout=120000)
    assert not (tmp_path / "alone.txt").exists()  # docs/nwb.md: the name ends in .nwb
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(tmp_path / "alone.txt.nwb"), "r") as io:
        assert io.read().subject.subject_id == "worm7"


def test_export_widget_refuses_the_tiff_folder_recording(make_napari_viewer, tmp_path):
    """The CLI's output check: exporting into the recording's TIFF folder would add files to
    the recording, so nothing is written and the status says why."""
    import numpy as np
    import tifffile

    from napari_catrack.session import session_for_viewer

    frames = tmp_path / "rec"
    frames.mkdir()
    for i in range(3):
        tifffile.imwrite(frames / f"f{i}.tif", np.full((8, 8), i, dtype=np.uint16))
    before = {p.name: p.read_bytes() for p in frames.iterdir()}
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session_for_viewer(viewer).set_recording(str(frames), {}, {})
    widget.folder.setText(str(frames))
    assert widget.export() is None
    assert "is the input recording of SESSION, a folder whose TIFF files" in widget.status.text()
    assert widget.written.toPlainText() == "nothing written by this export"
    assert {p.name: p.read_bytes() for p in frames.iterdir()} == before


def test_export_widget_cancel_lists_what_this_run_wrote(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)
    widget.written.setPlainText("old.csv")  # a previous export's list
    widget.folder.setText(str(tmp_path / "out"))
    widget.select(["tracks", "traces"])
    job = widget.export()
    job.cancel()  # before or during the writing: the message says how many files it wrote
    wait_job(qtbot, job, timeout=120000)
    assert "export cancelled" in widget.status.text()
    assert "previous result is kept" not in widget.status.text()
    assert "old.csv" not in widget.written.toPlainText()
    written = (
        sorted(p.name for p in (tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    )
    for name in written:
        assert name in widget.written.toPlainText()
