"""Scores against ground truth, shared by the demo, the benchmarks and the tests.

- mask IoU per frame;
- centerline error per frame: mean distance between corresponding points after resampling both
  curves to the same number of points evenly along their length (head first), in px; a frame
  whose reversed curve is closer counts as a head/tail flip (its error is the reversed one);
- curve distance: the mean distance from each true point to the nearest point of ours, which
  ignores where along the body a point sits (used when the reference does not reach the tips);
- velocity: Pearson r of the signed speed with the true one, and the fraction of moving frames
  whose direction is right;
- bouts: onsets of called bouts matched one-to-one to planted onsets within a tolerance
  (reversals: where the synthetic worm truly starts backing in each of the schedule's `reverse`
  episodes; pauses: where the true speed drops under the bout rules' pause speed for at least
  their minimum bout duration; turns: the starts of runs of truly coiled frames), giving
  precision, recall and the onset errors (`bout_onset_scores`; `catrack demo` and
  benchmarks/bench_bouts.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.behaviour.centerline import resample
from napari_catrack.core.behaviour.params import BoutParams


def derived_mask(
    centerline_yx: np.ndarray, widths: np.ndarray, shape: tuple[int, int], shift=(0.0, 0.0)
) -> np.ndarray:
    """A worm mask from a labelled centerline and body widths (WormPose-style labels).

    The union of discs of diameter `width` centred on the centerline interpolated every 0.25 px,
    rasterised at pixel centres (a k-d tree gives each pixel its nearest centerline point).
    """
    from scipy.spatial import cKDTree

    yx = np.asarray(centerline_yx, float) + np.asarray(shift, float)
    seg = np.linalg.norm(np.diff(yx, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    a = np.linspace(0, arc[-1], int(arc[-1] * 4) + 2)
    pts = np.stack([np.interp(a, arc, yx[:, 0]), np.interp(a, arc, yx[:, 1])], axis=1)
    rad = np.interp(a, arc, np.asarray(widths, float)) / 2
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d, k = cKDTree(pts).query(np.stack([yy.ravel(), xx.ravel()], axis=1))
    return (d <= rad[k]).reshape(shape)


def wormpose_mask(
    centerline_yx: np.ndarray, widths: np.ndarray, shape: tuple[int, int], shift=(0.0, 0.0)
) -> np.ndarray:
    """A worm mask drawn with WormPose's own geometry (its `worm_drawing.make_draw_worm_body`).

    WormPose renders a body from its labels as quadrilaterals between consecutive centerline
    points, each point offset by half its `width` (a full width, in px) along the local normal
    (from the neighbouring points), plus a disc of radius width / 2 at each end. Here the
    corners stay at their float positions and pixels count when their centres fall inside
    (WormPose rounds the corners to whole pixels for its uint8 canvas, a shift of up to 1 px
    that is a drawing artefact, not part of the label).
    """
    from skimage.draw import disk, polygon

    yx = np.asarray(centerline_yx, float) + np.asarray(shift, float)
    half = np.asarray(widths, float) / 2
    tangent = np.gradient(yx, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    left, right = yx + half[:, None] * normal, yx - half[:, None] * normal
    out = np.zeros(shape, bool)
    for i in range(len(yx) - 1):
        quad = np.stack([left[i], left[i + 1], right[i + 1], right[i]])
        out[polygon(quad[:, 0], quad[:, 1], shape)] = True
    for k in (0, -1):
        out[disk(tuple(yx[k]), half[k], shape=shape)] = True
    return out


def mask_iou(masks: np.ndarray, truth: np.ndarray) -> np.ndarray:
    m, t = np.asarray(masks, bool), np.asarray(truth, bool)
    inter = (m & t).reshape(len(m), -1).sum(axis=1)
    union = (m | t).reshape(len(m), -1).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def centerline_errors(points: np.ndarray, truth) -> tuple[np.ndarray, np.ndarray]:
    """(error px, flipped bool) per frame; `truth` is (T, K, 2) or a list of curves."""
    pts = np.asarray(points, float)
    n = pts.shape[1]
    tru = np.stack([resample(c, n) for c in truth])
    same = np.linalg.norm(pts - tru, axis=2).mean(axis=1)
    rev = np.linalg.norm(pts[:, ::-1] - tru, axis=2).mean(axis=1)
    flipped = rev < same
    return np.where(flipped, rev, same), flipped


def curve_distance(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean distance (px) from each reference point to the nearest point of a dense curve."""
    dense = resample(points, max(200, 4 * len(points)))
    d = np.linalg.norm(np.asarray(reference)[:, None] - dense[None], axis=2)
    return float(d.min(axis=1).mean())


def velocity_scores(signed: np.ndarray, direction: np.ndarray, true_signed, true_direction):
    """(r with the true signed speed, fraction of moving frames with the right direction)."""
    s = np.nan_to_num(np.asarray(signed, float))
    r = float(np.corrcoef(s, np.asarray(true_signed, float))[0, 1])
    moving = np.asarray(true_direction) != 0
    found = pd.to_numeric(pd.Series(direction), errors="coerce").to_numpy(float, na_value=np.nan)
    right = float(np.mean(found[moving] == np.asarray(true_direction)[moving]))  # unknown: wrong
    return r, right


#: the planted truth each scored bout state is matched to (`bout_onset_scores`)
SCORED_BOUTS = ("reversal", "turn")


def onsets(mask) -> np.ndarray:
    """The frames where each run of True in `mask` starts."""
    m = np.asarray(mask, bool)
    return np.flatnonzero(m & ~np.r_[False, m[:-1]])


def match_onsets(pred, true, tol) -> tuple[int, list]:
    """(hits, |errors| in frames) of a greedy one-to-one match within `tol` frames: each called
    onset takes the nearest planted one still free."""
    left, errs = list(true), []
    for p in pred:
        near = [t for t in left if abs(t - p) <= tol]
        if near:
            t = min(near, key=lambda t: abs(t - p))
            left.remove(t)
            errs.append(abs(t - p))
    return len(errs), errs


def still_onsets(speed, fps: float, params: BoutParams | None = None) -> np.ndarray:
    """The frames where the worm truly pauses: the first frame of each run of true `speed`
    (µm/s, per frame) under the bout rules' pause speed (`BoutParams.pause_um_s`) that lasts at
    least their minimum bout duration (`BoutParams.min_bout_s`, a run of n frames lasting n /
    `fps`, as `bouts.compute_bouts` measures a bout). The same dataclass as the rules: a pause
    the rules could never call (shorter, or never that slow) is not planted."""
    params = params or BoutParams()
    still = np.asarray(speed, float) < params.pause_um_s  # NaN: not still
    edges = np.diff(np.r_[0, still.astype(int), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # stop: one past
    long = (stops - starts) / fps >= params.min_bout_s - 1e-9
    return starts[long]


def planted_onsets(
    state: np.ndarray,
    coiled: np.ndarray,
    direction=None,
    *,
    speed=None,
    fps: float | None = None,
    params: BoutParams | None = None,
) -> dict:
    """The planted onsets (frames) per scored bout state. Reversal: where the worm truly starts
    moving backward, the first frame of each run of true `direction` < 0 that holds a "reverse"
    frame of the schedule (the generator smooths the speed across the schedule's switches, so
    after a pause the worm is already backing 0.4 s before the "reverse" label; without
    `direction`, the label's starts); pause: where the true `speed` (µm/s per frame, at `fps`)
    stays under the pause speed of `params` for at least its minimum bout duration
    (`still_onsets`; the schedule's "pause" label leads the true stop by the 0.25 s
    deceleration, 5-6 frames at 15 fps, and its default 0.4-1 s pauses are still for 0.1-0.2 s
    only; without `speed`, the label's starts); turn: where `coiled` starts."""
    state = np.asarray(state)
    reverse = state == "reverse"
    if direction is not None:
        backing = np.asarray(direction, float) < 0
        starts = onsets(backing)
        ends = np.r_[starts[1:], len(backing)]
        reversal = np.array(
            [a for a, b in zip(starts, ends) if (reverse[a:b] & backing[a:b]).any()], int
        )
    else:
        reversal = onsets(reverse)
    if speed is not None:
        if fps is None:
            raise ValueError("planted pauses from the true speed need its fps")
        pause = still_onsets(speed, fps, params)
    else:
        pause = onsets(state == "pause")
    return {
        "reversal": reversal,
        "pause": pause,
        "turn": onsets(np.asarray(coiled, bool)),
    }


def bout_onset_scores(
    bouts: pd.DataFrame,
    state: np.ndarray,
    coiled: np.ndarray,
    fps: float,
    tolerance_s=0.5,
    states=SCORED_BOUTS,
    direction=None,
    speed=None,
    params: BoutParams | None = None,
) -> dict:
    """Per scored bout state (`states`, default `SCORED_BOUTS`): the planted onsets
    (`planted_onsets`: reversal where the worm truly starts backing when the true `direction`
    is given; pause where the true `speed` stays under the pause speed of `params`, the bout
    rules' `BoutParams`, for their minimum bout duration, when given, else where the schedule
    turns "pause"; turn where `coiled` starts), the called ones (`start_frame` of the bouts of
    that state), how many matched within `tolerance_s` (`match_onsets`), their onset errors in
    frames, precision (matched / called) and recall (matched / planted; None when there is
    nothing to divide by)."""
    tol = round(tolerance_s * fps)
    planted = planted_onsets(state, coiled, direction, speed=speed, fps=fps, params=params)
    out = {}
    for name in states:
        true = planted[name]
        pred = bouts.loc[bouts["state"] == name, "start_frame"].to_numpy()
        hits, errs = match_onsets(pred, true, tol)
        out[name] = {"planted": len(true), "called": len(pred), "matched": hits,
                     "errors_frames": [int(e) for e in errs],
                     "precision": hits / len(pred) if len(pred) else None,
                     "recall": hits / len(true) if len(true) else None}  # fmt: skip
    return out
