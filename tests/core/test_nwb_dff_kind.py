"""The NWB ROI table says per cell what its dF/F series hold (h21): the PlaneSegmentation of a
two-photon session's sources has a `dff_kind` column ("dF/F", "dF", or "unknown" for a session
written before the sources recorded it), reachable from the DfOverF series' ROI region; tracked
neurons (dff always dF/F) have no such column."""

from __future__ import annotations

import pytest

from napari_catrack.core.sources.dff import DF, DFF

from ._session_helpers import NWB_METADATA, inspect_problems, two_photon_session, worm_session

pytest.importorskip("pynwb")


def _roi_table(path):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        ps = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        if "dff_kind" not in ps.colnames:
            return None, None, None
        rois = nwb.processing["ophys"]["DfOverF"]["dff"].rois
        by_series = [str(v) for v in rois.table["dff_kind"][rois.data[:]]]
        return [str(v) for v in ps["dff_kind"].data[:]], ps["dff_kind"].description, by_series


def test_the_roi_table_says_which_cells_hold_dF(tmp_path):
    """Failed before h21: the PlaneSegmentation had no `dff_kind` column (only the series'
    description named the dF cells)."""
    from napari_catrack.io.nwb import write_nwb

    session, _ = two_photon_session(tmp_path / "s")
    session["sources"].tables["components"]["dff_kind"] = [DFF, DF, DFF, DFF]
    path = write_nwb(session, tmp_path / "tp.nwb", metadata=NWB_METADATA)
    kinds, description, by_series = _roi_table(path)
    assert kinds == ["dF/F", "dF", "dF/F", "dF/F"]
    assert by_series == kinds  # the DfOverF series' ROIs reach it
    assert "'dF' = raw - F0" in description and "'unknown'" in description
    assert not inspect_problems(path)


def test_a_session_without_dff_kind_says_unknown(tmp_path):
    """A session written before the sources recorded dff_kind: every cell "unknown" (not taken
    as dF/F in the file), and a cell refitted into it later (its kind known) keeps its own."""
    from napari_catrack.io.nwb import write_nwb

    session, _ = two_photon_session(tmp_path / "s")
    assert "dff_kind" not in session["sources"].tables["components"]
    path = write_nwb(session, tmp_path / "old.nwb", metadata=NWB_METADATA)
    assert _roi_table(path)[0] == ["unknown"] * 4
    session["sources"].tables["components"]["dff_kind"] = ["", DF, None, ""]
    path = write_nwb(session, tmp_path / "mixed.nwb", metadata=NWB_METADATA)
    assert _roi_table(path)[0] == ["unknown", "dF", "unknown", "unknown"]


def test_tracked_neurons_have_no_dff_kind_column(tmp_path):
    """Tracked neurons' dff is always dF/F (or dR/R0): the column would say nothing."""
    from napari_catrack.io.nwb import write_nwb

    session, _ = worm_session(tmp_path / "w")
    path = write_nwb(session, tmp_path / "w.nwb", metadata=NWB_METADATA)
    assert _roi_table(path)[0] is None


def test_cells_without_footprints_get_their_dff_kind_roi_by_roi(tmp_path):
    """Sources' traces whose cells have no footprints in the session (a traces table without
    masks) are written ROI by ROI (`add_roi`), not as one table of pixel masks: that path's
    `dff_kind` was untested (h22). Each ROI says its kind, a cell the components do not list
    says "unknown", and the DfOverF series' ROIs reach them."""
    import numpy as np
    import pandas as pd
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb

    session, _ = two_photon_session(tmp_path / "s")
    sources = session["sources"]
    sources.arrays.pop("footprints")  # the components without their masks
    sources.tables["components"]["dff_kind"] = [DFF, DF, DFF, DF]
    traces = session["traces"].tables["traces"]
    extra = traces[traces["neuron_id"] == 1].assign(neuron_id=9)  # a cell not in the components
    session["traces"].tables["traces"] = pd.concat([traces, extra], ignore_index=True)
    path = write_nwb(session, tmp_path / "noroi.nwb", metadata=NWB_METADATA)
    kinds, description, by_series = _roi_table(path)
    assert kinds == ["dF/F", "dF", "dF/F", "dF", "unknown"]
    assert by_series == kinds
    assert "'dF' = raw - F0" in description
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        ps = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        assert [str(v) for v in ps["neuron_id"].data[:]] == ["1", "2", "3", "4", "9"]
        # no footprint: each ROI is the placeholder pixel, not a mask of the movie
        assert all([tuple(p) for p in m] == [(0, 0, 0.0)] for m in ps["pixel_mask"][:])
        dff = nwb.processing["ophys"]["DfOverF"]["dff"].data[:]
        assert dff.shape == (60, 5)
        assert np.allclose(dff[:, 1], traces.loc[traces["neuron_id"] == 2, "dff"].to_numpy())
