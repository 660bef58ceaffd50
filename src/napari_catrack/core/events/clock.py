"""Clocks: the time (s, on the imaging clock) of every recorded sample of a stream.

The imaging has one (frame k at k / fps, or the recorded frame timestamps), so does a behaviour
video, and an event file's times are moved onto it by its start. Dropped frames are gaps in the
timestamps: frames keep their true times, so nothing after a gap shifts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_catrack.errors import InputError


@dataclass(frozen=True)
class Clock:
    """Times (s) of the recorded samples of one stream, strictly increasing."""

    times: np.ndarray

    def __post_init__(self) -> None:
        t = np.asarray(self.times, float)
        if t.ndim != 1 or len(t) < 2:
            raise InputError("a clock needs at least two sample times")
        if not np.isfinite(t).all() or not (np.diff(t) > 0).all():
            raise InputError("sample times must be finite and strictly increasing")
        object.__setattr__(self, "times", t)

    @classmethod
    def regular(cls, n: int, fps: float, start_s: float = 0.0) -> Clock:
        if not fps or fps <= 0:
            raise InputError(f"a frame rate must be positive, got {fps}")
        return cls(start_s + np.arange(int(n)) / float(fps))

    def __len__(self) -> int:
        return len(self.times)

    @property
    def interval(self) -> float:
        """The usual sample interval (median; robust to dropped frames). Not the rule of a
        table's times (`core.transients.frame_rate_of_times`, which refuses uneven ones): a
        clock keeps every sample's time, so its gaps are read from it (`dropped`), not lost;
        its rate is the one its frames were taken at (`core.transients.median_step_rate`)."""
        return float(np.median(np.diff(self.times)))

    @property
    def fps(self) -> float:
        return 1.0 / self.interval

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        """End of the last sample's interval."""
        return float(self.times[-1] + self.interval)

    def dropped(self) -> tuple[np.ndarray, np.ndarray]:
        """(index of the first frame after each gap, frames missing there), from the timestamps."""
        gaps = np.diff(self.times) / self.interval
        where = np.flatnonzero(gaps > 1.5)
        return where + 1, np.rint(gaps[where]).astype(np.int64) - 1

    def nearest(self, t: np.ndarray, max_distance: float = 1.0) -> np.ndarray:
        """Index of the recorded sample nearest each time; -1 when none is within
        `max_distance` sample intervals (outside the stream, or inside a gap of dropped frames)."""
        t = np.asarray(t, float)
        right = np.clip(np.searchsorted(self.times, t), 1, len(self.times) - 1)
        left = right - 1
        pick = np.where(np.abs(t - self.times[left]) <= np.abs(self.times[right] - t), left, right)
        far = ~(np.abs(self.times[pick] - t) <= max_distance * self.interval)
        return np.where(far, -1, pick).astype(np.int64)
