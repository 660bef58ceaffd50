"""Where the cells are: seeds from the correlation x peak-to-noise image, greedy footprints.

As CNMF-E initialises (Zhou et al. 2018; CaImAn `greedyROI_corr`): the patch movie is filtered
to cell-sized structure (see `filtered`) and its temporal median removed; a pixel is a seed
when it is a local maximum of local-correlation x peak-to-noise and passes both thresholds. Each
seed's footprint is the (non-negative) regression of the pixels around it on the seed's trace,
kept where they correlate with it, and the rank-one a c^T is removed from the filtered movie
before the next seed (greedy), so overlapping cells are not found twice.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, label
from skimage.feature import peak_local_max

from napari_catrack.core.signals.noise import MAD_TO_SD


def filtered(movie: np.ndarray, radius: float) -> np.ndarray:
    """(T, h, w) float32 "centred-PSF" movie: cell-sized structure only, temporal median removed.

    A difference of Gaussians (radius/2 minus 2 radii, CNMF-E's `center_psf`) keeps cell-sized
    blobs and removes the smooth neuropil, which otherwise lights up every pixel's peak-to-noise
    ratio; a 1-frame temporal Gaussian lifts calcium transients (many frames long) above
    frame-to-frame shot noise.
    """
    y = np.asarray(movie, np.float32)
    y = gaussian_filter(y, (1.0, radius / 2, radius / 2)) - gaussian_filter(
        y, (1.0, 2 * radius, 2 * radius), truncate=2.5
    )
    y -= np.median(y[:: max(1, len(y) // 300)], axis=0)  # a subsample gives the same median
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


def find_seeds(
    yf: np.ndarray, radius: float, min_corr: float, min_pnr: float, max_n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 2) seed pixels, best first, plus the correlation and PNR images."""
    corr = local_correlation(yf)
    sub = yf[:: max(1, len(yf) // 300)]
    noise = MAD_TO_SD * np.median(np.abs(sub), axis=0)  # robust: activity does not inflate it
    pnr = np.where(noise > 0, yf.max(axis=0) / np.maximum(noise, 1e-9), 0).astype(np.float32)
    score = corr * pnr
    ok = (corr >= min_corr) & (pnr >= min_pnr)
    peaks = peak_local_max(
        np.where(ok, score, 0), min_distance=max(1, round(radius * 0.6)), exclude_border=False
    )
    if len(peaks) == 0:
        return np.zeros((0, 2), int), corr, pnr
    order = np.argsort(score[peaks[:, 0], peaks[:, 1]])[::-1]
    return peaks[order][:max_n], corr, pnr


def greedy_footprints(yf: np.ndarray, seeds: np.ndarray, radius: float) -> np.ndarray:
    """(K, h, w) initial footprints (peak 1), found one seed at a time (greedy deflation)."""
    t, h, w = yf.shape
    res = yf.copy()
    half = int(np.ceil(2 * radius))
    out = []
    for sy, sx in seeds:
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
