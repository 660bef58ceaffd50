"""Turn a Session back into napari layers (and layers into a Session): the round trip of the writer/reader.

Image layers of the recording are *reopened lazily from the recording file* (never copied into the
session); user-editable layers (points, tracks, shapes, labels) are stored in the session itself.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from napari_catrack.centerline_layer import follow_centerlines
from napari_catrack.errors import CatrackError
from napari_catrack.handles import close_with_layers
from napari_catrack.io.output_check import same_file
from napari_catrack.layers import (
    CENTERLINE_LAYER,
    HEAD_LAYER,
    MASKS_LAYER,
    LayerData,
    behaviour_layers,
    behaviour_on_recording,
    behaviour_video_path,
    is_behaviour_video,
    layer_source_path,
    recording_layers,
    sources_layers,
    tracks_layer,
    with_axis_labels,
)
from napari_catrack.session import Session, attach_session, current_viewer, session_for_viewer

MAX_EMBEDDED_IMAGE_BYTES = (
    256 * 2**20
)  # images not backed by a recording file are embedded up to this


def session_layers(session: Session) -> list[LayerData]:
    layers: list[LayerData] = []
    rec_info = session.recording
    if rec_info.get("path"):
        from napari_catrack.io.recording import reopen

        try:
            rec = reopen(rec_info["path"], rec_info.get("options", {}))
        except CatrackError as exc:
            warnings.warn(
                f"session recording could not be reopened ({exc}); restoring results only",
                stacklevel=2,
            )
        else:
            layers.extend(recording_layers(rec))
            close_with_layers(current_viewer(), rec)  # its handle: closed with its last layer
    layers.extend(result_layers(session, layers))
    for _, meta, _ in layers:
        meta.setdefault("metadata", {}).setdefault("catrack", {})["session"] = str(session.path)
    names = {meta.get("name") for _, meta, _ in layers}
    if behaviour_video_path(session):  # its video, opened later, brings them under these names
        names |= {MASKS_LAYER, CENTERLINE_LAYER, HEAD_LAYER}
    _make_room(current_viewer(), session, names)
    _attach_to_current_viewer(session)
    return with_axis_labels(layers)


def result_layers(session: Session, recording: list[LayerData]) -> list[LayerData]:
    """The layers of a session's results over its `recording`'s layers (green, and red where
    there is one: the accepted alignment is applied to red's): the registered movie, tracks,
    behaviour layers, cells, the layers saved with it. `session_layers` (its file opened) and a
    recording opened again that continues its session (`video_session.continued_layers`)."""
    layers: list[LayerData] = []
    if "alignment" in session and len(recording) == 2:
        _apply_alignment(recording, session["alignment"].attrs)
    layers.extend(_registered_layer(session, recording[0] if recording else None))
    saved_kinds = {kind for _, _, kind in session.layers}
    if "tracks" in session and "tracks" not in saved_kinds:
        table = session["tracks"].tables.get("tracks")
        if table is not None and len(table):
            layers.append(tracks_layer(table))
    # the behaviour steps' masks and centerlines (a CLI-written session has no saved layers):
    # the layers the Worm behaviour widget shows, which it then finds by name (no second copy)
    # (not over an imaging recording when they are of a separate behaviour video: the Worm
    # behaviour widget shows them once that video is open)
    # (a "centerline" layer of every frame's path saved by an earlier version: built from the
    # step instead, one path at a time, as `centerline_layer` shows it)
    saved = [lay for lay in session.layers if not _all_paths_centerline(session, lay)]
    saved_names = {meta.get("name") for _, meta, _ in saved}
    if behaviour_on_recording(session) or _video_shown(current_viewer(), session):
        follow_centerlines(current_viewer())  # the centerline follows the time slider
        layers.extend(behaviour_layers(session, skip=saved_names))
    layers.extend(sources_layers(session, skip=saved_names))  # the cells (the Sources widget's)
    for data, meta, kind in saved:
        meta = dict(meta)
        meta.setdefault("metadata", {})
        layers.append((data, meta, kind))
    for _, meta, _ in layers:
        meta.setdefault("metadata", {}).setdefault("catrack", {})["session"] = str(session.path)
    return with_axis_labels(layers)


def _make_room(viewer: Any, session: Session, names: set) -> None:
    """Before a session's layers come into a viewer: the same session file reopened replaces
    its layers still there; another session's layers of the same names keep them with that
    session's name ("worm masks (worm-a)"), so the plain names, which the widgets and the reader
    look for, are always the open session's (not "worm masks [1]")."""
    if viewer is None:
        return
    ours = str(session.path) if session.path is not None else None
    before = session_for_viewer(viewer)  # the viewer's session until this one is attached
    reopened = same_file(ours, str(before.path) if before.path is not None else None)
    for layer in list(viewer.layers):
        stamp = (layer.metadata or {}).get("catrack", {}).get("session")
        if same_file(stamp, ours) or (reopened and layer.name in names):
            viewer.layers.remove(layer)  # this session's, shown again from the file
        elif layer.name in names:
            layer.name = f"{layer.name} ({_session_label(stamp or before.path)})"


def _session_label(path: Any) -> str:
    """A session's name in a layer's name: its file's, without .catrack.h5 ("earlier": none)."""
    from pathlib import Path

    from napari_catrack.session import SESSION_SUFFIX

    if not path or str(path) == "None":
        return "earlier"
    name = Path(str(path)).name
    return name[: -len(SESSION_SUFFIX)] if name.endswith(SESSION_SUFFIX) else name


def _all_paths_centerline(session: Session, layer: LayerData) -> bool:
    """A saved "centerline" Shapes layer (one path per frame) of a session with centerlines."""
    return (
        layer[2] == "shapes"
        and layer[1].get("name") == CENTERLINE_LAYER
        and ("centerline" in session)
    )


def _video_shown(viewer: Any, session: Session) -> bool:
    """Whether the viewer already shows the separate behaviour video the session's behaviour
    steps ran on (opened before the session)."""
    video = behaviour_video_path(session)
    if viewer is None or not video:
        return False
    return any(is_behaviour_video(session, layer_source_path(layer)) for layer in viewer.layers)


def behaviour_layers_beside_video(viewer: Any, video_path: str) -> list[LayerData]:
    """The viewer's session's behaviour layers (masks, centerline, head) when `video_path` is the
    separate behaviour video they are of and the viewer shows none of them yet, else [].

    The one place that decides it for a video opened after its session (File > Open, drag, the
    Load recording widget): the layers come with the video whether or not the Worm behaviour
    widget is docked (which then finds them by name)."""
    if viewer is None:
        return []
    session = session_for_viewer(viewer)
    video = behaviour_video_path(session)
    if not video or behaviour_on_recording(session) or not is_behaviour_video(session, video_path):
        return []  # no behaviour results, or drawn with the session's own recording
    if {MASKS_LAYER, CENTERLINE_LAYER, HEAD_LAYER} & {layer.name for layer in viewer.layers}:
        return []  # shown already (opened twice, or the widget drew them)
    follow_centerlines(viewer)  # the centerline follows the time slider
    layers = behaviour_layers(session)
    if session.path is not None:
        for _, meta, _ in layers:
            meta.setdefault("metadata", {}).setdefault("catrack", {})["session"] = str(session.path)
    return with_axis_labels(layers)


def _attach_to_current_viewer(session: Session) -> None:
    """Make a reopened session the current viewer's one, so widgets and the writer see its steps.

    The npe2 reader is not told which viewer it reads into; like the writer, use the current
    one. Only when napari is already running (this module stays importable without it).
    """
    viewer = current_viewer()
    if viewer is not None:
        attach_session(viewer, session)


def _registered_layer(session: Session, raw: LayerData | None) -> list[LayerData]:
    """The registration step's output movie, reopened lazily (it is referenced, never copied)."""
    from napari_catrack.core.registration.output import registered_movie
    from napari_catrack.io.recording import open_recording
    from napari_catrack.layers import contrast_from_frame

    path = registered_movie(session)
    if path is None:
        if "registration" in session and (session["registration"].attrs or {}).get("output"):
            warnings.warn(
                f"the registered movie {session['registration'].attrs['output']} is not on disk; "
                "the session's sources may come from it",
                stacklevel=3,
            )
        return []
    try:
        movie = open_recording(path)
    except CatrackError as exc:
        warnings.warn(f"the registered movie could not be reopened ({exc})", stacklevel=3)
        return []
    data = movie.green
    close_with_layers(current_viewer(), movie)
    raw_name = raw[1].get("name") if raw is not None else None
    meta = {
        "name": f"{raw_name} registered" if raw_name else "registered",
        "colormap": raw[1].get("colormap", "gray") if raw is not None else "gray",
        "contrast_limits": contrast_from_frame(np.asarray(data[0])),
        "metadata": {"catrack": {"role": "registered", "path": path, "raw_layer": raw_name}},
    }
    return [(data, meta, "image")]


def _apply_alignment(layers: list[LayerData], attrs: dict[str, Any]) -> None:
    from napari_catrack.core.rigid import AlignmentTransform

    red_data, red_meta, _ = layers[1]
    transform = AlignmentTransform.from_dict(attrs)
    affine = transform.napari_affine(tuple(red_data.shape[-2:]), ndim=red_data.ndim)
    red_meta["affine"] = np.asarray(affine).tolist()
    # the red layer shows the accepted alignment (and says where it came from)
    catrack = red_meta.setdefault("metadata", {}).setdefault("catrack", {})
    catrack["alignment"] = transform.to_dict()


def layers_into_session(session: Session, layer_data: list[LayerData]) -> None:
    """Store the user's layers in the session (recording images are referenced, not copied)."""
    stored: list[LayerData] = []
    for data, meta, kind in layer_data:
        catrack = (meta.get("metadata") or {}).get("catrack") or {}
        if catrack.get("role") == "centerline":
            continue  # one frame's path: every frame's, edits included, is the centerline step
        if kind == "image" and catrack.get("path"):
            if catrack.get("role") == "registered":
                continue  # referenced by the registration step's output, reopened from it
            if not session.recording:
                session.set_recording(
                    catrack["path"], catrack.get("options", {}), catrack.get("summary", {})
                )
            continue
        if kind == "image":
            nbytes = int(np.prod(np.shape(data))) * np.dtype(getattr(data, "dtype", float)).itemsize
            if nbytes > MAX_EMBEDDED_IMAGE_BYTES:
                warnings.warn(
                    f"image layer {meta.get('name')!r} ({nbytes / 2**20:.0f} MB) is not backed by a "
                    "recording file and too large to embed; it is not saved in the session",
                    stacklevel=2,
                )
                continue
            data = np.asarray(data)
        stored.append((data, meta, kind))
    session.layers = stored
