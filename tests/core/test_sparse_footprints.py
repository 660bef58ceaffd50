"""Footprints stay sparse through the sources step and give what the dense (K, Y, X) path gave.

The dense references below are the code the step ran before session 14 (labels, area,
centroids, peak normalisation), applied to `np.asarray(footprints)`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import roifile
import tifffile

from napari_catrack.core.sources.footprints import Footprints
from napari_catrack.core.sources.session import (
    labels_from_footprints,
    record_sources,
    session_footprints,
    shown_labels,
    sources_from_session,
)
from napari_catrack.io.sources import read_sources, write_sources
from napari_catrack.session import Session
from tests.conftest import shared_data


# ---------------------------------------------------------------- the dense path, as it was
def dense_labels(fp: np.ndarray, ids, level: float = 0.2) -> np.ndarray:
    fp = np.asarray(fp, np.float32)
    if not len(fp):
        return np.zeros(fp.shape[1:], np.int32)
    rel = fp / np.maximum(fp.reshape(len(fp), -1).max(axis=1), 1e-12)[:, None, None]
    best = rel.argmax(axis=0)
    ids = np.asarray(ids, np.int64)
    labels = ids + int(max(0, 1 - ids.min()))
    return np.where(rel.max(axis=0) > level, labels[best], 0).astype(np.int32)


def dense_area(fp: np.ndarray) -> np.ndarray:
    flat = fp.reshape(len(fp), -1)
    return (flat > 0.2 * flat.max(axis=1, keepdims=True)).sum(axis=1)


def dense_centroids(fp: np.ndarray) -> np.ndarray:
    k, h, w = fp.shape
    s = np.maximum(fp.reshape(k, -1).sum(axis=1), 1e-12)
    return np.stack([fp.sum(axis=2) @ np.arange(h) / s, fp.sum(axis=1) @ np.arange(w) / s], 1)


def _overlapping(rng, k=12, shape=(30, 40)) -> np.ndarray:
    """Blobs that overlap, with exact ties (two identical footprints) and an empty one."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    fp = np.zeros((k, *shape), np.float32)
    for i in range(k - 2):
        cy, cx = rng.uniform(3, shape[0] - 3), rng.uniform(3, shape[1] - 3)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0) * rng.uniform(0.5, 3)
        fp[i] = np.where(blob > 0.05, blob, 0)
    fp[k - 2] = fp[1]  # a tie: the lower index wins, as argmax
    return fp  # fp[k - 1] stays empty


def _forbid_dense(monkeypatch):
    """Any densifying of the whole stack (np.asarray, toarray) fails the test."""

    def refuse(self, *a, **k):
        raise AssertionError("footprints densified whole")

    monkeypatch.setattr(Footprints, "__array__", refuse)
    monkeypatch.setattr(Footprints, "toarray", refuse)


def test_sparse_footprints_measure_what_the_dense_stack_measured():
    dense = _overlapping(np.random.default_rng(0))
    fp = Footprints.from_dense(dense)
    assert fp.shape == dense.shape and fp.matrix.format == "csc"
    assert fp.matrix.nnz == np.count_nonzero(dense)
    np.testing.assert_array_equal(np.asarray(fp), dense)
    for k in (0, 5, len(dense) - 1):
        np.testing.assert_array_equal(fp[k], dense[k])
    np.testing.assert_array_equal(fp.peaks(), dense.reshape(len(dense), -1).max(axis=1))
    np.testing.assert_array_equal(fp.area(0.2), dense_area(dense))
    np.testing.assert_allclose(fp.centroids()[:-1], dense_centroids(dense)[:-1], rtol=1e-6)
    ids = np.arange(len(dense))  # 0-based: label offset 1
    for level in (0.0, 0.2, 0.5):
        np.testing.assert_array_equal(
            labels_from_footprints(fp, ids, level), dense_labels(dense, ids, level)
        )
    sub = fp[[2, 0]]
    assert isinstance(sub, Footprints)
    np.testing.assert_array_equal(np.asarray(sub), dense[[2, 0]])
    crop = fp.cropped((4, 20), (6, 31)).padded((30, 40), (4, 20), (6, 31))
    want = np.zeros_like(dense)
    want[:, 4:20, 6:31] = dense[:, 4:20, 6:31]
    np.testing.assert_array_equal(np.asarray(crop), want)
    new = np.zeros((30, 40), np.float32)
    new[1:4, 2:5] = 7
    np.testing.assert_array_equal(np.asarray(fp.replaced(3, new))[3], new)
    np.testing.assert_array_equal(np.asarray(fp.replaced(3, new))[4], dense[4])
    np.testing.assert_array_equal(np.asarray(fp.appended(fp[[0]])), np.concatenate([dense, dense[:1]]))  # fmt: skip


def _session_result(tmp_path):
    """An imported result (suite2p-like weights, peak normalised) and a session holding it."""
    from napari_catrack.core.sources.imported import imported_result

    rng = np.random.default_rng(1)
    dense = _overlapping(rng)[:-1] * 2.5  # peaks not 1: normalised on import
    raw = rng.random((len(dense), 50)) + 1
    res = imported_result("suite2p", Footprints.from_dense(dense), raw, fps=5.0)
    return dense, res


def test_an_import_normalises_and_measures_as_the_dense_path_did(tmp_path):
    from napari_catrack.core.sources.imported import imported_result

    dense, res = _session_result(tmp_path)
    old = imported_result("suite2p", dense, res.raw, fps=5.0)  # a dense stack still accepted
    peak = dense.reshape(len(dense), -1).max(axis=1)
    norm = dense / np.where(peak > 0, peak, 1)[:, None, None]
    assert isinstance(res.footprints, Footprints) and isinstance(old.footprints, Footprints)
    np.testing.assert_array_equal(np.asarray(res.footprints), norm)  # bit-identical
    np.testing.assert_array_equal(np.asarray(old.footprints), norm)
    np.testing.assert_array_equal(res.components["area"], dense_area(norm))
    np.testing.assert_allclose(res.components[["y", "x"]], dense_centroids(norm), rtol=1e-6)
    pd.testing.assert_frame_equal(res.components, old.components)


def test_footprints_stay_sparse_through_the_session_the_sources_files_and_labels(
    tmp_path, monkeypatch
):
    _, res = _session_result(tmp_path)
    norm = np.asarray(res.footprints)
    _forbid_dense(monkeypatch)
    session = Session(tmp_path / "s.catrack.h5")
    record_sources(session, res, origin="suite2p", save=False)
    assert "footprints" not in session["sources"].arrays  # no dense stack in the session
    session.save()
    back = sources_from_session(Session.load(tmp_path / "s.catrack.h5"))
    assert isinstance(back.footprints, Footprints)
    assert (back.footprints.matrix != res.footprints.matrix).nnz == 0
    labels, _, _ = shown_labels(session, back)
    out = tmp_path / "out"
    write_sources(out, back.footprints, back.components, back.traces_table())
    files = read_sources(out)
    assert isinstance(files.footprints, Footprints)
    assert (files.footprints.matrix != res.footprints.matrix).nnz == 0
    monkeypatch.undo()
    np.testing.assert_array_equal(labels, dense_labels(norm, res.components["neuron_id"]))
    import h5py

    with h5py.File(out / "footprints.h5") as f:  # (K, Y, X) float32, as it always was
        assert f["footprints"].dtype == np.float32 and f["footprints"].shape == norm.shape
        np.testing.assert_array_equal(f["footprints"][()], norm)


def test_a_session_with_dense_footprints_still_opens(tmp_path):
    """Sessions written before session 14 hold the array `footprints` (K, Y, X)."""
    _, res = _session_result(tmp_path)
    norm = np.asarray(res.footprints)
    session = Session(tmp_path / "old.catrack.h5")
    record_sources(session, res, origin="suite2p", save=False)
    rec = session["sources"]
    session.record("sources", tables=dict(rec.tables), arrays={"footprints": norm},
                   attrs=dict(rec.attrs), params=dict(rec.params), save=True)  # fmt: skip
    old = Session.load(tmp_path / "old.catrack.h5", lazy_arrays=True)
    assert set(old["sources"].arrays) == {"footprints"}
    fp = session_footprints(old["sources"])
    assert isinstance(fp, Footprints)
    np.testing.assert_array_equal(np.asarray(fp), norm)
    back = sources_from_session(old)
    np.testing.assert_array_equal(shown_labels(old, back)[0], dense_labels(norm, res.components["neuron_id"]))  # fmt: skip
    # the export writes the same sources/footprints.h5 from a sparse session and an old one
    import h5py

    from napari_catrack.export.write import export_session

    record_sources(session, res, origin="suite2p", save=False)  # sparse again
    for name, s in (("old", old), ("new", session)):
        export_session(s, tmp_path / name, ["sources:footprints"])
        with h5py.File(tmp_path / name / "sources" / "footprints.h5") as f:
            np.testing.assert_array_equal(f["footprints"][()], norm)
    old.close()


def _write_roi_movie(tmp_path, n_rois=40, shape=(96, 128), frames=25):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 4000, (frames, *shape)).astype(np.uint16)
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, data, imagej=True, metadata={"axes": "TYX", "finterval": 0.5})
    rois = []
    for i in range(n_rois):
        y, x = rng.integers(2, shape[0] - 10), rng.integers(2, shape[1] - 10)
        kind = roifile.ROI_TYPE.OVAL if i % 2 else roifile.ROI_TYPE.RECT
        rois.append(roifile.ImagejRoi(roitype=kind, left=x, top=y, right=x + 7, bottom=y + 6, name=f"c{i}"))  # fmt: skip
    zip_path = tmp_path / "RoiSet.zip"
    roifile.roiwrite(zip_path, rois)
    return zip_path, movie, data


def test_imagej_import_keeps_footprints_sparse_and_equal_to_the_masks(tmp_path, monkeypatch):
    from napari_catrack.core.sources.params import NeuropilParams
    from napari_catrack.io.imagej_rois import imagej_masks, read_imagej

    zip_path, movie, data = _write_roi_movie(tmp_path)
    masks = imagej_masks(zip_path, data.shape[1:])[0]
    _forbid_dense(monkeypatch)
    res = read_imagej(zip_path, movie, neuropil=NeuropilParams(neuropil_coefficient=0.0))
    assert isinstance(res.footprints, Footprints)
    session = Session(tmp_path / "s.catrack.h5")
    record_sources(session, res, origin="imagej")
    monkeypatch.undo()
    fp = np.asarray(res.footprints)
    np.testing.assert_array_equal(fp, np.asarray(masks, np.float32))  # the masks, peak 1
    for k, m in enumerate(np.asarray(masks, bool)):  # raw = the mean inside each mask
        np.testing.assert_allclose(res.raw[k], data[:, m].astype(float).mean(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(res.components["area"], dense_area(fp))
    np.testing.assert_allclose(res.components[["y", "x"]], dense_centroids(fp), rtol=1e-9)


def test_extraction_keeps_footprints_sparse_and_measures_them_as_dense(monkeypatch):
    from napari_catrack.core.sources import SourcesParams, extract_sources
    from tests.core._twophoton_helpers import six_cell_movie

    cells = six_cell_movie()
    _forbid_dense(monkeypatch)
    res = extract_sources(cells.movie, SourcesParams(patch_px=40, patch_overlap_px=12), fps=cells.fps)  # fmt: skip
    assert isinstance(res.footprints, Footprints) and len(res.footprints) >= 4
    monkeypatch.undo()
    fp = np.asarray(res.footprints)
    assert fp.shape == (len(res.components), 64, 64)
    assert res.footprints.matrix.nnz == np.count_nonzero(fp) < fp.size / 4
    np.testing.assert_array_equal(res.components["area"], dense_area(fp))
    np.testing.assert_allclose(res.components[["y", "x"]], dense_centroids(fp), rtol=1e-6)
    ids = res.components["neuron_id"]
    np.testing.assert_array_equal(labels_from_footprints(res.footprints, ids), dense_labels(fp, ids))  # fmt: skip


def test_sima_rois_import_sparse_equals_the_dense_masks(tmp_path):
    from napari_catrack.io.imagej_rois import imagej_masks, read_imagej

    zip_path = shared_data("sima", "imageJ_ROIs.zip")
    movie = shared_data("sima", "example.tif")
    res = read_imagej(zip_path, movie, fps=2.0)
    masks = np.asarray(imagej_masks(zip_path, (128, 256))[0], np.float32)
    assert isinstance(res.footprints, Footprints)
    np.testing.assert_array_equal(np.asarray(res.footprints), masks)
    np.testing.assert_array_equal(res.components["area"], dense_area(masks))
    np.testing.assert_allclose(res.components[["y", "x"]], dense_centroids(masks), rtol=1e-9)


@pytest.mark.parametrize("tool", ["suite2p", "caiman"])
def test_tool_footprints_are_built_sparse_as_the_dense_assignment(tmp_path, tool):
    """suite2p `stat` pixel lists (a pixel listed twice keeps its last weight) and CaImAn's A
    (Fortran-order pixels) become the footprints the dense code made."""
    from scipy import sparse

    rng = np.random.default_rng(2)
    ly, lx, k = 20, 30, 4
    dense = np.zeros((k, ly, lx), np.float32)
    if tool == "suite2p":
        from napari_catrack.io.suite2p import read_suite2p

        folder = tmp_path / "plane0"
        folder.mkdir()
        stat = []
        for i in range(k):
            ypix = rng.integers(0, ly, 25)
            xpix = rng.integers(0, lx, 25)
            ypix[-1], xpix[-1] = ypix[0], xpix[0]  # a duplicate pixel
            lam = rng.random(25).astype(np.float32) + 0.1
            stat.append({"ypix": ypix, "xpix": xpix, "lam": lam})
            dense[i, ypix, xpix] = lam
        np.save(folder / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
        F = rng.random((k, 40)) + 1
        np.save(folder / "F.npy", F)
        np.save(folder / "Fneu.npy", F * 0.1)
        np.save(folder / "spks.npy", F * 0)
        np.save(folder / "iscell.npy", np.ones((k, 2)))
        np.save(folder / "ops.npy", {"fs": 10.0, "Ly": ly, "Lx": lx}, allow_pickle=True)
        res = read_suite2p(folder)
    else:
        from napari_catrack.io.caiman import _footprints

        A = sparse.random(ly * lx, k, density=0.1, format="csc", random_state=3, dtype=np.float64)  # fmt: skip
        for i in range(k):
            dense[i] = A[:, i].toarray().reshape((ly, lx), order="F")
        fp = _footprints(A, (ly, lx))
        np.testing.assert_array_equal(np.asarray(fp), dense)
        return
    peak = dense.reshape(k, -1).max(axis=1)
    np.testing.assert_array_equal(np.asarray(res.footprints), dense / peak[:, None, None])


def test_nwb_masks_from_sparse_footprints_equal_those_of_an_old_dense_session(tmp_path, monkeypatch):  # fmt: skip
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.nwb_ophys import read_masks
    from tests.core._session_helpers import NWB_METADATA, two_photon_session

    session, footprints = two_photon_session(tmp_path / "s")  # dense `footprints`, as before
    old = write_nwb(session, tmp_path / "old.nwb", metadata=NWB_METADATA)
    rec = session["sources"]
    sparse_arrays = Footprints.from_dense(rec.arrays["footprints"]).to_arrays()
    session.record("sources", tables=dict(rec.tables), arrays=sparse_arrays,
                   attrs=dict(rec.attrs), params=dict(rec.params), save=False)  # fmt: skip
    _forbid_dense(monkeypatch)
    new = write_nwb(session, tmp_path / "new.nwb", metadata=NWB_METADATA)
    monkeypatch.undo()
    masks = []
    for path in (old, new):
        with NWBHDF5IO(str(path), "r") as io:
            ps = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
            masks.append(np.asarray(read_masks(ps)))
    np.testing.assert_array_equal(masks[1], masks[0])
    np.testing.assert_array_equal(masks[0], footprints.astype(np.float32))


def test_footprints_h5_stores_only_the_tiles_cells_cover_and_old_files_still_read(tmp_path):
    """footprints.h5 since session 14: tiles of (1, 128, 128), only those a cell covers
    (reading gives the full stack, 0 elsewhere); a file of one (1, Y, X) chunk per component
    (before) reads into the same footprints."""
    import h5py

    from napari_catrack.io.sources import _read_sparse

    dense = np.zeros((3, 300, 400), np.float32)
    dense[0, 10:20, 10:22] = 1.0
    dense[1, 120:140, 250:262] = np.linspace(0.1, 1, 240).reshape(20, 12)  # spans 4 tiles
    fp = Footprints.from_dense(dense)  # component 2 empty
    with h5py.File(tmp_path / "f.h5", "w") as f:
        fp.write_h5(f, "footprints", compression="gzip", compression_opts=4)
        f.create_dataset("old", data=dense, chunks=(1, 300, 400), compression="gzip")
    with h5py.File(tmp_path / "f.h5") as f:
        ds = f["footprints"]
        assert ds.chunks == (1, 128, 128) and ds.id.get_num_chunks() == 1 + 4
        np.testing.assert_array_equal(ds[()], dense)
        for name in ("footprints", "old"):
            back = _read_sparse(f[name])
            assert back.shape == dense.shape and (back.matrix != fp.matrix).nnz == 0


def test_no_components_read_back_from_footprints_h5_and_an_old_dense_session(tmp_path):
    """A run that found no cells (K = 0): its footprints.h5 and an old session's empty dense
    array read back as 0 footprints (h14 review: `from_pixels` concatenated an empty list of
    values and raised ValueError, so `read_sources` and `session_footprints` failed)."""
    import h5py

    from napari_catrack.io.sources import _read_sparse

    empty = Footprints.from_dense(np.zeros((0, 20, 30), np.float32))
    assert empty.shape == (0, 20, 30)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        empty.write_h5(f, "footprints", compression="gzip", compression_opts=4)
    with h5py.File(tmp_path / "f.h5") as f:
        assert _read_sparse(f["footprints"]).shape == (0, 20, 30)
    session = Session()
    session.record("sources", arrays={"footprints": np.zeros((0, 20, 30), np.float32)})
    back = session_footprints(session["sources"])
    assert back.shape == (0, 20, 30) and back.matrix.nnz == 0


def test_a_contiguous_footprints_dataset_reads_as_the_chunked_one(tmp_path):
    """footprints.h5 written by another program without chunks (h5py's default: contiguous):
    h5py's chunk query raises RuntimeError there, which the fallback did not catch."""
    import h5py

    from napari_catrack.io.sources import _read_sparse

    dense = np.zeros((3, 20, 30), np.float32)
    dense[0, 2:5, 3:6] = 1.0
    dense[2, 19, 29] = 0.5  # the frame's corner; component 1 empty
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f.create_dataset("footprints", data=dense)  # contiguous
    with h5py.File(tmp_path / "f.h5") as f:
        assert f["footprints"].chunks is None
        back = _read_sparse(f["footprints"])
    np.testing.assert_array_equal(np.asarray(back), dense)
