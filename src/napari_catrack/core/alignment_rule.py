"""The one rule for "the alignment" between red and green, for every step that maps channels.

Commands (`track`, `traces`, `detect` on red, and any later one) and the demo call
`alignment_for_recording`; widgets apply the same precedence to what the viewer holds
(`widgets._context.ViewerContext.alignment`). In order:
1. an explicit alignment file (`--align FILE`) is used as given;
2. otherwise, for a command given `--session FILE`, the alignment recorded in FILE (step
   ``alignment``, e.g. by `catrack align REC -o a.json --session FILE`);
3. otherwise the alignment accepted in the recording's session file (step ``alignment`` of
   `recording_session.recording_session_path(recording)`: `movie.catrack.h5` beside it, else
   the one session in its folder that records this recording, as the demo's `demo.catrack.h5`),
   where there is one. Two sessions of the recording (a `movie-2.catrack.h5` saved beside
   `movie.catrack.h5` when that was changed on disk, or two runs' sessions): their accepted
   alignment when those that accept one agree (or step 4 when none does), else refused in one line
   (`recording_session.AmbiguousSessions`) that says which option picks one;
4. otherwise it is estimated from the recording (`core.alignment.estimate_alignment`), once:
   the estimate is cached in the recording's session file (step ``alignment_estimate``, with
   the recording's size/mtime (`io.fingerprint`), the opening options and the estimator's
   parameters and version), so the next command on the same, unchanged recording reuses it and
   says so. Not in another run's session found in the folder (step 3's `demo.catrack.h5`): that
   one is only read, and the estimate is made again each time (a viewer with it open would
   otherwise save beside it, and two sessions of the recording are refused). A command given `--session FILE` caches it in FILE instead (step
   ``alignment_estimate``) and writes no file beside the recording: FILE is the one file the
   user named for the results, the next command given it reuses the estimate, and the
   command's own save keeps the cache (`SessionTarget.save` records its steps into a FILE
   written meanwhile);
5. `--no-align` opts out explicitly (identity).
Identity is never assumed silently on a two-channel recording: whatever was used is reported
(source and dy/dx/rotation) through `log`, so a mismatch shows on the terminal, not in the data.
A cached estimate is never an accepted alignment: accepting one (GUI) or naming a file wins.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_catrack.core.rigid import AlignmentTransform

SOURCES = ("file", "accepted", "estimated", "not accepted", "none", "no red channel")
CACHE_STEP = "alignment_estimate"


@dataclass(frozen=True)
class AlignmentInForce:
    """The red -> green transform a step uses, and where it came from."""

    transform: AlignmentTransform | None  # None = identity
    source: str  # one of SOURCES
    differs_from_layer: bool = False  # (viewer only) the red layer shows another transform
    origin: str = ""  # the file it came from, when it came from a file

    @property
    def description(self) -> str:
        if self.transform is None:
            text = {"none": "alignment: none (red used as is)",
                    "no red channel": "alignment: no red channel"}.get(self.source, self.source)  # fmt: skip
        else:
            t = self.transform
            text = (
                f"alignment {self.source}: dy {t.dy:+.2f} px, dx {t.dx:+.2f} px, "
                f"rotation {t.rotation_deg:+.2f} deg"
            )
            if t.scale != 1:
                text += f", scale {t.scale:.4f}"
            if t.is_affine:
                text += f", aspect {t.aspect:.4f}, shear {t.shear:+.4f}"
            if self.origin:
                text += f" ({self.origin})"
        if self.differs_from_layer:
            text += " (the red layer shows unaccepted changes: Accept to use them)"
        return text


def accepted_alignment(session_path: str | os.PathLike) -> AlignmentTransform | None:
    """The alignment accepted in a session file (step ``alignment``), or None."""
    from napari_catrack.session import Session

    step = Session.read_step(session_path, "alignment")
    if step is None:
        return None
    return AlignmentTransform.from_dict(dict(step.attrs))


def _agreed_alignment(paths: list[Path]) -> tuple[AlignmentTransform, list[Path]] | bool | None:
    """The alignment the files of `paths` that accept one all accept (the same geometry), with
    those files; None when none accepts one, False when they differ (which applies is the
    user's call). A file that accepts none (a new viewer's session autosaved beside the earlier
    one holds tracks only) leaves the choice to the others: no alignment is set aside."""
    import dataclasses

    found = {p: accepted_alignment(p) for p in paths}
    accepting = [p for p, t in found.items() if t is not None]
    if not accepting:
        return None
    geometry = {dataclasses.replace(found[p], source="manual") for p in accepting}
    if len(geometry) != 1:
        return False
    return found[accepting[0]], accepting


def alignment_for_recording(
    recording: Any,
    *,
    align_file: str | os.PathLike | None = None,
    no_align: bool = False,
    session_path: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[float, str], Any] | None = None,
    cache: bool = True,
    command_session: str | os.PathLike | None = None,
) -> AlignmentInForce:
    """The alignment in force for an opened `Recording` (rule in the module docstring).

    `session_path` defaults to the recording's own session file. `log` receives one line saying
    what is used (not called for a single-channel recording, where there is nothing to align).
    `cache=False` neither reads nor writes a cached estimate. `command_session`: the command's
    `--session FILE`; its ``alignment`` step comes before the recording's session file, and
    an estimate is cached in it, not in the recording's session file.
    """
    from napari_catrack.errors import InputError

    if align_file is not None and no_align:
        raise InputError("--align and --no-align contradict each other; give one")
    if getattr(recording, "red", None) is None or getattr(recording, "green", None) is None:
        if align_file is not None:
            AlignmentTransform.load_json(align_file)  # a named file must still exist and parse
        return AlignmentInForce(None, "no red channel")
    if no_align:
        result = AlignmentInForce(None, "none")
        _say(log, result.description + " (--no-align)")
        return result
    if align_file is not None:
        result = AlignmentInForce(
            AlignmentTransform.load_json(align_file), "file", origin=str(align_file)
        )
        _say(log, result.description)
        return result
    if command_session is not None and Path(command_session).is_file():
        recorded = accepted_alignment(command_session)
        if recorded is not None:
            origin = f"recorded in --session {Path(command_session).name}"
            result = AlignmentInForce(recorded, "accepted", origin=origin)
            _say(log, result.description)
            return result
    found = False  # session_path is another run's session found in the recording's folder
    if session_path is None and getattr(recording, "path", None):
        from napari_catrack.recording_session import AmbiguousSessions, recording_session_path
        from napari_catrack.session import default_session_path

        advice = {}
        if command_session is not None:  # given already: say what else decides
            name = Path(command_session).name
            advice["advice"] = (
                f"give --align FILE, or record the alignment to use in --session {name} "
                f"(`catrack align REC -o FILE.json --session {name}`)"
            )
        try:
            session_path = recording_session_path(
                recording.path, log=lambda line: _say(log, line), **advice
            )
            found = Path(session_path) != default_session_path(recording.path)
        except AmbiguousSessions as exc:
            agreed = _agreed_alignment(exc.paths)  # the choice changes nothing read here
            if agreed is False:
                raise
            names = " and ".join(p.name for p in exc.paths)
            if agreed is not None:
                transform, accepting = agreed
                result = AlignmentInForce(
                    transform, "accepted", origin=" and ".join(p.name for p in accepting)
                )
                said = (
                    "the same in each of these session files"
                    if len(accepting) == len(exc.paths)
                    else "none of the others accepts one"
                )
                _say(log, f"{result.description} ({said})")
                return result
            _say(log, f"none of {names} accepts an alignment")
            session_path, found = None, True  # estimated, cached in neither
    if session_path is not None and Path(session_path).is_file():
        accepted = accepted_alignment(session_path)
        if accepted is not None:
            result = AlignmentInForce(accepted, "accepted", origin=Path(session_path).name)
            _say(log, result.description)
            return result
    from napari_catrack.core.alignment_params import AlignParams

    params = AlignParams()
    # under --session the estimate is cached in FILE, never beside the recording. A session
    # found in the folder (`demo.catrack.h5`) is only read: written, a viewer that has it open
    # would save beside it ("changed on disk"), and two sessions of the recording are refused
    cache_path = command_session if command_session is not None else session_path
    if command_session is None and found:
        cache_path = None
    key = _cache_key(recording, params) if cache and cache_path is not None else None
    advice = "save it with `catrack align` or opt out with --no-align"
    none_found = "no --align and no accepted alignment"
    if command_session is not None:
        name = Path(command_session).name
        advice = f"keep one with `catrack align REC -o FILE.json --session {name}` or opt out with --no-align"  # fmt: skip
        none_found = (
            f"no --align, no alignment recorded in --session {name} and none accepted in the "
            "recording's session file"
        )
    cached = _cached_estimate(cache_path, key) if key is not None else None
    if cached is not None:
        result = AlignmentInForce(cached, "estimated")
        _say(
            log,
            f"{result.description} (estimated by an earlier command, cached in "
            f"{Path(cache_path).name}; {none_found}; {advice})",
        )
        return result
    from napari_catrack.core.alignment import estimate_alignment, poor_match_warning

    estimate = estimate_alignment(recording.green, recording.red, params, progress=progress)
    poor = poor_match_warning(estimate, "give --align FILE or --no-align, or check the channels")
    if poor:
        _say(log, f"warning: {poor}")
    result = AlignmentInForce(estimate, "estimated")
    kept = ""
    if key is not None:
        kept = _store_estimate(cache_path, key, estimate, recording)
    if command_session is None:
        none_found += " in the session"
    _say(log, f"{result.description} ({none_found}{kept}; {advice})")
    return result


def _cache_key(recording: Any, params: Any) -> dict[str, Any] | None:
    """What a cached estimate must match: the file(s) (size, mtime), how they were opened, the
    estimator. None for recordings that are not on disk (nothing to check them by)."""
    import json

    from napari_catrack import __version__
    from napari_catrack.io.fingerprint import file_fingerprint

    source = file_fingerprint(getattr(recording, "path", "") or "")
    if source.get("missing"):
        return None
    key = {
        "recording": source,
        "options": getattr(recording, "options", {}),
        "shape": [int(n) for n in recording.red.shape],
        "estimator": {"version": __version__, "params": params.to_dict()},
    }
    return json.loads(json.dumps(key, default=str))  # as it reads back from the file


def _cached_estimate(session_path: str | os.PathLike, key: dict[str, Any]):
    """The cached estimate for exactly this file and estimator, or None."""
    from napari_catrack.errors import CatrackError
    from napari_catrack.session import Session

    try:
        step = Session.read_step(session_path, CACHE_STEP)
    except CatrackError:
        return None
    if step is None or step.attrs.get("key") != key:
        return None
    return AlignmentTransform.from_dict(step.attrs["transform"])


def _store_estimate(session_path, key, estimate: AlignmentTransform, recording: Any) -> str:
    """Cache an estimate in the session file; the clause the log line adds about it."""
    from napari_catrack.errors import CatrackError
    from napari_catrack.session import Session

    name = Path(session_path).name
    try:
        stored = Session.write_step(
            session_path,
            CACHE_STEP,
            attrs={"transform": estimate.to_dict(), "key": key, "info": estimate.info},
            params=key["estimator"]["params"],
            recording=recording,
        )
    except (CatrackError, OSError) as exc:
        return f"; not cached: {exc}"
    return f"; cached in {name} for the next command" if stored else ""


def _say(log: Callable[[str], None] | None, text: str) -> None:
    if log is not None:
        log(text)
