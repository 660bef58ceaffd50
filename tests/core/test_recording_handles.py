"""A recording reopened by a session (or File > Open) holds no file handle it does not need.

The napari layers of a reopened session kept the TIFF's handle open until garbage collection:
`ResourceWarning: unclosed file` in the GUI tests under `python -X dev`. An uncompressed TIFF is
read through a memory map, which needs no handle: it is closed when the file is opened. A
compressed one is read through the handle, which `Recording.close` closes.
"""

from __future__ import annotations

import gc
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_catrack.io.recording import open_recording
from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.session import Session
from napari_catrack.session_layers import session_layers

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")


def _open_handles(path: Path) -> int:
    """File descriptors of this process on `path` (a memory map holds one of its own)."""
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == target
        except OSError:
            continue
    return count


def _unclosed(caught, path: Path) -> list:
    """ResourceWarnings about `path` (garbage of earlier tests may warn about its own files)."""
    return [
        w for w in caught if issubclass(w.category, ResourceWarning) and str(path) in str(w.message)
    ]


def _movie(tmp_path: Path) -> Path:
    frames = np.random.default_rng(0).integers(0, 500, (5, 16, 16)).astype(np.uint16)
    return write_movie_tiff(tmp_path / "movie.tif", frames, fps=5.0)


def test_a_reopened_session_leaves_no_handle_on_its_recording(tmp_path):
    movie = _movie(tmp_path)
    session = Session(tmp_path / "movie.catrack.h5", autosave=False)
    rec = open_recording(movie)
    session.set_recording(rec.path, rec.options, rec.summary())
    rec.close()
    session.save()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        layers = session_layers(Session.load(session.path))
        np.testing.assert_array_equal(np.asarray(layers[0][0][2]), rec.green[2])  # still reads
        del layers
        gc.collect()
    assert not _unclosed(caught, movie)  # before: 2 (its handle, and that of its buffer)


def test_file_open_of_a_tiff_leaves_no_handle(tmp_path):
    from napari_catrack._reader import read_recording

    movie = _movie(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        layers = read_recording(str(movie))
        assert np.asarray(layers[0][0][4]).shape == (16, 16)
        del layers
        gc.collect()
    assert not _unclosed(caught, movie)


@linux_only
def test_a_compressed_tiff_keeps_its_handle_until_close(tmp_path):
    """Compressed pages are read through the handle: kept open, closed by `Recording.close`."""
    import tifffile

    frames = np.arange(4 * 16 * 16, dtype=np.uint16).reshape(4, 16, 16)
    path = tmp_path / "zipped.tif"
    tifffile.imwrite(path, frames, compression="zlib", imagej=True, metadata={"axes": "TYX"})
    rec = open_recording(path)
    assert _open_handles(path) == 1
    np.testing.assert_array_equal(np.asarray(rec.green[3]), frames[3])
    rec.close()
    assert _open_handles(path) == 0


def test_a_handle_that_fails_to_close_neither_keeps_the_others_open_nor_fails_the_job(caplog):
    """Review of h13 (handles): the job's end (`start_job`'s `finished`) first releases the
    files it held; one `close()` raising skipped the recording's other handles and the rest of
    `finished` (buttons left disabled, `job.finished` never set). Each handle is closed on its
    own, a failure logged."""
    from napari_catrack import handles

    closed = []

    def broken() -> None:
        raise OSError("the share went away")

    closing = handles._Closing([broken, lambda: closed.append("red")])
    with handles._LOCK:
        handles._OPEN.add(closing)
    release = handles.hold_open()  # a job holds it
    closing.close_when_free()  # its last layer goes meanwhile: closed when the job ends
    assert not closed
    release()  # must not raise
    assert closed == ["red"] and closing.closed and closing not in handles._OPEN
    assert "the share went away" in caplog.text
