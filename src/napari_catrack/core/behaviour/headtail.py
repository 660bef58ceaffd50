"""Which end is the head, consistently through the whole video.

A two-state chain per frame (the centerline as given, or reversed), solved exactly with the
Viterbi algorithm over:
- continuity: consecutive centerlines (centroids aligned, so stage jumps do not matter) must
  match point for point; keeping or swapping the ends costs their mismatch;
- the crawling wave: during forward crawling the body wave travels from head to tail, and
  worms crawl forwards most of the time, so within a stretch of frames the end where the waves
  start is the head (the lag between consecutive curvature profiles; stage-independent);
- the tail taper: the tail ends in a point, the head is blunt (a weaker cue);
- the ends' look in the image (`appearance`): which end is lighter, learnt from the video,
  when the frames are at hand;
- the user's word: frames where the user set the head are fixed states, and continuity carries
  them to the neighbours (as anchors do for tracking).
The per-frame margin (difference of the min-marginals of the two states) says how sure the
choice is; small margins are listed as doubtful frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Orientation:
    """Result of `orient`: reverse[t] means point 0 of the given curve is the tail."""

    reverse: np.ndarray  # (T,) bool
    margin: np.ndarray  # (T,) >= 0, larger = surer; NaN for frames without a curve


def _centred(c: np.ndarray) -> np.ndarray:
    return c - c.mean(axis=0)


def _curvature(c: np.ndarray) -> np.ndarray:
    d = np.diff(c, axis=0)
    ang = np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
    return np.diff(ang)


def wave_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Lag (points, + = towards the end of the curve) by which b's bends follow a's.

    Positive when the curvature pattern moved from the first point towards the last between
    the two frames: crawling forwards if point 0 is the head. Normalised cross-correlation over
    the overlap at every lag (one `np.correlate` plus running sums), refined to a fraction of a
    point by a parabola through the peak; 0 when nothing correlates (r < 0.3).
    """
    ka, kb = _curvature(a), _curvature(b)
    ka, kb = ka - ka.mean(), kb - kb.mean()
    n = len(ka)
    max_lag = min(max_lag, n - 2)
    full = np.correlate(kb, ka, mode="full")  # index n - 1 + lag: sum ka[i] kb[i + lag]
    lags = np.arange(-max_lag, max_lag + 1)
    num = full[n - 1 + lags]
    ca, cb = np.concatenate([[0], np.cumsum(ka * ka)]), np.concatenate([[0], np.cumsum(kb * kb)])
    # overlap: lag >= 0 uses ka[0:n-lag], kb[lag:n]; lag < 0 uses ka[-lag:n], kb[0:n+lag]
    sa = np.where(lags >= 0, ca[n - np.maximum(lags, 0)], ca[n] - ca[np.maximum(-lags, 0)])
    sb = np.where(lags >= 0, cb[n] - cb[np.maximum(lags, 0)], cb[n + np.minimum(lags, 0)])
    scores = num / np.maximum(np.sqrt(sa * sb), 1e-12)
    k = int(np.argmax(scores))
    if scores[k] < 0.3:
        return 0.0
    best = float(lags[k])
    if 0 < k < len(lags) - 1:
        s0, s1, s2 = scores[k - 1], scores[k], scores[k + 1]
        den = s0 - 2 * s1 + s2
        if den < 0:
            best += 0.5 * (s0 - s2) / den
    return best


def taper(widths: np.ndarray) -> float:
    """(width near point 0 - width near the last point) / max width: > 0 if point 0 is blunter."""
    w = np.asarray(widths, float)
    if not np.isfinite(w).all() or w.max() <= 0:
        return 0.0
    k = max(2, len(w) // 10)
    return float((w[1 : k + 1].mean() - w[-k - 1 : -1].mean()) / w.max())


def orient(
    curves: np.ndarray,
    *,
    widths: np.ndarray | None = None,
    motion_weight: float = 1.0,
    shape_weight: float = 0.3,
    fixed: dict[int, bool] | None = None,
    reliable: np.ndarray | None = None,
    fit_steps: np.ndarray | None = None,
    trusted_fits: int = 10,
    link_cost: float = 25.0,
    appearance: np.ndarray | None = None,
    appearance_weight: float = 1.0,
) -> Orientation:
    """Choose per frame whether to reverse each curve so point 0 is the head throughout.

    curves: (T, N, 2), rows of NaN for frames without a centerline. widths: (T, N) body widths
    (optional, for the taper cue). fixed: {frame: reverse} set by the user. reliable: (T,) the
    frames whose shape is trusted for the crawling-wave cue (fitted coils are not: their
    bends come from the fit); continuity still links every frame. fit_steps: (T,) > 0 where
    frame t's curve and frame t - 1's were fitted one from the other (a coil followed by
    `centerline.fit_to_mask`), counting fits from the last frame read from its own skeleton.
    A fit keeps its start's point order, so for the first `trusted_fits` fits swapping the
    ends costs `link_cost` (about eight frames of strong crawling-wave evidence) whatever the
    shapes say (a coil makes the shape comparison ambiguous). Further on the fit may have slid
    along the coil (its ends are pulled to the nearest skeleton tips), so the shapes decide.
    appearance: (T,) evidence that the curve's point 0 is the head as given
    (`appearance.appearance_evidence`), times `appearance_weight`.
    """
    curves = np.asarray(curves, float)
    T, N, _ = curves.shape
    valid = np.isfinite(curves).all(axis=(1, 2))
    idx = np.nonzero(valid)[0]
    reverse = np.zeros(T, bool)
    margin = np.full(T, np.nan)
    if len(idx) == 0:
        return Orientation(reverse, margin)
    fixed = fixed or {}
    big = 1e9
    # unary costs (state 0 = as given, 1 = reversed)
    unary = np.zeros((len(idx), 2))
    # pairwise mismatch between consecutive valid frames
    same = np.zeros(len(idx))
    swap = np.zeros(len(idx))
    max_lag = max(1, N // 8)
    lags = np.zeros(len(idx))
    for j in range(1, len(idx)):
        a = _centred(curves[idx[j - 1]])
        b = _centred(curves[idx[j]])
        same[j] = np.sqrt(np.mean(np.sum((b - a) ** 2, axis=1)))
        swap[j] = np.sqrt(np.mean(np.sum((b[::-1] - a) ** 2, axis=1)))
        b_al = b if same[j] <= swap[j] else b[::-1]
        trusted = reliable is None or (reliable[idx[j]] and reliable[idx[j - 1]])
        if idx[j] - idx[j - 1] == 1 and trusted:
            lags[j - 1] = wave_lag(a, b_al, max_lag)
    scale = max(1.5, float(np.median(np.minimum(same[1:], swap[1:]))) if len(idx) > 1 else 1.5)
    gaps = np.diff(idx, prepend=idx[0])
    # motion: a lag of a few points in one frame is strong evidence; clip single frames
    evidence = np.clip(lags / max(1.0, N / 50), -3, 3)
    unary[:, 0] -= motion_weight * evidence
    unary[:, 1] += motion_weight * evidence
    if widths is not None:
        for j, t in enumerate(idx):
            e = taper(widths[t])
            unary[j, 0] -= shape_weight * 3 * e
            unary[j, 1] += shape_weight * 3 * e
    if appearance is not None:
        ev = appearance_weight * np.nan_to_num(np.asarray(appearance, float)[idx])
        unary[:, 0] -= ev
        unary[:, 1] += ev
    for j, t in enumerate(idx):
        if t in fixed:
            unary[j, 0 if fixed[t] else 1] += big
    pair = np.zeros((len(idx), 2, 2))  # pair[j, s_prev, s]
    for j in range(1, len(idx)):
        sc = scale * np.sqrt(max(gaps[j], 1))
        if reliable is not None and not (reliable[idx[j]] and reliable[idx[j - 1]]):
            sc *= 4.0  # a fitted coil links its neighbours only loosely
        c_same, c_swap = (same[j] / sc) ** 2, (swap[j] / sc) ** 2
        if fit_steps is not None and 0 < fit_steps[idx[j]] <= trusted_fits and gaps[j] == 1:
            c_same, c_swap = 0.0, link_cost
        pair[j] = [[c_same, c_swap], [c_swap, c_same]]
    # Viterbi (min-sum) forward and backward for min-marginals
    n = len(idx)
    fwd = np.zeros((n, 2))
    back = np.zeros((n, 2), int)
    fwd[0] = unary[0]
    for j in range(1, n):
        tot = fwd[j - 1][:, None] + pair[j]
        back[j] = np.argmin(tot, axis=0)
        fwd[j] = tot[back[j], [0, 1]] + unary[j]
    bwd = np.zeros((n, 2))
    for j in range(n - 2, -1, -1):
        tot = pair[j + 1] + (unary[j + 1] + bwd[j + 1])[None, :]
        bwd[j] = tot.min(axis=1)
    states = np.zeros(n, int)
    states[-1] = int(np.argmin(fwd[-1]))
    for j in range(n - 1, 0, -1):
        states[j - 1] = back[j, states[j]]
    marg = fwd + bwd
    reverse[idx] = states.astype(bool)
    margin[idx] = np.minimum(np.abs(marg[:, 1] - marg[:, 0]), big / 10)
    return Orientation(reverse, margin)
