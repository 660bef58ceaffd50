"""The puncta widget on the puncta sample: layers, tables, figures, session, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _open_sample(viewer, n_frames=20):
    from napari_catrack._sample_data import puncta_sample

    for data, meta, kind in puncta_sample(n_frames=n_frames):
        getattr(viewer, f"add_{kind}")(data, **meta)


def _run(widget, qtbot) -> None:
    """Press Run and wait for the result, as a user waits for the worker."""
    job = widget.run()
    qtbot.waitUntil(lambda: not job.running, timeout=60000)
    qtbot.waitUntil(lambda: widget.result is not None, timeout=10000)


def _run_on_sample(viewer, qtbot, n_frames: int):
    """The sample opened in `viewer`, the widget docked and run on it."""
    from napari_catrack.widgets.puncta import PunctaWidget

    _open_sample(viewer, n_frames=n_frames)
    widget = PunctaWidget(viewer)
    _run(widget, qtbot)
    return widget


def test_puncta_widget_runs_and_fills_layers_and_session(make_napari_viewer, qtbot, tmp_path):
    from napari_catrack.widgets.puncta import PunctaWidget

    viewer = make_napari_viewer()
    _open_sample(viewer)
    widget = PunctaWidget(viewer)
    assert widget.puncta_layer.currentText() == "puncta (HaloTag)"
    assert widget.calcium_layer.currentText() == "calcium"
    assert widget.form.params().pixel_size_nm == pytest.approx(108)  # from the sample
    assert "sCMOS" in widget.camera_text.text() and "read noise 1.5 e-" in widget.camera_text.text()
    _run(widget, qtbot)
    locs = viewer.layers["localizations"]
    assert len(locs.data) == len(widget.result.localizations) > 50
    assert {"photons", "uncertainty_nm", "calcium_probability", "sigma_nm"} <= set(locs.features)
    calcium = locs.features["calcium"].to_numpy() == 1
    assert calcium.any() and not calcium.all()
    assert np.allclose(locs.border_color[calcium][0], [1.0, 0.15, 0.35, 1.0])
    assert "puncta tracks" in viewer.layers and "super-resolution" in viewer.layers
    assert viewer.layers["super-resolution"].data.shape[0] > 96 * 5  # finer than the camera
    assert widget.track_model.rowCount() == widget.result.stats["tracks"] > 0
    assert "puncta" in widget.ctx.session
    assert widget.ctx.session["puncta"].params["pixel_size_nm"] == pytest.approx(108)
    widget.export(str(tmp_path))
    for name in ("localizations.csv", "tracks.csv", "calcium.csv", "calcium_raster.png"):
        assert (tmp_path / name).is_file()
    shown = widget.show_thunderstorm(str(tmp_path / "localizations.csv"))
    assert np.allclose(shown.data, locs.data, atol=1e-6)  # ThunderSTORM nm back to pixels


def test_puncta_widget_bad_camera_file_is_one_line(make_napari_viewer, tmp_path):
    from napari_catrack.widgets.puncta import PunctaWidget

    viewer = make_napari_viewer()
    _open_sample(viewer, n_frames=5)
    widget = PunctaWidget(viewer)
    (tmp_path / "cam.json").write_text('{"offset_adu": 100}')
    widget.set_camera_file(str(tmp_path / "cam.json"))
    assert "lacks key(s) e_per_adu" in widget.status.text()
    (tmp_path / "bad.csv").write_text('"id","frame"\n1,1\n')
    assert widget.show_thunderstorm(str(tmp_path / "bad.csv")) is None
    assert "lacks column(s) x [nm], y [nm]" in widget.status.text()
    widget.puncta_layer.setCurrentText("calcium")
    assert widget.run() is None and "same layer" in widget.status.text()


def test_reopened_session_rebuilds_the_puncta_layers(make_napari_viewer, qtbot, tmp_path):
    """Run, save the session with only the localisations layer in it, reopen it in a fresh
    viewer: the widget shows the result and rebuilds the tracks and super-resolution layers;
    the saved layer is not added twice."""
    from napari_catrack.session import Session, session_for_viewer
    from napari_catrack.widgets.puncta import PunctaWidget

    viewer = make_napari_viewer()
    widget = _run_on_sample(viewer, qtbot, n_frames=12)
    n_locs = len(widget.result.localizations)
    session = session_for_viewer(viewer)
    out = tmp_path / "puncta.catrack.h5"
    data, meta, kind = viewer.layers["localizations"].as_layer_data_tuple()
    session.layers = [(data, {"name": meta["name"]}, kind)]  # the other puncta layers not saved
    session.save(out)
    assert "puncta" in Session.load(out).steps

    fresh = make_napari_viewer()
    widget2 = PunctaWidget(fresh)
    fresh.open(str(out), plugin="napari-catrack")
    qtbot.waitUntil(lambda: widget2.result is not None, timeout=5000)
    qtbot.waitUntil(lambda: "localizations" in fresh.layers, timeout=5000)
    names = [layer.name for layer in fresh.layers]
    for name in ("localizations", "puncta tracks", "super-resolution"):
        assert names.count(name) == 1, names
    locs = fresh.layers["localizations"]
    assert len(locs.data) == n_locs
    assert np.allclose(locs.data, viewer.layers["localizations"].data)
    assert (fresh.layers["puncta tracks"].features["calcium"].to_numpy() == 1).any()
    assert (
        fresh.layers["super-resolution"].data.shape == viewer.layers["super-resolution"].data.shape
    )
    assert widget2.track_model.rowCount() == widget.track_model.rowCount() > 0
    assert widget2.form.params() == widget.form.params()


def test_save_never_overwrites_files_it_did_not_write(make_napari_viewer, qtbot, tmp_path,
                                                      monkeypatch):  # fmt: skip
    """Review 8 finding 11: "Save tables and figures…" replaced the user's own localizations.csv
    in the chosen folder, and a failed save escaped as a traceback."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFileDialog

    viewer = make_napari_viewer()
    widget = _run_on_sample(viewer, qtbot, n_frames=8)
    chosen = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: chosen[-1])

    def save_to(folder) -> str:
        chosen.append(str(folder))
        qtbot.mouseClick(widget.export_button, Qt.LeftButton)  # no exception escapes the click
        return widget.status.text()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "localizations.csv").write_text("my own file\n")
    said = save_to(mine)
    assert (
        "already holds localizations.csv, which this widget did not write; it is left "
        "untouched: choose another folder (or move it)" in said
    )  # one file: singular
    assert (mine / "localizations.csv").read_text() == "my own file\n"
    assert sorted(p.name for p in mine.iterdir()) == ["localizations.csv"]  # nothing else either

    out = tmp_path / "out"
    out.mkdir()
    assert save_to(out) == f"saved tables and figures to {out}"
    assert (out / "calcium_raster.png").is_file()
    assert save_to(out) == f"saved tables and figures to {out}"  # its own files: replaced
    (out / "events.csv").write_text("edited by the user\n")  # changed since: no longer its own
    assert "events.csv, which this widget did not write; it is left untouched" in save_to(out)
    (out / "tracks.csv").write_text("mine too\n")  # two foreign files: plural
    assert "tracks.csv, events.csv, which this widget did not write; they are left untouched" \
        in save_to(out)  # fmt: skip
    (out / "tracks.csv").unlink()
    assert (out / "events.csv").read_text() == "edited by the user\n"

    (tmp_path / "tp.tif").write_bytes(b"II*\x00")  # a file, not a folder: one line, no traceback
    said = save_to(tmp_path / "tp.tif")
    assert f"save folder {tmp_path / 'tp.tif'} is a file; give a folder (it receives " in said
    assert "but save folder is a folder" not in said  # plain English, no garbled repetition
    # a table shown from the folder is an input: never written over
    again = tmp_path / "again"
    again.mkdir()
    assert save_to(again).startswith("saved")
    widget.show_thunderstorm(str(again / "localizations.csv"))
    assert "over the input" in save_to(again)


def test_camera_line_warnings_and_model_choice_say_what_is_used(make_napari_viewer, qtbot):
    """Session 11 (a new user's walk): the camera line kept the sample's camera after the puncta
    layer was switched to a plain layer (whose run used Picasso's defaults), and never said a
    camera was assumed; what the step warned (blank frames) was lost in the worker thread; a
    network model chosen with method mle was silently ignored (the CLI refuses it)."""
    from napari_catrack.widgets.puncta import PunctaWidget

    viewer = make_napari_viewer()
    _open_sample(viewer, n_frames=10)
    widget = PunctaWidget(viewer)
    assert "0.5 e-/ADU" in widget.camera_text.text()
    assert "assumed" not in widget.camera_text.text()  # the sample's own camera
    blank = np.asarray(viewer.layers["puncta (HaloTag)"].data).copy()
    blank[[3, 4]] = 0  # two dropped frames
    viewer.add_image(blank, name="plain")  # no metadata: no camera, no pixel size
    widget.puncta_layer.setCurrentText("plain")
    assert widget.status.text() == "'plain' has no pixel size: check 'pixel size (nm)' (now 108 nm)"
    said = widget.camera_text.text()
    assert said.startswith("assumed (no camera file)") and "1 e-/ADU" in said
    assert widget.camera().e_per_adu == 1.0  # the line shows the camera the run uses
    widget.calcium_layer.setCurrentText("(none)")
    _run(widget, qtbot)
    assert widget.calcium_layer.currentText() == "(none)"  # the run's layers did not reset it
    status = widget.status.text()
    assert "warning: 2 of 10 frames of the puncta channel have no photons" in status
    assert "(frames 3-4, 0-based)" in status and widget.result.warnings
    widget.puncta_layer.setCurrentText("puncta (HaloTag)")
    assert "0.5 e-/ADU" in widget.camera_text.text()  # back to the sample's camera
    # after a run, another recording's pixel size is taken (it kept the first one's)
    meta = {"catrack": {"summary": {"pixel_size_um": 0.065}}}
    viewer.add_image(blank, name="65 nm recording", metadata=meta)
    widget.puncta_layer.setCurrentText("65 nm recording")
    assert widget.form.params().pixel_size_nm == pytest.approx(65)
    widget.form.set_params(widget.form.params(pixel_size_nm=70))  # typed by the user
    viewer.add_image(blank[:2], name="another layer")  # a layer added: the typed value stays
    assert widget.form.params().pixel_size_nm == pytest.approx(70)
    widget.puncta_layer.setCurrentText("puncta (HaloTag)")
    widget.model_path.setText("my_net.json")
    assert widget.run() is None
    assert "a network model is chosen but the method is mle" in widget.status.text()


def test_a_save_that_fails_half_way_writes_nothing(make_napari_viewer, qtbot, tmp_path,
                                                   monkeypatch):  # fmt: skip
    """The tables were written one by one before the figures: a figure that failed left them
    behind, unlisted in the folder's note, and every later save there was refused as 'not
    written by this widget'."""
    import napari_catrack.figures as figures

    viewer = make_napari_viewer()
    widget = _run_on_sample(viewer, qtbot, n_frames=8)
    real = figures.save_figure

    def broken(fig, path, **kw):
        if str(path).endswith("calcium_raster.png"):
            raise OSError(28, "No space left on device")
        return real(fig, path, **kw)

    monkeypatch.setattr(figures, "save_figure", broken)
    assert widget.export(str(tmp_path)) is None
    assert "No space left on device" in widget.status.text()
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing half-written
    monkeypatch.setattr(figures, "save_figure", real)
    assert widget.export(str(tmp_path)) is not None  # and the next save is not refused
    assert (tmp_path / "localizations.csv").is_file() and (
        tmp_path / "calcium_raster.png"
    ).is_file()


def test_the_widget_opens_beside_a_recording_whose_pixels_the_psf_does_not_suit(
    make_napari_viewer, qtbot
):
    """The release smoke test: docked with the worm sample open (0.45 um pixels), the widget
    took that layer's pixel size, 450 nm, under the 130 nm PSF (0.29 px, below the 0.3 px the
    localiser needs) and failed to open with a traceback. It opens, says why, and a run is
    refused in one line until the pixel size is set."""
    from napari_catrack._sample_data import moving_worm_sample
    from napari_catrack.widgets.puncta import PunctaWidget

    viewer = make_napari_viewer()
    for data, meta, kind in moving_worm_sample(n_frames=20):
        getattr(viewer, f"add_{kind}")(data, **meta)
    widget = PunctaWidget(viewer)
    assert widget.form.value("pixel_size_nm") == pytest.approx(450)
    assert "too narrow to localise" in widget.status.text()
    assert widget.run() is None and "too narrow to localise" in widget.status.text()
    widget.form.set_value("pixel_size_nm", 108.0)
    assert widget.form.params().pixel_size_nm == pytest.approx(108)


def test_another_threads_warning_during_a_run_is_not_shown_as_the_steps(
    make_napari_viewer, qtbot, monkeypatch
):
    """The worker caught warnings with warnings.catch_warnings (process-wide hooks): a warning
    another thread raised during the run reached the status line as the step's."""
    import threading
    import warnings

    import napari_catrack.core.puncta.pipeline as pipeline
    from napari_catrack.widgets.puncta import PunctaWidget

    real = pipeline.analyse_puncta

    def with_a_neighbour(*args, **kwargs):
        def neighbour():
            warnings.warn("a warning from another widget's thread", UserWarning, stacklevel=1)

        thread = threading.Thread(target=neighbour)
        thread.start()
        thread.join()
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "analyse_puncta", with_a_neighbour)
    viewer = make_napari_viewer()
    _open_sample(viewer, n_frames=8)
    blank = np.asarray(viewer.layers["puncta (HaloTag)"].data).copy()
    blank[2] = 0
    viewer.add_image(blank, name="plain")
    widget = PunctaWidget(viewer)
    widget.puncta_layer.setCurrentText("plain")
    widget.calcium_layer.setCurrentText("(none)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the neighbour's warning, where it goes outside the run
        _run(widget, qtbot)
    status = widget.status.text()
    assert "1 of 8 frames of the puncta channel have no photons" in status  # the step's own
    assert "another widget" not in status
    assert not any("another" in w for w in widget.result.warnings)


def test_the_form_stops_link_distance_and_track_length_at_their_bounds(make_napari_viewer):
    """No upper bound before: the form took any link distance; a minimum track length longer
    than the movie dropped every track without a word."""
    from napari_catrack.widgets.puncta import PunctaWidget

    viewer = make_napari_viewer()
    _open_sample(viewer, n_frames=6)
    widget = PunctaWidget(viewer)
    box = widget.form.control("link_distance_nm")
    assert box.maximum() == 5000 and "at most 5000 nm: puncta lie about 1 um" in box.toolTip()
    assert widget.form.control("min_track_length").maximum() == 100_000
    widget.form.set_params(widget.form.params(min_track_length=7))
    assert widget.run() is None
    assert "--min-track-length 7 keeps no track" in widget.status.text()
    assert "the movie has 6 frames" in widget.status.text()


def test_a_barely_trained_model_is_said_after_the_run_and_on_reopening(
    make_napari_viewer, qtbot, tmp_path
):
    """h21: a network whose training recorded Jaccard 0.12 on its validation clips was used
    without a word; the status line (and a notification) says so, and so does the reopened
    session, whose provenance keeps it."""
    torch = pytest.importorskip("torch")
    from napari_catrack.core.puncta.network import NetConfig, make_network, save_model
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.puncta import PunctaWidget

    torch.manual_seed(0)
    meta = {"calibration": {"clips": 2, "jaccard": 0.12}}
    model = save_model(make_network(NetConfig(base_channels=4, meta=meta)), tmp_path / "weak.json")
    viewer = make_napari_viewer()
    _open_sample(viewer, n_frames=6)
    widget = PunctaWidget(viewer)
    widget.form.set_value("method", "network")
    widget.form.set_value("detection_probability", 0.01)
    widget.model_path.setText(str(model))
    _run(widget, qtbot)
    status = widget.status.text()
    assert f"warning: the puncta network {model} is barely trained" in status
    assert "Jaccard 0.12" in status
    # in the widget's words: its field, not the CLI's options (h22)
    assert "'model min Jaccard' in More options" in status and "or method mle" in status
    assert "--model-min-jaccard" not in status and "--method" not in status
    assert widget.ctx.session["puncta"].attrs["model"]["quality"]["poor"]
    out = tmp_path / "weak.catrack.h5"
    session = session_for_viewer(viewer)
    data, layer_meta, kind = viewer.layers["localizations"].as_layer_data_tuple()
    session.layers = [(data, {"name": layer_meta["name"]}, kind)]
    session.save(out)
    fresh = make_napari_viewer()
    widget2 = PunctaWidget(fresh)
    fresh.open(str(out), plugin="napari-catrack")
    qtbot.waitUntil(lambda: widget2.result is not None, timeout=5000)
    assert widget2.status.text().startswith("restored the puncta result of the session; warning:")
    assert "is barely trained" in widget2.status.text()
    assert "'model min Jaccard' in More options" in widget2.status.text()
    assert "--model-min-jaccard" not in widget2.status.text()


def test_the_widgets_figures_come_from_the_one_puncta_figure_builder(
    make_napari_viewer, qtbot, monkeypatch
):
    """h22: the widget called `precision_photons_figure` and `calcium_raster_figure` itself, not
    `figures.puncta.puncta_figure`, the one builder of `catrack puncta --figures` and of the
    export (so a change there would not reach the widget). Fails on 215e322 (nothing called)."""
    import napari_catrack.figures.puncta as figures

    built, real = [], figures.puncta_figure

    def recording(name, *args, **kwargs):
        fig = real(name, *args, **kwargs)
        built.append((name, fig))
        return fig

    monkeypatch.setattr(figures, "puncta_figure", recording)
    widget = _run_on_sample(make_napari_viewer(), qtbot, n_frames=8)
    assert [name for name, _ in built] == ["precision_photons", "calcium_raster"]
    assert widget.precision_canvas.figure is built[0][1]
    assert widget.raster_canvas.figure is built[1][1]
