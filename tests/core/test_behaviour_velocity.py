"""Velocity against the stage: accuracy on synthetic truth, axis conventions, stage logs."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.behaviour import VelocityParams, compute_velocity
from napari_catrack.core.behaviour.centerline import resample
from napari_catrack.core.behaviour.velocity import (
    COLUMNS,
    derivative,
    time_gaps,
    tracks_positions,
)
from napari_catrack.errors import InputError
from napari_catrack.io.stage import read_frame_times, read_stage, stage_at
from napari_catrack.synthetic.behaviour import make_behaviour_video


def test_signed_speed_and_direction_match_the_truth():
    v = make_behaviour_video(150, shape=(192, 192), seed=3, pixel_size_um=10.0,
                             forward_s=(2.0, 3.0), reverse_s=(1.0, 1.5))  # fmt: skip
    pts = np.stack([resample(c, 50) for c in v.truth.centerline])
    t = np.arange(150) / v.fps
    table = compute_velocity(pts.mean(axis=1), t, v.truth.stage_um, (192, 192),
                             VelocityParams(pixel_size_um=10.0), body_px=pts)  # fmt: skip
    assert list(table.columns) == list(COLUMNS)
    r = np.corrcoef(table.signed_speed_um_s, v.truth.signed_speed_um_s)[0, 1]
    assert r > 0.95
    moving = v.truth.direction != 0
    assert np.mean(table.direction.to_numpy()[moving] == v.truth.direction[moving]) > 0.95
    np.testing.assert_allclose(table[["y_um", "x_um"]], v.truth.centroid_um, atol=3.0)


def test_axis_flips_and_swap_follow_the_convention():
    pos = np.array([[10.0, 20.0]] * 5)
    stage = np.zeros((5, 2))
    t = np.arange(5.0)
    base = VelocityParams(pixel_size_um=2.0)
    out = compute_velocity(pos, t, stage, (21, 41), base)
    np.testing.assert_allclose(out[["y_um", "x_um"]].iloc[0], [0.0, 0.0])  # image centre
    out = compute_velocity(
        pos + np.array([2.0, 0.0]), t, stage, (21, 41), base.replace(flip_y=True)
    )
    assert out.y_um[0] == pytest.approx(-4.0) and out.x_um[0] == pytest.approx(0.0)
    out = compute_velocity(
        pos + np.array([2.0, 0.0]), t, stage, (21, 41), base.replace(swap_axes=True)
    )
    assert out.x_um[0] == pytest.approx(4.0) and out.y_um[0] == pytest.approx(0.0)
    # a stage that moves at 3 µm/s in y with the worm fixed in the image
    moving = np.stack([3.0 * t, np.zeros(5)], axis=1)
    out = compute_velocity(pos, t, moving, (21, 41), base)
    np.testing.assert_allclose(out.vy_um_s, 3.0, atol=1e-9)
    assert (out.direction == 0).all() and (out.signed_speed_um_s == 0).all()  # 3 µm/s: still
    fast = compute_velocity(pos, t, 10 * moving, (21, 41), base)  # 30 µm/s, no head known
    assert fast.direction.isna().all() and fast.signed_speed_um_s.isna().all()
    assert str(fast.direction.dtype) == "Int64"


def test_uneven_frame_times_are_differentiated_correctly():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.05, 0.15, 60))
    x = 5.0 * t**2
    d = derivative(np.stack([x, x], 1), t, 0.5, 2)
    np.testing.assert_allclose(d[5:-5, 0], 10.0 * t[5:-5], rtol=0.03)


def test_a_gap_in_the_frame_times_is_not_differentiated_across():
    """The Scholz et al. 2018 path (h20, real data): its 2,244 samples at 6 Hz have seven gaps
    (1.2-41 s). The frames were put on one uniform grid, the gap filled by a straight line, and
    the Savitzky-Golay window next to a gap mixed real and filled samples: a worm crawling at
    100 µm/s on both sides of a 41 s gap (and 500 µm back from where it was) read 66 and 22
    µm/s at the frames beside the gap. Each stretch between gaps is now differentiated on its
    own, and `catrack velocity` says where the gaps are."""
    dt = 1 / 6
    before = np.arange(60) * dt
    after = before[-1] + 41.0 + np.arange(60) * dt
    t = np.concatenate([before, after])
    x = np.concatenate([100.0 * before, 100.0 * (after - after[0]) + 100.0 * before[-1] - 500])
    d = derivative(np.stack([x, np.zeros_like(x)], 1), t, 0.5, 2)
    np.testing.assert_allclose(d[:, 0], 100.0, rtol=1e-6)
    assert list(time_gaps(t, 0.5)) == [(59, 41.0)]
    # a stretch of one frame alone has no derivative; of two, their slope
    t1 = np.array([0.0, dt, 2 * dt, 10.0, 20.0, 20 + dt])
    d1 = derivative(np.stack([t1 * 3, t1 * 0], 1), t1, 0.5, 2)
    assert np.isnan(d1[3]).all()
    np.testing.assert_allclose(d1[[0, 1, 2, 4, 5], 0], 3.0)


def test_the_speed_at_a_stretchs_end_stays_within_the_steps_beside_it():
    """h21: the Savitzky-Golay fit's derivative at the edge of its window extrapolates; on the
    Scholz path the frame before a gap read 146 µm/s beside steps of 116 and 38. The velocity
    step now limits the speed at a stretch's first and last frame to the faster of the two steps
    beside it (its direction kept); inside nothing changes, and a steady crawl is untouched.
    Fails on the old code (the last frame 137.7 µm/s beside steps of 120 and 90)."""
    dt = 1 / 6
    steps = np.array([4, 12, 8, 16, 9, 15, 20], float)  # µm per frame: 24-120 µm/s
    x = np.r_[0.0, np.cumsum(steps)]
    t = np.arange(len(x)) * dt
    gap = t[-1] + 30.0 + np.arange(len(x)) * dt  # a second stretch after a 30 s gap
    stage = np.stack([np.r_[x, x[::-1] + 500], np.zeros(2 * len(x))], 1)
    times = np.r_[t, gap]
    params = VelocityParams(pixel_size_um=1.0)
    vel = compute_velocity(np.zeros((len(times), 2)), times, stage, None, params)
    raw = derivative(stage, times, 0.5, 2)
    step_speed = np.abs(np.diff(stage[:, 0])) / np.diff(times)
    n = len(x)
    for end, beside in ((n - 1, step_speed[[n - 3, n - 2]]), (n, step_speed[[n, n + 1]])):
        assert np.hypot(*raw[end]) > beside.max() + 10  # the fit overshot both steps
        assert vel["speed_um_s"][end] == pytest.approx(beside.max())
        assert np.sign(vel["vy_um_s"][end]) == np.sign(raw[end, 0])  # direction kept
    inside = np.r_[1 : n - 1, n + 1 : 2 * n - 1]
    np.testing.assert_allclose(vel["speed_um_s"].to_numpy()[inside], np.hypot(*raw[inside].T))
    crawl = np.stack([100 * t, 0 * t], 1)  # steady: the fit is exact, nothing to limit
    np.testing.assert_allclose(derivative(crawl, t, 0.5, 2, limit_ends=True)[:, 0], 100.0)


def test_catrack_velocity_says_where_the_frame_times_have_a_gap(tmp_path, capsys):
    from napari_catrack.cli import main

    t = np.r_[np.arange(10) / 6, 20 + np.arange(10) / 6]
    pd.DataFrame({"time_s": t, "x": 50.0 * t, "y": 0.0}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"neuron_id": 0, "frame": range(20), "y": 0.0, "x": 0.0}).to_csv(
        tmp_path / "tracks.csv", index=False
    )
    pd.DataFrame({"frame": range(20), "time_s": t}).to_csv(tmp_path / "ft.csv", index=False)
    assert main(["velocity", "--stage", str(tmp_path / "s.csv"), "--pixel-size", "1",
                 "--tracks", str(tmp_path / "tracks.csv"), "--frame-times",
                 str(tmp_path / "ft.csv"), "--image-size", "1,1",
                 "-o", str(tmp_path / "v.csv")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert (
        "1 gap(s) in the frame times longer than the --smooth window (the longest 18.5 s, "
        "after frame 9 at 1.500 s): velocities are not carried across them"
    ) in err
    np.testing.assert_allclose(pd.read_csv(tmp_path / "v.csv").vx_um_s, 50.0, rtol=1e-3)


def test_catrack_velocity_of_a_stage_path_alone(tmp_path, capsys):
    """Real data (h20): the Scholz et al. 2018 file holds the worm's path (the tracking stage's,
    metres) and neuron traces, no images. `catrack velocity --stage path.csv` refused it ("give
    --centerline centerline.csv or --tracks tracks.csv", and --pixel-size): a user had to write a
    tracks file of one point at pixel (0, 0) in every frame. The stage path alone is now the
    position (the tracker keeps the worm at the image centre); the direction is unknown."""
    from napari_catrack.cli import main

    t = np.arange(30) / 6
    pd.DataFrame({"time_s": t, "x": 1e-6 * 80.0 * t, "y": 0.012}).to_csv(
        tmp_path / "path.csv", index=False
    )
    pd.DataFrame({"frame": range(30), "time_s": t}).to_csv(tmp_path / "ft.csv", index=False)
    assert main(["velocity", "--stage", str(tmp_path / "path.csv"), "--stage-scale", "1e6",
                 "--frame-times", str(tmp_path / "ft.csv"), "-o", str(tmp_path / "v.csv")]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "no --image-size" not in err  # no image: nothing to measure from its centre
    v = pd.read_csv(tmp_path / "v.csv")
    assert len(v) == 30
    np.testing.assert_allclose(v.x_um, 80.0 * t, atol=1e-3)
    np.testing.assert_allclose(v.y_um, 12000.0, atol=1e-3)
    np.testing.assert_allclose(v.speed_um_s, 80.0, rtol=1e-3)
    assert v.direction.isna().all()


def test_stage_logs_csv_aliases_mapping_and_hdf5(tmp_path):
    t = np.arange(10) * 0.1
    pd.DataFrame({"frame": range(10), "time_s": t, "stage_y_um": t * 10,
                  "stage_x_um": -t}).to_csv(tmp_path / "a.csv", index=False)  # fmt: skip
    log = read_stage(tmp_path / "a.csv")
    # a log with times only (the stage's own clock, 10 Hz): interpolated at the frame times
    pd.DataFrame({"time_s": t, "stage_y_um": t * 10, "stage_x_um": -t}).to_csv(
        tmp_path / "timed.csv", index=False)  # fmt: skip
    timed = read_stage(tmp_path / "timed.csv")
    np.testing.assert_allclose(stage_at(timed, np.arange(3), np.array([0, 0.05, 0.1]))[:, 0],
                               [0, 0.5, 1.0])  # fmt: skip
    # a rig's own names and units: milliseconds and millimetres, tab separated
    pd.DataFrame({"Time": t * 1000, "StageX": -t / 1000, "StageY": t / 100}).to_csv(
        tmp_path / "rig.tsv", sep="\t", index=False)  # fmt: skip
    rig = read_stage(tmp_path / "rig.tsv", columns="time=Time,y=StageY,x=StageX",
                     scale_um=1000, time_scale_s=0.001)  # fmt: skip
    np.testing.assert_allclose(rig.yx_um, log.yx_um)
    np.testing.assert_allclose(rig.time_s, t)
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["time_s"], f["stage_y_um"], f["stage_x_um"] = t, t * 10, -t
    np.testing.assert_allclose(read_stage(tmp_path / "s.h5").yx_um, log.yx_um)
    with h5py.File(tmp_path / "s2.h5", "w") as f:
        f["stage"] = np.stack([t * 10, -t], 1)
    np.testing.assert_allclose(read_stage(tmp_path / "s2.h5").yx_um, log.yx_um)


def test_stage_and_video_mismatches_are_clear(tmp_path):
    pd.DataFrame({"stage_y_um": [0, 1, 2], "stage_x_um": [0, 0, 0]}).to_csv(
        tmp_path / "short.csv", index=False)  # fmt: skip
    log = read_stage(tmp_path / "short.csv")
    with pytest.raises(InputError, match="3 rows but there are 5 frames"):
        stage_at(log, np.arange(5), None)
    pd.DataFrame({"time_s": [0, 0.1, 0.2], "stage_y_um": [0, 1, 2], "stage_x_um": 0}).to_csv(
        tmp_path / "timed.csv", index=False)  # fmt: skip
    with pytest.raises(InputError, match="covers"):
        stage_at(read_stage(tmp_path / "timed.csv"), np.arange(5), np.arange(5) * 0.1)
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(InputError, match="no stage y/x columns"):
        read_stage(tmp_path / "cols.csv")
    with pytest.raises(InputError, match="no column"):
        read_stage(tmp_path / "timed.csv", columns="y=Nope,x=stage_x_um")
    pd.DataFrame({"frame": [0, 1], "time_s": [0.0, 0.2]}).to_csv(tmp_path / "ft.csv", index=False)
    np.testing.assert_allclose(read_frame_times(tmp_path / "ft.csv", 2), [0, 0.2])
    with pytest.raises(InputError, match="2 frame times for 3 frames"):
        read_frame_times(tmp_path / "ft.csv", 3)


def test_tracks_centroid_positions():
    tracks = pd.DataFrame({"neuron_id": ["a", "b", "a", "b"], "frame": [0, 0, 1, 1],
                           "y": [0.0, 2.0, 1.0, 3.0], "x": [0.0, 0.0, 4.0, 4.0]})  # fmt: skip
    frames, pos = tracks_positions(tracks)
    np.testing.assert_allclose(pos, [[1.0, 0.0], [2.0, 4.0]])
    assert list(frames) == [0, 1]


def test_velocity_moves_onto_the_imaging_axis_with_the_video_offset():
    """Session step "behaviour_video" (events helper): the video's frames on the imaging clock.
    The velocity then sits where the video really was, dropped imaging frames included."""
    from napari_catrack.core.behaviour.records import velocity_on_imaging_axis
    from napari_catrack.core.events.clock import Clock
    from napari_catrack.core.events.session import record_video
    from napari_catrack.session import Session

    fps = 5.0
    velocity = pd.DataFrame({"frame": np.arange(30), "time_s": np.arange(30) / 15.0,
                             "signed_speed_um_s": 1.0})  # fmt: skip
    session = Session(autosave=False)
    # no alignment known: the two start together (unchanged)
    same = velocity_on_imaging_axis(session, velocity, fps)
    np.testing.assert_allclose(same["time_s"], velocity["time_s"])
    # imaging clock: recorded times from 100 s with frame 10 dropped (frames keep their times)
    times = 100.0 + np.delete(np.arange(41), 10) / fps
    session.record("events", tables={"frame_times": pd.DataFrame(
        {"frame": np.arange(len(times)), "time_s": times})})  # fmt: skip
    video = Clock.regular(30, 15.0, start_s=101.0)  # the camera started 1 s after the imaging
    record_video(session, "worm.avi", video, Clock(times))
    moved = velocity_on_imaging_axis(session, velocity, fps)
    # video frame 0 at 101 s = imaging frame 5 -> 1.0 s on the traces' axis
    assert moved["time_s"].iloc[0] == pytest.approx(1.0)
    # video frame 29 at 101 + 29/15 s = 102.933 s: after the dropped frame the imaging frame
    # index lags the time by one frame (0.2 s)
    assert moved["time_s"].iloc[29] == pytest.approx(1.0 + 29 / 15.0 - 0.2)
    np.testing.assert_array_equal(moved["signed_speed_um_s"], velocity["signed_speed_um_s"])
    assert velocity["time_s"].iloc[0] == 0.0  # the input is not changed


def test_reads_a_zhen_lab_trackstim_stage_log(tmp_path):
    """TrackStim (github.com/zhenlab-ltri/TrackStim, Imager.saveStagePosDataToFile) writes
    `stage-pos.txt`: per frame `frame, x, y, z` in µm, no header, a blank line after each row
    (each row already ends in a line separator before println adds one)."""
    xs, ys = [1000.0, 1012.5, 1025.25], [-52.0, -50.5, -49.0]
    text = "".join(f"{i}, {x!r}, {y!r}, 3125.0\n\n" for i, (x, y) in enumerate(zip(xs, ys)))
    path = tmp_path / "stage-pos.txt"
    path.write_text(text)
    log = read_stage(path)
    np.testing.assert_allclose(log.yx_um, np.stack([ys, xs], axis=1))
    np.testing.assert_array_equal(log.frame, [0, 1, 2])
    assert log.time_s is None  # TrackStim takes frames at a fixed rate: no times
    np.testing.assert_allclose(
        stage_at(log, np.array([2, 0]), None), [[ys[2], xs[2]], [ys[0], xs[0]]]
    )
    # any other header-less table is refused with one line, not guessed
    bad = tmp_path / "three.csv"
    bad.write_text("0, 1.0, 2.0\n1, 1.5, 2.5\n")
    with pytest.raises(InputError, match="no header line and 3 columns"):
        read_stage(bad)


def test_reads_a_space_separated_stage_log(tmp_path):
    """A log written with spaces between the numbers (TrackStim's columns without its commas, or
    a rig's `time x y` table) was read as ONE column: a header-less file said `no stage y/x
    columns found ... it has 0 1000.0 -52.0 3125.0` (its first row taken for names), which points
    at --stage-columns, the wrong fix."""
    xs, ys = [1000.0, 1012.5, 1025.25], [-52.0, -50.5, -49.0]
    path = tmp_path / "stage-pos.txt"
    path.write_text("".join(f"{i} {x} {y} 3125.0\n" for i, (x, y) in enumerate(zip(xs, ys))))
    log = read_stage(path)
    np.testing.assert_allclose(log.yx_um, np.stack([ys, xs], axis=1))
    np.testing.assert_array_equal(log.frame, [0, 1, 2])
    named = tmp_path / "rig.txt"
    named.write_text(
        "time_s  stage_y_um  stage_x_um\n"
        + "".join(f"{i / 10}  {y}  {x}\n" for i, (x, y) in enumerate(zip(xs, ys)))
    )
    np.testing.assert_allclose(read_stage(named).yx_um, np.stack([ys, xs], axis=1))
    bad = tmp_path / "three.txt"
    bad.write_text("0 1.0 2.0\n1 1.5 2.5\n")
    with pytest.raises(InputError, match="no header line and 3 columns"):
        read_stage(bad)


def test_stage_frame_numbers_win_over_a_contradicting_frame_rate(tmp_path):
    """A 15 Hz log with frame numbers and times read with --fps 30 used to be interpolated in
    time: frame 299 took row ~149 (1 mm off), silently. A time_s column in ms read as seconds
    put every frame at the log's first rows."""
    n = 300
    t = np.arange(n) / 15.0
    table = pd.DataFrame({"frame": range(n), "time_s": t, "stage_y_um": 1000 + 50 * t,
                          "stage_x_um": 2000 + 100 * t})  # fmt: skip
    table.to_csv(tmp_path / "stage.csv", index=False)
    log = read_stage(tmp_path / "stage.csv")
    frames = np.arange(n)
    notes: list[str] = []
    pos = stage_at(log, frames, frames / 30.0, notes=notes)  # the wrong --fps
    np.testing.assert_allclose(pos, log.yx_um)  # matched by the log's frame numbers
    assert len(notes) == 1 and "15 frames/s" in notes[0] and "30 Hz" in notes[0]
    assert "--fps" in notes[0]
    notes.clear()
    pos = stage_at(log, frames, frames / 15.0, notes=notes)  # agreeing: nothing to say
    np.testing.assert_allclose(pos, log.yx_um)
    assert not notes
    table.assign(time_s=t * 1000).to_csv(tmp_path / "ms.csv", index=False)
    ms = read_stage(tmp_path / "ms.csv")
    pos = stage_at(ms, frames, frames / 15.0, notes=notes)
    np.testing.assert_allclose(pos, log.yx_um)
    assert "milliseconds" in notes[0] and "--stage-time-scale 0.001" in notes[0]
    gui = {"fps": "the frame rate box", "time_scale": None}
    notes.clear()
    stage_at(log, frames, frames / 30.0, notes=notes, names=gui)
    assert "the frame rate box" in notes[0] and "--" not in notes[0]


def test_stage_rows_without_a_position_are_filled_or_named(tmp_path):
    """NaN rows gave NaN velocities (x only: y was still filled in) and a raw numpy
    RuntimeWarning ('Mean of empty slice')."""
    import warnings

    n = 120
    t = np.arange(n) / 15.0
    x = 2000 + 100 * t
    x[50:56] = np.nan  # six rows the stage did not report
    pd.DataFrame({"frame": range(n), "time_s": t, "stage_y_um": 1000 + 50 * t,
                  "stage_x_um": x}).to_csv(tmp_path / "nan.csv", index=False)  # fmt: skip
    log = read_stage(tmp_path / "nan.csv")
    assert np.isfinite(log.yx_um).all()
    np.testing.assert_allclose(log.yx_um[50:56, 1], 2000 + 100 * t[50:56])
    assert len(log.notes) == 1 and "6 row(s)" in log.notes[0]
    x[20:60] = np.nan  # too long to interpolate: named, and no velocity there, no warning
    pd.DataFrame({"frame": range(n), "time_s": t, "stage_y_um": 1000 + 50 * t,
                  "stage_x_um": x}).to_csv(tmp_path / "gap.csv", index=False)  # fmt: skip
    log = read_stage(tmp_path / "gap.csv")
    assert "rows 20-59" in log.notes[0] and "no position or velocity" in log.notes[0]
    body = np.zeros((n, 10, 2)) + np.linspace(0, 9, 10)[None, :, None] + 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = compute_velocity(body.mean(axis=1), t, stage_at(log, np.arange(n), t), (128, 128),
                                 VelocityParams(pixel_size_um=8.0), body_px=body)  # fmt: skip
    assert table["x_um"][20:60].isna().all() and table["y_um"][20:60].isna().all()
    assert table["speed_um_s"][70:110].notna().all()
