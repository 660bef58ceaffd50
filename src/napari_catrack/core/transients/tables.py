"""Reading trace tables (long or wide) and writing result tables atomically.

Long format is what `catrack traces` writes (`neuron_id,frame,...,dff`; only those three
columns are needed). Wide format is one row per neuron: first column the neuron id, then one
column per frame. Both become a (neurons, frames) matrix; missing frames become NaN.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path

LONG_COLUMNS = ("neuron_id", "frame", "dff")


@dataclass
class TraceMatrix:
    """Traces as a matrix: row i is neuron `neuron_ids[i]`, column j is frame `frames[j]`."""

    neuron_ids: np.ndarray
    frames: np.ndarray
    dff: np.ndarray


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """CSV or Excel into a DataFrame, with InputError for missing, empty or unreadable files."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"table not found: {p}")
    try:
        if p.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            return pd.read_excel(p)
        return pd.read_csv(p)
    except pd.errors.EmptyDataError:
        raise InputError(f"{p} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read {p} as a table: {exc}") from None


def _check_rows(m: TraceMatrix, where: str) -> TraceMatrix:
    if m.dff.size == 0:
        raise InputError(f"{where} holds no trace values")
    dead = ~np.isfinite(m.dff).any(axis=1)
    if dead.all():
        raise InputError(f"{where}: every neuron's dF/F is empty or NaN")
    if dead.any():
        ids = ", ".join(map(str, m.neuron_ids[dead][:5]))
        raise InputError(
            f"{where}: {int(dead.sum())} neuron(s) have only NaN dF/F (neuron_id {ids})"
        )
    return m


def long_to_matrix(df: pd.DataFrame, where: str = "traces") -> TraceMatrix:
    """Pivot `neuron_id,frame,dff` rows into a matrix over the full frame range."""
    missing = [c for c in LONG_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{where} lacks column(s) {', '.join(missing)} (long layout)")
    if df.empty:
        raise InputError(f"{where} has no rows")
    frame = pd.to_numeric(df["frame"], errors="coerce")
    dff = pd.to_numeric(df["dff"], errors="coerce")
    bad = frame.isna() | (frame % 1 != 0) | (frame < 0)
    if bad.any():
        raise InputError(
            f"{where}: frame must be a non-negative integer (row {int(np.argmax(bad))})"
        )
    text = dff.isna() & df["dff"].notna()
    if text.any():
        i = int(np.argmax(text))
        raise InputError(f"{where}: dff is not a number in row {i}: {df['dff'].iloc[i]!r}")
    d = pd.DataFrame({"n": df["neuron_id"].to_numpy(), "f": frame.astype(np.int64), "v": dff})
    if d.duplicated(["n", "f"]).any():
        r = d[d.duplicated(["n", "f"])].iloc[0]
        raise InputError(f"{where}: neuron {r['n']} has frame {r['f']} more than once")
    wide = d.pivot(index="n", columns="f", values="v")
    frames = np.arange(wide.columns.min(), wide.columns.max() + 1)
    wide = wide.reindex(columns=frames)
    m = TraceMatrix(wide.index.to_numpy(), frames, wide.to_numpy(np.float64))
    return _check_rows(m, where)


def wide_to_matrix(df: pd.DataFrame, where: str = "traces") -> TraceMatrix:
    """First column = neuron id, every other column = one frame (numeric cells only)."""
    if df.shape[0] == 0 or df.shape[1] < 2:
        raise InputError(f"{where} needs a neuron-id column and at least one frame column")
    ids = df.iloc[:, 0].to_numpy()
    if pd.Series(ids).duplicated().any():
        raise InputError(
            f"{where}: neuron id {pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]} appears twice"
        )
    vals = df.iloc[:, 1:]
    num = vals.apply(pd.to_numeric, errors="coerce")
    text = num.isna() & vals.notna()
    if text.to_numpy().any():
        r, c = np.argwhere(text.to_numpy())[0]
        raise InputError(
            f"{where}: cell at row {r}, column {vals.columns[c]!r} is not a number: {vals.iat[r, c]!r}"
        )
    frames = _frame_numbers(vals.columns)
    m = TraceMatrix(ids, frames, num.to_numpy(np.float64))
    return _check_rows(m, where)


def _frame_numbers(columns) -> np.ndarray:
    """Column headers as frame numbers only when they are whole, distinct and increasing.

    Headers such as times in seconds (0.0, 0.1, ...) would truncate onto the same frames, so
    anything else numbers the columns 0..n-1.
    """
    values = pd.to_numeric(pd.Index(columns).astype(str), errors="coerce").to_numpy(float)
    whole = np.isfinite(values).all() and np.all(values == np.round(values))
    if whole and (len(values) < 2 or np.all(np.diff(values) > 0)):
        return values.astype(np.int64)
    return np.arange(len(columns))


def to_matrix(df: pd.DataFrame, layout: str | None = None, where: str = "traces") -> TraceMatrix:
    """Long or wide table to a matrix; `layout=None` picks long when its columns are present."""
    if layout is None:
        if {"neuron_id", "frame"} <= set(df.columns) and not set(LONG_COLUMNS) <= set(df.columns):
            missing = sorted(set(LONG_COLUMNS) - set(df.columns))
            raise InputError(f"{where}: a long traces table needs column(s) {', '.join(missing)}")
        layout = "long" if set(LONG_COLUMNS) <= set(df.columns) else "wide"
    if layout == "long":
        return long_to_matrix(df, where)
    if layout == "wide":
        return wide_to_matrix(df, where)
    raise InputError(f"layout must be 'long' or 'wide', got {layout!r}")


def read_traces(path: str | os.PathLike, layout: str | None = None) -> TraceMatrix:
    """Read a traces CSV/Excel file (long or wide) into a matrix."""
    return to_matrix(read_table(path), layout, where=str(path))


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write CSV (or Excel for .xlsx) atomically: temp file beside `path`, then rename."""
    with atomic_write_path(path) as tmp:
        if Path(path).suffix.lower() == ".xlsx":
            df.to_excel(tmp, index=False, engine="openpyxl")
        else:
            df.to_csv(tmp, index=False)
    return Path(path)
