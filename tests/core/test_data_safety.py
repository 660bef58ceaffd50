"""Data safety where it is hardest (review 14): a full or failing disk during a save, a process
killed in the middle of one, two writers of one session, read-only and damaged files.

The promise under test: the file that was there before is left whole and readable, the user gets
one line, and a GUI keeps its results in memory so they can be saved elsewhere."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_catrack.errors import InputError
from napari_catrack.session import Session

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict:
    """A child process imports this checkout, as the test does."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
    return env


def _small_session(path: Path) -> bytes:
    s = Session(path)
    s.record("alignment", attrs={"dy": 1.0})
    return path.read_bytes()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".partial", ".old")))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file-size limit")
def test_a_full_disk_during_a_save_is_one_line_not_a_crash(tmp_path):
    """HDF5 did not survive a failed write: a save on a full disk (tmpfs of 2 MB, or a file-size
    limit as here) ended in a segmentation fault at the next flush, taking the process and every
    unsaved result with it, and left the half-written temp file filling the disk. Now: one line,
    the previous file as it was, the temp file removed, the results still in memory."""
    path = tmp_path / "s.catrack.h5"
    before = _small_session(path)
    script = textwrap.dedent(
        f"""
        import resource, signal, numpy as np
        from napari_catrack.errors import InputError
        from napari_catrack.session import Session
        s = Session.load({str(path)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails (EFBIG)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
        try:
            s.record("big", arrays={{"noise": np.random.default_rng(0).random((600, 600))}})
        except InputError as exc:
            print("error:", exc)
        print("in memory:", sorted(s.steps))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=_env(), timeout=120)  # fmt: skip
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stdout.splitlines()
    assert lines[0] == (f"error: cannot write {path}: File too large; the {path.name} already "
                        "there is left as it was"), lines  # fmt: skip
    assert lines[1] == "in memory: ['alignment', 'big']"
    assert path.read_bytes() == before
    assert set(Session.load(path).steps) == {"alignment"}
    assert _leftovers(tmp_path) == []


def _failing_writes(monkeypatch, after: int, err: int = errno.ENOSPC) -> list[int]:
    """Every HDF5 write fails (`err`) from the `after`-th on, as on a disk that fills up."""
    from napari_catrack.io import h5write

    calls = [0]
    real = h5write._write_at

    def write_at(fd, data, offset):
        calls[0] += 1
        if calls[0] > after:
            raise OSError(err, os.strerror(err))
        return real(fd, data, offset)

    monkeypatch.setattr(h5write, "_write_at", write_at)
    return calls


def _tracks() -> pd.DataFrame:
    return pd.DataFrame(
        {"neuron_id": ["a", "b"], "frame": [0, 1], "y": [1.0, 2.0], "x": [3.0, 4.0]}
    )


def _writers(tmp_path: Path):
    """(name, target, write) for every writer of HDF5 files: a failed write must leave target."""
    from napari_catrack.export.write import _write_array_h5, write_table_as
    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.sources import COMPONENT_COLUMNS, TRACE_COLUMNS, write_sources

    session_path = tmp_path / "s.catrack.h5"
    big = np.random.default_rng(0).random((300, 300))

    def save():
        s = Session.load(session_path)
        s.record("big", arrays={"noise": big})

    def write_step():
        Session.write_step(session_path, "alignment_cache", attrs={"dy": np.ones(50000).tolist()})

    def save_copy():
        s = Session.load(session_path)
        s.record("big", arrays={"noise": big}, save=False)
        s.save_copy(tmp_path / "copy.catrack.h5")

    def table():
        write_table_as(_tracks(), tmp_path / "tracks.h5", "h5")

    def array():
        _write_array_h5(big[None], tmp_path / "masks.h5", "masks")

    def sources():
        n = 3
        comps = pd.DataFrame({c: [1.0] * n for c in COMPONENT_COLUMNS})
        traces = pd.DataFrame({c: [0.0] for c in TRACE_COLUMNS})
        write_sources(tmp_path / "src", np.random.default_rng(1).random((n, 64, 64)), comps,
                      traces)  # fmt: skip

    def nwb():
        meta = {"session_start_time": "2024-05-01T10:00:00+02:00",
                "subject": {"subject_id": "w1", "species": "Caenorhabditis elegans"}}  # fmt: skip
        write_nwb(Session.load(session_path), tmp_path / "out.nwb", metadata=meta)

    return {"save": (save, session_path), "write_step": (write_step, session_path),
            "save_copy": (save_copy, tmp_path / "copy.catrack.h5"),
            "table": (table, tmp_path / "tracks.h5"), "array": (array, tmp_path / "masks.h5"),
            "sources": (sources, tmp_path / "src" / "footprints.h5"),
            "nwb": (nwb, tmp_path / "out.nwb")}  # fmt: skip


WRITERS = ["save", "write_step", "save_copy", "table", "array", "sources", "nwb"]


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("after", [0, 3], ids=["first write", "half way"])
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
def test_every_hdf5_writer_turns_a_failed_write_into_one_line_and_keeps_the_old_file(
    tmp_path, monkeypatch, writer, after, err
):
    """A write error (full disk, EIO) inside HDF5 is one `InputError` line naming the file and
    the reason; the file already there is byte for byte what it was; no temp file is left."""
    _small_session(tmp_path / "s.catrack.h5")
    write, target = _writers(tmp_path)[writer]
    if writer == "nwb":
        pytest.importorskip("pynwb")
    if not target.exists():  # a first version of the output, which must survive
        write()
    before = target.read_bytes()
    _failing_writes(monkeypatch, after, err)
    with pytest.raises(InputError) as info:
        write()
    line = str(info.value)
    assert "\n" not in line and f"cannot write {target}" in line, line
    assert os.strerror(err) in line and "left as it was" in line, line
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".partial")]


def test_a_save_that_ends_after_another_writer_replaced_the_file_goes_beside_it(tmp_path):
    """A GUI autosave takes seconds; a `catrack ... --session` step that records into the same
    file meanwhile used to be replaced by it (its step lost from the file, the command long
    gone). The file at the path is checked again once the new one is written, just before the
    replace: changed, the new file goes beside it (and autosave follows it), with one line."""
    from napari_catrack.session import SessionFileChanged

    path = tmp_path / "movie.catrack.h5"
    _small_session(path)
    gui = Session.load(path)
    gui.record("tracks", tables={"tracks": _tracks()}, save=False)
    real, others = Session._write, []

    def command_writes_meanwhile(self, f, target, arrays=None):
        real(self, f, target, arrays)
        if target == path and not others:  # while the GUI's temp file is written
            others.append(Session.write_step(path, "alignment_cache", attrs={"dy": 2.0}))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Session, "_write", command_writes_meanwhile)
        with pytest.warns(
            SessionFileChanged, match="movie.catrack.h5 was changed on disk.*movie-2"
        ):
            saved = gui.save()
    assert others == [True]
    assert set(Session.load(path).steps) == {"alignment", "alignment_cache"}
    assert saved == gui.path == tmp_path / "movie-2.catrack.h5"
    assert set(Session.load(saved).steps) == {"alignment", "tracks"}
    assert _leftovers(tmp_path) == []


def test_a_command_that_saves_while_the_gui_saved_keeps_both(tmp_path):
    """The other order: a command's `--session` save (`SessionTarget.save`) whose write ends
    after a GUI autosave replaced the file; the GUI's results must stay in the file."""
    from napari_catrack.commands._common import SessionTarget
    from napari_catrack.session import SessionFileChanged

    path = tmp_path / "movie.catrack.h5"
    _small_session(path)
    target = SessionTarget(path, Session.load(path, lazy_arrays=True), None, "track")
    target.record(lambda s, save: s.record("tracks", tables={"tracks": _tracks()}, save=save))
    gui = Session.load(path)
    real, done = Session._write, []

    def gui_saves_meanwhile(self, f, dest, arrays=None):
        real(self, f, dest, arrays)
        if self is not gui and dest == path and not done:  # while the command's file is written
            done.append(1)
            gui.record("settings", attrs={"fps": 5.0})

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Session, "_write", gui_saves_meanwhile)
        with pytest.warns(SessionFileChanged, match="movie-2"):
            target.save()
    assert set(Session.load(path).steps) == {"alignment", "settings"}
    assert set(Session.load(tmp_path / "movie-2.catrack.h5").steps) == {"alignment", "tracks"}


def _run_hooked(point: str, n: int, argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core._kill_hook", point, str(n), "--", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=cwd,
    )  # fmt: skip


def _kill_when_paused(proc: subprocess.Popen) -> None:
    """SIGKILL the child once it stands at its pause point (it says so on stdout)."""
    for line in proc.stdout:
        if line.strip() == "paused":
            break
    else:
        proc.wait()
        pytest.fail(f"never reached the pause point (rc {proc.returncode}): {proc.stderr.read()}")
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()


def _traces_csv(path: Path) -> Path:
    frames = np.arange(200)
    rows = [pd.DataFrame({"neuron_id": nid, "frame": frames,
                          "dff": np.where((frames - peak) % 60 < 5, 1.0, 0.0)})
            for nid, peak in (("a", 20), ("b", 45))]  # fmt: skip
    pd.concat(rows).to_csv(path, index=False)
    return path


def _snapshot(paths: list[Path]) -> dict[str, bytes]:
    files = [q for p in paths for q in ([p] if p.is_file() else sorted(p.rglob("*")))]
    return {str(q): q.read_bytes() for q in files if q.is_file() and not q.name.startswith(".")}


def _kill_cases(tmp: Path) -> dict:
    """name: (argv, what must survive, a check of the run's own result). Each starts from a
    session (and earlier outputs) that the killed run would have replaced."""
    session = tmp / "s.catrack.h5"
    big = "np.random.default_rng(0).random((200, 200))"
    gui = (f"import numpy as np; from napari_catrack.session import Session; "
           f"Session.load({str(session)!r}).record('big', arrays={{'noise': {big}}})")  # fmt: skip
    step = (f"from napari_catrack.session import Session; "
            f"assert Session.write_step({str(session)!r}, 'cache', attrs={{'dy': 2.0}})")  # fmt: skip
    transients = ["transients", str(_traces_csv(tmp / "traces.csv")), "--fps", "10",
                  "--method", "ksigma", "-o", str(tmp / "t.csv"), "--session", str(session)]  # fmt: skip
    export = ["export", str(session), "-o", str(tmp / "export"), "--table-format", "h5"]
    meta = tmp / "meta.yaml"
    meta.write_text("session_start_time: 2024-05-01T10:00:00+02:00\n"
                    "subject: {subject_id: w1, species: Caenorhabditis elegans}\n")  # fmt: skip
    nwb = ["export-nwb", str(session), "-o", str(tmp / "out.nwb"), "--metadata", str(meta),
           "--no-prompt"]  # fmt: skip
    steps = lambda: set(Session.load(session).steps)  # noqa: E731
    return {
        "GUI autosave (Session.save)": (["-c", gui], [session], lambda: "big" in steps()),
        "catrack align's cache (write_step)": (["-c", step], [session], lambda: "cache" in steps()),
        "catrack transients --session": (transients, [session], lambda: "transients" in steps()),
        "catrack export": (export, [tmp / "export"], lambda: (tmp / "export").is_dir()),
        "catrack export-nwb": (nwb, [tmp / "out.nwb"], lambda: (tmp / "out.nwb").is_file()),
    }


KILL_CASES = ["GUI autosave (Session.save)", "catrack align's cache (write_step)",
              "catrack transients --session", "catrack export", "catrack export-nwb"]  # fmt: skip


@pytest.mark.parametrize("point", ["h5", "replace"], ids=["half written", "before the rename"])
@pytest.mark.parametrize("case", KILL_CASES)
def test_a_writer_killed_mid_save_leaves_the_previous_files_whole_and_the_next_run_works(
    tmp_path, case, point
):
    """SIGKILL (nothing can clean up) at a chosen point of every kind of write: half of the
    HDF5 temp file written, or every temp file finished just before the rename. The files that
    were there before are byte for byte the same and load; the temp files the kill left are
    hidden `.partial` files that the next run ignores (and removes a day later)."""
    if "nwb" in case:
        pytest.importorskip("pynwb")
    session = tmp_path / "s.catrack.h5"
    s = Session(session)
    s.record("settings", attrs={"fps": 10.0})
    s.record("tracks", tables={"tracks": _tracks()})
    s.record("traces", tables={"traces": pd.DataFrame({"neuron_id": ["a"] * 3, "frame": [0, 1, 2],
                                                        "dff": [0.0, 1.0, 0.0]})})  # fmt: skip
    argv, kept, done = _kill_cases(tmp_path)[case]
    if "export" in case:  # an earlier export, which the killed one must not damage
        first = _run_hooked("none", 0, argv, REPO)
        assert first.wait(timeout=300) == 0, first.stderr.read()
    before = _snapshot(kept)
    _kill_when_paused(_run_hooked(point, 3, argv, REPO))
    assert _snapshot(kept) == before
    if session.exists():
        Session.load(session)  # whole and readable
    if point != "h5":
        return  # the run after a half-written temp file is the one worth checking
    again = _run_hooked("none", 0, argv, REPO)  # the same command, with the kill's leftovers
    _out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert done()
    hidden = [p for p in tmp_path.rglob(".*") if p.is_file()]
    assert all(p.name.endswith(".partial") for p in hidden), hidden


def _bad_session(kind: str, path: Path, monkeypatch) -> None:
    """A session file the user cannot or must not have written over."""
    import h5py

    from napari_catrack.session import SCHEMA_VERSION

    s = Session(path)
    s.record("settings", attrs={"fps": 10.0})
    s.record("traces", tables={"traces": pd.DataFrame({"neuron_id": ["a"], "frame": [0],
                                                        "dff": [0.0]})})  # fmt: skip
    if kind == "newer version":
        with h5py.File(path, "a") as f:
            f.attrs["schema_version"] = SCHEMA_VERSION + 1
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "read-only file":
        path.chmod(0o444)
    elif kind == "read-only folder":  # root ignores chmod: creating a file there fails, as on a
        import tempfile  # read-only share

        real = tempfile.mkstemp

        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == path.parent:
                raise OSError(errno.EROFS, "Read-only file system")
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


BAD = {
    "newer version": "was written by a newer napari-catrack",
    "truncated": "not a readable napari-catrack session",
    "read-only file": "read-only",
    "read-only folder": "Read-only file system",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_a_session_that_must_not_be_written_is_one_line_everywhere_and_left_as_it_was(
    tmp_path, monkeypatch, capsys, kind
):
    """A session from a newer version, one truncated on disk, a read-only one, one in a
    read-only folder: recording a step into it from a command (`--session`, and `write_step`'s
    cache) is one line naming the problem, exit 2, and the file is byte for byte what it was;
    in Python (the GUI's autosave without a viewer) it is one `InputError`."""
    from napari_catrack.cli import main

    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "s.catrack.h5"
    traces = _traces_csv(tmp_path / "traces.csv")
    _bad_session(kind, path, monkeypatch)
    before = path.read_bytes()
    argv = ["transients", str(traces), "--fps", "10", "--method", "ksigma",
            "-o", str(tmp_path / "t.csv"), "--session", str(path)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("catrack: error:") and "\n" not in err and BAD[kind] in err, err
    with pytest.raises(InputError, match=BAD[kind]):
        Session.write_step(path, "cache", attrs={"dy": 1.0})
    if kind == "read-only folder":  # it loads; its autosave cannot be written
        s = Session.load(path)
        with pytest.raises(InputError, match=f"{BAD[kind]}; the s.catrack.h5 already there is"):
            s.record("cache", attrs={"dy": 1.0})
        assert "cache" in s.steps
    elif kind != "read-only file":  # (read-only file: its autosave goes beside, test_session)
        with pytest.raises(InputError, match=BAD[kind]):
            Session.load(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["s.catrack.h5"]


def test_a_session_open_for_writing_in_another_program_is_never_replaced(tmp_path, capsys):
    """HDFView or a notebook holds the session open with h5py 'r+' (HDF5's file lock). Reading
    it is one line saying so (test_session); a command recording into it refuses in one line;
    and a viewer's autosave, which used to rename its new file over it (the other program's
    later writes then went to a file no longer there), goes beside it and says why."""
    from napari_catrack.cli import main
    from napari_catrack.session import SessionFileChanged

    from ._session_helpers import held_for_writing

    path = tmp_path / "movie.catrack.h5"
    _small_session(path)
    gui = Session.load(path)
    traces = _traces_csv(tmp_path / "traces.csv")
    with held_for_writing(path):
        before = path.read_bytes()
        argv = ["transients", str(traces), "--fps", "10", "--method", "ksigma",
                "-o", str(tmp_path / "t.csv"), "--session", str(path)]  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "in use by another program" in err and "\n" not in err, err
        with pytest.raises(InputError, match="in use by another program"):
            Session.write_step(path, "cache", attrs={"dy": 1.0})
        with pytest.warns(SessionFileChanged, match="open for writing in another program.*movie-2"):
            gui.record("tracks", tables={"tracks": _tracks()})
        assert path.read_bytes() == before
    assert set(Session.load(path).steps) == {"alignment"}
    assert set(Session.load(tmp_path / "movie-2.catrack.h5").steps) == {"alignment", "tracks"}


def test_hdf5_writes_work_without_pread_and_pwrite(tmp_path, monkeypatch):
    """Windows has no os.pread/os.pwrite: `h5_writer` seeks and reads/writes instead."""
    monkeypatch.delattr(os, "pread", raising=False)
    monkeypatch.delattr(os, "pwrite", raising=False)
    path = tmp_path / "s.catrack.h5"
    s = Session(path)
    big = np.random.default_rng(0).random((300, 300))
    s.record("big", arrays={"noise": big}, tables={"tracks": _tracks()})
    Session.write_step(path, "cache", attrs={"dy": 2.0})
    monkeypatch.undo()
    back = Session.load(path)
    assert np.array_equal(back["big"].arrays["noise"], big)
    assert back["cache"].attrs["dy"] == 2.0
    pd.testing.assert_frame_equal(back["big"].tables["tracks"], _tracks(), check_dtype=False)


@pytest.mark.parametrize("budget", [20_000, 60_000])
def test_a_disk_that_fills_early_in_a_save_of_text_columns_is_one_line_not_a_crash(
    tmp_path, budget
):
    """Writes dropped after a full disk read back as zeros: HDF5 2.0 segfaulted in
    create_dataset when a block it had written (the text columns' global heap) came back as
    zeros (a 2 MB tmpfs and `catrack transients --session` on the demo's session: rc -11).
    Dropped writes up to 1 MiB (HDF5's metadata) are kept in memory and read back."""
    path = tmp_path / "s.catrack.h5"
    script = textwrap.dedent(
        f"""
        import errno, numpy as np, pandas as pd
        from napari_catrack.errors import InputError
        from napari_catrack.io import h5write
        from napari_catrack.session import Session
        s = Session({str(path)!r})
        rng = np.random.default_rng(0)
        for k in range(8):
            tables = {{}}
            for j in range(4):
                table = pd.DataFrame(rng.random((2000, 6)), columns=list("abcdef"))
                table["name"] = [f"n{{i % 37}}" for i in range(2000)]  # text: a global heap
                tables[f"t{{j}}"] = table
            s.record(f"step{{k}}", tables=tables, params={{"p": k, "s": "x" * 20}})
        real = h5write._write_at
        def write_at(fd, data, offset):
            if offset + len(data) > {budget}:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(fd, data, offset)
        h5write._write_at = write_at
        try:
            s.record("more", attrs={{"x": 1}})
        except InputError as exc:
            print("error:", exc)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=_env(), timeout=120)  # fmt: skip
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.splitlines()[-1].endswith("No space left on device; the s.catrack.h5 "
                                                 "already there is left as it was")  # fmt: skip
    assert "more" not in Session.load(path).steps
    assert _leftovers(tmp_path) == []


def test_a_write_dropped_after_a_full_disk_reads_back_as_written(tmp_path, monkeypatch):
    """HDF5 reads back blocks it wrote (its metadata cache evicts them): after a full disk the
    dropped writes read back as zeros, which HDF5 2.0 parsed into a segfault (flaky, at random
    budgets: the `catrack transients --session` run on a 2 MB tmpfs). They read back as written."""
    from napari_catrack.io import h5write
    from napari_catrack.io.h5write import _Unfailing

    real = h5write._write_at

    def write_at(fd, data, offset):
        if offset + len(data) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(h5write, "_write_at", write_at)
    raw = _Unfailing(tmp_path / "f.h5", truncate=True)
    try:
        raw.seek(0)
        assert raw.write(b"a" * 80) == 80
        assert raw.write(b"b" * 40) == 40  # 20 fit, 20 fail: the disk is full
        raw.seek(300)
        assert raw.write(b"heap" * 10) == 40  # dropped
        assert raw.error is not None and raw.error.errno == errno.ENOSPC
        raw.seek(60)
        assert raw.read(60) == b"a" * 20 + b"b" * 40
        raw.seek(290)
        assert raw.read(60) == bytes(10) + b"heap" * 10
    finally:
        raw.close()


_SET = """
from pathlib import Path
from napari_catrack.io.atomic import atomic_write_path, atomic_write_set
out = Path({out!r})
with atomic_write_set():  # one result of three files, one of them in a subfolder
    for name in ("a.csv", "b.csv", "sub/c.csv"):
        with atomic_write_path(out / name) as tmp:
            tmp.write_text(name + " new\\n" * 1000)
"""


@pytest.mark.parametrize("where", [".", "sub"], ids=["next write beside", "in the subfolder"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_a_set_killed_between_its_renames_is_finished_by_the_next_write_there(tmp_path, n, where):
    """SIGKILL before the n-th of the six renames that place a set of three files over an older
    set (each older file moved aside to a hidden `.old`, then the new one placed): a target
    could be missing (its only copy a hidden `.old`), old and new files side by side, `.old`
    files left for good. The next write into any folder of the set finishes it from the
    journal: every file is the new one, whole, and nothing hidden is left."""
    out = tmp_path / "out"
    names = ("a.csv", "b.csv", "sub/c.csv")
    (out / "sub").mkdir(parents=True)
    for name in names:
        (out / name).write_text(name + " old\n")
    _kill_when_paused(_run_hooked("rename", n, ["-c", _SET.format(out=str(out))], REPO))
    backups = [p for p in out.rglob(".*") if p.name.endswith(".old")]
    assert len(backups) == n // 2  # what the kill left: older files moved aside, hidden
    nxt = ("from pathlib import Path; from napari_catrack.io.atomic import write_text_atomic; "
           f"write_text_atomic(Path({str(out / where / 'other.txt')!r}), 'x')")  # fmt: skip
    again = _run_hooked("none", 0, ["-c", nxt], REPO)
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    for name in names:
        assert (out / name).read_text() == name + " new\n" * 1000, name
    assert [p.name for p in out.rglob(".*")] == []  # no `.old`, journal or temp file left


def _open_session(out: Path) -> None:
    Session.load(out / "s.catrack.h5")


def _session_info(out: Path) -> None:  # `catrack info SESSION`
    Session.read_provenance(out / "s.catrack.h5")


def _read_a_table(out: Path) -> None:  # a CSV opened in a widget or by a command
    from napari_catrack.io.tables import read_table

    read_table(out / "a.csv")


def _command_inputs(out: Path) -> None:  # every command checks its inputs before reading them
    from napari_catrack.io.output_check import check_outputs

    check_outputs({"-o": out.parent / "result.csv"}, {"TRACES": out / "sub" / "c.csv"})


def _open_recording(out: Path) -> None:  # the napari reader, the Load recording widget
    from napari_catrack.io.recording import open_recording

    open_recording(out / "movie.tif")


@pytest.mark.parametrize(
    "read", [_open_session, _session_info, _read_a_table, _command_inputs, _open_recording]
)
@pytest.mark.parametrize("n", [2, 5], ids=["a target missing", "two of three new"])
def test_a_set_killed_between_its_renames_is_finished_when_its_folder_is_only_read(
    tmp_path, n, read
):
    """A folder that nothing writes into again (a finished analysis, an export) kept a set as
    the kill left it: a target missing with its only copy a hidden `.old`, or new files beside
    older ones, and `.old` backups for good; whoever opened it read that mix. Now opening or
    reading from the folder (a session, a table, a recording, a command's inputs) finishes the
    set first: every file is the new one, whole, and nothing hidden is left."""
    import tifffile

    out = tmp_path / "out"
    names = ("a.csv", "b.csv", "sub/c.csv")
    (out / "sub").mkdir(parents=True)
    for name in names:
        (out / name).write_text(name + " old\n")
    _small_session(out / "s.catrack.h5")
    tifffile.imwrite(out / "movie.tif", np.zeros((20, 16, 16), np.uint16))
    _kill_when_paused(_run_hooked("rename", n, ["-c", _SET.format(out=str(out))], REPO))
    assert [p.name for p in out.rglob(".*") if p.name.endswith(".old")]  # the kill's leftovers
    read(out)
    for name in names:
        assert (out / name).read_text() == name + " new\n" * 1000, name
    assert [p.name for p in out.rglob(".*")] == []  # no `.old`, journal or temp file left


def test_a_read_from_a_folder_it_cannot_change_reads_it_as_it_is(tmp_path, monkeypatch):
    """Recovery on a read never makes the read fail: where it cannot remove a backup (a
    read-only folder refuses it) the journal is left and the session opens."""
    from napari_catrack.io import atomic

    _small_session(tmp_path / "s.catrack.h5")
    (tmp_path / "a.csv").write_text("new\n")
    (tmp_path / ".a.csv.12345678.old").write_text("old\n")
    files = [{"temp": str(tmp_path / ".a.csv.x.partial"), "target": str(tmp_path / "a.csv"),
              "backup": str(tmp_path / ".a.csv.12345678.old")}]  # fmt: skip
    journal = _journal(tmp_path, files, _dead_pid())
    tried = []

    def refused(path):
        tried.append(path.name)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(atomic, "_remove_path", refused)
    assert set(Session.load(tmp_path / "s.catrack.h5").steps) == {"alignment"}
    assert tried == [".a.csv.12345678.old"]  # recovery ran, and failed
    assert journal.exists() and (tmp_path / ".a.csv.12345678.old").exists()


def test_a_journal_of_a_running_set_is_left_alone_and_an_only_copy_is_never_deleted(tmp_path):
    """Recovery never races a process still renaming its set (its pid alive), and a target whose
    temp file is gone and which is missing gets its older file back from the backup."""
    import json

    from napari_catrack.io import atomic

    backup = tmp_path / ".a.csv.1234abcd.old"
    backup.write_text("the only copy\n")
    journal = tmp_path / ".catrack-set.0123456789ab.journal"
    files = [{"temp": str(tmp_path / ".a.csv.x.partial"), "target": str(tmp_path / "a.csv"),
              "backup": str(backup)}]  # fmt: skip
    record = {"pid": os.getpid(), "host": __import__("socket").gethostname(),
              "journals": [str(journal)], "files": files}  # fmt: skip
    journal.write_text(json.dumps(record))
    atomic._OWN_JOURNALS.add(journal)  # this process: renaming now
    try:
        assert atomic.recover_interrupted_sets(tmp_path) == []
    finally:
        atomic._OWN_JOURNALS.discard(journal)
    assert journal.exists() and backup.exists()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        journal.write_text(json.dumps({**record, "pid": live.pid}))
        assert atomic.recover_interrupted_sets(tmp_path) == []  # another process, running
    finally:
        live.kill()
        live.wait()
    assert journal.exists() and backup.exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    journal.write_text(json.dumps({**record, "pid": dead.pid}))
    assert atomic.recover_interrupted_sets(tmp_path) == [tmp_path / "a.csv"]
    assert (tmp_path / "a.csv").read_text() == "the only copy\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def _journal(folder: Path, files: list[dict], pid: int, journals: list[str] | None = None) -> Path:
    """A journal as `_place_all` writes it, of the set `files` ({temp, target, backup})."""
    import json
    import socket

    journal = folder / ".catrack-set.0123456789ab.journal"
    record = {"pid": pid, "host": socket.gethostname(), "files": files,
              "journals": journals if journals is not None else [str(journal)]}  # fmt: skip
    journal.write_text(json.dumps(record))
    return journal


def _dead_pid() -> int:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_a_journal_of_an_earlier_run_with_this_pid_is_finished(tmp_path):
    """A process killed between its renames, then run again with the same pid (a container's
    process always gets the same number; pids restart after a reboot): its journal is not
    "another thread of this process renaming now", it is finished (it was left for good)."""
    from napari_catrack.io import atomic

    tmp = tmp_path / ".a.csv.x1.partial"
    tmp.write_text("new\n")
    (tmp_path / "a.csv").write_text("old\n")
    files = [{"temp": str(tmp), "target": str(tmp_path / "a.csv"),
              "backup": str(tmp_path / ".a.csv.1234abcd.old")}]  # fmt: skip
    _journal(tmp_path, files, os.getpid())
    assert atomic.recover_interrupted_sets(tmp_path) == [tmp_path / "a.csv"]
    assert (tmp_path / "a.csv").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_a_late_recovery_never_puts_an_older_set_over_a_newer_file(tmp_path):
    """A journal finished only long after (its pid looked alive meanwhile): the folder's file was
    written again after the set; the set's temp file is older and is dropped, not renamed over
    the newer result."""
    from napari_catrack.io import atomic

    tmp = tmp_path / ".a.csv.x1.partial"
    tmp.write_text("the interrupted run\n")
    files = [{"temp": str(tmp), "target": str(tmp_path / "a.csv"),
              "backup": str(tmp_path / ".a.csv.1234abcd.old")}]  # fmt: skip
    journal = _journal(tmp_path, files, _dead_pid())
    old = journal.stat().st_mtime - 600
    os.utime(journal, (old, old))
    os.utime(tmp, (old - 1, old - 1))
    (tmp_path / "a.csv").write_text("a newer run\n")  # written after the journal
    atomic.recover_interrupted_sets(tmp_path)
    assert (tmp_path / "a.csv").read_text() == "a newer run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_a_file_restored_after_a_kill_is_never_replaced_when_its_folder_is_read(tmp_path):
    """Killed after moving a.csv aside, before its new copy was placed; the user then restored
    a.csv from their own copy with `shutil.copy2` (as `cp -p`, `rsync -a`: the old mtime kept).
    Merely reading the folder used to replace it with the killed run's temp file (judged by
    mtime, "older than the journal"), no copy kept. The restored file is kept; the rest of the
    set is finished."""
    import shutil

    from napari_catrack.io.tables import read_table

    out = tmp_path / "out"
    names = ("a.csv", "b.csv", "sub/c.csv")
    (out / "sub").mkdir(parents=True)
    for name in names:
        (out / name).write_text(name + " old\n")
    mine = tmp_path / "my-backup.csv"
    mine.write_text("x,y\n1,2\n")  # the user's own copy, a day old
    os.utime(mine, (mine.stat().st_atime - 86400, mine.stat().st_mtime - 86400))
    _kill_when_paused(_run_hooked("rename", 2, ["-c", _SET.format(out=str(out))], REPO))
    assert not (out / "a.csv").exists()  # moved aside, its new copy not yet placed
    shutil.copy2(mine, out / "a.csv")
    assert list(read_table(out / "a.csv").columns) == ["x", "y"]  # the user's file, read
    assert (out / "a.csv").read_text() == "x,y\n1,2\n"  # and kept
    for name in names[1:]:
        assert (out / name).read_text() == name + " new\n" * 1000, name
    assert [p.name for p in out.rglob(".*")] == []  # no `.old`, journal or temp file left


def test_where_change_times_look_unreliable_the_mtime_rule_is_used_and_said(tmp_path):
    """A share or FUSE file system that reports another time as the change time (its ctimes run
    ahead of the mtimes of files nobody changed) made every target look written after the
    journal: the killed save was never finished (its new copies dropped, the set left mixed).
    The journal itself shows it (never changed after it was written, its ctime is an hour past
    its mtime): files there are judged by mtime, the rule before h16, and that is said once."""
    import time
    import warnings

    from napari_catrack.io import atomic

    target, tmp = tmp_path / "a.csv", tmp_path / ".a.csv.x1.partial"
    target.write_text("old\n")  # not yet moved by the killed save
    tmp.write_text("new\n")
    files = [{"temp": str(tmp), "target": str(target),
              "backup": str(tmp_path / ".a.csv.1234abcd.old")}]  # fmt: skip
    journal = _journal(tmp_path, files, _dead_pid())
    hour_ago = time.time() - 3600
    for path, when in ((target, hour_ago - 2), (tmp, hour_ago - 1), (journal, hour_ago)):
        os.utime(path, (when, when))  # each one's ctime now stays now: an hour ahead
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert atomic.recover_interrupted_sets(tmp_path) == [target]
    notes = [str(w.message) for w in caught if issubclass(w.category, atomic.RecoveryNote)]
    assert len(notes) == 1 and "change times there look unreliable" in notes[0], notes
    assert target.read_text() == "new\n"  # the save finished
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_two_recoveries_of_one_set_at_once_never_delete_a_movie(tmp_path, monkeypatch):
    """Two recoverers of one set at once (napari opening a session while a command reads the
    same folder): the first, past its check that the temp folder is there, used to see the
    target folder the second had just placed and rmtree it as the "old" movie, after the second
    had deleted the backup: both copies gone. Here the second runs inside the first's check; it
    now finds the set locked and skips, and the first places the movie whole."""
    from napari_catrack.io import atomic

    movie = tmp_path / "movie.zarr"
    tmp, backup = tmp_path / ".movie.zarr.x1.partial", tmp_path / ".movie.zarr.1234abcd.old"
    for folder, text in ((tmp, "new"), (backup, "old")):  # killed after moving the old aside
        (folder / "0").mkdir(parents=True)
        (folder / "0" / "chunk").write_text(text)
    files = [{"temp": str(tmp), "target": str(movie), "backup": str(backup)}]
    _journal(tmp_path, files, _dead_pid())
    real_is_dir, second = Path.is_dir, []

    def is_dir(self):  # the other recoverer runs between the first one's two checks
        if self == movie and not second:
            second.append(None)  # (once: not again inside the second)
            second[0] = atomic.recover_interrupted_sets(tmp_path)
        return real_is_dir(self)

    monkeypatch.setattr(Path, "is_dir", is_dir)
    placed = atomic.recover_interrupted_sets(tmp_path)
    monkeypatch.undo()
    assert (movie / "0" / "chunk").read_text() == "new"  # (before: no movie, no backup)
    assert placed == [movie] and second == [[]]  # the second skipped: the first holds the set
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.zarr"]


@pytest.mark.skipif(os.name == "nt", reason="flock: the POSIX lock")
def test_a_set_another_process_is_recovering_is_left_to_it_until_it_dies(tmp_path):
    """Another process holds the set's lock (it is recovering it now): this one leaves the set
    alone; once that process is killed (the lock dies with it) the set is finished here."""
    from napari_catrack.io import atomic

    tmp = tmp_path / ".a.csv.x1.partial"
    tmp.write_text("new\n")
    backup = tmp_path / ".a.csv.1234abcd.old"
    backup.write_text("old\n")  # a.csv moved aside, its new copy not yet placed
    files = [{"temp": str(tmp), "target": str(tmp_path / "a.csv"), "backup": str(backup)}]
    journal = _journal(tmp_path, files, _dead_pid())
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY);"
         " fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
         str(journal)], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert atomic.recover_interrupted_sets(tmp_path) == []
        assert journal.exists() and tmp.exists() and backup.exists()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert atomic.recover_interrupted_sets(tmp_path) == [tmp_path / "a.csv"]
    assert (tmp_path / "a.csv").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


@pytest.mark.parametrize("which", ["backup", "temp", "copied"])
def test_a_journal_never_renames_or_deletes_a_file_it_did_not_write(tmp_path, which):
    """A journal naming a user's file as a set's backup or temp file (edited, or written by
    something else), or copied with its folder from elsewhere (its paths name the other
    folder's files): recovery leaves every file as it is."""
    from napari_catrack.io import atomic

    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    folder = elsewhere if which == "copied" else here
    user = folder / "notes.txt"
    user.write_text("the user's notes\n")
    (folder / "a.csv").write_text("a\n")
    tmp, backup = folder / ".a.csv.x1.partial", folder / ".a.csv.1234abcd.old"
    if which == "copied":  # the other folder's own set, properly named: not this folder's
        tmp.write_text("the other folder's interrupted run\n")
        user = tmp
    files = [{"temp": str(user if which == "temp" else tmp), "target": str(folder / "a.csv"),
              "backup": str(user if which == "backup" else backup)}]  # fmt: skip
    listed = [str(elsewhere / ".catrack-set.0123456789ab.journal")] if which == "copied" else None
    journal = _journal(here, files, _dead_pid(), listed)
    assert atomic.recover_interrupted_sets(here) == []
    assert (folder / "notes.txt").read_text() == "the user's notes\n"
    assert (folder / "a.csv").read_text() == "a\n"
    assert user.exists()
    assert journal.exists()  # left as it is: not this folder's set


def test_a_journal_that_cannot_be_written_places_nothing_and_leaves_nothing(tmp_path, monkeypatch):
    """The journal cannot be written (a full disk; here its temp name is taken by a folder):
    the set is refused in one line before any rename, its temp files removed, no journal left
    (the next write would place the set the user was told failed)."""
    import uuid

    from napari_catrack.io import atomic

    fixed = uuid.UUID(int=0xABC)
    monkeypatch.setattr(atomic.uuid, "uuid4", lambda: fixed)
    (tmp_path / f".catrack-set.{fixed.hex[:12]}.journal.partial").mkdir()
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("old\n")
    with pytest.raises(InputError, match="none of the files of this result was replaced"):
        with atomic.atomic_write_set():
            for name in ("a.csv", "b.csv"):
                with atomic.atomic_write_path(tmp_path / name) as tmp:
                    tmp.write_text("new\n")
    assert [(tmp_path / n).read_text() for n in ("a.csv", "b.csv")] == ["old\n", "old\n"]
    left = sorted(p.name for p in tmp_path.iterdir() if not p.is_dir())
    assert left == ["a.csv", "b.csv"]


class _Killed(BaseException):
    """Stands for a SIGKILL between two renames: nothing of the set's own cleanup runs."""


@pytest.mark.parametrize("name", ["a" * 236 + ".csv", "中" * 80 + ".csv"])
def test_a_set_with_a_name_near_the_255_limit_is_finished_after_a_kill(tmp_path, monkeypatch, name):
    """Temp and backup names beside a target cut its name to 200 bytes (`short_name`); the
    recovery's check that a journal names only this module's files of each target must cut it
    the same way, or a long-named set killed between its renames is never finished (its target
    left missing or old, its temp file and journal left for good)."""
    from napari_catrack.io import atomic

    targets = [tmp_path / name, tmp_path / "b.csv"]
    for path in targets:
        path.write_text("old\n", encoding="utf-8")
    real, calls = atomic._rename, []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the first target moved aside, its new file not yet in place
            raise _Killed
        real(src, dst)

    monkeypatch.setattr(atomic, "_rename", rename)
    with pytest.raises(_Killed):
        with atomic.atomic_write_set():
            for path in targets:
                atomic.write_text_atomic(path, "new\n")
    monkeypatch.setattr(atomic, "_rename", real)
    assert not targets[0].exists()  # half placed, as a SIGKILL leaves it
    assert atomic.recover_interrupted_sets(tmp_path) == targets
    assert [p.read_text(encoding="utf-8") for p in targets] == ["new\n", "new\n"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in targets)


def test_an_atomic_write_lists_its_folder_once(tmp_path, monkeypatch):
    """Every atomic write looks in its folder for a set to finish and for its own stale temp
    files: two listings, ~10 ms each in a folder of 5,000 files (a TIFF sequence's), per write.
    One listing serves both now; what they do is unchanged (a stale temp file removed, a
    journal of a dead writer finished)."""
    from napari_catrack.io import atomic

    stale = tmp_path / ".out.txt.abcdefgh.partial"
    stale.write_text("killed write")
    os.utime(stale, (0, 0))  # untouched for decades
    (tmp_path / "a.csv").write_text("new\n")
    backup = tmp_path / ".a.csv.12345678.old"
    backup.write_text("old\n")
    files = [{"temp": str(tmp_path / ".a.csv.x.partial"), "target": str(tmp_path / "a.csv"),
              "backup": str(backup)}]  # fmt: skip
    journal = _journal(tmp_path, files, _dead_pid())
    listed = []
    real_scandir, real_listdir = os.scandir, os.listdir

    def scandir(path="."):
        listed.append(Path(path))
        return real_scandir(path)

    def listdir(path="."):
        listed.append(Path(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    atomic.write_text_atomic(tmp_path / "out.txt", "x")
    monkeypatch.undo()
    assert listed == [tmp_path]
    assert not stale.exists() and not journal.exists() and not backup.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "out.txt"]
