"""Piecewise-rigid (NoRMCorre-style) motion: per-patch shifts around the rigid shift, one warp.

The frame is cut into overlapping patches; each patch gets its own sub-pixel phase-correlation
shift against the same patch of the template, searched around the frame's rigid shift.
Regularisation towards the rigid shift (NoRMCorre's `max_deviation_rigid`, suite2p's block SNR
rule): a patch whose correlation peak is weak (peak-to-sidelobe below `min_psr`) takes the mean
deviation of its good neighbours (or none), and no patch strays more than `max_deviation` px
from the rigid shift. The patch shifts are interpolated bilinearly between patch centres into a
smooth per-pixel field, and the raw frame is resampled once with it (no rigid pre-warp, so the
movie is interpolated only once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

from napari_catrack.core.registration.rigid import (
    Reference,
    correlation_maps,
    make_reference,
    peak_shifts,
)
from napari_catrack.errors import InputError


@dataclass(frozen=True)
class PatchGrid:
    """Top-left corners of overlapping patches of one size covering a frame."""

    starts_y: np.ndarray
    starts_x: np.ndarray
    size: tuple[int, int]
    shape: tuple[int, int]

    @property
    def grid_shape(self) -> tuple[int, int]:
        return len(self.starts_y), len(self.starts_x)

    @property
    def centres(self) -> np.ndarray:
        """(P, 2) patch centres (y, x), row-major over the grid."""
        cy = self.starts_y + (self.size[0] - 1) / 2
        cx = self.starts_x + (self.size[1] - 1) / 2
        yy, xx = np.meshgrid(cy, cx, indexing="ij")
        return np.stack([yy.ravel(), xx.ravel()], axis=1)


def _starts(n: int, size: int, stride: int) -> np.ndarray:
    starts = list(range(0, n - size + 1, max(1, stride)))
    if starts[-1] != n - size:
        starts.append(n - size)
    return np.asarray(starts)


def patch_grid(shape: tuple[int, int], patch_px: int, overlap_px: int) -> PatchGrid:
    """Patches of `patch_px` overlapping by about `overlap_px`; the last ones flush with the edge."""
    h, w = shape
    if patch_px > min(h, w):
        m = min(h, w)
        p2 = max(16, m // 2)  # a hint that runs as given: the overlap stays below the patch
        hint = (
            f"use at most {m} px with a smaller overlap, e.g. --patch-px {p2} --patch-overlap-px "
            f"{p2 // 3} (patch size and patch overlap in the widget), or --mode rigid"
            if m >= 16
            else "use --mode rigid (the smallest patch is 16 px)"
        )
        raise InputError(f"patches of {patch_px} px do not fit in the {h}x{w} frame: {hint}")
    stride = patch_px - overlap_px
    return PatchGrid(_starts(h, patch_px, stride), _starts(w, patch_px, stride), (patch_px, patch_px), (h, w))  # fmt: skip


def patches(frames: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """(n, P, ph, pw) patches of (n, H, W) frames."""
    ph, pw = grid.size
    return np.stack(
        [frames[:, y : y + ph, x : x + pw] for y in grid.starts_y for x in grid.starts_x], axis=1
    )


def patch_reference(template: np.ndarray, grid: PatchGrid, smooth_sigma: float, highpass_px: float) -> Reference:  # fmt: skip
    return make_reference(patches(template[None], grid)[0], smooth_sigma, highpass_px)


def estimate_piecewise(
    frames: np.ndarray,
    ref: Reference,
    grid: PatchGrid,
    *,
    max_shift: float,
    max_deviation: float,
    min_psr: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patch shifts (n, P, 2), rigid shifts (n, 2) and rigid peak heights (n,) of raw frames.

    One FFT per patch serves both: the patch correlation maps summed over the patches are the
    whole frame's (locally normalised) correlation, whose peak is the rigid shift; each patch is
    then searched within `max_deviation` px of it.
    """
    maps = correlation_maps(patches(frames, grid), ref)  # (n, P, ph, pw)
    ph, pw = grid.size
    rigid, peak, _ = peak_shifts(maps.sum(axis=1), min(max_shift, ph / 2 - 2, pw / 2 - 2))
    n, n_patches = maps.shape[:2]
    centre = np.broadcast_to(np.rint(rigid)[:, None, :], (n, n_patches, 2))
    radius = max(int(np.ceil(max_deviation)) + 1, 4)
    found, _, psr = peak_shifts(maps, radius, centre=centre)
    dev = found - rigid[:, None, :]
    bad = (psr < min_psr) | (np.abs(dev) > max_deviation).any(axis=-1)
    dev = _fill_from_neighbours(dev, bad, grid.grid_shape)
    dev = np.clip(dev, -max_deviation, max_deviation)
    return rigid[:, None, :] + dev, rigid, peak / n_patches


def _fill_from_neighbours(dev: np.ndarray, bad: np.ndarray, grid_shape: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """Unreliable patches take the mean deviation of their reliable 3x3 neighbours (else 0)."""
    if not bad.any():
        return dev
    n = dev.shape[0]
    gy, gx = grid_shape
    d = np.where(bad[..., None], 0.0, dev).reshape(n, gy, gx, 2)
    good = (~bad).reshape(n, gy, gx).astype(float)
    pad_d = np.pad(d, ((0, 0), (1, 1), (1, 1), (0, 0)))
    pad_g = np.pad(good, ((0, 0), (1, 1), (1, 1)))
    s = sum(pad_d[:, i : i + gy, j : j + gx] for i in range(3) for j in range(3))
    c = sum(pad_g[:, i : i + gy, j : j + gx] for i in range(3) for j in range(3))
    fill = (s / np.maximum(c, 1)[..., None]).reshape(n, gy * gx, 2)
    return np.where(bad[..., None], fill, dev)


def interpolation_weights(centres: np.ndarray, n: int) -> np.ndarray:
    """(n, len(centres)) linear interpolation weights from patch centres to pixels (clamped)."""
    x = np.clip(np.arange(n, dtype=float), centres[0], centres[-1])
    if len(centres) == 1:
        return np.ones((n, 1))
    j = np.clip(np.searchsorted(centres, x, side="right") - 1, 0, len(centres) - 2)
    a = (x - centres[j]) / (centres[j + 1] - centres[j])
    w = np.zeros((n, len(centres)))
    w[np.arange(n), j] = 1 - a
    w[np.arange(n), j + 1] = a
    return w


class FieldWarper:
    """Turns (n, P, 2) patch shifts into one bilinear resampling of each frame."""

    def __init__(self, grid: PatchGrid) -> None:
        cy = grid.starts_y + (grid.size[0] - 1) / 2
        cx = grid.starts_x + (grid.size[1] - 1) / 2
        self.wy = interpolation_weights(cy, grid.shape[0]).astype(np.float32)
        self.wx = interpolation_weights(cx, grid.shape[1]).astype(np.float32)
        self.grid_shape = grid.grid_shape
        h, w = grid.shape
        self.yy, self.xx = np.mgrid[0:h, 0:w].astype(np.float32)
        # the field is bilinear in the patch shifts: its mean over the frame weighs each patch by
        # the share of the frame it covers
        self.mean_weights = np.outer(self.wy.sum(axis=0), self.wx.sum(axis=0)).ravel() / (h * w)

    def frame_mean(self, patch_shifts: np.ndarray) -> np.ndarray:
        """(n, 2) mean displacement over the frame of (n, P, 2) patch shifts."""
        return np.einsum("npc,p->nc", patch_shifts, self.mean_weights)

    def field(self, patch_shifts: np.ndarray) -> np.ndarray:
        """(2, H, W) displacement of one frame from its (P, 2) patch shifts."""
        s = patch_shifts.reshape(*self.grid_shape, 2).astype(np.float32)
        return np.stack([self.wy @ s[..., c] @ self.wx.T for c in range(2)])

    def warp(self, frames: np.ndarray, patch_shifts: np.ndarray) -> np.ndarray:
        """out(p) = frame(p + d(p)) for each frame, bilinear, edges clamped; float32."""
        out = np.empty(frames.shape, dtype=np.float32)
        for k in range(len(frames)):
            d = self.field(patch_shifts[k])
            coords = np.stack([self.yy + d[0], self.xx + d[1]])
            out[k] = map_coordinates(
                frames[k].astype(np.float32, copy=False), coords, order=1, mode="nearest"
            )
        return out
