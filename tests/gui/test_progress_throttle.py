"""Progress from workers is throttled, and Cancel works during a long run.

Before: every report of a worker became one queued Qt signal (12,500 for 200,000 ensemble
shuffles); napari's progress bar processes events on each update, so the signals nested into a
flood of RecursionErrors (napari's own excepthook failed on them) and Cancel was not seen: the
shuffles ran to the end.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

from napari_catrack.synthetic.rasters import planted_ensembles
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui


@pytest.fixture
def uncaught(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(sys, "excepthook", lambda t, e, tb: seen.append(f"{t.__name__}: {e}"))
    return seen


def test_a_flood_of_reports_wakes_the_gui_rarely_and_shows_the_last(qtbot):
    from qtpy.QtWidgets import QProgressBar

    from napari_catrack.widgets._common import progress_relay

    bar = QProgressBar()
    qtbot.addWidget(bar)
    relay = progress_relay(bar)
    woken = []
    relay.progressed.connect(lambda *_: woken.append(1))
    relay.start("flood")
    assert bar.maximum() == 0  # busy (not a stuck 0 %) until the first report comes

    def flood():
        for i in range(1, 20_001):
            relay.report(i, 40_000, f"step {i}")
        time.sleep(0.3)  # a long stretch with no report: the last value must still be shown
        relay.report(30_000, 40_000, "three quarters")

    t0 = time.monotonic()
    worker = threading.Thread(target=flood)
    worker.start()
    qtbot.waitUntil(lambda: not worker.is_alive(), timeout=20000)
    elapsed = time.monotonic() - t0
    qtbot.waitUntil(lambda: bar.value() == 75, timeout=2000)  # the last one, shown anyway
    assert "three quarters" in bar.format()
    assert len(woken) <= elapsed / relay.INTERVAL_S + 3, (len(woken), elapsed)
    relay.finish(stopped=True)  # a cancelled job's bar goes back to 0 (not stuck at 75 %)
    assert bar.value() == 0


def test_cancel_stops_200000_shuffles_promptly(make_napari_viewer, qtbot, tmp_path, uncaught):
    from qtpy.QtCore import Qt

    from napari_catrack.widgets.ensembles import EnsemblesWidget

    planted = planted_ensembles(
        n_neurons=24, n_frames=300, n_ensembles=2, ensemble_size=6, n_activations=8, seed=6
    )
    csv = tmp_path / "transients.csv"
    planted.events.to_csv(csv, index=False)
    viewer = make_napari_viewer(show=True)
    widget = EnsemblesWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.path.setText(str(csv))
    widget.fps.setValue(planted.fps)
    widget.shuffles.setValue(200_000)

    qtbot.mouseClick(widget.find_button, Qt.LeftButton)
    job = widget.job
    woken = []  # how often the worker's progress woke the GUI thread
    job._relay.progressed.connect(lambda *_: woken.append(1))
    t_start = time.monotonic()
    qtbot.waitUntil(lambda: widget.bar.value() > 0, timeout=30000)  # the shuffles are running
    qtbot.wait(500)
    assert job.running
    t0 = time.monotonic()
    qtbot.mouseClick(widget.cancel_button, Qt.LeftButton)
    wait_job(qtbot, job, timeout=60000)
    stopped_in = time.monotonic() - t0
    assert job.outcome == "cancelled"
    # stopped between chunks ("shuffles cancelled"), not run to the end and then dropped
    assert widget.status.text().startswith("shuffles cancelled"), widget.status.text()
    assert stopped_in < 3.0, stopped_in
    assert len(woken) <= (time.monotonic() - t_start) / 0.1 + 3, len(woken)
    assert widget.bar.value() == 0
    assert not uncaught, uncaught[:3]
