"""The one printf format in which each step's table writes its float columns, whoever writes it:
the step's command (`catrack track -o tracks.csv`, `catrack velocity`, ...) and an export of the
session (`export.write`), so the same data give the same file. (The puncta tables have one format
per column: `core.puncta.tables`.)"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

# (session step, table) -> format of every float column
FLOAT_FORMATS: dict[tuple[str, str], str] = {
    ("tracks", "tracks"): "%.3f",  # catrack track
    ("segmentation", "frames"): "%.4f",  # catrack segment --report
    ("centerline", "centerline"): "%.3f",  # catrack centerline -o
    ("centerline", "frames"): "%.4f",  # catrack centerline --frames-report
    ("centerline", "posture"): "%.6f",  # catrack centerline --posture: no 1e-05 beside 0.5
    ("velocity", "velocity"): "%.4f",  # catrack velocity
    ("bouts", "bouts"): "%.4f",  # catrack velocity --bouts
}


def float_formats(step: str, name: str, table: pd.DataFrame) -> dict[str, str] | None:
    """{column: printf format} for the float columns of the step's table (None: no fixed one)."""
    fmt = FLOAT_FORMATS.get((step, name))
    if fmt is None:
        return None
    return {c: fmt for c in table.columns if table[c].dtype.kind == "f"}


def write_step_table(table: pd.DataFrame, path: str | os.PathLike, step: str, name: str) -> Path:
    """The table as CSV (Excel: numbers as they are) atomically, in its step's one format."""
    from napari_catrack.io.tables import write_table

    return write_table(table, path, column_formats=float_formats(step, name, table))
