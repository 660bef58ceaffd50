"""Session 22 (h22b-nwb): one stop-time rule for the NWB file's intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.behaviour.bouts import compute_bouts
from napari_catrack.core.behaviour.params import BoutParams
from napari_catrack.core.behaviour.records import record_bouts, record_velocity
from napari_catrack.session import Session

from .test_h21_review import _velocity


def test_nwb_transients_and_bouts_both_stop_one_frame_after_their_last_frame(tmp_path):
    """A transient's `end_frame` is its last frame (inclusive: `end < n_frames`, duration
    end - start + 1). `intervals/transients` stopped at that frame's time (1.9 s here), while
    `behavior_bouts` stop at the last frame's time + one frame step (2.0 s): one file, two
    rules. Now both cover their last frame; read back with pynwb. Fails on 215e322 (1.9)."""
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb

    times = np.arange(40) / 10
    s = Session()
    record_velocity(s, _velocity(times), {}, {"source": "tracks", "fps": 10.0}, save=False)
    bouts = compute_bouts(_velocity(times), BoutParams())
    record_bouts(s, bouts, BoutParams().to_dict(), {"coiled": False}, save=False)
    traces = pd.DataFrame({"neuron_id": "1", "frame": np.arange(40), "time_s": times,
                           "dff": np.r_[np.zeros(5), np.ones(15), np.zeros(20)]})  # fmt: skip
    s.record("traces", tables={"traces": traces}, save=False)
    transients = pd.DataFrame({"transient_id": [0, 1], "neuron_id": ["1", "1"],
                               "start_frame": [5, 30], "peak_frame": [8, 39],
                               "end_frame": [19, 39]})  # fmt: skip
    s.record("transients", tables={"transients": transients}, save=False)
    s.record("settings", attrs={"fps": 10.0}, save=False)
    path = write_nwb(s, tmp_path / "s.nwb", metadata={"session_start_time": "2026-01-01T00:00:00Z"})
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        tr = nwb.intervals["transients"].to_dataframe()
        bt = nwb.intervals["behavior_bouts"].to_dataframe()
    assert tr.start_time.tolist() == pytest.approx([0.5, 3.0])
    # the transient that ends on frame 19 covers it: stop 2.0 s, as a bout ending there
    assert tr.stop_time.tolist() == pytest.approx([2.0, 4.0])
    assert bt.end_frame.tolist() == [39]
    assert bt.stop_time.tolist() == pytest.approx([4.0])  # the same rule: last frame 3.9 + 0.1
