"""Behaviour event files: one event per row, with its name and a time or a video frame.

Columns are found by common names (case-insensitive): the name in `event`/`name`/`label`/
`type`/`behavior`/`behaviour`/`trial_type`, the time in `time_s`/`time`/`timestamp`/`t`/`seconds`/
`onset` (BIDS events files: `onset`, `duration`, `trial_type`; a duration is not used), or a
behaviour-video frame in `frame`/`frame_index`/`video_frame`. Rows may mix both (a time where
given, else the frame). A file with only times and no name column is one kind, named after it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError
from napari_catrack.io.tables import read_table

NAMES = ("event", "name", "label", "type", "behavior", "behaviour", "event_name", "trial_type")
TIMES = ("time_s", "time", "timestamp", "t", "seconds", "time_sec", "onset")
FRAMES = ("frame", "frame_index", "video_frame", "frame_number")


MS_TIMES = ("time_ms", "timestamp_ms", "t_ms", "onset_ms")  # divided by 1000


def _key(column: str) -> str:
    """`Time (s)`, `time [ms]`, `Onset s` -> `time_s`, `time_ms`, `onset_s`: a unit in brackets
    (as spreadsheets write it) becomes a suffix, spaces underscores."""
    c = re.sub(r"\s*[(\[]\s*([a-zA-Z]+)\s*[)\]]$", r"_\1", column.lower().strip())
    return re.sub(r"\s+", "_", c)


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {}
    for c in columns:  # the exact name first, then with its unit as a suffix
        lower.setdefault(c.lower().strip(), c)
    for c in columns:
        lower.setdefault(_key(c), c)
    for c in columns:  # `onset_s`, `timestamp_s`: seconds said twice
        if _key(c).endswith("_s"):
            lower.setdefault(_key(c)[:-2], c)
    return next((lower[n] for n in names if n in lower), None)


def read_events(path: str | os.PathLike) -> pd.DataFrame:
    """(event, time_s, frame) from a CSV/Excel event file; times in the file's own clock."""
    path = Path(path)
    table = read_table(path, (), "event file")
    cols = [str(c) for c in table.columns]
    name, time, frame = _find(cols, NAMES), _find(cols, TIMES), _find(cols, FRAMES)
    scale = 1.0
    if time is None and (ms := _find(cols, MS_TIMES)) is not None:
        time, scale = ms, 1e-3  # a column that says it is in milliseconds
    if time is None and frame is None:
        if len(cols) == 1 and ";" in cols[0]:  # a spreadsheet's CSV in a comma-decimal locale
            raise InputError(
                f"{path.name}: its columns are separated by ';' ({cols[0]}); save it with commas "
                "(or as .xlsx)"
            )
        raise InputError(
            f"{path.name}: no time column ({', '.join(TIMES)}, in seconds; or "
            f"{', '.join(MS_TIMES)}) or video frame column ({', '.join(FRAMES)}); it has "
            f"{', '.join(cols)}"
        )
    for col in (time, frame):
        if col is None:
            continue
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna().to_numpy() & table[col].notna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"{path.name}: row {i + 2}: {col} {table[col].iloc[i]!r} is not a number"
            )
    t = pd.to_numeric(table[time]).to_numpy(float) * scale if time else np.full(len(table), np.nan)
    f = pd.to_numeric(table[frame]).to_numpy(float) if frame else np.full(len(table), np.nan)
    if not len(table):
        raise InputError(f"{path.name} holds no events")
    infinite = np.isinf(t) | np.isinf(f)
    if infinite.any():
        i = int(np.argmax(infinite))
        raise InputError(f"{path.name}: row {i + 2} has an infinite time or frame; give a number")
    missing = ~np.isfinite(t) & ~np.isfinite(f)
    if missing.any():
        raise InputError(
            f"{path.name}: row {int(np.argmax(missing)) + 2} has neither a time nor a frame"
        )
    names = table[name].astype(str).str.strip() if name else pd.Series([path.stem] * len(table))
    # pandas 3 keeps a blank cell as NaN through astype(str) (pandas 2 made it "nan")
    unnamed = (names.isna() | names.isin(["", "nan", "None"])).to_numpy()
    if unnamed.any():
        raise InputError(
            f"{path.name}: row {int(np.argmax(unnamed)) + 2} has no event name; every event "
            f"needs a name in column {name!r}"
        )
    return pd.DataFrame({"event": names.to_numpy(), "time_s": t, "frame": f})
