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


def test_the_sources_widget_says_which_hand_verdicts_a_reimport_dropped(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    viewer = make_napari_viewer()
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
    wait_job(qtbot, src.run_import("caiman", str(_caiman(tmp_path / "c.hdf5", again[[0, 1]]))))
    assert _hand(src.ctx.session) == {}
    said = src.status.text()
    assert "2 hand verdicts on cells this import no longer has were dropped: ids 2, 3" in said, said  # fmt: skip
