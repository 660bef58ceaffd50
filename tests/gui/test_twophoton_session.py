"""The two-photon widgets across a reopened session and with imported cells (GUI review 8, items
7 and 8; two-photon review 8, TP 2, TP 5, TP 6): the registered movie comes back and Sources
uses it; the thresholds shown are the ones in force; an import keeps its tool's verdicts and
frame rate, and one of another movie is refused or said."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_catrack.core.sources import EvaluationParams
from napari_catrack.core.sources.evaluation import evaluate
from napari_catrack.core.sources.imported import imported_result
from napari_catrack.core.sources.session import status_of
from napari_catrack.session import Session, session_for_viewer
from napari_catrack.synthetic import make_two_photon_movie
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
REG = "Motion correction"
SRC = "Sources (two-photon)"
T, SHAPE, FPS = 60, (48, 40), 30.0


@pytest.fixture
def movie_file(tmp_path):
    from napari_catrack.io.tiff import write_movie_tiff

    mov = make_two_photon_movie(T, SHAPE, n_cells=4, seed=3, silent_fraction=0)
    return write_movie_tiff(tmp_path / "tp.tif", mov.movie.astype(np.uint16), fps=FPS)


def _cells(tool="suite2p", t=T, shape=SHAPE, fps=15.0, k=5):
    rng = np.random.default_rng(0)
    fp = np.zeros((k, *shape), np.float32)
    for i in range(k):
        fp[i, 1 + 8 * i : 7 + 8 * i, 3:9] = 1.0  # 36 px each
    raw = 100 + rng.normal(0, 1, (k, t))
    raw[:, 20:30] += np.linspace(3, 40, k)[:, None]  # SNRs from low to high
    return imported_result(tool, fp, raw, fps=fps, accepted=np.array([1, 0, 1, 0, 1], bool)[:k])


def _dock(viewer, name):
    return viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]


def test_registered_movie_and_thresholds_come_back_with_the_session(
    make_napari_viewer, qtbot, tmp_path, movie_file
):
    viewer = make_napari_viewer()
    viewer.open(str(movie_file), plugin=PLUGIN)
    reg, src = _dock(viewer, REG), _dock(viewer, SRC)
    reg.form.control("mode").setCurrentText("rigid")
    wait_job(qtbot, reg.run(), timeout=120000)
    registered = reg.registered_layer()
    assert registered is not None and src.movie.currentText() == registered.name
    session = session_for_viewer(viewer)
    assert session.resolve_stored_path(session["registration"].attrs["output"]) == str(
        tmp_path / "tp_registered.tif"
    )
    cells = _cells(fps=FPS)  # as if extracted from the registered movie
    src._show(replace(cells, components=evaluate(cells.components)), origin="extracted")
    src.evaluation.control("min_snr").setValue(8.0)  # the user's threshold
    count = src.count.text()
    out = tmp_path / "work.catrack.h5"
    viewer.layers.save(str(out), plugin=PLUGIN)
    assert Session.load(out)["sources"].params["evaluation"]["min_snr"] == 8.0

    fresh = make_napari_viewer()
    fresh.open(str(out), plugin=PLUGIN)
    back = [x for x in fresh.layers if x.metadata.get("catrack", {}).get("role") == "registered"]
    assert [x.name for x in back] == [registered.name]  # was: gone after reopening
    assert back[0].data.shape == (T, *SHAPE)
    reg2, src2 = _dock(fresh, REG), _dock(fresh, SRC)
    assert src2.movie.currentText() == registered.name  # was: the raw movie
    assert reg2.show_registered.isEnabled() and "registered" in reg2.status.text()
    assert "median correlation with the template" in reg2.status.text()  # was: only the name
    # the thresholds in force are shown (was: the defaults, min SNR 3, beside verdicts of 8)
    assert src2.evaluation.params().min_snr == 8.0 and src2.count.text() == count
    src2.evaluation.control("min_r").setValue(0.51)  # touching one box changes only that one
    comps = session_for_viewer(fresh)["sources"].tables["components"]
    expected = evaluate(comps, EvaluationParams(min_snr=8.0, min_r=0.51))["accepted"].sum()
    assert src2.count.text().startswith(f"{expected} of 5")
    assert session_for_viewer(fresh)["sources"].params["evaluation"]["min_snr"] == 8.0
    # closing and docking Sources again shows them too
    fresh.window.remove_dock_widget(src2.parent() if src2.parent() is not None else src2)
    assert _dock(fresh, SRC).evaluation.params().min_snr == 8.0


def test_an_import_keeps_its_tools_verdicts_rate_and_movie(
    make_napari_viewer, qtbot, movie_file, monkeypatch
):
    import napari_catrack.widgets.sources as sources_widget

    made = {}

    def fake_reader(tool, path, fps=None, **_):  # the readers: `rate = fps or <stored fs>`
        stored = None if tool == "minian" else 15.0  # Minian stores no rate
        return replace(_cells(tool, fps=fps or 15.0, **made), tool_fps=stored)

    monkeypatch.setattr(sources_widget, "read_tool_output", fake_reader)
    viewer = make_napari_viewer()
    viewer.open(str(movie_file), plugin=PLUGIN)
    src = _dock(viewer, SRC)
    session = session_for_viewer(viewer)

    # another movie's cells: refused with one line, nothing recorded
    made.update(shape=(40, 48))
    wait_job(qtbot, src.run_import("suite2p", "x"))
    assert "sources" not in session
    assert "footprints are 40x48 px" in src.status.text() and "another movie" in src.status.text()
    # traces of another length: kept, and said
    made.update(shape=SHAPE, t=2 * T)
    wait_job(qtbot, src.run_import("suite2p", "x"))
    assert "traces have 120 frames but the session's movie has 60" in src.status.text()

    # one rate in force (verify N1, was: sources and traces at suite2p's 15 Hz while every
    # widget and Detect used the recording's 30): the import is recorded at the recording's
    # rate, and the status line and a warning name suite2p's and say how to change it
    made.clear()
    wait_job(qtbot, src.run_import("suite2p", "x"))
    assert session["sources"].attrs["fps"] == 30.0 and src.ctx.fps() == 30.0
    first = src.cells.item(0).text()  # suite2p gives no r-value: it read "r nan"
    assert "r n/a" in first and "nan" not in first, first
    times = session["traces"].tables["traces"].groupby("neuron_id")["time_s"].apply(list).iloc[0]
    assert np.allclose(np.diff(times), 1 / 30.0)
    text = src.status.text()
    assert "suite2p stored a frame rate of 15 Hz but 30 Hz (from the recording) is in force" in text
    assert "type 15 in 'frame rate'" in text and "import again" in text

    ids = session["sources"].tables["components"]["neuron_id"]
    tool = [s for s, _ in status_of(session, ids)]
    assert tool == ["unverified", "rejected", "unverified", "rejected", "unverified"]
    assert src.count.text().startswith("3 of 5") and "suite2p's own verdicts" in src.count.text()
    src.evaluation.control("min_snr").setValue(2.0)  # was: every cell rejected, "r-value nan"
    assert [s for s, _ in status_of(session, ids)] == tool
    assert src.rejudge.isEnabled() and not src.rejudge.isChecked()
    src.evaluation.control("min_snr").setValue(1000.0)
    qtbot.mouseClick(src.rejudge, Qt.LeftButton)  # "re-judge imported cells with these thresholds"
    assert src.rejudge.isChecked()
    assert src.count.text().startswith("0 of 5") and "r-value not measured" in src.count.text()
    assert all("r-value" not in r for _, r in status_of(session, ids))
    qtbot.mouseClick(src.rejudge, Qt.LeftButton)  # untick: suite2p's verdicts come back
    assert [s for s, _ in status_of(session, ids)] == tool
    assert session["sources"].attrs["origin"] == "suite2p"

    # Minian stores no frame rate: the one in force, said
    wait_job(qtbot, src.run_import("minian", "x"))
    assert session["sources"].attrs["fps"] == 30.0
    assert "Minian stored no frame rate: the 30 Hz in force (from the recording) is used" in src.status.text()  # fmt: skip


def test_an_import_sets_the_rate_in_force_only_when_none_is_known(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """verify N1: a movie with no rate: the tool's stored rate becomes the shared one."""
    import napari_catrack.widgets.sources as sources_widget
    from napari_catrack.io.tiff import write_movie_tiff

    monkeypatch.setattr(sources_widget, "read_tool_output", lambda tool, path, fps=None, **_: _cells(tool, fps=fps or 15.0))  # fmt: skip
    mov = make_two_photon_movie(T, SHAPE, n_cells=4, seed=3, silent_fraction=0)
    viewer = make_napari_viewer()
    viewer.open(str(write_movie_tiff(tmp_path / "norate.tif", mov.movie.astype(np.uint16))), plugin=PLUGIN)  # fmt: skip
    src = _dock(viewer, SRC)
    assert src.ctx.fps() is None
    wait_job(qtbot, src.run_import("suite2p", "x"))
    session = session_for_viewer(viewer)
    assert src.ctx.fps() == 15.0 and src.ctx.fps_source() == "from the suite2p import"
    assert session["sources"].attrs["fps"] == 15.0 and src.fps.value() == 15.0
    assert "the frame rate in force is now suite2p's 15 Hz" in src.status.text()
    tw = _dock(viewer, "Transients curation")
    assert tw.fps.value() == 15.0  # every widget shows it


def test_the_minian_dialog_says_how_to_choose_a_folder(make_napari_viewer, monkeypatch):
    """Minian's import opened a file dialog titled "minian results", in which the usual
    save_minian folder cannot be chosen; the folder dialog came only after a cancel, unsaid."""
    from qtpy.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda _w, title, *a: asked.append(title) or ("", "")))  # fmt: skip
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda _w, title, *a: asked.append(title) or ""))  # fmt: skip
    src = _dock(make_napari_viewer(), SRC)
    src.tool.setCurrentText("minian")
    src._ask_import()
    assert len(asked) == 2 and "cancel to choose the save_minian folder" in asked[0], asked


def test_file_open_of_a_volume_says_its_planes_were_projected(make_napari_viewer, tmp_path, monkeypatch):  # fmt: skip
    """File > Open of a multi-plane (TZYX) movie max-projected its planes without a word, and
    the two-photon widgets then registered and extracted cells of every depth in one image."""
    import napari.utils.notifications as notifications
    import tifffile

    said = []
    monkeypatch.setattr(notifications, "show_warning", lambda msg: said.append(msg))
    movie = make_two_photon_movie(10, (32, 32), n_cells=3, seed=3).movie.astype(np.uint16)
    tifffile.imwrite(tmp_path / "vol.tif", np.stack([movie, movie], axis=1), imagej=True,
                     metadata={"axes": "TZYX"})  # fmt: skip
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "vol.tif"), plugin=PLUGIN)
    assert viewer.layers[0].data.shape == (10, 32, 32)
    assert any("vol.tif: 2 planes, max projection" in m for m in said), said
    said.clear()
    tifffile.imwrite(tmp_path / "flat.tif", movie)
    viewer.open(str(tmp_path / "flat.tif"), plugin=PLUGIN)
    assert not any("projection" in m for m in said), said


def test_a_tools_cell_0_is_shown_selected_deleted_and_put_back(
    make_napari_viewer, qtbot, movie_file, monkeypatch
):
    """suite2p, CaImAn and Minian number cells from 0 and `neuron_id` keeps that, but label 0 is
    a Labels layer's background: the first cell was invisible and could not be edited. The layer
    now shows id + 1 (its offset in the layer's metadata) and maps back for every edit."""
    import napari_catrack.widgets.sources as sources_widget

    monkeypatch.setattr(
        sources_widget, "read_tool_output", lambda tool, path, fps=None, **_: _cells(tool)
    )
    viewer = make_napari_viewer()
    viewer.open(str(movie_file), plugin=PLUGIN)
    src = _dock(viewer, SRC)
    session = session_for_viewer(viewer)
    wait_job(qtbot, src.run_import("suite2p", "x"))
    ids = session["sources"].tables["components"]["neuron_id"].astype(int).tolist()
    assert ids == [0, 1, 2, 3, 4]
    layer = viewer.layers["footprints"]
    assert layer.metadata["catrack"]["label_offset"] == 1
    assert sorted(int(v) for v in np.unique(layer.data) if v) == [1, 2, 3, 4, 5]  # all 5 shown
    assert (layer.data[1:7, 3:9] == 1).all()  # cell 0's footprint, as label 1
    # selecting cell 0 in the list selects its label
    row = next(i for i in range(src.cells.count()) if src.cells.item(i).data(256) == "0")
    src.cells.setCurrentRow(row)
    assert layer.selected_label == 1
    # erasing cell 0's label rejects cell 0 (not cell 1), Accept paints it back as label 1
    layer.fill((3, 5), 0)
    assert not (layer.data == 1).any()
    assert status_of(session, ["0"])[0][1] == "deleted in the footprints layer"
    assert status_of(session, ["1"])[0][1] != "deleted in the footprints layer"
    src.cells.setCurrentRow(row)
    src.accept_button.click()
    assert status_of(session, ["0"])[0][0] == "accepted"
    assert (layer.data[1:7, 3:9] == 1).all()


def test_a_reopened_sessions_footprints_still_delete_a_cell_and_say_its_tool(
    make_napari_viewer, qtbot, tmp_path, movie_file, monkeypatch
):
    """verify h12: a saved session brings its 'footprints' layer back through File > Open; the
    Sources widget docked then reused that layer without listening to it, so erasing a cell there
    rejected nothing; and the restored import's status said '(extracted)', not its tool."""
    import napari_catrack.widgets.sources as sources_widget

    monkeypatch.setattr(
        sources_widget, "read_tool_output", lambda tool, path, fps=None, **_: _cells(tool)
    )
    viewer = make_napari_viewer()
    viewer.open(str(movie_file), plugin=PLUGIN)
    wait_job(qtbot, _dock(viewer, SRC).run_import("suite2p", "x"))
    out = tmp_path / "s2p.catrack.h5"
    viewer.layers.save(str(out), plugin=PLUGIN)

    fresh = make_napari_viewer()
    fresh.open(str(out), plugin=PLUGIN)
    layer = fresh.layers["footprints"]  # the session's own layer, before any widget
    src = _dock(fresh, SRC)
    assert fresh.layers["footprints"] is layer  # reused, no second copy
    assert "5 components (suite2p)" in src.status.text(), src.status.text()
    session = session_for_viewer(fresh)
    with layer.block_history():  # as the fill bucket's mouse stroke does
        layer.fill((3, 5), 0)  # cell 0, shown as label 1
    assert not (layer.data == 1).any()
    assert status_of(session, ["0"])[0] == ("rejected", "deleted in the footprints layer")
    assert "deleted (rejected): 0" in src.status.text()
    src.cells.setCurrentRow(0)
    src.accept_button.click()
    assert status_of(session, ["0"])[0][0] == "accepted" and (layer.data[1:7, 3:9] == 1).all()


def test_a_session_of_imported_cells_alone_opens_with_its_footprints(
    make_napari_viewer, qtbot, tmp_path
):
    """verify h12: `catrack import suite2p OUT -o DIR --session S` without a movie writes a
    session with no recording; File > Open of S failed with napari's "Reader 'napari-catrack'
    ... returned no data". It now opens with the cells ('footprints', cell 0 as label 1, a cell
    deleted in the layer left out), which the Sources widget reuses."""
    from napari_catrack.core.sources.session import record_sources, set_verdict, sync_deleted_labels

    session = Session(tmp_path / "s2p.catrack.h5")
    record_sources(session, _cells(), origin="suite2p")
    sync_deleted_labels(session, [0, 1, 2, 3, 4], [0, 1, 2, 4])  # cell 3 erased in the layer
    set_verdict(session, "1", "rejected", "dim")
    session.save()
    viewer = make_napari_viewer()
    viewer.open(str(session.path), plugin=PLUGIN)
    assert [(x.name, type(x).__name__) for x in viewer.layers] == [("footprints", "Labels")]
    layer = viewer.layers["footprints"]
    assert sorted(int(v) for v in np.unique(layer.data) if v) == [1, 2, 3, 5]  # not 4 (cell 3)
    assert (layer.data[1:7, 3:9] == 1).all()  # cell 0
    src = _dock(viewer, SRC)
    assert [x.name for x in viewer.layers] == ["footprints", "footprint contours"]
    # no recording: the rate in force is the one the import recorded (it read "unknown")
    assert src.ctx.fps() == 15.0 and src.ctx.fps_source() == "from the session's results"
    with layer.block_history():
        layer.fill((3, 5), 0)
    assert status_of(session_for_viewer(viewer), ["0"])[0][1] == "deleted in the footprints layer"
    assert "deleted (rejected): 0" in src.status.text()


def test_sources_docked_before_file_open_shows_the_sessions_cells(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    """verify h12: the Sources widget docked first, then File > Open of a session with cells,
    stayed at 'no components yet' (its list empty, the layer's edits unheard)."""
    from napari_catrack.core.sources.session import record_sources

    session = Session(tmp_path / "s2p.catrack.h5")
    record_sources(session, _cells(), origin="suite2p")
    session.save()
    viewer = make_napari_viewer()
    src = _dock(viewer, SRC)
    viewer.open(str(session.path), plugin=PLUGIN)
    qtbot.waitUntil(lambda: src.cells.count() == 5, timeout=5000)
    assert [x.name for x in viewer.layers] == ["footprints", "footprint contours"]
    assert "5 components (suite2p)" in src.status.text()
    assert src.count.text().startswith("3 of 5")
    layer = viewer.layers["footprints"]
    with layer.block_history():
        layer.fill((3, 5), 0)  # cell 0
    assert status_of(session_for_viewer(viewer), ["0"])[0][1] == "deleted in the footprints layer"


def test_edits_in_a_reopened_sessions_footprints_before_docking_are_kept(
    make_napari_viewer, qtbot, tmp_path
):
    """h12 review: File > Open brings a session's 'footprints' layer; what the user painted or
    erased in it before docking the Sources widget was redrawn away when the widget docked. The
    layer is kept; a cell erased there is rejected as deleted once the widget listens."""
    from napari_catrack.core.sources.session import record_sources

    session = Session(tmp_path / "s2p.catrack.h5")
    record_sources(session, _cells(), origin="suite2p")
    session.save()
    viewer = make_napari_viewer()
    viewer.open(str(session.path), plugin=PLUGIN)
    layer = viewer.layers["footprints"]
    data = np.asarray(layer.data).copy()
    data[data == 4] = 0  # cell 3 (label 4) erased
    data[40:44, 30:34] = 9  # a new cell painted
    layer.data = data
    src = _dock(viewer, SRC)
    kept = np.asarray(viewer.layers["footprints"].data)
    assert (kept[40:44, 30:34] == 9).all() and not (kept == 4).any()
    assert status_of(session_for_viewer(viewer), ["3"])[0][1] == "deleted in the footprints layer"
    assert status_of(session_for_viewer(viewer), ["2"])[0][1] != "deleted in the footprints layer"
    assert src.cells.count() == 5


def test_a_cell_drawn_on_an_import_leaves_the_tools_verdicts_standing(
    make_napari_viewer, qtbot, movie_file, monkeypatch
):
    """After "Fit drawn/edited cells" on a suite2p import the session's origin read "edited":
    're-judge imported cells' was disabled and the next threshold change judged every cell
    again, over suite2p's own verdicts. Now the cells are still suite2p's (`edited_from`): the
    box stays, the threshold judges the drawn cell alone, and ticking it re-judges them all."""
    import napari_catrack.widgets.sources as sources_widget

    monkeypatch.setattr(sources_widget, "read_tool_output", lambda tool, path, fps=None, **_: _cells(tool, fps=fps or FPS))  # fmt: skip
    viewer = make_napari_viewer()
    viewer.open(str(movie_file), plugin=PLUGIN)
    src = _dock(viewer, SRC)
    session = session_for_viewer(viewer)
    wait_job(qtbot, src.run_import("suite2p", "x"))
    ids = session["sources"].tables["components"]["neuron_id"].tolist()
    tool = [s for s, _ in status_of(session, ids)]
    assert tool == ["unverified", "rejected", "unverified", "rejected", "unverified"]
    truth = make_two_photon_movie(T, SHAPE, n_cells=4, seed=3, silent_fraction=0).truth
    cell = truth.footprints[1] > 0.3 * truth.footprints[1].max()  # a real cell at (30, 30)
    layer = viewer.layers["footprints"]
    data = np.asarray(layer.data).copy()
    data[cell & (data == 0)] = 5 + 1  # a new cell, id 5 (label = id + 1)
    layer.data = data
    wait_job(qtbot, src.run_refit())
    assert session["sources"].attrs["origin"] == "edited"
    assert session["sources"].attrs["edited_from"] == "suite2p"
    assert src.rejudge.isEnabled() and not src.rejudge.isChecked()
    assert "suite2p's own verdicts" in src.count.text()
    src.evaluation.control("min_snr").setValue(1000.0)  # was: all 6 rejected
    now = [s for s, _ in status_of(session, [*ids, 5])]
    assert now == [*tool, "rejected"]
    qtbot.mouseClick(src.rejudge, Qt.LeftButton)  # re-judge them all with the thresholds
    assert all(s == "rejected" for s, _ in status_of(session, [*ids, 5]))
    qtbot.mouseClick(src.rejudge, Qt.LeftButton)  # suite2p's verdicts come back
    assert [s for s, _ in status_of(session, [*ids, 5])] == [*tool, "rejected"]
