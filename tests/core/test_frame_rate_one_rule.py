"""One rule for the frame rate a table's times state (`core.transients.frame_rate_of_times`).

h20: `Session.frame_rate()` kept its own lenient median of the traces' time_s steps, read by every
widget (`ctx.fps`), the batch, the exports and `catrack events`. A 30 Hz camera that dropped
frames (numbered on, timed by their timestamps) then gave "30 Hz", and frame / 30 ran a frame
early after each gap for the rest of the recording: `catrack events` put every later event on
the wrong frame without a word."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import EXIT_USER_ERROR, main

FPS, N, GAP_AT, LOST = 30.0, 3000, 1200, 5


def _gappy() -> pd.DataFrame:
    """Three neurons x N frames at FPS, numbered on, but LOST frames dropped before frame GAP_AT
    (their timestamps jump: frame 1200 is at (1200 + 5) / 30 s)."""
    frames = np.arange(N)
    time = (frames + LOST * (frames >= GAP_AT)) / FPS
    rng = np.random.default_rng(0)
    return pd.concat([pd.DataFrame({"neuron_id": f"n{i}", "frame": frames, "time_s": time,
                                    "dff": rng.normal(0, 0.05, N)}) for i in range(3)],
                     ignore_index=True)  # fmt: skip


def _session(traces: pd.DataFrame, path=None):
    from napari_catrack.session import Session

    session = Session(path, autosave=False)
    session.record("traces", tables={"traces": traces}, save=False)
    return session


def test_a_sessions_rate_from_uneven_times_is_none_and_says_where():
    session = _session(_gappy())
    # before: 30.0 (the median step), as if frame / 30 were each frame's time
    assert session.frame_rate() is None
    from napari_catrack.core.transients import median_step_rate

    rate, why = session.traces_frame_rate()
    assert rate is None and why.startswith("its times are uneven: neuron n0's frames 1199 to 1200")
    assert median_step_rate(_gappy()) == pytest.approx(FPS)  # the rate they were taken at
    # even times (a suite2p plane's offset kept) still state their rate, by the same rule
    even = _gappy().assign(time_s=lambda d: d.frame / FPS + 0.01 * (d.neuron_id == "n2"))
    assert _session(even).frame_rate() == pytest.approx(FPS, rel=1e-12)
    # the answer is kept for the table it was read from: new traces are read again
    session.record("traces", tables={"traces": even}, save=False)
    assert session.frame_rate() == pytest.approx(FPS, rel=1e-12)
    session.record("traces", tables={"traces": _gappy()}, save=False)
    assert session.frame_rate() is None
    # a rate set or recorded wins over the times, as before
    session.record("settings", attrs={"fps": FPS}, save=False)
    assert session.frame_rate() == FPS


def test_a_jittered_clock_is_read_over_its_span_not_its_median_step():
    """Real timestamps (0.5 ms jitter at 30.006 Hz): the median step read 29.999 Hz, 2.4e-4
    off (after 20,000 frames, frame / rate lands 5 frames away from time_s)."""
    rng = np.random.default_rng(1)
    frames = np.arange(20_000)
    table = pd.DataFrame({"neuron_id": "n0", "frame": frames, "dff": 0.0,
                          "time_s": frames / 30.006 + rng.normal(0, 5e-4, len(frames))})  # fmt: skip
    assert _session(table).frame_rate() == pytest.approx(30.006, rel=2e-5)


def test_events_on_uneven_times_without_a_rate_are_refused_not_shifted(tmp_path, capsys):
    """`catrack events t.csv --events e.csv` on traces with dropped frames: it used 30 Hz from
    the median step and put an event at 70 s on frame 2100, which the traces time at 70.17 s
    (frame 2095 is at 70 s). Now refused, naming the frames, with the fix; the frame times
    (the table's own time_s) put it on frame 2095."""
    _gappy().to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"event": ["x"] * 3, "time_s": [20.0, 50.0, 70.0]}).to_csv(
        tmp_path / "e.csv", index=False
    )
    base = ["events", str(tmp_path / "t.csv"), "--events", str(tmp_path / "e.csv"),
            "--n-shuffles", "20", "-o"]  # fmt: skip
    assert main([*base, str(tmp_path / "a")]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "give the imaging frame rate (--fps) or its frame times (--frame-times)" in err
    assert "neuron n0's frames 1199 to 1200 take 6 frames" in err and "--frame-times keeps" in err
    assert not (tmp_path / "a").exists()

    pd.DataFrame({"time_s": _gappy().time_s[:N]}).to_csv(tmp_path / "f.csv", index=False)
    assert main([*base, str(tmp_path / "b"), "--frame-times", str(tmp_path / "f.csv")]) == 0
    assert "warning" not in capsys.readouterr().err
    events = pd.read_csv(tmp_path / "b" / "events.csv")
    assert list(events["frame"]) == [600, 1500 - LOST, 2100 - LOST]

    # --fps: the nominal rate is still told apart from the gaps (h19 review), as before
    assert main([*base, str(tmp_path / "c"), "--fps", "30"]) == 0
    err = capsys.readouterr().err
    assert "differs" not in err and "time_s departs from frame / --fps" in err
    assert main([*base, str(tmp_path / "d"), "--fps", "31"]) == 0
    assert "--fps 31 differs from the traces' time_s (30 Hz)" in capsys.readouterr().err


def test_a_session_file_with_uneven_times_is_refused_too(tmp_path, capsys):
    """The same traces in a session file with no rate recorded: its frame_rate() was 30 Hz and
    `catrack events S.catrack.h5` lined the events up by it."""
    session = _session(_gappy(), tmp_path / "s.catrack.h5")
    session.save()
    pd.DataFrame({"event": ["x"], "time_s": [70.0]}).to_csv(tmp_path / "e.csv", index=False)
    argv = ["events", str(tmp_path / "s.catrack.h5"), "--events", str(tmp_path / "e.csv"),
            "--n-shuffles", "20", "-o", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "the traces' time_s states no rate, its times are uneven: neuron n0's frames 1199" in err
    assert not (tmp_path / "o").exists()
    # with --fps the gaps are said, as for a table
    assert main([*argv[:-1], str(tmp_path / "p"), "--fps", "30"]) == 0
    assert "time_s departs from frame / --fps" in capsys.readouterr().err


def test_the_events_widgets_clock_names_the_uneven_frames():
    """`imaging_clock` (the Events widget, the batch events step): the session's lenient rate
    made a regular clock at 30 Hz over times with gaps; now no rate, and the frames said."""
    from napari_catrack.core.events.session import imaging_clock
    from napari_catrack.errors import InputError

    with pytest.raises(InputError, match="time_s states none, its times are uneven: neuron n0's "
                       "frames 1199 to 1200") as err:  # fmt: skip
        imaging_clock(_session(_gappy()))
    assert str(err.value).endswith("set it before lining up events")
    assert len(imaging_clock(_session(_gappy()), fps=FPS)) == N  # a rate given: as before


def test_events_on_a_session_with_a_rate_and_uneven_times_warns_as_the_widget(tmp_path, capsys):
    """A session with a recorded rate (30 Hz) whose traces dropped frames: `catrack events`
    lined the events up at frame / 30 without a word, where the Transients widget says so (h21).
    Now the same warning (`uneven_times_note`, one message), naming the frames, with the fix;
    the rate in force is kept. Not said for even times, nor once --frame-times line them up."""
    from napari_catrack.core.transients import frame_rate_of_times, uneven_times_note

    session = _session(_gappy(), tmp_path / "s.catrack.h5")
    session.record("settings", attrs={"fps": FPS}, save=False)
    session.save()
    pd.DataFrame({"event": ["x"], "time_s": [70.0]}).to_csv(tmp_path / "e.csv", index=False)
    argv = ["events", str(tmp_path / "s.catrack.h5"), "--events", str(tmp_path / "e.csv"),
            "--n-shuffles", "20", "-o"]  # fmt: skip
    assert main([*argv, str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    why = frame_rate_of_times(_gappy())[1]
    note = uneven_times_note(why, FPS, "events")
    assert note.startswith("the traces' time_s states no frame rate, its times are uneven: "
                           "neuron n0's frames 1199 to 1200 take 6 frames")  # fmt: skip
    assert "the 30 Hz in force times the events (frame / rate)" in note
    assert note + ": give the frame times with --frame-times to keep them" in err
    assert pd.read_csv(tmp_path / "o" / "events.csv")["frame"].tolist() == [2100]  # rate kept
    # --fps (agreeing) over the session's rate: the same times not followed, said the same way
    assert main([*argv, str(tmp_path / "p"), "--fps", "30"]) == 0
    assert note in capsys.readouterr().err
    # the frame times given: they line the events up, no warning
    pd.DataFrame({"time_s": _gappy().time_s[:N]}).to_csv(tmp_path / "f.csv", index=False)
    assert main([*argv, str(tmp_path / "q"), "--frame-times", str(tmp_path / "f.csv")]) == 0
    assert "states no frame rate" not in capsys.readouterr().err
    # even times in a session with a rate: nothing to say
    even = _gappy().assign(time_s=lambda d: d.frame / FPS)
    other = _session(even, tmp_path / "t.catrack.h5")
    other.record("settings", attrs={"fps": FPS}, save=False)
    other.save()
    argv[1] = str(tmp_path / "t.catrack.h5")
    assert main([*argv, str(tmp_path / "r")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_batch_events_step_reports_a_rate_kept_over_uneven_times(tmp_path):
    """The batch events step (a manifest's fps over traces that dropped frames) lined the events
    up at frame / fps without a word, where `catrack events` warns (h21b): now its report row
    says the same `uneven_times_note`; the rate is kept. Even times: nothing said."""
    from types import SimpleNamespace

    from napari_catrack.batch.steps import StepContext, _events
    from napari_catrack.core.events.params import EventAlignParams
    from napari_catrack.core.transients import frame_rate_of_times, uneven_times_note

    pd.DataFrame({"event": ["x"], "time_s": [70.0]}).to_csv(tmp_path / "e.csv", index=False)
    spec = SimpleNamespace(options={"fps": FPS}, path=tmp_path / "none.tif",
                           files={"events": tmp_path / "e.csv"})  # fmt: skip
    note = uneven_times_note(frame_rate_of_times(_gappy())[1], FPS, "events")
    for traces, said in (
        (_gappy(), True),
        (_gappy().assign(time_s=lambda d: d.frame / FPS), False),
    ):
        session = _session(traces)
        ctx = StepContext(spec, session, tmp_path, log=lambda line: None)
        ctx.__dict__["recording"] = SimpleNamespace(n_frames=N)  # (no movie to open)
        message = _events(ctx, EventAlignParams())
        assert message.startswith("1/1 events in the recording")
        assert (message == f"1/1 events in the recording; {note}") is said, message
        assert session["events"].tables["events"]["frame"].tolist() == [2100]  # rate kept
