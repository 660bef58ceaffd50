"""The loader's Open button reads the recording in a worker, and builds napari's unit registry
there too (pint's, ~1 s once per process: napari builds it on the first layer made, which was the
loader's first layer, in the GUI thread)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui


def test_open_builds_the_unit_registry_in_the_worker(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import tifffile

    from napari_catrack import layers
    from napari_catrack.widgets.loader import LoaderWidget

    frames = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, frames, imagej=True, metadata={"axes": "TYX"})
    warmed: list[int] = []
    real = layers.warm_units

    def spy() -> None:
        warmed.append(threading.get_ident())
        real()

    monkeypatch.setattr(layers, "warm_units", spy)
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.path.value = str(path)
    wait_job(qtbot, loader.start_open())
    assert warmed and threading.get_ident() not in warmed
    np.testing.assert_array_equal(np.asarray(viewer.layers["movie"].data[2]), frames[2])
