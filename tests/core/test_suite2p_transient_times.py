"""Transient times on each suite2p plane's clock (session 18): a multi-plane import times plane
p of n at p / (n x fs) after plane 0 in `time_s`; a transient's start/peak/end_time_s were frame /
fs whatever its plane. Built from the real suite2p 0.14.6 output of tests/data
(`test_suite2p_volume.real_planes`)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.io.sources import read_sources
from napari_catrack.io.suite2p import read_suite2p
from tests.core.test_suite2p_volume import FS, real_planes

LATE = 1 / (3 * FS)  # plane 1 of a 3-plane volume at 30 Hz: 11.1 ms after plane 0


def test_transient_times_are_on_each_planes_clock(tmp_path, capsys):
    """A transient's start/peak/end_time_s were frame / fs whatever its cell's plane, while the
    cell's time_s (traces.csv, the session) has its plane's offset: now the same clock, in
    `catrack transients`, the batch step and the curation's tables."""
    from napari_catrack.batch.steps import _transients
    from napari_catrack.core.transients import TransientParams, detect_transients
    from napari_catrack.core.transients.curation import CurationState
    from napari_catrack.session import Session

    root = real_planes(tmp_path / "s2p")
    assert main(["import", "suite2p", str(root), "-o", str(tmp_path / "cells")]) == 0
    got = read_sources(tmp_path / "cells")
    late = dict(zip(got.components["neuron_id"].astype(str), got.components["time_offset_s"], strict=True))  # fmt: skip
    assert set(np.round(list(late.values()), 6)) == {0.0, round(LATE, 6), round(2 * LATE, 6)}

    def check(table: pd.DataFrame) -> None:
        assert len(table) and table["neuron_id"].astype(str).map(late).gt(0).any()
        shift = table["neuron_id"].astype(str).map(late).to_numpy(float)
        for c in ("start", "peak", "end"):
            np.testing.assert_allclose(table[f"{c}_time_s"], table[f"{c}_frame"] / FS + shift, atol=1e-9)  # fmt: skip
        # durations do not move
        np.testing.assert_allclose(table["rise_time_s"], (table["peak_frame"] - table["start_frame"]) / FS)  # fmt: skip

    out = tmp_path / "t.csv"
    args = ["transients", str(tmp_path / "cells" / "traces.csv"), "--fps", str(FS), "--method", "ksigma", "-o", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    cli = pd.read_csv(out)
    check(cli)
    # each trace's time_s: transient times equal it at the transient's frames
    tr = got.traces.set_index(["neuron_id", "frame"])["time_s"]
    row = cli.iloc[len(cli) // 2]
    assert row["peak_time_s"] == pytest.approx(tr[(row["neuron_id"], row["peak_frame"])])

    # the batch step, on the session's traces
    session = Session(tmp_path / "b.catrack.h5", autosave=False)
    from napari_catrack.core.sources.session import record_sources

    record_sources(session, read_suite2p(root), origin="suite2p")
    traces = session["traces"].tables["traces"]
    ctx = SimpleNamespace(table=lambda *_: traces, fps=lambda: FS, session=session)
    _transients(ctx, TransientParams(method="ksigma"))
    check(session["transients"].tables["transients"])

    # the curation's model (the Transients widget): its tables leave with the offsets
    from napari_catrack.core.transients.features import time_offsets

    ids = got.components["neuron_id"].astype(str).tolist()
    dff = got.traces.pivot(index="neuron_id", columns="frame", values="dff").to_numpy(float)
    state = CurationState()
    state.set_traces(ids, np.arange(dff.shape[1]), dff, FS, time_offsets(got.traces, FS))
    state.set_table(detect_transients(dff, FS, "ksigma", ids, TransientParams()))
    check(state.transients())
    state.load_transients(state.transients())  # a session's table read back: no double shift
    check(state.transients())
    state.add_peak(ids[25], 150)  # a manual edit on a plane-2 cell: timed on its clock too
    check(state.transients())
    # without offsets (time_s = frame / fs): as before
    assert time_offsets(got.traces.assign(time_s=got.traces["frame"] / FS), FS) == {}
