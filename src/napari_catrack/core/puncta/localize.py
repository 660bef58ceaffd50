"""Classical localisation of a movie: ADU -> photons, candidates, vectorised MLE fits, quality
filters, in chunks of frames (so a long movie never sits in memory as floats), with progress and
cancel. Returns the internal localisation table (pixels, 0-based frames)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.detect import detect_candidates
from napari_catrack.core.puncta.fit import (
    crlb,
    extract_boxes,
    fit_spots,
    localize_boxes,
    pair_guess,
)
from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.core.puncta.psf import render_spots
from napari_catrack.errors import InputError, check_cancelled

LOC_COLUMNS = (
    "frame", "x", "y", "sigma", "photons", "background", "bkgstd", "uncertainty",
    "uncertainty_x", "uncertainty_y", "log_likelihood",
)  # fmt: skip


def empty_localizations() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=int if c == "frame" else float) for c in LOC_COLUMNS})


def photons_chunk(stack, start: int, stop: int, camera: CameraModel) -> np.ndarray:
    """Frames [start, stop) of a (lazy) ADU stack as float32 photons."""
    chunk = np.asarray(stack[start:stop])
    if chunk.ndim != 3:
        raise InputError(f"expected a (frames, height, width) movie, got shape {chunk.shape}")
    return camera.to_photons(chunk)


def check_has_photons(photons: np.ndarray, camera: CameraModel, where: str = "movie") -> None:
    """Zero photons (a blank stack, or an offset above the data) is a user error, said plainly."""
    if not np.isfinite(photons).all():
        raise InputError(f"the {where} contains NaN or infinite pixels")
    if float(np.percentile(photons, 99.9)) <= 0:
        raise InputError(
            f"the {where} has no photons above the camera offset ({camera.offset_adu:g} ADU): "
            "check offset_adu in the camera file, or that the right channel was chosen"
        )


def likelihood_variance(camera: CameraModel, params: PunctaParams) -> float:
    """The read-noise variance (photons^2) added by the sCMOS-corrected likelihood, or 0."""
    use = params.likelihood
    if use == "auto":
        use = "scmos" if camera.read_noise_e > 0 and not camera.is_emccd else "poisson"
    return camera.read_noise_photons**2 if use == "scmos" else 0.0


def fit_frames(
    photons: np.ndarray, params: PunctaParams, camera: CameraModel, frame_offset: int = 0
) -> pd.DataFrame:
    """Detect and fit every punctum in a (T, H, W) photon array.

    1. one-emitter MLE fits of every candidate; 2. `neighbour_passes` refits with the other
    puncta's fitted models subtracted; 3. spots wider than the PSF are refitted as two emitters
    and split when the likelihood-ratio test says so (ThunderSTORM's multi-emitter analysis,
    limited to pairs).
    """
    sigma0 = params.psf_sigma_px
    t, r, c, _ = detect_candidates(photons, params.threshold, params.detection_filter, sigma0)
    if len(t) == 0:
        return empty_localizations()
    boxes, r0, c0 = extract_boxes(photons, t, r, c, params.fit_radius)
    fit = dict(scale=camera.likelihood_scale, variance=likelihood_variance(camera, params),
               fit_sigma=params.fit_sigma)  # fmt: skip
    res = localize_boxes(boxes, r0, c0, sigma0, **fit)
    for _ in range(params.neighbour_passes):
        model = _render(photons.shape, t, res)
        res = localize_boxes(subtract_others(model, boxes, t, r0, c0, res), r0, c0, sigma0, **fit)
    table = _table(t + frame_offset, res, c, r, params)
    _fit_close_pairs(photons, t, r, c, res, table, params, fit)
    if params.pair_test > 0:
        table = pd.concat(
            [table, *_split_pairs(photons, t, res, table, params, fit, frame_offset)],
            ignore_index=True,
        )
    h, w = photons.shape[1:]
    inside = table.x.between(-0.5, w - 0.5) & table.y.between(-0.5, h - 0.5)
    table = table[table.pop("_keep").to_numpy(bool) & inside.to_numpy()]
    return drop_duplicates(table, 0.5 * sigma0)


def _table(frames, res, c, r, params: PunctaParams) -> pd.DataFrame:
    sigma0 = params.psf_sigma_px
    unc = np.sqrt((res.crlb_x**2 + res.crlb_y**2) / 2)
    keep = (
        res.converged
        & np.isfinite(unc)
        & (res.photons >= max(params.min_photons, 1e-9))
        & (res.sigma > 0.4 * sigma0)
        & (res.sigma < 2.5 * sigma0)
        & (np.abs(res.x - c) <= 1.5)
        & (np.abs(res.y - r) <= 1.5)
    )
    return pd.DataFrame(
        {
            "frame": np.asarray(frames, int),
            "x": res.x,
            "y": res.y,
            "sigma": res.sigma,
            "photons": res.photons,
            "background": res.background,
            "bkgstd": res.bkgstd,
            "uncertainty": unc,
            "uncertainty_x": res.crlb_x,
            "uncertainty_y": res.crlb_y,
            "log_likelihood": res.log_likelihood,
            "_keep": keep,
        }
    )


def _render(shape, frames, res) -> np.ndarray:
    ok = np.isfinite(res.x) & np.isfinite(res.photons) & (res.photons > 0)
    return render_spots(
        shape, frames[ok], res.y[ok], res.x[ok], res.photons[ok], res.sigma[ok], "gaussian"
    )


def subtract_others(model, boxes, frames, r0, c0, *owns) -> np.ndarray:
    """Boxes with every *other* fitted punctum's model removed (`model`: all fits rendered):
    the neighbour subtraction that lets a single-emitter fit work at moderate density, where
    the tails of nearby puncta otherwise pull the fit."""
    size = boxes.shape[1]
    off = np.arange(size)
    rr = r0[:, None, None] + off[None, :, None]
    cc = c0[:, None, None] + off[None, None, :]
    others = model[frames[:, None, None], rr, cc]
    for res in owns:  # the spots the box is about are not subtracted
        ok = np.isfinite(res.x) & np.isfinite(res.photons) & (res.photons > 0)
        others = others - render_spots(
            (len(frames), size, size), np.arange(len(frames))[ok], res.y[ok] - r0[ok],
            res.x[ok] - c0[ok], res.photons[ok], res.sigma[ok], "gaussian",
        )  # fmt: skip
    return boxes - others


def _split_pairs(photons, t, res, table, params: PunctaParams, fit: dict, frame_offset: int):
    """Refit spots wider than the PSF as two emitters; where the likelihood-ratio statistic
    2 (logL2 - logL1) exceeds `pair_test` and both halves are real puncta, the one localisation
    becomes two (the original row is marked not kept)."""
    sigma0 = params.psf_sigma_px
    flagged = np.nonzero(table["_keep"].to_numpy() & (res.sigma > 1.1 * sigma0))[0]
    if flagged.size == 0:
        return []
    radius = params.fit_radius + 1
    model = _render(photons.shape, t, res)
    ft = t[flagged]
    row = np.round(res.y[flagged]).astype(int)
    col = np.round(res.x[flagged]).astype(int)
    boxes, r0, c0 = extract_boxes(photons, ft, row, col, radius)
    sub = _Subset(res, flagged)
    cleaned = subtract_others(model, boxes, ft, r0, c0, sub) / fit["scale"]
    var = fit["variance"] / fit["scale"] ** 2
    one, _, ll1, _, ok1 = fit_spots(cleaned, sigma0, variance=var, fit_sigma=fit["fit_sigma"])
    two, fisher2, ll2, _, ok2 = fit_spots(
        cleaned, sigma0, variance=var, fit_sigma=fit["fit_sigma"],
        theta0=pair_guess(cleaned, one, sigma0),
    )  # fmt: skip
    size = boxes.shape[1]
    amps = two[:, [2, 5]] * fit["scale"]
    inside = ((two[:, [0, 1, 3, 4]] > -0.5) & (two[:, [0, 1, 3, 4]] < size - 0.5)).all(axis=1)
    accept = (
        ok2 & ok1 & inside
        & (2 * (ll2 - ll1) > params.pair_test)
        & (amps.min(axis=1) >= max(params.min_photons, 1e-9))
        & (two[:, -1] > 0.4 * sigma0) & (two[:, -1] < 2.5 * sigma0)
    )  # fmt: skip
    if not accept.any():
        return []
    bound = crlb(fisher2[accept])
    idx = np.nonzero(accept)[0]
    rows = []
    for j in (0, 1):
        ux, uy = bound[:, 3 * j], bound[:, 3 * j + 1]
        rows.append(pd.DataFrame({
            "frame": ft[idx] + frame_offset,
            "x": two[idx, 3 * j] + c0[idx],
            "y": two[idx, 3 * j + 1] + r0[idx],
            "sigma": two[idx, -1],
            "photons": amps[idx, j],
            "background": two[idx, -2] * fit["scale"],
            "bkgstd": table["bkgstd"].to_numpy()[flagged[idx]],
            "uncertainty": np.sqrt((ux**2 + uy**2) / 2),
            "uncertainty_x": ux,
            "uncertainty_y": uy,
            "log_likelihood": ll2[idx],
            "_keep": np.isfinite(ux) & np.isfinite(uy),
        }))  # fmt: skip
    table.loc[flagged[idx], "_keep"] = False
    return rows


def _fit_close_pairs(photons, t, r, c, res, table, params: PunctaParams, fit: dict) -> None:
    """Two candidates closer than ~4 PSF widths are fitted together as one two-emitter model
    (in place in `table`): subtracting each other's one-emitter fits alone oscillates, because
    each first fit has taken some of its neighbour's light."""
    sigma0 = params.psf_sigma_px
    keep = table["_keep"].to_numpy()
    good = np.nonzero(keep)[0]
    if good.size < 2:
        return
    pts = np.column_stack([t[good] * 1e6, r[good], c[good]]).astype(float)  # candidates: the
    # separate fits of a close pair push each other apart, so they cannot say which are close
    pairs = cKDTree(pts).query_pairs(max(4 * sigma0, 2.5), output_type="ndarray")
    if len(pairs) == 0:
        return
    dist = np.hypot(*(pts[pairs[:, 0], 1:] - pts[pairs[:, 1], 1:]).T)
    used = np.zeros(len(good), bool)
    chosen = []
    for a, b in pairs[np.argsort(dist)]:  # greedy: closest pairs first, each spot once
        if not used[a] and not used[b]:
            used[a] = used[b] = True
            chosen.append((good[a], good[b]))
    ia, ib = np.array(chosen).T
    model = _render(photons.shape, t, res)
    row = (r[ia] + r[ib]) // 2
    col = (c[ia] + c[ib]) // 2
    boxes, r0, c0 = extract_boxes(photons, t[ia], row, col, params.fit_radius + 1)
    cleaned = subtract_others(model, boxes, t[ia], r0, c0, _Subset(res, ia), _Subset(res, ib))
    scale = fit["scale"]
    theta0 = np.column_stack([
        c[ia] - c0, r[ia] - r0, res.photons[ia] / scale,
        c[ib] - c0, r[ib] - r0, res.photons[ib] / scale,
        (res.background[ia] + res.background[ib]) / (2 * scale), np.full(len(ia), sigma0),
    ])  # fmt: skip
    two, fisher, ll, _, ok = fit_spots(
        cleaned / scale, sigma0, variance=fit["variance"] / scale**2,
        fit_sigma=fit["fit_sigma"], theta0=theta0,
    )  # fmt: skip
    size = boxes.shape[1]
    inside = ((two[:, [0, 1, 3, 4]] > -0.5) & (two[:, [0, 1, 3, 4]] < size - 0.5)).all(axis=1)
    amps = two[:, [2, 5]] * scale
    good_fit = ok & inside & (amps.min(axis=1) > 0) & (two[:, -1] > 0.4 * sigma0)
    bound = crlb(fisher)
    for j, rows in ((0, ia), (1, ib)):
        ux, uy = bound[:, 3 * j], bound[:, 3 * j + 1]
        sel = good_fit & np.isfinite(ux) & np.isfinite(uy)
        idx = table.index[rows[sel]]
        table.loc[idx, "x"] = two[sel, 3 * j] + c0[sel]
        table.loc[idx, "y"] = two[sel, 3 * j + 1] + r0[sel]
        table.loc[idx, "photons"] = amps[sel, j]
        table.loc[idx, "sigma"] = two[sel, -1]
        table.loc[idx, "background"] = two[sel, -2] * scale
        table.loc[idx, "uncertainty_x"] = ux[sel]
        table.loc[idx, "uncertainty_y"] = uy[sel]
        table.loc[idx, "uncertainty"] = np.sqrt((ux[sel] ** 2 + uy[sel] ** 2) / 2)
        table.loc[idx, "log_likelihood"] = ll[sel]
        table.loc[idx, "_keep"] = amps[sel, j] >= max(params.min_photons, 1e-9)
        # keep res in step so later steps subtract the joint fit
        res.x[rows[sel]] = table.loc[idx, "x"].to_numpy()
        res.y[rows[sel]] = table.loc[idx, "y"].to_numpy()
        res.photons[rows[sel]] = amps[sel, j]
        res.sigma[rows[sel]] = two[sel, -1]


class _Subset:
    """The fields `subtract_others` reads, for a subset of a FitResult."""

    def __init__(self, res, idx) -> None:
        for name in ("x", "y", "photons", "sigma"):
            setattr(self, name, getattr(res, name)[idx])


def drop_duplicates(table: pd.DataFrame, radius_px: float) -> pd.DataFrame:
    """Two maxima that converged onto one punctum: keep the brighter fit."""
    if len(table) < 2:
        return table.reset_index(drop=True)
    table = table.sort_values("photons", ascending=False).reset_index(drop=True)
    pts = np.column_stack([table.frame.to_numpy() * 1e6, table.y, table.x])
    pairs = cKDTree(pts).query_pairs(radius_px, output_type="ndarray")
    drop = np.zeros(len(table), bool)
    for i, j in pairs[np.argsort(pairs[:, 0])] if len(pairs) else ():
        if not drop[i]:
            drop[max(i, j)] = True
    return table[~drop].sort_values(["frame", "y", "x"]).reset_index(drop=True)


def localize_classical(
    stack,
    camera: CameraModel,
    params: PunctaParams | None = None,
    *,
    progress: Callable | None = None,
    cancel: Callable | None = None,
) -> pd.DataFrame:
    """Localise every punctum in a (T, H, W) ADU movie (numpy or dask) with the classical path."""
    params = params or PunctaParams()
    n = int(stack.shape[0])
    parts = []
    checked = False
    for start in range(0, n, params.chunk_frames):
        check_cancelled(cancel, "localisation")
        stop = min(n, start + params.chunk_frames)
        photons = photons_chunk(stack, start, stop, camera)
        if not checked:
            check_has_photons(photons, camera, "puncta channel")
            checked = True
        parts.append(fit_frames(photons, params, camera, start))
        if progress is not None:
            progress(stop, n, f"localised frames {stop}/{n}")
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty_localizations()
