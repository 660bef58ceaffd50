"""DetectParams / TrackParams / TrainTrackerParams: one source of defaults, contract options kept."""

from __future__ import annotations

import argparse

import pytest

from napari_catrack.cli import build_parser
from napari_catrack.core.tracking.params import DetectParams, TrackParams, TrainTrackerParams
from napari_catrack.errors import InputError
from napari_catrack.params import params_class


def _sub(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_untouched_options_are_the_dataclass_defaults():
    for cmd, cls in (("detect", DetectParams), ("track", TrackParams),
                     ("train-tracker", TrainTrackerParams)):  # fmt: skip
        argv = {"detect": ["r.tif", "-o", "c.csv"], "track": ["r.tif", "--seeds", "s", "-o", "t"],
                "train-tracker": ["-o", "d"]}[cmd]  # fmt: skip
        assert cls.from_args(_sub(cmd).parse_args(argv)) == cls()
    assert params_class("neurons") is DetectParams and params_class("tracks") is TrackParams


def test_contract_option_names_keep_working():
    args = _sub("detect").parse_args(
        ["r.tif", "--sigma", "0.7", "--block-size", "31", "--threshold", "4", "--min-brightness",
         "300", "--min-area", "10", "--max-area", "200", "--min-bbox", "3", "--max-bbox", "20",
         "--no-split", "--frame", "2", "--project", "3", "--channel", "green", "-o", "c.csv"]
    )  # fmt: skip
    p = DetectParams.from_args(args)
    assert (p.sigma, p.block_size, p.threshold, p.min_brightness) == (0.7, 31, 4.0, 300.0)
    assert (p.min_area, p.max_area, p.min_bbox, p.max_bbox) == (10, 200, 3, 20)
    assert p.split_touching is False and (args.frame, args.project) == (2, 3)
    args = _sub("track").parse_args(
        ["r.tif", "--seeds", "s.csv", "--seed-frame", "5", "--channel", "green", "--model", "cnn",
         "--gate", "7", "--align", "a.json", "-o", "t.csv"]
    )  # fmt: skip
    p = TrackParams.from_args(args)
    assert (p.channel, p.model, p.gate, args.seed_frame, args.align) == (
        "green", "cnn", 7.0, 5, "a.json")  # fmt: skip
    args = _sub("train-tracker").parse_args(
        ["-o", "d", "--seed", "1", "--recordings", "2", "--epochs", "3", "--frames", "50"]
    )
    assert TrainTrackerParams.from_args(args) == TrainTrackerParams(
        seed=1, recordings=2, epochs=3, frames=50
    )


def test_bad_values_are_one_line_errors():
    with pytest.raises(InputError, match="larger than --max-area"):
        DetectParams(min_area=50, max_area=10)
    with pytest.raises(InputError, match="--channel must be one of red, green"):
        TrackParams(channel="blue")
    with pytest.raises(SystemExit):
        _sub("detect").parse_args(["r.tif", "--block-size", "1", "-o", "c.csv"])


def test_provenance_round_trip():
    p = TrackParams(gate=6.0, model="cnn")
    assert TrackParams.from_dict(p.to_dict()) == p
    assert p.changed() == {"gate": 6.0, "model": "cnn"}
