"""Read a lazy (dask) array into memory in the calling thread, cheaply; tell dask arrays apart.

`array.compute(scheduler="synchronous")` still asks dask which scheduler is meant, and that
question imports `dask.distributed` whenever it is installed (0.3-0.5 s of CPU in a fresh
process, paid by every command that reads frames). Handing dask the synchronous scheduler
function itself skips the question; the result is the same.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def is_dask(array: Any) -> bool:
    """Whether `array` is a dask array, without importing dask (0.3 s of CPU in a fresh process).

    A process that never imported `dask.array` cannot hold a dask array, so commands that work
    on memory-mapped numpy views (`open_recording(memmap=True)`) never pay for the import.
    """
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(array, module.Array)


def compute_here(array: Any) -> np.ndarray:
    """`array` as a numpy array: a dask array computed in this thread, anything else as is."""
    if hasattr(array, "compute"):
        from dask.local import get_sync

        return np.asarray(array.compute(scheduler=get_sync))
    return np.asarray(array)
