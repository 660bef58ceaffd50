"""`catrack ensembles --figures DIR --figure-format FMT`, as `catrack transients` takes them
(h19: the command had neither and always wrote SVG + PNG into -o; `export/figures.py` and
test_export_ensembles.py named a `catrack ensembles --figures` that did not exist)."""

from __future__ import annotations

import pandas as pd
import pytest

from napari_catrack.cli import main
from napari_catrack.commands.ensembles import TABLE_FILES
from napari_catrack.synthetic.rasters import planted_ensembles

FIGURES = ("coactivity", "raster", "similarity", "members")


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    pr = planted_ensembles(
        n_neurons=30, n_frames=600, n_ensembles=2, ensemble_size=8, n_activations=8, seed=3
    )
    path = tmp_path_factory.mktemp("ens") / "transients.csv"
    pr.events.to_csv(path, index=False)
    return path


def _run(events, out, *extra) -> int:
    return main(["ensembles", str(events), "--fps", "5", "--shuffles", "50", "--n-frames", "600",
                 "-o", str(out), *extra])  # fmt: skip


def _figures(folder) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith("ensembles_")}


def test_figures_go_into_their_folder_in_the_format_asked(events, tmp_path):
    out, figs = tmp_path / "out", tmp_path / "figs"
    assert _run(events, out, "--figures", str(figs), "--figure-format", "pdf") == 0
    assert _figures(figs) == {f"ensembles_{n}.pdf" for n in FIGURES}
    assert all((figs / f"ensembles_{n}.pdf").read_bytes().startswith(b"%PDF") for n in FIGURES)
    assert _figures(out) == set() and {p.name for p in out.iterdir()} == set(TABLE_FILES)
    assert not pd.read_csv(out / "ensemble_events.csv").empty
    # the default format with --figures is transients' (svg)
    assert _run(events, tmp_path / "o2", "--figures", str(tmp_path / "f2")) == 0
    assert _figures(tmp_path / "f2") == {f"ensembles_{n}.svg" for n in FIGURES}


def test_without_figures_dir_the_figures_stay_in_the_output_folder(events, tmp_path):
    assert _run(events, tmp_path / "a") == 0  # as before: SVG and PNG into -o
    assert _figures(tmp_path / "a") == {f"ensembles_{n}.{f}" for n in FIGURES for f in ("svg", "png")}  # fmt: skip
    assert _run(events, tmp_path / "b", "--figure-format", "png") == 0
    assert _figures(tmp_path / "b") == {f"ensembles_{n}.png" for n in FIGURES}
    assert _run(events, tmp_path / "c", "--figures", str(tmp_path / "c")) == 0  # one folder
    assert _figures(tmp_path / "c") == {f"ensembles_{n}.svg" for n in FIGURES}


def test_figures_and_no_figures_contradict(events, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _run(events, tmp_path / "x", "--figures", str(tmp_path / "f"), "--no-figures")
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "f").exists()
