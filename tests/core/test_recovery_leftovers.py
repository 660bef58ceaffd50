"""Journal recovery leftovers of the h18 I/O review (h18-io2): a recording's session found
through a folder whose killed set cannot be finished says so; a target moved aside during
recovery whose new copy cannot be placed is put back; a folder the user restored is never
deleted where it lies; a backup folder whose deletion left something behind is retried."""

from __future__ import annotations

import errno
import os
import warnings
from pathlib import Path

import pytest

from napari_catrack.io import atomic
from tests.core.test_recovery_review import _hidden, _killed_set, refuse_every_change


def _notes(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, atomic.RecoveryNote)]


def test_a_recordings_session_looked_up_in_a_folder_it_cannot_finish_says_so(tmp_path, monkeypatch):
    """`catrack traces movie.tif` (no --session) looks for the recording's session in its
    folder, finishing that folder's killed sets first (`recording_session._read_once`); a set
    it could not finish there (a read-only share: every rename refused) was read as the kill
    left it, said nowhere, where every other read says it in one `RecoveryNote` line."""
    from napari_catrack.recording_session import recording_session_path

    movie = tmp_path / "movie.tif"
    movie.write_bytes(b"not read")
    paths = _killed_set(tmp_path)
    refuse_every_change(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert recording_session_path(movie) == tmp_path / "movie.catrack.h5"
        assert recording_session_path(movie) == tmp_path / "movie.catrack.h5"
    notes = _notes(caught)
    assert len(notes) == 1, notes  # (before: none)
    assert str(tmp_path) in notes[0] and "could not be finished" in notes[0]
    assert paths["journal"].exists() and paths["b_old"].exists()  # nothing lost


def _written_twice(movie: Path, rmtree) -> None:
    """A zarr movie written, then written again (its older copy moved aside to `.old` and
    deleted once the new one is in place) with `rmtree` standing in for the deletion."""
    import numpy as np

    from napari_catrack.io.frames import MovieWriter

    for value in (1, 2):
        writer = MovieWriter(movie, (4, 64, 64), np.uint16)
        writer.write(np.full((4, 64, 64), value, np.uint16))
        if value == 2:
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(atomic.shutil, "rmtree", rmtree)
                writer.close()
        else:
            writer.close()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("rename", ["done", "refused"])
def test_a_backup_folder_not_wholly_deleted_is_retried_at_the_next_open(
    tmp_path, monkeypatch, rename
):
    """A zarr movie written again: its older copy (a folder, moved aside to `.old`) is renamed
    to `.old.deleting` and deleted. Where that deletion left something behind (a file held open
    on Windows, an NFS `.nfsXXXX` file), the journal was removed all the same and the hidden
    folder stayed for good; where the rename itself was refused (Windows: a file in it open),
    the `.old` was deleted where it lay, half. The journal is now kept, marked placed, and a
    `.old` is only ever deleted under its other name (kept whole if it cannot be renamed); the
    next open deletes what is left (in napari's background thread) and nothing else: the movie,
    removed by the user meanwhile, is not put back."""
    import numpy as np

    from napari_catrack.io.frames import open_frames

    movie = tmp_path / "reg.zarr"
    real_rmtree, real_replace = atomic.shutil.rmtree, atomic.replace

    def leaves_one(path, *args, **kwargs):  # every file but one deleted, as ignore_errors does
        for f in _files(Path(path))[1:]:
            f.unlink()

    if rename == "refused":

        def replace(src, dst):
            if str(dst).endswith(".deleting"):
                raise PermissionError(errno.EACCES, "Permission denied", str(src))
            return real_replace(src, dst)

        monkeypatch.setattr(atomic, "replace", replace)
    _written_twice(movie, leaves_one)
    monkeypatch.undo()
    assert np.unique(open_frames(movie).read(0, 4)).tolist() == [2]
    left = [n for n in _hidden(tmp_path) if ".old" in n and "/" not in n]
    assert len(left) == 1, _hidden(tmp_path)
    if rename == "refused":  # kept whole under its backup name, never half deleted there
        whole = [f.relative_to(movie) for f in _files(movie)]
        assert [f.relative_to(tmp_path / left[0]) for f in _files(tmp_path / left[0])] == whole
    else:
        assert left[0].endswith(".old.deleting")
    assert [n for n in _hidden(tmp_path) if n.endswith(".journal")]  # (before: removed)
    real_rmtree(movie)  # the user removes the result, to make it again
    with atomic.cleanup_in_background():  # napari's reader: deleted in the background
        atomic.recover_before_reading(movie)
    assert atomic.wait_for_cleanup(timeout=60)
    assert _hidden(tmp_path) == []  # (before: the leftover folder for good)
    assert not movie.exists()  # nothing put back
    assert list(tmp_path.iterdir()) == []


class _Killed(BaseException):
    """A SIGKILL at that point (nothing after it runs)."""


def _set_of_one(folder: Path) -> dict[str, Path]:
    """A killed one-file set whose target the killed run had not moved yet: a.csv old, its new
    copy finished as a temp file."""
    from tests.core.test_data_safety import _dead_pid, _journal

    paths = {
        "a": folder / "a.csv",
        "tmp": folder / ".a.csv.x1.partial",
        "old": folder / ".a.csv.1234abcd.old",
    }
    paths["a"].write_text("a old\n")
    paths["tmp"].write_text("a new\n")
    files = [{"temp": str(paths["tmp"]), "target": str(paths["a"]), "backup": str(paths["old"])}]
    paths["journal"] = _journal(folder, files, _dead_pid())
    return paths


@pytest.mark.parametrize("when", ["refused", "killed before the put-back"])
def test_a_target_whose_new_copy_cannot_be_placed_is_put_back(tmp_path, monkeypatch, when):
    """Recovery moves an older target aside (renames only), then renames the set's new copy
    there. Where that second rename was refused (Windows: the temp file held open by an
    antivirus), the target stayed missing until the next recovery, its only copy a hidden
    `.old`. Its older copy is now put back, the journal kept and one line says so; the next
    recovery still finishes the set (the put-back file's ctime is new: without the note beside
    the backup it would be taken for a file written after the set, kept, and the set's new copy
    dropped). A kill between the note and the put-back leaves the target missing, and the next
    recovery places it, as before."""
    paths = _set_of_one(tmp_path)
    real = atomic.replace

    def refused(src, dst):
        if Path(src) == paths["tmp"]:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        if when != "refused" and Path(src) == paths["old"]:
            raise _Killed
        return real(src, dst)

    monkeypatch.setattr(atomic, "replace", refused)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if when == "refused":
            atomic.recover_before_reading(paths["a"])
        else:
            with pytest.raises(_Killed):
                atomic.recover_before_reading(paths["a"])
    monkeypatch.undo()
    assert paths["journal"].exists() and paths["tmp"].exists()
    if when == "refused":
        assert paths["a"].read_text() == "a old\n"  # (before: missing)
        notes = _notes(caught)
        assert len(notes) == 1 and "a.csv is its older copy, put back" in notes[0], notes
    else:
        assert not paths["a"].exists() and paths["old"].exists()
    assert atomic.recover_interrupted_sets(tmp_path) == [paths["a"]]
    assert paths["a"].read_text() == "a new\n"  # the set finished
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # (the note removed too)


def test_a_put_back_file_changed_since_is_kept(tmp_path, monkeypatch):
    """The note names the file put back, not the name: a file written there since (the user's
    own save) is kept, and the set's new copy dropped, as for any file written after a set."""
    paths = _set_of_one(tmp_path)
    real = atomic.replace

    def refused(src, dst):
        if Path(src) == paths["tmp"]:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(atomic, "replace", refused)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atomic.recover_interrupted_sets(tmp_path)
    monkeypatch.undo()
    paths["a"].write_text("the user's own\n")
    atomic.recover_interrupted_sets(tmp_path)
    assert paths["a"].read_text() == "the user's own\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


@pytest.mark.skipif(os.name == "nt", reason="Windows: ctime is the creation time, always kept")
def test_a_folder_restored_after_a_kill_is_never_deleted_where_it_lies(tmp_path):
    """A zarr movie's set killed after moving the older movie aside; the user restored the
    movie from their copy (`cp -a`: its old times). Where change times are not trusted (the
    journal's ctime an hour past its mtime), the restored folder looked older than the set and
    recovery rmtree'd it where it lay to place the set's new copy. It is now kept, and said."""
    import time

    from tests.core.test_data_safety import _dead_pid, _journal

    movie, tmp = tmp_path / "reg.zarr", tmp_path / ".reg.zarr.x1.partial"
    backup = tmp_path / ".reg.zarr.1234abcd.old"
    for root, text in ((tmp, "new"), (backup, "old"), (movie, "restored")):
        (root / "0").mkdir(parents=True)
        (root / "0" / "0").write_text(text)
    files = [{"temp": str(tmp), "target": str(movie), "backup": str(backup)}]
    journal = _journal(tmp_path, files, _dead_pid())
    hour_ago = time.time() - 3600
    for path, when in ((movie, hour_ago - 2), (tmp, hour_ago - 1), (journal, hour_ago)):
        os.utime(path, (when, when))  # (their ctimes stay now: change times look unreliable)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert atomic.recover_interrupted_sets(tmp_path) == []
    assert (movie / "0" / "0").read_text() == "restored"  # (before: deleted, the new one there)
    notes = _notes(caught)
    assert len(notes) == 1 and "reg.zarr was put there since" in notes[0], notes
    assert "kept as it is" in notes[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg.zarr"]
