"""Transient curation widget in a real napari.Viewer: detection on constructed traces, mouse and
keyboard edits with undo/redo, cell verdicts, following the cell in the viewer, a polygon cell,
exports, and the session round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui

FPS, T, H, W = 10.0, 600, 32, 32
TRUTH = {"a": [50, 200, 400], "b": [120, 300, 480], "c": [250]}
ROI_PEAK = 350  # the polygon cell's one transient
RECT = np.array([[9.5, 7.5], [9.5, 13.5], [15.5, 13.5], [15.5, 7.5]])  # rows 10..15, cols 8..13
POS = {"a": (5.0, 5.0), "b": (20.0, 25.0), "c": (28.0, 12.0)}


def _transient(peak: int) -> np.ndarray:
    """Unit transient: 2-frame rise, exponential decay (tau 0.8 s)."""
    k = np.arange(T) - peak
    return np.where(k >= 0, np.exp(-np.clip(k, 0, None) / (0.8 * FPS)), 0.0) + np.where(
        (k < 0) & (k >= -2), (3 + k) / 3.0, 0.0
    )


def _traces() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frames = np.arange(T)
    rows = [
        pd.DataFrame(
            {
                "neuron_id": nid,
                "frame": frames,
                "time_s": frames / FPS,
                "dff": sum(_transient(p) for p in peaks) + rng.normal(0, 0.02, T),
            }
        )
        for nid, peaks in TRUTH.items()
    ]
    return pd.concat(rows, ignore_index=True)


def _stack() -> np.ndarray:
    """Green movie: 10 everywhere, the polygon cell at 100 * (1 + its dF/F)."""
    stack = np.full((T, H, W), 10.0, np.float32)
    stack[:, 10:16, 8:14] = (100 * (1 + _transient(ROI_PEAK)))[:, None, None]
    return stack


@pytest.fixture
def viewer(make_napari_viewer, tmp_path):
    from napari_catrack.session import session_for_viewer

    viewer = make_napari_viewer()
    viewer.add_image(_stack(), name="green")
    ids = np.repeat(list(POS), T)
    yx = np.repeat(np.array(list(POS.values())), T, axis=0)
    coords = np.c_[np.tile(np.arange(T), len(POS)), yx]
    viewer.add_points(coords, features={"neuron_id": ids}, name="neurons")
    session = session_for_viewer(viewer)
    session.path = tmp_path / "s.catrack.h5"
    session.record("traces", tables={"traces": _traces()}, params={"fps": FPS})
    return viewer


def _widget(viewer, qtbot):
    from napari_catrack.widgets.transients import TransientsWidget

    widget = TransientsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


def _detect(widget, qtbot):
    widget.method.setCurrentText("rules")  # the default is the trained detector
    widget.peak_threshold.setValue(0.3)  # noise is 0.02: only the true transients pass
    widget.detect()
    qtbot.waitUntil(lambda: len(widget.state.table) > 0, timeout=20000)
    qtbot.waitUntil(widget.detect_button.isEnabled, timeout=5000)


def _mouse(canvas, kind: str, t: float):
    """A left-button mouse event at time t (s), mid-height of the plot."""
    from matplotlib.backend_bases import MouseEvent

    ax = canvas.ax
    y = np.mean(ax.get_ylim())
    px, py = ax.transData.transform((t, y))
    MouseEvent(kind, canvas, px, py, button=1)._process()


def _drag(canvas, t0: float, t1: float) -> None:
    _mouse(canvas, "button_press_event", t0)
    _mouse(canvas, "motion_notify_event", (t0 + t1) / 2)
    _mouse(canvas, "motion_notify_event", t1)
    _mouse(canvas, "button_release_event", t1)


def test_detect_edit_undo_redo_keys(viewer, qtbot):
    widget = _widget(viewer, qtbot)
    assert list(widget.state.ids) == ["a", "b", "c"]
    assert widget.fps.value() == pytest.approx(FPS)  # from the traces' time_s
    _detect(widget, qtbot)
    table = widget.state.transients()
    for nid, peaks in TRUTH.items():
        found = np.sort(table.loc[table["neuron_id"] == nid, "peak_frame"].to_numpy())
        assert found.size == len(peaks), (nid, found)
        assert np.abs(found - np.asarray(peaks)).max() <= 2
    assert widget.transient_model.rowCount() == len(table)
    assert widget.cell_model.rowCount() == 3
    rec = viewer_session(viewer)["transients"]
    assert set(rec.tables) >= {"transients", "cells", "verdicts"}
    assert rec.params["method"] == "rules" and rec.params["peak_threshold"] == 0.3

    # drag on cell c's plot adds a manual transient from start to end, peak = max inside
    widget.select_cell("c")
    canvas = widget.canvas
    canvas.draw()
    _drag(canvas, 540 / FPS, 570 / FPS)
    new = widget.state.table[widget.state.table["source"] == "manual"]
    assert len(new) == 1 and new["neuron_id"].item() == "c"
    assert (new["start_frame"].item(), new["end_frame"].item()) == (540, 570)
    y = widget.state.trace("c")
    assert new["peak_frame"].item() == 540 + int(np.argmax(y[540:571]))
    assert widget.selected_tid == int(new["transient_id"].item())
    n = len(widget.state.table)
    assert widget.undo() and len(widget.state.table) == n - 1
    assert widget.redo() and len(widget.state.table) == n
    pd.testing.assert_frame_equal(widget.state.table[widget.state.table["source"] == "manual"], new)

    # click a detected transient of cell a: it is selected and the time slider jumps there
    widget.select_cell("a")
    canvas.draw()
    row = widget.state.table[
        (widget.state.table["neuron_id"] == "a") & (widget.state.table["peak_frame"] > 150)
    ].iloc[0]
    tid, end = int(row["transient_id"]), int(row["end_frame"])
    _mouse(canvas, "button_press_event", row["peak_frame"] / FPS)
    _mouse(canvas, "button_release_event", row["peak_frame"] / FPS)
    assert widget.selected_tid == tid
    assert viewer.dims.current_step[0] == row["peak_frame"]
    assert canvas.cursor_time() == pytest.approx(row["peak_frame"] / FPS)

    # drag its end edge 30 frames later: adjusted, manual, peak unchanged
    _drag(canvas, end / FPS, (end + 30) / FPS)
    adj = widget.state.table.set_index("transient_id").loc[tid]
    assert adj["end_frame"] == end + 30 and adj["source"] == "manual"
    assert adj["peak_frame"] == row["peak_frame"]

    # keys: D deletes the selected transient, Ctrl+Z brings it back, Ctrl+Shift+Z removes again
    qtbot.keyClick(canvas, Qt.Key_D)
    assert tid not in set(widget.state.table["transient_id"])
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier)
    assert tid in set(widget.state.table["transient_id"])
    qtbot.keyClick(canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert tid not in set(widget.state.table["transient_id"])
    assert tid not in set(viewer_session(viewer)["transients"].tables["transients"]["transient_id"])

    # add mode (A): a click adds a transient at the nearest peak (bounds by the walk-out rule)
    qtbot.keyClick(canvas, Qt.Key_A)
    assert widget.add_mode
    _mouse(canvas, "button_press_event", 201 / FPS)
    _mouse(canvas, "button_release_event", 201 / FPS)
    again = widget.state.table[widget.state.table["neuron_id"] == "a"]
    assert abs(int(again["peak_frame"].iloc[1]) - 200) <= 1
    assert again["source"].iloc[1] == "manual"
    qtbot.keyClick(canvas, Qt.Key_Escape)
    assert not widget.add_mode


def viewer_session(viewer):
    from napari_catrack.session import session_for_viewer

    return session_for_viewer(viewer)


def test_verdicts_filter_keys_follow_polygon_export_restore(viewer, qtbot, tmp_path):
    from napari_catrack.session import Session, attach_session

    widget = _widget(viewer, qtbot)
    _detect(widget, qtbot)
    points = viewer.layers["neurons"]

    # verdicts with reasons; the cells table and the session follow
    widget.select_cell("a")
    widget.accept_cell()
    widget.select_cell("b")
    widget.reason.setCurrentText("other")
    widget.reason_text.setText("twin of a")
    qtbot.keyClick(widget.cell_list, Qt.Key_R)
    cells = widget.state.cells().set_index("neuron_id")
    assert cells.loc["a", "status"] == "accepted" and bool(cells.loc["a", "verified"])
    assert (cells.loc["b", "status"], cells.loc["b", "reason"]) == ("rejected", "twin of a")
    assert cells.loc["c", "status"] == "unverified" and not cells.loc["c", "verified"]
    saved = viewer_session(viewer)["transients"].tables["cells"].set_index("neuron_id")
    assert saved.loc["b", "reason"] == "twin of a"
    widget.filter.setCurrentText("rejected")
    assert widget.visible_cells() == ["b"]
    widget.filter.setCurrentText("unverified")
    assert widget.visible_cells() == ["c"]
    widget.filter.setCurrentText("all")

    # stepping with keys; the viewer selects that neuron's point at the current frame
    viewer.dims.set_current_step(0, 42)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.zoom *= 20  # zoomed in on a corner: b is out of view ...
    camera.center = (0.0, 0.0)
    widget.select_cell("a")
    qtbot.keyClick(widget.cell_list, Qt.Key_N)
    assert widget.current == "b"
    assert points.selected_data != {T + 42}  # the viewer follows once the keys rest ...
    qtbot.waitUntil(lambda: points.selected_data == {T + 42})  # ... b's point in frame 42
    assert tuple(camera.center[-2:]) == pytest.approx(POS["b"])  # ... so the view moves to it
    camera.zoom = 1.0  # zoomed out, everything in view: stepping leaves the view alone
    qtbot.keyClick(widget.cell_list, Qt.Key_P)
    widget.follow_current()
    assert widget.current == "a" and tuple(camera.center[-2:]) == pytest.approx(POS["b"])
    qtbot.keyClick(widget.cell_list, Qt.Key_N)
    qtbot.keyClick(widget.canvas, Qt.Key_Down)
    assert widget.current == "c"
    qtbot.keyClick(widget.canvas, Qt.Key_P)
    assert widget.current == "b"
    widget.next_button.click()
    assert widget.current == "c"

    # undo / redo also cover verdicts
    assert widget.undo() and widget.state.status("b") == ("unverified", "")
    assert widget.redo() and widget.state.status("b") == ("rejected", "twin of a")

    # a polygon drawn over the movie becomes cell roi-1 with its known trace; red is read
    # through the session's alignment (red pixel p lands at p + (dy, dx) in green)
    dy, dx = 2, -3
    red = np.full((T, H, W), 5.0, np.float32)
    red[:, 10 - dy : 16 - dy, 8 - dx : 14 - dx] = 50.0
    viewer.add_image(red, name="red", metadata={"catrack": {"role": "red"}})
    viewer_session(viewer).record("alignment", attrs={"dy": dy, "dx": dx, "rotation_deg": 0.0})
    viewer.add_shapes([np.c_[np.full(4, 42.0), RECT]], shape_type="polygon", name="rois")
    job = widget.add_polygon_cell()
    assert job is not None
    qtbot.waitUntil(lambda: "roi-1" in set(widget.state.ids), timeout=20000)
    # ratio = 2 (1 + dF/F) with R0 = 2, so dR/R0 is the constructed transient exactly
    np.testing.assert_allclose(widget.state.trace("roi-1"), _transient(ROI_PEAK), atol=1e-6)
    roi = viewer_session(viewer)["transients"].tables["roi_traces"]
    np.testing.assert_allclose(roi["red"], 50.0)
    assert widget.current == "roi-1"
    assert "roi-1" in set(widget.state.cells()["neuron_id"])
    widget.add_span(ROI_PEAK - 3, ROI_PEAK + 20)
    roi_rows = widget.state.table[widget.state.table["neuron_id"] == "roi-1"]
    assert roi_rows["peak_frame"].tolist() == [ROI_PEAK]

    # exports read back
    csv = widget.export(tmp_path / "out" / "tr.csv")
    xlsx = widget.export(tmp_path / "out" / "tr.xlsx")
    assert [p.name for p in csv] == ["tr.csv", "tr_cells.csv"]
    back = pd.read_csv(csv[0])
    pd.testing.assert_series_equal(
        back["peak_frame"], widget.state.transients()["peak_frame"], check_dtype=False
    )
    assert pd.read_csv(csv[1]).set_index("neuron_id").loc["b", "status"] == "rejected"
    back_x = pd.read_excel(xlsx[0])
    assert back_x["transient_id"].tolist() == widget.state.transients()["transient_id"].tolist()
    figs = widget.export_figures(tmp_path / "figs", "svg")
    assert len(figs) == 4 and all(p.stat().st_size > 1000 for p in figs)

    # the autosaved session file (written 1 s after the last edit) restores a fresh widget
    qtbot.waitUntil(lambda: not widget._save_timer.isActive(), timeout=5000)
    loaded = Session.load(tmp_path / "s.catrack.h5")
    assert "transients" in loaded
    attach_session(viewer, loaded)
    again = _widget(viewer, qtbot)
    assert list(again.state.ids) == ["a", "b", "c", "roi-1"]
    pd.testing.assert_frame_equal(
        again.state.transients()[["transient_id", "neuron_id", "peak_frame", "source"]],
        widget.state.transients()[["transient_id", "neuron_id", "peak_frame", "source"]],
    )
    assert again.state.status("b") == ("rejected", "twin of a")
    np.testing.assert_allclose(again.state.trace("roi-1"), widget.state.trace("roi-1"))


def test_csv_source_errors_and_render(make_napari_viewer, qtbot, tmp_path):
    from napari_catrack.widgets.transients import TransientsWidget

    viewer = make_napari_viewer(show=True)
    widget = TransientsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.detect() is None  # no traces: one-line error, no crash
    # wide table (one row a cell), frames starting at 100: edits stay in recording frames
    wide = _traces().pivot(index="neuron_id", columns="frame", values="dff")
    wide.columns = wide.columns + 100
    wide.reset_index().to_csv(tmp_path / "wide.csv", index=False)
    assert not widget.load_csv(tmp_path / "wide.csv")  # no time column, no frame rate yet
    assert "frame rate is unknown" in widget.status.text()
    widget.fps.setValue(FPS)  # typed once, for every widget
    assert widget.load_csv(tmp_path / "wide.csv")
    assert widget.state.frame0 == 100
    widget.select_cell("c")
    widget.add_span(10, 30)
    row = widget.state.transients().iloc[0]
    assert (row["start_frame"], row["end_frame"]) == (110, 130)
    assert row["start_time_s"] == pytest.approx(11.0)
    # k-sigma detection on the same traces: peaks in recording frames (offset 100)
    widget.method.setCurrentText("ksigma")
    assert not widget.snr.isEnabled() and widget.k.isEnabled()
    widget.abs_threshold.setValue(0.3)  # c is nearly silent (tiny sigma)
    widget.detect()
    qtbot.waitUntil(lambda: (widget.state.table["source"] == "ksigma").any(), timeout=20000)
    found = widget.state.transients().groupby("neuron_id")["peak_frame"].apply(sorted)
    for nid, peaks in TRUTH.items():
        assert len(found[nid]) == len(peaks)
        assert np.abs(np.asarray(found[nid]) - np.asarray(peaks) - 100).max() <= 2
    (tmp_path / "bad.csv").write_text("neuron_id,frame,dff\na,0,x\n")
    assert not widget.load_csv(tmp_path / "bad.csv")
    assert list(widget.state.ids) == ["a", "b", "c"]  # the bad file changed nothing

    assert widget.canvas.focusPolicy() & Qt.ClickFocus  # clicking the plot routes keys to it
    widget.canvas.draw()
    image = widget.canvas.grab().toImage()  # the plot itself (where the widget's rows fall
    assert image.width() > 100 and image.height() > 100  # depends on the Qt binding's layout)
    pixels = np.array([image.pixel(x, y) for x in range(0, image.width(), 7)
                       for y in range(0, image.height(), max(image.height() // 8, 1))])  # fmt: skip
    assert np.unique(pixels).size > 5  # something was drawn


def test_smoothing_defaults_to_the_adaptive_window(make_napari_viewer):
    from napari_catrack.core.transients.params import TransientParams
    from napari_catrack.widgets.transients import TransientsWidget

    widget = TransientsWidget(make_napari_viewer())
    assert widget.smooth.text() == "auto"
    assert widget.detect_params() == TransientParams()  # the defaults, from one place
    widget.method.setCurrentText("ksigma")
    assert widget.detect_params().ksigma_smooth_window_s() == 0.2  # k-sigma's fixed 0.2 s
    widget.smooth.setText("0.1")
    assert widget.detect_params().smooth_window_s == 0.1


def test_train_a_detector_from_curated_cells_and_detect_with_it(viewer, qtbot):
    from napari_catrack.core.transients.learned import detector_from_bytes
    from napari_catrack.session import Session
    from napari_catrack.widgets._transients_model import STEP as DETECTOR_STEP

    widget = _widget(viewer, qtbot)
    _detect(widget, qtbot)
    widget.state.set_verdict("a", "accepted")
    widget.state.set_verdict("b", "accepted")
    panel = widget.detector_panel
    assert panel.current() is None and "shipped" in panel.name_label.text()
    panel.hidden.setValue(8)
    panel.epochs.setValue(3)
    wait_job(qtbot, panel.train())
    det = panel.current()
    assert det is not None and det.meta["cells"] == ["a", "b"]  # accepted cells only
    assert det.config.hidden == 8 and "2 cells" in panel.name_label.text()
    assert panel.bar.value() == 100 and panel.train_button.isEnabled()

    # a cancelled training keeps the detector we had
    panel.epochs.setValue(200)
    job = panel.train()
    panel.cancel()
    wait_job(qtbot, job)
    assert panel.current() is det and "cancelled" in panel.last_outcome

    widget.method.setCurrentText("model")
    assert not widget.k.isEnabled() and not widget.smooth.isEnabled()
    wait_job(qtbot, widget.detect())
    assert widget.last_params["method"] == "model" and widget.last_params["model"] == "tcn"

    # the detector travels in the session file, weights intact
    widget.flush_session()
    back = Session.load(widget.session.path)[DETECTOR_STEP]
    again = detector_from_bytes(back.arrays["weights"].tobytes())
    y = widget.state.dff
    np.testing.assert_allclose(again.probability(y, FPS), det.probability(y, FPS))

    # going back to the shipped detector asks before dropping an unsaved trained one
    panel._confirm_discard = lambda: False
    panel.shipped_button.click()
    assert panel.current() is det and DETECTOR_STEP in widget.session
    panel._confirm_discard = lambda: True
    panel.shipped_button.click()
    assert panel.current() is None and DETECTOR_STEP not in widget.session

    # a session without a detector brings back the shipped one
    panel.set_detector(det)
    widget.session.remove(DETECTOR_STEP)
    panel.restore()
    assert panel.current() is None


def test_train_on_curated_cells_says_when_the_detector_misses_its_own_labels(viewer, qtbot):
    """h22: "Train on curated cells" did not run `labelled_found`, the check of `catrack
    train-detector` that a new detector finds its own labels: one epoch of a small network
    from scratch finds few of the 6 labelled transients, and the widget said only "trained".
    Now the worker runs the check and its warning ends the widget's status line, with the
    numbers `labelled_found` gives for the same detector. Fails on 215e322 (no warning)."""
    from napari_catrack.core.transients.training import labelled_found, training_data

    widget = _widget(viewer, qtbot)
    _detect(widget, qtbot)
    widget.state.set_verdict("a", "accepted")
    widget.state.set_verdict("b", "accepted")
    panel = widget.detector_panel
    panel.hidden.setValue(8)
    panel.epochs.setValue(1)
    wait_job(qtbot, panel.train())
    det = panel.current()
    assert det is not None
    dff, ids, table, fps, statuses = widget.training_source()
    traces, intervals, _ = training_data(dff, ids, table, fps, statuses)
    found, labelled, called = labelled_found(det, traces, fps, intervals)
    assert labelled == 6 and (found < 3 or called > 12)  # an undertrained detector
    said = (
        f"warning: the detector finds {found} of the 6 labelled transients on the traces it "
        f"was trained on, and calls {called} in all: train longer (epochs; 1 now)"
    )
    text = widget.status.text()
    assert text.startswith("trained tcn") and text.endswith(said), text
    assert panel.last_outcome == text


def test_a_session_opened_with_traces_gives_them_to_the_widget(make_napari_viewer, tmp_path):
    """A session of `catrack batch` or `demo` (its transients step names no traces source) showed
    "no traces loaded" until "Use session traces" was pressed, with the widget docked before
    or after opening it (scale review 7, item 11): the session's traces are taken at once."""
    from napari_catrack.core.transients import TransientParams, detect_transients
    from napari_catrack.io.tables import long_to_matrix
    from napari_catrack.session import Session
    from napari_catrack.widgets.transients import TransientsWidget

    traces = _traces()
    m = long_to_matrix(traces, "dff", sort_ids=False)
    table = detect_transients(m.dff, FPS, neuron_ids=m.neuron_ids,
                              params=TransientParams(method="rules"))  # fmt: skip
    only_traces = Session(tmp_path / "traces.catrack.h5")
    only_traces.record("traces", tables={"traces": traces}, attrs={"fps": FPS})
    batch = Session(tmp_path / "batch.catrack.h5")
    batch.record("settings", attrs={"fps": FPS})
    batch.record("traces", tables={"traces": traces}, attrs={"fps": FPS})
    batch.record("transients", tables={"transients": table}, attrs={"fps": FPS},
                 params=TransientParams(method="rules").to_dict())  # fmt: skip
    for session in (only_traces, batch):  # a layer, or napari says the file held no data
        session.layers = [(np.array([[0.0, 5.0, 5.0]]), {"name": "neurons"}, "points")]
        session.save()
        for docked_first in (True, False):
            viewer = make_napari_viewer()
            if docked_first:
                widget = TransientsWidget(viewer)
                viewer.window.add_dock_widget(widget)
                assert widget.source_label.text() == "no traces loaded"
            viewer.open(str(session.path), plugin="napari-catrack")
            if not docked_first:
                widget = TransientsWidget(viewer)
                viewer.window.add_dock_widget(widget)
            where = (session.path.name, docked_first)
            assert "3 cells x 600 frames (session traces)" in widget.source_label.text(), where
            assert list(widget.state.ids) == ["a", "b", "c"], where
            if session is batch:
                assert len(widget.state.transients()) == len(table) > 0, where


@pytest.mark.parametrize("layout", ["long", "wide"])
def test_lost_neurons_are_left_out_with_a_warning_in_either_layout(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, layout
):
    """Review (h9): a lost neuron (dF/F NaN throughout) was dropped silently from a long traces
    file and refused, with the whole file, in a wide one; `catrack transients` and the batch
    leave it out with a warning naming it. The widget does the same in both layouts."""
    from qtpy.QtWidgets import QFileDialog

    from napari_catrack.widgets.transients import TransientsWidget

    viewer = make_napari_viewer()
    widget = TransientsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.fps.setValue(FPS)
    traces = _traces()
    traces.loc[traces.neuron_id == "b", "dff"] = np.nan
    path = tmp_path / f"{layout}.csv"
    if layout == "long":
        traces.to_csv(path, index=False)
    else:
        wide = traces.pivot(index="neuron_id", columns="frame", values="dff")
        wide.reset_index().to_csv(path, index=False)
    widget.status.setText("an older error")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    qtbot.mouseClick(widget.load_button, Qt.LeftButton)
    assert list(widget.state.ids) == ["a", "c"]
    assert widget.status.text() == (
        "warning: 1 of 3 neuron(s) have no finite dF/F values (neuron_id b): no transients "
        "detected in them"
    )
    assert widget.source_label.text().startswith("2 cells x 600 frames")
    # every neuron lost: refused with one line, the shown traces kept
    traces["dff"] = np.nan
    traces.to_csv(path, index=False)
    qtbot.mouseClick(widget.load_button, Qt.LeftButton)
    assert "every neuron" in widget.status.text() and list(widget.state.ids) == ["a", "c"]


def test_a_measured_frame_between_missing_ones_is_drawn(make_napari_viewer, qtbot):
    """A neuron missing on both sides of one measured frame (lost, re-found for a frame, lost
    again): a line draws nothing for a lone sample, so its value and the transient found on it
    were invisible (a peak marker floating over an empty plot). Now such a sample is a dot, in
    the curation plot and in the Traces widget's panels; the curation plot also shows the
    missing frames as grey bands, as the Traces widget does."""
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    viewer = make_napari_viewer()
    traces = _traces()
    lone = (traces.neuron_id == "a") & traces.frame.between(20, 40) & (traces.frame != 30)
    traces.loc[lone, "dff"] = np.nan  # frame 30 measured, 20-29 and 31-40 missing
    traces["missing"] = lone
    session = session_for_viewer(viewer)
    session.record("traces", tables={"traces": traces}, params={"fps": FPS})
    widget = _widget(viewer, qtbot)
    widget.select_cell("a")
    assert np.flatnonzero(widget.canvas._line.get_markevery()).tolist() == [30]
    # the missing frames are grey bands, as in the Traces widget (there were only gaps)
    bands = [p.vertices[:, 0] for p in widget.canvas._gaps_art.get_paths()]
    got = [float(v) for b in bands for v in (b.min(), b.max())]
    assert got == pytest.approx([19.5 / FPS, 29.5 / FPS, 30.5 / FPS, 40.5 / FPS])
    widget.select_cell("b")  # a cell without lone samples: no dots left over
    assert widget.canvas._line.get_markevery() is None
    assert widget.canvas._gaps_art.get_paths() == []

    panel = TraceViewerWidget(viewer)
    viewer.window.add_dock_widget(panel)
    panel.select(["a"])
    (line,) = [ln for ln in panel._axes[-1].lines if ln.get_label() == "a"]
    assert np.flatnonzero(line.get_markevery()).tolist() == [30]


@pytest.mark.parametrize("ratio", [True, False])
def test_the_curation_plot_names_the_signal_it_shows(make_napari_viewer, tmp_path, ratio):
    """A two-channel recording's `dff` is ΔR/R₀: the Traces widget and the exported figures say
    so, but the curation plot's axis said "dF/F" for the same column (h16 first-hour walk)."""
    from napari_catrack.figures.style import DFF_LABEL, RATIO_LABEL
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.transients import TransientsWidget

    traces = _traces()
    traces["dff_green"] = traces["dff"] * (0.5 if ratio else 1.0)  # the ratio's dff differs
    traces["ratio"] = 1.0 + traces["dff"] if ratio else np.nan
    viewer = make_napari_viewer()
    session = session_for_viewer(viewer)
    session.path = tmp_path / "s.catrack.h5"
    session.record("traces", tables={"traces": traces}, params={"fps": FPS})
    widget = TransientsWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.load_session_traces()
    assert widget.canvas.ax.get_ylabel() == (RATIO_LABEL if ratio else DFF_LABEL)
    traces.to_csv(tmp_path / "t.csv", index=False)  # the same from a long CSV
    widget.canvas.ax.set_ylabel("")
    assert widget.load_csv(tmp_path / "t.csv")
    assert widget.canvas.ax.get_ylabel() == (RATIO_LABEL if ratio else DFF_LABEL)


def test_a_polygon_cell_takes_the_red_rule_and_baseline_the_traces_were_made_with(viewer, qtbot):
    """The session's traces were extracted with min red fraction 0.5 (docs/signals.md suggests
    raising it for data like the worm sample's). A polygon cell took the defaults whatever the
    traces used (0.05 of its own red, the default dF/F baseline): its red at 0.2 of its own in
    frames 100-109 kept a ratio there, where a tracked neuron's would be NaN (h19 review)."""
    from napari_catrack.core.signals.params import TracesParams

    session = viewer_session(viewer)
    made_with = TracesParams(min_red_fraction=0.5).to_dict()
    session.record("traces", tables={"traces": _traces()}, params={**made_with, "fps": FPS})
    widget = _widget(viewer, qtbot)
    red = np.full((T, H, W), 5.0, np.float32)
    red[:, 10:16, 8:14] = 50.0
    red[100:110, 10:16, 8:14] = 10.0  # 0.2 of the cell's own red
    viewer.add_image(red, name="red", metadata={"catrack": {"role": "red"}})
    viewer.add_shapes([np.c_[np.full(4, 42.0), RECT]], shape_type="polygon", name="rois")
    assert widget.add_polygon_cell() is not None
    qtbot.waitUntil(lambda: "roi-1" in set(widget.state.ids), timeout=20000)
    roi = viewer_session(viewer)["transients"].tables["roi_traces"].set_index("frame")
    assert roi.loc[100:109, "ratio"].isna().all() and roi.loc[100:109, "red"].eq(10.0).all()
    assert roi.drop(range(100, 110))["ratio"].notna().all()


def test_the_widget_reads_a_tables_rate_by_the_clis_rule(make_napari_viewer, tmp_path):
    """h19: the widget's own median read a rate from any time_s, the CLI's rule refused real
    timestamps; one rule now (`frame_rate_of_times`): jittery timestamps give their rate, a
    table with a dropped frame is refused, saying so, until a rate is typed."""
    from napari_catrack.widgets.transients import TransientsWidget

    rng = np.random.default_rng(2)
    jitter = _traces()
    jitter["time_s"] += rng.normal(0.0, 0.02 / FPS, len(jitter))  # 2 % of a frame
    gap = _traces()
    gap.loc[gap.frame >= 300, "time_s"] += 1 / FPS  # a dropped frame, not numbered
    jitter.to_csv(tmp_path / "jitter.csv", index=False)
    gap.to_csv(tmp_path / "gap.csv", index=False)
    for name, rate in (("gap.csv", None), ("jitter.csv", FPS)):
        viewer = make_napari_viewer()
        widget = TransientsWidget(viewer)
        assert widget.load_csv(tmp_path / name) is (rate is not None)
        if rate is None:
            assert "time_s states no frame rate, its times are uneven" in widget.status.text()
            assert "frames 299 to 300 take 2 frames" in widget.status.text()
            widget.fps.setValue(FPS)  # typed: the traces load at it
            assert widget.load_csv(tmp_path / name) and widget.state.fps == FPS
        else:
            assert widget.fps.value() == pytest.approx(FPS, rel=1e-3)


def test_uneven_times_with_a_rate_in_force_are_said_and_the_rate_kept(make_napari_viewer, tmp_path):
    """h20: with a rate already in force, traces whose time_s has a dropped frame loaded
    without a word (the transients then timed frame / rate, not by those times); and a
    session's such traces, with no rate set, loaded at their median step's rate
    (`ctx.fps` read `Session.frame_rate`'s own lenient median). Now: no rate from uneven
    times anywhere, and with one in force the status names the frames, the rate kept."""
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets.transients import TransientsWidget

    gap = _traces()
    gap.loc[gap.frame >= 300, "time_s"] += 1 / FPS  # a dropped frame, not numbered
    gap.to_csv(tmp_path / "gap.csv", index=False)
    viewer = make_napari_viewer()
    session_for_viewer(viewer).record("traces", tables={"traces": gap}, save=False)
    widget = TransientsWidget(viewer)
    assert widget.ctx.fps() is None  # before: 10 Hz, from the median step
    assert not widget.load_session_traces()
    assert "frames 299 to 300 take 2 frames" in widget.status.text()
    widget.fps.setValue(7.5)  # typed (not the times' 10 Hz: it must not be replaced)
    for load in (widget.load_session_traces, lambda: widget.load_csv(tmp_path / "gap.csv")):
        assert load()
        status = widget.status.text()
        assert status.startswith(
            "warning: the traces' time_s states no frame rate, its times are uneven: "
            "neuron a's frames 299 to 300 take 2 frames"
        )
        assert "the 7.5 Hz in force times the transients (frame / rate)" in status
        assert widget.ctx.fps() == 7.5 and widget.state.fps == 7.5
        assert widget.fps.value() == pytest.approx(7.5)
        assert widget.ctx.fps_source() == "set by you"


def test_the_detection_line_counts_the_cells_with_transients(make_napari_viewer, qtbot):
    """It said "7 transients in 4 cells" of 4 cells of which 3 had transients (the cells looked
    at, read as the cells with transients); `catrack transients` says "7 transients in 3/4
    neurons". It now says "in 3 of 4 cells"."""
    from napari_catrack.session import session_for_viewer

    viewer = make_napari_viewer()
    frames = np.arange(T)
    flat = pd.DataFrame({"neuron_id": "d", "frame": frames, "time_s": frames / FPS,
                         "dff": np.random.default_rng(2).normal(0, 0.02, T)})  # fmt: skip
    session_for_viewer(viewer).record("traces", tables={"traces": pd.concat([_traces(), flat])}, params={"fps": FPS})  # fmt: skip
    widget = _widget(viewer, qtbot)
    widget.session_button.click()
    assert list(widget.state.ids) == ["a", "b", "c", "d"]
    _detect(widget, qtbot)
    assert set(widget.state.transients()["neuron_id"]) == {"a", "b", "c"}
    assert widget.status.text() == "7 transients in 3 of 4 cells (rules)"
