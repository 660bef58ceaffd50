"""Image-level maths behind `alignment.estimate_alignment` (2-D images in, parameters out).

Parameters are always ``[dy, dx, rotation_deg, scale]`` (plus ``aspect, shear`` for a full
affine) in the `rigid.AlignmentTransform` convention (red → green, rotation about the image
centre), so every step hands the next one the same vector.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import fft, ndimage, optimize
from skimage.registration import phase_cross_correlation
from skimage.transform import warp_polar

from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.core.signals.noise import MAD_TO_SD

N_ANGLES = 720  # log-polar angular samples over a full turn: 0.5° bins, refined by upsampling


@functools.lru_cache(maxsize=8)
def hann(shape: tuple[int, int]) -> np.ndarray:
    """Radially symmetric Hann window against FFT edge wrap-around (cached: shapes recur).

    The same window as `skimage.filters.window("hann", shape)` (a 1-D Hann of the longest side,
    read at each pixel's distance from the centre; equal to 3e-7, tested), written out because
    that function imports scipy.signal (0.4 s), which every command aligning channels would pay.
    Radial, not separable, so the log-polar rotation estimate sees no preferred direction.
    """
    m = max(shape)
    centre = m / 2 - 0.5
    axes = [np.arange(n, dtype=np.float32) * np.float32(m / n) - np.float32(centre) for n in shape]
    yy, xx = np.meshgrid(*axes, sparse=True, indexing="ij")
    distance = np.sqrt(yy * yy + xx * xx)
    return np.interp(distance + centre, np.arange(m), np.hanning(m), left=0.0, right=0.0).astype(
        np.float32
    )


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Block mean; maps pixel p to (p − (f − 1)/2)/f, so the image centre stays the centre."""
    if factor == 1:
        return image
    h, w = (n - n % factor for n in image.shape)
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def normalise(image: np.ndarray, sigma: float, background: float) -> np.ndarray:
    """Band-pass (difference of Gaussians) + robust z-score: keeps shared structure, drops
    illumination gradients, offsets and gain differences between the channels."""
    img = np.asarray(image, dtype=np.float32)
    img = ndimage.gaussian_filter(img, sigma) - ndimage.gaussian_filter(
        img, background, truncate=2.5
    )
    med = np.median(img)
    mad = float(np.median(np.abs(img - med))) * MAD_TO_SD
    spread = mad if mad > 0 else float(img.std())
    if not spread > 0:
        return np.zeros_like(img)
    return np.clip((img - med) / spread, -20.0, 20.0)  # one hot pixel must not dominate


def transform_of(params: Sequence[float]) -> AlignmentTransform:
    """The transform of a parameter vector of 4 (rigid + scale) or 6 (affine) numbers."""
    values = [float(v) for v in params]
    if len(values) == 6:
        return AlignmentTransform(*values[:4], aspect=values[4], shear=values[5])
    return AlignmentTransform(*values)


def warp(img: np.ndarray, params: Sequence[float], order: int = 1) -> np.ndarray:
    """`img` (red) resampled onto the green grid for `params`; NaN outside."""
    inv = transform_of(params).inverse_matrix(img.shape)
    return ndimage.affine_transform(
        img,
        inv[:2, :2],
        offset=inv[:2, 2],
        order=order,
        mode="constant",
        cval=np.nan,
        prefilter=False,
    )


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation over the pixels both images define."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 16:
        return -1.0
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else -1.0


def logpolar_rotation_scale(
    green: np.ndarray, red: np.ndarray, estimate_scale: bool
) -> tuple[float, float]:
    """Rotation (deg, our sign) and scale of red → green from Fourier-magnitude log-polar maps.

    The magnitude spectrum ignores translation, so rotation and scale can be found first.
    """
    win = hann(green.shape)
    mags = [np.log1p(np.abs(fft.fftshift(fft.fft2(img * win, workers=-1)))) for img in (green, red)]
    radius = min(green.shape) // 2
    scaling = "log" if estimate_scale else "linear"
    polar = [
        warp_polar(m, radius=radius, output_shape=(N_ANGLES, radius), scaling=scaling, order=1)
        for m in mags
    ]
    # the spectrum is point-symmetric, so half a turn holds everything; skip the lowest radii
    # (DC and window leakage)
    lo = max(radius // 16, 1)
    a, b = (p[: N_ANGLES // 2, lo:] for p in polar)
    # 1/10 of a 0.5 deg bin is plenty: the least-squares refinement that follows sets the angle
    # (a finer upsampled DFT cost more than the rest of the coarse stage, same final estimate)
    shift, _, _ = phase_cross_correlation(a, b, upsample_factor=10, normalization=None)
    # warp_polar's angle runs clockwise on screen; our rotation counter-clockwise (sign tests pin it)
    rotation = -float(shift[0]) * 360.0 / N_ANGLES
    rotation = (rotation + 90.0) % 180.0 - 90.0
    scale = 1.0
    if estimate_scale and radius > 1:
        klog = radius / math.log(radius)
        scale = float(math.exp(float(shift[1]) / klog))  # image scale = inverse spectrum scale
    return rotation, scale


def translation_for(
    green: np.ndarray, red: np.ndarray, rotation: float, scale: float
) -> tuple[np.ndarray, float]:
    """Translation given rotation/scale: upsampled phase correlation of green vs rotated red.

    Returns the full parameter vector and the NCC it reaches (to compare candidates).
    """
    rotated = np.nan_to_num(warp(red, (0.0, 0.0, rotation, scale)), nan=0.0)
    win = hann(green.shape)
    # a quarter pixel is enough for a start (refined by least squares)
    shift, _, _ = phase_cross_correlation(green * win, rotated * win, upsample_factor=4)
    params = np.array([shift[0], shift[1], rotation, scale], dtype=float)
    return params, ncc(green, warp(red, params))


@dataclass(frozen=True)
class Pair:
    """Simultaneous green/red images (or crops of them) for `refine`.

    Crops keep the cost proportional to the animal, not the field of view; `*_origin` is where a
    crop's pixel (0, 0) sits in the full frame, `margin` how far from the green crop's edge points
    may be taken.
    """

    green: np.ndarray
    red: np.ndarray
    g_origin: tuple[int, int] = (0, 0)
    r_origin: tuple[int, int] = (0, 0)
    margin: int = 4


def _points(green: np.ndarray, n_points: int, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """The `n_points` green pixels with the strongest gradient, away from the border."""
    inner = green[margin : green.shape[0] - margin, margin : green.shape[1] - margin]
    grad = np.hypot(ndimage.sobel(inner, 0), ndimage.sobel(inner, 1)).ravel()
    k = min(n_points, grad.size)
    keep = np.argpartition(grad, grad.size - k)[grad.size - k :]
    ys, xs = np.unravel_index(keep, inner.shape)
    q = np.stack([ys + margin, xs + margin]).astype(np.float64)
    return q, inner[ys, xs].astype(np.float64)


def whole(green: np.ndarray, red: np.ndarray) -> Pair:
    """A full-frame pair, points kept 8 % of the size away from the border (room for the warp)."""
    return Pair(green, red, margin=max(4, int(0.08 * min(green.shape))))


def _terms(pairs: Sequence[Pair], max_points: int) -> list:
    """Per pair: the most informative green points (full-frame coordinates), the red crop's
    origin, the z-scored green values there and the red crop's cubic B-spline coefficients."""
    per_pair = max(100, max_points // max(len(pairs), 1))
    terms = []
    for pair in pairs:
        q, g = _points(np.asarray(pair.green, dtype=np.float32), per_pair, pair.margin)
        sd = g.std()
        if q.shape[1] < 16 or not sd > 0:
            continue  # a blank frame carries no information
        coeffs = ndimage.spline_filter(np.asarray(pair.red, dtype=np.float64), order=3)
        q_full = q + np.asarray(pair.g_origin, dtype=float)[:, None]
        terms.append(
            (q_full, np.asarray(pair.r_origin, float)[:, None], (g - g.mean()) / sd, coeffs)
        )
    return terms


def _residual(terms: list, transform: AlignmentTransform, shape: tuple[int, int]) -> np.ndarray:
    """z-scored warped red − z-scored green at every pair's points (squared norm 2·N·(1 − NCC))."""
    inv = transform.inverse_matrix(shape)
    out = []
    for q, r_origin, g, coeffs in terms:
        coords = inv[:2, :2] @ q + inv[:2, 2:3] - r_origin
        w = ndimage.map_coordinates(coeffs, coords, order=3, mode="nearest", prefilter=False)
        sd = w.std()
        out.append((w - w.mean()) / (sd if sd > 0 else 1.0) - g)
    return np.concatenate(out)


def _mean_ncc(residual: np.ndarray) -> float:
    return 1.0 - float(np.sum(residual**2)) / (2.0 * residual.size)


def score(
    pairs: Sequence[Pair],
    transform: AlignmentTransform,
    shape: tuple[int, int],
    max_points: int = 20_000,
) -> float:
    """The mean NCC `refine` maximises, for a given transform (NaN when no pair has structure):
    how well a transform from elsewhere (a calibration file) fits this recording."""
    terms = _terms(pairs, max_points)
    return _mean_ncc(_residual(terms, transform, shape)) if terms else float("nan")


def refine(
    pairs: Sequence[Pair],
    start: np.ndarray,
    fit_scale: bool,
    shape: tuple[int, int],
    max_points: int = 20_000,
    fit_affine: bool = False,
) -> tuple[np.ndarray, float]:
    """Maximise the summed NCC of green and warped red (ECC's criterion) by least squares.

    `pairs`: one summary pair, or many simultaneous frame pairs (a moving animal blurs summaries,
    but each frame pair shares the exact geometry); `shape` is the full frame (rotation centre).
    Per pair, the residual is z-scored warped red − z-scored green at the most informative green
    pixels (a fixed set chosen from the reference alone, so no bias and cheap steps); its squared
    norm is 2·N·(1 − NCC), so the mean NCC is returned with the parameters. Cubic B-spline
    coefficients are computed once: no linear-interpolation pull toward whole-pixel shifts.
    `fit_affine` also fits aspect and shear (implies the scale); the vector returned then has 6
    numbers, else 4.
    """
    terms = _terms(pairs, max_points)
    start = np.asarray(start, dtype=float)
    if fit_affine and start.size == 4:
        start = np.append(start, (1.0, 0.0))
    if not terms:
        return start, float("nan")
    n_fit = 6 if fit_affine else 4 if fit_scale else 3

    def residual(p: np.ndarray) -> np.ndarray:
        params = p if n_fit >= 4 else (*p, 1.0)
        return _residual(terms, transform_of(params), shape)

    radius = 0.5 * math.hypot(*shape)
    x_scale = np.array([1.0, 1.0, 57.3 / radius, 1.0 / radius, 1.0 / radius, 1.0 / radius])
    res = optimize.least_squares(
        residual,
        start[:n_fit],
        x_scale=x_scale[:n_fit],
        diff_step=1e-4,
        xtol=1e-5,
        ftol=1e-8,
        # MINPACK's Levenberg-Marquardt: the same optimum as "trf" here (no bounds) for ~20 % less
        # CPU; it counts the Jacobian's evaluations too, hence 40 iterations' worth
        method="lm",
        max_nfev=40 * (n_fit + 1),
    )
    return (res.x if n_fit >= 4 else np.append(res.x, 1.0)), _mean_ncc(res.fun)


def region_of_interest(summary: np.ndarray, pad: int) -> tuple[slice, slice]:
    """Box around the structure of a band-passed, z-scored summary (where the animal went)."""
    ys, xs = np.nonzero(np.abs(summary) > 3.0)
    h, w = summary.shape
    if ys.size < 16:
        return slice(0, h), slice(0, w)
    return (
        slice(max(int(ys.min()) - pad, 0), min(int(ys.max()) + pad + 1, h)),
        slice(max(int(xs.min()) - pad, 0), min(int(xs.max()) + pad + 1, w)),
    )


def red_box(box: tuple[slice, slice], params: np.ndarray, shape: tuple[int, int], pad: int):
    """The red crop that covers a green box under `params` (plus `pad`)."""
    ys, xs = box
    corners = np.array([[y, x] for y in (ys.start, ys.stop - 1) for x in (xs.start, xs.stop - 1)])
    transform = params if isinstance(params, AlignmentTransform) else transform_of(params)
    red = transform.map_points(corners, shape, inverse=True)
    lo = np.floor(red.min(axis=0)).astype(int) - pad
    hi = np.ceil(red.max(axis=0)).astype(int) + pad + 1
    return (
        slice(max(lo[0], 0), min(hi[0], shape[0])),
        slice(max(lo[1], 0), min(hi[1], shape[1])),
    )


def initial_guess(
    green: np.ndarray, red: np.ndarray, estimate_scale: bool
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Coarse parameters from two summary images, plus the fine-scale normalised pair.

    Coarse work runs on a 2× smaller grid for big images (broad structure so the guess cannot lock
    onto noise, and cheap FFTs); translations scale by the factor, angles and scale do not.
    Returns (params, ncc_of_initial_guess, green_fine, red_fine).
    """
    shape = green.shape
    bg = max(8.0, min(shape) / 24.0)
    f = 2 if min(shape) >= 128 else 1
    g0 = normalise(downsample(green, f), 2.0 / f + 0.5, bg / f)
    r0 = normalise(downsample(red, f), 2.0 / f + 0.5, bg / f)
    rotation, scale = logpolar_rotation_scale(g0, r0, estimate_scale)
    candidates = [translation_for(g0, r0, rotation, scale)]
    if rotation != 0.0 or scale != 1.0:  # the no-rotation guess guards against a wrong polar peak
        candidates.append(translation_for(g0, r0, 0.0, 1.0))
    start, ncc0 = max(candidates, key=lambda c: c[1])
    params, _ = refine([whole(g0, r0)], start, estimate_scale, g0.shape, max_points=10_000)
    params[:2] *= f
    return params, ncc0, *fine_pair(green, red)


def fine_pair(green: np.ndarray, red: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The full-resolution band-passed, z-scored summaries that the fit crops to and falls back
    on."""
    bg = max(8.0, min(green.shape) / 24.0)
    return normalise(green, 1.0, bg), normalise(red, 1.0, bg)
