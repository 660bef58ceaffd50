"""npe2 reader: TIFF/HDF5 recordings (folders of TIFF, PNG or JPEG frames too) and behaviour videos (lazy), napari-catrack sessions, and
hand-drawn ImageJ/Fiji ROIs (RoiSet .zip or .roi) as a Shapes layer over the movie."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from napari_catrack.errors import CatrackError
from napari_catrack.handles import close_with_layers
from napari_catrack.io.atomic import cleanup_in_background
from napari_catrack.io.hdf5 import is_hdf5_path
from napari_catrack.io.tiff import frame_file_kind, is_hidden_file, is_tiff_path
from napari_catrack.io.video import is_video_path
from napari_catrack.session import SESSION_SUFFIX, current_viewer, session_for_viewer
from napari_catrack.video_session import continued_layers, note_opened


def get_reader(path: str | list[str]) -> Callable | None:
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    spec = os.fspath(path)
    if spec.lower().endswith(SESSION_SUFFIX):
        return read_session
    if spec.lower().endswith((".roi", ".zip")):  # ImageJ/Fiji ROIs (other zips: not ours)
        from napari_catrack.io.imagej_rois import is_roi_path

        return read_imagej_rois if is_roi_path(spec) else None
    if is_tiff_path(spec) or is_hdf5_path(spec) or is_video_path(spec):
        return read_recording
    if os.path.isdir(spec) and any(
        frame_file_kind(p) and not is_hidden_file(p) for p in Path(spec).iterdir()
    ):  # a folder of TIFF (else PNG/JPEG/BMP) frames: one movie (hidden files are no frames)
        return read_recording
    return None


def _notify_error(message: str) -> None:
    from napari.utils.notifications import show_error

    show_error(f"napari-catrack: {message}")


def read_recording(path: str | list[str]) -> list:
    from napari_catrack.io.recording import open_recording
    from napari_catrack.layers import recording_layers
    from napari_catrack.session_layers import behaviour_layers_beside_video

    spec = path[0] if isinstance(path, list) else path
    try:
        with cleanup_in_background():  # (GUI thread: a killed set's old movie removed aside)
            rec = open_recording(spec)
        layers = recording_layers(rec)
    except CatrackError as exc:
        _notify_error(str(exc))
        return [(None,)]  # napari's "nothing to add" sentinel: the message above says why
    layers = _named_apart(current_viewer(), layers, spec)
    own = list(layers)  # the recording's channels (a continued session's alignment: on its red)
    if is_tiff_path(spec) and os.path.isfile(spec):  # ROIs drawn in Fiji, saved in the overlay
        layers = [*layers, *_overlay_layers(spec)]
    viewer = current_viewer()
    said = list(rec.warnings)  # a damaged video: how many frames could be read, which are blank
    if rec.metadata.get("z"):  # File > Open has no options: say how the planes became frames
        said.append(
            f"{Path(spec).name}: {rec.metadata['z']} (cells of every depth in one image); "
            "the Load recording widget's Z projection (max or mean) or `catrack register "
            "--z-projection N` (one plane) choose otherwise"
        )
    close_with_layers(viewer, rec)  # a file handle (compressed TIFF, HDF5): closed with its layers
    if viewer is not None:  # File > Open behaves like the loader widget: results autosave beside it
        # (first: a recording opened again continues its session, whose layers follow)
        before = session_for_viewer(viewer)
        moved = note_opened(viewer, rec)
        said += [moved] if moved else []
        if session_for_viewer(viewer) is not before:  # its earlier session, continued
            layers = [*layers, *continued_layers(viewer, own)]
    # the behaviour video of the viewer's session: its masks and centerline come with it
    layers = [*layers, *behaviour_layers_beside_video(viewer, spec)]
    if said:
        from napari.utils.notifications import show_warning

        for line in said:
            show_warning(f"napari-catrack: {line}")
    return layers


def _named_apart(viewer, layers: list, path: str) -> list:
    """A file whose layers would take the names of another file's shown in the viewer (the
    day1/behaviour.avi and day2/behaviour.avi of two days): its layers are named with its
    folder, "behaviour.avi (day2)", as a second session's layers are with its file name
    (`session_layers._make_room`), instead of napari's "behaviour.avi [1]", which says neither
    which day it is nor which file. The same file opened again keeps napari's naming."""
    if viewer is None:
        return layers
    from napari_catrack.io.output_check import same_file

    shown = {}
    for layer in viewer.layers:
        shown[layer.name] = (getattr(layer, "metadata", None) or {}).get("catrack", {}).get("path")
    label = None
    for _, meta, _ in layers:
        name = meta.get("name")
        if name not in shown or same_file(shown[name], path):
            continue
        label = label or _folder_label(path, shown[name])
        if label:
            meta["name"] = f"{name} ({label})"
    return layers


def _folder_label(path: str, other: str | None) -> str | None:
    """The folder that tells `path` from `other`: its own ("day2"), or with its parent
    ("mouse2/day1") when both sit in folders of one name; None when even that is the same."""
    here = Path(str(path)).absolute().parent
    there = Path(str(other)).absolute().parent if other else None
    if there is None or here.name != there.name:
        return here.name or None
    if here.parent.name and here.parent.name != there.parent.name:
        return f"{here.parent.name}/{here.name}"
    return None


def read_session(path: str | list[str]) -> list:
    from napari_catrack.session import Session
    from napari_catrack.session_layers import session_layers

    spec = path[0] if isinstance(path, list) else path
    try:
        with cleanup_in_background():  # (GUI thread: a killed set's old movie removed aside)
            session = Session.load(spec)
            return session_layers(session)
    except CatrackError as exc:
        _notify_error(str(exc))
        return [(None,)]


IMAGEJ_ROIS_ROLE = "imagej_rois"


def read_imagej_rois(path: str | list[str]) -> list:
    """The area ROIs of an ImageJ ROI file as one Shapes layer (outlines as drawn in Fiji).
    Their traces need the movie: the Sources widget's import (imagej) measures them; a
    notification says so."""
    from napari.utils.notifications import show_info, show_warning

    from napari_catrack.io.imagej_rois import roi_shapes

    spec = path[0] if isinstance(path, list) else path
    try:
        data, types, names, warnings = roi_shapes(spec)
    except CatrackError as exc:
        _notify_error(str(exc))
        return [(None,)]
    for line in warnings:
        show_warning(f"napari-catrack: {line}")
    show_info(
        f"napari-catrack: {len(data)} ImageJ ROI(s) from {Path(spec).name} shown as outlines; "
        "for their traces: Sources widget, 'or import from' imagej, Import… the same file"
    )
    return [_roi_layer(spec, data, types, names)]


def _overlay_layers(spec: str) -> list:
    """The ROIs an ImageJ TIFF carries in its overlay, as a Shapes layer over its movie ([] for
    a TIFF without them); never in the way of opening the movie itself."""
    from napari_catrack.io.imagej_rois import roi_shapes

    try:
        data, types, names, _ = roi_shapes(spec)
    except (CatrackError, ValueError, OSError, EOFError):  # none, or unreadable: the movie opens
        return []
    return [_roi_layer(spec, data, types, names, what="overlay")]


def _roi_layer(spec, data, types, names, what: str = "ROIs") -> tuple:
    meta = {"catrack": {"role": IMAGEJ_ROIS_ROLE, "path": os.fspath(spec)}}
    kwargs = {
        "name": f"{Path(spec).stem} {what}",
        "shape_type": types,
        "features": {"name": names},
        "text": {"string": "{name}", "size": 8, "color": "yellow"},
        "edge_color": "yellow",
        "edge_width": 0.5,
        "face_color": "transparent",
        "metadata": meta,
    }
    return (data, kwargs, "shapes")
