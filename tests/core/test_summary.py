"""Summary images: the local correlation image equals CaImAn's definition; chunking is exact."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy.ndimage import convolve, gaussian_filter

from napari_catrack.cli import main
from napari_catrack.core.summary import SummaryParams, noise_fft, summary_images
from napari_catrack.errors import InputError
from napari_catrack.synthetic import make_two_photon_movie


def caiman_local_correlations(y: np.ndarray) -> np.ndarray:
    """CaImAn's `local_correlations(eight_neighbours=True)`, written out directly."""
    y = y.astype(np.float64)
    z = (y - y.mean(axis=0)) / y.std(axis=0)
    k = np.ones((3, 3))
    k[1, 1] = 0
    num = np.stack([convolve(f, k, mode="constant") for f in z])
    count = convolve(np.ones(y.shape[1:]), k, mode="constant")
    return (z * num).mean(axis=0) / count


@pytest.fixture(scope="module")
def movie():
    return make_two_photon_movie(80, (40, 48), n_cells=5, seed=3, motion_px=0).movie


def test_images_match_direct_definitions_and_chunking(movie):
    a = summary_images(movie, SummaryParams(chunk_frames=1000))
    b = summary_images(movie, SummaryParams(chunk_frames=7))
    np.testing.assert_allclose(a.correlation, caiman_local_correlations(movie), atol=1e-5)
    np.testing.assert_allclose(a.mean, movie.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(a.std, movie.std(axis=0), rtol=1e-4)
    np.testing.assert_array_equal(a.max, movie.max(axis=0))
    for name, img in a.as_dict().items():
        np.testing.assert_allclose(img, getattr(b, name), rtol=1e-5, atol=1e-5)


def full_array_summary(movie: np.ndarray, p: SummaryParams) -> dict[str, np.ndarray]:
    """The summary images computed on the whole movie in memory, as summary_images did before it
    streamed the noise estimate (review 7, finding 3): the reference for the chunked version."""
    x = movie.astype(np.float64)
    n = len(x)
    f = gaussian_filter(x, (0, p.pnr_sigma_px, p.pnr_sigma_px)) if p.pnr_sigma_px > 0 else x
    block = f[: min(n, p.noise_frames)]
    spec = np.fft.rfft(block - block.mean(axis=0), axis=0)
    freq = np.fft.rfftfreq(len(block))
    band = (freq > 0.25) & (freq <= 0.5)
    noise = np.sqrt((np.abs(spec[band]) ** 2 / len(block)).mean(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        pnr = np.where(noise > 0, (f.max(axis=0) - f.mean(axis=0)) / noise, 0.0)
    return {
        "mean": x.mean(axis=0),
        "max": x.max(axis=0),
        "std": x.std(axis=0),
        "correlation": caiman_local_correlations(movie),
        "pnr": np.nan_to_num(np.maximum(pnr, 0)),
    }


@pytest.mark.parametrize(
    ("chunk", "noise_frames", "sigma"),
    [(1000, 1000, 1.0), (7, 64, 1.0), (13, 50, 2.0), (1, 16, 1.0), (30, 80, 0.0), (11, 1000, 0.5)],
)
def test_streamed_images_equal_the_whole_movie_computation(movie, chunk, noise_frames, sigma):
    """Chunks that do not divide the movie or the noise block, noise blocks split into many row
    tiles (a small chunk gives small tiles), no filter and a wide one: all equal the reference."""
    p = SummaryParams(chunk_frames=chunk, noise_frames=noise_frames, pnr_sigma_px=sigma)
    got = summary_images(movie, p).as_dict()
    for name, ref in full_array_summary(movie, p).items():
        np.testing.assert_allclose(got[name], ref, rtol=1e-5, atol=1e-5, err_msg=name)


def test_memory_is_bounded_by_the_chunk_not_the_noise_block():
    """Peak numpy memory stays a few float64 chunks of frames: the noise block (here 600 frames,
    75 chunks) is never held whole (it was held ~4 times over, as float64, review 7 finding 3)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    movie = rng.integers(0, 4000, (600, 64, 64)).astype(np.uint16)
    p = SummaryParams(chunk_frames=8, noise_frames=600)
    chunk_bytes = 8 * 64 * 64 * 8
    tracemalloc.start()
    try:
        summary_images(movie, p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * chunk_bytes, peak / chunk_bytes  # the whole block as float64 is 75 chunks


def test_noise_fft_recovers_white_noise_level():
    rng = np.random.default_rng(0)
    assert abs(float(noise_fft(rng.normal(0, 3.0, (4000, 1))[:, 0])) - 3.0) < 0.15


def test_pnr_and_correlation_are_high_on_cells():
    m = make_two_photon_movie(
        300, (48, 48), n_cells=4, seed=5, motion_px=0, silent_fraction=0, cell_brightness=(150, 300)
    )
    img = summary_images(m.movie)
    cells = m.truth.footprints.max(axis=0) > 0.5
    assert img.pnr[cells].mean() > 1.25 * img.pnr[~cells].mean()
    assert img.correlation[cells].mean() > img.correlation[~cells].mean() + 0.1


def test_cli_summary_and_bad_input(tmp_path, movie, capsys):
    rec = tmp_path / "m.tif"
    tifffile.imwrite(rec, movie)
    assert main(["summary", str(rec), "-o", str(tmp_path / "out")]) == 0
    for name in ("mean", "max", "correlation", "std", "pnr"):
        assert tifffile.imread(tmp_path / "out" / f"{name}.tif").shape == movie.shape[1:]
    bad = movie[:10].astype(np.float32)
    bad[3, 5, 5] = np.nan  # inside the picture (a NaN border is left out: test_nan_border.py)
    with pytest.raises(InputError, match="frame 3"):
        summary_images(bad)


def test_cli_summary_protects_its_input_and_wants_a_folder(tmp_path, movie, capsys):
    out = tmp_path / "out"
    out.mkdir()
    tifffile.imwrite(out / "mean.tif", movie)  # the user's movie, named like an output
    before = (out / "mean.tif").read_bytes()
    assert main(["summary", str(out / "mean.tif"), "-o", str(out)]) == 2
    assert "would write mean.tif over the input REC" in capsys.readouterr().err
    assert (out / "mean.tif").read_bytes() == before and len(list(out.iterdir())) == 1
    assert main(["summary", str(out / "mean.tif"), "-o", str(tmp_path / "bad_sum.tif")]) == 2
    assert "named like a file" in capsys.readouterr().err
    assert not (tmp_path / "bad_sum.tif").exists()
    for _ in range(2):  # rerunning into the same folder replaces its own images
        assert main(["summary", str(out / "mean.tif"), "-o", str(tmp_path / "s")]) == 0
    assert len(list((tmp_path / "s").iterdir())) == 5


@pytest.mark.parametrize("frames", [2, 7])
def test_a_movie_too_short_for_the_noise_level_is_refused(tmp_path, movie, capsys, frames):
    """Under 8 frames there is no noise spectrum: the peak-to-noise image was written all zeros
    (it reads as "no cell has a peak") beside the other four. Refused in one line, as sources."""
    rec = tmp_path / "short.tif"
    tifffile.imwrite(rec, movie[:frames])
    assert main(["summary", str(rec), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "summary images need at least 8 frames" in err and f"the movie has {frames}" in err
    assert not (tmp_path / "out").exists()
    assert summary_images(movie[:8]).pnr.max() > 0  # 8 frames: a real peak-to-noise image
