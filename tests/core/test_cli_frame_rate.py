"""One frame-rate rule for the table commands (`commands._common.frame_rate_from_args`).

`catrack transients` and `catrack ensembles` chose the rate in two near-copies (--fps, else the
session's, else the table's times) with their own messages; `catrack ensembles --layout wide`
asked for --fps even when the raster's column headers are its times (session 18's Left list).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import EXIT_USER_ERROR, main
from napari_catrack.io.tables import wide_fps

FPS = 7.5


def _raster(headers) -> pd.DataFrame:
    """12 neurons x 600 frames, neurons 0-3 active together ten times, columns `headers`."""
    rng = np.random.default_rng(2)
    m = np.zeros((12, 600), dtype=int)
    for s in np.arange(30, 600, 57):
        m[:4, s] = 1
    for i in range(4, 12):
        m[i, rng.choice(600, 8, replace=False)] = 1
    return pd.DataFrame(m, columns=headers).rename_axis("neuron_id").reset_index()


def _traces() -> pd.DataFrame:
    """Three neurons x 300 frames at FPS (long), each with three big transients."""
    rng = np.random.default_rng(0)
    frames = np.arange(300)
    rows = []
    for i in range(3):
        dff = 0.02 * rng.standard_normal(300)
        for start in (40 + 10 * i, 140, 230):
            dff[start:] += 1.5 * np.exp(-(frames[start:] - start) / FPS)
        rows.append(pd.DataFrame({"neuron_id": f"n{i}", "frame": frames,
                                  "time_s": frames / FPS, "dff": dff}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def _wide_traces(headers) -> pd.DataFrame:
    long = _traces()
    wide = long.pivot(index="neuron_id", columns="frame", values="dff")
    wide.columns = headers
    return wide.reset_index()


TIMES = [f"{k / FPS:.4f}" for k in range(600)]  # times in seconds, as a spreadsheet rounds them


def test_a_wide_rasters_time_headers_give_the_frame_rate(tmp_path, capsys):
    _raster(TIMES).to_csv(tmp_path / "times.csv", index=False)
    base = ["ensembles", "--layout", "wide", "--shuffles", "100", "--no-figures"]
    assert main([*base, str(tmp_path / "times.csv"), "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert f"catrack ensembles: frame rate {FPS:g} Hz, from the wide table's column headers" in err
    assert json.loads((tmp_path / "a" / "params.json").read_text())["fps"] == FPS
    # the same events as with --fps given (the columns are frames 0..599 either way)
    assert (
        main([*base, str(tmp_path / "times.csv"), "--fps", "7.5", "-o", str(tmp_path / "b")]) == 0
    )
    capsys.readouterr()
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "a" / "ensemble_events.csv"),
        pd.read_csv(tmp_path / "b" / "ensemble_events.csv"),
    )

    # frame numbers as headers state no rate: --fps is still asked for, saying why
    _raster([str(k) for k in range(600)]).to_csv(tmp_path / "frames.csv", index=False)
    assert main([*base, str(tmp_path / "frames.csv"), "-o", str(tmp_path / "x")]) == EXIT_USER_ERROR  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("catrack: error: --fps is required: the frame rate of the raster") and (
        "column headers are frame numbers, not evenly spaced times" in err
    ), err
    assert not (tmp_path / "x").exists()


def test_wide_fps_reads_only_evenly_spaced_times():
    def rate(headers):
        return wide_fps(pd.DataFrame([[0] * (len(headers) + 1)], columns=["id", *headers]))

    assert rate(TIMES) == FPS  # (not 7.49999: the shortest rate that fits the rounded times)
    assert rate([f"{k / 30:.3f}" for k in range(900)]) == 30
    assert rate([k / 4 for k in range(10)]) == 4.0  # an Excel sheet's float headers
    assert rate([str(k) for k in range(10)]) is None  # frame numbers
    assert rate(["0.0", "0.1", "0.25", "0.3"]) is None  # uneven
    assert rate([f"{k / 30:.2f}" for k in range(90)]) is None  # too coarse to tell a step
    assert rate(["0.5"]) is None


def test_wide_fps_reads_times_that_are_exact_in_few_digits():
    """h20 review: headers 0.0, 0.1, 0.2, ... (10 Hz, as a MATLAB `0:0.1:T` writes them) are
    evenly spaced to the last bit, yet were refused as "too coarse" (their last digit's unit,
    0.1, is a whole step) and `--fps is required` then said they were "frame numbers, not
    evenly spaced times". Coarse headers that are not on one grid are still refused."""

    def rate(headers):
        return wide_fps(pd.DataFrame([[0] * (len(headers) + 1)], columns=["id", *headers]))

    assert rate([f"{k / 10:.1f}" for k in range(600)]) == 10
    assert rate([f"{k / 5:.1f}" for k in range(50)]) == 5
    assert rate([f"{k / 100:.2f}" for k in range(1000)]) == 100
    assert rate([f"{k * 0.3:.1f}" for k in range(40)]) == pytest.approx(1 / 0.3, rel=1e-4)
    assert rate(["0.0", "0.1", "0.3", "0.4"]) is None  # coarse and uneven
    assert rate([f"{k / 30:.2f}" for k in range(90)]) is None  # still: rounded, not exact


@pytest.mark.parametrize("command", ["transients", "ensembles"])
def test_both_commands_say_the_same_about_the_rate(tmp_path, capsys, command):
    """The same messages from one rule: the rate taken from the table, a --fps that contradicts
    the table or the session (used, with a warning), and none known."""
    from napari_catrack.session import Session

    if command == "transients":
        table, what = _traces(), "traces"
        opts = ["--method", "ksigma"]
        where = "the table's time_s column"
        bare = table.drop(columns="time_s")
        out = lambda name: tmp_path / f"{name}.csv"  # noqa: E731
    else:
        table = pd.DataFrame({"neuron_id": [0, 1, 0, 1], "start_frame": [10, 10, 80, 80],
                              "peak_frame": [12, 12, 82, 82], "end_frame": [20, 20, 90, 90]})  # fmt: skip
        for c in ("start", "peak", "end"):
            table[f"{c}_time_s"] = table[f"{c}_frame"] / FPS
        what, where = "transients", "the table's *_time_s columns"
        opts = ["--n-frames", "100", "--shuffles", "20", "--no-figures"]
        bare = table.drop(columns=["start_time_s", "peak_time_s", "end_time_s"])
        out = lambda name: tmp_path / name  # noqa: E731
    table.to_csv(tmp_path / "in.csv", index=False)
    bare.to_csv(tmp_path / "bare.csv", index=False)
    base = [command, *opts]

    assert main([*base, str(tmp_path / "in.csv"), "-o", str(out("a"))]) == 0
    err = capsys.readouterr().err
    assert f"catrack {command}: frame rate 7.5 Hz, from {where} (--fps to give another)\n" in err

    assert main([*base, str(tmp_path / "in.csv"), "--fps", "10", "-o", str(out("b"))]) == 0
    err = capsys.readouterr().err
    assert f"catrack {command}: warning: --fps 10 differs from the 7.5 Hz read from {where}; using --fps\n" in err  # fmt: skip

    session = tmp_path / "s.catrack.h5"
    s = Session(session, autosave=False)
    s.record("settings", attrs={"fps": FPS})
    s.save()
    argv = [*base, str(tmp_path / "bare.csv"), "--fps", "10", "--session", str(session)]
    assert main([*argv, "-o", str(out("c"))]) == 0
    err = capsys.readouterr().err
    assert f"catrack {command}: warning: --fps 10 differs from the session's frame rate 7.5 Hz; using --fps\n" in err  # fmt: skip

    assert main([*base, str(tmp_path / "bare.csv"), "-o", str(out("d"))]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"catrack: error: --fps is required: the frame rate of the {what} in "
                          "frames per second (no --session gives one, and the table has no ")  # fmt: skip
    assert not out("d").exists()


def test_transients_reads_a_wide_tables_time_headers(tmp_path, capsys):
    _wide_traces([f"{k / FPS:.4f}" for k in range(300)]).to_csv(tmp_path / "w.csv", index=False)
    argv = ["transients", str(tmp_path / "w.csv"), "--method", "ksigma", "-o", str(tmp_path / "t.csv")]  # fmt: skip
    assert main(argv) == 0
    assert f"frame rate {FPS:g} Hz, from the wide table's column headers" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "t.csv")
    assert len(table) >= 9
    np.testing.assert_allclose(table["peak_time_s"], table["peak_frame"] / FPS, rtol=1e-6)


def test_a_table_that_is_no_traces_table_is_said_so_before_the_rate(tmp_path, capsys):
    """h20 review: `catrack transients` read the rate before the layout, so a table that is
    neither long (no frame column) nor wide (headers not numbers) was refused with "--fps is
    required ... the wide table's column headers are frame numbers", which it has none of, and
    with --fps then as "not a traces table". Now that first, with or without --fps."""
    for name, text in (("noframe.csv", "neuron_id,time_s,dff\n1,0.0,0.1\n1,0.1,0.2\n"),
                       ("words.csv", "neuron_id,a,b\n1,0.1,0.2\n")):  # fmt: skip
        (tmp_path / name).write_text(text)
        argv = ["transients", str(tmp_path / name), "-o", str(tmp_path / "x.csv")]
        assert main(argv) == EXIT_USER_ERROR
        err = capsys.readouterr().err
        assert f"{name} is not a traces table" in err and "--fps" not in err
        assert not (tmp_path / "x.csv").exists()
