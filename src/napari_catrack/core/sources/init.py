"""Where the cells are: seeds from the correlation x peak-to-noise image, greedy footprints.

The patch movie is first binned in time (`bin_frames`; transients last many frames) and the
activity every pixel shares with the patch's median pixel (the neuropil's time course) is
regressed out of each pixel (`remove_shared`): otherwise the neuropil's spatial texture, which
fluctuates as a whole, looks like a field of correlated, high peak-to-noise "cells".
Then, as CNMF-E initialises (Zhou et al. 2018; CaImAn `greedyROI_corr`): the movie is filtered
to cell-sized structure (see `filtered`) and its temporal median removed; a pixel is a seed
when it is a local maximum of local-correlation x peak-to-noise and passes both thresholds. Each
seed's footprint is the (non-negative) regression of the pixels around it on the seed's trace,
kept where they correlate with it, and the rank-one a c^T is removed from the filtered movie
before the next seed (greedy), so overlapping cells are not found twice.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d, label
from skimage.feature import peak_local_max

from napari_catrack.core.signals.noise import MAD_TO_SD


def bin_frames(movie: np.ndarray, k: int) -> np.ndarray:
    """(T // k, ...) float32 means of k consecutive frames (a last partial bin is dropped)."""
    y = np.asarray(movie, np.float32)
    if k <= 1:
        return y
    n = len(y) // k
    return y[: n * k].reshape(n, k, *y.shape[1:]).mean(axis=1)


def remove_shared(movie: np.ndarray) -> np.ndarray:
    """(T, h, w) movie minus, at each pixel, its regression on the median pixel's time course.

    The median over a patch's pixels follows the neuropil (most pixels are not inside an
    active cell at any moment); a cell keeps what its activity does not share with it.
    """
    y = np.asarray(movie, np.float32)
    t = len(y)
    flat = y.reshape(t, -1)
    g = np.median(flat[:, :: max(1, flat.shape[1] // 2000)], axis=1)
    g = (g - g.mean()).astype(np.float32)
    gg = float(g @ g)
    if gg <= 0:
        return y
    beta = (g @ flat) / gg
    return (flat - np.outer(g, beta)).reshape(y.shape)


@lru_cache(maxsize=64)
def _gauss_matrix(n: int, sigma: float, truncate: float) -> np.ndarray:
    """(n, n) float32 matrix G with G @ v == gaussian_filter1d(v, sigma, truncate=truncate)."""
    return gaussian_filter1d(np.eye(n, dtype=np.float64), sigma, axis=0, truncate=truncate).astype(np.float32)  # fmt: skip


def _spatial_gauss(y: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Each frame of (T, h, w) blurred by a spatial Gaussian, as two batched matrix products.

    The same numbers as `gaussian_filter` (same kernel, same "reflect" edges) at a fraction of
    the cost on patch-sized frames: BLAS does G_y @ frame @ G_x^T far faster than a 41-tap
    sliding kernel for the 2-radius Gaussian; frames over 128 px (no patches) use the kernel.
    """
    _, h, w = y.shape
    if max(h, w) > 128:  # whole large frames (no patches): the sliding kernel is cheaper
        return gaussian_filter(y, (0, sigma, sigma), truncate=truncate)
    return _gauss_matrix(h, sigma, truncate) @ y @ _gauss_matrix(w, sigma, truncate).T


def median_time(y: np.ndarray) -> np.ndarray:
    """Median over axis 0 of (T, ...) — on the transposed, contiguous copy (partitions in cache)."""
    t = len(y)
    flat = np.ascontiguousarray(y.reshape(t, -1).T)
    return np.median(flat, axis=1).reshape(y.shape[1:])


def filtered(movie: np.ndarray, radius: float, temporal_sigma: float = 1.0) -> np.ndarray:
    """(T, h, w) float32 "centred-PSF" movie: cell-sized structure only, temporal median removed.

    A difference of Gaussians (radius/2 minus 2 radii, CNMF-E's `center_psf`) keeps cell-sized
    blobs and removes the smooth neuropil, which otherwise lights up every pixel's peak-to-noise
    ratio; a `temporal_sigma`-frame temporal Gaussian lifts calcium transients (many frames long)
    above frame-to-frame shot noise (0 on a binned movie, whose bins already average).
    """
    y = np.asarray(movie, np.float32)
    if temporal_sigma > 0:
        y = gaussian_filter1d(y, temporal_sigma, axis=0)
    y = _spatial_gauss(y, radius / 2) - _spatial_gauss(y, 2 * radius, truncate=2.5)
    y -= median_time(y[:: max(1, len(y) // 300)])  # a subsample gives the same median
    return y


def local_correlation(y: np.ndarray) -> np.ndarray:
    """Mean correlation of each pixel with its 8 neighbours (in memory; CaImAn's definition)."""
    z = y - y.mean(axis=0)
    z /= z.std(axis=0) + 1e-9
    t, h, w = z.shape
    acc = np.zeros((h, w), np.float64)
    cnt = np.zeros((h, w), np.float64)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = (slice(0, h - dy), slice(max(0, -dx), w - max(0, dx)))
        b = (slice(dy, h), slice(max(0, dx), w - max(0, -dx)))
        r = np.einsum("tyx,tyx->yx", z[:, a[0], a[1]], z[:, b[0], b[1]]) / t
        acc[a] += r
        acc[b] += r
        cnt[a] += 1
        cnt[b] += 1
    return (acc / np.maximum(cnt, 1)).astype(np.float32)


def activity_score(yf: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Positive skew of each pixel's trace in units of its null spread: mean(z |z|) * sqrt(T/3)
    with z = trace / noise.

    Calcium transients are rare, positive excursions; noise (and whatever the filtering leaves of
    the neuropil) is symmetric, so z |z| averages to 0 +- sqrt(3 / T) without a cell and grows
    with every transient of a cell, however dim each one is. Unlike the peak-to-noise ratio,
    which sees only the largest transient, it adds up the evidence of all of them.
    """
    z = yf / np.maximum(noise, 1e-9)
    return (np.mean(z * np.abs(z), axis=0) * np.sqrt(len(yf) / 3.0)).astype(np.float32)


def seed_images(yf: np.ndarray) -> dict[str, np.ndarray]:
    """Noise s.d., local correlation, peak-to-noise ratio and activity score images of a
    filtered movie."""
    sub = yf[:: max(1, len(yf) // 300)]
    noise = MAD_TO_SD * median_time(np.abs(sub))  # robust: activity does not inflate it
    pnr = np.where(noise > 0, yf.max(axis=0) / np.maximum(noise, 1e-9), 0).astype(np.float32)
    return {"noise": noise, "corr": local_correlation(yf), "pnr": pnr, "activity": activity_score(yf, noise)}  # fmt: skip


def find_seeds(
    yf: np.ndarray, radius: float, min_corr: float, min_pnr: float, min_activity: float,
    max_n: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:  # fmt: skip
    """(n, 2) candidate seed pixels, best first, plus the images of `seed_images`.

    Candidates are the local maxima of the activity score that pass every threshold, at least a
    third of a cell radius apart: close enough for two overlapping cells; `greedy_footprints`
    then drops candidates that the cells found before them explain.
    """
    images = seed_images(yf)
    score = images["activity"]
    ok = (images["corr"] >= min_corr) & (images["pnr"] >= min_pnr) & (score >= min_activity)
    peaks = peak_local_max(
        np.where(ok, score, 0), min_distance=max(1, round(radius / 3)), exclude_border=False
    )
    if len(peaks) == 0:
        return np.zeros((0, 2), int), images
    order = np.argsort(score[peaks[:, 0], peaks[:, 1]])[::-1]
    return peaks[order][: 3 * max_n], images


def _still_a_seed(res: np.ndarray, sy: int, sx: int, noise: float, min_corr: float, min_pnr: float, min_activity: float) -> bool:  # fmt: skip
    """Does the seed pixel still pass every threshold in the residual movie?"""
    t = len(res)
    y = res[:, sy, sx]
    if noise <= 0 or y.max() / noise < min_pnr:
        return False
    if activity_score(y[:, None], np.array([noise]))[0] < min_activity:
        return False
    if min_corr <= 0:
        return True
    z = y - y.mean()
    nz = float(np.linalg.norm(z))
    if nz == 0:
        return False
    nb = res[:, max(0, sy - 1) : sy + 2, max(0, sx - 1) : sx + 2].reshape(t, -1)
    nb = nb - nb.mean(axis=0)
    r = (z @ nb) / (nz * np.linalg.norm(nb, axis=0) + 1e-9)
    return float((r.sum() - 1.0) / max(nb.shape[1] - 1, 1)) >= min_corr  # without itself


def greedy_footprints(
    yf: np.ndarray, seeds: np.ndarray, radius: float, noise: np.ndarray, *, min_corr: float = 0.0,
    min_pnr: float = 0.0, min_activity: float = -np.inf, max_n: int | None = None,
) -> np.ndarray:  # fmt: skip
    """(K, h, w) initial footprints (peak 1), found one seed at a time (greedy deflation).

    As CNMF-E does, each candidate is checked again on the residual (the movie minus the cells
    found so far) and skipped when it no longer passes `min_corr` / `min_pnr`: a second seed on
    a cell already found would otherwise become a duplicate fed by the first one's remainder.
    """
    t, h, w = yf.shape
    res = yf.copy()
    half = int(np.ceil(2 * radius))
    out = []
    for sy, sx in seeds:
        if max_n is not None and len(out) >= max_n:
            break
        if out and not _still_a_seed(res, sy, sx, float(noise[sy, sx]), min_corr, min_pnr, min_activity):  # fmt: skip
            continue
        y0, y1 = max(0, sy - half), min(h, sy + half + 1)
        x0, x1 = max(0, sx - half), min(w, sx + half + 1)
        win = res[:, y0:y1, x0:x1]
        cy0, cy1 = max(0, sy - 1 - y0), min(y1 - y0, sy + 2 - y0)
        cx0, cx1 = max(0, sx - 1 - x0), min(x1 - x0, sx + 2 - x0)
        c = win[:, cy0:cy1, cx0:cx1].mean(axis=(1, 2))
        c = c - np.median(c)
        cc = float(c @ c)
        if cc <= 0:
            continue
        flat = win.reshape(t, -1)
        z = flat - flat.mean(axis=0)
        corr = (z.T @ (c - c.mean())) / (
            np.linalg.norm(z, axis=0) * np.linalg.norm(c - c.mean()) + 1e-9
        )
        a = np.maximum(flat.T @ c / cc, 0) * (corr > 0.3)
        a = a.reshape(y1 - y0, x1 - x0)
        lab, _ = label(a > 0)
        seed_label = lab[sy - y0, sx - x0]
        if seed_label == 0 or a.max() <= 0:
            continue
        a = np.where(lab == seed_label, a, 0)
        res[:, y0:y1, x0:x1] -= c[:, None, None] * a[None]
        full = np.zeros((h, w), np.float32)
        full[y0:y1, x0:x1] = a / a.max()
        out.append(full)
    return np.stack(out) if out else np.zeros((0, h, w), np.float32)
