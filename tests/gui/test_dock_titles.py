"""napari's title bar above a dock reads "NAME (napari-catrack)" on one line and cuts what does
not fit: "Sources (two-photon; summary images, extraction, evaluation, imports) (napa", half of
the fourteen titles cut in the dock every widget shares (449 px at 1300 x 800) and some in their
own dock (h20 screenshots). Every title now reads whole in both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
SRC = Path(__file__).resolve().parents[2] / "src" / "napari_catrack"
NAMES = [w["display_name"] for w in yaml.safe_load((SRC / "napari.yaml").read_text(encoding="utf-8"))["contributions"]["widgets"]]  # fmt: skip


def _cut(dock) -> str | None:
    """The title napari's bar shows, if it does not fit its label (None: whole)."""
    from qtpy.QtGui import QFontMetrics
    from qtpy.QtWidgets import QLabel

    bar = dock.titleBarWidget()
    label = getattr(bar, "title", None) or bar.findChild(QLabel)
    need = QFontMetrics(label.font()).horizontalAdvance(label.text())
    return None if need <= label.width() else f"{label.text()!r}: {need} px in {label.width()}"


def test_every_dock_title_reads_whole_in_its_own_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    cut = []
    for name in NAMES:
        dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, name)
        qtbot.wait(150)
        if said := _cut(dock):
            cut.append(f"{said} (dock {dock.width()} px)")
        viewer.window.remove_dock_widget(dock)
    assert not cut, cut


def test_every_dock_title_reads_whole_in_the_dock_every_widget_shares(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    docks = [viewer.window.add_plugin_dock_widget(PLUGIN, name)[0] for name in NAMES]
    qtbot.wait(500)
    cut = []
    for dock in docks:
        dock.raise_()
        qtbot.wait(30)
        if said := _cut(dock):
            cut.append(f"{said} (dock {dock.width()} px)")
    assert not cut, cut
    # a dock a widget adds itself (the Worm behaviour's plot) has no plugin suffix: its name
    # fits the narrowest title label above
    label = docks[0].titleBarWidget()
    room = min(d.titleBarWidget().title.width() for d in docks)
    added = re.findall(r"add_dock_widget\([^)]*name=\"([^\"]+)\"", "\n".join(p.read_text(encoding="utf-8") for p in SRC.rglob("*.py")))  # fmt: skip
    assert added, "no add_dock_widget(name=...) found: the check reads nothing"
    metrics = label.title.fontMetrics()
    assert all(metrics.horizontalAdvance(n) <= room for n in added), (added, room)
