"""The Load recording widget says what is open however it was opened (h20 screenshot review,
item 1): docked beside a session reopened with File > Open it said "no recording opened"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.session import Session

pytestmark = pytest.mark.gui

PLUGIN = "napari-catrack"


def _session(folder, n_frames=6, fps=5.0):
    """A session of a two-channel recording.tif beside it, as `catrack demo` leaves one."""
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff

    movie = np.random.default_rng(0).integers(0, 1000, size=(n_frames, 16, 20), dtype=np.uint16)
    write_movie_tiff(folder / "recording.tif", movie, movie[:, ::-1], fps=fps)
    rec = open_recording(str(folder / "recording.tif"))
    session = Session(folder / "demo.catrack.h5")
    session.set_recording(rec.path, rec.options, rec.summary())
    rec.close()
    tracks = pd.DataFrame({"neuron_id": ["a"] * n_frames, "frame": np.arange(n_frames),
                           "y": 5.0, "x": 6.0})  # fmt: skip
    session.record("tracks", tables={"tracks": tracks})
    return folder / "demo.catrack.h5"


@pytest.mark.parametrize("dock_first", [True, False])
def test_loader_says_which_session_recording_is_open(make_napari_viewer, tmp_path, dock_first):
    """Docked before or after File > Open of a .catrack.h5: the widget names the session's
    recording, its channels, frames and frame rate (the reader adds the layers, not the widget)."""
    path = _session(tmp_path)
    viewer = make_napari_viewer()
    if dock_first:
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
        assert widget.info.value == "no recording opened"
    viewer.open(str(path), plugin=PLUGIN)  # File > Open of the session file
    if not dock_first:
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    text = widget.info.value
    assert text.startswith("open: recording.tif (session demo.catrack.h5)\n"), text
    assert "6 frames, 16 x 20 px" in text and "2 channel(s)" in text
    assert "frame rate: 5 Hz (from the recording)" in text
    assert "no recording opened" not in text


def test_loader_follows_the_frame_rate_set_in_another_widget(make_napari_viewer, tmp_path):
    """The rate shown is the one every widget uses: typed elsewhere, the Loader says so."""
    from napari_catrack.widgets._context import ViewerContext

    path = _session(tmp_path)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    ViewerContext.of(viewer).set_fps(7.5)
    assert "frame rate: 7.5 Hz (set by you)" in widget.info.value


def test_loader_docks_beside_a_sample_whose_summary_holds_its_frames_only(make_napari_viewer):
    """A sample's layers state frames, rate and pixel size but no size or channels: docking Load
    recording beside them stopped with KeyError 'height' (the release check's smoke test found
    it); the box says what the summary holds."""
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "two_photon")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    text = widget.info.value
    assert text.startswith("open: a recording") and " frames" in text, text
    assert "frame rate:" in text and "pixel size:" in text and "None" not in text, text


def _said(widget) -> str:
    """Every line the widget shows now (its visible labels)."""
    from qtpy.QtWidgets import QLabel

    return "\n".join(w.text() for w in widget.findChildren(QLabel) if w.isVisible())


def test_an_open_error_stays_until_the_next_open_or_dismiss(make_napari_viewer, qtbot, tmp_path):
    """An Open's error was written into the metadata box, and the next session, channel or rate
    change (another widget's, not the user's answer to it) redrew the box with the recording's
    description: the error went before the user had read it (h20 leftover). It now stays in the
    status line under the Open button, the box still describing what is open, until the next
    Open (a success clears it, a new error replaces it) or Dismiss."""
    from napari_catrack.io.tiff import write_movie_tiff
    from tests.gui.helpers import wait_job

    good = _session(tmp_path)  # recording.tif, two channels side by side in the file
    bad = write_movie_tiff(tmp_path / "odd.tif", np.zeros((4, 8, 9), dtype=np.uint16))
    viewer = make_napari_viewer(show=True)
    viewer.open(str(good), plugin=PLUGIN)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = bad
    widget.layout_choice.value = "left-right"
    widget.open_button.clicked.emit()
    wait_job(qtbot, widget.job)
    error = "error: width 9 is odd"
    assert error in _said(widget)
    widget.ctx.set_fps(7.5, source="set by you")  # a rate typed in another widget
    widget.ctx.events.channels()
    widget.ctx.events.session()
    qtbot.wait(50)
    assert error in _said(widget), _said(widget)  # still there, and the box says what is open
    assert "open: recording.tif" in widget.info.value and "7.5 Hz" in widget.info.value
    assert widget.dismiss_button.isVisible()
    widget.dismiss_button.click()
    assert error not in _said(widget) and not widget.dismiss_button.isVisible()
    widget.open_button.clicked.emit()  # the same file again: the same error, shown again
    wait_job(qtbot, widget.job)
    assert error in _said(widget)
    widget.path.value = tmp_path / "recording.tif"  # the cause fixed: a file that opens
    widget.layout_choice.value = "auto"
    widget.open_button.clicked.emit()
    wait_job(qtbot, widget.job)
    assert "error" not in _said(widget) and not widget.dismiss_button.isVisible()
    assert "open: recording.tif" in widget.info.value
