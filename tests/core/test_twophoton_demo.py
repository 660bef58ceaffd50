"""`catrack demo --two-photon` runs the whole head-fixed path and scores it."""

from __future__ import annotations

import json

import pytest

from napari_catrack.cli import main
from napari_catrack.io.sources import read_sources
from napari_catrack.session import Session


@pytest.mark.slow
@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's leaked as warning lines (review 7)
def test_two_photon_demo_runs_every_step(tmp_path):
    assert main(["demo", "--two-photon", "--frames", "150", "-o", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["registration"]["median_error_px"] < 0.1
    assert summary["sources"]["f1"] > 0.6
    assert len(read_sources(tmp_path / "sources").components) > 0
    session = Session.load(tmp_path / "two_photon.catrack.h5")
    assert {"registration", "summary", "sources", "traces", "transients", "ensembles"} <= set(session.steps)  # fmt: skip
    from ._session_helpers import nwb_problems

    assert nwb_problems(session, tmp_path / "two_photon.nwb") == []  # its NWB export
    summary = session.recording["summary"]
    assert (summary["height"], summary["width"]) == (160, 160)  # was missing: dimension [0, 0]
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(tmp_path / "two_photon.nwb"), "r") as io:
        nwb = io.read()
        assert list(nwb.acquisition["Imaging"].dimension[:]) == [160, 160]
        stacks = nwb.processing["ophys"]["MotionCorrection"].corrected_image_stacks
        assert stacks["CorrectedImageStack"].corrected.external_file[0].endswith("registered.tif")
