"""`catrack ensembles` takes the frame rate a transient table states in its *_time_s columns.

`catrack transients traces.csv -o t.csv` writes start/peak/end_time_s beside the frames, yet
`catrack ensembles t.csv -o out` was refused until --fps was given (h18)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from napari_catrack.cli import EXIT_USER_ERROR, main
from napari_catrack.core.transients import fps_from_times

FPS = 7.5


def _transients(offsets=(0.0,) * 6 + (0.02,) * 6) -> pd.DataFrame:
    """12 neurons' transients over 600 frames at FPS: neurons 0-3 start together ten times,
    the rest at random frames; neuron i's times `offsets[i]` s late (a suite2p plane's offset)."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(len(offsets)):
        starts = np.arange(30, 600, 57) if i < 4 else np.sort(rng.choice(580, 8, replace=False))
        for s in starts:
            rows.append(
                {"neuron_id": i, "start_frame": s, "peak_frame": s + 3, "end_frame": s + 12}
            )
    table = pd.DataFrame(rows)
    late = table["neuron_id"].map(dict(enumerate(offsets)))
    for c in ("start", "peak", "end"):
        table[f"{c}_time_s"] = table[f"{c}_frame"] / FPS + late
    return table


def test_the_frame_rate_comes_from_the_tables_time_columns(tmp_path, capsys):
    _transients().to_csv(tmp_path / "t.csv", index=False)
    base = ["ensembles", str(tmp_path / "t.csv"), "--n-frames", "600", "--shuffles", "100",
            "--no-figures"]  # fmt: skip
    assert main([*base, "-o", str(tmp_path / "a")]) == 0
    said = capsys.readouterr()
    assert f"catrack ensembles: frame rate {FPS:g} Hz, from the table's" in said.err, said.err
    assert json.loads((tmp_path / "a" / "params.json").read_text())["fps"] == FPS
    assert main([*base, "--fps", str(FPS), "-o", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    for name in ("ensemble_events.csv", "ensemble_members.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / name), pd.read_csv(tmp_path / "b" / name))  # fmt: skip

    # no time columns, or times that do not keep one rate: --fps is still asked for
    _transients().drop(columns=["start_time_s", "peak_time_s", "end_time_s"]).to_csv(tmp_path / "bare.csv", index=False)  # fmt: skip
    uneven = _transients()
    uneven.loc[uneven.start_frame >= 300, ["start_time_s", "peak_time_s", "end_time_s"]] *= 1.1
    uneven.to_csv(tmp_path / "uneven.csv", index=False)
    for name in ("bare.csv", "uneven.csv"):
        argv = ["ensembles", str(tmp_path / name), "--no-figures", "-o", str(tmp_path / "x")]
        assert main(argv) == EXIT_USER_ERROR
        assert "catrack: error: --fps is required" in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_fps_from_times_reads_a_transient_tables_pairs():
    pairs = [(f"{c}_frame", f"{c}_time_s") for c in ("start", "peak", "end")]
    assert abs(fps_from_times(_transients(), pairs) - FPS) < 1e-9
    assert fps_from_times(_transients()) is None  # no frame / time_s columns


def test_the_frame_rate_comes_from_the_session(tmp_path, capsys):
    """A table without times, a --session with a frame rate: the session's, as `catrack
    transients` takes it; --fps given otherwise is used, with a warning."""
    from napari_catrack.session import Session

    _transients().drop(columns=["start_time_s", "peak_time_s", "end_time_s"]).to_csv(tmp_path / "bare.csv", index=False)  # fmt: skip
    path = tmp_path / "s.catrack.h5"
    session = Session(path, autosave=False)
    session.record("settings", attrs={"fps": FPS})
    session.save()
    base = ["ensembles", str(tmp_path / "bare.csv"), "--n-frames", "600", "--shuffles", "100",
            "--no-figures", "--session", str(path)]  # fmt: skip
    assert main([*base, "-o", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "params.json").read_text())["fps"] == FPS
    capsys.readouterr()
    assert main([*base, "--fps", "10", "-o", str(tmp_path / "b")]) == 0
    assert "--fps 10 differs from the session's frame rate 7.5 Hz; using --fps" in capsys.readouterr().err  # fmt: skip
    assert json.loads((tmp_path / "b" / "params.json").read_text())["fps"] == 10


def test_the_events_table_is_read_once(tmp_path, capsys, monkeypatch):
    """h19: with --fps (or none), `catrack ensembles` read EVENTS.csv a second time only to see
    the rate it states (`_frame_rate`); now both take the one table read."""
    import napari_catrack.io.tables as tables

    _transients().to_csv(tmp_path / "t.csv", index=False)
    read, reads = tables.read_table, []

    def counted(path, *a, **k):
        reads.append(str(path))
        return read(path, *a, **k)

    monkeypatch.setattr(tables, "read_table", counted)
    base = ["ensembles", str(tmp_path / "t.csv"), "--n-frames", "600", "--shuffles", "100",
            "--no-figures"]  # fmt: skip
    assert main([*base, "--fps", "10", "-o", str(tmp_path / "a")]) == 0
    assert "differs from the 7.5 Hz read from the table's" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "b")]) == 0
    assert reads == [str(tmp_path / "t.csv")] * 2  # once a run
