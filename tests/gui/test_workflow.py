"""The whole analysis the way a user runs it: every widget docked from the Plugins menu, driven
through the methods its buttons call, each step handing its result to the next one through the
viewer's session; then the session is saved with the writer and reopened in a fresh viewer.

Checked against the synthetic ground truth where that is cheap: the alignment, the tracks and
the traces' correlation with the true activity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_catrack.io.tiff import write_movie_tiff
from napari_catrack.session import Session, session_for_viewer
from napari_catrack.synthetic import make_worm_recording
from tests.gui.helpers import wait_job

pytestmark = pytest.mark.gui

PLUGIN = "napari-catrack"
SEED_FRAME = 30


@pytest.fixture(scope="module")
def rec():
    return make_worm_recording(n_frames=60, shape=(128, 128), n_neurons=8, seed=5)


def _dock(viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def _wait(qtbot, job, timeout: int = 60000) -> None:
    wait_job(qtbot, job, timeout)


def _match_truth(tracks: pd.DataFrame, truth: np.ndarray, frame: int) -> dict[str, int]:
    """neuron_id -> index of the true neuron within 2 px of its seed position."""
    seeds = tracks[tracks.frame == frame].set_index("neuron_id")[["y", "x"]]
    out = {}
    for nid, yx in seeds.iterrows():
        d = np.linalg.norm(truth[frame] - yx.to_numpy(float), axis=1)
        if d.min() < 2.0:
            out[str(nid)] = int(np.argmin(d))
    return out


@pytest.mark.slow
def test_whole_analysis_through_the_widgets(make_napari_viewer, qtbot, rec, tmp_path):
    viewer = make_napari_viewer()
    loader = _dock(viewer, "Load recording")
    align = _dock(viewer, "Align channels")
    tracking = _dock(viewer, "Track neurons")
    traces_w = _dock(viewer, "Traces (signals)")
    transients = _dock(viewer, "Transients curation")
    ensembles = _dock(viewer, "Neuronal ensembles")

    # 1. open the recording (a two-channel ImageJ TIFF) with the loader
    movie = write_movie_tiff(tmp_path / "worm.tif", rec.green, rec.red, fps=rec.fps,
                             pixel_size_um=rec.pixel_size_um)  # fmt: skip
    loader.path.value = movie
    loader.open_button.clicked.emit()
    _wait(qtbot, loader.job)  # the file is read in a worker
    assert "60 frames, 128 x 128 px" in loader.info.value and "10 Hz" in loader.info.value
    session = session_for_viewer(viewer)
    assert session.path == tmp_path / "worm.catrack.h5"

    # 2. align red to green: Estimate, then Accept
    assert (align.green_combo.currentText(), align.red_combo.currentText()) == (
        "worm green", "worm red")  # fmt: skip
    _wait(qtbot, align.estimate())
    accepted = align.accept()
    red_yx = rec.truth.red_positions.reshape(-1, 2)  # where each neuron is in the red frames
    mapped = accepted.map_points(red_yx, tuple(rec.green.shape[1:]))
    err = np.linalg.norm(mapped - rec.truth.positions.reshape(-1, 2), axis=1).max()
    assert err < 0.5, f"alignment off by {err:.2f} px"
    stored = dict(session["alignment"].attrs)
    assert stored.pop("inputs")["recording"]["size"] > 0  # what the step read (provenance)
    assert stored == accepted.to_dict()

    # 3. candidates on the seed frame with the default parameters (neurons, not specks), use
    # them all, track
    viewer.dims.set_current_step(0, SEED_FRAME)
    panel = tracking.candidates
    cand = panel.preview()
    true_now = rec.truth.positions[SEED_FRAME]
    d = np.linalg.norm(cand[["y", "x"]].to_numpy()[:, None] - true_now[None], axis=-1)
    assert (d.min(axis=1) >= 2).sum() <= 1 and (d.min(axis=0) < 2).sum() >= 7  # green pixels
    assert panel.use_all() == len(cand)
    assert "neurons" in session
    _wait(qtbot, tracking.start_tracking())
    qtbot.waitUntil(lambda: tracking.worker is None, timeout=5000)
    tracks = session["tracks"].tables["tracks"]
    matched = _match_truth(tracks, rec.truth.positions, SEED_FRAME)
    assert len(matched) >= 6
    for nid, k in matched.items():
        g = tracks[tracks.neuron_id == nid].sort_values("frame")
        d = np.linalg.norm(g[["y", "x"]].to_numpy() - rec.truth.positions[g.frame, k], axis=1)
        assert np.median(d) < 2.0, (nid, np.median(d))

    # 4. traces from the tracked neurons (what the traces widget offers by default)
    assert traces_w.points.currentText() == "tracked neurons"
    _wait(qtbot, traces_w.extract())
    qtbot.waitUntil(lambda: "traces" in session, timeout=5000)
    traces = session["traces"].tables["traces"]
    assert set(traces.neuron_id) == set(tracks.neuron_id)
    corr = []
    for nid, k in matched.items():
        t = traces[traces.neuron_id == nid].sort_values("frame")
        if rec.truth.activity[k].std() > 0.05:
            corr.append(np.corrcoef(t["dff"].to_numpy(), rec.truth.activity[k])[0, 1])
    assert corr and min(corr) > 0.8, corr

    # 5. transients from the session traces; accept one cell, reject another with a reason
    transients.session_button.click()  # "Use session traces"
    assert transients.traces_source == "session"
    assert transients.fps.value() == pytest.approx(rec.fps)
    _wait(qtbot, transients.detect())
    qtbot.waitUntil(lambda: "transients" in session, timeout=5000)
    cells = [str(i) for i in transients.state.ids]
    transients.select_cell(cells[0])
    transients.accept_button.click()
    transients.select_cell(cells[1])
    transients.reason.setCurrentText("poor signal")
    transients.reject_button.click()  # the button, as a user presses it
    verdicts = session["transients"].tables["verdicts"].set_index("neuron_id")
    assert verdicts.loc[cells[0], "status"] == "accepted"
    assert tuple(verdicts.loc[cells[1], ["status", "reason"]]) == ("rejected", "poor signal")
    n_transients = len(session["transients"].tables["transients"])
    assert n_transients > 0

    # 6. ensembles from the session's transients, coloured on the tracked neurons
    ensembles.shuffles.setValue(100)
    _wait(qtbot, ensembles.find())
    qtbot.waitUntil(lambda: "ensembles" in session, timeout=5000)
    assert ensembles.fps.value() == pytest.approx(rec.fps)  # taken from the transients step
    assert session["ensembles"].params["fps"] == pytest.approx(rec.fps)
    assert ensembles.result is not None  # (6 s of 8 neurons: no ensemble expected, and none)
    assert cells[1] not in set(ensembles._table["neuron_id"])  # the rejected cell is left out
    assert ensembles.points.currentText() == "tracked neurons"
    assert "ensemble" in viewer.layers["tracked neurons"].features
    autosaved = Session.load(tmp_path / "worm.catrack.h5")  # nothing was lost before saving
    assert {"alignment", "neurons", "tracks", "traces", "transients", "ensembles"} <= set(
        autosaved.steps
    )

    # 7. save through the writer, reopen in a fresh viewer: every step and layer comes back
    out = tmp_path / "analysis.catrack.h5"
    assert viewer.layers.save(str(out), plugin=PLUGIN) == [str(out)]
    saved_steps = set(session.steps)
    assert {"alignment", "neurons", "tracks", "traces", "transients", "ensembles"} <= saved_steps

    fresh = make_napari_viewer()
    align2 = _dock(fresh, "Align channels")  # docked before opening the file
    fresh.open(str(out), plugin=PLUGIN)
    restored = session_for_viewer(fresh)
    assert set(restored.steps) == saved_steps
    red = next(lay for lay in fresh.layers if lay.metadata.get("catrack", {}).get("role") == "red")
    np.testing.assert_allclose(
        red.affine.affine_matrix, viewer.layers["worm red"].affine.affine_matrix, atol=1e-6
    )
    for name in ("neurons", "tracks", "tracked neurons"):
        assert name in fresh.layers, name
    np.testing.assert_allclose(fresh.layers["tracked neurons"].data,
                               viewer.layers["tracked neurons"].data)  # fmt: skip
    pd.testing.assert_frame_equal(restored["traces"].tables["traces"], traces, check_dtype=False)
    back = restored["transients"].tables
    assert len(back["transients"]) == n_transients
    assert back["verdicts"].set_index("neuron_id").loc[cells[1], "reason"] == "poor signal"
    assert len(restored["ensembles"].tables["events"]) == len(ensembles.result.events)
    assert restored["ensembles"].params == session["ensembles"].params
    assert restored.path == out  # later edits autosave into the reopened file

    # the widgets pick up where the user left off: the alignment readout shows the accepted
    # transform and a nudge moves from it; tracks, traces and verdicts are back in their widgets
    assert (align2.dy.value(), align2.dx.value()) == pytest.approx(
        (accepted.dy, accepted.dx), abs=1e-3)  # fmt: skip
    align2.nudge(dx=1.0)
    assert align2.transform.dx == pytest.approx(accepted.dx + 1.0)
    assert align2.transform.dy == pytest.approx(accepted.dy)
    tr_again = _dock(fresh, "Track neurons")
    assert tr_again.tracks is not None and len(tr_again.tracks) == len(tracks)
    traces_again = _dock(fresh, "Traces (signals)")
    assert traces_again.points.currentText() == "tracked neurons"
    assert traces_again.traces is not None and len(traces_again.traces) == len(traces)
    curation = _dock(fresh, "Transients curation")
    assert curation.state.status(cells[1]) == ("rejected", "poor signal")
    assert len(curation.state.transients()) == n_transients
