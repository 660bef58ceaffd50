"""Text whole in the dock every widget shares at 1300 x 800 (h20 screenshot review, items 2-3):
the Batch results table scrolled sideways and cut its "seconds" column; the frame-rate note and
the Events widget's placeholders were elided ("from the re…", "optional: imaging frame…")."""

from __future__ import annotations

import pandas as pd
import pytest

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
BATCH = "Batch"


def _docked(make_napari_viewer, qtbot, name):
    """`name` docked at 1300 x 800 beside the Load recording dock (the width docks share)."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    viewer.window.add_plugin_dock_widget(PLUGIN, "Load recording")
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    dock.raise_()
    qtbot.wait(50)
    return viewer, widget


def test_the_batch_report_fits_the_dock(make_napari_viewer, qtbot):
    """Every column of the results table lies inside the table, no sideways scrolling, and the
    step, status and seconds columns show their text whole (the long message is elided, whole
    in the tooltip)."""
    _, widget = _docked(make_napari_viewer, qtbot, BATCH)
    report = pd.DataFrame(
        {
            "recording": ["rec00", "a_long_recording_name_of_the_lab_2026-11-30_worm3"],
            "step": ["transients", "track"],
            "status": ["done", "cancelled"],
            "seconds": [1234.5678, 0.25],
            "message": ["", "seeds.csv lacks column(s) x: give neuron_id, y, x columns " * 2],
        }
    )
    widget._fill_report(report)
    qtbot.wait(50)
    table, header = widget.report, widget.report.horizontalHeader()
    assert not table.horizontalScrollBar().isVisible()
    assert header.length() <= table.viewport().width(), (header.length(), table.viewport().width())
    metrics = table.fontMetrics()
    for c in (1, 2, 3):  # step, status, seconds: as wide as their text
        for r in range(table.rowCount()):
            text = table.item(r, c).text()
            assert metrics.horizontalAdvance(text) < header.sectionSize(c), (c, text)
        title = table.horizontalHeaderItem(c).text()
        assert header.fontMetrics().horizontalAdvance(title) < header.sectionSize(c), title
    assert table.item(0, 3).text() == "1234.6"
    assert table.horizontalHeaderItem(3).toolTip() == "seconds the step took"
    # the recording and message columns share the rest: a short name reads whole (the default
    # font of PyQt6 leaves them 60 px each at 1300 x 800, PyQt5's more)
    assert abs(header.sectionSize(0) - header.sectionSize(4)) <= 1
    assert metrics.horizontalAdvance("rec00") < header.sectionSize(0)


@pytest.mark.parametrize(
    ("name", "source"),
    [("Neuronal ensembles", "set by you"), ("Neuronal ensembles", "from the transients step"),
     ("Traces (signals)", "from the traces' time_s"), ("Transients curation", "from the recording")],
)  # fmt: skip
def test_the_frame_rate_note_is_shown_whole(make_napari_viewer, qtbot, name, source):
    """The note saying where the frame rate came from reads whole (it was "from the re…"),
    wrapped under the box, whose number stays whole too."""
    from napari_catrack.widgets._context_controls import FrameRateControl

    _, widget = _docked(make_napari_viewer, qtbot, name)
    control = widget.findChild(FrameRateControl)
    control.ctx.set_fps(10.0, source=source)
    qtbot.wait(50)
    label = control.source
    from qtpy.QtWidgets import QLabel

    assert QLabel.text(label) == source == label.toolTip()  # what it shows (not elided: whole)
    width = label.contentsRect().width()
    assert label.wordWrap() and label.isVisible()
    # every word fits the label's width, and its height holds the wrapped lines
    metrics = label.fontMetrics()
    assert max(metrics.horizontalAdvance(w) for w in source.split()) <= width, width
    assert label.height() >= label.heightForWidth(label.width()), label.height()
    field = control.spin.lineEdit()
    assert field.width() >= control.spin.fontMetrics().horizontalAdvance(field.text())


def test_the_events_placeholders_are_whole(make_napari_viewer, qtbot):
    """The Events widget's file fields show their placeholders whole in the 1300 x 800 dock
    ("optional: imaging frame…"); the whole sentence is each field's tooltip."""
    _, widget = _docked(
        make_napari_viewer, qtbot,
        "Behaviour events",
    )  # fmt: skip
    for field in (widget.events_file, widget.frame_times, widget.video_file):
        text = field.placeholderText()
        room = field.contentsRect().width() - 8  # the line edit's text margins
        assert field.fontMetrics().horizontalAdvance(text) <= room, (text, room)
        assert len(field.toolTip()) > len(text)  # the rest of it
    assert "timestamps" in widget.frame_times.toolTip()


def test_the_batch_dock_does_not_scroll_sideways(make_napari_viewer, qtbot):
    """At 1300 x 800 beside Load recording the Batch dock scrolled sideways (its steps, four a
    row, needed 407 px of a 382 px view) and cut Choose… and Cancel at its right edge."""
    from qtpy.QtWidgets import QScrollArea

    _, widget = _docked(make_napari_viewer, qtbot, BATCH)
    area = widget.findChild(QScrollArea)
    assert area.widget().width() <= area.viewport().width(), (
        area.widget().width(), area.viewport().width())  # fmt: skip
    assert not area.horizontalScrollBar().isVisible()
    right = widget.cancel_button.mapTo(area.viewport(), widget.cancel_button.rect().topRight())
    assert right.x() < area.viewport().width()


def test_the_ensembles_table_field_is_whole(make_napari_viewer, qtbot):
    """The Neuronal ensembles widget's transients field named the session's table in a
    placeholder the dock elided ("table from session (111 t…"); it is short now, the whole
    sentence (with the rejected cells left out) in its tooltip."""
    _, widget = _docked(make_napari_viewer, qtbot, "Neuronal ensembles")
    table = pd.DataFrame({"neuron_id": ["a"] * 111, "peak_frame": range(111)})
    widget.set_table(table)
    field = widget.path
    text = field.placeholderText()
    room = field.contentsRect().width() - 8  # the line edit's text margins
    assert "111" in text and field.fontMetrics().horizontalAdvance(text) <= room, (text, room)
    assert "111 transients" in field.toolTip()
