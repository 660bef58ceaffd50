"""Neuron tracking through a moving worm: global motion, learned local refinement, assignment.

Names are imported lazily (`lazy_loader`) so `catrack --help` and the parameter classes
(`params.py`) do not pay for scipy and pandas.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "tracker": ["TRACK_COLUMNS", "TrackingCancelled", "track"],
        "correct": ["retrack"],
        "review": ["low_confidence", "review_stretches"],
        "params": ["DetectParams", "TrackParams", "TrainTrackerParams"],
    },
)
