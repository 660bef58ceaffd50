"""Who closes a recording's file once napari layers show it: the viewer, when its last layer goes.

A recording read through a file handle (a compressed TIFF, an HDF5 file, a video) must keep that
handle open while a layer shows it (napari reads frames on demand). Left to garbage collection it
is closed late, with `ResourceWarning: unclosed file`. The reader hands the recording to the
viewer instead: it is closed when the last layer showing its arrays is removed, which closing the
viewer does for every layer. (An uncompressed TIFF is memory-mapped and holds no handle.)
"""

from __future__ import annotations

from typing import Any


def close_with_layers(viewer: Any, recording: Any) -> None:
    """Close `recording` once the layers of `viewer` that showed its arrays are all removed.

    Nothing happens before one such layer was added (a reader's layer data that napari never
    added stays readable), nor for a recording without handles to close.
    """
    if viewer is None or not getattr(recording, "_closers", None):
        return
    arrays = [a for a in (recording.green, recording.red) if a is not None]
    layers = viewer.layers
    seen = False

    def shows(layer: Any) -> bool:
        return any(getattr(layer, "data", None) is a for a in arrays)

    def inserted(event: Any) -> None:
        nonlocal seen
        seen = seen or shows(event.value)

    def removed(_event: Any = None) -> None:
        if not seen or any(shows(layer) for layer in layers):
            return
        layers.events.inserted.disconnect(inserted)
        layers.events.removed.disconnect(removed)
        recording.close()

    layers.events.inserted.connect(inserted)
    layers.events.removed.connect(removed)
