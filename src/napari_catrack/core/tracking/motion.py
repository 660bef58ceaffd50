"""Motion estimates between consecutive frames: global (phase correlation) and local (patches).

A freely moving worm jumps by 15+ px between frames when the stage lags, far beyond what a
nearest-neighbour link survives. Phase correlation of whole (downsampled) frames recovers that
jump in one FFT; batched patch correlations around each neuron then follow the non-rigid part
(head swings, body bends) using the layout of the neuron's neighbours, not just its own blob.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft
from scipy import ndimage as ndi


@lru_cache(maxsize=8)
def _hann(shape: tuple[int, ...]) -> np.ndarray:
    """Separable Hann window (cached per shape): suppresses the FFT's wrap-around edges."""
    wy = np.hanning(shape[-2]).astype(np.float32)
    wx = np.hanning(shape[-1]).astype(np.float32)
    return np.outer(wy, wx)


@lru_cache(maxsize=8)
def _gauss_window(size: int, sigma: float) -> np.ndarray:
    """Centre-weighted window: the neuron at a patch centre counts more than far neighbours."""
    r = np.arange(size, dtype=np.float32) - (size - 1) / 2.0
    g = np.exp(-(r**2) / (2 * sigma**2))
    return np.outer(g, g)


def downsample(img: np.ndarray, factor: int) -> np.ndarray:
    """Block-mean downsampling (crops to a multiple of `factor`): cheaper FFTs, less noise.

    Summed strided views rather than `reshape(...).mean(axis=(1, 3))`: 25x faster on a
    192 x 192 frame, which matters because it runs on every frame.
    """
    if factor <= 1:
        return np.asarray(img, dtype=np.float32)
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    v = np.asarray(img[:h, :w], dtype=np.float32)
    rows = v[0::factor].copy()
    for i in range(1, factor):
        rows += v[i::factor]
    out = rows[:, 0::factor].copy()
    for j in range(1, factor):
        out += rows[:, j::factor]
    out *= 1.0 / (factor * factor)
    return out


def spectrum(img: np.ndarray) -> np.ndarray:
    """Windowed, mean-removed FFT of a 2-D image (or a stack of patches on the last two axes)."""
    a = np.asarray(img, dtype=np.float32)
    a = a - a.mean(axis=(-2, -1), keepdims=True)
    return fft.rfft2(a * _hann(a.shape[-2:]))


_NEIGHBOURS = (np.array([0, -1, 1, 0, 0]), np.array([0, 0, 0, -1, 1]))  # centre, y-1, y+1, x-1, x+1


def _clamp(a: np.ndarray, lo, hi) -> np.ndarray:
    """`np.clip` without its per-call overhead (it looks up integer limits on every call; these
    helpers run a dozen times per frame)."""
    return np.minimum(np.maximum(a, lo), hi)


def _clamp_step(a: np.ndarray) -> np.ndarray:
    """A sub-pixel step limited to +-0.5 px, NaN (flat or broken peak) as 0: what
    `_clamp(np.nan_to_num(a), -0.5, 0.5)` gives, for a fifth of `nan_to_num`'s overhead."""
    return _clamp(np.where(np.isnan(a), 0.0, a), -0.5, 0.5)


def _peak_subpixel(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax of each correlation surface (..., H, W) with a parabolic sub-pixel step, FFT-wrapped."""
    h, w = corr.shape[-2:]
    c3 = corr.reshape(-1, h, w)
    idx = c3.reshape(len(c3), h * w).argmax(axis=1)
    py, px = np.divmod(idx, w)
    rows = np.arange(len(c3))[:, None]
    # the maximum and its four neighbours in one gather
    v = c3[rows, (py[:, None] + _NEIGHBOURS[0]) % h, (px[:, None] + _NEIGHBOURS[1]) % w]
    c0, ym, yp, xm, xp = v.T
    den_y = ym - 2 * c0 + yp
    den_x = xm - 2 * c0 + xp
    with np.errstate(divide="ignore", invalid="ignore"):
        oy = np.where(den_y < 0, 0.5 * (ym - yp) / den_y, 0.0)
        ox = np.where(den_x < 0, 0.5 * (xm - xp) / den_x, 0.0)
    oy, ox = _clamp_step(oy), _clamp_step(ox)
    dy = np.where(py > h // 2, py - h, py) + oy
    dx = np.where(px > w // 2, px - w, px) + ox
    return np.stack([dy, dx], axis=-1).reshape((*corr.shape[:-2], 2)), c0.reshape(corr.shape[:-2])


def phase_shift(
    spec_ref: np.ndarray, spec_mov: np.ndarray, shape: tuple[int, int], eps: float = 1e-3
) -> tuple[np.ndarray, float]:
    """Shift s with mov(p) ≈ ref(p − s) from two `spectrum` outputs; returns (s, peak height).

    Whitened (phase) correlation gives a sharp peak for a translated texture of blobs; `eps`
    keeps empty frequencies from amplifying noise.
    """
    cross = spec_mov * np.conj(spec_ref)
    mag = np.abs(cross)
    cross /= mag + eps * (mag.max() + 1e-12)
    corr = fft.irfft2(cross, s=shape)
    shift, peak = _peak_subpixel(corr)
    return shift, float(peak)


def global_shift(ref: np.ndarray, mov: np.ndarray, factor: int = 2) -> np.ndarray:
    """Translation (dy, dx) of `mov` relative to `ref` in full-resolution pixels."""
    a, b = downsample(ref, factor), downsample(mov, factor)
    s, _ = phase_shift(spectrum(a), spectrum(b), a.shape)
    return s * max(factor, 1)


def extract_patches(image: np.ndarray, centers: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) patches centred on the rounded `centers` (N, 2); edges repeat outwards."""
    c = np.rint(np.asarray(centers, dtype=np.float64)).astype(np.int64)
    r = np.arange(size) - size // 2
    ys = _clamp(c[:, 0, None] + r, 0, image.shape[0] - 1)[:, :, None]
    xs = _clamp(c[:, 1, None] + r, 0, image.shape[1] - 1)[:, None, :]
    return image[ys, xs]


def patch_shifts(
    prev_patches: np.ndarray, cur_patches: np.ndarray, sigma: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Local displacement of each patch pair (N, S, S) by centre-weighted normalised correlation.

    Returns (N, 2) shifts of the current patch content relative to the previous one and a
    (N,) peak quality in [0, 1]; a low quality means the patch lost its texture (focus dip).
    """
    s = prev_patches.shape[-1]
    win = _gauss_window(s, sigma or s / 5.0)
    a = prev_patches.astype(np.float32)
    b = cur_patches.astype(np.float32)
    a = (a - a.mean(axis=(1, 2), keepdims=True)) * win
    b = (b - b.mean(axis=(1, 2), keepdims=True)) * _hann((s, s))
    fa, fb = fft.rfft2(a), fft.rfft2(b)
    corr = fft.irfft2(fb * np.conj(fa), s=(s, s))
    norm = np.sqrt((a**2).sum(axis=(1, 2)) * (b**2).sum(axis=(1, 2))) + 1e-9
    shifts, peak = _peak_subpixel(corr)
    return shifts, _clamp(peak / norm, 0.0, 1.0)


def local_maxima(smooth: np.ndarray, floor: float, size: int = 3) -> np.ndarray:
    """(K, 2) integer coordinates of local maxima of a smoothed image above `floor`."""
    mx = ndi.maximum_filter(smooth, size=size, mode="nearest")
    return np.argwhere((smooth == mx) & (smooth > floor))


def local_maxima_near(smooth: np.ndarray, centres: np.ndarray, radius: float, floor: float):
    """Unique (K, 2) local maxima (3 x 3) above `floor` within `radius` (box) of any centre.

    Only small windows around the predicted positions are filtered, not the frame: a few
    hundred pixels per neuron instead of the whole bounding box of all neurons.
    """
    h, w = smooth.shape
    r = int(np.ceil(radius))
    c = np.rint(np.asarray(centres, dtype=np.float64)).astype(np.int64)
    off = np.arange(-r - 1, r + 2)
    y0, x0 = c[:, 0, None] + off, c[:, 1, None] + off  # (N, 2r+3): one pixel of margin
    ys, xs = _clamp(y0, 0, h - 1), _clamp(x0, 0, w - 1)
    win = smooth[ys[:, :, None], xs[:, None, :]]
    mx = ndi.maximum_filter(win, size=(1, 3, 3), mode="nearest")
    # clipped rows/columns repeat the image edge (as mode="nearest" does for the frame): they
    # serve as neighbours, but only the unclipped copy of a pixel can be a maximum
    peak = (win == mx) & (win > floor) & (ys == y0)[:, :, None] & (xs == x0)[:, None, :]
    peak[:, [0, -1], :] = False  # the margin only serves the filter
    peak[:, :, [0, -1]] = False
    n, iy, ix = np.nonzero(peak)
    if len(n) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # windows overlap: each maximum once, in (y, x) order (a 1-D unique of the flat index: the
    # same result as `np.unique(pts, axis=0)` for a fraction of its cost)
    flat = np.unique(ys[n, iy] * w + xs[n, ix])
    return np.stack(np.divmod(flat, w), axis=1)


def quadratic_refine(smooth: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-pixel peak centres by a separable 3-point parabola fit around integer maxima."""
    if len(peaks) == 0:
        return peaks.astype(np.float64)
    h, w = smooth.shape
    y = _clamp(peaks[:, 0], 1, h - 2)
    x = _clamp(peaks[:, 1], 1, w - 2)
    c = smooth[y, x]
    ym, yp = smooth[y - 1, x], smooth[y + 1, x]
    xm, xp = smooth[y, x - 1], smooth[y, x + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        dy = np.where(ym - 2 * c + yp < 0, 0.5 * (ym - yp) / (ym - 2 * c + yp), 0.0)
        dx = np.where(xm - 2 * c + xp < 0, 0.5 * (xm - xp) / (xm - 2 * c + xp), 0.0)
    dy, dx = _clamp_step(dy), _clamp_step(dx)
    return np.stack([y + dy, x + dx], axis=1).astype(np.float64)
