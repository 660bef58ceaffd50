"""Calcium transients: detection (rules, k-sigma), features, manual edits, tables, scoring."""

from .detect import (
    CORE_COLUMNS,
    SOURCES,
    Prepared,
    bounds_from_peaks,
    check_fps,
    detect_ksigma,
    detect_rules,
    detect_transients,
    prepare,
)
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
from .tables import (
    TraceMatrix,
    long_to_matrix,
    read_table,
    read_traces,
    to_matrix,
    wide_to_matrix,
    write_table,
)

__all__ = [
    "CELL_COLUMNS",
    "CORE_COLUMNS",
    "SOURCES",
    "STATUSES",
    "TRANSIENT_COLUMNS",
    "Prepared",
    "TraceMatrix",
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
    "long_to_matrix",
    "prepare",
    "read_table",
    "read_traces",
    "to_matrix",
    "transient_features",
    "wide_to_matrix",
    "write_table",
]
