"""The NWB series of imported cells say what the tool measured (h21): an NWB file of a suite2p
import described its raw trace as "source trace (CNMF-style extraction)" and its spikes as OASIS
deconvolution, words that fit only cells extracted here."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_catrack.cli import main

from ._session_helpers import NWB_METADATA

pytest.importorskip("pynwb")
SUITE2P = Path(__file__).resolve().parents[1] / "data" / "suite2p" / "old"


def _descriptions(path) -> dict[str, str]:
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        fl = nwb.processing["ophys"]["Fluorescence"].roi_response_series
        return {name: series.description for name, series in fl.items()}


def test_a_suite2p_imports_series_say_what_suite2p_measured(tmp_path):
    import yaml

    meta = tmp_path / "meta.yaml"
    meta.write_text(yaml.safe_dump(NWB_METADATA))
    session = tmp_path / "s.catrack.h5"
    assert main(["import", "suite2p", str(SUITE2P), "-o", str(tmp_path / "o"), "--session", str(session)]) == 0  # fmt: skip
    assert main(["export-nwb", str(session), "-o", str(tmp_path / "s.nwb"), "--metadata", str(meta)]) == 0  # fmt: skip
    said = _descriptions(tmp_path / "s.nwb")
    assert set(said) == {"raw", "deconvolved"}  # suite2p stores no denoised trace
    assert "CNMF" not in said["raw"] and "suite2p" in said["raw"]
    assert said["raw"].startswith("F - neuropil coefficient x Fneu")
    assert "suite2p" in said["deconvolved"] and "spks.npy" in said["deconvolved"]
