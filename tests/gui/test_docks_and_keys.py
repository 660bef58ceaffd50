"""Issue 11, "the GUI fits a screen": every catrack widget docked at once keeps napari's window
within a normal screen, and two widgets never hold the same key at the same time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.gui

PLUGIN = "napari-catrack"
SCREEN_HEIGHT = 1080


def _manifest_widgets() -> list[str]:
    from napari_catrack import __file__ as package_init

    manifest = yaml.safe_load((Path(package_init).parent / "napari.yaml").read_text())
    return [w["display_name"] for w in manifest["contributions"]["widgets"]]


@pytest.mark.parametrize("tabbed", [True, False], ids=["tabbed", "side-by-side"])
def test_all_widgets_docked_fit_a_screen(make_napari_viewer, qtbot, monkeypatch, tabbed):
    """Before: two docks made the window 1,488 px tall, all of them 4,021 px."""
    from qtpy.QtWidgets import QDockWidget

    from napari_catrack.widgets import _dock

    monkeypatch.setattr(_dock, "AUTO_TABIFY", tabbed)
    viewer = make_napari_viewer(show=True)
    docks = []
    for name in _manifest_widgets():  # one after the other from the Plugins menu, as a user does
        docks.append(viewer.window.add_plugin_dock_widget(PLUGIN, name)[0])
        qtbot.wait(20)
    window = docks[0].window()
    catrack_docks = [d for d in window.findChildren(QDockWidget) if _dock.is_catrack_dock(d)]
    assert len(catrack_docks) == len(docks)  # every widget of the suite scrolls and tabs
    if tabbed:  # the default: one tab group, each widget gets the whole height
        first = catrack_docks[0]
        qtbot.waitUntil(lambda: set(window.tabifiedDockWidgets(first)) >= set(catrack_docks[1:]))
        qtbot.wait(50)
        assert window.minimumSizeHint().height() <= SCREEN_HEIGHT
        assert window.height() <= SCREEN_HEIGHT, window.height()
    else:  # dragged side by side: each dock still needs only a few rows (the rest scrolls)
        qtbot.wait(50)
        for dock in catrack_docks:
            assert dock.minimumSizeHint().height() <= 150, dock.windowTitle()


def test_plots_give_every_panel_room(make_napari_viewer):
    """Before: five trace panels were squeezed into ~30 px each, their labels overlapping."""
    import pandas as pd

    from napari_catrack.widgets.trace_viewer import PANEL_MIN_PX, TraceViewerWidget

    viewer = make_napari_viewer()
    widget = TraceViewerWidget(viewer)
    t = np.arange(50)
    widget.set_traces(pd.DataFrame({"neuron_id": "a", "frame": t, "green": 1.0 + t, "red": 2.0,
                                    "ratio": 0.5, "dff": 0.1 * t, "dff_green": 0.2}))  # fmt: skip
    for name in ("green", "red", "ratio", "dff", "dff_green"):
        widget.panel_boxes[name].setChecked(True)
    assert len(widget._axes) == 5
    assert widget.canvas.minimumHeight() >= 5 * PANEL_MIN_PX


def _layers(viewer):
    for name, role in (("g", "green"), ("r", "red")):
        viewer.add_image(np.zeros((3, 32, 32), np.float32), name=name,
                         metadata={"catrack": {"role": role}})  # fmt: skip


def test_one_key_registry_for_alignment_and_curation(make_napari_viewer, qtbot):
    """Before: W/A/S/D/Q/E/R stayed bound after Accept; A/D/R in curation moved red."""
    from napari_catrack.widgets._keys import KeyConflict, KeyRegistry
    from napari_catrack.widgets.alignment import AlignmentWidget
    from napari_catrack.widgets.transients import OWNER, TransientsWidget

    viewer = make_napari_viewer(show=True)
    _layers(viewer)
    align = AlignmentWidget(viewer)
    viewer.window.add_dock_widget(align)
    curation = TransientsWidget(viewer)
    viewer.window.add_dock_widget(curation, tabify=False)
    qtbot.waitUntil(curation.isVisible, timeout=5000)
    keys = KeyRegistry.of(viewer)
    assert keys.holder("A") == OWNER  # curation keys work on the image while it is shown

    align.keys_check.setChecked(True)  # nudging wants A and D too: refused, and said why
    assert not align.keys_check.isChecked() and keys.holder("W") is None
    assert OWNER in align.status.text()

    curation.viewer_keys.setChecked(False)  # the user gives the curation keys up ...
    assert keys.holder("A") is None
    align.keys_check.setChecked(True)  # ... then nudging gets them
    assert keys.holder("A") == "Align channels" and keys.holder("Shift-Q") == "Align channels"
    with pytest.raises(KeyConflict, match="held by Align channels"):
        keys.claim("someone else", {"D": lambda v: None})
    assert not curation.claim_viewer_keys(quiet=True)  # the curation keys wait their turn
    curation.viewer_keys.setChecked(True)
    assert keys.holder("A") == "Align channels"

    align.accept()  # Accept ends nudging: its keys are released and curation takes its own back
    assert keys.holder("W") is None
    assert keys.holder("A") == OWNER and keys.holder("D") == OWNER
    curation.hide()  # hidden (e.g. another tab): keys given back
    assert keys.holder("A") is None


def test_curation_keys_only_while_its_tab_is_in_front(make_napari_viewer, qtbot):
    """Before: Qt keeps a dock behind another tab "visible", so the curation keys stayed bound:
    R on the image rejected a cell nobody could see, and nudging was refused."""
    from napari_catrack.widgets._dock import dock_of
    from napari_catrack.widgets._keys import KeyRegistry
    from napari_catrack.widgets.alignment import AlignmentWidget
    from napari_catrack.widgets.transients import OWNER, TransientsWidget

    viewer = make_napari_viewer(show=True)
    _layers(viewer)
    curation = TransientsWidget(viewer)
    viewer.window.add_dock_widget(curation, tabify=False)
    align = AlignmentWidget(viewer)
    viewer.window.add_dock_widget(align, tabify=True)
    qtbot.waitUntil(lambda: dock_of(align) is not None and dock_of(curation) is not None)
    window = dock_of(curation).window()
    qtbot.waitUntil(lambda: dock_of(align) in window.tabifiedDockWidgets(dock_of(curation)))
    keys = KeyRegistry.of(viewer)

    dock_of(align).raise_()  # the Align tab in front, curation behind it (still "visible")
    qtbot.waitUntil(lambda: keys.holder("R") is None, timeout=3000)
    assert curation.isVisible()  # what Qt says: hideEvent alone could not catch this
    align.keys_check.setChecked(True)  # nudging is no longer refused
    assert keys.holder("A") == "Align channels"

    dock_of(curation).raise_()  # curation in front: align behind gives its keys back ...
    qtbot.waitUntil(lambda: keys.holder("R") == OWNER, timeout=3000)  # ... curation takes its own
    assert not align.keys_check.isChecked()


def test_the_tabs_of_every_widget_docked_read_their_names(make_napari_viewer, qtbot):
    """With every widget docked, Qt's tab bar shrank each tab title to "T…" (14 tabs in a
    440 px dock, every title "NAME (what it does) (napari-catrack)"). A tab now shows its
    widget's name whole ("Track neurons") and the bar scrolls (arrows) instead of eliding;
    napari's title bar above the dock and its menu entry keep the whole name."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QTabBar

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    names = _manifest_widgets()
    docks = []
    for name in names:
        docks.append(viewer.window.add_plugin_dock_widget(PLUGIN, name)[0])
        qtbot.wait(20)
    window = docks[0].window()

    def bar() -> QTabBar | None:
        bars = window.findChildren(QTabBar, options=Qt.FindDirectChildrenOnly)
        return next((b for b in bars if b.count() == len(names)), None)

    qtbot.waitUntil(lambda: bar() is not None, timeout=5000)
    qtbot.wait(50)
    tabs = bar()
    metrics = tabs.fontMetrics()
    shown = {tabs.tabText(i) for i in range(tabs.count())}
    assert shown == {name.split(" (")[0] for name in names}, shown
    for i in range(tabs.count()):
        text = tabs.tabText(i)
        assert tabs.tabRect(i).width() >= metrics.horizontalAdvance(text), text
    assert tabs.elideMode() == Qt.ElideNone and tabs.usesScrollButtons()
    for dock, name in zip(docks, names):  # napari's whole name where napari shows it
        assert dock.name.startswith(name) and dock.toggleViewAction().text() == dock.name
        assert dock.title.title.text() == dock.name  # (napari's own title bar label)


def _press_move_release(dock, target, qtbot) -> None:
    """Drag `dock` by its title bar to the global point `target` with the mouse, as a user does:
    Qt's own dock dragging (unplug, hover over the window's dock areas, plug on release)."""
    from qtpy.QtCore import QEvent, QPoint, QPointF, Qt
    from qtpy.QtGui import QMouseEvent
    from qtpy.QtWidgets import QApplication

    def send(kind, local, button, buttons) -> None:
        glob = dock.mapToGlobal(local)
        event = QMouseEvent(kind, QPointF(local), QPointF(glob), button, buttons, Qt.NoModifier)
        QApplication.sendEvent(dock, event)

    title = dock.titleBarWidget()
    grip = title.mapTo(dock, QPoint(title.width() // 2, title.height() // 2))
    send(QEvent.MouseButtonPress, grip, Qt.LeftButton, Qt.LeftButton)
    start = dock.mapToGlobal(grip)
    for k in range(1, 21):  # (QTest.mouseMove holds no button)
        point = start + (target - start) * k / 20
        send(QEvent.MouseMove, dock.mapFromGlobal(point), Qt.NoButton, Qt.LeftButton)
        qtbot.wait(15)
    qtbot.wait(300)  # Qt shows where the dock will go (an animated gap) before the release
    send(QEvent.MouseMove, dock.mapFromGlobal(target), Qt.NoButton, Qt.LeftButton)
    qtbot.wait(300)
    send(QEvent.MouseButtonRelease, dock.mapFromGlobal(target), Qt.LeftButton, Qt.NoButton)


def test_tabs_read_their_names_after_docks_are_dragged(make_napari_viewer, qtbot):
    """Session 19 made the tabs read the widgets' short names and never elide, tested with docks
    added from code only. A user floats a dock and docks it again, drags one dock onto another
    (Qt then makes a new tab bar) or tabs two docks of different areas: every tab bar holding a
    catrack dock still shows each short name whole, and scrolls rather than elides."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QTabBar

    from napari_catrack.widgets._dock import tab_title

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1300, 800)
    names = _manifest_widgets()[:5]
    docks = []
    for name in names:
        docks.append(viewer.window.add_plugin_dock_widget(PLUGIN, name)[0])
        qtbot.wait(20)
    load, _align, track, traces, curation = docks
    qtbot.waitUntil(lambda: len(window.tabifiedDockWidgets(load)) == 4, timeout=5000)

    def readable() -> list[str]:
        """What is wrong with the tab bars that hold catrack docks (empty: nothing)."""
        wrong = []
        for bar in window.findChildren(QTabBar, options=Qt.FindDirectChildrenOnly):
            texts = [bar.tabText(i) for i in range(bar.count())]
            if not bar.isVisible() or not texts:
                continue
            if bar.elideMode() != Qt.ElideNone or not bar.usesScrollButtons():
                wrong.append(f"{texts}: elides")
            for i, text in enumerate(texts):
                if text not in {tab_title(n) for n in names}:
                    wrong.append(f"{text!r}: not a short name")
                if bar.tabRect(i).width() < bar.fontMetrics().horizontalAdvance(text):
                    wrong.append(f"{text!r}: cut ({bar.tabRect(i).width()} px)")
        return wrong

    def settled(check) -> None:
        qtbot.waitUntil(lambda: check() and not readable(), timeout=5000)

    settled(lambda: True)
    # floated (the title bar's float button, or a double click), then docked again
    track.setFloating(True)
    qtbot.waitUntil(lambda: track.isFloating(), timeout=2000)
    assert track.windowTitle() == "Track neurons"
    track.setFloating(False)
    settled(lambda: not track.isFloating() and track in window.tabifiedDockWidgets(load))
    # one dock alone in the left area, then another dragged onto it with the mouse
    window.addDockWidget(Qt.LeftDockWidgetArea, load)
    load.show()
    qtbot.waitUntil(lambda: window.dockWidgetArea(load) == Qt.LeftDockWidgetArea, timeout=2000)
    qtbot.wait(100)
    _press_move_release(traces, load.mapToGlobal(load.rect().center()), qtbot)
    settled(lambda: not traces.isFloating() and load in window.tabifiedDockWidgets(traces))
    assert window.dockWidgetArea(traces) == Qt.LeftDockWidgetArea
    # a dock of the right area tabbed onto the left ones (Qt's tabifyDockWidget)
    window.tabifyDockWidget(load, curation)
    settled(lambda: curation in window.tabifiedDockWidgets(load))
    left = next(
        b
        for b in window.findChildren(QTabBar, options=Qt.FindDirectChildrenOnly)
        if b.isVisible() and "Load recording" in {b.tabText(i) for i in range(b.count())}
    )
    assert {left.tabText(i) for i in range(left.count())} == {"Load recording", "Traces", "Transients curation"}  # fmt: skip
    assert not readable(), readable()
    assert all(d.toggleViewAction().text() == d.name for d in docks)  # menus keep whole names
