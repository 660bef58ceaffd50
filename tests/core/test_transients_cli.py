"""Trace tables (long/wide), the `catrack transients` CLI, and a check on real Cascade data."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.transients import detect_rules, detect_transients
from napari_catrack.core.transients.scoring import match_events, precision_recall_f1
from napari_catrack.errors import InputError
from napari_catrack.io.cascade import read_cascade_file
from napari_catrack.io.tables import read_traces, write_table

from .test_transients import FPS, ONSETS, make_trace

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def long_table(traces: np.ndarray, ids) -> pd.DataFrame:
    n, t = traces.shape
    return pd.DataFrame(
        {
            "neuron_id": np.repeat(ids, t),
            "frame": np.tile(np.arange(t), n),
            "time_s": np.tile(np.arange(t) / FPS, n),
            "dff": traces.ravel(),
        }
    )


@pytest.fixture
def traces():
    return np.stack([make_trace(ONSETS, dur=30.0), make_trace([12.0], dur=30.0, seed=4)])


def test_long_and_wide_read_the_same(tmp_path, traces):
    long_path, wide_path = tmp_path / "long.csv", tmp_path / "wide.csv"
    long_table(traces, [3, 5]).sample(frac=1, random_state=0).to_csv(long_path, index=False)
    wide = pd.DataFrame(traces, columns=[str(i) for i in range(traces.shape[1])])
    wide.insert(0, "neuron", [3, 5])
    wide.to_csv(wide_path, index=False)
    a, b = read_traces(long_path), read_traces(wide_path)
    assert a.neuron_ids.tolist() == b.neuron_ids.tolist() == [3, 5]
    np.testing.assert_allclose(a.dff, traces)
    np.testing.assert_allclose(b.dff, traces)


def test_bad_tables(tmp_path, traces):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_traces(empty)
    header_only = tmp_path / "h.csv"
    header_only.write_text("neuron_id,frame,dff\n")
    with pytest.raises(InputError, match="no rows"):
        read_traces(header_only)
    nan = long_table(traces, [1, 2])
    nan.loc[nan["neuron_id"] == 2, "dff"] = np.nan
    nan.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(InputError, match="only NaN"):
        read_traces(tmp_path / "nan.csv")
    wide = pd.DataFrame({"id": [1, 2], "0": [0.1, 0.2], "1": [0.3, "oops"]})
    wide.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(InputError, match="not a number.*oops"):
        read_traces(tmp_path / "text.csv", "wide")
    with pytest.raises(InputError, match="not found"):
        read_traces(tmp_path / "missing.csv")


def test_write_table_atomic_csv_and_excel(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for name in ("t.csv", "t.xlsx"):
        p = write_table(df, tmp_path / name)
        back = pd.read_excel(p) if name.endswith("xlsx") else pd.read_csv(p)
        pd.testing.assert_frame_equal(back, df)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["t.csv", "t.xlsx"]  # no temp left


def test_cli_round_trip(tmp_path, traces):
    cli = pytest.importorskip("napari_catrack.cli")
    src = tmp_path / "traces.csv"
    long_table(traces, [3, 5]).to_csv(src, index=False)
    before = src.read_bytes()
    out, cells, figs = tmp_path / "tr.csv", tmp_path / "cells.xlsx", tmp_path / "figs"
    verdicts = tmp_path / "v.csv"
    pd.DataFrame({"neuron_id": [5], "status": ["accepted"]}).to_csv(verdicts, index=False)
    argv = ["transients", str(src), "--fps", str(FPS), "-o", str(out), "--cells", str(cells)]
    argv += ["--verdicts", str(verdicts), "--figures", str(figs), "--figure-format", "png"]
    assert cli.main(argv) == 0
    tab = pd.read_csv(out)
    head = ["neuron_id", "start_frame", "peak_frame", "end_frame", "peak_amplitude", "rise_time_s"]
    assert list(tab.columns[:6]) == head
    assert tab.groupby("neuron_id").size().to_dict() == {3: 3, 5: 1}  # 30 s: first 3 onsets
    assert np.allclose(
        np.sort(tab.loc[tab.neuron_id == 3, "peak_frame"]),
        (np.array(ONSETS[:3]) + 0.2) * FPS,
        atol=2,
    )
    c = pd.read_excel(cells).set_index("neuron_id")
    assert c.loc[5, "status"] == "accepted" and c.loc[3, "status"] == "unverified"
    assert len(list(figs.glob("*.png"))) == 4
    assert src.read_bytes() == before
    assert (
        cli.main(["transients", str(src), "--fps", "5", "--method", "ksigma", "-o", str(out)]) == 0
    )


def test_a_lost_neuron_does_not_block_the_others(tmp_path, traces, capsys):
    # a track lost on background has F0 <= 0, so its dF/F is NaN throughout (seen on the real
    # ZephIR worm): that one neuron used to fail `catrack transients` and the batch step for all
    cli = pytest.importorskip("napari_catrack.cli")
    three = np.vstack([traces, np.full((1, traces.shape[1]), np.nan)])
    src = tmp_path / "traces.csv"
    long_table(three, [3, 5, 9]).to_csv(src, index=False)
    out, cells = tmp_path / "t.csv", tmp_path / "c.csv"
    argv = ["transients", str(src), "--fps", str(FPS), "--method", "rules"]
    assert cli.main([*argv, "-o", str(out), "--cells", str(cells)]) == 0
    assert "1 of 3 neuron(s) have no finite dF/F values (neuron_id 9)" in capsys.readouterr().err
    tab = pd.read_csv(out)
    assert set(tab["neuron_id"]) == {3, 5} and len(tab) == 4
    c = pd.read_csv(cells).set_index("neuron_id")
    assert c.loc[9, "n_transients"] == 0 and np.isnan(c.loc[9, "event_rate_hz"])
    with pytest.warns(RuntimeWarning, match="neuron_id 9"):
        same = detect_transients(three, FPS, "rules", neuron_ids=[3, 5, 9])
    assert same["peak_frame"].tolist() == tab["peak_frame"].tolist()
    with pytest.raises(InputError, match="only NaN"):  # training still wants every neuron
        read_traces(src)


def test_cli_errors(tmp_path, traces, capsys):
    cli = pytest.importorskip("napari_catrack.cli")
    src = tmp_path / "traces.csv"
    # no time_s column: nothing states the frame rate (with one, it is taken from there)
    long_table(traces, [3, 5]).drop(columns="time_s").to_csv(src, index=False)
    out = str(tmp_path / "o.csv")
    assert cli.main(["transients", str(src), "-o", out]) == 2
    assert "--fps is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # refused as the option is read, as traces --fps 0
        cli.main(["transients", str(src), "--fps", "0", "-o", out])
    assert exc.value.code == 2
    assert "--fps: expected a finite number > 0, got '0'" in capsys.readouterr().err
    empty = tmp_path / "e.csv"
    empty.write_text("")
    assert cli.main(["transients", str(empty), "--fps", "10", "-o", out]) == 2
    assert "empty" in capsys.readouterr().err
    assert not Path(out).exists()


def test_real_cascade_gcamp6f_detection():
    files = sorted(glob.glob(str(DATA / "cascade" / "DS09-GCaMP6f-m-V1" / "*cell1_mini.mat")))
    if not files:
        pytest.skip("Cascade data not found: ../shared/data/cascade/DS09-GCaMP6f-m-V1")
    total = None
    for t, y, ap in read_cascade_file(files[0]):
        tab = detect_rules(y, 1 / np.mean(np.diff(t)), features=False)
        r = match_events(t[tab["start_frame"]], t[tab["peak_frame"]], ap, 0.3, 0.15)
        total = r if total is None else total + r
    m = precision_recall_f1(total)
    assert total.n_bursts > 50
    # floors well below the measured benchmark numbers (docs/transients.md)
    assert m["precision"] > 0.6 and m["recall"] > 0.5


def test_cli_wide_layout_keeps_frame_numbers(tmp_path, traces):
    cli = pytest.importorskip("napari_catrack.cli")
    # frames numbered from 100 in the header: output frames must use the table's numbers
    wide = pd.DataFrame(traces, columns=[str(100 + i) for i in range(traces.shape[1])])
    wide.insert(0, "neuron", ["x", "y"])
    src, out = tmp_path / "wide.csv", tmp_path / "o.csv"
    wide.to_csv(src, index=False)
    assert (
        cli.main(["transients", str(src), "--fps", str(FPS), "--layout", "wide", "-o", str(out)])
        == 0
    )
    tab = pd.read_csv(out)
    y = tab[tab.neuron_id == "y"].iloc[0]
    assert abs(y["peak_frame"] - (100 + 12.2 * FPS)) <= 2
    assert y["peak_time_s"] == pytest.approx(y["peak_frame"] / FPS)


def test_figures_are_figures(traces):
    from matplotlib.figure import Figure

    from napari_catrack.figures.transients import (
        amplitude_figure,
        iti_figure,
        raster_figure,
        traces_figure,
    )

    tab = detect_rules(traces, FPS, neuron_ids=np.array([3, 5]))
    fig = traces_figure(traces, FPS, tab, np.array([3, 5]))
    assert isinstance(fig, Figure)
    # one marker line per transient peak on the trace axes
    markers = [ln for ln in fig.axes[0].lines if ln.get_marker() == "v"]
    assert len(markers) == len(tab)
    raster = raster_figure(tab, [3, 5], FPS, traces.shape[1])
    assert len(raster.axes[0].collections) == 2
    assert isinstance(amplitude_figure(tab), Figure) and isinstance(iti_figure(tab), Figure)
    assert isinstance(iti_figure(tab.iloc[:0]), Figure)  # empty tables still draw


def test_smooth_window_option_accepts_auto_and_seconds(tmp_path):
    """The CLI default is the adaptive window; an explicit number still reaches the detector."""
    from napari_catrack import cli
    from napari_catrack.core.transients.params import TransientParams

    parser = cli.build_parser()
    base = ["transients", "x.csv", "--fps", "100", "-o", str(tmp_path / "o.csv")]
    assert TransientParams.from_args(parser.parse_args(base)).smooth_window_s == "auto"
    for text in ("auto", " AUTO "):
        args = parser.parse_args([*base, "--smooth-window", text])
        assert TransientParams.from_args(args).smooth_window_s == "auto"
    explicit = TransientParams.from_args(parser.parse_args([*base, "--smooth-window", "0.1"]))
    assert explicit.smooth_window_s == 0.1
    assert TransientParams(method="ksigma").ksigma_smooth_window_s() == 0.2  # k-sigma's "auto"


def test_wide_headers_in_seconds_do_not_collapse_onto_frames():
    from napari_catrack.io.tables import to_matrix

    times = pd.DataFrame([[1, 0.0, 0.5, 1.0, 0.2]], columns=["cell", "0.0", "0.1", "0.2", "0.3"])
    np.testing.assert_array_equal(to_matrix(times, "wide").frames, [0, 1, 2, 3])
    frames = pd.DataFrame([[1, 0.0, 0.5]], columns=["cell", "10", "11"])
    np.testing.assert_array_equal(to_matrix(frames, "wide").frames, [10, 11])


def test_long_table_without_dff_names_the_missing_column():
    from napari_catrack.io.tables import to_matrix

    with pytest.raises(InputError, match="needs column"):
        to_matrix(pd.DataFrame({"neuron_id": [1, 1], "frame": [0, 1], "ratio": [1.0, 2.0]}))


def test_cli_checks_every_input_before_writing(tmp_path, traces, capsys):
    cli = pytest.importorskip("napari_catrack.cli")
    src = tmp_path / "t.csv"
    long_table(traces, [3, 5]).to_csv(src, index=False)
    before = src.read_bytes()
    run = ["transients", str(src), "--fps", str(FPS), "--method", "rules"]
    assert cli.main([*run, "-o", str(src)]) == 2
    assert "-o" in (err := capsys.readouterr().err) and "overwrite the input TRACES" in err
    assert src.read_bytes() == before
    keep, cells = tmp_path / "keep.csv", tmp_path / "kc.csv"
    keep.write_text("the previous table\n")
    bad = tmp_path / "vbad.csv"
    pd.DataFrame({"neuron_id": [3], "status": ["acepted"]}).to_csv(bad, index=False)
    assert cli.main([*run, "-o", str(keep), "--cells", str(cells), "--verdicts", str(bad)]) == 2
    assert "verdict status must be" in capsys.readouterr().err
    assert keep.read_text() == "the previous table\n" and not cells.exists()
    for verdicts in (bad, tmp_path / "none.csv"):  # never silently ignored
        assert cli.main([*run, "-o", str(keep), "--verdicts", str(verdicts)]) == 2
        assert "--verdicts only applies with --cells" in capsys.readouterr().err
    assert keep.read_text() == "the previous table\n"
    stray = tmp_path / "v.csv"
    pd.DataFrame({"neuron_id": [3, 99], "status": ["accepted", "rejected"]}).to_csv(
        stray, index=False
    )
    assert cli.main([*run, "-o", str(keep), "--cells", str(cells), "--verdicts", str(stray)]) == 0
    assert "1 neuron(s) not in" in capsys.readouterr().err
    assert pd.read_csv(cells).set_index("neuron_id").loc[3, "status"] == "accepted"
