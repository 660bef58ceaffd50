"""The GUI's session autosaves are written by one background writer (`save_queue`), not on
napari's main thread (h14: a centerline drag on a 20,000-frame session held the UI 2-3.6 s).

Each test holds the writer inside its HDF5 write (`Session._write` waits on an event) and checks
that the action has returned meanwhile, then that the file, read back, holds what was done."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pytest

from napari_catrack.session import Session, read_h5_table
from tests.gui.test_behaviour_sessions import saved_behaviour_session

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"


@pytest.fixture
def held_writes(monkeypatch):
    """`Session._write` notes its thread and, while `hold` is clear, waits (at most 20 s: on
    code that writes in the caller's thread the test fails instead of hanging)."""
    original = Session._write
    state = {"threads": [], "hold": threading.Event(), "inside": threading.Event(), "late": 0}
    state["hold"].set()

    def write(self, f, target, arrays=None):
        state["threads"].append(threading.current_thread())
        state["inside"].set()
        state["late"] += not state["hold"].wait(20)  # held to the limit: something waited on it
        return original(self, f, target, arrays)

    monkeypatch.setattr(Session, "_write", write)
    return state


def _status_in_file(path) -> list[str]:
    """The centerline step's per-frame status as the file holds it (read with h5py: no flush of
    queued saves, unlike `Session.load`)."""
    with h5py.File(path, "r") as f:
        return read_h5_table(f["steps/centerline/tables/frames"])["status"].astype(str).tolist()


@pytest.fixture
def behaviour_session(tmp_path):
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    video = make_behaviour_video(12, shape=(96, 96), seed=7, pixel_size_um=16.0)
    session = saved_behaviour_session(video, tmp_path)
    session.close()
    return session.path


def _drag(viewer, t: int, dx: float) -> np.ndarray:
    shapes = viewer.layers["centerline"]
    viewer.dims.set_current_step(0, t)
    moved = np.asarray(shapes.data[0]).copy()
    moved[:, 2] += dx
    shapes.data = [moved]
    return moved


def test_a_centerline_drag_returns_before_its_save_and_closing_writes_the_last_edit(
    make_napari_viewer, qtbot, behaviour_session, held_writes
):
    from napari_catrack.core.behaviour.records import centerline_from_session

    path = behaviour_session
    truth = centerline_from_session(Session.load(path))[0].points.copy()
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    held_writes["hold"].clear()
    _drag(viewer, 3, 2.0)  # returns while its save is held in the writer
    assert held_writes["inside"].wait(10), "the drag's autosave never started"
    assert held_writes["threads"][-1] is not threading.main_thread()
    assert _status_in_file(path)[3] == "ok"  # its save has not ended: the drag did not wait
    _drag(viewer, 7, -3.0)  # a second drag while the first save is still held: queued
    held_writes["hold"].set()
    viewer.close()  # at once: closing waits for the queued saves

    status = _status_in_file(path)
    assert [t for t, s in enumerate(status) if s == "edited"] == [3, 7]
    stored = centerline_from_session(Session.load(path))[0]
    np.testing.assert_allclose(stored.points[3], truth[3] + [0.0, 2.0], atol=0.3)
    np.testing.assert_allclose(stored.points[7], truth[7] + [0.0, -3.0], atol=0.3)
    others = [t for t in range(len(truth)) if t not in (3, 7)]
    np.testing.assert_allclose(stored.points[others], truth[others])
    assert all(th is not threading.main_thread() for th in held_writes["threads"])
    assert held_writes["late"] == 0  # the second drag did not wait for the held write either


def test_a_failed_background_save_says_so_in_one_line_and_loses_nothing(
    make_napari_viewer, qtbot, behaviour_session, monkeypatch, caplog
):
    from napari_catrack.core.behaviour.records import centerline_from_session
    from napari_catrack.session import session_for_viewer

    path = behaviour_session
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    before = path.read_bytes()
    original = Session._write

    def full_disk(self, f, target, arrays=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Session, "_write", full_disk)
    _drag(viewer, 5, 2.0)
    session_for_viewer(viewer)  # (the edit is in the session in memory at once)
    qtbot.waitUntil(lambda: any("autosave of" in r.getMessage() for r in caplog.records))
    lines = [r.getMessage() for r in caplog.records if "autosave of" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "No space left on device" in lines[0] and "worm.catrack.h5" in lines[0]
    assert path.read_bytes() == before  # the previous file is whole
    stored = centerline_from_session(session_for_viewer(viewer))[0]
    assert stored.status[5] == "edited"  # kept in memory
    monkeypatch.setattr(Session, "_write", original)
    viewer.close()  # closing writes what the failed save did not
    assert [t for t, s in enumerate(_status_in_file(path)) if s == "edited"] == [5]


def test_a_widgets_result_is_autosaved_off_the_main_thread(
    make_napari_viewer, qtbot, tmp_path, held_writes
):
    """Accepting an alignment (as every widget's result: `Session.record`) returned only after
    the session file was written (0.3-1.2 s per step on the main thread); now it returns while
    the write is held, and the file holds the result once the viewer is closed."""
    from qtpy.QtCore import Qt

    from napari_catrack.core.rigid import AlignmentTransform
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import session_for_viewer

    movie = np.random.default_rng(0).integers(0, 1000, size=(8, 16, 20), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "rec.tif", movie, movie[:, ::-1], fps=10.0)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    _, align = viewer.window.add_plugin_dock_widget(PLUGIN, "Align channels")
    target = session_for_viewer(viewer).path
    held_writes["hold"].clear()
    align.set_transform(AlignmentTransform(1.5, -0.5, 0.0, source="manual"))
    qtbot.mouseClick(align.accept_button, Qt.LeftButton)  # returns while the write is held
    assert held_writes["inside"].wait(10), "the accept's autosave never started"
    assert held_writes["threads"][-1] is not threading.main_thread()
    assert not target.exists()  # not written yet: the click did not wait for it
    assert session_for_viewer(viewer)["alignment"].attrs["dy"] == 1.5  # shown at once
    held_writes["hold"].set()
    viewer.close()
    saved = Session.load(target)
    assert (saved["alignment"].attrs["dy"], saved["alignment"].attrs["dx"]) == (1.5, -0.5)
    assert saved.recording["path"] == str(path)


def test_a_stroke_on_any_labels_layer_of_a_saving_viewer_is_counted(make_napari_viewer):
    """The background writer compares `save_queue.edits()` around each array it writes (a
    stroke undone before its check leaves the bytes alike): a viewer whose session saves in the
    background counts the `paint` event of its Labels layers, those added later included."""
    from napari_catrack import save_queue
    from napari_catrack.session import session_for_viewer

    viewer = make_napari_viewer()
    before_layer = viewer.add_labels(np.zeros((2, 32, 32), np.uint8), name="early")
    session_for_viewer(viewer)  # the viewer's session: background saves, strokes counted
    later = viewer.add_labels(np.zeros((2, 32, 32), np.uint8), name="later")
    for layer in (before_layer, later):
        count = save_queue.edits()
        layer.paint((0, 10, 10), 3)  # one brush stroke (napari emits `paint` at its end)
        assert (layer.data == 3).any()
        assert save_queue.edits() > count, layer.name


def test_a_stroke_on_a_labels_layer_the_session_stores_is_autosaved(make_napari_viewer, tmp_path):
    """A Labels layer stored in the viewer's session (File > Save as a session, a session opened
    with its layers): its brush strokes reached the file only when something else saved, and
    closing napari lost them (h15 verifier). A stroke now autosaves, as a widget's result does."""
    import h5py

    from napari_catrack import save_queue
    from napari_catrack.session import session_for_viewer
    from napari_catrack.session_layers import layers_into_session

    viewer = make_napari_viewer()
    layer = viewer.add_labels(np.zeros((3, 32, 32), np.uint8), name="cells")
    other = viewer.add_labels(np.zeros((3, 32, 32), np.uint8), name="scratch")
    session = session_for_viewer(viewer)
    session.path = tmp_path / "painted.catrack.h5"
    layers_into_session(session, [(layer.data, {"name": "cells"}, "labels")])
    session.save()

    def stored(f) -> np.ndarray:
        found = []
        f.visititems(lambda n, o: found.append(o[...]) if isinstance(o, h5py.Dataset) and o.shape == (3, 32, 32) else None)  # fmt: skip
        assert len(found) == 1  # the stored layer only, not the scratch one
        return found[0]

    layer.paint((1, 10, 10), 5)  # one brush stroke (napari emits `paint` at its end)
    assert save_queue.flush(timeout=60)
    with h5py.File(session.path, "r") as f:
        assert np.array_equal(stored(f), layer.data) and (stored(f) == 5).any()
    mtime = session.path.stat().st_mtime_ns
    other.paint((1, 10, 10), 7)  # a layer the session does not store: nothing to save
    assert save_queue.flush(timeout=60)
    assert session.path.stat().st_mtime_ns == mtime
