"""Calcium transients: detection (rules, k-sigma, trained models), features, manual edits, scoring.

Reading and writing trace and transient tables is `napari_catrack.io.tables`.
"""

import lazy_loader as _lazy

# Names load on first use, so importing a light module of this package (its parameters,
# for the command line) does not import the heavy ones.
__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "bounds": ["bounds_from_peaks"],
        "detect": ["detect_ksigma", "detect_rules", "detect_transients"],
        "edit": ["add_transient", "adjust_transient", "delete_transient", "empty_table"],
        "features": [
            "CELL_COLUMNS",
            "STATUSES",
            "TRANSIENT_COLUMNS",
            "add_features",
            "apply_verdicts",
            "cell_table",
            "fps_from_times",
            "frame_rate_of_times",
            "frame_times",
            "median_step_rate",
            "time_offsets",
            "transient_features",
            "uneven_times_note",
        ],
        "prepare": ["CORE_COLUMNS", "Prepared", "SOURCES", "check_fps", "prepare"],
        "params": ["TrainDetectorParams", "TransientParams"],
    },
)
