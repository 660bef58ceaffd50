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


def preferred_neuron_layer(viewer: napari.Viewer, names: list[str]) -> str | None:
    """Of these layer names, the neurons layer a user most likely means.

    Per-frame positions (a time axis) before seeds or candidates, visible before hidden (the
    sample's ground truth is hidden), layers with a `neuron_id` feature first, Points before
    Tracks, the newest first: after tracking this is "tracked neurons".
    """
    from napari.layers import Points, Tracks

    def rank(i: int, layer) -> tuple:
        timed = isinstance(layer, Tracks) or (isinstance(layer, Points) and layer.ndim >= 3)
        has_id = "neuron_id" in getattr(layer, "features", {})
        return (has_id, timed, bool(layer.visible), isinstance(layer, Points), i)

    ranked = [(rank(i, lay), lay.name) for i, lay in enumerate(viewer.layers) if lay.name in names]
    return max(ranked)[1] if ranked else None


def report_error(exc: BaseException) -> None:
    """User mistakes as one line; anything else keeps napari's traceback notification."""
    if isinstance(exc, CatrackError):
        show_error(f"napari-catrack: {exc}")
    else:
        raise exc


__all__ = ["channel_layer", "preferred_neuron_layer", "report_error", "show_error", "show_info"]
