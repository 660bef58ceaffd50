"""Classical worm segmentation: no weights needed, fast on a CPU, good on bright-field frames.

Per frame, inside a search window around the previous mask:
1. polarity: the worm is made the bright object (bright-field frames are inverted); "auto"
   decides from the prompt point (darker than its surroundings = bright-field);
2. background correction: the illumination is estimated from the pixels that are not worm
   (normalised convolution of block means) and subtracted, so vignetting and gradients go;
3. threshold: a fixed fraction of the worm's own contrast above the corrected background
   (`edge_fraction`), never below a few noise SDs. A worm's body absorbs (or emits) along the
   optical path through a cylinder, so its edge fades gradually; the fraction places the edge
   where the body starts, not at half the core darkness as Otsu would (which cuts the body
   thin);
4. the connected component that holds the prompt (first frame) or overlaps the previous mask;
5. tips: near the ends of the mask's skeleton the mask grows into pixels above a lower level
   (`tip_fraction`), because a tapering tip is fainter than the body's sides (`tips.py`);
6. clean-up: small holes filled (`fill_small_holes`: a coiled worm's loop is kept open), thin attachments such
   as debris touching the body removed by an opening that leaves the body tips intact;
7. temporal consistency: the worm contrast carries over from frame to frame, and the score is
   the overlap with the previous mask (centroids aligned), which flags doubtful frames.

Hand-written on scipy.ndimage rather than a library pipeline because the steps need the prompt
and the previous mask at each stage, and the whole chain must stay under ~10 ms per frame.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from napari_catrack.core.behaviour.masks import fill_small_holes, padded_box
from napari_catrack.core.behaviour.prompts import Prompt
from napari_catrack.core.behaviour.tips import extend_tips
from napari_catrack.core.signals.noise import MAD_TO_SD
from napari_catrack.errors import InputError


@dataclass
class FrameResult:
    """A segmenter's answer for one frame."""

    mask: np.ndarray  # bool (Y, X)
    score: float  # 0..1: confidence (SAM: predicted IoU; classical: overlap with previous)
    info: dict[str, Any] = field(default_factory=dict)


_EIGHT = np.ones((3, 3), bool)


class ClassicalSegmenter:
    """Threshold segmentation that follows one worm through a video (see module docstring)."""

    name = "classical"

    def __init__(
        self,
        *,
        polarity: str = "auto",
        edge_fraction: float = 0.2,
        tip_fraction: float = 0.13,
        smooth_px: float = 0.8,
        noise_sd: float = 4.0,
        search_px: float = 40.0,
        open_fraction: float = 0.12,
    ) -> None:
        self.polarity = polarity
        self.edge_fraction = edge_fraction
        self.tip_fraction = tip_fraction
        self.smooth_px = smooth_px
        self.noise_k = noise_sd
        self.search_px = search_px
        self.open_fraction = open_fraction
        self.contrast: float | None = None  # worm contrast over background, carried over
        self.width: float | None = None  # body width (px), from the anchor frame

    # --- public ---------------------------------------------------------------------------
    def segment(self, frame: np.ndarray, prompt: Prompt) -> FrameResult:
        frame = np.asarray(frame)
        if frame.ndim != 2:
            raise InputError(f"a behaviour frame must be 2-D (Y, X), got shape {frame.shape}")
        if prompt.previous is None or not prompt.previous.any():
            return self._start(frame, prompt)
        return self._follow(frame, prompt)

    def snapshot(self) -> tuple:
        """The state carried from frame to frame (restored before propagating the other way)."""
        return (self.polarity, self.contrast, self.width)

    def restore(self, state: tuple) -> None:
        self.polarity, self.contrast, self.width = state

    def calibrate(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Learn polarity, contrast and width from a mask the user painted."""
        img = np.asarray(frame, dtype=np.float32)
        mask = np.asarray(mask, bool)
        ring = ndi.binary_dilation(mask, iterations=6) & ~ndi.binary_dilation(mask, iterations=2)
        if self.polarity == "auto":
            self.polarity = "dark" if np.median(img[mask]) < np.median(img[ring]) else "bright"
        x = -img if self.polarity == "dark" else img
        bg = _background(x, ndi.binary_dilation(mask, iterations=4))
        c = _smooth(x - bg, self.smooth_px)
        self.contrast = float(np.percentile(c[mask], 90))
        self.width = 2.0 * float(ndi.distance_transform_edt(mask).max())

    # --- anchor frame: calibrate polarity, contrast and width ---------------------------------
    def _start(self, frame: np.ndarray, prompt: Prompt) -> FrameResult:
        pos = prompt.positive
        if len(pos) == 0:
            raise InputError("the classical method needs a positive prompt point on the worm")
        img = frame.astype(np.float32)
        if self.polarity == "auto":
            self.polarity = _polarity_at(img, pos)
        x = -img if self.polarity == "dark" else img
        # first guess of what is not background: clearly above the smooth local level
        local = ndi.median_filter(x[::4, ::4], size=9, mode="nearest")
        local = ndi.zoom(local, 4, order=1, grid_mode=True, mode="nearest")[
            : x.shape[0], : x.shape[1]
        ]
        resid = x - local
        spread = MAD_TO_SD * float(np.median(np.abs(resid - np.median(resid)))) + 1e-6
        rough = resid > 4 * spread
        bg = _background(x, ndi.binary_dilation(rough, iterations=3))
        c = _smooth(x - bg, self.smooth_px)
        sd = _noise_sd(c, rough)
        # contrast: the brightest part of the object under the prompt points
        peak = max(float(_local_max(c, p, 4)) for p in pos)
        if peak < self.noise_k * sd:
            y, xx = pos[0]
            raise InputError(
                f"the prompt point ({y:g}, {xx:g}) is on background: nothing there stands out "
                f"from the noise (contrast {peak:.1f}, noise SD {sd:.1f}); click on the worm"
            )
        self.contrast = peak
        mask = self._threshold_component(c, sd, seeds=pos, previous=None)
        # second pass with the worm excluded from the background estimate
        bg = _background(x, ndi.binary_dilation(mask, iterations=4))
        c = _smooth(x - bg, self.smooth_px)
        sd = _noise_sd(c, ndi.binary_dilation(mask, iterations=4))
        self.contrast = float(np.percentile(c[mask], 90))
        mask = self._threshold_component(c, sd, seeds=pos, previous=None)
        mask = self._apply_negative(mask, prompt)
        self._check_object(x, mask, sd, pos[0])
        mask = self._tips(mask, c, sd)
        self.width = 2.0 * float(ndi.distance_transform_edt(mask).max())
        mask = self._clean(mask)
        return FrameResult(mask, 1.0, {"polarity": self.polarity, "noise_sd": sd})

    def _tips(self, mask: np.ndarray, c: np.ndarray, sd: float) -> np.ndarray:
        """The mask's tips extended to `tip_fraction` of the contrast (`tips.extend_tips`)."""
        if self.tip_fraction <= 0 or self.tip_fraction >= self.edge_fraction or not mask.any():
            return mask
        level = max(self.tip_fraction * (self.contrast or 0.0), self.noise_k * sd)
        return extend_tips(mask, c, level)

    def _check_object(self, x: np.ndarray, mask: np.ndarray, sd: float, p) -> None:
        """A prompt on background finds only shading: no edge against its own surroundings."""
        y, xx = p
        if not mask.any():
            raise InputError(f"no worm found at the prompt point ({y:g}, {xx:g}): click on it")
        ring = ndi.binary_dilation(mask, iterations=4) & ~ndi.binary_dilation(mask, iterations=1)
        edge = float(np.median(x[mask]) - np.median(x[ring])) if ring.any() else 0.0
        if edge < self.noise_k * sd or mask.mean() > 0.25:
            raise InputError(
                f"the prompt point ({y:g}, {xx:g}) is on background, not on the worm: what is "
                f"there does not stand out from its surroundings (edge {edge:.1f} vs noise SD "
                f"{sd:.1f}); click on the worm's body"
            )

    # --- following frames -------------------------------------------------------------------
    def _follow(self, frame: np.ndarray, prompt: Prompt) -> FrameResult:
        prev = prompt.previous
        h, w = frame.shape
        m = int(self.search_px)
        box = padded_box(prev, m)
        y0, x0 = box[0].start, box[1].start
        sub = frame[box].astype(np.float32)
        x = -sub if self.polarity == "dark" else sub
        prev_sub = prev[box]
        exclude = _grow(prev_sub, max(3.0, m / 3))
        bg = _background(x, exclude)
        c = _smooth(x - bg, self.smooth_px)
        sd = _noise_sd(c, exclude)
        seeds = prompt.positive
        seeds = seeds - (y0, x0) if len(seeds) else seeds
        comp = self._threshold_component(c, sd, seeds=seeds, previous=prev_sub)
        comp = self._tips(comp, c, sd)
        mask = np.zeros((h, w), bool)
        mask[box] = comp
        mask = self._apply_negative(mask, prompt)
        mask = self._clean(mask)
        if mask.any():
            new_c = float(np.percentile(c[mask[box]], 90))
            if self.contrast is not None and 0.5 * self.contrast < new_c < 2 * self.contrast:
                self.contrast = 0.8 * self.contrast + 0.2 * new_c
        score = shifted_iou(mask, prev)
        return FrameResult(mask, score, {"noise_sd": sd})

    # --- steps ------------------------------------------------------------------------------
    def _threshold_component(
        self, c: np.ndarray, sd: float, *, seeds: np.ndarray, previous: np.ndarray | None
    ) -> np.ndarray:
        t = max(self.edge_fraction * (self.contrast or 0.0), self.noise_k * sd)
        binary = c > t
        labels, n = ndi.label(binary, _EIGHT)
        if n == 0:
            return np.zeros_like(binary)
        keep = np.zeros(n + 1, bool)
        if previous is not None and previous.any():
            overlap = np.bincount(labels[previous], minlength=n + 1)
            overlap[0] = 0
            if overlap.max() > 0:
                sizes = np.bincount(labels.ravel(), minlength=n + 1)
                keep = (overlap >= 0.5 * overlap.max()) | (overlap > 0.2 * sizes)
                keep[0] = False
            else:  # the worm jumped out of its old place: take the most similar object
                sizes = np.bincount(labels.ravel(), minlength=n + 1)
                sizes[0] = 0
                keep[int(np.argmin(np.abs(sizes - previous.sum())))] = True
        for y, x in seeds:
            lab = _label_near(labels, y, x, radius=4)
            if lab > 0:
                keep[lab] = True
        if not keep.any():
            y, x = seeds[0] if len(seeds) else (np.nan, np.nan)
            raise InputError(
                f"no worm found at the prompt point ({y:g}, {x:g}): it is on background "
                "(click on the worm's body)"
            )
        return keep[labels]

    def _apply_negative(self, mask: np.ndarray, prompt: Prompt) -> np.ndarray:
        """Split off what the user marked as not worm: pixels nearer a negative point."""
        neg, pos = prompt.negative, prompt.positive
        if len(neg) == 0 or not mask.any():
            return mask
        ys, xs = np.nonzero(mask)
        pts = np.stack([ys, xs], axis=1).astype(float)
        d_neg = np.min(np.linalg.norm(pts[:, None] - neg[None], axis=2), axis=1)
        if len(pos):
            d_pos = np.min(np.linalg.norm(pts[:, None] - pos[None], axis=2), axis=1)
        else:  # propagated frame: the body is what stays far from the negative points
            d_pos = np.full(len(pts), 2.0 * (self.width or 10.0))
        out = mask.copy()
        out[ys[d_neg < d_pos], xs[d_neg < d_pos]] = False
        return _largest(out)

    def _clean(self, mask: np.ndarray) -> np.ndarray:
        """Fill small holes, keep a coil's loop, remove thin attachments (debris, noise)."""
        box = padded_box(mask, 3)
        if box is None:
            return mask
        out = np.zeros_like(mask)
        out[box] = self._clean_crop(mask[box])
        return out

    def _clean_crop(self, mask: np.ndarray) -> np.ndarray:
        width = self.width or 2.0 * float(ndi.distance_transform_edt(mask).max())
        filled = fill_small_holes(mask, width)
        r = round(self.open_fraction * width)
        if r >= 1:
            disk = _disk(r)
            opened = ndi.binary_opening(filled, disk)
            if opened.any():
                filled &= ndi.binary_dilation(_largest(opened), disk)
        return _largest(filled)


# --- helpers -------------------------------------------------------------------------------
def _largest(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected piece of a mask (the mask itself when it is one piece)."""
    labels, n = ndi.label(mask, _EIGHT)
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _polarity_at(img: np.ndarray, points: np.ndarray) -> str:
    """'dark' when the prompt sits on something darker than its surroundings, else 'bright'."""
    sm = ndi.gaussian_filter(img, 1.5)
    around = ndi.uniform_filter(img, 61)
    diffs = [sm[round(y), round(x)] - around[round(y), round(x)] for y, x in points]
    return "dark" if float(np.median(diffs)) < 0 else "bright"


def _background(x: np.ndarray, exclude: np.ndarray, block: int = 8, sigma: float = 3.0):
    """Smooth background under the worm: normalised convolution of block means of the rest."""
    h, w = x.shape
    hb, wb = -(-h // block), -(-w // block)
    pad = ((0, hb * block - h), (0, wb * block - w))
    keep = np.pad(~exclude, pad).astype(np.float32)
    vals = np.pad(x, pad, mode="edge") * keep
    s = vals.reshape(hb, block, wb, block).sum(axis=(1, 3))
    n = keep.reshape(hb, block, wb, block).sum(axis=(1, 3))
    s = ndi.gaussian_filter(s, sigma, mode="nearest")
    n = ndi.gaussian_filter(n, sigma, mode="nearest")
    grid = s / np.maximum(n, 1e-3)
    if not np.isfinite(grid).all() or (n <= 1e-3).all():
        return np.full_like(x, np.median(x))
    return _upsampler(h, hb, block) @ grid.astype(np.float32) @ _upsampler(w, wb, block).T


@functools.lru_cache(maxsize=64)
def _upsampler(n: int, nb: int, block: int) -> np.ndarray:
    """(n, nb) linear interpolation from block centres to pixel centres (edges held)."""
    centres = (np.arange(nb) + 0.5) * block - 0.5
    pos = np.clip(np.arange(n, dtype=float), centres[0], centres[-1])
    i = np.clip(np.searchsorted(centres, pos) - 1, 0, max(nb - 2, 0))
    w = np.zeros((n, nb), np.float32)
    if nb == 1:
        w[:, 0] = 1
        return w
    frac = (pos - centres[i]) / block
    w[np.arange(n), i] = 1 - frac
    w[np.arange(n), i + 1] = frac
    return w


def _grow(mask: np.ndarray, radius: float, block: int = 4) -> np.ndarray:
    """`mask` dilated by about `radius` px, computed on 4 x 4 blocks (cheap, coarse is enough)."""
    h, w = mask.shape
    hb, wb = -(-h // block), -(-w // block)
    padded = np.pad(mask, ((0, hb * block - h), (0, wb * block - w)))
    coarse = padded.reshape(hb, block, wb, block).any(axis=(1, 3))
    k = max(1, int(np.ceil(radius / block)))
    coarse = ndi.binary_dilation(coarse, _EIGHT, iterations=k)
    return np.repeat(np.repeat(coarse, block, axis=0), block, axis=1)[:h, :w]


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    return ndi.gaussian_filter(x, sigma) if sigma > 0 else x


def _noise_sd(c: np.ndarray, exclude: np.ndarray) -> float:
    vals = c[~exclude][::3]
    if vals.size < 20:
        vals = c.ravel()[::3]
    med = np.median(vals)
    return float(MAD_TO_SD * np.median(np.abs(vals - med))) + 1e-6


def _local_max(c: np.ndarray, p: np.ndarray, r: int) -> float:
    y, x = round(p[0]), round(p[1])
    return float(c[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1].max())


def _label_near(labels: np.ndarray, y: float, x: float, radius: int) -> int:
    """The label under (y, x), else the nearest label within `radius` pixels (0 if none)."""
    iy, ix = round(y), round(x)
    h, w = labels.shape
    if not (0 <= iy < h and 0 <= ix < w):
        return 0
    if labels[iy, ix]:
        return int(labels[iy, ix])
    win = labels[max(iy - radius, 0) : iy + radius + 1, max(ix - radius, 0) : ix + radius + 1]
    wy, wx = np.nonzero(win)
    if len(wy) == 0:
        return 0
    oy, ox = max(iy - radius, 0), max(ix - radius, 0)
    k = int(np.argmin((wy + oy - iy) ** 2 + (wx + ox - ix) ** 2))
    return int(win[wy[k], wx[k]])


def _disk(r: int) -> np.ndarray:
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return yy * yy + xx * xx <= r * r + 0.5


def shifted_iou(mask: np.ndarray, previous: np.ndarray) -> float:
    """IoU of two masks after aligning their centroids: shape agreement between frames."""
    if not mask.any() or not previous.any():
        return 0.0
    ca = np.array(ndi.center_of_mass(mask))
    cb = np.array(ndi.center_of_mass(previous))
    dy, dx = np.rint(cb - ca).astype(int)
    ys, xs = np.nonzero(mask)
    ys, xs = ys + dy, xs + dx
    h, w = previous.shape
    ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    inter = int(previous[ys[ok], xs[ok]].sum())
    union = int(mask.sum() + previous.sum() - inter)
    return inter / union if union else 0.0


def make_classical(params) -> ClassicalSegmenter:
    """The classical segmenter with a `SegmentParams`' values (polarity, edge, smoothing, search)."""
    return ClassicalSegmenter(
        polarity=params.polarity,
        edge_fraction=params.edge_fraction,
        tip_fraction=params.tip_fraction,
        smooth_px=params.smooth_px,
        search_px=params.search_px,
    )
