"""One record function per step: batch, the CLI's `--session` and the widgets store the same
record; `--session FILE` on the standalone commands (docs/architecture.md, "Who records steps")."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from napari_catrack.batch.manifest import read_manifest
from napari_catrack.batch.recording import run_recording
from napari_catrack.cli import main
from napari_catrack.core.alignment_params import AlignParams
from napari_catrack.core.ensembles.params import EnsembleParams
from napari_catrack.core.signals.params import TracesParams
from napari_catrack.core.summary import SummaryParams
from napari_catrack.core.transients.params import TransientParams
from napari_catrack.io.tables import write_table
from napari_catrack.session import Session
from napari_catrack.synthetic.batch import write_batch_folder

STEPS = ("align", "track", "traces", "transients")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same recording through `catrack batch` and through the commands with --session."""
    folder = tmp_path_factory.mktemp("records")
    write_batch_folder(folder, 1, n_frames=30, shape=(64, 64), n_neurons=4, steps=STEPS,
                       extra={"no_align": True})  # fmt: skip
    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    rows = run_recording(spec, folder / "batch", log=lambda *_: None)
    assert all(r["status"] in ("done", "ok") for r in rows), rows
    batch = Session.load(folder / "batch" / "rec00" / "session.catrack.h5")
    rec, cli = str(folder / "rec00.tif"), folder / "cli.catrack.h5"
    s = ["--session", str(cli)]
    assert main(["align", rec, "-o", str(folder / "a.json"), *s]) == 0
    assert (
        main(["detect", rec, "--frame", "2", "--no-align", "-o", str(folder / "cand.csv"), *s]) == 0
    )
    assert main(["track", rec, "--seeds", str(folder / "seeds00.csv"), "--no-align",
                 "-o", str(folder / "tracks.csv"), *s]) == 0  # fmt: skip
    # the batch's own tracks (full precision), so both extract traces from the same input
    write_table(batch["tracks"].tables["tracks"], folder / "batch_tracks.csv")
    assert main(["traces", rec, "--tracks", str(folder / "batch_tracks.csv"), "--no-align",
                 "--fps", "10", "-o", str(folder / "traces.csv"), *s]) == 0  # fmt: skip
    assert main(["transients", str(folder / "traces.csv"), "--fps", "10",
                 "-o", str(folder / "transients.csv"), *s]) == 0  # fmt: skip
    return folder, batch, Session.load(cli)


def _same_record(a, b, step, inputs_also=()):
    ra, rb = a[step], b[step]
    assert ra.params == rb.params, step
    attrs_a, attrs_b = dict(ra.attrs), dict(rb.attrs)
    ins_a, ins_b = attrs_a.pop("inputs"), attrs_b.pop("inputs")
    assert attrs_a == attrs_b, step
    for role in ("recording", *inputs_also):  # the files both read (the CLI reads more files)
        if role in ins_a or role in ins_b:
            assert ins_a[role] == ins_b[role], (step, role)
    assert set(ra.tables) == set(rb.tables) and set(ra.arrays) == set(rb.arrays), step
    for name, table in ra.tables.items():
        other = rb.tables[name]
        if "neuron_id" in table:  # ids read back from a CSV may be numbers
            table = table.assign(neuron_id=table["neuron_id"].astype(str))
            other = other.assign(neuron_id=other["neuron_id"].astype(str))
        # `catrack track` writes its CSV with 3 decimals (the record keeps them all)
        tol = 1e-3 if step == "tracks" else 1e-9
        pd.testing.assert_frame_equal(table, other, check_dtype=False, rtol=tol, atol=tol,
                                      obj=f"{step}/{name}")  # fmt: skip


def test_batch_and_cli_session_record_the_same_steps(runs):
    _, batch, cli = runs
    for step in ("alignment", "tracks", "traces", "transients"):
        _same_record(batch, cli, step, inputs_also=("seeds",))
    # the stored parameters are the dataclass plus the run's facts, whoever ran the step
    assert AlignParams.from_dict(cli["alignment"].params, strict=True) == AlignParams()
    traces = dict(cli["traces"].params)
    assert (traces.pop("fps"), traces.pop("alignment")) == (10.0, None)
    # the estimator that made its red noise floor: a fact of the record (h19)
    assert traces.pop("red_floor_estimator") == "annulus-second-differences-v2"
    assert TracesParams.from_dict(traces, strict=True) == TracesParams()
    assert cli["tracks"].params["seed_frame"] == 0 and cli["traces"].attrs["fps"] == 10.0


def test_session_round_trip_keeps_inputs_and_recording(runs):
    folder, _, cli = runs
    rec = folder / "rec00.tif"
    assert cli.recording["path"] == str(rec) and cli.recording["summary"]["frames"] == 30
    facts = cli["alignment"].attrs["inputs"]["recording"]
    assert facts["path"] == str(rec.resolve()) and facts["size"] == rec.stat().st_size
    assert facts["sha256"] == hashlib.sha256(rec.read_bytes()).hexdigest()
    assert facts["sha256_of"] == "whole file" and facts["mtime"]
    traces = cli["traces"].attrs["inputs"]
    assert set(traces) == {"recording", "tracks"}
    transients = cli["transients"]
    assert set(transients.tables) >= {"transients", "cells"}
    assert set(transients.attrs["inputs"]) == {"traces"}
    stored = {k: v for k, v in transients.params.items() if k != "fps"}
    assert TransientParams.from_dict(stored, strict=True) == TransientParams()
    tracks = str(folder / "batch_tracks.csv")
    assert cli.provenance()["traces"]["inputs"]["tracks"]["path"] == tracks
    neurons = cli["neurons"]
    assert len(neurons.tables["candidates"]) and (
        neurons.params["frame"],
        neurons.params["channel"],
    ) == (2, "red")
    # each command added its step; the earlier ones are still there
    assert {"alignment", "neurons", "tracks", "traces", "transients"} <= set(cli.steps)


def test_ensembles_record_events_members_and_full_parameters(runs, tmp_path):
    folder, _, _ = runs
    session = tmp_path / "e.catrack.h5"
    assert main(["ensembles", str(folder / "transients.csv"), "--fps", "10", "--no-figures",
                 "--shuffles", "20", "-o", str(tmp_path / "ens"), "--session", str(session)]) == 0  # fmt: skip
    step = Session.load(session)["ensembles"]
    assert (
        set(step.tables) == {"events", "members", "event_neurons"} and "similarity" in step.arrays
    )
    assert EnsembleParams.from_dict(step.params) == EnsembleParams(n_shuffles=20)
    assert step.params["fps"] == 10.0 and "transients" in step.attrs["inputs"]
    assert Session.load(session).recording == {}  # a table, not a recording: no reference


def test_summary_and_register_session(tmp_path):
    from napari_catrack.io.tiff import write_movie_tiff

    movie = np.random.default_rng(1).normal(100, 5, (12, 32, 32)).astype(np.float32)
    rec = write_movie_tiff(tmp_path / "movie.tif", movie, fps=5.0)
    session = tmp_path / "movie.catrack.h5"
    s = ["--session", str(session)]
    assert main(["register", str(rec), "--mode", "rigid", "-o", str(tmp_path / "reg.tif"),
                 "--shifts", str(tmp_path / "shifts.csv"), *s]) == 0  # fmt: skip
    # the registered movie is the session's too: summary images of it are recorded
    assert main(["summary", str(tmp_path / "reg.tif"), "-o", str(tmp_path / "sum"), *s]) == 0
    loaded = Session.load(session)
    assert loaded.recording["path"] == str(rec)
    summary = loaded["summary"]
    assert set(summary.arrays) == {"mean", "max", "std", "correlation", "pnr"}
    assert SummaryParams.from_dict(summary.params, strict=True) == SummaryParams()
    assert summary.attrs["inputs"]["recording"]["path"] == str(tmp_path / "reg.tif")
    assert loaded["registration"].attrs["output"] == str(tmp_path / "reg.tif")
    assert "shifts" in loaded["registration"].tables


def test_segment_session(tmp_path):
    from napari_catrack.io.video import write_video
    from tests.core._behaviour_helpers import small_video

    v = small_video()
    path = write_video(tmp_path / "worm.avi", v.frames[:8], fps=v.fps)
    y, x = v.truth.centerline[0, 50]
    session = tmp_path / "worm.catrack.h5"
    assert main(["segment", str(path), "--prompt", f"{y:.1f},{x:.1f}", "--method", "classical",
                 "-o", str(tmp_path / "m.tif"), "--session", str(session)]) == 0  # fmt: skip
    loaded = Session.load(session)
    step = loaded["segmentation"]
    assert step.arrays["masks"].shape == (8, 160, 160) and step.params["method"] == "classical"
    assert step.attrs["inputs"]["recording"]["path"] == str(path)
    assert loaded.recording["path"] == str(path)
    # centerline from the masks, then velocity: into the same session, beside the masks
    v.stage_table().iloc[:8].to_csv(tmp_path / "stage.csv", index=False)
    s = ["--session", str(session)]
    assert main(["centerline", "--masks", str(tmp_path / "m.tif"), "--points", "20",
                 "-o", str(tmp_path / "cl.csv"), *s]) == 0  # fmt: skip
    assert main(["velocity", "--stage", str(tmp_path / "stage.csv"), "--centerline",
                 str(tmp_path / "cl.csv"), "--pixel-size", "8", "--fps", str(v.fps),
                 "--image-size", "160,160", "-o", str(tmp_path / "v.csv"), *s]) == 0  # fmt: skip
    loaded = Session.load(session)
    assert {"segmentation", "centerline", "velocity"} <= set(loaded.steps)
    assert len(loaded["centerline"].tables["centerline"]) == 8 * 20
    assert set(loaded["velocity"].attrs["inputs"]) == {"stage", "centerline"}
    assert loaded["velocity"].attrs["source"] == "centerline"


def test_session_of_another_recording_is_refused_before_any_work(runs, tmp_path, capsys):
    folder, _, _ = runs
    other = tmp_path / "other.tif"
    other.write_bytes((folder / "rec00.tif").read_bytes())
    cli = folder / "cli.catrack.h5"
    before = cli.read_bytes()
    out = tmp_path / "a.json"
    assert main(["align", str(other), "-o", str(out), "--session", str(cli)]) == 2
    err = capsys.readouterr().err
    assert "belongs to the recording" in err and err.count("\n") == 1
    assert not out.exists() and cli.read_bytes() == before


def test_copied_session_says_which_recording_it_belongs_to_and_what_to_do(
    tmp_path, capsys, monkeypatch
):
    """A session copied into another folder (with or without its recording), given with the
        original movie as REC: the refusal named `movie.tif` against `../lab/movie.tif` (the stored
        relative name, REC as typed). It now names both files in full, says the session's recording
        is missing when it is, and what to do; `--relink` makes REC the recording of a session whose own
    is missing, when it has the frames and frame size recorded."""
    import shutil

    from napari_catrack.io.tiff import write_movie_tiff

    lab, copy = tmp_path / "lab", tmp_path / "copy"
    lab.mkdir()
    copy.mkdir()
    movie = np.random.default_rng(1).normal(100, 5, (12, 16, 16)).astype(np.float32)
    rec = write_movie_tiff(lab / "movie.tif", movie, fps=5.0)
    assert main(["summary", str(rec), "-o", str(lab / "sum"),
                 "--session", str(lab / "movie.catrack.h5")]) == 0  # fmt: skip
    shutil.copy(lab / "movie.catrack.h5", copy / "movie.catrack.h5")
    monkeypatch.chdir(copy)
    capsys.readouterr()
    args = ["summary", "../lab/movie.tif", "-o", "sum", "--session", "movie.catrack.h5"]

    assert main(args) == 2  # without its recording: the session looks for copy/movie.tif
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"belongs to the recording {copy / 'movie.tif'}, which is not on disk" in err
    assert f"REC is {rec}" in err and f"copy that recording to {copy / 'movie.tif'}" in err
    assert "add --relink to make REC the session's recording" in err

    # --relink: REC becomes the session's recording, when it has the frames and size recorded
    short = write_movie_tiff(lab / "short.tif", movie[:10], fps=5.0)
    assert main(["summary", str(short), "-o", "sum", "--session", "movie.catrack.h5",
                 "--relink"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not the session's recording: frames 10" in err
    assert main([*args, "--relink"]) == 0
    assert Session.load(copy / "movie.catrack.h5").recording["path"] == str(rec)
    assert main(args) == 0  # from now on REC is the session's own
    shutil.rmtree(copy / "sum")
    capsys.readouterr()

    # a session copied with its recording: another file than REC (--relink does not replace it)
    shutil.copy(lab / "movie.catrack.h5", copy / "movie.catrack.h5")
    shutil.copy(rec, copy / "movie.tif")
    assert main([*args, "--relink"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not on disk" not in err
    assert f"belongs to the recording {copy / 'movie.tif'}, not REC {rec}" in err
    assert f"give REC as {copy / 'movie.tif'}" in err
    assert "--relink is only for a session whose recording is missing" in err  # why it was not
    assert not (copy / "sum").exists()


def test_damaged_session_is_refused_and_left_alone(runs, tmp_path, capsys):
    folder, _, _ = runs
    damaged = tmp_path / "damaged.catrack.h5"
    damaged.write_bytes((folder / "cli.catrack.h5").read_bytes()[:3000])
    before = damaged.read_bytes()
    out = tmp_path / "traces.csv"
    code = main(["traces", str(folder / "rec00.tif"), "--tracks", str(folder / "tracks.csv"),
                 "--no-align", "-o", str(out), "--session", str(damaged)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "is damaged" in err and err.count("\n") == 1
    assert not out.exists() and damaged.read_bytes() == before


def test_old_session_without_inputs_still_loads(tmp_path):
    """A file of the previous writers: the two-photon demo's steps, no `inputs` anywhere."""
    old = Session(tmp_path / "old.catrack.h5")
    old.record("summary", arrays={"mean": np.zeros((4, 4), np.float32)})
    old.record("transients", tables={"transients": pd.DataFrame({"neuron_id": ["1"]})},
               params={"method": "rules", "fps": 5.0})  # fmt: skip
    old.record("ensembles", tables={"events": pd.DataFrame({"event_id": [0]})},
               params={"n_shuffles": 200})  # fmt: skip
    loaded = Session.load(old.path)
    assert loaded.provenance()["summary"]["inputs"] == {}
    assert loaded["ensembles"].params == {"n_shuffles": 200}
    from napari_catrack.batch.steps import session_params

    assert session_params(loaded, ["summary", "transients", "ensembles"])["ensembles"] == {
        "n_shuffles": 200
    }


def test_recordings_own_session_keeps_the_cached_estimate(runs, tmp_path):
    """--session may be REC's own session file, where the alignment rule caches its estimate
    during the command: both steps end up in it."""
    folder, _, _ = runs
    rec = tmp_path / "rec.tif"
    rec.write_bytes((folder / "rec00.tif").read_bytes())
    own = tmp_path / "rec.catrack.h5"
    assert main(["traces", str(rec), "--tracks", str(folder / "batch_tracks.csv"), "--fps", "10",
                 "-o", str(tmp_path / "traces.csv"), "--session", str(own)]) == 0  # fmt: skip
    loaded = Session.load(own)
    assert {"alignment_estimate", "traces"} <= set(loaded.steps)
    assert loaded["traces"].params["alignment"] is not None  # the estimate was used


def test_import_and_puncta_sessions(tmp_path):
    from pathlib import Path

    from napari_catrack.io.camera import write_camera
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.synthetic.puncta import make_puncta_recording

    zarr = Path(__file__).parents[1] / "data" / "minian" / "zarr"
    session = tmp_path / "imported.catrack.h5"
    assert main(["import", "minian", str(zarr), "--fps", "20", "-o", str(tmp_path / "m"),
                 "--session", str(session)]) == 0  # fmt: skip
    loaded = Session.load(session)
    assert (
        loaded["sources"].attrs["origin"] == "minian"
        and len(loaded["sources"].tables["components"]) == 4
    )
    assert loaded["traces"].attrs["inputs"]["minian"]["files"] > 1  # a folder: its files
    assert loaded.recording == {}
    # the provenance names the import, not our extraction's defaults (which made nothing here),
    # and a re-evaluation keeps that and the files read
    from napari_catrack.core.sources.session import record_sources, sources_from_session

    assert loaded["sources"].params["import"] == {
        "tool": "minian",
        "fps": 20.0,
        "baseline_window_s": 30.0,
    }
    assert "sources" not in loaded["sources"].params and "sources" not in loaded["traces"].params
    record_sources(loaded, sources_from_session(loaded), origin="re-evaluated", save=False)
    assert loaded["sources"].params["import"]["tool"] == "minian"
    assert "minian" in loaded["sources"].attrs["inputs"]

    rec = make_puncta_recording(shape=(32, 32), n_frames=10, seed=4)
    write_movie_tiff(tmp_path / "rec.tif", rec.puncta, rec.calcium)
    write_camera(rec.camera, tmp_path / "camera.json")
    session = tmp_path / "puncta.catrack.h5"
    assert main(["puncta", str(tmp_path / "rec.tif"), "--puncta-channel", "0",
                 "--calcium-channel", "1", "--pixel-size-nm", "108", "--camera",
                 str(tmp_path / "camera.json"), "-o", str(tmp_path / "out"),
                 "--session", str(session)]) == 0  # fmt: skip
    step = Session.load(session)["puncta"]
    assert {"localizations", "events", "tracks"} <= set(step.tables)
    assert step.params["pixel_size_nm"] == 108 and set(step.attrs["inputs"]) == {
        "recording",
        "camera",
    }


def test_import_into_a_session_of_another_movie(tmp_path, capsys):
    """`catrack import --session` puts the cells into that session: footprints of another image
    size are refused before anything is written (session bytes unchanged), traces of another
    length are recorded with a warning, as the Sources widget's import does."""
    from pathlib import Path

    from napari_catrack.io.tool_outputs import read_tool_output

    zarr = Path(__file__).parents[1] / "data" / "minian" / "zarr"
    found = read_tool_output("minian", zarr, 20.0)
    _, h, w = found.footprints.shape
    t = found.raw.shape[1]
    wrong_size = Session(tmp_path / "other.catrack.h5", autosave=False)
    wrong_size.set_recording("movie.tif", {}, {"frames": t, "height": h + 3, "width": w})
    wrong_size.save()
    before = (tmp_path / "other.catrack.h5").read_bytes()
    assert main(["import", "minian", str(zarr), "--fps", "20", "-o", str(tmp_path / "a"),
                 "--session", str(tmp_path / "other.catrack.h5")]) == 2  # fmt: skip
    assert "another movie" in capsys.readouterr().err
    assert (tmp_path / "other.catrack.h5").read_bytes() == before
    assert not (tmp_path / "a" / "traces.csv").exists()

    longer = Session(tmp_path / "longer.catrack.h5", autosave=False)
    longer.set_recording("movie.tif", {}, {"frames": t + 5, "height": h, "width": w})
    longer.save()
    assert main(["import", "minian", str(zarr), "--fps", "20", "-o", str(tmp_path / "b"),
                 "--session", str(tmp_path / "longer.catrack.h5")]) == 0  # fmt: skip
    assert f"{t + 5}" in capsys.readouterr().err
    assert "sources" in Session.load(tmp_path / "longer.catrack.h5")


def test_transients_takes_the_frame_rate_of_its_session(runs, tmp_path, capsys):
    """With --session holding the traces' rate, --fps may be left out; one that contradicts it
    is used and said; without either the table's time_s column gives it."""
    import shutil

    folder, _, _ = runs
    session = tmp_path / "s.catrack.h5"
    shutil.copy(folder / "cli.catrack.h5", session)
    traces = str(folder / "traces.csv")
    assert main(["transients", traces, "-o", str(tmp_path / "t.csv"),
                 "--session", str(session)]) == 0  # fmt: skip
    assert Session.load(session)["transients"].params["fps"] == 10.0
    assert main(["transients", traces, "--fps", "5", "-o", str(tmp_path / "t5.csv"),
                 "--session", str(session)]) == 0  # fmt: skip
    assert "differs from the session's frame rate 10" in capsys.readouterr().err
    # without either: the rate the table's time_s column states (h18; it asked for --fps)
    assert main(["transients", traces, "-o", str(tmp_path / "t0.csv")]) == 0
    assert "frame rate 10 Hz, from the table's time_s column" in capsys.readouterr().err
