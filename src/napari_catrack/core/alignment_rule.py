"""The one rule for "the alignment" between red and green, for every step that maps channels.

Commands (`track`, `traces`, `detect` on red, and any later one) and the demo call
`alignment_for_recording`; widgets apply the same precedence to what the viewer holds
(`widgets._context.ViewerContext.alignment`). In order:
1. an explicit alignment file (`--align FILE`) is used as given;
2. otherwise the alignment accepted in the recording's session file (step ``alignment`` of
   `session.default_session_path(recording)`), where there is one;
3. otherwise it is estimated from the recording (`core.alignment.estimate_alignment`);
4. `--no-align` opts out explicitly (identity).
Identity is never assumed silently on a two-channel recording: whatever was used is reported
(source and dy/dx/rotation) through `log`, so a mismatch shows on the terminal, not in the data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from napari_catrack.core.rigid import AlignmentTransform

SOURCES = ("file", "accepted", "estimated", "not accepted", "none", "no red channel")


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


def alignment_for_recording(
    recording: Any,
    *,
    align_file: str | os.PathLike | None = None,
    no_align: bool = False,
    session_path: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[float, str], Any] | None = None,
) -> AlignmentInForce:
    """The alignment in force for an opened `Recording` (rule in the module docstring).

    `session_path` defaults to the recording's own session file. `log` receives one line saying
    what is used (not called for a single-channel recording, where there is nothing to align).
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
    if session_path is None and getattr(recording, "path", None):
        from napari_catrack.session import default_session_path

        session_path = default_session_path(recording.path)
    if session_path is not None and Path(session_path).is_file():
        accepted = accepted_alignment(session_path)
        if accepted is not None:
            result = AlignmentInForce(accepted, "accepted", origin=Path(session_path).name)
            _say(log, result.description)
            return result
    from napari_catrack.core.alignment import estimate_alignment

    estimate = estimate_alignment(recording.green, recording.red, progress=progress)
    result = AlignmentInForce(estimate, "estimated")
    _say(
        log,
        result.description + " (no --align and no accepted alignment in the session; "
        "save it with `catrack align` or opt out with --no-align)",
    )
    return result


def _say(log: Callable[[str], None] | None, text: str) -> None:
    if log is not None:
        log(text)
