"""Manual curation of a transient table: add, delete, adjust.

Every function returns a NEW table and never mutates its input, so a widget can keep the
previous tables on an undo stack. Edited rows get `source == "manual"` and fresh features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError

from .bounds import bounds_from_peaks
from .features import TRANSIENT_COLUMNS, add_features
from .prepare import prepare


def empty_table() -> pd.DataFrame:
    """A transient table with no rows (all columns present, with their dtypes)."""
    ints = {"start_frame", "peak_frame", "end_frame", "transient_id"}

    def dtype(c: str):
        if c in ints:
            return np.int64
        if c == "decay_fit_ok":
            return bool
        return object if c in ("neuron_id", "source") else float

    return pd.DataFrame({c: pd.Series(dtype=dtype(c)) for c in TRANSIENT_COLUMNS})


def _check_bounds(start: int, peak: int, end: int, n_frames: int) -> None:
    if not 0 <= start <= peak <= end < n_frames:
        raise InputError(
            f"need 0 <= start ({start}) <= peak ({peak}) <= end ({end}) < {n_frames} frames"
        )


def _refeature(
    table: pd.DataFrame, neuron_id, trace: np.ndarray, fps: float, smooth_window_s: float | str
):
    """Recompute features for one neuron's rows (ITIs depend on its neighbours)."""
    mine = table["neuron_id"] == neuron_id
    prep = prepare(np.asarray(trace, float)[None], fps, smooth_window_s)
    redone = add_features(table[mine], prep, np.asarray([neuron_id]))
    out = pd.concat([table[~mine], redone], ignore_index=True)
    out = out.sort_values(["neuron_id", "peak_frame"], kind="stable").reset_index(drop=True)
    for c in ("transient_id", "start_frame", "peak_frame", "end_frame"):
        out[c] = out[c].astype(np.int64)
    out["decay_fit_ok"] = out["decay_fit_ok"].astype(bool)
    return out


def add_transient(
    table: pd.DataFrame,
    trace: np.ndarray,
    fps: float,
    neuron_id,
    peak_frame: int,
    start_frame: int | None = None,
    end_frame: int | None = None,
    smooth_window_s: float | str = "auto",
) -> pd.DataFrame:
    """Add a manual transient on `trace` (that neuron's dF/F); missing bounds are found
    by the same walk-out rule the detectors use."""
    trace = np.asarray(trace, float)
    if start_frame is None or end_frame is None:
        prep = prepare(trace[None], fps, smooth_window_s)
        st, en = bounds_from_peaks(prep.smooth[0], np.asarray([peak_frame]), prep.fps)
        start_frame = int(st[0]) if start_frame is None else start_frame
        end_frame = int(en[0]) if end_frame is None else end_frame
    _check_bounds(int(start_frame), int(peak_frame), int(end_frame), trace.size)
    new_id = int(table["transient_id"].max()) + 1 if len(table) else 0
    row = {
        "transient_id": new_id,
        "neuron_id": neuron_id,
        "start_frame": int(start_frame),
        "peak_frame": int(peak_frame),
        "end_frame": int(end_frame),
        "source": "manual",
    }
    new = pd.DataFrame([row])
    out = pd.concat([table, new], ignore_index=True) if len(table) else new
    return _refeature(out, neuron_id, trace, fps, smooth_window_s)


def delete_transient(table: pd.DataFrame, transient_id: int) -> pd.DataFrame:
    """Remove one transient by id; the next transient's ITI is recomputed."""
    hit = table["transient_id"] == transient_id
    if not hit.any():
        raise InputError(f"no transient with id {transient_id}")
    out = table[~hit].reset_index(drop=True)
    if "peak_time_s" in out.columns:
        out["iti_s"] = out.groupby("neuron_id")["peak_time_s"].diff()
    return out


def adjust_transient(
    table: pd.DataFrame,
    trace: np.ndarray,
    fps: float,
    transient_id: int,
    start_frame: int | None = None,
    peak_frame: int | None = None,
    end_frame: int | None = None,
    smooth_window_s: float | str = "auto",
) -> pd.DataFrame:
    """Move the bounds of one transient; it becomes `manual` and its features are redone."""
    hit = np.flatnonzero(table["transient_id"].to_numpy() == transient_id)
    if hit.size == 0:
        raise InputError(f"no transient with id {transient_id}")
    out = table.copy()
    i = hit[0]
    for col, val in (
        ("start_frame", start_frame),
        ("peak_frame", peak_frame),
        ("end_frame", end_frame),
    ):
        if val is not None:
            out.loc[out.index[i], col] = int(val)
    r = out.iloc[i]
    _check_bounds(int(r["start_frame"]), int(r["peak_frame"]), int(r["end_frame"]), np.size(trace))
    out.loc[out.index[i], "source"] = "manual"
    return _refeature(out, r["neuron_id"], trace, fps, smooth_window_s)
