"""Estimate the rigid transform that puts the red (structural) channel exactly on green (activity).

Why this shape: the two cameras (or the two halves of one chip) differ by a fixed calibration
transform, while the animal, its brightness and its activity change from frame to frame.
1. Summarise many frames per channel (mean/max/median/percentile), each frame divided by its own
   mean so bleaching and different brightness cannot weight the summary; band-pass and robustly
   z-score the summaries so only shared structure (neurons, body edge) remains.
2. Rotation (and scale) from the log-polar phase correlation of the Fourier magnitudes, which
   translation cannot disturb; then translation from upsampled phase correlation after undoing the
   rotation (`skimage.registration.phase_cross_correlation`).
3. Refine all parameters together by maximising the normalised cross-correlation (ECC's criterion,
   `scipy.optimize.least_squares`) over a set of simultaneous frame pairs. A moving animal blurs the
   summaries differently per channel (green brightness follows activity), which biases any
   summary-only estimate by tenths of a pixel; each single frame pair has the exact geometry.
   With `estimate_affine` the fit also takes the aspect and shear (a full affine map: two cameras
   with different optics); the first two steps stay similarity estimates, which is close enough
   to start from (such calibrations differ from a similarity by under a percent).
The geometry convention lives in `rigid.py`, the image maths in `_registration.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from napari_catrack.core import _registration as reg
from napari_catrack.core.alignment_params import PROJECTIONS, AlignParams
from napari_catrack.core.rigid import AlignmentTransform, sample_red_at
from napari_catrack.errors import InputError
from napari_catrack.io.lazy import compute_here, is_dask

__all__ = [
    "PROJECTIONS",
    "AlignmentTransform",
    "estimate_alignment",
    "iter_estimate_alignment",
    "sample_red_at",
    "summary_image",
]

ProgressFn = Callable[[float, str], Any]
_CHUNK = 32  # frames per work unit in summaries
# Below this NCC the estimate matched nothing (docs/alignment.md, "How good is an estimate"):
# real green/red pairs scored 0.65-0.94, unrelated images (a single-channel movie split in
# halves, red from another recording or volume, shuffled pixels, a flipped copy) 0.02-0.23.
POOR_MATCH_NCC = 0.3
CHECK_CHANNELS_CLI = (
    "check that REC has two channels and how they are stored (--layout/--split, "
    "--green-channel/--red-channel), and look at the overlay in napari's Align channels widget"
)
_THREADED_PIXELS = 1 << 24  # summarise in threads from this many pixels per channel on


# -- summaries ------------------------------------------------------------------------------------
def _as_stack(data: Any, name: str):
    """numpy or dask, (T, Y, X) or (Y, X) → (T, Y, X) of the same kind; clear errors otherwise.

    numpy stays numpy: `dask.array.from_array` would copy the whole stack first.
    """
    if data is None:
        raise InputError(
            f"the {name} channel is missing: alignment needs a two-channel recording "
            "(give --green-channel/--red-channel or --split)"
        )
    # a lazy stack (dask, or file reads: io.tiff.FileFrames) is read frame by frame below
    arr = data if is_dask(data) or getattr(data, "reads_on_demand", False) else np.asarray(data)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"the {name} channel must be (T, Y, X) or (Y, X), got shape {arr.shape}")
    if min(arr.shape[1:]) < 16 or arr.shape[0] < 1:
        raise InputError(f"the {name} channel is too small to align: shape {arr.shape}")
    return arr


def _take(stack: Any, idx: np.ndarray, box: tuple[slice, slice] | None = None) -> np.ndarray:
    """Frames `idx` (cropped to `box`) as float32 numpy, reading only those from a lazy stack.

    A lazy stack is read in this thread: the callers already work in parallel chunks, and dask's
    thread pool only adds scheduling cost to a few small reads.
    """
    ys, xs = box if box is not None else (slice(None), slice(None))
    return np.asarray(compute_here(stack[idx][:, ys, xs]), dtype=np.float32)


def _summaries_and_pairs(
    g_stack: Any, r_stack: Any, idx: np.ndarray, keep: np.ndarray, projection: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean/max summaries of frames `idx` of both channels in ONE read, keeping frames `keep`.

    The refinement's frame pairs are a subset of the summarised frames, so they are kept from the
    same read instead of being read again (the read is most of the cost on a lazy file).
    Returns (green summary, red summary, kept green frames, kept red frames).
    """
    chunks = [idx[i : i + _CHUNK] for i in range(0, idx.size, _CHUNK)]

    def work(c: np.ndarray):
        g, r = _take(g_stack, c), _take(r_stack, c)
        mine = np.isin(c, keep)
        return (
            _normalised_reduce(g, projection)[0],
            _normalised_reduce(r, projection)[0],
            (g[mine], r[mine]),
        )

    pixels = idx.size * int(np.prod(g_stack.shape[1:]))
    if pixels < _THREADED_PIXELS:  # small reads: threads would only add switching
        parts = [work(c) for c in chunks]
    else:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1, len(chunks))) as pool:
            parts = list(pool.map(work, chunks))
    reduce = np.sum if projection == "mean" else np.max
    g_sum, r_sum = (reduce([p[i] for p in parts], axis=0) for i in (0, 1))
    if projection == "mean":
        g_sum, r_sum = g_sum / idx.size, r_sum / idx.size
    g_kept = np.concatenate([p[2][0] for p in parts])
    r_kept = np.concatenate([p[2][1] for p in parts])
    return g_sum, r_sum, g_kept, r_kept


def summary_image(
    stack: Any, max_frames: int = 500, projection: str = "mean", percentile: float = 90.0
) -> np.ndarray:
    """One robust 2-D image from up to `max_frames` evenly spaced frames.

    Each frame is divided by its own mean first, so bleaching (or a brighter channel) changes
    neither the weight of early frames nor the contrast of the result. Works chunk by chunk
    (bounded memory; dask stacks in parallel).
    """
    if projection not in PROJECTIONS:
        raise InputError(f"projection must be one of {', '.join(PROJECTIONS)}, got {projection!r}")
    arr = _as_stack(stack, "input")
    n = arr.shape[0]
    idx = _frame_indices(n, max_frames)
    if projection in ("median", "percentile"):
        q = 50.0 if projection == "median" else float(percentile)
        if is_dask(arr):
            frames = arr[idx].map_blocks(_per_frame_normalised, dtype=np.float32)
            frames = frames.rechunk({0: -1, 1: "auto", 2: -1})
            out = frames.map_blocks(
                lambda b: np.percentile(b, q, axis=0)[None],
                dtype=np.float32,
                chunks=(1, *frames.chunks[1:]),
            )[0]
            return np.asarray(out.compute(), dtype=np.float32)
        # strips of rows keep memory at ~64 rows x frames, not a float copy of the whole stack
        levels = np.array([arr[i].mean(dtype=np.float64) for i in idx], dtype=np.float32)
        levels = np.where(levels > 0, levels, np.inf)[:, None, None]
        out = np.empty(arr.shape[1:], np.float32)
        for r0 in range(0, arr.shape[1], 64):
            strip = arr[idx, r0 : r0 + 64].astype(np.float32) / levels
            out[r0 : r0 + 64] = np.percentile(strip, q, axis=0)
        return out
    if is_dask(arr):
        frames = (arr[idx] if idx.size < n else arr).rechunk({0: _CHUNK, 1: -1, 2: -1})
        partial = frames.map_blocks(
            _normalised_reduce, projection, dtype=np.float32, chunks=(1, *frames.shape[1:])
        )
        out = partial.sum(axis=0) if projection == "mean" else partial.max(axis=0)
        out = np.asarray(out.compute(), dtype=np.float32)
    else:
        chunks = [idx[i : i + _CHUNK] for i in range(0, idx.size, _CHUNK)]
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            parts = list(pool.map(lambda c: _normalised_reduce(arr[c], projection)[0], chunks))
        out = np.sum(parts, axis=0) if projection == "mean" else np.max(parts, axis=0)
    return out / idx.size if projection == "mean" else out


def _per_frame_normalised(block: np.ndarray) -> np.ndarray:
    """Each frame divided by its own mean (bleaching and gain drop out)."""
    f = block.astype(np.float32)
    level = f.mean(axis=(1, 2), keepdims=True)
    f /= np.where(level > 0, level, np.inf)
    return f


def _normalised_reduce(block: np.ndarray, projection: str) -> np.ndarray:
    f = _per_frame_normalised(block)
    return (f.sum(axis=0) if projection == "mean" else f.max(axis=0))[None]


def _bandpass(frame: np.ndarray) -> np.ndarray:
    """Neuron-scale band-pass of one frame: drops the body glow, whose green/red contrast differs
    from the neurons' and would otherwise pull the fit."""
    # a 9-px box mean is a cheap stand-in for a sigma-4 Gaussian background (cost per pixel is flat)
    return ndimage.gaussian_filter(frame, 1.0) - ndimage.uniform_filter(frame, 9)


def _frame_indices(n: int, max_frames: int) -> np.ndarray:
    """Up to `max_frames` frame indices spread evenly over `n` frames."""
    return np.unique(np.linspace(0, n - 1, min(max(int(max_frames), 1), n)).round().astype(int))


def _check_pair(green: Any, red: Any):
    g_stack, r_stack = _as_stack(green, "green"), _as_stack(red, "red")
    if g_stack.shape[1:] != r_stack.shape[1:]:
        raise InputError(
            f"green and red frames differ in size: {g_stack.shape[1:]} vs {r_stack.shape[1:]}"
        )
    if g_stack.shape[0] != r_stack.shape[0]:
        raise InputError(
            f"green and red differ in length: {g_stack.shape[0]} vs {r_stack.shape[0]} frames"
        )
    return g_stack, r_stack


@dataclass
class _Read:
    """What one read of a recording gives the estimate (and `score_alignments`)."""

    g_stack: Any
    r_stack: Any
    n_frames: int  # frames summarised
    g_sum: np.ndarray
    r_sum: np.ndarray
    sub: np.ndarray  # frames kept for the frame-pair fit (empty: summaries only)
    kept: list | None  # those frames of both channels, when they came with the summaries' read

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(n) for n in self.g_stack.shape[1:])


def _read(green: Any, red: Any, p: AlignParams) -> Generator[tuple[float, str], None, _Read]:
    g_stack, r_stack = _check_pair(green, red)
    idx = _frame_indices(g_stack.shape[0], p.max_frames)
    refine = g_stack.shape[0] > 1 and p.refine_frames > 0
    sub = idx[_frame_indices(len(idx), p.refine_frames)] if refine else idx[:0]
    kept = None
    if p.projection in ("mean", "max"):
        yield 0.0, "reading frames and summarising both channels"
        g_sum, r_sum, *kept = _summaries_and_pairs(g_stack, r_stack, idx, sub, p.projection)
    else:
        yield 0.0, "summarising green"
        g_sum = summary_image(g_stack, p.max_frames, p.projection)  # the same frames as idx
        yield 0.25, "summarising red"
        r_sum = summary_image(r_stack, p.max_frames, p.projection)
    for name, img in (("green", g_sum), ("red", r_sum)):
        if not np.isfinite(img).all():
            raise InputError(
                f"the {name} channel has NaN or infinite pixels; alignment needs finite images"
            )
        if float(img.max() - img.min()) <= 0:
            raise InputError(f"the {name} channel is blank (all frames dark or constant)")
    return _Read(g_stack, r_stack, len(idx), g_sum, r_sum, sub, kept)


def _pairs(read: _Read, g_fine: np.ndarray, r_fine: np.ndarray, near: Any) -> list[reg.Pair]:
    """The pairs the fit (or a score) uses: simultaneous frame pairs cropped to where the animal
    went (the red crop covers the green one under `near`, a transform or parameter vector), or
    the whole fine summaries when the recording has one frame or `refine_frames` is 0."""
    if not read.sub.size:
        return [reg.whole(g_fine, r_fine)]
    # crop to where the animal went: the cost follows the animal, not the field of view
    box = reg.region_of_interest(g_fine, pad=16)
    rbox = reg.red_box(box, near, read.shape, pad=8)
    if read.kept is not None:  # the frame pairs came with the summaries' read
        g_frames, r_frames = read.kept[0][:, box[0], box[1]], read.kept[1][:, rbox[0], rbox[1]]
    else:
        g_frames = _take(read.g_stack, read.sub, box)
        r_frames = _take(read.r_stack, read.sub, rbox)
    g_at, r_at = (box[0].start, box[1].start), (rbox[0].start, rbox[1].start)
    return [
        reg.Pair(_bandpass(g), _bandpass(r), g_at, r_at, margin=6)
        for g, r in zip(g_frames, r_frames)
    ]


def iter_estimate_alignment(
    green: Any, red: Any, params: AlignParams | None = None, **changes: Any
) -> Generator[tuple[float, str], None, AlignmentTransform]:
    """Generator form of `estimate_alignment`: yields (fraction, message), returns the transform.

    Widgets run it in a `thread_worker` (progress and cancel at each yield); scripts call
    `estimate_alignment`.
    """
    p = AlignParams.resolve(params, **changes)
    estimate_affine = p.estimate_affine
    estimate_scale = p.estimate_scale or estimate_affine
    read = yield from _read(green, red, p)
    yield 0.45, "estimating rotation and translation"
    params, ncc0, g_fine, r_fine = reg.initial_guess(read.g_sum, read.r_sum, estimate_scale)
    if not (g_fine.any() and r_fine.any()):
        raise InputError("a channel has no structure to align (blank or constant summary image)")
    yield 0.65, "refining on frame pairs"
    pairs = _pairs(read, g_fine, r_fine, params)
    params, score = reg.refine(
        pairs, params, estimate_scale, read.shape, fit_affine=estimate_affine
    )
    yield 1.0, "done"
    dy, dx, rot, sc = (float(v) for v in params[:4])
    aspect, shear = (float(v) for v in params[4:6]) if estimate_affine else (1.0, 0.0)
    return AlignmentTransform(
        dy,
        dx,
        rot,
        sc if estimate_scale else 1.0,
        "estimated",
        aspect=aspect,
        shear=shear,
        info={
            "method": "logpolar+phase_cross_correlation+ncc_least_squares",
            "ncc": round(score, 4),
            "ncc_summary_initial": round(float(ncc0), 4),
            "n_frames": read.n_frames,
            "n_refine_frames": len(pairs) if read.sub.size else 0,
            "projection": p.projection,
            "estimate_scale": bool(estimate_scale),
            "estimate_affine": bool(estimate_affine),
            "shape": list(read.shape),
        },
    )


def score_alignments(
    green: Any,
    red: Any,
    transforms: list[AlignmentTransform],
    params: AlignParams | None = None,
    **changes: Any,
) -> list[float]:
    """How well each transform puts red on green in this recording: the same NCC the estimate
    reports (frame pairs read once for all), so a calibration measured elsewhere can be checked,
    or told apart from its inverse."""
    p = AlignParams.resolve(params, **changes)
    read = _drain(_read(green, red, p))
    g_fine, r_fine = reg.fine_pair(read.g_sum, read.r_sum)
    return [round(reg.score(_pairs(read, g_fine, r_fine, t), t, read.shape), 4) for t in transforms]


def _drain(gen: Generator, progress: Callable[[float, str], None] | None = None) -> Any:
    """Run a progress generator to its end (reporting to `progress`), returning its value."""
    while True:
        try:
            fraction, message = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(fraction, message)


def poor_match_warning(
    transform: AlignmentTransform, what_to_check: str = CHECK_CHANNELS_CLI
) -> str | None:
    """The warning for an estimate whose NCC says red and green did not match (None when fine):
    such a transform is as good as random, yet later steps would use it without a word."""
    ncc = (transform.info or {}).get("ncc")
    if ncc is None or not ncc < POOR_MATCH_NCC:
        return None
    return (
        f"the alignment scores NCC {ncc:.3f}, below {POOR_MATCH_NCC}: red and green did not "
        "match (a real pair scores about 0.65-0.94, the demo 0.87; unrelated images 0.02-0.23), "
        f"so this transform is meaningless; {what_to_check}"
    )


def estimate_alignment(
    green: Any,
    red: Any,
    params: AlignParams | None = None,
    *,
    progress: ProgressFn | None = None,
    **changes: Any,
) -> AlignmentTransform:
    """Transform mapping red onto green, from (T, Y, X) stacks or 2-D images (numpy or dask).

    `params` (an `AlignParams`; keyword `changes` override single values): `max_frames` evenly
    spaced frames form the summaries; `refine_frames` of them (simultaneous green/red pairs) drive
    the final sub-pixel fit (0 = fit the summaries only, fine for a still sample). `progress(fraction, message)` is called as steps finish.
    """
    return _drain(iter_estimate_alignment(green, red, params, **changes), progress)
