"""Review of h16's journal recovery (h17): the lock on NFS and Windows, a set that cannot be
finished (read-only share, a file held open), a journal naming a user's file, and napari's
reader leaving the deletion of an old movie to a background thread."""

from __future__ import annotations

import errno
import os
import threading
import warnings
from pathlib import Path

import pytest

from napari_catrack.io import atomic
from napari_catrack.session import Session
from tests.core.test_data_safety import _dead_pid, _journal, _small_session


def _killed_set(folder: Path) -> dict[str, Path]:
    """What a SIGKILL between the renames of a two-file set leaves: a.csv placed (its older
    file still hidden beside it), b.csv moved aside with its new copy not yet placed."""
    paths = {
        "a": folder / "a.csv",
        "a_old": folder / ".a.csv.1111aaaa.old",
        "b": folder / "b.csv",
        "b_tmp": folder / ".b.csv.x2.partial",
        "b_old": folder / ".b.csv.2222bbbb.old",
    }
    paths["a"].write_text("a new\n")
    paths["a_old"].write_text("a old\n")
    paths["b_tmp"].write_text("b new\n")
    paths["b_old"].write_text("b old\n")
    files = [
        {"temp": str(folder / ".a.csv.x1.partial"), "target": str(paths["a"]),
         "backup": str(paths["a_old"])},
        {"temp": str(paths["b_tmp"]), "target": str(paths["b"]), "backup": str(paths["b_old"])},
    ]  # fmt: skip
    paths["journal"] = _journal(folder, files, _dead_pid())
    return paths


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def test_a_journal_listing_a_users_file_as_a_journal_never_deletes_it(tmp_path):
    """Recovery removes every journal a set lists once it is finished; a journal edited by hand
    (or written by something else) that lists a user's file among them had that file deleted.
    Every listed journal must bear the journal's own name, else the journal is not followed."""
    user = tmp_path / "notes.txt"
    user.write_text("the user's notes\n")
    tmp = tmp_path / ".a.csv.x1.partial"
    tmp.write_text("new\n")
    files = [{"temp": str(tmp), "target": str(tmp_path / "a.csv"),
              "backup": str(tmp_path / ".a.csv.1234abcd.old")}]  # fmt: skip
    journal = tmp_path / ".catrack-set.0123456789ab.journal"
    _journal(tmp_path, files, _dead_pid(), [str(journal), str(user)])
    assert atomic.recover_interrupted_sets(tmp_path) == []
    assert user.read_text() == "the user's notes\n"  # (before: deleted)
    assert journal.exists() and tmp.exists()


@pytest.mark.skipif(os.name == "nt", reason="flock: the POSIX lock")
def test_a_set_is_recovered_where_flock_needs_the_file_open_for_writing(tmp_path, monkeypatch):
    """An NFS client emulates flock by a POSIX byte-range lock, which refuses an exclusive lock
    on a file opened read-only (EBADF); the lock was taken on a read-only descriptor, so on an
    NFS home folder no set was ever recovered. Here flock refuses as NFS does."""
    import fcntl

    real = fcntl.flock

    def nfs_flock(fd, op):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY and op & fcntl.LOCK_EX:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real(fd, op)

    monkeypatch.setattr(fcntl, "flock", nfs_flock)
    paths = _killed_set(tmp_path)
    assert atomic.recover_interrupted_sets(tmp_path) == [paths["b"]]  # (before: [])
    assert [paths[n].read_text() for n in ("a", "b")] == ["a new\n", "b new\n"]
    assert _hidden(tmp_path) == []


def test_a_set_that_could_not_be_finished_keeps_its_journal_for_the_next_recovery(
    tmp_path, monkeypatch
):
    """A rename refused during recovery (Windows: a file held open by an antivirus or another
    program): the journal used to be removed all the same, leaving b.csv missing for good with
    its only copies hidden (`.old`, and a `.partial` that the next write removes a day later).
    The journal is kept; the next recovery finishes the set."""
    paths = _killed_set(tmp_path)
    real = atomic.replace

    def refused(src, dst):
        if Path(dst) == paths["b"]:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(atomic, "replace", refused)
    atomic.recover_interrupted_sets(tmp_path)
    assert paths["journal"].exists() and paths["b_tmp"].exists()
    assert not paths["a_old"].exists()  # what could be done was done
    monkeypatch.undo()
    assert atomic.recover_interrupted_sets(tmp_path) == [paths["b"]]
    assert paths["b"].read_text() == "b new\n"  # (before: missing)
    assert _hidden(tmp_path) == []


def test_a_backup_that_cannot_be_removed_never_fails_a_write_into_its_folder(tmp_path, monkeypatch):
    """A killed set's backup the recovery cannot remove (another user's file in a shared folder
    with the sticky bit, a file held open on Windows): every atomic write into that folder
    failed with "cannot write ...: Permission denied" (the error went up through the
    recovery). The write succeeds; the set's journal and backup are kept for a later try."""
    paths = _killed_set(tmp_path)
    real = atomic._remove_path

    def refused(path):
        if path == paths["a_old"]:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(path))
        return real(path)

    monkeypatch.setattr(atomic, "_remove_path", refused)
    atomic.write_text_atomic(tmp_path / "other.txt", "x")  # (before: InputError)
    assert (tmp_path / "other.txt").read_text() == "x"
    assert paths["b"].read_text() == "b new\n"  # the set itself was finished
    assert paths["journal"].exists() and paths["a_old"].exists()


def refuse_every_change(monkeypatch) -> None:
    """A read-only share: every rename and deletion atomic.py tries refuses with EROFS."""

    def read_only(src, dst=None):
        raise OSError(errno.EROFS, "Read-only file system", str(src))

    monkeypatch.setattr(atomic, "replace", read_only)
    monkeypatch.setattr(atomic, "_remove_path", read_only)


def test_a_session_on_a_read_only_share_opens_with_one_note(tmp_path, monkeypatch):
    """A session opened from a folder the user cannot write (a read-only share; here every
    rename there refuses with EROFS) with a killed set in it: the session opens, as before, and
    a note now says the folder holds a result left half replaced that could not be finished
    (before: nothing said, and b.csv silently missing). Said once per process, not per read."""
    session = tmp_path / "s.catrack.h5"
    _small_session(session)
    paths = _killed_set(tmp_path)
    refuse_every_change(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert set(Session.load(session).steps) == {"alignment"}
        assert set(Session.load(session).steps) == {"alignment"}
    notes = [str(w.message) for w in caught if issubclass(w.category, atomic.RecoveryNote)]
    assert len(notes) == 1, notes
    assert str(tmp_path) in notes[0] and "Read-only file system" in notes[0]
    assert "could not be finished" in notes[0] and "run the step again" in notes[0]
    assert paths["journal"].exists() and paths["b_old"].exists()  # nothing lost


class _FakeMsvcrt:
    """`msvcrt.locking` as Windows has it: one byte locked from the current position; a lock
    another process holds refuses LK_NBLCK with OSError."""

    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2

    def __init__(self, held: bool = False) -> None:
        self.held, self.calls = held, []

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        self.calls.append((mode, nbytes, os.lseek(fd, 0, os.SEEK_CUR)))
        if mode == self.LK_NBLCK and self.held:
            raise OSError(errno.EACCES, "Permission denied")


def test_the_windows_lock_is_one_byte_released_before_the_close(tmp_path, monkeypatch):
    """The Windows path, with a stand-in msvcrt: the set's first byte is locked without waiting
    and unlocked before the file is closed (the CRT asks for it: a lock closed with the file is
    released only eventually, so the next recoverer could find the set still locked); a lock
    another process holds leaves the set to it."""
    import sys

    fake = _FakeMsvcrt(held=True)
    monkeypatch.setattr(atomic, "WINDOWS", True)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    paths = _killed_set(tmp_path)
    assert atomic.recover_interrupted_sets(tmp_path) == []  # held by another process
    assert paths["journal"].exists() and paths["b_tmp"].exists() and paths["a_old"].exists()
    assert fake.calls == [(fake.LK_NBLCK, 1, 0)]
    fake.held, fake.calls = False, []
    assert atomic.recover_interrupted_sets(tmp_path) == [paths["b"]]
    assert fake.calls == [(fake.LK_NBLCK, 1, 0), (fake.LK_UNLCK, 1, 0)]  # (before: no unlock)
    assert paths["b"].read_text() == "b new\n"
    assert _hidden(tmp_path) == []


def _killed_movie_set(folder: Path, chunks: int = 20) -> dict[str, Path]:
    """A registered movie's set killed between its renames: the new zarr movie placed, the
    older one still hidden beside it (`.old`), and the shift table not yet replaced (its new
    copy a `.partial`)."""
    movie, old = folder / "reg.zarr", folder / ".reg.zarr.3333cccc.old"
    for root, text in ((movie, "new"), (old, "old")):
        (root / "0").mkdir(parents=True)
        for i in range(chunks):
            (root / "0" / str(i)).write_text(text)
    shifts, tmp = folder / "shifts.csv", folder / ".shifts.csv.x1.partial"
    shifts.write_text("old\n")
    tmp.write_text("new\n")
    os.utime(shifts, (1e9, 1e9))  # (written long before the set; ctime too, below)
    files = [
        {"temp": str(folder / ".reg.zarr.x0.partial"), "target": str(movie), "backup": str(old)},
        {"temp": str(tmp), "target": str(shifts), "backup": str(folder / ".shifts.csv.4444dddd.old")},
    ]  # fmt: skip
    journal = _journal(folder, files, _dead_pid())
    later = max(shifts.stat().st_ctime, journal.stat().st_mtime) + 1
    os.utime(journal, (later, later))  # the journal is written after the older shift table
    return {"movie": movie, "old": old, "shifts": shifts, "journal": journal}


def test_napari_reader_leaves_the_old_movies_deletion_to_a_background_thread(tmp_path, monkeypatch):
    """napari's reader opens a session on its GUI thread; after a kill, recovery deleted the
    older registered movie there (seconds for a multi-GB zarr: the viewer froze). The set is now
    made consistent there by renames only, and every deletion runs in a background thread; once
    it is done the folder is as a synchronous recovery leaves it."""
    from napari_catrack import _reader

    session = tmp_path / "s.catrack.h5"
    _small_session(session)
    paths = _killed_movie_set(tmp_path)
    deleted_on: list[tuple[str, str]] = []
    real_rmtree, real_unlink = atomic.shutil.rmtree, Path.unlink

    def rmtree(path, *args, **kwargs):
        deleted_on.append((threading.current_thread().name, Path(path).name))
        return real_rmtree(path, *args, **kwargs)

    def unlink(self, *args, **kwargs):
        deleted_on.append((threading.current_thread().name, self.name))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(atomic.shutil, "rmtree", rmtree)
    monkeypatch.setattr(Path, "unlink", unlink)
    main = threading.current_thread().name
    layers = _reader.read_session(str(session))
    assert layers != [(None,)]  # (no error: the small session has no layers)
    on_main = [name for thread, name in deleted_on if thread == main]
    assert on_main == []  # (before: the old movie and the journal, on the GUI thread)
    assert paths["shifts"].read_text() == "new\n"  # consistent at once: renames only
    assert (paths["movie"] / "0" / "0").read_text() == "new"
    assert atomic.wait_for_cleanup(timeout=60)
    monkeypatch.undo()
    # (the older movie, renamed out of its backup name first: `_remove_backup`)
    assert ".reg.zarr.3333cccc.old.deleting" in {name for _thread, name in deleted_on}
    assert _hidden(tmp_path) == []  # as a synchronous recovery leaves it
    assert (paths["movie"] / "0" / "0").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reg.zarr", "s.catrack.h5", "shifts.csv"]


def test_a_process_gone_before_its_background_deletion_leaves_it_to_the_next_recovery(
    tmp_path, monkeypatch
):
    """napari closed (or killed) before the background thread removed the backups: the set is
    already consistent, the journal is still there, and the next recovery removes them."""
    paths = _killed_movie_set(tmp_path)
    monkeypatch.setattr(atomic, "_queue_cleanup", lambda job: None)  # never runs
    with atomic.cleanup_in_background():
        atomic.recover_before_reading(paths["shifts"])
    assert paths["shifts"].read_text() == "new\n"
    assert paths["journal"].exists() and paths["old"].exists()
    monkeypatch.undo()
    atomic.recover_before_reading(paths["shifts"])
    assert _hidden(tmp_path) == []
    assert (paths["movie"] / "0" / "0").read_text() == "new"


def test_the_background_deletion_is_queued_once_the_sets_lock_is_released(tmp_path, monkeypatch):
    """The background thread takes the set's lock again: queued while the reader still held it,
    it found the set locked and skipped at random (the backups and journal left until the next
    recovery). Here the job runs at once, in another thread, as soon as it is queued."""
    paths = _killed_movie_set(tmp_path)

    def run_now(job):
        worker = threading.Thread(target=atomic._clean_up_later, args=(job,))
        worker.start()
        worker.join()

    monkeypatch.setattr(atomic, "_queue_cleanup", run_now)
    with atomic.cleanup_in_background():
        atomic.recover_before_reading(paths["shifts"])
    assert _hidden(tmp_path) == []
    assert (paths["movie"] / "0" / "0").read_text() == "new"


def test_a_set_queued_for_background_deletion_is_skipped_from_its_other_folders(
    tmp_path, monkeypatch
):
    """A set over two folders, made consistent by a read of one of them in napari, its deletion
    queued: a write into its other folder on the GUI thread before the background thread ran
    took the set's lock and did the deletion there after all. Every folder's journal of a queued
    set is now left to the background thread."""
    sub = tmp_path / "sub"
    sub.mkdir()
    old = sub / ".c.zarr.5555eeee.old"
    (old / "0").mkdir(parents=True)
    (old / "0" / "0").write_text("old")
    ((sub / "c.zarr") / "0").mkdir(parents=True)
    tmp = tmp_path / ".a.csv.x1.partial"
    tmp.write_text("new\n")
    name = ".catrack-set.0123456789ab.journal"
    files = [
        {"temp": str(tmp), "target": str(tmp_path / "a.csv"),
         "backup": str(tmp_path / ".a.csv.1111aaaa.old")},
        {"temp": str(sub / ".c.zarr.x2.partial"), "target": str(sub / "c.zarr"),
         "backup": str(old)},
    ]  # fmt: skip
    listed = [str(tmp_path / name), str(sub / name)]
    _journal(tmp_path, files, _dead_pid(), listed)
    _journal(sub, files, _dead_pid(), listed)
    go, real_later = threading.Event(), atomic._clean_up_later

    def later(job):
        go.wait(30)
        real_later(job)

    on_main, real_rmtree = [], atomic.shutil.rmtree

    def rmtree(path, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            on_main.append(Path(path).name)
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "_clean_up_later", later)
    monkeypatch.setattr(atomic.shutil, "rmtree", rmtree)
    with atomic.cleanup_in_background():
        atomic.recover_before_reading(tmp_path / "a.csv")
    atomic.write_text_atomic(sub / "notes.txt", "x")  # (a write there: recovers the folder)
    assert on_main == []  # (before: [".c.zarr.5555eeee.old"])
    go.set()
    assert atomic.wait_for_cleanup(timeout=60)
    assert (tmp_path / "a.csv").read_text() == "new\n"
    assert _hidden(tmp_path) == []


@pytest.mark.skipif(os.name == "nt", reason="Windows: ctime is the creation time, always kept")
@pytest.mark.parametrize("ctimes", ["kept", "unreliable"])
def test_the_ctime_rule_holds_when_the_deletion_runs_in_the_background(
    tmp_path, monkeypatch, ctimes
):
    """The ctime guard (h17-io) and the background deletion (h17-reviewrec) were merged by
    hand: the background thread must judge the set's files as the reader did. A file the user
    restored after the kill with its old mtime (cp -p) is kept where change times are kept (its
    temp file deleted in the background: judged by mtime alone there, it would look "not placed"
    and the journal would stay for good); where they look unreliable it is kept too (h19: its
    older copy was moved aside, so it was put there since; before, replaced by the save's new
    copy), said once, and the background thread still deletes the backup and the journal."""
    import time

    target, tmp = tmp_path / "a.csv", tmp_path / ".a.csv.x1.partial"
    backup = tmp_path / ".a.csv.1234abcd.old"
    backup.write_text("old\n")  # moved aside by the killed save
    tmp.write_text("new\n")
    files = [{"temp": str(tmp), "target": str(target), "backup": str(backup)}]
    journal = _journal(tmp_path, files, _dead_pid())
    target.write_text("restored\n")  # the user's copy, put back after the kill
    now = time.time()
    written = now - 10 if ctimes == "kept" else now - 3600  # (its ctime stays now)
    for path, when in ((backup, written - 3), (tmp, written - 1), (journal, written)):
        os.utime(path, (when, when))
    os.utime(target, (written - 2, written - 2))  # cp -p: an old mtime, its ctime now
    go, real_later = threading.Event(), atomic._clean_up_later
    ran_on: list[str] = []

    def later(job):
        go.wait(30)
        ran_on.append(threading.current_thread().name)
        real_later(job)

    monkeypatch.setattr(atomic, "_clean_up_later", later)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with atomic.cleanup_in_background():
            atomic.recover_before_reading(target)
    notes = [str(w.message) for w in caught if issubclass(w.category, atomic.RecoveryNote)]
    if ctimes == "kept":
        assert notes == []
    else:
        assert len(notes) == 1 and "a.csv was put there since" in notes[0], notes
    assert target.read_text() == "restored\n"  # kept, at once (unreliable, before: "new")
    assert tmp.exists() and journal.exists()  # left to the background thread
    go.set()
    assert atomic.wait_for_cleanup(timeout=60)
    assert ran_on and ran_on[0] != threading.main_thread().name
    assert target.read_text() == "restored\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # journal last, nothing left


def test_a_target_moved_aside_while_the_background_deletion_runs_keeps_the_journal(
    tmp_path, monkeypatch
):
    """The background deletion runs while this process may write into the same folder (a step
    re-run on the GUI's worker): such a write moves the target aside for a moment, between its
    own two renames. The clean-up that looked then saw no target, kept the set's older file
    (`.old`) and still removed the journal: the hidden backup (a registered movie: gigabytes)
    was left for good. It now keeps the journal, and the next recovery removes the backup."""
    paths = _killed_set(tmp_path)
    go, real_later = threading.Event(), atomic._clean_up_later

    def later(job):
        go.wait(30)
        real_later(job)

    monkeypatch.setattr(atomic, "_clean_up_later", later)
    with atomic.cleanup_in_background():
        atomic.recover_before_reading(paths["a"])
    assert paths["b"].read_text() == "b new\n"  # consistent at once
    aside = tmp_path / ".a.csv.9999ffff.old"
    paths["a"].rename(aside)  # another write's first rename: its new file not placed yet
    go.set()
    assert atomic.wait_for_cleanup(timeout=60)
    aside.rename(paths["a"])  # its second rename (here: the same file back)
    aside_gone = sorted(n for n in _hidden(tmp_path) if n != paths["journal"].name)
    assert aside_gone == [".a.csv.1111aaaa.old"]  # the set's backup of a.csv, still listed:
    assert paths["journal"].exists()  # (before: journal removed, the backup left for good)
    monkeypatch.undo()
    atomic.recover_before_reading(paths["a"])
    assert _hidden(tmp_path) == []
    assert paths["a"].read_text() == "a new\n" and paths["b"].read_text() == "b new\n"


def test_a_recovery_while_python_shuts_down_leaves_the_deletion_to_the_next_one(
    tmp_path, monkeypatch
):
    """Once Python has begun to exit (a read from an exit handler, a plugin's teardown) no new
    thread can be started: queuing the background deletion raised RuntimeError out of the
    read, and the set stayed marked as queued, so this process never recovered it again. The
    set is consistent (renames only) and its journal is kept for the next recovery."""
    import concurrent.futures.thread

    paths = _killed_movie_set(tmp_path)
    monkeypatch.setattr(atomic, "_CLEANUP_POOL", None)
    monkeypatch.setattr(concurrent.futures.thread, "_shutdown", True)
    with atomic.cleanup_in_background():
        atomic.recover_before_reading(paths["shifts"])  # (before: RuntimeError)
    assert paths["shifts"].read_text() == "new\n"
    assert paths["journal"].exists() and paths["old"].exists()
    monkeypatch.undo()
    atomic.recover_before_reading(paths["shifts"])  # (before: skipped, "queued")
    assert _hidden(tmp_path) == []
    assert (paths["movie"] / "0" / "0").read_text() == "new"


class _Killed(BaseException):
    """A SIGKILL in the middle of a deletion (nothing after it runs)."""


def test_an_older_movie_killed_half_deleted_is_never_put_back_as_the_result(tmp_path, monkeypatch):
    """Recovery deletes a finished set's older zarr movie (`.old`, thousands of chunk files: in
    napari's background thread, seconds). A process killed half-way left the folder half
    deleted under its backup name, with the journal. The user then removed the movie (to
    register again); the next read of the folder took the target missing with its backup there
    for a rename undone by hand and put the half-deleted older movie back as reg.zarr: a zarr
    reads missing chunks as zeros, without an error. A folder is now renamed out of its backup
    name before its deletion starts, so what a kill leaves is never restored; the next recovery
    removes it."""
    import shutil

    paths = _killed_movie_set(tmp_path)
    real_rmtree = shutil.rmtree

    def killed_half_way(path, *args, **kwargs):
        for chunk in sorted(Path(path).rglob("*"))[-10:]:  # half of the 20 chunks, then killed
            chunk.unlink()
        raise _Killed

    monkeypatch.setattr(atomic.shutil, "rmtree", killed_half_way)
    with pytest.raises(_Killed):
        atomic.recover_before_reading(paths["shifts"])
    monkeypatch.undo()
    assert paths["journal"].exists()
    real_rmtree(paths["movie"])  # the user removes the result, to make it again
    atomic.recover_before_reading(paths["shifts"])
    assert not paths["movie"].exists()  # (before: the half-deleted older movie, as reg.zarr)
    assert _hidden(tmp_path) == []
    assert paths["shifts"].read_text() == "new\n"


def test_a_zarr_movie_written_again_is_never_left_half_deleted(tmp_path, monkeypatch):
    """A zarr movie written again outside a set (the Registration widget's output, a .zarr): a
    folder cannot be renamed over another, so the older movie was rmtree'd where it lay, then
    the new one renamed there. A process killed during that rmtree (seconds for a large movie)
    left the older movie half deleted under the movie's own name, read as zeros where its
    chunks are missing, and the new one hidden. The folder is now placed as a journaled set of
    one: what a kill leaves is the older movie or the new one, whole, and the next recovery
    finishes it."""
    import numpy as np

    from napari_catrack.io.frames import MovieWriter, open_frames

    movie = tmp_path / "reg.zarr"
    writer = MovieWriter(movie, (4, 64, 64), np.uint16)
    writer.write(np.full((4, 64, 64), 1, np.uint16))
    writer.close()

    def killed_half_way(path, *args, **kwargs):
        files = sorted(p for p in Path(path).rglob("*") if p.is_file())
        for chunk in files[: len(files) // 2]:
            chunk.unlink()
        raise _Killed

    writer = MovieWriter(movie, (4, 64, 64), np.uint16)  # written again
    writer.write(np.full((4, 64, 64), 2, np.uint16))
    monkeypatch.setattr(atomic.shutil, "rmtree", killed_half_way)
    with pytest.raises(_Killed):
        writer.close()
    monkeypatch.undo()
    frames = open_frames(movie).read(0, 4)  # (before: zeros where the older chunks were deleted)
    assert np.unique(frames).tolist() in ([1], [2])
    atomic.recover_before_reading(movie)
    assert np.unique(open_frames(movie).read(0, 4)).tolist() == [2]
    assert _hidden(tmp_path) == []
