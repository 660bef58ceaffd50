"""A real napari.Viewer (under Xvfb): sample data, reader, loader widget, session writer round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.session import Session, session_for_viewer
from tests.gui.helpers import wait_job

PLUGIN = "napari-catrack"


def _roles(viewer) -> dict[str, object]:
    return {
        layer.metadata["catrack"]["role"]: layer
        for layer in viewer.layers
        if "catrack" in layer.metadata and "role" in layer.metadata["catrack"]
    }


def _screenshot_is_not_blank(viewer) -> None:
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert shot.ndim == 3 and shot.shape[2] == 4
    assert shot[..., :3].std() > 1.0, "the canvas rendered nothing"


@pytest.mark.slow
def test_moving_worm_sample_has_channels_and_ground_truth(make_napari_viewer):
    viewer = make_napari_viewer(show=True)  # a hidden canvas renders black under Xvfb
    viewer.open_sample(PLUGIN, "moving_worm")
    names = [layer.name for layer in viewer.layers]
    assert names == ["worm green", "worm red", "ground truth tracks"]
    roles = _roles(viewer)
    assert roles["green"].colormap.name == "green"
    assert roles["red"].colormap.name == "magenta"
    assert roles["green"].data.shape == roles["red"].data.shape
    assert viewer.layers["ground truth tracks"].visible is False
    assert viewer.dims.nsteps[0] == roles["green"].data.shape[0]
    _screenshot_is_not_blank(viewer)


def test_two_photon_sample(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "two_photon")
    movie = viewer.layers["two-photon"]
    labels = viewer.layers["ground truth footprints"]
    assert movie.data.ndim == 3
    assert labels.data.shape == movie.data.shape[1:]
    assert labels.data.max() >= 10


def test_reader_opens_two_channel_tiff_lazily(make_napari_viewer, two_channel_tiff):
    path, green, red = two_channel_tiff
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    roles = _roles(viewer)
    np.testing.assert_array_equal(np.asarray(roles["green"].data), green)
    np.testing.assert_array_equal(np.asarray(roles["red"].data), red)
    assert type(roles["green"].data).__module__.startswith("dask")
    # File > Open makes this the session's recording, autosaving beside it like the loader does.
    session = session_for_viewer(viewer)
    assert session.recording["path"] == str(path)
    assert session.path == path.with_name("two.catrack.h5")


def test_reader_reports_corrupt_file_without_adding_layers(
    make_napari_viewer, tmp_path, monkeypatch
):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff" * 50)
    messages = []
    monkeypatch.setattr("napari_catrack._reader._notify_error", messages.append)
    viewer = make_napari_viewer()
    viewer.open(str(bad), plugin=PLUGIN)
    assert len(viewer.layers) == 0
    assert len(messages) == 1 and "not a readable TIFF" in messages[0]
    assert bad.read_bytes() == b"not a tiff" * 50


def test_loader_widget_splits_halves_and_shows_metadata(make_napari_viewer, qtbot, tmp_path):
    movie = np.random.default_rng(0).integers(0, 4000, (8, 24, 40), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "halves.tif", movie, fps=12.5, pixel_size_um=0.4)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = path
    widget.layout_choice.value = "right-left"
    widget.open_button.clicked.emit()
    wait_job(qtbot, widget.job)
    roles = _roles(viewer)
    np.testing.assert_array_equal(np.asarray(roles["green"].data), movie[..., 20:])
    np.testing.assert_array_equal(np.asarray(roles["red"].data), movie[..., :20])
    assert "8 frames, 24 x 20 px" in widget.info.value
    assert "12.5 Hz" in widget.info.value and "0.4 µm" in widget.info.value
    session = session_for_viewer(viewer)
    assert session.recording["options"]["layout"] == "right-left"
    assert session.path.name == "halves.catrack.h5"


def test_loader_widget_error_is_one_line_and_adds_nothing(make_napari_viewer, qtbot, tmp_path):
    path = write_movie_tiff(tmp_path / "odd.tif", np.zeros((4, 8, 9), dtype=np.uint16))
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = path
    widget.layout_choice.value = "left-right"
    widget.open_button.clicked.emit()
    wait_job(qtbot, widget.job)
    assert len(viewer.layers) == 0
    assert widget.status.text().startswith("error: width 9 is odd")


def test_loader_widget_channel_boxes_pick_two_of_three_channels(
    make_napari_viewer, qtbot, tmp_path
):
    """Layout auto with a 3-channel file: the green/red boxes say which channels to show."""
    import tifffile

    movie = np.ones((4, 3, 6, 5), dtype=np.uint16) * np.arange(1, 4, dtype=np.uint16)[:, None, None]
    path = tmp_path / "tcyx3.tif"
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TCYX"})
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = path
    widget.open_button.clicked.emit()  # boxes at their defaults: the user is asked to set them
    wait_job(qtbot, widget.job)
    assert len(viewer.layers) == 0
    assert widget.status.text().startswith("error: 3 channels found (numbered 0-2)")
    assert "set the green and red channel" in widget.status.text()
    widget.green_channel.value, widget.red_channel.value = 0, 7
    widget.open_button.clicked.emit()
    wait_job(qtbot, widget.job)
    assert len(viewer.layers) == 0
    assert widget.status.text() == (
        "error: red channel 7 does not exist: the data has 3 channel(s), numbered 0-2"
    )
    widget.green_channel.value, widget.red_channel.value = 2, 0
    widget.open_button.clicked.emit()
    wait_job(qtbot, widget.job)
    roles = _roles(viewer)
    assert np.asarray(roles["green"].data).max() == 3 and np.asarray(roles["red"].data).max() == 1
    assert "layout channel-axis" in widget.info.value


def test_session_writer_and_reader_restore_layers(make_napari_viewer, two_channel_tiff, tmp_path):
    path, green, _ = two_channel_tiff
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    session = session_for_viewer(viewer)
    session.record("alignment", attrs={"dy": 1.5, "dx": -2.0, "rotation_deg": 0.0})
    viewer.add_points(
        np.array([[0, 3.0, 4.0], [2, 5.0, 6.0]]),
        features=pd.DataFrame({"neuron_id": ["AVAL", "AVAR"]}),
        name="neurons",
    )
    out = tmp_path / "saved.catrack.h5"
    written = viewer.layers.save(str(out), plugin=PLUGIN)
    assert written == [str(out)]
    saved = Session.load(out)
    assert saved.recording["path"] == str(path)
    assert saved["alignment"].attrs["dy"] == 1.5

    fresh = make_napari_viewer()
    fresh.open(str(out), plugin=PLUGIN)
    roles = _roles(fresh)
    np.testing.assert_array_equal(np.asarray(roles["green"].data), green)
    # The accepted alignment comes back as the red layer's affine: red (0, 0) lands at (1.5, -2).
    red_affine = roles["red"].affine.affine_matrix
    np.testing.assert_allclose(red_affine[1:3, 3], [1.5, -2.0], atol=1e-9)
    points = fresh.layers["neurons"]
    np.testing.assert_allclose(points.data, [[0, 3.0, 4.0], [2, 5.0, 6.0]])
    assert list(points.features["neuron_id"]) == ["AVAL", "AVAR"]


def _manifest_widgets() -> list[str]:
    import yaml

    from napari_catrack import __file__ as package_init

    manifest = yaml.safe_load((Path(package_init).parent / "napari.yaml").read_text())
    return [w["display_name"] for w in manifest["contributions"]["widgets"]]


@pytest.mark.parametrize("widget_name", _manifest_widgets())
def test_widgets_dock_and_render(make_napari_viewer, widget_name):
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, widget_name)
    native = getattr(widget, "native", widget)
    image = native.grab().toImage()
    assert image.width() > 50 and image.height() > 50, "the widget rendered at no size"


def test_widgets_docked_before_opening_a_session_show_its_results(
    make_napari_viewer, qtbot, two_channel_tiff, tmp_path
):
    path, _, _ = two_channel_tiff
    tracks = pd.DataFrame(
        {
            "neuron_id": ["a"] * 6,
            "frame": np.arange(6),
            "y": np.linspace(4, 9, 6),
            "x": np.full(6, 7.0),
            "confidence": np.ones(6),
            "source": ["auto"] * 6,
        }
    )
    traces = tracks[["neuron_id", "frame"]].assign(dff=np.linspace(0, 1, 6))
    saved = Session(tmp_path / "old.catrack.h5")
    saved.set_recording(str(path), {}, {})
    saved.record("tracks", tables={"tracks": tracks})
    saved.record("traces", tables={"traces": traces})

    viewer = make_napari_viewer()
    _, tracking = viewer.window.add_plugin_dock_widget(PLUGIN, "Track neurons")
    _, trace_view = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces (signals)")
    assert tracking.tracks is None and trace_view.traces is None
    viewer.open(str(saved.path), plugin=PLUGIN)
    qtbot.waitUntil(lambda: tracking.tracks is not None, timeout=5000)
    assert len(tracking.tracks) == 6
    assert trace_view.traces is not None and list(trace_view.traces["neuron_id"].unique()) == ["a"]
    assert session_for_viewer(viewer).path == saved.path


def test_loader_open_button_reads_the_file_off_the_main_thread(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """The Open button returns at once and the file is read in a worker: a large TIFF's pages
    held napari's UI for seconds (scripts/ui_stall_probe.py: 5 s on 2,000 two-channel frames)."""
    import threading

    import napari_catrack.io.recording as recording

    movie = np.random.default_rng(0).integers(0, 4000, (6, 16, 20), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "two.tif", movie, movie[:, ::-1], fps=4.0)
    real, read_in, release = recording.open_recording, [], threading.Event()

    def held_open(*args, **kwargs):
        read_in.append(threading.current_thread())
        release.wait(10)  # (a safety limit only: the test releases it)
        return real(*args, **kwargs)

    monkeypatch.setattr(recording, "open_recording", held_open)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = path
    widget.open_button.clicked.emit()  # returns while the file is still being read
    qtbot.waitUntil(lambda: bool(read_in), timeout=5000)  # (the worker thread starts shortly)
    assert read_in[0] is not threading.main_thread()
    assert widget.job is not None and widget.job.running and len(viewer.layers) == 0
    assert not widget.open_button.native.isEnabled()  # one open at a time
    release.set()
    wait_job(qtbot, widget.job)
    assert widget.job.outcome == "done"
    assert sorted(_roles(viewer)) == ["green", "red"]
    assert "6 frames, 16 x 20 px" in widget.info.value


def test_loader_cancel_stops_the_open_adds_nothing_and_closes_the_file(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Load recording's Open had no Cancel (h14): Cancel while the file is read adds no layers,
    closes the file it had opened, leaves the session without a recording and enables Open
    again; a second Open then shows the recording intact."""
    import threading

    import napari_catrack.io.recording as recording

    movie = np.random.default_rng(0).integers(0, 4000, (6, 16, 20), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "two.tif", movie, movie[:, ::-1], fps=4.0)
    real, opened, closed, release = recording.open_recording, [], [], threading.Event()

    def held_open(*args, **kwargs):
        release.wait(10)  # (a safety limit only: the test releases it)
        rec = real(*args, **kwargs)
        opened.append(rec)
        close = rec.close
        rec.close = lambda: (closed.append(rec), close())[1]
        return rec

    monkeypatch.setattr(recording, "open_recording", held_open)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = path
    widget.open_button.clicked.emit()
    assert widget.job is not None and widget.job.running
    assert widget.cancel_button.native.isEnabled()
    widget.cancel_button.native.click()  # while the file is still being read
    release.set()
    wait_job(qtbot, widget.job)
    assert widget.job.outcome == "cancelled"
    assert len(viewer.layers) == 0 and widget.recording is None
    assert len(opened) == 1 and closed == opened  # the file it opened is closed again
    assert not session_for_viewer(viewer).recording and session_for_viewer(viewer).path is None
    assert "cancelled" in widget.status.text()
    assert widget.open_button.native.isEnabled() and not widget.cancel_button.native.isEnabled()

    widget.open_button.clicked.emit()  # opened again, not cancelled: the movie as written
    wait_job(qtbot, widget.job)
    assert widget.job.outcome == "done"
    np.testing.assert_array_equal(np.asarray(_roles(viewer)["green"].data), movie)
    assert widget.recording is opened[1] and closed == [opened[0]]  # the shown one stays open
