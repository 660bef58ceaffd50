"""Helpers of the transients widget that touch files and layers: exports, the neurons Points
layer (follow the selected cell), and the polygon the user drew in a Shapes layer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Points, Shapes

from napari_catrack.errors import InputError
from napari_catrack.export.layout import FIGURE_FORMATS, TABLE_FORMATS
from napari_catrack.export.write import write_table_as

if TYPE_CHECKING:
    import napari

    from napari_catrack.core.transients.curation import CurationState


def export_tables(state: CurationState, path: Path) -> list[Path]:
    """Transients to `path`, the per-cell table beside it as `<stem>_cells<suffix>`: a shortcut
    to the Export widget's table writer (`export.write.write_table_as`, CSV, Excel or HDF5)."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in TABLE_FORMATS:
        raise InputError(
            f"export to .{', .'.join(TABLE_FORMATS)}, not {path.suffix or 'no extension'}"
        )
    cells = path.with_name(f"{path.stem}_cells{path.suffix}")
    return [
        write_table_as(state.transients(), path, fmt),
        write_table_as(state.cells(), cells, fmt),
    ]


def export_figures(state: CurationState, folder: Path, fmt: str = "svg", df_ids=()) -> list[Path]:  # fmt: skip
    """Traces, raster, amplitude and ITI figures of the cells not rejected; cells in `df_ids`
    (dff is dF, not dF/F: `core.sources.session.df_cells`) are left off the dF/F axes (traces,
    amplitudes), counted in their titles, and kept in the raster and ITI figures."""
    from napari_catrack.figures import save_figure
    from napari_catrack.figures.style import label_recording, left_out_label
    from napari_catrack.figures.transients import DFF_AXES, transient_figures

    if fmt not in FIGURE_FORMATS:
        raise InputError(f"figure format must be one of {', '.join(FIGURE_FORMATS)}, not {fmt!r}")
    if not state.ids.size:
        raise InputError("no traces loaded: nothing to draw")
    keep = np.asarray([state.status(i)[0] != "rejected" for i in state.ids])
    ids, dff = state.ids[keep], state.dff[keep]
    table = state.table[state.table["neuron_id"].isin(set(ids))]
    figs, n_df = transient_figures(dff, ids, table, state.fps, df_ids)
    if n_df:  # the dF/F axes' numbers are the tables' less these cells
        for name in DFF_AXES:
            label_recording(figs[name], left_out_label(None, 0, n_df))

    return [save_figure(fig, Path(folder) / f"{name}.{fmt}") for name, fig in figs.items()]


def neurons_layer(viewer: napari.Viewer) -> Points | None:
    """The active Points layer with a `neuron_id` feature, else the last such layer."""

    def ok(layer) -> bool:
        return isinstance(layer, Points) and "neuron_id" in layer.features.columns

    active = viewer.layers.selection.active
    if ok(active):
        return active
    return next((x for x in reversed(list(viewer.layers)) if ok(x)), None)


def _same_id(column, neuron_id: str) -> np.ndarray:
    """Rows whose id equals `neuron_id`, vectorised (no per-row str() on millions of points)."""
    values = np.asarray(column)
    if values.dtype.kind in "iuf":
        try:
            return values == float(neuron_id)
        except ValueError:
            return np.zeros(values.shape, bool)
    hit = values == neuron_id
    return hit if hit.any() else values.astype(str) == neuron_id


def follow_neuron(viewer: napari.Viewer, neuron_id: str) -> int | None:
    """Select the neuron's point (at the current frame when points have one) and centre on it."""
    layer = neurons_layer(viewer)
    if layer is None or not len(layer.data):
        return None
    hits = np.flatnonzero(_same_id(layer.features["neuron_id"], str(neuron_id)))
    if hits.size == 0:
        return None
    data = np.asarray(layer.data, dtype=float)
    if data.shape[1] >= 3:
        frames = data[:, 0]
    elif "frame" in layer.features.columns:
        frames = layer.features["frame"].to_numpy(float)
    else:
        frames = None
    idx = int(hits[0])
    if frames is not None and viewer.dims.ndim >= 3:
        now = float(viewer.dims.current_step[0])
        idx = int(hits[np.argmin(np.abs(frames[hits] - now))])
    layer.selected_data = {idx}
    world = np.asarray(layer.data_to_world(data[idx]), dtype=float)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    if not _in_view(viewer, camera, world[-2:]):  # moving the view only when needed is calmer
        camera.center = tuple(world[-2:])  # (and saves a redraw of every layer per key press)
    return idx


def _in_view(viewer: napari.Viewer, camera, yx: np.ndarray, margin: float = 0.1) -> bool:
    """Whether a world (y, x) point lies in the view, away from its edges by `margin` of it."""
    size = getattr(getattr(viewer, "canvas", None), "size", None)
    if size is None or not camera.zoom:
        return False
    half = np.asarray(size[-2:], float) / camera.zoom / 2 * (1 - 2 * margin)
    return bool(np.all(np.abs(np.asarray(yx, float) - np.asarray(camera.center[-2:])) <= half))


def polygon_from_layer(viewer: napari.Viewer, green=None) -> np.ndarray:
    """(y, x) vertices, in the green layer's pixels, of the selected (or last) polygon."""
    active = viewer.layers.selection.active
    shapes = [x for x in viewer.layers if isinstance(x, Shapes)]
    layer = active if isinstance(active, Shapes) else (shapes[-1] if shapes else None)
    if layer is None or not len(layer.data):
        raise InputError("draw a polygon around the cell in a Shapes layer first")
    selected = sorted(layer.selected_data)
    i = selected[-1] if selected else len(layer.data) - 1
    kind = layer.shape_type[i]
    if kind not in ("polygon", "rectangle"):
        raise InputError(f"the chosen shape is a {kind}: draw a polygon or a rectangle")
    world = np.array([layer.data_to_world(v) for v in np.asarray(layer.data[i], float)])
    if green is None:
        return world[:, -2:]
    pad = np.zeros((len(world), max(0, green.ndim - world.shape[1])))
    full = np.hstack([pad, world])[:, -green.ndim :]
    return np.array([green.world_to_data(p) for p in full], dtype=float)[:, -2:]
