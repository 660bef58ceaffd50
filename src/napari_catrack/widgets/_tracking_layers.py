"""Tables <-> napari layers for the tracking widget, and the red <-> green point mapping.

Every table the widget keeps or stores is in GREEN-frame pixels (the project's convention); the
core detects and tracks in the chosen channel's own pixels, so points cross the alignment in force
(`channel_stack`) on the way in and out. Points shown in the viewer are in world = green coordinates, which is where
the red layer's affine (set by the alignment widget) puts the red image too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from qtpy.QtWidgets import QComboBox

from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.core.tracking import review_stretches
from napari_catrack.layers import label_axes, tracks_layer
from napari_catrack.widgets._context import ViewerContext

if TYPE_CHECKING:
    import napari

MANUAL_COLOR = np.array([0.0, 0.9, 1.0, 1.0])  # user-placed / corrected points: cyan


def channel_stack(ctx: ViewerContext, channel: str):
    """(channel used, its (T, Y, X) or (Y, X) data, its -> green transform or None).

    The transform is the alignment in force (`ViewerContext.alignment`: accepted, else the red
    layer's), the same one every other widget uses. Without a red layer, green is used.
    """
    if channel == "red" and not ctx.has_red():
        channel = "green"
    data = ctx.channel_data(channel)
    transform = ctx.alignment().transform if channel == "red" else None
    return channel, data, transform


def fill_channel_combo(combo: QComboBox, ctx: ViewerContext) -> None:
    """Offer the channels that exist (red first: the structural marker tracks best); a channel
    the user picked stays picked while it exists."""
    if not combo.property("catrack_watched"):
        combo.setProperty("catrack_watched", True)
        combo.activated.connect(lambda _i: combo.setProperty("catrack_chosen", combo.currentText()))
    roles = [r for r in ("red", "green") if ctx.channel_layer(r) is not None] or ["green"]
    chosen = combo.property("catrack_chosen")
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(roles)
    combo.setCurrentText(chosen if chosen in roles else roles[0])
    combo.blockSignals(False)
    combo.setToolTip(
        "the channels of the recording" if len(roles) > 1
        else "one channel: the recording has no red (structural) channel"
    )  # fmt: skip


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
    if "status" in t.columns:  # tracked / predicted / lost, shown on hover (h15)
        feats["status"] = t.status.astype(str).to_numpy()
    return data, feats, confidence_colors(feats.confidence, feats.source)


@dataclass
class ShownTracks:
    """A tracking result made ready for the viewer in the worker thread: the table in green
    pixels, the "tracks" layer data, the "tracked neurons" points (data, features, colours) and
    the review list for the settings `review_at` (threshold, merge gap) read at launch."""

    tracks: pd.DataFrame
    tracks_layer: tuple
    points: tuple[np.ndarray, pd.DataFrame, np.ndarray]
    review: pd.DataFrame | None = None
    review_at: tuple[float, int] | None = None


def prepare_tracks(
    native: pd.DataFrame, transform: AlignmentTransform | None, shape, review_at=None
) -> ShownTracks:
    """Everything `show_tracks` needs that is numpy/pandas work (safe in a worker thread: the
    main thread then only hands it to napari)."""
    tracks = to_green(native, transform, shape)
    tracks["neuron_id"] = tracks["neuron_id"].astype(str)
    tracks = tracks.reset_index(drop=True)
    review = None
    if review_at is not None:
        review = review_stretches(tracks, threshold=review_at[0], merge_gap=review_at[1])
    layer = tracks_layer(tracks, name="tracks", tail_length=15)
    return ShownTracks(tracks, layer, tracked_points(tracks), review, review_at)


def set_or_add(viewer: napari.Viewer, layer_data: tuple, kind: str):
    """Replace data/features of the named layer if it exists (keeps the user's order), else add."""
    data, meta, _ = layer_data
    name = meta["name"]
    layer = viewer.layers[name] if name in viewer.layers else None
    # (a docked widget's viewer is napari's proxy: its layers are proxies too, named
    # "PublicOnlyProxy", so the type is the wrapped layer's; before, the layer was always
    # removed and added again)
    if layer is not None and type(getattr(layer, "__wrapped__", layer)).__name__.lower() == kind:
        if _shows_already(layer, data, meta.get("features")):
            return layer  # a reopened session's layer: rebuilding 48,000 tracks points took ~1 s
        layer.data = data
        if "features" in meta:
            layer.features = meta["features"]
        return layer
    if layer is not None:
        viewer.layers.remove(layer)
    return label_axes(getattr(viewer, f"add_{kind}")(data, **meta))


def _shows_already(layer, data, features) -> bool:
    """Whether the layer holds exactly this data and these features (nothing to rebuild)."""
    current = np.asarray(layer.data)
    new = np.asarray(data)
    if current.shape != new.shape or not np.array_equal(current, new):
        return False
    if features is None:
        return True
    ours = pd.DataFrame(features).reset_index(drop=True)
    shown = layer.features.reset_index(drop=True)  # (a Tracks layer adds its own track_id)
    return set(ours.columns) <= set(shown.columns) and shown[list(ours.columns)].equals(ours)
