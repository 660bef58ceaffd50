"""Issue 11, "correct by default" in the GUI: one frame rate, one alignment rule, any image layer
as a channel, and one-channel recordings shown as what they are."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.session import session_for_viewer
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui

SHAPE = (48, 56)


def _transients_table() -> pd.DataFrame:
    from napari_catrack.core.transients import detect_transients

    rng = np.random.default_rng(0)
    dff = rng.normal(0, 0.02, (8, 400))
    for row in dff:
        for peak in rng.choice(380, 5, replace=False):
            row[peak : peak + 20] += np.exp(-np.arange(20) / 4.0)
    return detect_transients(dff, 20.0, "rules", [f"n{k}" for k in range(8)])


def test_a_typed_frame_rate_is_the_one_every_widget_uses(make_napari_viewer, qtbot):
    """Before: typed 7.0 in the ensembles widget -> analysed at the session's 20.0 Hz."""
    from napari_catrack.widgets.ensembles import EnsemblesWidget
    from napari_catrack.widgets.transients import TransientsWidget

    viewer = make_napari_viewer()
    session = session_for_viewer(viewer)
    session.set_recording("rec.tif", {}, {"fps": 20.0})
    session.record("transients", tables={"transients": _transients_table()}, attrs={"fps": 20.0})
    ensembles = EnsemblesWidget(viewer)
    curation = TransientsWidget(viewer)
    assert ensembles.fps.spin.value() == curation.fps.spin.value() == 20.0  # one default
    assert ensembles.fps.source.text() == "from the recording"

    ensembles.fps.spin.setValue(7.0)  # the user types 7
    ensembles.set_table(_transients_table())  # (used to reset the user's rate)
    ensembles.load_session_transients()  # (used to put the session's 20 Hz back)
    assert ensembles.fps.spin.value() == 7.0 and ensembles.fps.source.text() == "set by you"
    assert curation.fps.spin.value() == 7.0  # shown the same way everywhere
    ensembles.shuffles.setValue(20)
    wait_job(qtbot, ensembles.find(), timeout=30000)
    assert session["ensembles"].params["fps"] == 7.0  # analysed at the typed rate
    assert session["settings"].attrs["fps"] == 7.0  # kept in the session: survives the widgets


def _two_channels(viewer):
    rng = np.random.default_rng(1)
    stack = rng.uniform(0, 100, (6, *SHAPE)).astype(np.float32)
    viewer.add_image(stack, name="g", metadata={"catrack": {"role": "green"}})
    viewer.add_image(stack.copy(), name="r", metadata={"catrack": {"role": "red"}})


def test_tracking_and_traces_use_the_one_alignment_in_force(make_napari_viewer):
    """Before: tracking used the accepted alignment, extraction the red layer's current affine."""
    from napari_catrack.widgets._tracking_layers import channel_stack
    from napari_catrack.widgets.alignment import AlignmentWidget
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget
    from napari_catrack.widgets.tracking import TrackingWidget

    viewer = make_napari_viewer()
    _two_channels(viewer)
    align, tracking, traces = (AlignmentWidget(viewer), TrackingWidget(viewer),
                               TraceViewerWidget(viewer))  # fmt: skip
    assert "none" in tracking.in_force.text()
    align.set_transform(AlignmentTransform(1.5, -2.0, 1.0, source="estimated"))
    assert "not accepted" in traces.in_force.text()  # an estimate is in force, and says so
    accepted = align.accept()
    align.nudge(dx=1.0)  # a nudge after Accept: shown, but not what the steps use
    for widget in (align, tracking, traces):
        assert "accepted" in widget.in_force.text() and "unaccepted" in widget.in_force.text()
    _, _, used = channel_stack(tracking.ctx, "red")
    assert used.dx == pytest.approx(accepted.dx)  # tracking ...
    viewer.add_points(np.array([[0, 20.0, 20.0], [5, 21.0, 20.0]]),
                      features={"neuron_id": ["a", "a"]}, name="tracked")  # fmt: skip
    inputs = traces.extraction_inputs()
    assert inputs["transform"].dx == pytest.approx(accepted.dx)  # ... and extraction agree
    align.accept()  # accepting the nudge makes it the one in force, for both
    assert "unaccepted" not in traces.in_force.text()
    assert traces.extraction_inputs()["transform"].dx == pytest.approx(accepted.dx + 1.0)


def test_any_image_layer_can_be_a_channel(make_napari_viewer):
    """Before: a TIFF opened by napari's builtin reader was invisible to the widgets."""
    from napari_catrack.synthetic import make_worm_recording
    from napari_catrack.widgets.tracking import TrackingWidget

    rec = make_worm_recording(n_frames=4, shape=(96, 96), n_neurons=5, seed=2)
    viewer = make_napari_viewer()
    viewer.add_image(rec.red, name="movie")  # no napari-catrack metadata at all
    widget = TrackingWidget(viewer)
    assert widget.ctx.channel_layer("green") is None
    picker = widget.channels
    assert [picker.green_combo.itemText(i) for i in range(picker.green_combo.count())] == [
        "(none)", "movie"]  # fmt: skip
    picker.choose("green", "movie")  # "use layer as channel", asked for its role
    assert widget.ctx.channel_layer("green") is viewer.layers["movie"]
    assert [widget.track_channel.itemText(i) for i in range(widget.track_channel.count())] == [
        "green"]  # fmt: skip
    found = widget.candidates.preview()
    d = np.linalg.norm(
        found[["y", "x"]].to_numpy()[:, None] - rec.truth.positions[0][None], axis=-1
    )
    assert (d.min(axis=0) < 2).sum() >= 4


def test_one_channel_is_shown_as_one_channel(make_napari_viewer, tmp_path):
    """Before: a one-channel movie opened as interleaved became a fake two-channel recording,
    tracking said "on green" while the picker showed "red", and traces showed empty red/ratio."""
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.synthetic import make_worm_recording
    from napari_catrack.widgets.loader import LoaderWidget
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget
    from napari_catrack.widgets.tracking import TrackingWidget

    rec = make_worm_recording(n_frames=24, shape=(64, 64), n_neurons=5, seed=4)
    path = write_movie_tiff(tmp_path / "one.tif", rec.green, fps=10.0)
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.path.value = path
    loader.layout_choice.value = "interleaved"
    loader.open_recording()
    assert "WARNING" in loader.status.text() and "ONE channel" in loader.status.text()

    viewer2 = make_napari_viewer()
    viewer2.add_image(rec.green, name="one", metadata={"catrack": {"role": "green"}})
    tracking = TrackingWidget(viewer2)
    options = [tracking.track_channel.itemText(i) for i in range(tracking.track_channel.count())]
    assert options == ["green"] and tracking.candidates.channel.currentText() == "green"
    traces = TraceViewerWidget(viewer2)
    t = np.arange(24)
    traces.set_traces(pd.DataFrame({"neuron_id": "a", "frame": t, "green": 1.0 + t,
                                    "red": np.nan, "ratio": np.nan, "dff": 0.1 * t}))  # fmt: skip
    for name in ("red", "ratio"):
        assert not traces.panel_boxes[name].isChecked() and not traces.panel_boxes[name].isEnabled()
    assert traces.panels() == ["green", "dff"]


def test_a_behaviour_video_is_never_the_green_channel(make_napari_viewer, tmp_path, monkeypatch):
    """Review 8 finding 4: File → Open of the behaviour video in a calcium session gave it role
    green, and the newest green layer was measured. A video gets the role "behaviour"; a second
    recording with a channel role does not replace the session's, and a warning says which."""
    import napari.utils.notifications as notifications

    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.io.video import write_video
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    rng = np.random.default_rng(1)
    movie = rng.integers(0, 200, (12, *SHAPE), dtype=np.uint8)
    calcium = write_movie_tiff(tmp_path / "rec.tif", movie, fps=10.0)
    video = write_video(tmp_path / "behaviour.avi", movie[:, ::-1], fps=15.0)
    other = write_movie_tiff(tmp_path / "other.tif", movie[::-1], fps=20.0)
    warned = []
    monkeypatch.setattr(notifications, "show_warning", warned.append)
    viewer = make_napari_viewer()
    viewer.open(str(calcium), plugin="napari-catrack")
    widget = TraceViewerWidget(viewer)
    ctx = widget.ctx
    viewer.open(str(video), plugin="napari-catrack")  # the behaviour video, same shape
    assert viewer.layers["behaviour.avi"].metadata["catrack"]["role"] == "behaviour"
    assert ctx.channel_layer("green") is viewer.layers["rec"]
    assert ctx.fps() == 10.0 and not warned  # the video's rate is not the imaging rate

    viewer.open(str(other), plugin="napari-catrack")  # a second recording: role green too
    for _ in range(3):
        assert ctx.channel_layer("green") is viewer.layers["rec"]  # the session's recording's
    assert len(warned) == 1  # said once, naming both
    assert "using 'rec' (the session's recording), not 'other'" in warned[0]
    assert ctx.channel_data("green") is viewer.layers["rec"].data
    ctx.adopt(viewer.layers["other"], "green")  # picked by the user: the only green left
    assert ctx.channel_layer("green") is viewer.layers["other"]
    assert viewer.layers["rec"].metadata["catrack"].get("role") is None and len(warned) == 1


def test_a_behaviour_video_opened_first_gives_way_to_the_imaging_recording(
    make_napari_viewer, tmp_path, monkeypatch
):
    """A behaviour video opened first became the session's recording, and stayed it when the
    calcium recording was opened next: the video's 15 Hz was the imaging rate every calcium
    widget used, and results autosaved beside the video. The imaging recording now takes its
    place (said once), the rate is the imaging one and the autosave moves beside it."""
    import napari.utils.notifications as notifications

    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.io.video import write_video
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    movie = np.random.default_rng(2).integers(0, 200, (12, *SHAPE), dtype=np.uint8)
    video = write_video(tmp_path / "behaviour.avi", movie[:, ::-1], fps=15.0)
    calcium = write_movie_tiff(tmp_path / "rec.tif", movie, fps=10.0)
    warned = []
    monkeypatch.setattr(notifications, "show_warning", warned.append)
    viewer = make_napari_viewer()
    viewer.open(str(video), plugin="napari-catrack")
    session = session_for_viewer(viewer)
    assert session.recording["path"] == str(video)  # a behaviour-only session: the video
    viewer.open(str(calcium), plugin="napari-catrack")
    widget = TraceViewerWidget(viewer)
    assert session.recording["path"] == str(calcium)
    assert widget.ctx.fps() == 10.0
    assert session.path == tmp_path / "rec.catrack.h5"
    assert len(warned) == 1 and "rec.tif" in warned[0] and "behaviour.avi" in warned[0]
    viewer.open(str(video), plugin="napari-catrack")  # opened again: the reference stays
    assert session.recording["path"] == str(calcium) and len(warned) == 1


def test_the_loader_opens_one_plane_of_a_volume(make_napari_viewer, tmp_path):
    """The guide says a volume becomes frames by max, mean 'or one plane'; the widget offered
    only max and mean."""
    import tifffile

    from napari_catrack.widgets.loader import LoaderWidget

    volume = np.zeros((5, 3, 16, 16), np.uint16)  # T, Z, Y, X: plane z holds the value 100 z
    for z in range(3):
        volume[:, z] = 100 * z
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, volume, imagej=True, metadata={"axes": "TZYX"})
    loader = LoaderWidget(make_napari_viewer())
    loader.path.value = path
    assert not loader.z_plane.enabled
    loader.z_projection.value = "one plane"
    assert loader.z_plane.enabled
    loader.z_plane.value = 1
    (layer,) = loader.open_recording()
    assert layer.data.shape == (5, 16, 16) and np.asarray(layer.data[2]).max() == 100
    loader.z_projection.value = "max"
    assert not loader.z_plane.enabled
    (layer,) = loader.open_recording()
    assert np.asarray(layer.data[2]).max() == 200
