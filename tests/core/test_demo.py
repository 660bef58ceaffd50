"""End to end: `catrack demo` runs every step on the synthetic recording and scores it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from napari_catrack import cli
from napari_catrack.session import Session


@pytest.mark.slow
def test_demo_runs_every_step_and_meets_ground_truth(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "-o", str(out), "--frames", "80", "--seed", "3"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["alignment"]["dx_error_px"] < 0.2 and summary["alignment"]["dy_error_px"] < 0.2
    assert summary["alignment"]["rotation_error_deg"] < 0.2
    assert summary["detection"]["recall"] >= 0.9
    assert summary["tracking"]["within_2px"] >= 0.9
    assert summary["traces"]["median_r_vs_truth"] >= 0.8
    for name in ("tracks.csv", "traces.csv", "transients.csv", "cells.csv", "align.json"):
        assert (out / name).stat().st_size > 0, name
    tracks = pd.read_csv(out / "tracks.csv")
    assert list(tracks.columns[:4]) == ["neuron_id", "frame", "y", "x"]
    # the demo's tables are the ones `catrack track` / `catrack export` write (tracks.csv had
    # lost its `source` column: seed / auto / manual)
    assert cli.main(["export", str(out / "demo.catrack.h5"), "-o", str(tmp_path / "x")]) == 0
    for name in ("candidates.csv", "tracks.csv", "traces.csv", "transients.csv", "cells.csv",
                 "ensembles/ensemble_members.csv", "behaviour/velocity.csv"):  # fmt: skip
        demo, exported = (pd.read_csv(d / name, nrows=1) for d in (out, tmp_path / "x"))
        assert list(demo.columns) == list(exported.columns), name
    # and the same files byte for byte (the demo's tracks.csv had full precision, the export's
    # `catrack track`'s 3 decimals)
    for name in ("candidates.csv", "tracks.csv", "traces.csv", "transients.csv", "cells.csv"):
        assert (out / name).read_bytes() == (tmp_path / "x" / name).read_bytes(), name
    assert (tracks.groupby("neuron_id")["frame"].count() == 80).all()
    traces = pd.read_csv(out / "traces.csv")
    assert list(traces.columns[:7]) == [
        "neuron_id",
        "frame",
        "time_s",
        "green",
        "red",
        "ratio",
        "dff",
    ]
    assert (out / "figures" / "traces.svg").exists() and (out / "figures" / "raster.png").exists()
    session = Session.load(out / "demo.catrack.h5")
    assert {"alignment", "neurons", "tracks", "traces", "transients", "ensembles"} <= set(
        session.steps
    )
    assert session["traces"].params["cleaning"]["steps"], "cleaning parameters are provenance"
    captured = capsys.readouterr()
    assert "[tracking]" in captured.out
    assert "Warning:" not in captured.err  # warnings are one line each: "catrack demo: warning:"
    # the --items example of docs/export.md works on the demo's session
    doc = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    example = next(x for x in doc.splitlines() if x.startswith("catrack export") and "--items" in x)
    argv = example.split()[1:]
    argv[argv.index("demo.catrack.h5")] = str(out / "demo.catrack.h5")
    argv[argv.index("-o") + 1] = str(tmp_path / "results")
    assert cli.main(argv) == 0, capsys.readouterr().err
    from ._session_helpers import nwb_problems

    assert nwb_problems(session, tmp_path / "demo.nwb") == []  # the NWB export of the demo


def test_demo_rejects_tiny_recordings(tmp_path, capsys):
    assert cli.main(["demo", "-o", str(tmp_path), "--frames", "5"]) == 2
    assert "at least 20" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_refuses_bad_options_and_paths_in_one_line(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "-o", str(out), "--frames", "20"]) == 0
    rec, tracks = str(out / "recording.tif"), str(out / "tracks.csv")
    capsys.readouterr()
    cases = [
        (
            ["traces", rec, "--tracks", tracks, "--radius", "500", "-o", str(tmp_path / "t.csv")],
            "does not fit",
        ),
        (["track", rec, "--seeds", str(tmp_path), "-o", str(tmp_path / "t.csv")], "is a folder"),
        (["align", rec, "-o", str(tmp_path)], "is a folder"),
        (
            ["align", rec, "-o", str(out / "tracks.csv" / "a.json")],
            "is a file; give a path in a folder",
        ),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("catrack: error:") and message in err, (argv, err)
        assert "Traceback" not in err
    with pytest.raises(SystemExit) as exc:  # argparse rejects the value before any work
        cli.main(["demo", "-o", str(tmp_path / "d2"), "--seed", "-1"])
    assert exc.value.code == 2
    assert "expected an integer >= 0" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("frames", [300, 200], ids=["demo-300", "napari-sample-200"])
def test_demo_last_step_finds_the_planted_ensembles(tmp_path, frames):
    """The walkthrough's last step shows a result: both planted groups of the sample recording,
    through detection, tracking, traces and transients (not 0 ensembles). 300 frames is
    `catrack demo`; 200 frames (seed 0) is the recording File > Open Sample > Moving worm gives."""
    out = tmp_path / "demo"
    assert cli.main(["demo", "-o", str(out), "--frames", str(frames)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ensembles"]["ensembles"] >= 2
    assert summary["ensembles"]["planted_found"] == summary["ensembles"]["planted"] == 2
    planted = pd.read_csv(out / "ground_truth" / "ensembles.csv")
    assert (planted.jaccard >= 0.6).all()
    # the default (trained) detector against the planted spikes (one transient per burst)
    tr = summary["transients"]
    assert tr["planted_bursts"] > 50
    assert tr["precision_vs_truth"] >= 0.9 and tr["recall_vs_truth"] >= 0.8
    if frames == 300:
        assert summary["detection"]["recall"] == 1.0 and summary["detection"]["spurious"] <= 8
