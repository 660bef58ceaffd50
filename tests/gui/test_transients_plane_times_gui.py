"""The Transients widget times each cell's transients on its trace's clock (`time_s`): a
multi-plane suite2p import's plane p is imaged p / (n x fs) after plane 0, and its transients
left the widget (session, CSV export) at frame / fs."""

from __future__ import annotations

import pytest

from tests.gui.test_transients_widget import FPS, _detect, _traces, _widget

pytestmark = pytest.mark.gui

LATE = {"a": 0.0, "b": 1 / (3 * FPS), "c": 2 / (3 * FPS)}  # three planes at FPS volumes/s


def _check(table) -> None:
    assert set(table["neuron_id"]) == set(LATE)
    for c in ("start", "peak", "end"):
        want = table[f"{c}_frame"] / FPS + table["neuron_id"].map(LATE)
        assert table[f"{c}_time_s"].to_numpy() == pytest.approx(want.to_numpy())


def test_transients_are_timed_on_each_planes_clock(make_napari_viewer, qtbot, tmp_path):
    from napari_catrack.session import session_for_viewer

    traces = _traces()
    traces["time_s"] = traces["time_s"] + traces["neuron_id"].map(LATE)
    traces.to_csv(tmp_path / "traces.csv", index=False)
    viewer = make_napari_viewer()
    widget = _widget(viewer, qtbot)
    assert widget.load_csv(tmp_path / "traces.csv")
    _detect(widget, qtbot)
    _check(widget.state.transients())
    widget.select_cell("c")
    widget.add_span(500, 520)  # a manual transient on plane 2's cell
    _check(widget.state.transients())
    # the session's traces (an import's), and what the widget records there
    session = session_for_viewer(viewer)
    session.path = tmp_path / "s.catrack.h5"
    session.record("traces", tables={"traces": traces}, params={"fps": FPS})
    assert widget.load_session_traces()
    _detect(widget, qtbot)
    widget.save_to_session()
    _check(session["transients"].tables["transients"])
