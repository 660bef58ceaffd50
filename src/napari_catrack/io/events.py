"""Behaviour event files: one event per row, with its name and a time or a video frame.

Columns are found by common names (case-insensitive): the name in `event`/`name`/`label`/
`type`/`behavior`/`behaviour`/`trial_type`, the time in `time_s`/`time`/`timestamp`/`t`/`seconds`/
`onset` (BIDS events files: `onset`, `duration`, `trial_type`), or a behaviour-video frame in
`frame`/`frame_index`/`video_frame`. Rows may mix both (a time where given, else the frame). A
file with only times and no name column is one kind, named after it. An optional `duration`
(`duration_s`, `duration_ms`; BIDS `n/a` or an empty cell: none) makes an event an interval that
starts at its time. A CSV separated by `;` (a spreadsheet saved in a comma-decimal locale) is read
with decimal commas ("1,5" is 1.5) and that locale's thousands separators ("1.234,5" is 1234.5;
a lone "1.234" only where the column's other numbers say which it is); a tab-separated `.csv`
is read too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError
from napari_catrack.io.tables import EXCEL_SUFFIXES, read_table
from napari_catrack.io.text_encoding import table_encoding, text_encoding

NAMES = (
    "event", "name", "label", "type", "behavior", "behaviour", "event_name", "trial_type", "state",
)  # fmt: skip
TIMES = ("time_s", "time", "timestamp", "t", "seconds", "time_sec", "onset")
FRAMES = ("frame", "frame_index", "video_frame", "frame_number")


MS_TIMES = ("time_ms", "timestamp_ms", "t_ms", "onset_ms")  # divided by 1000
DURATIONS = ("duration_s", "duration", "dur_s", "dur")
MS_DURATIONS = ("duration_ms", "dur_ms")


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


def _delimiter(path: Path) -> str | None:
    """The separator of a `.csv` (or other text) file, sniffed from its header line: `;` or a
    tab where the header has more of them than commas, else None (the comma of `read_table`)."""
    if path.suffix.lower() in (*EXCEL_SUFFIXES, ".tsv") or not path.is_file():
        return None
    try:
        with open(path, encoding=text_encoding(path, "event file")[0]) as f:
            header = next((line for line in f if line.strip()), "")
    except OSError:
        return None  # read_table says why
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max((";", "\t"), key=counts.__getitem__)
    return best if counts[best] > counts[","] else None


def _read(path: Path) -> tuple[pd.DataFrame, bool]:
    """The event table, and whether its numbers may have decimal commas (a `;` file)."""
    sep = _delimiter(path)
    if sep is None:
        return read_table(path, (), "event file"), False
    try:  # numbers stay text here: `_numbers` reads "1,5" and "1.5" alike
        encoding = table_encoding(path, "event file")  # Excel's code page: read, and said
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise InputError(f"event file {path} is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise InputError(f"cannot read event file {path}: {exc}") from None
    table.columns = [str(c).strip() for c in table.columns]
    return table, sep == ";"


_SPACES = " \u00a0\u202f'"  # thousands separators that are never a decimal mark
# 1.234,5  1 234  12.345.678  1'234: digits in groups of three, then maybe a decimal comma
_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}([.' \u00a0\u202f]\d{3})+(,\d*)?")
_AMBIGUOUS = re.compile(r"[+-]?[1-9]\d{0,2}\.\d{3}")  # 1.234: 1.234 s, or 1234 with a '.' group?
_DOT_DECIMAL = re.compile(r"[+-]?\d*\.\d+")  # 1.5, 0.250, 12.3456: a decimal point
_COMMA_DECIMAL = re.compile(r"[+-]?\d*,\d+")  # 1,5: a decimal comma


def _comma_locale(path: Path, col: str, text: pd.Series) -> pd.Series:
    """The cells of a `;` file's column as numbers pandas reads: a decimal comma becomes a
    point, and thousands separators of the comma-decimal locales are dropped where they cannot
    be a decimal point (`1.234,5` = 1234.5, `12.345.678`, `1 234`, `1'234`). A lone `1.234`
    is 1234 when the column writes its decimals with commas, 1.234 when it writes them with
    points (`0.5`), and refused with its row when nothing in the column says which."""
    cells = text.fillna("")
    grouped = cells.str.fullmatch(_GROUPED.pattern)
    ambiguous = cells.str.fullmatch(_AMBIGUOUS.pattern)
    commas = cells.str.fullmatch(_COMMA_DECIMAL.pattern) | (grouped & cells.str.contains(","))
    points = cells.str.fullmatch(_DOT_DECIMAL.pattern) & ~ambiguous
    if ambiguous.any() and commas.any() == points.any():  # no sign, or signs both ways
        i = int(np.argmax(ambiguous.to_numpy(bool)))
        raise InputError(
            f"{path.name}: row {i + 2}: {col} {cells.iloc[i]!r} could be {cells.iloc[i]} or "
            f"{cells.iloc[i].replace('.', '')} (';' files may group thousands with '.'): write "
            f"{cells.iloc[i].replace('.', ',')} for a decimal, {cells.iloc[i].replace('.', '')} for "
            "thousands"
        )
    thousands = grouped & ~(ambiguous & points.any())  # `1.234` with point decimals: 1.234
    out = text.copy()
    drop = str.maketrans("", "", "." + _SPACES)
    out[thousands] = [c.translate(drop) for c in cells[thousands]]
    return out.str.replace(",", ".", regex=False)


def _numbers(path: Path, table: pd.DataFrame, col: str, decimal_comma: bool) -> np.ndarray:
    """Column `col` as floats (empty / `n/a`: NaN); a cell that is not a number is refused with
    its file row (header = row 1). `decimal_comma`: a `;` file (`_comma_locale`)."""
    raw = table[col]
    text = raw.astype("string").str.strip() if raw.dtype == object or decimal_comma else raw
    if decimal_comma:
        text = _comma_locale(path, col, text)
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna().to_numpy() & raw.notna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{path.name}: row {i + 2}: {col} {raw.iloc[i]!r} is not a number")
    return values.to_numpy(float, na_value=np.nan)


def read_events(path: str | os.PathLike) -> pd.DataFrame:
    """(event, time_s, frame, duration_s) from a CSV/TSV/Excel event file; times in the file's
    own clock; `duration_s` NaN for an event without a duration (a moment, not an interval)."""
    path = Path(path)
    table, decimal_comma = _read(path)
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
    nan = np.full(len(table), np.nan)
    t = _numbers(path, table, time, decimal_comma) * scale if time else nan
    f = _numbers(path, table, frame, decimal_comma) if frame else nan
    d = _durations(path, table, cols, decimal_comma)
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
    return pd.DataFrame({"event": names.to_numpy(), "time_s": t, "frame": f, "duration_s": d})


def _durations(path: Path, table: pd.DataFrame, cols: list[str], decimal_comma: bool):
    """The events' durations in seconds (NaN: none, as BIDS `n/a`); negative or infinite ones
    are refused with their row."""
    col, scale = _find(cols, DURATIONS), 1.0
    if col is None and (col := _find(cols, MS_DURATIONS)) is not None:
        scale = 1e-3
    if col is None:
        return np.full(len(table), np.nan)
    d = _numbers(path, table, col, decimal_comma) * scale
    bad = np.isinf(d) | (d < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{path.name}: row {i + 2}: {col} {table[col].iloc[i]} is not a duration (seconds "
            "from 0; n/a or an empty cell for none)"
        )
    return d
