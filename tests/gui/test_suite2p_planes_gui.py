"""A multi-plane suite2p output imported in the Sources widget: one footprints layer per plane,
over that plane's movie layer when the planes are open one per layer."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.session import session_for_viewer
from tests.core.test_suite2p_planes import CELLS, FS, LX, LY, three_planes
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
SRC = "Sources (two-photon)"


def _dock(viewer, name):
    return viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]


def _ids_in(layer) -> list[int]:
    return [int(v) - 1 for v in np.unique(layer.data) if v]  # label = id + 1 (ids from 0)


def test_each_plane_gets_its_own_footprints_layer(make_napari_viewer, qtbot, tmp_path):
    planes = three_planes(tmp_path / "s2p")
    viewer = make_napari_viewer()
    src = _dock(viewer, SRC)
    src.fps.spin.setValue(FS)
    wait_job(qtbot, src.run_import("suite2p", str(tmp_path / "s2p")))
    want = {0: [0, 1], 1: [2, 3, 4], 2: [5]}  # ids run through the planes
    for p, ids in want.items():
        layer = viewer.layers[f"footprints plane {p}"]
        assert _ids_in(layer) == ids and not layer.editable
        for nid, st in zip(ids, planes[p]["stat"], strict=True):  # its own pixels, whole
            assert np.all(layer.data[st["ypix"], st["xpix"]] == nid + 1)
    assert [viewer.layers[f"footprints plane {p}"].visible for p in want] == [True, False, False]
    assert "cells of 3 planes, one layer each" in src.status.text()
    assert "plane's movie" in src.status.text()  # no plane layers open: said how to see them
    # deleting a cell in 'footprints' takes it out of its plane's layer
    session = session_for_viewer(viewer)
    fp = viewer.layers["footprints"]
    data = np.asarray(fp.data).copy()
    data[data == 4] = 0  # id 3: plane 1's second ROI
    fp.data = data
    assert _ids_in(viewer.layers["footprints plane 1"]) == [2, 4]
    assert "3" in session["transients"].tables["verdicts"]["neuron_id"].astype(str).tolist()


def test_plane_layers_sit_on_their_planes_movie_layers(make_napari_viewer, qtbot, tmp_path):
    import tifffile

    from napari_catrack.widgets.loader import LoaderWidget

    three_planes(tmp_path / "s2p")
    volume = np.random.default_rng(3).integers(0, 4000, (50, 3, LY, LX)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "vol.tif", volume, imagej=True, metadata={"axes": "TZYX", "finterval": 1 / FS})  # fmt: skip
    viewer = make_napari_viewer()
    loader = LoaderWidget(viewer)
    loader.path.value = tmp_path / "vol.tif"
    loader.z_projection.value = "one plane"
    opened = {}
    for z in (0, 1):  # plane 2 not opened
        loader.z_plane.value = z
        opened[z] = loader.open_recording()[0]
    src = _dock(viewer, SRC)
    src.fps.spin.setValue(FS)
    src.movie.setCurrentText(opened[1].name)
    wait_job(qtbot, src.run_import("suite2p", str(tmp_path / "s2p")))
    said = src.status.text()
    assert f"plane 0 over '{opened[0].name}'" in said and f"plane 1 over '{opened[1].name}'" in said
    assert "plane(s) 2 not open as a layer" in said
    shown = [viewer.layers[f"footprints plane {p}"].visible for p in CELLS]
    assert shown == [False, True, False]  # the chosen movie's plane


def test_the_cell_list_shows_each_cells_plane_and_red_verdict(make_napari_viewer, qtbot, tmp_path):
    """The Sources list said nothing of a cell's plane or of suite2p's red-channel verdict
    (redcell.npy, not read before): each line now ends with "plane N" and "red P"."""
    planes = three_planes(tmp_path / "s2p")
    red = {0: [[1, 0.9], [0, 0.2]], 1: [[0, 0.1], [1, 0.7], [0, 0.4]]}  # plane 2: none
    for p, rows in red.items():
        np.save(tmp_path / "s2p" / "suite2p" / f"plane{p}" / "redcell.npy", np.array(rows, float))
    viewer = make_napari_viewer()
    src = _dock(viewer, SRC)
    src.fps.spin.setValue(FS)
    wait_job(qtbot, src.run_import("suite2p", str(tmp_path / "s2p")))
    lines = [src.cells.item(i).text() for i in range(src.cells.count())]
    assert len(lines) == 6
    assert "plane 0  red 0.90 (red)" in lines[0] and "plane 0  red 0.20" in lines[1]
    assert "(red)" not in lines[1] and "plane 1  red 0.70 (red)" in lines[3]
    assert lines[5].startswith("5: ") and "plane 2  red n/a" in lines[5]
    # the selected cell's line below the list says them whole (the list cuts them at a narrow
    # dock's edge: h17 walk)
    src.cells.setCurrentRow(3)
    prob = f"p {planes[1]['iscell'][1, 1]:.2f}"  # suite2p's iscell probability first (h22)
    assert src.reason.text().startswith(f"3: rejected ({prob}, plane 1, red 0.70 (red)) - ")
    src.cells.setCurrentRow(5)
    assert ", plane 2, red n/a)" in src.reason.text()


def test_the_cell_list_shows_the_tools_cell_probability(make_napari_viewer, qtbot, tmp_path):
    """The list showed suite2p's red probability ("red 0.83") but not the probability that the
    ROI is a cell (iscell column 1, `tool_probability` since h22): each line now says "p 0.91",
    the suite2p value rounded, and so does the selected cell's line below the list."""
    planes = three_planes(tmp_path / "s2p")
    viewer = make_napari_viewer()
    src = _dock(viewer, SRC)
    src.fps.spin.setValue(FS)
    wait_job(qtbot, src.run_import("suite2p", str(tmp_path / "s2p")))
    want = np.concatenate([planes[p]["iscell"][:, 1] for p in sorted(planes)])
    lines = [src.cells.item(i).text() for i in range(src.cells.count())]
    assert len(lines) == len(want) == 6
    for k, (line, pr) in enumerate(zip(lines, want, strict=True)):
        assert line.startswith(f"{k}: ") and f" px  p {pr:.2f}  plane " in line, line
    src.cells.setCurrentRow(4)
    assert f"(p {want[4]:.2f}, plane 1)" in src.reason.text()
