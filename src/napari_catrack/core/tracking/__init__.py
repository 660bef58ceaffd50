"""Neuron tracking through a moving worm: global motion, learned local refinement, assignment."""

from napari_catrack.core.tracking.tracker import (
    TRACK_COLUMNS,
    TrackerParams,
    TrackingCancelled,
    low_confidence,
    retrack,
    track,
)

__all__ = [
    "TRACK_COLUMNS",
    "TrackerParams",
    "TrackingCancelled",
    "low_confidence",
    "retrack",
    "track",
]
