"""The real two-photon movie of SIMA's test data registers and yields components without error.

The movie (20 frames of 128 x 256, photon-limited: neighbouring frames correlate at ~0.05) comes
with two hand-drawn ImageJ ROIs; benchmarks/bench_twophoton_sima.py reports how the components
compare with them (20 frames hold too little activity for a good match).
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.cli import main
from napari_catrack.core.registration import RegisterParams, register_movie
from napari_catrack.core.sources import SourcesParams, extract_sources
from napari_catrack.io.sources import read_sources
from tests.conftest import shared_data


@pytest.mark.slow
def test_sima_movie_registers_and_yields_components(tmp_path):
    movie = shared_data("sima", "example.tif")
    res = register_movie(movie, RegisterParams(mode="piecewise", patch_px=64), output=tmp_path / "reg.tif")  # fmt: skip
    assert np.isfinite(res.shifts).all() and len(res.shifts) == 20
    assert res.metrics["residual_motion_median_px"] < 0.2
    src = extract_sources(tmp_path / "reg.tif", SourcesParams(patch_px=0), fps=2.0)
    assert len(src.components) > 0 and np.isfinite(src.raw).all()
    # the same through the CLI, from the HDF5 copy of the movie (axes y, x, t)
    h5 = shared_data("sima", "example.h5")
    assert main(["register", str(h5), "--mode", "rigid", "-o", str(tmp_path / "r2.tif"),
                 "--shifts", str(tmp_path / "s.csv")]) == 0  # fmt: skip
    assert main(["sources", str(tmp_path / "r2.tif"), "--fps", "2", "--patch-px", "0", "-o", str(tmp_path / "src")]) == 0  # fmt: skip
    assert len(read_sources(tmp_path / "src").components) > 0
