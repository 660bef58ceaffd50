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


class FrameBlocks:
    """Frames of a (T, Y, X) array read one by one, in blocks when it is a dask array.

    Indexing one frame of a dask array costs time in proportion to its number of chunks (dask
    slices and culls its whole graph): 10 ms a frame for a 2,000-frame video, 91 ms for a
    20,000-frame one (one chunk per frame), so walking a long video frame by frame slowed down
    with its length (review h10). Here a frame outside the block in hand reads the next
    `block` frames at once (in the direction of the walk: forward, or backward when the
    frames asked for go down), so that cost is paid once per block. Numpy arrays (and memory
    maps) are indexed directly. Not thread-safe: one walker per instance.
    """

    def __init__(self, frames: Any, block: int = 32) -> None:
        self.frames = frames
        self.block = max(int(block), 1)
        self.shape = tuple(frames.shape)
        self.ndim = len(self.shape)
        self.dtype = frames.dtype
        self._lazy = is_dask(frames)
        self._start = 0
        self._data: np.ndarray | None = None
        self._last: int | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t: Any) -> np.ndarray:
        if not self._lazy or not isinstance(t, int | np.integer):
            return np.asarray(self.frames[t])
        t = int(t) + (self.shape[0] if t < 0 else 0)
        if not 0 <= t < self.shape[0]:
            raise IndexError(f"frame {t} of {self.shape[0]}")
        data = self._data
        if data is None or not self._start <= t < self._start + len(data):
            backward = self._last is not None and t < self._last
            start = max(0, t - self.block + 1) if backward else t
            data = self._data = compute_here(self.frames[start : start + self.block])
            self._start = start
        self._last = t
        return data[t - self._start]


def frame_blocks(frames: Any, block: int = 32) -> Any:
    """`frames` as a `FrameBlocks` when it is a dask array, else as it is."""
    return FrameBlocks(frames, block) if is_dask(frames) else frames
