"""Behaviour event files: one event per row, with its name and a time or a video frame.

Columns are found by common names (case-insensitive): the name in `event`/`name`/`label`/
`type`/`behavior`/`behaviour`/`trial_type`, the time in `time_s`/`time`/`timestamp`/`t`/`seconds`/
`onset` (BIDS events files: `onset`, `duration`, `trial_type`; a duration is not used), or a
behaviour-video frame in `frame`/`frame_index`/`video_frame`. Rows may mix both (a time where
given, else the frame). A file with only times and no name column is one kind, named after it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError
from napari_catrack.io.tables import read_table

NAMES = ("event", "name", "label", "type", "behavior", "behaviour", "event_name", "trial_type")
TIMES = ("time_s", "time", "timestamp", "t", "seconds", "time_sec", "onset")
FRAMES = ("frame", "frame_index", "video_frame", "frame_number")


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def read_events(path: str | os.PathLike) -> pd.DataFrame:
    """(event, time_s, frame) from a CSV/Excel event file; times in the file's own clock."""
    path = Path(path)
    table = read_table(path, (), "event file")
    cols = [str(c) for c in table.columns]
    name, time, frame = _find(cols, NAMES), _find(cols, TIMES), _find(cols, FRAMES)
    if time is None and frame is None:
        raise InputError(
            f"{path.name}: no time column ({', '.join(TIMES)}) or video frame column "
            f"({', '.join(FRAMES)}); it has {', '.join(cols)}"
        )
    try:
        t = pd.to_numeric(table[time]).to_numpy(float) if time else np.full(len(table), np.nan)
        f = pd.to_numeric(table[frame]).to_numpy(float) if frame else np.full(len(table), np.nan)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path.name}: event times/frames must be numbers ({exc})") from None
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
