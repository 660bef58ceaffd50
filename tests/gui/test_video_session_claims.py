"""The claim note of a behaviour video's session (video_session.py, h17) where the temporary
folder is shared or read-only: closing the viewer never fails and never removes another
process's note."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.gui


def test_closing_a_viewer_whose_claim_could_not_be_written_keeps_the_other_note(
    qtbot, tmp_path, monkeypatch
):
    """A shared lab computer: another user's napari left its note for the same video's session
    (its process ended: stale, so this viewer continues the session) in the temporary folder
    that user owns. This viewer's claim cannot be written there (the write is refused, and said
    nowhere: by design). On close the viewer deleted "its" note: the other user's file, refused
    too, and the PermissionError escaped from Qt's close event. Now only a note naming this
    process is removed, and a refused removal is ignored."""
    from qtpy.QtWidgets import QWidget

    from napari_catrack import video_session

    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "notes" / "abc.json"
    note.parent.mkdir()
    theirs = json.dumps({"pid": 1, "host": socket.gethostname(), "path": str(session)})
    note.write_text(theirs, encoding="utf-8")
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    real_mkstemp, real_unlink = tempfile.mkstemp, Path.unlink

    def refused_write(*args, dir=None, **kwargs):  # (the note is written as a temp file there)
        if dir is not None and Path(dir) == note.parent:
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    def refused_unlink(self, *args, **kwargs):
        if self == note:
            raise PermissionError(13, "Permission denied", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refused_write)
    monkeypatch.setattr(Path, "unlink", refused_unlink)
    window = QWidget()
    qtbot.addWidget(window)
    viewer = SimpleNamespace(window=SimpleNamespace(_qt_window=window))
    video_session.claim(viewer, session)  # (its note not written: no error)
    window.show()
    window.close()  # (before: PermissionError in the close event's filter)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert video_session._key(session) not in video_session._CLAIMS
    assert note.read_text(encoding="utf-8") == theirs


def test_closing_a_viewer_removes_its_own_note(qtbot, tmp_path, monkeypatch):
    """The usual case still: the note this process wrote goes with its viewer's window."""
    from qtpy.QtWidgets import QWidget

    from napari_catrack import video_session

    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "notes" / "abc.json"
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    window = QWidget()
    qtbot.addWidget(window)
    viewer = SimpleNamespace(window=SimpleNamespace(_qt_window=window))
    video_session.claim(viewer, session)
    assert json.loads(note.read_text(encoding="utf-8"))["pid"] == os.getpid()
    window.show()
    window.close()
    assert not note.exists()
    assert video_session._key(session) not in video_session._CLAIMS


@pytest.mark.parametrize("text", ["[]", '{"pid": "x"}', '{"host": "h"}', '{"pid": null}'])
def test_a_note_that_is_not_a_claim_is_no_holder(tmp_path, monkeypatch, text):
    """A note file that names no process (edited, truncated to other JSON) raised from `int` or
    `.get` in napari's reader (outside the JSON check); it is no claim (pid 0 read as "napari
    process 0": os.kill(0, 0) signals this process's group and succeeds)."""
    from napari_catrack import video_session

    note = tmp_path / "abc.json"
    note.write_text(text, encoding="utf-8")
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    assert video_session.holder(tmp_path / "behaviour.avi.catrack.h5") is None


def test_a_claim_note_is_never_seen_half_written(tmp_path, monkeypatch):
    """Another napari reading the note while this one writes it saw an empty or cut file (the
    note was truncated, then written in place), took that for no claim, continued the session
    and autosaved into it beside this viewer. Now the note is written under another name and
    renamed over the old one: at every open made while claiming, the note on disk is whole (the
    note before it, here a stale one of a process that has ended; an open refused if it is
    truncated). (h18: a live process's note is never replaced, `test_a_claim_...at_once`.)"""
    import builtins
    import io

    from napari_catrack import video_session

    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "notes" / "abc.json"
    note.parent.mkdir()
    before = {"pid": _dead_pid(), "host": socket.gethostname(), "path": str(session)}
    note.write_text(json.dumps(before), encoding="utf-8")
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    real_open = builtins.open
    seen: list[dict] = []

    def spying_open(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        with real_open(note, encoding="utf-8") as fh:
            seen.append(json.loads(fh.read()))  # (a cut or empty note: JSONDecodeError)
        return handle

    monkeypatch.setattr(builtins, "open", spying_open)
    monkeypatch.setattr(io, "open", spying_open)
    viewer = SimpleNamespace(window=SimpleNamespace(_qt_window=None))
    video_session.claim(viewer, session)
    monkeypatch.setattr(builtins, "open", real_open)
    monkeypatch.setattr(io, "open", real_open)
    video_session._CLAIMS.pop(video_session._key(session), None)
    assert seen and all(s in (before, json.loads(note.read_text(encoding="utf-8"))) for s in seen)
    assert json.loads(note.read_text(encoding="utf-8"))["pid"] == os.getpid()
    left = sorted(p.name for p in note.parent.iterdir())  # (no temp file left; nor, since
    assert left == ["abc.json"]  # h19, the lock of a stale note's replacement)


def test_a_note_whose_process_id_was_reused_is_stale(tmp_path, monkeypatch):
    """A napari that crashed left its note; after a reboot (or in a container) another program
    got its process id. The note was taken for a claim as long as that program ran, and every
    open of the video branched to a new session file. Now a note records when its process
    started, and a process of that id that started at another time is not its writer."""
    import subprocess
    import sys

    import psutil

    from napari_catrack import video_session

    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "abc.json"
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(other.pid).create_time()
        for when, held in ((started - 3600.0, False), (started, True)):
            claim = {"pid": other.pid, "host": socket.gethostname(), "started": when}
            note.write_text(json.dumps(claim), encoding="utf-8")
            expected = f"napari process {other.pid} on {socket.gethostname()}" if held else None
            assert video_session.holder(session) == expected
    finally:
        other.kill()
        other.wait()


def test_a_claim_note_says_when_its_process_started(tmp_path, monkeypatch):
    import psutil

    from napari_catrack import video_session

    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "abc.json"
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    video_session.claim(SimpleNamespace(window=SimpleNamespace(_qt_window=None)), session)
    video_session._CLAIMS.pop(video_session._key(session), None)
    said = json.loads(note.read_text(encoding="utf-8"))
    assert said["started"] == pytest.approx(psutil.Process().create_time(), abs=1.0)


def _as_another_process(monkeypatch):
    """`holder` as another napari of this user sees the notes (its own pid is not this one)."""
    monkeypatch.setattr(os, "getpid", lambda: 2**22 + 1)


def test_a_second_user_of_a_shared_computer_has_claims_too(tmp_path, monkeypatch):
    """A shared lab computer: the first user's napari made the notes folder in the temporary
    folder (/tmp), writable by that user only (0755). Every other user's claims were refused
    there, said nowhere, so two napari of a second user both continued one video's session and
    autosaved into the same file. Now each user's notes lie in a folder of their own."""
    from napari_catrack import video_session

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    shared = tmp_path / "napari-catrack-open"  # the first user's (h17's one folder for all)
    shared.mkdir()
    real_mkstemp = tempfile.mkstemp

    def refused_in_shared(*args, dir=None, **kwargs):  # (as its owner's 0755 refuses others)
        if dir is not None and Path(dir) == shared:
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refused_in_shared)
    session = tmp_path / "behaviour.avi.catrack.h5"
    video_session.claim(SimpleNamespace(window=SimpleNamespace(_qt_window=None)), session)
    video_session._CLAIMS.pop(video_session._key(session), None)
    me = os.getpid()
    _as_another_process(monkeypatch)
    assert video_session.holder(session) == f"napari process {me} on {socket.gethostname()}"


def test_another_users_claim_is_seen(tmp_path, monkeypatch):
    """Each user's notes have their own folder; a napari reads those of every user of the
    computer, so two users opening one video's session file still do not both autosave there."""
    import subprocess
    import sys

    from napari_catrack import video_session

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    session = tmp_path / "behaviour.avi.catrack.h5"
    name = video_session._note_file(session).name
    theirs = tmp_path / "napari-catrack-open-otheruser" / name
    theirs.parent.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs.write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
        assert video_session.holder(session) == (
            f"napari process {other.pid} on {socket.gethostname()}"
        )
    finally:
        other.kill()
        other.wait()
    assert video_session.holder(session) is None  # (ended: stale)


def test_a_note_of_another_computer_says_how_to_remove_it(tmp_path, monkeypatch):
    """A temporary folder shared by several computers (TMPDIR in a network home): a note of
    another computer cannot be checked (its process is not here), so it is taken for a claim;
    after a crash there it stayed, and every open branched, with a line saying to close a
    napari that was not running. The line now names the note to delete in that case."""
    from napari_catrack import video_session

    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "abc.json"
    note.write_text(json.dumps({"pid": 123, "host": "other-pc"}), encoding="utf-8")
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    said = video_session.holder(session)
    assert said.startswith("napari process 123 on other-pc")
    assert f"if napari has ended there, delete {note}" in said


def test_on_windows_a_note_is_checked_without_os_kill(tmp_path, monkeypatch):
    """`os.kill(pid, 0)` is no liveness check on Windows: signal 0 is CTRL_C_EVENT there, a
    Ctrl+C sent to the processes sharing this console (napari started from a prompt), whatever
    the pid. Opening a video whose session had a note of another pid did that. Windows asks
    psutil (which napari requires) whether the process is there."""
    import subprocess
    import sys

    from napari_catrack import video_session

    monkeypatch.setattr(video_session, "WINDOWS", True, raising=False)
    import psutil

    kills: list[tuple[int, int]] = []
    real_kill = os.kill

    def pid_exists(pid: int) -> bool:  # (psutil's on Windows opens the process: no signal)
        try:
            real_kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    monkeypatch.setattr(psutil, "pid_exists", pid_exists)
    monkeypatch.setattr(os, "kill", lambda pid, sig: kills.append((pid, sig)))
    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "abc.json"
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    note.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}), encoding="utf-8")
    assert video_session.holder(session) is None  # ended: stale
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        note.write_text(json.dumps({"pid": live.pid, "host": socket.gethostname()}))
        assert video_session.holder(session) == (
            f"napari process {live.pid} on {socket.gethostname()}"
        )
    finally:
        monkeypatch.setattr(os, "kill", real_kill)
        live.kill()
        live.wait()
    assert kills == []  # (before: os.kill(pid, 0), a Ctrl+C on Windows)


def _dead_pid() -> int:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


def test_two_napari_opening_one_video_at_once_never_both_continue_its_session(
    make_napari_viewer, tmp_path, monkeypatch
):
    """Two napari opening the same behaviour video within milliseconds: each checked that no
    note named another holder, then claimed the session by writing its note over whatever was
    there, so both continued the video's session (the save guard then made the second branch
    on its first save, its work so far shown as the first's). Here the other napari claims it
    between this one's check and its claim (while the video's identity is checked): the claim
    is now one step, it finds the other's note, and this viewer branches and says so; the
    other's note is left as it was."""
    import subprocess
    import sys

    from napari_catrack import recording_session, video_session
    from napari_catrack.io.video import write_video
    from napari_catrack.session import Session, session_for_viewer
    from napari_catrack.synthetic.behaviour import make_behaviour_video
    from tests.gui.test_behaviour_sessions import PLUGIN, _record

    video = make_behaviour_video(8, shape=(64, 64), seed=7, pixel_size_um=16.0)
    movie = write_video(tmp_path / "behaviour.avi", video.frames, fps=10.0)
    own = tmp_path / "behaviour.avi.catrack.h5"
    session = Session(own)
    session.set_recording(str(movie), {}, {})
    _record(session, video, movie)
    session.save()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    (tmp_path / "tmp").mkdir()
    note = video_session._note_file(own)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    theirs = json.dumps({"pid": other.pid, "host": socket.gethostname()})
    real_records = recording_session._records

    def the_other_claims_meanwhile(session_path, recording_path):
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(theirs, encoding="utf-8")
        return real_records(session_path, recording_path)

    monkeypatch.setattr(recording_session, "_records", the_other_claims_meanwhile)
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    try:
        viewer = make_napari_viewer()
        viewer.open(str(movie), plugin=PLUGIN)
        assert session_for_viewer(viewer).path != own  # (before: own, continued by both)
        assert any(f"is open in napari process {other.pid}" in s for s in shown), shown
        assert note.read_text(encoding="utf-8") == theirs  # (before: replaced by this one's)
        viewer.close()
    finally:
        other.kill()
        other.wait()


_RACER = """
import json, os, sys, time
from pathlib import Path
from napari_catrack import video_session
go, rounds = Path(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
for r in range(rounds):
    while not go.with_name(f"go{r}").exists():
        time.sleep(0.001)
    who = video_session._claim_note(go.with_name(f"s{r}.catrack.h5"))
    print(json.dumps(who), flush=True)
go.with_name(f"done{os.getpid()}").write_text("")
while not go.with_name("end").exists():
    time.sleep(0.01)
"""


def test_a_claim_made_by_several_napari_at_once_goes_to_exactly_one(tmp_path):
    """Four processes claim the same session file at the same moment, in rounds: with no note
    there, and with a stale note (its process ended) that each of them judges stale and
    replaces. Exactly one of them holds it each round; the others are told who does."""
    import subprocess
    import sys

    rounds, n = 6, 4
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "PYTHONPATH": os.pathsep.join(sys.path)}
    (tmp_path / "tmp").mkdir()
    from napari_catrack import video_session

    dead = _dead_pid()
    argv = [sys.executable, "-c", _RACER, str(tmp_path / "go"), str(rounds)]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * n  # (all imported)
        for r in range(rounds):
            if r % 2:  # a stale note of a napari that has ended
                old = tempfile.tempdir
                tempfile.tempdir = str(tmp_path / "tmp")
                try:
                    stale = video_session._note_file(tmp_path / f"s{r}.catrack.h5")
                finally:
                    tempfile.tempdir = old
                stale.parent.mkdir(parents=True, exist_ok=True)
                stale.write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
            (tmp_path / f"go{r}").write_text("")
        said = [[json.loads(p.stdout.readline()) for _ in range(rounds)] for p in procs]
    finally:
        (tmp_path / "end").write_text("")
        for p in procs:
            p.wait(timeout=60)
            p.stdout.close()
    for r in range(rounds):
        got = [s[r] for s in said]
        assert got.count(None) == 1, (r, got)  # exactly one holds it
        winner = procs[got.index(None)].pid
        assert all(w == f"napari process {winner} on {socket.gethostname()}" for w in got
                   if w is not None), (r, got)  # fmt: skip
