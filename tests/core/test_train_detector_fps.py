"""`catrack train-detector` takes the frame rate by the rule of `catrack transients` (h22 walk):
--fps, else the one the traces table's time_s column (or a wide table's time headers) states.
It required --fps, so the traces `catrack traces` wrote (time_s at 10 Hz), which `catrack
transients` reads without one, were refused by the next step of the same walk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main

FPS = 7.5


@pytest.fixture
def tables(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.arange(300)
    rows, labels = [], []
    for n in range(2):
        y = 0.02 * rng.standard_normal(frames.size)
        for s in (40, 120, 200):
            y[s:] += 0.8 * np.exp(-(frames[s:] - s) / (1.0 * FPS))
            labels.append((n, s, s + 2))
        rows.append(pd.DataFrame({"neuron_id": n, "frame": frames, "time_s": frames / FPS,
                                  "dff": y}))  # fmt: skip
    pd.concat(rows).to_csv(tmp_path / "traces.csv", index=False)
    pd.DataFrame(labels, columns=["neuron_id", "start_frame", "peak_frame"]).to_csv(
        tmp_path / "curated.csv", index=False
    )
    return tmp_path


def _train(tmp_path, traces, *extra):
    return main(["train-detector", str(traces), str(tmp_path / "curated.csv"), "-o",
                 str(tmp_path / "det.pt"), "--epochs", "1", "--hidden", "8", *extra])  # fmt: skip


def test_the_rate_comes_from_the_tables_time_s(tables, capsys):
    assert _train(tables, tables / "traces.csv") == 0
    err = capsys.readouterr().err
    assert "frame rate 7.5 Hz, from the table's time_s column (--fps to give another)" in err
    assert (tables / "det.pt").is_file()


def test_without_time_s_fps_is_still_required_in_one_line(tables, capsys):
    bare = tables / "bare.csv"
    pd.read_csv(tables / "traces.csv").drop(columns="time_s").to_csv(bare, index=False)
    assert _train(tables, bare) == 2
    err = capsys.readouterr().err
    assert err.startswith("catrack: error: --fps is required: the frame rate of the traces")
    assert len(err.strip().splitlines()) == 1 and not (tables / "det.pt").exists()
