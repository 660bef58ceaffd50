"""Motion-correct a whole movie, chunk by chunk: the one core function of the registration step.

    result = register_movie("movie.tif", RegisterParams(mode="piecewise"), output="reg.tif")
    result.shifts_table()      # frame, dy, dx   (the CLI contract's shifts.csv)
    result.patch_table()       # frame, patch, y, x, dy, dx (piecewise mode)

Memory is bounded by `chunk_frames`: the template comes from a sample of frames; every chunk is
read, its shifts estimated, warped once and written (TIFF or zarr) before the next is read. The
output file appears only when every frame was written (a cancel or an error leaves none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.core.registration.metrics import (
    METRIC_SMOOTH_PX,
    border_crop,
    crispness,
    frame_correlations,
    smoothed,
)
from napari_catrack.core.registration.params import RegisterParams
from napari_catrack.core.registration.piecewise import (
    FieldWarper,
    estimate_piecewise,
    patch_grid,
    patch_reference,
)
from napari_catrack.core.registration.rigid import (
    correct_bidi,
    estimate_bidi_offset,
    estimate_rigid,
    make_reference,
    shift_frames,
    to_dtype,
)
from napari_catrack.core.registration.template import (
    bad_frame_message,
    build_template,
    check_frames,
)
from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.io.frames import FrameSource, MovieWriter, open_frames

CHUNK_PIXELS = 1 << 24  # at most ~16 M pixels per chunk (~64 MB per float32 copy)
RESIDUAL_EVERY = 10  # residual motion is re-measured on every 10th registered frame ...
RESIDUAL_MIN_FRAMES = 20  # ... or more often, so a short movie has 20 (or all) of them


@dataclass
class RegistrationResult:
    """Shifts, patch shifts, template and quality metrics of one registration."""

    shifts: np.ndarray  # (T, 2) whole-frame motion (dy, dx) of the content vs the template
    peak: np.ndarray  # (T,) phase-correlation peak height (0 for kept bad frames)
    correlation: np.ndarray  # (T,) correlation of each registered frame with the template
    template: np.ndarray
    mean_raw: np.ndarray
    mean_registered: np.ndarray
    params: RegisterParams
    patch_shifts: np.ndarray | None = None  # (T, P, 2)
    patch_centres: np.ndarray | None = None  # (P, 2) (y, x)
    bidi_offset: float = 0.0
    bad_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    metrics: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None
    movie: np.ndarray | None = None  # the registered movie, when asked for in memory
    notes: list[str] = field(default_factory=list)  # what the user should know (patch size chosen)

    def shifts_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"frame": np.arange(len(self.shifts)), "dy": self.shifts[:, 0], "dx": self.shifts[:, 1]}
        )

    def patch_table(self) -> pd.DataFrame:
        """One row per frame and patch: patch centre (y, x) and its shift (dy, dx)."""
        if self.patch_shifts is None:
            return pd.DataFrame(columns=["frame", "patch", "y", "x", "dy", "dx"])
        t, p = self.patch_shifts.shape[:2]
        return pd.DataFrame(
            {
                "frame": np.repeat(np.arange(t), p),
                "patch": np.tile(np.arange(p), t),
                "y": np.tile(self.patch_centres[:, 0], t),
                "x": np.tile(self.patch_centres[:, 1], t),
                "dy": self.patch_shifts[..., 0].ravel(),
                "dx": self.patch_shifts[..., 1].ravel(),
            }
        )

    def attrs(self) -> dict[str, Any]:
        """JSON-able summary for the session and the CLI."""
        return {
            "mode": self.params.mode,
            "frames": len(self.shifts),
            "bidi_offset_px": float(self.bidi_offset),
            "bad_frames": [int(i) for i in self.bad_frames],
            "output": str(self.output) if self.output else None,
            **self.metrics,
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def _nanmedian(x: np.ndarray) -> float | None:
    return float(np.nanmedian(x)) if np.isfinite(x).any() else None


def _sample(source: FrameSource, params: RegisterParams) -> np.ndarray:
    sample = source.sample(params.template_frames).astype(np.float32)
    good = check_frames(sample)
    if not good.all():
        if params.bad_frames == "error":
            raise InputError(_sample_error(source, sample, good))
        sample = sample[good]
    return sample


def _sample_error(source: FrameSource, sample: np.ndarray, good: np.ndarray) -> str:
    """Name the bad frame by its index in the movie (the sample is spread over it)."""
    for t0, t1 in source.chunks(500):
        chunk = source.read(t0, t1)
        ok = check_frames(chunk)
        if not ok.all():
            return bad_frame_message(chunk, ok, t0)
    return bad_frame_message(sample, good, 0)


def register_movie(
    movie,
    params: RegisterParams | None = None,
    *,
    output: str | os.PathLike | None = None,
    keep_in_memory: bool = False,
    fps: float | None = None,
    progress=None,
    cancel=None,
) -> RegistrationResult:
    """Motion-correct `movie` (array, dask array or file path) and optionally write it.

    `output` (.tif/.tiff or .zarr) receives the registered movie in the input's dtype and shape;
    `keep_in_memory` also returns it as `result.movie` (small movies: tests, the widget).
    """
    p = params or RegisterParams()
    source = movie if isinstance(movie, FrameSource) else open_frames(movie, fps=fps)
    try:
        return _register(source, p, output, keep_in_memory, progress, cancel)
    finally:
        if not isinstance(movie, FrameSource):
            source.close()


def _register(source, p, output, keep_in_memory, progress, cancel) -> RegistrationResult:
    n, h, w = source.shape
    if n < 3:
        raise InputError(
            f"the movie has {n} frame(s): too short to build a registration template "
            "(at least 3 frames are needed)"
        )
    # the default patches on a small frame: smaller ones, used here and kept apart from the
    # parameters asked for (those are recorded: --params-from must not carry a small movie's
    # fitted patches to a large one)
    asked = p
    p, patch_note = p.for_frame((h, w))
    used = {} if p == asked else {"patch_px_used": p.patch_px, "patch_overlap_px_used": p.patch_overlap_px}  # fmt: skip
    grid = patch_grid((h, w), p.patch_px, p.patch_overlap_px) if p.mode == "piecewise" else None
    max_shift = min(p.max_shift_px, h / 2 - 2, w / 2 - 2)
    if progress:
        progress(0, n, "building the template")
    sample = _sample(source, p)
    bidi = estimate_bidi_offset(sample.mean(axis=0)) if p.bidirectional else 0.0
    if bidi:
        sample = correct_bidi(sample, bidi)
    template = build_template(
        sample,
        iterations=p.template_iterations,
        max_shift=max_shift,
        smooth_sigma=p.smooth_sigma_px,
        highpass_px=p.highpass_px,
    )
    check_cancelled(cancel, "registration")
    ref = make_reference(template, p.smooth_sigma_px, p.highpass_px)
    sample_shifts = estimate_rigid(sample, ref, max_shift)[0]
    crop = border_crop((h, w), sample_shifts + np.sign(sample_shifts))
    pref = patch_reference(template, grid, p.smooth_sigma_px, p.highpass_px) if grid else None
    warper = FieldWarper(grid) if grid else None

    shifts = np.zeros((n, 2))
    peak = np.zeros(n)
    corr = np.full(n, np.nan)
    corr_raw = np.full(n, np.nan)
    patch_shifts = np.zeros((n, len(grid.centres), 2), np.float32) if grid else None
    sum_raw = np.zeros((h, w))
    sum_reg = np.zeros((h, w))
    n_good = 0  # frames in the mean images and the metrics: bad frames (kept) are left out
    residual: list[np.ndarray] = []
    stride = max(1, min(RESIDUAL_EVERY, n // RESIDUAL_MIN_FRAMES))  # 20 frames: all 20, not 2
    bad_frames: list[np.ndarray] = []
    out_dtype = source.dtype if source.dtype.kind in "iuf" else np.dtype(np.float32)
    writer = (
        MovieWriter(
            output, (n, h, w), out_dtype, fps=source.fps, pixel_size_um=source.pixel_size_um
        )
        if output
        else None
    )
    kept = np.empty((n, h, w), out_dtype) if keep_in_memory else None
    metric_ref = smoothed(template[crop])
    try:
        chunk = min(p.chunk_frames, max(1, CHUNK_PIXELS // (h * w)))  # big frames: fewer per chunk
        for t0, t1 in source.chunks(chunk):
            check_cancelled(cancel, "registration")
            raw = source.read(t0, t1)
            frames = correct_bidi(raw, bidi) if bidi else raw.astype(np.float32)
            good = check_frames(frames)
            if not good.all():
                if p.bad_frames == "error":
                    raise InputError(bad_frame_message(frames, good, t0))
                bad_frames.append(t0 + np.flatnonzero(~good))
            reg = frames.astype(np.float32, copy=True)
            g = np.flatnonzero(good)
            if g.size:
                if grid is not None:
                    ps, _, pk = estimate_piecewise(
                        frames[g], pref, grid, max_shift=max_shift,
                        max_deviation=p.max_deviation_px, min_psr=p.patch_min_psr,
                    )  # fmt: skip
                    reg[g] = warper.warp(frames[g], ps)
                    patch_shifts[t0 + g] = ps
                    s = warper.frame_mean(ps)  # rigid part + mean patch deviation over the frame
                else:
                    s, pk, _ = estimate_rigid(frames[g], ref, max_shift)
                    reg[g] = shift_frames(frames[g], s)
                shifts[t0 + g], peak[t0 + g] = s, pk
                cy, cx = crop
                corr_raw[t0 + g] = frame_correlations(smoothed(frames[g][:, cy, cx]), metric_ref)
                corr[t0 + g] = frame_correlations(smoothed(reg[g][:, cy, cx]), metric_ref)
                every = g[(t0 + g) % stride == 0]
                if every.size:
                    residual.append(estimate_rigid(reg[every], ref, max_shift)[0])
            b = np.flatnonzero(~good)
            if b.size:  # kept: NaN/inf pixels become the template's, so summary/sources read it
                reg[b] = np.where(np.isfinite(reg[b]), reg[b], template[None])
            sum_raw += frames[g].sum(axis=0, dtype=np.float64)
            sum_reg += reg[g].sum(axis=0, dtype=np.float64)
            n_good += g.size
            out = to_dtype(reg, out_dtype)
            if writer is not None:
                writer.write(out)
            if kept is not None:
                kept[t0:t1] = out
            if progress:
                progress(t1, n, "registering")
        check_cancelled(cancel, "registration")
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    mean_raw = (sum_raw / max(n_good, 1)).astype(np.float32)
    mean_reg = (sum_reg / max(n_good, 1)).astype(np.float32)
    res = np.concatenate(residual) if residual else np.zeros((0, 2))
    res_norm = np.linalg.norm(res - np.median(res, axis=0), axis=1) if len(res) else np.zeros(1)
    cy, cx = crop
    metrics = {
        "correlation_raw_median": _nanmedian(corr_raw),
        "correlation_median": _nanmedian(corr),
        "crispness_raw": crispness(smoothed(mean_raw[cy, cx])) if n_good else None,
        "crispness_registered": crispness(smoothed(mean_reg[cy, cx])) if n_good else None,
        "metrics_frames": int(n_good),
        "metrics_smoothing_px": METRIC_SMOOTH_PX,
        "residual_motion_median_px": float(np.median(res_norm)),
        "residual_motion_p95_px": float(np.percentile(res_norm, 95)),
        "residual_motion_frames": len(res),
        "max_shift_found_px": float(np.abs(shifts).max()) if n else 0.0,
        **used,
    }
    return RegistrationResult(
        shifts=shifts,
        peak=peak,
        correlation=corr,
        template=template,
        mean_raw=mean_raw,
        mean_registered=mean_reg,
        params=asked,
        patch_shifts=patch_shifts,
        patch_centres=grid.centres if grid else None,
        bidi_offset=float(bidi),
        bad_frames=np.concatenate(bad_frames) if bad_frames else np.zeros(0, int),
        metrics=metrics,
        output=Path(output) if output else None,
        movie=kept,
        notes=[patch_note] if patch_note else [],
    )
