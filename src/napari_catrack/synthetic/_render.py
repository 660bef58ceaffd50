"""Rendering helpers shared by the generators: Gaussian splats, camera noise, seeds, smooth noise."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from napari_catrack.errors import InputError


def child_rngs(seed: int | None, n: int) -> list[np.random.Generator]:
    """Independent generators per model part, so changing one part (e.g. noise) leaves the others."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, ...], sigma_frames: float
) -> np.ndarray:
    """Gaussian noise low-passed along the last axis, with unit standard deviation in expectation.

    Scaled by the theoretical standard deviation of filtered white noise (not the sample one), so
    short series are not blown up.
    """
    x = rng.standard_normal(shape)
    if sigma_frames > 0:
        x = gaussian_filter1d(x, sigma_frames, axis=-1, mode="reflect")
        x *= np.sqrt(2 * np.sqrt(np.pi) * sigma_frames)
    return x


def gaussian_inverse_cov(
    sigma_major: np.ndarray, sigma_minor: np.ndarray, angle: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients (a, b, c) of the quadratic form a dy² + 2 b dy dx + c dx² of a rotated Gaussian.

    `angle` is the major axis direction in radians, measured in the (y, x) plane from the x axis.
    """
    ca, sa = np.cos(angle), np.sin(angle)
    i1, i2 = 1.0 / sigma_major**2, 1.0 / sigma_minor**2
    # major axis unit vector in (y, x): (sa, ca); minor: (ca, -sa)
    a = i1 * sa**2 + i2 * ca**2
    c = i1 * ca**2 + i2 * sa**2
    b = (i1 - i2) * sa * ca
    return a, b, c


def splat_gaussians(
    out: np.ndarray,
    frame: np.ndarray,
    centre: np.ndarray,
    amplitude: np.ndarray,
    inv_cov: tuple[np.ndarray, np.ndarray, np.ndarray],
    half: int,
) -> None:
    """Add Gaussian blobs into `out` (T, H, X) in place, each over a (2*half+1)² patch.

    Vectorised over blobs: one bincount per call. Blob centres are in pixel coordinates (pixel i has
    its centre at coordinate i), and the blob peak is `amplitude` (sampled at pixel centres).
    """
    if frame.size == 0:
        return
    nt, h, w = out.shape
    off = np.arange(-half, half + 1)
    iy0 = np.rint(centre[:, 0]).astype(np.int64)
    ix0 = np.rint(centre[:, 1]).astype(np.int64)
    iy = iy0[:, None, None] + off[None, :, None]
    ix = ix0[:, None, None] + off[None, None, :]
    dy = iy - centre[:, 0, None, None]
    dx = ix - centre[:, 1, None, None]
    a, b, c = (np.asarray(v)[:, None, None] for v in inv_cov)
    val = amplitude[:, None, None] * np.exp(-0.5 * (a * dy * dy + 2 * b * dy * dx + c * dx * dx))
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    flat = (frame[:, None, None] * h + iy) * w + ix
    out.reshape(-1)[:] += np.bincount(flat[ok], weights=val[ok], minlength=nt * h * w)


def camera(
    photons: np.ndarray,
    rng: np.random.Generator,
    gain_adu_per_photon: float,
    offset_adu: float,
    read_noise_adu: float,
    saturation_adu: int,
    gaussian_above: float = 10.0,
) -> np.ndarray:
    """Photon counts → uint16 ADU: shot noise, gain, Gaussian read noise, offset, clipping.

    Shot noise is Poisson where the expected count is below `gaussian_above` and its Gaussian
    approximation (mean λ, variance λ, rounded) above, which is indistinguishable there and several
    times faster than numpy's Poisson sampler.
    """
    lam = np.maximum(photons, 0.0).astype(np.float32, copy=False)
    z = rng.standard_normal(lam.shape, dtype=np.float32)
    counts = np.rint(lam + np.sqrt(lam) * z)
    low = lam < gaussian_above
    counts[low] = rng.poisson(lam[low])
    adu = np.maximum(counts, 0) * np.float32(gain_adu_per_photon) + np.float32(offset_adu)
    if read_noise_adu > 0:
        adu += rng.standard_normal(lam.shape, dtype=np.float32) * np.float32(read_noise_adu)
    return np.clip(np.rint(adu), 0, min(saturation_adu, 65535)).astype(np.uint16)


def upsample2(x: np.ndarray) -> np.ndarray:
    """Bilinear ×2 upsampling of the last two axes (pixel-centre aligned), by slicing: fast."""
    for ax in (-2, -1):
        x = np.moveaxis(x, ax, -1)
        prev = np.concatenate([x[..., :1], x[..., :-1]], axis=-1)
        nxt = np.concatenate([x[..., 1:], x[..., -1:]], axis=-1)
        out = np.empty((*x.shape[:-1], 2 * x.shape[-1]), dtype=x.dtype)
        out[..., 0::2] = 0.75 * x + 0.25 * prev
        out[..., 1::2] = 0.75 * x + 0.25 * nxt
        x = np.moveaxis(out, -1, ax)
    return x


def check_shape(shape: tuple[int, int], minimum: int = 32) -> tuple[int, int]:
    """Validate an image shape argument (a user mistake becomes an InputError)."""
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise InputError(f"shape must be two integers (height, width), got {shape!r}") from None
    if h < minimum or w < minimum:
        raise InputError(f"shape must be at least {minimum}x{minimum} pixels, got {h}x{w}")
    return h, w


def frame_chunks(n_frames: int, shape: tuple[int, int], pixels: int = 1 << 21):
    """Frame ranges whose total pixel count stays near `pixels` (bounded memory while rendering)."""
    step = max(1, pixels // (shape[0] * shape[1]))
    for t0 in range(0, n_frames, step):
        yield t0, min(n_frames, t0 + step)
