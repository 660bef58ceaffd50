"""npe2 writer: save the current viewer's napari-catrack session (results + editable layers)."""

from __future__ import annotations

from typing import Any

from napari_catrack.session import SESSION_SUFFIX, Session, session_for_viewer
from napari_catrack.session_layers import layers_into_session


def write_session(path: str, layer_data: list[tuple[Any, dict, str]]) -> list[str]:
    """Write a `*.catrack.h5` file atomically; results come from the current viewer's session."""
    import napari

    if not path.lower().endswith(SESSION_SUFFIX):
        path = path + SESSION_SUFFIX
    viewer = napari.current_viewer()
    session = session_for_viewer(viewer) if viewer is not None else Session()
    layers_into_session(session, layer_data)
    session.save(path)
    return [path]
