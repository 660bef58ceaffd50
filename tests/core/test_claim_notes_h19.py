"""The claim note of a behaviour video's session (video_session.py), leftovers closed in h19:
the lock file beside a note is removed by its holder, safely against a process that opened it
before; an empty note (the O_EXCL fallback, between its creation and its write) is read as one
being written, never judged "no claim" and replaced."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from napari_catrack import video_session
from napari_catrack.io import atomic


def _dead_pid() -> int:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_the_lock_of_a_stale_notes_replacement_is_removed(tmp_path, monkeypatch):
    """A stale note (its napari has ended) is replaced under a lock of `NAME.lock` beside it;
    that empty file stayed in the notes folder for good, one per session file ever claimed
    over a stale note. Its holder now removes it."""
    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "notes" / "abc.json"
    note.parent.mkdir()
    note.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    assert video_session._claim_note(session) is None  # claimed: the stale note replaced
    assert json.loads(note.read_text(encoding="utf-8"))["pid"] == os.getpid()
    assert sorted(p.name for p in note.parent.iterdir()) == ["abc.json"]  # (before: + .lock)
    video_session._unclaim(video_session._key(session))


@pytest.mark.skipif(os.name == "nt", reason="Windows: an open lock file is not removed")
def test_a_lock_file_removed_by_its_holder_is_never_held_by_two(tmp_path, monkeypatch):
    """The race of a removed lock file: B opens `NAME.lock` while A holds it; A removes it and
    releases it; B's lock then succeeds, on a file no longer there, while C creates a new
    `NAME.lock` and locks that one: two holders at once. A lock now counts only while its path
    is still the very file locked: B is refused (and tries again), C holds it."""
    lock = tmp_path / "abc.json.lock"
    real_open = os.open
    held: dict[str, bool] = {}

    def a_runs_meanwhile(path, flags, *args):
        fd = real_open(path, flags, *args)  # B has the file open
        if Path(path) == lock and "A" not in held:
            monkeypatch.setattr(os, "open", real_open)
            with atomic._locked(lock, lock_file=True) as a:  # A: holds it, removes it
                held["A"] = a
            with atomic._locked(lock, lock_file=True) as c:  # C: a new lock file
                held["C"] = c
                with atomic._locked(lock, lock_file=True) as c2:  # (C's lock is exclusive)
                    held["C2"] = c2
        return fd

    monkeypatch.setattr(os, "open", a_runs_meanwhile)
    with atomic._locked(lock, lock_file=True) as b:
        held["B"] = b
    assert held == {"A": True, "C": True, "C2": False, "B": False}  # (before: B True too)
    assert not lock.exists()


def test_an_empty_note_being_written_is_never_replaced(tmp_path, monkeypatch):
    """Where the notes folder has no hard links the note is created empty where none is
    (`O_CREAT | O_EXCL`) and then written. Another napari claiming the same session file in
    between read the empty note as no claim (not JSON) and replaced it: its writer then wrote
    into the file replaced, and both napari continued the session. An empty note made just now
    is read again until it is written: here the other napari (a live process) writes its claim
    while this one waits, and this one is told who holds the session file."""
    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "notes" / "abc.json"
    note.parent.mkdir()
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    theirs = json.dumps({"pid": other.pid, "host": socket.gethostname()})
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_EXCL)  # the other's, not yet written
    real_sleep = time.sleep

    def the_other_writes(seconds):  # (while this one waits for it)
        if note.stat().st_size == 0:
            os.write(fd, theirs.encode())
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", the_other_writes)
    try:
        who = video_session._claim_note(session)
    finally:
        monkeypatch.setattr(time, "sleep", real_sleep)
        os.close(fd)
        other.kill()
        other.wait()
    assert who == f"napari process {other.pid} on {socket.gethostname()}"  # (before: None)
    assert note.read_text(encoding="utf-8") == theirs  # (before: replaced by this one's)


def test_an_empty_note_left_by_a_killed_writer_is_no_claim(tmp_path, monkeypatch):
    """An empty note older than a moment is a writer's killed between creating and writing it:
    no claim, replaced as a stale note is."""
    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "notes" / "abc.json"
    note.parent.mkdir()
    note.write_text("")
    old = time.time() - 60
    os.utime(note, (old, old))
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    assert video_session.holder(session) is None
    assert video_session._claim_note(session) is None
    assert json.loads(note.read_text(encoding="utf-8"))["pid"] == os.getpid()
    video_session._unclaim(video_session._key(session))
