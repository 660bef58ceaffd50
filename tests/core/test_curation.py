"""The curation model (Qt-free) and detection in chunks with progress and cancel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.transients import detect_transients
from napari_catrack.core.transients.curation import CurationState, matrix_from_long
from napari_catrack.core.transients.features import fps_from_times
from napari_catrack.errors import Cancelled, InputError

FPS = 10.0


def _dff(n: int = 11, t: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 0.03, (n, t))
    k = np.arange(60)
    kernel = np.exp(-k / 8.0)
    for row in range(n):
        for peak in rng.choice(np.arange(20, t - 70), 3, replace=False):
            y[row, peak : peak + 60] += rng.uniform(0.4, 1.0) * kernel
    return y


@pytest.mark.parametrize("method", ["rules", "ksigma", "model"])
def test_detection_in_chunks_is_the_same_table(method):
    dff = _dff()
    ids = [f"c{i}" for i in range(dff.shape[0])]
    whole = detect_transients(dff, FPS, method, ids)
    seen = []
    chunked = detect_transients(
        dff, FPS, method, ids, chunk_rows=4, progress=lambda d, t, m="": seen.append((d, t))
    )
    pd.testing.assert_frame_equal(chunked, whole)
    assert seen == [(4, 11), (8, 11), (11, 11)]
    assert len(whole) > 0


def test_detection_cancels_between_chunks():
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(Cancelled, match="transient detection cancelled"):
        detect_transients(_dff(), FPS, "rules", chunk_rows=4, cancel=cancel)
    assert len(calls) == 2


def test_curation_edits_verdicts_undo_redo():
    dff = _dff(3)
    st = CurationState()
    st.set_traces(["a", "b", "c"], np.arange(100, 100 + dff.shape[1]), dff, FPS)
    st.set_table(detect_transients(dff, FPS, "rules", st.ids))
    n = len(st.table)
    st.add_peak("c", 5)
    assert len(st.table) == n + 1 and (st.table["source"] == "manual").sum() == 1
    st.set_verdict("b", "rejected", "poor signal")
    assert st.status("b") == ("rejected", "poor signal")
    assert st.undo() and st.status("b") == ("unverified", "")
    assert st.undo() and len(st.table) == n
    assert st.redo() and len(st.table) == n + 1
    # tables leave in recording frames (frame0 = 100)
    assert st.transients()["peak_frame"].min() >= 100
    with pytest.raises(InputError):
        st.set_verdict("a", "maybe")


def test_long_traces_to_matrix_and_frame_rate():
    frames = np.arange(5)
    long = pd.DataFrame({"neuron_id": ["x"] * 5 + ["y"] * 5, "frame": np.r_[frames, frames],
                         "dff": np.r_[np.ones(5), np.full(5, np.nan)], "time_s": np.r_[frames, frames] / 4})  # fmt: skip
    ids, frames_out, dff = matrix_from_long(long)
    assert list(ids) == ["x"] and dff.shape == (1, 5)  # all-NaN neuron dropped
    assert list(frames_out) == list(frames)
    assert fps_from_times(long) == pytest.approx(4.0)
