"""Tables: reading CSV/Excel files, writing them atomically, and traces as long tables, wide
tables or (neurons, frames) matrices.

A *long* table has one row per neuron and frame (`neuron_id, frame, <value>`, as `catrack traces`
writes); a *wide* table one row per neuron (an id column, then one column per frame, headed by its
number or time). Both become a `TraceMatrix` over the full frame range (frames without a row are
NaN; a range that is mostly empty warns, a huge one is refused). Every reader turns a bad file into
one `InputError` line naming the file and the problem.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path, recover_before_reading
from napari_catrack.io.text_encoding import table_encoding

__all__ = [
    "EXCEL_SUFFIXES",
    "LONG_COLUMNS",
    "TraceMatrix",
    "long_to_matrix",
    "matrix_to_long",
    "matrix_values_at",
    "read_table",
    "read_traces",
    "to_matrix",
    "wide_fps",
    "wide_to_matrix",
    "write_table",
]

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
LONG_COLUMNS = ("neuron_id", "frame", "dff")


# ---------------------------------------------------------------- files
def not_utf8_line(what: str, path: str | os.PathLike, exc: UnicodeDecodeError) -> str:
    """The one line for a settings file (YAML, JSON, metadata) that is not UTF-8: those are read
    as UTF-8 only (a wrong guess would silently change keys and names). Tables are not refused:
    `io.text_encoding` reads Excel's Windows code page, saying so."""
    byte = exc.object[exc.start : exc.start + 1] if isinstance(exc.object, bytes) else b""
    which = f" (byte 0x{byte.hex()})" if byte else ""
    if Path(path).suffix.lower() in (".csv", ".tsv", ".txt"):
        how = (
            'Excel\'s "CSV (Comma delimited)" saves the Windows code page; save it as '
            '"CSV UTF-8 (Comma delimited)" (or .xlsx) and try again'
        )
    else:
        how = "save it as UTF-8 (Notepad: Save as, Encoding UTF-8) and try again"
    return f"{what} {path} is not UTF-8 text{which}: {how}"


def _separator(path: Path, encoding: str) -> str:
    """A tab for a .tsv, and for a table whose header has tabs and no comma (Excel's "Unicode
    text", UTF-16, is tab-separated whatever its name); else a comma."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        with open(path, encoding=encoding) as fh:
            header = fh.readline()
    except (OSError, UnicodeDecodeError):
        return ","  # pandas says why
    return "\t" if "\t" in header and "," not in header else ","


def read_table(
    path: str | os.PathLike,
    required: tuple[str, ...] = (),
    what: str = "table",
    *,
    numeric: tuple[str, ...] = (),
    frames: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Read a CSV (TSV, Excel) table and insist on the columns the caller needs.

    `numeric`: columns (when present) whose cells must be numbers or empty; `frames`: columns
    whose cells must be whole numbers >= 0. Both come back as numbers. Without this a word in a
    number column failed deep in a step (`int('zero')`: a traceback)."""
    path = Path(path)
    recover_before_reading(path)  # a set killed half placed there: finished before the read
    # `what` may already say "file" ("event file"): never "event file file not found"
    the_file = what if what.endswith("file") else f"{what} file"
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise InputError(f"{the_file} {problem}: {path}")
    try:
        if path.suffix.lower() in EXCEL_SUFFIXES:
            df = pd.read_excel(path)
        else:  # a .tsv is tab-separated (BIDS events.tsv): read as CSV it is one column
            # UTF-8, UTF-16 (BOM) or Windows-1252 (said): Excel's CSV on Windows is read too
            encoding = table_encoding(path, what)
            df = pd.read_csv(path, sep=_separator(path, encoding), encoding=encoding)
    except pd.errors.EmptyDataError:
        raise InputError(f"{the_file} {path} is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"{what} {path} lacks column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, df.columns))}"
        )
    for column in dict.fromkeys((*frames, *numeric)):
        if column in df.columns:
            df[column] = _numbers(df[column], column in frames, f"{what} {path}", column)
    return df


def _numbers(values: pd.Series, frame: bool, where: str, column: str) -> pd.Series:
    """`values` as numbers, or one line naming the first cell that is not one."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if frame:
        bad |= values.isna() | (numbers < 0) | (numbers % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        kind = "whole numbers >= 0 (frames)" if frame else "numbers"
        cell = values.iloc[row]
        raise InputError(
            f"{where}: column {column} must hold {kind}; line {row + 2} has "
            f"{'an empty cell' if pd.isna(cell) else repr(cell)}"
        )
    return numbers.astype("int64") if frame else numbers


def write_table(
    df: pd.DataFrame,
    path: str | os.PathLike,
    *,
    column_formats: dict[str, str] | None = None,
    **to_csv_kwargs,
) -> Path:
    """Write CSV (or Excel for .xlsx) through a temp file + rename, so a crash never leaves half
    a table; `to_csv_kwargs` (e.g. float_format) go to `DataFrame.to_csv`. `column_formats`
    ({column: "%.4f"}) writes each named float column of a CSV in its one format (NaN as an
    empty cell), whatever `float_format` says for the others; Excel keeps the numbers."""
    with atomic_write_path(path) as tmp:
        if Path(path).suffix.lower() == ".xlsx":
            df.to_excel(tmp, index=False, engine="openpyxl")
        else:
            formatted_columns(df, column_formats).to_csv(tmp, index=False, **to_csv_kwargs)
    return Path(path)


def formatted_columns(df: pd.DataFrame, column_formats: dict[str, str] | None) -> pd.DataFrame:
    """`df` with each float column named in `column_formats` turned into text in that one
    printf format (NaN -> ""), so a CSV never mixes 1e-05 and 0.5 or 3 and 3.25 in a column."""
    if not column_formats:
        return df
    out = df.copy()
    for col, fmt in column_formats.items():
        if col in out.columns and out[col].dtype.kind == "f":
            values = out[col].to_numpy(float)
            out[col] = ["" if np.isnan(v) else fmt % v for v in values]
    return out


# ---------------------------------------------------------------- traces as matrices
@dataclass
class TraceMatrix:
    """Traces as a matrix: row i is neuron `neuron_ids[i]`, column j is frame `frames[j]`."""

    neuron_ids: np.ndarray
    frames: np.ndarray
    dff: np.ndarray  # (neurons, frames) values of the chosen column (dF/F by default)


def _check_rows(m: TraceMatrix, where: str, lost_ok: bool = False) -> TraceMatrix:
    """Refuse a table without values; `lost_ok`: some neurons may be NaN throughout (a track
    lost on background), for readers that leave them out themselves (transient detection)."""
    if m.dff.size == 0:
        raise InputError(f"{where} holds no trace values")
    dead = ~np.isfinite(m.dff).any(axis=1)
    if dead.all():
        raise InputError(f"{where}: every neuron's dF/F is empty or NaN")
    if dead.any() and not lost_ok:
        ids = ", ".join(map(str, m.neuron_ids[dead][:5]))
        raise InputError(
            f"{where}: {int(dead.sum())} neuron(s) have only NaN dF/F (neuron_id {ids})"
        )
    return m


def long_to_matrix(
    df: pd.DataFrame,
    column: str = "dff",
    where: str = "traces",
    *,
    sort_ids: bool = True,
    require_values: bool = False,
) -> TraceMatrix:
    """Pivot `neuron_id, frame, <column>` rows into a matrix over the full frame range.

    Neurons are sorted by id (`sort_ids`), or keep the order of their first row (a table's own
    neuron order, e.g. the tracks'). `require_values` rejects neurons whose values are all NaN.
    """
    missing = [c for c in ("neuron_id", "frame", column) if c not in df.columns]
    if missing:
        raise InputError(
            f"{where} lacks column(s) {', '.join(missing)}: a long table needs neuron_id, "
            f"frame, {column}; found {_names(df.columns)}"
        )
    if df.empty:
        raise InputError(f"{where} has no rows")
    frame = pd.to_numeric(df["frame"], errors="coerce")
    values = pd.to_numeric(df[column], errors="coerce")
    bad = frame.isna() | (frame % 1 != 0) | (frame < 0)
    if bad.any():
        raise InputError(
            f"{where}: frame must be a non-negative integer (row {int(np.argmax(bad))})"
        )
    text = values.isna() & df[column].notna()
    if text.any():
        i = int(np.argmax(text))
        raise InputError(f"{where}: {column} is not a number in row {i}: {df[column].iloc[i]!r}")
    ids = df["neuron_id"].to_numpy()
    order = pd.unique(ids)
    if sort_ids:
        try:
            order = np.sort(order)
        except TypeError:  # ids of mixed types: keep the table's order
            pass
    row = pd.Index(order).get_indexer(ids)
    f = frame.to_numpy(np.int64)
    _check_frame_range(f, len(order), where)
    frames = np.arange(f.min(), f.max() + 1)
    flat = row * frames.size + (f - frames[0])
    seen, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        k = seen[np.argmax(counts > 1)]
        raise InputError(
            f"{where}: neuron {order[k // frames.size]} has frame "
            f"{frames[k % frames.size]} more than once"
        )
    out = np.full((len(order), frames.size), np.nan)
    out.ravel()[flat] = values.to_numpy(np.float64)
    m = TraceMatrix(np.asarray(order), frames, out)
    return _check_rows(m, where) if require_values else m


def _check_frame_range(f: np.ndarray, n_neurons: int, where: str) -> None:
    """Refuse frame numbers that would make the (neurons, frames) matrix mostly empty and huge
    (a typo such as frame 100000000), and warn when most frames of the range have no row."""
    used = np.unique(f)
    span = int(used[-1] - used[0] + 1)
    if n_neurons * span > 100 * f.size + 1_000_000:
        cut = int(np.argmax(np.diff(used)))  # the largest jump between frame numbers
        below, above = used[: cut + 1], used[cut + 1 :]
        odd = below if below.size < above.size else above
        raise InputError(
            f"{where}: frame numbers run from {used[0]} to {used[-1]} ({span:,} frames) for only "
            f"{f.size:,} rows; check frame(s) {', '.join(map(str, odd[:3]))}"
            + (" ..." if odd.size > 3 else "")
        )
    missing = span - used.size
    if 2 * missing > span:
        warnings.warn(
            f"{where}: {missing:,} of the {span:,} frames from {used[0]} to {used[-1]} have no "
            "row and are left empty (NaN); check the frame column",
            UserWarning,
            stacklevel=3,
        )


def matrix_values_at(table: pd.DataFrame, m: TraceMatrix, values: np.ndarray) -> np.ndarray:
    """For every row of a long table, the (N, T) `values` (laid out like `m`) at its
    (neuron_id, frame); NaN where the matrix has no such neuron or frame."""
    row = pd.Index(m.neuron_ids).get_indexer(table["neuron_id"].to_numpy())
    col = pd.to_numeric(table["frame"], errors="coerce").to_numpy(np.float64) - m.frames[0]
    ok = (row >= 0) & np.isfinite(col) & (col >= 0) & (col < m.frames.size)
    out = np.full(len(table), np.nan)
    out[ok] = np.asarray(values, np.float64)[row[ok], col[ok].astype(np.intp)]
    return out


def matrix_to_long(m: TraceMatrix, column: str = "dff") -> pd.DataFrame:
    """The long table `neuron_id, frame, <column>` of a matrix (neuron-major, every frame)."""
    n, t = m.dff.shape
    return pd.DataFrame(
        {
            "neuron_id": np.repeat(np.asarray(m.neuron_ids, dtype=object), t),
            "frame": np.tile(np.asarray(m.frames, np.int64), n),
            column: m.dff.ravel(),
        }
    )


WIDE_FORMAT = "an id column and one column per frame number (neuron_id,0,1,2,...)"


def _names(columns) -> str:
    """Column names for a message: the first eight, then how many there are."""
    names = [str(c) for c in columns]
    return ", ".join(names[:8]) + (f", ... ({len(names)} columns)" if len(names) > 8 else "")


def _is_wide(df: pd.DataFrame) -> bool:
    """Whether every column but the id column is headed by a number (a frame or a time)."""
    if df.shape[1] == 0:
        return False
    id_col = _wide_id_column(df)
    heads = [c for c in df.columns if c != id_col]
    numbers = pd.to_numeric(pd.Series([str(c) for c in heads], dtype=object), errors="coerce")
    return bool(heads) and bool(numbers.notna().all())


def _wide_id_column(df: pd.DataFrame):
    """The id column of a wide table: `neuron_id`, else a first column that is not a frame (a
    non-numeric header or non-numeric cells, e.g. "cell" or "roi"), else None (rows are
    numbered 0..N-1)."""
    if "neuron_id" in df.columns:
        return "neuron_id"
    first = df.columns[0]
    header_is_number = pd.to_numeric(pd.Series([str(first)]), errors="coerce").notna().all()
    cells_are_numbers = pd.to_numeric(df[first], errors="coerce").notna().all()
    return None if header_is_number and cells_are_numbers else first


def wide_to_matrix(df: pd.DataFrame, where: str = "traces") -> TraceMatrix:
    """One row per neuron: an id column (see `_wide_id_column`), then one column per frame
    (numeric cells only; empty cells are NaN). Headers that are whole, increasing numbers
    name the frames; anything else (e.g. times in seconds) numbers them 0..n-1."""
    if df.shape[0] == 0 or df.shape[1] < 1:
        raise InputError(f"{where} needs a neuron-id column and at least one frame column")
    id_col = _wide_id_column(df)
    if id_col is None:
        ids, vals = np.arange(len(df)), df
    else:
        ids, vals = df[id_col].to_numpy(), df.drop(columns=[id_col])
    if vals.shape[1] == 0 or not _is_wide(df):
        raise InputError(
            f"{where} is not a wide table: expected {WIDE_FORMAT}; found {_names(df.columns)}"
        )
    if pd.Series(ids).duplicated().any():
        raise InputError(
            f"{where}: neuron id {pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]} appears twice"
        )
    num = vals.apply(pd.to_numeric, errors="coerce")
    text = num.isna() & vals.notna()
    if text.to_numpy().any():
        r, c = np.argwhere(text.to_numpy())[0]
        raise InputError(
            f"{where}: cell at row {r}, column {vals.columns[c]!r} is not a number: "
            f"{vals.iat[r, c]!r}"
        )
    return TraceMatrix(ids, _frame_numbers(vals.columns), num.to_numpy(np.float64))


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


def wide_fps(df: pd.DataFrame) -> float | None:
    """The frame rate a wide table states: its frame columns headed by times in seconds (numbers
    that are not all whole, so not frame numbers: `_frame_numbers` numbers such columns 0..n-1),
    increasing by one step, so that column k is time t0 + k / rate. Headers rounded to a few
    decimals (0.033, 0.067 at 30 Hz) may stray from that grid by one unit of their last digit (half
    of it each end of the grid, whose step is read from the first and last), others
    by 0.1 % of a step; the rate is the shortest number that keeps them there. Headers whose
    unit is a quarter of a step or more are too coarse to tell a step from rounding, unless
    they lie on one grid exactly (0.0, 0.1, 0.2 at 10 Hz). None for frame numbers, fewer than
    two columns or uneven times."""
    if df.shape[1] == 0 or not _is_wide(df):
        return None
    id_col = _wide_id_column(df)
    heads = [str(c).strip() for c in df.columns if c != id_col]
    values = pd.to_numeric(pd.Series(heads, dtype=object), errors="coerce").to_numpy(float)
    if len(values) < 2 or np.all(values == np.round(values)) or np.any(np.diff(values) <= 0):
        return None
    step = (values[-1] - values[0]) / (len(values) - 1)
    digits = max((len(h.partition(".")[2]) for h in heads if "e" not in h.lower()), default=0)
    slack = max(1e-3 * step, 10.0**-digits if digits else 0.0)
    k = np.arange(len(values))
    off = np.abs(values - (values[0] + step * k)).max()
    if off <= 1e-9 * max(np.abs(values).max(), step):  # on one grid to the last bit (0.0, 0.1,
        slack = min(slack, 1e-3 * step)  # 0.2 at 10 Hz): even, however few their digits (h20)
    elif slack >= 0.25 * step or off > slack:
        return None
    for digits in range(1, 16):  # the shortest rate that fits them (7.5, not 7.49999)
        rate = float(f"{1.0 / step:.{digits}g}")
        if np.abs(values - (values[0] + k / rate)).max() <= slack:
            return rate
    return float(1.0 / step)


def to_matrix(
    df: pd.DataFrame, layout: str | None = None, where: str = "traces", *, lost_ok: bool = False
) -> TraceMatrix:
    """Long or wide dF/F table to a matrix (every neuron must have a value unless `lost_ok`);
    `layout=None` picks long when its columns are present."""
    if layout is None:
        if {"neuron_id", "frame"} <= set(df.columns) and not set(LONG_COLUMNS) <= set(df.columns):
            missing = sorted(set(LONG_COLUMNS) - set(df.columns))
            raise InputError(
                f"{where}: a long traces table needs column(s) {', '.join(missing)}; found "
                f"{_names(df.columns)}"
            )
        if set(LONG_COLUMNS) <= set(df.columns):
            layout = "long"
        elif _is_wide(df):
            layout = "wide"
        else:
            raise InputError(
                f"{where} is not a traces table: expected columns neuron_id, frame, dff (long) "
                f"or {WIDE_FORMAT} (wide); found {_names(df.columns)}"
            )
    if layout == "long":
        return _check_rows(long_to_matrix(df, "dff", where), where, lost_ok)
    if layout == "wide":
        return _check_rows(wide_to_matrix(df, where), where, lost_ok)
    raise InputError(f"layout must be 'long' or 'wide', got {layout!r}")


def read_traces(
    path: str | os.PathLike, layout: str | None = None, *, lost_ok: bool = False
) -> TraceMatrix:
    """Read a traces CSV/Excel file (long or wide) into a matrix (`lost_ok`: see `_check_rows`)."""
    return to_matrix(read_table(path, what="traces"), layout, where=str(path), lost_ok=lost_ok)
