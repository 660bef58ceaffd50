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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.ndimage import gaussian_filter

from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.io.frames import FrameSource, open_frames
from napari_catrack.params import StepParams, param

NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))  # each pair once; both pixels get its correlation


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
    """Mean, max, std, local correlation and peak-to-noise images of a (T, Y, X) movie."""
    p = params or SummaryParams()
    source = movie if isinstance(movie, FrameSource) else open_frames(movie)
    try:
        return _summary(source, p, progress, cancel)
    finally:
        if not isinstance(movie, FrameSource):
            source.close()


def _summary(source: FrameSource, p: SummaryParams, progress, cancel) -> SummaryImages:
    n, h, w = source.shape
    if n < 2:
        raise InputError(f"summary images need at least 2 frames; the movie has {n}")
    s1 = np.zeros((h, w))
    s2 = np.zeros((h, w))
    cross = [np.zeros((h - dy, w - abs(dx))) for dy, dx in NEIGHBOURS]
    mx = np.full((h, w), -np.inf)
    fmax = np.full((h, w), -np.inf)
    fsum = np.zeros((h, w))
    sig = (0, p.pnr_sigma_px, p.pnr_sigma_px)
    for t0, t1 in source.chunks(p.chunk_frames):
        check_cancelled(cancel, "summary images")
        x = source.read(t0, t1).astype(np.float64)
        if not np.isfinite(x).all():
            bad = t0 + int(np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))[0])
            raise InputError(f"frame {bad} contains NaN/infinite pixels; summary images need finite data")  # fmt: skip
        s1 += x.sum(axis=0)
        s2 += np.einsum("tyx,tyx->yx", x, x)
        for k, (dy, dx) in enumerate(NEIGHBOURS):
            a, b = _pair_views(x, dy, dx)
            cross[k] += np.einsum("tyx,tyx->yx", x[:, a[0], a[1]], x[:, b[0], b[1]])
        np.maximum(mx, x.max(axis=0), out=mx)
        f = gaussian_filter(x, sig) if p.pnr_sigma_px > 0 else x
        np.maximum(fmax, f.max(axis=0), out=fmax)
        fsum += f.sum(axis=0)
        if progress:
            progress(t1, n, "summary images")
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
    block = source.read(0, min(n, p.noise_frames)).astype(np.float64)
    if p.pnr_sigma_px > 0:
        block = gaussian_filter(block, sig)
    noise = noise_fft(block) if len(block) >= 8 else np.full((h, w), np.nan, np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        pnr = np.where(noise > 0, (fmax - fsum / n) / noise, 0.0)
    return SummaryImages(
        mean=mean.astype(np.float32),
        max=mx.astype(np.float32),
        std=std.astype(np.float32),
        correlation=(corr_sum / count).astype(np.float32),
        pnr=np.nan_to_num(np.maximum(pnr, 0)).astype(np.float32),
    )
