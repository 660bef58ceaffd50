"""Behaviour widget in a real napari.Viewer: prompt -> segment (worker) -> correct by painting ->
re-propagate -> centerlines (edit a path, flip head/tail) -> velocity -> plot follows the slider."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.behaviour.records import (
    centerline_from_session,
    segmentation_from_session,
    velocity_from_session,
)
from napari_catrack.session import session_for_viewer

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"


@pytest.fixture(scope="module")
def video():
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    return make_behaviour_video(24, shape=(160, 160), seed=5, pixel_size_um=10.0)


def _wait(qtbot, job, timeout=60000):
    assert job is not None
    qtbot.waitUntil(lambda: not job.running, timeout=timeout)


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_behaviour_widget_end_to_end(make_napari_viewer, qtbot, video, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(video.frames, name="behaviour cam",
                     metadata={"catrack": {"role": "behaviour"}})  # fmt: skip
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Worm behaviour")
    assert widget.video.currentText() == "behaviour cam"
    layer = widget.add_prompts()
    y, x = video.truth.centerline[0, 50]
    layer.add([[0, y, x]])
    assert layer.features["label"].tolist() == ["worm"]
    widget.form.control("method").setCurrentText("classical")
    _wait(qtbot, widget.segment())
    assert widget.job.outcome == "done", widget.status.text()
    masks = np.asarray(viewer.layers["worm masks"].data) > 0
    assert np.median([_iou(a, b) for a, b in zip(masks, video.truth.masks)]) > 0.85
    session = session_for_viewer(viewer)
    stored = segmentation_from_session(session)
    assert stored is not None and stored.masks.shape == video.frames.shape

    # correct frame 20 by painting it as the truth: it becomes an anchor and re-propagates
    labels = viewer.layers["worm masks"]
    labels.data[20] = video.truth.masks[20].astype(labels.data.dtype)
    labels.refresh()
    _wait(qtbot, widget.segment(reuse=True))
    stored = segmentation_from_session(session)
    assert [a.frame for a in stored.anchors] == [0, 20] and stored.anchors[1].mask is not None
    np.testing.assert_array_equal(stored.masks[20], video.truth.masks[20])
    assert "20 (painted)" in widget.anchors_label.text()

    # doubtful frames list jumps the viewer
    if widget.low_list.count():
        item = widget.low_list.item(0)
        widget._jump(item)
        assert viewer.dims.current_step[0] == item.data(256)

    # centerlines -> Shapes paths, head points; then edit one path and flip a range
    _wait(qtbot, widget._panel_action(widget.centerline, "run"))
    result, _ = centerline_from_session(session)
    assert result.points.shape == (24, 50, 2)
    shapes = viewer.layers["centerline"]
    assert "worm head" in viewer.layers
    viewer.dims.set_current_step(0, 3)  # the layer shows the slider's frame's path (h13)
    assert len(shapes.data) == 1 and shapes.features["frame"].tolist() == [3]
    np.testing.assert_allclose(np.asarray(shapes.data[0])[:, 1:], result.points[3])
    moved = np.asarray(shapes.data[0]).copy()
    moved[:, 1] += 1.0  # the user drags the whole path of frame 3 down by a pixel
    shapes.data = [moved]
    widget.centerline.keep_edits()
    assert "frame(s) [3]" in widget.centerline.status.text()
    result, _ = centerline_from_session(session)
    assert result.status[3] == "edited"
    np.testing.assert_allclose(result.points[3], moved[:, 1:], atol=1e-4)  # as drawn
    before = result.points[5:8].copy()
    widget.centerline.flip_from.setValue(5)
    widget.centerline.flip_to.setValue(7)
    widget._panel_action(widget.centerline, "flip")
    result, heads = centerline_from_session(session)
    np.testing.assert_allclose(result.points[5:8], before[:, ::-1])
    assert set(heads) == {5, 6, 7}

    # velocity from a stage log, then the plot follows the slider
    stage = tmp_path / "stage.csv"
    video.stage_table().to_csv(stage, index=False)
    widget.velocity.stage.setText(str(stage))
    widget.velocity.pixel.setValue(10.0)
    widget.velocity.fps.setValue(video.fps)
    table = widget._panel_action(widget.velocity, "run")
    assert table is not None, widget.last_error
    assert velocity_from_session(session) is not None
    plot = widget.show_plot()
    assert plot.times is not None and len(plot.times) == 24
    viewer.dims.set_current_step(0, 10)
    assert plot._cursors[0].get_xdata()[0] == pytest.approx(plot.times[10])

    # review h10: the widget's velocity and `catrack velocity` on the same inputs record the
    # same parameters and the same run facts (the CLI recorded no frame rate, image size or
    # stage-log reading: values the table depends on)
    from napari_catrack.cli import main
    from napari_catrack.session import Session

    cl_csv, cli_session = tmp_path / "cl.csv", tmp_path / "cli.catrack.h5"
    centerline_from_session(session)[0].table().to_csv(cl_csv, index=False)
    assert main(["velocity", "--stage", str(stage), "--centerline", str(cl_csv),
                 "--pixel-size", "10", "--fps", str(video.fps), "--image-size", "160,160",
                 "-o", str(tmp_path / "v.csv"), "--session", str(cli_session)]) == 0  # fmt: skip
    gui, cli = session["velocity"], Session.load(cli_session)["velocity"]
    assert gui.params == cli.params
    same = ("source", "fps", "times", "image_size", "stage_columns", "stage_scale_um",
            "stage_time_scale_s")  # fmt: skip
    assert {k: gui.attrs.get(k) for k in same} == {k: cli.attrs.get(k) for k in same}
    assert cli.attrs["fps"] == pytest.approx(video.fps) and cli.attrs["image_size"] == [160, 160]


def test_errors_are_shown_not_raised(make_napari_viewer, qtbot, video):
    viewer = make_napari_viewer()
    viewer.add_image(video.frames, name="cam")
    from napari_catrack.widgets.behaviour import BehaviourWidget

    widget = BehaviourWidget(viewer)
    assert widget.segment() is None and "prompt point" in widget.last_error
    layer = widget.add_prompts()
    layer.add([[0, 3, 3]])
    widget.form.control("method").setCurrentText("classical")
    job = widget.segment()
    _wait(qtbot, job)
    assert "background" in job.outcome and "worm masks" not in viewer.layers
    assert widget._panel_action(widget.velocity, "run") is None
    assert "centerlines first" in widget.last_error


def test_behaviour_sample_opens(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "behaviour")
    assert viewer.layers["worm behaviour"].data.ndim == 3
    assert viewer.layers["ground truth masks"].visible is False


def test_worm_velocity_beside_the_neuron_traces(make_napari_viewer):
    """The trace viewer draws the session's worm velocity on the traces' time axis."""
    import pandas as pd

    from napari_catrack.core.behaviour.records import record_velocity
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    viewer = make_napari_viewer()
    fps, n = 5.0, 40
    frames = np.arange(n)
    traces = pd.DataFrame({"neuron_id": "AVA", "frame": frames, "time_s": frames / fps,
                           "green": 1.0, "red": 1.0, "ratio": 1.0, "dff": np.sin(frames / 5)})  # fmt: skip
    # the behaviour camera runs at 15 Hz: three velocity samples per imaging frame
    t = np.arange(3 * n) / 15.0
    velocity = pd.DataFrame({"frame": np.arange(3 * n), "time_s": t, "x_um": 0.0, "y_um": 0.0,
                             "vy_um_s": 0.0, "vx_um_s": 0.0, "speed_um_s": 200.0,
                             "signed_speed_um_s": np.where(t < 4, 200.0, -200.0),
                             "direction": np.where(t < 4, 1, -1)})  # fmt: skip
    record_velocity(session_for_viewer(viewer), velocity, {}, {})
    widget = TraceViewerWidget(viewer)
    widget.set_traces(traces)
    widget.select(["AVA"])
    n_trace_panels = len(widget.panels())
    widget.velocity_box.setChecked(True)
    assert widget.panels()[-1] == "velocity"
    assert len(widget._axes) == n_trace_panels + 1
    line = widget._axes[-1].lines[-1]
    np.testing.assert_allclose(line.get_xdata(), t)  # seconds, like the traces' axis
    np.testing.assert_allclose(line.get_ydata(), velocity.signed_speed_um_s)
    dff_axis = widget._axes[widget.panels().index("dff")]
    dff_x = next(ln.get_xdata() for ln in dff_axis.lines if len(ln.get_xdata()) == n)
    assert np.max(dff_x) == pytest.approx((n - 1) / fps)
    # the Behaviour events widget found the camera started 2 s after the imaging
    from napari_catrack.core.events.clock import Clock
    from napari_catrack.core.events.session import record_video

    record_video(session_for_viewer(viewer), "worm.avi", Clock.regular(3 * n, 15.0, start_s=2.0),
                 Clock.regular(n, fps))  # fmt: skip
    widget.select(["AVA"])
    widget.redraw()
    np.testing.assert_allclose(widget._axes[-1].lines[-1].get_xdata(), t + 2.0)


def test_velocity_panel_shows_this_runs_outcome_in_the_widgets_words(
    make_napari_viewer, video, tmp_path
):
    """After a failed run the panel still showed the earlier result's status, and the wrong-
    columns error told a GUI user to use the command line's --stage-columns."""
    from napari_catrack.core.behaviour import CenterlineResult
    from napari_catrack.core.behaviour.centerline import resample
    from napari_catrack.core.behaviour.records import record_centerline
    from napari_catrack.widgets.behaviour import BehaviourWidget

    viewer = make_napari_viewer()
    viewer.add_image(video.frames, name="cam")
    widget = BehaviourWidget(viewer)
    pts = np.stack([resample(c, 50) for c in video.truth.centerline])
    T = len(pts)
    result = CenterlineResult(pts, np.full(T, "ok", dtype=object), np.full(T, 100.0),
                              np.full(T, 8.0), np.full(T, 10.0))  # fmt: skip
    record_centerline(session_for_viewer(viewer), result, {})
    stage = tmp_path / "stage.csv"
    video.stage_table().to_csv(stage, index=False)
    panel = widget.velocity
    panel.stage.setText(str(stage))
    panel.pixel.setValue(10.0)
    panel.fps.setValue(video.fps)
    assert widget._panel_action(panel, "run") is not None
    assert "median speed" in panel.status.text()
    panel.stage.setText(str(tmp_path / "missing.csv"))
    assert widget._panel_action(panel, "run") is None
    text = panel.status.text()
    assert "median speed" not in text and "not found" in text and "previous velocity" in text
    bad = tmp_path / "cols.csv"
    video.stage_table().rename(columns={"stage_y_um": "Motor1", "stage_x_um": "Motor2"}).to_csv(
        bad, index=False
    )
    panel.stage.setText(str(bad))
    assert widget._panel_action(panel, "run") is None
    assert "--stage-columns" not in widget.last_error
    assert "'stage columns' field" in widget.last_error and "failed" in panel.status.text()
    # a frame rate the log's own frame numbers and times contradict: said, in the GUI's words
    panel.stage.setText(str(stage))
    panel.fps.setValue(2 * video.fps)
    assert widget._panel_action(panel, "run") is not None
    assert "frame rate (Hz)' box" in panel.status.text()


def test_flagged_centerlines_are_listed_and_do_not_set_the_kymograph_colours(
    make_napari_viewer, video
):
    """Coiled frames' garbage set the plot's 99th-percentile colour limit and washed the rest
    out, and the doubtful list never showed them."""
    from napari_catrack.core.behaviour import CenterlineResult
    from napari_catrack.core.behaviour.centerline import resample
    from napari_catrack.core.behaviour.posture import curvature
    from napari_catrack.core.behaviour.records import record_centerline
    from napari_catrack.widgets.behaviour import BehaviourWidget
    from napari_catrack.widgets.behaviour_plot import BehaviourPlotWidget

    viewer = make_napari_viewer()
    viewer.add_image(video.frames, name="cam")
    widget = BehaviourWidget(viewer)
    pts = np.stack([resample(c, 50) for c in video.truth.centerline])
    T = len(pts)
    status = np.full(T, "ok", dtype=object)
    status[5:8] = "coiled"
    status[10:20] = "failed"
    rng = np.random.default_rng(0)
    pts[5:8] += rng.normal(0, 2.0, pts[5:8].shape)  # zig-zags: huge curvature
    result = CenterlineResult(pts, status, np.full(T, 100.0), np.full(T, 8.0), np.full(T, 10.0))
    record_centerline(session_for_viewer(viewer), result, {})
    widget.show_doubtful(status=result.status)
    listed = {widget.low_list.item(i).data(256): widget.low_list.item(i).text()
              for i in range(widget.low_list.count())}  # fmt: skip
    assert set(listed) == {5, 6, 7, *range(10, 20)}
    assert "coiled" in listed[6] and "posture NaN" in listed[12]
    plot = BehaviourPlotWidget(viewer)
    image = next(ax for ax in plot.figure.axes if ax.images).images[0]  # (then its colour bar)
    k = np.abs(curvature(pts[status == "ok"]))
    assert image.get_clim()[1] == pytest.approx(np.percentile(k, 99))
    assert np.isnan(np.asarray(image.get_array(), float)[:, 12]).all()  # failed: blank


def _record_behaviour(session, video, *, low_frames=(3, 7)):
    """A segmentation (with doubtful frames and one anchor) and centerlines, as recorded."""
    from napari_catrack.core.behaviour import CenterlineResult, frame_quality
    from napari_catrack.core.behaviour.centerline import resample
    from napari_catrack.core.behaviour.prompts import Anchor
    from napari_catrack.core.behaviour.propagate import SegmentationResult
    from napari_catrack.core.behaviour.records import record_centerline, record_segmentation

    masks = video.truth.masks.astype(bool)
    T = len(masks)
    score = np.ones(T)
    score[list(low_frames)] = 0.2
    anchor = Anchor(0, [video.truth.centerline[0, 25]], [1])
    seg = SegmentationResult(masks, score, np.full(T, "propagated"), np.zeros(T, int),
                             "classical", [anchor])  # fmt: skip
    record_segmentation(session, seg, {"method": "classical"}, frame_quality(masks, score))
    pts = np.stack([resample(c, 50) for c in video.truth.centerline])
    result = CenterlineResult(pts, np.full(T, "ok", dtype=object), np.full(T, 100.0),
                              np.full(T, 8.0), np.full(T, 10.0))  # fmt: skip
    record_centerline(session, result, {})


def test_velocity_at_the_cameras_rate_leaves_the_imaging_rate(make_napari_viewer, qtbot, video,
                                                              tmp_path):  # fmt: skip
    """Review 8 finding 5: Compute velocity made the behaviour camera's rate the imaging rate
    the calcium widgets share, and its box was pre-filled from the imaging rate."""
    from qtpy.QtCore import Qt

    from napari_catrack.widgets.behaviour import BehaviourWidget

    assert video.fps == 15.0
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((12, 32, 32), np.uint8), name="calcium",
                     metadata={"catrack": {"role": "green", "summary": {"fps": 10.0}}})  # fmt: skip
    widget = BehaviourWidget(viewer)
    # the behaviour video opened after the widget (as the reader tags it) is picked, with its rate
    viewer.add_image(video.frames, name="cam", metadata={"catrack": {
        "role": "behaviour", "summary": {"fps": video.fps}}})  # fmt: skip
    assert widget.video.currentText() == "cam"
    assert widget.velocity.fps.value() == 15.0  # the video's own rate, not the imaging's 10
    session = session_for_viewer(viewer)
    _record_behaviour(session, video)
    stage = tmp_path / "stage.csv"
    video.stage_table().to_csv(stage, index=False)
    widget.velocity.stage.setText(str(stage))
    widget.velocity.pixel.setValue(10.0)
    qtbot.mouseClick(widget.velocity.run_button, Qt.LeftButton)
    table = velocity_from_session(session)
    assert table is not None, widget.last_error
    np.testing.assert_allclose(table["time_s"], table["frame"] / 15.0)
    assert session["velocity"].attrs["fps"] == 15.0  # kept with the behaviour step
    assert widget.ctx.fps() == 10.0 and "settings" not in session  # the shared rate untouched
    assert "15 Hz" in widget.velocity.status.text()


def test_reopened_session_restores_the_widgets_state(make_napari_viewer, qtbot, video, tmp_path):
    """Review 8 finding 12: after reopening a session (whose masks layer the session file had
    already restored) the doubtful frames, anchors, stage log, pixel size and status were lost;
    a Segment error left the status line as it was."""
    from qtpy.QtCore import Qt

    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session
    from napari_catrack.widgets.behaviour import BehaviourWidget

    viewer = make_napari_viewer()
    viewer.open(str(write_movie_tiff(tmp_path / "worm.tif", video.frames)), plugin=PLUGIN)
    session = session_for_viewer(viewer)
    _record_behaviour(session, video)
    stage = tmp_path / "stage.csv"
    video.stage_table().to_csv(stage, index=False)
    widget = BehaviourWidget(viewer)
    widget.velocity.stage.setText(str(stage))
    widget.velocity.pixel.setValue(10.0)
    widget.velocity.fps.setValue(12.5)  # typed: the rate the velocity is computed at
    widget.velocity.form.control("smooth_s").setValue(1.0)
    qtbot.mouseClick(widget.velocity.run_button, Qt.LeftButton)
    assert velocity_from_session(session) is not None, widget.last_error
    doubtful = [widget.low_list.item(i).text() for i in range(widget.low_list.count())]
    assert len(doubtful) >= 2 and doubtful[0].startswith("frame 3")
    viewer.layers.save(str(tmp_path / "worm.catrack.h5"), plugin=PLUGIN)  # Ctrl+S: the layers too

    again = make_napari_viewer()
    again.open(str(tmp_path / "worm.catrack.h5"), plugin=PLUGIN)
    assert "worm masks" in again.layers  # restored by the session file, before the widget
    reopened = BehaviourWidget(again)
    assert [reopened.low_list.item(i).text() for i in range(reopened.low_list.count())] == doubtful
    assert reopened.anchors_label.text() == "anchors: frame 0 (points)"
    assert "restored" in reopened.status.text()
    panel = reopened.velocity
    assert panel.stage.text() == str(stage) and panel.pixel.value() == 10.0
    assert panel.fps.value() == 12.5 and panel.form.control("smooth_s").value() == 1.0
    assert "restored" in panel.status.text()

    # an error of Segment video (no prompt point) is said in the status line too
    qtbot.mouseClick(reopened.segment_button, Qt.LeftButton)
    assert "prompt point" in reopened.status.text()
    assert Session.load(tmp_path / "worm.catrack.h5")["velocity"].attrs["fps"] == 12.5


def test_the_widgets_steps_record_their_input_files(make_napari_viewer, qtbot, video, tmp_path):
    """Segment, Compute centerlines and Compute velocity (clicked) record the files they read in
    the session's provenance (attrs `inputs`), as `catrack segment/centerline/velocity` do: the
    behaviour video (role "recording") and the stage log."""
    from qtpy.QtCore import Qt

    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.widgets.behaviour import BehaviourWidget

    viewer = make_napari_viewer()
    movie = write_movie_tiff(tmp_path / "worm.tif", video.frames)
    viewer.open(str(movie), plugin=PLUGIN)
    widget = BehaviourWidget(viewer)
    session = session_for_viewer(viewer)
    layer = widget.add_prompts()
    layer.add([[0, *video.truth.centerline[0, 50]]])
    widget.form.control("method").setCurrentText("classical")
    qtbot.mouseClick(widget.segment_button, Qt.LeftButton)
    _wait(qtbot, widget.job)
    assert widget.job.outcome == "done", widget.status.text()
    qtbot.mouseClick(widget.centerline.run_button, Qt.LeftButton)  # a job of its own
    qtbot.waitUntil(lambda: centerline_from_session(session) is not None, timeout=60000)
    qtbot.waitUntil(widget.velocity.run_button.isEnabled, timeout=60000)
    stage = tmp_path / "stage.csv"
    video.stage_table().to_csv(stage, index=False)
    widget.velocity.stage.setText(str(stage))
    widget.velocity.pixel.setValue(10.0)
    widget.velocity.fps.setValue(video.fps)
    qtbot.mouseClick(widget.velocity.run_button, Qt.LeftButton)
    assert velocity_from_session(session) is not None, widget.last_error

    prov = session.provenance()
    names = {step: {r: f["path"] for r, f in prov[step]["inputs"].items()}
             for step in ("segmentation", "centerline", "velocity")}  # fmt: skip
    where = session.stored_path
    assert names == {
        "segmentation": {"recording": where(str(movie))},
        "centerline": {"recording": where(str(movie))},
        "velocity": {"stage": where(str(stage)), "recording": where(str(movie))},
    }
    facts = prov["velocity"]["inputs"]["stage"]
    assert facts["size"] == stage.stat().st_size and len(facts["sha256"]) == 64


@pytest.mark.parametrize("saved", [False, True])
def test_plot_counts_moving_frames_of_unknown_direction(make_napari_viewer, tmp_path, saved):
    """A velocity from neurons' tracks (no head): its moving frames have an empty (unknown)
    direction, not 0 ("still"); the plot dock counts them as moving, of unknown direction, in
    memory (Int64 with <NA>) and read back from the session file alike."""
    from napari_catrack.core.behaviour import VelocityParams, compute_velocity
    from napari_catrack.core.behaviour.records import record_velocity
    from napari_catrack.session import Session
    from napari_catrack.widgets.behaviour_plot import BehaviourPlotWidget

    viewer = make_napari_viewer()
    t = np.arange(60) / 10.0
    pos = np.stack([np.full(60, 50.0), np.where(t < 3, 50.0, 50.0 + 10 * (t - 3))], axis=1)
    table = compute_velocity(pos, t, np.zeros((60, 2)), (100, 100),
                             VelocityParams(pixel_size_um=5.0))  # fmt: skip
    unknown = int(table["direction"].isna().sum())
    assert unknown > 10
    session = session_for_viewer(viewer)
    if saved:
        stored = Session(tmp_path / "s.catrack.h5", autosave=False)
        record_velocity(stored, table, {}, {"source": "tracks"})
        stored.save()
        table = Session.load(tmp_path / "s.catrack.h5")["velocity"].tables["velocity"]
    record_velocity(session, table, {}, {"source": "tracks"})
    plot = BehaviourPlotWidget(viewer)
    assert f"; {unknown} moving ({unknown} of unknown direction)" in plot.info.text()


@pytest.fixture
def cli_session(video, tmp_path):
    """`catrack segment VIDEO --session S`, then `centerline` and `velocity` into the same S."""
    from napari_catrack.cli import main
    from napari_catrack.io.tiff import write_movie_tiff

    movie = write_movie_tiff(tmp_path / "worm.tif", video.frames)
    path = tmp_path / "worm.catrack.h5"
    y, x = video.truth.centerline[0, 50]
    s = ["--session", str(path)]
    assert main(["segment", str(movie), "--prompt", f"{y:.1f},{x:.1f}", "--method", "classical",
                 "-o", str(tmp_path / "masks.tif"), *s]) == 0  # fmt: skip
    assert main(["centerline", str(movie), "--masks", str(tmp_path / "masks.tif"),
                 "-o", str(tmp_path / "cl.csv"), *s]) == 0  # fmt: skip
    video.stage_table().to_csv(tmp_path / "stage.csv", index=False)
    assert main(["velocity", "--stage", str(tmp_path / "stage.csv"), "--centerline",
                 str(tmp_path / "cl.csv"), "--pixel-size", "10", "--fps", str(video.fps),
                 "--recording", str(movie), "-o", str(tmp_path / "v.csv"), *s]) == 0  # fmt: skip
    return path


def _behaviour_kinds(viewer) -> dict[str, str]:
    return {lay.name: type(lay).__name__ for lay in viewer.layers}


@pytest.mark.parametrize("widget_first", [False, True])
def test_a_cli_session_opens_with_its_masks_and_centerlines(
    make_napari_viewer, qtbot, cli_session, widget_first
):
    """A behaviour session written by `catrack segment|centerline|velocity --session` opened with
    File > Open showed only the video until the Behaviour widget was opened. The session file now
    brings the masks, centerlines and heads; the widget, docked before or after, adds no copy."""
    from napari_catrack.core.behaviour.records import centerline_from_session
    from napari_catrack.session import Session
    from napari_catrack.widgets.behaviour import BehaviourWidget

    stored = Session.load(cli_session)
    masks = segmentation_from_session(stored).masks
    centerline = centerline_from_session(stored)[0]
    expected = {"worm": "Image", "worm masks": "Labels", "centerline": "Shapes",
                "worm head": "Points"}  # fmt: skip

    viewer = make_napari_viewer()
    widget = BehaviourWidget(viewer) if widget_first else None
    viewer.open(str(cli_session), plugin=PLUGIN)
    if widget is None:
        assert _behaviour_kinds(viewer) == expected  # before any widget is opened
        widget = BehaviourWidget(viewer)
    qtbot.wait(50)  # the widget restores once the reader's layers are in
    assert _behaviour_kinds(viewer) == expected  # no second copy ("worm masks [1]")
    np.testing.assert_array_equal(np.asarray(viewer.layers["worm masks"].data) > 0, masks)
    shapes = viewer.layers["centerline"]
    viewer.dims.set_current_step(0, 5)  # the layer shows the slider's frame's path (h13)
    assert len(shapes.data) == 1 and len(masks) == centerline.n_frames
    np.testing.assert_allclose(np.asarray(shapes.data[0])[:, 1:], centerline.points[5])
    np.testing.assert_allclose(viewer.layers["worm head"].data[:, 1:], centerline.points[:, 0])
    assert "restored from the session" in widget.status.text()
    assert "restored from the session" in widget.velocity.status.text()


def test_a_behaviour_video_s_results_are_not_drawn_over_the_imaging_movie(
    make_napari_viewer, qtbot, cli_session, tmp_path
):
    """A session whose recording is an imaging movie and whose behaviour steps ran on a separate
    video (the demo's layout): the masks and centerlines are that video's pixels and frames, so
    neither File > Open nor the widget draws them over the imaging movie; opening the video shows
    them, once."""
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session
    from napari_catrack.widgets.behaviour import BehaviourWidget

    session = Session.load(cli_session)
    video_path = session.resolve_stored_path(session.recording["path"])
    imaging = write_movie_tiff(tmp_path / "imaging.tif", np.zeros((12, 32, 32), np.uint16), fps=5.0)
    session.set_recording(str(imaging), {}, {})
    mixed = tmp_path / "mixed.catrack.h5"
    session.save(mixed)
    session.close()

    viewer = make_napari_viewer()
    viewer.open(str(mixed), plugin=PLUGIN)
    widget = BehaviourWidget(viewer)
    qtbot.wait(50)
    names = {lay.name for lay in viewer.layers}
    assert not names & {"worm masks", "centerline", "worm head"}, names
    assert "open that video" in widget.status.text() and "worm.tif" in widget.status.text()
    viewer.open(str(video_path), plugin=PLUGIN)  # the behaviour video: its results appear
    qtbot.wait(50)
    kinds = _behaviour_kinds(viewer)
    assert kinds.get("worm masks") == "Labels" and kinds.get("centerline") == "Shapes"
    assert sum(name.startswith("worm masks") for name in kinds) == 1


def test_centerline_masks_are_read_off_the_main_thread(
    make_napari_viewer, qtbot, video, monkeypatch
):
    """The stored masks (a full-video copy, ~0.5 s per 2,000 frames) are read in the worker, not
    the GUI thread (scripts/ui_stall_probe.py); the "centerline" layer the GUI thread adds holds
    one path (the current frame's), so building it costs nothing."""
    import threading

    viewer = make_napari_viewer()
    viewer.add_image(video.frames, name="cam", metadata={"catrack": {"role": "behaviour"}})
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Worm behaviour")
    layer = widget.add_prompts()
    y, x = video.truth.centerline[0, 50]
    layer.add([[0, y, x]])
    widget.form.control("method").setCurrentText("classical")
    _wait(qtbot, widget.segment())
    import napari_catrack.widgets._behaviour_panels as panels

    real_read, read_in = panels.segmentation_from_session, []

    def read(session):  # the whole video's masks, converted: ~0.5 s per 2,000 frames
        read_in.append(threading.current_thread())
        return real_read(session)

    monkeypatch.setattr(panels, "segmentation_from_session", read)
    job = widget._panel_action(widget.centerline, "run")
    _wait(qtbot, job)
    assert job.outcome == "done", widget.status.text()
    assert all(t is not threading.main_thread() for t in read_in)
    shapes = viewer.layers["centerline"]
    assert len(shapes.data) == 1 and "worm head" in viewer.layers


def test_a_reopened_session_shows_the_centerline_settings_and_eigenworm_basis_it_used(
    make_napari_viewer, qtbot, video, tmp_path
):
    """A new user's walk on the WormPose frames (h20): `catrack centerline ... --eigenworms
    FILE --points 40 --session S`, then S opened in napari: the Worm behaviour widget showed
    the stage log and velocity settings used, but an empty eigenworm basis, the default points
    and no centerline status, so Compute centerlines there dropped the eigenworm amplitudes
    from the posture table without a word. It now shows what the centerlines were made with."""
    from napari_catrack.cli import main
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.widgets.behaviour import BehaviourWidget

    movie = write_movie_tiff(tmp_path / "worm.tif", video.frames[:20])
    basis = tmp_path / "basis.npy"
    np.save(basis, np.linalg.qr(np.random.default_rng(0).normal(size=(39, 5)))[0].T)
    path = tmp_path / "worm.catrack.h5"
    y, x = video.truth.centerline[0, 50]
    s = ["--session", str(path)]
    assert main(["segment", str(movie), "--prompt", f"{y:.1f},{x:.1f}", "--method", "classical",
                 "-o", str(tmp_path / "masks.tif"), *s]) == 0  # fmt: skip
    assert main(["centerline", str(movie), "--masks", str(tmp_path / "masks.tif"),
                 "--points", "40", "--eigenworms", str(basis), "--posture",
                 str(tmp_path / "p.csv"), "-o", str(tmp_path / "cl.csv"), *s]) == 0  # fmt: skip

    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    widget = BehaviourWidget(viewer)
    qtbot.wait(50)
    panel = widget.centerline
    assert panel.eigenworms.text() == str(basis)
    assert panel.form.params().points == 40
    assert panel.status.text().startswith("20 centerlines restored from the session: ")


def test_widget_posture_is_in_um_where_the_video_states_its_pixel_size(
    make_napari_viewer, qtbot, tmp_path
):
    """The widget's Compute centerlines recorded its posture with no pixel size, so it never
    gave `length_um` where `catrack centerline --pixel-size` does (h20). It now takes the
    video's pixel size by the widgets' one rule (`ViewerContext.pixel_size_um`: the file's
    metadata or the loader's box) and says when none is known. Fails on the old code."""
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.layers import recording_layers
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    small = make_behaviour_video(12, shape=(96, 96), seed=7, pixel_size_um=16.0)
    path = write_movie_tiff(tmp_path / "worm.tif", small.frames, pixel_size_um=16.0)
    for pixel in (16.0, None):
        viewer = make_napari_viewer()
        data, meta, _ = recording_layers(open_recording(path))[0]
        if pixel is None:  # a video whose file states no pixel size
            meta["metadata"]["catrack"]["summary"]["pixel_size_um"] = None
        meta["metadata"]["catrack"]["role"] = "behaviour"
        viewer.add_image(data, **meta)
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Worm behaviour")
        prompts = widget.add_prompts()
        prompts.add([[0, *small.truth.centerline[0, 50]]])
        widget.form.control("method").setCurrentText("classical")
        _wait(qtbot, widget.segment())
        _wait(qtbot, widget._panel_action(widget.centerline, "run"))
        step = session_for_viewer(viewer)["centerline"]
        posture = step.tables["posture"]
        assert step.attrs["posture"]["pixel_size_um"] == pixel
        text = widget.centerline.status.text()
        if pixel:
            ok = posture["length_px"].notna()
            np.testing.assert_allclose(
                posture.loc[ok, "length_um"], posture.loc[ok, "length_px"] * 16.0
            )
            assert "lengths in µm at 16 µm/px" in text, text
        else:
            assert "length_um" not in posture.columns
            assert "lengths in px only: the video states no pixel size" in text, text
        viewer.close()


def test_the_docs_number_the_steps_as_the_widgets_panels(make_napari_viewer):
    """docs/behaviour.md numbered the Worm behaviour widget's steps 1-5 (Correct its own step 2)
    while the panels are titled 1-4 (Correct is part of panel 1): a user reading "step 4, Velocity"
    found "4. Behavioural bouts" (h21). Each numbered step of the docs' "In napari" list is the
    panel of that number and name. Fails on the old docs (step 2 "Correct")."""
    import re
    from pathlib import Path

    from qtpy.QtWidgets import QGroupBox

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Worm behaviour")
    panels = {}
    for box in widget.findChildren(QGroupBox):
        found = re.match(r"(\d)\. (.+)", box.title())
        if found:
            panels[int(found[1])] = found[2]
    docs = Path(__file__).parents[2] / "docs" / "behaviour.md"
    section = docs.read_text().split("## In napari")[1].split("\n## ")[0]
    steps = {int(n): name for n, name in re.findall(r"^(\d)\. \*\*(.+?)\.?\*\*", section, re.M)}
    assert sorted(steps) == sorted(panels) == [1, 2, 3, 4]
    for n, name in steps.items():
        assert panels[n].startswith(name), (n, name, panels[n])
