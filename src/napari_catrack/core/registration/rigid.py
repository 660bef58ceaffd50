"""Sub-pixel rigid shifts by phase correlation, rigid warps, and the bidirectional-scan offset.

Phase correlation: the cross-power spectrum of a frame and the template, whitened (only phase
kept) and smoothed by a Gaussian (as suite2p does, `smooth_sigma`), is inverse-transformed; its
peak sits at the frame's displacement. The smoothed peak is a sampled Gaussian, so a three-point
fit of a parabola to its logarithm along each axis gives the sub-pixel position without the
pixel-locking bias of a plain parabola, at the cost of three samples (no upsampled DFT).

Sign convention (the CLI contract): a frame whose content sits at template + (dy, dx) gets the
shift (dy, dx); the registered frame is out(p) = frame(p + (dy, dx)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import gaussian_filter

from napari_catrack.errors import InputError

WORKERS = -1  # scipy.fft threads: all cores


@dataclass(frozen=True)
class Reference:
    """A template prepared for phase correlation of frames (or patches) of its shape."""

    spectrum: np.ndarray  # (..., H, W//2+1) complex64: conj(FFT(template)) whitened and smoothed
    taper: np.ndarray  # (H, W) float32 edge taper applied to frames before the FFT
    highpass_px: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.taper.shape


def edge_taper(shape: tuple[int, int], width: float) -> np.ndarray:
    """A mask that falls smoothly (sigmoid) to 0 over `width` px at each edge (kills FFT wrap)."""
    out = []
    for n in shape:
        d = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(np.float32)
        out.append(1 / (1 + np.exp(-(d - width / 2) / max(width / 6, 1e-3))))
    return (out[0][:, None] * out[1][None, :]).astype(np.float32)


def gaussian_spectrum(shape: tuple[int, int], sigma: float) -> np.ndarray:
    """rfft-layout Gaussian low-pass equal to a spatial Gaussian blur of `sigma` px."""
    fy = sfft.fftfreq(shape[0])[:, None]
    fx = sfft.rfftfreq(shape[1])[None, :]
    return np.exp(-2 * np.pi**2 * sigma**2 * (fy**2 + fx**2)).astype(np.float32)


def preprocess(frames: np.ndarray, taper: np.ndarray, highpass_px: float) -> np.ndarray:
    """Float32 frames, optionally high-passed, minus their mean, tapered at the edges (a copy)."""
    x = np.array(frames, dtype=np.float32, copy=True)
    if highpass_px > 0:
        x -= gaussian_filter(x, (0,) * (x.ndim - 2) + (highpass_px, highpass_px))
    x -= x.mean(axis=(-2, -1), keepdims=True)
    x *= taper
    return x


def make_reference(
    template: np.ndarray, smooth_sigma: float = 1.15, highpass_px: float = 0.0, taper_px=None
) -> Reference:
    """Prepare a template (Y, X) or a stack of patch templates (..., Y, X) for correlation."""
    template = np.asarray(template, dtype=np.float32)
    shape = template.shape[-2:]
    width = taper_px if taper_px is not None else max(2.0, min(shape) / 16)
    taper = edge_taper(shape, width)
    f = sfft.rfft2(preprocess(template, taper, highpass_px), workers=WORKERS)
    spectrum = np.conj(f) / (np.abs(f) + 1e-6)
    spectrum *= gaussian_spectrum(shape, smooth_sigma)
    return Reference(spectrum.astype(np.complex64), taper, highpass_px)


def correlation_maps(frames: np.ndarray, ref: Reference) -> np.ndarray:
    """Smoothed phase-correlation maps (n, ..., H, W) of preprocessed frames with the reference."""
    f = sfft.rfft2(preprocess(frames, ref.taper, ref.highpass_px), workers=WORKERS)
    mag = np.abs(f)
    mag += 1e-6
    f *= ref.spectrum
    f /= mag
    return sfft.irfft2(f, s=ref.shape, workers=WORKERS, overwrite_x=True)


def _log3(cm: np.ndarray, c0: np.ndarray, cp: np.ndarray) -> np.ndarray:
    """Vertex offset (-0.5..0.5) of a parabola through log(c) at -1, 0, +1 (Gaussian peak fit)."""
    floor = np.maximum(c0 * 1e-3, 1e-12)
    lm, l0, lp = (np.log(np.maximum(v, floor)) for v in (cm, c0, cp))
    den = lm - 2 * l0 + lp
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(den < 0, 0.5 * (lm - lp) / den, 0.0)
    return np.clip(off, -0.5, 0.5)


def peak_shifts(maps: np.ndarray, max_shift: float | tuple[float, float], centre=None):
    """Sub-pixel peak of each correlation map within `max_shift` px of `centre` (default 0).

    maps: (..., H, W) circular correlations (index 0 = no shift). Returns (shifts (..., 2),
    peak heights (...), peak-to-sidelobe ratio (...)).
    """
    h, w = maps.shape[-2:]
    lead = maps.shape[:-2]
    flat = maps.reshape(-1, h, w)
    n = flat.shape[0]
    my, mx = (max_shift, max_shift) if np.isscalar(max_shift) else max_shift
    my, mx = int(min(np.floor(my), h // 2 - 1)), int(min(np.floor(mx), w // 2 - 1))
    c = np.zeros((n, 2), dtype=np.int64) if centre is None else np.rint(np.asarray(centre).reshape(n, 2)).astype(np.int64)  # fmt: skip
    oy, ox = np.arange(-my, my + 1), np.arange(-mx, mx + 1)
    rows = (c[:, 0, None] + oy[None, :]) % h  # (n, 2my+1)
    cols = (c[:, 1, None] + ox[None, :]) % w
    idx = np.arange(n)[:, None, None]
    win = flat[idx, rows[:, :, None], cols[:, None, :]]
    best = win.reshape(n, -1).argmax(axis=1)
    iy, ix = np.divmod(best, win.shape[2])
    py, px = rows[np.arange(n), iy], cols[np.arange(n), ix]
    r = np.arange(n)
    c0 = flat[r, py, px]
    dy = _log3(flat[r, (py - 1) % h, px], c0, flat[r, (py + 1) % h, px])
    dx = _log3(flat[r, py, (px - 1) % w], c0, flat[r, py, (px + 1) % w])
    sy = ((py + h // 2) % h - h // 2) + dy
    sx = ((px + w // 2) % w - w // 2) + dx
    # peak-to-sidelobe: the peak over the largest value of the window more than 2 px away
    wy, wx = np.arange(win.shape[1]), np.arange(win.shape[2])
    near = (np.abs(wy[None, :, None] - iy[:, None, None]) <= 2) & (
        np.abs(wx[None, None, :] - ix[:, None, None]) <= 2
    )
    side = np.where(near, -np.inf, win).reshape(n, -1).max(axis=1)
    psr = c0 / np.maximum(side, 1e-12) if win[0].size > 25 else np.full(n, np.inf)
    shifts = np.stack([sy, sx], axis=1).reshape(*lead, 2)
    return shifts, c0.reshape(lead), psr.reshape(lead)


BATCH_PIXELS = 1 << 23  # frames per FFT batch: ~8 M pixels (bounded temporaries)


def estimate_rigid(frames: np.ndarray, ref: Reference, max_shift: float):
    """(n, 2) sub-pixel shifts, peak heights and peak-to-sidelobe ratios of frames vs `ref`."""
    n = len(frames)
    step = max(1, BATCH_PIXELS // max(1, int(np.prod(ref.shape))))
    parts = [peak_shifts(correlation_maps(frames[i : i + step], ref), max_shift) for i in range(0, n, step)]  # fmt: skip
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))


def shift_frames(frames: np.ndarray, shifts: np.ndarray, out_dtype=np.float32) -> np.ndarray:
    """Rigid sub-pixel warp out(p) = frame(p + shift), bilinear, edges clamped (separable: fast)."""
    frames = np.asarray(frames)
    n, h, w = frames.shape
    out = np.empty((n, h, w), dtype=np.float32)
    ar_h, ar_w = np.arange(h), np.arange(w)
    for k in range(n):
        dy, dx = float(shifts[k, 0]), float(shifts[k, 1])
        fy, fx = np.floor(dy), np.floor(dx)
        ay, ax = np.float32(dy - fy), np.float32(dx - fx)
        r0 = np.clip(ar_h + int(fy), 0, h - 1)
        r1 = np.clip(ar_h + int(fy) + 1, 0, h - 1)
        x = frames[k].astype(np.float32, copy=False)
        x = x[r0] * (1 - ay) + x[r1] * ay if ay else x[r0]
        c0 = np.clip(ar_w + int(fx), 0, w - 1)
        c1 = np.clip(ar_w + int(fx) + 1, 0, w - 1)
        out[k] = x[:, c0] * (1 - ax) + x[:, c1] * ax if ax else x[:, c0]
    return out if out_dtype == np.float32 else to_dtype(out, out_dtype)


def to_dtype(x: np.ndarray, dtype) -> np.ndarray:
    """Float frames back to the movie's dtype (rounded and clipped for integers)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


# --- bidirectional (resonant) scanning ----------------------------------------------------------
def estimate_bidi_offset(image: np.ndarray, max_offset: float = 10.0) -> float:
    """Horizontal offset (px) of odd lines relative to even lines of a mean image.

    Resonant scanners acquire alternate lines in opposite directions; a phase error displaces odd
    lines by a constant amount. Each odd line is compared with the even line above it and with the
    even line below it (cross-correlation along x, rows summed in the frequency domain: the peak of
    the phase correlation, refined on the continuous cross-correlation), and the two offsets are
    averaged. One comparison alone is biased by oriented structures: the lines are one row apart,
    so an edge at angle θ to the x axis reads as cot θ px of offset (+cot θ against the line
    above, -cot θ against the line below); the average cancels it.
    """
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape[-2:]
    odd_rows = np.arange(1, h - 1, 2)  # odd lines with an even line above and below
    if odd_rows.size < 2:
        raise InputError("the image is too short for a bidirectional-scan estimate (< 4 lines)")
    taper = edge_taper((1, w), max(2.0, w / 16))[0]

    def spectra(rows: np.ndarray) -> np.ndarray:
        lines = image[rows]
        return sfft.rfft((lines - lines.mean(axis=1, keepdims=True)) * taper, axis=1)

    fo = spectra(odd_rows)
    m = int(min(max_offset + 3, w // 2 - 1))  # + the bias of oblique edges, removed below
    smooth = np.exp(-2 * np.pi**2 * 1.0**2 * sfft.rfftfreq(w) ** 2)
    found = []
    for fe in (spectra(odd_rows - 1), spectra(odd_rows + 1)):
        cross = (fo * np.conj(fe)).sum(axis=0)
        white = cross / (np.abs(cross) + 1e-6) * smooth
        shifts, _, _ = peak_shifts(np.stack([sfft.irfft(white, n=w)] * 2)[None], (0, m))
        found.append(_refine_peak_1d(cross * smooth, w, float(shifts[0, 1])))
    return float(np.clip(np.mean(found), -max_offset, max_offset))


def _refine_peak_1d(cross: np.ndarray, n: int, start: float) -> float:
    """The maximum within 1.5 px of `start` of the correlation whose rfft is `cross`, evaluated
    at continuous positions (a grid of 0.01 px, then a parabola). For a pure translation by s the
    (unwhitened) cross-correlation is a sum of cos(w (x - s)) terms with positive weights, so its
    maximum is at s exactly: no peak-shape or pixel-locking bias, and no interpolation of noisy
    lines (a least-squares fit of interpolated lines favours half-pixel offsets, where the
    interpolation smooths the noise). The whitened correlation only finds `start`: whitening
    gives the noise-only high frequencies full weight, which biases a continuous maximum."""
    f = sfft.rfftfreq(n)
    weight = np.full(f.size, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    grid = start + np.linspace(-1.5, 1.5, 301)
    values = (weight * cross * np.exp(2j * np.pi * f * grid[:, None])).real.sum(axis=1)
    k = int(np.clip(values.argmax(), 1, grid.size - 2))
    ym, y0, yp = values[k - 1 : k + 2]
    den = ym - 2 * y0 + yp
    step = grid[1] - grid[0]
    return float(grid[k] + (0.5 * (ym - yp) / den * step if den < 0 else 0.0))


def correct_bidi(frames: np.ndarray, offset: float) -> np.ndarray:
    """Move odd lines back by `offset` px (linear interpolation along x)."""
    if not offset:
        return np.asarray(frames)
    out = np.asarray(frames, dtype=np.float32).copy()
    w = out.shape[-1]
    x = np.arange(w, dtype=np.float32) + offset
    i0 = np.clip(np.floor(x).astype(int), 0, w - 1)
    i1 = np.clip(i0 + 1, 0, w - 1)
    a = (x - np.floor(x)).astype(np.float32)
    odd = out[..., 1::2, :]
    out[..., 1::2, :] = odd[..., i0] * (1 - a) + odd[..., i1] * a
    return out
