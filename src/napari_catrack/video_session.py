"""A behaviour video opened again continues its session; only a concurrent open branches.

`behaviour.avi` opened in a fresh viewer (a second napari, or the video closed and reopened)
found `behaviour.avi.catrack.h5` beside it and, never to autosave over an earlier sitting's
results, saved this viewer's session to `behaviour.avi-2.catrack.h5` with a warning (h16
first-hour walk, item 7): the user's segmentation and centerlines were in the first file and the
new work in the second. Now, when that file's recording is this very video (its path, and the
size and SHA-256 its steps recorded, `recording_session._records`) and no other viewer has it
open, the viewer takes that session (`attach_session`: the Worm behaviour widget and the plot
show its results, and the behaviour layers come with the video) and autosaves into it.

"Open elsewhere" is another viewer of this process whose session saves there, or another
process that claimed the file (`claim`: a small note naming its process id and start time, in
a folder of the user's own in the temporary folder, read by every user's napari, written whole
under another name and then linked to its own, so that a reader never sees it half written; a
note of a process that has ended is ignored, and so is one whose process id another program has
now). Continuing claims the file in one step (`take`, h18): two napari opening the video at the
same moment both found no note and both continued; now exactly one does. Then this viewer
branches, as before, with a line that says the file is open in another viewer. Since h22 an
imaging recording (TIFF, HDF5, a folder of frames) opened again does the same, when it is opened
with the options its session recorded (`_same_options`): its results come with it
(`continued_layers`). Before, it always branched to `movie-2.catrack.h5` (the earlier session
was to be opened from its file), though nothing had changed: the branch never protected results
of another recording, only of the same one, which this session now continues.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from napari_catrack.io import atomic
from napari_catrack.session import (
    Session,
    attach_session,
    default_session_path,
    note_recording,
    real_viewer,
    session_for_viewer,
)

_CLAIMS: dict[str, Any] = {}  # session file (normalised) -> the viewer of this process holding it


def _key(path: str | os.PathLike) -> str:
    return os.path.normcase(os.path.abspath(path))


NOTES_FOLDER = "napari-catrack-open"  # in the temporary folder: one per user, -<user id>


def _user() -> str:
    """This user as the notes folder names them: the user id (POSIX), else the login name."""
    if hasattr(os, "getuid"):
        return str(os.getuid())
    try:
        return getpass.getuser()
    except Exception:  # (no login name to be found: one folder for all, as before)
        return "user"


def _note_file(path: str | os.PathLike) -> Path:
    """This user's note of the session file `path`. Each user has a notes folder of their own:
    a temporary folder shared by the users of a computer (/tmp) held one folder made by the
    first user, where every other user's notes were refused."""
    digest = hashlib.sha256(_key(path).encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"{NOTES_FOLDER}-{_user()}" / f"{digest}.json"


def _notes(path: str | os.PathLike) -> list[Path]:
    """The notes of the session file `path`: this user's, then other users' (readable where
    their folders are: a session file in a shared folder opened by two users)."""
    own = _note_file(path)
    try:
        others = sorted(Path(tempfile.gettempdir()).glob(f"{NOTES_FOLDER}-*/{own.name}"))
    except OSError:
        others = []
    return [own, *(note for note in others if note != own)]


WINDOWS = os.name == "nt"


def _alive(pid: int) -> bool:
    """Whether a process `pid` runs on this computer. Windows: psutil (napari requires it),
    never `os.kill(pid, 0)`: signal 0 is CTRL_C_EVENT there, a Ctrl+C to every process sharing
    this console (napari started from a prompt), whatever the pid; without psutil, alive."""
    if WINDOWS:
        try:
            import psutil
        except ImportError:
            return True
        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # (another user's process: alive)
    return True


START_SLACK_S = 1.0  # a process's start time as two reads of it may differ


def _started(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None where that cannot be told
    (psutil missing: napari requires it; a process of another user on macOS; ended)."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:  # (ImportError, NoSuchProcess, AccessDenied, ...): not known
        return None


def _same_process(pid: int, started: Any) -> bool:
    """Whether the running process `pid` is the one that wrote a note saying it `started` then:
    process ids are reused (after a reboot, in a container, on a busy machine), so a note of a
    napari that crashed would otherwise name whatever program got its id since. A note without
    a start time, or a process whose start cannot be told, is taken at its word."""
    if not isinstance(started, (int, float)) or isinstance(started, bool):
        return True
    now = _started(pid)
    return now is None or abs(now - float(started)) <= START_SLACK_S


def _window_open(viewer: Any) -> bool:
    """Whether the viewer's window is still open (a closed one releases its claim on close)."""
    window = getattr(getattr(viewer, "window", None), "_qt_window", None)
    try:
        return window is not None and not window.property("catrack_closed")
    except RuntimeError:  # deleted
        return False


def holder(path: str | os.PathLike, viewer: Any = None) -> str | None:
    """Who else has the session file open: "another viewer of this napari", "napari process N
    on HOST", or None (nobody; `viewer` itself does not count). A note of another computer (a
    temporary folder shared by several: TMPDIR in a network home) cannot be checked from here:
    it counts, and the line names the note to delete if that napari ended without closing."""
    mine = real_viewer(viewer) if viewer is not None else None
    other = _CLAIMS.get(_key(path))
    if other is not None and other is not mine and _window_open(other):
        return "another viewer of this napari"
    for note in _notes(path):
        try:
            said = json.loads(_read_note(note)[0])
        except (OSError, ValueError):
            continue  # none, or unreadable: not a claim
        who = _holding(note, said)
        if who is not None:
            return who
    return None


EMPTY_NOTE_S = 1.0  # an empty note younger than this is being written (`_link`'s O_EXCL)


def _being_written(st: os.stat_result) -> bool:
    """Whether a note of size `st` is one another napari is writing now: empty, and made less
    than `EMPTY_NOTE_S` ago. Where there are no hard links, a note is created empty where none
    is (`O_CREAT | O_EXCL`) and then written: for microseconds it is empty. An older empty note
    is a writer's killed between the two: no claim."""
    return st.st_size == 0 and time.time() - st.st_mtime < EMPTY_NOTE_S


def _read_note(note: Path, wait: bool = True) -> tuple[str, os.stat_result]:
    """The text of `note` and the file read (its `fstat`), read again while it is being written
    (`_being_written`) for up to `EMPTY_NOTE_S` (`wait`; `_claim_note` waits in its own loop of
    tries): such a note was read as "not a claim" (empty JSON), and `_claim_note` replaced it,
    so that its writer, writing into the file replaced, and this process both claimed the
    session file (h19)."""
    deadline = time.monotonic() + (EMPTY_NOTE_S if wait else 0.0)
    while True:
        with open(note, encoding="utf-8") as fh:
            st = os.fstat(fh.fileno())
            text = fh.read()
        if text or not _being_written(st) or time.monotonic() > deadline:
            return text, st
        time.sleep(CLAIM_WAIT_S)


def _holding(note: Path, said: Any) -> str | None:
    """Who holds the session file by the note `note` that says `said`: "napari process N on
    HOST", or None where it is no claim of another process (not a note of ours, this process's
    own, or stale: a napari that has ended, or whose process id another program has now)."""
    try:
        pid, host = int(said["pid"]), str(said.get("host", ""))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # not a note of ours (edited, another program's): not a claim
    if pid == os.getpid() and host == socket.gethostname():
        return None  # this process's own note (its viewers: `_CLAIMS`)
    if host == socket.gethostname() and not (
        _alive(pid) and _same_process(pid, said.get("started"))
    ):
        return None  # a napari that has ended (closed, crashed): its note is stale
    if host and host != socket.gethostname():  # (its process cannot be checked from here)
        return f"napari process {pid} on {host} (if napari has ended there, delete {note})"
    return f"napari process {pid} on {host or 'this computer'}"


def claim(viewer: Any, path: str | os.PathLike | None) -> None:
    """Note that `viewer` has the session file `path` open (until its window closes), unless
    another napari process holds it (its note is never replaced: `take` is the claim that
    decides whether a session is continued)."""
    if viewer is None or path is None:
        return
    viewer = real_viewer(viewer)
    _CLAIMS[_key(path)] = viewer
    _claim_note(path)
    _release_on_close(viewer, path)


def take(viewer: Any, path: str | os.PathLike) -> str | None:
    """Claim the session file `path` for `viewer` if nobody else has it, in one step: None
    when it is this viewer's now (or no note can be written: a read-only temporary folder),
    else who has it (`holder`'s line). Checking with `holder` and then claiming were two steps:
    two napari opening the same video within milliseconds both found no note and both
    continued the session. The note is made with `os.link` of a note written whole, which
    fails where a note is there already; a stale note (its process ended) is replaced under a
    lock, only if it is still the note judged stale (`_claim_note`)."""
    viewer = real_viewer(viewer)
    key = _key(path)
    other = _CLAIMS.get(key)
    if other is not None and other is not viewer and _window_open(other):
        return "another viewer of this napari"
    who = _claim_note(path)
    if who is not None:
        return who
    _CLAIMS[key] = viewer
    _release_on_close(viewer, path)
    return None


def _release(viewer: Any, path: str | os.PathLike) -> None:
    """Give up `viewer`'s claim of `path` now (a session that could not be continued)."""
    key = _key(path)
    if _CLAIMS.get(key) is real_viewer(viewer):
        del _CLAIMS[key]
        _unclaim(key)


CLAIM_TRIES = 100  # a note changing under a claim this many times: another napari claims it now
CLAIM_WAIT_S = 0.02  # between two tries


def _claim_note(path: str | os.PathLike) -> str | None:
    """Write this process's note of `path` unless another process holds it; returns who does
    (`_holding`), or None (noted, or the note cannot be written). Every step is one that
    another napari doing the same at the same moment cannot interleave with:

    - the note is written whole under a temporary name, then linked to its name (`os.link`
      fails where a note is there: of two at once exactly one gets it; where the file system
      has no hard links, `O_CREAT | O_EXCL`);
    - a note being written (empty and new: `_being_written`) is read again, never judged;
    - a note there that is no claim (stale, this process's own, unreadable) is replaced by a
      rename, under an exclusive lock of `NAME.lock` beside it and only if it is still the
      very file judged (same inode): another napari judging the same stale note waits for
      the lock and then finds the new note, a live claim;
    - a user's note is in their own folder, so this user's claim is checked against every
      other user's notes after it is made, and given up where one holds the file (two users
      at once: both branch, neither continues)."""
    note = _note_file(path)
    text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                       "started": _started(os.getpid()), "path": _key(path)})  # fmt: skip
    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        atomic._remove_stale_partials(note)  # (a killed claim's temporary note, a day old)
        fd, name = tempfile.mkstemp(
            prefix=f".{atomic.short_name(note.name)}.", suffix=".partial", dir=note.parent
        )
    except OSError:
        return None  # (a read-only temporary folder: other processes are then not told)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, atomic._target_mode(note))  # (read by every user's napari)
        for attempt in range(CLAIM_TRIES):
            if _link(tmp, note, text):
                return _others_hold(path, note)
            try:
                there, judged = _read_note(note, wait=False)
            except FileNotFoundError:
                continue  # removed meanwhile (its viewer closed): link again
            except OSError:
                there = ""  # (unreadable: not a claim, replaced below)
                try:
                    judged = os.stat(note)
                except OSError:
                    continue
            if _being_written(judged):  # (still: its writer is slow, read it again)
                time.sleep(CLAIM_WAIT_S)
                continue
            try:
                said = json.loads(there)
            except ValueError:
                said = None  # (not a claim: replaced below)
            who = _holding(note, said) if said is not None else None
            if who is not None:
                return who
            if _replace_if_same(tmp, note, judged, last=attempt == CLAIM_TRIES - 1):
                return _others_hold(path, note)
            time.sleep(CLAIM_WAIT_S)
        return None  # (never settled: noted nowhere, as where it cannot be written)
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _link(tmp: Path, note: Path, text: str) -> bool:
    """Make `note` the whole note `tmp` if there is no note: True, or False where one is."""
    try:
        os.link(tmp, note)
        return True
    except FileExistsError:
        return False
    except OSError:  # (no hard links here: a note created only where none is, then written)
        pass
    try:
        fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_EXCL, atomic._target_mode(note))
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:  # (empty until then: `_being_written`)
        fh.write(text)
        fh.flush()
        try:  # still the note? (replaced meanwhile, judged a killed writer's: not ours)
            return os.path.samestat(os.fstat(fh.fileno()), os.stat(note))
        except OSError:
            return False


def _replace_if_same(tmp: Path, note: Path, judged: os.stat_result, last: bool) -> bool:
    """Replace `note`, judged no claim when it was the file `judged`, by `tmp`: under the lock
    of `NAME.lock` (POSIX `flock`, Windows `msvcrt.locking`: released when a process dies;
    the lock file removed by its holder, h19: they stayed in the notes folder for good), and
    only if it is still that file. False: changed meanwhile, or another napari holds the lock
    (the caller reads the note again). `last`: where the lock could never be had (a file system
    without locks), replaced if still the same file without it, as before h18."""
    lock = note.with_name(note.name + ".lock")  # (removed by its holder: `_locked`)
    with atomic._locked(lock, lock_file=True) as held:
        if not held and not last:
            return False
        try:
            if not os.path.samestat(os.stat(note), judged):
                return False
        except FileNotFoundError:
            return False
        atomic.replace(tmp, note)
        return True


def _others_hold(path: str | os.PathLike, mine: Path) -> str | None:
    """After this user's note `mine` is made: another user's napari holding `path` (its note in
    that user's folder), or None. Where one does, this note is removed again."""
    for note in _notes(path)[1:]:
        try:
            said = json.loads(_read_note(note)[0])
        except (OSError, ValueError):
            continue
        who = _holding(note, said)
        if who is not None:
            _unclaim(_key(path))
            return who
    return None


def _release_on_close(viewer: Any, path: str | os.PathLike) -> None:
    window = getattr(getattr(viewer, "window", None), "_qt_window", None)
    if window is None:
        return
    from qtpy.QtCore import QEvent, QObject

    key = _key(path)

    class Release(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:
            if event.type() == QEvent.Type.Close:
                obj.setProperty("catrack_closed", True)
                if _CLAIMS.get(key) is viewer:
                    del _CLAIMS[key]
                    _unclaim(key)
            return False

    window.installEventFilter(Release(window))  # lives (and dies) with the window


def _unclaim(key: str) -> None:
    """Remove the note of `key` if this process wrote it: one whose write was refused (a shared
    temporary folder, another user's note there) is another process's, and a refused removal
    is left as it is (an error here would escape from the window's close event)."""
    note = _note_file(key)
    try:
        said = json.loads(note.read_text(encoding="utf-8"))
        if said.get("pid") == os.getpid() and said.get("host") == socket.gethostname():
            note.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def note_opened(viewer: Any, recording: Any) -> str | None:
    """`note_recording` for a recording opened in `viewer` (File > Open, the Load recording
    widget), but a recording whose session file is already there continues that session when
    no other viewer has it open and it is this very recording (`_records`; an imaging one also
    opened with the options the session recorded: the same channels, Z projection, rate and
    pixel size); returns the line to show, or None. Before h22 an imaging recording opened again
    always branched to `movie-2.catrack.h5`, though nothing had changed (only behaviour videos
    continued, h16-h18)."""
    from napari_catrack.io.video import is_video_path
    from napari_catrack.recording_session import _provenance, _records

    session = session_for_viewer(viewer)
    path = default_session_path(recording.path)
    fresh = not session.recording and not session.steps and session.path is None
    if not (fresh and path.is_file()):
        said = note_recording(session, recording)
        claim(viewer, session.path)
        return said
    other = holder(path, viewer)
    same_view = is_video_path(recording.path) or _same_options(
        (_provenance(path).get("recording") or {}).get("options"), recording.options
    )
    if other is None and same_view and _records(path, recording.path) == 2:
        other = take(viewer, path)  # (checked and claimed in one step: `take`)
        if other is None:
            try:
                earlier = Session.load(path, lazy_arrays=True)
                attach_session(viewer, earlier)
            except BaseException:
                _release(viewer, path)
                raise
            return None  # nothing to say: the video's session goes on, as the user expects
    said = note_recording(session, recording)  # branches: a new file beside it
    claim(viewer, session.path)
    if other is not None:
        said = (
            f"{path.name} is open in {other}: this viewer's session saves to "
            f"{Path(session.path).name} beside it (so that neither overwrites the other); close "
            f"the other and open {recording.path} again to go on in {path.name}"
        )
    return said


def _same_options(stored: Any, given: Any) -> bool:
    """Whether the options a session stored for its recording (read back from its file) are
    those a recording was opened with now (tuples stored as lists; unset ones as None)."""

    def plain(options: Any) -> dict:
        return {k: v for k, v in json.loads(json.dumps(dict(options or {}))).items() if v is not None}  # fmt: skip

    try:
        return plain(stored) == plain(given)
    except (TypeError, ValueError):
        return False


def continued_layers(viewer: Any, recording_layers: list) -> list:
    """The layers of a continued session (`note_opened` attached it) that come with its
    recording opened again: a behaviour video's masks, centerline and head
    (`continued_behaviour_layers`); an imaging recording's results, as opening its session
    file shows them (`session_layers.result_layers`: tracks, cells, registered movie, the
    layers saved with it; the accepted alignment applied to `recording_layers`' red)."""
    from napari_catrack.io.video import is_video_path
    from napari_catrack.session_layers import result_layers

    session = session_for_viewer(viewer)
    path = session.recording.get("path")
    if not path or is_video_path(path):
        return continued_behaviour_layers(viewer)
    return result_layers(session, recording_layers)


def continued_behaviour_layers(viewer: Any) -> list:
    """The behaviour layers (masks, centerline, head) of a continued session whose results are
    of the video itself (its recording), not shown yet: they come with the video, as a
    separate video's do (`session_layers.behaviour_layers_beside_video`), widget docked or not
    (the Worm behaviour widget then finds them by name)."""
    from napari_catrack.centerline_layer import follow_centerlines
    from napari_catrack.layers import (
        CENTERLINE_LAYER,
        HEAD_LAYER,
        MASKS_LAYER,
        behaviour_layers,
        behaviour_on_recording,
        with_axis_labels,
    )

    session = session_for_viewer(viewer)
    shown = {layer.name for layer in viewer.layers}
    if not behaviour_on_recording(session) or {MASKS_LAYER, CENTERLINE_LAYER, HEAD_LAYER} & shown:
        return []
    layers = behaviour_layers(session)
    if layers:
        follow_centerlines(viewer)
    return with_axis_labels(layers)
