"""Recovery leftovers closed in session 19 (h19-io): a file the user restored after a kill is
kept where change times are unreliable; a put-back note that cannot be written (a full disk)
never leaves the set mixed for good."""

from __future__ import annotations

import builtins
import errno
import os
import shutil
import time
import warnings
from pathlib import Path

import pytest

from napari_catrack.io import atomic
from tests.core.test_data_safety import (
    _SET,
    REPO,
    _dead_pid,
    _journal,
    _kill_when_paused,
    _run_hooked,
)


def _notes(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, atomic.RecoveryNote)]


NAMES = ("a.csv", "b.csv", "sub/c.csv")


def _killed_where_ctimes_are_unreliable(tmp_path: Path, n: int) -> Path:
    """A set of three files over an older set, SIGKILLed before its n-th rename, on a file
    system whose change times run an hour ahead (a share that reports another time): the older
    files an hour old before the save, its journals' ctimes an hour past their mtimes (nothing
    else touched after the kill: a target's mtime is what the journal recorded)."""
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    hour_ago = time.time() - 3600
    for name in NAMES:
        (out / name).write_text(name + " old\n")
        os.utime(out / name, (hour_ago - 10, hour_ago - 10))
    _kill_when_paused(_run_hooked("rename", n, ["-c", _SET.format(out=str(out))], REPO))
    journals = sorted(out.rglob(".catrack-set.*.journal"))
    assert len(journals) == 2  # (one per folder of the set)
    for journal in journals:
        os.utime(journal, (hour_ago, hour_ago))  # its ctime now: an hour past its mtime
    return out


def _restore(mine: Path, out: Path) -> None:
    """The user puts a.csv back from their own copy, a day old, keeping its date (`cp -p`)."""
    mine.write_text("x,y\n1,2\n")
    os.utime(mine, (time.time() - 86400, time.time() - 86400))
    shutil.copy2(mine, out / "a.csv")


@pytest.mark.skipif(os.name == "nt", reason="Windows: ctime is the creation time, always kept")
@pytest.mark.parametrize("n", [2, 1], ids=["moved aside", "not yet moved"])
def test_a_file_restored_after_a_kill_is_kept_where_change_times_are_unreliable(tmp_path, n):
    """SIGKILL during a save of three files: after it moved a.csv aside, before its new copy was
    placed (n=2: a.csv missing), or before it moved anything (n=1); the user restores a.csv from
    their own copy with its old date (`shutil.copy2`, as `cp -p`). Where change times are
    unreliable, files were judged by mtime alone, and the restored file, older than the
    journal, was replaced by the killed save's new copy, no copy kept (documented h17). Now:
    with its older copy moved aside, the file at a.csv was put there after the kill, which no
    step of the set does; not yet moved, it is not the file the journal recorded (size and
    mtime). Kept either way, said in a line; the rest of the set is finished and nothing hidden
    is left."""
    from napari_catrack.io.tables import read_table

    out = _killed_where_ctimes_are_unreliable(tmp_path, n)
    assert (out / "a.csv").exists() == (n == 1)
    _restore(tmp_path / "my-backup.csv", out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(read_table(out / "a.csv").columns) == ["x", "y"]  # (before: a.csv new)
    assert (out / "a.csv").read_text() == "x,y\n1,2\n"  # the restored file survives
    notes = _notes(caught)  # (and one on the times: b.csv and c.csv, judged by mtime, replaced)
    assert len(notes) == 2 and "change times there look unreliable" in notes[0], notes
    assert "a.csv was put there since" in notes[1], notes
    for name in NAMES[1:]:
        assert (out / name).read_text() == name + " new\n" * 1000, name
    assert [p.name for p in out.rglob(".*")] == []  # no `.old`, journal or temp file left


@pytest.mark.skipif(os.name == "nt", reason="Windows: ctime is the creation time, always kept")
def test_where_change_times_are_unreliable_an_untouched_set_is_still_finished(tmp_path):
    """The size and mtime the journal records never hold a killed save back by themselves: with
    nothing touched after the kill, every file is the new one (n=1: nothing was moved)."""
    out = _killed_where_ctimes_are_unreliable(tmp_path, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atomic.recover_before_reading(out / "a.csv")
    for name in NAMES:
        assert (out / name).read_text() == name + " new\n" * 1000, name
    assert [p.name for p in out.rglob(".*")] == []


def _set_of_two(folder: Path) -> dict[str, Path]:
    """A set of a.csv and b.csv killed after its journal, before its first rename: both older
    files in place, both new copies finished as temp files."""
    paths = {"journal": folder / "x"}
    files = []
    for name in ("a", "b"):
        paths[name] = folder / f"{name}.csv"
        paths[f"{name}_tmp"] = folder / f".{name}.csv.x1.partial"
        paths[f"{name}_old"] = folder / f".{name}.csv.1234abcd.old"
        paths[name].write_text(f"{name} old\n")
        paths[f"{name}_tmp"].write_text(f"{name} new\n")
        files.append({key: str(paths[f"{name}{suffix}"]) for key, suffix in
                      (("temp", "_tmp"), ("target", ""), ("backup", "_old"))})  # fmt: skip
    time.sleep(0.05)  # (ctimes tick coarsely: the journal is later than the files,
    paths["journal"] = _journal(folder, files, _dead_pid())
    time.sleep(0.05)  # and a file renamed by the recovery later than the journal)
    return paths


def test_a_put_back_note_that_cannot_be_written_never_leaves_the_set_mixed(tmp_path, monkeypatch):
    """Recovery moves a.csv aside to place its new copy; that rename is refused (a file held
    open), so the older a.csv is put back, and a note beside the backup names the file put back
    (its rename makes its ctime new, which would read as "written after the set"). On a full
    disk that note could not be written and the file was put back all the same: the next
    recovery took it for the user's newer file and kept it, the set's new a.csv dropped, while
    b.csv was the new one: a mixed set for good. The note is now written before a.csv is moved
    at all; where it cannot be, a.csv is left where it is, the journal kept and one line says so,
    and the next recovery finishes the set: both files new."""
    paths = _set_of_two(tmp_path)
    real_replace, real_open = atomic.replace, builtins.open

    def refused(src, dst):  # the new a.csv cannot be renamed into place
        if Path(src) == paths["a_tmp"]:
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_replace(src, dst)

    def full_disk(file, *args, **kwargs):  # the note (a few bytes) cannot be written
        if str(file).endswith(".back.partial"):
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(atomic, "replace", refused)
    monkeypatch.setattr(builtins, "open", full_disk)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        atomic.recover_before_reading(paths["a"])
    monkeypatch.undo()
    assert paths["a"].read_text() == "a old\n"  # never missing
    assert paths["journal"].exists() and paths["a_tmp"].exists()  # left for the next recovery
    notes = _notes(caught)
    assert len(notes) == 1 and "could not be finished" in notes[0], notes
    assert "a.csv: No space left on device" in notes[0], notes
    atomic.recover_before_reading(paths["a"])  # the disk has room again
    assert paths["a"].read_text() == "a new\n"  # (before: "a old\n", kept for good)
    assert paths["b"].read_text() == "b new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


def test_a_kill_after_the_put_back_note_still_finishes_the_set(tmp_path, monkeypatch):
    """The note is written before the move: a kill between the two leaves a note naming the
    older a.csv still in place, which the next recovery moves aside and replaces as any older
    target (ctime or not), removing the note with the backups."""

    class Killed(BaseException):
        pass

    paths = _set_of_two(tmp_path)
    real_replace = atomic.replace

    def killed(src, dst):
        if Path(src) == paths["a"]:
            raise Killed
        return real_replace(src, dst)

    monkeypatch.setattr(atomic, "replace", killed)
    with pytest.raises(Killed):
        atomic.recover_interrupted_sets(tmp_path)
    monkeypatch.undo()
    assert paths["a"].read_text() == "a old\n"
    assert atomic._put_back_note(paths["a_old"]).exists()
    atomic.recover_interrupted_sets(tmp_path)
    assert paths["a"].read_text() == "a new\n" and paths["b"].read_text() == "b new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]
