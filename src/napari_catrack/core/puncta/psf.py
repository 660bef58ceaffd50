"""Point-spread functions on the pixel grid: the pixel-integrated Gaussian (the fitter's model,
with the derivatives the fitter needs) and the Airy disk (for simulating a PSF the fitter does not
assume).

Coordinates are pixels with pixel i covering [i - 0.5, i + 0.5] (its centre at i), x = column,
y = row, as everywhere in napari-catrack; ThunderSTORM's nm are (px + 0.5) x pixel size.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf, j1

_SQRT2 = np.sqrt(2.0)
_SQRT2PI = np.sqrt(2.0 * np.pi)
AIRY_K = 2 * np.pi * 0.21  # Airy radius parameter (v = AIRY_K r / sigma) of a Gaussian-matched Airy


def integrated_gaussian_1d(
    grid: np.ndarray, centre: np.ndarray, sigma: np.ndarray, derivatives: bool = False
):
    """Fraction of a unit 1D Gaussian falling in each pixel of `grid` (broadcast: centre (n, 1)).

    With `derivatives`, also d/dcentre and d/dsigma (Smith et al. 2010, Nat. Methods 7:373).
    """
    s = sigma * _SQRT2
    a = (grid - centre + 0.5) / s
    b = (grid - centre - 0.5) / s
    e = 0.5 * (erf(a) - erf(b))
    if not derivatives:
        return e
    ga = np.exp(-(a**2))
    gb = np.exp(-(b**2))
    d_centre = (gb - ga) / (_SQRT2PI * sigma)
    d_sigma = ((grid - centre - 0.5) * gb - (grid - centre + 0.5) * ga) / (_SQRT2PI * sigma**2)
    return e, d_centre, d_sigma


def airy_patch(
    dy: np.ndarray, dx: np.ndarray, sigma: np.ndarray, supersample: int = 3
) -> np.ndarray:
    """Pixel-integrated Airy disk of unit total energy, for offsets (n, w) of pixel centres from
    each emitter, returned as (n, w_y, w_x); `sigma` (n,) is the width of the Gaussian that best
    matches it (0.21 lambda / NA). Integrated by supersampling each pixel; energy outside the
    window is lost, as it is on a camera."""
    k = AIRY_K / sigma[:, None, None, None, None]
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    yy = dy[:, :, None, None, None] + sub[None, None, :, None, None]
    xx = dx[:, None, None, :, None] + sub[None, None, None, None, :]
    # (n, w_y, s, w_x, s)
    v = k * np.sqrt(yy**2 + xx**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = np.where(v > 1e-9, 2 * j1(v) / np.where(v > 1e-9, v, 1.0), 1.0)
    intensity = amp**2
    # the integral of (2 J1(v)/v)^2 over the plane is 4 pi / k^2 (in px^2)
    norm = (4 * np.pi) / k[..., 0, 0, 0, 0] ** 2
    return intensity.mean(axis=(2, 4)) / norm[:, None, None]


def render_spots(
    shape: tuple[int, ...],
    frame: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    photons: np.ndarray,
    sigma: np.ndarray,
    psf: str = "gaussian",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Add spots (expected photons per pixel) to a (T, H, W) array, vectorised over spots.

    `frame`, `y`, `x`, `photons`, `sigma` are per spot (pixels); spots partly outside the frame
    lose the part outside.
    """
    t_n, h, w = shape
    out = np.zeros(shape, np.float64) if out is None else out
    if len(frame) == 0:
        return out
    frame = np.asarray(frame, int)
    y, x = np.asarray(y, float), np.asarray(x, float)
    sigma = np.broadcast_to(np.asarray(sigma, float), y.shape)
    photons = np.broadcast_to(np.asarray(photons, float), y.shape)
    half = int(np.ceil((4.0 if psf == "gaussian" else 7.0) * sigma.max())) + 1
    size = 2 * half + 1
    r0 = np.round(y).astype(int) - half
    c0 = np.round(x).astype(int) - half
    offs = np.arange(size)
    rows = r0[:, None] + offs[None, :]
    cols = c0[:, None] + offs[None, :]
    if psf == "gaussian":
        ey = integrated_gaussian_1d(rows, y[:, None], sigma[:, None])
        ex = integrated_gaussian_1d(cols, x[:, None], sigma[:, None])
        patch = ey[:, :, None] * ex[:, None, :]
    elif psf == "airy":
        patch = airy_patch(rows - y[:, None], cols - x[:, None], sigma)
    else:
        raise ValueError(f"unknown PSF {psf!r}")
    patch = patch * photons[:, None, None]
    rr = np.broadcast_to(rows[:, :, None], patch.shape)
    cc = np.broadcast_to(cols[:, None, :], patch.shape)
    ff = np.broadcast_to(frame[:, None, None], patch.shape)
    ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w) & (ff >= 0) & (ff < t_n)
    flat = (ff[ok] * h + rr[ok]) * w + cc[ok]
    out += np.bincount(flat, weights=patch[ok], minlength=t_n * h * w).reshape(shape)
    return out
