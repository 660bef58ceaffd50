"""The session file of a recording, for a command given the recording alone (no `--session`).

A recording's session is `movie.catrack.h5` beside `movie.tif` (`session.default_session_path`),
as the widgets and `catrack batch` name it. Other sessions in the same folder are named for the
run, not the movie: `catrack demo -o D` writes `D/demo.catrack.h5` with `D/recording.tif` as its
recording. So when `movie.catrack.h5` is absent, a session in the recording's folder that
records this very recording is taken (and said), so that `catrack traces D/recording.tif ...`
uses the demo's accepted alignment instead of estimating one and writing a second session
beside the movie. "This very recording" is by identity: the session's recording reference
names it, and the size and SHA-256 its steps recorded for it (`io.provenance`) match, where they
did; a session whose reference names another path but whose recorded size and SHA-256 match
is a session of a copy of this file and is taken too. Two such sessions: refused in one line
(which one is meant is the user's call).

A session saved beside `movie.catrack.h5` instead of over it (`Session.save`: the file was
changed on disk meanwhile; or a new viewer's session beside an earlier one's file):
`movie-2.catrack.h5`, with the attribute `branched_from` naming `movie.catrack.h5` (a branch is
what that attribute says, not its name: `movie-2.catrack.h5` is as well the session of a second
movie `movie-2.tif`, and a branch beside `movie-2.tif` is never taken as that movie's). Both are
then the recording's session, and neither is plainly the one meant (the first holds another
program's step, the second the viewer's later work), so `movie.catrack.h5` is no longer taken
silently: `AmbiguousSessions`, whose one line names each file with its last modification, its
steps and what it branched from, and says which option picks one. `alignment_for_recording`
goes on without asking when the sessions accept the same alignment (or none does): then the
choice changes nothing it reads.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from napari_catrack.errors import CatrackError, InputError

ADVICE = (
    "pick one with --session FILE (its accepted alignment is used, and the step recorded there), "
    "or give --align FILE"
)


class AmbiguousSessions(InputError):
    """Two or more session files are the recording's session: which one is the user's call."""

    def __init__(self, message: str, paths: list[Path]) -> None:
        super().__init__(message)
        self.paths = paths


def recording_session_path(
    recording_path: str | os.PathLike,
    log: Callable[[str], None] | None = None,
    *,
    advice: str = ADVICE,
) -> Path:
    """The session file of `recording_path`: `movie.catrack.h5` beside it when it exists (and
    no session was saved beside it instead of over it), else the one session in its folder
    whose recording is this file (said through `log`), else `movie.catrack.h5` (not there yet:
    where a cached estimate goes). Two or more sessions of this recording (module docstring):
    `AmbiguousSessions` (an `InputError`) ending in `advice` (a command that was given
    --session says what else to give)."""
    from napari_catrack.session import default_session_path

    own = default_session_path(recording_path)
    with _read_once(own.parent) as candidates:
        if candidates is None:
            return own
        return _session_path(recording_path, own, candidates, log, advice)


@contextlib.contextmanager
def _read_once(folder: Path) -> Iterator[list[Path] | None]:
    """The session files in `folder` (None: it cannot be listed), the folder's interrupted sets
    finished first, and each file's provenance read once while inside: `folder` is listed once
    (h16 listed it again for every read of every candidate's provenance, each a recovery pass:
    7 listings for three session files, a cost that grows with the folder's files)."""
    from napari_catrack.io.atomic import recover_interrupted_sets, say_unfinished
    from napari_catrack.session import SESSION_SUFFIX

    try:
        names = os.listdir(folder)
    except OSError:
        yield None
        return
    unfinished: list[str] = []  # (a set it cannot finish here is said, as every read says it)
    with contextlib.suppress(OSError):
        if recover_interrupted_sets(folder, names, unfinished):  # files placed: listed again
            names = os.listdir(folder)
    say_unfinished(unfinished, stacklevel=5)
    # (normcase: on Windows case-blind, as `Path.glob` there)
    candidates = sorted(folder / n for n in names if os.path.normcase(n).endswith(SESSION_SUFFIX))
    token = _READ.set({})
    try:
        yield [p for p in candidates if p.is_file()]
    finally:
        _READ.reset(token)


def _session_path(
    recording_path: str | os.PathLike,
    own: Path,
    candidates: list[Path],
    log: Callable[[str], None] | None,
    advice: str,
) -> Path:
    """`recording_session_path` given the folder's session files."""
    from napari_catrack.session import free_session_path

    folder = own.parent
    name = Path(recording_path).name
    if own.exists() and not _of_another_recording(own, recording_path):
        branches = [p for p in candidates if p != own and _branch_of(p, own)
                    and _records(p, recording_path)]  # fmt: skip
        if branches:
            raise _ambiguous([own, *branches], name, folder, advice, "")
        return own
    elsewhere = own.exists()  # movie-2.catrack.h5 saved beside movie's session, not movie-2.tif's
    ranks = {p: _records(p, recording_path) for p in candidates if p != own or not elsewhere}
    best = max(ranks.values(), default=0)
    found = [p for p, rank in ranks.items() if rank == best > 0]  # by its path first, else a copy
    if not found:  # (a file of another recording is never written as this one's)
        return free_session_path(own) if elsewhere else own
    if len(found) > 1:
        raise _ambiguous(found, name, folder, advice, f" and there is no {own.name}")
    if log is not None:
        log(f"no {own.name}: using {found[0].name}, the session in {name}'s folder whose recording "
            f"is {name}")  # fmt: skip
    return found[0]


def _branch_of(path: Path, own: Path) -> bool:
    """`path` was saved beside `own` instead of over it: its `branched_from` attribute names
    `own` (every session saved beside another since h15 records it).

    Not by its name alone: `movie-2.catrack.h5` is as well the own session of a second movie
    `movie-2.tif`. A file without the attribute (saved before it existed) counts when it is named
    as `free_session_path` names a branch (`movie-2.catrack.h5`, `movie-2-2...`) and is not the
    session beside the recording it records (that one is `movie-2.tif`'s own); the caller also
    requires that it records this recording."""
    from napari_catrack.session import SESSION_SUFFIX, default_session_path

    prov = _provenance(path)
    if "branched_from" in prov:
        return (prov["branched_from"] or {}).get("file") == own.name
    stem = own.name[: -len(SESSION_SUFFIX)]
    pattern = re.escape(stem) + r"(-\d+)+" + re.escape(SESSION_SUFFIX)
    if not re.fullmatch(pattern, path.name):
        return False
    ref = (prov.get("recording") or {}).get("path")
    return not ref or default_session_path(ref) != path


def _of_another_recording(session_path: Path, recording_path: str | os.PathLike) -> bool:
    """`movie-2.catrack.h5` beside `movie-2.tif` that is not its session: saved beside
    `movie.catrack.h5` (`branched_from`) or recording another file that is still there, and
    not recording this one (`_records`). A session whose recording is gone (renamed, moved) or
    that records none is still the recording's own, as its name says; so is one that records
    this very path whose file was written again since (`_records` 0: other content)."""
    from napari_catrack.io.output_check import same_file

    prov = _provenance(session_path)
    ref = (prov.get("recording") or {}).get("path")
    if not prov.get("branched_from") and not (ref and os.path.exists(ref)):
        return False
    if not prov.get("branched_from") and same_file(ref, recording_path):
        return False  # this movie, re-saved: its own session (the steps' checks say it changed)
    return _records(session_path, recording_path) == 0


# {session file: its provenance} while `recording_session_path` runs (`_read_once`), else None
_READ: contextvars.ContextVar[dict[Path, dict[str, Any]] | None] = contextvars.ContextVar(
    "recording_session_read", default=None
)


def _provenance(path: Path) -> dict[str, Any]:
    """`Session.read_provenance`, or {} for a file that cannot be read as a session; inside
    `_read_once` each file is read once, its folder already recovered."""
    from napari_catrack.session import Session

    read = _READ.get()
    if read is not None and path in read:
        return read[path]
    try:
        prov = Session.read_provenance(path, recover=read is None)
    except (CatrackError, OSError, KeyError, ValueError):
        prov = {}
    if read is not None:
        read[path] = prov
    return prov


def _ambiguous(
    paths: list[Path], name: str, folder: Path, advice: str, missing: str
) -> AmbiguousSessions:
    """The one line naming each session file: last modified, steps, what it branched from."""
    described = ", ".join(_describe(p) for p in paths)
    return AmbiguousSessions(
        f"{len(paths)} session files in {folder} record {name} as their recording{missing}: "
        f"{described}; {advice}",
        list(paths),
    )


def _describe(path: Path) -> str:
    """`movie-2.catrack.h5 (modified 2026-12-01 17:25:03 UTC; steps alignment, tracks; saved
    beside movie.catrack.h5 at 2026-12-01 17:25:03 UTC, which was changed on disk ...)`."""
    prov = _provenance(path)
    try:
        mtime = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.UTC)
        parts = [f"modified {mtime:%Y-%m-%d %H:%M:%S} UTC"]
    except OSError:
        parts = []
    steps = [s for s in prov.get("steps", {}) if s != "settings"]
    parts.append(f"steps {', '.join(steps)}" if steps else "no steps")
    branched = prov.get("branched_from") or {}
    if branched.get("file"):
        at = str(branched.get("at", "")).replace("T", " ").replace("+00:00", " UTC")
        reason = branched.get("reason", "")
        parts.append(f"saved beside {branched['file']}{' at ' + at if at else ''}"
                     f"{', which ' + reason if reason else ''}")  # fmt: skip
    return f"{path.name} ({'; '.join(parts)})"


def _records(session_path: Path, recording_path: str | os.PathLike) -> int:
    """Whether the session file records `recording_path` as its recording (module docstring):
    2 its reference names this file (and the recorded size and SHA-256 match, where recorded),
    1 it names another path but the recorded size and SHA-256 match (a copy), 0 not. A session
    that cannot be read is not one (the command's own checks say so when it is named)."""
    from napari_catrack.io.output_check import same_file

    prov = _provenance(session_path)
    ref = (prov.get("recording") or {}).get("path")
    if not ref:
        return 0
    by_path = same_file(recording_path, ref)
    facts = _recorded_facts(prov, ref)
    if facts is None:
        return 2 if by_path else 0
    if not _same_content(recording_path, facts):
        return 0  # another movie, even under the recorded name
    return 2 if by_path else 1


def _recorded_facts(prov: dict[str, Any], ref: str) -> dict[str, Any] | None:
    """Size and SHA-256 that a step recorded for the session's recording (its `inputs`'
    `recording` entry naming the reference's path), or None when no step recorded them. The
    behaviour steps also record a `recording` (the behaviour video): another path, left out."""
    want = os.path.normcase(os.path.abspath(ref))
    for step in prov.get("steps", {}).values():
        facts = (step.get("inputs") or {}).get("recording") or {}
        path = facts.get("path")
        if not path or not facts.get("sha256") or facts.get("size") is None:
            continue
        if os.path.normcase(os.path.abspath(path)) == want:
            return facts
    return None


def _same_content(path: str | os.PathLike, facts: dict[str, Any]) -> bool:
    """`path` has the size and SHA-256 recorded in `facts` (a quick no on the size first)."""
    if os.path.isfile(path) and os.path.getsize(path) != facts["size"]:
        return False
    from napari_catrack.io.provenance import file_provenance

    got = file_provenance(path)
    if got.get("missing"):
        return False
    return (got.get("size"), got.get("sha256"), got.get("sha256_of")) == (
        facts["size"],
        facts["sha256"],
        facts.get("sha256_of", got.get("sha256_of")),
    )
