"""Crowded puncta: joint fits of neighbour groups, and model selection between one and two
emitters (ThunderSTORM's multi-emitter fitting, Ovesny et al. 2014, vectorised).

Why: a single-emitter fit of a punctum with a neighbour within ~4 PSF widths is biased by the
neighbour's light, and subtracting the neighbour's own (equally biased) fit only partly fixes it;
the Cramér-Rao bound of a one-emitter model then under-states the error (the first version:
RMSE 1.9 x the reported bound over all puncta at 0.25 puncta/um^2, 1.2 x for isolated ones).
Here every punctum with neighbours inside its box is refitted *together with them* (all other
puncta subtracted), and its position and bound are taken from that joint fit: the bound of a
model that has the neighbours in it is the honest one. Boxes are centred on each punctum and
batched by group size, so the fits stay vectorised; only the centre's result is kept from each
box (each punctum is the centre of its own box), and two passes let the neighbours' improved fits
feed each other's subtraction.

Two puncta closer than about 2 PSF widths give one candidate: every bright enough single fit is
also fitted as two emitters, and split when the likelihood-ratio statistic 2 (logL2 - logL1)
exceeds `pair_test` (ThunderSTORM's test with p ~ 1e-6 for 3 extra parameters is ~30) and both
halves are puncta in their own right.

A spot that stays one localisation may still be two puncta closer than the fit can resolve
(< ~150 nm): its position is then their light-weighted centre, off each of them by about half
their separation, which no one-emitter bound includes. So the uncertainty of every tested single
fit is the Bayesian model average over "one emitter" and "two emitters": the Cramér-Rao variance
plus w2 x the light-weighted spread of the two-emitter halves around the single position, with
w2 the posterior weight of two emitters from a BIC-style comparison (Schwarz 1978, with a
doubled penalty; ThunderSTORM selects its models by the same likelihoods). An isolated punctum has w2 ~ 0 (or a second half with no light) and
keeps its bound. A fit whose two-emitter half sits on another fitted punctum, or further out than
the split's reach, gets no spread: that half explained a neighbour's light, not a hidden second
punctum (with it, the 3 % of spots with a neighbour 300-450 nm away carried two thirds of the
reported variance at 0.25 puncta/um^2, over-reporting their error about 1.8x; seeds 21-25).
Unresolved pairs the likelihood cannot see are `unresolved.py`'s business.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from napari_catrack.core.puncta.detect import detect_candidates
from napari_catrack.core.puncta.emitters import (
    Emitters,
    render_model,
    reset_wanderers,
    subtract_others,
)
from napari_catrack.core.puncta.fit import FitOptions, extract_boxes, localize_boxes, pair_guess
from napari_catrack.core.puncta.params import PunctaParams

MAX_GROUP = 5  # emitters in one joint fit (the punctum + its 4 nearest neighbours)
MAX_MOVE_PX = 1.5  # a refit that moves a punctum further than this has followed a neighbour
FRAME_GAP = 1e4  # frames apart in the neighbour search's coordinates (never neighbours)
SPLIT_REACH = 2.0  # PSF widths: the halves of a split stay this close to the single fit
# (a pair further apart gives two candidates); a half further out is fitting a neighbour's light
RESIDUAL_CLEARANCE = 2.0  # PSF widths: a residual maximum closer to a fit is that fit's
# leftover (a model mismatch), and a pair that close is the split test's business
SPLIT_CLEARANCE = 1.0  # PSF widths: a half this close to another punctum is its leftover light
SPREAD_PENALTY = 6.0  # x ln(pixels): the two-emitter weight's penalty for 3 more parameters,
# twice BIC's (BIC's own weighted the 1 - 2 % of isolated spots whose light is slightly
# non-Gaussian, and over-stated their uncertainty; chosen on simulated movies, docs/puncta.md)
SPREAD_REACH = 1.0  # PSF widths: a half further out counts as this far (an unresolved pair is
# closer than ~1.3 PSF widths; a half further out is fitting other light)
RESIDUAL_FACTOR = 2.0  # x the detection threshold for candidates found in the residual: a
# lower one picked up the leftovers of model mismatch (false puncta)


def _boxes_at(photons, em: Emitters, idx, radius: int):
    """Boxes of `radius` centred on emitters `idx` (shifted inwards at the frame edges)."""
    row = np.clip(np.round(em.y[idx]), 0, photons.shape[1] - 1).astype(int)
    col = np.clip(np.round(em.x[idx]), 0, photons.shape[2] - 1).astype(int)
    return extract_boxes(photons, em.frame[idx], row, col, radius)


def add_residual_candidates(
    photons,
    em: Emitters,
    params: PunctaParams,
    fit: FitOptions,
    factor: float = RESIDUAL_FACTOR,
) -> Emitters:
    """Detect again in the movie minus every fitted punctum, and add the new candidates (not
    within `RESIDUAL_CLEARANCE` PSF widths of a fit). The band-pass filter merges a punctum
    into a brighter neighbour 3-4 px away (no local maximum of its own; ThunderSTORM's wavelet
    misses it too), and its light then biases the neighbour's fit; in the residual it stands
    out (DAOSTORM's iterative detection, Holden et al. 2011)."""
    sigma0 = params.psf_sigma_px
    model = render_model(photons.shape, em, sigma0)
    t, r, c, _ = detect_candidates(
        photons - model, factor * params.threshold, params.detection_filter, sigma0
    )
    if len(t) == 0:
        return em
    ok = em.plausible(sigma0)
    if ok.any():
        tree = cKDTree(np.column_stack([em.frame[ok] * FRAME_GAP, em.y[ok], em.x[ok]]))
        dist, _ = tree.query(np.column_stack([t * FRAME_GAP, r, c]), k=1)
        new = dist > RESIDUAL_CLEARANCE * sigma0
        t, r, c = t[new], r[new], c[new]
    if len(t) == 0:
        return em
    boxes, r0, c0 = extract_boxes(photons, t, r, c, params.fit_radius)
    cleaned = subtract_others(model, boxes, t, r0, c0, sigma0)
    res = localize_boxes(cleaned, r0, c0, sigma0, scale=fit.scale, variance=fit.variance,
                         fit_sigma=fit.fit_sigma, workers=fit.workers)  # fmt: skip
    added = reset_wanderers(Emitters.from_fit(t, res, c, r), boxes, r0, c0, sigma0, MAX_MOVE_PX)
    return Emitters.concat([em, added])


def split_pairs(photons, em: Emitters, params: PunctaParams, fit: FitOptions) -> Emitters:
    """Model selection, one emitter or two, for every plausible fit bright enough to be two
    puncta; accepted pairs replace their single fit."""
    sigma0 = params.psf_sigma_px
    floor = max(params.min_photons, 1e-9)
    idx = np.nonzero(em.plausible(sigma0) & (em.photons >= 2 * floor))[0]
    if idx.size == 0:
        return em
    model = render_model(photons.shape, em, sigma0)
    boxes, r0, c0 = _boxes_at(photons, em, idx, params.fit_radius + 1)
    own = em.take(idx)
    cleaned = subtract_others(model, boxes, own.frame, r0, c0, sigma0, np.arange(idx.size), own)
    start = np.column_stack([own.x - c0, own.y - r0, own.photons, own.background, own.sigma])
    one, _, ll1, ok1 = fit.fit(cleaned, sigma0, start)
    two, bound, ll2, ok2 = fit.fit(cleaned, sigma0, pair_guess(cleaned, one, sigma0))
    amps = two[:, [2, 5]]
    reach = np.hypot(two[:, [0, 3]] - one[:, [0]], two[:, [1, 4]] - one[:, [1]]).max(axis=1)
    accept = (
        ok1 & ok2 & (reach <= SPLIT_REACH * sigma0)
        & (2 * (ll2 - ll1) > params.pair_test)
        & (amps.min(axis=1) >= floor)
        & (two[:, -1] > 0.4 * sigma0) & (two[:, -1] < 2.5 * sigma0)
        & np.isfinite(bound[:, [0, 1, 3, 4]]).all(axis=1)
    )  # fmt: skip
    lands = _lands_on_others(em, idx, two[:, [0, 1, 3, 4]] + np.c_[c0, r0, c0, r0], sigma0)
    accept &= ~lands
    em = em.take(np.arange(len(em)))  # a copy: the spreads are written into it
    spread = pair_spread(one, two, ll1, ll2, boxes.shape[1] ** 2, SPREAD_REACH * sigma0)
    tested = ok1 & ok2 & ~accept & ~lands & (reach <= SPLIT_REACH * sigma0)
    em.spread_x[idx[tested]], em.spread_y[idx[tested]] = spread[tested, 0], spread[tested, 1]
    if not accept.any():
        return em
    a = np.nonzero(accept)[0]
    halves = []
    for j in (0, 1):
        x, y = two[a, 3 * j] + c0[a], two[a, 3 * j + 1] + r0[a]
        halves.append(Emitters(
            frame=own.frame[a], x=x, y=y, photons=amps[a, j], background=two[a, -2],
            sigma=two[a, -1], crlb_x=bound[a, 3 * j], crlb_y=bound[a, 3 * j + 1],
            bkgstd=own.bkgstd[a], log_likelihood=ll2[a], converged=ok2[a],
            anchor_x=x, anchor_y=y,
        ))  # fmt: skip
    keep = np.ones(len(em), bool)
    keep[idx[a]] = False
    return Emitters.concat([em.take(keep), *halves])


def pair_spread(one, two, ll1, ll2, n_pixels: int, reach: float) -> np.ndarray:
    """(n, 2) model-averaged extra variance (px^2, x and y) of single fits `one` given the
    two-emitter fits `two` of the same boxes: w2 x sum_j (N_j / N) (p_j - p1)^2, with w2 the
    posterior weight of two emitters from the BIC-like difference 2 dlogL - SPREAD_PENALTY ln(n_pixels); a half further than `reach` px
    from the single fit counts as `reach` away (it is fitting other light than this spot's)."""
    with np.errstate(over="ignore", invalid="ignore"):
        delta_bic = 2 * (ll2 - ll1) - SPREAD_PENALTY * np.log(n_pixels)
        w2 = 1.0 / (1.0 + np.exp(-np.clip(delta_bic, -50, 50) / 2))
        amps = np.clip(two[:, [2, 5]], 0, None)
        share = amps / np.maximum(amps.sum(axis=1, keepdims=True), 1e-12)
        dx = two[:, [0, 3]] - one[:, [0]]
        dy = two[:, [1, 4]] - one[:, [1]]
        shrink = np.minimum(1.0, reach / np.maximum(np.hypot(dx, dy), 1e-12))
        dx, dy = dx * shrink, dy * shrink
        out = w2[:, None] * np.column_stack([(share * dx**2).sum(1), (share * dy**2).sum(1)])
    return np.where(np.isfinite(out), out, 0.0)


def _lands_on_others(em: Emitters, idx, halves: np.ndarray, sigma0: float) -> np.ndarray:
    """Whether a half of a split (frame x, y of both halves per tested emitter) sits on another
    fitted punctum: then the two-emitter fit explained that neighbour's leftover light."""
    ok = em.plausible(sigma0)
    pts = np.column_stack([em.frame[ok] * FRAME_GAP, em.y[ok], em.x[ok]])
    tree = cKDTree(pts)
    hit = np.zeros(len(idx), bool)
    own = np.nonzero(ok)[0]
    for cols in ((0, 1), (2, 3)):
        q = np.column_stack([em.frame[idx] * FRAME_GAP, halves[:, cols[1]], halves[:, cols[0]]])
        dist, j = tree.query(np.nan_to_num(q, nan=-1e9), k=2)
        for col in (0, 1):  # the nearest that is not the tested emitter itself
            valid = np.isfinite(dist[:, col]) & (j[:, col] < len(own))
            other = valid & (own[np.minimum(j[:, col], len(own) - 1)] != idx)
            hit |= other & (dist[:, col] < SPLIT_CLEARANCE * sigma0)
    return hit


def _neighbours(em: Emitters, idx: np.ndarray, reach: float, k: int):
    """For emitters `idx`: (n, k-1) indices (into `idx`) of up to k-1 nearest others in the same
    frame within Chebyshev distance `reach`, nearest first, -1 where fewer, and their count."""
    pts = np.column_stack([em.frame[idx] * FRAME_GAP, em.y[idx], em.x[idx]])
    k = min(k, len(idx))
    dist, nb = cKDTree(pts).query(pts, k=k, p=np.inf, distance_upper_bound=reach)
    dist, nb = dist.reshape(len(idx), k), nb.reshape(len(idx), k)
    other = np.isfinite(dist) & (nb != np.arange(len(idx))[:, None])
    order = np.argsort(~other, axis=1, kind="stable")  # the others first, nearest first
    nb = np.take_along_axis(np.where(other, nb, -1), order, axis=1)[:, : max(k - 1, 0)]
    return nb, (nb >= 0).sum(axis=1)


def refine_groups(photons, em: Emitters, params: PunctaParams, fit: FitOptions) -> Emitters:
    """One pass of joint fits: each plausible punctum with neighbours in its box is refitted
    with them (box radius fit_radius + 1, everyone else subtracted); one without is refitted
    alone (box radius fit_radius) when a neighbour's tail reaches its box. Only the centre's
    result is kept; all updates happen at the end of the pass."""
    sigma0 = params.psf_sigma_px
    idx = np.nonzero(em.plausible(sigma0))[0]
    if idx.size < 2:
        return em
    radius = params.fit_radius + 1
    nb, count = _neighbours(em, idx, radius - 0.5, MAX_GROUP)
    _, near = _neighbours(em, idx, params.fit_radius + 0.5 + 3 * sigma0, 2)
    model = render_model(photons.shape, em, sigma0)
    new = em.take(np.arange(len(em)))  # a copy: the pass reads `em` and writes `new`
    for m in range(0, MAX_GROUP):
        rows = np.nonzero((count == m) & ((m > 0) | (near > 0)))[0]
        if rows.size == 0:
            continue
        centre = idx[rows]
        group = np.column_stack([centre, idx[nb[rows, :m]]]) if m else centre[:, None]
        r = radius if m else params.fit_radius
        boxes, r0, c0 = _boxes_at(photons, em, centre, r)
        members = group.ravel()
        owner = np.repeat(np.arange(rows.size), m + 1)
        own = em.take(members)
        cleaned = subtract_others(model, boxes, em.frame[centre], r0, c0, sigma0, owner, own)
        per = np.column_stack([own.x - c0[owner], own.y - r0[owner], own.photons])
        theta0 = np.column_stack([
            per.reshape(rows.size, 3 * (m + 1)), em.background[centre], em.sigma[centre],
        ])  # fmt: skip
        theta, bound, ll, ok = fit.fit(cleaned, sigma0, theta0)
        size = boxes.shape[1]
        x, y = theta[:, 0] + c0, theta[:, 1] + r0
        with np.errstate(invalid="ignore"):
            good = (
                ok & np.isfinite(bound[:, :2]).all(axis=1)
                & (theta[:, 0] > -0.5) & (theta[:, 0] < size - 0.5)
                & (theta[:, 1] > -0.5) & (theta[:, 1] < size - 0.5)
                & (theta[:, 2] > 0) & (theta[:, -1] > 0.4 * sigma0) & (theta[:, -1] < 2.5 * sigma0)
                & (np.hypot(x - em.x[centre], y - em.y[centre]) < MAX_MOVE_PX)
            )  # fmt: skip
        g = centre[good]
        new.x[g], new.y[g], new.photons[g] = x[good], y[good], theta[good, 2]
        new.background[g], new.sigma[g] = theta[good, -2], theta[good, -1]
        new.crlb_x[g], new.crlb_y[g] = bound[good, 0], bound[good, 1]
        new.log_likelihood[g], new.converged[g] = ll[good], True
    return new
