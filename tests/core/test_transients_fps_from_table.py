"""`catrack transients` takes the frame rate a traces table states in its time_s column.

`catrack traces REC -o traces.csv` then `catrack transients traces.csv -o t.csv` was refused
("--fps is required") although every row of the table says its time (h18 first-hour walk)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import EXIT_USER_ERROR, main
from napari_catrack.core.transients import fps_from_times

FPS = 7.5


def _traces(offsets=(0.0, 0.0, 0.02)) -> pd.DataFrame:
    """Three neurons x 300 frames at FPS, each with three big transients; neuron i's samples
    `offsets[i]` s late (a suite2p plane's place in its volume)."""
    rng = np.random.default_rng(0)
    frames = np.arange(300)
    rows = []
    for i, off in enumerate(offsets):
        dff = 0.02 * rng.standard_normal(300)
        for start in (40 + 10 * i, 140, 230):
            dff[start:] += 1.5 * np.exp(-(frames[start:] - start) / (1.0 * FPS))
        rows.append(pd.DataFrame({"neuron_id": f"n{i}", "frame": frames,
                                  "time_s": frames / FPS + off, "dff": dff}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_the_frame_rate_comes_from_the_tables_time_column(tmp_path, capsys):
    _traces().to_csv(tmp_path / "traces.csv", index=False)
    out = tmp_path / "t.csv"
    argv = ["transients", str(tmp_path / "traces.csv"), "--method", "ksigma", "-o", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"frame rate {FPS:g} Hz, from the table's time_s column" in err
    table = pd.read_csv(out)
    assert len(table) >= 9
    # times on each neuron's own clock: n2's samples are 0.02 s late (a suite2p plane's offset)
    late = table["neuron_id"].map({"n0": 0.0, "n1": 0.0, "n2": 0.02})
    np.testing.assert_allclose(table["peak_time_s"], table["peak_frame"] / FPS + late)

    # no time column, or one that does not keep one rate: --fps is still asked for
    _traces().drop(columns="time_s").to_csv(tmp_path / "bare.csv", index=False)
    uneven = _traces()
    uneven.loc[uneven.frame >= 150, "time_s"] *= 1.1
    uneven.to_csv(tmp_path / "uneven.csv", index=False)
    for name in ("bare.csv", "uneven.csv"):
        argv = ["transients", str(tmp_path / name), "-o", str(tmp_path / "x.csv")]
        assert main(argv) == EXIT_USER_ERROR
        assert "catrack: error: --fps is required" in capsys.readouterr().err
        assert not (tmp_path / "x.csv").exists()


def test_fps_from_times_reads_the_slope_not_the_offset():
    assert abs(fps_from_times(_traces()) - FPS) < 1e-9
    assert fps_from_times(_traces().assign(time_s=np.nan)) is None  # `catrack traces` without fps


def _jittery(n=20_000, fps=30.006, jitter_s=5e-4, seed=1) -> pd.DataFrame:
    """One neuron's long trace, its time_s a real clock's: `jitter_s` of timestamp jitter."""
    rng = np.random.default_rng(seed)
    frames = np.arange(n)
    return pd.DataFrame({"neuron_id": "n0", "frame": frames, "dff": 0.02 * rng.standard_normal(n),
                         "time_s": frames / fps + rng.normal(0.0, jitter_s, n)})  # fmt: skip


def test_one_rule_reads_real_timestamps_and_refuses_uneven_ones(tmp_path, capsys):
    """h19: the widget's lenient median and the CLI's 0.1 %-per-step rule disagreed; a long
    table with 0.5 ms timestamp jitter at 30 Hz was refused by `catrack transients` ("no time_s
    column that states it") while the widget read 30.006 Hz. One rule now: real jitter passes,
    a dropped frame or a second rate is refused as uneven, not as missing."""
    from napari_catrack.core.transients import frame_rate_of_times

    table = _jittery()
    assert fps_from_times(table) == pytest.approx(30.006, rel=2e-5)  # the whole span's rate
    table.to_csv(tmp_path / "jitter.csv", index=False)
    argv = ["transients", str(tmp_path / "jitter.csv"), "--method", "ksigma", "-o", str(tmp_path / "j.csv")]  # fmt: skip
    assert main(argv) == 0
    assert "frame rate 30.006 Hz, from the table's time_s column" in capsys.readouterr().err

    gap = _jittery()
    gap.loc[gap.frame >= 5000, "time_s"] += 1 / 30.006  # one frame dropped, not numbered
    slow = _jittery(n=400)
    slow.loc[slow.frame >= 200, "time_s"] = 200 / 30.006 + (slow.frame[200:] - 200) / 27.0
    planes = pd.concat([_jittery(n=400), _jittery(n=400, fps=15.0).assign(neuron_id="n1")])
    for bad in (gap, slow, planes):
        rate, why = frame_rate_of_times(bad)
        assert rate is None and fps_from_times(bad) is None
        assert why.startswith("its times are uneven: neuron n")
    gap.to_csv(tmp_path / "gap.csv", index=False)
    argv = ["transients", str(tmp_path / "gap.csv"), "-o", str(tmp_path / "x.csv")]
    assert main(argv) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert (
        "--fps is required" in err
        and "and in the table's time_s column, its times are uneven: neuron n0's" in err
    )
    assert "frames 4999 to 5000 take 2 frames" in err and "no time_s column" not in err
    assert not (tmp_path / "x.csv").exists()


def test_a_time_that_stands_still_is_uneven_and_said_where():
    """Cascade's DS24-DS27 recordings (real timestamps) repeat their last frame's time: refused
    as uneven, naming the frames (the first wording said neither what nor where)."""
    from napari_catrack.core.transients import frame_rate_of_times

    table = _jittery(n=500)
    table.loc[499, "time_s"] = table.loc[498, "time_s"]
    rate, why = frame_rate_of_times(table)
    assert rate is None
    assert (
        why == "its times are uneven: neuron n0's frames 498 to 499 go back or stand still in time"
    )


@pytest.mark.parametrize("fps", [30.0, 7.5, 15.0, 12.0])
def test_times_rounded_to_the_millisecond_state_their_rate(fps):
    """h20 review: times written to the millisecond (a DAQ log in ms, a `%.3f` column) at 30 Hz
    step 0.033 s twice for each 0.034 s: the median step said 30.303 Hz, 1 % off, and each
    neuron's whole span then "took 302 frames" for its 300, refused as uneven ("dropped
    frames, or two rates?"). Rounding moves each time by half a millisecond, never more, so
    these times state their rate; a dropped frame and a second rate are still refused."""
    from napari_catrack.core.transients import frame_rate_of_times

    frames = np.arange(3000)
    table = pd.DataFrame({"neuron_id": "n0", "frame": frames, "time_s": np.round(frames / fps, 3)})
    rate, why = frame_rate_of_times(table)
    assert why == "" and rate == pytest.approx(fps, rel=1e-5)
    short = table[table.frame < 300]
    assert frame_rate_of_times(short)[0] == pytest.approx(fps, rel=1e-4)

    gap = table.assign(time_s=np.round((frames + (frames >= 1500)) / fps, 3))  # one dropped
    slow = table.assign(time_s=np.round(np.where(frames < 1500, frames / fps, 1500 / fps + (frames - 1500) / (0.9 * fps)), 3))  # fmt: skip
    for bad in (gap, slow):
        rate, why = frame_rate_of_times(bad)
        assert rate is None and why.startswith("its times are uneven: neuron n0")
