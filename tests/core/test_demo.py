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
    demo_said = capsys.readouterr()
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
    captured = demo_said
    # its step lines are notes (stderr); stdout holds its result lines, summary.json's headline
    assert "catrack demo: [tracking] neurons" in captured.err and "[tracking]" not in captured.out
    t, k = summary["transients"], summary["tracking"]
    b = {w: summary["behaviour"][f"reversal_onset_{w}"] for w in ("precision", "recall")}

    def na(v):  # nothing to score: no reversal planted or called in these 80 frames
        return "n/a" if v is None else v

    assert captured.out.splitlines() == [
        f"demo recording: 80 frames, seed 3 -> {out}",
        f"scores vs truth: transients precision {t['precision_vs_truth']}, recall "
        f"{t['recall_vs_truth']}; tracking {100 * k['within_2px']:.1f} % within 2 px; ensembles "
        f"{summary['ensembles']['ensembles']} found, {summary['ensembles']['planted_found']} of "
        f"{summary['ensembles']['planted']} planted recovered; behaviour mask IoU "
        f"{summary['behaviour']['mask_iou_median']}, reversal onsets precision {na(b['precision'])}, "
        f"recall {na(b['recall'])} -> {out / 'summary.json'}",
        f"session -> {out / 'demo.catrack.h5'}",
    ], captured.out
    # warnings are one line each: "catrack demo: warning:"
    assert "Warning:" not in captured.err + capsys.readouterr().err
    # the --items example of docs/export.md works on the demo's session
    doc = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text()
    example = next(x for x in doc.splitlines() if x.startswith("catrack export") and "--items" in x)
    argv = example.split()[1:]
    argv[argv.index("demo.catrack.h5")] = str(out / "demo.catrack.h5")
    argv[argv.index("-o") + 1] = str(tmp_path / "results")
    assert cli.main(argv) == 0, capsys.readouterr().err
    from ._session_helpers import nwb_problems

    assert nwb_problems(session, tmp_path / "demo.nwb") == []  # the NWB export of the demo


@pytest.mark.parametrize("two_photon", [False, True])
def test_demo_ends_with_result_lines_on_stdout(tmp_path, capsys, monkeypatch, two_photon):
    """`catrack demo` printed its step lines on stdout and no result line: a script could not
    read where the results went nor how they scored (session 18's Left list). Now each step is
    a `catrack demo:` note on stderr and stdout ends with the folder, summary.json's headline
    numbers and the session, each `... -> PATH`."""
    import napari_catrack.demo
    import napari_catrack.demo_two_photon

    def fake(output, *, n_frames, seed, log=print):  # what the command sees of a run
        log("[tracking] neurons 3, within_2px 0.9 (0.1 s)")
        if two_photon:
            return {"frames": n_frames, "seed": seed,
                    "registration": {"median_error_px": 0.05, "residual_px": 0.1},
                    "sources": {"components": 31, "accepted": 27, "f1": 0.94, "median_r": None},
                    "transients": {"transients": 80, "cells": 27, "active_cells": 25}, "ensembles": {"events": 3}}  # fmt: skip
        return {"frames": n_frames, "seed": seed,
                "transients": {"precision_vs_truth": 0.941, "recall_vs_truth": 0.889},
                "tracking": {"within_2px": 0.9871},
                "behaviour": {"mask_iou_median": 0.9608, "reversal_onset_precision": 1.0,
                              "reversal_onset_recall": 0.5},
                "ensembles": {"ensembles": 2, "planted": 3, "planted_found": 1}}  # fmt: skip

    if two_photon:
        monkeypatch.setattr(napari_catrack.demo_two_photon, "run_two_photon_demo", fake)
    else:
        monkeypatch.setattr(napari_catrack.demo, "run_demo", fake)
    out = tmp_path / "demo"
    argv = ["demo", "-o", str(out), "--seed", "4", *(["--two-photon"] if two_photon else [])]
    assert cli.main(argv) == 0
    said = capsys.readouterr()
    assert said.err == "catrack demo: [tracking] neurons 3, within_2px 0.9 (0.1 s)\n", said.err
    lines = said.out.splitlines()
    assert lines[0] == f"demo recording: {600 if two_photon else 300} frames, seed 4 -> {out}"
    if two_photon:
        assert lines[1] == ("scores: registration median error 0.05 px (vs truth); sources 27 "
                            "of 31 accepted, F1 0.94, median r n/a (vs truth); 80 transients in "
                            f"25 of 27 cells; 3 ensemble events -> {out / 'summary.json'}")  # fmt: skip
    else:
        assert lines[1] == ("scores vs truth: transients precision 0.941, recall 0.889; tracking "
                            "98.7 % within 2 px; ensembles 2 found, 1 of 3 planted recovered; "
                            "behaviour mask IoU 0.9608, reversal onsets precision 1.0, recall "
                            f"0.5 -> {out / 'summary.json'}")  # fmt: skip
    session = "two_photon.catrack.h5" if two_photon else "demo.catrack.h5"
    assert lines[2:] == [f"session -> {out / session}"]


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
