"""`catrack transients` takes the frame rate a traces table states in its time_s column.

`catrack traces REC -o traces.csv` then `catrack transients traces.csv -o t.csv` was refused
("--fps is required") although every row of the table says its time (h18 first-hour walk)."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
