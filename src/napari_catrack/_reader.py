"""npe2 reader: TIFF/HDF5 recordings and behaviour videos (lazy), and napari-catrack sessions."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from napari_catrack.errors import CatrackError
from napari_catrack.handles import close_with_layers
from napari_catrack.io.hdf5 import is_hdf5_path
from napari_catrack.io.tiff import is_tiff_path
from napari_catrack.io.video import is_video_path
from napari_catrack.session import (
    SESSION_SUFFIX,
    current_viewer,
    note_recording,
    session_for_viewer,
)


def get_reader(path: str | list[str]) -> Callable | None:
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    spec = os.fspath(path)
    if spec.lower().endswith(SESSION_SUFFIX):
        return read_session
    if is_tiff_path(spec) or is_hdf5_path(spec) or is_video_path(spec):
        return read_recording
    if os.path.isdir(spec) and any(is_tiff_path(p) for p in Path(spec).iterdir()):
        return read_recording
    return None


def _notify_error(message: str) -> None:
    from napari.utils.notifications import show_error

    show_error(f"napari-catrack: {message}")


def read_recording(path: str | list[str]) -> list:
    from napari_catrack.io.recording import open_recording
    from napari_catrack.layers import recording_layers

    spec = path[0] if isinstance(path, list) else path
    try:
        rec = open_recording(spec)
        layers = recording_layers(rec)
    except CatrackError as exc:
        _notify_error(str(exc))
        return [(None,)]  # napari's "nothing to add" sentinel: the message above says why
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
        moved = note_recording(session_for_viewer(viewer), rec)
        said += [moved] if moved else []
    if said:
        from napari.utils.notifications import show_warning

        for line in said:
            show_warning(f"napari-catrack: {line}")
    return layers


def read_session(path: str | list[str]) -> list:
    from napari_catrack.session import Session
    from napari_catrack.session_layers import session_layers

    spec = path[0] if isinstance(path, list) else path
    try:
        session = Session.load(spec)
        return session_layers(session)
    except CatrackError as exc:
        _notify_error(str(exc))
        return [(None,)]
