"""Maximum-likelihood fits of a pixel-integrated Gaussian (x, y, N, bg, sigma) to many spots at
once, with the Cramér-Rao lower bound as each localisation's uncertainty.

One Levenberg-Marquardt iteration updates every spot together (numpy arrays over spots, batched
5 x 5 solves), so there is no Python loop or optimiser call per spot: that is what makes tens of
thousands of fits per second on two cores possible. The Poisson log-likelihood is maximised with
the Fisher information as the curvature (Laurence & Chromy 2010, Nat. Methods 7:338; the model and
its derivatives from Smith et al. 2010, Nat. Methods 7:373). sCMOS read noise is handled as in
Huang et al. 2013 (Nat. Methods 10:653): the variance (photons^2) of each pixel is added to both
data and model, which turns a Poisson + Gaussian pixel into a shifted Poisson one.

Hand-written instead of scipy.optimize because scipy fits one spot per call (thousands of Python
calls per frame); torch would work but numpy is fast enough here and needs no graph.

Several cores: the spots are split into one chunk per worker thread (`workers`); numpy and
scipy's erf release the GIL inside their loops over a chunk's arrays, so the threads run in
parallel (the Python between the array operations is a few percent of the time).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from napari_catrack.core.puncta.psf import integrated_gaussian_1d

N_PARAMS = 5  # x, y, N, bg, sigma
SIGMA_RANGE = (0.3, 5.0)  # px: the fitted PSF width is kept inside this


@dataclass
class FitResult:
    """Per spot, in frame pixels and photons (arrays of length n)."""

    x: np.ndarray
    y: np.ndarray
    photons: np.ndarray
    background: np.ndarray  # photons per pixel
    sigma: np.ndarray  # px
    crlb_x: np.ndarray  # px, 1 sigma
    crlb_y: np.ndarray
    crlb_photons: np.ndarray
    bkgstd: np.ndarray  # std of the box with the fitted spot removed (photons)
    log_likelihood: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def extract_boxes(
    stack: np.ndarray, frames: np.ndarray, rows: np.ndarray, cols: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, B, B) boxes around candidates (B = 2 radius + 1), shifted inwards at the frame edges,
    and the top-left (row, col) of each box."""
    _, h, w = stack.shape
    size = 2 * radius + 1
    r0 = np.clip(np.asarray(rows) - radius, 0, max(h - size, 0))
    c0 = np.clip(np.asarray(cols) - radius, 0, max(w - size, 0))
    off = np.arange(size)
    rr = r0[:, None, None] + off[None, :, None]
    cc = c0[:, None, None] + off[None, None, :]
    boxes = np.asarray(stack)[np.asarray(frames)[:, None, None], rr, cc]
    return boxes.astype(np.float64), r0, c0


def n_emitters(theta: np.ndarray) -> int:
    """Emitters in a parameter vector laid out (x, y, N) x K, then bg, sigma."""
    return (theta.shape[1] - 2) // 3


def _model(theta: np.ndarray, grid: np.ndarray, derivatives: bool):
    """Expected photons (n, B*B) and, with `derivatives`, the Jacobian (n, P, B*B), for K
    emitters sharing one background and one PSF width."""
    k = n_emitters(theta)
    bg, s = theta[:, -2:-1], theta[:, -1:]
    b = grid.size
    n = len(theta)
    mu = np.repeat(bg, b * b, axis=1)
    jac = np.empty((n, 3 * k + 2, b, b)) if derivatives else None
    for j in range(k):
        x, y, amp = (
            theta[:, 3 * j : 3 * j + 1],
            theta[:, 3 * j + 1 : 3 * j + 2],
            theta[:, 3 * j + 2 : 3 * j + 3],
        )
        if not derivatives:
            ex = integrated_gaussian_1d(grid[None], x, s)
            ey = integrated_gaussian_1d(grid[None], y, s)
            mu += amp * (ey[:, :, None] * ex[:, None, :]).reshape(n, b * b)
            continue
        ex, dex, dsx = integrated_gaussian_1d(grid[None], x, s, True)
        ey, dey, dsy = integrated_gaussian_1d(grid[None], y, s, True)
        nn = amp[:, :, None]
        jac[:, 3 * j] = nn * ey[:, :, None] * dex[:, None, :]
        jac[:, 3 * j + 1] = nn * dey[:, :, None] * ex[:, None, :]
        jac[:, 3 * j + 2] = ey[:, :, None] * ex[:, None, :]
        d_sigma = nn * (dsy[:, :, None] * ex[:, None, :] + ey[:, :, None] * dsx[:, None, :])
        if j == 0:
            jac[:, -1] = d_sigma
        else:
            jac[:, -1] += d_sigma
        mu += amp * jac[:, 3 * j + 2].reshape(n, b * b)
    if not derivatives:
        return mu, None
    jac[:, -2] = 1.0
    return mu, jac.reshape(n, 3 * k + 2, b * b)


def _log_likelihood(data: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Poisson log-likelihood up to a constant (data may be non-integer after the sCMOS shift)."""
    return np.sum(data * np.log(mu) - mu, axis=1)


def initial_guess(boxes: np.ndarray, sigma_px: float) -> np.ndarray:
    """(n, 5) starting values: background from the box edge, photons from the excess, position
    from the excess-weighted centroid of the central 3 x 3 pixels around the brightest one."""
    n, b, _ = boxes.shape
    edge = np.concatenate(
        [boxes[:, 0, :], boxes[:, -1, :], boxes[:, 1:-1, 0], boxes[:, 1:-1, -1]], axis=1
    )
    bg = np.maximum(np.median(edge, axis=1), 1e-3)
    excess = np.clip(boxes - bg[:, None, None], 0, None)
    photons = np.maximum(excess.sum(axis=(1, 2)), 1.0)
    c = b // 2
    centre = excess[:, c - 1 : c + 2, c - 1 : c + 2]
    w = centre.sum(axis=(1, 2)) + 1e-9
    off = np.array([-1.0, 0.0, 1.0])
    y = c + (centre.sum(axis=2) * off).sum(axis=1) / w
    x = c + (centre.sum(axis=1) * off).sum(axis=1) / w
    return np.column_stack([x, y, photons, bg, np.full(n, float(sigma_px))])


MIN_CHUNK = 512  # spots per thread below which one thread does it all


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int) -> int:
    """Threads for fitting: `workers`, or every available core for 0."""
    return available_cores() if workers <= 0 else int(workers)


def fit_spots(
    boxes: np.ndarray,
    sigma_px: float,
    *,
    variance: np.ndarray | float = 0.0,
    fit_sigma: bool = True,
    max_iterations: int = 40,
    tolerance: float = 1e-5,
    theta0: np.ndarray | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt MLE over all boxes at once.

    `boxes` (n, B, B) photons (already divided by the camera's likelihood scale); `variance`
    (scalar or (n, B, B)) the sCMOS read-noise variance in the same units (0 = pure Poisson).
    `theta0` (n, 3K + 2) starts a K-emitter fit (default: one emitter from `initial_guess`).
    `workers` threads share the spots (0 = all cores). Returns (theta (n, P) in box
    coordinates, Fisher information (n, P, P), log-likelihood, iterations, converged).
    """
    n = len(boxes)
    workers = min(resolve_workers(workers), n // MIN_CHUNK)
    if workers <= 1:
        return _fit_chunk(boxes, sigma_px, variance, fit_sigma, max_iterations, tolerance, theta0)
    var = np.asarray(variance, np.float64)
    chunks = np.array_split(np.arange(n), workers)

    def one(idx):
        return _fit_chunk(
            boxes[idx], sigma_px, var[idx] if var.ndim else var, fit_sigma, max_iterations,
            tolerance, None if theta0 is None else np.asarray(theta0)[idx],
        )  # fmt: skip

    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(one, chunks))
    return tuple(np.concatenate(p) for p in zip(*parts))


def _fit_chunk(boxes, sigma_px, variance, fit_sigma, max_iterations, tolerance, theta0):
    n, b, _ = boxes.shape
    grid = np.arange(b, dtype=np.float64)
    var = np.broadcast_to(np.asarray(variance, np.float64), boxes.shape).reshape(n, b * b)
    data = np.maximum(boxes.reshape(n, b * b) + var, 0.0)
    theta = initial_guess(boxes, sigma_px) if theta0 is None else np.array(theta0, np.float64)
    lam = np.full(n, 1e-3)
    iterations = np.zeros(n, int)
    converged = np.zeros(n, bool)
    mu, jac = _model(theta, grid, True)
    mu = np.maximum(mu + var, 1e-9)
    loglik = _log_likelihood(data, mu)
    grad, fisher = _gradient_and_fisher(data, mu, jac)
    del jac  # only the gradient and the Fisher information are kept per spot
    k = n_emitters(theta)
    n_par = 3 * k + 2
    free = np.ones(n_par, bool)
    free[-1] = fit_sigma
    if not fit_sigma:
        grad[:, -1] = 0.0
        _fix_sigma(fisher)
    lo = np.array([-1.0, -1.0, 1e-3] * k + [1e-6, SIGMA_RANGE[0]])
    hi = np.array([b, b, np.inf] * k + [np.inf, SIGMA_RANGE[1]])
    eye = np.eye(n_par)[None]
    position = np.arange(3 * k) % 3 < 2
    active = np.arange(n)
    for _ in range(max_iterations):
        if active.size == 0:
            break
        every = active.size == n
        th = theta[active]
        g_a, f_a = (grad, fisher) if every else (grad[active], fisher[active])
        d_a, v_a = (data, var) if every else (data[active], var[active])
        diag = np.einsum("npp->np", f_a)
        damped = f_a + (lam[active, None] * diag)[:, :, None] * eye + 1e-12 * eye
        try:
            step = np.linalg.solve(damped, g_a[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular matrix in the batch (rare): solve one by one
            step = _safe_solve(damped, g_a)
        step[:, ~free] = 0.0
        trial = np.clip(th + step, lo, hi)
        # the trial's derivatives too: most steps are taken, and then they are needed next
        mu_t, jac_t = _model(trial, grid, True)
        mu_t = np.maximum(mu_t + v_a, 1e-9)
        ll_t = _log_likelihood(d_a, mu_t)
        better = ll_t >= loglik[active]
        iterations[active] += 1
        idx = active[better]
        gain = ll_t[better] - loglik[idx]
        moved = np.abs(trial[better, :-2] - th[better, :-2])[:, position].max(1)
        theta[idx] = trial[better]
        loglik[idx] = ll_t[better]
        lam[idx] = np.maximum(lam[idx] / 10.0, 1e-7)
        lam[active[~better]] *= 10.0
        done_now = np.zeros(len(active), bool)
        done_now[better] = (moved < tolerance) | (gain < tolerance * np.abs(loglik[idx]) * 1e-3)
        done_now |= lam[active] > 1e8  # stuck: no step improves the likelihood
        converged[active[done_now & (lam[active] <= 1e8)]] = True
        if idx.size:
            g_new, f_new = _gradient_and_fisher(d_a[better], mu_t[better], jac_t[better])
            if not fit_sigma:
                g_new[:, -1] = 0.0
                _fix_sigma(f_new)
            grad[idx], fisher[idx] = g_new, f_new
        active = active[~done_now]
    # `fisher` is the Fisher information at the solution (no damping): the Cramér-Rao bound
    return theta, fisher, loglik, iterations, converged


def _gradient_and_fisher(data, mu, jac) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of the Poisson log-likelihood (n, P) and Fisher information J diag(1/mu) J^T
    (n, P, P); einsum is about twice as fast as a stacked matmul for these small matrices."""
    inv = 1.0 / mu
    grad = np.einsum("npk,nk->np", jac, data * inv - 1.0)
    return grad, np.einsum("npk,nqk->npq", jac * inv[:, None, :], jac)


def _fix_sigma(fisher: np.ndarray) -> None:
    """Take the PSF width out of the system (a fixed-sigma fit), in place."""
    fisher[:, -1, :] = 0.0
    fisher[:, :, -1] = 0.0
    fisher[:, -1, -1] = 1.0


def _safe_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(b)
    for i in range(len(a)):  # only reached when a batch holds a singular matrix
        out[i] = np.linalg.lstsq(a[i], b[i], rcond=None)[0]
    return out


def crlb(fisher: np.ndarray) -> np.ndarray:
    """(n, P) Cramér-Rao standard deviations: sqrt(diag(I^-1)); NaN where I is singular."""
    scale = np.sqrt(np.einsum("npp->np", fisher)) + 1e-300  # equilibrate before inverting
    eq = fisher / (scale[:, :, None] * scale[:, None, :])
    out = np.full(fisher.shape[:2], np.nan)
    ok = np.isfinite(eq).all(axis=(1, 2)) & (np.linalg.det(eq) > 1e-12)
    if ok.any():
        inv = np.linalg.inv(eq[ok]) / (scale[ok, :, None] * scale[ok, None, :])
        out[ok] = np.sqrt(np.clip(np.einsum("npp->np", inv), 0, None))
    return out


def localize_boxes(
    boxes: np.ndarray,
    r0: np.ndarray,
    c0: np.ndarray,
    sigma_px: float,
    *,
    scale: float = 1.0,
    variance: float = 0.0,
    fit_sigma: bool = True,
    max_iterations: int = 40,
    workers: int = 1,
) -> FitResult:
    """Fit photon boxes and return frame-pixel positions, photons and their Cramér-Rao bounds.

    `scale` is the camera's likelihood scale (2 for EMCCD): data are divided by it for the fit
    and photons/background multiplied back, so positions and their bounds come out right.
    """
    data = boxes / scale
    var = variance / scale**2
    theta, fisher, loglik, iters, conv = fit_spots(
        data, sigma_px, variance=var, fit_sigma=fit_sigma, max_iterations=max_iterations,
        workers=workers,
    )  # fmt: skip
    bound = crlb(fisher)
    mu, _ = _model(theta, np.arange(boxes.shape[1], dtype=np.float64), False)
    spot = (mu - theta[:, 3, None]) * scale
    bkgstd = np.std(boxes.reshape(len(boxes), -1) - spot, axis=1)
    return FitResult(
        x=theta[:, 0] + c0,
        y=theta[:, 1] + r0,
        photons=theta[:, 2] * scale,
        background=theta[:, 3] * scale,
        sigma=theta[:, 4],
        crlb_x=bound[:, 0],
        crlb_y=bound[:, 1],
        crlb_photons=bound[:, 2] * scale,
        bkgstd=bkgstd,
        log_likelihood=loglik,
        iterations=iters,
        converged=conv,
    )


def pair_guess(boxes: np.ndarray, theta1: np.ndarray, sigma_px: float) -> np.ndarray:
    """(n, 8) starting values of a two-emitter fit from a one-emitter fit: the two split along
    the long axis of the spot's second moments, by the width in excess of the PSF."""
    n, b, _ = boxes.shape
    grid = np.arange(b, dtype=np.float64)
    excess = np.clip(boxes - theta1[:, 3, None, None], 0, None)
    w = excess.sum(axis=(1, 2)) + 1e-9
    dx = grid[None, None, :] - theta1[:, 0, None, None]
    dy = grid[None, :, None] - theta1[:, 1, None, None]
    cxx = (excess * dx * dx).sum(axis=(1, 2)) / w
    cyy = (excess * dy * dy).sum(axis=(1, 2)) / w
    cxy = (excess * dx * dy).sum(axis=(1, 2)) / w
    cov = np.stack([np.stack([cxx, cxy], -1), np.stack([cxy, cyy], -1)], -2)
    vals, vecs = np.linalg.eigh(cov)
    u = vecs[:, :, 1]  # (ux, uy) of the largest eigenvalue
    half = np.sqrt(np.clip(vals[:, 1] - sigma_px**2, 0.25, (b / 3) ** 2))
    x, y, amp, bg = theta1[:, 0], theta1[:, 1], theta1[:, 2], theta1[:, 3]
    return np.column_stack([
        x - half * u[:, 0], y - half * u[:, 1], amp / 2,
        x + half * u[:, 0], y + half * u[:, 1], amp / 2,
        bg, np.full(n, float(sigma_px)),
    ])  # fmt: skip


@dataclass(frozen=True)
class FitOptions:
    """How a movie's boxes are fitted: the camera's likelihood scale (2 for EMCCD), the sCMOS
    read-noise variance (photons^2), whether the PSF width is free, and the threads."""

    scale: float = 1.0
    variance: float = 0.0
    fit_sigma: bool = True
    workers: int = 1

    def fit(self, boxes: np.ndarray, sigma_px: float, theta0: np.ndarray | None = None):
        """K-emitter MLE of photon boxes: (theta, Cramér-Rao sd (both with photons and
        background in photons), log-likelihood, converged); `theta0` (n, 3K + 2) in photons."""
        counts = None
        if theta0 is not None:
            counts = _photon_columns(theta0.shape[1])
            theta0 = np.array(theta0, np.float64)
            theta0[:, counts] /= self.scale
        theta, fisher, loglik, _, conv = fit_spots(
            boxes / self.scale, sigma_px, variance=self.variance / self.scale**2,
            fit_sigma=self.fit_sigma, theta0=theta0, workers=self.workers,
        )  # fmt: skip
        bound = crlb(fisher)
        counts = _photon_columns(theta.shape[1])
        theta[:, counts] *= self.scale
        bound[:, counts] *= self.scale
        return theta, bound, loglik, conv


def _photon_columns(n_par: int) -> np.ndarray:
    """Columns of a parameter vector in photons: each emitter's N and the background."""
    return np.r_[np.arange(2, n_par - 2, 3), n_par - 2]
