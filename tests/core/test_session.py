"""Session model: round trip, provenance, versioning, autosave and crash safety of saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pandas as pd
import pytest

from napari_catrack import __version__
from napari_catrack.errors import InputError
from napari_catrack.session import (
    SCHEMA_VERSION,
    Session,
    SessionFileChanged,
    default_session_path,
)


def _tracks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "neuron_id": ["AVA", "AVA", "n 2"],
            "frame": np.array([0, 1, 0], dtype=np.int64),
            "y": [1.5, 2.5, 10.0],
            "x": [3.0, 4.0, np.nan],
            "manual": [True, False, False],
        }
    )


def test_round_trip_keeps_tables_arrays_attrs_params_and_layers(tmp_path):
    s = Session(tmp_path / "a.catrack.h5")
    s.set_recording("/data/movie.tif", {"layout": "left-right", "green_channel": 0}, {"frames": 9})
    s.record(
        "tracks",
        tables={"tracks": _tracks()},
        arrays={"confidence": np.linspace(0, 1, 6).reshape(2, 3)},
        attrs={"n_neurons": np.int64(2)},
        params={"radius": 3.5, "method": "model", "window": (1, 2)},
    )
    s.layers = [
        (
            np.array([[0, 1.0, 2.0], [1, 3.0, 4.0]]),
            {"name": "neurons", "features": pd.DataFrame({"neuron_id": ["a", "b"]}), "size": 7},
            "points",
        ),
        (
            [np.array([[0, 0], [5, 5]]), np.array([[1, 1], [2, 2], [3, 1]])],
            {"name": "roi"},
            "shapes",
        ),
    ]
    s.save()
    loaded = Session.load(tmp_path / "a.catrack.h5")
    assert loaded.recording["options"]["layout"] == "left-right"
    pd.testing.assert_frame_equal(loaded["tracks"].tables["tracks"], _tracks())
    np.testing.assert_array_equal(
        loaded["tracks"].arrays["confidence"], s["tracks"].arrays["confidence"]
    )
    assert loaded["tracks"].attrs == {"n_neurons": 2}
    assert loaded["tracks"].params == {"radius": 3.5, "method": "model", "window": [1, 2]}
    assert loaded.provenance()["tracks"]["version"] == __version__
    (_pts, pmeta, pkind), (shapes, _smeta, skind) = loaded.layers
    assert pkind == "points" and skind == "shapes"
    assert list(pmeta["features"]["neuron_id"]) == ["a", "b"]
    np.testing.assert_array_equal(shapes[1], [[1, 1], [2, 2], [3, 1]])
    with h5py.File(tmp_path / "a.catrack.h5") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION


def test_autosave_after_each_step(tmp_path):
    path = tmp_path / "auto.catrack.h5"
    s = Session(path)
    s.record("alignment", attrs={"dy": 1.0, "dx": -2.0, "rotation_deg": 0.5})
    assert Session.load(path)["alignment"].attrs["dx"] == -2.0
    s.record("neurons", tables={"neurons": _tracks()})
    assert set(Session.load(path).steps) == {"alignment", "neurons"}


def test_newer_schema_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "new.catrack.h5"
    Session(path).save()
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(InputError, match="newer napari-catrack"):
        Session.load(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(InputError, match="HDF5 file but not a readable napari-catrack session"):
        Session.load(other)


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "s.catrack.h5"
    s = Session(path)
    s.record("alignment", attrs={"dy": 1.0})

    def explode(self, f, target, arrays=None):
        f.attrs["format"] = "half written"
        raise RuntimeError("disk full")

    monkeypatch.setattr(Session, "_write", explode)
    with pytest.raises(RuntimeError):
        s.record("tracks", tables={"tracks": _tracks()})
    monkeypatch.undo()
    assert set(Session.load(path).steps) == {"alignment"}
    assert not list(tmp_path.glob("*.partial")), "failed saves must clean up their temp file"


def test_killed_process_during_save_leaves_previous_file_intact(tmp_path):
    """SIGKILL a real process in the middle of a large save: the earlier file must still load."""
    path = tmp_path / "killed.catrack.h5"
    first = Session(path)
    first.record("alignment", attrs={"dy": 3.0})
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        from napari_catrack.session import Session
        s = Session.load({str(path)!r})
        big = np.random.default_rng(0).random((6000, 6000))  # ~290 MB: seconds to compress
        print("saving", flush=True)
        s.record("big", arrays={{"noise": big}})
        print("saved", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "saving"
    deadline = time.time() + 60
    while not list(tmp_path.glob("*.partial")) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert list(tmp_path.glob("*.partial")), "the kill should land while the temp file is written"
    reloaded = Session.load(path)
    assert set(reloaded.steps) == {"alignment"}
    assert reloaded["alignment"].attrs["dy"] == 3.0


def test_default_session_path(tmp_path):
    assert default_session_path("/x/movie.ome.tif").name == "movie.catrack.h5"
    assert default_session_path("/x/rec.h5").name == "rec.catrack.h5"
    assert default_session_path(tmp_path).parent == tmp_path


def test_nullable_columns_save_and_glob_recordings_get_a_real_session_name(tmp_path):
    s = Session(tmp_path / "n.catrack.h5")
    table = pd.DataFrame(
        {"count": pd.array([1, None, 3], dtype="Int64"), "flag": pd.array([True, None, False])}
    )
    s.record("cells", tables={"cells": table})
    back = Session.load(tmp_path / "n.catrack.h5")["cells"].tables["cells"]
    np.testing.assert_array_equal(back["count"].to_numpy(), [1.0, np.nan, 3.0])
    assert (
        default_session_path("/data/frames/*.tif")
        == default_session_path("/data/frames/x").parent / "session.catrack.h5"
    )


def test_recording_path_is_found_from_any_working_folder(tmp_path, monkeypatch):
    """`catrack demo -o sub` names the recording `sub/recording.tif`; the session file must not
    keep that working-folder path, or it opens without its recording from inside `sub`
    (docs review 7, item 1). Old files that kept it are still read from their folder."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "recording.tif").write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    s = Session("sub/demo.catrack.h5")
    s.set_recording("sub/recording.tif", {}, {"frames": 1})
    s.record("alignment", attrs={"dy": 1.0})
    with h5py.File(tmp_path / "sub" / "demo.catrack.h5", "r") as f:
        assert json.loads(f.attrs["recording"])["path"] == "recording.tif"
    assert Session.load("sub/demo.catrack.h5").recording["path"] == "sub/recording.tif"
    monkeypatch.chdir(tmp_path / "sub")
    assert Session.load("demo.catrack.h5").recording["path"] == "recording.tif"
    monkeypatch.chdir(tmp_path / "elsewhere")
    found = Session.load(tmp_path / "sub" / "demo.catrack.h5").recording["path"]
    assert found == str(tmp_path / "sub" / "recording.tif")

    # a recording outside the session's folder is stored absolute
    s.set_recording(str(tmp_path / "elsewhere" / "other.tif"), {}, {})
    s.save(tmp_path / "sub" / "demo.catrack.h5")
    with h5py.File(tmp_path / "sub" / "demo.catrack.h5", "r") as f:
        assert json.loads(f.attrs["recording"])["path"] == str(tmp_path / "elsewhere" / "other.tif")

    # a file written before: the path relative to the folder the command ran in
    with h5py.File(tmp_path / "sub" / "demo.catrack.h5", "r+") as f:
        f.attrs["recording"] = json.dumps({"path": "sub/recording.tif"})
    monkeypatch.chdir(tmp_path)
    assert Session.load("sub/demo.catrack.h5").recording["path"] == "sub/recording.tif"


def _damaged_session_files(folder):
    """A good session and four damaged copies: cut short, garbage inside (as a bad disk or copy
    leaves it), an HDF5 file that is no session, and a session with a broken step group."""
    rng = np.random.default_rng(0)
    good = Session(folder / "good.catrack.h5")
    good.set_recording("rec.tif", {}, {"frames": 10})
    for k in range(3):
        table = pd.DataFrame({"a": rng.normal(size=3000), "b": [f"n{i}" for i in range(3000)]})
        good.record(f"step{k}", tables={"t": table}, arrays={"x": rng.normal(size=(50, 50))})
    data = good.path.read_bytes()
    files = {}
    files["truncated"] = folder / "truncated.catrack.h5"
    files["truncated"].write_bytes(data[:20000])
    for offset in (4096, 8192):  # garbage in the middle: h5py fails on reading, not opening
        garbage = bytearray(data)
        garbage[offset : offset + 20000] = (bytes(range(256)) * 79)[:20000]
        files[f"garbage {offset}"] = folder / f"garbage{offset}.catrack.h5"
        files[f"garbage {offset}"].write_bytes(bytes(garbage))
    files["random bytes"] = folder / "random.catrack.h5"
    files["random bytes"].write_bytes(bytes(range(256)) * 40)
    files["not a session"] = folder / "other.catrack.h5"
    with h5py.File(files["not a session"], "w") as f:
        f.create_dataset("x", data=[1, 2])
    files["damaged step"] = folder / "step.catrack.h5"
    files["damaged step"].write_bytes(data)
    with h5py.File(files["damaged step"], "r+") as f:
        f["steps/step0"].attrs["attrs"] = "{not json"
        del f["steps/step1/tables"]
    return files


def test_a_damaged_session_file_is_one_line_everywhere_and_left_as_it_was(
    tmp_path, capsys, monkeypatch
):
    """Garbage inside a session file gave a raw h5py traceback in `catrack export`, in napari's
    reader and in the batch (scale review 7, item 2): every damage is one line that names the
    file, says it is damaged and what to do, and the file is not touched."""
    from napari_catrack import _reader
    from napari_catrack.cli import main

    shown = []
    monkeypatch.setattr(_reader, "_notify_error", shown.append)
    for case, path in _damaged_session_files(tmp_path).items():
        before = path.read_bytes()
        with pytest.raises(InputError) as info:
            Session.load(path)
        message = str(info.value)
        assert path.name in message and "not a readable napari-catrack session" in message, case
        assert "restore the file from a copy" in message and "\n" not in message, case
        failed = []
        for step in ("step0", "step1", "step2"):  # one step alone: the others' damage is no matter
            try:
                Session.read_step(path, step)
            except InputError as exc:
                assert "not a readable napari-catrack session" in str(exc), (case, step)
                failed.append(step)
        if case in ("truncated", "random bytes", "not a session", "damaged step"):
            whole = ["step0", "step1", "step2"]
            assert failed == (whole[:2] if case == "damaged step" else whole), case
        for argv in (["export", str(path), "--list"],
                     ["export-nwb", str(path), "-o", str(tmp_path / "x.nwb"), "--no-prompt"]):  # fmt: skip
            assert main(argv) == 2, (case, argv)
            err = capsys.readouterr().err.strip()
            assert err == f"catrack: error: {message}", (case, err)
        shown.clear()
        assert _reader.read_session(str(path)) == [(None,)]
        assert shown == [message], case
        assert path.read_bytes() == before, case


def test_a_session_held_by_another_program_or_not_readable_is_not_called_damaged(
    tmp_path, monkeypatch
):
    """HDF5's "unable to lock file" (another program has the file open for writing) and a
    permission error were reported as a damaged file to restore from a backup (review 7, item
    3): they are a plain error that says what to do, and the file is not touched."""
    import errno

    from napari_catrack.session import DamagedSession

    from ._session_helpers import held_for_writing

    path = tmp_path / "s.catrack.h5"
    session = Session(path, autosave=False)
    session.record("settings", attrs={"fps": 10.0}, save=False)
    session.save()
    before = path.read_bytes()
    with held_for_writing(path):
        for read in (Session.load, lambda p: Session.read_step(p, "settings")):
            with pytest.raises(InputError) as info:
                read(path)
            assert not isinstance(info.value, DamagedSession)
            message = str(info.value)
            assert "in use by another program" in message and "close it there" in message
            assert "HDF5_USE_FILE_LOCKING=FALSE" in message and "restore" not in message
    assert path.read_bytes() == before
    assert Session.load(path).steps["settings"].attrs["fps"] == 10.0

    def forbidden(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Unable to synchronously open file (Permission denied)")

    monkeypatch.setattr(h5py, "File", forbidden)
    with pytest.raises(InputError) as info:
        Session.load(path)
    assert not isinstance(info.value, DamagedSession)
    assert "not readable: permission denied" in str(info.value)


def test_two_writers_on_one_session_file_never_overwrite_each_other(tmp_path):
    """Two viewers (or a viewer and a command) hold the same session: the second autosave does
    not silently replace the first one's results; it goes beside the file, and says so."""
    path = tmp_path / "movie.catrack.h5"
    Session(path).record("alignment", attrs={"dy": 1.0})
    a, b = Session.load(path), Session.load(path)
    a.record("tracks", tables={"tracks": _tracks()})
    with pytest.warns(SessionFileChanged, match="movie.catrack.h5 was changed on disk.*movie-2"):
        b.record("settings", attrs={"fps": 5.0})
    assert set(Session.load(path).steps) == {"alignment", "tracks"}
    assert set(Session.load(tmp_path / "movie-2.catrack.h5").steps) == {"alignment", "settings"}
    assert b.path == tmp_path / "movie-2.catrack.h5"
    b.record("neurons", attrs={"n": 3})  # autosave follows the new file, no second warning
    assert set(Session.load(b.path).steps) == {"alignment", "settings", "neurons"}
    assert set(Session.load(path).steps) == {"alignment", "tracks"}
    a.record("traces", attrs={"n": 1})  # the first writer's file is still its own
    assert set(Session.load(path).steps) == {"alignment", "tracks", "traces"}


def test_two_new_sessions_pointed_at_one_absent_file(tmp_path):
    """Both viewers opened the recording before either autosaved (no file yet)."""
    path = tmp_path / "rec.catrack.h5"
    a, b = Session(path), Session(path)
    a.record("alignment", attrs={"dy": 1.0})
    with pytest.warns(SessionFileChanged):
        b.record("alignment", attrs={"dy": 2.0})
    assert Session.load(path)["alignment"].attrs["dy"] == 1.0
    assert Session.load(tmp_path / "rec-2.catrack.h5")["alignment"].attrs["dy"] == 2.0


def test_save_as_and_unchanged_file_are_plain_saves(tmp_path, recwarn):
    path = tmp_path / "s.catrack.h5"
    s = Session(path)
    s.record("alignment", attrs={"dy": 1.0})
    s.record("tracks", tables={"tracks": _tracks()})  # our own earlier save is not a conflict
    other = s.save(tmp_path / "copy.catrack.h5")  # save as: the user's choice of file
    assert other == tmp_path / "copy.catrack.h5" and s.path == other
    assert not [w for w in recwarn if issubclass(w.category, SessionFileChanged)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.catrack.h5", "s.catrack.h5"]


def test_autosave_over_a_read_only_session_goes_beside_it(tmp_path):
    path = tmp_path / "kept.catrack.h5"
    Session(path).record("alignment", attrs={"dy": 1.0})
    path.chmod(0o444)  # an archived, protected session opened again
    s = Session.load(path)
    with pytest.warns(SessionFileChanged, match=r"kept\.catrack\.h5 is read-only.*kept-2"):
        s.record("tracks", tables={"tracks": _tracks()})
    assert set(Session.load(path).steps) == {"alignment"}
    assert set(Session.load(tmp_path / "kept-2.catrack.h5").steps) == {"alignment", "tracks"}
    with pytest.raises(InputError, match="read-only"):  # an explicit save to it: refused
        s.save(path)


def test_temp_files_a_killed_save_left_are_removed_a_day_later(tmp_path):
    """kill -9 leaves the temp file (nothing can remove it then); they used to pile up beside the
    session (and beside a registered movie: gigabytes each). A day-old one is removed at the next
    save of the same file; a recent one may be another process's save in progress: kept."""
    path = tmp_path / "s [1].catrack.h5"  # glob characters in the name are taken literally
    Session(path).record("alignment", attrs={"dy": 1.0})
    stale = tmp_path / ".s [1].catrack.h5.abc123.partial"
    fresh = tmp_path / ".s [1].catrack.h5.def456.partial"
    other = tmp_path / ".other.catrack.h5.abc123.partial"
    for p in (stale, fresh, other):
        p.write_bytes(b"half")
    old = time.time() - 2 * 24 * 3600
    for p in (stale, other):
        os.utime(p, (old, old))
    s = Session.load(path)
    s.record("tracks", tables={"tracks": _tracks()})
    assert not stale.exists() and fresh.exists() and other.exists()
    assert set(Session.load(path).steps) == {"alignment", "tracks"}
