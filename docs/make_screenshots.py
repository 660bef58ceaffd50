"""Regenerate the documentation screenshots from real napari runs.

Run under a display (e.g. `xvfb-run -a python docs/make_screenshots.py`); writes docs/images/*.png.
Each function sets up a viewer the way a user would and saves the whole window.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

IMAGES = Path(__file__).resolve().parent / "images"
PLUGIN = "napari-catrack"


def _save(viewer: napari.Viewer, name: str) -> None:
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    from napari_catrack.layers import label_axes

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()  # e.g. the PyQt5 deprecation notice would cover the canvas
    for layer in viewer.layers:  # the layers this script adds stand in for opened recordings,
        label_axes(layer)  # which our reader labels t (z) y x
    _settle(viewer)
    viewer.screenshot(str(IMAGES / f"{name}.png"), canvas_only=False, flash=False)
    print("wrote", IMAGES / f"{name}.png")


def _sideways(viewer: napari.Viewer) -> list[str]:
    """The shown docks whose body scrolls sideways (a horizontal scroll bar)."""
    from qtpy.QtWidgets import QDockWidget, QScrollArea

    out = []
    for dock in viewer.window._qt_window.findChildren(QDockWidget):
        for area in dock.findChildren(QScrollArea):
            if area.isVisible() and area.horizontalScrollBar().isVisible():
                out.append(dock.windowTitle())
    return out


def _settle(viewer: napari.Viewer, timeout_s: float = 3.0) -> None:
    """Let the window finish its layout before the picture: a dock's width is set on the event
    loop's next turn (`_dock._BodyScroll`), and one turn showed a dock in between, both scroll
    bars on (loader.png, alignment.png in session 21). A dock still scrolling sideways after
    `timeout_s` is said (the picture would show it)."""
    import time

    end = time.monotonic() + timeout_s
    for _ in range(5):  # a few turns at least: timers of 0 ms queued by the last turn
        QApplication.processEvents()
        time.sleep(0.02)
    while _sideways(viewer) and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)
    if still := _sideways(viewer):
        print("warning: scrolls sideways:", ", ".join(still))


def viewer_with_sample() -> napari.Viewer:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    viewer.open_sample(PLUGIN, "moving_worm")
    viewer.dims.set_current_step(0, 40)
    viewer.layers["ground truth tracks"].visible = True
    viewer.reset_view()
    return viewer


def shot_viewer() -> None:
    viewer = viewer_with_sample()
    _save(viewer, "viewer")
    viewer.close()


def shot_loader(tmp: Path) -> None:
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.synthetic import make_worm_recording

    rec = make_worm_recording(n_frames=30, seed=3)
    import numpy as np

    side_by_side = np.concatenate([rec.green, rec.red], axis=2)
    path = write_movie_tiff(
        tmp / "side-by-side.tif", side_by_side, fps=rec.fps, pixel_size_um=rec.pixel_size_um
    )
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = path
    widget.layout_choice.value = "left-right"
    widget.open_recording()
    viewer.reset_view()
    _save(viewer, "loader")
    viewer.close()


def _truth_points(viewer: napari.Viewer):
    """The sample's ground-truth tracks as an editable neurons Points layer (frame, y, x)."""
    import numpy as np
    import pandas as pd

    tracks = viewer.layers["ground truth tracks"]
    ids = tracks.features["neuron_id"].astype(str).to_numpy()
    table = pd.DataFrame(tracks.data[:, 1:], columns=["frame", "y", "x"]).assign(neuron_id=ids)
    viewer.layers["ground truth tracks"].visible = False
    from napari_catrack.layers import neuron_points_layer

    data, meta, _ = neuron_points_layer(table)
    layer = viewer.add_points(data, **meta)
    return layer, table.assign(frame=table["frame"].astype(int)), np


def shot_alignment() -> None:
    from napari_catrack.core.alignment import estimate_alignment

    viewer = viewer_with_sample()
    viewer.layers["ground truth tracks"].visible = False
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Align channels")
    green, red = viewer.layers["worm green"].data, viewer.layers["worm red"].data
    widget.set_transform(estimate_alignment(green, red))
    widget.overlay_check.setChecked(True)
    viewer.camera.zoom *= 2.2
    _save(viewer, "alignment")
    viewer.close()


def shot_traces() -> None:
    from napari_catrack.core.signals.extraction import extract_traces

    viewer = viewer_with_sample()
    _, table, _ = _truth_points(viewer)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces (signals)")
    green, red = viewer.layers["worm green"].data, viewer.layers["worm red"].data
    widget.set_traces(extract_traces(green, table, red, fps=10.0))
    widget.select(["n03", "n07"])
    viewer.window._qt_window.resize(1400, 900)
    QApplication.processEvents()
    widget.scroll_area.ensureWidgetVisible(widget.canvas)  # the plot in view
    QApplication.processEvents()
    _save(viewer, "traces")
    viewer.close()


def _wait(job) -> None:
    """Let the GUI run until a widget job has finished (its result is delivered)."""
    _wait_job(job)


def shot_tracking() -> None:
    import numpy as np

    viewer = viewer_with_sample()
    truth = viewer.layers["ground truth tracks"]
    truth.visible = False
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Track neurons")
    panel = widget.candidates
    panel.live.setChecked(False)
    cand = panel.preview()
    # the user picks the head neurons and leaves the remaining granules (here: those far from
    # every true neuron of the sample)
    now = truth.data[truth.data[:, 1] == 40][:, 2:]
    yx = cand[["y", "x"]].to_numpy()
    near = np.linalg.norm(yx[:, None] - now[None], axis=-1).min(axis=1) < 2
    viewer.layers["candidates"].selected_data = set(np.flatnonzero(near).tolist())
    panel.use_selected()
    _wait(widget.start_tracking())
    # one correction: drag n4's point at frame 70 by two pixels, then re-track around it
    tracked = viewer.layers["tracked neurons"]
    feats = tracked.features
    i = int(np.flatnonzero((feats["neuron_id"] == "n4") & (feats["frame"] == 70))[0])
    data = np.asarray(tracked.data).copy()
    data[i, 1:] += (2.0, 0.0)
    tracked.data = data
    _wait(widget.start_retracking())
    for name in ("candidates", "candidate masks", "neurons"):
        viewer.layers[name].visible = False
    viewer.layers.selection.active = viewer.layers["tracked neurons"]
    viewer.dims.set_current_step(0, 70)
    centre = widget.tracks.query("frame == 70")[["y", "x"]].mean().to_numpy()
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.zoom *= 2.2
    camera.center = tuple(float(c) for c in centre)
    viewer.window._qt_window.resize(1400, 900)
    QApplication.processEvents()
    # tracking, the review list and the status line under it, whole (it scrolls itself into
    # sight when it changes; ensured here, the window resized since)
    widget.scroll_area.ensureWidgetVisible(widget.status, 0, 4)
    QApplication.processEvents()
    _save(viewer, "tracking")
    viewer.close()


def _planted_movie(planted, shape=(256, 256), sigma=4.0):
    """A lazy (T, Y, X) movie: every neuron a dim blob that lights up during its transients."""
    import dask.array as da
    import numpy as np

    pos = planted.positions.set_index(planted.positions["neuron_id"].astype(str))
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    blobs = np.stack(
        [
            np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
            for y, x in pos[["y", "x"]].to_numpy()
        ]
    )
    ev = planted.events
    ids = pos.index.get_indexer(ev["neuron_id"].astype(str))
    active = np.zeros((planted.n_frames, len(pos)), np.float32)
    for k, start, end in zip(ids, ev["start_frame"], ev["end_frame"]):
        active[start : end + 1, k] = 1.0

    def frame(block, block_info=None):
        t = block_info[None]["array-location"][0][0]
        img = np.tensordot(0.15 + active[t], blobs, axes=1)
        return img[None].astype(np.float32)

    template = da.zeros((planted.n_frames, *shape), chunks=(1, *shape), dtype=np.float32)
    return template.map_blocks(frame, dtype=np.float32)


def shot_ensembles() -> None:
    from napari_catrack.synthetic.rasters import planted_ensembles

    planted = planted_ensembles(
        n_neurons=60, n_frames=2000, n_ensembles=3, ensemble_size=10, n_activations=15, seed=6
    )
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    viewer.add_image(
        _planted_movie(planted), name="field of view", colormap="gray", contrast_limits=(0, 1.2)
    )
    pos = planted.positions
    viewer.add_points(
        pos[["y", "x"]].to_numpy(float),
        name="neurons",
        size=6,
        opacity=0.8,
        features={"neuron_id": pos["neuron_id"].astype(str).to_numpy()},
        border_color="white",
        text={"string": "{neuron_id}", "size": 7, "color": "white", "translation": [-8, 0]},
    )
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Neuronal ensembles")
    table = planted.events.drop(columns="ensemble").assign(
        neuron_id=planted.events["neuron_id"].astype(str)
    )
    widget.set_table(table)
    widget.fps.setValue(planted.fps)
    widget.shuffles.setValue(300)
    _wait(widget.find())  # selects ensemble 0 and shows its first event
    widget.color_points()  # every neuron in its ensemble's colour, not only ensemble 0's
    viewer.reset_view()
    _save(viewer, "ensembles")
    viewer.close()


def shot_curation() -> None:
    """The curation widget after detection with the shipped trained detector (method model)."""
    from napari_catrack.core.signals.extraction import extract_traces
    from napari_catrack.session import session_for_viewer

    viewer = viewer_with_sample()
    viewer.window._qt_window.resize(1400, 900)
    _, table, _ = _truth_points(viewer)
    green, red = viewer.layers["worm green"].data, viewer.layers["worm red"].data
    traces = extract_traces(green, table, red, fps=10.0)
    session_for_viewer(viewer).record("traces", tables={"traces": traces}, params={"fps": 10.0})
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Transients curation")
    widget.load_session_traces()
    widget.method.setCurrentText("model")
    _wait(widget.detect())
    widget.select_cell(widget.state.ids[3])
    widget.scroll_area.ensureWidgetVisible(widget.tabs)  # the plot and the cell list in view
    QApplication.processEvents()
    _save(viewer, "curation")
    viewer.close()


def _behaviour_with_velocity(tmp: Path, n_frames: int):
    """(viewer, Worm behaviour widget, video): the synthetic crawling worm segmented from one
    prompt, its centerlines and its velocity against the stage, as a user gets them."""
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    video = make_behaviour_video(n_frames, seed=0)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 1000)
    viewer.add_image(
        video.frames, name="worm behaviour", metadata={"catrack": {"role": "behaviour"}}
    )
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Worm behaviour")
    y, x = video.truth.centerline[0, 50]
    widget.add_prompts().add([[0, y, x]])
    widget.form.control("method").setCurrentText("classical")
    _wait_job(widget.segment())
    _wait_job(widget._panel_action(widget.centerline, "run"))
    stage = tmp / "stage.csv"
    video.stage_table().to_csv(stage, index=False)
    widget.velocity.stage.setText(str(stage))
    widget.velocity.pixel.setValue(video.pixel_size_um)
    widget.velocity.fps.setValue(video.fps)
    widget._panel_action(widget.velocity, "run")
    return viewer, widget, video


def shot_behaviour(tmp: Path) -> None:
    """The behaviour widget after a one-click segmentation, centerlines, velocity and the plot."""
    viewer, widget, _ = _behaviour_with_velocity(tmp, 150)
    plot = widget.show_plot()
    # the plot docks short (its scroll area takes the canvas' minimum, 260 px): the shot grows
    # it so that the whole kymograph and its colour bar show, not cut off at the bottom
    from qtpy.QtCore import Qt

    from napari_catrack.widgets._dock import dock_of

    QApplication.processEvents()
    viewer.window._qt_window.resizeDocks([dock_of(plot)], [520], Qt.Vertical)
    viewer.layers["worm prompts"].visible = True
    viewer.dims.set_current_step(0, 60)
    viewer.reset_view()
    _save(viewer, "behaviour")
    viewer.close()


def shot_behaviour_bouts(tmp: Path) -> None:
    """The behaviour widget's step 4: the bouts of the demo's worm (20 s, two reversals and an
    omega coil), listed, and the strip over the docked plot's speed."""
    from qtpy.QtCore import Qt

    from napari_catrack.widgets._dock import dock_of

    viewer, widget, _ = _behaviour_with_velocity(tmp, 300)
    _wait_job(widget._panel_action(widget.bouts, "run"))
    plot = widget.show_plot()
    QApplication.processEvents()
    viewer.window._qt_window.resizeDocks([dock_of(plot)], [420], Qt.Vertical)
    widget.scroll_area.ensureWidgetVisible(widget.bouts)  # step 4 in view
    viewer.layers["worm prompts"].visible = False
    widget.bouts._jump(widget.bouts.list.item(1))  # the first reversal's first frame
    viewer.reset_view()
    _save(viewer, "behaviour_bouts")
    viewer.close()


def _wait_job(job) -> None:
    """Let the GUI run until a widget job (widgets._worker.Job) has finished."""
    import time

    while not job.finished.is_set():
        QApplication.processEvents()
        time.sleep(0.02)
    QApplication.processEvents()


def shot_docks() -> None:
    """Every napari-catrack widget docked: one tabbed panel that fits the screen."""
    import yaml

    import napari_catrack

    viewer = viewer_with_sample()
    viewer.layers["ground truth tracks"].visible = False
    manifest = yaml.safe_load((Path(napari_catrack.__file__).parent / "napari.yaml").read_text())
    for entry in manifest["contributions"]["widgets"]:
        viewer.window.add_plugin_dock_widget(PLUGIN, entry["display_name"])
        QApplication.processEvents()
    dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, "Track neurons")
    dock.raise_()  # the tracking tab in front
    _save(viewer, "docks")
    viewer.close()


def _two_photon_viewer(tmp: Path):
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.synthetic import TWO_PHOTON_VARIANTS, make_two_photon_movie

    mov = make_two_photon_movie(300, (160, 160), n_cells=25, seed=0, **TWO_PHOTON_VARIANTS["easy"])
    # a fresh folder per shot: a second shot in the same folder met the first's registered movie
    # and session (the widget then asks before replacing them, and the script waited on the dialog)
    folder = Path(tempfile.mkdtemp(dir=tmp))
    path = write_movie_tiff(folder / "two_photon.tif", mov.movie, fps=mov.fps)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    viewer.open(str(path), plugin=PLUGIN)
    return viewer


def shot_registration(tmp: Path) -> None:
    viewer = _two_photon_viewer(tmp)
    _, reg = viewer.window.add_plugin_dock_widget(PLUGIN, "Motion correction")
    _wait_job(reg.run())
    viewer.dims.set_current_step(0, 150)
    viewer.reset_view()
    _save(viewer, "registration")
    viewer.close()


def _two_photon_sources(tmp: Path):
    """(viewer, Sources widget, its dock): the two-photon sample motion-corrected (its dock
    closed) and its cells extracted."""
    viewer = _two_photon_viewer(tmp)
    dock, reg = viewer.window.add_plugin_dock_widget(PLUGIN, "Motion correction")
    _wait_job(reg.run())
    viewer.window.remove_dock_widget(dock)
    dock, src = viewer.window.add_plugin_dock_widget(PLUGIN, "Sources (two-photon)")
    _wait_job(src.run_summary())
    _wait_job(src.run_extract())
    return viewer, src, dock


def shot_sources(tmp: Path) -> None:
    viewer, src, _ = _two_photon_sources(tmp)
    for layer in viewer.layers:
        layer.visible = layer.name in ("correlation image", "footprints", "footprint contours")
    src.cells.setCurrentRow(0)
    viewer.reset_view()
    _save(viewer, "sources")


def shot_export(tmp: Path) -> None:
    """The Export widget over a two-photon session (registered, cells extracted), after an
    export of its tables, figures and NWB file into a folder."""
    viewer, _, dock = _two_photon_sources(tmp)
    viewer.window.remove_dock_widget(dock)
    for layer in viewer.layers:
        layer.visible = layer.name in ("correlation image", "footprint contours")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Export")
    widget.folder.setText("results")  # a relative folder: in the session file's folder
    widget.subject.setText("mouse7")
    widget.species.setText("Mus musculus")
    widget.select([i.key for i in widget.items if i.kind in ("table", "figure", "nwb")])
    _wait_job(widget.export())
    where = str(widget.last_result.folder.parent)
    widget.status.setText(widget.status.text().replace(where, "…"))  # (not the temp folder)
    viewer.reset_view()
    _save(viewer, "export")
    viewer.close()


def shot_puncta() -> None:
    import time

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    viewer.open_sample(PLUGIN, "puncta")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Puncta and calcium")
    job = widget.run()
    while job.running or widget.result is None:
        QApplication.processEvents()
        time.sleep(0.02)
    widget.tabs.setCurrentIndex(3)  # the calcium raster
    viewer.layers["calcium"].visible = True
    viewer.layers["calcium"].opacity = 0.5
    viewer.layers["super-resolution"].visible = False
    viewer.dims.set_current_step(0, 45)
    viewer.reset_view()
    _save(viewer, "puncta")
    viewer.layers["super-resolution"].visible = True
    for name in ("puncta (HaloTag)", "calcium", "localizations", "puncta tracks"):
        viewer.layers[name].visible = False
    widget.tabs.setCurrentIndex(2)  # precision and photons
    _save(viewer, "puncta_superres")
    viewer.close()


def shot_events(tmp: Path) -> None:
    """Behaviour events: the video beside the calcium movie, ticks on the traces, the ETAs."""
    import numpy as np
    import pandas as pd

    from napari_catrack.io.video import write_video
    from napari_catrack.session import session_for_viewer
    from napari_catrack.synthetic.behaviour import make_behaviour_video
    from napari_catrack.synthetic.events import make_event_session

    syn = make_event_session(
        n_neurons=12,
        duration_s=120.0,
        event_rate_hz=0.15,
        seed=2,
        drop_fraction=0.0,
        video_fps=15.0,
    )
    n = len(syn.frame_times)
    ids = syn.neuron_ids
    centres = np.array([[40 + 40 * (i // 4), 40 + 40 * (i % 4)] for i in range(len(ids))], float)
    yy, xx = np.mgrid[:160, :200]
    blobs = np.exp(
        -((yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2) / 30.0
    )
    movie = (200 + 600 * np.tensordot(np.clip(syn.dff.T, 0, None) + 0.2, blobs, 1)).astype(
        np.uint16
    )
    behaviour = make_behaviour_video(syn.n_video_frames, shape=(160, 160), seed=1)
    write_video(tmp / "behaviour.avi", behaviour.frames, fps=syn.video_fps)
    syn.events.to_csv(tmp / "events.csv", index=False)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    viewer.add_image(
        movie,
        name="calcium",
        colormap="green",
        metadata={"catrack": {"role": "green", "fps": syn.fps}},
    )
    session = session_for_viewer(viewer)
    session.record(
        "traces",
        tables={
            "traces": pd.DataFrame(
                {
                    "neuron_id": np.repeat(ids, n),
                    "frame": np.tile(np.arange(n), len(ids)),
                    "time_s": np.tile(np.arange(n) / syn.fps, len(ids)),
                    "dff": syn.dff.ravel(),
                }
            )
        },
        attrs={"fps": syn.fps},
    )
    viewer.layers["calcium"].contrast_limits = (200, 900)
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces (signals)")
    traces._show_session_traces(session)
    events_dock, events = viewer.window.add_plugin_dock_widget(PLUGIN, "Behaviour events")
    events.events_file.setText(str(tmp / "events.csv"))
    events.events_start.setValue(syn.events_start_s)
    events.video_file.setText(str(tmp / "behaviour.avi"))
    events.video_start.setValue(syn.video_start_s)
    events.line_up()
    _wait_job(events.compute())
    responsive = session["eta"].tables["significance"].query("significant").neuron_id
    traces.select([responsive.iloc[0]])
    viewer.dims.set_current_step(0, 600)
    viewer.reset_view()
    _save(viewer, "events_traces")  # event ticks on the traces, the video beside the movie
    events_dock.raise_()
    _save(viewer, "events")  # the responsive neurons and their event-triggered averages
    viewer.close()


SHOTS = {
    "viewer": shot_viewer,
    "loader": shot_loader,
    "alignment": shot_alignment,
    "traces": shot_traces,
    "tracking": shot_tracking,
    "ensembles": shot_ensembles,
    "curation": shot_curation,
    "docks": shot_docks,
    "registration": shot_registration,
    "sources": shot_sources,
    "behaviour": shot_behaviour,
    "behaviour_bouts": shot_behaviour_bouts,
    "puncta": shot_puncta,
    "export": shot_export,
    "events": shot_events,
}


def main(names: list[str]) -> None:
    import tempfile

    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or SHOTS:
            fn = SHOTS[name]
            fn(Path(tmp)) if fn.__code__.co_argcount else fn()


if __name__ == "__main__":
    main(sys.argv[1:])
