"""What a new user met walking the puncta path (h21): each finding with its ground truth."""

from __future__ import annotations

import copy

import pytest

from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.core.puncta.pipeline import analyse_puncta
from napari_catrack.synthetic.puncta import make_puncta_recording


def test_network_statistics_count_the_calls_the_tables_show():
    """With --method network the statistics' `event_punctum_frames` counted the classical call's
    events while the tables, the layers and the raster show the network's: a network that called
    no calcium had "event punctum frames: 36" beside "calcium events: 0"."""
    torch = pytest.importorskip("torch")
    from napari_catrack.core.puncta.network import shipped_model

    torch.set_num_threads(1)
    net = copy.deepcopy(shipped_model())
    with torch.no_grad():
        net.calcium_head[-1].bias[0] = -30.0  # calls no calcium anywhere
    rec = make_puncta_recording(shape=(48, 48), n_frames=25, seed=4)
    res = analyse_puncta(rec.puncta, rec.calcium, rec.camera, PunctaParams(method="network"),
                         model=net)  # fmt: skip
    assert res.localizations["calcium"].sum() == 0 and res.stats["calcium_events"] == 0
    assert res.stats["event_punctum_frames"] == 0
    assert res.stats["classical_event_punctum_frames"] > 0  # the enrichment's own count, named
    assert res.stats["enrichment_from"] == "classical score"
    # the classical method: one call, the same count everywhere
    mle = analyse_puncta(rec.puncta, rec.calcium, rec.camera, PunctaParams())
    assert mle.stats["event_punctum_frames"] == int(mle.localizations["calcium"].sum()) > 0
    assert "classical_event_punctum_frames" not in mle.stats


def test_a_degenerate_calibration_is_stored_as_fitted(monkeypatch):
    """A barely trained model's calibration fit ran to a -> 0 with c -> 6e10 (only a^2 c
    matters); rounded to 4 decimals it was stored as a = 0.0, and every localisation then
    reported the floor b as its uncertainty (63.6 nm for all, in the widget)."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from napari_catrack.core.puncta import calibrate
    from napari_catrack.core.puncta.inference import calibrated_sd
    from napari_catrack.core.puncta.network import NetConfig, shipped_model
    from napari_catrack.core.puncta.params import TrainPunctaParams

    torch.set_num_threads(1)
    fitted = (1.234567e-5, 0.5891234, 6.2192781e10)
    monkeypatch.setattr(calibrate, "fit_variance_scaling", lambda *a: fitted)
    net = copy.deepcopy(shipped_model())
    result = calibrate.calibrate_uncertainty(net, TrainPunctaParams(), np.random.default_rng(3), 1)
    assert result["matched"] >= calibrate.MIN_MATCHED
    stored = NetConfig(uncertainty_scale=result["a"], uncertainty_floor_px=result["b_px"],
                       uncertainty_crowding_px=result["c_px"])  # fmt: skip
    exact = NetConfig(uncertainty_scale=fitted[0], uncertainty_floor_px=fitted[1],
                      uncertainty_crowding_px=fitted[2])  # fmt: skip
    sd = np.array([0.05, 0.2, 0.5])
    assert result["a"] > 0
    assert np.allclose(calibrated_sd(sd, stored, 0.01), calibrated_sd(sd, exact, 0.01), rtol=1e-3)


def test_train_puncta_says_the_quality_it_recorded(tmp_path, capsys):
    """`catrack train-puncta` ended with the model's size only: a model that recorded Jaccard
    0.16 on its validation clips was written without a word of it."""
    pytest.importorskip("torch")
    from napari_catrack.cli import main

    base = ["train-puncta", "--patch", "16", "--batch-size", "2", "--steps-localization", "2",
            "--steps-calcium", "0", "--steps-joint", "0", "--base-channels", "4", "--threads",
            "1"]  # fmt: skip
    model = tmp_path / "net.json"
    assert main([*base, "--calibration-clips", "1", "-o", str(model)]) == 0
    said = capsys.readouterr()
    assert said.out.strip().endswith(f"-> {model}")
    line = next(x for x in said.err.splitlines() if "warning" in x)
    assert line.startswith(f"catrack train-puncta: warning: the puncta network {model} is barely")
    assert "held-out simulated clip when it was trained" in line
    bare = tmp_path / "bare.json"
    assert main([*base, "--calibration-clips", "0", "-o", str(bare)]) == 0
    assert f"the puncta network {bare} records no validation quality" in capsys.readouterr().err
