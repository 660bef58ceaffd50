"""Centerlines for every frame of a video, head first, with no frame missing.

1. Each mask's centerline (`centerline.mask_centerline`).
2. Frames where the worm touches itself (the mask encloses a loop, or the skeleton is much
   shorter than the body) cannot be read from the skeleton's longest path. A body crossing
   itself is walked through the crossing (`crossing`); otherwise the nearest good neighbour's
   centerline is fitted onto the mask (`centerline.fit_to_mask`), frame after frame, from both
   sides; the better fit wins. Such frames are flagged "coiled".
3. Every centerline must look like a worm's body (`shape_check`: about the video's median
   body length, no fold-backs); one that does not (a fit that slid or bunched up) is dropped.
4. Frames still without a centerline (an empty mask, a fit that does not stick, a dropped
   curve) are interpolated between their neighbours: flagged "filled" when the gap is at most
   `max_fill` frames, else "failed": the points then only stand in for the worm's position
   (velocity), and its posture (curvature, eigenworms) is NaN.
5. Head and tail are chosen for the whole video at once (`headtail.orient`), with the user's
   fixed frames (`head_points`: where the user put the head) as constraints and, when the
   video's frames are given, the look of the two ends (`appearance`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_catrack.core.behaviour.appearance import appearance_evidence, end_difference
from napari_catrack.core.behaviour.centerline import (
    curve_length,
    fit_to_mask,
    mask_centerline,
    resample,
)
from napari_catrack.core.behaviour.headtail import orient
from napari_catrack.core.behaviour.params import CenterlineParams
from napari_catrack.errors import InputError, check_cancelled

DENSE = 100  # working resolution along the body before the final resampling


STATUSES = ("ok", "coiled", "filled", "failed")
RELIABLE = ("ok", "edited")  # read from the frame's own skeleton, or drawn by the user


@dataclass
class CenterlineResult:
    """Per-frame centerlines (head first) and what is known about each frame."""

    points: np.ndarray  # (T, N, 2) y, x pixels
    status: np.ndarray  # (T,) "ok" / "coiled" / "filled"
    length_px: np.ndarray  # (T,)
    width_px: np.ndarray  # (T,) body width from the mask (NaN when unknown)
    # (T,) how sure the head/tail choice is: the cost of the best orientation with this
    # frame's head on the other end minus the best one's (`headtail.orient`'s margin, the
    # chain's cost units: 0 a toss-up, unbounded, 1e8 where the user set the head);
    # `head_confidence` in the frames report (docs/behaviour.md says its scale)
    head_margin: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def posture_ok(self) -> np.ndarray:
        """(T,) frames whose shape can be measured (curvature, eigenworms): not "failed"."""
        return posture_usable(self.status)

    @property
    def reliable(self) -> np.ndarray:
        """(T,) frames read from their own skeleton or drawn by the user (colour scales)."""
        return np.isin(np.asarray(self.status, str), RELIABLE)

    def table(self) -> pd.DataFrame:
        """`frame,point,y,x` (the CLI contract), head tip = point 0."""
        T, N, _ = self.points.shape
        frame, point = np.meshgrid(np.arange(T), np.arange(N), indexing="ij")
        return pd.DataFrame(
            {
                "frame": frame.ravel(),
                "point": point.ravel(),
                "y": self.points[..., 0].ravel(),
                "x": self.points[..., 1].ravel(),
            }
        )

    def frames_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "frame": np.arange(self.n_frames),
                "status": self.status,
                "length_px": self.length_px,
                "width_px": self.width_px,
                "head_confidence": self.head_margin,
            }
        )

    @classmethod
    def from_tables(cls, table: pd.DataFrame, frames: pd.DataFrame | None = None):
        """Rebuild from `frame,point,y,x` (+ the per-frame table), e.g. from a session or CSV."""
        points = points_from_table(table)
        T = len(points)
        if frames is not None and len(frames) == T:
            status = np.array(frames["status"].astype(str).to_numpy(), dtype=object)
            width = np.array(frames["width_px"].to_numpy(float))
            margin = np.array(frames["head_confidence"].to_numpy(float))
        else:
            status = np.full(T, "ok", dtype=object)
            width, margin = np.full(T, np.nan), np.full(T, np.nan)
        length = np.array([curve_length(p) for p in points])
        return cls(points, status, length, width, margin)


def points_from_table(table: pd.DataFrame) -> np.ndarray:
    """(T, N, 2) from a `frame,point,y,x` table; every frame needs the same points."""
    missing = [c for c in ("frame", "point", "y", "x") if c not in table.columns]
    if missing:
        raise InputError(f"a centerline table needs columns frame,point,y,x; missing {missing}")
    table = table.sort_values(["frame", "point"])
    frames = table["frame"].to_numpy(int)
    T = int(frames.max()) + 1 if len(frames) else 0
    counts = np.bincount(frames, minlength=T)
    if len(frames) == 0 or (counts != counts[0]).any() or counts[0] < 2:
        raise InputError(
            "the centerline table must give the same number (>= 2) of points for every frame "
            "0..last"
        )
    return np.array(table[["y", "x"]].to_numpy(float).reshape(T, counts[0], 2))  # writable


def posture_usable(status) -> np.ndarray:
    """(T,) True where a frame's centerline may give posture (every status but "failed")."""
    return np.asarray(status, str) != "failed"


def frame_centerline(mask: np.ndarray, smooth: float) -> tuple | None:
    """One frame's raw centerline as (dense points, widths, length, width, loop), or None."""
    raw = mask_centerline(np.asarray(mask).astype(bool), smooth=smooth)
    if raw is None:
        return None
    widths = np.interp(np.linspace(0, 1, DENSE), np.linspace(0, 1, len(raw.widths)), raw.widths)
    return resample(raw.points, DENSE), widths, raw.length, raw.width, raw.loop


def compute_centerlines(
    masks,
    params: CenterlineParams | None = None,
    *,
    head_points: dict[int, tuple[float, float]] | None = None,
    raw: list | None = None,
    frames=None,
    progress: Callable[..., None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> CenterlineResult:
    """Centerlines of every frame of `masks` (T, Y, X), head first; see the module docstring.

    head_points: {frame: (y, x)} where the user says the head is (fixed for head/tail).
    raw: the per-frame `frame_centerline` results when already computed (e.g. in parallel
    with the segmentation, `pipeline.segment_and_centerline`). frames: the video (T, Y, X),
    optional, for the head/tail cue from the look of the two ends.
    """
    params = params or CenterlineParams()
    T = len(masks)
    if T == 0:
        raise InputError("no frames: the mask video is empty")
    dense = np.full((T, DENSE, 2), np.nan)
    widths = np.full((T, DENSE), np.nan)
    width = np.full(T, np.nan)
    length = np.full(T, np.nan)
    loop = np.zeros(T, bool)
    # views of bool masks, not copies (a long video's masks are GBs)
    mask_list = [np.asarray(masks[t]).astype(bool, copy=False) for t in range(T)]
    for t in range(T):
        r = raw[t] if raw is not None else frame_centerline(mask_list[t], params.smooth)
        if r is not None:
            dense[t], widths[t], length[t], width[t], loop[t] = r
        if t % 25 == 0:
            check_cancelled(cancel, "centerline")
            if progress is not None:
                progress(t, 2 * T, "centerlines")

    def stage(fraction: float, what: str) -> None:  # the second half: whole-video steps
        if progress is not None:
            progress(int(fraction * 2 * T), 2 * T, what)

    stage(0.5, "centerlines")
    valid = np.isfinite(length)
    if not valid.any():
        raise InputError("every mask is empty: there is no worm to draw a centerline on")
    good = valid & ~loop
    all_touching = not good.any()
    if all_touching:  # the worm touches itself throughout: use its skeletons, flagged
        good = valid.copy()
    ref = float(np.median(length[good]))
    good &= (length >= params.min_length * ref) & (length <= 1.25 * ref)
    status = np.where(good, "coiled" if all_touching else "ok", "filled").astype(object)
    widths[~good] = np.nan
    # orient the good frames first, so fits and fills start from consistent neighbours
    curves = np.where(good[:, None, None], dense, np.nan)
    fixed = _fixed_states(curves, head_points)
    o = orient(curves, widths=widths, motion_weight=params.motion_weight,
               shape_weight=params.shape_weight, fixed=fixed)  # fmt: skip
    curves[o.reverse] = curves[o.reverse, ::-1]
    widths[o.reverse] = widths[o.reverse, ::-1]
    stage(0.55, "head/tail")
    _crossings(curves, status, mask_list, good, ref, np.nanmedian(width[good]), params.smooth)
    steps = _fit_runs(curves, status, mask_list, np.isfinite(curves).all(axis=(1, 2)), ref,
                      params.max_fit_residual)  # fmt: skip
    check_cancelled(cancel, "centerline")
    stage(0.65, "coils and gaps")
    _drop_implausible(curves, status, steps, ref)
    _fill_runs(curves, status, params.max_fill, ref)
    # final orientation over everything (fits and fills carry their neighbours' orientation;
    # only frames read straight from their skeleton feed the crawling-wave cue)
    fixed = _fixed_states(curves, head_points)
    look = _appearance(
        frames,
        mask_list,
        curves,
        status == "ok",
        params,
        cancel,
        lambda f: stage(0.7 + 0.25 * f, "head/tail look"),
    )
    o = orient(curves, widths=widths, motion_weight=params.motion_weight,
               shape_weight=params.shape_weight, fixed=fixed, reliable=status == "ok",
               fit_steps=steps, appearance=look,
               appearance_weight=params.appearance_weight)  # fmt: skip
    curves[o.reverse] = curves[o.reverse, ::-1]
    points = np.stack([resample(c, params.points) for c in curves])
    lengths = np.array([curve_length(c) for c in points])
    if progress is not None:
        progress(2 * T, 2 * T, "centerlines")
    return CenterlineResult(points, status.astype(str), lengths, width, o.margin,
                            params=params.to_dict())  # fmt: skip


def _appearance(frames, masks, curves, usable, params, cancel, done=None) -> np.ndarray | None:
    """Per-frame head evidence from the look of the ends (None without frames or weight);
    `done(fraction)` is told how far it got (it reads the whole video again)."""
    if frames is None or params.appearance_weight <= 0:
        return None
    from napari_catrack.io.lazy import frame_blocks

    frames = frame_blocks(frames)  # a long video's dask array: blocks, not one graph per frame
    if len(frames) != len(masks) or tuple(np.shape(frames[0])) != masks[0].shape:
        raise InputError(f"the video ({len(frames)} frames of {tuple(np.shape(frames[0]))}) "
                         f"does not match the masks ({len(masks)} of {masks[0].shape}): give "
                         "the video the masks were made from")  # fmt: skip
    diffs = np.full(len(masks), np.nan)
    for t in np.flatnonzero(usable):
        diffs[t] = end_difference(frames[t], masks[t], curves[t])
        if t % 50 == 0:
            check_cancelled(cancel, "centerline")
            if done is not None:
                done(t / len(masks))
    return appearance_evidence(diffs, usable)


def _fixed_states(curves: np.ndarray, head_points) -> dict[int, bool]:
    """Frames where the user placed the head: reverse if the head is nearer the last point."""
    fixed: dict[int, bool] = {}
    for t, (y, x) in (head_points or {}).items():
        t = int(t)
        if 0 <= t < len(curves) and np.isfinite(curves[t]).all():
            c = curves[t]
            fixed[t] = bool(np.hypot(*(c[-1] - (y, x))) < np.hypot(*(c[0] - (y, x))))
    return fixed


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True in a boolean array."""
    d = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]))


def _crossings(curves, status, masks, good, ref_length, width, smooth) -> None:
    """Frames where the body crosses itself: the skeleton walked through its crossing."""
    from napari_catrack.core.behaviour.centerline import crossing_centerline

    for t in np.flatnonzero(~good):
        if not masks[t].any():
            continue
        raw = crossing_centerline(masks[t], width, smooth=smooth)
        if raw is not None and 0.85 * ref_length <= raw.length <= 1.15 * ref_length:
            curves[t] = resample(raw.points, DENSE)
            status[t] = "coiled"


def _fit_runs(curves, status, masks, good, ref_length, max_residual) -> np.ndarray:
    """Fit each run of bad frames from both neighbours, frame by frame; returns the fit steps.

    The forward pass fits frame a from a - 1, a + 1 from a, ...; the backward pass starts at
    the run's right neighbour. The run is split at ONE hand-over frame (forward before it,
    backward after it) chosen for the smallest total residual, so a pass is never interrupted
    by the other. Neither pass is reversed here: which end is the head is decided once, over
    the whole video, by `orient`. (This used to keep the better fit frame by frame and reverse
    the backward pass when its fits ran the other way than the forward pass's; where a fit
    had slid along a coil that comparison was wrong and reversed a whole stretch, the cause of
    most head/tail flips on the synthetic benchmark.)
    Returns steps (T,): steps[t] = n > 0 when frames t and t - 1 were fitted one from the other,
    n fits away from the pass's start (`orient` trusts the point order of the first few).
    """
    T = len(curves)
    steps = np.zeros(T, int)
    for a, b in _runs(~good):
        passes = []
        for start, frames in ((a - 1, range(a, b)), (b, range(b - 1, a - 1, -1))):
            fits: dict[int, tuple[np.ndarray, float]] = {}
            if 0 <= start < T and good[start]:
                prev, prev_mask = curves[start], masks[start]
                for t in frames:
                    if not masks[t].any():
                        break
                    fitted, res = fit_to_mask(
                        prev, masks[t], length=ref_length, previous_mask=prev_mask
                    )
                    if res > max_residual:
                        break
                    fits[t] = (fitted, res)
                    prev, prev_mask = fitted, masks[t]
            passes.append(fits)
        forward, backward = passes
        k = _hand_over(a, b, forward, backward)
        for t in range(a, b):
            chosen = forward.get(t) if t < k else backward.get(t)
            if chosen is None:
                continue
            curves[t] = chosen[0]
            status[t] = "coiled"
            if t < k:  # fitted from t - 1
                steps[t] = t - a + 1
            elif t + 1 < T:  # fitted from t + 1
                steps[t + 1] = b - t
    return steps


def _hand_over(a: int, b: int, forward: dict, backward: dict) -> int:
    """First frame of the backward pass: frames a..k-1 forward, k..b-1 backward.

    Over the splits both passes can cover, the one with the smallest summed residual; where
    the passes do not meet, each keeps what it fitted (the gap is filled later).
    """
    f_end = a + len(forward)  # forward covers [a, f_end)
    b_start = b - len(backward)  # backward covers [b_start, b)
    if f_end < b_start:
        return f_end if forward else b_start
    res_f = np.cumsum([0.0] + [forward[t][1] for t in range(a, f_end)])
    res_b = np.cumsum([0.0] + [backward[t][1] for t in range(b - 1, b_start - 1, -1)])
    best, best_cost = b_start, np.inf
    for k in range(b_start, f_end + 1):
        cost = res_f[k - a] + res_b[b - k]
        if cost < best_cost:
            best, best_cost = k, cost
    return best


def _drop_implausible(curves, status, steps, ref_length) -> None:
    """Curves that are not a worm's body (`shape_check.implausible`) are removed (NaN), to be
    filled; their fit links (`steps`) go with them. When no frame would be left, the curves
    stay and every frame is marked "failed"."""
    from napari_catrack.core.behaviour.shape_check import implausible

    has = np.isfinite(curves).all(axis=(1, 2))
    bad = np.array([bool(h and implausible(c, ref_length)) for c, h in zip(curves, has)])
    if not bad.any():
        return
    if not (has & ~bad).any():
        status[bad] = "failed"
        return
    for t in np.flatnonzero(bad):
        curves[t] = np.nan
        steps[t] = 0
        if t + 1 < len(steps):
            steps[t + 1] = 0


def _fill_runs(curves, status, max_fill: int, ref_length: float) -> None:
    """Interpolate (or hold) the frames that still have no centerline: "filled" for runs of
    at most `max_fill` frames whose interpolation still looks like a body, else "failed" (a
    stand-in for the position only)."""
    from napari_catrack.core.behaviour.shape_check import implausible

    missing = ~np.isfinite(curves).all(axis=(1, 2))
    T = len(curves)
    for a, b in _runs(missing):
        left = curves[a - 1] if a > 0 else None
        right = curves[b] if b < T else None
        if right is not None and left is not None:
            if np.abs(right[::-1] - left).sum() < np.abs(right - left).sum():
                right = right[::-1]
        for t in range(a, b):
            if left is not None and right is not None:
                w = (t - a + 1) / (b - a + 1)
                curves[t] = (1 - w) * left + w * right
            else:
                curves[t] = left if left is not None else right
            short = b - a <= max_fill and not implausible(curves[t], ref_length)
            status[t] = "filled" if short else "failed"
