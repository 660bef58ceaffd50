"""Motion correction of head-fixed movies: template, rigid and piecewise-rigid shifts, one warp.

`register_movie` (apply.py) is the step's core function; `RegisterParams` its defaults.
"""

import lazy_loader as _lazy

# Names load on first use, so importing a light module of this package (its parameters,
# for the command line) does not import the heavy ones.
__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "apply": ["RegistrationResult", "register_movie"],
        "metrics": ["crispness", "frame_correlations", "shift_error"],
        "params": ["RegisterParams"],
    },
)
