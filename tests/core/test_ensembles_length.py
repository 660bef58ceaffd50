"""The recording length `catrack ensembles` shuffles over, from what its inputs state (h22 walk).

On the ZephIR traces (512 frames at 12 Hz, no transient after frame 461) `catrack ensembles
transients.csv --neurons cells.csv` (and `--traces traces.csv`) took the length as one past the
last frame in the transient table, 462: the circular-shift null ran over 462 frames and the
coactivity figure stopped at 38 s of a 42.7 s recording, though both inputs say 512. Now the
order is `--n-frames`, the --session's traces, `--traces`' frames, a `--neurons` cell table's
`frames_measured + frames_missing` (the traces' length `catrack transients --cells` writes),
and only then the transient table's last frame."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main

N_FRAMES, FPS = 200, 10.0


@pytest.fixture
def inputs(tmp_path):
    """Three neurons, transients up to frame 120 of 200, the cell table and traces they came
    from (the shape `catrack transients --cells` and `catrack traces` write)."""
    rows = [(n, f, f + 3, f + 8) for n in (1, 2, 3) for f in (10, 40, 70, 100, 112)]
    table = pd.DataFrame(rows, columns=["neuron_id", "start_frame", "peak_frame", "end_frame"])
    for c in ("start", "peak", "end"):
        table[f"{c}_time_s"] = table[f"{c}_frame"] / FPS
    table.to_csv(tmp_path / "transients.csv", index=False)
    cells = pd.DataFrame({"neuron_id": [1, 2, 3, 4], "frames_measured": N_FRAMES,
                          "frames_missing": 0, "status": "unverified"})  # fmt: skip
    cells.to_csv(tmp_path / "cells.csv", index=False)
    ids, frames = np.meshgrid([1, 2, 3, 4], np.arange(N_FRAMES), indexing="ij")
    traces = pd.DataFrame({"neuron_id": ids.ravel(), "frame": frames.ravel(), "dff": 0.0})
    traces.to_csv(tmp_path / "traces.csv", index=False)
    return tmp_path


def _length(tmp_path, *extra) -> int:
    out = tmp_path / "ens"
    argv = ["ensembles", str(tmp_path / "transients.csv"), "-o", str(out), "--no-figures",
            "--shuffles", "20", *map(str, extra)]  # fmt: skip
    assert main(argv) == 0
    return json.loads((out / "params.json").read_text())["n_frames"]


def test_the_cell_table_states_the_recording_length(inputs):
    assert _length(inputs, "--neurons", inputs / "cells.csv") == N_FRAMES


def test_the_traces_state_the_recording_length(inputs):
    assert _length(inputs, "--traces", inputs / "traces.csv") == N_FRAMES


def test_n_frames_wins_and_a_table_alone_ends_at_its_last_frame(inputs):
    assert _length(inputs, "--neurons", inputs / "cells.csv", "--n-frames", 150) == 150
    assert _length(inputs) == 121  # nothing else states it: one past the last end_frame
