"""NWB export of a session (pynwb): `catrack export-nwb`, the Export widget and `catrack batch`.

What goes where (docs/nwb.md):
- acquisition: the imaging as an **external link** to the recording (never copied unless
  `embed_imaging=True`), one series per channel (`OnePhotonSeries`, or `TwoPhotonSeries` for the
  two-photon path), and the behaviour video as an external `ImageSeries`;
- processing/ophys: `ImageSegmentation` (`PlaneSegmentation`: footprints as image masks for
  extracted sources, else the tracking ROI disk at each neuron's first tracked position),
  `NeuronPositions` (one `SpatialSeries` per neuron: where it was in every frame of a moving
  animal), `Fluorescence` (green, red, ratio; raw/denoised/spikes of sources) and `DfOverF`;
- intervals/transients: one row per transient with the cell's curation status;
- processing/behavior: centroid `Position`, velocity/speed `TimeSeries`, the centerline (T, P, 2),
  posture series and the stage position, when the session has them;
- events: behaviour events (`EventsTable`) aligned to the imaging clock; analysis: the
  event-triggered averages and their significance table.

Times are seconds on the imaging clock: frame k is at the recorded frame time when the session
holds frame timestamps (step ``events``), else k / fps.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from napari_catrack.errors import Cancelled, InputError

METADATA_KEYS = (
    "session_description",
    "identifier",
    "session_start_time",
    "experimenter",
    "lab",
    "institution",
    "experiment_description",
    "session_id",
    "keywords",
    "related_publications",
    "subject",
    "device",
    "imaging",
)
SUBJECT_KEYS = (
    "subject_id",
    "species",
    "sex",
    "age",
    "description",
    "genotype",
    "strain",
    "date_of_birth",
    "weight",
)
DEVICE_KEYS = ("name", "description", "manufacturer")
IMAGING_KEYS = (
    "method",
    "indicator",
    "red_indicator",
    "location",
    "excitation_lambda",
    "green_emission_lambda",
    "red_emission_lambda",
    "description",
)
# What each value must be: text; label (text, or a number taken as text: ids, weight); texts (a
# text or a list of them); nm (a positive wavelength); time (ISO date or date-time).
TEXT, LABEL, TEXTS, NM, TIME = "text", "label", "texts", "nm", "time"
VALUE_KINDS: dict[str, dict[str, str]] = {
    "": {"session_description": TEXT, "identifier": LABEL, "session_start_time": TIME,
         "experimenter": TEXTS, "lab": TEXT, "institution": TEXT, "experiment_description": TEXT,
         "session_id": LABEL, "keywords": TEXTS, "related_publications": TEXTS},
    "subject": {**dict.fromkeys(SUBJECT_KEYS, TEXT), "subject_id": LABEL, "weight": LABEL,
                "date_of_birth": TIME},
    "device": dict.fromkeys(DEVICE_KEYS, TEXT),
    "imaging": {**dict.fromkeys(IMAGING_KEYS, TEXT), "excitation_lambda": NM,
                "green_emission_lambda": NM, "red_emission_lambda": NM},
}  # fmt: skip


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Subject/session metadata from a YAML file (keys in `METADATA_KEYS`), checked."""
    import yaml

    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise InputError(f"metadata file {problem}: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"metadata file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read metadata file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(yaml_error_line(path, exc)) from None
    if not isinstance(data, dict):
        raise InputError(
            f"{path.name} must be a mapping of metadata keys, not {type(data).__name__}"
        )
    return check_metadata(data, where=path.name)


def yaml_error_line(path: Path, exc: Exception) -> str:
    """PyYAML's several-line message as one line: the file, the line and column (1-based) of
    the problem, what is wrong and, when PyYAML says, what it was reading and where it began."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    text = f"metadata file {path}: {where}{problem}"
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and start is not mark:
        text += f" ({context} started at line {start.line + 1}, column {start.column + 1})"
    elif context:
        text += f" ({context})"
    if "'\\t'" in problem:
        text += "; YAML indents with spaces, not tabs"
    # PyYAML's words for the bracketed forms
    return text.replace("a flow mapping", "a {...} mapping").replace(
        "a flow sequence", "a [...] list"
    )


def check_metadata(data: Mapping[str, Any], where: str = "metadata") -> dict[str, Any]:
    """Reject unknown keys (typos would silently drop metadata) and values of the wrong kind
    (`VALUE_KINDS`) with one line; returns a copy with times parsed and numbers as floats."""
    data = dict(data)
    for key, known in (
        ("", METADATA_KEYS),
        ("subject", SUBJECT_KEYS),
        ("device", DEVICE_KEYS),
        ("imaging", IMAGING_KEYS),
    ):
        part = data if not key else data.get(key) or {}
        if not isinstance(part, Mapping):
            raise InputError(f"{where}: {key} must be a mapping")
        unknown = sorted(set(part) - set(known))
        if unknown:
            raise InputError(
                f"{where}: unknown {key + ' ' if key else ''}key(s) {', '.join(unknown)}; "
                f"known: {', '.join(known)}"
            )
        part = dict(part)
        for name, value in part.items():
            if value is not None and name in VALUE_KINDS[key]:
                part[name] = _value(value, VALUE_KINDS[key][name], f"{key} {name}".strip(), where)
        if key:
            data[key] = part
        else:
            data.update(part)
    if data.get("imaging", {}).get("method") not in (None, "one-photon", "two-photon"):
        raise InputError(f"{where}: imaging method must be one-photon or two-photon")
    return data


def _value(value: Any, kind: str, name: str, where: str) -> Any:
    """`value` checked (and converted) for its kind; a wrong one is one `InputError` line."""
    if kind == TIME:
        return parse_time(value, where, name)
    if kind == NM:
        try:
            number = float(value) if not isinstance(value, bool) else float("nan")
        except (TypeError, ValueError):
            number = float("nan")
        if not (number > 0 and number != float("inf")):
            raise InputError(f"{where}: {name} must be a positive wavelength in nm, got {value!r}")
        return number
    items = list(value) if kind == TEXTS and isinstance(value, list | tuple) else [value]
    for v in items:
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if not (isinstance(v, str) or (kind == LABEL and number)):
            what = {TEXT: "a text", LABEL: "a text or a number", TEXTS: "a text or a list of texts"}
            raise InputError(f"{where}: {name} must be {what[kind]}, got {value!r}")
    return str(value) if kind == LABEL else value


def parse_time(
    value: Any, where: str = "metadata", name: str = "session_start_time"
) -> _dt.datetime:
    """An ISO time (date or date-time); a time without zone is taken as local time, a date
    without time as local midnight. For `session_start_time` either guess is said in a warning
    naming the value and the time zone used (a date of birth is a date: nothing to say)."""
    date_only = False
    if isinstance(value, _dt.datetime):
        t = value
    elif isinstance(value, _dt.date):
        t, date_only = _dt.datetime(value.year, value.month, value.day), True
    else:
        text = str(value).strip()
        try:
            t = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise InputError(
                f"{where}: {name} {value!r} is not an ISO time (e.g. 2024-05-01T10:30:00+02:00)"
            ) from None
        date_only = len(text) <= 10 and "T" not in text and ":" not in text
    if t.tzinfo is not None:
        return t
    local = t.astimezone()
    if name == "session_start_time":
        guess = "no time of day: taken as midnight" if date_only else "no time zone: taken as"
        warnings.warn(
            f"{where}: {name} {value if date_only else str(value).strip()} has {guess} local "
            f"time, {local.isoformat()} ({local.tzname()}, this computer's time zone); write "
            "the time and zone (e.g. 2024-05-01T10:30:00+02:00) if that is not when it began",
            UserWarning,
            stacklevel=2,
        )
    return local


NO_SUBJECT = (
    "no subject in the metadata: the file is valid NWB, but DANDI needs a subject (nwbinspector "
    "reports CRITICAL check_subject_exists); give one (--metadata meta.yaml, or the Export "
    "widget's subject id and species), e.g. subject: {subject_id: m1, species: Mus musculus, "
    "sex: M, age: P90D} (docs/nwb.md)"
)


def metadata_gaps(meta: dict, session: Any, *, embed_imaging: bool = False) -> list[str]:
    """What the NWB file will say that the user did not, an empty session, and a finding of
    nwbinspector's that the data do not deserve (`orientation_notes`): one warning line each
    (the CLI prints them, the Export widget ends its status line with them)."""
    gaps = [] if meta.get("subject") else [NO_SUBJECT]
    gaps += orientation_notes(session, embed_imaging=embed_imaging)
    if not (session.recording or {}).get("path") and not set(session.steps) - {"settings"}:
        gaps.insert(
            0,
            "the session holds no recording and no results: the NWB file holds only the metadata "
            "(open the session you analysed)",
        )
    gaps += not_in_nwb(session)
    if not meta.get("session_start_time"):
        gaps.append(
            f"no session_start_time in the metadata: the file says the session began at "
            f"{session.created}, when this napari-catrack session was created (the analysis, not "
            "the recording); give session_start_time, e.g. 2024-05-01T10:30:00+02:00"
        )
    return gaps


NOT_IN_NWB = {  # session steps the NWB file has no place for here: what they hold
    "ensembles": "coactivity, ensembles and ensemble events",
    "puncta": "localisations, puncta tracks and the calcium calls at each punctum",
}


def not_in_nwb(session: Any) -> list[str]:
    """One line per step of the session that the NWB file leaves out (`NOT_IN_NWB`), so a
    user who exports to NWB does not take the file for all of the analysis (until h20 they
    were left out without a word)."""
    return [
        f"the session's {step} step ({what}) is not written to NWB: `catrack export SESSION "
        "-o DIR` (or the Export widget) writes its tables (docs/export.md)"
        for step, what in NOT_IN_NWB.items()
        if step in session.steps
    ]


def orientation_notes(session: Any, *, embed_imaging: bool = False) -> list[str]:
    """nwbinspector's check_data_orientation flags, as CRITICAL, any series whose later axis is
    longer than its first (a heuristic: time "is usually the longest dimension"). The export
    writes time first, as NWB requires, so a session with more neurons than frames (or an
    embedded movie shorter than its rows or columns) is flagged with nothing to transpose: one
    line saying so before the user meets the finding. `dandi validate` runs the check as a
    BEST_PRACTICE_VIOLATION (nwbinspector's "dandi" configuration), which does not block an
    upload."""
    from napari_catrack.io.nwb_ophys import traces_shape

    flagged = []
    shape = traces_shape(session)
    if shape is not None and shape[1] > shape[0]:
        flagged.append(
            f"the traces (Fluorescence, DfOverF) are {shape[0]} frames x {shape[1]} neurons"
        )
    summary = (session.recording or {}).get("summary") or {}
    frames, height, width = (summary.get(k) for k in ("frames", "height", "width"))
    if embed_imaging and frames and height and width and max(height, width) > frames:
        flagged.append(f"the embedded movie is {frames} frames x {height} x {width} pixels")
    if not flagged:
        return []
    return [
        f"{'; '.join(flagged)}: time is the first axis, as NWB requires, but nwbinspector's "
        "check_data_orientation (a heuristic: time is usually the longest axis) will report "
        "CRITICAL 'Data may be in the wrong orientation' there; nothing is to be transposed. "
        "`nwbinspector FILE --config dandi` (as dandi validate runs it) reports it as a "
        "BEST_PRACTICE_VIOLATION, which does not block an upload (docs/nwb.md)"
    ]


def build_nwbfile(
    session: Any,
    metadata: Mapping[str, Any] | None = None,
    *,
    nwb_path: str | os.PathLike | None = None,
    embed_imaging: bool = False,
    fps: float | None = None,
):
    """The in-memory `NWBFile` of `session` (written by `write_nwb`); `fps`: the imaging frame
    rate to use instead of the session's (`catrack export-nwb --fps`)."""
    import json

    from napari_catrack.optional import require

    require("pynwb", "NWB export")

    from pynwb import NWBFile
    from pynwb.file import Subject

    from napari_catrack import __version__
    from napari_catrack.io.nwb_behaviour import add_behaviour, add_events
    from napari_catrack.io.nwb_common import ImagingClock
    from napari_catrack.io.nwb_ophys import add_ophys

    meta = check_metadata(metadata or {})
    clock = ImagingClock.of(session, fps)
    rec_path = (session.recording or {}).get("path", "")
    start = meta.get("session_start_time") or parse_time(session.created, name="session created")
    subject = meta.get("subject")
    nwb = NWBFile(
        session_description=meta.get("session_description")
        or f"napari-catrack analysis of {Path(rec_path).name or 'a recording'}",
        identifier=str(meta.get("identifier") or uuid.uuid4()),
        session_start_time=start,
        experimenter=_list(meta.get("experimenter")),
        lab=meta.get("lab"),
        institution=meta.get("institution"),
        experiment_description=meta.get("experiment_description"),
        session_id=meta.get("session_id"),
        keywords=_list(meta.get("keywords")),
        related_publications=_list(meta.get("related_publications")),
        subject=Subject(**_subject(subject)) if subject else None,
        source_script=f"napari-catrack {__version__}",
        source_script_file_name="napari_catrack",
        notes=json.dumps(
            {
                "recording": session.recording,
                "provenance": session.provenance(),
                "export": export_record(clock, fps),
            },
            default=str,
        ),
    )
    add_ophys(nwb, session, meta, clock, nwb_path=nwb_path, embed_imaging=embed_imaging)
    add_behaviour(nwb, session, clock, nwb_path=nwb_path)
    add_events(nwb, session, clock, nwb_path=nwb_path)
    return nwb


def export_record(clock: Any, fps: float | None) -> dict[str, Any]:
    """What the NWB file's provenance record (`notes`, key `export`) says of its imaging clock:
    `fps`, the frame rate its series are timed by, and `fps_source`, where it came from:
    "export" (given to the export: `catrack export-nwb --fps`, `catrack export --fps`,
    `write_nwb(fps=)`), "session" (`Session.frame_rate`), or None (no rate); `frame_times`:
    whether the session's recorded frame times time them instead (step `events`). Until h22 a
    `--fps` was in the series' rate only, and the notes gave the session's steps alone."""
    source = "export" if fps else ("session" if clock.fps else None)
    return {
        "fps": float(clock.fps) if clock.fps else None,
        "fps_source": source,
        "frame_times": clock.timestamps is not None,
    }


def write_nwb(
    session: Any,
    path: str | os.PathLike,
    *,
    metadata: Mapping[str, Any] | None = None,
    embed_imaging: bool = False,
    fps: float | None = None,
    progress: Callable[..., Any] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Write `session` as an NWB file (atomically: temp file + rename).

    `cancel()` is asked before building, before writing and once the temporary file is written,
    before it replaces `path`: a cancelled export leaves no file (partial or whole) at `path`
    and a previous file there untouched (pynwb's write itself cannot be interrupted).
    """
    from pynwb import NWBHDF5IO

    from napari_catrack.io.atomic import atomic_write_path
    from napari_catrack.io.h5write import h5_writer

    path = Path(path)
    check_nwb_target(path)
    stages = ("building the NWB file", "writing the NWB file", "done")

    def stage(done: int) -> None:
        if cancel is not None and cancel():
            raise nwb_cancelled(path)
        if progress is not None:
            progress(done, len(stages) - 1, stages[done])

    stage(0)
    nwb = build_nwbfile(session, metadata, nwb_path=path, embed_imaging=embed_imaging, fps=fps)
    stage(1)
    with atomic_write_path(path) as tmp, warnings.catch_warnings():
        # the temporary name (renamed to `path` once written) does not end in .nwb
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
        with h5_writer(tmp) as f, NWBHDF5IO(file=f, mode="w") as io:
            io.write(nwb)
        stage(2)  # still the temporary file: cancelled now, it is removed, not renamed
    return path


def nwb_cancelled(path: str | os.PathLike) -> Cancelled:
    """The `Cancelled` of an NWB export stopped before its file replaced `path`: it says that
    nothing was written there and whether a previous file there was kept."""
    path = Path(path)
    kept = "; the file already there is kept unchanged" if path.exists() else ""
    return Cancelled(f"NWB export cancelled: nothing was written to {path}{kept}")


def check_nwb_target(path: str | os.PathLike) -> None:
    """Refuse to replace an existing file that is not an NWB file napari-catrack wrote (HDF5 with
    an `nwb_version` attribute and our `source_script`): it may be the user's data."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the NWB file to write")
    if not path.exists():
        return
    import h5py

    try:
        with h5py.File(path, "r") as f:
            script = f["general/source_script"][()] if "general/source_script" in f else b""
            ours = "nwb_version" in f.attrs and _text(script).startswith("napari-catrack")
    except OSError:
        ours = False
    if not ours:
        raise InputError(
            f"{path} exists and is not an NWB file written by napari-catrack; it is left "
            "untouched: delete it or choose another file name"
        )


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _subject(subject: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        k: (str(v) if k != "date_of_birth" else parse_time(v, name="subject date_of_birth"))
        for k, v in subject.items()
        if v is not None
    }
    out.setdefault("subject_id", "unknown")
    return out
