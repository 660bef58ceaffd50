"""Every route to the ensembles counts the same neurons: every neuron traced, with or without
transients (the cell table), as the demo and the batch always did. `catrack ensembles` and the
widget counted only the neurons with transients (14 of the demo's 23 at 300 frames): another
`n_neurons` in params.json and the session, and, since every neuron's circular shift draws from
the null's random stream, not always the same null for the same seed."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.core.ensembles.params import EnsembleParams
from napari_catrack.session import Session

pytestmark = pytest.mark.slow
SEED = 2  # the demo's seed, which its ensembles step runs with


def _events(table: pd.DataFrame) -> pd.DataFrame:
    cols = ["start_frame", "end_frame", "n_active", "ensemble_id"]
    return table[cols].reset_index(drop=True).astype("int64")


def test_cli_demo_and_batch_record_every_neuron_traced(small_demo, tmp_path, capsys):
    demo = Session.load(small_demo / "demo.catrack.h5")
    cells = demo["transients"].tables["cells"]
    active = demo["transients"].tables["transients"]["neuron_id"].nunique()
    n_traced = len(cells)
    assert active < n_traced  # the input has silent neurons: the routes can differ
    done = demo["ensembles"]
    assert done.params["n_neurons"] == n_traced  # the demo
    want = _events(done.tables["events"])
    fps = float(done.params["fps"])
    assert len(want) > 0

    # the batch's step, on the demo's own traces and transients
    from napari_catrack.batch.steps import StepContext, _ensembles

    spec = SimpleNamespace(options={"fps": fps}, path=small_demo / "recording.tif")
    batch = Session.load(small_demo / "demo.catrack.h5")
    _ensembles(StepContext(spec, batch, tmp_path, log=lambda line: None), EnsembleParams(seed=SEED))
    assert batch["ensembles"].params["n_neurons"] == n_traced
    pd.testing.assert_frame_equal(_events(batch["ensembles"].tables["events"]), want)

    # `catrack ensembles` on the demo's CSVs: --neurons cells.csv, or the demo's session
    base = ["ensembles", str(small_demo / "transients.csv"), "--fps", str(fps),
            "--seed", str(SEED), "--no-figures"]  # fmt: skip
    copy = tmp_path / "copy.catrack.h5"
    shutil.copy(small_demo / "demo.catrack.h5", copy)
    runs = {
        "neurons": [
            "--neurons",
            str(small_demo / "cells.csv"),
            "--n-frames",
            "80",
            "--traces",
            str(small_demo / "traces.csv"),
        ],
        "session": ["--session", str(copy)],
    }
    for name, extra in runs.items():
        assert main([*base, "-o", str(tmp_path / name), *extra]) == 0
        out = capsys.readouterr().out
        assert f"of {n_traced} neurons (" in out and f"; {active} with events)" in out, out
        params = json.loads((tmp_path / name / "params.json").read_text())
        assert params["n_neurons"] == n_traced, name
        got = pd.read_csv(tmp_path / name / "ensemble_events.csv")
        pd.testing.assert_frame_equal(_events(got), want)
    assert Session.load(copy)["ensembles"].params["n_neurons"] == n_traced
    # the table alone: its neurons, and the line says how to count every neuron traced
    assert main([*base, "-o", str(tmp_path / "alone")]) == 0
    out = capsys.readouterr().out
    assert f"of {active} neurons (only those with transients: --neurons FILE" in out, out


def test_a_neuron_list_that_misses_a_neuron_is_refused(small_demo, tmp_path, capsys):
    cells = pd.read_csv(small_demo / "cells.csv")
    transients = pd.read_csv(small_demo / "transients.csv")
    short = tmp_path / "short.csv"
    cells[cells["neuron_id"] != transients["neuron_id"].iloc[0]].to_csv(short, index=False)
    argv = ["ensembles", str(small_demo / "transients.csv"), "--fps", "5", "--no-figures",
            "-o", str(tmp_path / "o"), "--neurons", str(short)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not in --neurons short.csv" in err[0], err


def test_a_session_of_another_analysis_is_not_taken_for_the_tables(small_demo, tmp_path, capsys):
    """Integer neuron ids are in almost any session's traces: `catrack ensembles --session`
    took another analysis's neurons and recording length for a table whose ids it covered
    (second review of h15). Its transients must be the session's own (a subset: rows deleted
    by hand are fine); otherwise only the table's neurons count, and the line says why."""
    demo = Session.load(small_demo / "demo.catrack.h5")
    n_traced = len(demo["transients"].tables["cells"])
    table = pd.read_csv(small_demo / "transients.csv")
    active = table["neuron_id"].nunique()
    copy = tmp_path / "copy.catrack.h5"
    shutil.copy(small_demo / "demo.catrack.h5", copy)
    other, fewer = tmp_path / "other.csv", tmp_path / "fewer.csv"
    table.assign(start_frame=table["start_frame"] + 1).to_csv(other, index=False)
    table.iloc[1:].to_csv(fewer, index=False)  # one transient deleted by hand
    base = ["ensembles", "--fps", "5", "--seed", str(SEED), "--no-figures", "--session", str(copy)]
    assert main([*base[:1], str(other), *base[1:], "-o", str(tmp_path / "o1")]) == 0
    out = capsys.readouterr().out
    assert f"of {active} neurons (only those with transients" in out, out
    assert "the --session's transients are not these" in out, out
    assert main([*base[:1], str(fewer), *base[1:], "-o", str(tmp_path / "o2")]) == 0
    assert f"of {n_traced} neurons (traced in --session" in capsys.readouterr().out
