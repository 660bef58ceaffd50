"""Stage positions of a tracking microscope, and frame timestamps.

A stage log is a CSV (or Excel) table or an HDF5 file with a position per row and a time
and/or a frame number. The contract's columns are `frame,time_s,stage_y_um,stage_x_um`; other
rigs name them differently, so columns are found by common names (case-insensitive) or mapped
explicitly
(`columns="time=Time,y=Y,x=X"`), with `scale_um` (µm per stage unit, e.g. 1000 for mm) and
`time_scale_s` (seconds per time unit, e.g. 0.001 for ms). In HDF5 the same names are looked up
as datasets (one 1-D dataset per column), or a 2-D dataset `stage` of (y, x) rows.
The Zhen lab's tracker TrackStim writes `stage-pos.txt` without a header (`frame, x, y, z`
in µm per line); such a file is read as it is (`_trackstim`).

`stage_at(log, frame_times)` gives the stage position at each video frame: matched by the
log's frame numbers when it has every frame (the `frame` column numbers the video's frames),
else interpolated in time when both have times (behaviour camera and stage log at different
rates), and never silently extrapolated. A log with both frame numbers and times states the
camera's frame rate itself; when the frame rate given for the video contradicts it (a wrong
`--fps`, or times in ms read as seconds), `stage_at` says so, naming both rates.

Rows without a position (NaN, a stage that did not report) are interpolated from their
neighbours when the gap is short (`MAX_GAP_ROWS`), and `StageLog.notes` says how many; longer
gaps stay empty, and the frames there get no position or velocity (also said).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError
from napari_catrack.io.text_encoding import table_encoding

ALIASES = {
    "frame": ("frame", "frame_index", "frame_number", "frameno", "index"),
    "time": ("time_s", "time", "t", "timestamp", "seconds", "time_sec"),
    "y": ("stage_y_um", "y_um", "stage_y", "stagey", "y", "pos_y", "ypos"),
    "x": ("stage_x_um", "x_um", "stage_x", "stagex", "x", "pos_x", "xpos"),
}


MAX_GAP_ROWS = 15  # runs of rows without a position up to this long are interpolated
RATE_TOLERANCE = 0.05  # relative disagreement of two frame rates that is reported
# how the user names each setting: the command line's flags (the widget passes its own)
CLI_NAMES = {"columns": "--stage-columns", "fps": "--fps",
             "time_scale": "--stage-time-scale 0.001"}  # fmt: skip


@dataclass
class StageLog:
    """Stage (y, x) in µm per row, with the row's time (s) and/or frame number."""

    yx_um: np.ndarray  # (n, 2)
    time_s: np.ndarray | None
    frame: np.ndarray | None
    source: str = ""
    notes: list[str] = field(default_factory=list)  # what a user should know (filled rows)

    def __len__(self) -> int:
        return len(self.yx_um)


def parse_columns(spec: str | dict | None) -> dict[str, str]:
    """'time=Time,y=Y,x=X' -> {'time': 'Time', 'y': 'Y', 'x': 'X'} (keys: frame, time, y, x)."""
    if not spec:
        return {}
    if isinstance(spec, dict):
        items = spec.items()
    else:
        items = []
        for part in str(spec).split(","):
            if "=" not in part:
                raise InputError(f"stage column mapping {part!r} must look like key=Column")
            k, v = part.split("=", 1)
            items.append((k.strip().lower(), v.strip()))
    out = {}
    for k, v in items:
        if k not in ALIASES:
            raise InputError(f"stage column key {k!r} must be one of {', '.join(ALIASES)}")
        out[k] = v
    return out


def _folded(column: str) -> str:
    """A column name as the aliases spell it: lower case, µ (micro sign or Greek mu) as u, so a
    header `stage_x_µm` (Excel's code page, or UTF-8) is `stage_x_um`."""
    return column.lower().strip().replace("\u00b5", "u").replace("\u03bc", "u")


def _pick(available: list[str], key: str, mapping: dict[str, str]) -> str | None:
    if key in mapping:
        if mapping[key] not in available:
            raise InputError(
                f"the stage log has no column {mapping[key]!r}; it has {', '.join(available)}"
            )
        return mapping[key]
    lower = {_folded(a): a for a in available}
    for alias in ALIASES[key]:
        if alias in lower:
            return lower[alias]
    return None


def read_stage(
    path: str | os.PathLike,
    *,
    columns: str | dict | None = None,
    scale_um: float = 1.0,
    time_scale_s: float = 1.0,
    names: dict[str, str | None] | None = None,
) -> StageLog:
    """Read a stage log (CSV/Excel/HDF5); see the module docstring for names and units.

    names: how the user sets the column mapping etc. in messages (`CLI_NAMES` by default; the
    widget gives its own controls' names)."""
    names = {**CLI_NAMES, **(names or {})}
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise InputError(f"stage file {problem}: {path}")
    mapping = parse_columns(columns)
    table = _read_hdf5(path) if path.suffix.lower() in (".h5", ".hdf5") else _read_table(path)
    if isinstance(table, np.ndarray):  # a 2-D `stage` dataset
        return StageLog(table[:, :2] * scale_um, None, None, str(path))
    ui, names = names, [str(c) for c in table.columns]
    ycol, xcol = _pick(names, "y", mapping), _pick(names, "x", mapping)
    if ycol is None or xcol is None:
        raise InputError(
            f"{path.name}: no stage y/x columns found (looked for stage_y_um/stage_x_um, y/x, ...); "
            f"it has {', '.join(names)}; map them with {ui['columns']}, e.g. "
            "y=StageY,x=StageX"
        )
    tcol, fcol = _pick(names, "time", mapping), _pick(names, "frame", mapping)
    try:
        yx = table[[ycol, xcol]].to_numpy(float) * scale_um
        time = table[tcol].to_numpy(float) * time_scale_s if tcol else None
        frame = table[fcol].to_numpy(float) if fcol else None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path.name}: stage columns must be numbers ({exc})") from None
    notes: list[str] = []
    keep = np.ones(len(yx), bool)
    for what, values in (("time", time), ("frame number", frame)):
        if values is not None and not np.isfinite(values).all():
            bad = ~np.isfinite(values)
            notes.append(f"{path.name}: {int(bad.sum())} row(s) without a {what} left out")
            keep &= ~bad
    yx = yx[keep]
    time = time[keep] if time is not None else None
    frame = frame[keep] if frame is not None else None
    if len(yx) < 2:
        raise InputError(f"{path.name}: the stage log needs at least 2 rows")
    if time is not None and not (np.diff(time) > 0).all():
        raise InputError(f"{path.name}: stage times must increase row by row")
    if frame is not None:
        if not np.allclose(frame, np.round(frame)):
            raise InputError(f"{path.name}: stage frame numbers must be whole numbers")
        frame = frame.astype(np.int64)
    yx = _fill_gaps(yx, time if time is not None else frame, path.name, notes)
    return StageLog(yx, time, frame, str(path), notes)


def _fill_gaps(yx: np.ndarray, along: np.ndarray | None, name: str, notes: list[str]):
    """Rows without a position: interpolated (along time, frame or row) in short gaps."""
    missing = ~np.isfinite(yx).all(axis=1)
    if not missing.any():
        return yx
    if missing.all():
        raise InputError(f"{name}: no row of the stage log has a position")
    x = np.arange(len(yx), dtype=float) if along is None else np.asarray(along, float)
    d = np.diff(np.concatenate([[0], missing.astype(int), [0]]))
    runs = list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))
    out = yx.copy()
    out[missing] = np.nan
    filled, left = 0, []
    for a, b in runs:
        if a > 0 and b < len(yx) and b - a <= MAX_GAP_ROWS:
            for i in range(2):
                out[a:b, i] = np.interp(x[a:b], x[[a - 1, b]], out[[a - 1, b], i])
            filled += b - a
        else:
            left.append((a, b))
    if filled:
        notes.append(f"{name}: {filled} row(s) without a stage position interpolated from "
                     f"their neighbours (gaps of at most {MAX_GAP_ROWS} rows)")  # fmt: skip
    if left:
        rows = ", ".join(f"{a}-{b - 1}" if b - a > 1 else f"{a}" for a, b in left[:5])
        notes.append(f"{name}: rows {rows}{' ...' if len(left) > 5 else ''} have no stage "
                     "position (too long a gap, or at an end): the frames there get no "
                     "position or velocity")  # fmt: skip
    return out


def _read_table(path: Path, what: str = "stage log") -> pd.DataFrame:
    """A CSV/TSV/Excel table; parse errors become one clear line.

    Not `io.tables.read_table`: rig logs are as often tab- or semicolon-separated as comma-
    separated, so the separator is sniffed.
    """
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            return pd.read_excel(path)
        encoding = table_encoding(path, f"the {what}")  # Excel's code page: read, and said
        sep = _delimiter(path, encoding)
        if what == "stage log" and _headerless(path, sep, encoding):
            return _trackstim(path, sep, encoding)
        return pd.read_csv(path, sep=sep, encoding=encoding)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError,
            OSError) as exc:  # fmt: skip
        raise InputError(f"cannot read the {what} {path.name}: {exc}") from None


TRACKSTIM = ("frame", "stage_x_um", "stage_y_um", "stage_z_um")


def _headerless(path: Path, sep: str, encoding: str) -> bool:
    """True when the first non-blank line is all numbers (no column names)."""
    with open(path, encoding=encoding) as fh:
        line = next((ln for ln in fh if ln.strip()), "")
    try:
        [float(v) for v in (line.split() if sep == WHITESPACE else line.split(sep))]
    except ValueError:
        return False
    return bool(line.strip())


def _trackstim(path: Path, sep: str, encoding: str) -> pd.DataFrame:
    """The Zhen lab's TrackStim log (github.com/zhenlab-ltri/TrackStim, `stage-pos.txt`).

    Its Imager writes one line per frame, `frame, x, y, z` with the micro-manager stage
    position in µm, no header, a blank line after each row, no times (frames are taken at a
    fixed rate: give --fps). Any other table without a header is refused: its columns would
    be guesses.
    """
    table = pd.read_csv(path, sep=sep, header=None, skipinitialspace=True, skip_blank_lines=True,
                        encoding=encoding)  # fmt: skip
    if table.shape[1] != len(TRACKSTIM):
        raise InputError(
            f"{path.name} has no header line and {table.shape[1]} columns; a log without a "
            "header is read as TrackStim's frame, x, y, z (µm); add column names otherwise"
        )
    table.columns = list(TRACKSTIM)
    return table


WHITESPACE = r"\s+"


def _delimiter(path: Path, encoding: str) -> str:
    """Comma, tab or semicolon, whichever the header line has most of; runs of spaces when it has
    none of them but several words (`time x y`, `0 1000.0 -52.0 3125.0`); else comma.

    pandas' sniffer (`sep=None`) guesses any character: on a one-column file `time_s` it split
    the header at the "t". A space-separated log read with a comma was one column, named after
    its whole first line.
    """
    with open(path, encoding=encoding) as fh:
        header = fh.readline()
    if any(c in header for c in ",\t;"):
        return max((",", "\t", ";"), key=header.count)
    return WHITESPACE if len(header.split()) > 1 else ","


def _read_hdf5(path: Path):
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path.name} is not a readable HDF5 file: {exc}") from None
    with f:
        found: dict[str, np.ndarray] = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.ndim in (1, 2):
                found[name] = obj[()]

        f.visititems(visit)
    one_d = {Path(k).name: v for k, v in found.items() if np.ndim(v) == 1}
    if one_d and len({len(v) for v in one_d.values()}) == 1:
        return pd.DataFrame(one_d)
    for name, arr in found.items():
        if Path(name).name.lower() == "stage" and np.ndim(arr) == 2 and arr.shape[1] >= 2:
            return np.asarray(arr, float)
    raise InputError(
        f"{path.name}: no stage positions found (datasets stage_y_um/stage_x_um/time_s of one "
        "length, or a 2-D 'stage' dataset of (y, x) rows)"
    )


def read_frame_times(path: str | os.PathLike, n_frames: int | None = None) -> np.ndarray:
    """Frame timestamps (s) from a CSV with `time_s` (and optionally `frame`) columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"frame times file not found: {path}")
    table = _read_table(path, "frame times")
    tcol = _pick([str(c) for c in table.columns], "time", {})
    if tcol is None:
        raise InputError(f"{Path(path).name}: no time column (time_s) in the frame times")
    fcol = _pick([str(c) for c in table.columns], "frame", {})
    times = table[tcol].to_numpy(float)
    if fcol is not None:
        order = np.argsort(table[fcol].to_numpy())
        times = times[order]
    if n_frames is not None and len(times) != n_frames:
        raise InputError(f"{Path(path).name} gives {len(times)} frame times for {n_frames} frames")
    return times


def stage_at(
    log: StageLog,
    frames: np.ndarray,
    times: np.ndarray | None,
    *,
    tolerance_s: float | None = None,
    notes: list[str] | None = None,
    names: dict[str, str | None] | None = None,
) -> np.ndarray:
    """(T, 2) stage positions (µm) at the given frames/times (see the module docstring).

    Frame times may lie up to `tolerance_s` (default: half the stage log's sampling interval,
    e.g. rounding in a CSV) outside the log; they take the end value, never an extrapolation.
    notes: a list the warnings are appended to (a frame rate that contradicts the log's own);
    names: how the user sets the frame rate in messages (`CLI_NAMES` by default).
    """
    frames = np.asarray(frames)
    if log.frame is not None and np.isin(frames, log.frame).all():
        index = {int(f): i for i, f in enumerate(log.frame)}
        rows = np.array([index[int(f)] for f in frames], int)
        if log.time_s is not None and times is not None:
            note = rate_contradiction(log, frames, np.asarray(times, float), names)
            if note and notes is not None:
                notes.append(note)
        return log.yx_um[rows]
    if log.time_s is not None and times is not None:
        t = np.asarray(times, float)
        if tolerance_s is None:
            tolerance_s = 0.5 * float(np.median(np.diff(log.time_s)))
        lo, hi = log.time_s[0] - tolerance_s, log.time_s[-1] + tolerance_s
        if t.min() < lo - 1e-9 or t.max() > hi + 1e-9:
            raise InputError(
                f"the stage log covers {log.time_s[0]:.3f}-{log.time_s[-1]:.3f} s but the "
                f"frames span {t.min():.3f}-{t.max():.3f} s: check --fps / frame times"
            )
        return np.stack([np.interp(t, log.time_s, log.yx_um[:, i]) for i in range(2)], axis=1)
    if log.frame is not None:
        index = {int(f): i for i, f in enumerate(log.frame)}
        missing = [int(f) for f in frames if int(f) not in index]
        if missing:
            raise InputError(
                f"the stage log has no row for frame(s) {missing[:5]} (it has {len(log)} rows, "
                f"frames {log.frame.min()}-{log.frame.max()}); give times to interpolate"
            )
        return log.yx_um[[index[int(f)] for f in frames]]
    if len(log) != len(frames):
        raise InputError(
            f"the stage log has {len(log)} rows but there are {len(frames)} frames, and "
            "neither gives times or frame numbers to match them"
        )
    return log.yx_um.copy()


def rate_contradiction(log: StageLog, frames: np.ndarray, times: np.ndarray, names=None) -> str:
    """A warning when the log's frame numbers and times give another frame rate than the
    video's frame times do ("" when they agree within `RATE_TOLERANCE`)."""
    names = {**CLI_NAMES, **(names or {})}
    if log.frame is None or log.time_s is None or len(log.frame) < 2 or len(frames) < 2:
        return ""
    span = float(log.time_s[-1] - log.time_s[0])
    log_rate = float(log.frame[-1] - log.frame[0]) / span if span > 0 else np.nan
    t_span = float(np.max(times) - np.min(times))
    f_span = float(np.max(frames) - np.min(frames))
    rate = f_span / t_span if t_span > 0 else np.nan
    if not (np.isfinite(log_rate) and np.isfinite(rate) and log_rate > 0 and rate > 0):
        return ""
    if abs(log_rate / rate - 1) <= RATE_TOLERANCE:
        return ""
    name = Path(log.source).name or "the stage log"
    if abs(log_rate * 1000 / rate - 1) <= RATE_TOLERANCE:  # a time column in ms
        scale = f" ({names['time_scale']})" if names.get("time_scale") else ""
        return (
            f"{name}: its times look like milliseconds, not seconds: with its frame numbers "
            f"they give {log_rate:.4g} frames/s against the video's {rate:.4g} Hz "
            f"({names['fps']}); positions are matched by the log's frame numbers, so they are "
            f"right; read its times in ms{scale} to silence this"
        )
    return (
        f"{name}: its frame numbers and times give {log_rate:.4g} frames/s, but the video's "
        f"frame rate is {rate:.4g} Hz ({names['fps']}): positions are matched by the log's "
        f"frame numbers; the velocities use {rate:.4g} Hz, so if {log_rate:.4g} Hz is the "
        f"camera's real rate they are {rate / log_rate:.3g} times too large"
    )
