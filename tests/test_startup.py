"""Start-up stays light: `catrack --help` and building any command's options import no heavy
library (torch, napari, Qt, scikit-image, matplotlib, dask). No timing: what is imported is what
costs, and it does not depend on how busy the machine is (benchmarks/bench_startup.py times it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("torch", "napari", "PyQt5", "PyQt6", "PySide2", "PySide6", "qtpy", "skimage",
         "matplotlib", "dask")  # fmt: skip
NEVER_FOR_OPTIONS = ("torch", "napari", "PyQt5", "PyQt6", "PySide2", "PySide6", "qtpy",
                     "matplotlib")  # fmt: skip


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def _imported(*args: str) -> set[str]:
    """Top-level packages a Python run imports, from its `-X importtime` report."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=_env()
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)", result.stderr, re.M)
    assert names, "no -X importtime report"
    return {n.split(".")[0] for n in names}


def test_catrack_help_imports_nothing_heavy():
    imported = _imported("-m", "napari_catrack.cli", "--help")
    assert "napari_catrack" in imported
    assert not sorted(set(HEAVY) & imported), (
        f"`catrack --help` imports {sorted(set(HEAVY) & imported)}"
    )


def test_building_every_command_keeps_gui_and_training_stacks_out():
    """Each command's options (what `catrack CMD --help` needs) without torch, napari, Qt or
    matplotlib: those belong in `run`."""
    code = (
        "import sys\n"
        "from napari_catrack import cli\n"
        "names = [n for n in cli._commands() if not n.startswith('?')]\n"
        "for name in names:\n"
        "    cli.build_parser(only=name).format_help()\n"
        "print(len(names))\n"
    )
    imported = _imported("-c", code)
    bad = sorted(set(NEVER_FOR_OPTIONS) & imported)
    assert not bad, f"building the commands' options imports {bad}"


def test_commands_are_discovered_without_importing_them():
    from napari_catrack import cli

    found = cli._commands()
    assert {"align", "traces", "transients", "ensembles", "info", "train-detector"} <= set(found)
    assert all(help_text for _, help_text in found.values()), "every command declares a help"
    parser = cli.build_parser(only=None)
    action = next(a for a in parser._actions if a.dest == "command")
    assert set(action.choices) >= {"align", "traces"}  # listed for --help, registered lazily


NUMPY_HEAVY = ("pandas", "scipy", "skimage", "h5py", "tifffile", "av", "dask", "torch", "sklearn",
               "matplotlib", "pooch")  # fmt: skip


def test_behaviour_commands_help_import_nothing_beyond_numpy():
    """`catrack segment/centerline/velocity --help`: the parameter classes live in the light
    core/behaviour/params.py, so the options need no pandas/scipy (those load in `run`)."""
    for command in ("segment", "centerline", "velocity"):
        imported = _imported("-m", "napari_catrack.cli", command, "--help")
        bad = sorted(set(NUMPY_HEAVY) & imported)
        assert not bad, f"`catrack {command} --help` imports {bad}"


def test_behaviour_params_keep_their_old_homes():
    from napari_catrack.core.behaviour import params, propagate, velocity, video_centerline

    assert propagate.SegmentParams is params.SegmentParams
    assert velocity.VelocityParams is params.VelocityParams
    assert video_centerline.CenterlineParams is params.CenterlineParams


def _tiny_two_channel_tiff(tmp_path: Path):
    """A 12-frame two-channel ImageJ TIFF, its seeds CSV and its true alignment JSON."""
    import json

    import pandas as pd

    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.synthetic import make_worm_recording

    rec = make_worm_recording(n_frames=12, shape=(64, 64), n_neurons=3, seed=2)
    tif = write_movie_tiff(tmp_path / "rec.tif", rec.green, rec.red)
    p0 = rec.truth.positions[0]
    seeds = tmp_path / "seeds.csv"
    pd.DataFrame({"neuron_id": rec.truth.neuron_ids, "y": p0[:, 0], "x": p0[:, 1]}).to_csv(
        seeds, index=False
    )
    align = tmp_path / "align.json"
    align.write_text(json.dumps(rec.truth.misalignment))
    return tif, seeds, align


@pytest.mark.slow  # fresh processes that read a movie: a few seconds
def test_track_on_a_contiguous_tiff_runs_without_dask(tmp_path):
    """`catrack track` reads a contiguous TIFF through numpy views of its memory map: neither
    dask (0.3 s of imports) nor its per-frame tasks, on the path that estimates the alignment
    (and caches it) as on the one given a file. Both give the same tracks."""
    import pandas as pd

    tif, seeds, align = _tiny_two_channel_tiff(tmp_path)
    command = ["-m", "napari_catrack.cli", "track", str(tif), "--seeds", str(seeds)]
    for extra, out in ((["--align", str(align)], "given.csv"), ([], "estimated.csv")):
        imported = _imported(*command, *extra, "-o", str(tmp_path / out))
        assert "dask" not in imported, f"catrack track {' '.join(extra)} imported dask"
    assert (tmp_path / "rec.catrack.h5").is_file()  # the estimate was cached as before
    given, estimated = (pd.read_csv(tmp_path / name) for name in ("given.csv", "estimated.csv"))
    assert len(given) == 3 * 12
    err = (given[["y", "x"]] - estimated[["y", "x"]]).abs().to_numpy().max()
    assert err < 0.5, "an estimated alignment close to the true one gives nearly the same tracks"


@pytest.mark.slow  # fresh processes that read a movie: a few seconds
def test_info_align_and_detect_on_a_contiguous_tiff_run_without_dask(tmp_path):
    tif, _, _ = _tiny_two_channel_tiff(tmp_path)
    for args in (
        ["info", str(tif)],
        ["align", str(tif), "-o", str(tmp_path / "a.json")],
        ["detect", str(tif), "--channel", "red", "--no-align", "-o", str(tmp_path / "c.csv")],
    ):
        imported = _imported("-m", "napari_catrack.cli", *args)
        assert "dask" not in imported, f"catrack {args[0]} imported dask"
    assert (tmp_path / "a.json").is_file() and (tmp_path / "c.csv").is_file()
