"""Trace viewer in a real napari.Viewer: cursor follows the slider, clicks move it, selection is
shared with the neurons Points layer, export and cleaning work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui

T, FPS = 60, 5.0


@pytest.fixture
def traces() -> pd.DataFrame:
    t = np.arange(T)
    rows = []
    for k, nid in enumerate(["a", "b", "c"]):
        dff = np.where((t >= 10 + 10 * k) & (t < 15 + 10 * k), 1.0, 0.0)
        rows.append(
            pd.DataFrame(
                {
                    "neuron_id": nid,
                    "frame": t,
                    "time_s": t / FPS,
                    "green": 100 * (1 + dff),
                    "red": 50.0,
                    "ratio": 2 * (1 + dff),
                    "dff": dff,
                    "missing": False,
                    "saturated": False,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def viewer_with_points(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((T, 32, 32), dtype=np.uint8), name="movie")
    ids = np.repeat(["a", "b", "c"], T)
    frames = np.tile(np.arange(T), 3)
    coords = np.c_[frames, np.repeat([8.0, 16.0, 24.0], T), np.full(3 * T, 10.0)]
    viewer.add_points(coords, features={"neuron_id": ids}, name="neurons")
    return viewer


def test_cursor_click_selection_export(viewer_with_points, traces, qtbot, tmp_path):
    from matplotlib.backend_bases import MouseEvent

    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    viewer = viewer_with_points
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.points.currentText() == "neurons"
    widget.set_traces(traces)
    assert widget.selected_ids() == ["a"]
    assert [ax.get_ylabel() for ax in widget._axes] == [
        "green (a.u.,\nbg-sub.)",
        "red (a.u.,\nbg-sub.)",
        "ratio G/R",
        "ΔF/F",
    ]
    data_lines = [ln for ln in widget._axes[3].lines if ln not in widget._cursors]
    np.testing.assert_allclose(data_lines[0].get_ydata(), traces.dff[:T])

    # the cursor follows the time slider (x in seconds)
    viewer.dims.set_current_step(0, 20)
    assert widget.cursor_x() == pytest.approx(20 / FPS)

    # a click on the plot moves the slider
    widget.canvas.draw()
    ax = widget._axes[0]
    px, py = ax.transData.transform((33 / FPS, ax.get_ylim()[0] * 0.5 + ax.get_ylim()[1] * 0.5))
    MouseEvent("button_press_event", widget.canvas, px, py, button=1)._process()
    assert viewer.dims.current_step[0] == 33
    assert widget.cursor_x() == pytest.approx(33 / FPS)

    # selecting a point selects its trace ...
    layer = viewer.layers["neurons"]
    layer.selected_data = {T + 5}  # a point of neuron "b"
    assert widget.selected_ids() == ["b"]
    # ... and selecting traces selects their points
    widget.select(["a", "c"])
    ids = layer.features["neuron_id"].to_numpy()
    assert set(layer.selected_data) == set(np.flatnonzero(np.isin(ids, ["a", "c"])))
    traces_drawn = [ln for ln in widget._axes[0].lines if ln not in widget._cursors]
    assert len(traces_drawn) == 2

    # panels can be switched; cleaned traces are computed on demand
    widget.panel_boxes["red"].setChecked(False)
    assert len(widget._axes) == 3
    params = widget.compute_cleaned()
    assert [s["name"] for s in params["steps"]] == ["drift", "wavelet"]
    assert "dff_clean" in widget.traces and widget.panels()[-1] == "cleaned"
    assert widget.traces["dff_clean"].notna().all()

    for ext in ("svg", "png"):
        widget.export(str(tmp_path / f"plot.{ext}"))
        assert (tmp_path / f"plot.{ext}").stat().st_size > 1000


def test_load_csv_and_screenshot(viewer_with_points, traces, tmp_path):
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    path = tmp_path / "traces.csv"
    traces.to_csv(path, index=False)
    widget = TraceViewerWidget(viewer_with_points)
    viewer_with_points.window.add_dock_widget(widget)
    widget.load_csv(str(path))
    assert widget.neurons.count() == 3
    widget.canvas.draw()
    shot = np.asarray(widget.canvas.buffer_rgba())
    assert shot[..., :3].std() > 5  # the plot rendered something
    chosen = widget.selected_ids()
    written = widget.export_cleaning_steps(tmp_path / "steps")
    assert sorted(p.name for p in written) == sorted(
        f"cleaning_{n}.{ext}" for n in chosen for ext in ("svg", "png")
    )
    assert all(p.stat().st_size > 1000 for p in written)


def test_extract_from_layers_uses_red_affine(make_napari_viewer, qtbot):
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    n, size = 20, 40
    yy, xx = np.mgrid[:size, :size]
    green = np.full((n, size, size), 100.0)
    green[:, np.hypot(yy - 20, xx - 20) <= 5] = 300.0
    red = np.full((n, size, size), 40.0)
    red[:, np.hypot(yy - 18, xx - 23) <= 5] = 190.0  # red pixel p lands at p + (2, -3) in green
    affine = np.eye(4)
    affine[1:3, 3] = [2.0, -3.0]
    viewer = make_napari_viewer()
    viewer.add_image(green, name="g", metadata={"catrack": {"role": "green", "fps": 4.0}})
    viewer.add_image(red, name="r", affine=affine, metadata={"catrack": {"role": "red"}})
    coords = np.c_[np.arange(n), np.full(n, 20.0), np.full(n, 20.0)]
    viewer.add_points(coords, features={"neuron_id": ["n1"] * n}, name="neurons")

    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    wait_job(qtbot, widget.extract(), timeout=30000)
    df = widget.traces
    np.testing.assert_allclose(df.green, 200.0)
    np.testing.assert_allclose(df.red, 150.0)  # sampled through the affine: the whole disk
    np.testing.assert_allclose(df.time_s, np.arange(n) / 4.0)
    assert widget.selected_ids() == ["n1"]
    from napari_catrack.session import session_for_viewer

    step = session_for_viewer(viewer)["traces"]
    assert len(step.tables["traces"]) == len(df)
    assert step.params["radius"] == widget.radius.value()
    assert step.params["alignment"]["dy"] == pytest.approx(2.0)  # the alignment in force
    assert step.params["alignment_source"] == "not accepted"


def test_layer_alignment_reads_the_alignment_widgets_affine():
    from napari.layers import Image

    from napari_catrack.core.rigid import AlignmentTransform
    from napari_catrack.core.signals.extraction import green_to_red_matrix
    from napari_catrack.widgets.trace_viewer import layer_alignment

    shape = (30, 40)
    t = AlignmentTransform(1.5, -2.0, 3.0)
    green = Image(np.zeros((2, *shape)), scale=(1, 0.5, 0.5))
    red = Image(np.zeros((2, *shape)), scale=(1, 0.5, 0.5))
    red.affine = (
        green.affine.affine_matrix
        @ np.diag([1, 0.5, 0.5, 1])
        @ t.napari_affine(shape, ndim=3)
        @ np.linalg.inv(np.diag([1, 0.5, 0.5, 1]))
    )
    m = layer_alignment(red, green)
    np.testing.assert_allclose(m, t.matrix(shape), atol=1e-9)
    np.testing.assert_allclose(green_to_red_matrix(m, shape), t.inverse_matrix(shape), atol=1e-9)
    assert layer_alignment(green, green) is None


def test_loaded_csv_is_view_only_until_adopted(viewer_with_points, traces, qtbot, tmp_path,
                                               monkeypatch):  # fmt: skip
    """Review 8 finding 3: "Load traces CSV…" then "Compute cleaned" replaced the session's
    traces with the loaded file. A loaded table is shown only; "Use as the session's traces"
    records it, with parameters naming the file."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QMessageBox

    from napari_catrack.widgets._context import ViewerContext
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    viewer = viewer_with_points
    session = ViewerContext.of(viewer).session
    session.record("traces", tables={"traces": traces}, params={"radius": 3, "fps": FPS})
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.shows_session and not widget.adopt_button.isEnabled()

    other = traces[traces.neuron_id == "b"].assign(dff=lambda d: d.dff * 10)
    path = tmp_path / "other.csv"
    other.to_csv(path, index=False)
    widget.load_csv(str(path))
    assert widget.neurons.count() == 1 and "view only" in widget.status.text()
    qtbot.mouseClick(widget.clean_button, Qt.LeftButton)
    assert "dff_clean" in widget.traces  # the view is cleaned ...
    held = session["traces"]  # ... the session's traces are not touched
    pd.testing.assert_frame_equal(held.tables["traces"], traces)
    assert held.params == {"radius": 3, "fps": FPS}

    # explicitly made the session's traces (after a confirmation), with its provenance
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.Yes)
    qtbot.mouseClick(widget.adopt_button, Qt.LeftButton)
    assert asked
    held = session["traces"]
    assert held.tables["traces"].neuron_id.unique().tolist() == ["b"]
    assert held.params["source"] == "loaded file" and held.params["path"] == str(path)
    assert held.params["cleaning_params"]  # the cleaning run on it goes with it
    assert widget.shows_session and not widget.adopt_button.isEnabled()
    # from now on Compute cleaned writes to the session, as for extracted traces
    qtbot.mouseClick(widget.clean_button, Qt.LeftButton)
    assert session["traces"].params["path"] == str(path)


def test_compute_cleaned_records_the_session_traces(viewer_with_points, traces, qtbot):
    from qtpy.QtCore import Qt

    from napari_catrack.widgets._context import ViewerContext
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    session = ViewerContext.of(viewer_with_points).session
    session.record("traces", tables={"traces": traces}, params={"radius": 3})
    widget = TraceViewerWidget(viewer_with_points)
    viewer_with_points.window.add_dock_widget(widget)
    qtbot.mouseClick(widget.clean_button, Qt.LeftButton)
    assert "dff_clean" in session["traces"].tables["traces"]
    assert session["traces"].params["radius"] == 3 and "cleaning" in session["traces"].params


def test_adopting_traces_removes_the_results_of_the_old_ones(
    viewer_with_points, traces, qtbot, tmp_path, monkeypatch
):
    """verify N2: "Use as the session's traces" left the transients and ensembles measured on
    the old traces (the dialog said they would use the new table). The dialog now lists them,
    Yes removes them through the session (docked widgets refresh) and keeps the user's cell
    verdicts of the neurons still there."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QMessageBox

    from napari_catrack.core.transients import empty_table
    from napari_catrack.widgets._context import ViewerContext
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    viewer = viewer_with_points
    session = ViewerContext.of(viewer).session
    session.record("traces", tables={"traces": traces}, params={"radius": 3, "fps": FPS})
    rows = empty_table().reindex(range(3))
    rows = rows.assign(neuron_id=["a", "b", "c"], start_frame=[10, 20, 30], peak_frame=[12, 22, 32], end_frame=[15, 25, 35], transient_id=[0, 0, 0])  # fmt: skip
    verdicts = pd.DataFrame({"neuron_id": ["a", "b"], "status": ["rejected", "accepted"], "reason": ["mine", ""]})  # fmt: skip
    session.record("transients", tables={"transients": rows, "verdicts": verdicts}, attrs={"fps": FPS})  # fmt: skip
    session.record("ensembles", tables={"events": pd.DataFrame(), "members": pd.DataFrame()})
    session.record("eta", tables={"eta": pd.DataFrame()})
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    curation = viewer.window.add_plugin_dock_widget("napari-catrack", "Transients curation")[1]
    assert curation.cell_list.count() == 3

    path = tmp_path / "two.csv"
    traces[traces.neuron_id.isin(["b", "c"])].to_csv(path, index=False)
    widget.load_csv(str(path))
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.Yes)  # fmt: skip
    qtbot.mouseClick(widget.adopt_button, Qt.LeftButton)
    assert "will be removed" in asked[0] and "transients (3 detected in 3 cells)" in asked[0]
    assert "ensembles" in asked[0] and "eta" in asked[0] and "verdicts" in asked[0]
    assert session["traces"].tables["traces"].neuron_id.unique().tolist() == ["b", "c"]
    assert "ensembles" not in session and "eta" not in session
    assert len(session["transients"].tables["transients"]) == 0  # was: 3, of the old traces
    kept = session["transients"].tables["verdicts"]  # the curation of "b" stays; "a" is gone
    assert kept[["neuron_id", "status"]].values.tolist() == [["b", "accepted"]]
    status = widget.status.text()
    assert "removed (computed from the old traces): transients (3 detected in 3 cells), ensembles" in status  # fmt: skip
    qtbot.waitUntil(lambda: curation.cell_list.count() == 2)  # the docked curation refreshed

    # nothing computed from the traces: the dialog lists nothing to remove
    widget.load_csv(str(path))
    qtbot.mouseClick(widget.adopt_button, Qt.LeftButton)
    assert "will be removed" not in asked[1] and "removed" not in widget.status.text()


def _one_bright_neuron_viewer(make_napari_viewer, n: int, size: int = 40):
    """A viewer holding an n-frame green movie with one bright disc (radius 5) at (20, 20)."""
    yy, xx = np.mgrid[:size, :size]
    green = np.full((n, size, size), 100.0)
    green[:, np.hypot(yy - 20, xx - 20) <= 5] = 300.0
    viewer = make_napari_viewer()
    viewer.add_image(green, name="g", metadata={"catrack": {"role": "green", "fps": 4.0}})
    return viewer


@pytest.mark.parametrize("kind", ["points", "tracks"])
def test_extract_leaves_lost_frames_out_and_says_so(make_napari_viewer, qtbot, kind):
    """The widget passes the layer's `status` (and `source`) to the extraction: the frames where
    the tracker had lost the neuron are NaN, and the status line says how many (h16)."""
    from napari_catrack.layers import tracks_layer
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    n = 20
    viewer = _one_bright_neuron_viewer(make_napari_viewer, n)
    status = np.where((np.arange(n) >= 5) & (np.arange(n) < 9), "lost", "tracked")
    source = np.full(n, "auto", dtype=object)
    source[6] = "manual"  # you placed the point in frame 6: measured
    tracks = pd.DataFrame({"neuron_id": "n1", "frame": np.arange(n), "y": 20.0, "x": 20.0,
                           "status": status, "source": source})  # fmt: skip
    if kind == "points":
        coords = tracks[["frame", "y", "x"]].to_numpy(float)
        feats = {"neuron_id": ["n1"] * n, "status": status, "source": source}
        viewer.add_points(coords, features=feats, name="neurons")
    else:
        data, meta, _ = tracks_layer(tracks, name="neurons")
        viewer.add_tracks(data, **meta)
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.points.setCurrentText("neurons")
    wait_job(qtbot, widget.extract(), timeout=30000)
    df = widget.traces.sort_values("frame")
    gone = [5, 7, 8]  # (a Tracks layer had no source: your point in frame 6 was NaN there)
    assert df.green.isna().to_numpy().nonzero()[0].tolist() == gone
    assert np.allclose(df.green.dropna(), 200.0)
    assert f"1 neuron(s) had lost frames: {len(gone)} samples missing" in widget.status.text()
    assert "'lost frames: measure' keeps them" in widget.status.text()


def test_the_status_line_counts_the_samples_with_too_little_red(make_napari_viewer, qtbot):
    """The low-red warning went by in a toast: the status line said nothing of the samples whose
    ratio was set to NaN (the worm sample: 192 of them; h17 walk)."""
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    n = 20
    viewer = _one_bright_neuron_viewer(make_napari_viewer, n)
    yy, xx = np.mgrid[:40, :40]
    red = 100.0 + np.random.default_rng(0).normal(0, 2.0, (n, 40, 40))
    red[:, np.hypot(yy - 20, xx - 20) <= 5] += 200.0
    red[5:9] = 100.0 + np.random.default_rng(1).normal(0, 2.0, (4, 40, 40))  # its red gone
    viewer.add_image(red, name="r", metadata={"catrack": {"role": "red"}})
    coords = np.column_stack([np.arange(n), np.full(n, 20.0), np.full(n, 20.0)])
    viewer.add_points(coords, features={"neuron_id": ["n1"] * n}, name="neurons")
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.points.setCurrentText("neurons")
    wait_job(qtbot, widget.extract(), timeout=30000)  # (its warning: in the job's thread)
    df = widget.traces.sort_values("frame")
    assert df.red_invalid.to_numpy().nonzero()[0].tolist() == [5, 6, 7, 8]
    assert (
        "4 sample(s) with too little red to divide by: ratio and ΔR/R₀ NaN" in widget.status.text()
    )


@pytest.mark.parametrize("recorded, shown", [(None, "measure"), ("missing", "missing")])
def test_a_sessions_traces_from_before_lost_frames_show_measure(
    viewer_with_points, traces, qtbot, recorded, shown
):
    """The form shows the values the session's traces were extracted with: a record without
    `lost_frames` (before h16) measured the lost frames, so Extract again must not switch to
    this version's default (missing) behind the user's back (h16 review)."""
    from napari_catrack.core.signals.params import TracesParams
    from napari_catrack.widgets._context import ViewerContext
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    params = TracesParams().to_dict()
    if recorded is None:
        del params["lost_frames"]
    else:
        params["lost_frames"] = recorded
    session = ViewerContext.of(viewer_with_points).session
    session.record("traces", tables={"traces": traces}, params=params)
    widget = TraceViewerWidget(viewer_with_points)
    viewer_with_points.window.add_dock_widget(widget)
    assert widget.form.params().lost_frames == shown


def test_status_line_explains_every_grey_band(make_napari_viewer, qtbot):
    """The status line counted only the lost samples; the plot's grey bands also mark frames
    whose ROI lies outside the image (the worm moving out of the field), so a user saw more
    grey than the line counted, and nothing said what grey meant."""
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    n = 20
    viewer = _one_bright_neuron_viewer(make_napari_viewer, n)
    frames = np.arange(n)
    status = np.where((frames >= 5) & (frames < 8), "lost", "tracked")  # 3 lost samples
    x = np.where((frames >= 12) & (frames < 16), -60.0, 20.0)  # 4 frames off the image
    feats = {"neuron_id": ["n1"] * n, "status": status, "source": ["auto"] * n}
    viewer.add_points(np.c_[frames, np.full(n, 20.0), x], features=feats, name="neurons")
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.points.setCurrentText("neurons")
    widget.extract_button.click()
    qtbot.waitUntil(lambda: widget.traces is not None and not widget.job.running, timeout=30000)
    df = widget.traces.sort_values("frame")
    assert df.green.isna().to_numpy().nonzero()[0].tolist() == [5, 6, 7, 12, 13, 14, 15]
    line = widget.status.text()
    assert "1 neuron(s) had lost frames: 3 samples missing" in line
    assert "4 more sample(s) missing" in line
    assert "grey bands in the plot mark the missing frames" in line


def test_the_plotted_neuron_is_named_and_shown_in_the_list(make_napari_viewer, qtbot):
    """Picking neuron n25 of 30 (in the viewer, or by stepping cells in curation): the list
    stayed scrolled at n1..n6 and a one-neuron plot has no legend, so nothing on screen said
    which neuron was plotted."""
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    viewer = make_napari_viewer()
    t = np.arange(T)
    table = pd.concat(
        [pd.DataFrame({"neuron_id": f"n{k}", "frame": t, "dff": np.sin(t / (k + 1))})
         for k in range(1, 31)],
        ignore_index=True,
    )  # fmt: skip
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_traces(table)
    widget.select(["n25"])
    qtbot.wait(50)
    item = widget.neurons.item(24)
    assert item.text() == "n25" and item.isSelected()
    assert widget.neurons.viewport().rect().contains(widget.neurons.visualItemRect(item))
    assert widget._axes[0].get_title() == "n25"
    widget.select(["n3", "n4"])  # two neurons: the legend names them, no title
    assert widget._axes[0].get_title() == ""


def test_the_dff_checkbox_names_what_its_panel_shows(viewer_with_points, traces):
    """The panel checkbox said "ΔF/F" where its axis said ΔR/R₀ (a two-channel recording's dff
    is the ratio's, h16 GUI walk): it now names what it shows, ΔF/F for a green-only dff."""
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    widget = TraceViewerWidget(viewer_with_points)
    viewer_with_points.window.add_dock_widget(widget)
    # two channels: the red dims with the green (motion), so dR/R0 differs from green dF/F0
    two = traces.assign(dff_green=traces["dff"] + 0.5)
    widget.set_traces(two)
    boxes = {name: box.text() for name, box in widget.panel_boxes.items()}
    assert boxes["dff"] == "ΔR/R₀" and boxes["cleaned"] == "cleaned ΔR/R₀"
    assert boxes["dff_green"] == "green ΔF/F"
    assert widget._axes[widget.panels().index("dff")].get_ylabel() == boxes["dff"]
    widget.set_traces(traces.assign(dff_green=traces["dff"]))  # green only: dff is dF/F0
    assert widget.panel_boxes["dff"].text() == "ΔF/F"
    assert widget.panel_boxes["cleaned"].text() == "cleaned ΔF/F"
    assert widget._axes[widget.panels().index("dff")].get_ylabel() == "ΔF/F"


def test_a_csv_opened_beside_a_killed_set_leaves_its_old_movie_to_a_background_thread(
    viewer_with_points, traces, tmp_path, monkeypatch
):
    """Load CSV runs on napari's GUI thread, and reading the table first finishes a set a killed
    run left in its folder: the older registered movie's zarr was deleted there (seconds for a
    large one: the viewer froze). Its deletion now runs in a background thread; the table is
    read and the folder ends as a synchronous recovery leaves it."""
    import os
    import threading

    from napari_catrack.io import atomic
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget
    from tests.core.test_recovery_review import _killed_movie_set

    paths = _killed_movie_set(tmp_path)
    path = tmp_path / "traces.csv"
    traces.to_csv(path, index=False)
    widget = TraceViewerWidget(viewer_with_points)
    viewer_with_points.window.add_dock_widget(widget)
    on_main, real_rmtree = [], atomic.shutil.rmtree

    def rmtree(p, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            on_main.append(os.path.basename(p))
        return real_rmtree(p, *args, **kwargs)

    monkeypatch.setattr(atomic.shutil, "rmtree", rmtree)
    widget.load_csv(str(path))
    assert set(widget.traces.neuron_id) == set(traces.neuron_id)
    assert on_main == []  # (before: [".reg.zarr.3333cccc.old"])
    assert paths["shifts"].read_text() == "new\n"
    assert atomic.wait_for_cleanup(timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_tables_rate_is_read_by_the_one_rule_of_times(viewer_with_points, traces):
    """h20: the widget's own median of frame / time_s read a suite2p plane's traces (every
    sample 0.1 s late in the volume) as 4.92 Hz and made it the rate in force for every
    widget; and it read a rate from times with a dropped frame. Now
    `core.transients.frame_rate_of_times`, as `catrack transients` and the Transients widget."""
    from napari_catrack.widgets._context import ViewerContext
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    widget = TraceViewerWidget(viewer_with_points)
    ctx = ViewerContext.of(viewer_with_points)
    widget.set_traces(traces.assign(time_s=traces["time_s"] + 0.1))  # plane 2 of a volume
    assert ctx.fps() == pytest.approx(FPS, rel=1e-9)  # before: 4.92
    assert ctx.fps_source() == "from the traces' time_s"

    gap = traces.assign(time_s=traces["time_s"] + (traces["frame"] >= 30) / FPS)
    widget.traces = gap.assign(neuron_id=gap["neuron_id"].astype(str))
    assert widget._fps() is None  # before: 4.92, a rate no frame keeps


def test_the_cursor_does_not_read_the_tables_rate_at_every_step(
    viewer_with_points, traces, monkeypatch
):
    """h21 review: the rate of the traces' time_s (`_fps`, by the one rule of a table's times,
    which reads the whole table: 0.7 s for 600,000 rows) was read again at every step of the
    slider, for the cursor, so playing the movie stalled the viewer. It is read once per table."""
    import napari_catrack.core.transients.features as features
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    widget = TraceViewerWidget(viewer_with_points)
    widget.set_traces(traces)
    calls = []
    real = features.fps_from_times
    monkeypatch.setattr(
        features, "fps_from_times", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    for frame in range(10, 20):
        viewer_with_points.dims.set_current_step(0, frame)
    assert widget.cursor_x() == pytest.approx(19 / FPS)
    assert len(calls) <= 1
    widget.traces = traces.assign(time_s=traces["time_s"] * 2)  # another table: read again
    assert widget._fps() == pytest.approx(FPS / 2)


def test_worm_path_extraction_is_hidden_over_two_photon_traces(make_napari_viewer, tmp_path):
    """Over a two-photon session's traces (its cells', here imported from suite2p) the widget
    showed the worm path's extraction controls (neurons layer, ROI radius, Extract), and
    Extract would have replaced the cells' traces (h21 leftover): they are hidden, a note says
    where the traces come from. A worm session shows them again."""
    from napari_catrack.session import attach_session
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    from ..core._session_helpers import two_photon_session, worm_session

    viewer = make_napari_viewer()
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    worm_path = (widget.points, widget.radius, widget.extract_button, widget.in_force)
    assert all(w.isVisibleTo(widget) for w in worm_path)  # an empty session: the worm path
    session, _ = two_photon_session(tmp_path / "2p")
    session["sources"].attrs["origin"] = "suite2p"
    attach_session(viewer, session)
    assert not any(w.isVisibleTo(widget) for w in worm_path)
    assert widget.sources_note.isVisibleTo(widget)
    assert "imported from suite2p" in widget.sources_note.text()
    assert widget.fps.isVisibleTo(widget) and widget.load_button.isVisibleTo(widget)
    assert widget.neurons.count() == 4  # the cells' traces are shown
    attach_session(viewer, worm_session(tmp_path / "worm", video=False)[0])
    assert all(w.isVisibleTo(widget) for w in worm_path)
    assert not widget.sources_note.isVisibleTo(widget)


def test_extract_called_from_code_refuses_over_two_photon_traces(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    """The extraction controls are hidden over a two-photon session's traces, but
    `TraceViewerWidget.extract()` called from code still measured at tracked neurons and
    replaced the cells' traces. It now refuses with the note the widget shows (status line),
    the session's traces untouched. Fails on the old code (a job started)."""
    from napari_catrack.session import attach_session
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    from ..core._session_helpers import two_photon_session

    session, _ = two_photon_session(tmp_path / "2p")
    before = session["traces"].tables["traces"].copy()
    viewer = make_napari_viewer()
    widget = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(widget)
    attach_session(viewer, session)
    # all the worm path needs: a green movie and a neurons layer (what the old code measured)
    viewer.add_image(np.zeros((T, 32, 32), np.uint16), name="g", metadata={"catrack": {"role": "green"}})  # fmt: skip
    coords = np.c_[np.arange(T), np.full(T, 16.0), np.full(T, 16.0)]
    viewer.add_points(coords, features={"neuron_id": ["a"] * T}, name="neurons")
    widget.points.setCurrentText("neurons")
    assert widget.sources_note.isVisibleTo(widget)  # the case itself: controls hidden
    job = widget.extract()
    if job is not None:  # (old code: let it finish, then the assertions say what it did)
        wait_job(qtbot, job, timeout=60000)
    assert job is None
    assert widget.status.text() == widget.sources_note.text()
    assert widget.status.text().startswith("the session's traces are its two-photon cells'")
    pd.testing.assert_frame_equal(session["traces"].tables["traces"], before)
