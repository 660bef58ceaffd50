"""The Transients widget's figure export leaves dF cells off its dF/F axes (h20)."""

from __future__ import annotations

import numpy as np


def test_curation_figures_leave_dF_cells_off_the_dF_F_axes(tmp_path):
    """A cell whose dff is dF (the session's `dff_kind`) set the widget's exported "ΔF/F"
    axes with numbers in the thousands: the traces and amplitude figures leave it out, counted
    in the title; the raster keeps it. Fails before h20 (no `df_ids`)."""
    from napari_catrack.core.transients import detect_transients
    from napari_catrack.core.transients.curation import CurationState
    from napari_catrack.widgets._transients_io import export_figures

    t = np.arange(300)
    rng = np.random.default_rng(0)
    one = np.where((t % 60) < 8, 2.0, 0.0) + rng.normal(0, 0.05, 300)
    dff = np.stack([one, 1000 * one, one])  # b's dff is dF (trace units)
    st = CurationState()
    st.set_traces(["a", "b", "c"], t, dff, 10.0)
    st.set_table(detect_transients(dff, 10.0, "rules", st.ids))
    assert set(st.table["neuron_id"]) == {"a", "b", "c"}
    paths = export_figures(st, tmp_path, "svg", df_ids=["b"])
    svg = {p.stem: p.read_text() for p in paths}
    assert "1 cell with dF, not dF/F, left out" in svg["transients_traces"]
    assert "1 cell with dF, not dF/F, left out" in svg["transients_amplitudes"]
    assert "dF, not dF/F" not in svg["transients_raster"]
