"""Hand-drawn ImageJ/Fiji ROIs from the Sources widget (or import from: imagej, Import…): the
cells drawn in Fiji become the footprints layers beside the movie, their traces (the mean of the
chosen movie layer inside each ROI) the session's traces, shown in the trace viewer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import roifile

from napari_catrack.session import session_for_viewer
from tests.conftest import shared_data
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
SRC = "Sources (two-photon)"
T, SHAPE, FPS = 25, (40, 50), 20.0


def _dock(viewer, name):
    return viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]


@pytest.fixture
def movie_file(tmp_path):
    from napari_catrack.io.tiff import write_movie_tiff

    data = np.random.default_rng(5).integers(0, 4000, (T, *SHAPE)).astype(np.uint16)
    return write_movie_tiff(tmp_path / "drawn.tif", data, fps=FPS), data


def test_imagej_rois_from_the_sources_widget_become_layers_and_traces(
    make_napari_viewer, qtbot, tmp_path, movie_file, monkeypatch
):
    from qtpy.QtWidgets import QFileDialog

    path, data = movie_file
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, [
        roifile.ImagejRoi.frompoints(np.array([[4, 3], [10, 3], [10, 8], [4, 8]], float), name="cell-a"),
        roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=30, top=20, right=33, bottom=26, name="cell-b"),
    ])  # fmt: skip
    want = np.zeros((2, *SHAPE), bool)
    want[0, 3:8, 4:10] = True  # ImageJ's rule: a pixel is in when its centre is inside
    want[1, 20:26, 30:33] = True

    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    src = _dock(viewer, SRC)
    tv = _dock(viewer, "Traces (signals)")
    session = session_for_viewer(viewer)
    assert src.tool.findText("imagej") >= 0  # was: suite2p, caiman, minian only
    assert src.neuropil.isHidden()  # the neuropil ring is for hand-drawn ROIs only
    src.tool.setCurrentText("imagej")
    assert not src.neuropil.isHidden()
    assert src.neuropil.params().neuropil_coefficient == 0.0  # off unless asked
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda _w, title, _d, filt: asked.append((title, filt)) or (str(zip_path), "")))  # fmt: skip
    src._ask_import()
    assert asked and "*.zip *.roi" in asked[0][1]
    wait_job(qtbot, src.job)

    # the cells as layers beside the movie: the footprints labels hold the drawn masks
    labels = viewer.layers["footprints"].data
    assert labels.shape == SHAPE
    comps = session["sources"].tables["components"]
    assert comps["name"].tolist() == ["cell-a", "cell-b"]
    for nid, mask in zip(comps["neuron_id"], want, strict=True):
        label = int(labels[mask][0])
        np.testing.assert_array_equal(labels == label, mask)
        trace = session["traces"].tables["traces"]
        raw = trace[trace["neuron_id"].astype(str) == str(nid)]["raw"].to_numpy()
        np.testing.assert_allclose(raw, data[:, mask].astype(float).mean(axis=1), rtol=1e-9)
    # provenance: the import, the ROI file and the movie it was measured on
    rec = session["sources"]
    assert rec.attrs["origin"] == "imagej" and rec.params["import"]["tool"] == "imagej"
    assert rec.params["import"]["fps"] == FPS  # the recording's rate
    assert set(rec.attrs["inputs"]) == {"imagej", "recording"}
    assert "2 components (ImageJ)" in src.status.text()
    # ... and the traces in the trace viewer
    assert tv.shows_session
    assert [tv.neurons.item(i).text() for i in range(tv.neurons.count())] == [str(i) for i in comps["neuron_id"]]  # fmt: skip

    # with the neuropil coefficient: raw = F - c x the mean of each ROI's ring, recorded
    from napari_catrack.core.sources.neuropil import neuropil_masks

    src.neuropil.control("neuropil_coefficient").setValue(0.7)
    wait_job(qtbot, src.run_import("imagej", str(zip_path)))
    rec = session["sources"]
    assert rec.params["import"]["neuropil"]["neuropil_coefficient"] == 0.7
    rings = neuropil_masks(want)
    trace = session["traces"].tables["traces"]
    for nid, mask, ring in zip(rec.tables["components"]["neuron_id"], want, rings, strict=True):
        raw = trace[trace["neuron_id"].astype(str) == str(nid)]["raw"].to_numpy()
        f, fneu = data[:, mask].mean(axis=1), data[:, ring].mean(axis=1)
        np.testing.assert_allclose(raw, f - 0.7 * fneu, rtol=1e-9)
    assert "raw = F - 0.7 * Fneu" in src.status.text()
    from napari_catrack.widgets.sources import SourcesWidget

    again = SourcesWidget(viewer)  # docked later (or a reopened session): the setting in force
    assert again.neuropil.params().neuropil_coefficient == 0.7


def test_imagej_import_needs_a_movie_and_a_rate(make_napari_viewer, qtbot, tmp_path):
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, [roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=1, top=1, right=5, bottom=5, name="c")])  # fmt: skip
    viewer = make_napari_viewer()
    src = _dock(viewer, SRC)
    assert src.run_import("imagej", str(zip_path)) is None
    assert "no movie layer" in src.status.text()
    viewer.add_image(np.zeros((5, 16, 16), np.float32), name="norate")
    assert src.run_import("imagej", str(zip_path)) is None
    assert "frame rate is unknown" in src.status.text()
    src.fps.spin.setValue(10.0)  # typed in 'frame rate'
    assert src.ctx.fps() == 10.0
    wait_job(qtbot, src.run_import("imagej", str(tmp_path / "missing.zip")))
    assert "no such ImageJ ROI file" in src.status.text()
    assert "sources" not in session_for_viewer(viewer)


def test_sima_real_roiset_through_the_sources_widget(make_napari_viewer, qtbot, tmp_path):
    import shutil

    zip_path = shared_data("sima", "imageJ_ROIs.zip")
    # a copy: the import autosaves the session beside the movie (it wrote example-N.catrack.h5
    # into the shared, read-only data folder at every run)
    movie = Path(shutil.copy(shared_data("sima", "example.tif"), tmp_path / "example.tif"))
    viewer = make_napari_viewer()
    viewer.open(str(movie), plugin=PLUGIN)
    src = _dock(viewer, SRC)
    if not src.ctx.fps():  # SIMA's example stores no frame rate: type one
        src.fps.spin.setValue(2.0)
    wait_job(qtbot, src.run_import("imagej", str(zip_path)))
    assert session_for_viewer(viewer).path.parent == tmp_path
    comps = session_for_viewer(viewer)["sources"].tables["components"]
    rois = roifile.roiread(zip_path)
    assert comps["name"].tolist() == [r.name for r in rois]
    assert comps["area"].tolist() == [362, 200]  # as `catrack import imagej` measures them
    labels = viewer.layers["footprints"].data
    assert sorted(int((labels == i).sum()) for i in np.unique(labels) if i) == [200, 362]


def test_file_open_of_a_roiset_shows_the_rois_as_shapes(make_napari_viewer, tmp_path, monkeypatch):  # fmt: skip
    """Dropping a RoiSet.zip (or a .roi) on napari: the ROIs as drawn, a Shapes layer over the
    movie (ImageJ's pixel-corner coordinates moved to napari's pixel centres); a zip of other
    files is left to other readers; the Sources widget's dialog then offers that file."""
    from qtpy.QtWidgets import QFileDialog

    from napari_catrack._reader import get_reader

    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, [
        roifile.ImagejRoi.frompoints(np.array([[4, 3], [10, 3], [10, 8]], float), name="tri"),
        roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=30, top=20, right=33, bottom=26, name="box"),
        roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=11, top=21, right=23, bottom=29, name="egg"),
        roifile.ImagejRoi(roitype=roifile.ROI_TYPE.LINE, x1=1, y1=1, x2=9, y2=9, name="a-line"),
    ])  # fmt: skip
    other = tmp_path / "data.zip"
    import zipfile

    with zipfile.ZipFile(other, "w") as z:
        z.writestr("table.csv", "a,b\n1,2\n")
    assert get_reader(str(other)) is None  # not ours: other plugins may read it
    assert get_reader(str(zip_path)) is not None

    viewer = make_napari_viewer()
    layers = viewer.open(str(zip_path), plugin=PLUGIN)
    assert len(layers) == 1 and layers[0]._type_string == "shapes"
    shapes = layers[0]
    assert shapes.shape_type == ["polygon", "rectangle", "ellipse"]  # the line has no area
    assert shapes.features["name"].tolist() == ["tri", "box", "egg"]
    np.testing.assert_allclose(shapes.data[0], [[2.5, 3.5], [2.5, 9.5], [7.5, 9.5]])
    np.testing.assert_allclose(np.sort(shapes.data[1], axis=0), [[19.5, 29.5], [19.5, 29.5], [25.5, 32.5], [25.5, 32.5]])  # fmt: skip
    # napari's own rasterisation of the rectangle is the import's mask (rows 20-25, cols 30-32)
    rect = shapes.to_masks((40, 50))[1]
    assert rect.sum() == 18 and rect[20:26, 30:33].all()
    assert shapes.metadata["catrack"]["path"] == str(zip_path)

    src = _dock(viewer, SRC)
    src.tool.setCurrentText("imagej")
    offered = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda _w, _t, start, _f: offered.append(start) or ("", "")))  # fmt: skip
    src._ask_import()
    assert offered == [str(zip_path)]


def test_file_open_of_simas_real_roiset(make_napari_viewer):
    zip_path = shared_data("sima", "imageJ_ROIs.zip")
    viewer = make_napari_viewer()
    viewer.open(str(shared_data("sima", "example.tif")), plugin=PLUGIN)
    (shapes,) = viewer.open(str(zip_path), plugin=PLUGIN)
    assert shapes.shape_type == ["polygon", "polygon"]
    assert shapes.features["name"].tolist() == [r.name for r in roifile.roiread(zip_path)]
    areas = shapes.to_masks(viewer.layers[0].data.shape[1:]).sum(axis=(1, 2))
    assert abs(areas[0] - 362) <= 15 and abs(areas[1] - 200) <= 10  # the import's 362 and 200 px


def test_a_tiff_with_an_overlay_opens_with_its_rois_and_imports_them(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    """ROIs drawn in Fiji and kept in the TIFF's overlay: File > Open gives the movie and a
    Shapes layer of them; the Sources widget imports them from the same TIFF."""
    import tifffile

    data = np.random.default_rng(2).integers(0, 4000, (T, *SHAPE)).astype(np.uint16)
    box = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=30, top=20, right=33, bottom=26, name="box")  # fmt: skip
    path = tmp_path / "drawn.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX", "finterval": 1 / FPS, "Overlays": [box.tobytes()]})  # fmt: skip
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, data, imagej=True, metadata={"axes": "TYX", "finterval": 1 / FPS})
    viewer = make_napari_viewer()
    assert len(viewer.open(str(plain), plugin=PLUGIN)) == 1  # no overlay: the movie only
    viewer.layers.clear()
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert [x._type_string for x in layers] == ["image", "shapes"]
    assert layers[1].name == "drawn overlay" and layers[1].features["name"].tolist() == ["box"]
    src = _dock(viewer, SRC)
    wait_job(qtbot, src.run_import("imagej", str(path)))
    session = session_for_viewer(viewer)
    trace = session["traces"].tables["traces"]
    np.testing.assert_allclose(trace["raw"], data[:, 20:26, 30:33].reshape(T, -1).mean(axis=1))


def _open_planes(viewer, path, volume, axes: str) -> dict:
    """`volume` written as an ImageJ hyperstack at `path`, its planes 0 and 1 opened with the
    loader's Z projection 'one plane': {plane: the layers opened}."""
    import tifffile

    from napari_catrack.widgets.loader import LoaderWidget

    tifffile.imwrite(path, volume, imagej=True, metadata={"axes": axes, "finterval": 1 / FPS})
    loader = LoaderWidget(viewer)
    loader.path.value = path
    loader.z_projection.value = "one plane"
    opened = {}
    for z in (0, 1):
        loader.z_plane.value = z
        opened[z] = loader.open_recording()
    return opened


def test_rois_of_several_planes_are_measured_on_each_planes_layer(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    """A volume opened plane by plane (the loader's Z projection 'one plane'), ROIs drawn in Fiji
    on its planes: each ROI is measured on the layer of its own plane, whichever plane's layer
    is chosen, with a `plane` column; a ROI of a plane no layer shows is skipped and said. (It
    measured every ROI on the chosen layer, a cell of plane 1 traced in plane 0, with only a
    warning.)"""
    rng = np.random.default_rng(8)
    volume = rng.integers(0, 4000, (T, 3, *SHAPE)).astype(np.uint16)  # T, Z, Y, X
    viewer = make_napari_viewer()
    opened = {z: layers[0] for z, layers in _open_planes(viewer, tmp_path / "volume.tif", volume, "TZYX").items()}  # fmt: skip
    a = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=4, top=3, right=10, bottom=8, name="on-0")  # fmt: skip
    b = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=30, top=20, right=33, bottom=26, name="on-1")  # fmt: skip
    c = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=12, top=30, right=16, bottom=34, name="on-2")  # fmt: skip
    a.z_position, b.z_position, c.z_position = 1, 2, 3  # ImageJ counts planes from 1
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, [a, b, c])
    boxes = {"on-0": (slice(3, 8), slice(4, 10), 0), "on-1": (slice(20, 26), slice(30, 33), 1)}

    src = _dock(viewer, SRC)
    src.fps.spin.setValue(FPS)
    session = session_for_viewer(viewer)
    for chosen in (opened[0], opened[1]):  # either plane's layer chosen: the same traces
        src.movie.setCurrentText(chosen.name)
        wait_job(qtbot, src.run_import("imagej", str(zip_path)))
        comps = session["sources"].tables["components"]
        assert comps["name"].tolist() == ["on-0", "on-1"]  # on-2: plane 2 is not open
        assert comps["plane"].tolist() == [0, 1]
        traces = session["traces"].tables["traces"]
        for nid, name in zip(comps["neuron_id"], comps["name"], strict=True):
            ys, xs, z = boxes[name]
            raw = traces[traces["neuron_id"].astype(str) == str(nid)]["raw"].to_numpy()
            np.testing.assert_allclose(raw, volume[:, z, ys, xs].reshape(T, -1).mean(axis=1), rtol=1e-9)  # fmt: skip
        text = src.status.text()
        assert "were drawn on Z plane(s) 2, which no open movie shows" in text and "on-2" in text
        assert f"planes' layers: 0: {opened[0].name}, 1: {opened[1].name}" in text
    # a movie registered from plane 1's layer (what the Motion correction widget adds) is that
    # plane's movie from then on
    moved = (volume[:, 1] + 1000).astype(np.uint16)
    meta = {"catrack": {"role": "registered", "path": None, "raw_layer": opened[1].name}}
    reg = viewer.add_image(moved, name="plane 1 registered", metadata=meta)
    src.movie.setCurrentText(opened[0].name)
    wait_job(qtbot, src.run_import("imagej", str(zip_path)))
    traces = session["traces"].tables["traces"]
    nid = session["sources"].tables["components"]["neuron_id"].iloc[1]
    raw = traces[traces["neuron_id"].astype(str) == str(nid)]["raw"].to_numpy()
    np.testing.assert_allclose(raw, moved[:, 20:26, 30:33].reshape(T, -1).mean(axis=1), rtol=1e-9)
    assert f"1: {reg.name}" in src.status.text()


def test_rois_of_a_two_channel_volume_are_measured_on_each_planes_calcium_layer(
    make_napari_viewer, qtbot, tmp_path
):
    """A two-channel volume opened plane by plane gives each plane a green (calcium) and a red
    (structural) layer of the same file and options. With plane 0's green layer chosen, the
    ROIs of plane 1 were measured on plane 1's red layer (the last one opened of that plane):
    a structural channel's trace, silently. Each plane's layer is now one of the chosen
    layer's channel."""
    rng = np.random.default_rng(9)
    volume = rng.integers(0, 4000, (T, 2, 2, *SHAPE)).astype(np.uint16)  # T, Z, C, Y, X
    viewer = make_napari_viewer()
    opened = _open_planes(viewer, tmp_path / "volume2c.tif", volume, "TZCYX")
    roles = [[lay.metadata["catrack"]["role"] for lay in opened[z]] for z in (0, 1)]
    assert roles == [["green", "red"], ["green", "red"]]
    a = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=4, top=3, right=10, bottom=8, name="on-0")  # fmt: skip
    b = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, left=30, top=20, right=33, bottom=26, name="on-1")  # fmt: skip
    a.z_position, b.z_position = 1, 2
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, [a, b])
    src = _dock(viewer, SRC)
    src.fps.spin.setValue(FPS)
    session = session_for_viewer(viewer)
    src.movie.setCurrentText(opened[0][0].name)  # plane 0, green
    wait_job(qtbot, src.run_import("imagej", str(zip_path)))
    comps = session["sources"].tables["components"]
    assert comps["plane"].tolist() == [0, 1]
    traces = session["traces"].tables["traces"]
    nid = comps["neuron_id"].iloc[1]
    raw = traces[traces["neuron_id"].astype(str) == str(nid)]["raw"].to_numpy()
    green = volume[:, 1, 0, 20:26, 30:33].reshape(T, -1).mean(axis=1)
    np.testing.assert_allclose(raw, green, rtol=1e-9)
    assert f"1: {opened[1][0].name}" in src.status.text()
