"""The Ensembles widget reads a session's transients through `records.ensemble_input`, the one
rule `catrack ensembles --session`, the batch and the demos use (tests/core/test_rejected_cells.py
checks those): a rejected cell and its transients are left out (h19)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.session import session_for_viewer
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui


def test_the_widget_counts_the_neurons_every_route_counts(make_napari_viewer, qtbot):
    from napari_catrack.core.ensembles.records import ensemble_input
    from napari_catrack.core.sources.session import set_verdict
    from napari_catrack.core.transients import cell_table, detect_transients
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.widgets.ensembles import EnsemblesWidget

    rng = np.random.default_rng(0)
    ids = ["3", "5", "7", "9"]
    dff = rng.normal(0, 0.02, (4, 400))
    for row in dff:
        for peak in (40, 150, 260, 350):
            row[peak : peak + 20] += np.exp(-np.arange(20) / 4.0)
    viewer = make_napari_viewer()
    session = session_for_viewer(viewer)
    frames = np.arange(400)
    traces = pd.DataFrame({"neuron_id": np.repeat(ids, 400), "frame": np.tile(frames, 4),
                           "dff": dff.ravel()})  # fmt: skip
    session.record("traces", tables={"traces": traces})
    table = detect_transients(dff, 20.0, "rules", ids)
    record_transients(session, table, cell_table(table, ids, 400, 20.0), {}, fps=20.0)
    set_verdict(session, "5", "rejected", "poor signal")
    want = ensemble_input(session, table)
    assert 0 < len(want.transients) < len(table) and list(want.neuron_ids) == ["3", "7", "9"]

    widget = EnsemblesWidget(viewer)
    assert widget.load_session_transients()
    pd.testing.assert_frame_equal(widget._table, want.transients)
    assert list(widget._neuron_ids) == ["3", "7", "9"]
    widget.shuffles.setValue(20)
    wait_job(qtbot, widget.find(), timeout=30000)
    p = session["ensembles"].params
    assert p["n_neurons"] == 3 and p["n_input_events"] == len(want.transients)
