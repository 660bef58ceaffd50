"""The "Show velocity and curvature plot" button shows the one plot of the viewer.

Before: each click docked another copy ("Behaviour plot" twice, the bottom dock taking half the
window).
"""

from __future__ import annotations

import gc

import pytest

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
BEHAVIOUR = "Worm behaviour"
PLOT = "Behaviour plot"


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


def test_a_slider_step_moves_the_cursor_without_redrawing_the_plot(
    make_napari_viewer, qtbot, tmp_path
):
    """The cursor is blitted over the cached plot: a full redraw of the speed plot and the
    kymograph on every slider step held napari's UI 2.5 s on a 2,000-frame video
    (scripts/ui_stall_probe.py). Same for the registration widget's shifts plot."""
    import numpy as np

    from napari_catrack.session import attach_session

    from ..core._session_helpers import worm_session

    session, _ = worm_session(tmp_path / "s", video=False)
    assert {"velocity", "centerline"} <= set(session.steps)
    n = len(session["velocity"].tables["velocity"])

    def full_draws(viewer, figure) -> list:
        """The figure's full draws after a slider step (the dock's first draws done before)."""
        viewer.dims.set_current_step(0, 0)
        canvas = figure.canvas
        qtbot.waitUntil(lambda: not getattr(canvas, "_draw_pending", False), timeout=5000)
        # the dock settles (resizes redraw, by design): its width changes once about a second
        # after docking, later with the kymograph's colour bar to lay out; wait for a size that
        # holds for 0.7 s
        size = None
        for _ in range(15):
            qtbot.wait(700)
            if canvas.size() == size and not getattr(canvas, "_draw_pending", False):
                break
            size = canvas.size()
        draws = []
        real = figure.draw
        figure.draw = lambda renderer: (draws.append(1), real(renderer))[1]
        viewer.dims.set_current_step(0, 10)
        qtbot.wait(300)  # (a scheduled full redraw would have run by now)
        return draws

    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((n, 8, 8), np.uint8), name="cam")
    attach_session(viewer, session)
    _, plot = viewer.window.add_plugin_dock_widget(PLUGIN, PLOT)
    assert full_draws(viewer, plot.figure) == []
    assert plot._cursors[0].get_xdata()[0] == pytest.approx(plot.times[10])

    other = make_napari_viewer(show=True)
    other.add_image(np.zeros((n, 8, 8), np.uint8), name="movie")
    _, reg = other.window.add_plugin_dock_widget(PLUGIN, "Motion correction")
    reg.shifts = np.zeros((n, 2))
    reg._plot()
    assert full_draws(other, reg.figure) == []
    assert reg._cursor.get_xdata()[0] == 10


def test_the_kymograph_has_a_colour_bar_saying_what_its_colours_mean(
    make_napari_viewer, qtbot, tmp_path
):
    """The curvature kymograph had no colour bar: nothing said what red and blue meant or how
    strong a bend was (h16 first-hour walk, item 6). Its colour bar now names the curvature and
    its unit, the sign (red + counter-clockwise, blue − clockwise) and the limits."""
    import numpy as np

    from napari_catrack.core.behaviour.posture import body_length, colour_limit, kymograph
    from napari_catrack.core.behaviour.records import centerline_from_session
    from napari_catrack.session import attach_session

    from ..core._session_helpers import worm_session

    session, _ = worm_session(tmp_path / "s", video=False)
    viewer = make_napari_viewer(show=True)
    attach_session(viewer, session)
    _, plot = viewer.window.add_plugin_dock_widget(PLUGIN, PLOT)
    bar = getattr(plot, "colorbar", None)
    assert bar is not None
    bars = [bar.ax]
    px = (session["centerline"].attrs.get("posture") or {}).get("pixel_size_um")
    unit = "1/µm" if px else "1/px"
    label = bars[0].get_ylabel()
    assert f"curvature ({unit})" in label and "red +" in label and "blue −" in label
    result = centerline_from_session(session)[0]
    scale = float(px) if px else 1.0
    kymo = kymograph(result.points, result.posture_ok, pixel_size=scale)
    length = np.median(body_length(result.points[result.posture_ok])) * scale  # the floor (h19)
    lim = colour_limit(kymo, result.reliable, length=length)
    np.testing.assert_allclose(bars[0].get_ylim(), (-lim, lim))
    ticks = [t.get_text() for t in bars[0].get_yticklabels()]
    assert ticks == [f"−{lim:.2g}", "0", f"+{lim:.2g}"]
    assert f"±{lim:.3g} {unit}" in plot.info.text()
    assert "counter-clockwise" in plot.info.text()
    # the speed plot and the kymograph keep the same time axis (the bar has its own column)
    speed, kymo_ax = plot.figure.axes[:2]
    plot.canvas.draw()
    assert speed.get_position().x1 == pytest.approx(kymo_ax.get_position().x1, abs=1e-3)


def test_a_short_wide_plot_dock_shows_both_plots_side_by_side(make_napari_viewer, qtbot, tmp_path):
    """Docked under the viewer of a 1300 x 800 window the plot got 174 px (napari's layer
    controls and layer list keep their height): the speed plot alone showed, the kymograph was
    scrolled out of sight below it (h18 first-hour walk). In a short, wide view the two plots
    now stand side by side and the canvas fits the view; a taller dock stacks them again."""
    from qtpy.QtCore import Qt

    from napari_catrack.session import attach_session
    from napari_catrack.widgets._dock import dock_of

    from ..core._session_helpers import worm_session

    session, _ = worm_session(tmp_path / "s", video=False)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1300, 1000)
    attach_session(viewer, session)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, BEHAVIOUR)
    plot = widget.show_plot()
    dock, main = dock_of(plot), viewer.window._qt_window
    assert main.dockWidgetArea(dock) == Qt.BottomDockWidgetArea

    def settle(height: int) -> None:
        main.resizeDocks([dock], [height], Qt.Vertical)
        qtbot.waitUntil(lambda: abs(dock.height() - height) < 5, timeout=3000)
        qtbot.wait(100)  # the re-layout queued by the resize

    def shown(axes) -> bool:
        """The axes lie inside the part of the canvas the scroll view shows (scrolled to top)."""
        visible = min(plot.canvas.height(), plot.scroll_area.viewport().height())
        plot.canvas.draw()
        box = axes.get_window_extent()  # pixels from the canvas' bottom
        ratio = plot.canvas.device_pixel_ratio
        top = plot.canvas.height() - box.y1 / ratio
        bottom = plot.canvas.height() - box.y0 / ratio
        return top >= 0 and bottom <= visible

    settle(174)
    plot.scroll_area.verticalScrollBar().setValue(0)
    speed, kymo = plot.figure.axes[:2]
    assert shown(speed) and shown(kymo)  # before: the kymograph lay below the view
    assert plot.side_by_side
    assert speed.get_position().x1 < kymo.get_position().x0  # left of it
    assert kymo.get_xlabel() == "time (s)" and speed.get_xlabel() == "time (s)"

    settle(450)
    speed, kymo = plot.figure.axes[:2]
    assert not plot.side_by_side
    assert speed.get_position().y0 > kymo.get_position().y1  # above it
    assert shown(speed) and shown(kymo)


def test_a_straight_worms_kymograph_looks_flat(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    """A straight worm's curvature is rounding noise (±3e-17; the test session's worm is
    straight): the colour limits were its 99th percentile, so the noise showed as full-scale red
    and blue stripes (h19 screenshots). The limits are at least 1/body length (one radian over
    the body), so the noise reads as white; a bending worm's bends still set the limits."""
    import numpy as np

    from napari_catrack.session import attach_session
    from napari_catrack.widgets.behaviour_plot import BehaviourPlotWidget

    from ..core._session_helpers import worm_session

    session, _ = worm_session(tmp_path / "s", video=False)
    viewer = make_napari_viewer(show=True)
    attach_session(viewer, session)
    _, plot = viewer.window.add_plugin_dock_widget(PLUGIN, PLOT)
    vel, kymo, good, length = plot._data()
    assert 20 < length < 2000  # the worm's median length, in px or µm
    noise = np.abs(kymo[np.asarray(good, bool)])
    assert 0 < np.nanmax(noise) < 1e-12  # straight: rounding noise only
    lim = plot.colorbar.mappable.norm.vmax
    assert lim == pytest.approx(1.0 / length)  # (was 3e-17: the noise at full scale)
    assert f"±{lim:.3g}" in plot.info.text() and "at least 1/body length" in plot.info.text()
    # a crawling worm (bends of 5/length, as docs/behaviour.md's real worm) sets its own limits
    t, s_ = np.meshgrid(np.arange(len(kymo)), np.linspace(0, 1, kymo.shape[1]), indexing="ij")
    bends = 5.0 / length * np.sin(2 * np.pi * (s_ - t / 20))
    monkeypatch.setattr(BehaviourPlotWidget, "_data", lambda self: (vel, bends, good, length))
    plot.refresh()
    expected = np.percentile(np.abs(bends[np.asarray(good, bool)]), 99)
    assert plot.colorbar.mappable.norm.vmax == pytest.approx(expected)


def test_a_tall_plot_dock_gives_its_room_to_the_plot(make_napari_viewer, qtbot, tmp_path):
    """Docked at the side of a 1920 x 1200 window the plot dock is 1,125 px tall; the canvas and
    the wrapped line under it shared the room, so the line (5 lines of text) sat in the middle of
    a blank 536 px box under the plot (h20 screenshots). The plot now takes the room: the line is
    as tall as its text, right under the canvas, the Refresh button under it."""
    from napari_catrack.session import attach_session

    from ..core._session_helpers import worm_session

    session, _ = worm_session(tmp_path / "s", video=False)
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1920, 1200)
    attach_session(viewer, session)
    dock, plot = viewer.window.add_plugin_dock_widget(PLUGIN, PLOT)
    dock.raise_()
    qtbot.waitUntil(lambda: plot.scroll_area.viewport().height() > 900, timeout=5000)
    qtbot.wait(100)
    info = plot.info
    assert info.text()
    assert info.height() <= info.heightForWidth(info.width()) + 4, (info.height(), info.width())
    assert info.y() - plot.canvas.geometry().bottom() <= 12
    assert plot.canvas.height() > plot.scroll_area.viewport().height() // 2


def test_an_old_postures_kymograph_is_in_1_per_um_as_the_export(
    make_napari_viewer, qtbot, tmp_path
):
    """A posture from before session 20 has no pixel size of its own; export and figures read
    the behaviour video's from the session (`behaviour_pixel_size_um`: 8 µm here), but the
    docked plot read only the posture's and drew the kymograph in 1/px, its colour floor from a
    length in px (h21). Fails on the old code (unit 1/px, length 8 times too short)."""
    import numpy as np

    from napari_catrack.session import attach_session

    from ..core.test_posture_old_sessions import _old_widget_session

    session, length_px = _old_widget_session(tmp_path, video_pixel=8.0)
    viewer = make_napari_viewer(show=True)
    attach_session(viewer, session)
    _, plot = viewer.window.add_plugin_dock_widget(PLUGIN, PLOT)
    assert plot.curvature_unit == "1/µm"
    assert "1/µm" in plot.colorbar.ax.get_ylabel()
    _, _, _, length = plot._data()
    assert length == pytest.approx(np.median(length_px) * 8.0)
