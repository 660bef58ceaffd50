"""Calcium transients: detection (rules, k-sigma, trained models), features, manual edits, scoring.

Reading and writing trace and transient tables is `napari_catrack.io.tables`.
"""

from .bounds import bounds_from_peaks
from .detect import detect_ksigma, detect_rules, detect_transients
from .edit import add_transient, adjust_transient, delete_transient, empty_table
from .features import (
    CELL_COLUMNS,
    STATUSES,
    TRANSIENT_COLUMNS,
    add_features,
    apply_verdicts,
    cell_table,
    transient_features,
)
from .prepare import CORE_COLUMNS, SOURCES, Prepared, check_fps, prepare

__all__ = [
    "CELL_COLUMNS",
    "CORE_COLUMNS",
    "SOURCES",
    "STATUSES",
    "TRANSIENT_COLUMNS",
    "Prepared",
    "add_features",
    "add_transient",
    "adjust_transient",
    "apply_verdicts",
    "bounds_from_peaks",
    "cell_table",
    "check_fps",
    "delete_transient",
    "detect_ksigma",
    "detect_rules",
    "detect_transients",
    "empty_table",
    "prepare",
    "transient_features",
]
