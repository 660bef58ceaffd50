"""Ensemble figures are export items (h14): `figure:ensembles_coactivity`, `_raster` and
`_similarity`, drawn from the session alone as `catrack ensembles --figures` draws them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.ensembles import find_ensembles, trains_from_table
from napari_catrack.core.ensembles.records import ensembles_from_session, record_ensembles
from napari_catrack.errors import InputError
from napari_catrack.export import available_items, export_session
from napari_catrack.export.figures import build_figure
from napari_catrack.figures.style import COLUMN_IN, DOUBLE_IN, STYLE
from napari_catrack.session import Session

FPS, N_FRAMES = 10.0, 600
GROUPS = (["n00", "n01", "n02", "n03"], ["n04", "n05", "n06", "n07"])  # two planted ensembles


def _transients(seed: int = 3) -> pd.DataFrame:
    """Onsets: each group fires together 8 times (within a frame), plus sparse lone events; the
    silent neurons n10, n11 have none (they are in the traces only)."""
    rng = np.random.default_rng(seed)
    rows = []
    starts = rng.permutation(np.arange(20, N_FRAMES - 20, 18))[:16]  # irregular, apart
    for g, group in enumerate(GROUPS):
        for start in starts[g::2]:
            rows += [(n, int(start + rng.integers(0, 2))) for n in group]
    for n in ["n08", "n09", *GROUPS[0][:2]]:
        rows += [(n, int(f)) for f in rng.choice(N_FRAMES - 5, 4, replace=False)]
    table = pd.DataFrame(rows, columns=["neuron_id", "start_frame"])
    table["peak_frame"] = table["start_frame"] + 2
    table["end_frame"] = table["start_frame"] + 4
    return table.sort_values(["neuron_id", "start_frame"], ignore_index=True)


def _session_with(path, ids, table, result) -> Session:
    """A session of 12 neurons' (flat) traces, these transients and this ensembles result."""
    s = Session(path, autosave=False)
    s.set_recording("rec.tif", {}, {"fps": FPS})
    traces = pd.DataFrame({"neuron_id": np.repeat(ids, 2), "frame": np.tile([0, 1], 12),
                           "dff": 0.0})  # fmt: skip
    s.record("traces", tables={"traces": traces})
    s.record("transients", tables={"transients": table}, attrs={"fps": FPS})
    record_ensembles(s, result)
    return s


@pytest.fixture(scope="module")
def ensemble_session(tmp_path_factory):
    table = _transients()
    ids = [f"n{i:02d}" for i in range(12)]
    trains = trains_from_table(table, n_frames=N_FRAMES, neuron_ids=ids)
    result = find_ensembles(trains, FPS, n_shuffles=200, seed=1)
    assert result.n_ensembles == 2 and len(result.events) >= 14  # the planted ones are found
    path = tmp_path_factory.mktemp("ens") / "ens.catrack.h5"
    s = _session_with(path, ids, table, result)
    s.save()
    s.close()
    return Session.load(path), result


def test_the_ensembles_step_rebuilds_the_result_its_figures_need(ensemble_session):
    session, result = ensemble_session
    back = ensembles_from_session(session)
    assert back.trains.n_neurons == 12 and back.trains.n_events == result.trains.n_events
    np.testing.assert_array_equal(back.coactivity, result.coactivity)
    np.testing.assert_allclose(back.linkage, result.linkage)
    assert back.n_ensembles == 2 and back.threshold == result.threshold
    pd.testing.assert_frame_equal(back.events, result.events, check_dtype=False)


def test_ensemble_figures_are_export_items_written_with_the_right_content(
    ensemble_session, tmp_path
):
    session, result = ensemble_session
    keys = {i.key: i.relative_path() for i in available_items(session)}
    for name in ("coactivity", "raster", "similarity"):
        assert keys[f"figure:ensembles_{name}"] == f"figures/ensembles_{name}.svg"
    n_events = len(result.events)
    fig = build_figure(session, "ensembles_coactivity")
    ax = fig.axes[0]
    assert f"{n_events} events, 2 ensembles" in ax.get_title() and "rec.tif" in ax.get_title()
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel().startswith("active neurons per")
    markers = [ln for ln in ax.get_lines() if ln.get_marker() == "v"]
    assert len(markers) == n_events  # one marker per ensemble event
    assert fig.get_size_inches()[0] in (COLUMN_IN, DOUBLE_IN)
    assert ax.title.get_fontsize() == STYLE["axes.titlesize"]  # the publication style
    raster = build_figure(session, "ensembles_raster").axes[0]
    assert len(raster.patches) == n_events  # each event shaded
    assert raster.get_ylabel() == "neuron (grouped by ensemble)"
    sim = build_figure(session, "ensembles_similarity")
    heat = next(a for a in sim.axes if a.get_images() and a.get_xlabel())
    assert heat.get_images()[0].get_array().shape == (n_events, n_events)

    out = export_session(session, tmp_path, ["figure:ensembles_coactivity",
                                              "figure:ensembles_raster"])  # fmt: skip
    assert out.failed == []
    svg = (tmp_path / "figures" / "ensembles_coactivity.svg").read_text()
    assert svg.startswith("<?xml") and f"{n_events} events, 2 ensembles" in svg
    assert (tmp_path / "figures" / "ensembles_raster.svg").stat().st_size > 1000


def test_ensemble_figures_refuse_transients_edited_since(ensemble_session):
    session, _ = ensemble_session
    step = session["transients"]
    fewer = step.tables["transients"].iloc[1:]
    session.record("transients", tables={"transients": fewer}, attrs=step.attrs, save=False)
    try:
        with pytest.raises(InputError, match="run the ensembles again"):
            build_figure(session, "ensembles_raster")
    finally:
        session.record("transients", tables=dict(step.tables), attrs=step.attrs, save=False)


def test_ensemble_figures_refuse_an_onset_moved_out_of_an_event(ensemble_session):
    """An edit that keeps the counts (a transient's onset dragged to another frame, as in
    Transients curation) changes which neurons each event holds: the figures would shade events
    and rows from trains the step never saw. Refused as edited, like a deleted transient."""
    session, result = ensemble_session
    step = session["transients"]
    table = step.tables["transients"].copy()
    first = result.events.iloc[0]
    in_event = (table.start_frame >= first.start_frame) & (table.start_frame <= first.end_frame)
    row = table.index[in_event][0]
    table.loc[row, ["start_frame", "peak_frame", "end_frame"]] = [N_FRAMES - 5, N_FRAMES - 3,
                                                                   N_FRAMES - 1]  # fmt: skip
    session.record("transients", tables={"transients": table}, attrs=step.attrs, save=False)
    try:
        with pytest.raises(InputError, match="run the ensembles again"):
            ensembles_from_session(session)
    finally:
        session.record("transients", tables=dict(step.tables), attrs=step.attrs, save=False)
    ensembles_from_session(session)  # the transients the step read: accepted again


def test_ensemble_figures_take_the_silent_neurons_from_the_transients_cell_table(
    ensemble_session,
):
    """The two-photon demo's session: traces of every source (28, integer ids), transients of
    the accepted ones (25, text ids) with a cell table listing all 25, silent ones too. Its
    ensembles counted those 25: rebuilt from the traces' ids (or without the silent ones) the
    figures were refused with "run the ensembles again", which could never help."""
    session, result = ensemble_session
    traces, transients = session["traces"], session["transients"]
    ids = [f"n{i:02d}" for i in range(12)]
    cells = pd.DataFrame({"neuron_id": ids, "n_transients": 0})
    other = pd.DataFrame({"neuron_id": np.repeat(np.arange(1, 15), 2), "frame": np.tile([0, 1], 14),
                          "dff": 0.0})  # fmt: skip
    session.record("traces", tables={"traces": other}, save=False)
    session.record("transients", tables={**transients.tables, "cells": cells},
                   attrs=transients.attrs, save=False)  # fmt: skip
    try:
        back = ensembles_from_session(session)
        assert back.trains.n_neurons == 12
        np.testing.assert_array_equal(back.coactivity, result.coactivity)
    finally:
        session.record("traces", tables=dict(traces.tables), save=False)
        session.record("transients", tables=dict(transients.tables), attrs=transients.attrs,
                       save=False)  # fmt: skip


def test_an_analysis_without_ensemble_events_still_exports_its_coactivity_and_raster(tmp_path):
    """`catrack ensembles` draws the coactivity (under its threshold) and the raster when no
    event passes; the export offered no ensemble figure at all then (SIMA's 20-frame movie,
    7 transients, h19 walk). The similarity of no event has nothing to draw: not offered."""
    table = _transients().query("neuron_id in ['n08', 'n09']").reset_index(drop=True)
    ids = [f"n{i:02d}" for i in range(12)]
    trains = trains_from_table(table, n_frames=N_FRAMES, neuron_ids=ids)
    result = find_ensembles(trains, FPS, n_shuffles=50, seed=1)
    assert len(result.events) == 0
    s = _session_with(tmp_path / "none.catrack.h5", ids, table, result)
    keys = {i.key for i in available_items(s)}
    assert {"figure:ensembles_coactivity", "figure:ensembles_raster"} <= keys
    assert "figure:ensembles_similarity" not in keys
    assert "0 events" in build_figure(s, "ensembles_coactivity").axes[0].get_title()
