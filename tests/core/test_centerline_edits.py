"""`records.record_centerline_edits`: a path edited in the centerline layer (widget docked or
not) becomes that frame's centerline in the session, the rest of the step kept (h13 item 3)."""

from __future__ import annotations

import numpy as np

from napari_catrack.core.behaviour import CenterlineResult
from napari_catrack.core.behaviour.posture import posture_table
from napari_catrack.core.behaviour.records import (
    centerline_from_session,
    record_centerline,
    record_centerline_edits,
)
from napari_catrack.session import Session


def _straight(T: int = 6, N: int = 11) -> np.ndarray:
    """Straight worms 10 px long (y = t, x = 0..10)."""
    x = np.linspace(0.0, 10.0, N)
    return np.stack([np.column_stack([np.full(N, float(t)), x]) for t in range(T)])


def test_an_edit_replaces_its_frame_and_keeps_the_rest_of_the_step(tmp_path):
    pts = _straight()
    T = len(pts)
    result = CenterlineResult(pts.copy(), np.full(T, "ok", dtype=object), np.full(T, 10.0),
                              np.full(T, 3.0), np.full(T, 1.0))  # fmt: skip
    session = Session(tmp_path / "s.catrack.h5")
    posture = posture_table(pts, pixel_size_um=2.0).assign(status="ok")
    record_centerline(session, result, {"points": 11}, posture=posture, head_points={1: (1.0, 0.0)},
                      posture_facts={"pixel_size_um": 2.0})  # fmt: skip
    longer = pts[2].copy()
    longer[:, 1] *= 2.0  # the user stretches frame 2's path to 20 px
    record_centerline_edits(session, {2: longer})

    again = Session.load(tmp_path / "s.catrack.h5")  # autosaved
    stored, heads = centerline_from_session(again)
    assert list(stored.status) == ["ok", "ok", "edited", "ok", "ok", "ok"]
    np.testing.assert_allclose(stored.points[2], longer)
    np.testing.assert_allclose(stored.points[[0, 1, 3, 4, 5]], pts[[0, 1, 3, 4, 5]])
    step = again["centerline"]
    assert step.params == {"points": 11} and heads == {1: (1.0, 0.0)}
    assert step.attrs["posture"] == {"pixel_size_um": 2.0}
    table = step.tables["posture"]
    np.testing.assert_allclose(table["length_px"], [10, 10, 20, 10, 10, 10])
    np.testing.assert_allclose(table["length_um"], [20, 20, 40, 20, 20, 20])
    assert table["status"].tolist()[2] == "edited"
    assert step.tables["frames"]["length_px"].tolist()[2] == 20.0
