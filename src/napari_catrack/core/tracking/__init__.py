"""Neuron tracking through a moving worm: global motion, learned local refinement, assignment.

Names are imported lazily so `catrack --help` and the parameter classes (`params.py`) do not pay
for scipy and pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TRACK_COLUMNS": "tracker",
    "TrackingCancelled": "tracker",
    "track": "tracker",
    "retrack": "correct",
    "low_confidence": "review",
    "review_stretches": "review",
    "DetectParams": "params",
    "TrackParams": "params",
    "TrainTrackerParams": "params",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
