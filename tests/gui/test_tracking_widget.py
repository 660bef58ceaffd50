"""Tracking widget in a real napari.Viewer: live candidate preview, picking neurons, tracking in a
worker, correcting one point and re-tracking, cancelling, session storage; checked against truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.synthetic import make_worm_recording
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui

T = 30
DETECT = dict(sigma=0.7, min_distance=2, min_area=10, min_brightness=300)


@pytest.fixture(scope="module")
def rec():
    return make_worm_recording(
        n_frames=T, shape=(128, 128), n_neurons=8, seed=3,
        misalignment=dict(dy=0.0, dx=0.0, rotation_deg=0.0),
    )  # fmt: skip


@pytest.fixture
def setup(make_napari_viewer, rec):
    from napari_catrack.widgets.tracking import TrackingWidget

    viewer = make_napari_viewer()
    viewer.add_image(rec.green, name="worm green", metadata={"catrack": {"role": "green"}})
    viewer.add_image(rec.red, name="worm red", metadata={"catrack": {"role": "red"}})
    widget = TrackingWidget(viewer)
    viewer.window.add_dock_widget(widget)
    panel = widget.candidates
    panel.live.setChecked(False)  # tests drive the preview explicitly (and once via the timer)
    panel.set_params(**DETECT)
    return viewer, widget


def _nearest(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None] - truth[None], axis=-1).min(axis=1)


def _track(widget, qtbot, start):
    wait_job(qtbot, start())
    assert widget.worker is None


def _as_array(tracks: pd.DataFrame, ids: list[str]) -> np.ndarray:
    """(T, N, 2) positions in the order of `ids`."""
    t = tracks.set_index(["neuron_id", "frame"]).sort_index()
    return np.stack([t.loc[n][["y", "x"]].to_numpy() for n in ids], axis=1)


def test_auto_scale_box_reaches_the_detection(setup, qtbot):
    """The widget's "auto scale" box (DetectParams.auto_scale, `catrack detect --auto-scale`)
    is in the candidate form, unticked by default, and what the core gets when ticked."""
    _, widget = setup
    panel = widget.candidates
    box = panel.form.control("auto_scale")
    assert not box.isChecked() and panel.params().auto_scale is False
    box.setChecked(True)
    assert panel.params().auto_scale is True


def test_live_preview_pick_track_correct_retrack(setup, rec, qtbot):
    from napari_catrack.session import session_for_viewer

    viewer, widget = setup
    panel = widget.candidates
    viewer.dims.set_current_step(0, 0)
    # the live preview: a parameter change starts the debounce timer, which runs the detection
    panel.live.setChecked(True)
    panel.form.control("threshold").setValue(3.5)  # typing a value starts the live preview
    qtbot.waitUntil(lambda: "candidates" in viewer.layers, timeout=5000)
    cand = viewer.layers["candidates"]
    assert "candidate masks" in viewer.layers
    assert viewer.layers["candidate masks"].data.max() == len(cand.data)
    truth0 = rec.truth.positions[0]
    found = _nearest(truth0, np.asarray(cand.data)) < 2
    assert found.sum() >= 7  # most of the 8 neurons
    assert len(cand.data) <= 10  # and few spurious blobs
    # moving the time slider re-detects on the new frame (debounced), then back to frame 0
    for frame in (5, 0):
        viewer.dims.set_current_step(0, frame)
        qtbot.waitUntil(lambda f=frame: panel.last_params.get("frame") == f, timeout=5000)
    assert panel.last_params["threshold"] == 3.5
    panel.live.setChecked(False)

    # pick the candidates that are true neurons (what a user would click)
    good = np.flatnonzero(_nearest(np.asarray(cand.data), truth0) < 2)
    cand.selected_data = set(good.tolist())
    assert panel.use_selected() == len(good)
    neurons = viewer.layers["neurons"]
    feats = neurons.features
    assert list(feats.neuron_id) == [f"n{k}" for k in range(1, len(good) + 1)]
    assert set(feats.source) == {"auto"}
    # a hand-added point gets a fresh id and source manual; renaming works
    neurons.add([5.0, 5.0])
    assert neurons.features.neuron_id.iloc[-1] == f"n{len(good) + 1}"
    assert neurons.features.source.iloc[-1] == "manual"
    neurons.remove([len(neurons.data) - 1])
    neurons.selected_data = {1}  # moving a picked neuron by hand makes it manual
    # a drag as napari's select tool performs it (private: napari has no public "drag a point"
    # call, and setting `data` directly would not emit the drag's events that the widget follows)
    neurons._set_drag_start({1}, neurons.data[1])
    neurons._move({1}, neurons.data[1] + 0.5)
    assert list(neurons.features.source[:3]) == ["auto", "manual", "auto"]
    neurons.selected_data = {0}
    panel.rename_selected("AVA")
    assert neurons.features.neuron_id.iloc[0] == "AVA"
    assert "neurons" in session_for_viewer(viewer)

    _track(widget, qtbot, widget.start_tracking)
    tracks = widget.tracks
    assert tracks is not None and tracks.neuron_id.nunique() == len(good)
    assert "tracks" in viewer.layers and "tracked neurons" in viewer.layers
    # tracks vs truth (green pixels): match each track to its true neuron at the seed frame
    seeds = neurons.features.assign(y=neurons.data[:, 0], x=neurons.data[:, 1])
    true_idx = [int(np.argmin(np.linalg.norm(truth0 - p, axis=1))) for p in neurons.data]
    est = _as_array(tracks, list(seeds.neuron_id))
    err = np.linalg.norm(est - rec.truth.positions[:, true_idx], axis=-1)
    assert (err <= 2).mean() >= 0.95
    session = session_for_viewer(viewer)
    assert "tracks" in session and len(session["tracks"].tables["tracks"]) == len(tracks)

    # correct one neuron at a middle frame by dragging its point (napari's own move)
    layer = viewer.layers["tracked neurons"]
    nid, frame = str(seeds.neuron_id.iloc[1]), 15
    i = int(np.flatnonzero((layer.features.neuron_id == nid) & (layer.features.frame == frame))[0])
    target = np.add(layer.data[i], [0.0, 3.0, -2.0])
    viewer.dims.set_current_step(0, frame)
    layer.selected_data = {i}
    layer._set_drag_start({i}, layer.data[i])
    layer._move({i}, target)
    assert layer.features.source.iloc[i] == "manual"
    corr = widget.corrections()
    assert len(corr) == 1 and corr.neuron_id[0] == nid and corr.frame[0] == frame
    far = tracks[(tracks.neuron_id != nid)].reset_index(drop=True)

    _track(widget, qtbot, widget.start_retracking)
    new = widget.tracks
    row = new[(new.neuron_id == nid) & (new.frame == frame)].iloc[0]
    assert row.source == "manual"  # an anchor from now on
    np.testing.assert_allclose([row.y, row.x], target[1:], atol=1e-6)
    # other neurons are untouched by a correction of this one
    pd.testing.assert_frame_equal(
        new[new.neuron_id != nid].reset_index(drop=True)[["neuron_id", "frame", "y", "x"]],
        far[["neuron_id", "frame", "y", "x"]], atol=1e-6,
    )  # fmt: skip
    stored = session_for_viewer(viewer)["tracks"].tables["tracks"]
    assert (stored.source == "manual").sum() == 1
    assert widget.corrections().empty  # consumed; the anchor now lives in the tracks table

    # a second correction of the same neuron, later: the first one stays fixed as an anchor
    j = int(np.flatnonzero((layer.features.neuron_id == nid) & (layer.features.frame == 25))[0])
    second = np.add(layer.data[j], [0.0, -2.0, 2.0])
    viewer.dims.set_current_step(0, 25)
    layer.selected_data = {j}
    layer._set_drag_start({j}, layer.data[j])
    layer._move({j}, second)
    _track(widget, qtbot, widget.start_retracking)
    again = widget.tracks.set_index(["neuron_id", "frame"])
    np.testing.assert_allclose(again.loc[(nid, frame), ["y", "x"]], target[1:], atol=1e-6)
    np.testing.assert_allclose(again.loc[(nid, 25), ["y", "x"]], second[1:], atol=1e-6)
    assert (widget.tracks.source == "manual").sum() == 2


def test_cancel_keeps_previous_tracks_and_low_confidence_jumps(setup, rec, qtbot):
    viewer, widget = setup
    viewer.dims.set_current_step(0, 0)
    assert widget.start_tracking() is None  # no neurons picked yet: one-line error, no worker
    assert widget.start_retracking() is None
    widget.candidates.preview()
    assert widget.candidates.use_all() >= 7
    widget.model.setCurrentText("classical")
    _track(widget, qtbot, widget.start_tracking)
    before = widget.tracks.copy()

    job = widget.start_tracking()
    widget.cancel()
    wait_job(qtbot, job)
    assert "cancelled" in widget.last_outcome and "previous tracks kept" in widget.last_outcome
    pd.testing.assert_frame_equal(widget.tracks, before)

    # low-confidence list: clicking an item jumps to that frame and selects the neuron
    widget.threshold.setValue(1.0)  # everything below 1 counts, so the list is not empty
    assert widget.low_list.count() > 0
    item = widget.low_list.item(0)
    nid, frame = item.data(256)
    widget.low_list.itemClicked.emit(item)
    assert viewer.dims.current_step[0] == frame
    layer = viewer.layers["tracked neurons"]
    (sel,) = layer.selected_data
    assert layer.features.neuron_id.iloc[sel] == nid and layer.features.frame.iloc[sel] == frame
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    np.testing.assert_allclose(camera.center[-2:], layer.data[sel][-2:], atol=1e-6)

    # a widget opened later on the same viewer picks the tracks up from the session
    from napari_catrack.widgets.tracking import TrackingWidget

    again = TrackingWidget(viewer)
    pd.testing.assert_frame_equal(again.tracks, before)
    assert again.run_info["model"] == "classical"

    img = widget.grab().toImage()
    assert img.width() > 100 and img.height() > 100
    arr = np.frombuffer(img.constBits().asstring(img.sizeInBytes()), np.uint8)
    assert arr.std() > 0  # something was drawn, not a blank rectangle


def test_a_first_track_cancelled_does_not_claim_previous_tracks(setup, qtbot, monkeypatch):
    """Cancelling the very first Track: the notification said "tracking cancelled; previous
    tracks kept" while the status line said "no tracks yet" (there were none to keep)."""
    import napari.utils.notifications as notifications

    shown: list[str] = []
    monkeypatch.setattr(notifications, "show_info", lambda msg: shown.append(str(msg)))
    viewer, widget = setup
    viewer.dims.set_current_step(0, 0)
    widget.candidates.preview()
    assert widget.candidates.use_all() >= 7
    assert widget.tracks is None
    widget.track_button.click()
    widget.cancel_button.click()
    wait_job(qtbot, widget.job)
    assert widget.tracks is None
    assert widget.last_outcome.endswith("cancelled; no tracks yet")
    said = [m for m in shown if "cancelled" in m]
    assert said and not any("previous tracks kept" in m for m in said), said


def test_red_detection_and_tracks_come_out_in_green_pixels(make_napari_viewer, qtbot):
    """With a session alignment, red-channel candidates and tracks are mapped to green pixels."""
    from napari_catrack.core.rigid import AlignmentTransform
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.tracking import TrackingWidget

    shift = dict(dy=2.5, dx=-3.0, rotation_deg=1.5)
    rec = make_worm_recording(n_frames=12, shape=(128, 128), n_neurons=8, seed=5,
                              misalignment=shift)  # fmt: skip
    viewer = make_napari_viewer()
    viewer.add_image(rec.green, name="g", metadata={"catrack": {"role": "green"}})
    viewer.add_image(rec.red, name="r", metadata={"catrack": {"role": "red"}})
    session_for_viewer(viewer).record("alignment", attrs=AlignmentTransform(**shift).to_dict())
    widget = TrackingWidget(viewer)
    panel = widget.candidates
    panel.live.setChecked(False)
    panel.set_params(**DETECT)
    viewer.dims.set_current_step(0, 6)
    green = panel.preview()
    err = _nearest(rec.truth.positions[6], green[["y", "x"]].to_numpy())
    assert (err < 1.5).sum() >= 7  # in green pixels, not the red ones 3-4 px away
    assert panel.use_all() == len(green)
    widget.model.setCurrentText("classical")
    _track(widget, qtbot, widget.start_tracking)
    tracks = widget.tracks
    assert set(tracks.source[tracks.frame == 6]) == {"seed"}
    for nid, g in tracks.groupby("neuron_id"):
        seed = g[g.frame == 6][["y", "x"]].to_numpy()[0]
        k = int(np.argmin(np.linalg.norm(rec.truth.positions[6] - seed, axis=1)))
        d = np.linalg.norm(g.sort_values("frame")[["y", "x"]].to_numpy()
                           - rec.truth.positions[:, k], axis=1)  # fmt: skip
        assert np.median(d) < 1.5, nid


def _drag(layer, i, offset):
    layer.selected_data = {i}
    layer._set_drag_start({i}, layer.data[i])
    layer._move({i}, np.add(layer.data[i], offset))


def test_corrections_survive_a_renamed_layer_and_a_closed_widget(make_napari_viewer, qtbot):
    """Before: renaming 'tracked neurons' made every drag raise KeyError (the correction was
    lost), and a point dragged while the widget was closed was put back when it reopened."""
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.tracking import TrackingWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 32, 32), np.float32), name="g", metadata={"catrack": {"role": "green"}})  # fmt: skip
    frames, ids = np.repeat(np.arange(4), 2), np.tile(["n1", "n2"], 4)
    table = pd.DataFrame({"neuron_id": ids, "frame": frames, "y": 10.0 + frames,
                          "x": np.where(ids == "n1", 8.0, 20.0), "confidence": 0.9,
                          "source": "auto"})  # fmt: skip
    session_for_viewer(viewer).record(
        "tracks", tables={"tracks": table}, params={"channel": "green"}
    )

    widget = TrackingWidget(viewer)  # restores the session's tracks into 'tracked neurons'
    layer = viewer.layers["tracked neurons"]
    layer.name = "my neurons"
    _drag(layer, 2, [0.0, 1.5, 0.0])  # n1 at frame 1
    corr = widget.corrections()
    assert list(zip(corr.neuron_id, corr.frame)) == [("n1", 1)]
    assert layer.features.source.iloc[2] == "manual"

    widget.close()
    widget.deleteLater()
    qtbot.wait(10)
    _drag(layer, 5, [0.0, 0.0, -2.0])  # n2 at frame 2, moved while the widget is closed
    moved = np.asarray(layer.data)[5].copy()
    reopened = TrackingWidget(viewer)
    np.testing.assert_allclose(np.asarray(viewer.layers["my neurons"].data)[5], moved)
    corr = reopened.corrections()
    assert ("n2", 2) in set(zip(corr.neuron_id, corr.frame))
    assert "kept as corrections" in reopened.status.text()


def test_traces_widget_never_picks_the_ground_truth_and_follows_renames(make_napari_viewer):
    """Before: on the fresh sample, Extract measured the hidden ground-truth tracks; after a
    rename its box kept the old name and Extract raised a KeyError."""
    from napari_catrack._sample_data import moving_worm_sample
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    viewer = make_napari_viewer()
    for data, meta, kind in moving_worm_sample(n_frames=5):
        getattr(viewer, f"add_{kind}")(data, **meta)
    widget = TraceViewerWidget(viewer)
    assert widget.points.currentText() == ""  # only the ground truth holds neuron ids
    widget.extract()
    assert "track neurons first" in widget.status.text()
    viewer.add_points(np.array([[0, 5.0, 5.0]]), name="tracked neurons",
                      features=pd.DataFrame({"neuron_id": ["n1"]}))  # fmt: skip
    assert widget.points.currentText() == "tracked neurons"
    viewer.layers["tracked neurons"].name = "mine"
    assert widget.points.currentText() == "mine"


def test_track_starts_from_the_frame_the_neurons_were_picked_on(setup, rec, qtbot, monkeypatch):
    """Review 8 finding 6: "Track from this frame" pressed on another frame than the one the
    neurons were picked on tracked them from the wrong frame (median error 31 px), silently."""
    from qtpy.QtCore import Qt

    from napari_catrack.session import session_for_viewer

    viewer, widget = setup
    panel = widget.candidates
    viewer.dims.set_current_step(0, 0)
    panel.preview()
    qtbot.mouseClick(panel.use_all_button, Qt.LeftButton)
    neurons = viewer.layers["neurons"]
    assert len(neurons.data) and set(neurons.features["frame"]) == {0.0}
    assert set(session_for_viewer(viewer)["neurons"].tables["selected"]["frame"]) == {0.0}

    viewer.dims.set_current_step(0, 20)  # the user looks elsewhere, then presses Track
    said = []
    monkeypatch.setattr("napari_catrack.widgets.tracking.show_info", said.append)
    qtbot.mouseClick(widget.track_button, Qt.LeftButton)
    assert said == ["napari-catrack: tracking from frame 0, where the neurons were picked "
                    "(not the slider's 20)"]  # fmt: skip
    wait_job(qtbot, widget.job)
    assert widget.run_info["seed_frame"] == 0
    truth0 = rec.truth.positions[0]
    data = np.asarray(neurons.data)
    true_idx = [int(np.argmin(np.linalg.norm(truth0 - p, axis=1))) for p in data]
    est = _as_array(widget.tracks, list(neurons.features.neuron_id.astype(str)))
    good = _nearest(data, truth0) < 2  # the candidates that are true neurons
    err = np.linalg.norm(est - rec.truth.positions[:, true_idx], axis=-1)[:, good]
    assert (err <= 2).mean() >= 0.95

    # a neuron added by hand on frame 20: the seeds no longer share a frame -> one clear line
    neurons.add([40.0, 40.0])
    assert neurons.features["frame"].iloc[-1] == 20
    before = widget.tracks
    qtbot.mouseClick(widget.track_button, Qt.LeftButton)
    assert widget.job is None or not widget.job.running
    assert "placed on different frames" in widget.status.text()
    assert f"{neurons.features.neuron_id.iloc[-1]} on frame 20" in widget.status.text()
    assert widget.tracks is before


def test_neurons_of_an_older_session_keep_the_sessions_detection_frame(setup):
    """A "neurons" layer from a session written before each neuron kept its frame: its neurons
    are on the session's detection frame, also once one is added by hand elsewhere."""
    viewer, widget = setup
    panel = widget.candidates
    panel.show_params({**panel.params().to_dict(), "frame": 3, "channel": "green"})
    layer = viewer.add_points(np.array([[10.0, 10.0], [20.0, 20.0]]), name="neurons",
                              features={"neuron_id": ["a", "b"], "source": "auto"})  # fmt: skip
    assert panel.neurons_layer(create=False) is layer
    assert panel.picked_frames() == {3: ["a", "b"]}
    viewer.dims.set_current_step(0, 12)
    layer.add([30.0, 30.0])
    assert panel.picked_frames() == {3: ["a", "b"], 12: [layer.features.neuron_id.iloc[-1]]}


def _drag_neuron(viewer, layer, nid: str, frame: int, shift) -> np.ndarray:
    """Drag neuron `nid`'s point at `frame` by `shift` (y, x) as napari's select tool does."""
    feats = layer.features
    i = int(np.flatnonzero((feats.neuron_id == nid) & (feats.frame == frame))[0])
    target = np.add(layer.data[i], [0.0, *shift])
    viewer.dims.set_current_step(0, frame)
    layer.selected_data = {i}
    layer._set_drag_start({i}, layer.data[i])
    layer._move({i}, target)
    return target[1:]


def test_a_full_track_keeps_the_hand_corrections(setup, qtbot):
    """Session 11 (a user's walk through the correction loop on the demo): pressing Track after
    correcting (say, with another setting) silently threw away every correction, the ones
    already re-tracked (`manual` rows) and the ones dragged since; now they stay as anchors, and
    a correction of a neuron no longer picked is dropped with a word."""
    viewer, widget = setup
    viewer.dims.set_current_step(0, 0)
    widget.candidates.preview()
    assert widget.candidates.use_all() >= 7
    widget.model.setCurrentText("classical")
    _track(widget, qtbot, widget.start_tracking)
    layer = viewer.layers["tracked neurons"]
    first = _drag_neuron(viewer, layer, "n1", 12, (2.0, -2.0))
    _track(widget, qtbot, widget.start_retracking)  # now a `manual` row of the tracks
    second = _drag_neuron(viewer, layer, "n2", 20, (-2.0, 2.0))  # dragged, not yet re-tracked
    gone = _drag_neuron(viewer, layer, "n3", 8, (1.0, 1.0))  # of a neuron deleted before Track
    neurons = viewer.layers["neurons"]
    neurons.remove([int(np.flatnonzero(neurons.features.neuron_id == "n3")[0])])
    viewer.dims.set_current_step(0, 0)
    job = widget.start_tracking()
    said = widget.status.text()
    assert "keeping 2 correction(s) as anchors" in said
    assert "dropping 1 correction(s) of neurons no longer in 'neurons'" in said
    _track(widget, qtbot, lambda: job)
    tracks = widget.tracks.set_index(["neuron_id", "frame"])
    assert (widget.tracks.source == "manual").sum() == 2
    np.testing.assert_allclose(tracks.loc[("n1", 12), ["y", "x"]], first, atol=1e-6)
    np.testing.assert_allclose(tracks.loc[("n2", 20), ["y", "x"]], second, atol=1e-6)
    assert "n3" not in set(widget.tracks.neuron_id) and gone is not None
    assert widget.status.text().endswith("; 2 hand correction(s) kept as anchors")
    assert widget.corrections().empty
    viewer.layers.remove("tracked neurons")  # the documented way to track afresh
    _track(widget, qtbot, widget.start_tracking)
    assert (widget.tracks.source == "manual").sum() == 0


def test_tracks_layers_are_prepared_in_the_worker(setup, qtbot, monkeypatch):
    """The tracked points, their colours and the review list are made in the worker thread (the
    GUI thread only hands them to napari), and the layers hold what they held when the GUI thread
    made them: the same points, features, colours and labels (the neuron_id column itself)."""
    import threading

    from napari_catrack.layers import tracks_layer
    from napari_catrack.widgets import _tracking_layers as tl

    viewer, widget = setup
    main = threading.get_ident()
    threads: dict[str, list[int]] = {"points": [], "review": []}
    points, review = tl.tracked_points, tl.review_stretches

    def spy_points(tracks):
        threads["points"].append(threading.get_ident())
        return points(tracks)

    def spy_review(*args, **kwargs):
        threads["review"].append(threading.get_ident())
        return review(*args, **kwargs)

    monkeypatch.setattr(tl, "tracked_points", spy_points)
    monkeypatch.setattr(tl, "review_stretches", spy_review)
    viewer.dims.set_current_step(0, 0)
    widget.candidates.preview()
    assert widget.candidates.use_all() >= 7
    widget.model.setCurrentText("classical")
    _track(widget, qtbot, widget.start_tracking)

    assert threads["points"] and main not in threads["points"]
    assert threads["review"] and main not in threads["review"]
    data, feats, colors = points(widget.tracks)
    layer = viewer.layers["tracked neurons"]
    np.testing.assert_array_equal(layer.data, data)
    pd.testing.assert_frame_equal(layer.features[list(feats.columns)], feats)
    np.testing.assert_allclose(layer.border_color, colors)
    assert list(layer.text.values) == list(feats["neuron_id"])
    assert type(layer.text.string).__name__ == "DirectStringEncoding"
    np.testing.assert_array_equal(viewer.layers["tracks"].data, tracks_layer(widget.tracks)[0])
    p = widget.form.params()
    expected = review(widget.tracks, threshold=p.low_confidence, merge_gap=p.review_gap)
    assert widget._n_low == len(expected)
    assert widget.low_list.count() == min(len(expected), 20)


def test_review_list_says_where_a_neuron_was_lost(make_napari_viewer):
    """Lost tracks (h15): a stretch whose `status` is lost (no peak of its own for longer than
    `lost_after`, held, confidence 0) is the first place in the review list and says how many
    frames were lost; the tracked points carry the status (shown on hover)."""
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.tracking import TrackingWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((30, 32, 32), np.float32), name="g", metadata={"catrack": {"role": "green"}})  # fmt: skip
    frames, ids = np.repeat(np.arange(30), 2), np.tile(["n1", "n2"], 30)
    status = np.where((ids == "n1") & (frames >= 10) & (frames < 15), "predicted", "tracked")
    status = np.where((ids == "n1") & (frames >= 15) & (frames < 25), "lost", status)
    conf = np.select([status == "lost", status == "predicted"], [0.0, 0.1], 0.9)
    # a milder place: one frame on a peak just below the threshold (at 0.3 that frame would
    # outrank the lost stretch since h18: a poor match weighs 20x a predicted frame)
    conf = np.where((ids == "n2") & (frames == 5), 0.45, conf)
    table = pd.DataFrame({"neuron_id": ids, "frame": frames, "y": 10.0, "x": np.where(
        ids == "n1", 8.0, 20.0), "confidence": conf, "source": "auto", "status": status})  # fmt: skip
    session_for_viewer(viewer).record(
        "tracks", tables={"tracks": table}, params={"channel": "green"}
    )
    widget = TrackingWidget(viewer)  # restores the session's tracks
    assert widget.low_list.count() == 2
    first = widget.low_list.item(0).text()
    assert first.startswith("1. n1: frames 10-24") and "15 low, 10 lost" in first, first
    second = widget.low_list.item(1).text()
    assert "lost" not in second and "1 low, 1 poorly matched, min 0.45" in second, second
    feats = viewer.layers["tracked neurons"].features
    lost = feats[(feats.neuron_id == "n1") & (feats.frame == 20)]
    assert lost.status.tolist() == ["lost"]


@pytest.mark.parametrize("recorded, shown", [(None, "steady"), ("auto", "auto"),
                                             ("calcium", "calcium")])  # fmt: skip
def test_tracks_of_a_session_before_h16_keep_the_steady_rules(make_napari_viewer, rec, recorded,
                                                                shown):  # fmt: skip
    """h16 made `brightness` auto (calcium on green) the default. A session written before it
    has no `brightness`: its green tracks were made with the steady rules, but the restored
    form read the missing value as auto, so Re-track of a correction ran the calcium rules on
    part of a track made with the steady ones. Absent now reads as steady; a recorded value
    is shown as recorded."""
    from napari_catrack.core.tracking import TrackParams
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.tracking import TrackingWidget

    viewer = make_napari_viewer()
    viewer.add_image(rec.green, name="worm green", metadata={"catrack": {"role": "green"}})
    session = session_for_viewer(viewer)
    tracks = pd.DataFrame({"neuron_id": ["1"] * T, "frame": np.arange(T), "y": 40.0, "x": 40.0,
                           "confidence": 1.0, "source": "auto", "status": "tracked"})  # fmt: skip
    params = {**TrackParams(channel="green").to_dict(), "seed_frame": 0, "alignment": None}
    if recorded is None:
        del params["brightness"]  # as written before h16
        del params["size_ratio"], params["size_jump"]  # (and before h17's blob size check)
    else:
        params["brightness"] = recorded
    session.record("tracks", tables={"tracks": tracks}, params=params)
    widget = TrackingWidget(viewer)
    assert widget.tracks is not None and len(widget.tracks) == T  # restored
    assert widget.track_params("green").brightness == shown
    # the size check (h17) is kept off for tracks made before it, on where it was recorded
    assert widget.track_params("green").size_ratio == (0.0 if recorded is None else 2.0)


def test_seeds_step_aside_once_tracks_exist_and_come_back(setup, qtbot):
    """The seed "neurons" layer stayed visible on every frame after tracking: each neuron had a
    second label at its picked position (h16 first-hour walk, item 3). Tracks hide it (not
    deleted, said in the status line); deleting the tracked neurons or picking afresh shows it."""
    viewer, widget = setup
    viewer.dims.set_current_step(0, 0)
    widget.candidates.preview()
    n = widget.candidates.use_all()
    seeds = viewer.layers["neurons"]
    assert n >= 7 and seeds.visible
    widget.model.setCurrentText("classical")
    widget.track_button.click()
    wait_job(qtbot, widget.job)
    assert widget.tracks is not None
    assert not seeds.visible and seeds in viewer.layers and len(seeds.data) == n
    assert "hidden" in widget.status.text() and "not deleted" in widget.status.text()

    viewer.layers.remove(viewer.layers["tracked neurons"])  # the way to track afresh
    assert seeds.visible
    assert "shown again" in widget.status.text()

    widget.track_button.click()
    wait_job(qtbot, widget.job)
    assert not seeds.visible
    widget.candidates.use_all()  # re-seeding: the seeds are what the user works on again
    assert seeds.visible

    seeds.visible = True  # a widget opened over a session with tracks hides them too
    from napari_catrack.widgets.tracking import TrackingWidget

    again = TrackingWidget(viewer)
    assert not seeds.visible and "hidden" in again.status.text()
