"""Behaviour events onto the imaging clock and its frames.

An event is given by a time on the event file's clock (moved by `events_start_s`) or by a
behaviour-video frame (timed by the video clock). Each gets its imaging-clock time and the
nearest recorded imaging frame (-1 when no recorded frame is near: outside the recording or in a
gap of dropped frames). An event with a duration (`duration_s`, e.g. a BIDS events.tsv's) is an
interval starting at its time: it is lined up, and averaged around, by its onset; the duration is
kept (NaN: a moment) for the tables and the NWB export.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.events.clock import Clock
from napari_catrack.core.events.params import EventAlignParams
from napari_catrack.errors import InputError

EVENT_COLUMNS = [
    "event",
    "time_s",
    "frame",
    "in_recording",
    "source_time_s",
    "source_frame",
    "duration_s",
]


def align_events(
    events: pd.DataFrame,
    imaging: Clock,
    params: EventAlignParams | None = None,
    *,
    video: Clock | None = None,
) -> pd.DataFrame:
    """`events` (columns `event` and `time_s` and/or `frame`, as `io.events.read_events` gives)
    with `time_s` on the imaging clock and `frame` the nearest imaging frame (EVENT_COLUMNS)."""
    p = params or EventAlignParams()
    n = len(events)
    source_time = events["time_s"].to_numpy(float) if "time_s" in events else np.full(n, np.nan)
    source_frame = events["frame"].to_numpy(float) if "frame" in events else np.full(n, np.nan)
    by_time = np.isfinite(source_time)
    by_frame = ~by_time & np.isfinite(source_frame)
    if not (by_time | by_frame).all():
        raise InputError("every event needs a time_s or a frame (a behaviour-video frame)")
    time = p.events_start_s + source_time
    if by_frame.any():
        if video is None:
            raise InputError(
                "some events are given as behaviour-video frames: give the video frame rate "
                "(--video-fps) or the video's frame times so they can be timed"
            )
        f = source_frame[by_frame]
        rows = np.flatnonzero(by_frame)
        bad = (f < 0) | ~np.isclose(f, np.round(f))
        if bad.any():  # the row as a file row (header = 1), when the events keep the file order
            i = int(np.argmax(bad))
            raise InputError(
                f"event frames must be whole behaviour-video frame numbers from 0; event "
                f"{rows[i] + 1} ({events['event'].iloc[rows[i]]}) has frame {f[i]:g}"
            )
        if (f >= len(video)).any():  # (a video known only by its rate has no last frame)
            i = int(np.argmax(f >= len(video)))
            raise InputError(
                f"event {rows[i] + 1} ({events['event'].iloc[rows[i]]}) is at video frame "
                f"{f[i]:g}, beyond the behaviour video's {len(video)} frames"
            )
        time[by_frame] = video.times[f.astype(np.int64)]
    frame = imaging.nearest(time, p.max_distance_frames)
    out = pd.DataFrame(
        {
            "event": events["event"].astype(str).to_numpy(),
            "time_s": time,
            "frame": frame,
            "in_recording": frame >= 0,
            "source_time_s": source_time,
            "source_frame": source_frame,
            "duration_s": (
                events["duration_s"].to_numpy(float)
                if "duration_s" in events
                else np.full(n, np.nan)
            ),
        }
    )
    return out.sort_values(["time_s", "event"], kind="stable", ignore_index=True)


def summarise(aligned: pd.DataFrame) -> pd.DataFrame:
    """Per event kind: how many, and how many landed on a recorded imaging frame."""
    g = aligned.groupby("event", sort=True)
    return pd.DataFrame({"events": g.size(), "in_recording": g["in_recording"].sum()}).reset_index()


def outside_note(aligned: pd.DataFrame, imaging: Clock) -> str | None:
    """One warning line when no event lands in the recording (nothing to average), with a hint
    when the times look like milliseconds (divided by 1000 most would land in it). None: fine."""
    if not len(aligned) or aligned["in_recording"].any():
        return None
    t = aligned["time_s"].to_numpy(float)
    note = (
        f"none of the {len(t)} events falls in the recording ({imaging.start:g} to "
        f"{imaging.end:g} s on the imaging clock); they run from {np.nanmin(t):g} to "
        f"{np.nanmax(t):g} s, so nothing is averaged"
    )
    src = aligned["source_time_s"].to_numpy(float)
    src = src[np.isfinite(src)]
    if len(src):
        shift = t[np.isfinite(aligned["source_time_s"].to_numpy(float))] - src  # events_start_s
        ms = src / 1000.0 + shift
        if np.mean((ms >= imaging.start) & (ms <= imaging.end)) >= 0.5:
            return f"{note}: are the event times in milliseconds? they must be seconds"
    return (
        f"{note}: check where the event log's zero lies on the imaging clock (--events-start-s; "
        "the widget's 'event clock starts at')"
    )
