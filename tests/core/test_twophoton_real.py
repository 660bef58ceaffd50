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


def test_sima_volume_channel_1_registers_with_patches_that_fit(tmp_path, capsys):
    """SIMA's 5-D example (10 frames x 3 planes x 64 x 64 x 2 channels): `--channel 1` failed
    ("green and red channel indices (1, 1) name the same channel") and the default 96 px
    patches did not fit its 64 x 64 frames. Plane 1 of channel 1 now registers with 32 px
    patches, and the frames line up better with the template."""
    import json

    vol = shared_data("sima", "example-volume.h5")
    q = tmp_path / "q.json"
    assert main(["register", str(vol), "--channel", "1", "--z-projection", "1",
                 "-o", str(tmp_path / "r.tif"), "--shifts", str(tmp_path / "s.csv"),
                 "--metrics", str(q)]) == 0, capsys.readouterr().err  # fmt: skip
    metrics = json.loads(q.read_text())
    assert metrics["movie_options"] == {"channel": 1, "z_projection": 1}
    assert (metrics["patch_px_used"], metrics["patch_overlap_px_used"]) == (32, 10)  # auto-fitted
    assert metrics["correlation_median"] > metrics["correlation_raw_median"]


def test_sima_movie_with_a_nan_border_gives_the_summary_inside(tmp_path):
    """The SIMA movie corrected as another tool would (whole-pixel shifts, the vacated edge
    NaN) was refused by `summary`; its images now equal, inside the region every frame
    measured, those of the same correction with the edge filled instead of NaN."""
    import tifffile
    from scipy.ndimage import shift

    from napari_catrack.core.summary import summary_images

    raw = tifffile.imread(shared_data("sima", "example.tif")).astype(np.float32)
    moves = np.round(register_movie(raw, RegisterParams(mode="rigid")).shifts)
    nan = np.stack([shift(f, -d, order=0, cval=np.nan) for f, d in zip(raw, moves, strict=True)])
    filled = np.stack([shift(f, -d, order=0, mode="nearest") for f, d in zip(raw, moves, strict=True)])  # fmt: skip
    got, ref = summary_images(nan), summary_images(filled)
    assert "the region finite in every frame" in got.notes[0]
    inside = np.isfinite(nan).all(axis=0)
    ys, xs = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))  # a box
    box = (slice(ys[0] + 4, ys[-1] - 3), slice(xs[0] + 4, xs[-1] - 3))  # off the PNR filter's rim
    for name, image in got.as_dict().items():
        np.testing.assert_allclose(image[box], ref.as_dict()[name][box], rtol=1e-5, atol=1e-4)
        assert np.isnan(image[~inside]).all()
