"""Summary images of a movie, computed in one pass over frame chunks (bounded memory).

- mean, max, standard deviation;
- the local correlation image as CaImAn defines it (`local_correlations`, eight neighbours): each
  pixel's mean Pearson correlation over time with its 8 neighbours. Accumulated exactly from
  running sums (sum x, sum x², and sum x_p x_q for the 4 neighbour directions), so any chunk size
  gives the same image;
- the peak-to-noise image (CaImAn's `correlation_pnr`): (max − mean) of the Gaussian-filtered movie
  over its noise level, the noise taken as CaImAn's `get_noise_fft` ('mean' of the power spectral
  density between 0.25 and 0.5 of the sampling rate) on a block of `noise_frames` frames (the
  noise level is stationary; the whole movie would need every pixel's full time series in memory).
  The spectrum needs each pixel's whole series in the block, so it is taken on tiles of frame
  rows, each tile of the block about as large as one chunk of frames: memory stays a few chunks
  whatever `noise_frames` and the frame size (holding the block whole, as float64 with its
  filtered copy and spectrum, took ~7 GB at 512 x 512). The first tile is gathered during the
  pass; each further tile reads the block again (`noise_frames` / `chunk_frames` reads in all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from napari_catrack.core.valid_region import NonFinitePixels, finite_region
from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.io.frames import FrameSource, open_frames
from napari_catrack.params import StepParams, param

NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))  # each pair once; both pixels get its correlation
IMAGE_NAMES = ("mean", "max", "std", "correlation", "pnr")  # the files `catrack summary` writes
GAUSS_TRUNCATE = 4.0  # scipy's gaussian_filter default: the kernel reaches int(4 sigma + 0.5) px


@dataclass(frozen=True)
class SummaryParams(StepParams):
    step: ClassVar[str] = "summary"

    pnr_sigma_px: float = param(
        1.0, "Gaussian filter of the movie for the peak-to-noise image", minimum=0, unit="px"
    )
    noise_frames: int = param(
        1000, "frames used to estimate each pixel's noise level (PNR)", minimum=16
    )
    chunk_frames: int = param(
        200, "frames read at a time (bounds memory)", minimum=1, advanced=True
    )


@dataclass
class SummaryImages:
    mean: np.ndarray
    max: np.ndarray
    std: np.ndarray
    correlation: np.ndarray
    pnr: np.ndarray
    notes: list[str] = field(default_factory=list, repr=False)  # e.g. the NaN border left out

    def as_dict(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean,
            "max": self.max,
            "std": self.std,
            "correlation": self.correlation,
            "pnr": self.pnr,
        }


def noise_fft(x: np.ndarray, low: float = 0.25, high: float = 0.5) -> np.ndarray:
    """Per-pixel noise s.d. of (T, ...) data from its power spectral density (CaImAn's method)."""
    t = x.shape[0]
    if t < 8:
        raise InputError(f"{t} frames are too few to estimate the noise level (need 8)")
    xf = np.fft.rfft(x - x.mean(axis=0), axis=0)
    freq = np.fft.rfftfreq(t)
    band = (freq > low) & (freq <= high)
    psd = (np.abs(xf[band]) ** 2) / t
    return np.sqrt(psd.mean(axis=0)).astype(np.float32)


def _pair_views(x: np.ndarray, dy: int, dx: int):
    """Aligned views (p, p + (dy, dx)) of a (T, Y, X) chunk over the pixels where both exist."""
    h, w = x.shape[1:]
    ys, yq = slice(0, h - dy), slice(dy, h)
    if dx >= 0:
        xs, xq = slice(0, w - dx), slice(dx, w)
    else:
        xs, xq = slice(-dx, w), slice(0, w + dx)
    return (ys, xs), (yq, xq)


def summary_images(
    movie,
    params: SummaryParams | None = None,
    *,
    progress=None,
    cancel=None,
) -> SummaryImages:
    """Mean, max, std, local correlation and peak-to-noise images of a (T, Y, X) movie.

    A NaN border (another tool's motion correction) is left out: the images are computed on the
    pixels finite in every frame and are NaN outside them (`core.valid_region`); `notes` says so.
    """
    p = params or SummaryParams()
    source = movie if isinstance(movie, FrameSource) else open_frames(movie)
    try:
        try:
            return _summary(source, p, progress, cancel)
        except NonFinitePixels:  # a NaN border is left out; other NaN pixels: one line
            region = finite_region(source, "summary images need", p.chunk_frames, cancel)
        images = _summary(region.crop(source), p, progress, cancel)
        full = {name: region.pad(image, np.nan) for name, image in images.as_dict().items()}
        return SummaryImages(**full, notes=[region.note("summary images")])
    finally:
        if not isinstance(movie, FrameSource):
            source.close()


def _noise_tile_rows(p: SummaryParams, n_noise: int, h: int) -> int:
    """Frame rows per tile of the noise block: a tile (n_noise x rows x X) as large as one chunk
    of frames (chunk_frames x Y x X), so the spectra cost what a chunk of the pass costs."""
    return max(1, min(h, (p.chunk_frames * h) // max(1, n_noise)))


def _filtered(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter  # here: `catrack summary --help` stays light

    return gaussian_filter(x, (0, sigma, sigma), truncate=GAUSS_TRUNCATE) if sigma > 0 else x


def _noise_tile(
    source: FrameSource, p: SummaryParams, n_noise: int, r0: int, r1: int, cancel
) -> np.ndarray:
    """Rows r0:r1 of the filtered noise block (n_noise, r1 - r0, X), read chunk by chunk.

    The filter is spatial only, so rows read with a margin of the kernel's reach (clipped at the
    frame's edges, where the filter's own boundary rule applies) filter exactly as whole frames.
    """
    h = source.shape[1]
    reach = int(GAUSS_TRUNCATE * p.pnr_sigma_px + 0.5) if p.pnr_sigma_px > 0 else 0
    a0, a1 = max(0, r0 - reach), min(h, r1 + reach)
    tile = np.empty((n_noise, r1 - r0, source.shape[2]))
    for t0, t1 in source.chunks(p.chunk_frames, stop=n_noise):
        check_cancelled(cancel, "summary images")
        x = _filtered(source.read(t0, t1)[:, a0:a1].astype(np.float64), p.pnr_sigma_px)
        tile[t0:t1] = x[:, r0 - a0 : r1 - a0]
    return tile


def _summary(source: FrameSource, p: SummaryParams, progress, cancel) -> SummaryImages:
    n, h, w = source.shape
    if n < 8:  # fewer: no noise spectrum, and the peak-to-noise image came out all zeros
        raise InputError(
            f"summary images need at least 8 frames (the peak-to-noise image needs each pixel's "
            f"noise spectrum); the movie has {n}"
        )
    n_noise = min(n, p.noise_frames)
    rows = _noise_tile_rows(p, n_noise, h)
    tiles = [(r0, min(h, r0 + rows)) for r0 in range(0, h, rows)]
    total = n + max(0, len(tiles) - 1) * n_noise  # frames read: the pass, then the other tiles
    first = np.empty((n_noise, tiles[0][1], w)) if tiles else None  # gathered during the pass
    s1 = np.zeros((h, w))
    s2 = np.zeros((h, w))
    cross = [np.zeros((h - dy, w - abs(dx))) for dy, dx in NEIGHBOURS]
    mx = np.full((h, w), -np.inf)
    fmax = np.full((h, w), -np.inf)
    fsum = np.zeros((h, w))
    for t0, t1 in source.chunks(p.chunk_frames):
        check_cancelled(cancel, "summary images")
        x = source.read(t0, t1).astype(np.float64)
        if not np.isfinite(x).all():
            bad = t0 + int(np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))[0])
            raise NonFinitePixels(
                f"frame {bad} contains NaN/infinite pixels; summary images need finite data "
                "(fill or drop those frames; `catrack register --bad-frames keep` fills them)"
            )
        s1 += x.sum(axis=0)
        s2 += np.einsum("tyx,tyx->yx", x, x)
        for k, (dy, dx) in enumerate(NEIGHBOURS):
            a, b = _pair_views(x, dy, dx)
            cross[k] += np.einsum("tyx,tyx->yx", x[:, a[0], a[1]], x[:, b[0], b[1]])
        np.maximum(mx, x.max(axis=0), out=mx)
        f = _filtered(x, p.pnr_sigma_px)
        np.maximum(fmax, f.max(axis=0), out=fmax)
        fsum += f.sum(axis=0)
        if first is not None and t0 < n_noise:
            first[t0 : min(t1, n_noise)] = f[: min(t1, n_noise) - t0, : len(first[0])]
        del x, f
        if progress:
            progress(t1, total, "summary images")
    mean = s1 / n
    var = np.maximum(s2 / n - mean**2, 0)
    std = np.sqrt(var)
    corr_sum = np.zeros((h, w))
    count = np.zeros((h, w))
    for k, (dy, dx) in enumerate(NEIGHBOURS):
        a, b = _pair_views(np.empty((1, h, w)), dy, dx)
        cov = cross[k] / n - mean[a] * mean[b]
        den = std[a] * std[b]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(den > 0, cov / den, 0.0)
        corr_sum[a] += r
        corr_sum[b] += r
        count[a] += 1
        count[b] += 1
    noise = np.full((h, w), np.nan, np.float32)
    done = n
    for i, (r0, r1) in enumerate(tiles):
        tile = first if i == 0 else _noise_tile(source, p, n_noise, r0, r1, cancel)
        first = None
        noise[r0:r1] = noise_fft(tile)
        del tile
        if i and progress:
            done += n_noise
            progress(done, total, "summary images: noise level")
    with np.errstate(invalid="ignore", divide="ignore"):
        pnr = np.where(noise > 0, (fmax - fsum / n) / noise, 0.0)
    return SummaryImages(
        mean=mean.astype(np.float32),
        max=mx.astype(np.float32),
        std=std.astype(np.float32),
        correlation=(corr_sum / count).astype(np.float32),
        pnr=np.nan_to_num(np.maximum(pnr, 0)).astype(np.float32),
    )
