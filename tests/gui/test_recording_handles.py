"""A recording read through a file handle (a compressed TIFF) and shown in napari is closed when
its last layer is removed (closing the viewer removes them all), not at garbage collection
(`ResourceWarning: unclosed file`); File > Open, a reopened session and the loader alike."""

from __future__ import annotations

import gc
import sys
import warnings

import numpy as np
import pytest

from tests.core.test_recording_handles import _open_handles, _unclosed

pytestmark = [
    pytest.mark.gui,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd"),
]
PLUGIN = "napari-catrack"


@pytest.fixture
def zipped(tmp_path):
    import tifffile

    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    path = tmp_path / "zipped.tif"
    tifffile.imwrite(path, frames, compression="zlib", imagej=True, metadata={"axes": "TYX"})
    return path


@pytest.mark.parametrize("route", ["file", "session", "loader"])
def test_a_recordings_handle_is_closed_with_its_last_layer(make_napari_viewer, zipped, route):
    from napari_catrack.io.recording import open_recording
    from napari_catrack.session import Session

    viewer = make_napari_viewer()
    other = viewer.add_image(np.zeros((4, 16, 16)), name="other")
    if route == "session":
        rec = open_recording(zipped)
        session = Session(zipped.with_name("zipped.catrack.h5"), autosave=False)
        session.set_recording(rec.path, rec.options, rec.summary())
        rec.close()
        session.save()
        viewer.open(str(session.path), plugin=PLUGIN)
    elif route == "file":
        viewer.open(str(zipped), plugin=PLUGIN)
    else:
        from napari_catrack.widgets.loader import LoaderWidget

        loader = LoaderWidget(viewer)
        loader.path.value = str(zipped)
        loader.open_recording()
    layer = viewer.layers["zipped"]
    assert _open_handles(zipped) == 1  # read on demand through it
    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    viewer.layers.remove(other)  # another layer's removal leaves it open (and readable)
    assert _open_handles(zipped) == 1
    np.testing.assert_array_equal(np.asarray(layer.data[3]), frames[3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        viewer.layers.remove(layer)
        assert _open_handles(zipped) == 0  # before: open until the layer was collected
        del layer
        gc.collect()
    assert not _unclosed(caught, zipped)


def test_closing_the_viewer_closes_the_recording(make_napari_viewer, zipped):
    viewer = make_napari_viewer()
    viewer.open(str(zipped), plugin=PLUGIN)
    assert _open_handles(zipped) == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        viewer.layers.clear()  # what Viewer.close does first
        gc.collect()
    assert _open_handles(zipped) == 0
    assert not _unclosed(caught, zipped)


@pytest.fixture
def in_hdf5(tmp_path):
    import h5py

    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    path = tmp_path / "movie.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=frames, chunks=(1, 16, 16), compression="gzip")
    return path


@pytest.mark.parametrize("kind", ["tiff", "hdf5"])
def test_a_job_reading_a_recording_keeps_it_open_until_the_job_ends(
    make_napari_viewer, qtbot, zipped, in_hdf5, kind
):
    """h13 item 1: a job still reading a recording whose layer the user removed failed (the
    handle was closed with its last layer); now it finishes with the right sum and the file is
    closed when it ends."""
    import threading

    from napari_catrack.widgets._worker import start_job

    path = zipped if kind == "tiff" else in_hdf5
    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    (layer,) = list(viewer.layers)
    data = layer.data
    go = threading.Event()

    def work(job):
        assert go.wait(30)
        return int(np.asarray(data[0:4].compute()).astype(np.int64).sum())

    results = []
    job = start_job(None, work, what="reading", on_done=results.append)
    viewer.layers.remove(layer)
    assert _open_handles(path) == 1  # held open by the running job
    go.set()
    qtbot.waitUntil(lambda: not job.running, timeout=30_000)
    assert job.outcome == "done" and results == [int(frames.astype(np.int64).sum())]
    assert _open_handles(path) == 0  # closed when the job ended


def test_a_recording_napari_never_shows_is_closed_once_its_arrays_are_garbage(
    make_napari_viewer, zipped
):
    """h13 item 2: the reader's layer data that napari never added (discarded, or an error
    while adding) kept its file open until the viewer closed (its event connections held the
    recording); now it is closed as soon as the arrays are garbage."""
    from napari_catrack._reader import read_recording

    viewer = make_napari_viewer()
    layers = read_recording(str(zipped))
    assert len(layers) == 1 and len(viewer.layers) == 0
    assert _open_handles(zipped) == 1  # readable while the data is held
    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    np.testing.assert_array_equal(np.asarray(layers[0][0][2]), frames[2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        del layers
        assert _open_handles(zipped) == 0  # at once: no garbage collection needed
        gc.collect()
    assert not _unclosed(caught, zipped)
