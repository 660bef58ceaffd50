"""The puncta of one chunk of frames while they are being fitted, and the neighbour subtraction
every refit uses: render all current fits, and take out of a box everything except the puncta
the box is about."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from napari_catrack.core.puncta.fit import FitResult
from napari_catrack.core.puncta.psf import render_spots


@dataclass
class Emitters:
    """Per punctum, in frame pixels (chunk-relative frames) and photons; arrays of one length.
    `anchor_x/y` is where it was found (the candidate pixel, or the split that made it): a fit
    that wanders further than 1.5 px from it has followed a neighbour and is dropped.
    `spread_x/y` (px^2) is the model-selection variance a single fit carries when the spot may
    be two puncta (`multi.pair_spread`); it adds to the Cramér-Rao variance in the table."""

    frame: np.ndarray
    x: np.ndarray
    y: np.ndarray
    photons: np.ndarray
    background: np.ndarray
    sigma: np.ndarray
    crlb_x: np.ndarray
    crlb_y: np.ndarray
    bkgstd: np.ndarray
    log_likelihood: np.ndarray
    converged: np.ndarray
    anchor_x: np.ndarray
    anchor_y: np.ndarray
    spread_x: np.ndarray = field(default=None)  # type: ignore[assignment]
    spread_y: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for name in ("spread_x", "spread_y"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(len(self.x)))

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def from_fit(cls, frames, res: FitResult, anchor_x, anchor_y) -> Emitters:
        return cls(
            frame=np.asarray(frames, int), x=res.x, y=res.y, photons=res.photons,
            background=res.background, sigma=res.sigma, crlb_x=res.crlb_x, crlb_y=res.crlb_y,
            bkgstd=res.bkgstd, log_likelihood=res.log_likelihood,
            converged=np.asarray(res.converged, bool),
            anchor_x=np.asarray(anchor_x, float), anchor_y=np.asarray(anchor_y, float),
        )  # fmt: skip

    def take(self, idx) -> Emitters:
        return Emitters(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def update(self, idx, other: Emitters, names=None) -> None:
        """Overwrite rows `idx` with `other`'s (all fields, or `names`), in place."""
        for name in names or [f.name for f in fields(self)]:
            getattr(self, name)[idx] = getattr(other, name)

    @staticmethod
    def concat(parts: list[Emitters]) -> Emitters:
        return Emitters(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in fields(Emitters)
            }
        )

    def plausible(self, sigma0: float) -> np.ndarray:
        """Fits that describe some punctum (used as neighbours and for model selection)."""
        with np.errstate(invalid="ignore"):
            return (
                np.isfinite(self.x) & np.isfinite(self.y) & np.isfinite(self.photons)
                & (self.photons > 0) & (self.sigma > 0.4 * sigma0) & (self.sigma < 2.5 * sigma0)
            )  # fmt: skip


def reset_wanderers(em: Emitters, boxes, r0, c0, sigma0: float, max_move: float) -> Emitters:
    """Fits that followed a neighbour (moved more than `max_move` px from their candidate) or
    failed go back to their candidate with starting values from their box: a punctum next to a
    brighter one is then fitted jointly with it later, instead of being lost (or its light
    left in the brighter one's fit)."""
    from napari_catrack.core.puncta.fit import initial_guess

    with np.errstate(invalid="ignore"):
        bad = ~em.plausible(sigma0) | (np.hypot(em.x - em.anchor_x, em.y - em.anchor_y) > max_move)
    if not bad.any():
        return em
    guess = initial_guess(boxes[bad], sigma0)
    em = em.take(np.arange(len(em)))
    em.x[bad], em.y[bad] = em.anchor_x[bad], em.anchor_y[bad]
    em.photons[bad], em.background[bad], em.sigma[bad] = guess[:, 2], guess[:, 3], sigma0
    em.crlb_x[bad] = em.crlb_y[bad] = np.nan
    em.converged[bad] = False
    return em


def drop_twins(em: Emitters, radius_px: float) -> Emitters:
    """Fits that converged onto one punctum (within `radius_px` in one frame, or more than
    `max_move` from where they were found): keep the brightest. Done before any neighbour
    subtraction, which would otherwise take a punctum out of its own twin's box."""
    from scipy.spatial import cKDTree

    if len(em) < 2:
        return em
    order = np.argsort(-np.nan_to_num(em.photons, nan=-np.inf), kind="stable")
    pts = np.column_stack([em.frame[order] * 1e6, em.y[order], em.x[order]])
    pts = np.nan_to_num(pts, nan=-1e9)
    pairs = cKDTree(pts).query_pairs(radius_px, output_type="ndarray")
    drop = np.zeros(len(em), bool)
    for i, j in pairs[np.argsort(pairs.min(axis=1))] if len(pairs) else ():
        lo, hi = min(i, j), max(i, j)  # in brightness order: lo is the brighter
        if not drop[lo]:
            drop[hi] = True
    keep = np.sort(order[~drop])
    return em.take(keep)


def render_model(shape, em: Emitters, sigma0: float) -> np.ndarray:
    """Expected photons (no background) of every plausible fit on (T, H, W) frames."""
    ok = em.plausible(sigma0)
    return render_spots(
        shape, em.frame[ok], em.y[ok], em.x[ok], em.photons[ok], em.sigma[ok], "gaussian"
    )


def subtract_others(model, boxes, frames, r0, c0, sigma0: float, own_box=None,
                    own: Emitters | None = None):  # fmt: skip
    """Boxes with every *other* fitted punctum's model removed (`model`: all fits rendered by
    `render_model`); `own` (with `own_box`, the box each belongs to) are the puncta each box is
    about, which stay. The neighbour subtraction that keeps a neighbour's tail out of a fit."""
    size = boxes.shape[1]
    off = np.arange(size)
    rr = r0[:, None, None] + off[None, :, None]
    cc = c0[:, None, None] + off[None, None, :]
    others = model[frames[:, None, None], rr, cc]
    if own is not None and len(own):
        ok = own.plausible(sigma0)  # exactly those `render_model` drew
        b = np.asarray(own_box)[ok]
        others = others - render_spots(
            (len(frames), size, size), b, own.y[ok] - r0[b], own.x[ok] - c0[b],
            own.photons[ok], own.sigma[ok], "gaussian",
        )  # fmt: skip
    return boxes - others


def residual_chi2(photons, em: Emitters, sigma0: float, radius: int, fit) -> np.ndarray:
    """Per punctum: the reduced Pearson chi-square of the whole fitted model (every punctum and
    this one's background) in its box, with the camera's noise (`fit`: `FitOptions`). Near 1
    where the model explains the light; well above 1 where it does not (a missed or misplaced
    neighbour, a fit pulled between two puncta), and then the Cramér-Rao bound, which assumes
    the model is right, is too small (`localize._table` scales it by sqrt(chi2))."""
    from napari_catrack.core.puncta.fit import extract_boxes

    if len(em) == 0:
        return np.zeros(0)
    model = render_model(photons.shape, em, sigma0)
    row = np.clip(np.round(np.nan_to_num(em.y)), 0, photons.shape[1] - 1).astype(int)
    col = np.clip(np.round(np.nan_to_num(em.x)), 0, photons.shape[2] - 1).astype(int)
    data, _, _ = extract_boxes(photons, em.frame, row, col, radius)
    mu, _, _ = extract_boxes(model, em.frame, row, col, radius)
    mu = mu + np.nan_to_num(em.background)[:, None, None]
    var = fit.scale * np.maximum(mu, 1e-3) + fit.variance
    return ((data - mu) ** 2 / var).reshape(len(em), -1).mean(axis=1)
