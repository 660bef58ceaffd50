"""Shared pieces of the NWB writer: the imaging clock and dataset compression."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError

IMAGING_DEFAULTS = {
    "indicator": "GCaMP",
    "red_indicator": "red structural marker",
    "location": "unknown",
    "excitation_lambda": 488.0,
    "green_emission_lambda": 525.0,
    "red_emission_lambda": 610.0,
}


class ImagingClock:
    """Frame -> time (s) on the imaging clock: recorded frame times, else frame / fps."""

    def __init__(self, fps: float | None, timestamps: np.ndarray | None = None) -> None:
        self.fps = fps
        self.timestamps = None if timestamps is None else np.asarray(timestamps, float)

    @classmethod
    def of(cls, session: Any, fps: float | None = None) -> ImagingClock:
        """The session's clock; `fps` (`catrack export-nwb --fps`) replaces its frame rate."""
        ft = session["events"].tables.get("frame_times") if "events" in session else None
        stamps = (
            ft.sort_values("frame")["time_s"].to_numpy(float)
            if ft is not None and len(ft)
            else None
        )
        return cls(fps or session.frame_rate(), stamps)

    def require_fps(self) -> float:
        if not self.fps:
            raise InputError(
                "the session has no frame rate: set it (any widget's frame rate box, or "
                "`catrack export-nwb --fps`, `catrack export --fps`) before exporting to NWB"
            )
        return self.fps

    def times(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames, float)
        if self.timestamps is not None:
            idx = np.clip(frames, 0, len(self.timestamps) - 1).astype(np.int64)
            return self.timestamps[idx]
        return frames / self.require_fps()

    def step(self) -> float:
        """One frame step (s): the median step of the recorded frame times, else 1 / fps. An
        interval's stop is its last frame's time + one step (it covers its last frame)."""
        if self.timestamps is not None and len(self.timestamps) >= 2:
            return float(np.median(np.diff(self.timestamps)))
        if self.timestamps is not None and not self.fps:  # one frame time, no rate: no step
            return 0.0
        return 1.0 / self.require_fps()

    def series_timing(self, n_frames: int, first_frame: int = 0) -> dict[str, Any]:
        """`rate`/`starting_time` (regular frames) or `timestamps` keyword arguments for pynwb."""
        if self.timestamps is not None:
            return timing(self.times(np.arange(first_frame, first_frame + n_frames)))
        return {
            "rate": float(self.require_fps()),
            "starting_time": first_frame / self.require_fps(),
        }


def timing(times: np.ndarray) -> dict[str, Any]:
    """pynwb timing arguments: `rate` + `starting_time` when the samples are evenly spaced (as
    NWB asks), else the `timestamps` themselves (dropped frames, a drifting camera). Stricter
    than the rule of a table's times (`core.transients.frame_rate_of_times`, a quarter frame):
    a rate here stands for the times in the file, so any jitter keeps them."""
    t = np.asarray(times, float)
    if len(t) >= 2 and np.isfinite(t).all():
        step = np.diff(t)
        dt = float(np.median(step))
        if dt > 0 and np.abs(step - dt).max() <= 1e-6 * max(dt, abs(t[-1])):
            rate = (len(t) - 1) / (t[-1] - t[0])
            if abs(rate - round(rate, 6)) <= 1e-9 * rate:  # 9.999999999999858 -> 10.0
                rate = round(rate, 6)
            return {"rate": float(rate), "starting_time": float(t[0])}
    return {"timestamps": t}


def compressed(data: np.ndarray):
    """gzip for anything bigger than a few kB (nwbinspector asks for compression of big data)."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    data = np.asarray(data)
    return H5DataIO(data, compression="gzip", compression_opts=4) if data.size > 4096 else data


def plain_column(values: pd.Series) -> list:
    """A column as plain Python values of one type (HDF5 needs one dtype per column)."""
    if values.dtype.kind == "b":
        return [bool(v) for v in values]
    if values.dtype.kind in "iu":
        return [int(v) for v in values]
    if values.dtype.kind == "f":
        return [float(v) for v in values]
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]


def relative_to(path: str, nwb_path) -> str:
    """`path` relative to the NWB file's folder (NWB readers resolve external files so), with
    '/' (a Windows `sub\\rec.tif` names no file on macOS or Linux)."""
    if nwb_path is None:
        return path
    try:
        return os.path.relpath(path, Path(nwb_path).resolve().parent).replace(os.sep, "/")
    except ValueError:  # another drive (Windows): keep it absolute
        return str(Path(path).resolve())
