"""npe2 writer: save the current viewer's WHOLE napari-catrack session, whatever is selected.

napari hands a writer only the layers the user selected (File > Save Selected Layers..., Ctrl+S),
so a session saved with one layer selected used to lose the red channel, the neurons, the tracks
and the shapes without a word. A session is one analysis, so the writer stores every layer of the
viewer and every step, and says so when the selection was smaller.
"""

from __future__ import annotations

from typing import Any

from napari_catrack.session import SESSION_SUFFIX, Session, session_for_viewer
from napari_catrack.session_layers import layers_into_session


def write_session(path: str, layer_data: list[tuple[Any, dict, str]]) -> list[str]:
    """Write a `*.catrack.h5` file atomically: all layers of the current viewer, all results."""
    import napari

    if not path.lower().endswith(SESSION_SUFFIX):
        path = path + SESSION_SUFFIX
    viewer = napari.current_viewer()
    if viewer is None:  # no viewer (a script): the layers given are all there is
        session, everything = Session(), list(layer_data)
    else:
        session = session_for_viewer(viewer)
        everything = [layer.as_layer_data_tuple() for layer in viewer.layers]
    layers_into_session(session, everything)
    session.save(path)
    if viewer is not None and len(layer_data) < len(everything):
        from napari.utils.notifications import show_info

        show_info(
            f"napari-catrack: saved the whole session ({len(everything)} layers and every "
            f"step), not only the {len(layer_data)} selected layer(s)"
        )
    return [path]
