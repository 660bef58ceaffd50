"""ThunderSTORM localisation tables (CSV), written exactly as ThunderSTORM writes them and read
from ThunderSTORM, napari-catrack or any tool that follows the format.

ThunderSTORM's CSV: a quoted header, then numbers (ids and frames too, written as 1.0, 2.0, ...):

    "id","frame","x [nm]","y [nm]","sigma [nm]","intensity [photon]","offset [photon]","bkgstd [photon]","uncertainty [nm]"

frames are 1-based, x [nm] = (column + 0.5) x pixel size (the image's top-left corner is 0),
intensity = detected photons, offset = background photons per pixel, uncertainty = 1-sigma
lateral precision. ThunderSTORM 1.3+ names the last column "uncertainty_xy [nm]" and may add
"chi2", "z [nm]", "detections": the reader accepts those; other units ([px], [um]) are converted.

Internally napari-catrack keeps localisations in pixels with frames 0-based (columns frame, x, y,
sigma, photons, background, bkgstd, uncertainty); `to_thunderstorm` / `from_thunderstorm` convert.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.core.puncta.tables import float_formats
from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path
from napari_catrack.io.tables import formatted_columns
from napari_catrack.io.text_encoding import table_encoding, text_encoding

COLUMNS = (
    "id",
    "frame",
    "x [nm]",
    "y [nm]",
    "sigma [nm]",
    "intensity [photon]",
    "offset [photon]",
    "bkgstd [photon]",
    "uncertainty [nm]",
)
INTERNAL = ("frame", "x", "y", "sigma", "photons", "background", "bkgstd", "uncertainty")
_PX_EXTRAS = ("uncertainty_x", "uncertainty_y")  # other lengths in px a session may hold
_UNIT = re.compile(r"^\s*(?P<name>[^\[]+?)\s*\[(?P<unit>[^\]]+)\]\s*$")
_LENGTH = {"nm": 1.0, "um": 1000.0, "µm": 1000.0, "μm": 1000.0}


def to_thunderstorm(locs: pd.DataFrame, pixel_size_nm: float) -> pd.DataFrame:
    """Internal localisations (px, 0-based frames) -> ThunderSTORM's columns and units."""
    missing = [c for c in INTERNAL if c not in locs.columns]
    if missing:
        raise InputError(f"localisations lack column(s) {', '.join(missing)}")
    px = float(pixel_size_nm)
    out = pd.DataFrame(
        {
            "id": np.arange(1, len(locs) + 1, dtype=float),
            "frame": locs["frame"].to_numpy(float) + 1.0,
            "x [nm]": (locs["x"].to_numpy(float) + 0.5) * px,
            "y [nm]": (locs["y"].to_numpy(float) + 0.5) * px,
            "sigma [nm]": locs["sigma"].to_numpy(float) * px,
            "intensity [photon]": locs["photons"].to_numpy(float),
            "offset [photon]": locs["background"].to_numpy(float),
            "bkgstd [photon]": locs["bkgstd"].to_numpy(float),
            "uncertainty [nm]": locs["uncertainty"].to_numpy(float) * px,
        }
    )
    return out


def with_extra_columns(locs: pd.DataFrame, pixel_size_nm: float) -> pd.DataFrame:
    """ThunderSTORM's columns (`to_thunderstorm`, as `catrack puncta`'s localizations.csv) followed
    by the session's other per-localisation columns (`track_id`, `calcium_probability`, ...), a
    length in pixels among them turned into nm like the rest (`uncertainty_x` -> `uncertainty_x
    [nm]`): an export's `puncta/localizations`, with the command's names and units."""
    out = to_thunderstorm(locs, pixel_size_nm)
    px = float(pixel_size_nm)
    for col in locs.columns:
        if col in INTERNAL:
            continue
        if col in _PX_EXTRAS:
            out[f"{col} [nm]"] = locs[col].to_numpy(float) * px
        else:
            out[col] = locs[col].to_numpy()
    return out


def write_thunderstorm(
    locs: pd.DataFrame, path: str | os.PathLike, pixel_size_nm: float, *, internal: bool = True
) -> Path:
    """Write a ThunderSTORM CSV (quoted header, numbers as floats) atomically."""
    table = to_thunderstorm(locs, pixel_size_nm) if internal else locs
    with atomic_write_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerow(list(table.columns))
            # one fixed format per column (ids and frames as 1.0, like ThunderSTORM; nm to 0.1 pm)
            formatted_columns(table, float_formats(table)).to_csv(fh, header=False, index=False)
    return Path(path)


def read_thunderstorm(path: str | os.PathLike) -> pd.DataFrame:
    """A ThunderSTORM CSV as a DataFrame with ThunderSTORM's column names, lengths in nm."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ThunderSTORM table not found: {path}")
    try:  # ThunderSTORM's own tables are UTF-8; one edited in Excel on Windows is cp1252 (said)
        table = pd.read_csv(path, encoding=table_encoding(path, "ThunderSTORM table"))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read ThunderSTORM table {path}: {exc}") from None
    return normalise_columns(table, str(path))


def read_localizations(path: str | os.PathLike, pixel_size_nm: float) -> pd.DataFrame:
    """Localisations from a CSV as internal ones (px, 0-based frames): a ThunderSTORM table
    (`catrack puncta`'s, an export's, ThunderSTORM's own), or an export written before the export
    used ThunderSTORM's names (`frame,x,y,...` in the session's pixels and 0-based frames)."""
    path = Path(path)
    if path.is_file():
        try:
            encoding = text_encoding(path, "localisation table")[0]
            head = pd.read_csv(path, nrows=0, encoding=encoding)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, InputError):
            head = None  # read_thunderstorm says why
        if head is not None and {"frame", "x", "y"} <= set(map(str, head.columns)):
            table = pd.read_csv(path, encoding=table_encoding(path, "localisation table"))
            if not {"x [nm]", "y [nm]"} & set(table.columns):
                out = pd.DataFrame({c: pd.to_numeric(table[c], errors="coerce") if c in table
                                    else np.nan for c in INTERNAL})  # fmt: skip
                if out[["frame", "x", "y"]].isna().any().any():
                    raise InputError(f"{path}: a row has a missing or non-numeric frame, x or y")
                return out.assign(frame=out["frame"].astype(int))
    return from_thunderstorm(read_thunderstorm(path), pixel_size_nm)


def normalise_columns(table: pd.DataFrame, where: str = "ThunderSTORM table") -> pd.DataFrame:
    """Rename unit variants to ThunderSTORM's defaults (nm, photon) and check the must-haves."""
    renamed = {}
    for col in table.columns:
        m = _UNIT.match(str(col))
        if not m:
            renamed[col] = str(col).strip()
            continue
        name, unit = m["name"].strip(), m["unit"].strip()
        if name == "uncertainty_xy":
            name = "uncertainty"
        if unit in _LENGTH:
            table[col] = pd.to_numeric(table[col], errors="coerce") * _LENGTH[unit]
            unit = "nm"
        renamed[col] = f"{name} [{unit}]"
    table = table.rename(columns=renamed)
    if "x [px]" in table.columns or "y [px]" in table.columns:
        raise InputError(
            f"{where} gives positions in pixels ([px]); export it from ThunderSTORM in nm, or "
            "convert with the pixel size first"
        )
    need = ("frame", "x [nm]", "y [nm]")
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(
            f"{where} is not a ThunderSTORM table: it lacks column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, table.columns)) or 'none'}"
        )
    for col in table.columns:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    bad = table[list(need)].isna().any(axis=1)
    if bad.any():
        row = int(np.argmax(bad.to_numpy())) + 2  # 1-based, after the header line
        raise InputError(f"{where}: line {row} has a missing or non-numeric frame, x or y")
    if len(table) and (table["frame"] < 1).any():
        raise InputError(f"{where}: frames must be 1-based (ThunderSTORM's convention); found 0")
    return table


def from_thunderstorm(table: pd.DataFrame, pixel_size_nm: float) -> pd.DataFrame:
    """ThunderSTORM columns -> internal localisations (px, 0-based frames); absent columns NaN."""
    table = normalise_columns(table.copy())
    px = float(pixel_size_nm)
    if not px > 0:
        raise InputError(f"the pixel size must be > 0 nm, got {pixel_size_nm}")

    def col(name: str, scale: float = 1.0) -> np.ndarray:
        if name in table.columns:
            return table[name].to_numpy(float) / scale
        return np.full(len(table), np.nan)

    return pd.DataFrame(
        {
            "frame": table["frame"].to_numpy(float).astype(int) - 1,
            "x": table["x [nm]"].to_numpy(float) / px - 0.5,
            "y": table["y [nm]"].to_numpy(float) / px - 0.5,
            "sigma": col("sigma [nm]", px),
            "photons": col("intensity [photon]"),
            "background": col("offset [photon]"),
            "bkgstd": col("bkgstd [photon]"),
            "uncertainty": col("uncertainty [nm]", px),
        }
    )
