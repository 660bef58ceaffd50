"""The export's traces.csv of sources (extracted or imported) is the table `catrack sources` and
`catrack import` write (h21): it had a `green` column, the session's copy of `raw` kept for the
trace viewer, so a suite2p import's export showed `raw` and `green` with the same numbers and
no word on which was suite2p's. The NWB export already left it out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from napari_catrack.cli import main

SUITE2P = Path(__file__).resolve().parents[1] / "data" / "suite2p" / "old"


def test_an_imports_exported_traces_are_the_imports_traces(tmp_path):
    session = tmp_path / "s.catrack.h5"
    out = tmp_path / "sources"
    assert main(["import", "suite2p", str(SUITE2P), "-o", str(out), "--session", str(session)]) == 0  # fmt: skip
    assert main(["export", str(session), "-o", str(tmp_path / "x"), "--items", "traces"]) == 0
    exported = pd.read_csv(tmp_path / "x" / "traces.csv")
    written = pd.read_csv(out / "traces.csv")
    assert "green" not in exported
    assert list(exported.columns) == list(written.columns)
    pd.testing.assert_frame_equal(exported, written, check_exact=False, rtol=1e-9)
