"""The one Session model: everything a user produced, saved as one versioned HDF5 file.

A session is a recording reference plus named *steps* ("alignment", "neurons", "tracks",
"traces", ...). Each step holds tables (pandas), arrays, JSON-able attributes, and the parameters
and package version that produced it (provenance). Saving writes a temp file and renames it, so an
interrupted save never damages the previous file. Autosave runs after each recorded step.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import glob
import hashlib
import json
import os
import shutil
import sys
import threading
import weakref
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from napari_catrack import __version__
from napari_catrack.errors import CatrackError, InputError
from napari_catrack.io.atomic import (
    TargetHeldOpen,
    atomic_write_path,
    is_read_only,
    recover_before_reading,
)
from napari_catrack.io.h5write import h5_writer

SCHEMA_VERSION = 1
SESSION_SUFFIX = ".catrack.h5"
RATE_STEPS = ("transients", "traces", "sources", "puncta")
"""Steps that record the frame rate they worked at (attrs ``fps``), read by `frame_rate`."""
_FORMAT_TAG = "napari-catrack session"


def _saves_written() -> None:
    """Before this process reads a session file: the GUI's queued autosaves are written first
    (`save_queue`), so what was just recorded is what is read."""
    queue = sys.modules.get("napari_catrack.save_queue")
    if queue is not None:
        queue.flush()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


@dataclass
class StepRecord:
    """The result of one analysis step with its provenance."""

    name: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # a dict, or `LazyArrays` (read on first use) for a session loaded with lazy_arrays=True
    arrays: MutableMapping[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    created: str = field(default_factory=_now)


@dataclass
class _Snapshot:
    """What one save writes: the session's content at one moment (`Session.snapshot`)."""

    generation: int
    created: str
    recording: dict[str, Any]
    steps: dict[str, StepRecord]
    layers: list[tuple[Any, dict, str]]
    # the background writer's: each array written from memory is checked for edits meanwhile
    # (`_ArrayWriter._write_checked`; `save_queue.EditedWhileSaved`)
    checked: bool = False


class Session:
    """All results of one analysis; `record()` adds a step, `save()`/`load()` persist it."""

    def __init__(self, path: str | os.PathLike | None = None, *, autosave: bool = True) -> None:
        self._seen: tuple[Path, tuple[int, ...] | None] | None = None
        self._sources: list[_ArraySource] = []  # files lazy arrays are read from (`load`)
        # the arrays of the file this session last read or wrote, for `save` to copy the unchanged
        # ones from it: that file's path and stamp, and {dataset path: content fingerprint}
        self._known: _KnownArrays | None = None
        self.path: Path | None = Path(path) if path is not None else None
        self.autosave = autosave
        # the GUI's sessions: autosaves are written by `save_queue`'s thread, not the caller's
        self.background_saves = False
        self._save_lock = threading.RLock()  # one writer of this session at a time
        self._generation = 0  # snapshots taken (`snapshot`)
        self._generation_lock = threading.Lock()  # not `_save_lock`: held for a whole write
        self._saved_generation = 0  # the newest snapshot written to `path`
        self._traces_rate = None  # `traces_frame_rate`'s last answer, for the table it read
        self._writing: _Snapshot | None = None  # the snapshot `_write` writes (`_write_snapshot`)
        # where a line about a save that went elsewhere goes (the GUI: a napari notification);
        # None: a Python warning (the CLI prints it)
        self.on_notice: Any = None
        # where an autosave's failure goes (the GUI: an error notification), None: raised. A
        # viewer's results must outlive a full disk: they stay in memory, to save elsewhere
        self.on_save_error: Any = None
        self.recording: dict[str, Any] = {}
        self.steps: dict[str, StepRecord] = {}
        self.layers: list[
            tuple[Any, dict, str]
        ] = []  # saved user-editable layers (napari LayerData)
        self.created = _now()
        # this session was saved beside another session file of its recording instead of over
        # it ("changed on disk", an earlier session's file): {"file", "reason", "at"}, stored
        # with it, so that a command given the recording alone sees the two are alternatives
        # (`recording_session`) and `catrack info` can say where the file came from
        self.branched_from: dict[str, str] | None = None

    @property
    def path(self) -> Path | None:
        """The session file autosave writes. Pointing a session at a file notes the file as it is
        then (size, modification time), which `save` checks before it writes over it."""
        return self._path

    @path.setter
    def path(self, value: str | os.PathLike | None) -> None:
        self._path = Path(value) if value is not None else None
        self._seen = (self._path, _stamp_or_none(self._path)) if self._path is not None else None

    # --- content -----------------------------------------------------------------------------
    def set_recording(self, path: str, options: dict[str, Any], summary: dict[str, Any]) -> None:
        """`path` as this process opens it; the file stores it relative to the session's folder."""
        self.recording = {"path": str(path), "options": dict(options), "summary": dict(summary)}

    def stored_path(self, path: str | os.PathLike | None) -> str:
        """How a step stores a path an input came from (an event file): absolute. Never relative
        to the working folder (that names another file from anywhere else), and not relative to
        the session file either: step attributes are not re-based when the session is saved to
        another folder (save as, the export's copy), so such a path would point the wrong way.
        `resolve_stored_path` reads it back (and older sessions' relative paths)."""
        return os.path.abspath(path) if path else ""

    def resolve_stored_path(self, stored: str | None) -> str | None:
        """A path the session file stored, as this process opens it.

        A relative path is relative to the session file's folder, so a session opens from any
        working folder. Sessions written before that stored it relative to the folder the command
        ran in: that one is taken when only it is on disk.
        """
        if not stored or os.path.isabs(stored) or self.path is None:
            return stored
        beside = os.path.normpath(os.path.join(self.path.parent, stored))
        if os.sep == "/" and "\\" in stored and not _on_disk(beside):
            # written on Windows before relative paths were stored with '/': `sub\rec.tif`
            posix = os.path.normpath(os.path.join(self.path.parent, stored.replace("\\", "/")))
            if _on_disk(posix):
                return posix
        if _on_disk(beside) or not _on_disk(stored):
            return beside
        return stored

    def record(
        self,
        step: str,
        *,
        tables: dict[str, pd.DataFrame] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        attrs: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        save: bool | None = None,
    ) -> StepRecord:
        """Store (replace) a step's results; autosaves when the session has a path.

        `save=False` records without writing (a caller that debounces frequent edits);
        `save=None` follows `self.autosave`.
        """
        if not step or "/" in step:
            raise InputError(f"invalid step name {step!r}")
        rec = StepRecord(
            step,
            tables={k: v.copy() for k, v in (tables or {}).items()},
            arrays={k: np.asarray(v) for k, v in (arrays or {}).items()},
            attrs=_to_jsonable(dict(attrs or {})),
            params=_to_jsonable(dict(params or {})),
        )
        self.steps[step] = rec
        if (self.autosave if save is None else save) and self.path is not None:
            self.autosave_now()
        return rec

    def remove(self, step: str, save: bool | None = None) -> None:
        """Forget a step (no error if absent); autosaves like `record`."""
        if self.steps.pop(step, None) is not None:
            if (self.autosave if save is None else save) and self.path is not None:
                self.autosave_now()

    def __contains__(self, step: str) -> bool:
        return step in self.steps

    def __getitem__(self, step: str) -> StepRecord:
        try:
            return self.steps[step]
        except KeyError:
            raise KeyError(f"session has no step {step!r}; steps: {sorted(self.steps)}") from None

    # --- persistence -------------------------------------------------------------------------
    def autosave_now(self) -> None:
        """Write the session file with what it holds now: queued to the background writer for
        the GUI's sessions (`background_saves`, `save_queue`), else here. Nothing without a path."""
        if self.path is None:
            return
        if self.background_saves:
            from napari_catrack import save_queue

            save_queue.request(self)
        else:
            self._save_reporting_failure()

    def _save_reporting_failure(self) -> None:
        """`save()` after a change; its failure (a full disk, a read-only folder) goes to
        `on_save_error` when set, so a widget's step is kept and shown, not lost with a traceback."""
        if self.on_save_error is None:
            self.save()
            return
        try:
            self.save()
        except InputError as exc:
            from napari_catrack.save_queue import save_failed_line

            self.on_save_error(save_failed_line(exc))

    def snapshot(self) -> _Snapshot:
        """The content as it is now, for a save in another thread: new dicts of the steps and of
        each step's tables, arrays, attrs and params (`record` replaces a step, never edits it in
        place), the same DataFrames and arrays (no copy of the data)."""

        def step_copy(rec: StepRecord) -> StepRecord:
            arrays = rec.arrays if isinstance(rec.arrays, LazyArrays) else dict(rec.arrays)
            return replace(rec, tables=dict(rec.tables), arrays=arrays, attrs=dict(rec.attrs),
                           params=dict(rec.params))  # fmt: skip

        with self._generation_lock:  # (the GUI thread never waits for a write here)
            self._generation += 1
            generation = self._generation
        return _Snapshot(
            generation,
            self.created,
            dict(self.recording),
            {name: step_copy(rec) for name, rec in list(self.steps.items())},
            list(self.layers),
        )

    def renewed(self, snap: _Snapshot) -> _Snapshot:
        """`snap` again under a new generation number, for the background writer's retry: the
        same content, taken in the GUI thread (a snapshot taken in the writer thread could catch
        the GUI half-way through a change made in several statements), and the same arrays,
        which hold what was painted since (no copy of the data)."""
        with self._generation_lock:
            self._generation += 1
            return replace(snap, generation=self._generation)

    def write_snapshot(self, snap: _Snapshot, checked: bool = True) -> Path | None:
        """Save `snap` to `path` (the background writer); None: skipped, a newer snapshot was
        saved already (a synchronous `save` meanwhile) or the session has no path. `checked`:
        an array edited while it is written raises `save_queue.EditedWhileSaved` (else it is
        written all the same, without its fingerprint: `save_queue.EDITED_RETRIES`)."""
        with self._save_lock:
            if snap.generation <= self._saved_generation or self.path is None:
                return None
            return self._save(None, replace(snap, checked=checked))

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write atomically (temp file + rename); the previous file survives any interruption.

        Never over another writer's work: when the session file changed on disk since this
        session loaded, saved or was pointed at it (a second viewer on the same recording, a
        `catrack ... --session` step), that file is left as it is and this session is saved to
        the next free name beside it (`movie-2.catrack.h5`), which autosave then follows; the
        line saying so goes to `on_notice` (else a `SessionFileChanged` warning). An autosave
        over a read-only session file does the same; an explicit save to one is refused.

        An array of at least `FINGERPRINT_MIN_BYTES` whose content (SHA-256 of dtype, shape and
        bytes) is what this session last read from or wrote to the file at the path, that file
        still being the same one (size, mtime_ns, inode), is copied from it as stored (H5Ocopy,
        into the temp file, before the replace) instead of recompressed: a long video's masks
        then cost a GUI autosave a hash, not a recompression. Edited in place since (a painted
        Labels layer), or the file replaced meanwhile: written from memory as before.
        Waits for a background save of this session under way (one writer at a time).
        """
        snap = self.snapshot()
        with self._save_lock:
            return self._save(path, snap)

    def _save(self, path: str | os.PathLike | None, snap: _Snapshot) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise InputError("no session file path: choose where to save the session")
        pointed = self.path  # an autosave leaves a path set meanwhile (the GUI thread, below)
        changed = f"{CHANGED_ON_DISK} (another napari viewer or a catrack command)"
        held = (
            "is open for writing in another program (HDF5 holds its lock: HDFView, a notebook's "
            "h5py 'r+'), whose changes a replace would lose"
        )
        moved = why = None
        seen = self._seen
        expected: Any = _UNWATCHED  # the stamp the file at target must still have at the replace
        if seen is not None and seen[0] == target:
            expected = seen[1]
            now = _stamp_or_none(target)
            if now is not None and _held_by_writer(target):  # (opening it changed it too)
                why = held
            elif now is not None and now != seen[1]:
                why = changed
            elif path is None and is_read_only(target):
                why = "is read-only (its permissions allow no writing)"
            if why:
                moved, target, expected = target, free_session_path(target), _UNWATCHED
                self._branch(moved, why)
        try:
            written, arrays = self._write_file(target, expected, snap)
        except _ChangedMeanwhile as exc:  # another writer replaced the file (or opened it to
            # write) while this save wrote
            moved, why, target = (
                target,
                held if exc.args == ("held",) else changed,
                free_session_path(target),
            )
            self._branch(moved, why)
            written, arrays = self._write_file(target, _UNWATCHED, snap)
        except TargetHeldOpen:  # Windows: another program holds the file open (a reader too)
            why = "is open in another program, and Windows cannot replace an open file"
            moved, target = target, free_session_path(target)
            self._branch(moved, why)  # (the -2 file says what it was saved beside, and why)
            written, arrays = self._write_file(target, _UNWATCHED, snap)
        if path is None and self.path != pointed:
            # the background writer's autosave, and the GUI pointed the session elsewhere while
            # it wrote (`note_recording`: an imaging recording after a behaviour video): that
            # path stays (setting `target` lost it, and autosave kept going to the old file)
            return target
        self.path = target
        # a deferred replace (`atomic_write_set`) leaves the old file at the path for now: its
        # stamp is not `written`, so the next save copies nothing from it
        self._known = _KnownArrays(target, written, arrays.fingerprints) if written else None
        self._saved_generation = max(self._saved_generation, snap.generation)
        if moved is not None:
            self._notice(
                f"{moved.name} {why}: it is left as it is, and this session now saves to "
                f"{target.name} beside it; open both to compare"
            )
        return target

    def _branch(self, beside: Path, why: str) -> None:
        """Note that this session now saves beside `beside` (written with it, `branched_from`)."""
        self.branched_from = {"file": beside.name, "reason": why.split(" (")[0], "at": _now()}

    def _write_file(
        self, target: Path, expected: Any, snap: _Snapshot
    ) -> tuple[tuple[int, ...] | None, Any]:
        """Write the session to `target` atomically; `_ChangedMeanwhile` (nothing replaced) when
        the file at `target` no longer has the stamp `expected` once the new file is written: a
        save takes seconds, and another writer's file replaced meanwhile would be lost."""
        with atomic_write_path(target) as tmp:
            # the previous file, when it is still the one the fingerprints describe: opened,
            # copied from and closed before the replace (Windows cannot replace an open file)
            with _previous_file(self._known, target) as previous:
                arrays = _ArrayWriter(previous, self._known, checked=snap.checked)
                with h5_writer(tmp) as f:
                    self._write_snapshot(f, target, arrays, snap)
            if expected is not _UNWATCHED:
                with open(tmp, "rb+") as fh:  # synced now, so the replace follows the check at once
                    os.fsync(fh.fileno())
                now = _stamp_or_none(target)
                if now is not None and _held_by_writer(target):
                    raise _ChangedMeanwhile("held")
                if now != expected:
                    raise _ChangedMeanwhile
            written = _stamp_or_none(tmp)  # what the path names once the replace is done
        return written, arrays

    def _notice(self, line: str) -> None:
        if self.on_notice is not None:
            self.on_notice(line)
        else:
            import warnings

            warnings.warn(line, SessionFileChanged, stacklevel=3)

    def _write_snapshot(
        self, f: h5py.File, target: Path, arrays: _ArrayWriter | None, snap: _Snapshot
    ) -> None:
        self._writing = snap
        try:
            self._write(f, target, arrays)
        finally:
            self._writing = None

    def _write(self, f: h5py.File, target: Path, arrays: _ArrayWriter | None = None) -> None:
        # what `_save`/`save_copy` took (under `_save_lock`), else the content as it is now
        snap = self._writing if self._writing is not None else self.snapshot()
        f.attrs["format"] = _FORMAT_TAG
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["package_version"] = __version__
        f.attrs["created"] = snap.created
        f.attrs["saved"] = _now()
        recording = dict(snap.recording)
        if recording.get("path"):
            recording["path"] = _stored_path(str(recording["path"]), target)
        f.attrs["recording"] = json.dumps(_to_jsonable(recording))
        if self.branched_from:
            f.attrs["branched_from"] = json.dumps(self.branched_from)
        steps = f.create_group("steps")
        for name, rec in snap.steps.items():
            _write_step(steps.create_group(name), rec, arrays)
        lg = f.create_group("layers")
        for i, (data, meta, kind) in enumerate(snap.layers):
            write_layer(lg.create_group(f"{i:03d}"), data, meta, kind, arrays)
        from napari_catrack.io.hdf5 import stamp_chunks

        stamp_chunks(f)  # the batch checks a reopened session's chunks against these

    @classmethod
    def load(cls, path: str | os.PathLike, *, lazy_arrays: bool = False) -> Session:
        """Read a session file.

        `lazy_arrays=True` (a `catrack ... --session` step, which adds a small table to a session
        that may hold a long video's masks; `catrack export`, `export-nwb`, a batch recording)
        reads the tables and attributes now and each array
        the first time `step.arrays[name]` is used, from the file as it was at load: it stays
        open (read-only) until `close()` or the session is garbage collected. A later
        `os.replace` of the file by another writer does not change what is read (the open
        handle keeps the old file); the file rewritten in place meanwhile is one `InputError`
        line, never the other writer's data. `save` copies arrays never read into the new file
        without decompressing them. On Windows an open file cannot be replaced, so the arrays
        are read at once there (`lazy_arrays` is ignored).
        """
        path = Path(path)
        _saves_written()
        recover_before_reading(path)  # a set killed half placed there: finished first
        if not path.is_file():
            problem = "is a folder, not a file" if path.is_dir() else "not found"
            raise InputError(f"session file {problem}: {path}")
        f = _open_session_file(path)
        source = None
        try:
            with _reading(path):
                session = cls(path)
                read, named = _fd_stamp(f), session._seen[1]
                if read and named and read[-1] != named[-1]:  # replaced since `open`: note the
                    session._seen = (path, read)  # file read, so the next save goes beside it
                if lazy_arrays and _can_keep_open():
                    source = _ArraySource(path, f)
                    session._sources.append(source)
                session.created = str(f.attrs.get("created", _now()))
                session.recording = json.loads(f.attrs.get("recording", "{}"))
                if "branched_from" in f.attrs:
                    session.branched_from = json.loads(f.attrs["branched_from"])
                if session.recording.get("path"):
                    stored = session.recording["path"]
                    session.recording["path"] = session.resolve_stored_path(stored)
                for name, g in f["steps"].items():
                    session.steps[name] = _read_step(name, g, source)
                if "layers" in f:
                    session.layers = [read_layer(g) for _, g in sorted(f["layers"].items())]
                if source is None:  # every array is in memory: note what the file holds
                    session._known = _KnownArrays.of_loaded(session, path, _fd_stamp(f))
        except BaseException:
            f.close()
            raise
        if source is None:
            f.close()
        return session

    def note_chunks_checked(self) -> None:
        """The caller checked every compressed chunk of the file this session was lazily loaded
        from (`io.hdf5.damaged_chunk`, the batch): arrays a save copies from it unread may then
        be stamped with a digest (`io.hdf5.stamp_chunks`); unchecked, they are marked instead."""
        for source in self._sources:
            source.chunks_checked = True

    def close(self) -> None:
        """Close the session file lazy arrays are read from (`load(..., lazy_arrays=True)`);
        an array not read by then can no longer be (`InputError`), nor saved. No-op otherwise."""
        for source in self._sources:
            source.close()
        self._sources.clear()

    @staticmethod
    def read_step(path: str | os.PathLike, step: str) -> StepRecord | None:
        """One step of a session file without loading the rest (None when absent).

        What a command needs from a recording's session (the accepted alignment) costs a few
        attributes, not every table of the file.
        """
        path = Path(path)
        _saves_written()
        recover_before_reading(path)
        if not path.is_file():
            return None
        with _open_session_file(path) as f, _reading(path):
            g = f.get(f"steps/{step}")
            if g is None:
                return None
            return _read_step(step, g)

    @staticmethod
    def read_provenance(path: str | os.PathLike, *, recover: bool = True) -> dict[str, Any]:
        """What a session file says about how its results were made, without loading them:
        package version, recording, and per step `provenance()`'s version, created, params and
        inputs (`catrack info SESSION`: a methods section, or the values to run again).
        `recover=False`: the caller already finished its folder's interrupted sets (one listing
        for a folder of session files, not one per file)."""
        path = Path(path)
        if recover:
            recover_before_reading(path)
        if not path.is_file():
            problem = "is a folder, not a file" if path.is_dir() else "not found"
            raise InputError(f"session file {problem}: {path}")
        with _open_session_file(path) as f, _reading(path):
            steps = {}
            for name, g in f["steps"].items():
                attrs = json.loads(g.attrs["attrs"])
                steps[name] = {
                    "version": str(g.attrs["version"]),
                    "created": str(g.attrs["created"]),
                    "params": json.loads(g.attrs["params"]),
                    "inputs": dict(attrs.get("inputs") or {}),
                }
                if attrs.get("notes"):  # what the step said about its run (a NaN border left out)
                    steps[name]["notes"] = list(attrs["notes"])
                # a batch run's record of the parameters it took from a tuned session
                # (`catrack batch --params-from`), per step: values taken, manifest overrides
                taken = {step: value["params_from"] for step, value in attrs.items()
                         if isinstance(value, dict) and "params_from" in value}  # fmt: skip
                if taken:
                    steps[name]["params_from"] = taken
            recording = json.loads(f.attrs.get("recording", "{}"))
            if recording.get("path"):  # as `load` opens it (relative: beside the session)
                recording["path"] = Session(path).resolve_stored_path(recording["path"])
            out = {
                "session": str(path),
                "package_version": str(f.attrs.get("package_version", "")),
                "created": str(f.attrs.get("created", "")),
                "saved": str(f.attrs.get("saved", "")),
                "recording": recording,
                "steps": steps,
            }
            if "branched_from" in f.attrs:  # saved beside another session file (`save`)
                out["branched_from"] = json.loads(f.attrs["branched_from"])
            return out

    def save_copy(self, path: str | os.PathLike) -> Path:
        """Write the session to another file (atomically) without making it the autosave target.

        Arrays are copied as stored (H5Ocopy) wherever `save` would copy them: never read from a
        lazily loaded file, read from it and unchanged, or proven unchanged since the file this
        session last read or wrote: an export's copy of a long video's session then costs disk
        speed, not a decompression and recompression of its masks.
        """
        snap = self.snapshot()
        with self._save_lock:
            target, known = Path(path), self._known
            with atomic_write_path(target) as tmp:
                with _previous_file(known, known.path if known else target) as previous:
                    with h5_writer(tmp) as f:
                        self._write_snapshot(f, target, _ArrayWriter(previous, known), snap)
        return target

    def frame_rate(self) -> float | None:
        """The frame rate the session's results use (None when nothing says).

        In order: the rate a user set in a widget (step ``settings``), the recording's, the one a
        step recorded (transients, traces, sources, puncta), else the one the traces' ``time_s``
        states by the one rule of every table's times (`core.transients.frame_rate_of_times`: uneven
        times, dropped frames or two rates, state none; their lenient median did, and frame /
        that rate then ran a frame early after each gap: `catrack events` lined events up by it).
        """
        candidates = [self.steps["settings"].attrs.get("fps")] if "settings" in self.steps else []
        candidates.append((self.recording.get("summary") or {}).get("fps"))
        candidates += [self.steps[s].attrs.get("fps") for s in RATE_STEPS if s in self.steps]
        for value in candidates:
            if value and float(value) > 0:
                return float(value)
        return self.traces_frame_rate()[0]

    def traces_frame_rate(self) -> tuple[float | None, str]:
        """(rate, "") the traces' ``time_s`` states, else (None, why none when they have times
        that are uneven, naming the frames): `core.transients.frame_rate_of_times`."""
        traces = self.steps["traces"].tables.get("traces") if "traces" in self.steps else None
        if traces is None:
            return None, ""
        # kept for the table it was read from (`ctx.fps()` asks often; 6 million rows: seconds)
        key = (len(traces), tuple(traces.columns))
        held = self._traces_rate
        if held is not None and held[0]() is traces and held[1] == key:
            return held[2]
        from napari_catrack.core.transients.features import frame_rate_of_times

        found = frame_rate_of_times(traces)
        self._traces_rate = (weakref.ref(traces), key, found)
        return found

    @staticmethod
    def write_step(
        path: str | os.PathLike,
        step: str,
        *,
        attrs: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        recording: Any = None,
    ) -> bool:
        """Add or replace ONE small step of a session file without loading or rewriting the rest.

        For what a command leaves for the next one (the cached alignment estimate): the file is
        copied beside itself, the step replaced in the copy and the copy renamed over the
        original (atomic). If the file changed meanwhile (the GUI saved it), the copy is dropped
        and False returned: nobody's work is overwritten. A missing file becomes a new session of
        `recording` (an opened `Recording`).
        """
        path = Path(path)
        if not step or "/" in step:
            raise InputError(f"invalid step name {step!r}")
        rec = StepRecord(step, attrs=_to_jsonable(dict(attrs or {})),
                         params=_to_jsonable(dict(params or {})))  # fmt: skip
        existed = path.is_file()
        stamp = _stamp(path) if existed else None
        if existed:
            _open_session_file(path).close()  # only ever touch a session file
        try:
            with atomic_write_path(path) as tmp:
                if existed:
                    shutil.copyfile(path, tmp)
                    with h5_writer(tmp, "r+") as f:
                        with _reading(path):  # a damaged tree fails here, as reading it does
                            steps = f.require_group("steps")
                            if step in steps:
                                del steps[step]
                        _write_step(steps.create_group(step), rec)
                        from napari_catrack.io.hdf5 import stamp_chunks

                        stamp_chunks(steps[step])  # the step written, not the unread rest
                else:
                    session = Session(path, autosave=False)
                    if recording is not None:
                        note_recording(session, recording)
                    session.steps[step] = rec
                    with h5_writer(tmp) as f:
                        session._write(f, path)
                if (_stamp(path) if path.exists() else None) != stamp:
                    raise _ChangedMeanwhile
        except _ChangedMeanwhile:
            return False
        return True

    def provenance(self) -> dict[str, dict[str, Any]]:
        """Parameters, versions and input files per step: what a methods section needs.

        `inputs` ({role: {path, size, mtime, sha256, sha256_of}}, `io.provenance`) is what the
        step read; steps recorded before inputs were kept have none."""
        return {
            n: {
                "version": r.version,
                "created": r.created,
                "params": r.params,
                "inputs": dict(r.attrs.get("inputs") or {}),
            }
            for n, r in self.steps.items()
        }


def _stored_path(path: str, session_file: Path) -> str:
    """A recording inside the session's folder is stored relative to it (the two move together,
    and the session opens from any working folder); one elsewhere is stored absolute."""
    folder = os.path.abspath(session_file.parent)
    full = os.path.abspath(path)
    try:
        relative = os.path.relpath(full, folder)
    except ValueError:  # another drive (Windows)
        return full
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return full
    return relative.replace(os.sep, "/")  # '/' reads on every system ('\\' only on Windows)


def _on_disk(path: str) -> bool:
    """A file, a folder, or a glob of frames that matches at least one file."""
    if any(ch in os.path.basename(path) for ch in "*?["):
        return bool(glob.glob(path))
    return os.path.exists(path)


def _held_by_writer(path: Path) -> bool:
    """Whether another program has the HDF5 file open for writing (its lock refuses a reader;
    not seen where file locking is off, HDF5_USE_FILE_LOCKING=FALSE)."""
    try:
        h5py.File(path, "r").close()
    except OSError as exc:
        text = str(exc).lower()
        return exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock" in text
    return False


_UNWATCHED = object()  # `Session._write_file`: whatever is at the target is replaced


class _ChangedMeanwhile(Exception):
    """The session file changed while a step was being written into a copy of it."""


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _stamp_or_none(path: Path) -> tuple[int, ...] | None:
    """(size, mtime_ns, inode) of a file, None when there is none (a rename changes the inode)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


# why a save went beside its file; what a `-2` file's `branched_from` keeps as its reason
CHANGED_ON_DISK = "was changed on disk by another program since this session read or saved it"


class SessionFileChanged(UserWarning):
    """A session was saved under another name: its file had been changed by another writer."""


def free_session_path(path: Path) -> Path:
    """The next `stem-N.catrack.h5` beside `path` that does not exist yet, nor is the session
    name of another recording there (`stem-N.tif`, a folder `stem-N`: a second movie, whose own
    session that file would be)."""
    import glob

    name = path.name
    stem = name[: -len(SESSION_SUFFIX)] if name.endswith(SESSION_SUFFIX) else path.stem
    suffix = SESSION_SUFFIX if name.endswith(SESSION_SUFFIX) else path.suffix
    n = 2
    while (free := path.with_name(f"{stem}-{n}{suffix}")).exists() or (
        free.with_name(f"{stem}-{n}").is_dir()
        or any(path.parent.glob(glob.escape(f"{stem}-{n}") + ".*"))
    ):
        n += 1
    return free


def _write_step(g: h5py.Group, rec: StepRecord, writer: _ArrayWriter | None = None) -> None:
    g.attrs["attrs"] = json.dumps(rec.attrs)
    g.attrs["params"] = json.dumps(rec.params)
    g.attrs["version"] = rec.version
    g.attrs["created"] = rec.created
    tg = g.create_group("tables")
    for tname, df in rec.tables.items():
        write_h5_table(tg.create_group(tname), df)
    ag = g.create_group("arrays")
    arrays = rec.arrays.stored() if isinstance(rec.arrays, LazyArrays) else rec.arrays
    for aname, arr in arrays.items():
        if isinstance(arr, StoredArray):  # never read: its compressed chunks, as they are
            arr.copy_to(ag, aname)
        elif writer is not None:
            origin = rec.arrays.read_from(aname) if isinstance(rec.arrays, LazyArrays) else None
            writer.write(ag, aname, arr, origin)
        else:
            _create_array(ag, aname, arr)


SLAB_BYTES = 16 << 20
"""Arrays larger than this are written in slabs along their first axis (`_create_array`)."""
CHUNKED_WRITE_BYTES = 1 << 20
"""Arrays larger than this are compressed chunk by chunk outside h5py's lock (`_create_array`)."""


def _create_array(group: h5py.Group, name: str, arr: np.ndarray, digest: bool = False) -> Any:
    """Write (compress) an array from memory: what `save` does with an array it cannot copy.

    A large array is written in slabs of whole chunks along its first axis (the same dataset,
    chunks and bytes as one write): h5py holds its global lock for a whole write call, so while
    the background writer (`save_queue`) wrote a 750 MB array in one call, a time-slider step
    reading an HDF5 recording in napari's main thread waited 45.6 s (review of h14); between
    slabs it gets its turn. Each chunk is compressed outside h5py's lock and written as stored
    bytes (`io.h5write.chunk_encoder`, the same bytes h5py writes; h16: one 16 MB slab of
    noise-like masks held the lock 1.2-2.5 s), so a read waits for one chunk's I/O, not for a
    slab's compression; a filter pipeline not reproduced there is written by h5py. `digest`
    (numbers only): each slab is copied before it is written and the `_digest` of the bytes
    written is returned, for the background writer's check that nothing was painted meanwhile."""
    from napari_catrack.io.h5write import chunk_encoder, write_chunks

    big = isinstance(arr, np.ndarray) and arr.ndim > 0 and arr.nbytes > CHUNKED_WRITE_BYTES
    if not big or arr.dtype.kind not in "biufc":
        data = np.array(arr) if digest else arr  # (a copy: the bytes hashed are those written)
        group.create_dataset(name, data=data, **_compression(np.size(arr)))
        return _digest(data) if digest else None
    ds = group.create_dataset(name, shape=arr.shape, dtype=arr.dtype, **_compression(arr.size))
    encode = chunk_encoder(ds, arr.dtype)  # None: a pipeline h5py must run (in its lock)
    rows = max(1, SLAB_BYTES // max(arr[:1].nbytes, 1))
    if ds.chunks:  # whole chunks per slab: no chunk is compressed twice
        rows = max(ds.chunks[0], rows // ds.chunks[0] * ds.chunks[0])
    h = _digest_start(arr) if digest else None
    for start in range(0, arr.shape[0], rows):
        slab = arr[start : start + rows]
        if h is not None:
            slab = np.array(slab, order="C")  # a copy, hashed in the order `_digest` hashes
            h.update(slab.reshape(-1).view(np.uint8))
        if encode is not None:
            write_chunks(ds, start, slab, encode)
        else:
            ds[start : start + rows] = slab
    return h.digest() if h is not None else None


# --- copying unchanged arrays from the previous file (Session.save) ---------------------------
# Below this size an array is simply written again: hashing it, opening the previous file and
# copying the dataset cost about what compressing it does.
FINGERPRINT_MIN_BYTES = 1 << 20


def _fingerprint(arr: Any) -> bytes | None:
    """SHA-256 of an array's dtype, shape and bytes (None: too small to be worth it, or not
    plain numbers). SHA-256, not BLAKE2: CPUs with SHA instructions hash it about twice as fast.
    The bytes are hashed where they lie (no copy for a C-contiguous array, one row at a time
    otherwise), so the check costs no memory."""
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biufcmM":
        return None
    if arr.nbytes < FINGERPRINT_MIN_BYTES:
        return None
    return _digest(arr)


def _digest_start(arr: np.ndarray) -> Any:
    return hashlib.sha256(f"{arr.dtype.str} {arr.shape}".encode())


def _digest(arr: np.ndarray) -> bytes:
    """`_fingerprint` of an array of any size."""
    h = _digest_start(arr)
    rows = (arr,) if arr.flags.c_contiguous or arr.ndim == 0 else arr
    for row in rows:
        h.update(np.ascontiguousarray(row).reshape(-1).view(np.uint8))
    return h.digest()


@dataclass(frozen=True)
class _KnownArrays:
    """What the file a session last read or wrote holds: its path, its stamp (size, mtime_ns,
    inode) at that moment, and the fingerprint of each large array as read or written there."""

    path: Path
    stamp: tuple[int, ...]
    fingerprints: dict[str, bytes]

    @classmethod
    def of_loaded(
        cls, session: Session, path: Path, stamp: tuple[int, ...] | None
    ) -> _KnownArrays | None:
        """The fingerprints of an eagerly loaded session's arrays, as read from `path`."""
        if stamp is None:
            return None  # nothing proves later which file that was: never copy from it
        prints = {}
        for name, rec in session.steps.items():
            for aname, arr in rec.arrays.items():
                prints[f"/steps/{name}/arrays/{aname}"] = _fingerprint(arr)
        for i, (data, _meta, kind) in enumerate(session.layers):
            if kind != "shapes":
                prints[f"/layers/{i:03d}/data"] = _fingerprint(data)
        return cls(path, stamp, {k: v for k, v in prints.items() if v is not None})


@contextlib.contextmanager
def _previous_file(known: _KnownArrays | None, target: Path) -> Iterator[h5py.File | None]:
    """The file at `target` opened read-only, if it is still the one `known` describes (same
    size, mtime_ns and inode as when read or written, checked on the open file); else None."""
    if known is None or not known.fingerprints or known.path != target:
        yield None
        return
    if _stamp_or_none(target) != known.stamp:
        yield None
        return
    try:
        f = h5py.File(target, "r")
    except OSError:  # gone, locked by a writer, unreadable: write everything from memory
        yield None
        return
    try:
        yield f if _fd_stamp(f) == known.stamp else None
    finally:
        f.close()


class _ArrayWriter:
    """Writes a session's in-memory arrays into a new file; copies (H5Ocopy: the compressed
    chunks as stored) each one whose content is proven unchanged since the previous file was
    read or written (same fingerprint at the same dataset path), instead of recompressing it."""

    def __init__(
        self, previous: h5py.File | None, known: _KnownArrays | None, checked: bool = False
    ) -> None:
        self.previous = previous
        self.checked = checked  # the background writer: edits meanwhile are checked for
        self.known = known.fingerprints if known is not None and previous is not None else {}
        self.fingerprints: dict[str, bytes] = {}  # of the new file
        self.copied: list[str] = []

    def write(
        self,
        group: h5py.Group,
        name: str,
        arr: np.ndarray,
        origin: tuple[StoredArray, bytes] | None = None,
    ) -> None:
        """`origin`: the dataset of a lazily loaded file the array was read from, with the
        fingerprint of what was read (`LazyArrays.read_from`): copied from there when equal."""
        key = f"{group.name}/{name}"
        fp = _fingerprint(arr)
        if fp is None or not (
            self._copy(group, name, key, fp, arr) or self._copy_read(group, name, fp, arr, origin)
        ):
            if self.checked and isinstance(arr, np.ndarray) and arr.dtype.kind in "biufc":
                self._write_checked(group, name, arr, key, fp)
            else:
                _create_array(group, name, arr)
                if fp is not None and threading.current_thread() is not threading.main_thread():
                    # a save in another thread (a worker's `save`): the array may have been
                    # edited in place meanwhile; the file then holds other bytes than `fp` says,
                    # and a later save whose array hashed `fp` again (the stroke undone) would
                    # copy them back. No fingerprint: written again
                    if _fingerprint(arr) != fp:
                        return
        if fp is not None:
            self.fingerprints[key] = fp

    def _write_checked(
        self, group: h5py.Group, name: str, arr: np.ndarray, key: str, fp: bytes | None
    ) -> None:
        """Write `arr` from the background writer, which the GUI may edit in place meanwhile (a
        Labels layer painted: the snapshot shares the array, a copy of a long video's masks
        would cost the GUI thread 1.3 GB and a second): `EditedWhileSaved` unless the bytes
        written are those hashed before, and again after, with no stroke counted in between.
        The file then holds the array as it was at one moment, never part of a stroke; a mix
        would need a change undone within one slab's write and re-read with no stroke
        finished (napari counts a stroke when it ends)."""
        from napari_catrack import save_queue

        edits = save_queue.edits()
        before = fp if fp is not None else _digest(arr)
        written = _create_array(group, name, arr, digest=True)
        if written != before or _digest(arr) != before or save_queue.edits() != edits:
            raise save_queue.EditedWhileSaved(key)

    def _copy_read(
        self,
        group: h5py.Group,
        name: str,
        fp: bytes,
        arr: np.ndarray,
        origin: tuple[StoredArray, bytes] | None,
    ) -> bool:
        if origin is None or origin[1] != fp:
            return False
        stored = origin[0]
        if tuple(stored.shape) != arr.shape or stored.dtype != arr.dtype:
            return False
        try:  # checks the open file is still the one loaded (`_ArraySource.dataset`)
            stored.copy_to(group, name)
        except (CatrackError, *_READ_ERRORS):  # closed, rewritten in place, damaged: the data
            if name in group:  # are in memory, write them
                del group[name]
            return False
        self.copied.append(f"{group.name}/{name}")
        return True

    def _copy(self, group: h5py.Group, name: str, key: str, fp: bytes, arr: np.ndarray) -> bool:
        from napari_catrack.io.hdf5 import copy_as_stored

        if self.previous is None or self.known.get(key) != fp:
            return False
        try:
            ds = self.previous[key]
            if not isinstance(ds, h5py.Dataset) or ds.shape != arr.shape or ds.dtype != arr.dtype:
                return False
            copy_as_stored(ds, group, name)
        except _READ_ERRORS:  # a damaged previous file: the data are in memory, write them
            if name in group:
                del group[name]
            return False
        self.copied.append(key)
        return True


# --- arrays read on first use (Session.load(..., lazy_arrays=True)) -------------------------
def _can_keep_open() -> bool:
    """Whether a session file may stay open while it is saved over: not on Windows, where an
    open file blocks the `os.replace` of the atomic save."""
    return os.name != "nt"


def _fd_stamp(f: h5py.File) -> tuple[int, ...] | None:
    """(size, mtime_ns, inode) of the file an open h5py file reads (`_stamp_or_none` of it)."""
    try:
        st = os.fstat(f.id.get_vfd_handle())
    except (OSError, ValueError, TypeError, NotImplementedError):
        return None  # no file descriptor to ask (another HDF5 driver): nothing to compare
    return st.st_size, st.st_mtime_ns, st.st_ino


def _close_quietly(f: h5py.File) -> None:
    with contextlib.suppress(Exception):
        f.close()


class _ArraySource:
    """A session file held open read-only since `load`, so its arrays can be read later.

    On POSIX the open handle keeps the file as loaded readable after another writer's
    `os.replace` (the old inode lives while it is open), so a late read never returns the other
    writer's data. Rewritten in place instead (`cp` over it, or h5py with file locking off: with
    locking on, HDF5 refuses other programs write access while it is open), the open file's
    size, mtime or inode (`os.fstat`) differ from load: every later read is refused.
    """

    def __init__(self, path: Path, f: h5py.File) -> None:
        self.path, self.file = path, f
        self.stamp = _fd_stamp(f)
        # every compressed chunk was checked since load (`Session.note_chunks_checked`): a save
        # may stamp a digest on arrays it copies from here unread
        self.chunks_checked = False
        self._finalizer = weakref.finalize(self, _close_quietly, f)

    def dataset(self, key: str) -> h5py.Dataset:
        """The dataset `key`, after checking the file is still the one loaded."""
        if not self.file.id.valid:
            raise InputError(
                f"{self.path.name}: this session was closed before its array {key} was read; "
                "load the session again"
            )
        if _fd_stamp(self.file) != self.stamp:
            raise InputError(
                f"{self.path.name} was rewritten in place by another program while this session "
                f"had it open (its array {key} is read when used): nothing was read or saved; "
                "run again on the file as it is now"
            )
        return self.file[key]

    def close(self) -> None:
        self._finalizer()


@dataclass(frozen=True, eq=False)
class StoredArray:
    """An array of a session file, not read yet: `LazyArrays` reads it on first use."""

    source: _ArraySource
    key: str  # the dataset's path in the file: /steps/<step>/arrays/<name>
    shape: tuple[int, ...]
    dtype: np.dtype

    def read(self) -> np.ndarray:
        with _reading(self.source.path):
            return self.source.dataset(self.key)[()]

    def blocks(self, frames: int) -> Iterator[np.ndarray]:
        """The array's first-axis slices, about `frames` at a time (whole chunks: each
        compressed chunk is decompressed once), each read when the previous one was used."""
        ds = self.source.dataset(self.key)
        step = ds.chunks[0] * max(1, frames // ds.chunks[0]) if ds.chunks else frames
        for start in range(0, self.shape[0], step):
            with _reading(self.source.path):
                block = self.source.dataset(self.key)[start : start + step]
            yield block

    def copy_to(self, group: h5py.Group, name: str) -> None:
        """Copy the dataset into `group` (another file) as stored: HDF5's H5Ocopy moves the
        compressed chunks without decompressing them, at disk speed and in little memory."""
        from napari_catrack.io.hdf5 import copy_as_stored, mark_copied

        ds = self.source.dataset(self.key)
        try:
            copy_as_stored(ds, group, name)
        except _READ_ERRORS:
            self.read()  # a damaged source is `DamagedSession`; else the writing failed
            raise
        # no digest is stamped on bytes nobody checked (an earlier version's, never read)
        mark_copied(group[name], self.source.chunks_checked)


class LazyArrays(MutableMapping):
    """A step's arrays, each read from the session file the first time it is used.

    `keys()`, `in` and `len` read nothing; `arrays[name]`, `.get`, `values()` and `items()`
    read (once: the array then stays in memory). Setting or deleting works as on a dict.
    """

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items: dict[str, Any] = dict(items)
        # each large array read: where from, and its fingerprint as read (`read_from`)
        self._read: dict[str, tuple[StoredArray, bytes]] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        value = self._items[name]
        if isinstance(value, StoredArray):
            stored, value = value, value.read()
            self._items[name] = value
            fp = _fingerprint(value)
            if fp is not None:
                self._read[name] = (stored, fp)
        return value

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        self._items[name] = value
        self._read.pop(name, None)

    def __delitem__(self, name: str) -> None:
        del self._items[name]
        self._read.pop(name, None)

    def read_from(self, name: str) -> tuple[StoredArray, bytes] | None:
        """The dataset an array was read from and the fingerprint of what was read (`save`
        copies it from there when the array still has that content); None when not read."""
        return self._read.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def stored(self) -> dict[str, Any]:
        """The arrays as held: read ones, and a `StoredArray` for each not read (`save`)."""
        return dict(self._items)

    def __repr__(self) -> str:
        shown = {k: ("<not read>" if isinstance(v, StoredArray) else "<read>")
                 for k, v in self._items.items()}  # fmt: skip
        return f"LazyArrays({shown})"


def array_header(arrays: Mapping[str, Any], name: str) -> tuple[tuple[int, ...], np.dtype]:
    """A step's array's shape and dtype without reading it (one not read yet stays on disk):
    what an export needs to list an array or check its size."""
    value = arrays.stored()[name] if isinstance(arrays, LazyArrays) else arrays[name]
    if isinstance(value, StoredArray):
        return tuple(value.shape), np.dtype(value.dtype)
    value = np.asarray(value)
    return value.shape, value.dtype


def array_blocks(arrays: Mapping[str, Any], name: str, frames: int = 256) -> Iterator[np.ndarray]:
    """A step's array in first-axis slices of about `frames`: read from the session file slice
    by slice while it is not in memory (and not kept), so an export writes a long video's masks
    without holding them whole; slices of the array in memory otherwise."""
    value = arrays.stored()[name] if isinstance(arrays, LazyArrays) else arrays[name]
    if isinstance(value, StoredArray) and value.shape:
        yield from value.blocks(frames)
        return
    value = np.asarray(value)
    for start in range(0, len(value), frames):
        yield value[start : start + frames]


# --- tables and layers in HDF5 ---------------------------------------------------------------
_STR = h5py.string_dtype("utf-8")


class DamagedSession(InputError):
    """A session file that cannot be read: damaged on disk, or not a session at all.

    One line that names the file and what to do, whatever part of the file failed (the batch
    sets such a file aside rather than failing on it at every rerun).
    """

    def __init__(self, path: Path, why: object, *, what: str | None = None) -> None:
        why = " ".join(str(why).split())  # h5py messages can span lines
        if what is None and path.suffix.lower() not in (".h5", ".hdf5"):
            # another kind of file given as a session (`--session movie.tif`): not "damaged",
            # and nothing to restore from a backup
            detail = "not an HDF5 file" if "signature not found" in why else why
            super().__init__(
                f"{path.name} is not a napari-catrack session file (*{SESSION_SUFFIX}): "
                f"{detail}; give the session file"
            )
            self.path, self.why = path, why
            return
        what = what or "is damaged: it is not a readable napari-catrack session"
        super().__init__(
            f"{path.name} {what} ({why}). napari-catrack saves sessions atomically (a save never "
            "leaves a file half-written), so restore the file from a copy or backup"
        )
        self.path, self.why = path, why


# what h5py, json and pandas raise on a damaged file (a bad header, heap, object or attribute)
_READ_ERRORS = (OSError, KeyError, ValueError, TypeError, IndexError, AttributeError, RuntimeError)


@contextlib.contextmanager
def _reading(path: Path):
    """Any failure while reading a session file's content becomes one `DamagedSession` line."""
    try:
        yield
    except CatrackError:
        raise
    except _READ_ERRORS as exc:
        plain = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else None
        raise DamagedSession(path, plain or f"{type(exc).__name__}: {exc}") from None


def _held_or_forbidden(path: Path, exc: OSError) -> InputError | None:
    """A healthy file we may not open now: another program holds HDF5's lock on it (errno 11,
    "unable to lock file") or the permissions forbid reading. Not `DamagedSession`: nothing is
    wrong with the file, so the batch must not set it aside and nobody should restore it."""
    why = " ".join(str(exc).split())
    text = why.lower()
    if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock" in text:
        return InputError(
            f"{path.name} is in use by another program that has it open for writing ({why}): "
            "close it there and try again (set HDF5_USE_FILE_LOCKING=FALSE only if you know "
            "that no program writes it)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM) or "permission denied" in text:
        return InputError(
            f"{path.name} is not readable: permission denied ({why}); check the file's "
            "permissions, or whether another program holds it open"
        )
    return None


def _open_session_file(path: Path) -> h5py.File:
    """Open a session file read-only, or say in one line why it is not one we can read."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _held_or_forbidden(path, exc) or DamagedSession(path, exc) from None
    try:
        with _reading(path):
            tag = f.attrs.get("format")
            if isinstance(tag, bytes):
                tag = tag.decode("utf-8", "replace")
            if tag != _FORMAT_TAG:
                raise DamagedSession(
                    path,
                    f"no format tag {_FORMAT_TAG!r}",
                    what="is an HDF5 file but not a readable napari-catrack session",
                )
            version = int(f.attrs.get("schema_version", -1))
    except CatrackError:
        f.close()
        raise
    if version > SCHEMA_VERSION:
        f.close()
        raise InputError(
            f"{path.name} was written by a newer napari-catrack (schema {version}); "
            f"this version reads up to schema {SCHEMA_VERSION}: please upgrade"
        )
    return f


def _read_step(name: str, g: h5py.Group, source: _ArraySource | None = None) -> StepRecord:
    """`source`: the arrays stay in that file until used (`LazyArrays`), else read now."""
    if source is None:
        arrays: MutableMapping[str, Any] = {k: v[()] for k, v in g["arrays"].items()}
    else:  # opening each dataset reads its header only: a damaged one fails here, at load
        arrays = LazyArrays({k: StoredArray(source, v.name, v.shape, v.dtype)
                             for k, v in g["arrays"].items()})  # fmt: skip
    return StepRecord(
        name,
        tables={k: read_h5_table(v) for k, v in g["tables"].items()},
        arrays=arrays,
        attrs=json.loads(g.attrs["attrs"]),
        params=json.loads(g.attrs["params"]),
        version=str(g.attrs["version"]),
        created=str(g.attrs["created"]),
    )


def write_h5_table(g: h5py.Group, df: pd.DataFrame) -> None:
    """One dataset per column; strings as UTF-8, categories as strings, order kept."""
    g.attrs["columns"] = json.dumps([str(c) for c in df.columns])
    g.attrs["kinds"] = json.dumps([_kind(df[c]) for c in df.columns])
    for i, col in enumerate(df.columns):
        values = df[col]
        if (
            isinstance(values.dtype, pd.api.extensions.ExtensionDtype)
            and values.dtype.kind in "biuf"
        ):
            values = values.astype("float64")  # nullable Int64/boolean: missing values become NaN
        if values.dtype.kind in "biufcM" and not isinstance(values.dtype, pd.CategoricalDtype):
            data = values.to_numpy()
            if data.dtype.kind == "M":
                data = data.astype("datetime64[ns]").astype(np.int64)
            g.create_dataset(f"c{i}", data=data, **_compression(data.size))
        else:
            # over plain objects, not the Series: pandas' per-item access cost a GUI autosave
            # seconds on a 2,000-frame recording's tables (scripts/ui_stall_probe.py)
            strings = [
                "" if v is None or (isinstance(v, float) and v != v) else str(v)
                for v in values.to_numpy(dtype=object)
            ]
            g.create_dataset(
                f"c{i}",
                data=np.array(strings, dtype=object),
                dtype=_STR,
                **_compression(len(strings)),
            )


def _kind(values: pd.Series) -> str:
    kind = values.dtype.kind
    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and kind in "iu":
        return "I"  # nullable integers (a velocity's direction, empty where unknown): stored
    if isinstance(values.dtype, pd.BooleanDtype):
        return "B"  # nullable booleans (an imported tool's verdict, empty for a drawn cell):
        # stored as floats 1 / 0 / NaN, read back as booleans (a reader before h20: floats)
    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) and kind in "bf":
        return "f"  # as floats with NaN and read back as Int64, so an export writes 1, not 1.0
    return kind


def _compression(n: int) -> dict:
    """Compress long columns (traces of many cells x frames); tiny ones are faster raw."""
    return {"compression": "gzip", "compression_opts": 4, "shuffle": True} if n > 4096 else {}


def read_h5_table(g: h5py.Group) -> pd.DataFrame:
    columns = json.loads(g.attrs["columns"])
    kinds = json.loads(g.attrs["kinds"])
    data = {}
    for i, (col, kind) in enumerate(zip(columns, kinds)):
        values = g[f"c{i}"][()]
        if kind == "M":
            values = values.astype("datetime64[ns]")
        elif kind == "I":
            values = pd.array(values, dtype="Int64")
        elif kind == "B":
            values = pd.array([pd.NA if v != v else bool(v) for v in values.tolist()], dtype="boolean")  # fmt: skip
        elif kind == "O" or values.dtype.kind in "OS":
            values = [v.decode() if isinstance(v, bytes) else v for v in values]
        data[col] = values
    return pd.DataFrame(data, columns=columns)


def write_layer(
    g: h5py.Group, data: Any, meta: dict, kind: str, arrays: _ArrayWriter | None = None
) -> None:
    """Store a napari LayerData tuple: data, JSON-able metadata, features as a table.
    `arrays` (`Session.save`): copies the data from the previous file when unchanged."""
    g.attrs["kind"] = kind
    meta = dict(meta)
    features = meta.pop("features", None)
    properties = meta.pop("properties", None)
    if features is None and properties:
        features = pd.DataFrame(properties)
    if features is not None and len(features.columns):
        write_h5_table(g.create_group("features"), pd.DataFrame(features))
    g.attrs["meta"] = _plain_meta_json(meta)
    if kind == "shapes":
        sg = g.create_group("data")
        for i, arr in enumerate(data):
            sg.create_dataset(f"{i:06d}", data=np.asarray(arr))
    else:
        arr = np.asarray(data)
        if arrays is not None:
            arrays.write(g, "data", arr)
        else:
            _create_array(g, "data", arr)


def read_layer(g: h5py.Group) -> tuple[Any, dict, str]:
    kind = str(g.attrs["kind"])
    meta = json.loads(g.attrs["meta"])
    if "features" in g:
        meta["features"] = read_h5_table(g["features"])
    if kind == "shapes":
        data = [v[()] for _, v in sorted(g["data"].items())]
    else:
        data = g["data"][()]
    return data, meta, kind


_LAYER_KEYS = (
    "name", "scale", "translate", "affine", "rotate", "opacity", "blending", "visible", "colormap",
    "contrast_limits", "size", "face_color", "border_color", "symbol", "shape_type", "edge_width",
    "edge_color", "tail_length", "tail_width", "metadata", "ndim", "gamma",
)  # fmt: skip


def _plain_meta_json(meta: dict) -> str:
    """The layer settings that are plain data (colours as strings/lists, no objects), as the
    JSON of a dict, each value converted and encoded once: a tracked-neurons layer's per-point
    colours, sizes and symbols are megabytes of JSON, and converting and encoding them twice
    cost the session writer seconds (scripts/ui_stall_probe.py)."""
    parts = []
    for key in _LAYER_KEYS:
        if key not in meta:
            continue
        try:
            text = json.dumps(_to_jsonable(meta[key]))
        except TypeError:
            continue
        parts.append(f"{json.dumps(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


# --- one session per napari viewer -----------------------------------------------------------
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def real_viewer(viewer: Any) -> Any:
    """The viewer itself, not napari's per-dock proxy of it.

    napari hands each docked widget its own `PublicOnlyProxy(viewer)`; the proxies compare and
    hash equal to the viewer but die with their widget. Anything kept per viewer (the session,
    the widgets' shared context, the key registry) is keyed by and holds the real viewer, so it
    lives as long as the viewer, not as long as the first widget docked.
    """
    for _ in range(8):  # a proxy of a proxy at most, in practice
        inner = getattr(viewer, "__wrapped__", None)
        if inner is None:
            break
        viewer = inner
    return viewer


def session_for_viewer(viewer: Any) -> Session:
    """The Session that belongs to a viewer (created on first use), so widgets share results."""
    viewer = real_viewer(viewer)
    session = _SESSIONS.get(viewer)
    if session is None:
        session = Session()
        session.on_notice = _show_warning
        session.on_save_error = _show_error
        _SESSIONS[viewer] = session
        _background_saves(viewer, session)
    return session


def _background_saves(viewer: Any, session: Session) -> None:
    """A viewer's session autosaves in the background writer (`save_queue`); closing the viewer
    waits for what is queued."""
    from napari_catrack import save_queue

    session.background_saves = True
    save_queue.flush_on_close(viewer)
    _autosave_on_paint(viewer, session)


def _autosave_on_paint(viewer: Any, session: Session) -> None:
    """A brush stroke on a Labels layer the session stores (File > Save as a session, a session
    opened with its layers) autosaves it, as a widget's result does: before, such strokes reached
    the file only when something else saved, and closing napari lost them. Each stroke queues a
    snapshot (no copy of the data; queued snapshots of one session replace each other), and a
    stroke during the write makes the writer write again (`save_queue.EditedWhileSaved`)."""
    from napari_catrack import save_queue

    ref = weakref.ref(session)

    def painted(event: Any) -> None:
        here = ref()
        data = getattr(getattr(event, "source", None), "data", None)
        if here is None or data is None or here.path is None or not here.autosave:
            return
        if any(stored is data for stored, *_ in here.layers):
            here.autosave_now()

    save_queue.on_paint(viewer, painted)


def _show_warning(line: str) -> None:
    from napari_catrack.save_queue import to_main_thread

    to_main_thread(_show_warning_here, line)  # a background save's line, too


def _show_warning_here(line: str) -> None:
    from napari.utils.notifications import show_warning

    show_warning(f"napari-catrack: {line}")


def _show_error(line: str) -> None:
    from napari.utils.notifications import show_error

    show_error(f"napari-catrack: {line}")


_WATCHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def watch_session(viewer: Any, callback: Any) -> None:
    """Call the bound method `callback(session)` whenever another session is attached to the viewer.

    Widgets docked before a session file is opened use it to show the reopened results. Only a
    weak reference is kept, so a closed widget is simply forgotten.
    """
    _WATCHERS.setdefault(real_viewer(viewer), []).append(weakref.WeakMethod(callback))


def attach_session(viewer: Any, session: Session) -> None:
    viewer = real_viewer(viewer)
    if session.on_notice is None:
        session.on_notice = _show_warning
    if session.on_save_error is None:
        session.on_save_error = _show_error
    _SESSIONS[viewer] = session
    _background_saves(viewer, session)
    alive = []
    for ref in _WATCHERS.get(viewer, []):
        callback = ref()
        if callback is None:
            continue
        alive.append(ref)
        callback(session)
    if viewer in _WATCHERS:
        _WATCHERS[viewer] = alive


def current_viewer() -> Any | None:
    """napari's current viewer if napari is running (npe2 readers/writers are not told which)."""
    napari = sys.modules.get("napari")
    return napari.current_viewer() if napari is not None else None


def note_recording(session: Session, recording: Any) -> str | None:
    """A session's first recording becomes its reference, and autosave goes beside it.

    A behaviour video (AVI, MP4) opened first is the reference only until an imaging recording
    is opened: that one then takes its place (and the autosave moves beside it).
    Never over a session file that is already there (results of an earlier sitting, which this
    new session does not hold: its first autosave would replace them): then the autosave goes to
    the next free name (`movie-2.catrack.h5`, ...) and the returned line says so, for the caller
    to show; None when there is nothing to say.
    """
    from napari_catrack.io.video import is_video_path

    said = None
    current = session.recording.get("path")
    if current and is_video_path(current) and not is_video_path(recording.path):
        # a behaviour video only stands in until an imaging recording comes: its rate is the
        # camera's, not the imaging rate every calcium widget reads from the reference
        if session.path is not None and session.path == default_session_path(current):
            session.path = None  # autosave follows the reference (the video's file stays as is)
        said = (
            f"the session's recording is now {Path(recording.path).name} (the behaviour video "
            f"{Path(current).name} stays in the session's behaviour steps)"
        )
        session.recording = {}
    if not session.recording:
        session.set_recording(recording.path, recording.options, recording.summary())
    if session.path is not None:
        return said
    path = default_session_path(recording.path)
    if not path.exists():
        session.path = path
        return said
    free = free_session_path(path)
    session.path = free
    session.branched_from = {
        "file": path.name,
        "reason": "already held an earlier session's results",
        "at": _now(),
    }
    moved = (
        f"{path.name} beside the recording already holds results of an earlier session: it is "
        f"left untouched, and this session autosaves to {free.name}; to go on from the earlier "
        f"results, open {path.name} instead"
    )
    return f"{said}; {moved}" if said else moved


def default_session_path(recording_path: str | os.PathLike) -> Path:
    """`movie.tif` -> `movie.catrack.h5` beside it (a folder's session goes inside the folder)."""
    p = Path(recording_path)
    if p.is_dir():
        return p / ("session" + SESSION_SUFFIX)
    if any(ch in p.name for ch in "*?["):  # a glob of frames: the session goes in their folder
        return p.parent / ("session" + SESSION_SUFFIX)
    name = p.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".hdf5", ".h5"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + SESSION_SUFFIX)
