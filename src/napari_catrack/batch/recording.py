"""One recording of a batch: run its steps into its own session, skipping what is up to date.

A step is up to date when the recording's session holds it with the same key: a hash of the
step's parameters (`StepParams.to_dict()`), its inputs (the recording's and the manifest files'
path, size and modification time, and how the recording is opened) and the keys of the steps
whose results it reads. So changing a parameter re-runs that step and every step after it that
reads it; touching nothing re-runs nothing. The keys live in the session step ``batch``.
A TIFF-folder or glob recording was keyed by its path as written (relative to the folder the
batch ran in) before paths became absolute: such a stored key still counts (`_legacy_recording`).

The session is saved after every step (atomically), so a crash or a killed worker loses at most
the step that was running; the tables are then written in the export layout (`export`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_catrack.batch.steps import STEPS, NotApplicable, StepContext
from napari_catrack.errors import CatrackError, warnings_as_lines
from napari_catrack.io.fingerprint import file_fingerprint

BATCH_STEP = "batch"
SESSION_NAME = "session.catrack.h5"
REPORT_COLUMNS = ["recording", "step", "status", "seconds", "message"]
SET_ASIDE = "set aside"  # the status of the row that says a damaged session was set aside
SESSION_ROW = "session"
EXPORT_MARK = ".catrack-export.json"  # what the recording's export files were written from
INPUT_MARK = ".catrack-input.json"  # the recording (input path) the folder's results belong to
STATUSES = ("done", "up to date", "skipped", "failed", "not run", SET_ASIDE)


def step_key(
    spec: Any,
    step: str,
    upstream_keys: dict[str, str],
    recording: dict[str, Any] | None = None,
) -> str:
    """The hash that says whether a recorded step is up to date (module docstring).

    `recording`: the recording's fingerprint, when the caller has it (a folder of frames is
    costly to fingerprint) or wants an older spelling of it (`_legacy_recording`).
    """
    info = STEPS[step]
    params = spec.step_params(step)
    parts = {
        "step": step,
        # `key_dict` where a step's values grew (sources' thresholds): the defaults hash as before
        "params": None if params is None else getattr(params, "key_dict", params.to_dict)(),
        "files": {k: file_fingerprint(spec.files[k]) for k in info.files if k in spec.files},
        "upstream": {s: upstream_keys.get(s) for s in info.upstream if s in spec.steps},
    }
    if info.reads_recording:
        parts["recording"] = recording if recording is not None else file_fingerprint(spec.path)
        parts["options"] = {
            **spec.options,
            "seed_frame": spec.seed_frame or 0,
            "no_align": spec.no_align,
        }
    elif step in ("transients", "ensembles", "eta"):
        parts["fps"] = spec.options.get("fps")
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _legacy_recording(fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The fingerprint the code before absolute manifest paths gave a folder or glob recording:
    its path relative to the working folder, as written in the manifest (`catrack batch m.yaml`).
    None for a file (always resolved) or when there is no relative spelling (another drive), so
    a batch finished by that code is not recomputed (and its curation replaced) on upgrade."""
    if "sha256" not in fingerprint:
        return None
    try:
        old = os.path.relpath(fingerprint["path"])
    except ValueError:
        return None
    return {**fingerprint, "path": old} if old != fingerprint["path"] else None


def _open_session(spec: Any, folder: Path) -> tuple[Any, str | None]:
    """The recording's session, and what was done about a damaged one (None when nothing).

    A damaged session (`DamagedSession`: rerunning cannot fix it) is set aside under a name no
    earlier one holds, never overwritten, and the steps are recomputed into a new session; the
    returned line goes into the report, so the user knows where their curation went. A session
    this version cannot read for another reason (a newer schema) fails the recording instead.
    """
    from napari_catrack.session import DamagedSession, Session

    path = folder / SESSION_NAME
    note = None
    if path.is_file():
        try:
            # arrays read when a step uses them, never-read ones copied as stored at each save:
            # a resumed recording's masks are not decompressed for steps that are up to date
            session = Session.load(path, lazy_arrays=True)
            why = _damaged_chunk(path)  # what a lazy load never reads (headers intact)
            if why is None:
                session.note_chunks_checked()  # an earlier session's arrays: stamped at save
                return session, None
            session.close()
            raise DamagedSession(path, why)
        except DamagedSession as exc:
            aside = _set_aside(path)
            note = (
                f"{path.name} was damaged ({exc.why}): set aside as {aside.name}, every step "
                "recomputed into a new session (what was curated in the old one is in that file)"
            )
    session = Session(path, autosave=False)
    if spec.path.exists():
        rec = spec.open()
        try:
            session.set_recording(str(spec.path), rec.options, rec.summary())
        finally:
            rec.close()
    return session, note


def _mark_input(folder: Path, path: Path) -> None:
    """Record in `folder` which input its results belong to (`folder_owner` reads it), so a
    resumed batch whose names moved (a recording added, renamed, reordered) never takes another
    recording's folder for this one's (`runner.check_batch_output` refuses it first)."""
    from napari_catrack.io.atomic import write_text_atomic

    mark = folder / INPUT_MARK
    text = json.dumps({"path": os.path.abspath(path)})
    if not mark.is_file() or mark.read_text(encoding="utf-8") != text:
        write_text_atomic(mark, text)


def folder_owner(folder: Path) -> str | None:
    """The input whose results `folder` holds: its `INPUT_MARK`, else (a folder written before
    the mark) the recording its `session.catrack.h5` records; None for a new folder."""
    try:
        owner = json.loads((folder / INPUT_MARK).read_text(encoding="utf-8")).get("path")
    except (OSError, ValueError, AttributeError):
        owner = None
    if owner:
        return str(owner)
    session = folder / SESSION_NAME
    if not session.is_file():
        return None
    from napari_catrack.recording_session import _provenance

    return (_provenance(session).get("recording") or {}).get("path") or None


def _damaged_chunk(path: Path) -> str | None:
    """A damaged compressed chunk of the session file, checked once when the batch reopens it:
    set aside like a damaged header, instead of the export row failing on it later (and every
    step up to date keeping it). An unreadable file is `Session.load`'s to report."""
    from napari_catrack.io.hdf5 import damaged_chunk

    try:
        return damaged_chunk(path)
    except (OSError, RuntimeError, ValueError, KeyError):  # the structure itself: load said so
        return None


def _set_aside(path: Path) -> Path:
    """Rename `path` to `NAME.unreadable` (then `NAME.unreadable-2`, ...): never over an earlier one."""
    n = 1
    while True:
        aside = path.with_name(path.name + (".unreadable" if n == 1 else f".unreadable-{n}"))
        if not aside.exists():
            path.rename(aside)
            return aside
        n += 1


def clean_partial_files(folder: Path) -> None:
    """Temporary files of writes that a killed worker never finished (atomic_write_path)."""
    for tmp in folder.rglob(".*.partial"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def run_recording(
    spec: Any,
    out_root: str | os.PathLike,
    *,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run `spec`'s steps into `out_root/<name>/`; returns its report rows (REPORT_COLUMNS).

    Never raises for a failing step: the failure is a report row, later steps are "not run".
    """
    folder = Path(out_root) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    clean_partial_files(folder)
    _mark_input(folder, spec.path)
    lines: list[str] = []
    say = log or lines.append
    rows: list[dict[str, Any]] = []

    def row(step: str, status: str, seconds: float, message: str) -> None:
        rows.append(
            {
                "recording": spec.name,
                "step": step,
                "status": status,
                "seconds": round(seconds, 3),
                "message": message,
            }
        )

    try:
        session, set_aside = _open_session(spec, folder)
    except CatrackError as exc:
        first = spec.steps[0]  # its row says why; the others say which step failed, as below
        row(first, "failed", 0.0, str(exc))
        for step in spec.steps[1:]:
            row(step, "not run", 0.0, f"{first} failed")
        return rows
    if set_aside is not None:  # before the steps' rows: it is why they all run again
        row(SESSION_ROW, SET_ASIDE, 0.0, set_aside)
    if spec.options.get("fps"):
        session.record("settings", attrs={"fps": float(spec.options["fps"])}, save=False)
    ctx = StepContext(spec, session, folder, say)
    done = dict(session[BATCH_STEP].attrs) if BATCH_STEP in session else {}
    keys: dict[str, str] = {}
    legacy_keys: dict[str, str] = {}  # the same chain under the old recording path
    recording = legacy = None  # fingerprinted once, by the first step that reads the recording
    failed = None
    try:
        with _single_threaded():
            for step in spec.steps:
                info = STEPS[step]
                if failed is not None:
                    row(step, "not run", 0.0, f"{failed} failed")
                    continue
                if info.reads_recording and recording is None:
                    recording = file_fingerprint(spec.path)
                    legacy = _legacy_recording(recording) or recording
                key = keys[step] = step_key(spec, step, keys, recording)
                legacy_keys[step] = step_key(spec, step, legacy_keys, legacy)
                stored = done.get(step, {}).get("key")
                if stored in (key, legacy_keys[step]) and (
                    info.session_step in session or done[step].get("status") == "skipped"
                ):
                    # saved with the next step that runs: nothing is written when none does
                    done[step] = {**done[step], "key": key}
                    row(step, "up to date", 0.0, done[step].get("message", ""))
                    continue
                start = time.perf_counter()
                notes: list[str] = []  # how its input tables were read (cp1252): in its row too
                try:  # a worker's warnings: one line each, naming the recording and step
                    with (
                        warnings_as_lines(f"catrack batch: {spec.name}: {step}"),
                        _encoding_notes(notes),
                    ):
                        message, status = info.run(ctx, spec.step_params(step)), "done"
                except NotApplicable as exc:
                    message, status = str(exc), "skipped"
                except CatrackError as exc:
                    failed = step
                    row(step, "failed", time.perf_counter() - start, _noted(str(exc), notes))
                    continue
                except Exception as exc:  # a bug: keep the batch going, say what and where
                    failed = step
                    where = traceback.extract_tb(exc.__traceback__)[-1]
                    row(
                        step,
                        "failed",
                        time.perf_counter() - start,
                        _noted(f"{type(exc).__name__}: {exc} "
                               f"({Path(where.filename).name}:{where.lineno})", notes),
                    )  # fmt: skip
                    continue
                message = _noted(message, notes)
                seconds = time.perf_counter() - start
                done[step] = {"key": key, "status": status, "seconds": round(seconds, 3)}
                if status == "done":  # the report and the session say what the session gave
                    message += _note_params_from(spec, step, session, done[step])
                done[step]["message"] = message
                session.record(BATCH_STEP, attrs=done, save=False)
                session.save()  # a killed worker loses at most the step that was running
                row(step, status, seconds, message)
        with warnings_as_lines(f"catrack batch: {spec.name}: export"):
            _export(spec, session, folder, row)
    finally:
        ctx.close()
        session.close()  # the file lazy arrays are read from
    return rows


@contextlib.contextmanager
def _encoding_notes(notes: list[str]):
    """Collect in `notes` the `EncodingNote`s raised inside (a table read as Windows-1252) and
    the reader's `RecordingNote`s (a mixed frame folder, a damaged video's lost frames), each
    once, still shown as before: on stderr a worker's line is easily lost among the others,
    while the report's row of the step is where a user looks for what to check in that
    recording."""
    import warnings

    from napari_catrack.batch.steps import RecordingNote
    from napari_catrack.io.text_encoding import EncodingNote

    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, (EncodingNote, RecordingNote)):
            if str(message) in notes:
                return  # one file read twice in a step: said once
            notes.append(str(message))
        shown(message, category, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("always", EncodingNote)  # every file's note, each read of it
        warnings.showwarning = show
        yield


def _noted(message: str, notes: list[str]) -> str:
    """A report row's message with the step's encoding notes after it."""
    return "; ".join([message, *notes]) if notes else message


def _note_params_from(spec: Any, step: str, session: Any, done: dict[str, Any]) -> str:
    """Where the step's values came from, when some came from `--params-from SESSION`: the
    session file (its SHA-256) among the step record's `inputs` (`catrack info` shows it), in
    the `batch` step the values taken and those the manifest overrode; returns what the report
    row's message adds ("" when the session gave nothing)."""
    used = spec.params_from or {}
    taken = (used.get("steps") or {}).get(step)
    over = (used.get("overridden") or {}).get(step)
    if not (taken or over):
        return ""
    done["params_from"] = {
        "session": used["session"],
        "values": taken or {},
        "overridden_by_manifest": {k: {"session": s, "manifest": m} for k, (s, m) in (over or {}).items()},
    }  # fmt: skip
    record = session.steps.get(STEPS[step].session_step)
    if taken and record is not None:
        inputs = dict(record.attrs.get("inputs") or {})
        inputs["params_from"] = dict(used.get("file") or {"path": used["session"]})
        record.attrs["inputs"] = inputs
    name = Path(used["session"]).name
    parts = [f"parameters from {name}: {', '.join(taken)}"] if taken else []
    parts += [f"the manifest's {', '.join(over)} over {name}'s"] if over else []
    return " (" + "; ".join(parts) + ")"


def _export(spec: Any, session: Any, folder: Path, row: Callable) -> None:
    """The recording's files in the export layout (the same as the Export widget writes)."""
    from napari_catrack.export import available_items, export_session

    kinds = {"tables": ("json", "table", "image", "h5"), "figures": ("figure",), "nwb": ("nwb",)}
    wanted = {k for e in spec.export for k in kinds[e]}
    keys = [i.key for i in available_items(session) if i.kind in wanted]
    mark = folder / EXPORT_MARK
    state = _export_state(session, keys)
    meta, meta_file = None, spec.files.get("nwb_metadata") if "nwb" in spec.export else None
    if meta_file is not None:
        from napari_catrack.io.nwb import read_metadata

        try:  # read as `catrack export-nwb --metadata` reads it (checked with the manifest)
            meta = read_metadata(meta_file)
        except CatrackError as exc:
            row("export", "failed", 0.0, str(exc))
            return
        if state:  # an edited metadata file writes session.nwb again
            state["nwb_metadata"] = file_fingerprint(meta_file)
    before = _read_json(mark)
    if (
        state
        and before.get("state") == state
        and all((folder / p).is_file() for p in before["written"])
    ):
        # nothing changed since the files were written (a resumed batch with every step up
        # to date): a long video's masks TIFF alone took ~40 s to write again
        row("export", "up to date", 0.0, f"{len(before['written'])} files")
        return
    mark.unlink(missing_ok=True)  # written again below only when every item was written
    start = time.perf_counter()
    try:
        result = export_session(session, folder, keys, nwb_metadata=meta)
    except CatrackError as exc:
        row("export", "failed", time.perf_counter() - start, str(exc))
        return
    status = "failed" if result.failed else "done"
    message = "; ".join(f"{k}: {why}" for k, why in result.failed) or f"{len(result.written)} files"
    if state and not result.failed:
        from napari_catrack.io.atomic import write_text_atomic

        written = [p.as_posix() for p in result.written]
        write_text_atomic(mark, json.dumps({"state": state, "written": written}, indent=1))
    row("export", status, time.perf_counter() - start, message)


def _export_state(session: Any, keys: list[str]) -> dict[str, Any]:
    """What an export's files depend on: the session file as saved (size, mtime: any step, an
    autosave from napari or a hand edit changes it), the items and this version."""
    from napari_catrack import __version__

    try:
        st = os.stat(session.path)
    except (OSError, TypeError):  # never saved (the first step failed): nothing to compare
        return {}
    return {"session": [st.st_size, st.st_mtime_ns], "items": sorted(keys), "version": __version__}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) and isinstance(value.get("written"), list) else {}


@contextlib.contextmanager
def _single_threaded():
    """All of a recording's work in its own worker process, on one thread.

    Dask arrays (the lazily read recording) are computed with the synchronous scheduler: inside a
    distributed worker dask would otherwise send their chunks to the whole cluster, so a dying
    worker would take other recordings' chunks with it (measured: 3 recordings lost for 1 killed
    worker) and frames would travel between processes. One BLAS/OpenMP (and torch) thread: the
    cluster gives the parallelism; nested thread pools oversubscribe the cores (5x slower
    measured on 2 cores)."""
    import sys

    import dask
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(1), dask.config.set(scheduler="synchronous"):
            yield
    finally:
        if torch is not None and before:
            torch.set_num_threads(before)
