"""The session's cell verdicts (the Sources evaluation's, suite2p's iscell, the curation's) reach
every table and analysis that reads the session, as the widgets show them (h19: a user walk on
the SIMA movie found `catrack transients --session` writing every cell `unverified`, 113 of 164
rejected by the sources evaluation, and `catrack ensembles --session` counting rejected cells
and their events that the Ensembles widget leaves out)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.cli import main
from napari_catrack.core.sources.session import set_verdict
from napari_catrack.session import Session

from .test_transients import ONSETS, make_trace
from .test_transients_cli import long_table

IDS = [3, 5, 7, 9]


def _session_with_verdicts(folder):
    """traces.csv of four neurons (all active at the same onsets: coactive) and a session whose
    traces they are, with neuron 5 rejected by the evaluation and 7 accepted by hand."""
    dff = np.stack([make_trace(ONSETS, dur=30.0, seed=s) for s in range(len(IDS))])
    traces = long_table(dff, IDS)
    src = folder / "traces.csv"
    traces.to_csv(src, index=False)
    path = folder / "s.catrack.h5"
    session = Session(path, autosave=False)
    session.record("traces", tables={"traces": traces.assign(neuron_id=traces["neuron_id"].astype(str))})  # fmt: skip
    set_verdict(session, 5, "rejected", "auto: low SNR")
    set_verdict(session, 7, "accepted", "")
    session.save()
    return src, path


def test_transients_cli_carries_the_sessions_verdicts(tmp_path, monkeypatch):
    # old code: every cell "unverified" in --cells and in the session's cell table
    import napari_catrack.figures.transients as figures

    drawn = []
    raster = figures.raster_figure
    monkeypatch.setattr(figures, "raster_figure", lambda t, ids, *a: drawn.append(list(ids)) or raster(t, ids, *a))  # fmt: skip
    src, path = _session_with_verdicts(tmp_path)
    out, cells, figs = tmp_path / "t.csv", tmp_path / "c.csv", tmp_path / "figs"
    argv = ["transients", str(src), "--method", "rules", "-o", str(out), "--cells", str(cells),
            "--session", str(path), "--figures", str(figs)]  # fmt: skip
    assert main(argv) == 0
    c = pd.read_csv(cells, keep_default_na=False).set_index("neuron_id")
    assert c.loc[5, "status"] == "rejected" and c.loc[5, "reason"] == "auto: low SNR"
    assert c.loc[7, "status"] == "accepted"
    assert c.loc[3, "status"] == c.loc[9, "status"] == "unverified"
    # detection runs on every cell, the rejected one too, as in the Transients widget
    tab = pd.read_csv(out)
    assert set(tab["neuron_id"]) == set(IDS)
    session = Session.load(path)
    stored = session["transients"].tables["cells"].set_index("neuron_id")
    stored.index = stored.index.astype(str)
    assert stored.loc["5", "status"] == "rejected"
    v = session["transients"].tables["verdicts"]  # the session keeps its verdicts
    assert dict(zip(v["neuron_id"].astype(str), v["status"], strict=True)) == {
        "5": "rejected",
        "7": "accepted",
    }
    # the figures leave the rejected cell out, as the widget's do
    assert drawn == [[3, 7, 9]]


def test_verdicts_file_wins_over_the_session(tmp_path):
    src, path = _session_with_verdicts(tmp_path)
    v = tmp_path / "v.csv"
    pd.DataFrame({"neuron_id": [3], "status": ["rejected"], "reason": ["other"]}).to_csv(v, index=False)  # fmt: skip
    cells = tmp_path / "c.csv"
    argv = ["transients", str(src), "--method", "rules", "-o", str(tmp_path / "t.csv"),
            "--cells", str(cells), "--verdicts", str(v), "--session", str(path)]  # fmt: skip
    assert main(argv) == 0
    c = pd.read_csv(cells, keep_default_na=False).set_index("neuron_id")
    assert c["status"].to_dict() == {3: "rejected", 5: "unverified", 7: "unverified", 9: "unverified"}  # fmt: skip


def test_every_route_to_the_ensembles_leaves_rejected_cells_out(tmp_path, capsys):
    # old code: `catrack ensembles --session` and the batch counted neuron 5 and its transients
    # ("of 4 neurons"), the Ensembles widget did not (tests/gui: the widget's side)
    import json
    import shutil
    from types import SimpleNamespace

    from napari_catrack.batch.steps import StepContext, _ensembles
    from napari_catrack.core.ensembles.params import EnsembleParams
    from napari_catrack.core.ensembles.records import ensemble_input

    src, path = _session_with_verdicts(tmp_path)
    out = tmp_path / "t.csv"
    cells = tmp_path / "c.csv"
    assert main(["transients", str(src), "--method", "rules", "-o", str(out), "--session", str(path), "--cells", str(cells)]) == 0  # fmt: skip
    table = pd.read_csv(out)
    kept = table[table["neuron_id"] != 5]
    assert len(kept) < len(table)  # the rejected cell has transients: the routes could differ

    session = Session.load(path)
    core = ensemble_input(session, session["transients"].tables["transients"])
    assert [str(i) for i in core.neuron_ids] == ["3", "7", "9"] and core.rejected == {"5"}
    assert len(core.transients) == len(kept)

    batch = Session.load(path)
    spec = SimpleNamespace(options={"fps": 50.0}, path=src)
    _ensembles(StepContext(spec, batch, tmp_path, log=lambda line: None), EnsembleParams(seed=1))
    copy = tmp_path / "copy.catrack.h5"
    shutil.copy(path, copy)
    capsys.readouterr()
    argv = ["ensembles", str(out), "--seed", "1", "--no-figures", "-o", str(tmp_path / "e"),
            "--session", str(copy)]  # fmt: skip
    assert main(argv) == 0
    line = capsys.readouterr().out
    assert "of 3 neurons (traced in --session, 1 rejected cell(s) left out; 3 with events)" in line
    cli = json.loads((tmp_path / "e" / "params.json").read_text())
    for params in (cli, batch["ensembles"].params, Session.load(copy)["ensembles"].params):
        assert params["n_neurons"] == 3 and params["n_input_events"] == len(kept)
    events = pd.read_csv(tmp_path / "e" / "ensemble_events.csv")
    assert events["start_frame"].tolist() == batch["ensembles"].tables["events"]["start_frame"].tolist()  # fmt: skip
    # the cells.csv of `catrack transients --cells` (its status column) without the session
    argv = ["ensembles", str(out), "--seed", "1", "--no-figures", "-o", str(tmp_path / "n"),
            "--neurons", str(cells), "--n-frames", "1500", "--traces", str(src)]  # fmt: skip
    assert main(argv) == 0
    assert "of 3 neurons (listed in c.csv, 1 rejected cell(s) left out" in capsys.readouterr().out
    listed = json.loads((tmp_path / "n" / "params.json").read_text())
    assert listed["n_neurons"] == 3 and listed["n_input_events"] == len(kept)
    assert pd.read_csv(tmp_path / "n" / "ensemble_events.csv")["start_frame"].tolist() == events["start_frame"].tolist()  # fmt: skip


def test_the_batch_step_stores_its_cell_table_with_the_sessions_verdicts(tmp_path):
    # old code: the batch's (and the demos') cell table said "unverified" for every cell, and
    # the export writes that table as cells.csv
    from types import SimpleNamespace

    from napari_catrack.batch.steps import StepContext, _transients
    from napari_catrack.core.transients.params import TransientParams

    src, path = _session_with_verdicts(tmp_path)
    session = Session.load(path)
    spec = SimpleNamespace(options={"fps": 50.0}, path=src)
    _transients(StepContext(spec, session, tmp_path, log=lambda line: None), TransientParams(method="rules"))  # fmt: skip
    cells = session["transients"].tables["cells"]
    status = dict(zip(cells["neuron_id"].astype(str), cells["status"], strict=True))
    assert status == {"3": "unverified", "5": "rejected", "7": "accepted", "9": "unverified"}
    assert cells.loc[cells["neuron_id"].astype(str) == "5", "reason"].iloc[0] == "auto: low SNR"


def test_the_exported_cell_table_says_a_verdict_changed_after_the_transients(tmp_path):
    # old code: cells.csv said the verdicts as they were when the transients were recorded (the
    # stored table); a cell accepted, rejected or reset later (Sources widget, an import,
    # set_verdict) kept its old status in the export
    from napari_catrack.export import export_session

    src, path = _session_with_verdicts(tmp_path)
    argv = ["transients", str(src), "--method", "rules", "-o", str(tmp_path / "t.csv"),
            "--session", str(path)]  # fmt: skip
    assert main(argv) == 0
    session = Session.load(path)
    set_verdict(session, 3, "rejected", "two cells in one footprint")
    set_verdict(session, 5, "accepted")
    set_verdict(session, 7, "unverified")
    result = export_session(session, tmp_path / "out", ["cells"])
    assert not result.failed
    c = pd.read_csv(tmp_path / "out" / "cells.csv", keep_default_na=False).set_index("neuron_id")
    assert c.loc[3, "status"] == "rejected" and c.loc[3, "reason"] == "two cells in one footprint"
    assert c.loc[5, "status"] == "accepted" and c.loc[5, "reason"] == ""
    assert c.loc[7, "status"] == c.loc[9, "status"] == "unverified"
    # the other columns are the stored table's, row for row
    stored = session["transients"].tables["cells"]
    assert c.index.astype(str).tolist() == stored["neuron_id"].astype(str).tolist()
    assert c["n_transients"].tolist() == stored["n_transients"].tolist()


def test_ensembles_of_no_transients_say_so_not_a_threshold_of_0(tmp_path, capsys):
    """`catrack ensembles` of a transients table with no rows: before h21 its line read
    "0 ensemble events (threshold > 0 coactive neurons)", a threshold no test drew."""
    from napari_catrack.cli import main

    (tmp_path / "t.csv").write_text("neuron_id,transient_id,start_frame,peak_frame,end_frame,amplitude\n")  # fmt: skip
    (tmp_path / "n.csv").write_text("neuron_id,status\n1,accepted\n2,accepted\n")
    capsys.readouterr()
    argv = ["ensembles", str(tmp_path / "t.csv"), "--seed", "1", "--no-figures", "-o", str(tmp_path / "e"),
            "--neurons", str(tmp_path / "n.csv"), "--n-frames", "100", "--fps", "10"]  # fmt: skip
    assert main(argv) == 0
    line = capsys.readouterr().out
    assert line.startswith("0 ensemble events (no events to test), 0 ensembles of 2 neurons")
    assert "threshold" not in line
