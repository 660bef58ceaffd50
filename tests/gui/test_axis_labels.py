"""Leftover (h10): napari's time slider read "-3" for our layers. Where the installed napari
takes layer axis labels (0.6 and later), the layers the reader, the samples, the sessions and the
widgets add are labelled t (z) y x; before, nothing is passed (napari >= 0.5 is supported)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack import layers as catrack_layers
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.layers import axis_labels, label_axes, supports_axis_labels, with_axis_labels

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
needs_labels = pytest.mark.skipif(
    not supports_axis_labels(), reason="this napari has no layer axis labels"
)


def test_labels_by_dimensions_and_none_without_napari_support(monkeypatch):
    assert axis_labels(2) == ("y", "x") and axis_labels(3) == ("t", "y", "x")
    assert axis_labels(4) == ("t", "z", "y", "x") and axis_labels(5)[0] == "-5"
    rgb = np.zeros((4, 8, 8, 3), np.uint8)  # a colour video: its last axis is not a dimension
    tracks = np.zeros((2, 4))  # (track id, t, y, x)
    data = [(np.zeros((4, 8, 8)), {}, "image"), (rgb, {}, "image"), (tracks, {}, "tracks"),
            (np.zeros((3, 2)), {}, "points"), (None,)]  # fmt: skip
    monkeypatch.setattr(catrack_layers, "_AXIS_LABELS_OK", False)  # napari 0.5
    assert all("axis_labels" not in d[1] for d in with_axis_labels(data)[:4])
    monkeypatch.setattr(catrack_layers, "_AXIS_LABELS_OK", True)
    got = [d[1].get("axis_labels") for d in with_axis_labels(data)[:4]]
    assert got == [("t", "y", "x"), ("t", "y", "x"), ("t", "y", "x"), ("y", "x")]


@needs_labels
def test_the_reader_and_the_widgets_layers_say_t_not_minus_3(make_napari_viewer, tmp_path):
    import napari

    assert tuple(int(v) for v in napari.__version__.split(".")[:2]) >= (0, 6)
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 100, (6, 16, 16)).astype(np.uint16)
    write_movie_tiff(tmp_path / "rec.tif", movie, movie, fps=10.0)
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "rec.tif"), plugin=PLUGIN)
    assert [layer.axis_labels for layer in viewer.layers] == [("t", "y", "x")] * 2
    assert viewer.dims.axis_labels == ("t", "y", "x")  # what the slider shows
    from napari_catrack.widgets._behaviour_layers import set_masks

    masks = set_masks(viewer, np.zeros((6, 16, 16), bool))  # a widget's own layer
    assert masks.axis_labels == ("t", "y", "x")
    mine = viewer.add_image(np.zeros((5, 4, 4)), axis_labels=("a", "b", "c"))
    assert label_axes(mine).axis_labels == ("a", "b", "c")  # given labels are kept


@needs_labels
def test_samples_are_labelled(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "two_photon")
    assert [layer.axis_labels for layer in viewer.layers] == [("t", "y", "x"), ("y", "x")]
    assert viewer.dims.axis_labels == ("t", "y", "x")
