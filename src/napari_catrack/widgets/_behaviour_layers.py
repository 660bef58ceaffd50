"""The behaviour widgets' editing surfaces: prompt points, mask labels, centerline paths.

- "worm prompts": a Points layer (frame, y, x) with feature `label` = worm / background
  (green / red); every frame with points is an anchor.
- "worm masks": a Labels layer (T, Y, X); a frame the user paints differs from the stored
  segmentation and becomes a painted anchor.
- "centerline": a Shapes layer of paths, one per frame (feature `frame`), coloured by status;
  the user may drag its vertices, and edited paths are kept. "worm head" marks point 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from napari.layers import Image, Labels, Points, Shapes

from napari_catrack.core.behaviour import Anchor
from napari_catrack.errors import InputError
from napari_catrack.layers import (
    CENTERLINE_LAYER,
    HEAD_LAYER,
    MASKS_LAYER,
    centerline_layers,
    label_axes,
    masks_layer,
)

if TYPE_CHECKING:
    import napari

PROMPTS = "worm prompts"
MASKS, CENTERLINE, HEAD = MASKS_LAYER, CENTERLINE_LAYER, HEAD_LAYER
WORM, BACKGROUND = "worm", "background"


def video_layers(viewer: napari.Viewer) -> list:
    """(T, Y, X) grayscale Image layers that can be a behaviour video."""
    return [
        lay for lay in viewer.layers if isinstance(lay, Image) and lay.ndim == 3 and not lay.rgb
    ]


def layer_frames(layer):
    return layer.data[0] if layer.multiscale else layer.data


def prompt_layer(viewer: napari.Viewer, create: bool = True) -> Points | None:
    if PROMPTS in viewer.layers and isinstance(viewer.layers[PROMPTS], Points):
        return viewer.layers[PROMPTS]
    if not create:
        return None
    layer = viewer.add_points(
        np.zeros((0, 3)),
        ndim=3,
        name=PROMPTS,
        features=pd.DataFrame({"label": pd.Series([], dtype=str)}),
        size=6,
        border_color="white",
        face_color="lime",
        out_of_slice_display=False,
    )
    label_axes(layer)
    layer.feature_defaults = {"label": WORM}
    layer.events.data.connect(lambda _e: color_prompts(layer))
    return layer


def color_prompts(layer: Points) -> None:
    labels = layer.features["label"].astype(str).to_numpy() if len(layer.data) else []
    colors = np.array([[0.2, 1.0, 0.2, 1.0] if lab != BACKGROUND else [1.0, 0.2, 0.2, 1.0]
                       for lab in labels]).reshape(-1, 4)  # fmt: skip
    if len(colors):
        layer.face_color = colors


def anchors_from_layers(prompts: Points | None, painted: dict[int, np.ndarray]) -> list[Anchor]:
    """Anchors: one per frame with prompt points, plus painted frames (paint wins)."""
    anchors: dict[int, Anchor] = {}
    if prompts is not None and len(prompts.data):
        data = np.asarray(prompts.data, float)
        labels = prompts.features["label"].astype(str).to_numpy()
        frames = np.rint(data[:, 0]).astype(int)
        for f in np.unique(frames):
            sel = frames == f
            lab = (labels[sel] != BACKGROUND).astype(int)
            if lab.any():
                anchors[int(f)] = Anchor(int(f), data[sel, 1:], lab)
            else:
                raise InputError(f"frame {f} has only background points: add one on the worm")
    for f, mask in painted.items():
        anchors[int(f)] = Anchor(int(f), mask=mask)
    return [anchors[f] for f in sorted(anchors)]


def painted_frames(labels: Labels | None, stored: np.ndarray | None) -> dict[int, np.ndarray]:
    """Frames of the masks layer that differ from the stored segmentation (the user painted)."""
    if labels is None or stored is None:
        return {}
    data = np.asarray(labels.data)
    if data.shape != stored.shape:
        return {}
    changed = np.nonzero(((data > 0) != stored).reshape(len(data), -1).any(axis=1))[0]
    return {int(t): data[t] > 0 for t in changed}


def set_masks(viewer: napari.Viewer, masks: np.ndarray, translate=None) -> Labels:
    data, meta, _ = masks_layer(masks)  # the layer a reopened session shows (layers.py)
    if MASKS in viewer.layers and isinstance(viewer.layers[MASKS], Labels):
        layer = viewer.layers[MASKS]
        layer.data = data
    else:
        layer = label_axes(viewer.add_labels(data, **meta))
    return layer


def build_centerline(points: np.ndarray, status: np.ndarray) -> tuple[Shapes, tuple]:
    """The "centerline" Shapes layer, built but not added, and the heads' (data, meta): safe in
    a worker thread. napari triangulates every path as the layer is built: 2,000 frames' paths
    held the UI 3-4 s when this ran in the GUI thread (scripts/ui_stall_probe.py)."""
    (paths, meta, _), (heads, head_meta, _) = centerline_layers(points, status)
    return label_axes(Shapes(paths, **meta)), (heads, head_meta)


def set_centerline(
    viewer: napari.Viewer,
    points: np.ndarray,
    status: np.ndarray,
    built: tuple[Shapes, tuple] | None = None,
) -> Shapes:
    """Show the centerlines (replacing the layer); `built`: `build_centerline`'s result, made in
    the worker that computed them."""
    layer, (heads, head_meta) = built if built is not None else build_centerline(points, status)
    if CENTERLINE in viewer.layers:
        viewer.layers.remove(CENTERLINE)
    layer = viewer.add_layer(layer)
    if HEAD in viewer.layers:
        viewer.layers[HEAD].data = heads
    else:
        label_axes(viewer.add_points(heads, **head_meta))
    return layer


def edited_paths(layer: Shapes, points: np.ndarray, tol: float = 0.05) -> dict[int, np.ndarray]:
    """{frame: (N, 2)} of paths the user changed, resampled to the stored point count."""
    from napari_catrack.core.behaviour.centerline import resample

    out: dict[int, np.ndarray] = {}
    frames = layer.features["frame"].to_numpy(int) if "frame" in layer.features else []
    for shape, f in zip(layer.data, frames):
        if not 0 <= f < len(points):
            continue
        yx = np.asarray(shape, float)[:, -2:]
        if len(yx) != len(points[f]) or np.abs(yx - points[f]).max() > tol:
            out[int(f)] = resample(yx, points.shape[1])
    return out
