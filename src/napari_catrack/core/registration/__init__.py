"""Motion correction of head-fixed movies: template, rigid and piecewise-rigid shifts, one warp.

`register_movie` (apply.py) is the step's core function; `RegisterParams` its defaults.
"""

from napari_catrack.core.registration.apply import RegistrationResult, register_movie
from napari_catrack.core.registration.metrics import crispness, frame_correlations, shift_error
from napari_catrack.core.registration.params import RegisterParams

__all__ = [
    "RegisterParams",
    "RegistrationResult",
    "crispness",
    "frame_correlations",
    "register_movie",
    "shift_error",
]
