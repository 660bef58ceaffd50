"""Behavioural bouts in the Worm behaviour widget (a real napari.Viewer): the form reads
`BoutParams`, Compute bouts runs as a job and records the session's "bouts" step as `catrack
velocity --bouts --frames-table` does, the list and the plot's strip show them, and a reopened
session shows them again. Ground truth: the synthetic worm's planted reversals and coils."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from qtpy.QtCore import Qt

from napari_catrack.core.behaviour.params import BoutParams
from napari_catrack.core.behaviour.records import bouts_from_session
from napari_catrack.core.behaviour.scoring import bout_onset_scores
from napari_catrack.session import session_for_viewer

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"


@pytest.fixture(scope="module")
def worm():
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    return make_behaviour_video(300, seed=0)  # the demo's worm: 2 reversals, an omega coil


def _with_velocity(make_napari_viewer, qtbot, worm, tmp_path):
    """A viewer with the worm's video, its true centerlines (coiled frames flagged) recorded as
    step 2 and the velocity computed by the widget's step 3 (clicked)."""
    from napari_catrack.core.behaviour import CenterlineResult
    from napari_catrack.core.behaviour.centerline import resample
    from napari_catrack.core.behaviour.records import record_centerline
    from napari_catrack.widgets.behaviour import BehaviourWidget

    viewer = make_napari_viewer()
    viewer.add_image(worm.frames, name="cam", metadata={"catrack": {"role": "behaviour"}})
    widget = BehaviourWidget(viewer)
    session = session_for_viewer(viewer)
    pts = np.stack([resample(c, 50) for c in worm.truth.centerline])
    T = len(pts)
    status = np.where(worm.truth.coiled, "coiled", "ok").astype(object)
    result = CenterlineResult(pts, status, np.full(T, 100.0), np.full(T, 8.0), np.full(T, 10.0))
    record_centerline(session, result, {})
    stage = tmp_path / "stage.csv"
    worm.stage_table().to_csv(stage, index=False)
    panel = widget.velocity
    panel.stage.setText(str(stage))
    panel.pixel.setValue(worm.pixel_size_um)
    panel.fps.setValue(worm.fps)
    qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    assert "velocity" in session, widget.last_error
    return viewer, widget, session, stage


def _compute(qtbot, widget):
    qtbot.mouseClick(widget.bouts.run_button, Qt.LeftButton)
    assert widget.job is not None and widget.job.what == "bouts", widget.bouts.status.text()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=30000)
    assert widget.job.outcome == "done", widget.bouts.status.text()


def _strip(plot) -> dict[str, int]:
    """{state: bars} of the bout strip over the plot's speed axes."""
    ax = plot.figure.axes[0]
    return {c.get_label().removesuffix(" bouts"): len(c.get_paths()) for c in ax.collections
            if c.get_label().endswith(" bouts")}  # fmt: skip


def test_the_widgets_bouts_find_the_planted_reversals_as_the_command_does(
    make_napari_viewer, qtbot, worm, tmp_path
):
    """Session 20 built bouts for the command line only: the widget had no control for them."""
    from napari_catrack.cli import main
    from napari_catrack.session import Session
    from napari_catrack.widgets.behaviour import BehaviourWidget

    viewer, widget, session, stage = _with_velocity(make_napari_viewer, qtbot, worm, tmp_path)
    panel = widget.bouts
    assert panel.form.params() == BoutParams()  # one config object: the form reads its defaults
    panel.form.control("min_bout_s").setValue(0.4)
    _compute(qtbot, widget)

    table = bouts_from_session(session)
    scores = bout_onset_scores(table, worm.truth.state, worm.truth.coiled, worm.fps,
                               direction=worm.truth.direction)  # fmt: skip
    assert scores["reversal"]["planted"] == 2 and scores["reversal"]["matched"] == 2
    assert scores["reversal"]["precision"] == 1.0
    assert scores["turn"]["planted"] >= 1 and scores["turn"]["recall"] == 1.0
    assert session["bouts"].params == BoutParams(min_bout_s=0.4).to_dict()
    counts = table["state"].value_counts()
    assert panel.status.text().startswith(f"{len(table)} bouts ({counts['forward']} forward, 2 "
                                          "reversal")  # fmt: skip

    # the same inputs through `catrack velocity --bouts --frames-table`: same table, same record
    rec = session["centerline"]
    cl_csv, frames_csv = tmp_path / "cl.csv", tmp_path / "frames.csv"
    rec.tables["centerline"].to_csv(cl_csv, index=False)
    rec.tables["frames"].to_csv(frames_csv, index=False)
    cli_session = tmp_path / "cli.catrack.h5"
    assert main(["velocity", "--stage", str(stage), "--centerline", str(cl_csv),
                 "--pixel-size", str(worm.pixel_size_um), "--fps", str(worm.fps),
                 "--image-size", "256,256", "-o", str(tmp_path / "v.csv"),
                 "--bouts", str(tmp_path / "b.csv"), "--frames-table", str(frames_csv),
                 "--min-bout-s", "0.4", "--session", str(cli_session)]) == 0  # fmt: skip
    cli = Session.load(cli_session)["bouts"]
    assert cli.params == session["bouts"].params
    assert cli.attrs["coiled"] is True and session["bouts"].attrs["coiled"] is True
    pd.testing.assert_frame_equal(cli.tables["bouts"], table, check_dtype=False, atol=1e-6)

    # listed: one line per bout, a click goes to its first frame
    lines = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert len(lines) == len(table) and not panel.list.isHidden()
    first_rev = table.index[table.state == "reversal"][0]
    r = table.loc[first_rev]
    said = f"reversal: {r.onset_s:.1f}-{r.offset_s:.1f} s, frames {r.start_frame}-{r.end_frame}"
    assert lines[first_rev] == said
    assert f"{r.mean_signed_speed_um_s:+.0f} µm/s" in panel.list.item(first_rev).toolTip()
    panel._jump(panel.list.item(first_rev))
    assert viewer.dims.current_step[0] == table.start_frame[first_rev]

    # the docked plot draws them as a strip over the speed, keyed in their colours
    plot = widget.show_plot()
    assert _strip(plot) == {s: int(n) for s, n in counts.items()}
    assert not plot.bouts_key.isHidden() and "reversal (2)" in plot.bouts_key.text()

    # nothing lives only in the widget: a reopened session shows the bouts and their settings
    path = tmp_path / "worm.catrack.h5"
    viewer.layers.save(str(path), plugin=PLUGIN)
    again = make_napari_viewer()
    again.open(str(path), plugin=PLUGIN)
    reopened = BehaviourWidget(again)
    assert [reopened.bouts.list.item(i).text() for i in range(reopened.bouts.list.count())] == lines
    assert reopened.bouts.form.params() == BoutParams(min_bout_s=0.4)
    assert "restored from the session" in reopened.bouts.status.text()
    assert _strip(reopened.show_plot()) == {s: int(n) for s, n in counts.items()}


def test_a_new_velocity_takes_the_old_bouts_away_and_bad_settings_are_said(
    make_napari_viewer, qtbot, worm, tmp_path
):
    _, widget, session, _ = _with_velocity(make_napari_viewer, qtbot, worm, tmp_path)
    _compute(qtbot, widget)
    plot = widget.show_plot()
    assert _strip(plot)
    # Cancel (the widget's one Cancel button) keeps the bouts there were
    before = [widget.bouts.list.item(i).text() for i in range(widget.bouts.list.count())]
    widget.bouts.form.control("min_bout_s").setValue(3.0)
    qtbot.mouseClick(widget.bouts.run_button, Qt.LeftButton)
    assert widget.cancel_button.isEnabled() and not widget.bouts.run_button.isEnabled()
    qtbot.mouseClick(widget.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not widget.job.running, timeout=30000)
    assert widget.job.outcome == "cancelled" and "kept" in widget.bouts.status.text()
    assert session["bouts"].params["min_bout_s"] == BoutParams().min_bout_s
    assert [widget.bouts.list.item(i).text() for i in range(widget.bouts.list.count())] == before
    widget.bouts.form.control("min_bout_s").setValue(BoutParams().min_bout_s)
    # the bouts were called from the velocity the new one replaces: not left beside it
    widget.velocity.form.control("smooth_s").setValue(1.0)
    qtbot.mouseClick(widget.velocity.run_button, Qt.LeftButton)
    assert "bouts" not in session and widget.bouts.list.count() == 0
    assert "removed" in widget.bouts.status.text()
    assert _strip(plot) == {} and plot.bouts_key.isHidden()
    # a pause speed above the moving speed: said at the click, nothing recorded
    widget.bouts.form.control("pause_um_s").setValue(50.0)
    qtbot.mouseClick(widget.bouts.run_button, Qt.LeftButton)
    assert "must not be above" in widget.bouts.status.text() and "bouts" not in session
    widget.bouts.form.control("pause_um_s").setValue(20.0)
    _compute(qtbot, widget)
    assert len(bouts_from_session(session)) and _strip(plot)


def test_bouts_called_from_a_velocity_replaced_meanwhile_are_not_recorded_beside_it(
    make_napari_viewer, qtbot, worm, tmp_path, monkeypatch
):
    """Compute velocity runs at once on the GUI thread and stays clickable while the bouts
    job runs: a velocity computed meanwhile (at another pixel size: every speed different)
    took the bouts' place, then the job recorded the bouts of the old velocity beside it
    (h22 review; `record_velocity` exists so that never happens)."""
    import threading

    from napari_catrack.core.behaviour import bouts as bouts_module
    from napari_catrack.core.behaviour.records import centerline_frames_table

    _, widget, session, _ = _with_velocity(make_napari_viewer, qtbot, worm, tmp_path)
    gate, real = threading.Event(), bouts_module.compute_bouts

    def held(*args, **kwargs):
        gate.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(bouts_module, "compute_bouts", held)
    qtbot.mouseClick(widget.bouts.run_button, Qt.LeftButton)
    assert widget.job is not None and widget.job.running
    widget.velocity.pixel.setValue(2 * worm.pixel_size_um)
    qtbot.mouseClick(widget.velocity.run_button, Qt.LeftButton)
    gate.set()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=30000)
    stored = bouts_from_session(session)
    if stored is not None:  # recorded: then they are the bouts of the velocity in the session
        velocity = session["velocity"].tables["velocity"]
        coiled, a3 = bouts_module.turn_flags(centerline_frames_table(session), velocity["frame"],
                                             BoutParams(), name="centerline")  # fmt: skip
        pd.testing.assert_frame_equal(stored, real(velocity, BoutParams(), coiled=coiled, a3=a3))
    else:
        assert "again" in widget.bouts.status.text(), widget.bouts.status.text()


def test_a_short_wide_plot_dock_keeps_the_bout_key_and_both_plots_in_view(
    make_napari_viewer, qtbot, tmp_path
):
    """The key of the strip is a line above the canvas: in the short, wide dock under a laptop's
    viewer (174 px) the canvas leaves it its room, so neither is scrolled out of sight."""
    from napari_catrack.core.behaviour.bouts import compute_bouts
    from napari_catrack.core.behaviour.records import record_bouts
    from napari_catrack.session import attach_session
    from napari_catrack.widgets._dock import dock_of

    from ..core._session_helpers import worm_session

    session, _ = worm_session(tmp_path / "s", video=False)
    velocity = session["velocity"].tables["velocity"]
    bouts = compute_bouts(velocity, BoutParams(min_bout_s=0.1))
    assert len(bouts)
    record_bouts(session, bouts, BoutParams(min_bout_s=0.1).to_dict(), {"coiled": False})
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1300, 1000)
    attach_session(viewer, session)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Worm behaviour")
    plot = widget.show_plot()
    dock, main = dock_of(plot), viewer.window._qt_window
    main.resizeDocks([dock], [174], Qt.Vertical)
    qtbot.waitUntil(lambda: abs(dock.height() - 174) < 5, timeout=3000)
    qtbot.wait(100)  # the re-layout queued by the resize
    plot.scroll_area.verticalScrollBar().setValue(0)
    assert plot.side_by_side and not plot.bouts_key.isHidden()
    view = plot.scroll_area.viewport().height()
    assert plot.bouts_key.geometry().bottom() < plot.canvas.geometry().top()
    assert plot.canvas.geometry().bottom() <= view  # (the key's line came out of the canvas)
    assert sum(_strip(plot).values()) == len(bouts)
