"""napari opens a recording and its session from a folder with spaces, accents and Chinese
(docs/installation.md "Windows and macOS"; the commands: tests/core/test_portability.py)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.session import Session, session_for_viewer

pytestmark = pytest.mark.gui

PLUGIN = "napari-catrack"


def test_the_reader_opens_a_recording_and_its_session_from_a_chinese_folder(
    make_napari_viewer, tmp_path
):
    folder = tmp_path / "数据 é" / "Wurm ä 1"
    folder.mkdir(parents=True)
    movie = np.random.default_rng(0).integers(0, 999, (12, 16, 20), dtype=np.uint16)
    rec = write_movie_tiff(folder / "记录 ß.tif", movie, movie[:, ::-1], fps=5.0)
    viewer = make_napari_viewer()
    layers = viewer.open(str(rec), plugin=PLUGIN)
    assert len(layers) == 2
    np.testing.assert_array_equal(np.asarray(layers[0].data), movie)
    session = session_for_viewer(viewer)
    assert session.path == folder / "记录 ß.catrack.h5"
    session.record("settings", attrs={"fps": 5.0, "note": "Zoë 中"})  # autosaves beside it
    viewer.layers.clear()
    again = make_napari_viewer()
    layers = again.open(str(session.path), plugin=PLUGIN)
    assert [np.asarray(x.data).shape for x in layers[:2]] == [movie.shape, movie.shape]
    assert session_for_viewer(again)["settings"].attrs["note"] == "Zoë 中"
    assert Session.load(session.path).recording["path"] == str(rec)
