"""Atomic file writes: write beside the target, then rename, so a crash never leaves half a file.

`atomic_write_set()` extends this to several files that form one result (summary images, the
three sources files): they are moved into place together at the end, or not at all. A process
killed between those renames leaves a journal (`.catrack-set.ID.journal`) beside them; the next
write into that folder, or the next read from it (`recover_before_reading`: a session or
recording opened, a command's inputs), finishes the set (`recover_interrupted_sets`).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import glob
import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextvars import ContextVar
from pathlib import Path

from napari_catrack import stop
from napari_catrack.errors import InputError

# (temp, target) pairs finished inside the open `atomic_write_set`, None when none is open
_PENDING: ContextVar[list[tuple[Path, Path]] | None] = ContextVar("catrack_pending", default=None)

WINDOWS = os.name == "nt"
CTIME_SLACK_S = 60.0  # a journal's ctime past its mtime by more: change times not trusted there
REPLACE_RETRY_S = 2.0  # Windows: how long a replace refused with PermissionError is retried


class TargetHeldOpen(InputError):
    """The target could not be replaced because another program holds it open (Windows refuses
    to replace or delete an open file: Excel showing a CSV, a viewer reading a session)."""


def replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """`os.replace`, retried for up to `REPLACE_RETRY_S` on Windows, where a file that another
    program holds open refuses it with PermissionError: an antivirus or search indexer opens a new
    file for a moment after it is written; a program that keeps it open makes the last
    PermissionError go up (see `held_open_line`)."""
    deadline = time.monotonic() + (REPLACE_RETRY_S if WINDOWS else 0.0)
    while True:
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


TEMP_NAME_BYTES = 200  # of the target's name in a temp/backup name: 255 is the usual limit


def short_name(name: str) -> str:
    """`name` cut to `TEMP_NAME_BYTES` bytes of UTF-8 for the temp and backup names beside it
    (`.NAME.xxxxxxxx.partial` is 18 characters longer than NAME): a target whose name is within
    the file system's 255 (bytes on Linux, where 中 is 3) but close to it could not be written."""
    raw = name.encode("utf-8")
    if len(raw) <= TEMP_NAME_BYTES:
        return name
    return raw[:TEMP_NAME_BYTES].decode("utf-8", "ignore")


def held_open_line(path: Path | None, exc: OSError, kept: str) -> str:
    """The one line for a write refused by the system: for a PermissionError (on Windows, a file
    open in another program) it says what to do."""
    why = exc.strerror or str(exc)
    if isinstance(exc, PermissionError) and path is not None and path.exists():
        why += (
            ": it may be open in another program (Excel, napari, HDFView); close it there and "
            "run this again"
        )
    return f"cannot write {path}: {why}{kept}"


@contextlib.contextmanager
def atomic_write_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces `path` in one step.

    The temp file lives in the same folder so `os.replace` is a same-filesystem rename (atomic on
    POSIX and Windows). On any error the temp file is removed and the previous `path` is untouched.
    Inside `atomic_write_set()` the finished temp file waits for the end of the set. A stop
    requested meanwhile (SIGTERM whose exception was dropped on the way: `stop`) drops the file.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file name")
    if is_read_only(path):
        raise InputError(read_only_line(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        names = _folder_names(path.parent)  # one listing for both (5,000 files: ~10 ms each)
        recover_interrupted_sets(path.parent, names)  # (before its temp files could look stale)
        _remove_stale_partials(path, names)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{short_name(path.name)}.", suffix=".partial", dir=path.parent
        )
    except OSError as exc:
        kept = f"; the {path.name} already there is left as it was" if path.exists() else ""
        raise InputError(f"cannot write {path}: {exc.strerror or exc}{kept}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, _target_mode(path))  # mkstemp makes 0600; a result should look like any file
    try:
        yield tmp
        stop.check()
        with open(tmp, "rb+") as fh:  # make the bytes durable before they become visible
            os.fsync(fh.fileno())
        place_when_done(tmp, path)
    except BaseException as exc:
        with stop.shielded(), contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):  # full disk, permissions: the user's to fix, in one line
            kept = f"; the {path.name} already there is left as it was" if path.exists() else ""
            kind = TargetHeldOpen if isinstance(exc, PermissionError) else InputError
            raise kind(held_open_line(path, exc, kept)) from None
        raise


STALE_PARTIAL_S = 24 * 3600


def _folder_names(folder: Path) -> list[str]:
    """The names in `folder` (none where it cannot be listed)."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _matching(folder: Path, names: list[str], pattern: str) -> list[Path]:
    """`folder.glob(pattern)` of a hidden-file pattern, from names already listed."""
    return [folder / n for n in names if n.startswith(".") and fnmatch.fnmatch(n, pattern)]


def _remove_stale_partials(path: Path, names: list[str] | None = None) -> None:
    """Temp files of `path` that a killed write left behind (kill -9, a power cut: nothing could
    remove them), untouched for a day: removed before the next write of the same file, so they
    do not pile up (a registered movie's is gigabytes). A younger one may belong to a write in
    progress in another process, and is left alone; so are folders (a .zarr's top folder's time
    says nothing about its chunks)."""
    now = time.time()
    names = _folder_names(path.parent) if names is None else names
    for tmp in _matching(path.parent, names, f".{glob.escape(short_name(path.name))}.*.partial"):
        with contextlib.suppress(OSError):
            st = tmp.lstat()
            if tmp.is_file() and not tmp.is_symlink() and now - st.st_mtime > STALE_PARTIAL_S:
                tmp.unlink()


def is_read_only(path: str | os.PathLike) -> bool:
    """An existing file whose permissions allow nobody to write it (chmod a-w): a result the user
    protected. A rename would replace it all the same (renaming needs only the folder's
    permission, and root ignores permissions), so every write checks this first."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not os.path.isdir(path) and not st.st_mode & 0o222


def read_only_line(path: str | os.PathLike) -> str:
    how = "its Properties: untick Read-only" if WINDOWS else "chmod u+w"
    return (f"cannot write {path}: the file is read-only, so it is left as it is; make it "
            f"writable ({how}) or write the output somewhere else")  # fmt: skip


def place_when_done(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Move a finished temp file (or folder: a .zarr movie) to `path`: now, or at the end of the
    open `atomic_write_set` (which removes it if the set fails)."""
    pending = _PENDING.get()
    tmp, path = Path(tmp), Path(path)
    if pending is not None:
        pending.append((tmp, path))
        return
    stop.check()  # a stopped command places nothing (its caller removes the temp file)
    if tmp.is_dir() and (path.exists() or path.is_symlink()):
        # a folder cannot be renamed over another: placed as a set of one (journaled, the older
        # one moved aside and then deleted), never rmtree'd where it lies: a process killed
        # during that rmtree (seconds for a large zarr movie) left it half deleted under the
        # target's name, read as zeros where its chunks are missing
        with _interrupts_held():
            _place_all([(tmp, path)])
    else:
        _place(tmp, path)


@contextlib.contextmanager
def atomic_write_set() -> Iterator[None]:
    """Write several files as ONE result: all of them replace their targets at the end, or none.

    Every `atomic_write_path` (and `write_table`, `MovieWriter`, ...) inside the block keeps its
    finished temp file; when the block ends they are renamed into place one after another with
    interrupts held back (a few renames). An error, Ctrl-C or SIGTERM inside the block removes
    every temp file and leaves the older set untouched: a re-run interrupted half-way never mixes
    new files with an older run's (catrack summary's five images, sources' footprints + tables).
    A nested block joins the outer one.
    """
    if _PENDING.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _PENDING.set(pending)
    try:
        yield
        stop.check()  # a stop whose exception was dropped inside the block: place nothing
    except BaseException:
        _PENDING.reset(token)
        with stop.shielded():
            _remove_all(pending)
        raise
    _PENDING.reset(token)
    with _interrupts_held():
        _place_all(pending)


def _place_all(pending: list[tuple[Path, Path]]) -> None:
    """Rename every finished temp file to its target, all or none.

    Each existing target is first moved aside to a backup beside it; when any rename fails (a
    file held open by another program on Windows, a permission), the new files placed so far are
    removed and the backups put back, so the older set stays whole. Backups are deleted only
    once every new file is in place. A journal naming every (temp, target, backup) is written
    into each target's folder first and removed last: a SIGKILL or power cut between two renames
    (nothing in the process can clean up) is finished by the next write into one of those
    folders (`recover_interrupted_sets`).
    """
    entries = [
        (tmp, path, path.with_name(f".{short_name(path.name)}.{uuid.uuid4().hex[:8]}.old"))
        for tmp, path in pending
    ]
    try:
        journals = _write_journals(entries)
    except OSError as exc:  # a full disk: nothing renamed yet, so none of the set is placed
        _remove_all(pending)  # (a journal left would make the next write place the set)
        raise InputError(f"cannot write {pending[0][1]}: {exc.strerror or exc}; none of the files of this result was replaced") from None  # fmt: skip
    try:
        _place_journaled(pending, entries, journals)
    finally:
        with _OWN_LOCK:
            _OWN_JOURNALS.difference_update(journals)


def _place_journaled(
    pending: list[tuple[Path, Path]], entries: list[tuple[Path, Path, Path]], journals: list[Path]
) -> None:
    backups: list[tuple[Path, Path]] = []  # (target, its older file moved aside)
    placed: list[Path] = []
    try:
        for tmp, path, backup in entries:
            if path.exists() or path.is_symlink():
                _rename(path, backup)
                backups.append((path, backup))
            _rename(tmp, path)
            placed.append(path)
    except OSError as exc:
        for path in placed:
            _remove_path(path)
        not_restored = []
        for path, backup in backups:
            try:
                replace(backup, path)
            except OSError:
                not_restored.append(f"{path} (its older file is kept as {backup.name})")
        _remove_all(pending)
        if not not_restored:
            _remove_journals(journals)  # (else the next write puts the older files back)
        failed = Path(exc.filename) if exc.filename else None
        target = next((p for t, p in pending if failed in (t, p)), failed)
        kept = (
            "none of the files of this result was replaced"
            if not not_restored
            else "could not put back " + ", ".join(not_restored)
        )
        kind = TargetHeldOpen if isinstance(exc, PermissionError) else InputError
        raise kind(held_open_line(target, exc, f"; {kept}")) from None
    left = False
    for _path, backup in backups:
        try:
            _remove_backup(backup)
            _check_removed(backup)
            _check_removed(_deleting(backup))
        except OSError:  # (a file held open in it, an NFS .nfsXXXX file): the set is placed
            left = True
    if left:
        _mark_placed(journals)  # kept: the next recovery deletes what is left, nothing else
    else:
        _remove_journals(journals)


def _mark_placed(journals: list[Path]) -> None:
    """Rewrite each journal of a set whose every file is in place, marked `placed`: its
    recovery only deletes the backups (and `.deleting` folders) left, and never puts a backup
    back over a target missing since (a result the user removed after the set was placed).
    Each is replaced whole; one that cannot be rewritten keeps the set's usual recovery."""
    for journal in journals:
        part = journal.with_name(journal.name + ".partial")
        try:
            record = json.loads(journal.read_text(encoding="utf-8"))
            record["placed"] = True
            with open(part, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(part, journal)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                part.unlink()


def _rename(src: Path, dst: Path) -> None:
    """One rename of `_place_all` (tests stop a child process between two of them); `replace`
    retries a target held open on Windows."""
    replace(src, dst)


JOURNAL_GLOB = ".catrack-set.*.journal"
_LIVE_JOURNAL_S = 60.0  # a set's renames take milliseconds: older, its process is gone
_PID_JOURNAL_S = 3600.0  # a pid alive after this long is another process that got its number
_OWN_JOURNALS: set[Path] = set()  # the journals of the sets this process is renaming now
_OWN_LOCK = threading.Lock()


def _write_journals(entries: list[tuple[Path, Path, Path]]) -> list[Path]:
    """The set's journal, durable, in each folder one of its targets lies in (the next write
    into any of them finds it). Nothing is written for a set that cannot be half placed."""
    if not entries:
        return []
    folders = list(dict.fromkeys(path.parent for _tmp, path, _backup in entries))
    name = f".catrack-set.{uuid.uuid4().hex[:12]}.journal"
    journals = [folder / name for folder in folders]
    with _OWN_LOCK:  # (before any is written: this process's next write must not recover it)
        _OWN_JOURNALS.update(journals)
    text = json.dumps({
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "journals": [str(j.absolute()) for j in journals],
        "files": [
            {"temp": str(t.absolute()), "target": str(p.absolute()), "backup": str(b.absolute()),
             "was": _fingerprint(p)}
            for t, p, b in entries
        ],
    })  # fmt: skip
    try:
        for journal in journals:
            part = journal.with_name(journal.name + ".partial")
            try:
                with open(part, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(part, journal)  # whole or absent
            finally:
                with contextlib.suppress(OSError):
                    part.unlink()
    except BaseException:
        _remove_journals(journals)
        with _OWN_LOCK:
            _OWN_JOURNALS.difference_update(journals)
        raise
    return journals


def _remove_journals(journals: list[Path]) -> None:
    for journal in journals:
        with contextlib.suppress(OSError):
            journal.unlink()
        with contextlib.suppress(OSError):  # (`_mark_placed`'s, of a process killed there)
            journal.with_name(journal.name + ".partial").unlink()


def recover_interrupted_sets(
    folder: str | os.PathLike,
    names: list[str] | None = None,
    unfinished: list[str] | None = None,
) -> list[Path]:
    """Finish every `atomic_write_set` that a killed process left half placed in `folder` (its
    journal is there); returns the targets it placed or restored.

    Every temp file of the set was finished and synced before the first rename, so the set is
    rolled forward: each temp file still there replaces its target; a target missing with its
    backup kept (a rename undone by hand) gets its older file back; a backup is deleted only
    once its target is in place, so the user's only copy of a file is never deleted. A journal
    of a process still running (same host, its pid alive; another host or Windows: written in
    the last minute) is left alone. A set that could not be finished (a read-only folder, a
    file held open) keeps its journal, so the next recovery tries again; `unfinished` gets one
    line per such set. Called by every `atomic_write_path` for its folder (`names`: the
    folder's listing it made) and by `recover_before_reading`."""
    folder = Path(folder)
    names = _folder_names(folder) if names is None else names
    found = sorted(_matching(folder, names, JOURNAL_GLOB))
    done: list[Path] = []
    for journal in found:
        with _OWN_LOCK:
            if journal.absolute() in _CLEANING:
                continue  # finished here; its backups are being removed in the background
        try:
            record = json.loads(journal.read_text(encoding="utf-8"))
            if _journal_is_live(journal, record):
                continue
            entries = [
                (Path(e["temp"]), Path(e["target"]), Path(e["backup"])) for e in record["files"]
            ]
            read = journal.stat()
            written = read.st_mtime
        except (OSError, ValueError, KeyError, TypeError):
            continue  # gone meanwhile (another process recovered it), or unreadable: left
        if not _journal_is_sound(journal, record, entries):
            continue  # moved or copied from elsewhere, or not ours: its paths are not followed
        placed, why = _recover_locked(journal, read, record, entries, written)
        done += placed
        if why is not None and unfinished is not None:
            unfinished.append(why)
        elif isinstance(why, _PutBackLine):  # (a write's recovery: said there too)
            say_unfinished([why], stacklevel=4)
    return done


# (journal, its stat when read, lock key, listed journals, entries, written, by_ctime), one set
_Was = dict[Path, list[int]]  # each target as the set found it (`_fingerprint`; h19 journals)
_Job = tuple[
    Path, os.stat_result, Path, list[Path], list[tuple[Path, Path, Path]], float, bool, bool, _Was
]  # (..., by_ctime, placed: the journal of a set placed whole, its leftovers only, was)
_IN_BACKGROUND: ContextVar[bool] = ContextVar("catrack_recover_in_background", default=False)
_CLEANING: set[Path] = set()  # journals whose set is consistent, backups queued for removal
_CLEANUP: list[Future] = []
_CLEANUP_POOL: ThreadPoolExecutor | None = None


@contextlib.contextmanager
def cleanup_in_background() -> Iterator[None]:
    """Recovery inside this block (`recover_before_reading` of napari's reader, on its GUI
    thread) only renames: the set is made consistent at once, and the deletion of its backups
    (an older registered movie: seconds for a multi-GB zarr) is left to one background thread,
    which takes the set's lock again and removes the journal last. The files on disk end as a
    synchronous recovery leaves them; a process killed meanwhile leaves the journal, so the next
    recovery finishes the deletion. `wait_for_cleanup` waits for it."""
    token = _IN_BACKGROUND.set(True)
    try:
        yield
    finally:
        _IN_BACKGROUND.reset(token)


def wait_for_cleanup(timeout: float | None = None) -> bool:
    """Wait until the background deletions queued by `cleanup_in_background` are done (True),
    or `timeout` seconds (False)."""
    with _OWN_LOCK:
        pending = list(_CLEANUP)
    _done, left = futures_wait(pending, timeout=timeout)
    return not left


def _recover_locked(
    journal: Path,
    read: os.stat_result,
    record: dict,
    entries: list[tuple[Path, Path, Path]],
    written: float,
) -> tuple[list[Path], str | None]:
    """Roll one set forward while holding its lock: the set's first journal (one key for every
    folder of the set), locked exclusively without waiting. Two recoverers at once (napari
    opening a session while a command reads the same folder, two batch workers) would race:
    one places a zarr's temp folder while the other, past its own checks, rmtree's it as the
    "old" target, and the first has already deleted the backup: both copies gone. The second
    now skips (the first finishes), and so does one that finds the journal gone or replaced
    once it holds the lock (the set was finished meanwhile). Returns the targets placed and,
    for a set left unfinished (its journal kept), one line saying why."""
    listed = [Path(j) for j in record.get("journals", [])]
    key = listed[0] if listed and listed[0].exists() else journal
    with _locked(key) as held:
        if not held or not _same_journal(journal, read):
            return [], None  # another process is recovering it now, or it was finished
        by_ctime = _ctimes_kept(read)
        placed = record.get("placed") is True  # (`_mark_placed`: only leftovers to delete)
        was = _recorded(record)
        if not placed:
            _say_decisions(journal, read, entries, written, by_ctime, was)
        with stop.shielded():
            done, mixed = ([], None) if placed else _roll_forward(entries, written, by_ctime, was)
            job: _Job = (journal, read, key, listed, entries, written, by_ctime, placed, was)
            later = _IN_BACKGROUND.get() and mixed is None  # consistent: backups can wait
            left = None if later else _clean_up(entries, written, by_ctime, placed, was) or mixed
            if left is None and not later:  # the key last (a recoverer finding it gone skips)
                _remove_journals([j for j in [*listed, journal] if j != key] + [key])
    if later:  # (once the lock is released: the background thread takes it again)
        _queue_cleanup(job)
        return done, None
    if mixed is not None:  # (only hidden leftovers kept: the files read are whole, no note)
        return done, _unfinished_line(journal, mixed)
    if left is None:
        _remove_journals([key])  # (Windows refuses to delete a file open here: now closed)
    return done, None


def _say_decisions(
    journal: Path,
    read: os.stat_result,
    entries: list[tuple[Path, Path, Path]],
    written: float,
    by_ctime: bool,
    was: _Was | None = None,
) -> None:
    """One line for each decision made otherwise than by the usual rule: a file the change time
    would have kept, replaced (`_say_mtime_only`); a file or folder restored at a target,
    kept where its times alone would have had it replaced, or a file changed since the set
    began that its times alone would have had replaced (`_changed_since`;
    `_say_restored_kept`)."""
    if not by_ctime and any(
        tmp.exists() and _kept(tmp, path, b, written, True, was)
        and not _kept(tmp, path, b, written, False, was)
        for tmp, path, b in entries
    ):  # fmt: skip
        _say_mtime_only(journal, read, bool(was))
    for tmp, path, backup in entries:
        if not tmp.exists():
            continue
        changed = was and path in was and _changed_since(path, was[path])
        if _restored_target(tmp, path, backup) or (changed and not _is_put_back(path, backup)):
            if not _newer(path, written, by_ctime):  # (else kept by the time rule: as ever)
                _say_restored_kept(path)


def _same_journal(journal: Path, read: os.stat_result) -> bool:
    """Whether `journal` is still the file read (not finished, and no other set begun since)."""
    try:
        return os.path.samestat(os.stat(journal), read)
    except OSError:
        return False


def _roll_forward(
    entries: list[tuple[Path, Path, Path]],
    written: float,
    by_ctime: bool = True,
    was: _Was | None = None,
) -> tuple[list[Path], OSError | None]:
    """Make the set consistent by renames only: each temp file still there replaces its target
    (unless the target was written after the set: kept), a missing target gets its backup
    back. An older target still in place is moved to its backup name rather than deleted, so
    nothing large is removed here (`_clean_up` does it). Returns the targets placed or
    restored and the first error (the set is then left for the next recovery)."""
    done: list[Path] = []
    failed: OSError | None = None
    for tmp, path, backup in entries:
        try:
            if tmp.exists():
                if _kept(tmp, path, backup, written, by_ctime, was):  # (temp removed later)
                    continue
                there = path.exists() or path.is_symlink()
                moved = there and not (backup.exists() or backup.is_symlink())
                if moved:
                    _note_put_back(path, backup)  # (first: a note not written moves nothing)
                    replace(path, backup)  # (was: `_place`'s rmtree of an old zarr here)
                try:
                    _place(tmp, path)
                except OSError as exc:
                    if moved:  # never left missing until the next recovery: put back
                        _put_back(path, backup, exc)
                    raise
                done.append(path)
            elif not (path.exists() or path.is_symlink()) and backup.exists():
                replace(backup, path)
                done.append(path)
        except OSError as exc:
            failed = failed or exc
    return done, failed


def _kept(
    tmp: Path,
    path: Path,
    backup: Path,
    written: float,
    by_ctime: bool = True,
    was: _Was | None = None,
) -> bool:
    """Whether the target `path` is kept and the set's temp file `tmp` dropped: written after
    the set (`_newer`), unless it is the set's older copy that a recovery put back
    (`_put_back`: renamed twice, its ctime is new); or something put at the target after the
    killed run had moved the older one aside (`_restored_target`), whatever the times say;
    or a file that is not the one the set found there (`_changed_since`: its size or mtime
    differ from the journal's record, h19), where the times say otherwise too: change times
    not trusted, none kept (sshfs reports the mtime), a creation time (Windows)."""
    if _restored_target(tmp, path, backup):
        return True
    if was and path in was and _changed_since(path, was[path]):
        return not _is_put_back(path, backup)
    return _newer(path, written, by_ctime) and not _is_put_back(path, backup)


def _fingerprint(path: Path) -> list[int] | None:
    """A target as a set finds it before its renames, recorded in its journal: [size, mtime in
    ns] of a file, [] where nothing is there, None for anything else (a folder, a link: judged
    as before). Size and mtime, not the inode: some network and FUSE file systems number a
    file anew on each mount, which would make every target look changed and no killed set
    ever finished."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return []
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns] if stat.S_ISREG(st.st_mode) else None


def _recorded(record: dict) -> _Was:
    """The targets' `_fingerprint`s a journal recorded (none in a journal before h19)."""
    was: _Was = {}
    for entry in record.get("files", []):
        said = entry.get("was") if isinstance(entry, dict) else None
        if isinstance(said, list) and all(type(v) is int for v in said) and len(said) in (0, 2):
            was[Path(entry["target"])] = said
    return was


def _changed_since(path: Path, was: list[int]) -> bool:
    """Whether the file at `path` is not the one the set found there (`_fingerprint` `was`):
    put there where there was none, or of another size or mtime (a copy of the user's with
    its old date, `cp -p` over it). A rename keeps both, so the set's older copy moved aside
    and back (by a recovery's put-back, or by hand) is the same file; nothing at `path`, or
    a folder, is not judged here."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and [st.st_size, st.st_mtime_ns] != was


def _restored_target(tmp: Path, path: Path, backup: Path) -> bool:
    """The set's temp file (or folder: a zarr movie) still there, the older target moved aside
    (the backup is there) and yet something at the target: put there after the kill (the user
    restored the file or movie, `cp -p`/`cp -a` keeping its old times). No step of this module
    leaves that state: the target is moved aside only just before its temp is renamed there,
    and a rename is one step, so between the two the target is missing; a put-back
    (`_put_back`) renames the backup itself, which is then gone. So what is there is someone
    else's, kept by its presence alone: where change times are not trusted, its old mtime
    looked older than the set and the save's new copy replaced it, no copy kept (h17-h18 for a
    file; a folder was deleted where it lay until h18)."""
    there = path.exists() or path.is_symlink()
    return there and (tmp.exists() or tmp.is_symlink()) and (backup.exists() or backup.is_symlink())


def _say_restored_kept(path: Path) -> None:
    warnings.warn(
        f"finishing an interrupted save in {path.parent}: {path.name} was put there since that "
        "save was interrupted (restored?), so it is kept as it is and that save's new copy is "
        "dropped; run the step again for a new one",
        RecoveryNote,
        stacklevel=2,
    )


def _put_back_note(backup: Path) -> Path:
    """The note beside a backup saying which file a recovery put back from it (`_put_back`)."""
    return backup.with_name(backup.name + ".back")


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _is_put_back(path: Path, backup: Path) -> bool:
    """Whether `path` is still the older copy a recovery put back (same file, same size and
    mtime: not written, restored or replaced since)."""
    try:
        said = json.loads(_put_back_note(backup).read_text(encoding="utf-8"))
        return said == _identity(path.lstat())
    except (OSError, ValueError):
        return False


class _PutBackLine(str):
    """An unfinished set's line where a recovery put a target's older copy back: said on every
    path (a write's recovery too), not only by reads."""


def _note_put_back(path: Path, backup: Path) -> None:
    """Before recovery moves the older target `path` aside to `backup`: the note beside the
    backup naming that file (device, inode, size, mtime: a rename keeps them), written whole
    and synced, so a put-back (`_put_back`) is always recognised by the next recovery. Written
    before the move (h19; h18 wrote it just before the put-back and put the file back all the
    same where it could not be written, a full disk: the put-back file's new ctime then read as
    "written after the set", it was kept and the set's new copy dropped, the set left mixed for
    good). A note that cannot be written raises (the target's name on it): the target is then
    not moved at all, the set unfinished with its journal kept, and the next recovery finishes
    it. A kill after the note and before the move leaves a note naming the target still in
    place: that is the older target, rolled forward as any."""
    note = _put_back_note(backup)
    part = note.with_name(note.name + ".partial")
    try:
        with open(part, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(_identity(path.lstat())))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, note)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def _put_back(path: Path, backup: Path, exc: OSError) -> None:
    """The set's temp file could not be placed after the older `path` was moved aside to
    `backup`: put it back, so the user's last good file is where they left it rather than
    missing until the next recovery. The rename makes its ctime new, which would read as
    "written after the set" and keep it for good, the set's new copy dropped: the note beside
    the backup (`_note_put_back`, written before the move) names the file put back, so the
    next recovery moves it aside again and finishes the set (`_is_put_back`). A kill before
    the rename leaves the target missing with its backup, which the next recovery places as
    before. Marks `exc` (its line then says so); a put-back that fails leaves the target
    missing, as before."""
    try:
        replace(backup, path)
    except OSError:
        return
    exc.catrack_put_back = path  # type: ignore[attr-defined]


def _clean_up(
    entries: list[tuple[Path, Path, Path]],
    written: float,
    by_ctime: bool = True,
    placed: bool = False,
    was: _Was | None = None,
) -> OSError | None:
    """Delete what a consistent set leaves: the backup of each target in place, the temp file
    of a target written after the set. Returns the first error (a backup that could not be
    removed: the journal is then kept, so nothing is left behind for good); a temp file whose
    target was not placed is such an error too, and so is a backup whose target is missing (in
    the background thread: another write of this process between its own two renames; the
    next recovery finishes it, where removing the journal would leave the backup for good).
    `placed`: a set placed whole whose backups were not all deleted (`_mark_placed`): only its
    backups and `.deleting` folders are deleted, whatever is at its targets now."""
    failed: OSError | None = None
    for tmp, path, backup in entries:
        try:
            if not placed and (tmp.exists() or tmp.is_symlink()):
                if not _kept(tmp, path, backup, written, by_ctime, was):
                    raise FileExistsError(errno.EEXIST, "not placed", str(tmp))
                _remove_path(tmp)
                _check_removed(tmp)
            note = _put_back_note(backup)  # (the set's temp file is gone: no longer needed)
            for leftover in (note.with_name(note.name + ".partial"), note):  # (a kill's, too)
                if leftover.exists() or leftover.is_symlink():
                    _remove_path(leftover)
                    _check_removed(leftover)
            trash = _deleting(backup)  # (what a process killed in `_remove_backup` left)
            if trash.exists() or trash.is_symlink():
                _remove_path(trash)
                _check_removed(trash)
            if backup.exists() or backup.is_symlink():
                if not placed and not (path.exists() or path.is_symlink()):  # (moved aside
                    raise FileNotFoundError(errno.ENOENT, "target missing", str(path))  # now)
                _remove_backup(backup)
                _check_removed(backup)
                _check_removed(trash)
        except OSError as exc:
            failed = failed or exc
    return failed


def _deleting(backup: Path) -> Path:
    """The name a backup folder is deleted under (`_remove_backup`)."""
    return backup.with_name(backup.name + ".deleting")


def _remove_backup(backup: Path) -> None:
    """Delete a set's older copy once its target is in place. A folder (an older zarr movie:
    thousands of files, seconds) is first renamed to `_deleting`'s name: a process killed
    half-way through its deletion left it half deleted under the backup name, which recovery
    puts back when the target is missing (a rename undone by hand; here a movie the user
    removed since), and a zarr reads its missing chunks as zeros. What a kill leaves under the
    other name is never restored; the journal, kept, has the next recovery remove it. A folder
    that cannot be renamed (Windows: a file in it open; an earlier `.deleting` not wholly
    removed) is kept whole under its backup name, never deleted there (h18: it was, and a file
    that could not be deleted left it half deleted, restorable): OSError, so the caller keeps
    the journal and the next recovery tries again."""
    if not backup.is_dir() or backup.is_symlink():
        _remove_path(backup)
        return
    trash = _deleting(backup)
    _remove_path(trash)  # (an earlier kill's, if any: a folder is not renamed over one)
    replace(backup, trash)
    _remove_path(trash)


def _check_removed(path: Path) -> None:
    """`_remove_path` ignores a folder's errors (rmtree): what is left is one."""
    if path.exists() or path.is_symlink():
        raise PermissionError(errno.EACCES, "could not be removed", str(path))


def _queue_cleanup(job: _Job) -> None:
    global _CLEANUP_POOL
    journals = {j.absolute() for j in [job[0], *job[3]]}  # (every folder's: all skip it here)
    with _OWN_LOCK:
        _CLEANING.update(journals)
        if _CLEANUP_POOL is None:  # (its thread is joined at exit: the deletion is finished)
            _CLEANUP_POOL = ThreadPoolExecutor(1, thread_name_prefix="catrack-recovery")
        _CLEANUP[:] = [f for f in _CLEANUP if not f.done()]
        try:
            _CLEANUP.append(_CLEANUP_POOL.submit(_clean_up_later, job))
        except RuntimeError:  # Python exiting: no new thread; the journal stays for the next
            _CLEANING.difference_update(journals)  # recovery (the set is consistent already)


def _clean_up_later(job: _Job) -> None:
    """`_clean_up` of one set in the background thread, under its lock again; on any error the
    journal is kept (the next recovery finishes it)."""
    journal, read, key, listed, entries, written, by_ctime, placed, was = job
    try:
        removed = False
        with _locked(key) as held:
            if (
                held
                and _same_journal(journal, read)
                and _clean_up(entries, written, by_ctime, placed, was) is None
            ):
                _remove_journals([j for j in [*listed, journal] if j != key] + [key])
                removed = True
        if removed:
            _remove_journals([key])  # (Windows: once closed)
    except Exception:  # nothing to tell it to: the journal stays for the next recovery
        pass
    finally:
        with _OWN_LOCK:
            _CLEANING.difference_update(j.absolute() for j in [journal, *listed])


def _unfinished_line(journal: Path, exc: OSError) -> str:
    where = Path(exc.filename).name if exc.filename else journal.parent
    back = getattr(exc, "catrack_put_back", None)
    if back is not None:
        return _PutBackLine(
            f"{journal.parent}: a result a killed run left half replaced could not be finished "
            f"here ({where}: {exc.strerror or exc}); {back.name} is its older copy, put back "
            "where it was, and other files of that result may be the newer run's; the next "
            "read or write there tries again, or run the step again"
        )
    return (
        f"{journal.parent}: a result a killed run left half replaced could not be finished "
        f"here ({where}: {exc.strerror or exc}), so it is read as the kill left it: some files "
        "may be the older run's or missing (a hidden .old copy beside each); open it once "
        "where this folder can be written, or run the step again"
    )


class RecoveryNote(UserWarning):
    """One line on a recovery: a set a killed run left half placed that could not be finished
    here, or a decision made differently from the usual rule (change times not trusted)."""


_NOTED: set[str] = set()  # lines already said (once per process, not on every read)


@contextlib.contextmanager
def _locked(path: Path, lock_file: bool = False) -> Iterator[bool]:
    """Hold an exclusive lock on the file `path` (True), or False at once where another
    process holds it, or it cannot be opened or locked: the caller then does nothing. POSIX:
    `flock`; Windows: `msvcrt.locking` of its first byte, unlocked before the close (the CRT
    asks for it: a lock closed with the file is released only "eventually"). Both are released
    when the process dies, so a recoverer killed mid-way never blocks the next one. Opened for
    writing where it can be: an NFS client emulates `flock` by a POSIX lock, which refuses an
    exclusive lock on a file opened read-only (EBADF), so no set was ever recovered there.

    `lock_file`: `path` is a lock file of its own (`NAME.lock`), created where missing and
    removed by its holder before the lock is released (h19: such files stayed for good). A
    process that opened it before that removal and locks it after holds a file no longer
    there, while a third may create and lock a new one: so the lock counts only while `path`
    is still the very file locked (False otherwise: the caller tries again). Windows refuses
    to remove an open file: the lock file stays there, as before."""
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if lock_file else 0), 0o666)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)  # (a read-only file or folder: locks locally)
        except OSError:
            yield False
            return
    try:
        try:
            if WINDOWS:
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        if lock_file:
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except OSError:  # (removed meanwhile by the holder before)
                same = False
            if not same:
                if WINDOWS:
                    with contextlib.suppress(OSError):
                        os.lseek(fd, 0, os.SEEK_SET)
                        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
                yield False
                return
        try:
            yield True
        finally:
            if lock_file:  # (while still held: whoever opened it meanwhile sees it gone)
                with contextlib.suppress(OSError):
                    os.unlink(path)
            if WINDOWS:
                with contextlib.suppress(OSError):
                    os.lseek(fd, 0, os.SEEK_SET)
                    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(fd)  # (releases the lock)


def recover_before_reading(*paths: str | os.PathLike | None) -> None:
    """Finish the sets a killed process left half placed where `paths` are about to be read
    (a session or recording opened, a command's inputs): the folder of each path, and a folder
    path itself (an export folder, a TIFF folder; a glob: its folder). Until h16 only the next
    write into such a folder recovered it, so a folder never written into again kept new files
    beside older ones, a target maybe missing with its only copy a hidden `.old`, and whoever
    opened it read that. Same recovery and rules as `recover_interrupted_sets` (a live writer's
    journal is left; an only copy never deleted); costs one listing per folder. A read never
    fails because of it: a folder it cannot change (a read-only share) is read as it is, with
    one `RecoveryNote` warning per set and process saying so. Inside `cleanup_in_background`
    (napari's reader) the backups are deleted by a background thread."""
    folders: dict[str, Path] = {}
    for path in paths:
        if path is None:
            continue
        p = Path(path)
        try:
            if p.is_dir():
                folders.setdefault(os.path.abspath(p), p)
        except OSError:
            pass
        parent = p.parent
        folders.setdefault(os.path.abspath(parent), parent)
    unfinished: list[str] = []
    for folder in folders.values():
        with contextlib.suppress(OSError):
            recover_interrupted_sets(folder, unfinished=unfinished)
    say_unfinished(unfinished, stacklevel=4)


def say_unfinished(lines: list[str], stacklevel: int = 3) -> None:
    """One `RecoveryNote` warning per line of `recover_interrupted_sets(unfinished=...)`, once
    per process: every read path that recovers a folder says what it could not finish there."""
    for line in lines:
        if line not in _NOTED:
            _NOTED.add(line)
            warnings.warn(line, RecoveryNote, stacklevel=stacklevel)


def _ctimes_kept(journal: os.stat_result) -> bool:
    """Whether change times can be trusted where the journal lies, judged by the journal itself:
    written, synced and renamed into place once and never changed after, its ctime is its mtime
    plus that sync (Windows: its creation time, earlier still). A ctime more than
    `CTIME_SLACK_S` later says the file system reports another time as the change time (some
    network shares and FUSE file systems), or the journal was touched since (`touch`, chmod):
    then `_newer` judges by mtime alone, the rule before h16 (`_say_mtime_only`)."""
    return WINDOWS or journal.st_ctime <= journal.st_mtime + CTIME_SLACK_S


def _say_mtime_only(journal: Path, read: os.stat_result, recorded: bool = False) -> None:
    """One warning line: a target that the change time would have kept is judged by its
    modification time (and, `recorded`: a journal of h19 on, by the size and mtime it records,
    `_changed_since`) and replaced by the interrupted save's new copy."""
    late = read.st_ctime - read.st_mtime
    what = (
        "size and modification time only: a file that save had not yet moved aside, renamed or "
        "given other permissions there since but not changed, is replaced"
        if recorded
        else "modification time only: a file that save had not yet moved aside, changed there "
        "since and given back its old time (cp -p over it), is replaced"
    )
    warnings.warn(
        f"finishing an interrupted save in {journal.parent}: change times there look unreliable "
        f"(its journal's is {late:.0f} s after it was written), so its files are judged by their "
        f"{what} by that save's new copy",
        RecoveryNote,
        stacklevel=2,
    )


def _newer(path: Path, than: float, by_ctime: bool = True) -> bool:
    """Whether `path` was written or put there after the time `than` (a journal left unrecovered
    while its folder got newer results: its temp files are older and never replace them).

    The change time counts as well as the modification time: a file the user restored after the
    kill with `cp -p`, `rsync -a` or `shutil.copy2` keeps its old mtime, and was replaced by the
    killed run's temp file, with no copy kept; its ctime (Windows: creation time) is the restore's
    and cannot be set back. A target the killed run had not yet moved keeps its older ctime (the
    killed run renamed only other files; a rename is what changes ctime) and is still completed;
    one it already placed has no temp file left. What ctime also catches (a chmod, a rename undone
    by hand after the kill) keeps the file that is there: a re-run redoes a result, a user's file
    may be the only copy. `by_ctime` False: mtime alone (`_ctimes_kept`: not trusted there)."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return max(st.st_mtime, st.st_ctime if by_ctime else st.st_mtime) > than


def _journal_is_sound(journal: Path, record: dict, entries: list[tuple[Path, Path, Path]]) -> bool:
    """Whether `journal` lies where its set wrote it and names only this module's files of its
    own folders (temp `.NAME.*.partial` and backup `.NAME.*.old` beside each target NAME): a
    journal copied or moved with its folder (its paths name the original folder's files) or
    edited by hand never makes recovery rename or delete a file it did not write. The journals
    it lists (removed once the set is finished) all bear its own name, one per folder."""
    try:
        listed = {Path(j) for j in record.get("journals", [])}
    except TypeError:
        return False
    if not any(_same(journal, j) for j in listed):  # (samefile: a folder reached by a link)
        return False
    if any(j.name != journal.name for j in listed):  # (recovery deletes every one it lists)
        return False
    folders = {j.parent for j in listed}
    for tmp, path, backup in entries:
        if not (path.is_absolute() and path.parent in folders):
            return False
        if tmp.parent != path.parent or backup.parent != path.parent:
            return False
        prefix = f".{short_name(path.name)}."  # (as the temp and backup names cut it)
        if not (tmp.name.startswith(prefix) and tmp.name.endswith(".partial")):
            return False
        if not (backup.name.startswith(prefix) and backup.name.endswith(".old")):
            return False
    return True


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _journal_is_live(journal: Path, record: dict) -> bool:
    """Whether the process that wrote `journal` may still be renaming its set."""
    try:
        age = time.time() - journal.stat().st_mtime
    except OSError:
        return True
    pid = record.get("pid")
    if os.name == "nt" or record.get("host") != socket.gethostname() or not isinstance(pid, int):
        return age < _LIVE_JOURNAL_S  # (Windows: os.kill(pid, 0) would terminate the process)
    if pid == os.getpid():  # another thread of this process renaming now, or a killed process
        with _OWN_LOCK:  # of an earlier run that had the same pid (a container, after a reboot)
            return journal.absolute() in {j.absolute() for j in _OWN_JOURNALS}
    if age > _PID_JOURNAL_S:
        return False  # (pids are reused: after a reboot another process may have this one)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, another user's
        return True
    return True


def _place(tmp: Path, path: Path) -> None:
    """One finished temp file (or folder) to its target. A folder is only ever renamed to a
    target that is not there (`place_when_done` places one over an older as a set of one, and
    recovery moves the older aside first): what lies at the target is never deleted where it
    lies (h18: recovery rmtree'd a folder the user had restored there)."""
    if tmp.is_dir() and (path.is_dir() or path.exists() or path.is_symlink()):
        raise FileExistsError(
            errno.EEXIST, "a folder is never placed over what is there", str(path)
        )
    replace(tmp, path)


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _remove_all(pending: list[tuple[Path, Path]]) -> None:
    for tmp, _ in pending:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back while a set is renamed into place, then deliver them: an
    interrupt between two renames would leave half a new set beside half an old one."""
    held: dict[int, object] = {}
    caught: list[int] = []
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            current = signal.getsignal(sig) if sig is not None else None
            if current is None or current == signal.SIG_IGN:
                continue  # not installed from Python (cannot be restored) or ignored anyway
            held[sig] = signal.signal(sig, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


def _target_mode(path: Path) -> int:
    """Keep an existing file's permissions, else the usual umask-derived ones."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_write_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
