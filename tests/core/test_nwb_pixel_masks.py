"""NWB ROIs as `pixel_mask` (since session 14): the masks written equal the session's sparse
footprints pixel for pixel and weight for weight, with no frame per ROI; the file validates; an
older napari-catrack file with `image_mask`s still reads and is still replaced by an export."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.sources.footprints import Footprints
from tests.core._session_helpers import NWB_METADATA, inspect_problems, two_photon_session

pytest.importorskip("pynwb")


def _footprints(shape=(20, 24)) -> Footprints:
    """Four footprints with distinct weights: one on the frame's corners and edges (row 0, the
    last row and column), one a single pixel, one empty, one a blob."""
    h, w = shape
    dense = np.zeros((4, h, w), np.float32)
    dense[0, 0, :] = np.linspace(0.1, 1.0, w)  # first row
    dense[0, :, w - 1] = np.linspace(1.0, 0.2, h)  # last column
    dense[0, h - 1, 0] = 0.37
    dense[1, 7, 11] = 0.5
    yy, xx = np.mgrid[:h, :w]
    blob = np.exp(-((yy - 14.3) ** 2 + (xx - 6.7) ** 2) / 5.0).astype(np.float32)
    dense[3] = np.where(blob > 0.05, blob, 0)
    return Footprints.from_dense(dense)  # component 2 has no pixel


def _session_with(tmp_path, fp: Footprints):
    session, _ = two_photon_session(tmp_path / "s")
    rec = session["sources"]
    session.record("sources", tables=dict(rec.tables), arrays=fp.to_arrays(),
                   attrs=dict(rec.attrs), params=dict(rec.params), save=False)  # fmt: skip
    return session


def test_nwb_pixel_masks_equal_the_footprints_without_a_frame_per_roi(tmp_path, monkeypatch):
    from pynwb import NWBHDF5IO, validate

    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.nwb_ophys import read_masks

    fp = _footprints()
    session = _session_with(tmp_path, fp)

    def refuse(self, *a, **k):
        raise AssertionError("a footprint was made into a frame")

    for name in ("__array__", "toarray", "component"):  # the old export made a frame per ROI
        monkeypatch.setattr(Footprints, name, refuse)
    path = write_nwb(session, tmp_path / "tp.nwb", metadata=NWB_METADATA)
    monkeypatch.undo()
    assert inspect_problems(path) == []
    with NWBHDF5IO(str(path), "r") as io:
        errors = validate(io=io)
        assert not errors, errors
        ps = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert "image_mask" not in ps.colnames and len(ps) == 4
        assert list(ps["neuron_id"][:]) == ["1", "2", "3", "4"]
        for k in range(4):  # entry by entry: (row, column, weight) of every non-zero pixel
            want = fp[k]
            rows, cols = np.nonzero(want)
            got = np.asarray(ps["pixel_mask"][k])
            assert got.dtype.names == ("x", "y", "weight")
            assert len(got) == rows.size  # only non-zeros, each once (component 2: none)
            np.testing.assert_array_equal(got["x"], rows)
            np.testing.assert_array_equal(got["y"], cols)
            np.testing.assert_array_equal(got["weight"], want[rows, cols])  # float32, exact
        back = read_masks(ps)
        assert back.shape == (4, 20, 24)
        np.testing.assert_array_equal(np.asarray(back), np.asarray(fp))


def _old_image_mask_file(path, dense: np.ndarray) -> None:
    """An NWB file as napari-catrack wrote it before session 14: one image_mask per ROI."""
    from datetime import UTC, datetime

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import ImageSegmentation, OpticalChannel

    nwb = NWBFile(session_description="old", identifier="old-1",
                  session_start_time=datetime(2024, 5, 1, tzinfo=UTC),
                  source_script="napari-catrack 0.13", source_script_file_name="catrack")  # fmt: skip
    device = nwb.create_device(name="microscope")
    plane = nwb.create_imaging_plane(
        name="ImagingPlane", optical_channel=OpticalChannel(name="green", description="green", emission_lambda=525.0),
        description="plane", device=device, excitation_lambda=920.0, indicator="GCaMP6s",
        location="cortex",
    )  # fmt: skip
    ophys = nwb.create_processing_module("ophys", "optical physiology")
    seg = ImageSegmentation()
    ophys.add(seg)
    ps = seg.create_plane_segmentation(description="source footprints; image_mask[row, column]",
                                       imaging_plane=plane, name="PlaneSegmentation")  # fmt: skip
    ps.add_column("neuron_id", "neuron id used by every napari-catrack table")
    for k, image in enumerate(dense):
        ps.add_roi(image_mask=image, neuron_id=str(k + 1))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_an_old_image_mask_file_still_reads_and_an_export_replaces_it(tmp_path):
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.nwb_ophys import read_masks

    fp = _footprints()
    dense = np.asarray(fp)
    path = tmp_path / "old.nwb"
    _old_image_mask_file(path, dense)
    with NWBHDF5IO(str(path), "r") as io:
        ps = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert "image_mask" in ps.colnames
        back = read_masks(ps)
    assert isinstance(back, Footprints) and back.shape == dense.shape
    np.testing.assert_array_equal(np.asarray(back), dense)
    # an export over it: recognised as ours (not the user's data), replaced, now pixel_mask
    write_nwb(_session_with(tmp_path, fp), path, metadata=NWB_METADATA)
    with NWBHDF5IO(str(path), "r") as io:
        ps = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert "pixel_mask" in ps.colnames and "image_mask" not in ps.colnames
        np.testing.assert_array_equal(np.asarray(read_masks(ps)), dense)


def test_a_pixel_listed_twice_is_written_once_with_its_last_value():
    """Footprints whose matrix lists a pixel twice (a suite2p `stat` can) are written as
    `Footprints.component` reads them, the last value winning, and each pixel once."""
    from scipy import sparse

    from napari_catrack.io.nwb_ophys import _pixel_mask_columns

    rows = np.array([5, 3, 5, 7, 2, 2], np.int64)  # pixel 5 twice in ROI 0, pixel 2 in ROI 1
    data = np.array([1, 2, 3, 4, 5, 6], np.float32)
    fp = Footprints(sparse.csc_matrix((data, rows, np.array([0, 4, 6])), shape=(12, 2)), (3, 4))
    column, index = _pixel_mask_columns(fp)
    masks, ends = np.asarray(column.data.data), np.asarray(index.data)
    assert ends.tolist() == [3, 4]
    for k, (a, b) in enumerate([(0, 3), (3, 4)]):
        image = np.zeros((3, 4), np.float32)
        image[masks["x"][a:b], masks["y"][a:b]] = masks["weight"][a:b]
        np.testing.assert_array_equal(image, fp[k])
    assert masks["weight"].tolist() == [2, 3, 4, 6]
