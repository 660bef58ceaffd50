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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari_catrack.errors import CatrackError, InputError


def recording_session_path(
    recording_path: str | os.PathLike,
    log: Callable[[str], None] | None = None,
    *,
    advice: str = "give --session FILE or --align FILE to say which alignment to use",
) -> Path:
    """The session file of `recording_path`: `movie.catrack.h5` beside it when it exists, else
    the one session in its folder whose recording is this file (said through `log`), else
    `movie.catrack.h5` (not there yet: where a cached estimate goes). Two or more sessions of
    this recording in the folder (and no `movie.catrack.h5`): `InputError` ending in `advice`
    (a command that was given --session says what else to give)."""
    from napari_catrack.session import SESSION_SUFFIX, default_session_path

    own = default_session_path(recording_path)
    if own.exists():
        return own
    folder = own.parent
    try:
        candidates = sorted(p for p in folder.glob("*" + SESSION_SUFFIX) if p.is_file())
    except OSError:
        return own
    ranks = {p: _records(p, recording_path) for p in candidates}
    best = max(ranks.values(), default=0)
    found = [p for p, rank in ranks.items() if rank == best > 0]  # by its path first, else a copy
    if not found:
        return own
    name = Path(recording_path).name
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(
            f"{len(found)} session files in {folder} record {name} as their recording ({names}) "
            f"and there is no {own.name}: {advice}"
        )
    if log is not None:
        log(f"no {own.name}: using {found[0].name}, the session in {name}'s folder whose recording "
            f"is {name}")  # fmt: skip
    return found[0]


def _records(session_path: Path, recording_path: str | os.PathLike) -> int:
    """Whether the session file records `recording_path` as its recording (module docstring):
    2 its reference names this file (and the recorded size and SHA-256 match, where recorded),
    1 it names another path but the recorded size and SHA-256 match (a copy), 0 not. A session
    that cannot be read is not one (the command's own checks say so when it is named)."""
    from napari_catrack.io.output_check import same_file
    from napari_catrack.session import Session

    try:
        prov = Session.read_provenance(session_path)
    except (CatrackError, OSError, KeyError, ValueError):
        return 0
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
