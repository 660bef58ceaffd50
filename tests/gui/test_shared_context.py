"""One context (channels, alignment, frame rate, session, keys) per viewer, whatever dock closes.

Before: napari hands each dock its own proxy of the viewer; the shared context was keyed by and
held the *first* widget's proxy, so closing that widget's dock made every other napari-catrack
widget fail ("the viewer of this napari-catrack context was closed"), as a traceback.
"""

from __future__ import annotations

import gc
import logging
import sys

import numpy as np
import pandas as pd
import pytest

from napari_catrack.session import session_for_viewer
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui
PLUGIN = "napari-catrack"
TRACES = "Traces (signals)"
TRACK = "Track neurons"


@pytest.fixture
def uncaught(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(sys, "excepthook", lambda t, e, tb: seen.append(f"{t.__name__}: {e}"))
    return seen


def _recording(viewer) -> None:
    """A tiny green movie and a neurons layer (frame, y, x) with ids, as tracking leaves it."""
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((6, 24, 24)).astype(np.float32) + 1, name="green",
                     metadata={"catrack": {"role": "green", "fps": 5.0}})  # fmt: skip
    frames = np.repeat(np.arange(6), 2)
    data = np.column_stack([frames, np.tile([8.0, 16.0], 6), np.tile([8.0, 16.0], 6)])
    viewer.add_points(data, name="tracked neurons",
                      features=pd.DataFrame({"neuron_id": np.tile(["a", "b"], 6)}))  # fmt: skip


def _close_with_its_x(qtbot, dock) -> None:
    """The X on the dock's title bar, as a user closes it; then the widget is really freed."""
    from qtpy.QtCore import Qt

    qtbot.mouseClick(dock.title.close_button, Qt.LeftButton)
    qtbot.wait(50)
    gc.collect()
    qtbot.wait(50)


@pytest.mark.parametrize("first", [
    TRACK, "Align channels", "Neuronal ensembles",
    "Motion correction",
])  # fmt: skip
def test_closing_one_dock_leaves_the_others_working(make_napari_viewer, qtbot, uncaught, first):
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer(show=True)
    _recording(viewer)
    first_dock = viewer.window.add_plugin_dock_widget(PLUGIN, first)[0]  # (its widget: not kept)
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, TRACES)
    session = session_for_viewer(viewer)
    dock_type, title = type(first_dock), first_dock.name
    _close_with_its_x(qtbot, first_dock)
    del first_dock  # nothing here holds the closed widget: it is freed, as in a user's napari
    gc.collect()
    assert not [d for d in viewer.window._qt_window.findChildren(dock_type) if d.name == title]

    assert session_for_viewer(viewer) is session  # the session was not lost with the dock
    traces.points.setCurrentText("tracked neurons")
    qtbot.mouseClick(traces.extract_button, Qt.LeftButton)
    wait_job(qtbot, traces.job)
    assert traces.job.outcome == "done", traces.status.text()
    assert "traces" in session and session["traces"].tables["traces"].neuron_id.nunique() == 2

    # a widget docked after the close shares the same, living context
    _, again = viewer.window.add_plugin_dock_widget(PLUGIN, first)
    assert again.ctx is traces.ctx and again.ctx.viewer is traces.ctx.viewer
    assert not uncaught, uncaught


def test_unexpected_errors_in_extract_and_track_are_one_message(
    make_napari_viewer, qtbot, monkeypatch, uncaught, caplog
):
    """Not a user's mistake (a bug, a closed viewer): one error line in the status (the policy),
    never a traceback escaping to Qt."""
    from qtpy.QtCore import Qt

    from napari_catrack.widgets import tracking
    from napari_catrack.widgets.trace_viewer import TraceViewerWidget

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    caplog.set_level(logging.ERROR, logger="napari_catrack")
    viewer = make_napari_viewer(show=True)
    _recording(viewer)
    _, traces = viewer.window.add_plugin_dock_widget(PLUGIN, TRACES)
    track_dock, track = viewer.window.add_plugin_dock_widget(PLUGIN, TRACK)
    monkeypatch.setattr(TraceViewerWidget, "extraction_inputs", broken)
    monkeypatch.setattr(tracking, "channel_stack", broken)
    track.candidates.neurons = lambda: pd.DataFrame({"neuron_id": ["a"], "y": [8.0], "x": [8.0]})

    qtbot.mouseClick(traces.extract_button, Qt.LeftButton)
    assert traces.status.text() == "trace extraction failed: RuntimeError: boom"
    track_dock.raise_()
    qtbot.mouseClick(track.track_button, Qt.LeftButton)
    assert track.status.text() == "tracking failed: RuntimeError: boom"
    assert not uncaught, uncaught
    assert len([r for r in caplog.records if "RuntimeError: boom" in r.getMessage()]) == 2
