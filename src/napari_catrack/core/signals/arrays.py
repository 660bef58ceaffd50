"""Trace array shapes: every signal function takes (T,) or (N, T) and returns the same shape."""

from __future__ import annotations

import numpy as np

from napari_catrack.errors import InputError

__all__ = ["as_traces", "like"]


def as_traces(x: np.ndarray) -> np.ndarray:
    """(T,) or (N, T) -> float64 (N, T); a clear error for anything else."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise InputError(f"traces must be 1-D (T,) or 2-D (N, T), got shape {np.shape(x)}")
    return a


def like(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Give an (N, T) result the shape of the caller's input: (T,) in, (T,) out."""
    return out[0] if np.ndim(x) == 1 else out
