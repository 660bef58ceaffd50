"""The "centerline" layer shows the current frame's path and keeps the user's edits.

napari builds a Shapes layer at ~1-2 ms a path, so one path per frame of a 20,000-frame video
took over 20 s to open. The layer (`layers.centerline_layers`) holds the current frame's path
only, with every frame's in its metadata (catrack "frames", a `layers.CenterlineFrames`);
`follow_centerlines`, installed once per viewer by whoever shows such a layer (the reader, the
Worm behaviour widget), swaps the path when the time slider moves and writes a path the user
drags or redraws back into those frames and into the session they came from
(`records.record_centerline_edits`, status "edited"), widget docked or not.
Needs napari (its events), not Qt.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from napari_catrack.layers import HEAD_LAYER, CenterlineFrames
from napari_catrack.session import real_viewer

_FOLLOWED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # viewers followed


def centerline_frames(layer: Any) -> CenterlineFrames | None:
    """The frames behind a centerline layer (None: not one of ours)."""
    frames = (getattr(layer, "metadata", None) or {}).get("catrack", {}).get("frames")
    return frames if isinstance(frames, CenterlineFrames) else None


def follow_centerlines(viewer: Any) -> None:
    """Make every centerline layer of `viewer`, now and later, follow the time slider and keep
    edits (once per viewer; nothing without a viewer)."""
    if viewer is None:
        return
    viewer = real_viewer(viewer)
    if viewer in _FOLLOWED:
        return
    _FOLLOWED[viewer] = True
    ref = weakref.ref(viewer)

    def inserted(event: Any) -> None:
        if ref() is not None:
            _attach(ref(), event.value)

    viewer.layers.events.inserted.connect(inserted)
    for layer in list(viewer.layers):
        _attach(viewer, layer)


def current_frame(viewer: Any, layer: Any) -> int:
    """The frame (the layer's first axis) the time slider is at, within the layer's frames."""
    frames = centerline_frames(layer)
    point = list(viewer.dims.point)[-layer.ndim :]
    t = layer.world_to_data(point)[0] if len(point) == layer.ndim else 0
    return int(np.clip(round(float(t)), 0, max(frames.n_frames - 1, 0)))


def show_frame(viewer: Any, layer: Any, force: bool = False) -> None:
    """Show the path of the frame the slider is at (nothing when it is shown already)."""
    frames = centerline_frames(layer)
    if frames is None or frames.n_frames == 0:
        return
    t = current_frame(viewer, layer)
    shown = layer.features["frame"].tolist() if "frame" in layer.features else []
    if not force and shown == [t] and len(layer.data) == 1:
        return
    frames.showing = True
    try:
        layer.selected_data = set()
        layer.data = []
        layer.add([frames.path(t)], shape_type="path", edge_color=frames.color(t), edge_width=1.0)
        layer.features = {"frame": [t], "status": [str(frames.status[t])]}
    finally:
        frames.showing = False


def edited_paths(layer: Any, frames: CenterlineFrames, tol: float = 0.05) -> dict[int, np.ndarray]:
    """{frame: (N, 2)} of the layer's paths that differ from the frames' (the user changed
    them); a path's frame is its own frame coordinate. A path with the stored point count (a
    vertex dragged, the path moved) is kept exactly as drawn: resampling it to even spacing moved
    the dropped vertex (0.74 px off on the demo). Only a path with another count (redrawn, a
    vertex added or deleted) is resampled to the stored count; the posture is computed on an
    evenly resampled copy either way (`records.record_centerline_edits`)."""
    from napari_catrack.core.behaviour.centerline import resample

    out: dict[int, np.ndarray] = {}
    n = frames.points.shape[1]
    for shape in layer.data:
        shape = np.asarray(shape, float)
        if shape.ndim != 2 or shape.shape[1] < 3 or len(shape) < 2:
            continue
        t = round(float(shape[0, -3]))
        if not 0 <= t < frames.n_frames:
            continue
        yx = shape[:, -2:]
        if len(yx) != n:
            out[t] = resample(yx, n)
        elif np.abs(yx - frames.points[t]).max() > tol:
            out[t] = yx.copy()
    return out


def write_edits(viewer: Any, layer: Any) -> list[int]:
    """Keep the paths the user changed: in the layer's frames, the "worm head" layer and the
    session (status "edited"); returns the frames written."""
    from napari_catrack.core.behaviour.records import CENTERLINE, record_centerline_edits

    frames = centerline_frames(layer)
    if frames is None or frames.showing:
        return []
    edits = edited_paths(layer, frames)
    if not edits:
        return []
    for t, pts in edits.items():
        frames.points[t] = pts
        frames.status[t] = "edited"
    frames.edited.extend(edits)
    session = frames.session
    if session is not None and CENTERLINE in session:
        record_centerline_edits(session, edits)
    head = _head_layer(viewer, frames)
    if head is not None and len(head.data) == frames.n_frames:
        data = np.array(head.data, float)
        for t, pts in edits.items():
            data[t, -2:] = pts[0]
        head.data = data
    if viewer is not None:  # show what was kept (in the edited colour) at once
        show_frame(viewer, layer, force=True)
    return sorted(edits)


def _head_layer(viewer: Any, frames: CenterlineFrames) -> Any | None:
    """The "worm head" layer of the same session: the plain name for the viewer's session, the
    one stamped with its file for an earlier session's (renamed "worm head (NAME)")."""
    from napari_catrack.session import session_for_viewer

    if viewer is None:
        return None
    if frames.session is session_for_viewer(viewer):
        return viewer.layers[HEAD_LAYER] if HEAD_LAYER in viewer.layers else None
    path = str(getattr(frames.session, "path", None))
    for layer in viewer.layers:
        stamp = (layer.metadata or {}).get("catrack", {}).get("session")
        if layer.name.startswith(HEAD_LAYER) and stamp == path:
            return layer
    return None


def _attach(viewer: Any, layer: Any) -> None:
    frames = centerline_frames(layer)
    if frames is None or getattr(frames, "_followed", False):
        return
    frames._followed = True
    layer_ref, viewer_ref = weakref.ref(layer), weakref.ref(viewer)

    def step(_event: Any = None) -> None:
        lay = layer_ref()
        if lay is not None and viewer_ref() is not None:
            show_frame(viewer_ref(), lay)

    def data(event: Any) -> None:
        action = str(getattr(getattr(event, "action", None), "value", "changed"))
        lay = layer_ref()
        if lay is not None and action in ("changed", "added"):
            write_edits(viewer_ref(), lay)

    def removed(event: Any) -> None:
        if event.value is layer_ref() or layer_ref() is None:
            viewer.dims.events.current_step.disconnect(step)
            viewer.layers.events.removed.disconnect(removed)

    viewer.dims.events.current_step.connect(step)
    viewer.layers.events.removed.connect(removed)
    layer.events.data.connect(data)
    show_frame(viewer, layer)
