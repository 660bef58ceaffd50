"""The Sources widget re-importing a CaImAn output (h20): hand verdicts follow their cells'
footprints, and the ones dropped are said in the widget's status line, as the CLI says them."""

from __future__ import annotations

import pytest

from napari_catrack.core.sources.session import set_verdict
from tests.core.test_reimport_verdicts import _caiman, _cells, _hand
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
SRC = "Sources (two-photon)"


def test_the_sources_widget_says_which_hand_verdicts_a_reimport_dropped(make_napari_viewer, qtbot, tmp_path, monkeypatch):  # fmt: skip
    """The dropped verdicts were one note in the status line, replaced by the next message: a
    user who lost verdicts might not notice (h20 leftover). They are now a warning line of their
    own that stays until the next import or extraction, and a napari warning notification."""
    from napari.utils import notifications

    warned = []
    monkeypatch.setattr(notifications, "show_warning", lambda m: warned.append(str(m)))
    monkeypatch.setattr("napari_catrack.widgets.sources.show_warning", lambda m: warned.append(str(m)))  # fmt: skip
    viewer = make_napari_viewer(show=True)
    src = viewer.window.add_plugin_dock_widget(PLUGIN, SRC)[1]
    fp = _cells()
    wait_job(qtbot, src.run_import("caiman", str(_caiman(tmp_path / "a.hdf5", fp))))
    session = src.ctx.session
    set_verdict(session, 0, "rejected", "by hand")
    set_verdict(session, 1, "accepted", "by hand")
    src.ctx.verdicts_changed()
    again = fp[::-1].copy()  # the same cells numbered in reverse: each verdict on its cell
    wait_job(qtbot, src.run_import("caiman", str(_caiman(tmp_path / "b.hdf5", again, seed=1))))
    assert _hand(src.ctx.session) == {"3": "rejected", "2": "accepted"}
    assert "hand verdict" not in src.status.text()
    assert not src.dropped_note.isVisible()
    wait_job(qtbot, src.run_import("caiman", str(_caiman(tmp_path / "c.hdf5", again[[0, 1]]))))
    assert _hand(src.ctx.session) == {}
    said = src.dropped_note.text()
    assert said.startswith("Warning: 2 hand verdicts on cells this import no longer has were dropped: ids 2, 3"), said  # fmt: skip
    assert src.dropped_note.isVisible()
    assert f"napari-catrack: {said.removeprefix('Warning: ')}" in warned  # a notification too
    assert "hand verdict" not in src.status.text()  # (said once, in the warning line)
    src.status.setText("1 component selected")  # the status line moves on; the warning stays
    src.ctx.verdicts_changed()
    assert src.dropped_note.text() == said
    wait_job(qtbot, src.run_import("caiman", str(_caiman(tmp_path / "d.hdf5", again[[0, 1]]))))
    assert not src.dropped_note.isVisible()  # the next import dropped nothing: the line goes


def test_another_session_opened_takes_the_last_imports_dropped_verdicts_line_away(make_napari_viewer, qtbot, tmp_path, monkeypatch):  # fmt: skip
    """The dropped-verdicts line stayed under the cells of the next session opened, in bold,
    naming ids of the session before (h22 review): it speaks of the session it was said in."""
    from napari_catrack.core.sources.session import record_sources
    from napari_catrack.io.caiman import read_caiman
    from napari_catrack.session import Session, attach_session

    monkeypatch.setattr("napari_catrack.widgets.sources.show_warning", lambda m: None)
    viewer = make_napari_viewer(show=True)
    src = viewer.window.add_plugin_dock_widget(PLUGIN, SRC)[1]
    fp = _cells()
    wait_job(qtbot, src.run_import("caiman", str(_caiman(tmp_path / "a.hdf5", fp))))
    set_verdict(src.ctx.session, 0, "rejected", "by hand")
    src.ctx.verdicts_changed()
    wait_job(qtbot, src.run_import("caiman", str(_caiman(tmp_path / "c.hdf5", fp[[1, 2]]))))
    assert src.dropped_note.isVisible() and "dropped" in src.dropped_note.text()
    other = Session()
    record_sources(other, read_caiman(_caiman(tmp_path / "o.hdf5", fp), fps=10.0), origin="caiman")  # fmt: skip
    attach_session(viewer, other)
    qtbot.waitUntil(lambda: src._shown_session is other, timeout=10000)
    assert src.dropped_note.text() == "" and not src.dropped_note.isVisible()
