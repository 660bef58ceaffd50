"""Matrix factorisation Y ≈ A C + b f by HALS (hierarchical alternating least squares).

CNMF's model (Pnevmatikakis et al. 2016) with the fast HALS updates CaImAn uses for its patches
(`hals` in CaImAn's initialization): each footprint a_k (restricted to its support, non-negative)
and each trace c_k (non-negative) is updated in turn in closed form, and a low-rank non-negative
background b f (neuropil, slow fluctuations) is updated alongside as extra components. Y is
(pixels, frames).

Two things make it fast and keep it honest:
- the spatial updates run on a movie binned in time (`factorise`: CaImAn's `tsub`, suite2p's
  binned detection): footprints do not change between frames, and a bin of a few frames keeps
  every transient; then `temporal_full` fits the traces at the full frame rate with the
  footprints fixed, so no time resolution is lost in the traces;
- the alternation stops when the fit's objective improves less than `tol` (relative).

The background footprints are kept smooth by projecting them, after each update, on a coarse
bilinear grid (`SmoothProjector`): a neuropil map varies over tens of pixels, a cell within a
few; on a grid of about two cell radii the background can follow the neuropil but cannot take a
cell's shape (it would then absorb the cell's activity and invert its trace). A projection (not a
blur) leaves an already smooth map unchanged, so repeated updates do not wash the map out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass
class Factorisation:
    A: np.ndarray  # (P, K) footprints, each with peak 1
    C: np.ndarray  # (K, T) traces (fluorescence at the footprint peak)
    b: np.ndarray  # (P, nb) background footprints
    f: np.ndarray  # (nb, T) background traces
    YrA: np.ndarray  # (K, T) residual projected on each footprint (raw = C + YrA)
    kept: np.ndarray  # indices of the input footprints that survived (others vanished)
    iterations: int = 0  # spatial/temporal alternations run before convergence


def _hat_basis(n: int, spacing: float) -> np.ndarray:
    """(n, m) linear-interpolation ("hat") functions on m nodes about `spacing` pixels apart."""
    m = max(2, int(np.ceil((n - 1) / max(spacing, 1.0))) + 1)
    nodes = np.linspace(0, n - 1, m)
    d = np.abs(np.arange(n)[:, None] - nodes[None]) / max(nodes[1] - nodes[0], 1e-9)
    return np.maximum(1 - d, 0)


@lru_cache(maxsize=32)
def _projectors(h: int, w: int, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    uy, ux = _hat_basis(h, spacing), _hat_basis(w, spacing)
    return (uy @ np.linalg.pinv(uy)).astype(np.float32), (ux @ np.linalg.pinv(ux)).astype(np.float32)  # fmt: skip


def project_smooth(b: np.ndarray, shape: tuple[int, int], spacing: float) -> np.ndarray:
    """Background footprints b (P, nb) projected on bilinear maps with nodes `spacing` px apart
    (least squares, separable), clipped at 0."""
    if spacing <= 0 or not b.shape[1]:
        return b
    h, w = shape
    py, px = _projectors(h, w, float(spacing))
    img = b.T.reshape(-1, h, w)
    out = np.matmul(np.matmul(py, img), px.T)
    return np.ascontiguousarray(np.maximum(out, 0).reshape(len(img), -1).T, dtype=np.float32)


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
    C: np.ndarray | None = None,
    shape: tuple[int, int] | None = None,
    background_grid_px: float = 0.0,
    tol: float = 1e-3,
) -> Factorisation:
    """Fit footprints A (P, K) (initial guesses) and traces to Y (P, T) with a background.

    At most `iterations` spatial/temporal alternations, fewer when the objective's relative
    improvement falls under `tol`. With `shape` (h, w) and `background_grid_px`, the background
    footprints stay smooth (see the module docstring).
    """
    Y = np.asarray(Y, np.float32)
    A = np.asarray(A, np.float32).copy()
    k = A.shape[1]
    smooth = shape is not None and background_grid_px > 0
    # background first, from what most pixels do (the median pixel is not in an active cell),
    # so the cells' activity is left for the footprints
    b, f = init_background(Y, background_rank)
    if smooth:
        b = project_smooth(b, shape, background_grid_px)
    if C is None:
        C = _first_traces(A, A.T @ Y - (A.T @ b) @ f) if k else np.zeros((0, Y.shape[1]), np.float32)  # fmt: skip
    nb = b.shape[1]
    full_support = np.hstack([support, np.ones((Y.shape[0], nb), bool)]).astype(np.float32)
    yy = float(np.vdot(Y, Y))
    Ab, Cf = np.hstack([A, b]), np.vstack([C, f]).astype(np.float32)
    last, done = np.inf, 0
    for _ in range(iterations):
        done += 1
        Cf = _temporal(Ab.T @ Y, Ab.T @ Ab, Cf)
        U, V = Y @ Cf.T, Cf @ Cf.T
        Ab = _spatial(U, V, Ab, full_support)
        if smooth and nb:
            Ab[:, k:] = project_smooth(Ab[:, k:], shape, background_grid_px)
        # ||Y - Ab Cf||^2 from the products at hand (no residual movie)
        obj = yy - 2 * float(np.vdot(Ab, U)) + float(np.vdot(Ab.T @ Ab, V))
        if last - obj <= tol * max(obj, 1e-12):
            break
        last = obj
    A, b = Ab[:, :k], Ab[:, k:]
    C, f = Cf[:k], Cf[k:]
    # footprints to peak 1 (traces then read as fluorescence at the footprint's peak)
    peak = A.max(axis=0) if k else np.zeros(0)
    keep = peak > 0
    A = A[:, keep] / peak[keep]
    C = C[keep] * peak[keep, None]
    Ab = np.hstack([A, b])
    U, V = Ab.T @ Y, Ab.T @ Ab
    Cf = _temporal(U, V, np.vstack([C, f]))
    kk = A.shape[1]
    YrA = _projected_residual(U[:kk], V[:kk], Cf)
    return Factorisation(A, Cf[:kk], b, Cf[kk:], YrA, np.flatnonzero(keep), done)


def _first_traces(A: np.ndarray, AtR: np.ndarray) -> np.ndarray:
    """Least-squares traces of footprints A (P, K) given A^T R (K, T), R the movie less the
    background, >= 0, with a ridge relative to the footprints' size (1e-6 of the mean
    ||a||^2, in float64): footprints that are the same (a multi-plane import's planes overlaid
    in one frame, suite2p planes copied from one another) share their trace instead of
    stopping at "Singular matrix" (before h19, the absolute 1e-6 was below float32's
    resolution of ||a||^2)."""
    A64 = np.asarray(A, np.float64)
    AtA = A64.T @ A64
    ridge = 1e-6 * max(float(np.trace(AtA)) / max(len(AtA), 1), 1e-12)
    C = np.linalg.solve(AtA + ridge * np.eye(len(AtA)), np.asarray(AtR, np.float64))
    return np.maximum(C, 0).astype(np.float32)


def _projected_residual(U: np.ndarray, V: np.ndarray, Cf: np.ndarray) -> np.ndarray:
    """a_k^T (Y - A C - b f) / ||a_k||^2 for each component, from U = A^T Y, V = A^T [A b]."""
    norm = np.maximum(np.diag(V[:, : len(U)]), 1e-12)
    return (U - V @ Cf) / norm[:, None]


def temporal_full(Y: np.ndarray, fac: Factorisation, bin_frames: int, sweeps: int = 10) -> Factorisation:  # fmt: skip
    """The traces at the full frame rate: `fac` was fitted on Y binned by `bin_frames`; with its
    footprints fixed, traces and background traces are fitted to Y (P, T) frame by frame."""
    Y = np.asarray(Y, np.float32)
    t = Y.shape[1]
    k = fac.A.shape[1]
    Ab = np.hstack([fac.A, fac.b])
    start = np.vstack([fac.C, fac.f])
    if bin_frames > 1:  # each bin's value for its frames, the partial last bin its neighbour's
        start = np.repeat(start, bin_frames, axis=1)
        start = np.pad(start, ((0, 0), (0, max(0, t - start.shape[1]))), mode="edge")[:, :t]
    U, V = Ab.T @ Y, Ab.T @ Ab
    Cf = _temporal(U, V, np.ascontiguousarray(start, dtype=np.float32), sweeps)
    YrA = _projected_residual(U[:k], V[:k], Cf)
    return Factorisation(fac.A, Cf[:k], fac.b, Cf[k:], YrA, fac.kept, fac.iterations)


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
