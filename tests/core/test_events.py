"""Behaviour events: clocks, alignment to imaging frames, the video in sync, and event-triggered
averages that find planted responses (docs/events.md, "How the ETA test is checked")."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.core.events.align import EVENT_COLUMNS, align_events
from napari_catrack.core.events.clock import Clock
from napari_catrack.core.events.eta import benjamini_hochberg, event_triggered_averages
from napari_catrack.core.events.params import EtaParams, EventAlignParams
from napari_catrack.core.events.sync import video_frame_for_imaging
from napari_catrack.errors import InputError
from napari_catrack.synthetic.events import make_event_session


def test_clock_finds_dropped_frames_and_refuses_events_in_gaps():
    times = np.delete(np.arange(20) / 10.0, [5, 6, 12])
    clock = Clock(times)
    first, missing = clock.dropped()
    assert first.tolist() == [5, 10] and missing.tolist() == [2, 1]
    assert clock.interval == pytest.approx(0.1)
    idx = clock.nearest(np.array([0.0, 0.41, 0.55, 1.21, 5.0]), max_distance=0.5)
    assert idx.tolist() == [0, 4, -1, -1, -1]
    assert clock.nearest(np.array([0.52]), max_distance=2.0).tolist() == [4]
    with pytest.raises(InputError, match="strictly increasing"):
        Clock(np.array([0.0, 0.1, 0.1]))


def test_align_events_offsets_video_frames_and_dropped_frames():
    imaging = Clock(np.delete(np.arange(100) / 10.0, [40, 41]))
    video = Clock.regular(300, 30.0, start_s=1.0)
    events = pd.DataFrame({"event": ["a", "b", "a", "a"], "time_s": [3.0, np.nan, 6.05, 50.0],
                           "frame": [np.nan, 30, np.nan, np.nan]})  # fmt: skip
    out = align_events(events, imaging, EventAlignParams(events_start_s=-2.0), video=video)
    assert out["time_s"].tolist() == pytest.approx([1.0, 2.0, 4.05, 48.0])
    # 4.05 s falls into the dropped frames 40-41 (recorded frame 40 is imaging frame 42)
    assert out["frame"].tolist() == [10, 20, -1, -1]
    assert out["in_recording"].tolist() == [True, True, False, False]
    with pytest.raises(InputError, match="video frame rate"):
        align_events(events, imaging)
    with pytest.raises(InputError, match="beyond the behaviour video.s 300 frames"):
        align_events(events.assign(frame=[np.nan, 999, np.nan, np.nan]), imaging, video=video)


def test_video_follows_the_imaging_clock():
    imaging = Clock.regular(50, 10.0)
    video = Clock.regular(120, 25.0, start_s=0.513)
    index, covered = video_frame_for_imaging(imaging, video)
    expected = np.clip(np.round((imaging.times - 0.513) * 25.0), 0, 119)
    assert np.array_equal(index, expected) and not covered[:5].any() and covered[5:].all()


def test_benjamini_hochberg_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    q = benjamini_hochberg(p)
    assert q[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02]) and np.isnan(q[4])


@pytest.mark.parametrize("seed", [0, 1])
def test_eta_recovers_planted_responses(seed):
    """Planted: per event kind 4 excited and 2 inhibited neurons (85% of events answered), 18
    unresponsive; clocks with an offset, video-frame events and 1% dropped frames. Found:
    nearly every planted pair, in the right direction, and hardly any other."""
    syn = make_event_session(seed=seed)
    imaging = Clock(syn.frame_times)
    video = Clock.regular(syn.n_video_frames, syn.video_fps, syn.video_start_s)
    params = EventAlignParams(events_start_s=syn.events_start_s, video_start_s=syn.video_start_s)
    aligned = align_events(syn.events, imaging, params, video=video)
    for kind, times in syn.event_times.items():
        assert np.sort(aligned[aligned.event == kind].time_s) == pytest.approx(times)
    result = event_triggered_averages(syn.dff, syn.frame_times, syn.neuron_ids, aligned)
    m = result.significance.merge(syn.truth, on=["neuron_id", "event"])
    planted = m[m.kind != "none"]
    assert planted.significant.mean() >= 0.8
    assert (planted[planted.significant].direction == planted[planted.significant].kind).all()
    assert m[m.kind == "none"].significant.mean() <= 0.1
    # the average of an excited neuron peaks after the event, near the planted latency
    row = planted[planted.kind == "excited"].iloc[0]
    curve = result.eta[(result.eta.neuron_id == row.neuron_id) & (result.eta.event == row.event)]
    assert 0.2 <= curve.lag_s.to_numpy()[np.argmax(curve["mean"].to_numpy())] <= 1.5


def test_eta_null_is_calibrated_without_responses():
    """With no planted responses the p-values are uniform: about alpha of them fall below it."""
    syn = make_event_session(n_excited=0, n_inhibited=0, seed=4, n_neurons=30)
    imaging = Clock(syn.frame_times)
    video = Clock.regular(syn.n_video_frames, syn.video_fps, syn.video_start_s)
    aligned = align_events(syn.events, imaging, EventAlignParams(
        events_start_s=syn.events_start_s, video_start_s=syn.video_start_s), video=video)  # fmt: skip
    sig = event_triggered_averages(syn.dff, syn.frame_times, syn.neuron_ids, aligned,
                                   EtaParams(n_shuffles=400)).significance  # fmt: skip
    assert (sig.p_value < 0.05).mean() <= 0.12 and not sig.significant.any()


def test_eta_refuses_a_too_short_recording():
    with pytest.raises(InputError, match="too short"):
        event_triggered_averages(np.zeros((1, 50)), np.arange(50) / 10.0, ["a"],
                                 pd.DataFrame({"event": ["x"], "time_s": [2.0]}))  # fmt: skip


def test_read_events_finds_columns(tmp_path):
    from napari_catrack.io.events import read_events

    (tmp_path / "a.csv").write_text("Timestamp,Behavior\n1.5,lever\n3.0,reward\n")
    assert read_events(tmp_path / "a.csv")[["event", "time_s"]].values.tolist() == [
        ["lever", 1.5], ["reward", 3.0]]  # fmt: skip
    (tmp_path / "b.csv").write_text("frame\n10\n20\n")
    b = read_events(tmp_path / "b.csv")
    assert b.event.tolist() == ["b", "b"] and b.frame.tolist() == [10, 20]
    # BIDS events.tsv / pandas-style logs: onset (s), duration, trial_type
    (tmp_path / "d.tsv").write_text("onset\tduration\ttrial_type\n2.5\t0.5\ttone\n7\t0.5\tpuff\n")
    assert read_events(tmp_path / "d.tsv")[["event", "time_s"]].values.tolist() == [
        ["tone", 2.5], ["puff", 7.0]]  # fmt: skip
    # a spreadsheet's names with their unit; milliseconds said so are divided by 1000
    (tmp_path / "e.csv").write_text("Event,Time (s)\nlever,1.5\n")
    assert read_events(tmp_path / "e.csv")["time_s"].tolist() == [1.5]
    (tmp_path / "f.csv").write_text("Event,Time [ms]\nlever,1500\n")
    assert read_events(tmp_path / "f.csv")["time_s"].tolist() == [1.5]
    (tmp_path / "g.csv").write_text("event,time_s\nlever,1.5\nlever,abc\n")
    with pytest.raises(InputError, match=r"g.csv: row 3: time_s 'abc' is not a number"):
        read_events(tmp_path / "g.csv")
    (tmp_path / "c.csv").write_text("name,what\nx,1\n")
    with pytest.raises(InputError, match="no time column"):
        read_events(tmp_path / "c.csv")


def test_semicolon_event_files_with_decimal_commas_are_read(tmp_path):
    """A European spreadsheet's CSV (`;`-separated, "1,5") was named in the error but not read."""
    from napari_catrack.io.events import read_events

    (tmp_path / "eu.csv").write_bytes(
        "\ufeffEvent;Time (s);Duration\r\nlever;1,5;0,25\r\nreward;12;n/a\r\n".encode()
    )
    eu = read_events(tmp_path / "eu.csv")
    assert eu.event.tolist() == ["lever", "reward"] and eu.time_s.tolist() == [1.5, 12.0]
    np.testing.assert_array_equal(eu.duration_s, [0.25, np.nan])
    (tmp_path / "dot.csv").write_text("event;time_s\nlever;1.5\n")  # `;` with decimal points
    assert read_events(tmp_path / "dot.csv").time_s.tolist() == [1.5]
    (tmp_path / "tab.csv").write_text("event\ttime_s\nlever\t2.5\n")  # a tab-separated .csv
    assert read_events(tmp_path / "tab.csv").time_s.tolist() == [2.5]
    # real garbage is still refused in one line naming the row or the columns it has
    (tmp_path / "bad.csv").write_text("event;time_s\nlever;1,5\nreward;soon\n")
    with pytest.raises(InputError, match=r"bad.csv: row 3: time_s 'soon' is not a number"):
        read_events(tmp_path / "bad.csv")
    (tmp_path / "junk.csv").write_text("what;ever\nx;y\n")
    with pytest.raises(InputError, match="junk.csv: no time column .* it has what, ever$"):
        read_events(tmp_path / "junk.csv")


def test_semicolon_event_files_with_thousands_separators_are_read_where_unambiguous(tmp_path):
    """`1.234,5` in a `;` file (a comma-decimal locale's spreadsheet) was refused as not a
    number: the locale's thousands separators are read; a lone `1.234` is 1234 or 1.234 only
    where the column's other numbers say which, else it is refused naming its row."""
    from napari_catrack.io.events import read_events

    def times(name, rows):
        (tmp_path / name).write_text("event;time_s;duration_s\n" + "\n".join(rows) + "\n")
        return read_events(tmp_path / name)

    ev = times("eu.csv", ["a;1.234,5;0,5", "b;12.345.678;1", "c;2\u00a0500,25;n/a", "d;-1.000,5;"])
    np.testing.assert_array_equal(ev.time_s, [1234.5, 12345678.0, 2500.25, -1000.5])
    np.testing.assert_array_equal(ev.duration_s, [0.5, 1.0, np.nan, np.nan])
    assert times("comma.csv", ["a;1,5", "b;1.234"]).time_s.tolist() == [1.5, 1234.0]
    assert times("point.csv", ["a;0.5", "b;1.234"]).time_s.tolist() == [0.5, 1.234]
    assert times("zero.csv", ["a;0.250"]).time_s.tolist() == [0.25]  # no group starts with 0
    for name, rows, row in (("lone.csv", ["a;1.234"], 2), ("both.csv", ["a;1,5", "b;2.5", "c;7.125"], 4)):  # fmt: skip
        with pytest.raises(InputError) as err:
            times(name, rows)
        msg = str(err.value)
        assert msg.startswith(f"{name}: row {row}: time_s ") and "could be" in msg, msg
        assert "\n" not in msg


def test_bids_durations_are_kept_as_intervals_averaged_at_their_onsets(tmp_path):
    """A BIDS events.tsv's `duration` was dropped; `n/a` (a moment) is allowed, a negative one
    is refused. Lined up, the interval keeps its duration; the averages stay onset-locked."""
    from napari_catrack.io.events import read_events

    (tmp_path / "events.tsv").write_text(
        "onset\tduration\ttrial_type\n2.5\t1.5\ttone\n7\tn/a\tpuff\n9\t0\ttone\n"
    )
    ev = read_events(tmp_path / "events.tsv")
    np.testing.assert_array_equal(ev.duration_s, [1.5, np.nan, 0.0])
    aligned = align_events(ev, Clock.regular(200, 10.0), EventAlignParams(events_start_s=1.0))
    assert aligned.columns.tolist() == EVENT_COLUMNS
    np.testing.assert_array_equal(aligned.time_s, [3.5, 8.0, 10.0])  # onsets
    np.testing.assert_array_equal(aligned.duration_s, [1.5, np.nan, 0.0])
    assert aligned.frame.tolist() == [35, 80, 100]
    (tmp_path / "ms.csv").write_text("event,time_s,duration_ms\nlever,1,250\n")
    assert read_events(tmp_path / "ms.csv").duration_s.tolist() == [0.25]
    (tmp_path / "neg.tsv").write_text("onset\tduration\ttrial_type\n1\t-2\ttone\n")
    with pytest.raises(InputError, match=r"neg.tsv: row 2: duration -2 is not a duration"):
        read_events(tmp_path / "neg.tsv")


def test_events_command_on_a_traces_table(tmp_path, capsys):
    syn = make_event_session(seed=2, n_neurons=10, duration_s=200.0)
    ids = syn.neuron_ids
    n = len(syn.frame_times)
    pd.DataFrame({"neuron_id": np.repeat(ids, n), "frame": np.tile(np.arange(n), len(ids)),
                  "dff": syn.dff.ravel()}).to_csv(tmp_path / "traces.csv", index=False)  # fmt: skip
    pd.DataFrame({"time_s": syn.frame_times}).to_csv(tmp_path / "frames.csv", index=False)
    syn.events.to_csv(tmp_path / "events.csv", index=False)
    rc = main(["events", str(tmp_path / "traces.csv"), "--events", str(tmp_path / "events.csv"),
               "--frame-times", str(tmp_path / "frames.csv"), "--events-start-s",
               str(syn.events_start_s), "--video-fps", str(syn.video_fps), "--video-start-s",
               str(syn.video_start_s), "--n-shuffles", "300", "-o", str(tmp_path / "out")])  # fmt: skip
    assert rc == 0
    sig = pd.read_csv(tmp_path / "out" / "eta_significance.csv")
    truth = syn.truth.assign(neuron_id=syn.truth.neuron_id)
    m = sig.merge(truth, on=["neuron_id", "event"])
    assert m[m.kind != "none"].significant.mean() >= 0.7
    assert (tmp_path / "out" / "figures" / "eta.svg").is_file()
    # a traces CSV has no session to record the run in: params.json says how the tables were made
    from napari_catrack import __version__
    from napari_catrack.io.provenance import file_provenance

    facts = json.loads((tmp_path / "out" / "params.json").read_text())
    assert facts["version"] == __version__ and facts["eta"]["n_shuffles"] == 300
    assert facts["eta"]["seed"] == 0 and facts["alignment"]["video_fps"] == syn.video_fps
    assert facts["imaging_frames"] == n and facts["frame_times_used"]
    assert facts["fps_option"] is None  # the rate came from the frame times: said, not null
    assert facts["fps"] == pytest.approx(1 / np.median(np.diff(syn.frame_times)), rel=1e-5)
    for role, name in (("traces", "traces.csv"), ("events", "events.csv"),
                       ("frame_times", "frames.csv")):  # fmt: skip
        assert facts["inputs"][role]["sha256"] == file_provenance(tmp_path / name)["sha256"]
    assert "video" not in facts["inputs"]
    said, err = capsys.readouterr()  # a result line per kind of event on stdout (h18)
    assert "responsive neurons" in said and "responsive" not in err, err
    rc = main(["events", str(tmp_path / "traces.csv"), "--events", str(tmp_path / "events.csv"),
               "-o", str(tmp_path / "o2")])  # fmt: skip
    assert rc == 2 and "--fps" in capsys.readouterr().err


def test_a_kind_with_no_event_in_the_recording_is_written_not_a_crash(tmp_path, capsys):
    """User review (h9): one event kind whose events all lie outside the recording crashed
    `catrack events` (IndexError in the figure, after the tables were computed) and its untested
    rows said direction "inhibited"."""
    n, fps = 600, 10.0
    rng = np.random.default_rng(0)
    ids = ["a", "b", "c"]
    pd.DataFrame({"neuron_id": np.repeat(ids, n), "frame": np.tile(np.arange(n), 3),
                  "dff": rng.normal(0, 0.1, 3 * n)}).to_csv(tmp_path / "t.csv", index=False)  # fmt: skip
    times = [5.0, 15.0, 25.0, 35.0, 45.0, 1e9]
    pd.DataFrame({"event": ["lever"] * 5 + ["late"], "time_s": times}).to_csv(
        tmp_path / "e.csv", index=False
    )
    out = tmp_path / "out"
    argv = ["events", str(tmp_path / "t.csv"), "--events", str(tmp_path / "e.csv")]
    assert main([*argv, "--fps", "10", "--n-shuffles", "50", "-o", str(out)]) == 0
    said, err = capsys.readouterr()
    assert "late: 1 event (0 in the recording, 0 at least 6 s from its ends), not tested" in said
    assert "Mean of empty slice" not in err
    sig = pd.read_csv(out / "eta_significance.csv", keep_default_na=False)
    late, lever = sig[sig.event == "late"], sig[sig.event == "lever"]
    assert (late.direction == "").all() and not late.significant.any()
    assert set(lever.direction) <= {"excited", "inhibited"} and len(lever) == 3
    assert (out / "figures" / "eta.svg").is_file()
    ev = pd.read_csv(out / "events.csv")
    inside = ev[ev.frame >= 0]  # read back: each event's frame is its nearest frame
    assert np.allclose(inside.frame / fps, inside.time_s, atol=0.5 / fps)
    assert ev.loc[ev.event == "late", "frame"].tolist() == [-1]


def test_events_that_all_miss_the_recording_are_warned_with_a_milliseconds_hint(tmp_path, capsys):
    """User review (h11): event times logged in ms (or a wrong event-clock start) put every event
    outside the recording; `catrack events` wrote empty averages with no word of why."""
    n = 600  # 60 s at 10 Hz
    rng = np.random.default_rng(0)
    pd.DataFrame({"neuron_id": np.repeat(["a", "b"], n), "frame": np.tile(np.arange(n), 2),
                  "dff": rng.normal(0, 0.1, 2 * n)}).to_csv(tmp_path / "t.csv", index=False)  # fmt: skip
    seconds = [10.0, 20.0, 30.0, 40.0]
    pd.DataFrame({"event": "lever", "time_s": [t * 1000 for t in seconds]}).to_csv(
        tmp_path / "ms.csv", index=False
    )
    pd.DataFrame({"event": "lever", "time_s": seconds}).to_csv(tmp_path / "s.csv", index=False)
    base = ["events", str(tmp_path / "t.csv"), "--fps", "10", "--n-shuffles", "20", "-o"]
    assert main([*base, str(tmp_path / "a"), "--events", str(tmp_path / "ms.csv")]) == 0
    err = capsys.readouterr().err
    assert "warning: none of the 4 events falls in the recording (0 to 60 s" in err, err
    assert "from 10000 to 40000 s" in err and "milliseconds" in err
    late = [*base, str(tmp_path / "b"), "--events", str(tmp_path / "s.csv")]
    assert main([*late, "--events-start-s", "100"]) == 0
    err = capsys.readouterr().err
    assert "none of the 4 events" in err and "--events-start-s" in err
    assert "milliseconds" not in err
    assert main([*base, str(tmp_path / "c"), "--events", str(tmp_path / "s.csv")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_lost_neurons_and_untested_kinds_are_said_not_warned_or_called_responsive(tmp_path, capsys):
    """Reviews (h9): a lost (all-NaN) neuron made numpy print "Mean of empty slice" as
    `catrack events: warning:` lines and got p = 1/(1 + shifts), so it was "responsive"; a kind
    with fewer than --min-events events was summed up as "0 responsive neurons"; eta.csv counted
    n_events 3 and eta_significance.csv 2 for the same kind (an event 0.5 s into the recording
    is averaged but not tested: its analysis span runs off the recording)."""
    n = 600
    rng = np.random.default_rng(0)
    dff = rng.normal(0, 0.1, (3, n))
    dff[1] = np.nan  # lost
    dff[2, 100:300] = np.nan  # a gap
    ids = ["a", "lost", "c"]
    pd.DataFrame({"neuron_id": np.repeat(ids, n), "frame": np.tile(np.arange(n), 3),
                  "dff": dff.ravel()}).to_csv(tmp_path / "t.csv", index=False)  # fmt: skip
    events = [("lever", t) for t in (10.0, 20.0, 30.0, 40.0, 50.0)] + [
        ("tone", 0.5), ("tone", 25.0), ("tone", 35.0)]  # fmt: skip
    pd.DataFrame(events, columns=["event", "time_s"]).to_csv(tmp_path / "e.csv", index=False)
    out = tmp_path / "out"
    argv = ["events", str(tmp_path / "t.csv"), "--events", str(tmp_path / "e.csv"), "--fps", "10"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main([*argv, "--n-shuffles", "200", "-o", str(out)]) == 0
    said, err = capsys.readouterr()
    assert "warning" not in err and "empty slice" not in err
    assert (
        "lever: 5 events (5 in the recording, 5 at least 6 s from its ends), 0 responsive" in said
    )
    assert ("tone: 3 events (3 in the recording, 2 at least 6 s from its ends, 1 with the window "
            "cut short by the recording's ends: averaged over the lags recorded), not tested "
            "(fewer than --min-events 3)") in said  # fmt: skip
    sig = pd.read_csv(out / "eta_significance.csv", keep_default_na=False)
    lost = sig[sig.neuron_id == "lost"]
    assert (lost.p_value == "").all() and not lost.significant.any()
    assert (lost.direction == "").all()
    assert (sig[sig.event == "tone"].direction == "").all()
    assert set(sig[sig.event == "tone"].n_events) == {2}  # tested: the span inside
    eta = pd.read_csv(out / "eta.csv")  # averaged: the events with data at that lag
    tone = eta[(eta.event == "tone") & (eta.neuron_id == "a")]
    assert tone.n_events.max() == 3 and tone.loc[tone.lag_s < -0.5, "n_events"].max() == 2


def test_p_values_of_a_neuron_without_data_are_nan_not_the_smallest():
    from napari_catrack.core.events.eta import _p_values

    obs = np.array([np.nan, 1.0, 1.0])
    null = np.array([[np.nan] * 4, [np.nan] * 4, [0.0, 0.1, np.nan, 2.0]])
    for alternative in ("two-sided", "greater", "less"):
        p = _p_values(obs, null, alternative)
        assert np.isnan(p[:2]).all()
    assert _p_values(obs, null, "greater")[2] == pytest.approx(2 / 4)  # 3 shifts, 1 as extreme


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("event,time_s\n,1.0\n", "row 2 has no event name"),  # pandas 3 kept it as NaN
        ("event,time_s\nlever,1.0\nlever,inf\n", "row 3 has an infinite time"),
    ],
)
def test_read_events_bad_rows_are_named(tmp_path, text, message):
    from napari_catrack.io.events import read_events

    (tmp_path / "e.csv").write_text(text)
    with pytest.raises(InputError, match=message):
        read_events(tmp_path / "e.csv")


def test_event_video_frames_out_of_range_are_named_not_the_placeholder_length():
    events = pd.DataFrame({"event": ["lever", "reward"], "frame": [3.0, -5.0]})
    imaging = Clock.regular(100, 10.0)
    unknown_length = Clock.regular(10**7, 30.0)  # `catrack events --video-fps` without a video
    with pytest.raises(InputError, match=r"event 2 \(reward\) has frame -5") as err:
        align_events(events, imaging, video=unknown_length)
    assert "10000000" not in str(err.value)
    events["frame"] = [3.0, 400.0]
    with pytest.raises(InputError, match="event 2 .reward. is at video frame 400, beyond .* 300"):
        align_events(events, imaging, video=Clock.regular(300, 30.0))


def test_events_fps_that_contradicts_the_traces_is_said(tmp_path, capsys):
    """User review (h9): `--fps` was used silently when the traces' own time_s (or the session's
    frame rate) said otherwise, putting every event on the wrong frame."""
    from napari_catrack.session import Session

    syn = make_event_session(seed=3, n_neurons=4, duration_s=120.0)
    n, ids = len(syn.frame_times), syn.neuron_ids
    table = pd.DataFrame({"neuron_id": np.repeat(ids, n), "frame": np.tile(np.arange(n), 4),
                          "time_s": np.tile(syn.frame_times, 4), "dff": syn.dff.ravel()})  # fmt: skip
    table.to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"event": ["x"] * 4, "time_s": [20.0, 40.0, 60.0, 80.0]}).to_csv(
        tmp_path / "e.csv", index=False
    )
    base = ["events", "--events", str(tmp_path / "e.csv"), "--n-shuffles", "20", "-o"]
    assert main([*base, str(tmp_path / "a"), str(tmp_path / "t.csv"), "--fps", "20"]) == 0
    err = capsys.readouterr().err
    assert "--fps 20 differs from the traces' time_s (10 Hz)" in err
    assert "time_s departs from frame / --fps" not in err  # said once: the rate is wrong
    # the right rate, but time_s has the gaps of the dropped frames that frame / fps has not
    assert main([*base, str(tmp_path / "b"), str(tmp_path / "t.csv"), "--fps", "10"]) == 0
    err = capsys.readouterr().err
    assert "differs" not in err and "time_s departs from frame / --fps" in err
    assert "--frame-times" in err
    frames = tmp_path / "frames.csv"
    pd.DataFrame({"time_s": syn.frame_times}).to_csv(frames, index=False)
    argv = [*base, str(tmp_path / "c"), str(tmp_path / "t.csv"), "--frame-times", str(frames)]
    assert main(argv) == 0 and "warning" not in capsys.readouterr().err
    session = Session(tmp_path / "s.catrack.h5")
    session.record("settings", attrs={"fps": 10.0})
    session.record("traces", tables={"traces": table}, attrs={"fps": 10.0})
    session.save()
    assert main([*base, str(tmp_path / "d"), str(tmp_path / "s.catrack.h5"), "--fps", "20"]) == 0
    assert "--fps 20 differs from the session's frame rate (10 Hz)" in capsys.readouterr().err


def test_frame_times_for_traces_numbered_with_gaps_say_how_to_fix(tmp_path, capsys):
    """A time per recorded frame, but the traces number frames by acquisition (dropped ones left
    out): "give one time_s per recorded frame" was what the user had done."""
    syn = make_event_session(seed=3, n_neurons=2, duration_s=60.0)
    full = np.setdiff1d(np.arange(len(syn.frame_times) + len(syn.dropped)), syn.dropped)
    n = len(full)
    pd.DataFrame({"neuron_id": np.repeat(syn.neuron_ids, n), "frame": np.tile(full, 2),
                  "dff": syn.dff.ravel()}).to_csv(tmp_path / "t.csv", index=False)  # fmt: skip
    pd.DataFrame({"time_s": syn.frame_times}).to_csv(tmp_path / "f.csv", index=False)
    pd.DataFrame({"event": ["x"], "time_s": [20.0]}).to_csv(tmp_path / "e.csv", index=False)
    argv = ["events", str(tmp_path / "t.csv"), "--events", str(tmp_path / "e.csv"),
            "--frame-times", str(tmp_path / "f.csv"), "-o", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"one per frame of the traces, but the traces number their frames 0-{full[-1]}" in err
    assert f"with {len(syn.dropped)} numbers missing" in err and not (tmp_path / "o").exists()


def test_bad_frame_times_are_named_by_row_and_a_unit_slip_is_said(tmp_path, capsys):
    """Frame times with a repeated or missing time said only "sample times must be finite and
    strictly increasing"; frame times in ms (a DAQ's) were taken as seconds without a word, and
    the averages then ran on a one-frame window (numpy and matplotlib warnings)."""
    n, fps = 300, 10.0
    rng = np.random.default_rng(1)
    pd.DataFrame({"neuron_id": np.repeat(["a", "b"], n), "frame": np.tile(np.arange(n), 2),
                  "time_s": np.tile(np.arange(n) / fps, 2),
                  "dff": rng.normal(0, 0.1, 2 * n)}).to_csv(tmp_path / "t.csv", index=False)  # fmt: skip
    pd.DataFrame({"event": ["x"] * 3, "time_s": [8.0, 15.0, 22.0]}).to_csv(
        tmp_path / "e.csv", index=False
    )
    good = np.arange(n) / fps
    base = ["events", str(tmp_path / "t.csv"), "--events", str(tmp_path / "e.csv"), "-o"]
    for name, times, message in [
        ("dup.csv", np.r_[good[:100], good[99], good[101:]], "row 102 has 9.9 after 9.9"),
        ("nan.csv", np.r_[good[:50], np.nan, good[51:]], "row 52 has no usable time_s (nan)"),
    ]:
        pd.DataFrame({"time_s": times}).to_csv(tmp_path / name, index=False)
        argv = [*base, str(tmp_path / "o"), "--frame-times", str(tmp_path / name)]
        assert main(argv) == 2
        assert f"{name}: " in (err := capsys.readouterr().err) and message in err, err
        assert main([*base, str(tmp_path / "o"), "--fps", "10", "--video-times",
                     str(tmp_path / name)]) == 2  # fmt: skip
        assert message in capsys.readouterr().err
    pd.DataFrame({"time_s": good * 1000}).to_csv(tmp_path / "ms.csv", index=False)
    assert main([*base, str(tmp_path / "o"), "--frame-times", str(tmp_path / "ms.csv")]) == 2
    err = capsys.readouterr().err
    assert "ms.csv: its frames come at 0.01 Hz but the traces' frame rate is 10 Hz" in err
    assert "spans fewer than 3 frames at 0.01 Hz" in err and "Mean of empty slice" not in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):  # argparse: it used to say "must be , got 'nan'"
        main([*base, str(tmp_path / "o"), "--fps", "10", "--events-start-s", "nan"])
    assert "--events-start-s must be a number, got 'nan'" in capsys.readouterr().err


def _eta_tables(kinds: list[str], n_neurons: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ETA tables of `kinds`: with 2+ neurons the last kind has one responding, the others none."""
    rng = np.random.default_rng(0)
    lags = np.round(np.arange(-2.0, 4.01, 0.1), 2)
    eta = pd.DataFrame(
        [(i, k, lag, rng.normal()) for k in kinds for i in range(1, n_neurons + 1) for lag in lags],
        columns=["neuron_id", "event", "lag_s", "mean"],
    )
    sig = pd.DataFrame(
        [(i, k, rng.normal(), k == kinds[-1] and i == n_neurons > 1, "excited") for k in kinds
         for i in range(1, n_neurons + 1)],
        columns=["neuron_id", "event", "response", "significant", "direction"],
    )  # fmt: skip
    return eta, sig


@pytest.mark.parametrize("n_kinds", [1, 2, 4])
@pytest.mark.parametrize("n_neurons", [1, 23, 300])
def test_eta_figure_lays_out_without_collapsing(n_kinds, n_neurons):
    """The exported ETA figure (`catrack events`' figures/eta.svg): a kind where no neuron
    responds collapsed every axes, with a layout warning (docs review 7, item 2)."""
    import warnings

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from napari_catrack.figures.events import eta_figure

    kinds = ["lever", "reward", "tap", "light"][:n_kinds]
    fig = eta_figure(*_eta_tables(kinds, n_neurons))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FigureCanvasAgg(fig).draw()
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2 * n_kinds
    per_row = min(n_kinds, 2)  # (h13: kinds wrap two to a row, so the page stays 7 in wide)
    rows = -(-n_kinds // per_row)
    assert fig.get_size_inches()[0] <= 7.0
    for ax in panels:
        box = ax.get_position()
        assert box.width > 0.5 / per_row and box.height > 0.25 / rows, (ax.get_title(), box)


def _events_session_written_from(folder, monkeypatch):
    """`folder/data/s.catrack.h5` with lined-up events whose files were given relative to
    `folder` (`cd folder; catrack events data/s.catrack.h5 data/events.csv ...`)."""
    from napari_catrack.core.events.session import record_events
    from napari_catrack.session import Session

    (folder / "data").mkdir(parents=True)
    for name in ("events.csv", "frame_times.csv", "video.mp4"):
        (folder / "data" / name).write_text("x\n")
    monkeypatch.chdir(folder)
    session = Session(folder / "data" / "s.catrack.h5", autosave=False)
    aligned = pd.DataFrame({"event": ["a"], "time_s": [0.1], "frame": [1], "in_recording": [True],
                            "source_time_s": [0.1], "source_frame": [1]})  # fmt: skip
    record_events(session, aligned, Clock.regular(10, 10.0), EventAlignParams(),
                  source="data/events.csv", save=False, frame_times_source="data/frame_times.csv",
                  video_source="data/video.mp4")  # fmt: skip
    session.save()
    return session.path


def test_event_file_paths_reopen_from_any_working_folder(tmp_path, monkeypatch):
    """The event, frame-times and video paths were stored as typed, relative to the working
    folder, so a session reopened elsewhere named files that are not there (review 7, item 4)."""
    from napari_catrack.session import Session

    path = _events_session_written_from(tmp_path, monkeypatch)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    session = Session.load(path)
    step = session["events"]
    for key, name in (("source", "events.csv"), ("frame_times_source", "frame_times.csv"),
                      ("video_source", "video.mp4")):  # fmt: skip
        found = session.resolve_stored_path(step.attrs[key])
        assert Path(found).resolve() == (tmp_path / "data" / name).resolve(), key
    # absolute: a save to another folder (save as, the export's copy) keeps it right
    stored = Path(step.attrs["source"])
    assert stored.is_absolute() and stored.resolve() == (tmp_path / "data" / "events.csv").resolve()
    old = Session.load(path)  # a session from before: relative to the folder it ran in
    old["events"].attrs["source"] = "data/events.csv"
    monkeypatch.chdir(tmp_path)
    assert Path(old.resolve_stored_path("data/events.csv")).resolve() == (
        tmp_path / "data" / "events.csv"
    )


def test_the_events_steps_record_the_files_they_read(tmp_path, capsys):
    """`catrack events` on a session: the events, behaviour_video and eta steps list their input
    files in Session.provenance() (attrs `inputs`, `io.provenance`) like every other step."""
    from napari_catrack.core.events.session import record_video
    from napari_catrack.io.video import write_video
    from napari_catrack.session import Session

    syn = make_event_session(seed=2, n_neurons=6, duration_s=120.0)
    ids, n = syn.neuron_ids, len(syn.frame_times)
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    traces = pd.DataFrame({"neuron_id": np.repeat(ids, n), "frame": np.tile(np.arange(n), len(ids)),
                           "dff": syn.dff.ravel()})  # fmt: skip
    session.record("traces", tables={"traces": traces}, save=False)
    session.save()
    pd.DataFrame({"time_s": syn.frame_times}).to_csv(tmp_path / "frames.csv", index=False)
    syn.events.to_csv(tmp_path / "events.csv", index=False)
    pd.DataFrame({"time_s": syn.video_start_s + np.arange(syn.n_video_frames) / syn.video_fps}).to_csv(
        tmp_path / "video_times.csv", index=False)  # fmt: skip
    rc = main(["events", str(session.path), "--events", str(tmp_path / "events.csv"),
               "--frame-times", str(tmp_path / "frames.csv"), "--events-start-s",
               str(syn.events_start_s), "--video-times", str(tmp_path / "video_times.csv"),
               "--n-shuffles", "50", "-o", str(tmp_path / "out")])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    prov = Session.load(session.path).provenance()
    files = {"events": "events.csv", "frame_times": "frames.csv", "video_times": "video_times.csv"}
    for step in ("events", "eta"):
        inputs = prov[step]["inputs"]
        assert {r: Path(f["path"]).name for r, f in inputs.items()} == files, step
        assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in inputs.values())
    # the behaviour video step: the video file (and its frame times when given)
    video = tmp_path / "behaviour.avi"
    write_video(video, np.zeros((20, 8, 8), np.uint8), fps=10.0)
    s2 = Session(tmp_path / "v.catrack.h5", autosave=False)
    record_video(s2, str(video), Clock.regular(20, 10.0), Clock.regular(30, 15.0),
                 inputs={"video_times": tmp_path / "video_times.csv"})  # fmt: skip
    inputs = s2.provenance()["behaviour_video"]["inputs"]
    assert {r: Path(f["path"]).name for r, f in inputs.items()} == {
        "video": "behaviour.avi", "video_times": "video_times.csv"}  # fmt: skip


def test_events_command_keeps_the_video_it_lined_up_for_the_nwb_export(tmp_path, capsys):
    """User review (h11): `catrack events SESSION --video V --video-fps 15 --video-start-s 1.5`
    lined the video up but kept only the events: the NWB export had no BehaviorVideo and timed
    the behaviour series as if the video began with the imaging (the widget kept it)."""
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.video import write_video
    from napari_catrack.session import Session

    n = 300
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    session.record("traces", tables={"traces": pd.DataFrame(
        {"neuron_id": 1, "frame": np.arange(n), "dff": np.zeros(n)})}, attrs={"fps": 10.0})  # fmt: skip
    session.save()
    pd.DataFrame({"event": "lever", "time_s": [5.0, 12.0, 20.0]}).to_csv(
        tmp_path / "e.csv", index=False
    )
    write_video(tmp_path / "behaviour.avi", np.zeros((40, 8, 8), np.uint8), fps=15.0)
    assert main(["events", str(session.path), "--events", str(tmp_path / "e.csv"), "--video",
                 str(tmp_path / "behaviour.avi"), "--video-fps", "15", "--video-start-s", "1.5",
                 "--n-shuffles", "20", "-o", str(tmp_path / "out")]) == 0  # fmt: skip
    back = Session.load(session.path)
    times = back["behaviour_video"].tables["frame_times"]["time_s"].to_numpy()
    np.testing.assert_allclose(times, 1.5 + np.arange(40) / 15.0)
    with NWBHDF5IO(str(write_nwb(back, tmp_path / "s.nwb")), "r") as io:
        video = io.read().acquisition["BehaviorVideo"]
        assert video.rate == 15.0 and video.starting_time == 1.5
        assert video.external_file[0] == "behaviour.avi"
    # lined up again without the video: the old video's frame times must not stay behind and
    # go on timing the behaviour in the NWB export
    assert main(["events", str(session.path), "--events", str(tmp_path / "e.csv"),
                 "--n-shuffles", "20", "-o", str(tmp_path / "out2")]) == 0  # fmt: skip
    again = Session.load(session.path)
    assert "behaviour_video" not in again and again["events"].attrs["video_source"] == ""
    with NWBHDF5IO(str(write_nwb(again, tmp_path / "s2.nwb")), "r") as io:
        assert "BehaviorVideo" not in io.read().acquisition


def test_events_near_the_start_and_end_are_averaged_where_recorded_never_shifted(tmp_path, capsys):
    """Leftover (h10): the ETAs were tested only with the whole window inside the recording. An
    event 0.33 s after the start or 0.42 s before the end: each lag holds the recorded frame
    nearest it or nothing (a lag up to a frame beyond the first or last frame got that frame
    again: the same sample at two lags, the window shifted onto the recording); such events are
    averaged, not tested, and said to be cut short."""
    from napari_catrack.core.events.eta import edge_note

    fps, n = 10.0, 600
    t = np.arange(n) / fps
    values = np.vstack([t, 2 * t])  # a ramp: each lag's value names the frame it came from
    starts = {"start": 0.33, "end": 59.48, "mid": 30.03, "first": 0.0, "before": -0.5}
    events = pd.DataFrame({"event": list(starts), "time_s": list(starts.values())})
    p = EtaParams(n_shuffles=20, min_events=1)
    r = event_triggered_averages(values, t, ["a", "b"], events, p)
    eta = r.eta[r.eta.neuron_id == "a"]
    for kind, t0 in starts.items():
        rows = eta[eta.event == kind]
        lag = rows.lag_s.to_numpy()
        at = t0 + lag
        recorded = (at >= -0.05 - 1e-9) & (at <= t[-1] + 0.05 + 1e-9)
        baseline = recorded & (lag < 0) & (lag >= -p.baseline_s - 1e-9)
        has = rows.n_events.to_numpy() > 0
        if not baseline.any():  # nothing to subtract: not averaged at all
            assert not has.any(), kind
            continue
        assert (has == recorded).all(), kind  # every recorded lag, and only those
        base = np.mean(np.round(at[baseline] * fps) / fps)
        expected = np.round(at[recorded] * fps) / fps - base
        np.testing.assert_allclose(rows["mean"].to_numpy()[recorded], expected, atol=1e-9)
        assert (np.diff(rows["mean"].to_numpy()[recorded]) > 0).all(), kind  # no frame twice
    assert not eta[eta.event == "start"].query("lag_s < -0.35").n_events.any()
    assert not eta[eta.event == "end"].query("lag_s > 0.45").n_events.any()
    sig = r.significance.set_index(["neuron_id", "event"])
    assert sig.loc[("a", "mid"), "n_events"] == 1 and np.isfinite(sig.loc[("a", "mid"), "p_value"])
    for kind in ("start", "end", "first", "before"):  # near the ends: averaged, not tested
        assert sig.loc[("a", kind), "n_events"] == 0 and np.isnan(sig.loc[("a", kind), "p_value"])
    assert r.edges["mid"] == {"cut_short": 0, "no_baseline": 0}
    assert r.edges["start"] == r.edges["end"] == {"cut_short": 1, "no_baseline": 0}
    assert r.edges["first"] == r.edges["before"] == {"cut_short": 1, "no_baseline": 1}
    assert edge_note(r.edges["first"]) == (
        ", 1 with the window cut short by the recording's ends: averaged over the lags "
        "recorded; 1 of them without a recorded baseline: not averaged"
    )
    # the command says so, per kind
    ids = ["a", "b"]
    pd.DataFrame({"neuron_id": np.repeat(ids, n), "frame": np.tile(np.arange(n), 2),
                  "dff": values.ravel()}).to_csv(tmp_path / "t.csv", index=False)  # fmt: skip
    events.to_csv(tmp_path / "e.csv", index=False)
    assert main(["events", str(tmp_path / "t.csv"), "--events", str(tmp_path / "e.csv"), "--fps",
                 "10", "--n-shuffles", "20", "--min-events", "1", "-o", str(tmp_path / "o")]) == 0  # fmt: skip
    said = capsys.readouterr().out  # a result line per kind, on stdout
    assert ("start: 1 event (1 in the recording, 0 at least 6 s from its ends, 1 with the "
            "window cut short by the recording's ends: averaged over the lags recorded), "
            "not tested") in said, said  # fmt: skip
    assert "mid: 1 event (1 in the recording, 1 at least 6 s from its ends), " in said, said


def test_interval_events_are_drawn_as_spans_from_onset_to_end_and_moments_as_ticks():
    """An event with a duration was a tick at its onset: it is a span over onset..onset +
    duration (in the axes' units), a moment (no duration, or 0) stays a tick."""
    from matplotlib.figure import Figure

    from napari_catrack.figures.events import draw_event_ticks

    events = pd.DataFrame(
        {
            "event": ["tone", "lever", "lever", "tone"],
            "frame": [20, 35, -3, 60],  # -3: before the recording, not drawn
            "duration_s": [1.5, np.nan, np.nan, 0.0],
        }
    )
    fps = 10.0
    fig = Figure()
    axes = fig.subplots(2, 1)
    draw_event_ticks(axes, events, lambda f: f / fps, fps=fps)
    for ax in axes:
        spans = [p.get_path().transformed(p.get_patch_transform()).vertices for p in ax.patches]
        assert len(spans) == 1  # the one tone with a duration
        xs = spans[0][:, 0]
        assert (xs.min(), xs.max()) == pytest.approx((2.0, 3.5))  # onset 20 / 10 Hz, + 1.5 s
        ticks = sorted(line.get_xdata()[0] for line in ax.lines if len(line.get_xdata()))
        assert ticks == pytest.approx([3.5, 6.0])  # the lever, the 0 s tone
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["lever", "tone"]
    fig = Figure()  # no frame rate (x in frames, fps unknown): a duration cannot be placed
    ax = fig.subplots()
    draw_event_ticks([ax], events, float)
    assert not ax.patches and len([ln for ln in ax.lines if len(ln.get_xdata())]) == 3


def test_averages_of_an_interval_kind_shade_the_span_it_lasts():
    """The ETA figure's onset line is the only mark of an event; a kind of intervals also gets
    a shaded span from 0 to its (median) duration on its curves, a kind of moments none."""
    from napari_catrack.figures.events import eta_figure, kind_durations

    lags = np.round(np.arange(-2, 4.01, 0.5), 2)
    eta = pd.DataFrame(
        [(k, n, lag, float(lag > 0)) for k in ("puff", "tone") for n in (1, 2) for lag in lags],
        columns=["event", "neuron_id", "lag_s", "mean"],
    )
    sig = pd.DataFrame({"event": ["puff", "puff", "tone", "tone"], "neuron_id": [1, 2, 1, 2],
                        "response": 1.0, "significant": True, "direction": "excited"})  # fmt: skip
    events = pd.DataFrame(
        {"event": ["tone", "tone", "tone", "puff"], "duration_s": [1.0, 2.0, 9.0, np.nan]}
    )
    assert kind_durations(events) == {"tone": 2.0}
    fig = eta_figure(eta, sig, events)
    curves = {ax.get_xlabel().split(" (s)")[0]: ax for ax in fig.axes if "time from" in ax.get_xlabel()}  # fmt: skip
    tone, puff = curves["time from tone"], curves["time from puff"]
    assert not puff.patches and "shaded" not in puff.get_xlabel()
    (span,) = tone.patches
    xs = span.get_path().transformed(span.get_patch_transform()).vertices[:, 0]
    assert (xs.min(), xs.max()) == pytest.approx((0.0, 2.0))
    assert tone.get_xlabel() == "time from tone (s); shaded: lasts 2 s"
    assert not any(ax.patches for ax in eta_figure(eta, sig).axes)  # no events given: no span


def test_event_triggered_averages_of_ratio_traces_are_labelled_dr_over_r():
    """Traces made from the green/red ratio hold dR/R0 in `dff`: the ETA figure says ΔR/R₀ then,
    ΔF/F otherwise (it said ΔF/F for both)."""
    import pandas as pd

    from napari_catrack.figures.events import eta_figure
    from napari_catrack.figures.traces import session_dff_is_ratio
    from napari_catrack.session import Session

    tables = _eta_tables(["lever"], 3)
    ratio_fig = eta_figure(*tables, ratio=True)
    plain_fig = eta_figure(*tables)
    ratio_labels = " ".join(ax.get_ylabel() for ax in ratio_fig.axes)
    plain_labels = " ".join(ax.get_ylabel() for ax in plain_fig.axes)
    assert "ΔR/R₀" in ratio_labels and "ΔF/F" not in ratio_labels
    assert "ΔF/F" in plain_labels and "ΔR/R₀" not in plain_labels
    session = Session(autosave=False)
    assert not session_dff_is_ratio(session)
    frame = np.arange(5)
    green = {"neuron_id": 1, "frame": frame, "dff": frame * 0.1, "dff_green": frame * 0.1}
    session.record("traces", tables={"traces": pd.DataFrame(green)}, save=False)
    assert not session_dff_is_ratio(session)  # dff is the green dF/F
    ratio = {**green, "ratio": 0.5 + frame * 0.01, "dff": frame * 0.02}
    session.record("traces", tables={"traces": pd.DataFrame(ratio)}, save=False)
    assert session_dff_is_ratio(session)


@pytest.mark.parametrize("n_kinds", [1, 2])
def test_eta_figure_legend_covers_no_curve(n_kinds):
    """The curves panel's legend ("excited (1) / inhibited (1)") sat on the curves (h19): it is
    drawn outside the panel now, and overlaps neither the panel nor the heat map above it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from napari_catrack.figures.events import eta_figure

    kinds = ["lever", "tap"][:n_kinds]
    eta, sig = _eta_tables(kinds, 6)
    sig["significant"] = sig["neuron_id"].isin([1, 2])
    sig.loc[sig["neuron_id"] == 2, "direction"] = "inhibited"
    fig = eta_figure(eta, sig)
    renderer = FigureCanvasAgg(fig).get_renderer()
    FigureCanvasAgg(fig).draw()
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    legends = [(ax, ax.get_legend()) for ax in panels if ax.get_legend() is not None]
    assert len(legends) == n_kinds
    for ax, legend in legends:
        assert [t.get_text() for t in legend.get_texts()] == ["excited (1)", "inhibited (1)"]
        box = legend.get_window_extent(renderer)
        for other in panels:
            assert not box.overlaps(other.get_window_extent(renderer)), (ax.get_xlabel(), box)
        for line in ax.get_lines():  # no curve point under the legend
            xy = ax.transData.transform(line.get_xydata())
            assert not box.count_contains(xy[np.isfinite(xy).all(axis=1)])
