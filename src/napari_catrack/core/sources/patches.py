"""Overlapping patches and their stitching: each cell is kept once, from the patch that owns it.

The frame is tiled with overlapping patches (CaImAn's `rf`/`stride`). Each patch owns its *core*:
the part of the frame closer to it than to its neighbours (the overlaps split in the middle).
A component is kept only from the patch whose core holds its centroid; a cell there is at least
half an overlap away from that patch's edge, so it was seen whole. A cell straddling a core
boundary can still be claimed by both neighbours (their centroid estimates differ by a fraction
of a pixel); `dedupe` removes such twins: centres closer than half a cell radius and footprints
alike (cosine > 0.5), the one seen more centrally stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class Patch:
    ys: tuple[int, int]  # rows of the frame the patch covers
    xs: tuple[int, int]
    core_y: tuple[float, float]  # rows (half-open) whose cells the patch owns
    core_x: tuple[float, float]


@dataclass
class Found:
    """One component of one patch, in frame coordinates."""

    footprint: np.ndarray  # (h, w) of the patch
    patch: Patch
    raw: np.ndarray
    bg: np.ndarray
    r_value: float
    centre: np.ndarray  # (y, x) in the frame
    index: int  # patch number

    @property
    def margin(self) -> float:
        """Distance of the centre to the patch's nearest inner edge (frame edges do not count)."""
        (y0, y1), (x0, x1) = self.patch.ys, self.patch.xs
        inner = [d for d, at_frame_edge in (
            (self.centre[0] - y0, np.isinf(self.patch.core_y[0])), (y1 - 1 - self.centre[0], np.isinf(self.patch.core_y[1])),
            (self.centre[1] - x0, np.isinf(self.patch.core_x[0])), (x1 - 1 - self.centre[1], np.isinf(self.patch.core_x[1])),
        ) if not at_frame_edge]  # fmt: skip
        return float(min(inner)) if inner else np.inf

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.zeros(shape, np.float32)
        (y0, y1), (x0, x1) = self.patch.ys, self.patch.xs
        out[y0:y1, x0:x1] = self.footprint
        return out


def _ranges(n: int, patch: int, overlap: int) -> list[tuple[int, int]]:
    if patch <= 0 or patch >= n:
        return [(0, n)]
    stride = patch - overlap
    starts = list(range(0, n - patch + 1, stride))
    if starts[-1] != n - patch:
        starts.append(n - patch)
    return [(s, s + patch) for s in starts]


def _cores(ranges: list[tuple[int, int]]) -> list[tuple[float, float]]:
    cuts = [(a[1] + b[0]) / 2 for a, b in pairwise(ranges)]
    return list(zip([-np.inf, *cuts], [*cuts, np.inf], strict=True))


def tile(shape: tuple[int, int], patch: int, overlap: int) -> list[Patch]:
    """The patches covering a (h, w) frame (one patch when `patch` is 0 or the frame smaller)."""
    ry, rx = _ranges(shape[0], patch, overlap), _ranges(shape[1], patch, overlap)
    cy, cx = _cores(ry), _cores(rx)
    return [Patch(ys, xs, coy, cox) for ys, coy in zip(ry, cy, strict=True) for xs, cox in zip(rx, cx, strict=True)]  # fmt: skip


def centroids(fp: np.ndarray) -> np.ndarray:
    """(K, 2) intensity-weighted (y, x) centres of (K, h, w) footprints (or `Footprints`)."""
    if hasattr(fp, "centroids"):
        return fp.centroids()
    k, h, w = fp.shape
    s = np.maximum(fp.reshape(k, -1).sum(axis=1), 1e-12)
    return np.stack([fp.sum(axis=2) @ np.arange(h) / s, fp.sum(axis=1) @ np.arange(w) / s], 1)


def owned(fit: dict, patch: Patch, index: int) -> list[Found]:
    """The components of a patch's fit whose centroid lies in the patch's core."""
    cen = (
        centroids(fit["A"]) + np.array([patch.ys[0], patch.xs[0]])
        if len(fit["A"])
        else np.zeros((0, 2))
    )
    out = []
    for k, (cy, cx) in enumerate(cen):
        if patch.core_y[0] <= cy < patch.core_y[1] and patch.core_x[0] <= cx < patch.core_x[1]:
            out.append(Found(fit["A"][k], patch, fit["raw"][k], fit["bg"][k], float(fit["r"][k]), np.array([cy, cx]), index))  # fmt: skip
    return out


def dedupe(found: list[Found], radius: float) -> list[Found]:
    """`found` without twins claimed by two patches (see the module docstring)."""
    if len(found) < 2:
        return list(found)
    cen = np.array([f.centre for f in found])
    d = np.hypot(*(cen[:, None, :] - cen[None, :, :]).transpose(2, 0, 1))
    order = sorted(range(len(found)), key=lambda i: -found[i].margin)
    drop: set[int] = set()
    for i in order:
        if i in drop:
            continue
        for j in np.flatnonzero(d[i] < radius / 2):
            j = int(j)
            if j == i or j in drop or found[i].index == found[j].index:
                continue
            shape = (max(found[i].patch.ys[1], found[j].patch.ys[1]), max(found[i].patch.xs[1], found[j].patch.xs[1]))  # fmt: skip
            a, b = found[i].full(shape), found[j].full(shape)
            cos = float((a * b).sum()) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)
            if cos > 0.5:
                drop.add(j)
    return [f for i, f in enumerate(found) if i not in drop]
