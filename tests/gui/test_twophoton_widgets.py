"""The two-photon path through its widgets: register, summary images, sources, verdicts, and the
traces handed on to the transients curation and the ensembles (the existing steps, unchanged)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.sources.session import read_verdicts
from napari_catrack.session import session_for_viewer
from napari_catrack.synthetic import make_two_photon_movie

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"


@pytest.fixture(scope="module")
def mov():
    return make_two_photon_movie(
        240, (64, 64), n_cells=6, seed=11, silent_fraction=0, cell_brightness=(60, 120),
        event_rate_hz=(0.4, 0.8), drift_px_per_sqrt_s=0.3,
    )  # fmt: skip


def _finish(qtbot, job, timeout=120000):
    assert job is not None
    qtbot.waitUntil(job.finished.is_set, timeout=timeout)
    assert job.outcome == "done", job.outcome


@pytest.mark.slow
def test_two_photon_path_through_the_widgets(make_napari_viewer, qtbot, mov):
    viewer = make_napari_viewer()
    raw = viewer.add_image(mov.movie, name="two-photon", metadata={"catrack": {"role": "green", "fps": mov.fps}})  # fmt: skip
    _, reg = viewer.window.add_plugin_dock_widget(PLUGIN, "Motion correction")  # fmt: skip
    _, src = viewer.window.add_plugin_dock_widget(PLUGIN, "Sources (two-photon)")  # fmt: skip
    session = session_for_viewer(viewer)

    # 1. registration: a registered layer, shifts in the session, raw/registered toggle
    reg.form.control("patch_px").setText("32")  # a text box: "auto" (shown) means automatic
    reg.form.control("patch_overlap_px").setValue(16)
    _finish(qtbot, reg.run())
    registered = reg.registered_layer()
    assert registered is not None and registered.data.shape == mov.movie.shape
    shifts = session["registration"].tables["shifts"]
    assert list(shifts.columns) == ["frame", "dy", "dx"] and len(shifts) == 240
    assert np.corrcoef(shifts["dx"], mov.truth.shifts[:, 1])[0, 1] > 0.95
    reg.show_registered.setChecked(False)
    assert raw.visible and not registered.visible
    reg.show_registered.setChecked(True)
    viewer.dims.set_current_step(0, 100)
    assert reg._cursor.get_xdata()[0] == 100  # the shifts plot follows the time slider

    # 2. summary images as layers; 3. sources on the registered movie
    assert src.movie.currentText() == registered.name
    _finish(qtbot, src.run_summary())
    assert {"mean image", "correlation image", "pnr image"} <= {x.name for x in viewer.layers}
    # the widget's record is the one every caller makes (batch, demo, `catrack summary --session`)
    from napari_catrack.core.summary import SummaryParams, summary_images
    from napari_catrack.core.summary_records import record_summary
    from napari_catrack.session import Session

    ref = record_summary(Session(), summary_images(np.asarray(registered.data)), SummaryParams())
    mine = session["summary"]
    assert mine.params == ref.params and set(mine.arrays) == set(ref.arrays)
    for name, image in ref.arrays.items():
        np.testing.assert_allclose(mine.arrays[name], image, rtol=1e-5, atol=1e-6)
    src.form.control("patch_px").setValue(0)
    _finish(qtbot, src.run_extract())
    comps = session["sources"].tables["components"]
    labels = viewer.layers["footprints"].data
    assert labels.shape == (64, 64) and set(np.unique(labels)) - {0} <= set(comps["neuron_id"])
    assert "traces" in session and "dff" in session["traces"].tables["traces"]
    n_acc = int(comps["accepted"].sum())
    assert f"{n_acc} of {len(comps)}" in src.count.text()

    # live count: a strict SNR threshold rejects everything; verdicts follow
    src.evaluation.control("min_snr").setValue(1000)
    assert src.count.text().startswith("0 of")
    src.evaluation.control("min_snr").setValue(3)
    assert src.count.text().startswith(f"{n_acc} of")

    # 4. accept/reject writes the curation's verdicts
    src.cells.setCurrentRow(0)
    first = src.current_id()
    src.reject_button.click()
    v = read_verdicts(session).set_index("neuron_id")
    assert v.loc[first, "status"] == "rejected"

    # 5. the transients curation and ensembles work on these traces unchanged
    _, transients = viewer.window.add_plugin_dock_widget(PLUGIN, "Transients curation")
    transients.session_button.click()
    assert set(transients.state.ids) == set(comps["neuron_id"].astype(str))
    assert transients.state.status(first)[0] == "rejected"  # the verdict is shared
    job = transients.detect()
    qtbot.waitUntil(lambda: "transients" in session and len(session["transients"].tables["transients"]) > 0, timeout=60000)  # fmt: skip
    assert job is not None
    _, ens = viewer.window.add_plugin_dock_widget(PLUGIN, "Neuronal ensembles")
    ens.shuffles.setValue(50)
    ens.find()
    qtbot.waitUntil(lambda: "ensembles" in session, timeout=60000)
    qtbot.waitUntil(ens.find_button.isEnabled, timeout=60000)  # the worker has finished


def test_deleting_a_footprint_label_rejects_it_and_other_widgets_follow(
    make_napari_viewer, qtbot, mov
):
    """Erasing a whole label rejects that component; the layer's undo brings it back; verdicts
    reach the docked curation through ViewerContext.verdicts_changed (no session re-attach)."""
    from napari_catrack.core.sources import SourcesParams, extract_sources
    from napari_catrack.core.sources.session import DELETED, record_sources, status_of
    from napari_catrack.session import watch_session

    viewer = make_napari_viewer()
    session = session_for_viewer(viewer)
    record_sources(
        session, extract_sources(mov.movie[:160], SourcesParams(patch_px=0), fps=mov.fps)
    )
    _, src = viewer.window.add_plugin_dock_widget(PLUGIN, "Sources (two-photon)")  # fmt: skip
    _, transients = viewer.window.add_plugin_dock_widget(PLUGIN, "Transients curation")
    transients.session_button.click()
    reattached = []

    class Watcher:
        def seen(self, s):
            reattached.append(s)

    watcher = Watcher()
    watch_session(viewer, watcher.seen)
    layer = viewer.layers["footprints"]
    layer.contiguous = False  # the bucket then erases every piece of a label
    ids = [int(i) for i in np.unique(layer.data) if i]
    assert len(ids) >= 2
    gone = ids[0]
    y, x = np.argwhere(layer.data == gone)[0]
    layer.fill((int(y), int(x)), 0)  # the bucket with label 0: the whole cell erased
    assert not (layer.data == gone).any()
    assert status_of(session, [gone])[0] == ("rejected", DELETED)
    assert transients.state.status(str(gone))[0] == "rejected"  # told through the event
    assert str(gone) in src.status.text() and "deleted" in src.status.text()
    assert status_of(session, [ids[1]])[0][1] != DELETED  # only the erased one
    layer.undo()
    assert (layer.data == gone).any()
    assert status_of(session, [gone])[0][1] != DELETED
    assert transients.state.status(str(gone))[0] == status_of(session, [gone])[0][0]
    # a verdict in the curation reaches the sources list, and Accept in sources the curation
    transients.select_cell(str(ids[1]))
    transients.reject_cell("dim")
    assert any(it.startswith(f"{ids[1]}: rejected") for it in (src.cells.item(i).text() for i in range(src.cells.count())))  # fmt: skip
    layer.fill(tuple(int(v) for v in np.argwhere(layer.data == gone)[0]), 0)
    row = next(i for i in range(src.cells.count()) if src.cells.item(i).data(256) == str(gone))
    src.cells.setCurrentRow(row)
    src.accept_button.click()
    assert status_of(session, [gone])[0][0] == "accepted" and (layer.data == gone).any()
    assert transients.state.status(str(gone))[0] == "accepted"
    assert reattached == []  # verdicts never re-attached the session


def test_the_selected_cells_whole_reason_shows_without_hovering(make_napari_viewer, qtbot, mov):
    """The list cuts a long line at its edge (the whole line was only a tooltip): clicking a
    cell shows its verdict and whole reason in a wrapped label under the list."""
    from qtpy.QtCore import Qt

    from napari_catrack.core.sources import SourcesParams, extract_sources
    from napari_catrack.core.sources.session import record_sources, set_verdict

    viewer = make_napari_viewer()
    session = session_for_viewer(viewer)
    record_sources(
        session, extract_sources(mov.movie[:160], SourcesParams(patch_px=0), fps=mov.fps)
    )
    ids = [str(i) for i in session["sources"].tables["components"]["neuron_id"]]
    long_reason = (
        "two cells merged into one footprint; the upper one fires alone at 12 s and 40 s, "
        "the lower one only with the neuropil"
    )
    set_verdict(session, ids[1], "rejected", long_reason)
    _, src = viewer.window.add_plugin_dock_widget(PLUGIN, "Sources (two-photon)")  # fmt: skip
    src.cells.setFixedWidth(200)  # narrower than the line: the list cuts it
    row = next(i for i in range(src.cells.count()) if src.cells.item(i).data(256) == ids[1])
    item = src.cells.item(row)
    src.cells.scrollToItem(item)
    qtbot.mouseClick(src.cells.viewport(), Qt.LeftButton, pos=src.cells.visualItemRect(item).center())  # fmt: skip
    assert src.current_id() == ids[1]
    assert src.reason.text() == f"{ids[1]}: rejected - {long_reason}"
    assert src.reason.wordWrap() and src.reason.isVisibleTo(src)
    src.accept_button.click()  # the label follows a new verdict
    assert src.reason.text() == f"{ids[1]}: accepted"


def test_the_sources_status_names_the_movie_it_will_use(make_napari_viewer, qtbot):
    """Docked over a movie it had just picked, the Sources status said "choose the (registered)
    movie" while the movie box already named one (h18 walk). Before anything runs it now says
    which movie is chosen, follows the box, and says so when there is none."""
    from napari_catrack.widgets.sources import NO_MOVIE

    viewer = make_napari_viewer()
    _, src = viewer.window.add_plugin_dock_widget("napari-catrack", "Sources (two-photon)")
    assert src.movie.currentText() == "" and src.status.text() == NO_MOVIE
    viewer.add_image(np.zeros((5, 8, 8), np.float32), name="first")
    assert src.movie.currentText() == "first"
    assert "'first'" in src.status.text() and "choose" not in src.status.text()
    viewer.add_image(np.zeros((5, 8, 8), np.float32), name="second")
    src.movie.setCurrentText("second")
    assert "'second'" in src.status.text()
    src.status.setText("summary images added as layers")  # an outcome stays
    src.movie.setCurrentText("first")
    assert src.status.text() == "summary images added as layers"
    del viewer.layers["first"], viewer.layers["second"]
    assert src.movie.currentText() == ""
