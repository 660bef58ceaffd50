"""How the puncta tables are written: one fixed-point format per float column, the same in every
file that holds the column (the CLI's, the widget's, an export's), so a column never mixes
`5.1e-05` with `3262.256` or 3 decimals with 15.

- lengths in nm (`x_nm`, `y_nm`, `uncertainty_nm`, ThunderSTORM's `x [nm]`, ...): `%.4f`
  (0.1 pm: a ThunderSTORM table read back gives the pixels to 1e-6);
- the same lengths in pixels (a session's localisations: `x`, `y`, `sigma`, `uncertainty`, ...):
  `%.6f`;
- times in seconds (`time_s`, `start_s`, `end_s`): `%.6f` (1 us);
- ThunderSTORM's `id` and `frame`, which it writes as floats: `%.1f` (`1.0`, like ThunderSTORM);
- every other float (photons, probabilities, scores): `%.4f`.
Integer columns stay integers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

NM_FORMAT = "%.4f"
PX_FORMAT = "%.6f"
OTHER_FORMAT = "%.4f"
COUNTER_FORMAT = "%.1f"
TIME_FORMAT = "%.6f"
PX_COLUMNS = ("x", "y", "sigma", "uncertainty", "uncertainty_x", "uncertainty_y")
COUNTER_COLUMNS = ("id", "frame")


def float_formats(table: pd.DataFrame) -> dict[str, str]:
    """{column: printf format} for every float column of a puncta table."""
    out = {}
    for col in table.columns:
        if table[col].dtype.kind != "f":
            continue
        name = str(col)
        if name.endswith("_nm") or name.endswith("[nm]"):
            out[col] = NM_FORMAT
        elif name in PX_COLUMNS:
            out[col] = PX_FORMAT
        elif name.endswith("_s"):  # times (time_s, start_s): microseconds
            out[col] = TIME_FORMAT
        elif name in COUNTER_COLUMNS:
            out[col] = COUNTER_FORMAT
        else:
            out[col] = OTHER_FORMAT
    return out


def write_puncta_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """A puncta table as CSV (Excel: numbers as they are), each float column in its format."""
    from napari_catrack.io.tables import write_table

    return write_table(table, path, column_formats=float_formats(table))
