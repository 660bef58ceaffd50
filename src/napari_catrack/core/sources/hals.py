"""Matrix factorisation Y ≈ A C + b f by HALS (hierarchical alternating least squares).

CNMF's model (Pnevmatikakis et al. 2016) with the fast HALS updates CaImAn uses for its patches
(`hals` in CaImAn's initialization): each footprint a_k (restricted to its support, non-negative)
and each trace c_k (non-negative) is updated in turn in closed form, and a low-rank non-negative
background b f (neuropil, slow fluctuations) is updated alongside as extra, unrestricted
components. Y is (pixels, frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Factorisation:
    A: np.ndarray  # (P, K) footprints, each with peak 1
    C: np.ndarray  # (K, T) traces (fluorescence at the footprint peak)
    b: np.ndarray  # (P, nb) background footprints
    f: np.ndarray  # (nb, T) background traces
    YrA: np.ndarray  # (K, T) residual projected on each footprint (raw = C + YrA)
    kept: np.ndarray  # indices of the input footprints that survived (others vanished)


def _temporal(U: np.ndarray, V: np.ndarray, C: np.ndarray, sweeps: int = 3) -> np.ndarray:
    """HALS on C: minimise ||Y - A C|| given U = A^T Y and V = A^T A, C >= 0."""
    for _ in range(sweeps):
        for k in range(C.shape[0]):
            if V[k, k] > 0:
                C[k] = np.maximum(C[k] + (U[k] - V[k] @ C) / V[k, k], 0)
    return C


def _spatial(U: np.ndarray, V: np.ndarray, A: np.ndarray, support: np.ndarray, sweeps: int = 3) -> np.ndarray:  # fmt: skip
    """HALS on A: minimise ||Y - A C|| given U = Y C^T and V = C C^T, A >= 0 on `support`."""
    for _ in range(sweeps):
        for k in range(A.shape[1]):
            if V[k, k] > 0:
                A[:, k] = np.maximum(A[:, k] + (U[:, k] - A @ V[:, k]) / V[k, k], 0) * support[:, k]
    return A


def _smooth(b: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    img = b.T.reshape(-1, *shape)
    return np.ascontiguousarray(gaussian_filter(img, (0, sigma, sigma), mode="nearest").reshape(len(img), -1).T)  # fmt: skip


def init_background(R: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative rank-`rank` start for the background of residual R (P, T)."""
    p, t = R.shape
    if rank == 0:
        return np.zeros((p, 0), np.float32), np.zeros((0, t), np.float32)
    f = np.empty((rank, t), np.float32)
    f[0] = np.maximum(np.median(R[:: max(1, p // 2000)], axis=0), 1e-6)
    if rank > 1:  # further components: leading temporal patterns of what the median leaves
        r = R[:: max(1, p // 200)]
        r = r - np.outer(r @ f[0] / (f[0] @ f[0]), f[0])
        _, _, vt = np.linalg.svd(r, full_matrices=False)
        for j in range(1, rank):
            v = vt[j - 1] if j - 1 < len(vt) else np.ones(t)
            v = v if v.sum() >= 0 else -v
            f[j] = np.maximum(v - v.min(), 1e-6) * f[0].mean() / max(np.abs(v).mean(), 1e-9)
    b = np.maximum(np.linalg.solve(f @ f.T + 1e-6 * np.eye(rank), f @ R.T).T, 0)
    return b.astype(np.float32), f


def factorise(
    Y: np.ndarray,
    A: np.ndarray,
    support: np.ndarray,
    *,
    background_rank: int,
    iterations: int,
    update_spatial: bool = True,
    C: np.ndarray | None = None,
    shape: tuple[int, int] | None = None,
    background_smooth_px: float = 0.0,
) -> Factorisation:
    """Fit footprints A (P, K) (initial guesses) and traces to Y (P, T) with a background.

    With `shape` (h, w) and `background_smooth_px`, each background footprint is blurred after
    every update: a smooth background models neuropil but cannot take over a cell (a sharp,
    cell-shaped background would absorb the cell's activity and invert its trace).
    """
    Y = np.asarray(Y, np.float32)
    A = np.asarray(A, np.float32).copy()
    k = A.shape[1]
    # background first, from what most pixels do (the median pixel is not in an active cell),
    # so the cells' activity is left for the footprints
    b, f = init_background(Y, background_rank)
    if shape is not None and background_smooth_px > 0 and b.shape[1]:
        b = _smooth(b, shape, background_smooth_px)
    if C is None:
        AtA = A.T @ A + 1e-6 * np.eye(k, dtype=np.float32)
        C = np.maximum(np.linalg.solve(AtA, A.T @ (Y - b @ f)), 0) if k else np.zeros((0, Y.shape[1]), np.float32)  # fmt: skip
    nb = b.shape[1]
    full_support = np.hstack([support, np.ones((Y.shape[0], nb), bool)]).astype(np.float32)
    for _ in range(iterations):
        Ab = np.hstack([A, b])
        Cf = _temporal(Ab.T @ Y, Ab.T @ Ab, np.vstack([C, f]))
        C, f = Cf[:k], Cf[k:]
        if update_spatial:
            Ab = _spatial(Y @ Cf.T, Cf @ Cf.T, Ab, full_support)
            A, b = Ab[:, :k], Ab[:, k:]
            if shape is not None and background_smooth_px > 0 and nb:
                b = _smooth(b, shape, background_smooth_px)
    # footprints to peak 1 (traces then read as fluorescence at the footprint's peak)
    peak = A.max(axis=0) if k else np.zeros(0)
    keep = peak > 0
    A = A[:, keep] / peak[keep]
    C = C[keep] * peak[keep, None]
    Ab = np.hstack([A, b])
    Cf = _temporal(Ab.T @ Y, Ab.T @ Ab, np.vstack([C, f]))
    C, f = Cf[: A.shape[1]], Cf[A.shape[1] :]
    resid = Y - A @ C - b @ f
    norm = (A * A).sum(axis=0)
    YrA = (A.T @ resid) / np.maximum(norm, 1e-12)[:, None]
    return Factorisation(A, C, b, f, YrA, np.flatnonzero(keep))


def component_support(footprints: np.ndarray, radius: float, seeds: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """(P, K) where each footprint may grow: a disk of 2 radii around its seed (or centroid)."""
    k, h, w = footprints.shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h * w, k), bool)
    for i in range(k):
        if seeds is not None:
            cy, cx = seeds[i]
        else:
            wgt = footprints[i] / max(footprints[i].sum(), 1e-12)
            cy, cx = (wgt * yy).sum(), (wgt * xx).sum()
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= (2 * radius) ** 2
        out[:, i] = (disk | (footprints[i] > 0)).ravel()
    return out
