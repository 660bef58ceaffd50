"""Every step's defaults exist once: the CLI default, the core default and the stored provenance
are the values of the same parameter dataclass (napari_catrack.params.StepParams)."""

from __future__ import annotations

import argparse
import inspect
import json

import numpy as np
import pytest

from napari_catrack.cli import build_parser
from napari_catrack.core.alignment_params import AlignParams
from napari_catrack.core.ensembles.params import EnsembleParams
from napari_catrack.core.signals.params import CLEANING_STEP_NAMES, CleaningParams, TracesParams
from napari_catrack.core.transients.params import TrainDetectorParams, TransientParams
from napari_catrack.params import params_class


def _sub(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


COMMANDS = {
    "align": (["r.tif", "-o", "a.json"], [AlignParams]),
    "traces": (["r.tif", "--tracks", "t.csv", "-o", "o.csv"], [TracesParams, CleaningParams]),
    "transients": (["t.csv", "--fps", "10", "-o", "o.csv"], [TransientParams]),
    "train-detector": (["t.csv", "x.csv", "--fps", "10", "-o", "d.pt"], [TrainDetectorParams]),
    "ensembles": (["e.csv", "--fps", "10", "-o", "out"], [EnsembleParams]),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_defaults_are_the_dataclass_defaults(command):
    argv, classes = COMMANDS[command]
    args = _sub(command).parse_args(argv)
    for cls in classes:
        assert cls.from_args(args) == cls()


def _core_functions():
    from napari_catrack.core.alignment import estimate_alignment, iter_estimate_alignment
    from napari_catrack.core.ensembles import find_ensembles
    from napari_catrack.core.signals.cleaning import clean_traces
    from napari_catrack.core.signals.extraction import extract_traces
    from napari_catrack.core.signals.roi import polygon_trace
    from napari_catrack.core.transients import detect_ksigma, detect_rules, detect_transients
    from napari_catrack.core.transients.training import train_detector

    return [
        (estimate_alignment, AlignParams),
        (iter_estimate_alignment, AlignParams),
        (extract_traces, TracesParams),
        (polygon_trace, TracesParams),
        (clean_traces, CleaningParams),
        (detect_rules, TransientParams),
        (detect_ksigma, TransientParams),
        (detect_transients, TransientParams),
        (train_detector, TrainDetectorParams),
        (find_ensembles, EnsembleParams),
    ]


# keywords that share a field's name on purpose, defaulting to None ("the params' value"):
# `clean_traces(steps=[...])` takes an explicit step list with per-step values, and
# `detect_transients(dff, fps, "ksigma")` names the method positionally
OVERRIDES = {"clean_traces": {"steps"}, "detect_transients": {"method"}}


def test_core_functions_take_the_dataclass_and_repeat_no_default():
    """The core function's only defaults are the dataclass's: none of its fields is also a
    keyword with its own default in the signature (single values go through **changes)."""
    for fn, cls in _core_functions():
        sig = inspect.signature(fn)
        assert "params" in sig.parameters, fn.__name__
        names = {f.name for f in cls.fields()} - OVERRIDES.get(fn.__name__, set())
        repeated = sorted(names & set(sig.parameters))
        assert not repeated, f"{fn.__name__} repeats {repeated} of {cls.__name__}"
        for name in OVERRIDES.get(fn.__name__, ()):
            assert sig.parameters[name].default is None


def test_core_default_is_the_dataclass_default():
    from napari_catrack.core.signals.cleaning import clean_traces
    from napari_catrack.core.transients import detect_transients

    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.05, (3, 600))
    x[:, 200:215] += np.linspace(1, 0, 15)
    a, rec_a = clean_traces(x, 10.0)
    b, rec_b = clean_traces(x, 10.0, CleaningParams())
    np.testing.assert_array_equal(a, b)
    assert rec_a == rec_b and [s["name"] for s in rec_a["steps"]] == list(CleaningParams().steps)
    assert rec_a["steps"][0]["params"] == CleaningParams().step_params("drift")
    t1 = detect_transients(x, 10.0)
    t2 = detect_transients(x, 10.0, None, None, TransientParams())
    assert t1.equals(t2) and len(t1) >= 3
    t3 = detect_transients(x, 10.0, "ksigma")
    assert t3.equals(detect_transients(x, 10.0, params=TransientParams(method="ksigma")))


def test_detector_network_defaults_are_the_training_defaults():
    from napari_catrack.core.transients.learned import DetectorConfig

    cfg = DetectorConfig()
    assert {k: getattr(cfg, k) for k in TrainDetectorParams().network()} == (
        TrainDetectorParams().network()
    )


def test_cleaning_steps_are_the_ones_the_parameters_name():
    from napari_catrack.core.signals.cleaning import CLEANING_STEPS

    assert tuple(CLEANING_STEPS) == CLEANING_STEP_NAMES
    for name in CLEANING_STEP_NAMES:
        assert isinstance(CleaningParams().step_params(name), dict)


def test_session_steps_find_their_classes():
    for cls in (AlignParams, TracesParams, TransientParams, TrainDetectorParams, EnsembleParams):
        assert params_class(cls.step) is cls


@pytest.fixture(scope="module")
def demo_session(tmp_path_factory):
    from napari_catrack.demo import run_demo
    from napari_catrack.session import Session

    out = tmp_path_factory.mktemp("demo")
    run_demo(out, n_frames=30, seed=2, log=lambda *a: None)
    return Session.load(out / "demo.catrack.h5"), out


@pytest.mark.slow
def test_stored_provenance_is_the_dataclass(demo_session):
    """What the demo stores in the session is each step's dataclass, field for field."""
    session, _ = demo_session
    assert AlignParams.from_dict(session["alignment"].params, strict=True) == AlignParams()
    stored = dict(session["traces"].params)
    cleaning, fps = stored.pop("cleaning"), stored.pop("fps")
    assert stored.pop("red_floor_estimator") == "annulus-second-differences-v2"  # a fact (h19)
    assert stored.pop("alignment")["dy"] == session["alignment"].attrs["dy"]  # the one used
    assert CleaningParams.from_dict(stored.pop("cleaning_params"), strict=True) == CleaningParams()
    assert fps > 0 and TracesParams.from_dict(stored, strict=True) == TracesParams()
    assert [s["name"] for s in cleaning["steps"]] == list(CleaningParams().steps)
    for s in cleaning["steps"]:
        assert s["params"] == CleaningParams().step_params(s["name"])
    stored = {k: v for k, v in session["transients"].params.items() if k != "fps"}
    assert TransientParams.from_dict(stored, strict=True) == TransientParams()
    assert EnsembleParams.from_dict(session["ensembles"].params) == EnsembleParams(seed=2)


@pytest.mark.slow
def test_align_command_stores_its_parameters(demo_session, tmp_path):
    from napari_catrack import cli

    _, out = demo_session
    target = tmp_path / "a.json"
    argv = ["align", str(out / "recording.tif"), "--frames", "20", "--refine-frames", "4"]
    assert cli.main([*argv, "-o", str(target)]) == 0
    stored = json.loads(target.read_text())["provenance"]["params"]
    assert AlignParams.from_dict(stored, strict=True) == AlignParams(max_frames=20, refine_frames=4)


def test_yes_no_and_number_fields_given_as_text_are_read_or_refused():
    """A batch manifest's CSV cell is text (h9 review): `traces.ratio` = "False" was kept as the
    string "False", which is true, so the ratio was used; a number as text failed mid-batch."""
    from napari_catrack.core.tracking.params import TrackParams
    from napari_catrack.errors import InputError

    assert TracesParams(use_ratio="False").use_ratio is False
    assert TracesParams(use_ratio="no").use_ratio is False
    assert TracesParams(use_ratio="Yes").use_ratio is True
    assert TracesParams(radius="4").radius == 4.0
    assert TransientParams(snr_threshold=" 3.5 ").snr_threshold == 3.5
    with pytest.raises(InputError, match="must be true or false; got 'maybe'"):
        TracesParams(use_ratio="maybe")
    with pytest.raises(InputError, match="must be a number; got 'abc'"):
        TrackParams(gate="abc")
    with pytest.raises(InputError, match=">= "):  # the range is still checked after parsing
        TracesParams(radius="-1")
