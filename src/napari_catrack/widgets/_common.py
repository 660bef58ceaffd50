"""Small helpers shared by widgets: find channel layers, report errors the napari way."""

from __future__ import annotations

from typing import TYPE_CHECKING

from napari.utils.notifications import show_error, show_info

from napari_catrack.errors import CatrackError

if TYPE_CHECKING:
    import napari


def channel_layer(viewer: napari.Viewer, role: str):
    """The most recently added Image layer whose napari-catrack role is `role` ("green"/"red")."""
    from napari.layers import Image

    for layer in reversed(list(viewer.layers)):
        if isinstance(layer, Image) and layer.metadata.get("catrack", {}).get("role") == role:
            return layer
    return None


def report_error(exc: BaseException) -> None:
    """User mistakes as one line; anything else keeps napari's traceback notification."""
    if isinstance(exc, CatrackError):
        show_error(f"napari-catrack: {exc}")
    else:
        raise exc


__all__ = ["channel_layer", "report_error", "show_error", "show_info"]
