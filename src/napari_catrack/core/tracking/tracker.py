"""Follow user-picked neurons through a moving-worm recording, with anchors and confidence.

Per frame: (1) global motion of the animal by phase correlation, (2) per-neuron local motion from
patches around each neuron (a trained CNN, or classical patch correlation), (3) one Hungarian
assignment of all tracks to local intensity maxima, so two tracks never take the same neuron, and
(4) a sub-pixel peak fit. Known points (seeds, user corrections) are anchors: sweeps run forward
and backward from them and the better-confidence estimate wins between anchors.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from napari_catrack.core.detection import robust_noise
from napari_catrack.core.tracking.motion import (
    downsample,
    extract_patches,
    local_maxima_near,
    patch_shifts,
    phase_shift,
    quadratic_refine,
    spectrum,
)
from napari_catrack.core.tracking.params import TrackParams
from napari_catrack.core.tracking.shape import blob_scale
from napari_catrack.errors import Cancelled, InputError
from napari_catrack.io.lazy import compute_here

TRACK_COLUMNS = ["neuron_id", "frame", "y", "x", "confidence", "source"]
"""The columns every tracks table has (older tables, before h15, lack `status`)."""
TRACK_OUTPUT_COLUMNS = [*TRACK_COLUMNS, "status"]
Progress = Callable[[int, int], None]
Cancel = Callable[[], bool]


class TrackingCancelled(Cancelled):
    """The user cancelled tracking; nothing was changed."""


class _Frames:
    """Chunked, cached reader of a (T, Y, X) numpy or dask array, returning smoothed frames."""

    def __init__(self, stack, params: TrackParams):
        self.stack, self.p = stack, params
        self.c0, self.buf = -1, None
        self.integer = np.issubdtype(np.dtype(getattr(stack, "dtype", np.float32)), np.integer)
        self.dropped: set[int] = set()  # frames skipped as mostly NaN/infinite (said after)

    def __call__(self, t: int) -> np.ndarray | None:
        """Frame t smoothed; None for a dropped frame (mostly NaN), which the sweep bridges."""
        c = t // self.p.chunk
        if c != self.c0:
            sl = slice(c * self.p.chunk, min((c + 1) * self.p.chunk, self.stack.shape[0]))
            # integer pixels stay integers until the filter, which writes float32 directly
            # (the same values: it computes in double either way); saves a conversion pass
            smoothed = self.integer and self.p.sigma > 0
            self.buf, self.c0 = read_frames(self.stack, sl, keep_integers=smoothed), c
        img = self.buf[t - c * self.p.chunk]
        if not self.integer and not (finite := np.isfinite(img)).all():
            # (integer pixels cannot be NaN) a few bad pixels get a neutral fill; a dropped
            # frame is skipped
            if finite.mean() < 0.5:
                self.dropped.add(t)
                return None
            img = np.where(finite, img, np.median(img[finite]))
        if self.p.sigma > 0:
            return ndi.gaussian_filter(img, self.p.sigma, output=np.float32, truncate=3.0)
        return img


WHOLE_READ_BYTES = 512 * 2**20
"""A lazy stack up to this size is read whole, once, in its own dtype (`in_memory`)."""


def in_memory(stack, max_bytes: int = WHOLE_READ_BYTES):
    """A lazy (dask) stack read whole into memory when it is at most `max_bytes`, else as is.

    Tracking visits every frame twice (forward and backward sweeps): one read of a small file
    instead of two chunked ones saves most of the reading cost (dask schedules one task per
    frame; measured ~0.3 s of 2 s on 400 frames of 192 x 192). The pixels keep their dtype
    (uint16 stays 2 bytes a pixel); numpy stacks are returned unchanged.
    """
    if not hasattr(stack, "compute"):
        return stack
    if int(np.prod(stack.shape)) * np.dtype(stack.dtype).itemsize > max_bytes:
        return stack
    return compute_here(stack)


def read_frames(stack, frames: slice, keep_integers: bool = False) -> np.ndarray:
    """Frames of a numpy or dask stack as float32 (integer pixels as they are when
    `keep_integers`), read in this thread.

    A chunk of frames is one small read: dask's thread pool only adds scheduling overhead
    (measured: 12 % of the tracking CPU time on a 192 x 192 recording).
    """
    frames_read = compute_here(stack[frames])
    if keep_integers and np.issubdtype(frames_read.dtype, np.integer):
        return np.ascontiguousarray(frames_read)
    return np.asarray(frames_read, dtype=np.float32)


def classical_refiner(prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local displacement by centre-weighted patch correlation (the fallback to the CNN)."""
    return patch_shifts(prev, cur)


TRACKED, PREDICTED, LOST = 0, 1, 2
STATUS_NAMES = ("tracked", "predicted", "lost")
"""Per neuron-frame `status`: tracked = on a peak of its own (or a seed / the user's point);
predicted = no peak of its own, carried by the motion estimate for at most `lost_after` frames
(confidence 0.1); lost = longer than that: held at its last supported place, moved with the
tracked neurons around it (confidence 0), until a peak of its brightness reappears."""


def _sweep(
    frames: _Frames,
    order: np.ndarray,
    known: np.ndarray,
    known_conf: np.ndarray,
    refiner,
    params: TrackParams,
    tick: Callable[[], None],
    stop: Callable[[int, np.ndarray], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over frames `order`; neurons start at their first known point along the way.

    Known points are held (they still take part in the assignment, so no other track can take
    their neuron); only the free neurons are refined and assigned. A free neuron without a peak
    of its own for more than `params.lost_after` frames is lost: it stops following its own
    motion estimate (which drifts onto background or a neighbour's blob) and is held at its last
    supported place, moved as the tracked neurons around it move, until a peak of its brightness
    reappears within `params.reacquire_radius`. `stop(t, positions)` may end the pass early
    (re-tracking stops once a corrected track rejoins the old one). Returns positions,
    confidence and status (STATUS_NAMES codes, -1 where not reached).
    """
    T, N, _ = known.shape
    pos = np.full((T, N, 2), np.nan)
    conf = np.full((T, N), np.nan)
    status = np.full((T, N), -1, dtype=np.int8)
    cur_pos = np.full((N, 2), np.nan)
    ref_amp = np.full(N, np.nan)
    miss = np.zeros(N, dtype=np.int64)  # frames since the last supporting peak
    ghost = np.full((N, 2), np.nan)  # a lost track's held place, moved with its neighbours
    k_lost = int(params.lost_after)
    calcium = params.brightness == "calcium"  # resolved by track()/retrack(): never "auto" here
    hi = TRANSIENT_MAX if calcium else None
    taken_amps = np.full((N, RUNNING_WINDOW), np.nan)  # calcium: the last peaks each neuron took
    n_taken = np.zeros(N, dtype=np.int64)
    # calcium: a neuron re-acquired on a peak brighter than its steady band is on probation (its
    # confidence capped, so it is listed for review) until its peaks are back near its baseline
    probation = np.full(N, np.nan)  # the baseline it was re-acquired with; NaN = not on it
    n_high = np.zeros(N, dtype=np.int64)  # peaks taken since, above / within that band
    n_back = np.zeros(N, dtype=np.int64)
    # the blob scales of each neuron's good frames (its size template: `_SizeMemory.template`)
    sizes = _SizeMemory(N) if params.size_ratio > 0 else None
    prev_img = prev_spec = prev_small = None
    noise = None
    for t in order:
        img = frames(int(t))
        kn = ~np.isnan(known[t, :, 0])
        if img is None:  # dropped frame: hold positions at zero confidence, match across it
            cur_pos[kn] = known[t, kn]
            miss[~kn] += 1
            miss[kn] = 0
            pos[t] = cur_pos
            conf[t] = np.where(np.isnan(cur_pos[:, 0]), np.nan, 0.0)
            conf[t, kn] = known_conf[t, kn]
            status[t] = _status(miss, k_lost, cur_pos)
            tick()
            continue
        small = downsample(img, params.downsample)
        spec = spectrum(small)
        bg = float(np.median(small[::2, ::2]))
        if noise is None:
            noise = robust_noise(img)
        alive = ~np.isnan(cur_pos[:, 0])
        if prev_img is not None and (alive & ~kn).any():
            shift, _ = phase_shift(prev_spec, spec, small.shape)
            if calcium:  # a transient can dominate the correlation
                clipped, _ = phase_shift(*clipped_spectra(prev_small, small), small.shape)
                if np.hypot(*(clipped - shift)) > SHIFT_AGREE_PX:
                    shift = clipped
            shift = shift * max(params.downsample, 1)
            lost = alive & ~kn & (k_lost > 0) & (miss > k_lost)
            was = cur_pos.copy()
            supported_before = alive & (miss == 0)
            # followed (and known) neurons: refine, then one joint assignment
            idx = np.flatnonzero(alive & ~lost)
            free = ~kn[idx]
            pred = known[t, idx].copy()
            p_prev = cur_pos[idx[free]]
            q = p_prev + shift
            pp = extract_patches(prev_img, p_prev, params.patch)
            cp = extract_patches(img, q, params.patch)
            if calcium:
                pp, cp = common_ceiling(pp, cp)
            d, _ = refiner(pp, cp)
            pred[free] = np.rint(q) + d + (p_prev - np.rint(p_prev))
            owners = None
            if calcium:  # every started neuron's place: last frame's, moved by the global shift
                owners = was + shift
            size = None if sizes is None else (sizes.template(idx), np.full(len(idx), np.nan))
            new, c, amp, taken = _assign(img, pred, bg, noise, ref_amp[idx], params,
                                         owners=owners, rows=idx, size=size)  # fmt: skip
            hit = _supports(amp, ref_amp[idx], hi) | kn[idx]
            cur_pos[idx] = new
            conf[t, idx] = np.where(hit, c, np.minimum(c, 0.1))  # no peak of its own: says so
            miss[idx] = np.where(hit, 0, miss[idx] + 1)
            if calcium:
                _probation_step(probation, n_high, n_back, idx[hit], amp[hit])
            upd = np.isfinite(amp) & (c > 0.3)
            if sizes is not None:  # a known point's size: `remember_known` (visible blobs only)
                own = upd & hit & ~kn[idx]
                sizes.remember(idx[own], size[1][own])
            # a known point's brightness: its visible blob's (`known_blobs`), never the peak it
            # was matched to (a speck beside a click on a dark place)
            bright = amp.copy()
            if (k_rows := kn[idx]).any():
                _, k_amp, k_seen = known_blobs(img, known[t, idx[k_rows]], bg, ref_amp[~kn])
                bright[k_rows] = np.where(k_seen, k_amp, np.nan)
                upd = np.isfinite(bright) & ((c > 0.3) | k_rows)
            if calcium:  # a low quantile of the last peaks: a transient does not raise it
                _remember(taken_amps, n_taken, idx[upd], bright[upd])
                ref_amp[idx[upd]] = _running_baseline(taken_amps[idx[upd]])
            else:
                ref_amp[idx[upd]] = np.where(
                    np.isnan(ref_amp[idx[upd]]),
                    bright[upd],
                    0.9 * ref_amp[idx[upd]] + 0.1 * bright[upd],
                )
            # unsupported neurons: their last supported place moves with the tracked ones
            # around it; a neuron lost from this frame on is held there
            lost_now = np.flatnonzero(lost)
            adrift = np.flatnonzero(alive & ~kn & ((miss > 0) | lost))
            if k_lost > 0 and len(adrift):
                ref = idx[hit & supported_before[idx]]
                ghost[adrift] += _neighbour_motion(
                    ghost[adrift], was[ref], cur_pos[ref] - was[ref], shift
                )
                newly = idx[free & ~hit & (miss[idx] > k_lost)]
                cur_pos[newly] = ghost[newly]
                conf[t, newly] = 0.0
                probation[newly] = np.nan  # lost again: a later re-acquisition decides anew
            if len(lost_now):  # re-acquire: a free peak of its brightness near the held place
                owners = None
                if calcium:  # every other neuron's place this frame; the lost ones' held places
                    owners = cur_pos.copy()
                    owners[lost_now] = ghost[lost_now]
                size = None
                if sizes is not None:
                    size = (sizes.template(lost_now), np.full(len(lost_now), np.nan))
                g, c2, amp2 = _reacquire(img, ghost[lost_now], bg, noise, ref_amp[lost_now],
                                         params, exclude=taken, owners=owners,
                                         rows=lost_now, size=size)  # fmt: skip
                back = np.isfinite(amp2)
                cur_pos[lost_now] = g
                conf[t, lost_now] = np.where(back, c2, 0.0)
                miss[lost_now] = np.where(back, 0, miss[lost_now] + 1)
                if calcium:
                    with np.errstate(invalid="ignore"):
                        bright = back & (amp2 > ref_amp[lost_now] / REACQUIRE_BRIGHTNESS)
                    moved = np.linalg.norm(g - ghost[lost_now], axis=1) > PROBATION_MOVE_PX
                    bright &= moved
                    start = lost_now[bright]
                    probation[start] = ref_amp[start]
                    n_high[start], n_back[start] = 1, 0
            if calcium:  # on probation: listed for review, whatever the peak's fit
                on = np.flatnonzero(np.isfinite(probation) & alive & ~kn)
                conf[t, on] = np.minimum(conf[t, on], PROBATION_CONFIDENCE)
            sup = alive & (miss == 0)
            ghost[sup] = cur_pos[sup]
        cur_pos[kn] = known[t, kn]
        conf[t, kn] = known_conf[t, kn]
        miss[kn] = 0
        ghost[kn] = known[t, kn]
        probation[kn] = np.nan  # a known point (seed, the user's) ends it
        if sizes is not None and kn.any():  # a seed or the user's point: the neuron's size
            sizes.remember_known(img, known[t, kn], np.flatnonzero(kn), bg, ref_amp[~kn])
        new_ref = kn & np.isnan(ref_amp)
        if new_ref.any():  # a neuron's first brightness: that of the blob its point lands on
            ref_amp[new_ref] = start_brightness(img, known[t, new_ref], bg, ref_amp[~kn])
            _remember(taken_amps, n_taken, np.flatnonzero(new_ref), ref_amp[new_ref])
        pos[t] = cur_pos
        status[t] = _status(miss, k_lost, cur_pos)
        prev_img, prev_spec, prev_small = img, spec, small
        tick()
        if stop is not None and stop(int(t), cur_pos):
            break
    return pos, conf, status


SUPPORT_BRIGHTNESS = 0.25
"""A peak a track takes supports it (counts as the neuron's own) only when it is within this
factor (and its inverse) of the neuron's running brightness above background: a noise speck in
the dark where the neuron was, or a much brighter blob it slid onto, does not."""


TRANSIENT_MAX = 30.0
"""On a calcium channel (`TrackParams.brightness="calcium"`) a peak up to this factor of the
neuron's running baseline is still its own (its transients: GCaMP reaches 5-20x), instead of the
steady channel's 4x; the owner rule (`_match`) keeps a neighbour off such a bright peak."""

RUNNING_WINDOW, RUNNING_QUANTILE = 40, 0.25
"""On a calcium channel a neuron's running brightness is this quantile of the last this many
peaks it took: its baseline, which its own transients (a few frames to a few tens) do not raise
(the steady channel's running mean rose 10 % a frame during a transient, so a neuron lost just
before its transient could not be re-acquired until the transient fell back)."""


PROBATION_CONFIDENCE, PROBATION_MOVE_PX = 0.1, 2.0
"""On a calcium channel a lost neuron re-acquired on a peak brighter than 1/REACQUIRE_BRIGHTNESS
x its baseline (which only the calcium band allows: its own transient, or another blob) more
than PROBATION_MOVE_PX from its held place is on probation: it stays `tracked` but gets at most
this confidence (that of a frame without a peak of its own, below the review list's default
threshold 0.5) until at least as many of the peaks it took since are back within that factor of
the baseline it was re-acquired with as are above it (a transient has decayed; another blob
does not). On ZephIR an invisible neuron (22) was re-acquired 4.6 px away on a peak 3.6x its
baseline and sat on that blob for 156 frames at good confidence, out of the review list
(failures listed 96 -> 66 %, in its first 10 places 89 -> 18 %; with probation 96 % / 89 %,
positions unchanged). A neuron back during its own transient reappears at its held place
(calcium movies: 0.1-0.8 px), so it is not listed; without the distance condition each such
return was listed for ~47 frames."""


def _probation_step(probation, n_high, n_back, rows, amps) -> None:
    """Count each probation row's taken peak as above or back within its re-acquired band; end
    the probation of rows whose peaks since are at least half back (a transient that decayed)."""
    rows_on = np.isfinite(probation[rows]) & np.isfinite(amps)
    rows, amps = rows[rows_on], amps[rows_on]
    high = amps > probation[rows] / REACQUIRE_BRIGHTNESS
    n_high[rows] += high
    n_back[rows] += ~high
    done = rows[n_back[rows] >= n_high[rows]]
    probation[done] = np.nan


def _remember(buf: np.ndarray, count: np.ndarray, rows: np.ndarray, amps: np.ndarray) -> None:
    """Write `amps` into each row's ring of the last RUNNING_WINDOW peaks taken."""
    buf[rows, count[rows] % buf.shape[1]] = amps
    count[rows] += 1


def _running_baseline(buf: np.ndarray) -> np.ndarray:
    """RUNNING_QUANTILE of each row's remembered peaks (NaN slots: not yet filled)."""
    return np.nanquantile(buf, RUNNING_QUANTILE, axis=1)


SIZE_WINDOW, SIZE_MIN_SAMPLES, SEED_VISIBLE = 40, 3, 0.1
"""A neuron's size template is the median blob scale (`shape.blob_scale`) of the last
SIZE_WINDOW peaks it took as its own (supported, confidence > 0.3), and of its seed and the
user's points where they sit on a visible blob: at least SEED_VISIBLE x the median brightness of
the neurons (`known_blobs`; a point with fewer than half the neurons' brightness to compare gives
none; a seed clicked on a neuron that is dark at that frame, like ZephIR's neuron 22 at 1 grey
level against a median of 81, has no size yet). A neuron without a size of its own is held to
the median size of the neurons that have one. A known point's running brightness comes from
the same visible blob, or none (not from the peak it was matched to).

What is refused (`_match`): a lost neuron's take-back onto a blob more than `size_ratio` x
smaller or larger than its template (another cell, two merged), and a followed neuron's jump
(farther than `size_jump` from its prediction) onto a blob more than that much smaller (a
speck). A followed neuron's jump onto a larger blob is allowed: a neuron that comes close to a
neighbour merges with it in the image and is still on that blob (synthetic calcium movies, seed
4: refusing it held b 2.0-2.4 px off for 2 frames that the merged peak had within 0.5 px)."""


def known_blobs(img, points, bg: float, others=None, unjudged: bool = False):
    """(best, amp, seen) of known points (seeds, the user's): the brightest pixel within 2 px
    of each (a click is rarely on the very centre), its brightness above `bg`, and whether it is
    a visible blob: at least SEED_VISIBLE x the median brightness of these points and of the
    `others` (the other neurons' running brightness; NaN: not started).

    A user's correction is often the only known point of its frame, and judged against itself a
    click on a dark place always looked visible (its speck's scale, 1 px, became the neuron's
    size after three such clicks); where a sweep starts no other neuron has a brightness yet,
    and two clicks on dark places were judged against each other. So a point is judged only
    against the brightness of more than half the neurons (and of two at least): seeds, every
    neuron at once, are; a few corrections before the other neurons start are not (none seen,
    or all seen with `unjudged`: `start_brightness` takes an unjudged click as on its blob)."""
    h, w = img.shape
    yx = np.clip(np.rint(points).astype(int), 0, [h - 1, w - 1])
    off = np.stack(np.meshgrid(np.arange(-2, 3), np.arange(-2, 3), indexing="ij"), -1)
    near = np.clip(yx[:, None, None] + off, 0, [h - 1, w - 1]).reshape(len(yx), -1, 2)
    vals = img[near[..., 0], near[..., 1]]
    best = near[np.arange(len(yx)), vals.argmax(axis=1)]
    amp = vals.max(axis=1) - bg
    others = np.zeros(0) if others is None else np.asarray(others, float)
    pool = np.concatenate([amp, others])
    pool = pool[np.isfinite(pool)]
    if len(pool) < 2 or len(pool) <= 0.5 * (len(amp) + len(others)):  # too few: unjudged
        return best, amp, np.full(len(amp), bool(unjudged))
    seen = amp >= SEED_VISIBLE * max(np.median(pool), 1e-6)
    return best, amp, seen


def start_brightness(img, points, bg: float, others=None) -> np.ndarray:
    """A neuron's first running brightness at its first known point (a seed, or the user's point
    where a sweep starts): the brightness above `bg` of the blob the point lands on, the
    brightest local maximum within 2 px of it (a click is rarely on a neuron's centre), not of
    the pixel under the click.

    2 px off a small neuron's centre the pixel under the click has a third of its brightness,
    and a neuron that went dark right after its seed was never taken back when it returned (its
    own peak more than 1/REACQUIRE_BRIGHTNESS x that; tests/core/test_tracking_size.py). A point
    with no local maximum within 2 px (on the flank of a brighter neighbour, as where neurons
    overlap in a projection: the brightest pixel near it is the neighbour's) or judged dark
    (`known_blobs`: no visible blob against the other neurons; its neuron is dark there and a
    peak near it a speck) keeps the pixel under it, as before. A point that cannot be judged
    (too few neurons to compare) counts as visible."""
    h, w = img.shape
    yx = np.clip(np.rint(points).astype(int), 0, [h - 1, w - 1])
    under = img[yx[:, 0], yx[:, 1]] - bg
    off = np.arange(-3, 4)
    ys = np.clip(yx[:, 0, None] + off, 0, h - 1)
    xs = np.clip(yx[:, 1, None] + off, 0, w - 1)
    patch = img[ys[:, :, None], xs[:, None, :]]  # (N, 7, 7): the 5 x 5 box and its border
    box = patch[:, 1:-1, 1:-1]
    around = np.max([patch[:, 1 + dy : 6 + dy, 1 + dx : 6 + dx] for dy in (-1, 0, 1)
                     for dx in (-1, 0, 1) if dy or dx], axis=0)  # fmt: skip
    peak = np.where(box >= around, box, -np.inf).max(axis=(1, 2)) - bg
    _, _, seen = known_blobs(img, points, bg, others, unjudged=True)
    on_blob = seen & np.isfinite(peak)
    return np.maximum(np.where(on_blob, peak, under), 1e-3)


class _SizeMemory:
    """Per neuron the blob scales of its good frames; `template` is what a peak is held to."""

    def __init__(self, n: int):
        self.buf = np.full((n, SIZE_WINDOW), np.nan)
        self.count = np.zeros(n, dtype=np.int64)

    def remember(self, rows: np.ndarray, scales: np.ndarray) -> None:
        ok = np.isfinite(scales)
        _remember(self.buf, self.count, rows[ok], np.log(scales[ok]))

    def remember_known(self, img, points, rows, bg: float, others=None) -> None:
        """The scales of known points (seeds, the user's) that sit on a visible blob
        (`known_blobs`), measured at the brightest pixel within 2 px of each."""
        best, _amp, seen = known_blobs(img, points, bg, others)
        self.remember(rows[seen], blob_scale(img, best[seen]))

    def template(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) template scales: each neuron's own median, else the neurons' median
        (NaN when no neuron has a size yet: nothing is refused)."""
        have = self.count >= SIZE_MIN_SAMPLES
        if not have.any():
            return np.full(len(rows), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no size yet
            own = np.nanmedian(self.buf, axis=1)
        prior = np.median(own[have])
        return np.exp(np.where(have[rows], own[rows], prior))


class _SizeRule(NamedTuple):
    """The blob size check `_match` applies (see SIZE_WINDOW)."""

    template: np.ndarray  # each row's template blob scale (NaN: none yet)
    scales: np.ndarray  # written: the blob scale of the peak each row took
    ratio: float  # `TrackParams.size_ratio`
    jump: float  # only a peak farther than this from the prediction is checked
    both_ways: bool  # a larger blob refused too (a take-back), else only a smaller one


FRAME_CEILING, SHIFT_AGREE_PX = 99.5, 1.0
"""On a calcium channel the global shift is also estimated on the two (downsampled) frames
clipped at the lower of their values at the FRAME_CEILING percentile, and that estimate is used
when the two differ by more than SHIFT_AGREE_PX: a neuron appearing at 12x its baseline made the
phase correlation jump 28-54 px (synthetic calcium movies: 29 wrong frame steps of 595; clipped:
3, none more than 1.2 px off, where the truth jitters by ~0.5 px). Clipping every frame instead
cost ZephIR 97.1 -> 95.0 % of neuron-frames within 4 px; the unclipped estimate, where the two
agree, keeps it at 97.1 %."""


def clipped_spectra(prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`spectrum` of two frames clipped at a level both reach (FRAME_CEILING), for the global
    shift on a calcium channel: a transient weighs no more than the brightest steady neurons."""
    top = min(np.percentile(prev, FRAME_CEILING), np.percentile(cur, FRAME_CEILING))
    return spectrum(np.minimum(prev, top)), spectrum(np.minimum(cur, top))


def common_ceiling(prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Patch pairs (N, S, S) clipped at the lower of the two patches' maxima, for the refiner.

    On a calcium channel a neighbour that brightens 10-20x dominates a patch correlation: the
    best match put the neuron's blob onto the neighbour's bright one (measured on the synthetic
    calcium movies: a track jumped 9 px onto a neighbour at the start of its transient). Clipped
    at a level both frames reach, a transient weighs no more than the neuron did before it.
    """
    top = np.minimum(prev.max(axis=(1, 2)), cur.max(axis=(1, 2)))[:, None, None]
    return np.minimum(prev, top), np.minimum(cur, top)


def _supports(amp: np.ndarray, ref_amp: np.ndarray, hi: float | None = None) -> np.ndarray:
    """True where a taken peak (`amp`, NaN = none) is the neuron's own: within
    SUPPORT_BRIGHTNESS (and its inverse, or `hi` x on a calcium channel) of its brightness."""
    with np.errstate(invalid="ignore"):
        top = ref_amp / SUPPORT_BRIGHTNESS if hi is None else ref_amp * hi
        fits = (amp >= SUPPORT_BRIGHTNESS * ref_amp) & (amp <= top)
    return np.isfinite(amp) & (np.isnan(ref_amp) | fits)


NEIGHBOUR_SCALE = 16.0
"""px: an unsupported neuron's place moves as the tracked neurons within about this distance
moved (Gaussian weights); with none near, as the whole frame (phase correlation)."""


def _neighbour_motion(at, ref_pos, ref_step, shift) -> np.ndarray:
    """(M, 2) motion this frame of the places `at`, from the tracked neurons around each
    (`ref_pos` before, `ref_step` their step): a weighted local affine fit, centred on the place
    so its intercept is the step there (a head swing turns the neighbours around it; a plain
    mean of their steps drifted 7 px in 80 frames on a hard synthetic worm). A ridge keeps a few
    neighbours a translation; the global `shift` is a weak neighbour everywhere.

    Measured on ZephIR (docs/tracking.md, "Lost neurons"; 10 px re-acquisition radius): a lost
    neuron held in place put 69 % of neuron-frames within 4 px, moved with the global shift or
    the mean neighbour step 91 %, with this fit 91 % (the fit is for moving worms)."""
    prior = 0.05
    if len(ref_pos) == 0:
        return np.broadcast_to(shift, at.shape).copy()
    w = np.exp(-(cdist(at, ref_pos) ** 2) / (2 * NEIGHBOUR_SCALE**2))
    rel = ref_pos[None, :, :] - at[:, None, :]  # (M, K, 2): neighbours around each place
    X = np.concatenate([np.ones((*rel.shape[:2], 1)), rel], axis=2)  # (M, K, 3)
    A = np.einsum("mk,mki,mkj->mij", w, X, X)
    B = np.einsum("mk,mki,kj->mij", w, X, ref_step)
    A[:, 0, 0] += prior
    B[:, 0, :] += prior * np.asarray(shift, float)
    ridge = 0.1 * (w.sum(axis=1) + prior) * NEIGHBOUR_SCALE**2
    A[:, 1, 1] += ridge
    A[:, 2, 2] += ridge
    return np.linalg.solve(A, B)[:, 0, :]


def _status(miss: np.ndarray, k_lost: int, cur_pos: np.ndarray) -> np.ndarray:
    """STATUS_NAMES codes from the frames since the last supporting peak (-1: not started)."""
    s = np.where(miss == 0, TRACKED, PREDICTED)
    if k_lost > 0:
        s = np.where(miss > k_lost, LOST, s)
    return np.where(np.isnan(cur_pos[:, 0]), -1, s).astype(np.int8)


DOWNHILL = 0.25
"""A track never moves to a peak fainter (above background) than this fraction of the pixel at
its predicted position, or of the neuron's own running brightness when that is lower (real data, benchmarks/bench_tracking_real.py: 71 -> 74 % of neuron-frames
within 4 px of ZephIR; 0.5 and 0.75 gave the same; synthetic worms unchanged)."""


REACQUIRE_BRIGHTNESS = 0.5
"""A lost neuron is taken back only by a free peak between this fraction and its inverse of the
neuron's own running brightness (above background): its appearance, not just the nearest blob."""


def _assign(img, pred, bg, noise, ref_amp, params: TrackParams, owners=None, rows=None,
            size=None):  # fmt: skip
    """Hungarian assignment of predicted positions to local maxima; returns pos, conf,
    amplitude (NaN where no peak was taken) and the integer peaks taken. `owners` (calcium
    channel): every neuron's place this frame, `rows` the neurons `pred` belongs to: a peak
    brighter than 1/SUPPORT_BRIGHTNESS x a neuron's brightness is not taken by it when another
    neuron's place is nearer the peak. `size` (template scales, scales out): see `_match`."""
    out, conf, amp = _unmatched(img, pred)
    floor = _snr_floor(bg, noise, params)
    own = None if owners is None else (owners, rows, 1 / SUPPORT_BRIGHTNESS)
    sz = None if size is None else _SizeRule(*size, params.size_ratio, params.size_jump, False)
    taken = _match(img, out, np.arange(len(out)), bg, floor, ref_amp, params.gate, out, conf, amp,
                   owner=own, size=sz)  # fmt: skip
    return out, conf, amp, taken


def _reacquire(img, held, bg, noise, ref_amp, params: TrackParams, exclude, owners=None,
               rows=None, size=None):  # fmt: skip
    """Lost neurons take back a peak within `params.reacquire_radius` of their held place, among
    the peaks no followed neuron took (`exclude`), and only one of their own brightness
    (REACQUIRE_BRIGHTNESS): re-acquiring never takes a followed neuron's peak.

    With `owners` (calcium channel: every neuron's place, `rows` the lost ones' indices there)
    the band reaches TRANSIENT_MAX x, so a neuron that comes back during its own transient is
    taken back, but a peak brighter than 1/REACQUIRE_BRIGHTNESS x only when no other neuron's
    place is nearer to it than the held place."""
    out, conf, amp = _unmatched(img, held)
    conf[:] = 0.0
    ok = np.flatnonzero(np.isfinite(ref_amp))
    band = (REACQUIRE_BRIGHTNESS, 1 / REACQUIRE_BRIGHTNESS if owners is None else TRANSIENT_MAX)
    own = None if owners is None else (owners, rows[ok], 1 / REACQUIRE_BRIGHTNESS)
    # every take-back is checked, one exactly at the held place too (jump 0 let distance 0 by)
    sz = None if size is None else _SizeRule(*size, params.size_ratio, -np.inf, True)
    if len(ok):
        _match(img, out, ok, bg, _snr_floor(bg, noise, params), ref_amp,
               params.reacquire_radius, out, conf, amp, exclude=exclude, band=band,
               owner=own, size=sz)  # fmt: skip
    return out, conf, amp


def _unmatched(img, pred):
    """(positions clipped into the image, confidence 0.1, amplitude NaN): no peak taken yet."""
    h, w = img.shape
    out = np.column_stack([np.clip(pred[:, 0], 0, h - 1), np.clip(pred[:, 1], 0, w - 1)])
    return out, np.full(len(out), 0.1), np.full(len(out), np.nan)


def _snr_floor(bg, noise, params: TrackParams) -> float:
    """The level a peak must exceed: `peak_snr` smoothed-noise s.d. above the background."""
    return bg + params.peak_snr * noise / max(1.0, 2.0 * np.sqrt(np.pi) * params.sigma)


def _owner_distances(cands, places, who) -> tuple[np.ndarray, np.ndarray]:
    """(m, K) distances from each row's own place (`places[who]`) to each peak, and from the
    nearest *other* neuron's place (NaN places: none). Only each peak's nearest and second
    nearest places are kept, not a rows x peaks x neurons array (that one took 220 MB and 2.3 s
    a frame at 300 neurons)."""
    od = np.nan_to_num(cdist(cands, places), nan=np.inf)  # (K, all neurons)
    k = np.arange(len(cands))
    first = od.argmin(axis=1)
    d1 = od[k, first]
    od[k, first] = np.inf
    d2 = od.min(axis=1) if od.shape[1] > 1 else np.full(len(cands), np.inf)
    od[k, first] = d1
    mine = od[:, who].T
    other = np.where(first[None, :] == np.asarray(who)[:, None], d2[None, :], d1[None, :])
    return mine, other


def _match(
    img,
    pred,
    rows,
    bg,
    snr_floor,
    ref_amp,
    gate,
    out,
    conf,
    amp,
    exclude=None,
    band: tuple[float, float] | None = None,
    owner: tuple[np.ndarray, np.ndarray, float] | None = None,
    size: _SizeRule | None = None,
) -> np.ndarray:
    """Assign `pred[rows]` to local maxima within `gate` (writes out/conf/amp at `rows`);
    returns the integer peaks taken. `exclude`: peaks already taken; `band`: only peaks
    between those factors of the row's running brightness; `owner` (places of all neurons, the
    neuron index of each of `rows`, factor k): a peak brighter than k x a row's brightness is
    refused to that row when another neuron's place is nearer the peak than the row's;
    `size` (a `_SizeRule`): a peak farther than its `jump` from the row's prediction whose blob
    scale is more than `ratio` x off the row's template is refused to that row
    (`TrackParams.size_ratio`, `size_jump`); unless `both_ways`, only a smaller one (see
    SIZE_WINDOW); the taken peaks' scales are written to its `scales`."""
    p, ra = pred[rows], ref_amp[rows]
    m = len(rows)
    cands = local_maxima_near(img, p, gate, snr_floor)
    if exclude is not None and len(exclude) and len(cands):
        w = img.shape[1]
        cands = cands[~np.isin(cands[:, 0] * w + cands[:, 1], exclude[:, 0] * w + exclude[:, 1])]
    if len(cands) == 0:
        return cands
    dist = cdist(p, cands)
    near = dist.min(axis=0) <= gate
    cands, dist = cands[near], dist[:, near]
    if len(cands) == 0:
        return cands
    big = 1e6
    # no step down to a much dimmer peak: a neuron predicted on bright pixels (the shoulder of a
    # blob, where it is no local maximum of its own) stays at its prediction rather than take a
    # speck in the dark background (real, compressed movies: the noise floor is ~0 there)
    # ... measured against the neuron's own running brightness when that is lower: a dim neuron
    # predicted onto a bright neighbour's flank still takes its own peak (review of h14)
    yx = np.rint(p).astype(int)
    at_pred = img[yx[:, 0], yx[:, 1]] - bg
    level = np.where(np.isnan(ra), at_pred, np.minimum(at_pred, ra))
    cand_amp = img[cands[:, 0], cands[:, 1]] - bg
    refuse = cand_amp[None, :] < DOWNHILL * level[:, None]
    if band is not None:
        lo, hi = band[0] * ra[:, None], band[1] * ra[:, None]
        refuse |= (cand_amp[None, :] < lo) | (cand_amp[None, :] > hi)
    if owner is not None:
        places, who, k_bright = owner
        mine, other = _owner_distances(cands, places, who)
        with np.errstate(invalid="ignore"):
            bright = cand_amp[None, :] > k_bright * ra[:, None]
        refuse |= bright & (other < mine)
    cand_scale = None
    if size is not None:
        cand_scale = blob_scale(img, cands)
        with np.errstate(invalid="ignore"):
            off = np.abs(np.log(cand_scale[None, :] / size.template[rows][:, None]))
        # no blob there (NaN scale) is unlike any template; no template yet refuses nothing
        unlike = np.isfinite(size.template[rows])[:, None] & ~(off <= np.log(size.ratio))
        if not size.both_ways:  # a followed neuron's jump: only a smaller blob (a speck) is refused
            unlike &= ~(cand_scale[None, :] >= size.template[rows][:, None])
        refuse |= unlike & (dist > size.jump)
    cost = np.where((dist <= gate) & ~refuse, dist**2, big)
    dummy = np.full((m, m), big)
    np.fill_diagonal(dummy, gate**2)
    r, k = linear_sum_assignment(np.hstack([cost, dummy]))
    ok = (k < len(cands)) & (cost[r, np.minimum(k, len(cands) - 1)] < big)
    r, k = r[ok], k[ok]
    rr = rows[r]
    out[rr] = quadratic_refine(img, cands[k])
    d = dist[r, k]
    srt = np.sort(dist[r], axis=1)
    second = srt[:, 1] if srt.shape[1] > 1 else np.full(len(r), np.inf)
    a = img[cands[k, 0], cands[k, 1]] - bg
    amp[rr] = a
    if cand_scale is not None:
        size.scales[rr] = cand_scale[k]
    ratio = np.where(np.isnan(ra[r]), 1.0, np.clip(a / np.maximum(ra[r], 1e-6), 0, 1))
    match = np.exp(-(d**2) / (2 * 2.0**2))
    ambiguity = np.clip((second - d) / 3.0, 0, 1)
    conf[rr] = match * (0.4 + 0.6 * ratio) * (0.6 + 0.4 * ambiguity)
    return cands[k]


def _combine(fwd, fconf, bwd, bconf, fstat=None, bstat=None):
    """Per neuron-frame: the estimate with the higher confidence; the mean where both agree.
    With statuses given, returns (pos, conf, status): the chosen estimate's, the better one
    where both agree."""
    use_b = np.isnan(fconf) | (~np.isnan(bconf) & (bconf > fconf))
    pos = np.where(use_b[..., None], bwd, fwd)
    conf = np.where(use_b, bconf, fconf)
    both = ~np.isnan(fconf) & ~np.isnan(bconf)
    agree = both & (np.linalg.norm(fwd - bwd, axis=-1) < 1.0)
    pos[agree] = 0.5 * (fwd[agree] + bwd[agree])
    conf[agree] = np.maximum(fconf[agree], bconf[agree])
    if fstat is None:
        return pos, conf
    stat = np.where(use_b, bstat, fstat)
    stat[agree] = np.minimum(fstat[agree], bstat[agree])
    return pos, conf, stat


def _run(stack, known, known_conf, lo, hi, refiner, params, progress, cancel):
    """Forward sweep from the first known frame, backward from the last, within [lo, hi]."""
    has = ~np.isnan(known[..., 0]).all(axis=1)
    kf = np.flatnonzero(has[lo : hi + 1]) + lo
    fwd_order = np.arange(kf.min(), hi + 1)
    bwd_order = np.arange(kf.max(), lo - 1, -1)
    total, done = len(fwd_order) + len(bwd_order), [0]

    def tick():
        done[0] += 1
        if cancel is not None and cancel():
            raise TrackingCancelled("tracking cancelled")  # the widget says what is kept
        if progress is not None and (done[0] % 10 == 0 or done[0] == total):
            progress(done[0], total)

    frames = _Frames(stack, params)
    f, fc, fs = _sweep(frames, fwd_order, known, known_conf, refiner, params, tick)
    b, bc, bs = _sweep(frames, bwd_order, known, known_conf, refiner, params, tick)
    _say_dropped(sorted(frames.dropped), hi - lo + 1)
    return _combine(f, fc, b, bc, fs, bs)


def _say_dropped(dropped: list[int], n_frames: int) -> None:
    """Frames skipped as mostly NaN/infinite hold their positions at confidence 0: said (a
    warning), and refused when that is every frame (the tracks would be the seeds, unmoved)."""
    if not dropped:
        return
    if len(dropped) >= n_frames:
        raise InputError(
            "every frame of the tracked channel is mostly NaN/infinite pixels: nothing to track"
        )
    warnings.warn(
        f"{len(dropped)} of {n_frames} frames are mostly NaN/infinite pixels (first: frame "
        f"{dropped[0]}): skipped, the positions there held at confidence 0",
        stacklevel=3,
    )


def _resolve_refiner(model):
    """model: "default" or "classical" (patch correlation: the recommended refiner today),
    "cnn" (the shipped CNN; classical if its weights are missing), a folder with tracker.pt +
    tracker.json, a TrackerNet, or a refiner callable (prev, cur) -> (shifts, quality)."""
    if model is None or (isinstance(model, str) and model in ("default", "classical")):
        return classical_refiner
    if isinstance(model, str) and model == "cnn":
        from napari_catrack.core.tracking.model import default_model

        net = default_model()
        return classical_refiner if net is None else net.refiner()
    if isinstance(model, str | os.PathLike) and Path(model).is_dir():
        from napari_catrack.core.tracking.model import load_model

        return load_model(model).refiner()
    if hasattr(model, "refiner"):
        return model.refiner()
    if callable(model):
        return model
    raise InputError(
        f"unknown tracking model {model!r}: use default, classical, cnn or a folder with tracker.pt"
    )


def _check_stack(stack, name: str = "recording"):
    if stack is None:
        raise InputError(f"the {name} channel is missing from this recording")
    if len(stack.shape) != 3:
        raise InputError(f"{name} must be (T, Y, X); got shape {tuple(stack.shape)}")
    return stack


def validate_points(df: pd.DataFrame, shape, what: str, need_frame: bool) -> pd.DataFrame:
    """Insist on neuron_id, (frame), y, x; finite; inside the image; no duplicates."""
    cols = ["neuron_id", "frame", "y", "x"] if need_frame else ["neuron_id", "y", "x"]
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{what} must be a table with columns {', '.join(cols)}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{what} lack column(s) {', '.join(missing)}")
    df = df[cols].copy()
    yx = point_coordinates(df, what)
    if not np.isfinite(yx).all():
        bad = df.neuron_id[~np.isfinite(yx).all(axis=1)].tolist()
        raise InputError(f"{what} have missing (NaN) coordinates for neuron(s) {bad[:5]}")
    t, h, w = shape
    out = (yx[:, 0] < 0) | (yx[:, 0] > h - 1) | (yx[:, 1] < 0) | (yx[:, 1] > w - 1)
    if out.any():
        raise InputError(
            f"{what} outside the {h}x{w} image: neuron(s) {df.neuron_id[out].tolist()[:5]}"
        )
    key = ["neuron_id", "frame"] if need_frame else ["neuron_id"]
    dup = df.duplicated(key)
    if dup.any():
        rows = df.loc[dup, key].astype(str).agg(" at frame ".join, axis=1).tolist()[:3]
        raise InputError(f"duplicate neuron_id in {what}: {', '.join(rows)} (ids must be unique)")
    if need_frame:
        fr = pd.to_numeric(df.frame, errors="coerce")
        if fr.isna().any() or (fr < 0).any() or (fr >= t).any() or (fr % 1 != 0).any():
            raise InputError(f"{what} frames must be whole numbers in 0..{t - 1}")
        df["frame"] = fr.astype(int)
    df[["y", "x"]] = yx
    return df


def point_coordinates(df: pd.DataFrame, what: str) -> np.ndarray:
    """The (N, 2) y, x of a points table as numbers, or one clear line naming the first bad row."""
    try:
        return df[["y", "x"]].to_numpy(dtype=float)
    except KeyError:
        raise InputError(f"{what} lack column(s) y, x") from None
    except (TypeError, ValueError):
        yx = df[["y", "x"]].apply(pd.to_numeric, errors="coerce")
        row = yx.isna().any(axis=1) & df[["y", "x"]].notna().all(axis=1)
        i = row.to_numpy().nonzero()[0][:1]
        where = f" (neuron {df.neuron_id.iloc[i[0]]})" if len(i) and "neuron_id" in df else ""
        raise InputError(f"{what} y/x must be numbers{where}") from None


def seeds_frame(seeds: pd.DataFrame, seed_frame: int | None = None, what: str = "seeds") -> int:
    """The frame `seeds` are on: their `frame` column (one frame for every seed, as `catrack detect`
    writes it), else `seed_frame`, else 0. A `frame` column and a different `seed_frame` disagree:
    refused rather than guessed, since seeds started on the wrong frame track nothing."""
    if "frame" not in seeds.columns or not len(seeds):
        return 0 if seed_frame is None else int(seed_frame)
    fr = pd.to_numeric(seeds["frame"], errors="coerce")
    if fr.isna().any() or (fr < 0).any() or (fr % 1 != 0).any():
        raise InputError(f"{what}: the frame column must hold whole numbers >= 0")
    frames = sorted(set(fr.astype(int)))
    if len(frames) > 1:
        raise InputError(
            f"{what} are on {len(frames)} frames ({frames[0]}..{frames[-1]}): seeds are one row "
            "per neuron, all on one frame (a table of tracks or fixed points goes to --anchors)"
        )
    if seed_frame is not None and int(seed_frame) != frames[0]:
        raise InputError(
            f"{what} are on frame {frames[0]} (their frame column), but the seed frame given is "
            f"{seed_frame}: give one of them, or make them agree"
        )
    return frames[0]


def track(
    recording_red,
    recording_green=None,
    seeds: pd.DataFrame | None = None,
    seed_frame: int = 0,
    *,
    channel: str | None = None,
    anchors: pd.DataFrame | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    model=None,
    params: TrackParams | None = None,
) -> pd.DataFrame:
    """Track every seed neuron forward and backward through the whole recording.

    `seeds` (`neuron_id,y,x`) are positions at `seed_frame`; `anchors` (`neuron_id,frame,y,x`)
    are user-fixed points that the tracks must pass through. Coordinates are those of the tracked
    channel. Returns `neuron_id,frame,y,x,confidence,source` (source seed|auto|manual), sorted by
    neuron then frame. `progress(done, total)` is called as frames complete; `cancel()` is polled
    each frame and `TrackingCancelled` is raised when it returns True. `channel` and `model`
    default to those of `params` (a `TrackParams`); `model` may also be a TrackerNet or a refiner.
    """
    params = params or TrackParams()
    channel = params.channel if channel is None else channel
    model = params.model if model is None else model
    if channel not in ("red", "green"):
        raise InputError(f"channel must be 'red' or 'green', not {channel!r}")
    stack = recording_red if channel == "red" else recording_green
    if stack is None and channel == "red":
        stack = recording_green  # single-channel data: track what there is
    params = resolve_brightness(params, green=stack is recording_green and stack is not None)
    stack = _check_stack(stack, channel)
    T = stack.shape[0]
    if seeds is None or len(seeds) == 0:
        raise InputError("no seed neurons given: pick at least one neuron to track")
    if not isinstance(seed_frame, (int, np.integer)) or not 0 <= seed_frame < T:
        raise InputError(f"seed frame {seed_frame} is outside the recording (0..{T - 1})")
    seeds = validate_points(seeds, stack.shape, "seeds", need_frame=False)
    ids = seeds.neuron_id.tolist()
    index = {n: i for i, n in enumerate(ids)}
    known = np.full((T, len(ids), 2), np.nan)
    kconf = np.full((T, len(ids)), np.nan)
    source = np.full((T, len(ids)), "auto", dtype=object)
    known[seed_frame] = seeds[["y", "x"]].to_numpy()
    kconf[seed_frame] = 1.0
    source[seed_frame] = "seed"
    if anchors is not None and len(anchors):
        anchors = validate_points(anchors, stack.shape, "anchors", need_frame=True)
        unknown = set(anchors.neuron_id) - set(ids)
        if unknown:
            raise InputError(
                f"anchors name neuron(s) that are not seeds: {sorted(map(str, unknown))}"
            )
        ni = anchors.neuron_id.map(index).to_numpy()
        fr = anchors.frame.to_numpy()
        known[fr, ni] = anchors[["y", "x"]].to_numpy()
        kconf[fr, ni] = 1.0
        source[fr, ni] = "manual"
    pos, conf, stat = _run(
        in_memory(stack), known, kconf, 0, T - 1, _resolve_refiner(model), params, progress,
        cancel,
    )  # fmt: skip
    return _table(ids, pos, conf, source, status_names(stat))


def resolve_brightness(params: TrackParams, green: bool = False) -> TrackParams:
    """`params` with `brightness="auto"` made explicit: calcium when the tracked frames are the
    green (calcium) channel (`green`, or `params.channel` green, as the CLI, batch and widget
    pass it), else steady (the structural red channel, whose brightness does not jump)."""
    if params.brightness != "auto":
        return params
    calcium = green or params.channel == "green"
    return params.replace(brightness="calcium" if calcium else "steady")


def status_names(codes: np.ndarray) -> np.ndarray:
    """STATUS_NAMES for status codes (object array; "" where a neuron was never reached)."""
    names = np.array([*STATUS_NAMES, ""], dtype=object)
    return names[np.where(codes < 0, len(STATUS_NAMES), codes)]


def status_from_confidence(conf: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The status of a table written before the `status` column (h15): a seed/manual point or a
    confidence above the no-peak value (0.1) is tracked, the rest predicted (never lost: those
    versions carried every track on)."""
    c = np.nan_to_num(np.asarray(conf, float), nan=0.0)
    tracked = np.isin(np.asarray(source).astype(str), ["seed", "manual"]) | (c > 0.1 + 1e-6)
    return np.where(tracked, "tracked", "predicted").astype(object)


def _table(ids, pos, conf, source, status) -> pd.DataFrame:
    T, N = conf.shape
    return pd.DataFrame(
        {
            "neuron_id": np.repeat(np.asarray(ids, dtype=object), T),
            "frame": np.tile(np.arange(T), N),
            "y": pos[..., 0].T.ravel(),
            "x": pos[..., 1].T.ravel(),
            "confidence": np.round(conf.T.ravel(), 4),
            "source": source.T.ravel(),
            "status": status.T.ravel(),
        }
    )
