"""Issue 11, "keeps the user's work": napari's Save Selected Layers (Ctrl+S) with one layer
selected saves the whole session, and reopening it brings every widget back where it was."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.session import Session, session_for_viewer
from napari_catrack.synthetic.rasters import planted_ensembles
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui

PLUGIN = "napari-catrack"
FPS = 10.0


def _traces(n_frames: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    t = np.arange(n_frames)
    rows = []
    for k in range(3):
        dff = rng.normal(0, 0.02, n_frames)
        for peak in (20 + 15 * k, 70):
            dff[peak : peak + 10] += np.exp(-np.arange(10) / 3.0)
        rows.append(pd.DataFrame({"neuron_id": f"c{k}", "frame": t, "time_s": t / FPS, "dff": dff}))
    return pd.concat(rows, ignore_index=True)


def _dock(viewer, name):
    return viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]


def test_save_with_one_layer_selected_then_reopen_restores_everything(
    make_napari_viewer, qtbot, tmp_path
):
    from napari_catrack.io.tiff import write_movie_tiff

    planted = planted_ensembles(n_neurons=30, n_frames=1500, n_ensembles=2, ensemble_size=8,
                                n_activations=12, seed=6)  # fmt: skip
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 1000, size=(planted.n_frames, 16, 20), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "rec.tif", movie, movie[:, ::-1], fps=FPS)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    session = session_for_viewer(viewer)
    align = _dock(viewer, "Align channels")
    tracking = _dock(viewer, "Track neurons")
    curation = _dock(viewer, "Transients curation")
    ensembles = _dock(viewer, "Neuronal ensembles")

    align.set_transform(AlignmentTransform(0.5, -0.25, 0.0, source="manual"))
    align.accept()
    panel = tracking.candidates
    panel.live.setChecked(False)
    panel.set_params(threshold=4.5, min_area=2)  # the user's detection settings
    panel.preview()
    panel._append(pd.DataFrame({"y": [5.0], "x": [6.0]}))  # one neuron picked
    viewer.add_shapes([np.array([[2.0, 2.0], [2.0, 8.0], [8.0, 8.0]])], shape_type="polygon",
                      name="rois")  # fmt: skip
    session.record("traces", tables={"traces": _traces(120)}, params={"fps": FPS})
    curation.load_session_traces()
    curation.method.setCurrentText("ksigma")
    wait_job(qtbot, curation.detect())
    ensembles.set_table(planted.events)
    ensembles.fps.setValue(planted.fps)
    ensembles.shuffles.setValue(100)
    wait_job(qtbot, ensembles.find(), timeout=30000)
    assert ensembles.result is not None, ensembles.status.text()
    n_ensembles = ensembles.result.n_ensembles
    assert n_ensembles >= 1

    # File > Save Selected Layers... (Ctrl+S) with ONE layer selected
    viewer.layers.selection = {viewer.layers["rois"]}
    out = tmp_path / "work.catrack.h5"
    assert viewer.layers.save(str(out), selected=True, plugin=PLUGIN) == [str(out)]
    saved = Session.load(out)
    kinds = sorted(kind for _, _, kind in saved.layers)
    assert {"points", "shapes"} <= set(kinds)  # neurons and the polygon, not only "rois"
    assert saved.recording["path"] == str(path)  # red and green come back from the recording
    assert {"alignment", "neurons", "transients", "ensembles", "settings"} <= set(saved.steps)

    fresh = make_napari_viewer()
    widgets = {name: _dock(fresh, name) for name in (
        "Align channels", "Track neurons",
        "Transients curation", "Neuronal ensembles")}  # fmt: skip
    fresh.open(str(out), plugin=PLUGIN)
    roles = {lay.metadata.get("catrack", {}).get("role") for lay in fresh.layers}
    assert {"green", "red"} <= roles and "neurons" in fresh.layers and "rois" in fresh.layers
    align2 = widgets["Align channels"]
    assert "accepted" in align2.in_force.text() and "unaccepted" not in align2.in_force.text()
    tracking2 = widgets["Track neurons"]
    qtbot.waitUntil(lambda: tracking2.candidates.params().threshold == 4.5, timeout=5000)
    assert tracking2.candidates.params().min_area == 2
    curation2 = widgets["Transients curation"]
    assert curation2.method.currentText() == "ksigma"  # the method last used
    assert len(curation2.state.transients()) == len(curation.state.transients())
    ensembles2 = widgets["Neuronal ensembles"]
    qtbot.waitUntil(lambda: ensembles2.result is not None, timeout=5000)
    assert ensembles2.result.n_ensembles == n_ensembles
    assert ensembles2.ensembles.count() == n_ensembles and ensembles2.shuffles.value() == 100
    assert ensembles2.fps.value() == pytest.approx(planted.fps)  # the frame rate typed


def test_a_session_opens_its_recording_from_another_working_folder(
    make_napari_viewer, tmp_path, monkeypatch
):
    """`catrack demo -o demo` ran in one folder, napari opened its session from another: only
    the tracks came back, on a black canvas (scale review 7, item 1). The recording is found
    beside the session file, whatever the working folder."""
    from pathlib import Path

    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff

    (tmp_path / "demo").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    movie = np.random.default_rng(0).integers(0, 1000, size=(6, 16, 20), dtype=np.uint16)
    write_movie_tiff(Path("demo/recording.tif"), movie, movie[:, ::-1], fps=FPS)
    rec = open_recording("demo/recording.tif")  # the path as the demo gives it
    session = Session("demo/demo.catrack.h5")
    session.set_recording(rec.path, rec.options, rec.summary())
    rec.close()
    tracks = pd.DataFrame({"neuron_id": ["a"] * 6, "frame": np.arange(6), "y": 5.0, "x": 6.0})
    session.record("tracks", tables={"tracks": tracks})
    monkeypatch.chdir(tmp_path / "elsewhere")
    viewer = make_napari_viewer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "session recording could not be reopened" fails
        viewer.open(str(tmp_path / "demo" / "demo.catrack.h5"), plugin=PLUGIN)
    roles = {lay.metadata.get("catrack", {}).get("role"): lay for lay in viewer.layers}
    assert {"green", "red"} <= set(roles) and "tracks" in viewer.layers
    np.testing.assert_array_equal(np.asarray(roles["green"].data), movie)


def test_a_damaged_session_is_one_message_in_napari(make_napari_viewer, tmp_path, monkeypatch):
    """Garbage inside a session file reached napari as an h5py traceback (scale review 7,
    item 2): the reader shows one message, adds nothing and leaves the file as it was."""
    good = Session(tmp_path / "good.catrack.h5")
    good.record("traces", tables={"traces": _traces(2000)})
    data = bytearray(good.path.read_bytes())
    data[4096:24096] = (bytes(range(256)) * 79)[:20000]
    bad = tmp_path / "bad.catrack.h5"
    bad.write_bytes(bytes(data))
    messages = []
    monkeypatch.setattr("napari_catrack._reader._notify_error", messages.append)
    viewer = make_napari_viewer()
    viewer.open(str(bad), plugin=PLUGIN)
    assert len(viewer.layers) == 0 and len(messages) == 1
    assert messages[0].startswith("bad.catrack.h5 is damaged: it is not a readable napari-catrack")
    assert bad.read_bytes() == bytes(data)


def test_opening_a_recording_never_autosaves_over_its_earlier_session(
    make_napari_viewer, tmp_path, monkeypatch
):
    """movie.tif opened again in a new viewer (File > Open or the Loader) while the first still
    has it open starts an empty session; its first autosave used to replace movie.catrack.h5,
    losing the earlier sitting's results. Now that file is left untouched, the new session
    autosaves to movie-2.catrack.h5, and the user is told both names (closed first, the same
    movie continues its session: `test_the_same_movie_opened_again_continues_its_session`)."""
    import tifffile

    from napari_catrack.save_queue import flush  # GUI autosaves are written in the background

    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    movie = tmp_path / "movie.tif"
    frames = np.random.default_rng(0).integers(0, 1000, (20, 32, 32)).astype("uint16")
    tifffile.imwrite(movie, frames, imagej=True, metadata={"axes": "TYX"})
    first = make_napari_viewer()
    first.open(str(movie), plugin=PLUGIN)
    session = session_for_viewer(first)
    assert session.path == tmp_path / "movie.catrack.h5" and not shown
    session.record("summary", arrays={"mean": frames.mean(axis=0)})
    flush()
    earlier = (tmp_path / "movie.catrack.h5").read_bytes()

    second = make_napari_viewer()
    second.open(str(movie), plugin=PLUGIN)
    fresh = session_for_viewer(second)
    fresh.record("settings", attrs={"fps": 5.0})
    flush()
    assert (tmp_path / "movie.catrack.h5").read_bytes() == earlier
    assert fresh.path == tmp_path / "movie-2.catrack.h5"
    assert list(Session.load(fresh.path).steps) == ["settings"]
    assert any("movie.catrack.h5" in s and "movie-2.catrack.h5" in s for s in shown), shown


def test_the_same_movie_opened_again_continues_its_session(make_napari_viewer, qtbot, tmp_path, monkeypatch):  # fmt: skip
    """movie.tif closed and opened again (nothing changed) autosaved to movie-2.catrack.h5 with
    a warning, its results left in movie.catrack.h5 (session 16's decision 4, for behaviour
    videos undone in h16-h18). Now the same movie (path, size and SHA-256), open nowhere else
    and opened with the options its session recorded, continues its session: its results come
    with it (the tracks layer, the red channel at the accepted alignment) and autosave goes on
    into the same file. Opened with other options (another rate), it still branches (h22)."""
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.save_queue import flush
    from napari_catrack.video_session import note_opened

    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    frames = np.random.default_rng(0).integers(0, 1000, size=(6, 16, 20), dtype=np.uint16)
    movie = write_movie_tiff(tmp_path / "movie.tif", frames, frames[:, ::-1], fps=FPS)
    own = tmp_path / "movie.catrack.h5"
    first = make_napari_viewer()
    first.open(str(movie), plugin=PLUGIN)
    session = session_for_viewer(first)
    assert session.path == own and not shown, shown
    tracks = pd.DataFrame({"neuron_id": ["a"] * 6, "frame": np.arange(6), "y": 5.0, "x": 6.0,
                           "confidence": 1.0, "source": "tracked"})  # fmt: skip
    session.record("tracks", tables={"tracks": tracks})
    shift = AlignmentTransform(dy=1.5, dx=-2.0)
    session.record("alignment", attrs=shift.to_dict())
    flush()
    first.close()

    second = make_napari_viewer()
    second.open(str(movie), plugin=PLUGIN)
    again = session_for_viewer(second)
    assert again.path == own and not shown, shown
    assert {"tracks", "alignment"} <= set(again.steps)
    assert "tracks" in [layer.name for layer in second.layers]
    red = [la for la in second.layers if la.metadata.get("catrack", {}).get("alignment")]
    assert len(red) == 1 and red[0].metadata["catrack"]["alignment"] == shift.to_dict()
    again.record("settings", attrs={"fps": FPS})  # autosaves into the same file
    flush()
    assert {"tracks", "alignment", "settings"} <= set(Session.load(own).steps)
    assert not (tmp_path / "movie-2.catrack.h5").exists()
    second.close()

    loader = make_napari_viewer()  # the Load recording widget, its default options: the same
    _, widget = loader.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = movie
    widget.open_button.clicked.emit()
    wait_job(qtbot, widget.job)
    assert session_for_viewer(loader).path == own and not shown, shown
    assert "tracks" in [layer.name for layer in loader.layers]
    loader.close()

    third = make_napari_viewer()  # another view of the file (another rate): a branch
    rec = open_recording(movie, fps=2 * FPS)
    said = note_opened(third, rec)
    rec.close()
    assert session_for_viewer(third).path == tmp_path / "movie-2.catrack.h5"
    assert said and "open movie.catrack.h5 instead" in said


def test_docking_track_neurons_on_a_reopened_session_keeps_its_tracks_layer(
    make_napari_viewer, tmp_path
):
    """The reader already shows the session's tracks: the Track neurons widget docked after it
    takes them without rebuilding the layer (~1 s on a 2,000-frame session's 48,000 points,
    scripts/ui_stall_probe.py)."""
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff

    movie = np.random.default_rng(0).integers(0, 1000, size=(6, 16, 20), dtype=np.uint16)
    write_movie_tiff(tmp_path / "rec.tif", movie, movie[:, ::-1], fps=FPS)
    rec = open_recording(tmp_path / "rec.tif")
    session = Session(tmp_path / "rec.catrack.h5")
    session.set_recording(rec.path, rec.options, rec.summary())
    rec.close()
    tracks = pd.DataFrame({"neuron_id": ["a"] * 6 + ["b"] * 6, "frame": np.tile(np.arange(6), 2),
                           "y": np.r_[np.full(6, 5.0), np.full(6, 9.0)], "x": 6.0,
                           "confidence": 1.0, "source": "tracked"})  # fmt: skip
    session.record("tracks", tables={"tracks": tracks})
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "rec.catrack.h5"), plugin=PLUGIN)
    layer = viewer.layers["tracks"]
    rebuilt = []
    layer.events.rebuild_tracks.connect(lambda _e: rebuilt.append(1))
    widget = _dock(viewer, "Track neurons")
    assert widget.tracks is not None and len(widget.tracks) == 12  # restored from the session
    assert viewer.layers["tracks"] is layer and rebuilt == []
    assert sorted(set(layer.features["neuron_id"])) == ["a", "b"]
