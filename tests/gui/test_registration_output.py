"""Where the Motion correction widget writes the registered movie: a path box (default beside the
recording), checked before any work, recorded in the session. Before, it always wrote
`<name>_registered.tif` beside the recording, replacing any file of that name unasked."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_catrack.session import session_for_viewer
from napari_catrack.synthetic import make_two_photon_movie
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
REG = "Motion correction"


@pytest.fixture
def movie_file(tmp_path):
    from napari_catrack.io.tiff import write_movie_tiff

    mov = make_two_photon_movie(30, (48, 40), n_cells=4, seed=3, silent_fraction=0)
    return write_movie_tiff(tmp_path / "tp.tif", mov.movie.astype(np.uint16), fps=30.0)


def test_the_user_chooses_where_the_registered_movie_goes(
    make_napari_viewer, qtbot, tmp_path, movie_file, monkeypatch
):
    viewer = make_napari_viewer()
    viewer.open(str(movie_file), plugin=PLUGIN)
    reg = viewer.window.add_plugin_dock_widget(PLUGIN, REG)[1]
    reg.form.control("mode").setCurrentText("rigid")
    assert reg.output.text() == str(tmp_path / "tp_registered.tif")  # the default, shown
    session = session_for_viewer(viewer)
    asked: list = []
    monkeypatch.setattr(reg, "_confirm_replace", lambda path: asked.append(path) or answer[0])
    answer = [False]

    # a chosen path elsewhere (its folder is made); recorded in the session, shown as the layer
    chosen = tmp_path / "elsewhere" / "moved.tif"
    reg.output.setText(str(chosen))
    wait_job(qtbot, reg.run(), timeout=120000)
    assert chosen.is_file() and not (tmp_path / "tp_registered.tif").exists()
    assert session.resolve_stored_path(session["registration"].attrs["output"]) == str(chosen)
    assert reg.registered_layer().metadata["catrack"]["path"] == str(chosen)
    assert tifffile.imread(chosen).shape == (30, 48, 40)
    # running again into the session's own registered movie replaces it without asking
    wait_job(qtbot, reg.run(), timeout=120000)
    assert asked == []

    # refused before any work, in one line, nothing written
    before = movie_file.read_bytes()
    for text, said in [
        (str(movie_file), "would overwrite the input recording"),
        (str(tmp_path / "tp.catrack.h5"), "save the registered movie as .tif, .tiff or .zarr"),
        (str(tmp_path / "movie.png"), "not 'movie.png'"),
        ("", "choose where to save the registered movie"),
    ]:
        reg.output.setText(text)
        assert reg.run() is None
        assert said in reg.status.text(), (text, reg.status.text())
    assert movie_file.read_bytes() == before
    assert not (tmp_path / "movie.png").exists()

    # an existing file of someone else's: asked; "no" keeps it, "yes" replaces it
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, np.zeros((2, 4, 4), np.uint8))
    reg.output.setText("other.tif")  # relative: in the recording's folder
    assert reg.run() is None and asked == [other]
    assert "not registered: other.tif kept as it was" in reg.status.text()
    assert tifffile.imread(other).shape == (2, 4, 4)
    answer[0] = True
    wait_job(qtbot, reg.run(), timeout=120000)
    assert tifffile.imread(other).shape == (30, 48, 40)
    assert session.resolve_stored_path(session["registration"].attrs["output"]) == str(other)
