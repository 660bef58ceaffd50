"""`catrack CMD --help` states the defaults in force: a step parameter's from its dataclass
(`[default: X]`, `StepParams.add_arguments`), any other option's from its parser default
(`%(default)s`) or from the one constant the code uses, never a number typed twice."""

from __future__ import annotations

import argparse
import inspect
import re

from napari_catrack import params as params_module
from napari_catrack.cli import build_parser

# options whose help names a default the parser does not hold (None: decided later), and why
DECIDED_LATER = {
    ("demo", "--frames"): "run_demo's / run_two_photon_demo's length (test below)",
    ("demo", "--two-photon"): "the --frames its demo makes (test below)",
    ("import", "--channel"): "the recording's first channel, as it is opened",
    ("register", "--channel"): "the recording's first channel, as it is opened",
    ("sources", "--channel"): "the recording's first channel, as it is opened",
    ("summary", "--channel"): "the recording's first channel, as it is opened",
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _dataclass_defaults() -> dict[str, set[str]]:
    """Option -> the defaults the step dataclasses show for it (as `add_arguments` writes them)."""
    shown: dict[str, set[str]] = {}
    classes, todo = set(), [params_module.StepParams]  # every one the commands imported
    while todo:
        for sub in todo.pop().__subclasses__():
            classes.add(sub)
            todo.append(sub)
    for cls in classes:
        for info in cls.fields():
            if info.option is None:
                continue
            d = info.default
            text = ",".join(map(str, d)) if isinstance(d, tuple) else str(d)
            shown.setdefault(info.option, set()).add(text)
    return shown


def test_every_default_a_help_states_is_the_one_in_force():
    subparsers = _subparsers()  # imports every command's dataclasses first
    from_dataclass = _dataclass_defaults()
    wrong = []
    for name, sub in subparsers.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or not action.help or action.help == argparse.SUPPRESS:
                continue
            text = " ".join(formatter._expand_help(action).split())
            option = action.option_strings[0]  # (--x of --x/--no-x)
            stated = re.search(r"\[default: ([^\]]*)\]", text)
            if stated and action.default is None:  # a step parameter: its dataclass's
                if stated[1] not in from_dataclass.get(option, set()):
                    wrong.append(f"{name} {option}: [default: {stated[1]}] is no dataclass's")
                continue
            for number in re.findall(r"default:? (-?\d+(?:\.\d+)?)\b", text):
                if (name, option) in DECIDED_LATER:
                    continue
                if action.default is None:
                    wrong.append(f"{name} {option}: help says default {number}, parser None")
                elif float(number) != float(action.default):
                    wrong.append(f"{name} {option}: help says {number}, parser {action.default}")
    assert not wrong, "\n".join(wrong)


def test_demo_lengths_in_the_help_are_the_demos():
    """`catrack demo --help` said 300 / 600 frames, typed in the help and again in `run`."""
    from napari_catrack.commands import demo as command
    from napari_catrack.demo import run_demo
    from napari_catrack.demo_two_photon import run_two_photon_demo

    assert command.FRAMES == inspect.signature(run_demo).parameters["n_frames"].default
    two_photon = inspect.signature(run_two_photon_demo).parameters["n_frames"].default
    assert command.TWO_PHOTON_FRAMES == two_photon
    help_text = " ".join(_subparsers()["demo"].format_help().split())
    assert f"default {command.FRAMES}; {two_photon} with --two-photon" in help_text


def test_puncta_help_names_every_camera_default():
    """It named three of the five camera values `catrack puncta` assumes without --camera
    (quantum efficiency 1 and read noise 0 were left out)."""
    from napari_catrack.core.puncta.camera import CameraModel

    help_text = " ".join(_subparsers()["puncta"].format_help().split())
    c = CameraModel()
    for said in (f"offset {c.offset_adu:g} ADU", f"{c.e_per_adu:g} e-/ADU",
                 f"quantum efficiency {c.quantum_efficiency:g}", f"read noise {c.read_noise_e:g}"):  # fmt: skip
        assert said in help_text, said


def test_every_option_and_argument_says_what_it_is():
    """`catrack CMD --help` explains every option and positional argument: an undocumented
    `--figure-format` or `-o` leaves a user to guess what it writes (session 20 found eight)."""
    silent = [
        f"catrack {name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in _subparsers().items()
        for action in sub._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert not silent, "options without help text:\n" + "\n".join(silent)


def test_the_figure_formats_are_one_list():
    """`catrack transients`, `catrack ensembles`, `catrack puncta` and `catrack export` offer the
    export's formats."""
    from napari_catrack.export.layout import FIGURE_FORMATS

    offered = {
        name: action.choices
        for name, sub in _subparsers().items()
        for action in sub._actions
        if "--figure-format" in action.option_strings
    }
    assert set(offered) == {"transients", "ensembles", "export", "puncta"}
    assert all(tuple(c) == FIGURE_FORMATS for c in offered.values()), offered
