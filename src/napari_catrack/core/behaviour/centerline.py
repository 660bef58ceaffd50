"""The worm's centerline in one frame: skeleton -> longest path -> tips -> smoothed spline.

`mask_centerline` does one mask: the skeleton (scikit-image), its longest path (two Dijkstra
sweeps over the pixel graph, scipy.sparse.csgraph, so spurs never win), the path extended along
its end tangents to the real tips of the mask (a skeleton stops half a body width short of each
tip), a smoothing spline through it and N points evenly spaced along the whole body.

A worm that touches or crosses itself has no skeleton that follows its body: `fit_to_mask`
then deforms a neighbouring frame's centerline onto the mask (an active contour climbing the
mask's distance map, keeping the body length and smoothness), which follows coils.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.interpolate import splev, splprep
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from napari_catrack.core.behaviour.masks import skeleton_tips

_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


@dataclass
class RawCenterline:
    """A centerline from one mask, before head/tail orientation."""

    points: np.ndarray  # (M, 2) dense path, ~1 px spacing, tip to tip (y, x)
    length: float  # px along the smoothed curve
    loop: bool  # the mask encloses background (a coil's loop)
    width: float  # body width (px): median chord across the middle 80 % (`body_width`)
    widths: np.ndarray  # (M,) body width at each point (twice the distance map)


def resample(points: np.ndarray, n: int) -> np.ndarray:
    """n points evenly spaced by arc length along a polyline (first and last kept)."""
    points = np.asarray(points, dtype=float)
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] <= 0:
        return np.repeat(points[:1], n, axis=0)
    a = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(a, arc, points[:, 0]), np.interp(a, arc, points[:, 1])], axis=1)


def curve_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(np.asarray(points, float), axis=0), axis=1).sum())


def mask_centerline(mask: np.ndarray, *, smooth: float = 0.15) -> RawCenterline | None:
    """Centerline of a worm mask (None for an empty or dot-sized mask).

    `smooth` scales the spline's smoothing with the body width: the curve may deviate from the
    skeleton by about `smooth` x width / 4 px, which removes the staircase of pixel skeletons
    without cutting bends.
    """
    from skimage.morphology import skeletonize

    cropped = _crop(mask)
    if cropped is None:
        return None
    crop, (y0, x0) = cropped
    dist = ndi.distance_transform_edt(crop)
    skel = skeletonize(crop)
    path = _longest_path(skel)
    if path is None or len(path) < 2:
        return None
    return _finish(path, crop, dist, (y0, x0), smooth)


def _crop(mask: np.ndarray, pad: int = 2):
    """(the mask cut to its pixels + a margin, (y0, x0) of the cut), or None for < 9 pixels."""
    mask = np.asarray(mask, bool)
    if mask.sum() < 9:
        return None
    ys, xs = np.nonzero(mask)
    y0, x0 = max(ys.min() - pad, 0), max(xs.min() - pad, 0)
    return mask[y0 : ys.max() + pad + 1, x0 : xs.max() + pad + 1], (y0, x0)


def _finish(path, crop, dist, origin, smooth, *, extend_last: bool = True) -> RawCenterline:
    """A pixel path through a mask crop -> tips, spline, widths, in frame coordinates.

    extend_last False: the path's last end is not a free tip (a tip pressed against the body,
    `crossing`), so it is not extended to the mask's edge."""
    holes = ndi.binary_fill_holes(crop) & ~crop
    loop = bool(holes.sum() > 4)  # skeletons keep topology: a cycle <=> a hole
    ip = np.rint(path).astype(int)
    scale = 2.0 * float(np.median(dist[ip[:, 0], ip[:, 1]]))  # the smoothing's width scale
    dense = _extend_to_tips(path.astype(float), dist, extend_last=extend_last)
    curve = _smooth_spline(dense, smooth * scale / 4.0)
    widths = 2 * ndi.map_coordinates(dist, curve.T, order=1, mode="nearest")
    width = body_width(crop, curve, reach=float(dist.max()) + 2.0)
    curve += origin
    return RawCenterline(curve, curve_length(curve), loop, width if width > 0 else scale, widths)


def cross_sections(
    mask: np.ndarray, curve: np.ndarray, reach: float, step: float = 0.1
) -> np.ndarray:
    """(M,) the mask's width (px) across `curve` (M, 2) at each point, along its normal.

    Each chord runs from the point outwards on both sides to where the mask, bilinearly
    interpolated between pixel centres, falls below one half (its edge, halfway between the
    last pixel in and the first out), found to a fraction of `step`; NaN where the point is not
    in the mask or the edge lies beyond `reach` px. Unlike twice a distance map's value, which
    takes only the values sqrt(k) (a worm 9.5 px wide read 8.94 or 10.0), this is sub-pixel."""
    curve = np.asarray(curve, float)
    if len(curve) < 2:
        return np.full(len(curve), np.nan)
    tangent = np.gradient(curve, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1), 1e-12)[:, None]
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    out = np.arange(0.0, reach + step, step)  # distances from the point, on each side
    half = []
    for sign in (1.0, -1.0):
        pts = curve[:, None, :] + sign * out[None, :, None] * normal[:, None, :]
        prof = ndi.map_coordinates(mask.astype(np.float32), pts.reshape(-1, 2).T, order=1,
                                   mode="constant").reshape(len(curve), len(out))  # fmt: skip
        below = prof < 0.5
        j = np.argmax(below, axis=1)  # the first sample outside (0: the point is outside)
        found = below.any(axis=1) & (j > 0)
        j = np.maximum(j, 1)
        rows = np.arange(len(curve))
        p_in, p_out = prof[rows, j - 1], prof[rows, j]
        edge = out[j - 1] + (p_in - 0.5) / np.maximum(p_in - p_out, 1e-12) * step
        half.append(np.where(found, edge, np.nan))
    return half[0] + half[1]


def body_width(mask: np.ndarray, curve: np.ndarray, reach: float) -> float:
    """The body's width (px): the median `cross_sections` chord over the middle 80 % of the
    curve (the tapering tips left out); NaN when none could be measured."""
    n = len(curve)
    chords = cross_sections(mask, curve[int(0.1 * n) : int(np.ceil(0.9 * n))], reach)
    chords = chords[np.isfinite(chords)]
    return float(np.median(chords)) if len(chords) else float("nan")


def crossing_centerline(mask: np.ndarray, width: float, *, smooth: float = 0.15):
    """Centerline of a worm crossing itself (`crossing.crossing_path`), or None."""
    from napari_catrack.core.behaviour.crossing import crossing_path

    cropped = _crop(mask)
    if cropped is None:
        return None
    crop, (y0, x0) = cropped
    found = crossing_path(crop, width)
    if found is None or len(found[0]) < 2:
        return None
    path, pressed = found
    return _finish(path, crop, ndi.distance_transform_edt(crop), (y0, x0), smooth,
                   extend_last=not pressed)  # fmt: skip


def _longest_path(skel: np.ndarray) -> np.ndarray | None:
    """The longest shortest path through the skeleton's largest piece (pixel (y, x) rows).

    Two Dijkstra sweeps on the 8-connected pixel graph (the farthest pixel from any pixel is
    one end of the longest path; the farthest from that end is the other), so side spurs never
    win. Each undirected edge is entered once (half of the 8 offsets).
    """
    ys, xs = np.nonzero(skel)
    n = len(ys)
    if n == 0:
        return None
    if n == 1:
        return np.array([[ys[0], xs[0]]])
    index = np.full(skel.shape, -1, np.int64)
    index[ys, xs] = np.arange(n)
    h, w = skel.shape
    rows, cols, weights = [], [], []
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ny, nx = ys + dy, xs + dx
        ok = (ny < h) & (nx >= 0) & (nx < w)
        nb = np.full(n, -1)
        nb[ok] = index[ny[ok], nx[ok]]
        good = nb >= 0
        rows.append(np.flatnonzero(good))
        cols.append(nb[good])
        weights.append(np.full(int(good.sum()), np.hypot(dy, dx)))
    r, c, wt = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
    graph = coo_matrix((wt, (r, c)), shape=(n, n)).tocsr()
    d0 = dijkstra(graph, directed=False, indices=0)
    reach = np.isfinite(d0)
    if reach.sum() < 0.5 * n:  # pixel 0 sits on a small piece: start in the largest one
        _, comp = connected_components(graph, directed=False)
        biggest = np.flatnonzero(comp == np.argmax(np.bincount(comp)))
        d0 = dijkstra(graph, directed=False, indices=int(biggest[0]))
        reach = np.isfinite(d0)
    a = int(np.argmax(np.where(reach, d0, -1)))
    da, pred = dijkstra(graph, directed=False, indices=a, return_predecessors=True)
    b = int(np.argmax(np.where(np.isfinite(da), da, -1)))
    order = [b]
    while order[-1] != a:
        order.append(int(pred[order[-1]]))
    return np.stack([ys[order], xs[order]], axis=1)


def _extend_to_tips(path: np.ndarray, dist: np.ndarray, *, extend_last: bool = True):
    """Continue both ends (the first only, without `extend_last`) along their tangent until
    the mask ends (sub-pixel, 0.25 px steps)."""
    soft = ndi.map_coordinates
    inside = (dist > 0).astype(np.float32)
    pts = resample(path, max(int(curve_length(path)), 2) + 1)

    def tip(end: np.ndarray, before: np.ndarray) -> np.ndarray:
        direction = end - before
        norm = np.linalg.norm(direction)
        if norm == 0:
            return np.zeros((0, 2))
        n_steps = int(dist.max() * 2 + 8) * 4
        steps = end + 0.25 * np.arange(1, n_steps + 1)[:, None] * (direction / norm)
        vals = soft(inside, steps.T, order=1, mode="constant")
        out = np.nonzero(vals < 0.5)[0]
        return steps[: out[0] if len(out) else n_steps]

    k = min(len(pts) - 1, max(2, round(dist.max())))
    head = tip(pts[0].copy(), pts[k].copy())[::-1]
    tail = tip(pts[-1].copy(), pts[-1 - k].copy()) if extend_last else np.zeros((0, 2))
    return np.concatenate([head, pts, tail])


def _smooth_spline(points: np.ndarray, tolerance: float) -> np.ndarray:
    """A cubic smoothing spline through the points, sampled every ~0.5 px."""
    pts = resample(points, max(int(curve_length(points)), 3) + 1)
    if len(pts) < 5:
        return pts
    keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-6])
    pts = pts[keep]
    try:
        tck, _ = splprep([pts[:, 0], pts[:, 1]], s=len(pts) * tolerance**2, k=3)
    except (ValueError, TypeError):  # degenerate (straight, very short) paths
        return pts
    u = np.linspace(0.0, 1.0, max(2 * len(pts), 10))
    y, x = splev(u, tck)
    return np.stack([y, x], axis=1)


def fit_to_mask(
    start: np.ndarray,
    mask: np.ndarray,
    *,
    length: float,
    previous_mask: np.ndarray | None = None,
    iterations: int = 40,
) -> tuple[np.ndarray, float]:
    """Deform a centerline (a neighbouring frame's) onto a mask; returns (points, residual).

    An active contour: each iteration moves the points up the mask's smoothed distance map
    (towards the medial axis), pulls the two ends towards the nearest tips of the mask's
    skeleton, relaxes the points towards their neighbours (smoothness) and restores equal
    spacing at the given body length. The whole curve first follows the shift of the mask
    between the two frames. The residual is the mean distance (px) of the points from the
    mask's medial axis, large when the worm cannot be followed.
    """
    mask = np.asarray(mask, bool)
    n = len(start)
    pts = np.asarray(start, dtype=float).copy()
    if not mask.any():
        return pts, np.inf
    if previous_mask is not None and previous_mask.any():
        pts += np.array(ndi.center_of_mass(mask)) - np.array(ndi.center_of_mass(previous_mask))
    # work on a crop around the mask and the curve
    ys, xs = np.nonzero(mask)
    pad = 6
    y0 = int(max(min(ys.min(), pts[:, 0].min()) - pad, 0))
    x0 = int(max(min(xs.min(), pts[:, 1].min()) - pad, 0))
    y1 = int(max(ys.max(), pts[:, 0].max()) + pad + 1)
    x1 = int(max(xs.max(), pts[:, 1].max()) + pad + 1)
    fitted, res = _fit_crop(pts - (y0, x0), mask[y0:y1, x0:x1], length, n, iterations)
    return fitted + np.array([y0, x0], float), res


def _fit_crop(pts, mask, length, n, iterations):
    from skimage.morphology import skeletonize

    inside = ndi.distance_transform_edt(mask).astype(np.float32)
    outside = ndi.distance_transform_edt(~mask).astype(np.float32)
    field_ = ndi.gaussian_filter(inside - outside, 1.0)
    gy, gx = np.gradient(field_)
    skel = skeletonize(mask)
    tips = skeleton_tips(skel).astype(float)
    seg = length / (n - 1)
    for _ in range(iterations):
        coords = pts.T
        g = np.stack(
            [
                ndi.map_coordinates(gy, coords, order=1, mode="nearest"),
                ndi.map_coordinates(gx, coords, order=1, mode="nearest"),
            ],
            axis=1,
        )
        pts += 0.4 * g
        if len(tips):
            for end in (0, -1):
                d = np.linalg.norm(tips - pts[end], axis=1)
                k = int(np.argmin(d))
                if d[k] < 0.25 * length:
                    pts[end] += 0.3 * (tips[k] - pts[end])
        lap = np.zeros_like(pts)
        lap[1:-1] = pts[:-2] + pts[2:] - 2 * pts[1:-1]
        pts += 0.1 * lap
        for _ in range(10):  # spacing constraint (position-based dynamics)
            d = np.diff(pts, axis=0)
            norm = np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
            corr = 0.5 * (norm - seg) * d / norm
            pts[:-1] += corr
            pts[1:] -= corr
    ridge = ndi.distance_transform_edt(~skel).astype(np.float32)
    res = ndi.map_coordinates(ridge, pts.T, order=1, mode="nearest")
    return pts, float(np.mean(res))
