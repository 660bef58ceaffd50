"""Tracking with every table in green-frame pixels: seeds and anchors are mapped into the tracked
channel through the alignment, the tracks back. `catrack track` and `catrack batch` call it."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from napari_catrack.core.tracking.params import TrackParams
from napari_catrack.errors import InputError


def channel_used(recording: Any, channel: str) -> str:
    """The channel `channel_stack` takes for `channel` (no warning): green where red was asked
    of a one-channel recording. What a session records as the tracked channel."""
    if channel == "red" and recording.red is None and recording.green is not None:
        return "green"
    return channel


def channel_stack(recording: Any, channel: str) -> tuple[str, Any]:
    """(channel, frames) to track or detect on: `channel`, or the only channel (green) of a
    one-channel recording, with a warning, since the user asked for red."""
    if channel_used(recording, channel) != channel:
        warnings.warn(
            "the recording has no red channel: using its only channel (green) instead; "
            "give --channel green to say so",
            stacklevel=2,
        )
        channel = "green"
    stack = recording.red if channel == "red" else recording.green
    if stack is None:
        raise InputError(f"the recording has no {channel} channel")
    return channel, stack


def track_in_green(
    recording: Any,
    seeds: pd.DataFrame,
    seed_frame: int = 0,
    align: Any = None,
    params: TrackParams | None = None,
    *,
    anchors: pd.DataFrame | None = None,
    progress=None,
    cancel=None,
) -> pd.DataFrame:
    """Tracks (green pixels) of `seeds` (green pixels at `seed_frame`) through `recording`.

    The channel is `params.channel` (red by default, green when the recording has no red);
    `align` is the red -> green transform in force (None = identity), used only for red.
    """
    from napari_catrack.core.tracking.tracker import point_coordinates, track

    params = params or TrackParams()
    channel, stack = channel_stack(recording, params.channel)
    align = align if channel == "red" else None
    shape = stack.shape[-2:]
    seeds = seeds.copy()
    anchors = None if anchors is None else anchors.copy()
    if align is not None:
        for table, what in ((seeds, "seeds"), (anchors, "anchors")):
            if table is not None:
                yx = point_coordinates(table, what)
                table[["y", "x"]] = align.map_points(yx, shape, inverse=True)
    tracks = track(
        stack,
        None,
        seeds,
        seed_frame,
        channel="red",
        anchors=anchors,
        params=params.replace(channel=channel),
        progress=progress,
        cancel=cancel,
    )
    if align is not None:
        tracks[["y", "x"]] = align.map_points(tracks[["y", "x"]].to_numpy(float), shape)
    return tracks
