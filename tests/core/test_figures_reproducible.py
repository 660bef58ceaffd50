"""Review h10: the same figure saved twice gave different SVG and PDF files (the save time and
random SVG clip-path ids), so a re-run of a paper's analysis could not be checked with a diff."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.figures import save_figure


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot(np.arange(10), np.arange(10) ** 0.5, label="a")
    ax.imshow(np.arange(16.0).reshape(4, 4), extent=(0, 9, 0, 3), alpha=0.3)
    ax.legend()
    return fig


@pytest.mark.parametrize("suffix", ["svg", "pdf", "png"])
def test_the_same_figure_gives_the_same_bytes(tmp_path, suffix):
    a = save_figure(_figure(), tmp_path / f"a.{suffix}").read_bytes()
    b = save_figure(_figure(), tmp_path / f"b.{suffix}").read_bytes()
    assert a == b
    if suffix == "svg":
        assert b"<dc:date>" not in a


def test_given_metadata_is_kept(tmp_path):
    path = save_figure(_figure(), tmp_path / "a.svg", metadata={"Title": "run 7"})
    assert b"run 7" in path.read_bytes()
