"""Behavioural bouts (`core.behaviour.bouts`): forward runs, reversals, pauses and turns against
the synthetic worm's planted schedule, the rules (hysteresis, merging, minimum duration,
unknown direction), the event reader, and `catrack velocity --bouts`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.core.behaviour import compute_velocity
from napari_catrack.core.behaviour.bouts import COLUMNS, compute_bouts, frame_states, write_bouts
from napari_catrack.core.behaviour.params import BoutParams, VelocityParams
from napari_catrack.core.behaviour.scoring import match_onsets, onsets
from napari_catrack.errors import InputError
from napari_catrack.io.events import read_events
from napari_catrack.synthetic.behaviour import make_behaviour_video


def _matched(pred, true, tol) -> int:
    """Onsets of `pred` within `tol` frames of a distinct onset of `true` (the shared scoring)."""
    return match_onsets(pred, true, tol)[0]


def _velocity(v):
    tr = v.truth
    times = np.arange(len(tr.state)) / v.fps
    params = VelocityParams(pixel_size_um=v.pixel_size_um)
    shape = v.frames.shape[1:]
    return compute_velocity(tr.centerline.mean(axis=1), times, tr.stage_um, shape, params,
                            body_px=tr.centerline)  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1])
def test_reversal_and_turn_onsets_match_the_planted_schedule(seed):
    v = make_behaviour_video(600, (64, 64), seed=seed)
    tr = v.truth
    bouts = compute_bouts(_velocity(v), BoutParams(), coiled=tr.coiled)
    assert list(bouts.columns) == list(COLUMNS)
    tol = round(0.5 * v.fps)  # 0.5 s
    true_rev = onsets(tr.state == "reverse")
    rev = bouts.loc[bouts.state == "reversal", "start_frame"].to_numpy()
    hits = _matched(rev, true_rev, tol)
    assert len(true_rev) >= 4
    assert hits / len(rev) >= 0.9 and hits / len(true_rev) >= 0.9  # precision, recall
    # the planted reversals run backwards: negative mean signed speed, forward runs positive
    assert (bouts.loc[bouts.state == "reversal", "mean_signed_speed_um_s"] < 0).all()
    assert (bouts.loc[bouts.state == "forward", "mean_signed_speed_um_s"] > 0).all()
    true_turn = onsets(tr.coiled)
    turn = bouts.loc[bouts.state == "turn", "start_frame"].to_numpy()
    assert len(turn) and _matched(turn, true_turn, tol) == len(turn)
    # bouts never overlap and are in time order
    assert (bouts.start_frame.to_numpy()[1:] > bouts.end_frame.to_numpy()[:-1]).all()


def test_long_synthetic_pauses_are_pause_bouts_at_their_planted_onsets():
    """h21: the default worm's pauses (0.4-1 s) keep it still for 0.1-0.2 s, never a bout; with
    the generator's pause_s=(2, 4) (benchmarks/bench_bouts.py --long-pauses) every planted pause
    is one pause bout within 0.5 s of its onset (late by the deceleration: the speed reaches
    20 µm/s about 0.33 s after the schedule's switch), and nothing else is. A guard of the
    benchmark's claim: the generator and the rules are unchanged (it passes on the old code)."""
    v = make_behaviour_video(300, (64, 64), seed=0, pause_s=(2.0, 4.0), pause_probability=0.5)
    tr = v.truth
    bouts = compute_bouts(_velocity(v), BoutParams(), coiled=tr.coiled)
    true = onsets(tr.state == "pause")
    pauses = bouts.loc[bouts.state == "pause", "start_frame"].to_numpy()
    assert len(true) >= 1 and len(pauses) == len(true)
    assert _matched(pauses, true, round(0.5 * v.fps)) == len(true)
    assert (pauses >= true).all()  # never before the planted switch
    default = make_behaviour_video(300, (64, 64), seed=0)
    assert (default.truth.state == "pause").any()  # planted, but too short to be a bout
    assert "pause" not in set(compute_bouts(_velocity(default), BoutParams()).state)


def _table(speed, direction, fps=10.0):
    speed = np.asarray(speed, float)
    d = pd.array([None if x is None else int(x) for x in direction], dtype="Int64")
    signed = speed * pd.to_numeric(d).to_numpy(float, na_value=np.nan)
    return pd.DataFrame({"frame": np.arange(len(speed)), "time_s": np.arange(len(speed)) / fps,
                         "speed_um_s": speed, "signed_speed_um_s": signed,
                         "direction": d})  # fmt: skip


def test_hysteresis_keeps_a_slowing_run_forward_and_a_creeping_pause_still():
    # 30 µm/s: between the pause (20) and moving (40) speeds: keeps whichever state it is in
    speed = [100] * 10 + [30] * 10 + [10] * 10 + [30] * 10 + [100] * 10
    direction = [1] * 20 + [0] * 10 + [1] * 20
    labels = frame_states(_table(speed, direction), BoutParams())
    assert (labels[:20] == "forward").all()
    assert (labels[20:40] == "pause").all()
    assert (labels[40:] == "forward").all()


def test_short_interruptions_merge_and_short_bouts_are_not_called():
    # 2 s forward, 0.2 s dip (pause), 2 s forward, 0.3 s reversal, 0.2 s unknown at the end
    speed = [100] * 20 + [5] * 2 + [100] * 20 + [100] * 3 + [100] * 2
    direction = [1] * 20 + [0] * 2 + [1] * 20 + [-1] * 3 + [None] * 2
    bouts = compute_bouts(_table(speed, direction), BoutParams())
    assert bouts.state.tolist() == ["forward"]  # merged over the dip; the 0.3 s reversal dropped
    assert (bouts.start_frame[0], bouts.end_frame[0]) == (0, 41)
    assert bouts.duration_s[0] == pytest.approx(4.2)
    assert bouts.mean_signed_speed_um_s[0] == pytest.approx(40 * 100 / 42)  # the dip: 0
    kept = compute_bouts(_table(speed, direction), BoutParams(min_bout_s=0.3, merge_gap_s=0.1))
    assert kept.state.tolist() == ["forward", "forward", "reversal"]


def test_unknown_direction_is_never_a_state_and_ends_the_bout():
    speed = [100] * 20 + [100] * 10 + [100] * 20
    direction = [1] * 20 + [None] * 10 + [1] * 20
    labels = frame_states(_table(speed, direction), BoutParams())
    assert (labels[20:30] == "").all()
    bouts = compute_bouts(_table(speed, direction), BoutParams(merge_gap_s=5.0))
    assert bouts.state.tolist() == ["forward", "forward"]  # not merged across the unknown
    assert bouts.end_frame.tolist() == [19, 49]
    # no head at all (a stage path): pauses are still called, movement is not
    none = compute_bouts(_table([100] * 20 + [0] * 20, [None] * 20 + [0] * 20), BoutParams())
    assert none.state.tolist() == ["pause"]


def test_coiled_frames_and_a3_are_turns():
    speed, direction = [100] * 40, [1] * 40
    coiled = np.zeros(40, bool)
    coiled[10:20] = True
    a3 = np.zeros(40)
    a3[28:36] = -15.0
    bouts = compute_bouts(_table(speed, direction), BoutParams(turn_a3=10), coiled=coiled, a3=a3)
    assert bouts.state.tolist() == ["forward", "turn", "forward", "turn"]
    assert bouts.start_frame.tolist() == [0, 10, 20, 28]
    off = compute_bouts(_table(speed, direction), BoutParams(), coiled=coiled, a3=a3)
    assert off.state.tolist() == ["forward", "turn", "forward"]  # a3 off by default
    with pytest.raises(InputError, match="pause speed"):
        frame_states(_table(speed, direction), BoutParams(move_um_s=10, pause_um_s=20))


def test_the_bout_table_is_an_events_file(tmp_path):
    speed = [100] * 20 + [100] * 20 + [5] * 10
    direction = [1] * 20 + [-1] * 20 + [0] * 10
    bouts = compute_bouts(_table(speed, direction), BoutParams())
    path = tmp_path / "bouts.csv"
    write_bouts(bouts, path)
    events = read_events(path)
    assert events.event.tolist() == ["forward", "reversal", "pause"]
    assert events.time_s.tolist() == pytest.approx([0.0, 2.0, 4.0])
    assert events.duration_s.tolist() == pytest.approx([2.0, 2.0, 1.0])


def test_velocity_cli_writes_bouts_and_records_them(tmp_path, capsys):
    from napari_catrack.session import Session

    v = make_behaviour_video(300, (64, 64), seed=0)
    tr = v.truth
    v.stage_table().to_csv(tmp_path / "stage.csv", index=False)
    T, N = tr.centerline.shape[:2]
    pd.DataFrame({"frame": np.repeat(np.arange(T), N), "point": np.tile(np.arange(N), T),
                  "y": tr.centerline[..., 0].ravel(), "x": tr.centerline[..., 1].ravel()}
                 ).to_csv(tmp_path / "cl.csv", index=False)  # fmt: skip
    status = np.where(tr.coiled, "coiled", "ok")
    pd.DataFrame({"frame": np.arange(T), "status": status}).to_csv(tmp_path / "f.csv", index=False)
    session = tmp_path / "s.catrack.h5"
    args = ["velocity", "--stage", str(tmp_path / "stage.csv"), "--centerline",
            str(tmp_path / "cl.csv"), "--pixel-size", str(v.pixel_size_um), "--fps", str(v.fps),
            "--image-size", "64,64", "-o", str(tmp_path / "v.csv"), "--bouts",
            str(tmp_path / "b.csv"), "--frames-table", str(tmp_path / "f.csv"),
            "--min-bout-s", "0.4", "--session", str(session)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    bouts = pd.read_csv(tmp_path / "b.csv")
    assert list(bouts.columns) == list(COLUMNS)
    assert f"{len(bouts)} bouts (" in out
    rev = bouts.loc[bouts.state == "reversal", "start_frame"].to_numpy()
    true_rev = onsets(tr.state == "reverse")
    assert len(rev) and _matched(rev, true_rev, round(0.5 * v.fps)) == len(true_rev) == len(rev)
    assert (bouts.state == "turn").sum() >= 1
    s = Session.load(session)
    assert s["bouts"].params["min_bout_s"] == 0.4
    assert len(s["bouts"].tables["bouts"]) == len(bouts)
    # the export folder and the NWB file carry them (NWB: TimeIntervals, on the velocity clock)
    assert main(["export", str(session), "-o", str(tmp_path / "exp")]) == 0
    exported = pd.read_csv(tmp_path / "exp" / "behaviour" / "bouts.csv")
    assert exported.state.tolist() == bouts.state.tolist()
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    assert main(["export-nwb", str(session), "-o", str(tmp_path / "s.nwb"), "--no-prompt"]) == 0
    with NWBHDF5IO(str(tmp_path / "s.nwb"), "r") as io:
        table = io.read().intervals["behavior_bouts"].to_dataframe()
    assert table.state.tolist() == bouts.state.tolist()
    assert table.start_time.to_numpy() == pytest.approx(bouts.onset_s.to_numpy(), abs=1e-4)
    assert table.stop_time.to_numpy() == pytest.approx(bouts.offset_s.to_numpy(), abs=1e-4)
    # --frames-table alone: refused, naming what is missing
    assert main([*args[:13], "--frames-table", str(tmp_path / "f.csv")]) != 0
    assert "give --bouts" in capsys.readouterr().err
    # a new velocity without --bouts takes the old bouts away: they were called from the
    # velocity it replaces (h21: they stayed beside it, in the export and the NWB file)
    capsys.readouterr()
    assert main([*args[:13], "--smooth", "1.0", "--session", str(session)]) == 0
    s = Session.load(session)
    assert s["velocity"].params["smooth_s"] == 1.0 and "bouts" not in s
    # and says so (h22 review: the session's bouts went silently)
    err = capsys.readouterr().err
    assert "bouts" in err and "removed" in err and "--bouts" in err, err


def test_turn_flags_match_the_velocitys_frames_and_want_a3_for_a_turn_by_a3():
    """The widget's and the command's one reading of a centerline's per-frame table."""
    from napari_catrack.core.behaviour.bouts import turn_flags

    per_frame = pd.DataFrame({"frame": [0, 1, 2, 3, 4, 5],
                              "status": ["ok", "coiled", "failed", "ok", "failed", "ok"]})  # fmt: skip
    coiled, a3 = turn_flags(per_frame, [1, 2, 3, 4], BoutParams(), name="t")
    assert coiled.tolist() == [True, True, False, False] and a3 is None
    coiled, a3 = turn_flags(per_frame.assign(a3=[0, 1, 2, 3, 4, 5.0]), [5, 7], BoutParams(),
                            name="t")  # fmt: skip
    assert coiled.tolist() == [False, False] and a3[0] == 5.0 and np.isnan(a3[1])
    with pytest.raises(InputError, match="needs an a3 column in t"):
        turn_flags(per_frame, [1], BoutParams(turn_a3=10), name="t")
    with pytest.raises(InputError, match="none of the velocity's frames"):
        turn_flags(per_frame, [9], BoutParams(), name="t")


def test_bout_onset_scores_match_called_onsets_one_to_one_within_the_tolerance():
    """The scoring `catrack demo` and benchmarks/bench_bouts.py share."""
    from napari_catrack.core.behaviour.scoring import bout_onset_scores

    state = np.array(["forward"] * 10 + ["reverse"] * 10 + ["forward"] * 20 + ["reverse"] * 10)
    coiled = np.zeros(50, bool)
    bouts = pd.DataFrame({"state": ["reversal", "reversal", "reversal", "turn"],
                          "start_frame": [12, 13, 47, 30]})  # fmt: skip
    got = bout_onset_scores(bouts, state, coiled, fps=10.0)  # tolerance 5 frames
    rev = got["reversal"]
    assert (rev["planted"], rev["called"], rev["matched"]) == (2, 3, 1)  # 47: 7 late
    assert rev["errors_frames"] == [2] and rev["precision"] == pytest.approx(1 / 3)
    assert rev["recall"] == 0.5
    assert got["turn"] == {"planted": 0, "called": 1, "matched": 0, "errors_frames": [],
                           "precision": 0.0, "recall": None}  # fmt: skip


def test_failed_frames_that_touch_a_coil_are_part_of_the_turn():
    """On the synthetic seed 0 the centerline fails for 16 frames as the omega turn closes
    (444-459), then fits the coil (460-467): the turn starts at 444, with the planted one."""
    from napari_catrack.core.behaviour.bouts import coiled_frames

    status = ["ok"] * 3 + ["failed"] * 3 + ["coiled"] * 2 + ["failed"] * 2 + ["ok", "failed"]
    assert coiled_frames(status).tolist() == [False] * 3 + [True] * 7 + [False, False]
    assert not coiled_frames(["failed", "ok", "filled"]).any()


def test_the_speed_figure_draws_one_bar_per_bout_at_its_times():
    from napari_catrack.figures.behaviour import speed_figure

    speed = [100] * 20 + [100] * 20 + [5] * 10
    direction = [1] * 20 + [-1] * 20 + [0] * 10
    velocity = _table(speed, direction)
    bouts = compute_bouts(velocity, BoutParams())
    ax = speed_figure(velocity, bouts=bouts).axes[0]
    bars = {c.get_label(): c for c in ax.collections if c.get_label().endswith(" bouts")}
    assert set(bars) == {"forward bouts", "reversal bouts", "pause bouts"}
    x0, _, w, _ = bars["reversal bouts"].get_paths()[0].get_extents().bounds
    assert (x0, w) == pytest.approx((2.0, 2.0))
    assert "bouts" in ax.get_title()
    assert not [c for c in speed_figure(velocity).axes[0].collections
                if c.get_label().endswith(" bouts")]  # fmt: skip


def test_bouts_of_a_stage_path_say_that_only_pauses_are_called(tmp_path, capsys):
    """A stage path alone (the Scholz 2018 case) has no head: "0 forward, 0 reversal" must not
    read as a worm that never crawled."""
    t = np.arange(60) / 6.0
    x = np.where(t < 5, 0.0, (t - 5) * 100.0)  # still 5 s, then 100 µm/s
    pd.DataFrame({"frame": np.arange(60), "time_s": t, "x": x, "y": 0.0}).to_csv(
        tmp_path / "path.csv", index=False
    )
    assert main(["velocity", "--stage", str(tmp_path / "path.csv"), "--fps", "6", "-o",
                 str(tmp_path / "v.csv"), "--bouts", str(tmp_path / "b.csv")]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "only pauses" in captured.err
    assert pd.read_csv(tmp_path / "b.csv").state.tolist() == ["pause"]


def test_a_planted_reversal_starts_where_the_worm_truly_starts_backing():
    """The synthetic generator smooths the speed across the schedule's switches: after a pause
    the worm backs 0.4 s before the schedule says "reverse" (demo frame 81 against 87), and the
    demo's speed figure put the true onset there, on a curve already at -150 µm/s (h21). The
    planted reversal is the first frame of the true backward run holding a "reverse" frame;
    a backward run without one (a turn's) is not a reversal."""
    from napari_catrack.core.behaviour.scoring import planted_onsets

    state = np.array(
        ["forward"] * 5 + ["pause"] * 4 + ["reverse"] * 4 + ["forward"] * 4 + ["turn"] * 3
    )
    direction = np.array([1] * 5 + [1, 0, -1, -1] + [-1] * 4 + [1] * 4 + [-1, -1, 1])
    got = planted_onsets(state, np.zeros(len(state), bool), direction)
    assert got["reversal"].tolist() == [7]  # not 9 (the label), not 17 (no "reverse" there)
    assert planted_onsets(state, np.zeros(len(state), bool))["reversal"].tolist() == [9]
    v = make_behaviour_video(300, (64, 64), seed=0)
    first = planted_onsets(v.truth.state, v.truth.coiled, v.truth.direction)["reversal"][0]
    label = np.flatnonzero(v.truth.state == "reverse")[0]
    assert first < label and v.truth.direction[first] < 0 and v.truth.direction[first - 1] >= 0


def test_a_planted_pause_is_where_the_true_speed_stays_under_the_rules_pause_speed():
    """h22: the planted pause was the schedule's "pause" label, which leads the true stop by
    the 0.25 s deceleration (5-6 frames at 15 fps) while reversals already used the true motion.
    Now a pause is planted where the true speed stays under BoutParams.pause_um_s for at least
    BoutParams.min_bout_s (the rules' own dataclass): a shorter or never-that-slow stop is not."""
    from napari_catrack.core.behaviour.scoring import bout_onset_scores, planted_onsets

    fps = 10.0
    speed = [50.0] * 5 + [10.0] * 6 + [50.0] * 5 + [10.0] * 3 + [50.0] * 3 + [np.nan] * 6
    state = np.array(["forward"] * 3 + ["pause"] * 8 + ["forward"] * 17)  # the label: frame 3
    coiled = np.zeros(len(state), bool)
    got = planted_onsets(state, coiled, speed=speed, fps=fps, params=BoutParams())
    assert got["pause"].tolist() == [5]  # 0.6 s still; the 0.3 s stop is under 0.5 s; NaN: not
    assert planted_onsets(state, coiled)["pause"].tolist() == [3]  # without the speed: label
    short = BoutParams(min_bout_s=0.3)
    assert planted_onsets(state, coiled, speed=speed, fps=fps, params=short)["pause"].tolist() == [
        5, 16]  # fmt: skip
    slow = BoutParams(pause_um_s=5.0)
    assert planted_onsets(state, coiled, speed=speed, fps=fps, params=slow)["pause"].size == 0
    with pytest.raises(ValueError, match="fps"):
        planted_onsets(state, coiled, speed=speed)
    # the long synthetic pauses: the true stop follows the label; the rules call it there
    v = make_behaviour_video(300, (64, 64), seed=0, pause_s=(2.0, 4.0), pause_probability=0.5)
    tr = v.truth
    true = planted_onsets(tr.state, tr.coiled, speed=tr.speed_um_s, fps=v.fps)["pause"]
    label = onsets(tr.state == "pause")
    assert len(true) == len(label) >= 1 and ((true - label) >= 3).all()
    assert (tr.speed_um_s[true] < 20).all() and (tr.speed_um_s[true - 1] >= 20).all()
    bouts = compute_bouts(_velocity(v), BoutParams(), coiled=tr.coiled)
    scores = bout_onset_scores(bouts, tr.state, tr.coiled, v.fps, states=("pause",),
                               speed=tr.speed_um_s, params=BoutParams())  # fmt: skip
    assert scores["pause"]["matched"] == scores["pause"]["planted"] == len(true)
    assert max(scores["pause"]["errors_frames"]) <= 2  # the label's were 5-7


def test_a_one_frame_velocity_table_gives_no_bout_longer_than_the_data():
    """h22: one frame has no frame step, and its duration was taken as 1 s: a still frame
    became a 1 s pause bout (over the 0.5 s minimum), longer than the data. Now a clear
    message; a table shorter than the minimum bout duration calls no bout, and a bout never
    lasts longer than the table's frames (n frame steps)."""
    one = _table([0.0], [0])
    with pytest.raises(InputError, match="one frame.*two frames or more"):
        compute_bouts(one, BoutParams())
    with pytest.raises(InputError, match="one frame"):
        compute_bouts(one, BoutParams(min_bout_s=0.0))
    assert compute_bouts(_table([0.0] * 4, [0] * 4), BoutParams()).empty  # 0.4 s at 10 fps
    five = compute_bouts(_table([0.0] * 5, [0] * 5), BoutParams())  # 0.5 s: just a bout
    assert five.state.tolist() == ["pause"] and five.duration_s[0] == pytest.approx(0.5)
    assert five.offset_s[0] - five.onset_s[0] == pytest.approx(0.5)


def test_one_bout_is_counted_in_the_singular():
    """The command's and the widget's count line: '1 bout (1 forward, ...)', not '1 bouts' (h22);
    fails on the old code, which had no bout_counts_text and said '1 bouts'."""
    import pandas as pd

    from napari_catrack.core.behaviour.bouts import bout_counts_text

    one = pd.DataFrame({"state": ["forward"]})
    assert bout_counts_text(one) == "1 bout (1 forward, 0 reversal, 0 pause, 0 turn)"
    three = pd.DataFrame({"state": ["forward", "pause", "forward"]})
    assert bout_counts_text(three) == "3 bouts (2 forward, 0 reversal, 1 pause, 0 turn)"
