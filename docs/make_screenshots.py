"""Regenerate the documentation screenshots from real napari runs.

Run under a display (e.g. `xvfb-run -a python docs/make_screenshots.py`); writes docs/images/*.png.
Each function sets up a viewer the way a user would and saves the whole window.
"""

from __future__ import annotations

import sys
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

IMAGES = Path(__file__).resolve().parent / "images"
PLUGIN = "napari-catrack"


def _save(viewer: napari.Viewer, name: str) -> None:
    QApplication.processEvents()
    viewer.screenshot(str(IMAGES / f"{name}.png"), canvas_only=False, flash=False)
    print("wrote", IMAGES / f"{name}.png")


def viewer_with_sample() -> napari.Viewer:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    viewer.open_sample(PLUGIN, "moving_worm")
    viewer.dims.set_current_step(0, 40)
    viewer.layers["ground truth tracks"].visible = True
    viewer.reset_view()
    return viewer


def shot_viewer() -> None:
    viewer = viewer_with_sample()
    _save(viewer, "viewer")
    viewer.close()


def shot_loader(tmp: Path) -> None:
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.synthetic import make_worm_recording

    rec = make_worm_recording(n_frames=30, seed=3)
    import numpy as np

    side_by_side = np.concatenate([rec.green, rec.red], axis=2)
    path = write_movie_tiff(tmp / "side-by-side.tif", side_by_side, fps=rec.fps,
                            pixel_size_um=rec.pixel_size_um)  # fmt: skip
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    widget.path.value = path
    widget.layout_choice.value = "left-right"
    widget.open_recording()
    viewer.reset_view()
    _save(viewer, "loader")
    viewer.close()


def _truth_points(viewer: napari.Viewer):
    """The sample's ground-truth tracks as an editable neurons Points layer (frame, y, x)."""
    import numpy as np
    import pandas as pd

    tracks = viewer.layers["ground truth tracks"]
    ids = tracks.features["neuron_id"].astype(str).to_numpy()
    table = pd.DataFrame(tracks.data[:, 1:], columns=["frame", "y", "x"]).assign(neuron_id=ids)
    viewer.layers["ground truth tracks"].visible = False
    from napari_catrack.layers import neuron_points_layer

    data, meta, _ = neuron_points_layer(table)
    layer = viewer.add_points(data, **meta)
    return layer, table.assign(frame=table["frame"].astype(int)), np


def shot_alignment() -> None:
    from napari_catrack.core.alignment import estimate_alignment

    viewer = viewer_with_sample()
    viewer.layers["ground truth tracks"].visible = False
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Align channels (red → green)")
    green, red = viewer.layers["worm green"].data, viewer.layers["worm red"].data
    widget.set_transform(estimate_alignment(green, red))
    widget.overlay_check.setChecked(True)
    viewer.camera.zoom *= 2.2
    _save(viewer, "alignment")
    viewer.close()


def shot_traces() -> None:
    from napari_catrack.core.traces import extract_traces

    viewer = viewer_with_sample()
    _, table, _ = _truth_points(viewer)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Traces (signals)")
    green, red = viewer.layers["worm green"].data, viewer.layers["worm red"].data
    widget.set_traces(extract_traces(green, table, red, fps=10.0))
    widget.select(["n03", "n07"])
    _save(viewer, "traces")
    viewer.close()


SHOTS = {
    "viewer": shot_viewer,
    "loader": shot_loader,
    "alignment": shot_alignment,
    "traces": shot_traces,
}


def main(names: list[str]) -> None:
    import tempfile

    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or SHOTS:
            fn = SHOTS[name]
            fn(Path(tmp)) if fn.__code__.co_argcount else fn()


if __name__ == "__main__":
    main(sys.argv[1:])
