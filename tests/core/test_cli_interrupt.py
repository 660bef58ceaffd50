"""A stopped or failing command leaves no temp file and no mixed set of outputs (review 7, scale:
SIGTERM left `.NAME.XXXX.partial` files; an interrupted `catrack summary` left new mean/max
images beside an older run's std/correlation/pnr), and an unwritable output folder is refused
before any work."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_catrack.cli import main
from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path, atomic_write_set, write_text_atomic

SRC = Path(__file__).resolve().parents[2] / "src"
SUMMARY_FILES = ("mean.tif", "max.tif", "std.tif", "correlation.tif", "pnr.tif")


def _movie(path: Path) -> Path:
    rng = np.random.default_rng(0)
    tifffile.imwrite(path, rng.normal(100, 5, (40, 24, 24)).astype(np.float32))
    return path


def _old_set(folder: Path, names) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(f"older run's {name}".encode())
    return {name: (folder / name).read_bytes() for name in names}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _summary_child(code: str, rec, out) -> subprocess.Popen:
    """`catrack summary REC -o OUT` in a child Python, after `code` (which patches a writer)."""
    code += (
        "from napari_catrack.cli import main\n"
        f"sys.exit(main(['summary', {str(rec)!r}, '-o', {str(out)!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)  # fmt: skip


def test_a_set_is_replaced_whole_or_not_at_all(tmp_path):
    old = _old_set(tmp_path, ("a.txt", "b.txt", "c.txt"))
    with pytest.raises(RuntimeError, match="third"):
        with atomic_write_set():
            write_text_atomic(tmp_path / "a.txt", "new a")
            write_text_atomic(tmp_path / "b.txt", "new b")
            with atomic_write_path(tmp_path / "c.txt") as tmp:
                tmp.write_text("half of c")
                raise RuntimeError("the third file failed")
    assert {n: (tmp_path / n).read_bytes() for n in old} == old
    assert _leftovers(tmp_path) == []
    with atomic_write_set():
        write_text_atomic(tmp_path / "a.txt", "new a")
        with atomic_write_set():  # a nested set joins the outer one
            write_text_atomic(tmp_path / "b.txt", "new b")
        assert (tmp_path / "b.txt").read_bytes() == old["b.txt"]  # not before the end
    assert (tmp_path / "a.txt").read_text() == "new a"
    assert (tmp_path / "b.txt").read_text() == "new b"
    assert _leftovers(tmp_path) == []


def test_a_rename_failing_at_the_end_puts_the_older_set_back(tmp_path, monkeypatch):
    """The renames at the end are all or none too: a target that cannot be replaced (a file held
    open in Excel on Windows, a permission) leaves the whole older set, not new files beside old
    ones (code review 7: footprints from run 2 beside traces from run 1)."""
    import napari_catrack.io.atomic as atomic

    old = _old_set(tmp_path, ("a.txt", "b.txt", "c.txt"))
    real_replace = os.replace

    def held_open(src, dst):
        if Path(dst).name == "c.txt" or Path(src).name == "c.txt":
            raise PermissionError(errno.EACCES, "Permission denied", str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", held_open)
    with pytest.raises(InputError, match=r"c\.txt.*none of the files of this result was replaced"):
        with atomic_write_set():
            for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
                write_text_atomic(tmp_path / name, f"new {name}")
    assert {n: (tmp_path / n).read_bytes() for n in old} == old
    assert not (tmp_path / "d.txt").exists()
    assert _leftovers(tmp_path) == []
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    with atomic_write_set():  # and the next run replaces the set, leaving no backups
        for name in ("a.txt", "b.txt", "c.txt"):
            write_text_atomic(tmp_path / name, f"new {name}")
    assert [(tmp_path / n).read_text() for n in old] == ["new a.txt", "new b.txt", "new c.txt"]
    assert _leftovers(tmp_path) == []


def test_a_zarr_movie_in_a_failed_set_is_dropped(tmp_path):
    from napari_catrack.io.frames import MovieWriter

    with pytest.raises(RuntimeError):
        with atomic_write_set():
            with MovieWriter(tmp_path / "m.zarr", (2, 4, 4), np.uint16) as writer:
                writer.write(np.ones((2, 4, 4)))
            raise RuntimeError("the shifts table failed")
    assert list(tmp_path.iterdir()) == []


def test_summary_failing_at_the_third_image_keeps_the_older_set(tmp_path, monkeypatch, capsys):
    rec = _movie(tmp_path / "m.tif")
    out = tmp_path / "sum"
    old = _old_set(out, SUMMARY_FILES)
    real, calls = tifffile.imwrite, []

    def imwrite(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C while the third image is written
        return real(*args, **kwargs)

    monkeypatch.setattr(tifffile, "imwrite", imwrite)
    assert main(["summary", str(rec), "-o", str(out)]) == 130
    assert {n: (out / n).read_bytes() for n in SUMMARY_FILES} == old
    assert _leftovers(out) == []
    monkeypatch.setattr(tifffile, "imwrite", real)
    assert main(["summary", str(rec), "-o", str(out)]) == 0
    assert all((out / n).read_bytes() != old[n] for n in SUMMARY_FILES)


def test_sources_files_are_one_set(tmp_path, monkeypatch):
    from napari_catrack.io import sources

    old = _old_set(tmp_path, sources.SOURCES_FILES)
    components = pd.DataFrame({"neuron_id": [1], "y": [2.0], "x": [3.0], "area": [4],
                               "snr": [5.0], "r_value": [0.9], "accepted": [True]})  # fmt: skip
    traces = pd.DataFrame({c: [0] for c in sources.TRACE_COLUMNS})
    real = sources.write_table

    def write_table(table, path, **kwargs):
        if Path(path).name == "traces.csv":  # the disk fills up half-way through the third
            with atomic_write_path(path) as tmp:
                tmp.write_text("neuron_id,frame\n1,")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, path, **kwargs)

    monkeypatch.setattr(sources, "write_table", write_table)
    with pytest.raises(InputError, match="No space left"):
        sources.write_sources(tmp_path, np.ones((1, 4, 4)), components, traces)
    assert {n: (tmp_path / n).read_bytes() for n in sources.SOURCES_FILES} == old
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_sigterm_removes_the_partial_file_and_keeps_the_older_outputs(tmp_path):
    """`timeout`, `kill` and a cluster's cancel send SIGTERM: the command stops like on Ctrl-C."""
    rec = _movie(tmp_path / "m.tif")
    out = tmp_path / "sum"
    old = _old_set(out, SUMMARY_FILES)
    code = (
        "import sys, time, tifffile\n"
        "real = tifffile.imwrite\n"
        "def slow(*a, **k):\n"
        "    real(*a, **k)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(120)\n"  # a big file being written when the signal comes
        "tifffile.imwrite = slow\n"
    )
    proc = _summary_child(code, rec, out)
    try:
        assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
        assert any(n.endswith(".partial") for n in _leftovers(out))
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert time.monotonic() - start < 30
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert "catrack summary: stopped by SIGTERM" in err and "Traceback" not in err, err
    assert _leftovers(out) == []
    assert {n: (out / n).read_bytes() for n in SUMMARY_FILES} == old


_DROPPED_STOP = {
    # the handler's raise lands in a __del__ (or a weakref callback): Python prints "Exception
    # ignored in ..." and drops it (review 8, finding 7: the export went on and exited 0)
    "del": (
        "    class Dropped:\n"
        "        def __del__(self):\n"
        "            signal.raise_signal(signal.SIGTERM)\n"
        "    Dropped()\n"
    ),
    # a library's bare `except:` swallows it without a word
    "bare_except": (
        "    try:\n"
        "        signal.raise_signal(signal.SIGTERM)\n"
        "    except BaseException:\n"
        "        pass\n"
    ),
}


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("where", ["del", "bare_except"])
def test_a_dropped_stop_is_not_lost(tmp_path, where):
    """A SIGTERM whose `Stopped` Python drops still stops the command: nothing is placed over
    the older outputs, one line, exit 143. Dropped in a `__del__`, it is raised again at the
    next call; swallowed silently, before the first file is placed."""
    rec = _movie(tmp_path / "m.tif")
    out = tmp_path / "sum"
    old = _old_set(out, SUMMARY_FILES)
    code = (
        "import signal, sys, tifffile\n"
        "real, calls = tifffile.imwrite, []\n"
        "def imwrite(*a, **k):\n"
        "    real(*a, **k)\n"
        "    calls.append(1)\n"
        "    if len(calls) != 1:\n"
        "        return\n"
        f"{_DROPPED_STOP[where]}"
        "    print('went on', flush=True)\n"
        "tifffile.imwrite = imwrite\n"
    )
    proc = _summary_child(code, rec, out)
    try:
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM, proc.stderr.read()
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert err.strip() == "catrack summary: stopped by SIGTERM; no output was left half-written"
    assert proc.stdout.read().strip() == ("" if where == "del" else "went on")
    assert _leftovers(out) == []
    assert {n: (out / n).read_bytes() for n in SUMMARY_FILES} == old


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals")
def test_the_stop_handler_stays_armed():
    """A second SIGTERM raises again when the first one's exception was swallowed (the handler
    used to set SIG_IGN, so a stop lost once was lost for good); inside the atomic writes'
    cleanup a signal is only recorded, and raised at the next check."""
    from napari_catrack import stop
    from napari_catrack.cli import _stop_signals_raise

    try:
        with _stop_signals_raise():
            try:
                signal.raise_signal(signal.SIGTERM)
            except stop.Stopped:  # swallowed, as a library's bare except would
                pass
            with pytest.raises(stop.Stopped):
                signal.raise_signal(signal.SIGTERM)
            with stop.shielded():
                signal.raise_signal(signal.SIGHUP)
            with pytest.raises(stop.Stopped, match="SIGTERM"):  # the first signal is reported
                stop.check()
    finally:
        stop.reset()


def test_a_stop_requested_before_the_end_places_nothing(tmp_path):
    """The atomic writes check the stop request before a finished file replaces its target."""
    from napari_catrack import stop
    from napari_catrack.io.frames import MovieWriter

    old = _old_set(tmp_path, ("a.txt", "b.txt"))
    try:
        with pytest.raises(stop.Stopped):
            with atomic_write_path(tmp_path / "a.txt") as tmp:
                tmp.write_text("new a")
                stop.request(signal.SIGTERM)
        stop.reset()
        with pytest.raises(stop.Stopped):
            with atomic_write_set():
                write_text_atomic(tmp_path / "b.txt", "new b")
                stop.request(signal.SIGTERM)
        stop.reset()
        with pytest.raises(stop.Stopped):
            with MovieWriter(tmp_path / "m.zarr", (2, 4, 4), np.uint16) as writer:
                writer.write(np.ones((1, 4, 4)))
                stop.request(signal.SIGTERM)
                writer.write(np.ones((1, 4, 4)))
    finally:
        stop.reset()
    assert {n: (tmp_path / n).read_bytes() for n in old} == old
    assert _leftovers(tmp_path) == [] and not (tmp_path / "m.zarr").exists()
    write_text_atomic(tmp_path / "a.txt", "new a")  # once reset, writes go through again
    assert (tmp_path / "a.txt").read_text() == "new a"


def test_an_ignored_sighup_stays_ignored():
    """`nohup catrack ...` must keep running when the terminal closes; SIGTERM's own handler
    comes back when the command ends (tests and scripts call `main` in-process)."""
    from napari_catrack.cli import _stop_signals_raise

    if not hasattr(signal, "SIGHUP"):
        pytest.skip("no SIGHUP here")
    before_term = signal.getsignal(signal.SIGTERM)
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with _stop_signals_raise():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) != before_term
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert signal.getsignal(signal.SIGTERM) == before_term


# ---- an unwritable output folder: refused before any work -----------------------------------


def _no_work(*args, **kwargs):
    raise AssertionError("the work started before the output folder was checked")


def test_an_output_under_a_file_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    from napari_catrack.commands import summary

    rec = _movie(tmp_path / "m.tif")
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    monkeypatch.setattr(summary, "summary_images", _no_work)
    assert main(["summary", str(rec), "-o", str(tmp_path / "notes.txt" / "sum")]) == 2
    err = capsys.readouterr().err
    assert "cannot create the folder" in err and "notes.txt is a file" in err, err


def test_a_read_only_folder_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """Root ignores chmod, so the read-only share is simulated: creating a file there fails."""
    from napari_catrack.commands import summary

    rec = _movie(tmp_path / "m.tif")
    ro = tmp_path / "ro"
    ro.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == ro:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(summary, "summary_images", _no_work)
    assert main(["summary", str(rec), "-o", str(ro / "sum" / "deeper")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write in {ro}: Read-only file system" in err, err
    assert not (ro / "sum").exists()  # nothing created for a command that did not run
    assert main(["align", str(rec), "--split", "left-right", "-o", str(ro / "a.json")]) == 2
    assert "-o " in capsys.readouterr().err
