"""Session 21's review of session 20's changes (h21-rev): each test failed on 87a84e9."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.behaviour.bouts import compute_bouts
from napari_catrack.core.behaviour.params import BoutParams
from napari_catrack.core.behaviour.records import record_bouts, record_velocity
from napari_catrack.session import Session


def _velocity(times, speed=100.0, direction=1) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({
        "frame": np.arange(n), "time_s": np.asarray(times, float), "x_um": 0.0, "y_um": 0.0,
        "vy_um_s": 0.0, "vx_um_s": speed, "speed_um_s": speed,
        "signed_speed_um_s": speed * direction,
        "direction": pd.array([direction] * n, dtype="Int64"),
    })  # fmt: skip


def _with_bouts(velocity: pd.DataFrame) -> Session:
    s = Session()
    record_velocity(s, velocity, {}, {"source": "centerline", "fps": None}, save=False)
    record_bouts(s, compute_bouts(velocity, BoutParams()), BoutParams().to_dict(),
                 {"coiled": False}, save=False)  # fmt: skip
    return s


def test_nwb_bouts_stop_at_their_last_frame_not_after_a_time_gap():
    """A gap in the frame times ends every bout (`compute_bouts`): the bout before it stops at
    its last frame's time + one step (offset_s), 2.0 s here. The NWB table stopped it at the
    time of the frame after the gap (10 s), and the last bout at a step of the whole span's
    mean rate, gap included (12.2 s, not 12.0)."""
    pytest.importorskip("pynwb")
    from napari_catrack.io.nwb import build_nwbfile

    times = np.r_[np.arange(20) / 10, 10 + np.arange(20) / 10]
    s = _with_bouts(_velocity(times))
    bouts = s["bouts"].tables["bouts"]
    assert bouts.offset_s.tolist() == pytest.approx([2.0, 12.0])
    s.record("settings", attrs={"fps": 10.0}, save=False)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    nwb = build_nwbfile(s, {"session_start_time": start})
    table = nwb.intervals["behavior_bouts"].to_dataframe()
    assert table.start_time.tolist() == pytest.approx([0.0, 10.0])
    assert table.stop_time.tolist() == pytest.approx([2.0, 12.0])


def test_a_new_velocity_drops_the_bouts_of_the_old_one():
    """Bouts are called from a velocity: after a new velocity (the widget's, or `catrack
    velocity` without --bouts) the session kept the old run's bouts, which the export folder
    and the NWB file then wrote beside a velocity they were not called from."""
    s = _with_bouts(_velocity(np.arange(40) / 10))
    assert len(s["bouts"].tables["bouts"]) == 1
    record_velocity(s, _velocity(np.arange(40) / 10, speed=5.0, direction=0), {},
                    {"source": "centerline", "fps": 10.0}, save=False)  # fmt: skip
    assert "bouts" not in s


def test_uneven_times_name_the_gap_not_the_first_frames():
    """`frame_rate_of_times` checks the steps at the median rate of runs of 64 steps: with 100
    frames a neuron has 2 runs, so a 5 s pause in each neuron's second run moved the median to
    7.06 Hz and the message blamed "frames 0 to 1" (0.706 frames) instead of the pause."""
    from napari_catrack.core.transients.features import frame_rate_of_times

    frames = np.arange(100)
    times = frames / 10.0
    times[70:] += 5.0  # a 5 s pause after frame 69
    table = pd.DataFrame({"neuron_id": np.repeat(np.arange(30), 100),
                          "frame": np.tile(frames, 30), "time_s": np.tile(times, 30)})  # fmt: skip
    rate, why = frame_rate_of_times(table)
    assert rate is None
    assert "frames 69 to 70" in why and "at the 10 Hz" in why


def test_every_option_a_parameter_help_names_exists():
    """A parameter's help (the CLI's --help and the widget's tooltip) that names an option must
    name one a command has: BoutParams.move_um_s said "it stays moving down to --pause-um-s",
    an option no command has (it is --bout-pause-um-s)."""
    import argparse
    import dataclasses
    import importlib
    import pkgutil
    import re

    import napari_catrack
    from napari_catrack.cli import build_parser
    from napari_catrack.params import StepParams

    options: set[str] = set()

    def walk(parser) -> None:
        for action in parser._actions:
            options.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    for module in pkgutil.walk_packages(napari_catrack.__path__, "napari_catrack."):
        if module.name.endswith(".params"):
            importlib.import_module(module.name)
    classes, todo = set(), [StepParams]
    while todo:
        for sub in todo.pop().__subclasses__():
            classes.add(sub)
            todo.append(sub)
    named = [(c.__name__, f.name, o) for c in classes for f in dataclasses.fields(c)
             for o in re.findall(r"--[a-z0-9][a-z0-9-]*", str(f.metadata.get("help", "")))]  # fmt: skip
    assert len({c for c, _, _ in named}) >= 2  # the check reads the helps
    assert [n for n in named if n[2] not in options] == []


def test_a_folder_of_png_frames_is_listed_in_linear_time(tmp_path, monkeypatch):
    """Every command checks its outputs against the frame files of a folder input
    (`output_check._input_files`): it asked, for each PNG, whether any file of the folder is a
    TIFF, n x n name checks (2,000 frames: 3 s; 36,000, a 20-minute video's: ~17 min before the
    command began). Counted, not timed: the checks now grow with n."""
    import napari_catrack.io.tiff as tiff
    from napari_catrack.io.output_check import _input_files

    n = 300
    for i in range(n):
        (tmp_path / f"f{i:04d}.png").write_bytes(b"")
    calls = []
    real = tiff.is_tiff_path
    monkeypatch.setattr(tiff, "is_tiff_path", lambda p: calls.append(p) or real(p))
    listed = list(_input_files(str(tmp_path)))
    assert len(listed) == n + 1  # the folder and its frames
    assert len(calls) <= 3 * n
    (tmp_path / "extra.tif").write_bytes(b"")  # a TIFF beside them: a folder mixing kinds may
    listed = list(_input_files(str(tmp_path)))  # read them all (io.tiff.sequence_files), so
    assert len(listed) == n + 2 and str(tmp_path / "extra.tif") in listed  # all are checked


def test_merging_short_interruptions_does_not_rescan_the_bouts_before():
    """`compute_bouts` merged one short interruption at a time and then looked again from the
    first run: the runs before it, found not to merge, were checked again for every later merge
    (a noisy 20-minute recording at 30 Hz: 14.6 s, 0.27 s now, bout table the same). Counted, not
    timed: the run lengths it measures grow with the runs, not with runs x merges."""
    import sys

    from napari_catrack.core.behaviour import bouts as module

    # 100 forward runs between 1 s pauses (measured, not merged), then 100 forward runs
    # broken by 0.2 s pauses (each merged)
    speed = [100] * 10 + ([5] * 10 + [100] * 10) * 100 + ([5] * 2 + [100] * 10) * 100
    direction = [1 if s > 50 else 0 for s in speed]
    table = pd.DataFrame({"frame": np.arange(len(speed)), "time_s": np.arange(len(speed)) / 10,
                          "speed_um_s": np.asarray(speed, float),
                          "signed_speed_um_s": np.asarray(speed, float) * direction,
                          "direction": pd.array(direction, dtype="Int64")})  # fmt: skip
    calls = [0]

    def count(frame, event, _arg):
        if event == "call" and frame.f_code.co_name == "length":
            calls[0] += frame.f_code.co_filename == module.__file__
        return None

    before = sys.gettrace()  # (a coverage run's tracer: put back)
    sys.settrace(count)
    try:
        bouts = compute_bouts(table, BoutParams())
    finally:
        sys.settrace(before)
    assert bouts.state.tolist() == ["forward", "pause"] * 100 + ["forward"]
    assert bouts.end_frame.iloc[-1] == len(speed) - 1  # the last 100 runs: one bout
    assert calls[0] <= 2_000  # 400 runs; 87a84e9: 20,000 and more


def test_the_hysteresis_starts_afresh_after_a_gap_in_the_times():
    """A gap in the frame times ends every bout, and the worm after it starts as at the first
    frame: still until it reaches the moving speed. The hysteresis carried the state across
    the gap, so 2 s at 30 µm/s (between the pause and moving speeds) after a 60 s pause of the
    recording were a forward bout because the worm had crawled before the pause; at the start of
    a recording the same 2 s are a pause."""
    from napari_catrack.core.behaviour.bouts import frame_states

    times = np.r_[np.arange(20) / 10, 62 + np.arange(20) / 10]
    table = _velocity(times).assign(speed_um_s=[100.0] * 20 + [30.0] * 20)
    labels = frame_states(table, BoutParams())
    assert (labels[:20] == "forward").all()
    assert (labels[20:] == "pause").all()
    alone = frame_states(table.iloc[20:].reset_index(drop=True), BoutParams())
    assert (alone == "pause").all()  # the same frames as a recording of their own
    assert compute_bouts(table, BoutParams()).state.tolist() == ["forward", "pause"]


def test_turn_a3_without_a_frames_table_is_refused(tmp_path, capsys):
    """`catrack velocity --bouts B --turn-a3 10` without --frames-table (where a3 is read) called
    no turn by a3 and said nothing; it is refused before anything is written, as --frames-table
    without --bouts is."""
    from napari_catrack.cli import main

    t = np.arange(60) / 6.0
    pd.DataFrame({"frame": np.arange(60), "time_s": t, "x": t * 100.0, "y": 0.0}).to_csv(
        tmp_path / "path.csv", index=False
    )
    args = ["velocity", "--stage", str(tmp_path / "path.csv"), "--fps", "6", "-o",
            str(tmp_path / "v.csv"), "--bouts", str(tmp_path / "b.csv")]  # fmt: skip
    assert main([*args, "--turn-a3", "10"]) != 0
    assert "--turn-a3 reads the a3 column of --frames-table" in capsys.readouterr().err
    assert not (tmp_path / "v.csv").exists() and not (tmp_path / "b.csv").exists()
    assert main(args) == 0  # (off, the default: fine without it)


def test_backward_shading_stops_at_a_gap_in_the_times():
    """The speed figure draws no line across a gap in the times (h20), but its "backward"
    shading ran across it: a worm reversing before and after a 58 s pause of the recording was
    shaded backward for the whole pause (0 to 61.9 s)."""
    from matplotlib.figure import Figure

    from napari_catrack.figures.behaviour import draw_velocity_panel, speed_figure

    times = np.r_[np.arange(20) / 10, 60 + np.arange(20) / 10]
    table = _velocity(times, direction=-1)
    panel = Figure().add_subplot(111)
    draw_velocity_panel(panel, table)
    for ax, pick in ((speed_figure(table).axes[0], lambda c: c.get_label() == "backward"),
                     (panel, lambda c: True)):  # fmt: skip
        shaded = [p.get_extents() for c in ax.collections if pick(c) for p in c.get_paths()]
        spans = sorted((round(e.x0, 6), round(e.x1, 6)) for e in shaded)
        assert spans == [(0.0, 1.9), (60.0, 61.9)]


def test_nwb_bouts_say_which_frames_their_frame_columns_count():
    """The NWB bout table called start_frame/end_frame behaviour-video frames whatever the
    velocity was made from: with `--tracks` they are imaging frames, with a stage path alone
    the stage path's rows."""
    pytest.importorskip("pynwb")
    from napari_catrack.io.nwb import build_nwbfile

    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    said = {}
    for source in ("tracks", "stage", "centerline"):
        v = _velocity(np.arange(40) / 10)
        s = Session()
        record_velocity(s, v, {}, {"source": source, "fps": 10.0}, save=False)
        record_bouts(s, compute_bouts(v, BoutParams()), BoutParams().to_dict(),
                     {"coiled": False}, save=False)  # fmt: skip
        s.record("settings", attrs={"fps": 10.0}, save=False)
        table = build_nwbfile(s, {"session_start_time": start}).intervals["behavior_bouts"]
        said[source] = table["start_frame"].description
    assert "imaging frame" in said["tracks"]
    assert "stage path" in said["stage"]
    assert "behaviour-video frame" in said["centerline"]
