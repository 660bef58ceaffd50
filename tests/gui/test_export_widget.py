"""The Export widget lists what the session holds and writes the ticked items in one action, in
the layout catrack batch uses; its NWB button writes the NWB file alone."""

from __future__ import annotations

import pandas as pd
import pytest

from napari_catrack.session import attach_session

from ..core._session_helpers import worm_session
from .helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
TITLE = "Export"


def test_export_widget_writes_the_layout(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    assert widget.items and widget.items[0].key == "session"  # an empty session: itself only
    idle = "nothing exported yet: tick the items, choose a folder, then Export"
    assert widget.status.text() == idle  # it was blank until the first export (h19)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)  # a session opened later: the list follows it
    keys = [i.key for i in widget.items]
    assert {
        "tracks",
        "traces",
        "transients",
        "events:eta_significance",
        "figure:eta",
        "nwb",
    } <= set(keys)
    files = {widget.table.item(r, 2).text() for r in range(widget.table.rowCount())}
    assert {"tracks.csv", "behaviour/velocity.csv", "session.nwb"} <= files
    assert widget.status.text() == idle  # still nothing exported
    assert widget.export() is None and "choose the folder" in widget.status.text()
    widget.folder.setText(str(tmp_path / "out"))
    widget.select(["tracks", "cells", "figure:eta", "nwb"], {"cells": "xlsx", "figure:eta": "png"})
    widget.subject.setText("worm7")
    wait_job(qtbot, widget.export(), timeout=120000)
    out = tmp_path / "out"
    assert sorted(map(str, widget.last_result.written)) == [
        "cells.xlsx",
        "figures/eta.png",
        "session.nwb",
        "tracks.csv",
    ]
    pd.testing.assert_frame_equal(  # as catrack track writes it: 3 decimals
        pd.read_csv(out / "tracks.csv"),
        session["tracks"].tables["tracks"],
        check_dtype=False,
        atol=5e-4,
        rtol=0,
    )
    assert widget.status.text().startswith(f"Wrote 4 files to {out}")
    widget.refresh()  # a session change after an export keeps its summary
    assert widget.status.text().startswith(f"Wrote 4 files to {out}")
    assert "session.nwb" in widget.written.toPlainText()
    widget.folder.setText(str(tmp_path / "out" / "tracks.csv"))  # a file as the folder: refused
    assert widget.export() is None
    assert "tracks.csv is a file; give a folder" in widget.status.text()
    assert widget.written.toPlainText() == "nothing written by this export"  # not the old list
    wait_job(qtbot, widget.export_nwb(tmp_path / "alone.txt"), timeout=120000)
    assert not (tmp_path / "alone.txt").exists()  # docs/nwb.md: the name ends in .nwb
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(tmp_path / "alone.txt.nwb"), "r") as io:
        assert io.read().subject.subject_id == "worm7"


def test_export_widget_refuses_the_tiff_folder_recording(make_napari_viewer, tmp_path):
    """The CLI's output check: exporting into the recording's TIFF folder would add files to
    the recording, so nothing is written and the status says why."""
    import numpy as np
    import tifffile

    from napari_catrack.session import session_for_viewer

    frames = tmp_path / "rec"
    frames.mkdir()
    for i in range(3):
        tifffile.imwrite(frames / f"f{i}.tif", np.full((8, 8), i, dtype=np.uint16))
    before = {p.name: p.read_bytes() for p in frames.iterdir()}
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session_for_viewer(viewer).set_recording(str(frames), {}, {})
    widget.folder.setText(str(frames))
    assert widget.export() is None
    assert "is the input recording of SESSION, a folder whose frame files" in widget.status.text()
    assert widget.written.toPlainText() == "nothing written by this export"
    assert {p.name: p.read_bytes() for p in frames.iterdir()} == before


def test_export_widget_cancel_lists_what_this_run_wrote(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)
    widget.written.setPlainText("old.csv")  # a previous export's list
    widget.folder.setText(str(tmp_path / "out"))
    widget.select(["tracks", "traces"])
    job = widget.export()
    job.cancel()  # before or during the writing: the message says how many files it wrote
    wait_job(qtbot, job, timeout=120000)
    assert "export cancelled" in widget.status.text()
    assert "previous result is kept" not in widget.status.text()
    assert "old.csv" not in widget.written.toPlainText()
    written = (
        sorted(p.name for p in (tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    )
    for name in written:
        assert name in widget.written.toPlainText()


def test_nwb_alone_can_be_cancelled_and_leaves_no_file(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """GUI review 6, item 9: the NWB-only export had no Cancel. Cancelled while its temporary
    file is being written, it leaves no file (partial or whole) at the target and a previous
    file there unchanged, and says so."""
    import hashlib
    import threading

    from pynwb import NWBHDF5IO

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)
    out = tmp_path / "out"
    target = out / "alone.nwb"

    written, gate = threading.Event(), threading.Event()
    real_write = NWBHDF5IO.write

    def slow_write(io, *args, **kwargs):  # the temporary file is written, not yet renamed
        real_write(io, *args, **kwargs)
        written.set()
        gate.wait(60)

    monkeypatch.setattr(NWBHDF5IO, "write", slow_write)
    for earlier_file in (False, True):
        written.clear()
        gate.clear()
        if earlier_file:  # an earlier export of ours at the target: it must survive
            monkeypatch.setattr(NWBHDF5IO, "write", real_write)
            wait_job(qtbot, widget.export_nwb(target), timeout=120000)
            monkeypatch.setattr(NWBHDF5IO, "write", slow_write)
            before = hashlib.md5(target.read_bytes()).hexdigest()
        job = widget.export_nwb(target)
        assert job is not None
        if not widget.cancel_button.isEnabled():  # let the worker finish before failing
            gate.set()
            wait_job(qtbot, job, timeout=120000)
            pytest.fail("the NWB-only export started without an enabled Cancel button")
        qtbot.waitUntil(written.is_set, timeout=120000)
        assert list(out.glob(".alone.nwb.*.partial"))  # really stopped in the middle
        widget.cancel_button.click()
        gate.set()
        wait_job(qtbot, job, timeout=120000)
        assert job.outcome == "cancelled"
        assert not widget.cancel_button.isEnabled() and widget.nwb_button.isEnabled()
        text = widget.status.text()
        assert f"NWB export cancelled: nothing was written to {target}" in text
        assert not list(out.glob("*.partial"))
        if not earlier_file:
            assert not target.exists()
        else:
            assert "the file already there is kept unchanged" in text
            assert hashlib.md5(target.read_bytes()).hexdigest() == before


def test_a_date_only_start_time_is_said_in_the_export_widget(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """The NWB button says that a date-only session_start_time was taken as local midnight,
    with the time zone, in the status line (and a notification)."""
    import time

    from qtpy.QtCore import Qt

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        viewer = make_napari_viewer()
        _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
        session, _ = worm_session(tmp_path / "s", video=False)
        attach_session(viewer, session)
        meta = tmp_path / "meta.yaml"
        meta.write_text("session_start_time: 2024-05-01\nsubject: {subject_id: w7, species: Caenorhabditis elegans}\n")  # fmt: skip
        widget.metadata.setText(str(meta))
        monkeypatch.setattr(
            "napari_catrack.widgets.export.QFileDialog.getSaveFileName",
            lambda *a, **k: (str(tmp_path / "out.nwb"), ""),
        )
        qtbot.mouseClick(widget.nwb_button, Qt.LeftButton)
        wait_job(qtbot, widget.job, timeout=120000)
        text = widget.status.text()
        assert text.startswith(f"NWB file written: {tmp_path / 'out.nwb'}; warning: ")
        assert "session_start_time 2024-05-01 has no time of day: taken as midnight local time, 2024-05-01T00:00:00+02:00 (CEST" in text  # fmt: skip
    finally:
        monkeypatch.undo()
        time.tzset()


def test_nwb_without_subject_or_start_time_is_said_as_the_cli_says(
    make_napari_viewer, qtbot, tmp_path
):
    """User review (h11): the widget's NWB export said only "NWB file written" for a file with
    no subject (DANDI refuses it: nwbinspector CRITICAL) and the session's creation time as the
    session start (the analysis, not the recording); `catrack export-nwb` warned of the first."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)
    wait_job(qtbot, widget.export_nwb(tmp_path / "a.nwb"), timeout=120000)
    text = widget.status.text()
    assert text.startswith(f"NWB file written: {tmp_path / 'a.nwb'}; warning: no subject")
    assert "CRITICAL check_subject_exists" in text
    assert f"no session_start_time in the metadata: the file says the session began at {session.created}" in text  # fmt: skip
    meta = tmp_path / "meta.yaml"
    meta.write_text("session_start_time: 2024-05-01T10:30:00+02:00\n")
    widget.metadata.setText(str(meta))
    widget.subject.setText("w7")
    widget.species.setText("Caenorhabditis elegans")
    wait_job(qtbot, widget.export_nwb(tmp_path / "b.nwb"), timeout=120000)
    assert widget.status.text() == f"NWB file written: {tmp_path / 'b.nwb'}"


@pytest.mark.slow
def test_ensemble_figures_export_after_a_cell_is_rejected(
    make_napari_viewer, qtbot, small_demo, tmp_path
):
    """A user rejects a cell in Transients curation, finds ensembles (the widget leaves the
    rejected cell out), then exports: the ensemble figures were refused ("the session's
    transients are not those its ensembles were found from: run the ensembles again", which
    the user had just done). Now they are written."""
    import shutil

    from napari_catrack.session import Session

    copy = tmp_path / "demo.catrack.h5"
    shutil.copy(small_demo / "demo.catrack.h5", copy)
    session = Session.load(copy)
    viewer = make_napari_viewer()
    attach_session(viewer, session)
    _, curation = viewer.window.add_plugin_dock_widget(PLUGIN, "Transients curation")
    busy = session["transients"].tables["transients"]["neuron_id"].value_counts().index[0]
    curation.select_cell(str(busy))  # a cell with transients
    curation.reject_button.click()
    assert curation.state.status(str(busy))[0] == "rejected"
    _, ensembles = viewer.window.add_plugin_dock_widget(PLUGIN, "Neuronal ensembles")
    ensembles.shuffles.setValue(100)
    ensembles.find_button.click()
    qtbot.waitUntil(
        lambda: ensembles.result is not None and not ensembles.job.running, timeout=60000
    )
    assert str(busy) not in set(ensembles._table["neuron_id"].astype(str))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    widget.folder.setText(str(tmp_path / "out"))
    widget.select(["figure:ensembles_raster", "figure:ensembles_coactivity"])
    widget.export_button.click()
    qtbot.waitUntil(lambda: widget.last_result is not None, timeout=120000)
    assert widget.last_result.failed == []
    assert sorted(map(str, widget.last_result.written)) == [
        "figures/ensembles_coactivity.svg",
        "figures/ensembles_raster.svg",
    ]
    assert "not written" not in widget.status.text()


def test_the_export_status_is_one_short_line_with_the_details_below(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """The status line was a 16-line wall (h16 first-hour walk, item 4): the file count, every
    item not written with its full reason and the NWB metadata warnings, above the written list.
    It is now one short line; the reasons are in the list (and the line's tooltip), the NWB
    warnings under the NWB file, and only when an NWB file was written."""
    import napari.utils.notifications as notifications

    from napari_catrack.errors import InputError
    from napari_catrack.export import write

    real = write._write_item
    reason = "the figure cannot be drawn: " + "a long reason " * 8

    def failing(session, item, *rest):
        if item.key == "figure:eta":
            raise InputError(reason)
        return real(session, item, *rest)

    monkeypatch.setattr(write, "_write_item", failing)
    said: list[str] = []
    monkeypatch.setattr(notifications, "show_warning", lambda msg: said.append(str(msg)))
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)
    out = tmp_path / "out"
    widget.folder.setText(str(out))
    widget.select(["tracks", "traces", "figure:eta", "nwb"])  # no subject: NWB warnings
    widget.export_button.click()
    qtbot.waitUntil(lambda: widget.last_result is not None, timeout=120000)
    line = widget.status.text()
    assert line == f"Wrote 3 files to {out}; 1 item not written, 2 NWB metadata warnings (details below)"  # fmt: skip
    details = widget.written.toPlainText().splitlines()
    eta = next(label for label, _ in widget.last_result.failed)
    assert details[0] == f"NOT WRITTEN {eta}: {reason}"
    at = details.index("session.nwb")
    assert details[at + 1].startswith("    NWB metadata warning: no subject")
    assert details[at + 2].startswith("    NWB metadata warning: no session_start_time")
    assert widget.status.toolTip() == "\n".join(details)
    assert not said  # not as notifications either: they are with the file

    widget.last_result = None  # the same without NWB: no NWB warnings anywhere
    widget.select(["tracks", "traces"])
    widget.export_button.click()
    qtbot.waitUntil(lambda: widget.last_result is not None, timeout=120000)
    assert widget.status.text() == f"Wrote 2 files to {out}"
    assert "NWB" not in widget.written.toPlainText() and not said


def test_the_export_list_is_readable_in_a_laptop_window(make_napari_viewer, qtbot, tmp_path):
    """At 1300 x 800 the file column was 90 px: "session.catrack.h5" read "sessi…ck.h5", the item
    names wrapped to 3-4 lines in 107 px and 4 items showed (h18 walk). Now a short file name
    shows whole, a long one loses its middle (whole in its tooltip, in the export folder), every
    item name reads in two lines at most and 8 items show."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)
    table = widget.table
    assert table.rowCount() >= 20
    line = table.fontMetrics().lineSpacing()
    qtbot.waitUntil(lambda: all(table.rowHeight(r) <= 2 * line + 12 for r in range(table.rowCount())), timeout=5000)  # fmt: skip
    files = [table.item(r, 2).text() for r in range(table.rowCount())]
    for name in ("session.catrack.h5", "transients.csv", "behaviour/posture.csv"):
        assert name in files
        needed = table.fontMetrics().horizontalAdvance(name) + 8
        assert needed <= table.columnWidth(2), (name, needed, table.columnWidth(2))
    last = table.rowAt(table.viewport().height() - 1)
    assert last == -1 or last >= 7, last  # -1: below the last row, all of them show
    widget.folder.setText(str(tmp_path / "out"))
    r = files.index("behaviour/posture.csv")
    assert table.item(r, 2).toolTip() == str(tmp_path / "out" / "behaviour" / "posture.csv")


def _export_in_the_shared_dock(make_napari_viewer, qtbot, tmp_path):
    """(widget, its table): the Export widget on a worm session in a 449 px dock, the width the
    dock of every widget had."""
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(1300, 800)
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)
    dock.setMinimumWidth(449)
    dock.setMaximumWidth(449)
    window.resizeDocks([dock], [449], Qt.Horizontal)
    qtbot.waitUntil(lambda: dock.width() == 449, timeout=5000)
    return widget, widget.table


def test_file_names_read_whole_in_the_dock_every_widget_shares(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    """With every widget docked at 1300 x 800 the tabbed dock is 449 px wide: the file column got
    what the names' two-line width left, 75 px, and read "ses….h5", "can…csv", "tran….csv" (h20
    screenshots). The names now give up that width first (to `MIN_NAME`): the files read whole,
    a name in three lines at most."""

    _, table = _export_in_the_shared_dock(make_napari_viewer, qtbot, tmp_path)
    qtbot.wait(100)
    metrics, line = table.fontMetrics(), table.fontMetrics().lineSpacing()
    files = [table.item(r, 2).text() for r in range(table.rowCount())]
    for name in ("session.catrack.h5", "transients.csv", "verdicts.csv", "traces.csv"):
        assert name in files
        needed = metrics.horizontalAdvance(name) + 8
        assert needed <= table.columnWidth(2), (name, needed, table.columnWidth(2))
    assert all(table.rowHeight(r) <= 3 * line + 12 for r in range(table.rowCount()))


def test_paths_in_a_folder_read_whole_in_the_dock_every_widget_shares(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    """In the 449 px dock every widget shares, a file inside a folder lost its middle:
    "behaviour/c…terline.csv", "figures/tra…des.svg" (h20 leftover), the part that tells the
    files apart. A path too long for its column now reads in two lines, its folder over its
    file name (more where the name alone is wider): every character shows, each line fits its cell and the row is tall enough; a path
    that fits stays on one line, a file name wider than the column breaks after a "_" of its own.
    The tooltip still says where it will be written."""
    from qtpy.QtWidgets import QStyle, QStyleOptionViewItem

    widget, table = _export_in_the_shared_dock(make_napari_viewer, qtbot, tmp_path)
    qtbot.wait(100)
    delegate = table.itemDelegateForColumn(2)
    metrics, line = table.fontMetrics(), table.fontMetrics().lineSpacing()
    margins = 2 * (table.style().pixelMetric(QStyle.PM_FocusFrameHMargin, None, table) + 1)
    two_lines = []
    for r in range(table.rowCount()):
        index = table.model().index(r, 2)
        option = QStyleOptionViewItem()
        option.initFrom(table.viewport())
        option.rect = table.visualRect(index)
        delegate.initStyleOption(option, index)  # what the cell paints
        path, shown = table.item(r, 2).text(), option.text.split("\u2028")  # Qt's line separator
        assert "".join(shown) == path, (path, shown)  # nothing left out
        for part in shown:
            assert metrics.horizontalAdvance(part) <= option.rect.width() - margins, (path, part)
        assert table.rowHeight(r) >= len(shown) * line, (path, table.rowHeight(r))
        if len(shown) > 1:
            two_lines.append(path)
            assert shown[0].endswith("/") and "/" not in "".join(shown[1:]), shown  # folder first
            assert len(shown) == 2 or metrics.horizontalAdvance("".join(shown[1:])) > option.rect.width() - margins  # fmt: skip
    assert "figures/transients_amplitudes.svg" in two_lines, two_lines  # (the check bites)
    assert "tracks.csv" not in two_lines and "session.catrack.h5" not in two_lines
    widget.folder.setText(str(tmp_path / "out"))
    r = [table.item(r, 2).text() for r in range(table.rowCount())].index("figures/eta.svg")
    assert table.item(r, 2).toolTip() == str(tmp_path / "out" / "figures" / "eta.svg")


def test_every_format_reads_whole_in_a_laptop_window(make_napari_viewer, qtbot, tmp_path):
    """The session row's format was a box with one choice, 89 px wide with a 45 px text field:
    "catrack.h5" read "catrac" (h18 walk). A one-format item now shows its format as text, whole,
    and the boxes keep room for their choices; what is exported is unchanged."""
    from qtpy.QtWidgets import QStyle, QStyleOptionComboBox

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1300, 800)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    session, _ = worm_session(tmp_path / "s", video=False)
    attach_session(viewer, session)
    qtbot.wait(50)
    table = widget.table
    metrics = table.fontMetrics()
    shown = {}
    for r, item in enumerate(widget.items):
        combo = table.cellWidget(r, 1)
        if combo is not None:
            opt = QStyleOptionComboBox()
            combo.initStyleOption(opt)
            field = combo.style().subControlRect(
                QStyle.CC_ComboBox, opt, QStyle.SC_ComboBoxEditField, combo
            )
            text, room = combo.currentText(), field.width()
        else:
            text, room = table.item(r, 1).text(), table.columnWidth(1) - 8
        assert metrics.horizontalAdvance(text) <= room, (item.key, text, room)
        shown[item.key] = text
    assert shown["session"] == "catrack.h5" and shown["nwb"] == "nwb"
    assert shown["tracks"] == "csv"
    selection = widget.selection()  # what Export writes: every item in its format
    assert selection["session"] == "catrack.h5" and selection["nwb"] == "nwb"
    widget.select(["session", "tracks"], formats={"tracks": "xlsx"})
    assert widget.selection() == {"session": "catrack.h5", "tracks": "xlsx"}
    r = next(r for r, item in enumerate(widget.items) if item.key == "tracks")
    assert table.item(r, 2).text() == "tracks.xlsx"


def _nwb_rates(path) -> set[float]:
    """The rates of the NWB file's regularly sampled series (imaging and ROI responses)."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        found = {s.rate for s in nwb.acquisition.values() if getattr(s, "rate", None)}
        for module in nwb.processing.values():
            for container in module.data_interfaces.values():
                for series in getattr(container, "roi_response_series", {}).values():
                    if series.rate:
                        found.add(series.rate)
    return found


def test_the_export_widget_has_the_frame_rate_box_of_every_widget(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    """`catrack export --fps` is the NWB file's imaging rate; the widget had no such field (h21
    leftover). Its frame-rate box is the one every widget shares: it shows the session's rate,
    and a rate typed there is the NWB file's (and every other widget's)."""
    from napari_catrack.widgets._context import ViewerContext
    from napari_catrack.widgets._context_controls import FrameRateControl

    from ..core._session_helpers import two_photon_session

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    # (no imaging frame times: those, when the session has them, time the NWB file's series)
    session, _ = two_photon_session(tmp_path / "s")
    attach_session(viewer, session)
    box = widget.findChild(FrameRateControl)
    assert box is not None, "no frame-rate box in the Export widget"
    assert box.spin.value() == pytest.approx(10.0)  # the session's (its recording: 10 Hz)
    box.spin.setValue(7.5)  # as typed: the rate in force for every widget, kept in the session
    assert ViewerContext.of(viewer).fps() == pytest.approx(7.5)
    assert session.frame_rate() == pytest.approx(7.5)
    widget.subject.setText("mouse7")
    wait_job(qtbot, widget.export_nwb(tmp_path / "typed.nwb"), timeout=120000)
    assert _nwb_rates(tmp_path / "typed.nwb") == {7.5}
    widget.folder.setText(str(tmp_path / "out"))
    widget.select(["nwb"])
    wait_job(qtbot, widget.export(), timeout=120000)
    assert _nwb_rates(tmp_path / "out" / "session.nwb") == {7.5}


def test_the_export_wording_follows_the_sessions_kind(make_napari_viewer, tmp_path):
    """A two-photon session (a mouse's cells) was offered "e.g. worm7", "e.g. Caenorhabditis
    elegans" and its traces were "green, red, ratio" (h21 leftover); a worm session keeps
    them."""
    from napari_catrack.export.layout import SOURCES_TRACES_LABEL

    from ..core._session_helpers import two_photon_session

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)

    def traces_label() -> str:
        return next(i.label for i in widget.items if i.key == "traces")

    attach_session(viewer, two_photon_session(tmp_path / "2p")[0])
    assert widget.subject.placeholderText() == "e.g. mouse7"
    assert widget.species.placeholderText() == "e.g. Mus musculus"
    assert traces_label() == SOURCES_TRACES_LABEL
    assert "green" not in traces_label() and "ratio" not in traces_label()
    shown = [widget.table.item(r, 0).text() for r in range(widget.table.rowCount())]
    assert SOURCES_TRACES_LABEL in shown
    attach_session(viewer, worm_session(tmp_path / "worm", video=False)[0])
    assert widget.subject.placeholderText() == "e.g. worm7"
    assert widget.species.placeholderText() == "e.g. Caenorhabditis elegans"
    assert "green, red, ratio" in traces_label()


def test_figures_are_drawn_at_the_rate_the_nwb_file_gets_from_the_layer(make_napari_viewer, qtbot, tmp_path):  # fmt: skip
    """A session that states no frame rate (traces without `time_s`, no recording) over a
    recording layer that does: the NWB file got the layer's rate (`_nwb_fps`), but the figures
    used `session.frame_rate()` and were not written ("the session has no frame rate"). Now
    both use the one rate: the raster's time axis spans n_frames / 4 Hz. Fails on the old
    code."""
    import numpy as np

    from napari_catrack.core.transients import detect_transients
    from napari_catrack.session import Session
    from napari_catrack.widgets._context import ViewerContext

    rng = np.random.default_rng(1)
    n, ids = 200, ["1", "2"]
    dff = rng.normal(0, 0.02, (2, n))
    dff[:, 50:60] += 1.0  # one clear transient each
    traces = pd.DataFrame(
        {"neuron_id": np.repeat(ids, n), "frame": np.tile(np.arange(n), 2), "dff": dff.ravel()}
    )
    session = Session(tmp_path / "s.catrack.h5", autosave=False)
    session.record("traces", tables={"traces": traces})
    found = detect_transients(dff, 4.0, method="rules", neuron_ids=ids)
    assert len(found) >= 2  # the case itself: transients to draw
    session.record("transients", tables={"transients": found})
    assert session.frame_rate() is None  # the session states none
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TITLE)
    attach_session(viewer, session)
    viewer.add_image(
        np.zeros((n, 8, 8), np.uint16),
        name="rec",
        metadata={"catrack": {"role": "green", "fps": 4.0}},
    )
    assert ViewerContext.of(viewer).fps() == pytest.approx(4.0)  # the layer's
    widget.refresh()
    widget.folder.setText(str(tmp_path / "out"))
    widget.select(["figure:transients_raster"], {"figure:transients_raster": "svg"})
    wait_job(qtbot, widget.export(), timeout=120000)
    assert widget.last_result.failed == []
    assert [str(p) for p in widget.last_result.written] == ["figures/transients_raster.svg"]
    from napari_catrack.export.figures import build_figure

    axis = build_figure(session, "transients_raster", widget._nwb_fps()).axes[0]
    assert axis.get_xlim()[1] == pytest.approx(n / 4.0, rel=0.05)
