"""Tables <-> napari layers for the tracking widget, and the red <-> green point mapping.

Every table the widget keeps or stores is in GREEN-frame pixels (the project's convention); the
core detects and tracks in the chosen channel's own pixels, so points cross `channel_transform`
on the way in and out. Points shown in the viewer are in world = green coordinates, which is where
the red layer's affine (set by the alignment widget) puts the red image too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.errors import InputError
from napari_catrack.widgets._common import channel_layer

if TYPE_CHECKING:
    import napari

MANUAL_COLOR = np.array([0.0, 0.9, 1.0, 1.0])  # user-placed / corrected points: cyan


def channel_stack(viewer: napari.Viewer, channel: str):
    """(channel actually used, its (T, Y, X) or (Y, X) data); red falls back to green."""
    layer = channel_layer(viewer, channel)
    if layer is None and channel == "red":
        channel, layer = "green", channel_layer(viewer, "green")
    if layer is None:
        raise InputError(
            "no green/red image layer: open a recording with napari-catrack (Load recording)"
        )
    data = layer.data[0] if layer.multiscale else layer.data
    return channel, data


def channel_transform(viewer: napari.Viewer, channel: str) -> AlignmentTransform | None:
    """The red -> green transform for `channel` (None for green or when nothing is aligned).

    The accepted session alignment wins; else the one the alignment widget wrote on the red layer.
    """
    if channel != "red":
        return None
    from napari_catrack.session import session_for_viewer

    session = session_for_viewer(viewer)
    if "alignment" in session:
        transform = AlignmentTransform.from_dict(dict(session["alignment"].attrs))
    else:
        red = channel_layer(viewer, "red")
        stored = red.metadata.get("catrack", {}).get("alignment") if red is not None else None
        if not stored:
            return None
        transform = AlignmentTransform.from_dict(dict(stored))
    return None if transform.is_identity else transform


def to_green(df: pd.DataFrame, transform: AlignmentTransform | None, shape) -> pd.DataFrame:
    """A copy of a y/x table moved from the tracked channel's pixels to green pixels."""
    out = df.copy()
    if transform is not None and len(out):
        out[["y", "x"]] = transform.map_points(out[["y", "x"]].to_numpy(float), tuple(shape))
    return out


def to_native(df: pd.DataFrame, transform: AlignmentTransform | None, shape) -> pd.DataFrame:
    """A copy of a y/x table moved from green pixels to the tracked channel's pixels."""
    out = df.copy()
    if transform is not None and len(out):
        yx = out[["y", "x"]].to_numpy(float)
        out[["y", "x"]] = transform.map_points(yx, tuple(shape), inverse=True)
    return out


def next_ids(existing, n: int) -> list[str]:
    """`n` fresh names n<k> after the largest n<k> already used."""
    nums = [int(m.group(1)) for s in existing if (m := re.fullmatch(r"n(\d+)", str(s)))]
    start = max(nums, default=0) + 1
    return [f"n{k}" for k in range(start, start + n)]


def points_table(layer) -> pd.DataFrame:
    """`neuron_id,(frame,)y,x,source` read back from a Points layer (what the user sees)."""
    data = np.asarray(layer.data, dtype=float).reshape(-1, layer.data.shape[1])
    feats = layer.features
    cols = {"neuron_id": feats["neuron_id"].astype(str).to_numpy()}
    if data.shape[1] >= 3:
        cols["frame"] = np.round(data[:, -3]).astype(int)
    cols["y"], cols["x"] = data[:, -2], data[:, -1]
    cols["source"] = (
        feats["source"].astype(str).to_numpy() if "source" in feats else np.full(len(data), "auto")
    )
    return pd.DataFrame(cols)


def confidence_colors(confidence: np.ndarray, source: np.ndarray) -> np.ndarray:
    """RGBA per point: red (0) -> yellow (0.5) -> green (1); user-placed points cyan."""
    c = np.clip(np.nan_to_num(np.asarray(confidence, float), nan=0.0), 0, 1)
    rgba = np.ones((len(c), 4))
    rgba[:, 0] = np.clip(2 * (1 - c), 0, 1)
    rgba[:, 1] = np.clip(2 * c, 0, 1)
    rgba[:, 2] = 0.1
    rgba[np.asarray(source) == "manual"] = MANUAL_COLOR
    return rgba


def tracked_points(tracks: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """(data (frame, y, x), features, border colours) for the editable per-frame points."""
    ok = np.isfinite(tracks[["y", "x"]].to_numpy(float)).all(axis=1)
    t = tracks[ok].reset_index(drop=True)
    data = t[["frame", "y", "x"]].to_numpy(float)
    feats = pd.DataFrame(
        {
            "neuron_id": t.neuron_id.astype(str).to_numpy(),
            "frame": t.frame.to_numpy(int),
            "confidence": t.confidence.to_numpy(float),
            "source": t.source.astype(str).to_numpy(),
        }
    )
    return data, feats, confidence_colors(feats.confidence, feats.source)


def set_or_add(viewer: napari.Viewer, layer_data: tuple, kind: str):
    """Replace data/features of the named layer if it exists (keeps the user's order), else add."""
    data, meta, _ = layer_data
    name = meta["name"]
    layer = viewer.layers[name] if name in viewer.layers else None
    if layer is not None and type(layer).__name__.lower() == kind:
        layer.data = data
        if "features" in meta:
            layer.features = meta["features"]
        return layer
    if layer is not None:
        viewer.layers.remove(layer)
    return getattr(viewer, f"add_{kind}")(data, **meta)
