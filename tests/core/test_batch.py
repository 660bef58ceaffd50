"""`catrack batch`: manifests, resumable per-recording runs, and a LocalCluster of worker
processes that loses only the recording of a killed worker (docs/batch.md)."""

from __future__ import annotations

import http.server
import os
import signal
import socketserver
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from napari_catrack.batch.manifest import read_manifest
from napari_catrack.batch.recording import run_recording
from napari_catrack.cli import main
from napari_catrack.errors import InputError
from napari_catrack.synthetic.batch import write_batch_folder

STEPS = ("track", "traces", "transients")
TABLES = ("tracks.csv", "traces.csv", "transients.csv", "cells.csv")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    write_batch_folder(folder, 3, n_frames=40, shape=(72, 72), n_neurons=4, steps=STEPS,
                       extra={"no_align": True})  # fmt: skip
    return folder


def test_manifest_defaults_names_and_checks(tmp_path, folder):
    m = read_manifest(folder / "manifest.yaml")
    assert [r.name for r in m.recordings] == ["rec00", "rec01", "rec02"]
    assert m.recordings[0].steps == STEPS and m.recordings[0].options == {"fps": 10.0}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for sub in ("a", "b"):
        (tmp_path / sub / "rec.tif").write_bytes((folder / "rec00.tif").read_bytes())
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: [align, transients], params: {transients: {k: 3.0}}}\n"
        "recordings:\n  - {path: a/rec.tif}\n  - {path: b/rec.tif, params: {transients: {method: ksigma}}}\n"
        "  - {path: a/rec.tif, name: again}\n"
    )
    m = read_manifest(tmp_path / "m.yaml")
    assert [r.name for r in m.recordings] == ["a_rec", "b_rec", "again"]
    # docs/batch.md's example: a recording with its own shorter `steps` is not refused for the
    # defaults' parameters of a step it does not run; its own such parameters still are
    (tmp_path / "short.yaml").write_text(
        "defaults: {steps: [align, transients], params: {transients: {k: 3.0}}}\n"
        "recordings:\n  - {path: a/rec.tif, steps: [align]}\n"
    )
    assert read_manifest(tmp_path / "short.yaml").recordings[0].steps == ("align",)
    (tmp_path / "own.yaml").write_text(
        "recordings:\n  - {path: a/rec.tif, steps: [align], params: {transients: {k: 3.0}}}\n"
    )
    with pytest.raises(InputError, match="parameters for step.s. not run: transients"):
        read_manifest(tmp_path / "own.yaml")
    # the defaults' parameters of a step nothing runs are still a mistake, said once
    (tmp_path / "none.yaml").write_text(
        "defaults: {steps: [align], params: {transients: {k: 3.0}}}\n"
        "recordings:\n  - {path: a/rec.tif}\n"
    )
    with pytest.raises(
        InputError, match="defaults: parameters for step.s. nothing runs: transients"
    ):
        read_manifest(tmp_path / "none.yaml")
    p = m.recordings[1].step_params("transients")
    assert (p.method, p.k) == ("ksigma", 3.0)
    assert m.recordings[0].path == tmp_path / "a" / "rec.tif"
    for text, error in (
        ("recordings:\n  - {path: a/rec.tif, steps: [align], colour: red}\n", "unknown key.*colour"),
        ("recordings:\n  - {path: a/rec.tif, steps: [allign]}\n", "unknown step.*allign"),
        ("recordings:\n  - {path: a/rec.tif, steps: [transients], params: {transients: {kk: 1}}}\n", "unknown TransientParams"),
        ("recordings:\n  - {path: a/rec.tif, steps: [transients], params: {transients: {k: -1}}}\n", "k must be >= 0"),
        ("recordings:\n  - {path: a/missing.tif, steps: [align]}\n", "recording not found"),
        ("recordings:\n  - {path: a/rec.tif, steps: [track], seeds: none.csv}\n", "seeds file not found"),
        ("recordings:\n  - {path: a/rec.tif}\n", "no steps"),
        ("recordings:\n  - {path: a/rec.tif, steps: [align]}\n  - {path: b/rec.tif, name: x, steps: [align]}\n"
         "  - {path: b/rec.tif, name: x, steps: [align]}\n", "used twice"),
    ):  # fmt: skip
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(InputError, match=error):
            read_manifest(tmp_path / "bad.yaml")


def test_manifest_problems_come_together_and_command_line_spellings_are_taken(tmp_path, folder):
    """Two wrong parameter names took two runs to find, and the names `catrack <command> --help`
    shows (`--baseline`, `--min-interval`) were refused (scale review 7, item 11)."""
    rec, missing = folder / "rec00.tif", tmp_path / "missing.tif"
    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: [traces, transients], fps: 10}\n"
        f"recordings:\n  - {{path: {rec}, params: {{traces: {{baselin: running}},\n"
        "      transients: {min_intervall: 0.5}}}\n"
        f"  - {{path: {missing}, name: two}}\n"
    )
    with pytest.raises(InputError) as info:
        read_manifest(tmp_path / "m.yaml")
    lines = str(info.value).splitlines()
    assert lines[0] == "3 problems:" and len(lines) == 4, lines
    assert "rec00: traces parameters: unknown TracesParams parameter(s) baselin" in lines[1]
    assert "known: " in lines[1] and "dff_baseline" in lines[1]
    assert (
        "rec00: transients parameters: unknown TransientParams parameter(s) min_intervall"
        in lines[2]
    )
    assert "two: recording not found" in lines[3]

    (tmp_path / "m.yaml").write_text(
        "defaults: {steps: [traces, transients], fps: 10}\n"
        f"recordings:\n  - {{path: {rec}, params: {{traces: {{baseline: running,\n"
        "      baseline-window: 20}, transients: {min-interval: 0.7, snr_threshold: 4}}}\n"
    )
    spec = read_manifest(tmp_path / "m.yaml").recordings[0]
    traces, transients = spec.step_params("traces"), spec.step_params("transients")
    assert (traces.dff_baseline, traces.baseline_window_s) == ("running", 20.0)
    assert (transients.min_interval_s, transients.snr_threshold) == (0.7, 4.0)
    assert spec.params["transients"] == {"min_interval_s": 0.7, "snr_threshold": 4}
    (tmp_path / "m.yaml").write_text(
        f"recordings:\n  - {{path: {rec}, steps: [transients],\n"
        "      params: {transients: {min-interval: 0.7, min_interval_s: 1}}}\n"
    )
    with pytest.raises(InputError, match="min_interval_s is given twice"):
        read_manifest(tmp_path / "m.yaml")


def test_csv_and_toml_manifests(tmp_path, folder):
    (tmp_path / "m.csv").write_text(
        f"name,path,steps,fps,transients.k\nx,{folder / 'rec00.tif'},align;transients,20,4\n"
    )
    r = read_manifest(tmp_path / "m.csv").recordings[0]
    assert r.steps == ("align", "transients") and r.options["fps"] == 20
    assert r.step_params("transients").k == 4.0
    # a spreadsheet cell with commas (h9 review: "unknown step(s) align, transients")
    (tmp_path / "c.csv").write_text(f'path,steps\n{folder / "rec00.tif"},"align, track,traces"\n')
    assert read_manifest(tmp_path / "c.csv").recordings[0].steps == ("align", "track", "traces")
    # no_align from a CSV cell is text: "False" and "no" used to mean True (a non-empty string)
    rec = folder / "rec00.tif"
    (tmp_path / "n.csv").write_text(
        f"name,path,steps,no_align\na,{rec},align,False\nb,{rec},align,no\nc,{rec},align,TRUE\n"
        f"d,{rec},align,1\ne,{rec},align,\n"
    )
    flags = [r.no_align for r in read_manifest(tmp_path / "n.csv").recordings]
    assert flags == [False, False, True, True, False]
    (tmp_path / "p.csv").write_text(  # mixed text: pandas keeps the column as strings
        f"name,path,steps,traces.ratio\na,{rec},traces,False\nb,{rec},traces,no\n"
    )
    ratios = [
        r.step_params("traces").use_ratio for r in read_manifest(tmp_path / "p.csv").recordings
    ]
    assert ratios == [False, False]
    (tmp_path / "n2.csv").write_text(f"path,steps,no_align\n{rec},align,maybe\n")
    with pytest.raises(InputError, match="no_align must be true or false, got 'maybe'"):
        read_manifest(tmp_path / "n2.csv")
    (tmp_path / "m.toml").write_text(
        f'[defaults]\nsteps = ["align"]\n[[recordings]]\npath = "{folder / "rec01.tif"}"\n'
    )
    assert read_manifest(tmp_path / "m.toml").recordings[0].name == "rec01"


def test_a_recording_is_resumable_and_reruns_only_what_changed(tmp_path, folder):
    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    first = run_recording(spec, tmp_path)
    assert [(r["step"], r["status"]) for r in first] == [(s, "done") for s in (*STEPS, "export")]
    assert all((tmp_path / "rec00" / t).is_file() for t in TABLES)
    again = run_recording(spec, tmp_path)
    assert [r["status"] for r in again[:3]] == ["up to date"] * 3
    # the export files were written from this very session: not written again
    assert (again[-1]["step"], again[-1]["status"]) == ("export", "up to date")
    tracks = tmp_path / "rec00" / "tracks.csv"
    written = tracks.stat().st_mtime_ns
    from napari_catrack.session import Session

    edited = Session.load(tmp_path / "rec00" / "session.catrack.h5")  # napari saved it (an edit)
    edited.save()
    edited.close()
    assert run_recording(spec, tmp_path)[-1]["status"] == "done"  # exported again
    assert tracks.stat().st_mtime_ns != written
    from napari_catrack.core.transients.params import TransientParams

    other = TransientParams().snr_threshold + 1.0  # not the default, whatever the default is
    changed = type(spec)(**{**spec.__dict__, "params": {"transients": {"snr_threshold": other}}})
    third = run_recording(changed, tmp_path)
    assert [r["status"] for r in third[:3]] == ["up to date", "up to date", "done"]
    assert third[-1]["status"] == "done"
    (tmp_path / "rec00" / "tracks.csv").unlink()  # a lost table comes back from the session
    assert run_recording(spec, tmp_path)[-1]["status"] == "done"
    assert (tmp_path / "rec00" / "tracks.csv").is_file()


def test_a_damaged_session_is_set_aside_said_and_never_overwritten(
    tmp_path, folder, monkeypatch, capsys
):
    """A damaged session used to crash the worker ("rerun the batch", which could not help) or
    vanish silently into `.unreadable` with a "done" report (scale review 7, items 2 and 8): it
    is set aside under a new name each time, and the report and summary say so."""
    from napari_catrack.batch.runner import BatchResult

    spec = read_manifest(folder / "manifest.yaml").recordings[2]
    run_recording(spec, tmp_path)
    session = tmp_path / spec.name / "session.catrack.h5"
    kept = []
    for n, damage in enumerate(("garbage", "truncate")):
        data = bytearray(session.read_bytes())
        if damage == "garbage":
            data[4096:24096] = (bytes(range(256)) * 79)[:20000]
        else:
            data = data[:20000]
        session.write_bytes(bytes(data))
        kept.append(bytes(data))
        rows = run_recording(spec, tmp_path)
        aside = "session.catrack.h5.unreadable" + ("" if n == 0 else "-2")
        assert (rows[0]["step"], rows[0]["status"]) == ("session", "set aside"), rows[0]
        assert f"set aside as {aside}" in rows[0]["message"], rows[0]["message"]
        assert "every step recomputed" in rows[0]["message"]
        assert [(r["step"], r["status"]) for r in rows[1:]] == [
            (s, "done") for s in (*STEPS, "export")
        ]
        for i, data in enumerate(kept):  # each damaged file as it was, none overwritten
            name = "session.catrack.h5.unreadable" + ("" if i == 0 else f"-{i + 1}")
            assert (tmp_path / spec.name / name).read_bytes() == data
        summary = BatchResult(tmp_path, pd.DataFrame(rows)).summary()
        assert "steps: 4 done;" in summary and "1 damaged session set aside" in summary
    assert [r["status"] for r in run_recording(spec, tmp_path)[:3]] == ["up to date"] * 3

    import napari_catrack.batch.runner as runner  # the command says it on the terminal too

    monkeypatch.setattr(
        runner, "run_batch", lambda *a, **k: BatchResult(tmp_path, pd.DataFrame(rows))
    )
    assert main(["batch", str(folder / "manifest.yaml"), "-o", str(tmp_path), "--no-progress"]) == 0
    out, err = capsys.readouterr()  # the result line on stdout, its warnings on stderr (h18)
    assert out == f"{summary} (0.0 s) -> {tmp_path / 'report.csv'}\n", out
    assert f"catrack batch: {spec.name}: warning: session.catrack.h5 was damaged" in err
    assert "set aside as session.catrack.h5.unreadable-2" in err


def test_a_batch_session_reopens_its_recording_from_any_working_folder(tmp_path, monkeypatch):
    """`catrack batch manifest.yaml` run with relative paths stored the recording relative to the
    folder it ran in, so the session opened elsewhere (napari, another shell) without images
    (scale review 7, item 1)."""
    import warnings

    from napari_catrack.session import Session
    from napari_catrack.session_layers import session_layers

    write_batch_folder(tmp_path / "data", 1, n_frames=12, shape=(48, 48), n_neurons=2,
                       steps=("align",))  # fmt: skip
    monkeypatch.chdir(tmp_path)
    spec = read_manifest("data/manifest.yaml").recordings[0]
    assert run_recording(spec, "out")[0]["status"] == "done"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    session = Session.load(tmp_path / "out" / "rec00" / "session.catrack.h5")
    assert Path(session.recording["path"]).resolve() == (tmp_path / "data" / "rec00.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "session recording could not be reopened" fails
        # napari 0.5 + new imageio warn at import (legacy DICOM plugin): not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        layers = session_layers(session)
    roles = [meta["metadata"]["catrack"].get("role") for _, meta, _ in layers]
    assert roles[:2] == ["green", "red"]


def test_a_failing_step_is_reported_and_later_steps_are_not_run(tmp_path, folder):
    spec = read_manifest(folder / "manifest.yaml").recordings[1]
    broken = type(spec)(**{**spec.__dict__, "files": {}})  # no seeds and no detect step
    rows = run_recording(broken, tmp_path)
    assert rows[0]["status"] == "failed" and "track" in rows[0]["message"]
    assert [r["status"] for r in rows[1:3]] == ["not run", "not run"]


def test_a_neuron_lost_on_background_does_not_fail_the_recordings_transients(tmp_path, capsys):
    # its dF/F is NaN throughout (F0 <= 0): the transients step used to fail for every neuron
    folder = write_batch_folder(tmp_path / "in", 1, n_frames=40, shape=(72, 72), n_neurons=4,
                                steps=STEPS, extra={"no_align": True,  # green dF/F:
                                "params": {"traces": {"ratio": False}}}).parent  # fmt: skip
    seeds = pd.read_csv(folder / "seeds00.csv")
    seeds.loc[len(seeds)] = ["lost", 2.0, 2.0]  # a corner with no neuron
    seeds.to_csv(folder / "seeds00.csv", index=False)
    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    rows = run_recording(spec, tmp_path / "out")
    assert [r["status"] for r in rows] == ["done"] * 4, rows
    assert "transients: warning: 1 of 5 neuron(s)" in capsys.readouterr().err
    cells = pd.read_csv(tmp_path / "out" / "rec00" / "cells.csv").set_index("neuron_id")
    assert cells.loc["lost", "n_transients"] == 0 and len(cells) == 5


def test_a_manifest_fps_that_contradicts_the_file_is_said(tmp_path, folder, capsys):
    # a `fps: 10` copied from the docs silently overrode a recording that states its own rate
    spec = read_manifest(folder / "manifest.yaml").recordings[0]  # the files state 10 Hz
    other = type(spec)(**{**spec.__dict__, "options": {**spec.options, "fps": 12.5}})
    rows = run_recording(other, tmp_path / "out")
    assert rows[0]["status"] == "done", rows
    err = capsys.readouterr().err
    assert "track: warning: the manifest's fps 12.5 differs from the 10 Hz the file states" in err
    traces = pd.read_csv(tmp_path / "out" / spec.name / "traces.csv")
    assert traces.time_s.iloc[1] == pytest.approx(1 / 12.5)  # the manifest's rate is used
    run_recording(spec, tmp_path / "same")  # the manifest's 10 Hz is the file's: nothing said
    assert "differs" not in capsys.readouterr().err


@pytest.mark.slow
def test_local_cluster_matches_single_runs_and_survives_a_killed_worker(tmp_path, folder):
    """3 recordings on 2 worker processes; one worker is killed while it runs a recording.
    Only that recording is lost; a rerun completes it alone; every recording's tables equal
    those of running it by itself."""
    from napari_catrack.batch.runner import run_batch

    manifest = read_manifest(folder / "manifest.yaml")
    killed: dict[str, str] = {}

    def kill_a_busy_worker(client):
        pids = client.run(os.getpid)

        def killer():
            deadline = time.time() + 120
            while time.time() < deadline and not killed:
                busy = {w: t for w, t in client.processing().items() if t}
                if busy:
                    worker, tasks = next(iter(busy.items()))
                    time.sleep(0.3)
                    killed["task"] = str(tasks[0])
                    os.kill(pids[worker], signal.SIGKILL)
                time.sleep(0.05)

        threading.Thread(target=killer, daemon=True).start()

    out = tmp_path / "out"
    first = run_batch(manifest, out, workers=2, on_client=kill_a_busy_worker, log=lambda _: None)
    assert killed, "no worker was killed"
    lost = [r for r in manifest.recordings if f"catrack-{r.name}-" in killed["task"]]
    assert len(lost) == 1 and first.failed == [lost[0].name]
    assert "worker" in first.report.query("status == 'failed'").message.iloc[0]
    finished = [r.name for r in manifest.recordings if r.name != lost[0].name]
    done = first.report[first.report.recording.isin(finished)]
    assert (done.status == "done").all() and len(done) == len(finished) * (len(STEPS) + 1)
    second = run_batch(manifest, out, workers=2, log=lambda _: None)
    assert second.failed == []
    steps = second.report[second.report.step != "export"]
    assert (steps[steps.recording.isin(finished)].status == "up to date").all()
    assert (steps[steps.recording == lost[0].name].status == "done").any()
    pooled = pd.read_csv(out / "pooled" / "cells.csv")
    assert sorted(pooled.recording.unique()) == [r.name for r in manifest.recordings]
    report = pd.read_csv(out / "report.csv")
    assert list(report.columns) == ["recording", "step", "status", "seconds", "message"]
    for spec in manifest.recordings:  # the same results as each recording run by itself
        run_recording(spec, tmp_path / "alone")
        for table in TABLES:
            pd.testing.assert_frame_equal(pd.read_csv(out / spec.name / table),
                                          pd.read_csv(tmp_path / "alone" / spec.name / table))  # fmt: skip


def test_a_cancelled_batch_hands_back_the_rows_of_the_recordings_that_finished(tmp_path, folder):
    """The Batch widget showed nothing after Cancel: the runner's Cancelled carried no rows."""
    from napari_catrack.batch.runner import BatchCancelled, run_batch

    manifest = read_manifest(folder / "manifest.yaml")
    with pytest.raises(BatchCancelled, match="cancelled after 1 of 3 recordings") as caught:
        run_batch(manifest, tmp_path / "out", workers=1, log=lambda _: None, cancel=lambda: True)
    report = caught.value.report
    assert (caught.value.done, caught.value.total) == (1, 3)
    report = report[report.status != "cancelled"]  # the others are marked cancelled
    assert report.recording.nunique() == 1 and (report.status == "done").all()
    assert list(report.step) == [*STEPS, "export"]
    name = report.recording.iloc[0]
    assert (tmp_path / "out" / name / "traces.csv").is_file()  # kept


def test_a_cancelled_batch_writes_the_report_with_the_rest_marked_cancelled(tmp_path, folder):
    """Cancel (the widget's button, Ctrl-C in `catrack batch`) wrote no report.csv: now the
    finished recordings' rows, the others `cancelled` (not `failed`), and the message says where."""
    from napari_catrack.batch.runner import BatchCancelled, run_batch

    manifest = read_manifest(folder / "manifest.yaml")
    out = tmp_path / "out"
    with pytest.raises(BatchCancelled) as caught:
        run_batch(manifest, out, workers=1, log=lambda _: None, cancel=lambda: True)
    assert str(out / "report.csv") in str(caught.value)
    assert caught.value.report_path == out / "report.csv"
    written = pd.read_csv(out / "report.csv")
    names = [r.name for r in manifest.recordings]
    assert list(dict.fromkeys(written.recording)) == names  # the manifest's order
    done = written[written.status == "done"]
    assert done.recording.nunique() == 1 and list(done.step) == [*STEPS, "export"]
    rest = written[written.recording != done.recording.iloc[0]]
    assert list(rest.status) == ["cancelled", "cancelled"] and "rerun" in rest.message.iloc[0]
    assert not (written.status == "failed").any()
    assert not list(out.glob(".*partial*")) and not list(out.glob("*.tmp"))


def test_ctrl_c_in_catrack_batch_writes_the_report_and_says_where(tmp_path, folder, capsys):
    """Ctrl-C (KeyboardInterrupt) while `catrack batch` waits: report.csv with the finished
    recordings and the others cancelled, one line naming it, exit 130."""
    from napari_catrack.batch import runner

    calls = []

    def interrupt(done, total, name):
        calls.append(name)
        if name:  # the first recording has finished: the user presses Ctrl-C
            raise KeyboardInterrupt

    real = runner.run_batch

    def run_batch(*args, **kwargs):
        kwargs["progress"] = interrupt
        return real(*args, **kwargs)

    out = tmp_path / "o"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "run_batch", run_batch)
        code = main(["batch", str(folder / "manifest.yaml"), "-o", str(out), "--no-progress",
                     "--workers", "1"])  # fmt: skip
    assert code == 130
    err = capsys.readouterr().err
    assert f"the report (the others marked cancelled) is {out / 'report.csv'}" in err, err
    written = pd.read_csv(out / "report.csv")
    assert set(written.status) == {"done", "cancelled"}  # the first finished, then Ctrl-C
    assert list(written.groupby("recording", sort=True).status.first()) == ["done", "cancelled",
                                                                           "cancelled"]  # fmt: skip


def test_batch_command_errors(tmp_path, capsys):
    (tmp_path / "m.yaml").write_text("recordings: []\n")
    assert main(["batch", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "o")]) == 2
    assert "lists no recordings" in capsys.readouterr().err


class _Garbage(socketserver.BaseRequestHandler):
    def handle(self):  # random bytes where dask's handshake is expected
        try:
            self.request.sendall(os.urandom(4096))
            self.request.recv(1024)
        except OSError:
            pass


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("handler", [_Garbage, _Quiet], ids=["garbage", "http"])
def test_a_scheduler_address_that_is_no_dask_scheduler_is_one_line_soon(
    tmp_path, folder, capsys, monkeypatch, handler
):
    """`--scheduler` at a port answering random bytes died with distributed's traceback ("Unable
    to allocate 3.07 EiB"); at an HTTP server (the dashboard's port) it waited for ever."""
    from napari_catrack.batch import runner

    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 2.0, raising=False)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.server_address[1]}"
    try:
        start = time.monotonic()
        args = ["batch", str(folder / "manifest.yaml"), "-o", str(tmp_path / "o"), "--no-progress"]
        assert main([*args, "--scheduler", address]) == 2
        assert time.monotonic() - start < 10
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err.strip()
    assert f"{address} is not a dask scheduler (or not reachable): " in err, err
    # distributed 2023.6 (our lower bound) reports random bytes as a failed handshake instead
    why = (
        ("its answer is not dask's protocol", "Timed out during handshake")
        if handler is _Garbage
        else ("no dask answer within 2 s",)
    )
    assert any(w in err for w in why), err
    lines = err.splitlines()  # the batch's first line, then the error alone
    assert "Traceback" not in err and lines[-1].startswith("catrack: error: "), err
    assert len(lines) == 2 and lines[0].startswith("catrack batch: 3 recordings"), err
    assert not (tmp_path / "o" / "report.csv").exists()


def test_a_dashboard_or_closed_port_fails_in_a_few_seconds_naming_the_address_expected(
    tmp_path, folder, capsys
):
    """Leftover (h10): `--scheduler` at the dashboard (http://host:8787, or its port as tcp://)
    or at a closed port took ~20 s to fail. Now: at once for a web address and a closed port,
    within 5 s for a port that never answers as dask, each in one line saying what was expected
    (tcp://host:8786, the scheduler's port)."""
    import socket

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Quiet)  # a dashboard stand-in
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed = probe.getsockname()[1]
    probe.close()
    args = ["batch", str(folder / "manifest.yaml"), "-o", str(tmp_path / "o"), "--no-progress"]
    cases = [
        (f"http://127.0.0.1:{port}", "that is a web address (the dashboard's?)", 3),
        (f"tcp://127.0.0.1:{closed}", f"nothing listens at 127.0.0.1:{closed} (refused)", 3),
        (f"tcp://127.0.0.1:{port}", "no dask answer within 5 s", 9),
    ]
    try:
        for address, why, seconds in cases:
            start = time.monotonic()
            assert main([*args, "--scheduler", address]) == 2
            took = time.monotonic() - start
            assert took < seconds, (address, took)
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 2 and err[1] == (
                f"catrack: error: {address} is not a dask scheduler (or not reachable): {why}; "
                "expected tcp://127.0.0.1:8786, the scheduler's port (not the dashboard's, 8787)"
            ), err
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "o" / "report.csv").exists()


def test_session_params_are_the_values_that_differ_from_the_defaults(tmp_path):
    """The batch widget's manifest takes each step's recorded parameters that are not defaults."""
    from napari_catrack.batch.steps import session_params
    from napari_catrack.core.signals.params import TracesParams
    from napari_catrack.core.transients.params import TransientParams
    from napari_catrack.session import Session

    session = Session(tmp_path / "rec.catrack.h5", autosave=False)
    session.record("traces", params=TracesParams(radius=4.5).to_dict())
    session.record("transients", params=TransientParams().to_dict())
    assert session_params(session, ["traces", "transients", "track"]) == {"traces": {"radius": 4.5}}


def test_manifest_numbers_and_inputs_are_checked_before_anything_runs(tmp_path, folder, capsys):
    rec = folder / "rec00.tif"
    for line, error in (
        (f"{{path: {rec}, steps: [align], fps: 0}}", "fps must be a positive number, got 0"),
        (f"{{path: {rec}, steps: [align], fps: -3}}", "fps must be a positive number"),
        (f"{{path: {rec}, steps: [align], pixel_size_um: 0}}", "pixel_size_um must be a positive"),
        (f"{{path: {rec}, steps: [align], green_channel: 1.5}}", "green_channel must be a whole"),
        (f"{{path: {rec}, steps: [align], seed_frame: -1}}", "seed_frame must be a whole"),
    ):
        (tmp_path / "bad.yaml").write_text(f"recordings:\n  - {line}\n")
        with pytest.raises(InputError, match=error):
            read_manifest(tmp_path / "bad.yaml")
    (tmp_path / "bad.csv").write_text(f"path,steps,fps\n{rec},align,0\n")
    with pytest.raises(InputError, match="fps must be a positive number"):
        read_manifest(tmp_path / "bad.csv")
    inside = tmp_path / "out" / "mine"
    inside.mkdir(parents=True)
    (inside / "rec.tif").write_bytes(rec.read_bytes())
    (tmp_path / "m.yaml").write_text(
        f"recordings:\n  - {{path: {inside / 'rec.tif'}, name: mine, steps: [align]}}\n"
    )
    assert main(["batch", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]) == 2
    assert "holds the input recording mine" in capsys.readouterr().err
    assert sorted(p.name for p in inside.iterdir()) == ["rec.tif"]


def test_an_output_folder_holding_the_recordings_or_the_manifest_is_refused(tmp_path, capsys):
    """The batch writes report.csv and pooled/ (the widget manifest.yaml) in -o: never over the
    user's own files beside the recordings (GUI review 2, item 1)."""
    from dataclasses import replace

    from napari_catrack.batch.runner import check_batch_output, run_batch

    folder = tmp_path / "bin"
    write_batch_folder(folder, 1, n_frames=8, shape=(32, 32), n_neurons=2,
                                steps=("align",))  # fmt: skip
    (folder / "report.csv").write_text("my own report\n")
    mine = (folder / "manifest.yaml").read_text()
    manifest = read_manifest(folder / "manifest.yaml")
    assert main(["batch", str(folder / "manifest.yaml"), "-o", str(folder)]) == 2
    assert "write the batch results to a folder of their own" in capsys.readouterr().err
    with pytest.raises(InputError, match="holds the recording rec00 .*folder of their own"):
        run_batch(replace(manifest, source=None), folder, workers=1, log=lambda _: None)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "m.yaml").write_text(
        f"recordings:\n  - {{path: {folder / 'rec00.tif'}, steps: [align]}}\n"
    )
    elsewhere = read_manifest(tmp_path / "m" / "m.yaml")
    with pytest.raises(InputError, match="holds the manifest .*folder of their own"):
        check_batch_output(elsewhere, tmp_path / "m")
    assert (folder / "report.csv").read_text() == "my own report\n"
    assert (folder / "manifest.yaml").read_text() == mine
    with pytest.raises(InputError, match="is a file; give a folder"):
        check_batch_output(manifest, folder / "rec00.tif")
    check_batch_output(manifest, tmp_path / "results")  # a folder of its own is fine


def test_events_step_lines_up_events_and_keeps_the_files_it_used(tmp_path, folder):
    """The batch events step stores the lined-up events with the event and frame-times files it
    read, so the Events widget opened on the batch's session shows them (docs/events.md)."""
    from napari_catrack.batch.recording import SESSION_NAME
    from napari_catrack.session import Session

    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    n_frames = 40
    times = pd.DataFrame({"frame": range(n_frames), "time_s": [0.1 * i for i in range(n_frames)]})
    times.to_csv(tmp_path / "frames.csv", index=False)
    pd.DataFrame({"time_s": [0.55, 2.05, 9.0], "event": ["tap", "tap", "late"]}).to_csv(
        tmp_path / "events.csv", index=False
    )
    files = {"events": tmp_path / "events.csv", "frame_times": tmp_path / "frames.csv"}
    with_events = type(spec)(**{**spec.__dict__, "steps": ("events",), "files": files})
    out = tmp_path / "out"
    rows = run_recording(with_events, out)
    assert (rows[0]["step"], rows[0]["status"]) == ("events", "done"), rows
    assert rows[0]["message"].startswith("2/3 events in the recording")
    record = Session.load(out / "rec00" / SESSION_NAME)["events"]
    assert record.attrs["source"] == str(tmp_path / "events.csv")
    assert record.attrs["frame_times_source"] == str(tmp_path / "frames.csv")
    assert record.attrs["video_source"] == ""
    events = record.tables["events"]
    assert events["in_recording"].tolist() == [True, True, False]


def test_a_cp1252_event_file_is_noted_in_the_batch_report(tmp_path, folder, capsys):
    """An event file from Excel on Windows (cp1252: `ä` in its values) is read, and the note that
    it was read as Windows-1252 is in the step's report row, not only in a worker's stderr line
    among the others (h16: it was on stderr only, and said "column names" for the whole file)."""
    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    pd.DataFrame({"frame": range(40), "time_s": [0.1 * i for i in range(40)]}).to_csv(
        tmp_path / "frames.csv", index=False
    )
    (tmp_path / "events.csv").write_bytes(
        "time_s;event\n0,55;Reiz ä\n2,05;Reiz ä\n".encode("cp1252")
    )
    files = {"events": tmp_path / "events.csv", "frame_times": tmp_path / "frames.csv"}
    with_events = type(spec)(**{**spec.__dict__, "steps": ("events",), "files": files})
    rows = run_recording(with_events, tmp_path / "out")
    assert (rows[0]["step"], rows[0]["status"]) == ("events", "done"), rows
    note = (
        "event file events.csv read as Windows-1252 (not UTF-8): check µ, ° and accented letters "
        "in its column names and values"
    )
    assert rows[0]["message"].startswith("2/2 events in the recording"), rows
    assert rows[0]["message"].endswith(f"; {note}"), rows
    assert capsys.readouterr().err.count(note) == 1  # the worker's line, once


def test_eta_step_does_not_report_untested_kinds_as_tested_and_negative(tmp_path, folder):
    """The batch eta step said "0 responsive neuron-event pairs" when no pair was tested (every
    kind with fewer than min_events events far enough from the ends), which reads as tested and
    negative; `catrack events` and the Events widget say "not tested"."""
    long = tmp_path / "long"  # 20 s: a 6 s analysis span fits
    write_batch_folder(long, 1, n_frames=200, shape=(48, 48), n_neurons=3, steps=STEPS,
                       extra={"no_align": True})  # fmt: skip
    spec = read_manifest(long / "manifest.yaml").recordings[0]
    pd.DataFrame({"time_s": [0.55, 2.05, 10.0], "event": ["tap", "tap", "tap"]}).to_csv(
        tmp_path / "events.csv", index=False
    )
    files = {**spec.files, "events": tmp_path / "events.csv"}
    steps = ("track", "traces", "events", "eta")
    one = type(spec)(**{**spec.__dict__, "steps": steps, "files": files})
    rows = run_recording(one, tmp_path / "out")
    eta = next(r for r in rows if r["step"] == "eta")
    assert eta["status"] == "done", [r["message"] for r in rows]
    assert eta["message"] == (
        "0 responsive neuron-event pairs of 0 tested; not tested (fewer than 3 events far "
        "enough from the ends): tap, 1 with the window cut short by the recording's ends: "
        "averaged over the lags recorded"
    )


def test_events_step_checks_frame_times_as_the_command_does(tmp_path, folder, capsys):
    """The batch events step took any frame-times file: one for another (longer) recording was
    used silently and frame times in ms went unremarked; `catrack events` refuses the first."""
    spec = read_manifest(folder / "manifest.yaml").recordings[0]  # 40 frames at 10 Hz
    pd.DataFrame({"time_s": [0.55], "event": ["tap"]}).to_csv(tmp_path / "e.csv", index=False)

    def run(times, name):
        pd.DataFrame({"time_s": times}).to_csv(tmp_path / name, index=False)
        files = {"events": tmp_path / "e.csv", "frame_times": tmp_path / name}
        one = type(spec)(**{**spec.__dict__, "steps": ("events",), "files": files})
        return run_recording(one, tmp_path / name.replace(".csv", ""))[0]

    row = run([0.1 * i for i in range(60)], "long.csv")
    assert (
        row["status"] == "failed"
        and "60 frame times (rows) but the recording has 40" in (row["message"])
    )
    row = run([100.0 * i for i in range(40)], "ms.csv")
    assert row["status"] == "done"
    assert "ms.csv: its frames come at 0.01 Hz but the recording's frame rate is 10 Hz" in (
        capsys.readouterr().err
    )
    # events in ms (h11): none in the 4 s recording, said as `catrack events` says it
    pd.DataFrame({"time_s": [550.0, 2100.0], "event": "tap"}).to_csv(
        tmp_path / "e.csv", index=False
    )
    row = run([0.1 * i for i in range(40)], "ok.csv")
    assert row["status"] == "done" and "0/2 events in the recording" in row["message"]
    err = capsys.readouterr().err
    assert "none of the 2 events falls in the recording" in err and "milliseconds" in err


def _frames_manifest(folder: Path) -> Path:
    """`folder/frames/` (a TIFF folder recording) and `folder/m.yaml` running `summary` on it."""
    import numpy as np
    import tifffile

    (folder / "frames").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        image = rng.integers(0, 1000, (24, 24), dtype=np.uint16)
        tifffile.imwrite(folder / "frames" / f"f{i:03d}.tif", image)
    manifest = folder / "m.yaml"
    manifest.write_text("defaults: {steps: [summary], fps: 10}\nrecordings:\n  - {path: frames}\n")
    return manifest


def test_a_folder_recording_keeps_its_step_keys_across_working_folders(tmp_path, monkeypatch):
    """A TIFF folder's fingerprint kept the path as spelled, so keys changed with the working
    folder and the manifest's spelling (review 7, item 1): a rerun is up to date from anywhere."""
    from napari_catrack.io.fingerprint import file_fingerprint

    _frames_manifest(tmp_path / "data")
    monkeypatch.chdir(tmp_path / "data")
    assert file_fingerprint("frames") == file_fingerprint(tmp_path / "data" / "frames")
    monkeypatch.chdir(tmp_path)
    spec = read_manifest("data/m.yaml").recordings[0]
    assert run_recording(spec, tmp_path / "out")[0]["status"] == "done"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    spec = read_manifest("../data/m.yaml").recordings[0]
    assert run_recording(spec, tmp_path / "out")[0]["status"] == "up to date"


def test_a_step_key_stored_by_the_older_code_still_counts(tmp_path, monkeypatch):
    """Before manifest paths became absolute, `catrack batch m.yaml` keyed a TIFF folder by the
    path as written (`frames`): upgrading must not recompute a finished batch and replace its
    curation (review 7, item 1)."""
    from napari_catrack.batch.recording import BATCH_STEP, step_key
    from napari_catrack.io.fingerprint import file_fingerprint
    from napari_catrack.session import Session

    _frames_manifest(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = read_manifest("m.yaml").recordings[0]
    assert run_recording(spec, "out")[0]["status"] == "done"
    path = tmp_path / "out" / spec.name / "session.catrack.h5"
    session = Session.load(path)
    done = dict(session[BATCH_STEP].attrs)
    old = {**file_fingerprint(spec.path), "path": "frames"}  # what the older code stored
    done["summary"] = {**done["summary"], "key": step_key(spec, "summary", {}, old)}
    session.record(BATCH_STEP, attrs=done, save=False)
    session.save()
    assert run_recording(spec, "out")[0]["status"] == "up to date"
    done["summary"] = {**done["summary"], "key": "changed"}  # a key that matches neither
    session.record(BATCH_STEP, attrs=done, save=False)
    session.save()
    assert run_recording(spec, "out")[0]["status"] == "done"


def test_a_session_held_by_another_program_fails_the_recording_and_stays(tmp_path, folder):
    """A locked session was set aside as damaged and every step recomputed (review 7, item 3):
    the recording fails with a line that says the file is in use, and the file stays put."""
    from ._session_helpers import held_for_writing

    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    run_recording(spec, tmp_path)
    session = tmp_path / spec.name / "session.catrack.h5"
    before = session.read_bytes()
    with held_for_writing(session):
        rows = run_recording(spec, tmp_path)
    assert [(r["step"], r["status"]) for r in rows] == [
        (s, "failed" if s == STEPS[0] else "not run") for s in STEPS
    ]
    assert "in use by another program" in rows[0]["message"]
    # the other rows say which step failed, not its whole message again (they repeated it)
    assert [r["message"] for r in rows[1:]] == [f"{STEPS[0]} failed"] * (len(STEPS) - 1)
    assert sorted(p.name for p in session.parent.glob("session.catrack.h5*")) == [session.name]
    assert session.read_bytes() == before


def test_a_dead_workers_temporary_files_are_removed(tmp_path):
    """A worker killed on its own (dask's memory limit) never finishes its atomic writes: the
    hidden `.partial` files it leaves (as large as a registered movie) go with its report row."""
    from types import SimpleNamespace

    from napari_catrack.batch.runner import _worker_lost

    folder = tmp_path / "rec1"
    (folder / "figures").mkdir(parents=True)
    left = [folder / ".registered.tif.x1.partial", folder / "figures" / ".traces.png.x2.partial"]
    for p in left:
        p.write_bytes(b"\0" * 100)
    (folder / "traces.csv").write_text("neuron_id,frame,dff\n")
    spec = SimpleNamespace(name="rec1", steps=["register"])
    rows = _worker_lost(spec, RuntimeError("KilledWorker"), tmp_path)
    assert [r["status"] for r in rows] == ["failed"] and "died" in rows[0]["message"]
    assert not any(p.exists() for p in left)
    assert (folder / "traces.csv").exists()  # finished results stay


def test_two_photon_steps_read_the_plane_the_manifest_names(tmp_path):
    """`register` read the recording without the manifest's options, so a volume was
    max-projected whatever `z_projection` said (and `summary`/`sources` likewise): they now
    open it as the manifest says, and a volume without `z_projection` fails in one line."""
    import numpy as np
    import tifffile

    from napari_catrack.core.registration import RegisterParams, register_movie
    from napari_catrack.synthetic import make_two_photon_movie

    plane0 = make_two_photon_movie(12, (40, 40), n_cells=4, seed=2).movie.astype(np.uint16)
    plane1 = np.ascontiguousarray(plane0[:, ::-1, :])
    tifffile.imwrite(tmp_path / "vol.tif", np.stack([plane0, plane1], axis=1), imagej=True,
                     metadata={"axes": "TZYX"})  # fmt: skip
    for z, status in (("", "failed"), (", z_projection: 1", "done")):
        (tmp_path / "m.yaml").write_text(
            "defaults: {steps: [register, summary], fps: 10, params: {register: {mode: rigid}}}\n"
            f"recordings:\n  - {{path: vol.tif{z}}}\n"
        )
        spec = read_manifest(tmp_path / "m.yaml").recordings[0]
        rows = run_recording(spec, tmp_path / "out")
        assert rows[0]["status"] == status, rows
        if status == "failed":
            assert "has a Z axis (2 planes)" in rows[0]["message"], rows
    registered = tifffile.imread(tmp_path / "out" / spec.name / "registered.tif")
    direct = register_movie(plane1, RegisterParams(mode="rigid"), keep_in_memory=True)
    np.testing.assert_array_equal(registered, direct.movie)
    assert rows[1]["status"] == "done", rows  # summary read the registered plane


def test_a_failed_recording_is_said_when_it_finishes_and_once(tmp_path, capsys):
    """A failed step is said (the `log` line "<name>: <step> failed: <why>") as soon as its
    recording finishes, between that recording's progress and the next one's, and `catrack
    batch` says it once. Until h20 the progress line said "[1/2] broken finished" and the reason
    came only after the last recording (hours later on a long batch)."""
    from napari_catrack.batch.runner import run_batch

    write_batch_folder(tmp_path / "data", 1, n_frames=12, shape=(48, 48), n_neurons=2,
                       steps=("track",), extra={"no_align": True})  # fmt: skip
    data = tmp_path / "data"
    (data / "bad.tif").write_bytes((data / "rec00.tif").read_bytes()[:5000])  # truncated
    (data / "m.yaml").write_text(
        "defaults: {steps: [track], fps: 10, no_align: true}\n"
        "recordings:\n  - {name: broken, path: bad.tif, seeds: seeds00.csv}\n"
        "  - {name: good, path: rec00.tif, seeds: seeds00.csv}\n"
    )
    events: list[str] = []
    result = run_batch(read_manifest(data / "m.yaml"), tmp_path / "out", workers=1,
                       log=events.append, progress=lambda d, t, n: n and events.append(f"[{d}] {n}"))  # fmt: skip
    failed = [e for e in events if e.startswith("broken: track failed: ")]
    assert len(failed) == 1 and "truncated" in failed[0], events
    order = [e for e in events if e.startswith(("[", "broken: track failed"))]
    assert order == ["[1] broken", failed[0], "[2] good"], events
    assert result.failed
    code = main(["batch", str(data / "m.yaml"), "-o", str(tmp_path / "out"), "--no-progress",
                 "--workers", "1"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("catrack batch: broken: track failed: ") == 1, err


def test_a_manifest_nwb_metadata_file_gives_the_batch_nwb_its_subject(tmp_path, folder, capsys):
    """`nwb_metadata: meta.yaml` (defaults or a recording) is read as `export-nwb --metadata`
    reads it: a batch's session.nwb always lacked the subject. Checked with the manifest (a bad
    key, or no nwb export, is refused before anything runs); an edited file writes it again."""
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    (tmp_path / "meta.yaml").write_text(
        "session_start_time: 2024-05-01T10:00:00+02:00\n"
        "subject: {subject_id: worm7, species: Caenorhabditis elegans}\n"
    )
    rec, seeds = folder / "rec00.tif", folder / "seeds00.csv"
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "defaults: {steps: [track], fps: 10.0, no_align: true, export: [tables, nwb],\n"
        "           nwb_metadata: meta.yaml}\n"
        f"recordings:\n  - {{name: one, path: '{rec}', seeds: '{seeds}'}}\n"
    )
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-o", str(out)]) == 0
    with NWBHDF5IO(str(out / "one" / "session.nwb"), "r") as io:
        nwb = io.read()
        assert nwb.subject.subject_id == "worm7"
        assert nwb.session_start_time.isoformat() == "2024-05-01T10:00:00+02:00"
    (tmp_path / "meta.yaml").write_text("subject: {subject_id: worm8}\n")  # edited: written again
    assert main(["batch", str(manifest), "-o", str(out)]) == 0
    with NWBHDF5IO(str(out / "one" / "session.nwb"), "r") as io:
        assert io.read().subject.subject_id == "worm8"
    capsys.readouterr()
    for text, error in (
        ("subject: {subject_idd: w}\n", "nwb_metadata: .*subject_idd"),
        (None, "nwb_metadata, but export has no nwb"),
    ):
        body = manifest.read_text()
        if text is None:  # the recording's own metadata, without an NWB export
            body = body.replace("export: [tables, nwb],", "export: [tables],").replace(
                "seeds: ", "nwb_metadata: meta.yaml, seeds: "
            )
            (tmp_path / "meta.yaml").write_text("subject: {subject_id: worm8}\n")
        else:
            (tmp_path / "meta.yaml").write_text(text)
        (tmp_path / "bad.yaml").write_text(body)
        assert main(["batch", str(tmp_path / "bad.yaml"), "-o", str(tmp_path / "bad")]) == 2
        assert re_search(error, capsys.readouterr().err)
        assert not (tmp_path / "bad").exists()


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_the_batch_summary_counts_in_words_that_agree_with_the_number():
    """'1 recordings, ...; 0 recording(s) with failures' -> '1 recording, ...; 0 recordings
    with failures' (and '1 damaged session set aside')."""
    from napari_catrack.batch.recording import REPORT_COLUMNS, SET_ASIDE
    from napari_catrack.batch.runner import BatchResult

    rows = [("a", "session", SET_ASIDE, 0.0, "x"), ("a", "track", "done", 1.0, "")]
    one = BatchResult(Path("out"), pd.DataFrame(rows, columns=REPORT_COLUMNS))
    assert one.summary() == (
        "1 recording, steps: 1 done; 0 recordings with failures; "
        "1 damaged session set aside (see report.csv)"
    )
    rows += [("b", "track", "failed", 1.0, "why"), ("b", "traces", "not run", 0.0, "track failed")]
    two = BatchResult(Path("out"), pd.DataFrame(rows, columns=REPORT_COLUMNS))
    assert two.summary() == (
        "2 recordings, steps: 1 done, 1 failed, 1 not run; 1 recording with failures; "
        "1 damaged session set aside (see report.csv)"
    )


def test_cancel_and_interrupt_lines_count_one_recording_in_the_singular(tmp_path, folder):
    """Failed before h21: a batch of one recording said "after 1 of 1 recordings" when
    cancelled (the widget's Cancel) or interrupted (Ctrl-C); now `text.counted`'s words."""
    from napari_catrack.batch.manifest import Manifest
    from napari_catrack.batch.runner import BatchCancelled, run_batch

    whole = read_manifest(folder / "manifest.yaml")
    one = Manifest(whole.source, whole.recordings[:1])
    with pytest.raises(BatchCancelled) as caught:
        run_batch(one, tmp_path / "a", workers=1, log=lambda _: None, cancel=lambda: True)
    assert str(caught.value).startswith("batch cancelled after 1 of 1 recording; finished")

    def interrupt(done, total, name):
        if name:  # the recording has finished: Ctrl-C
            raise KeyboardInterrupt

    lines = []
    with pytest.raises(KeyboardInterrupt):
        run_batch(one, tmp_path / "b", workers=1, log=lines.append, progress=interrupt)
    said = [line for line in lines if line.startswith("interrupted")]
    assert said and said[0].startswith("interrupted after 1 of 1 recording; the report"), lines


def test_a_recordings_reader_warnings_are_in_its_report_rows(tmp_path):
    """h21b: `catrack batch` never said what the reader warns about a recording (a frame folder
    mixing kinds: a PNG preview left out), which `catrack info` and the loader show. Now the
    step that opens it has them in its report row (report.csv), once; the worker's warning
    line (stderr of another process: not checked here) says them too."""
    import numpy as np
    import tifffile
    from PIL import Image

    movie = tmp_path / "movie"
    movie.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        tifffile.imwrite(movie / f"f{i:02d}.tif", rng.integers(0, 1000, (32, 32), np.uint16))
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(movie / "preview.png")
    (tmp_path / "m.yaml").write_text(
        f"recordings:\n  - {{path: {movie}, name: rec, fps: 10, steps: [align]}}\n"
    )
    assert main(["batch", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]) == 0
    report = pd.read_csv(tmp_path / "out" / "report.csv")
    said = "only the 8 TIFF files are read as frames; left out: 1 file(s) (preview.png)"
    rows = report[report["message"].astype(str).str.contains(said, regex=False)]
    assert rows["step"].tolist() == ["align"], report.to_dict("records")  # once, not per step
