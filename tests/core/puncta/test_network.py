"""The puncta network: save/load, losses, a short phased training, inference on a movie."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_catrack.core.puncta.inference import localize_network  # noqa: E402
from napari_catrack.core.puncta.loss import (  # noqa: E402
    calcium_loss,
    localization_loss,
    make_kendall,
    pad_targets,
)
from napari_catrack.core.puncta.network import (  # noqa: E402
    NetConfig,
    load_model,
    make_network,
    save_model,
)
from napari_catrack.core.puncta.params import PunctaParams, TrainPunctaParams  # noqa: E402
from napari_catrack.core.puncta.pipeline import analyse_puncta  # noqa: E402
from napari_catrack.core.puncta.training import train_network  # noqa: E402
from napari_catrack.errors import InputError  # noqa: E402
from napari_catrack.synthetic.puncta import make_puncta_recording  # noqa: E402


def test_save_load_round_trip_and_bad_files(tmp_path):
    net = make_network(NetConfig(base_channels=4, meta={"seed": 3}))
    path = save_model(net, tmp_path / "net.json")
    assert path.with_suffix(".pt").is_file()
    again = load_model(path)
    assert again.config.meta == {"seed": 3}
    x = torch.randn(1, 6, 16, 16)
    with torch.no_grad():
        assert torch.allclose(net(x)["logit"], again(x)["logit"])
    # a format-1 model (5 input channels, no calibration in its config) still loads and runs
    old = make_network(NetConfig(base_channels=4, in_channels=5))
    path5 = save_model(old, tmp_path / "old.json")
    doc = json.loads(path5.read_text())
    for key in (
        "in_channels",
        "excess_radius_px",
        "uncertainty_scale",
        "uncertainty_floor_px",
        "uncertainty_crowding_px",
    ):
        doc["config"].pop(key)
    doc["format_version"] = 1
    path5.write_text(json.dumps(doc))
    assert load_model(path5).config.in_channels == 5
    assert load_model(path5).config.uncertainty_crowding_px == 0.0  # calibrated without crowding
    with torch.no_grad():
        assert load_model(path5)(x[:, :5])["logit"].shape == (1, 16, 16)
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="not a napari-catrack puncta network"):
        load_model(tmp_path / "other.json")
    path.with_suffix(".pt").write_bytes(b"not torch")
    with pytest.raises(InputError, match=r"net\.pt is not the weights of a puncta network: it is "
                                         "not a PyTorch weights file"):  # fmt: skip
        load_model(path)
    with pytest.raises(InputError, match="no puncta network"):
        load_model(tmp_path / "absent.json")


def test_variance_scaling_recovers_a_known_miscalibration():
    from napari_catrack.core.puncta.calibrate import fit_variance_scaling
    from napari_catrack.core.puncta.inference import calibrated_sd

    rng = np.random.default_rng(0)
    sd = rng.uniform(0.05, 0.4, 20000)  # reported; the true errors are 1.6x larger + 0.1 px
    errors = rng.normal(0, np.hypot(1.6 * sd, 0.1))
    a, b, c = fit_variance_scaling(errors, sd)
    assert a == pytest.approx(1.6, rel=0.05) and b == pytest.approx(0.1, abs=0.02) and c == 0
    cal = calibrated_sd(sd, NetConfig(uncertainty_scale=a, uncertainty_floor_px=b))
    assert np.sqrt(np.mean((errors / cal) ** 2)) == pytest.approx(1.0, abs=0.03)


def test_crowding_calibration_is_right_in_sparse_and_dense_movies():
    """Errors that grow with the movie's density (as the shipped network's do): one scale for
    all over-reports sparse movies and under-reports dense ones; the crowding term fits both."""
    from napari_catrack.core.puncta.calibrate import fit_variance_scaling
    from napari_catrack.core.puncta.inference import calibrated_sd

    rng = np.random.default_rng(1)
    n = 20000
    rho = np.repeat([0.0005, 0.003, 0.01, 0.02], n // 4)  # localisations / px / frame
    sd = rng.uniform(0.04, 0.3, n)
    errors = rng.normal(0, 1.2 * sd * np.sqrt(1 + 20 * np.sqrt(rho)))
    a, b, c = fit_variance_scaling(errors, sd, rho)
    assert a == pytest.approx(1.2, rel=0.1) and c == pytest.approx(20, rel=0.25)
    one = fit_variance_scaling(errors, sd)
    for density in np.unique(rho):
        sel = rho == density
        with_c = calibrated_sd(sd[sel], NetConfig(uncertainty_scale=a, uncertainty_floor_px=b,
                                                   uncertainty_crowding_px=c), density)  # fmt: skip
        without = calibrated_sd(sd[sel], NetConfig(uncertainty_scale=one[0],
                                                    uncertainty_floor_px=one[1]))  # fmt: skip
        assert np.sqrt(np.mean((errors[sel] / with_c) ** 2)) == pytest.approx(1.0, abs=0.05)
        if density in (rho.min(), rho.max()):
            assert abs(np.sqrt(np.mean((errors[sel] / without) ** 2)) - 1) > 0.1


def _out(logit, dx=0.0, sd=0.1, photons=1.0):
    full = torch.full_like(logit, 1.0)
    return {"logit": logit, "dx": full * dx, "dy": full * 0, "photons": full * photons,
            "sd_x": full * sd, "sd_y": full * sd, "sd_photons": full * sd,
            "calcium_logit": torch.zeros_like(logit)}  # fmt: skip


def test_decode_loss_rewards_the_right_answer():
    emitters, mask = pad_targets([np.array([[5.2, 7.0, 1.0, 1.2, 1.0]], np.float32)])
    right = torch.full((1, 12, 12), -8.0)
    right[0, 7, 5] = 8.0
    wrong = torch.full((1, 12, 12), -8.0)
    wrong[0, 2, 2] = 8.0
    good = localization_loss(_out(right, dx=0.2), emitters, mask)
    assert good < localization_loss(_out(wrong, dx=0.2), emitters, mask)
    assert good < localization_loss(_out(right, dx=-0.4), emitters, mask)
    two = torch.full((1, 12, 12), -8.0)
    two[0, 7, 5] = two[0, 2, 9] = 8.0  # one true emitter, two detections: the count loss
    assert good < localization_loss(_out(two, dx=0.2), emitters, mask)


def test_calcium_loss_skips_unknown_labels_and_kendall_weights():
    em, mask = pad_targets([np.array([[3, 3, 1, 1.2, -1.0]], np.float32)])
    out = _out(torch.zeros(1, 8, 8))
    assert float(calcium_loss(out, em, mask)) == 0.0
    em[..., 4] = 1.0
    assert float(calcium_loss(out, em, mask)) == pytest.approx(np.log(2), rel=1e-4)
    kendall = make_kendall(("a", "b"))
    total = kendall({"a": torch.tensor(2.0), "b": torch.tensor(1.0)})
    assert float(total.detach()) == pytest.approx(3.0)
    assert kendall.weights() == {"a": 1.0, "b": 1.0}


@pytest.mark.slow
def test_short_phased_training_is_reproducible_and_runs_in_the_pipeline(tmp_path):
    torch.set_num_threads(1)
    tp = TrainPunctaParams(patch=16, batch_size=2, steps_localization=3, steps_calcium=2,
                           steps_joint=2, base_channels=4, calibration_clips=2)  # fmt: skip
    seen = []
    net = train_network(tp, progress=lambda d, t, m="": seen.append(m))
    again = train_network(tp)
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    phases = [h["phase"] for h in net.config.meta["history"]]
    assert phases == ["localization", "calcium", "joint"]
    assert "kendall_weights" in net.config.meta["history"][-1]
    assert any(m.startswith("calcium") for m in seen)
    calibration = net.config.meta["calibration"]
    assert calibration["clips"] == 2 and calibration["a"] > 0
    assert net.config.uncertainty_scale == calibration["a"]
    assert net.config.uncertainty_crowding_px == calibration["c_px"]
    rec = make_puncta_recording(shape=(20, 22), n_frames=5, seed=1)  # sizes not divisible by 4
    locs = localize_network(net, rec.puncta, rec.calcium, rec.camera,
                            PunctaParams(detection_probability=0.01, min_photons=0))  # fmt: skip
    assert {"calcium_probability", "uncertainty", "photons"} <= set(locs.columns)
    assert locs.frame.between(0, 4).all()
    path = save_model(net, tmp_path / "tiny.json")
    from napari_catrack.cli import main

    # --recalibrate keeps the weights and records the old calibration beside the new one
    assert main(["train-puncta", "--recalibrate", "--calibration-clips", "1", "--threads", "1",
                 "-o", str(path)]) == 0  # fmt: skip
    again = load_model(path)
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    (entry,) = again.config.meta["recalibrations"]
    assert entry["before"] == calibration and entry["after"]["clips"] == 1
    assert again.config.meta["calibration"] == entry["after"]
    res = analyse_puncta(rec.puncta, rec.calcium, rec.camera,
                         PunctaParams(method="network", detection_probability=0.01), model=path)  # fmt: skip
    assert res.model_info["base_channels"] == 4
    assert res.localizations.calcium_probability.between(0, 1).all()


def test_recalibrate_that_matches_too_few_puncta_fails_and_keeps_the_model(tmp_path, capsys):
    """A network that finds (almost) nothing: refused in one line, the file unchanged,
    instead of "recalibrated ... (error/reported nan)" and a calibration that changes nothing."""
    from napari_catrack.cli import main

    net = make_network(NetConfig(base_channels=4))
    with torch.no_grad():
        net.loc_head[-1].bias[0] = -30.0  # detection logit: finds nothing
    path = save_model(net, tmp_path / "blind.json")
    before = path.read_bytes()
    assert main(["train-puncta", "--recalibrate", "--calibration-clips", "1", "--threads", "1",
                 "-o", str(path)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"cannot recalibrate {path}: on 1 held-out clip(s) it matched" in err
    assert "the model is unchanged" in err and "nan" not in err
    assert path.read_bytes() == before


def test_train_puncta_refuses_a_labels_movie_it_cannot_use(tmp_path, capsys):
    from napari_catrack.cli import main
    from napari_catrack.io.tiff import write_movie_tiff

    rec = make_puncta_recording(shape=(16, 16), n_frames=3, seed=2)
    write_movie_tiff(tmp_path / "one.tif", rec.puncta)
    (tmp_path / "labels.csv").write_text('"id","frame","x [nm]","y [nm]"\n')
    args = ["train-puncta", "--labels-movie", str(tmp_path / "one.tif"), "-o",
            str(tmp_path / "net.json")]  # fmt: skip
    assert main(args) == 2
    assert "--labels-movie only applies with --labels" in capsys.readouterr().err
    assert main([*args, "--labels", str(tmp_path / "labels.csv")]) == 2
    assert "one.tif has one channel, but puncta analysis needs two" in capsys.readouterr().err


@pytest.mark.slow
def test_train_puncta_cli_with_bootstrapped_thunderstorm_labels(tmp_path, capsys):
    from napari_catrack.cli import main
    from napari_catrack.io.camera import write_camera
    from napari_catrack.io.thunderstorm import write_thunderstorm
    from napari_catrack.io.tiff import write_movie_tiff

    rec = make_puncta_recording(shape=(32, 32), n_frames=6, seed=2, density_per_um2=1.0)
    assert len(rec.truth.emitters) > 5
    write_movie_tiff(tmp_path / "rec.tif", rec.puncta, rec.calcium)
    write_camera(rec.camera, tmp_path / "camera.json")
    truth = rec.truth.emitters.assign(background=20.0, bkgstd=4.0, uncertainty=0.05)
    write_thunderstorm(truth, tmp_path / "labels.csv", 108.0)
    args = ["train-puncta", "--patch", "16", "--batch-size", "4", "--steps-localization", "2",
            "--steps-calcium", "1", "--steps-joint", "1", "--base-channels", "4", "--seed", "5",
            "--calibration-clips", "0",
            "--threads", "1", "--labels", str(tmp_path / "labels.csv"),
            "--labels-movie", str(tmp_path / "rec.tif"), "--camera", str(tmp_path / "camera.json"),
            "-o", str(tmp_path / "net.json")]  # fmt: skip
    assert main(args) == 0
    meta = load_model(tmp_path / "net.json").config.meta
    assert meta["bootstrapped_samples"] > 0 and meta["train_params"]["seed"] == 5
    assert "parameters" in capsys.readouterr().out
    code = main(["train-puncta", "--labels", str(tmp_path / "labels.csv"), "-o",
                 str(tmp_path / "x.json")])  # fmt: skip
    assert code == 2 and "--labels needs --labels-movie" in capsys.readouterr().err


def test_shipped_network_loads_and_localises():
    from napari_catrack.core.puncta.network import SHIPPED, shipped_model
    from napari_catrack.synthetic.puncta import match_to_truth

    assert SHIPPED.with_suffix(".pt").stat().st_size < 1_000_000
    net = shipped_model()
    assert net.config.base_channels == 16
    assert net.config.meta["command"].startswith("catrack train-puncta")
    rec = make_puncta_recording(shape=(48, 48), n_frames=12, seed=4, photons=400.0)
    locs = localize_network(net, rec.puncta, rec.calcium, rec.camera, PunctaParams())
    ti, _ = match_to_truth(rec.truth.emitters, locs, 250 / 108)
    jaccard = len(ti) / (len(rec.truth.emitters) + len(locs) - len(ti))
    assert jaccard > 0.75


def test_train_puncta_labels_use_the_pixel_size_they_were_written_with(tmp_path, capsys):
    """--labels were converted from nm at --pixel-size-nm, the *simulated* pixel size (108 by
    default), whatever the movie's: a 160 nm movie's labels fell outside it, a 65 nm movie's
    crowded its corner, silently. Now: catrack puncta's summary.json beside the table, else the
    movie's pixel size, else --pixel-size-nm with a warning; labels outside the movie: refused."""
    from types import SimpleNamespace

    from napari_catrack.cli import main
    from napari_catrack.commands.train_puncta import labels_pixel_size_nm
    from napari_catrack.io.camera import write_camera
    from napari_catrack.io.thunderstorm import write_thunderstorm
    from napari_catrack.io.tiff import write_movie_tiff

    rec = make_puncta_recording(shape=(32, 32), n_frames=4, seed=2, density_per_um2=1.0)
    write_movie_tiff(tmp_path / "rec.tif", rec.puncta, rec.calcium)
    write_camera(rec.camera, tmp_path / "camera.json")
    truth = rec.truth.emitters.assign(background=20.0, bkgstd=4.0, uncertainty=0.05)
    write_thunderstorm(truth, tmp_path / "labels.csv", 160.0)  # a 160 nm camera
    args = ["train-puncta", "--labels", str(tmp_path / "labels.csv"), "--labels-movie",
            str(tmp_path / "rec.tif"), "--camera", str(tmp_path / "camera.json"),
            "-o", str(tmp_path / "net.json")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "neither a summary.json of catrack puncta beside the table nor the movie" in err
    assert "--labels lie outside the 32 x 32 px movie at 108 nm per pixel (from " in err
    assert not (tmp_path / "net.json").exists()

    no_size = SimpleNamespace(pixel_size_um=None)
    assert labels_pixel_size_nm(tmp_path / "labels.csv", no_size, 108.0) == (
        108.0,
        "--pixel-size-nm",
    )
    assert labels_pixel_size_nm(tmp_path / "labels.csv", SimpleNamespace(pixel_size_um=0.16),
                                108.0) == (160.0, "the movie")  # fmt: skip
    (tmp_path / "summary.json").write_text('{"params": {"pixel_size_nm": 160.0}}')
    pixel, source = labels_pixel_size_nm(tmp_path / "labels.csv", no_size, 108.0)
    assert pixel == 160.0 and source.endswith("summary.json")
