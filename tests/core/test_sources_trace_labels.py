"""The traces of sources (a suite2p/CaImAn/Minian/ImageJ import, or `catrack sources`) are
labelled by what they are (h21): the export's `traces` figure drew a suite2p import's F - 0.7 x
Fneu under "green (a.u., bg-sub.)", the worm path's background-subtracted camera counts (the
session keeps `green` as a copy of `raw` for the trace viewer)."""

from __future__ import annotations

from pathlib import Path

from napari_catrack.cli import main
from napari_catrack.figures.traces import panel_label

SUITE2P = Path(__file__).resolve().parents[1] / "data" / "suite2p" / "old"


def test_an_imports_raw_trace_is_labelled_raw(tmp_path):
    from napari_catrack.export.figures import build_figure
    from napari_catrack.session import Session

    path = tmp_path / "s.catrack.h5"
    assert main(["import", "suite2p", str(SUITE2P), "-o", str(tmp_path / "o"), "--session", str(path)]) == 0  # fmt: skip
    session = Session.load(path)
    traces = session["traces"].tables["traces"]
    assert panel_label("green", traces) == "raw (a.u.)"
    labels = [ax.get_ylabel() for ax in build_figure(session, "traces").axes]
    assert "raw (a.u.)" in labels and not any("bg-sub" in x for x in labels)
    # a tracked recording's green keeps its words
    worm = traces.drop(columns=["raw"])
    assert "bg-sub" in panel_label("green", worm)
