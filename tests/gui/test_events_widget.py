"""The Behaviour events widget: events and a behaviour video lined up with the imaging, the video
following the time slider, ticks in the trace viewer, event-triggered averages in the session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.session import attach_session
from napari_catrack.synthetic.events import make_event_session

from .helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
EVENTS_TITLE = "Behaviour events"


def events_widget(make_napari_viewer, session, n_frames: int):
    """A viewer with a 10 Hz green recording of `n_frames`, `session` attached and the events
    widget docked: (viewer, dock, widget)."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((n_frames, 8, 8), np.uint16), name="green",
                     metadata={"catrack": {"role": "green", "fps": 10.0}})  # fmt: skip
    attach_session(viewer, session)
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, EVENTS_TITLE)
    return viewer, dock, widget


def test_events_widget(make_napari_viewer, qtbot, tmp_path):
    from napari_catrack.io.video import write_video
    from napari_catrack.session import Session

    syn = make_event_session(
        seed=1, n_neurons=8, duration_s=120.0, drop_fraction=0.0, video_fps=15.0
    )
    n = len(syn.frame_times)
    ids = syn.neuron_ids
    session = Session(autosave=False)
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
    syn.events.to_csv(tmp_path / "events.csv", index=False)
    frames = (np.arange(syn.n_video_frames) % 250).astype(np.uint8)[:, None, None] * np.ones(
        (1, 8, 8), np.uint8
    )
    write_video(tmp_path / "behaviour.avi", frames, fps=syn.video_fps)
    viewer = make_napari_viewer()
    viewer.add_image(
        np.zeros((n, 16, 16), np.uint16),
        name="green",
        metadata={"catrack": {"role": "green", "fps": syn.fps}},
    )
    attach_session(viewer, session)
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces (signals)")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, EVENTS_TITLE)
    widget.events_file.setText(str(tmp_path / "events.csv"))
    widget.events_start.setValue(syn.events_start_s)
    widget.video_file.setText(str(tmp_path / "behaviour.avi"))
    widget.video_start.setValue(syn.video_start_s)
    widget.line_up()
    aligned = session["events"].tables["events"]
    for kind, times in syn.event_times.items():
        assert np.sort(aligned[aligned.event == kind].time_s) == pytest.approx(times, abs=1e-3)
    assert "lever" in widget.summary.text()
    video = viewer.layers["behaviour video"]
    assert video.data.shape[0] == n and video.translate[-1] == 26
    index = session["behaviour_video"].tables["imaging_to_video"]["video_frame"].to_numpy()
    t = 500
    assert index[t] == round((t / syn.fps - syn.video_start_s) * syn.video_fps)
    assert abs(int(np.asarray(video.data[t])[0, 0]) - index[t] % 250) <= 3  # MJPEG rounding
    traces.select([ids[0]])  # event ticks on the trace panels
    assert any(line.get_linestyle() == "--" for line in traces.figure.axes[0].lines)
    widget.form.control("n_shuffles").setValue(200)
    wait_job(qtbot, widget.compute(), timeout=120000)
    sig = session["eta"].tables["significance"]
    m = sig.merge(syn.truth, on=["neuron_id", "event"])
    assert m[m.kind == "excited"].significant.all()
    # every step names the files it read (io.provenance), as the other steps' records do
    prov = session.provenance()
    events_csv, avi = str(tmp_path / "events.csv"), str(tmp_path / "behaviour.avi")
    assert {r: f["path"] for r, f in prov["events"]["inputs"].items()} == {"events": events_csv, "video": avi}  # fmt: skip
    assert {r: f["path"] for r, f in prov["behaviour_video"]["inputs"].items()} == {"video": avi}
    assert {r: f["path"] for r, f in prov["eta"]["inputs"].items()} == {"events": events_csv, "video": avi}  # fmt: skip
    assert all(len(f["sha256"]) == 64 for f in prov["events"]["inputs"].values())
    assert widget.table.rowCount() == int(sig.significant.sum()) > 0
    # each event kind under the other, tall enough (before: side by side in a narrow dock,
    # titles on top of each other and constrained layout collapsing the axes)
    kinds = sig.event.nunique()
    assert kinds >= 2 and len(widget.figure.axes) >= 2 * kinds
    assert widget.canvas.minimumHeight() >= 300 * kinds
    widget.canvas.draw()
    boxes = [ax.get_position() for ax in widget.figure.axes if ax.get_title()]
    assert len(boxes) == kinds and all(b.height > 0.05 for b in boxes)
    lows = sorted(b.y0 for b in boxes)
    highs = sorted(b.y1 for b in boxes)
    assert all(h0 <= l1 for h0, l1 in zip(highs[:-1], lows[1:]))  # one above the other


def test_a_failed_line_up_keeps_the_last_good_events(make_napari_viewer, tmp_path):
    """GUI review 2, items 3-4: a bad event file, or frame times that do not match the recording
    (too few rows, no time_s column), is refused and the last good events stay; a new line-up
    drops the averages of the events it replaces."""
    from napari_catrack.session import Session

    n = 300
    session = Session(autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": 1, "frame": np.arange(n), "dff": np.zeros(n)})}, attrs={"fps": 10.0})  # fmt: skip
    pd.DataFrame({"event": ["lever"] * 3, "time_s": [1.0, 5.0, 9.0]}).to_csv(
        tmp_path / "events.csv", index=False
    )
    (tmp_path / "nocols.csv").write_text("a,b\n1,2\n")
    (tmp_path / "frametimes_bad.csv").write_text("time_s\n1\n2\n")
    (tmp_path / "frametimes_wrong.csv").write_text("t\n" + "".join(f"{i / 10}\n" for i in range(n)))
    _, _, widget = events_widget(make_napari_viewer, session, n)
    widget.events_file.setText(str(tmp_path / "events.csv"))
    widget.line_up()
    good = session["events"].tables["events"].copy()
    session.record("eta", tables={"eta": pd.DataFrame()}, save=False)
    for events, times, error in (
        ("nocols.csv", "", ""),
        ("events.csv", "frametimes_bad.csv", "has 2 frame times (rows) but the recording has 300"),
        ("events.csv", "frametimes_wrong.csv", "no time_s column"),
    ):
        widget.events_file.setText(str(tmp_path / events))
        widget.frame_times.setText(str(tmp_path / times) if times else "")
        widget.line_up()
        assert error in widget.summary.text()
        assert "events" in session and "eta" in session, events
        pd.testing.assert_frame_equal(session["events"].tables["events"], good)
    widget.events_file.setText(str(tmp_path / "events.csv"))
    widget.frame_times.setText("")
    widget.line_up()
    assert "events" in session and "eta" not in session


def test_reopened_widget_shows_the_events_the_session_holds(make_napari_viewer, qtbot, tmp_path):
    """GUI review 6, item 10: after closing and reopening the widget, the event file, the frame
    times, the clock settings and the event counts come back from the session's `events` step
    (they were empty); a missing event file is "event file not found" (was "file file")."""
    from napari_catrack.session import Session

    n = 300
    session = Session(autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": 1, "frame": np.arange(n), "dff": np.zeros(n)})}, attrs={"fps": 10.0})  # fmt: skip
    events = tmp_path / "events.csv"
    pd.DataFrame({"event": ["lever"] * 3 + ["tone"], "time_s": [1.0, 5.0, 9.0, 99.0]}).to_csv(
        events, index=False
    )
    frame_times = tmp_path / "frame_times.csv"
    frame_times.write_text("time_s\n" + "".join(f"{i / 10}\n" for i in range(n)))
    viewer, dock, widget = events_widget(make_napari_viewer, session, n)
    widget.events_file.setText(str(tmp_path / "missing.csv"))
    widget.line_up()
    assert "event file not found" in widget.summary.text()
    assert "file file" not in widget.summary.text()
    widget.events_file.setText(str(events))
    widget.frame_times.setText(str(frame_times))
    widget.events_start.setValue(0.5)
    widget.line_up()
    summary = widget.summary.text()
    assert "lever: 3 (3 in the recording)" in summary and "tone: 1 (0 in the recording)" in summary

    viewer.window.remove_dock_widget(dock)
    qtbot.wait(10)
    _, reopened = viewer.window.add_plugin_dock_widget(PLUGIN, EVENTS_TITLE)
    assert reopened is not widget
    assert reopened.events_file.text() == str(events)
    assert reopened.frame_times.text() == str(frame_times)
    assert reopened.events_start.value() == pytest.approx(0.5)
    assert reopened.video_file.text() == ""
    assert reopened.summary.text() == summary


def test_reopened_widget_shows_the_settings_of_the_averages_it_shows(
    make_napari_viewer, qtbot, tmp_path
):
    """Session 11 (a user's check): a session whose averages `catrack events --n-shuffles 200
    --pre-s 1.5` (or another viewer) computed showed those averages in a reopened widget beside
    the default settings (1000 shuffles, 2 s), so the boxes did not say how the results shown were
    made, and pressing the button again silently changed them."""
    from napari_catrack.core.events.params import EtaParams

    n = 600
    session = _two_neurons_and_a_lever(tmp_path, n)
    viewer, dock, widget = events_widget(make_napari_viewer, session, n)
    widget.events_file.setText(str(tmp_path / "e.csv"))
    widget.line_up()
    used = {"n_shuffles": 200, "pre_s": 1.5, "alternative": "greater"}
    for name, value in used.items():
        control = widget.form.control(name)
        control.setCurrentText(value) if isinstance(value, str) else control.setValue(value)
    widget.compute()
    wait_job(qtbot, widget.job, timeout=60000)
    assert {k: session["eta"].params[k] for k in used} == used
    viewer.window.remove_dock_widget(dock)
    qtbot.wait(10)
    _, reopened = viewer.window.add_plugin_dock_widget(PLUGIN, EVENTS_TITLE)
    shown = reopened.form.params()
    assert {k: getattr(shown, k) for k in used} == used
    assert shown == EtaParams.from_dict(session["eta"].params)


def test_reopened_session_shows_event_files_from_any_working_folder(
    make_napari_viewer, tmp_path, monkeypatch
):
    """The file boxes showed the stored paths as typed, relative to the folder the session was
    written from: from another working folder they named files that are not there (review 7,
    item 4). They come back as paths that exist."""
    import os

    from napari_catrack.session import Session

    from ..core.test_events import _events_session_written_from

    path = _events_session_written_from(tmp_path, monkeypatch)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    viewer = make_napari_viewer()
    attach_session(viewer, Session.load(path))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, EVENTS_TITLE)
    for box in (widget.events_file, widget.frame_times, widget.video_file):
        assert os.path.isfile(box.text()), box.text()


def test_frame_times_for_traces_numbered_with_gaps_say_how_to_fix(
    make_napari_viewer, qtbot, tmp_path
):
    """Review (h9): the widget read the frame times without the session, so for traces that
    number their frames by acquisition (dropped ones left out) it said "give one time_s per
    recorded frame", which the user had done; `catrack events` says what is wrong since c0aa2bb.
    The button now gives the command's message, and the last good events stay."""
    from qtpy.QtCore import Qt

    from napari_catrack.session import Session

    n, dropped = 300, [40, 41, 200]
    frames = np.setdiff1d(np.arange(n), dropped)  # numbered by acquisition: 297 frames recorded
    session = Session(autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": 1, "frame": frames, "dff": np.zeros(len(frames))})}, attrs={"fps": 10.0})  # fmt: skip
    pd.DataFrame({"event": ["lever"] * 3, "time_s": [1.0, 5.0, 9.0]}).to_csv(
        tmp_path / "events.csv", index=False
    )
    pd.DataFrame({"time_s": frames / 10.0}).to_csv(tmp_path / "frame_times.csv", index=False)
    _, _, widget = events_widget(make_napari_viewer, session, n)
    widget.events_file.setText(str(tmp_path / "events.csv"))
    qtbot.mouseClick(widget.align_button, Qt.LeftButton)
    good = session["events"].tables["events"].copy()
    widget.frame_times.setText(str(tmp_path / "frame_times.csv"))
    qtbot.mouseClick(widget.align_button, Qt.LeftButton)
    text = widget.summary.text()
    assert "frame_times.csv has 297 frame times, one per frame of the traces" in text
    assert "number their frames 0-299 with 3 numbers missing" in text
    assert "give one time_s per recorded frame" not in text
    pd.testing.assert_frame_equal(session["events"].tables["events"], good)


def test_untested_pairs_are_not_counted_as_tested(make_napari_viewer, qtbot, tmp_path):
    """Review (h9): a kind with fewer than min_events events (and a lost neuron) has no
    p-value; the widget counted those pairs in "0 responsive neuron-event pairs of N", as
    `catrack events` said "0 responsive neurons" for them. Now: "of M tested", and which kinds
    were not tested."""
    from qtpy.QtCore import Qt

    from napari_catrack.session import Session

    n = 600
    rng = np.random.default_rng(0)
    dff = rng.normal(0, 0.1, (3, n))
    dff[1] = np.nan  # lost
    session = Session(autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": np.repeat(["a", "lost", "c"], n), "frame": np.tile(np.arange(n), 3),
         "dff": dff.ravel()})}, attrs={"fps": 10.0})  # fmt: skip
    events = [("lever", t) for t in (10.0, 20.0, 30.0, 40.0, 50.0)] + [("tone", 25.0)]
    events.append(("tone", 59.5))  # its window cut short by the end (h10): said too
    pd.DataFrame(events, columns=["event", "time_s"]).to_csv(tmp_path / "e.csv", index=False)
    _, _, widget = events_widget(make_napari_viewer, session, n)
    widget.events_file.setText(str(tmp_path / "e.csv"))
    qtbot.mouseClick(widget.align_button, Qt.LeftButton)
    widget.form.control("n_shuffles").setValue(100)
    qtbot.mouseClick(widget.eta_button, Qt.LeftButton)
    wait_job(qtbot, widget.job, timeout=60000)
    text = widget.status.text()
    assert text.startswith("0 responsive neuron-event pairs of 2 tested")  # lever: a and c
    assert "not tested (fewer than 3 events far enough from the ends): tone" in text
    assert text.endswith(
        ", 1 with the window cut short by the recording's ends: averaged over the lags recorded"
    ), text


def test_frame_times_at_another_rate_are_warned_as_catrack_events_does(
    make_napari_viewer, qtbot, tmp_path
):
    """Verify (h9): `catrack events` warned when a frame-times file runs at another rate than
    the traces (time_s in ms: 1000 times slower); the widget took it silently."""
    from qtpy.QtCore import Qt

    from napari_catrack.session import Session

    n = 300
    session = Session(autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": 1, "frame": np.arange(n), "dff": np.zeros(n)})}, attrs={"fps": 10.0})  # fmt: skip
    pd.DataFrame({"event": ["lever"], "time_s": [1000.0]}).to_csv(tmp_path / "e.csv", index=False)
    pd.DataFrame({"time_s": np.arange(n) * 100.0}).to_csv(tmp_path / "ms.csv", index=False)
    _, _, widget = events_widget(make_napari_viewer, session, n)
    widget.events_file.setText(str(tmp_path / "e.csv"))
    widget.frame_times.setText(str(tmp_path / "ms.csv"))
    qtbot.mouseClick(widget.align_button, Qt.LeftButton)
    text = widget.summary.text()
    assert "lever: 1 (1 in the recording)" in text  # the frame times are still used
    assert "ms.csv: its frames come at 0.01 Hz but the traces' frame rate is 10 Hz" in text


def test_events_that_all_miss_the_recording_are_warned_as_catrack_events_does(
    make_napari_viewer, qtbot, tmp_path
):
    """User review (h11): event times in ms put every event past the 30 s recording; the widget
    said "lever: 3 (0 in the recording)" and nothing about why."""
    from qtpy.QtCore import Qt

    from napari_catrack.session import Session

    n = 300
    session = Session(autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": 1, "frame": np.arange(n), "dff": np.zeros(n)})}, attrs={"fps": 10.0})  # fmt: skip
    pd.DataFrame({"event": "lever", "time_s": [5000.0, 12000.0, 20000.0]}).to_csv(
        tmp_path / "ms.csv", index=False
    )
    _, _, widget = events_widget(make_napari_viewer, session, n)
    widget.events_file.setText(str(tmp_path / "ms.csv"))
    qtbot.mouseClick(widget.align_button, Qt.LeftButton)
    text = widget.summary.text()
    assert "lever: 3 (0 in the recording)" in text
    assert "warning: none of the 3 events falls in the recording (0 to 30 s" in text
    assert "milliseconds" in text


def test_a_rate_kept_over_uneven_times_is_warned_as_catrack_events_does(
    make_napari_viewer, qtbot, tmp_path
):
    """h21b: traces that dropped frames (time_s uneven) with a rate in force: `catrack events`
    and the Transients widget warn that frame / rate, not those times, lines the events up; the
    Events widget did so silently. Now the same message (`uneven_times_note`); the rate kept."""
    from qtpy.QtCore import Qt

    from napari_catrack.core.transients import frame_rate_of_times, uneven_times_note
    from napari_catrack.session import Session

    n, frames = 300, np.arange(300)
    traces = pd.DataFrame({"neuron_id": 1, "frame": frames, "dff": np.zeros(n),
                           "time_s": (frames + 5 * (frames >= 100)) / 10.0})  # fmt: skip
    session = Session(autosave=False)
    session.record("traces", tables={"traces": traces}, attrs={"fps": 10.0})
    pd.DataFrame({"event": ["lever"], "time_s": [20.0]}).to_csv(tmp_path / "e.csv", index=False)
    _, _, widget = events_widget(make_napari_viewer, session, n)
    widget.events_file.setText(str(tmp_path / "e.csv"))
    qtbot.mouseClick(widget.align_button, Qt.LeftButton)
    text = widget.summary.text()
    assert "lever: 1 (1 in the recording)" in text
    note = uneven_times_note(frame_rate_of_times(traces)[1], 10.0, "events")
    assert f"warning: {note}" in text, text
    assert session["events"].tables["events"]["frame"].tolist() == [200]  # the rate kept


def test_the_averages_are_in_view_without_scrolling_at_the_docks_usual_size(
    make_napari_viewer, qtbot, tmp_path
):
    """Session 12: the settings filled the dock's height, so the responsive neurons' table began
    at its bottom edge and the figure of the averages lay wholly below the fold; now the results
    have their own tab, shown when the averages are done, over the always-visible run block."""
    from napari_catrack.widgets.events import EventsWidget

    n = 600
    session = _two_neurons_and_a_lever(tmp_path, n)
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((n, 8, 8), np.uint16), name="green",
                     metadata={"catrack": {"role": "green", "fps": 10.0}})  # fmt: skip
    attach_session(viewer, session)
    widget = EventsWidget(viewer)
    assert widget.minimumSizeHint().height() <= 360  # many docks still fit one screen
    widget.resize(520, 780)  # the dock's height beside napari's layer list on a 1080 p screen
    widget.show()
    qtbot.waitExposed(widget)
    widget.events_file.setText(str(tmp_path / "e.csv"))
    widget.line_up()
    widget.form.control("n_shuffles").setValue(50)
    wait_job(qtbot, widget.compute(), timeout=60000)
    qtbot.wait(50)
    assert "eta" in session and widget.canvas.minimumHeight() >= 300
    for part in (widget.table, widget.canvas, widget.status, widget.eta_button):
        seen = part.visibleRegion().boundingRect()
        assert seen.height() >= min(part.height(), 150), (type(part).__name__, seen)
    widget.close()


def _two_neurons_and_a_lever(tmp_path, n: int):
    """A session of two noise traces at 10 Hz, and `e.csv`: four lever presses."""
    from napari_catrack.session import Session

    rng = np.random.default_rng(0)
    session = Session(autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": np.repeat(["a", "b"], n), "frame": np.tile(np.arange(n), 2),
         "dff": rng.normal(0, 0.1, 2 * n)})}, attrs={"fps": 10.0})  # fmt: skip
    pd.DataFrame({"event": "lever", "time_s": [10.0, 20.0, 30.0, 40.0]}).to_csv(
        tmp_path / "e.csv", index=False
    )
    return session


def test_interval_events_are_spans_in_the_trace_viewer(make_napari_viewer, tmp_path):
    """A BIDS-style event with a duration was a tick at its onset in the trace panels: it is a
    span from its onset to onset + duration; a moment stays a tick."""
    from napari_catrack.session import Session

    n = 300
    session = Session(autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": 1, "frame": np.arange(n), "time_s": np.arange(n) / 10.0,
         "dff": np.zeros(n)})}, attrs={"fps": 10.0})  # fmt: skip
    (tmp_path / "events.tsv").write_text(
        "onset\tduration\ttrial_type\n4\t2.5\ttone\n12\tn/a\tpuff\n"
    )
    viewer, _, widget = events_widget(make_napari_viewer, session, n)
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces (signals)")
    widget.events_file.setText(str(tmp_path / "events.tsv"))
    widget.line_up()
    traces.select([1])
    ax = traces.figure.axes[0]
    spans = [p.get_path().transformed(p.get_patch_transform()).vertices[:, 0] for p in ax.patches]
    assert [(s.min(), s.max()) for s in spans] == [pytest.approx((4.0, 6.5))]  # seconds
    ticks = [ln.get_xdata()[0] for ln in ax.lines if ln.get_linestyle() == "--"]
    assert ticks == [pytest.approx(12.0)]


def test_the_run_buttons_follow_the_settings_in_a_tall_dock(make_napari_viewer, qtbot, tmp_path):
    """At 1920 x 1200 the run block was pinned to the dock's bottom: a blank of hundreds of px
    between the settings and their buttons, which read as a broken layout (h20 leftover). The
    buttons now follow the settings (the room left is below them), and the results tab still
    takes the dock's height for the figure of the averages."""
    n = 600
    session = _two_neurons_and_a_lever(tmp_path, n)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1920, 1200)
    viewer.add_image(np.zeros((n, 8, 8), np.uint16), name="green",
                     metadata={"catrack": {"role": "green", "fps": 10.0}})  # fmt: skip
    attach_session(viewer, session)
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, EVENTS_TITLE)
    qtbot.waitUntil(lambda: dock.height() > 900, timeout=5000)
    qtbot.wait(100)
    assert widget.tabs.currentWidget() is widget.settings_tab

    def top(w) -> int:
        return w.mapTo(widget, w.rect().topLeft()).y()

    last = widget.form  # the last of the settings (the averages' parameters)
    gap = top(widget.eta_button) - (top(last) + last.height())
    assert 0 <= gap <= 4 * widget.fontMetrics().lineSpacing(), gap
    assert widget.height() - (top(widget.status) + widget.status.height()) > 200  # room below
    widget.tabs.setCurrentWidget(widget.results_tab)
    qtbot.wait(100)
    assert widget.tabs.height() > dock.height() - 250, (widget.tabs.height(), dock.height())
    # the run block stays in view under either tab, in a tall dock and a laptop's, with a figure
    # taller than the dock (two event kinds: the dock's body must not scroll it away)
    widget.canvas.setMinimumHeight(2 * 360)
    widget.status.setText("11 responsive neuron-event pairs of 24 tested")  # (a wrapped line)
    for size in ((1920, 1200), (1300, 800)):
        viewer.window._qt_window.resize(*size)
        for tab in (widget.results_tab, widget.settings_tab):
            widget.tabs.setCurrentWidget(tab)
            qtbot.wait(100)
            seen = widget.status.visibleRegion().boundingRect().height()
            assert seen == widget.status.height() > 0, (size, tab is widget.results_tab, seen)
            assert widget.scroll_area.verticalScrollBar().maximum() == 0, size
