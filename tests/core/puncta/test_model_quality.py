"""A barely trained puncta network (or one that records no validation) is used with a warning:
on the CLI's stderr, in summary.json and in the session's provenance (h21)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from napari_catrack.cli import main  # noqa: E402
from napari_catrack.core.puncta.network import (  # noqa: E402
    NetConfig,
    load_model,
    make_network,
    model_quality,
    save_model,
)
from napari_catrack.core.puncta.params import PunctaParams, TrainPunctaParams  # noqa: E402
from napari_catrack.io.camera import write_camera  # noqa: E402
from napari_catrack.io.tiff import write_movie_tiff  # noqa: E402
from napari_catrack.synthetic.puncta import make_puncta_recording  # noqa: E402


def _tiny(tmp_path, name: str, calibration: dict | None):
    """A tiny untrained network saved with the validation its training would have recorded."""
    torch.manual_seed(0)
    meta = {"command": "test"} if calibration is None else {"calibration": calibration}
    net = make_network(NetConfig(base_channels=4, meta=meta))
    return save_model(net, tmp_path / name)


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quality")
    rec = make_puncta_recording(shape=(32, 32), n_frames=6, seed=3)
    write_movie_tiff(tmp / "rec.tif", rec.puncta, rec.calcium)
    write_camera(rec.camera, tmp / "camera.json")
    return tmp


def _run(movie, model, out, *extra):
    return main(["puncta", str(movie / "rec.tif"), "--pixel-size-nm", "108", "--camera",
                 str(movie / "camera.json"), "--method", "network", "--model", str(model),
                 "--detection-probability", "0.01", "-o", str(out), *extra])  # fmt: skip


def test_a_barely_trained_model_is_said_on_stderr_in_the_summary_and_the_session(
    movie, tmp_path, capsys
):
    from napari_catrack.session import Session

    model = _tiny(tmp_path, "weak.json", {"clips": 2, "truth": 100, "localizations": 30,
                                          "matched": 14, "jaccard": 0.12})  # fmt: skip
    session = tmp_path / "s.catrack.h5"
    assert _run(movie, model, tmp_path / "out", "--session", str(session)) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "barely trained" in x)
    assert line.startswith(f"catrack puncta: warning: the puncta network {model} is barely trained")
    assert "Jaccard 0.12 on 2 held-out simulated clips" in line
    assert f"below {PunctaParams().model_min_jaccard:g}, --model-min-jaccard" in line
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    quality = summary["model"]["quality"]
    assert quality["poor"] is True and quality["validation_jaccard"] == pytest.approx(0.12)
    assert quality["warning"] in line
    stored = Session.load(session)["puncta"].attrs["model"]["quality"]
    assert stored["poor"] and stored["warning"] == quality["warning"]
    # the threshold is the step's parameter: lowered below the model's, no warning
    assert _run(movie, model, tmp_path / "out2", "--model-min-jaccard", "0.1") == 0
    assert "barely trained" not in capsys.readouterr().err
    summary = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert summary["model"]["quality"]["poor"] is False
    assert summary["params"]["model_min_jaccard"] == pytest.approx(0.1)


def test_a_model_that_records_no_validation_is_said_and_a_good_one_is_not(movie, tmp_path,
                                                                           capsys):  # fmt: skip
    bare = _tiny(tmp_path, "bare.json", None)
    assert _run(movie, bare, tmp_path / "a") == 0
    err = capsys.readouterr().err
    assert f"the puncta network {bare} records no validation quality" in err
    assert "--recalibrate" in err
    good = _tiny(tmp_path, "good.json", {"clips": 48, "jaccard": 0.9})
    assert _run(movie, good, tmp_path / "b") == 0
    err = capsys.readouterr().err
    assert "barely trained" not in err and "no validation quality" not in err


def test_the_shipped_network_passes_its_own_check():
    from napari_catrack.core.puncta.network import shipped_model

    quality = model_quality(shipped_model(), PunctaParams().model_min_jaccard)
    assert not quality["poor"] and quality["validation_jaccard"] > 0.8


def test_training_records_the_validation_the_check_reads():
    """train_network measures the model on held-out clips (the calibration's) and stores the
    Jaccard in its meta; with no calibration clips it records none, and the check says so."""
    from napari_catrack.core.puncta.training import train_network

    torch.set_num_threads(1)
    tp = TrainPunctaParams(patch=16, batch_size=2, steps_localization=2, steps_calcium=0,
                           steps_joint=0, base_channels=4, calibration_clips=1)  # fmt: skip
    net = train_network(tp)
    calibration = net.config.meta["calibration"]
    assert calibration["clips"] == 1 and 0 <= calibration["jaccard"] <= 1
    quality = model_quality(net, 0.6)
    assert quality["validation_jaccard"] == pytest.approx(calibration["jaccard"])
    assert quality["poor"] and "is barely trained" in quality["warning"]
    unmeasured = train_network(tp.replace(calibration_clips=0))
    assert "records no validation quality" in model_quality(unmeasured, 0.6)["warning"]


def test_a_loaded_model_is_named_by_its_file(tmp_path):
    model = _tiny(tmp_path, "named.json", {"clips": 1, "jaccard": 0.05})
    quality = model_quality(load_model(model), 0.6)
    assert f"the puncta network {model} is barely trained" in quality["warning"]
    assert "on 1 held-out simulated clip when" in quality["warning"]


def test_the_warning_names_the_settings_as_the_caller_names_them(tmp_path):
    """The warning is said again from the stored quality with other names for the settings (the
    puncta widget's fields, not --model-min-jaccard and --method mle: h22), and the model's name
    is kept with it, so a reopened session says the same model."""
    from napari_catrack.core.puncta.network import quality_warning

    model = _tiny(tmp_path, "named.json", {"clips": 2, "jaccard": 0.1})
    quality = model_quality(load_model(model), 0.6)
    assert quality["model"] == f"the puncta network {model}"
    assert quality_warning(quality) == quality["warning"]  # the CLI's words by default
    assert "--model-min-jaccard" in quality["warning"] and "--method mle" in quality["warning"]
    mine = quality_warning(quality, {"min_jaccard": "the 'min' box", "classical": "method mle"})
    assert f"the puncta network {model} is barely trained" in mine
    assert "(below 0.6, the 'min' box;" in mine and mine.endswith("or method mle")
    assert "--" not in mine.replace("--calibration-clips", "")
    assert quality_warning({**quality, "poor": False}) == ""
    before_h22 = {k: v for k, v in quality.items() if k != "model"}  # stored without the name
    assert quality_warning(before_h22).startswith("the puncta network is barely trained")
