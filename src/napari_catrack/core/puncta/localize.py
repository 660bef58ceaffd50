"""Classical localisation of a movie: ADU -> photons, candidates, vectorised MLE fits, quality
filters, in chunks of frames (so a long movie never sits in memory as floats), with progress and
cancel. Returns the internal localisation table (pixels, 0-based frames)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.detect import detect_candidates
from napari_catrack.core.puncta.emitters import (
    Emitters,
    drop_twins,
    render_model,
    reset_wanderers,
    residual_chi2,
    subtract_others,
)
from napari_catrack.core.puncta.fit import (
    FitOptions,
    extract_boxes,
    localize_boxes,
    resolve_workers,
)
from napari_catrack.core.puncta.multi import (
    MAX_MOVE_PX,
    add_residual_candidates,
    refine_groups,
    split_pairs,
)
from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.core.puncta.unresolved import add_unresolved_variance
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


_HEARD: ContextVar[list[str] | None] = ContextVar("puncta_warnings", default=None)


@contextmanager
def step_warnings() -> Iterator[list[str]]:
    """Collect what the puncta step warns in this thread (and context) into the list yielded,
    instead of as Python warnings: the widget's worker shows them on its status line. Python's
    own capture (`warnings.catch_warnings`) swaps process-wide hooks, so it also caught other
    threads' warnings (napari's, another widget's) and showed them as the step's."""
    token = _HEARD.set([])
    try:
        yield _HEARD.get()
    finally:
        _HEARD.reset(token)


def step_warning(message: str) -> None:
    """Say `message`: to the run collecting its warnings in this thread (`step_warnings`), else as
    a UserWarning (the CLI and batch print it as a warning line)."""
    heard = _HEARD.get()
    if heard is not None:
        heard.append(message)
    else:
        warnings.warn(message, UserWarning, stacklevel=3)


OFFSET_ABOVE_DATA = 0.75
"""More pixels than this below the camera offset: the offset is above the data (warned)."""


def check_has_photons(photons: np.ndarray, camera: CameraModel, where: str = "movie") -> None:
    """Zero photons (a blank stack, or an offset above the data) is a user error, said plainly."""
    if not np.isfinite(photons).all():
        raise InputError(f"the {where} contains NaN or infinite pixels")
    if float(np.percentile(photons, 99.9)) <= 0:
        raise InputError(
            f"the {where} has no photons above the camera offset ({camera.offset_adu:g} ADU): "
            "check offset_adu in the camera file, or that the right channel was chosen"
        )
    below = float((photons < 0).mean())
    if below > OFFSET_ABOVE_DATA:  # read noise alone puts about half the pixels below the offset
        median = float(camera.to_adu(np.median(photons)))
        step_warning(
            f"{below:.0%} of the {where} pixels are below the camera offset (median {median:.4g} "
            f"ADU, offset_adu {camera.offset_adu:g}): is the offset already subtracted? Then give "
            "a camera file with offset_adu 0; else check offset_adu. Photons and uncertainties "
            "are wrong with an offset above the data"
        )


def check_finite(photons: np.ndarray, first_frame: int, where: str = "movie") -> None:
    """NaN or infinite pixels anywhere in the movie (not only its first chunk) are refused,
    naming the first bad frame: the band-pass spreads them over the frame, which would lose all
    of its puncta (or calcium calls) without a word."""
    bad = ~np.isfinite(photons).reshape(len(photons), -1).all(axis=1)
    if bad.any():
        frames = np.flatnonzero(bad) + first_frame
        more = f" (and {len(frames) - 1} more frame(s))" if len(frames) > 1 else ""
        raise InputError(
            f"the {where} contains NaN or infinite pixels in frame {frames[0]} (0-based){more}"
        )


def blank_frames(photons: np.ndarray, first_frame: int) -> list[int]:
    """Frames (0-based) with no photons above the camera offset: dropped or black frames."""
    top = np.percentile(photons.reshape(len(photons), -1), 99.9, axis=1)
    return [int(i) + first_frame for i in np.flatnonzero(top <= 0)]


def warn_blank_frames(blank: list[int], n_frames: int, where: str = "puncta channel") -> None:
    """One warning naming the blank frames: no puncta there, and tracks break across them."""
    if not blank:
        return
    runs = []
    for f in blank:
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:5])
    text += ", ..." if len(runs) > 5 else ""
    step_warning(
        f"{len(blank)} of {n_frames} frames of the {where} have no photons above the camera "
        f"offset (frames {text}, 0-based): dropped or black frames? No puncta are found there, "
        "and tracks break across them"
    )


def likelihood_variance(camera: CameraModel, params: PunctaParams) -> float:
    """The read-noise variance (photons^2) added by the sCMOS-corrected likelihood, or 0."""
    use = params.likelihood
    if use == "auto":
        use = "scmos" if camera.read_noise_e > 0 and not camera.is_emccd else "poisson"
    return camera.read_noise_photons**2 if use == "scmos" else 0.0


def fit_options(camera: CameraModel, params: PunctaParams) -> FitOptions:
    return FitOptions(scale=camera.likelihood_scale, variance=likelihood_variance(camera, params),
                      fit_sigma=params.fit_sigma, workers=resolve_workers(params.threads))  # fmt: skip


def fit_frames(
    photons: np.ndarray, params: PunctaParams, camera: CameraModel, frame_offset: int = 0
) -> pd.DataFrame:
    """Detect and fit every punctum in a (T, H, W) photon array.

    1. one-emitter MLE fits of every candidate; 2. `neighbour_passes` refits with the other
    puncta's fitted models subtracted; 3. model selection, one emitter or two, for every bright
    enough spot (`pair_test`); 4. `group_passes` joint fits of each punctum with the neighbours
    in its box (`multi.py`); 5. quality filters and duplicates.
    """
    sigma0 = params.psf_sigma_px
    t, r, c, _ = detect_candidates(photons, params.threshold, params.detection_filter, sigma0)
    if len(t) == 0:
        return empty_localizations()
    fit = fit_options(camera, params)
    boxes, r0, c0 = extract_boxes(photons, t, r, c, params.fit_radius)
    single = dict(scale=fit.scale, variance=fit.variance, fit_sigma=fit.fit_sigma,
                  workers=fit.workers)  # fmt: skip
    em = Emitters.from_fit(t, localize_boxes(boxes, r0, c0, sigma0, **single), c, r)
    em = reset_wanderers(em, boxes, r0, c0, sigma0, MAX_MOVE_PX)
    everyone = np.arange(len(em))
    for _ in range(params.neighbour_passes):
        model = render_model(photons.shape, em, sigma0)
        cleaned = subtract_others(model, boxes, t, r0, c0, sigma0, everyone, em)
        res = localize_boxes(cleaned, r0, c0, sigma0, **single)
        em = reset_wanderers(Emitters.from_fit(t, res, c, r), boxes, r0, c0, sigma0, MAX_MOVE_PX)
    em = drop_twins(em, 0.5 * sigma0)
    if params.group_passes > 0:
        em = add_residual_candidates(photons, em, params, fit)
    if params.pair_test > 0:
        em = split_pairs(photons, em, params, fit)
    for _ in range(params.group_passes):
        em = refine_groups(photons, em, params, fit)
    chi2 = residual_chi2(photons, em, sigma0, params.fit_radius, fit)
    table = _table(em, frame_offset, params, chi2)
    h, w = photons.shape[1:]
    inside = table.x.between(-0.5, w - 0.5) & table.y.between(-0.5, h - 0.5)
    table = table[table.pop("_keep").to_numpy(bool) & inside.to_numpy()]
    return drop_duplicates(table, 0.5 * sigma0)


def _table(em: Emitters, frame_offset: int, params: PunctaParams, chi2) -> pd.DataFrame:
    """The localisation table. Uncertainty: the Cramér-Rao variance plus the model-selection
    variance (`multi.pair_spread`), scaled by the residual chi-square where the model leaves
    light unexplained (above 1 only; noise alone leaves the bound as it is)."""
    sigma0 = params.psf_sigma_px
    # a reduced chi-square of n pixels scatters by sqrt(2 / n) from noise alone: only an
    # excess beyond 2 of those scatters counts as misfit
    allowance = 2 * np.sqrt(2 / (2 * params.fit_radius + 1) ** 2)
    misfit = np.sqrt(np.clip(np.nan_to_num(chi2, nan=1.0) - allowance, 1.0, None))
    ux = np.sqrt(em.crlb_x**2 + em.spread_x) * misfit
    uy = np.sqrt(em.crlb_y**2 + em.spread_y) * misfit
    unc = np.sqrt((ux**2 + uy**2) / 2)
    with np.errstate(invalid="ignore"):
        keep = (
            em.converged
            & np.isfinite(unc)
            & (unc <= sigma0)  # localises nothing better than the PSF: a degenerate fit
            & (em.photons >= max(params.min_photons, 1e-9))
            & (em.sigma > 0.4 * sigma0)
            & (em.sigma < 2.5 * sigma0)
            & (np.abs(em.x - em.anchor_x) <= MAX_MOVE_PX)
            & (np.abs(em.y - em.anchor_y) <= MAX_MOVE_PX)
        )
    return pd.DataFrame(
        {
            "frame": em.frame + frame_offset,
            "x": em.x,
            "y": em.y,
            "sigma": em.sigma,
            "photons": em.photons,
            "background": em.background,
            "bkgstd": em.bkgstd,
            "uncertainty": unc,
            "uncertainty_x": ux,
            "uncertainty_y": uy,
            "log_likelihood": em.log_likelihood,
            "_keep": keep,
        }
    )


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
    """Localise every punctum in a (T, H, W) ADU movie (numpy or dask) with the classical path.
    Uncertainty: the Cramér-Rao bound plus the model-selection and misfit terms of `_table`,
    plus the variance of a possibly unresolved pair (`unresolved.add_unresolved_variance`)."""
    params = params or PunctaParams()
    n = int(stack.shape[0])
    parts = []
    blank: list[int] = []
    checked = False
    for start in range(0, n, params.chunk_frames):
        check_cancelled(cancel, "localisation")
        stop = min(n, start + params.chunk_frames)
        photons = photons_chunk(stack, start, stop, camera)
        check_finite(photons, start, "puncta channel")
        if not checked:
            check_has_photons(photons, camera, "puncta channel")
            checked = True
        blank += blank_frames(photons, start)
        parts.append(fit_frames(photons, params, camera, start))
        if progress is not None:
            progress(stop, n, f"localised frames {stop}/{n}")
    warn_blank_frames(blank, n)
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_localizations()
    # the chance that a spot is two unresolved puncta needs the whole movie's density,
    # brightness and widths (`unresolved.py`)
    table = pd.concat(parts, ignore_index=True)
    area = float(stack.shape[1]) * float(stack.shape[2])
    return add_unresolved_variance(table, n, area, params.psf_sigma_px)
