"""Settings tuned on one recording for all: `catrack batch --params-from SESSION` and
`catrack info SESSION --params` (docs/batch.md, "Settings tuned on one recording")."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from napari_catrack.batch.manifest import read_manifest
from napari_catrack.batch.recording import REPORT_COLUMNS, run_recording
from napari_catrack.cli import main
from napari_catrack.core.signals.params import TracesParams
from napari_catrack.core.tracking.params import DetectParams, TrackParams
from napari_catrack.core.transients.params import TransientParams
from napari_catrack.session import Session
from napari_catrack.synthetic.batch import write_batch_folder

STEPS = ("detect", "track", "traces")
# values that are not the defaults, whatever the defaults are
THRESHOLD = DetectParams().threshold + 0.5
MIN_AREA = DetectParams().min_area - 2
GATE = TrackParams().gate + 1.0
K = TransientParams().k + 0.5


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("params_from")
    write_batch_folder(folder, 2, n_frames=12, shape=(48, 48), n_neurons=2, steps=STEPS,
                       extra={"no_align": True})  # fmt: skip
    return folder


def _tuned(path: Path, *, neurons: bool = True, old: dict | None = None) -> Path:
    """A session as napari leaves it after tuning: with the facts the widgets record beside the
    parameters (none of them is a parameter, none is said to be an old one)."""
    session = Session(path, autosave=False)
    if neurons:
        detect = DetectParams(threshold=THRESHOLD, min_area=MIN_AREA).to_dict()
        facts = {"frame": 0, "channel": "red", "image": "max", "frames": [0, 11]}
        session.record("neurons", params={**detect, **facts})
    track = {**TrackParams(gate=GATE).to_dict(), "seed_frame": 0, "alignment": None}
    track.update(step="re-track", n_manual=2)
    session.record("tracks", params={**track, **(old or {})})
    traces = {**TracesParams().to_dict(), "fps": 10.0, "alignment": None}  # the defaults
    traces.update(alignment_source="estimate", points_layer="tracks")
    session.record("traces", params=traces)
    session.save()
    return path


def _in_process(manifest, output, **_):
    """`run_batch` without a cluster: each spec goes through pickle as to a dask worker."""
    from napari_catrack.batch.runner import BatchResult

    rows = [
        row
        for spec in manifest.recordings
        for row in run_recording(pickle.loads(pickle.dumps(spec)), output)
    ]
    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    report.to_csv(Path(output) / "report.csv", index=False)
    return BatchResult(Path(output), report)


@pytest.fixture
def batch(monkeypatch, capsys):
    """`catrack batch ARGS --no-progress` run in this process: (exit code, stderr)."""
    from napari_catrack.batch import runner

    monkeypatch.setattr(runner, "run_batch", _in_process)

    def run(*args) -> tuple[int, str]:
        code = main(["batch", *map(str, args), "--no-progress"])
        return code, capsys.readouterr().err

    return run


def _recorded(out: Path, name: str, step: str) -> dict:
    return Session.load(out / name / "session.catrack.h5")[step].params


def test_session_values_reach_the_steps_under_the_manifests_own(tmp_path, folder, batch):
    """manifest recording > manifest defaults > session > defaults, said on the terminal, kept in
    each recording's session (step inputs, the batch step) and in report.csv."""
    import yaml

    tuned = _tuned(tmp_path / "tuned.catrack.h5")
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    manifest["defaults"]["params"] = {"detect": {"min_area": MIN_AREA + 1}}
    manifest["recordings"][1]["params"] = {"track": {"gate": GATE + 2}}
    for rec in manifest["recordings"]:  # the manifest is written elsewhere: absolute paths
        for key in ("path", "seeds"):
            rec[key] = str(folder / rec[key])
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(manifest))
    out = tmp_path / "out"

    code, err = batch(tmp_path / "m.yaml", "-o", out, "--params-from", tuned)
    assert code == 0, err
    assert (
        f"parameters from tuned.catrack.h5: detect: threshold={THRESHOLD}, min_area={MIN_AREA}"
        in err
    )
    assert f"parameters from tuned.catrack.h5: track: gate={GATE}" in err
    assert "parameters from tuned.catrack.h5: traces: the defaults (none changed)" in err
    assert (f"the manifest overrides the session's detect min_area={MIN_AREA}: {MIN_AREA + 1} "
            "for every recording") in err  # fmt: skip
    assert f"the manifest overrides the session's track gate={GATE}: {GATE + 2} for rec01" in err
    assert "left out" not in err and "keeps its defaults" not in err

    for name, gate in (("rec00", GATE), ("rec01", GATE + 2)):
        detect = _recorded(out, name, "neurons")
        assert (detect["threshold"], detect["min_area"]) == (THRESHOLD, MIN_AREA + 1)
        assert detect["sigma"] == DetectParams().sigma  # neither gave it: the default
        assert _recorded(out, name, "tracks")["gate"] == gate

    # where they came from: the session file (SHA-256) among the inputs, as `catrack info` shows
    shown = Session.read_provenance(out / "rec00" / "session.catrack.h5")["steps"]
    sha = hashlib.sha256(tuned.read_bytes()).hexdigest()
    assert shown["neurons"]["inputs"]["params_from"]["sha256"] == sha
    assert shown["tracks"]["inputs"]["params_from"]["sha256"] == sha
    assert "params_from" not in shown["traces"]["inputs"]  # nothing taken for it
    rec01 = Session.load(out / "rec01" / "session.catrack.h5")
    assert "params_from" not in rec01["tracks"].attrs["inputs"]  # its gate is the manifest's
    said = rec01["batch"].attrs
    assert said["detect"]["params_from"]["values"] == {"threshold": THRESHOLD}
    assert said["detect"]["params_from"]["overridden_by_manifest"] == {
        "min_area": {"session": MIN_AREA, "manifest": MIN_AREA + 1}
    }
    assert said["track"]["params_from"]["values"] == {}
    shown = Session.read_provenance(out / "rec01" / "session.catrack.h5")["steps"]["batch"]
    assert shown["params_from"]["detect"] == said["detect"]["params_from"]  # `catrack info`
    report = pd.read_csv(out / "report.csv").set_index(["recording", "step"])
    assert "(parameters from tuned.catrack.h5: gate)" in report.loc[("rec00", "track"), "message"]
    assert "manifest's gate over tuned.catrack.h5's" in report.loc[("rec01", "track"), "message"]

    # the same values again: nothing reruns; without the session the steps it changed rerun
    code, _ = batch(tmp_path / "m.yaml", "-o", out, "--params-from", tuned)
    assert set(pd.read_csv(out / "report.csv").query("step != 'export'").status) == {"up to date"}
    code, _ = batch(tmp_path / "m.yaml", "-o", out)
    again = pd.read_csv(out / "report.csv").set_index(["recording", "step"]).status
    assert again[("rec00", "detect")] == "done" and again[("rec00", "track")] == "done"
    assert _recorded(out, "rec00", "tracks")["gate"] == TrackParams().gate


def test_a_step_the_session_lacks_keeps_its_defaults_and_an_old_parameter_is_left_out(
    tmp_path, folder, batch
):
    tuned = _tuned(tmp_path / "old.catrack.h5", neurons=False, old={"gate_px_v0": 3})
    out = tmp_path / "out"
    code, err = batch(folder / "manifest.yaml", "-o", out, "--params-from", tuned)
    assert code == 0, err
    assert "old.catrack.h5 has no neurons step: detect keeps its defaults" in err
    lines = [line for line in err.splitlines() if "gate_px_v0" in line]
    assert len(lines) == 1 and "is no track parameter of this version: left out" in lines[0]
    assert "seed_frame" not in err  # a fact recorded beside the parameters, not one of them
    assert _recorded(out, "rec00", "neurons")["threshold"] == DetectParams().threshold
    assert _recorded(out, "rec00", "tracks")["gate"] == GATE
    assert "gate_px_v0" not in _recorded(out, "rec00", "tracks")


def test_a_file_that_is_no_session_is_one_line_before_anything_runs(tmp_path, folder, batch):
    damaged = tmp_path / "damaged.catrack.h5"
    damaged.write_bytes(b"not hdf5 at all" * 100)
    for given, expected in (
        (folder / "rec00.tif", "rec00.tif is not a napari-catrack session (*.catrack.h5)"),
        (damaged, "damaged.catrack.h5 is damaged: it is not a readable napari-catrack session"),
        (tmp_path / "gone.catrack.h5", "session file not found"),
        (tmp_path, "is a folder, not a session file"),
    ):
        code, err = batch(folder / "manifest.yaml", "-o", tmp_path / "out", "--params-from", given)
        assert code == 2 and expected in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out").exists()


def test_info_params_prints_a_block_a_manifest_takes_as_written(tmp_path, folder, capsys):
    """What `catrack info SESSION --params` prints, pasted under a manifest's recordings, gives
    each step the session's values (and the manifest reader takes every line of it)."""
    tuned = _tuned(tmp_path / "tuned.catrack.h5", old={"gate_px_v0": 3})
    session = Session.load(tuned)
    session.record("transients", params={**TransientParams(k=K).to_dict(), "fps": 10.0})
    session.save()
    assert main(["info", str(tuned), "--params"]) == 0
    printed = capsys.readouterr()
    assert "gate_px_v0" in printed.err and "gate_px_v0" not in printed.out
    recordings = f"recordings:\n  - {{path: {folder / 'rec00.tif'}}}\n"
    steps = "  steps: [detect, track, traces, transients]\n"
    block = printed.out.replace("defaults:\n", "defaults:\n" + steps)
    (tmp_path / "m.yaml").write_text(block + recordings)
    spec = read_manifest(tmp_path / "m.yaml").recordings[0]
    assert spec.step_params("detect").changed() == {"threshold": THRESHOLD, "min_area": MIN_AREA}
    assert spec.step_params("track").changed() == {"gate": GATE}
    assert spec.step_params("transients").changed() == {"k": K}
    assert spec.step_params("traces").changed() == {}

    assert main(["info", str(folder / "rec00.tif"), "--params"]) == 2
    assert "not a napari-catrack session" in capsys.readouterr().err


def test_a_batchs_own_session_gives_back_its_values_with_nothing_left_out(tmp_path, folder):
    """Every fact the batch's steps record beside their parameters is known as one: a session
    written by a batch, read with --params-from, takes its values and drops nothing."""
    from dataclasses import replace

    from napari_catrack.batch.from_session import read_session_params

    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    spec = replace(
        spec,
        steps=(*STEPS, "transients"),
        params={"track": {"gate": GATE}, "transients": {"k": K}},
    )
    rows = run_recording(spec, tmp_path)
    assert {r["status"] for r in rows} == {"done"}, rows
    found = read_session_params(tmp_path / "rec00" / "session.catrack.h5")
    assert found.unknown == {}
    assert found.values == {"track": {"gate": GATE}, "transients": {"k": K}}
    assert set(found.as_default) == {"detect", "traces"}
    assert json.loads(json.dumps(found.file))["sha256"]


def test_extracted_sources_give_their_values_and_imported_ones_none(tmp_path):
    """The sources step records {"sources": values, "evaluation": ...}: both are taken (the
    batch `sources` step takes the thresholds too; they were never taken before), as by the Batch
    widget's "use this session's parameters"; imported cells have none."""
    from napari_catrack.batch.from_session import read_session_params
    from napari_catrack.batch.steps import session_params
    from napari_catrack.core.sources.params import SourcesParams

    radius = SourcesParams().cell_radius_px + 1.0
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    made = SourcesParams(cell_radius_px=radius).to_dict()
    session.record("sources", params={"sources": made, "evaluation": {"min_snr": 2.0}})
    session.save()
    both = {"sources": {"cell_radius_px": radius, "min_snr": 2.0}}
    assert session_params(session, ["sources"]) == both
    assert read_session_params(session.path).values == both
    session.record("sources", params={"import": {"tool": "suite2p", "fps": 30.0}})
    session.save()
    found = read_session_params(session.path, ["sources"])
    assert found.values == {} and found.unknown == {}
    assert found.lines() == [
        "s.catrack.h5 has imported sources, not extracted ones: sources keeps its defaults"
    ]


def test_an_ensembles_record_gives_its_values_and_drops_none_of_its_facts(tmp_path):
    """The ensembles step records counts and rates beside its parameters (`n_bins`, `seed_used`,
    ...): none of them is taken for an old parameter."""
    from napari_catrack.batch.from_session import read_session_params
    from napari_catrack.core.ensembles import find_ensembles, trains_from_table
    from napari_catrack.core.ensembles.params import EnsembleParams
    from napari_catrack.core.ensembles.records import record_ensembles
    from napari_catrack.synthetic.rasters import planted_ensembles

    shuffles = EnsembleParams().n_shuffles // 2
    planted = planted_ensembles(n_neurons=30, n_frames=600, n_ensembles=2, ensemble_size=6, seed=2)
    trains = trains_from_table(planted.events, n_frames=planted.n_frames)
    result = find_ensembles(trains, planted.fps, n_shuffles=shuffles, seed=1)
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    record_ensembles(session, result, save=False)
    session.save()
    found = read_session_params(session.path, ["ensembles"])
    assert found.unknown == {}
    assert found.values == {"ensembles": {"n_shuffles": shuffles, "seed": 1}}


def test_the_traces_of_extracted_sources_are_no_traces_parameters(tmp_path, capsys):
    """Docs run (h16): `catrack sources ... --session S` (docs/two_photon.md) records the traces
    step with the extraction's values ({"sources": ...}); `catrack info S --params` then warned
    `traces: sources={...} ... is no traces parameter of this version: left out`, about a value
    it should never have read as one."""
    from napari_catrack.batch.from_session import read_session_params
    from napari_catrack.core.sources.params import SourcesParams

    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    made = {"sources": SourcesParams().to_dict()}
    session.record("sources", params={**made, "evaluation": {"min_snr": 2.0}})
    session.record("traces", params=made, attrs={"source": "sources"})
    session.save()
    found = read_session_params(session.path)
    assert found.unknown == {} and "traces" not in found.values
    assert found.values == {"sources": {"min_snr": 2.0}}
    assert main(["info", str(session.path), "--params"]) == 0
    assert "parameter of this version" not in capsys.readouterr().err


def test_a_traces_record_from_before_lost_frames_reruns_measuring_them(tmp_path):
    """h16 made lost frames missing (NaN) by default; a session's traces recorded before has no
    `lost_frames` and measured them at the held place, so `--params-from` / `catrack info
    --params` / the Batch widget must give "measure" back, not this version's default (the
    re-run's traces would differ). A record of this version keeps its own value."""
    from napari_catrack.batch.from_session import read_session_params

    old = {k: v for k, v in TracesParams().to_dict().items() if k != "lost_frames"}
    for name, recorded, want in (
        ("old", old, {"traces": {"lost_frames": "measure"}}),
        ("new", TracesParams().to_dict(), {}),
        ("new_measure", TracesParams(lost_frames="measure").to_dict(),
         {"traces": {"lost_frames": "measure"}}),
    ):  # fmt: skip
        session = Session(tmp_path / f"{name}.catrack.h5", autosave=False)
        session.record("traces", params=recorded)
        session.save()
        found = read_session_params(session.path, ["traces"])
        assert found.values == want, name
        assert found.unknown == {}


def test_a_tracks_record_from_before_its_rules_gives_back_the_rules_it_was_made_with(tmp_path):
    """h15 added the lost stage (`lost_after` 10), h16 made `brightness` auto (calcium on green)
    and h17 added the blob size check (`size_ratio` 2). A session's tracks recorded before has
    no `lost_after` (never lost: 0), no `brightness` (made with the steady rules) or no
    `size_ratio` (made without the check): `--params-from` / `catrack info
    --params` / the Batch widget gave this version's defaults back, so a run "with the tuned
    session's settings" tracked with other rules. The Tracking widget restored the last two
    (not `lost_after`); now every reader restores all three
    (`core.tracking.params.recorded_values`)."""
    from napari_catrack.batch.from_session import read_session_params

    new = TrackParams(gate=GATE).to_dict()
    h16 = {k: v for k, v in new.items() if k not in ("size_ratio", "size_jump")}
    h15 = {k: v for k, v in h16.items() if k != "brightness"}
    h14 = {k: v for k, v in h15.items() if k not in ("lost_after", "reacquire_radius")}
    for name, recorded, want in (
        ("h14", h14, {"gate": GATE, "brightness": "steady", "size_ratio": 0.0, "lost_after": 0}),
        ("h15", h15, {"gate": GATE, "brightness": "steady", "size_ratio": 0.0}),
        ("h16", h16, {"gate": GATE, "size_ratio": 0.0}),
        ("h17", new, {"gate": GATE}),
        ("h17_off", {**new, "size_ratio": 0.0}, {"gate": GATE, "size_ratio": 0.0}),
    ):  # fmt: skip
        session = Session(tmp_path / f"{name}.catrack.h5", autosave=False)
        session.record("tracks", params={**recorded, "seed_frame": 0, "alignment": None})
        session.save()
        found = read_session_params(session.path, ["track"])
        assert found.values == {"track": want}, name
        assert found.unknown == {}
