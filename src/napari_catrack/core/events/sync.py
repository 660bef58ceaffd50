"""The behaviour video in step with the calcium movie: which video frame to show at each imaging
frame (nearest in time on the imaging clock; before the video starts or after it ends, the
first / last frame, flagged)."""

from __future__ import annotations

import numpy as np

from napari_catrack.core.events.clock import Clock


def video_frame_for_imaging(imaging: Clock, video: Clock) -> tuple[np.ndarray, np.ndarray]:
    """(video frame index per imaging frame, True where the video covers that imaging time)."""
    t = imaging.times
    idx = np.clip(np.searchsorted(video.times, t, side="right") - 1, 0, len(video) - 1)
    nxt = np.minimum(idx + 1, len(video) - 1)
    idx = np.where(np.abs(video.times[nxt] - t) < np.abs(t - video.times[idx]), nxt, idx)
    covered = (t >= video.start - 0.5 * video.interval) & (t < video.end)
    return idx.astype(np.int64), covered
