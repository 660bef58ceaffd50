"""The "Show velocity and curvature plot" button shows the one plot of the viewer.

Before: each click docked another copy ("Behaviour plot" twice, the bottom dock taking half the
window).
"""

from __future__ import annotations

import gc

import pytest

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
BEHAVIOUR = "Worm behaviour (SAM prompt, centerline, posture, velocity)"
PLOT = "Behaviour plot (velocity and curvature kymograph)"


def _plot_docks(viewer) -> list:
    from qtpy.QtWidgets import QDockWidget

    from napari_catrack.widgets.behaviour_plot import BehaviourPlotWidget

    window = viewer.window._qt_window
    return [d for d in window.findChildren(QDockWidget) if d.findChildren(BehaviourPlotWidget)]


def test_the_plot_button_raises_the_plot_already_docked(make_napari_viewer, qtbot):
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, BEHAVIOUR)
    widget.plot_button.setFocus()
    qtbot.mouseClick(widget.plot_button, Qt.LeftButton)
    qtbot.mouseClick(widget.plot_button, Qt.LeftButton)
    qtbot.wait(20)
    assert len(_plot_docks(viewer)) == 1

    # hidden (not closed): the button shows it again, still one
    dock = _plot_docks(viewer)[0]
    dock.hide()
    qtbot.mouseClick(widget.plot_button, Qt.LeftButton)
    assert dock.isVisible() and len(_plot_docks(viewer)) == 1

    # closed with its X: the next click docks a new one
    qtbot.mouseClick(dock.title.close_button, Qt.LeftButton)
    del dock
    qtbot.wait(50)
    gc.collect()
    assert not _plot_docks(viewer)
    qtbot.mouseClick(widget.plot_button, Qt.LeftButton)
    assert len(_plot_docks(viewer)) == 1


def test_a_plot_docked_from_the_plugins_menu_is_the_one_shown(make_napari_viewer, qtbot):
    """Each dock has its own proxy of the viewer: the plot is found by the real viewer."""
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer(show=True)
    plot_dock, plot = viewer.window.add_plugin_dock_widget(PLUGIN, PLOT)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, BEHAVIOUR)
    qtbot.mouseClick(widget.plot_button, Qt.LeftButton)
    assert _plot_docks(viewer) == [plot_dock]
    assert widget.show_plot() is plot

    from napari_catrack.widgets.behaviour_plot import refresh_plots

    redrawn = []
    plot.refresh = lambda: redrawn.append(1)
    refresh_plots(widget.viewer)  # what the behaviour widget calls after each step
    assert redrawn == [1]
