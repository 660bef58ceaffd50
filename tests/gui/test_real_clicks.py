"""Buttons pressed with the mouse (`qtbot.mouseClick`), as a user does, not their methods called.

Before: Register, Summary images, Extract sources and Fit drawn/edited cells all failed when
clicked ("run() takes 1 positional argument but 2 were given": Qt's `clicked(bool checked)` went
through the error-policy decorator into handlers that take no argument), and Accept/Reject with
no component selected escaped to Qt's excepthook as a traceback. The tests called `widget.run()`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from napari_catrack.session import session_for_viewer
from napari_catrack.synthetic import make_two_photon_movie
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
REGISTRATION = "Motion correction"
SOURCES = "Sources (two-photon)"


def _manifest_widgets() -> list[str]:
    from napari_catrack import __file__ as package_init

    manifest = yaml.safe_load((Path(package_init).parent / "napari.yaml").read_text())
    return [w["display_name"] for w in manifest["contributions"]["widgets"]]


@pytest.fixture
def uncaught(monkeypatch):
    """What reached sys.excepthook (an exception escaping a Qt slot) during the test."""
    seen: list[str] = []
    monkeypatch.setattr(sys, "excepthook", lambda t, e, tb: seen.append(f"{t.__name__}: {e}"))
    return seen


@pytest.fixture
def bugs(caplog):
    """Exceptions the error policy reported as bugs (not a user's mistake): logged as errors."""
    caplog.set_level(logging.ERROR, logger="napari_catrack")

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

    return logged


def _click(qtbot, button) -> None:
    from qtpy.QtCore import Qt

    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.LeftButton)


def _front(dock, qtbot) -> None:
    """Bring a (tabbed) dock to the front, as a user does before clicking in it."""
    dock.show()
    dock.raise_()
    qtbot.wait(20)


def test_two_photon_buttons_work_when_clicked(make_napari_viewer, qtbot, uncaught, bugs):
    viewer = make_napari_viewer(show=True)
    mov = make_two_photon_movie(
        160, (48, 48), n_cells=5, seed=11, silent_fraction=0, cell_brightness=(60, 120),
        event_rate_hz=(0.4, 0.8), drift_px_per_sqrt_s=0.3,
    )  # fmt: skip
    viewer.add_image(mov.movie, name="two-photon", metadata={"catrack": {"role": "green", "fps": mov.fps}})  # fmt: skip
    reg_dock, reg = viewer.window.add_plugin_dock_widget(PLUGIN, REGISTRATION)
    src_dock, src = viewer.window.add_plugin_dock_widget(PLUGIN, SOURCES)
    session = session_for_viewer(viewer)

    _front(reg_dock, qtbot)
    reg.form.control("mode").setCurrentText("rigid")  # quick
    _click(qtbot, reg.run_button)
    wait_job(qtbot, reg.job, timeout=120000)
    assert reg.job.outcome == "done", reg.status.text()
    assert reg.registered_layer() is not None and "registration" in session

    _front(src_dock, qtbot)
    assert src.movie.currentText() == reg.registered_layer().name
    _click(qtbot, src.summary_button)
    wait_job(qtbot, src.job, timeout=120000)
    assert src.job.outcome == "done", src.status.text()
    assert "correlation image" in viewer.layers and "summary" in session

    src.form.control("patch_px").setValue(0)
    _click(qtbot, src.extract_button)
    wait_job(qtbot, src.job, timeout=300000)
    assert src.job.outcome == "done", src.status.text()
    comps = session["sources"].tables["components"]
    assert len(comps) > 0 and "footprints" in viewer.layers
    item = src.cells.item(0)  # a long rejection reason is cut at the list's edge: the tooltip
    assert item.toolTip() == item.text()

    # Accept with nothing selected: the one-line error in the status, nothing uncaught
    src.cells.setCurrentRow(-1)
    _click(qtbot, src.accept_button)
    assert "select a component" in src.status.text()
    _click(qtbot, src.reject_button)
    assert "select a component" in src.status.text()

    # a cell painted with a new label in an empty corner, then "Fit drawn/edited cells"
    footprints = viewer.layers["footprints"]
    labels = np.asarray(footprints.data).copy()
    new_id = int(labels.max()) + 1
    y, x = np.argwhere(labels == 0)[0]
    labels[y : y + 4, x : x + 4] = np.where(labels[y : y + 4, x : x + 4] == 0, new_id, labels[y : y + 4, x : x + 4])  # fmt: skip
    footprints.data = labels
    _click(qtbot, src.refit_button)
    wait_job(qtbot, src.job, timeout=120000)
    assert src.job.outcome == "done", src.status.text()
    assert len(session["sources"].tables["components"]) == len(comps) + 1

    assert not uncaught
    assert not bugs()


def test_error_policy_passes_only_the_arguments_a_handler_takes(qtbot, uncaught):
    """`clicked(bool checked)` reaches a handler that takes it, and only that one."""
    from qtpy.QtWidgets import QLabel, QPushButton, QWidget

    from napari_catrack.widgets._worker import reported, reports_errors

    calls = []

    class Widget(QWidget):
        status = QLabel()

        @reports_errors("plain")
        def plain(self):
            calls.append("plain")

        @reports_errors("checked")
        def with_checked(self, checked):
            calls.append(("checked", checked))

        @reports_errors("any")
        def any_args(self, *args):
            calls.append(("any", args))

        @reports_errors("two")
        def two(self, tool, path=None):
            calls.append(("two", tool, path))

        @reports_errors("failing")
        def failing(self):
            raise ValueError("boom")

    w = Widget()
    qtbot.addWidget(w)
    for handler in (w.plain, w.with_checked, w.any_args, w.failing):
        button = QPushButton(w)
        button.clicked.connect(handler)
        _click(qtbot, button)
    w.two("suite2p", "/x")
    verdict = QPushButton(w)
    verdict.clicked.connect(reported(w, "verdict", lambda: w.two("caiman")))
    _click(qtbot, verdict)
    assert calls == ["plain", ("checked", False), ("any", (False,)), ("two", "suite2p", "/x"),
                     ("two", "caiman", None)]  # fmt: skip
    assert w.status.text() == "failing failed: ValueError: boom"
    assert not uncaught


def _dismiss_dialogs(monkeypatch, qtbot):
    """No dialog may wait for a person: every file dialog answers "cancelled", every question
    "no", and any other modal window is closed as soon as it opens."""
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

    asked: list[str] = []

    def answer(name, value):
        def ask(*_args, **_kwargs):
            asked.append(name)
            return value

        return staticmethod(ask)

    for name, value in (
        ("getOpenFileName", ("", "")),
        ("getOpenFileNames", ([], "")),
        ("getSaveFileName", ("", "")),
        ("getExistingDirectory", ""),
        ("getOpenFileUrl", (None, "")),
    ):
        monkeypatch.setattr(QFileDialog, name, answer(name, value))
    for name in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, name, answer(name, QMessageBox.No))
    for name in ("getText", "getItem", "getInt", "getDouble"):
        monkeypatch.setattr(QInputDialog, name, answer(name, ("", False)))

    def close_modal():
        modal = QApplication.activeModalWidget()
        if modal is not None:
            asked.append(f"modal {type(modal).__name__}")
            modal.close()

    timer = QTimer()
    timer.timeout.connect(close_modal)
    timer.start(50)
    return asked, timer


def _idle(qtbot, timeout=60000) -> None:
    """Every background job a click started has finished (napari's workers use Qt's pool)."""
    from qtpy.QtCore import QThreadPool

    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=timeout)
    qtbot.wait(20)


def test_every_button_of_every_widget_clicked_without_data(
    make_napari_viewer, qtbot, monkeypatch, uncaught, bugs
):
    """Each enabled push button of each napari-catrack widget, clicked on an empty viewer: a
    one-line message at most, never a TypeError, a bug report or an exception escaping to Qt."""
    from qtpy.QtWidgets import QPushButton

    from napari_catrack.core.behaviour import sam
    from napari_catrack.errors import InputError

    def offline(*_a, **_k):
        raise InputError("offline in this test")

    monkeypatch.setattr(sam, "download_checkpoint", offline)  # "Download SAM weights"
    asked, timer = _dismiss_dialogs(monkeypatch, qtbot)
    viewer = make_napari_viewer(show=True)
    docked = [(name, *viewer.window.add_plugin_dock_widget(PLUGIN, name)) for name in _manifest_widgets()]  # fmt: skip
    clicked = []
    for name, dock, widget in docked:
        _front(dock, qtbot)
        for button in widget.findChildren(QPushButton):
            if not (button.isEnabled() and button.isVisibleTo(widget)):
                continue
            _click(qtbot, button)
            clicked.append(f"{name}: {button.text()}")
            _idle(qtbot)
    timer.stop()
    assert len(clicked) > 40, clicked  # (each widget has a few)
    assert {"getOpenFileName", "getSaveFileName", "getExistingDirectory"} <= set(asked)
    assert not uncaught, uncaught
    assert not bugs(), bugs()
