"""Behaviour results of a session in a real napari.Viewer, without the Worm behaviour widget:
a separate behaviour video opened after (or before) its session brings the masks, centerline and
head layers (h13 item 1)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.behaviour.records import centerline_from_session

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
BEHAVIOUR = ("worm masks", "centerline", "worm head")


@pytest.fixture(scope="module")
def video():
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    return make_behaviour_video(16, shape=(96, 96), seed=7, pixel_size_um=16.0)


def _record(session, video, movie) -> None:
    """Masks and 50-point centerlines of `movie` (the behaviour video), as the steps record."""
    from napari_catrack.core.behaviour import CenterlineResult, frame_quality
    from napari_catrack.core.behaviour.centerline import resample
    from napari_catrack.core.behaviour.propagate import SegmentationResult
    from napari_catrack.core.behaviour.records import record_centerline, record_segmentation

    masks = video.truth.masks.astype(bool)
    T = len(masks)
    seg = SegmentationResult(masks, np.ones(T), np.full(T, "propagated"), np.zeros(T, int),
                             "classical", [])  # fmt: skip
    inputs = {"recording": str(movie)}
    record_segmentation(session, seg, {}, frame_quality(masks, np.ones(T)), inputs=inputs)
    pts = np.stack([resample(c, 50) for c in video.truth.centerline])
    result = CenterlineResult(pts, np.full(T, "ok", dtype=object), np.full(T, 100.0),
                              np.full(T, 8.0), np.full(T, 10.0))  # fmt: skip
    record_centerline(session, result, {}, inputs=inputs)


def saved_behaviour_session(video, folder):
    """A saved behaviour session of `video` (`folder`/worm.catrack.h5, its recording the video
    written as `folder`/worm.tif), still open."""
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    movie = write_movie_tiff(folder / "worm.tif", video.frames)
    session = Session(folder / "worm.catrack.h5")
    session.set_recording(str(movie), {}, {})
    _record(session, video, movie)
    session.save()
    return session


@pytest.fixture
def demo_like(video, tmp_path):
    """(session file, behaviour video file): an imaging recording plus a separate behaviour
    video with its results, as `catrack demo` writes."""
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    movie = write_movie_tiff(tmp_path / "worm.tif", video.frames)
    imaging = write_movie_tiff(tmp_path / "imaging.tif", np.zeros((12, 32, 32), np.uint16), fps=5.0)
    session = Session(tmp_path / "imaging.catrack.h5")
    session.set_recording(str(imaging), {}, {})
    _record(session, video, movie)
    session.save()
    session.close()
    return tmp_path / "imaging.catrack.h5", movie


def _kinds(viewer) -> dict[str, str]:
    return {lay.name: type(lay).__name__ for lay in viewer.layers}


@pytest.mark.parametrize("video_first", [False, True])
def test_a_separate_behaviour_video_brings_its_results_without_the_widget(
    make_napari_viewer, demo_like, video_first
):
    """The demo's masks appeared when its video was opened only while the Worm behaviour widget
    was docked; File > Open of the session and of the video (either order) now shows them."""
    from napari_catrack.session import Session

    path, movie = demo_like
    viewer = make_napari_viewer()
    for item in [movie, path] if video_first else [path, movie]:
        viewer.open(str(item), plugin=PLUGIN)
    kinds = _kinds(viewer)
    assert {n: kinds.get(n) for n in BEHAVIOUR} == {
        "worm masks": "Labels", "centerline": "Shapes", "worm head": "Points"}  # fmt: skip
    assert not any(name.endswith("[1]") for name in kinds), kinds  # one copy of each
    stored = Session.load(path)
    truth = centerline_from_session(stored)[0].points
    np.testing.assert_allclose(viewer.layers["worm head"].data[:, 1:], truth[:, 0])
    assert viewer.layers["worm masks"].data.shape == movie_shape(movie)
    viewer.open(str(movie), plugin=PLUGIN)  # opened again: no second copy of the results
    assert sum(name.startswith("worm masks") for name in _kinds(viewer)) == 1


def test_a_dragged_centerline_vertex_stays_where_it_was_dropped(
    make_napari_viewer, video, tmp_path
):
    """h14: an edit was resampled to even spacing, so the stored path passed 0.74 px from where
    the user dropped the vertex. Now a path with the stored point count is kept as drawn (the
    posture is computed on an evenly resampled copy); the posture row is recomputed."""
    from napari_catrack.core.behaviour.centerline import resample
    from napari_catrack.core.behaviour.posture import posture_table
    from napari_catrack.core.behaviour.records import record_centerline
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session, session_for_viewer

    movie = write_movie_tiff(tmp_path / "worm.tif", video.frames)
    path = tmp_path / "worm.catrack.h5"
    session = Session(path)
    session.set_recording(str(movie), {}, {})
    _record(session, video, movie)
    result = centerline_from_session(session)[0]
    posture = posture_table(result.points)
    posture["status"] = "ok"
    record_centerline(session, result, {}, posture=posture, inputs={"recording": str(movie)})
    session.save()
    session.close()
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    shapes = viewer.layers["centerline"]
    viewer.dims.set_current_step(0, 6)
    moved = np.asarray(shapes.data[0]).copy()
    seg = moved[21, 1:] - moved[19, 1:]
    normal = np.array([-seg[1], seg[0]]) / np.linalg.norm(seg)
    dropped = moved[20, 1:] + 3.0 * normal  # one vertex dragged 3 px sideways
    moved[20, 1:] = dropped
    shapes.data = [moved]
    session = session_for_viewer(viewer)
    stored, _ = centerline_from_session(session)
    assert stored.status[6] == "edited"
    pts = stored.points[6]
    # distance from the dropped point to the stored polyline (its nearest segment)
    a, b = pts[:-1], pts[1:]
    u = np.clip(np.einsum("ij,ij->i", dropped - a, b - a) / np.einsum("ij,ij->i", b - a, b - a),
                0, 1)  # fmt: skip
    assert np.linalg.norm(a + u[:, None] * (b - a) - dropped, axis=1).min() < 0.05
    np.testing.assert_allclose(pts, moved[:, 1:])  # every vertex as drawn
    np.testing.assert_allclose(np.asarray(shapes.data[0])[:, 1:], moved[:, 1:])  # shown so
    row = session["centerline"].tables["posture"].set_index("frame").loc[6]
    want = posture_table(resample(pts, len(pts))[None]).iloc[0]
    assert row["status"] == "edited"
    assert row["length_px"] == pytest.approx(want["length_px"])
    assert row["mean_abs_curvature_per_px"] == pytest.approx(want["mean_abs_curvature_per_px"])


def movie_shape(movie) -> tuple[int, ...]:
    import tifffile

    return tuple(tifffile.imread(movie).shape)


def test_the_centerline_follows_the_slider_and_keeps_edits_without_the_widget(
    make_napari_viewer, video, tmp_path
):
    """h13 item 3: the centerline layer holds the current frame's path (napari took ~20 s to
    build 20,000 paths); moving the slider shows that frame's, and a path the user drags is
    that frame's centerline in the session (status "edited"), with no widget docked; saved
    and reopened, the edit is there and the layer is built again from the session's step."""
    from napari_catrack.session import Session, session_for_viewer

    session = saved_behaviour_session(video, tmp_path)
    path = session.path
    truth = centerline_from_session(session)[0].points.copy()
    session.close()

    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    shapes = viewer.layers["centerline"]
    for t in (0, 9, 4):
        viewer.dims.set_current_step(0, t)
        assert len(shapes.data) == 1 and shapes.features["frame"].tolist() == [t]
        np.testing.assert_allclose(np.asarray(shapes.data[0])[:, 1:], truth[t])
    moved = np.asarray(shapes.data[0]).copy()
    moved[:, 2] += 2.0  # the user drags frame 4's path two pixels right
    shapes.data = [moved]
    stored, _ = centerline_from_session(session_for_viewer(viewer))
    assert stored.status[4] == "edited" and (stored.status != "edited").sum() == len(truth) - 1
    np.testing.assert_allclose(stored.points[4], truth[4] + [0.0, 2.0], atol=0.3)
    np.testing.assert_allclose(stored.points[5], truth[5])  # the other frames untouched
    np.testing.assert_allclose(viewer.layers["worm head"].data[4, 1:], stored.points[4, 0])
    # at once, before the slider moves: the layer shows the path as kept, in the edited colour
    assert shapes.features["status"].tolist() == ["edited"]
    np.testing.assert_allclose(np.asarray(shapes.data[0])[:, 1:], stored.points[4])
    viewer.dims.set_current_step(0, 5)
    viewer.dims.set_current_step(0, 4)  # back: the kept edit is shown, in the edited colour
    np.testing.assert_allclose(np.asarray(shapes.data[0])[:, 1:], stored.points[4])
    assert shapes.features["status"].tolist() == ["edited"]

    viewer.layers.save(str(path), plugin=PLUGIN)  # Ctrl+S: the layers too
    again = make_napari_viewer()
    again.open(str(path), plugin=PLUGIN)
    assert sum(lay.name.startswith("centerline") for lay in again.layers) == 1
    reopened = Session.load(path)
    assert all(meta.get("name") != "centerline" for _, meta, _ in reopened.layers)
    stored, _ = centerline_from_session(reopened)
    assert stored.status[4] == "edited"
    np.testing.assert_allclose(stored.points[4], truth[4] + [0.0, 2.0], atol=0.3)
    again.dims.set_current_step(0, 4)
    np.testing.assert_allclose(
        np.asarray(again.layers["centerline"].data[0])[:, 1:], stored.points[4]
    )


def _session_of(video, folder, name: str):
    """A behaviour session `name`.catrack.h5 of `video` (its own worm.tif) in `folder`."""
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    folder.mkdir()
    movie = write_movie_tiff(folder / "worm.tif", video.frames)
    session = Session(folder / f"{name}.catrack.h5")
    session.set_recording(str(movie), {}, {})
    _record(session, video, movie)
    session.save()
    session.close()
    return folder / f"{name}.catrack.h5"


def test_a_second_session_takes_the_plain_names_and_the_widget_finds_its_layers(
    make_napari_viewer, qtbot, video, tmp_path
):
    """h13 item 2: a second session opened in the same viewer came in as "worm masks [1]" while
    the widget and the reader went on using the first one's "worm masks". The open session's
    layers now have the plain names, the earlier one's say whose they are, and reopening a
    session replaces its layers instead of adding a copy."""
    from napari_catrack.core.behaviour.records import segmentation_from_session
    from napari_catrack.session import Session, session_for_viewer
    from napari_catrack.synthetic.behaviour import make_behaviour_video
    from napari_catrack.widgets.behaviour import BehaviourWidget

    other = make_behaviour_video(16, shape=(96, 96), seed=8, pixel_size_um=16.0)
    first = _session_of(video, tmp_path / "a", "day1")
    second = _session_of(other, tmp_path / "b", "day2")
    viewer = make_napari_viewer()
    widget = BehaviourWidget(viewer)
    viewer.open(str(first), plugin=PLUGIN)
    viewer.open(str(second), plugin=PLUGIN)
    qtbot.wait(50)
    names = {lay.name for lay in viewer.layers}
    for name in BEHAVIOUR:
        assert {name, f"{name} (day1)"} <= names, names
    assert not any(n.endswith("]") for n in names), names  # no "worm masks [1]"
    masks2 = segmentation_from_session(Session.load(second)).masks
    masks1 = segmentation_from_session(Session.load(first)).masks
    assert not np.array_equal(masks1, masks2)  # (two different worms)
    np.testing.assert_array_equal(np.asarray(viewer.layers["worm masks"].data) > 0, masks2)
    np.testing.assert_array_equal(np.asarray(viewer.layers["worm masks (day1)"].data) > 0, masks1)
    assert str(session_for_viewer(viewer).path) == str(second)
    assert "restored" in widget.status.text()

    # an edit of the earlier session's centerline goes to that session, not the open one
    viewer.dims.set_current_step(0, 2)
    old = viewer.layers["centerline (day1)"]
    moved = np.asarray(old.data[0]).copy()
    moved[:, 1] += 2.0
    old.data = [moved]
    assert centerline_from_session(Session.load(first))[0].status[2] == "edited"
    assert "edited" not in set(centerline_from_session(session_for_viewer(viewer))[0].status)

    viewer.open(str(first), plugin=PLUGIN)  # reopened: its layers are replaced, no copy
    names = [lay.name for lay in viewer.layers]
    for name in BEHAVIOUR:
        assert names.count(name) == 1 and f"{name} (day2)" in names, names
        assert f"{name} (day1)" not in names, names
    np.testing.assert_array_equal(np.asarray(viewer.layers["worm masks"].data) > 0, masks1)


def test_opening_the_video_restores_the_widget_once(make_napari_viewer, qtbot, demo_like):
    """Review of h13 item 1: every layer the video brings (the video, masks, centerline, head)
    is "of the video" and queued one `_restore`, which reads the session's masks again (a long
    video: over a GB copied on the main thread, four times). One opening restores once."""
    from napari_catrack.widgets.behaviour import BehaviourWidget

    path, movie = demo_like
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    widget = BehaviourWidget(viewer)
    qtbot.wait(20)
    calls = []
    restore = widget._restore
    widget._restore = lambda: (calls.append(1), restore())[1]
    viewer.open(str(movie), plugin=PLUGIN)
    qtbot.wait(50)
    assert {n for n in BEHAVIOUR} <= {lay.name for lay in viewer.layers}
    assert len(calls) == 1
    viewer.open(str(movie), plugin=PLUGIN)  # opened again: once more, not once per layer
    qtbot.wait(50)
    assert len(calls) == 2


def test_a_second_demo_like_session_with_its_video_takes_the_plain_names(
    make_napari_viewer, video, tmp_path
):
    """Found in h13 verification: two demo-like sessions (an imaging recording plus a separate
    behaviour video), each opened with its video in one viewer. The first's behaviour layers
    kept the plain names (the second session's own layers hold none of them, so they were not
    renamed), and the second video then brought no layers at all ("shown already")."""
    from napari_catrack.core.behaviour.records import segmentation_from_session
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    other = make_behaviour_video(16, shape=(96, 96), seed=8, pixel_size_um=16.0)
    opened = []
    for name, vid in (("day1", video), ("day2", other)):
        folder = tmp_path / name
        folder.mkdir()
        movie = write_movie_tiff(folder / "worm.tif", vid.frames)
        imaging = write_movie_tiff(folder / "imaging.tif", np.zeros((12, 32, 32), np.uint16))
        session = Session(folder / f"{name}.catrack.h5")
        session.set_recording(str(imaging), {}, {})
        _record(session, vid, movie)
        session.save()
        session.close()
        opened.append((folder / f"{name}.catrack.h5", movie))
    viewer = make_napari_viewer()
    for path, movie in opened:
        viewer.open(str(path), plugin=PLUGIN)
        viewer.open(str(movie), plugin=PLUGIN)
    names = [lay.name for lay in viewer.layers]
    for name in BEHAVIOUR:
        assert names.count(name) == 1 and f"{name} (day1)" in names, names
    masks2 = segmentation_from_session(Session.load(opened[1][0])).masks
    masks1 = segmentation_from_session(Session.load(opened[0][0])).masks
    assert not np.array_equal(masks1, masks2)
    np.testing.assert_array_equal(np.asarray(viewer.layers["worm masks"].data) > 0, masks2)
    np.testing.assert_array_equal(np.asarray(viewer.layers["worm masks (day1)"].data) > 0, masks1)


def test_a_moved_or_copied_session_folder_still_finds_its_behaviour_video(
    make_napari_viewer, demo_like, video, tmp_path
):
    """Found in h13 verification: the behaviour steps store their video's absolute path, so
    after the session's folder was moved (a behaviour-only session: masks no longer drawn over
    its own recording) or copied (the demo's: opening the copy's video brought nothing, the
    original still on disk), the layers were gone. The video is also known by the size and
    SHA-256 the step recorded."""
    import shutil

    path, movie = demo_like
    copy = shutil.copytree(path.parent, tmp_path.parent / f"{tmp_path.name}-copy")
    viewer = make_napari_viewer()
    viewer.open(str(copy / path.name), plugin=PLUGIN)
    viewer.open(str(copy / movie.name), plugin=PLUGIN)
    assert {n: _kinds(viewer).get(n) for n in BEHAVIOUR} == {
        "worm masks": "Labels", "centerline": "Shapes", "worm head": "Points"}  # fmt: skip

    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    _session_of(video, tmp_path / "own", "worm")
    shutil.move(str(tmp_path / "own"), str(moved))  # the original is gone
    again = make_napari_viewer()
    again.open(str(moved / "worm.catrack.h5"), plugin=PLUGIN)
    assert {n: _kinds(again).get(n) for n in BEHAVIOUR} == {
        "worm masks": "Labels", "centerline": "Shapes", "worm head": "Points"}  # fmt: skip
    # another video of the same size is not taken for it
    from napari_catrack.layers import is_behaviour_video
    from napari_catrack.session import Session

    other = moved / "other.tif"
    frames = np.asarray(video.frames).copy()
    frames[0, 0, 0] ^= 1
    from napari_catrack.io.tiff import write_movie_tiff

    write_movie_tiff(other, frames)
    session = Session.load(moved / "worm.catrack.h5")
    assert is_behaviour_video(session, moved / "worm.tif")
    assert not is_behaviour_video(session, other)


def test_a_second_video_of_the_same_name_is_named_by_its_folder(
    make_napari_viewer, video, tmp_path
):
    """h14: day1/behaviour.avi then day2/behaviour.avi showed as "behaviour.avi" and napari's
    "behaviour.avi [1]" (which day?); the second is named with its folder, as a second
    session's layers are with its file. The same file opened again keeps napari's naming."""
    from napari_catrack.io.video import write_video

    paths = []
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        paths.append(write_video(tmp_path / day / "behaviour.avi", video.frames[:4], fps=10.0))
    viewer = make_napari_viewer()
    for p in paths:
        viewer.open(str(p), plugin=PLUGIN)
    assert [layer.name for layer in viewer.layers] == ["behaviour.avi", "behaviour.avi (day2)"]
    assert viewer.layers["behaviour.avi (day2)"].metadata["catrack"]["path"] == str(paths[1])
    viewer.open(str(paths[0]), plugin=PLUGIN)
    assert viewer.layers[-1].name == "behaviour.avi [1]"


def test_the_same_video_opened_again_continues_its_session(
    make_napari_viewer, video, tmp_path, monkeypatch
):
    """behaviour.avi opened again (closed and reopened, a second napari) autosaved to
    behaviour.avi-2.catrack.h5 with a warning instead of going on in behaviour.avi.catrack.h5
    (h16 first-hour walk, item 7). Now the same video (path, size and SHA-256), open nowhere
    else, continues its session and brings its results; open in another viewer or in another
    napari process that is still running, the new session branches and the line says why."""
    import socket
    import subprocess
    import sys

    from napari_catrack.io.video import write_video
    from napari_catrack.save_queue import flush
    from napari_catrack.session import Session, session_for_viewer

    movie = write_video(tmp_path / "behaviour.avi", video.frames, fps=10.0)
    own = tmp_path / "behaviour.avi.catrack.h5"
    first = make_napari_viewer()
    first.open(str(movie), plugin=PLUGIN)
    session = session_for_viewer(first)
    assert session.path == own
    _record(session, video, movie)
    flush()
    assert {"segmentation", "centerline"} <= set(Session.load(own).steps)

    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    # open in the first viewer still: this one branches, and says the file is open
    second = make_napari_viewer()
    second.open(str(movie), plugin=PLUGIN)
    assert session_for_viewer(second).path == tmp_path / "behaviour.avi-2.catrack.h5"
    assert any("is open in another viewer of this napari" in s for s in shown), shown
    second.close()
    first.close()  # closed: the video's session is free again
    shown.clear()

    third = make_napari_viewer()
    third.open(str(movie), plugin=PLUGIN)
    again = session_for_viewer(third)
    assert again.path == own and not shown, shown
    assert {"segmentation", "centerline"} <= set(again.steps)
    assert {"worm masks", "centerline", "worm head"} <= {lay.name for lay in third.layers}
    again.record("settings", attrs={"fps": 10.0})  # autosaves into the same file
    flush()
    assert {"segmentation", "centerline", "settings"} <= set(Session.load(own).steps)
    assert not (tmp_path / "behaviour.avi-3.catrack.h5").exists()
    third.close()

    # another napari process that claimed the file and is still running: a branch
    from napari_catrack.video_session import _note_file

    note = _note_file(own)
    host = socket.gethostname()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        note.write_text(f'{{"pid": {other.pid}, "host": "{host}"}}')
        fourth = make_napari_viewer()
        fourth.open(str(movie), plugin=PLUGIN)
        assert session_for_viewer(fourth).path != own
        assert any(f"is open in napari process {other.pid}" in s for s in shown), shown
        fourth.close()
    finally:
        other.kill()
        other.wait()
    shown.clear()  # that process ended: its note is stale, the session continues
    note.write_text(f'{{"pid": {other.pid}, "host": "{host}"}}')
    fifth = make_napari_viewer()
    fifth.open(str(movie), plugin=PLUGIN)
    assert session_for_viewer(fifth).path == own and not shown, shown
