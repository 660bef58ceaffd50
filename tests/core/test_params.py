"""The parameter dataclasses: one source of defaults for core, CLI, widget and provenance."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import ClassVar, Literal

import pytest

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, auto_or_float, param, params_class


@dataclass(frozen=True)
class DemoParams(StepParams):
    step: ClassVar[str] = "demo-params-test"
    sigma: float = param(1.0, "smoothing", minimum=0, unit="px")
    count: int = param(3, "how many", minimum=1, maximum=10)
    method: Literal["rules", "model"] = param("rules", "which detector")
    window: float | str = param("auto", "smoothing window", parse=auto_or_float)
    limit: float | None = param(None, "optional cap")
    verbose: bool = param(False, "say more")
    hidden: int = param(7, "not on the CLI", cli=False)

    def check(self) -> None:
        if self.method == "model" and self.count > 5:
            raise InputError("--count above 5 needs --method rules")


def _parse(argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    DemoParams.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_round_trip_through_provenance():
    p = DemoParams(sigma=2, count=4)
    assert isinstance(p.sigma, float) and p.sigma == 2.0
    d = p.to_dict()
    assert d["sigma"] == 2.0 and d["window"] == "auto" and d["hidden"] == 7
    assert DemoParams.from_dict(d) == p
    assert p.changed() == {"sigma": 2.0, "count": 4}
    assert params_class("demo-params-test") is DemoParams


def test_from_dict_tolerates_old_sessions_unless_strict():
    assert DemoParams.from_dict({"sigma": 3.0, "removed_long_ago": 1}).sigma == 3.0
    with pytest.raises(InputError, match="removed_long_ago"):
        DemoParams.from_dict({"removed_long_ago": 1}, strict=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": -1.0}, "--sigma must be >= 0"),
        ({"count": 11}, "--count must be <= 10"),
        ({"method": "gru"}, "--method must be one of rules, model"),
        ({"sigma": float("nan")}, "NaN"),
        ({"method": "model", "count": 6}, "needs --method rules"),
    ],
)
def test_bad_values_are_one_line_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        DemoParams(**kwargs)


def test_cli_options_come_from_the_fields():
    args = _parse(["--sigma", "0.5", "--window", "0.3", "--verbose", "--limit", "2"])
    p = DemoParams.from_args(args)
    assert (p.sigma, p.window, p.verbose, p.limit, p.count) == (0.5, 0.3, True, 2.0, 3)
    # untouched options keep the dataclass default, and overrides fill in what the user left out
    p2 = DemoParams.from_args(_parse([]), count=5)
    assert p2 == DemoParams(count=5)
    assert not hasattr(_parse([]), "hidden") or _parse([]).hidden is None


def test_cli_rejects_out_of_range_values_before_work():
    with pytest.raises(argparse.ArgumentError, match="--count must be >= 1"):
        _parse(["--count", "0"])
    with pytest.raises(argparse.ArgumentError, match="one of rules, model"):
        _parse(["--method", "gru"])
    # an option with its own grammar says it (before: "expected str for --window, got 'x'")
    with pytest.raises(argparse.ArgumentError, match="--window cannot be 'x': smoothing window"):
        _parse(["--window", "x"])


def test_mutable_defaults_are_refused():
    with pytest.raises(TypeError, match="tuple"):
        param([1, 2])


def test_an_optional_option_given_as_none_is_none_not_the_default():
    """`catrack ensembles --seed none` ran seed 0 (argparse's None read as "not given"), and
    `catrack transients --noise-window none` the 10 s default."""
    from napari_catrack.core.ensembles.params import EnsembleParams
    from napari_catrack.core.transients.params import TransientParams

    for cls, option, field, default in (
        (EnsembleParams, "--seed", "seed", 0),
        (TransientParams, "--noise-window", "noise_window_s", 10.0),
    ):
        parser = argparse.ArgumentParser(exit_on_error=False)
        cls.add_arguments(parser)
        assert getattr(cls.from_args(parser.parse_args([option, "none"])), field) is None
        assert getattr(cls.from_args(parser.parse_args([])), field) == default
        assert getattr(cls.from_args(parser.parse_args([option, "3"])), field) == 3
