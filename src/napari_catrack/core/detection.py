"""Candidate neurons on one frame: adaptive threshold, filters, touching neurons split.

Brightness varies along a moving worm (focus, bleaching, depth), so one global threshold misses dim
neurons next to bright ones. A local (adaptive) threshold on a smoothed image finds both; a
watershed seeded at intensity maxima then splits neurons that touch. Everything here is vectorised
and fast enough (a few ms on 256 x 256) to re-run on every slider move in a widget.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from napari_catrack.core.signals.noise import MAD_TO_SD
from napari_catrack.core.tracking.params import DetectParams
from napari_catrack.errors import InputError

CANDIDATE_COLUMNS = [
    "neuron_id", "y", "x", "area", "brightness", "bbox_h", "bbox_w", "peak", "snr"
]  # fmt: skip


def project(
    stack, frames: Sequence[int] | slice | None = None, method: Literal["mean", "max"] = "mean"
) -> np.ndarray:
    """Mean or max projection over frames, for detecting on a quieter image than one frame."""
    if method not in ("mean", "max"):
        raise InputError(f"projection method must be 'mean' or 'max', not {method!r}")
    sel = stack if frames is None else stack[frames]
    arr = np.asarray(sel, dtype=np.float32)
    if arr.ndim == 2:
        return arr
    return arr.mean(axis=0) if method == "mean" else arr.max(axis=0)


def robust_noise(image: np.ndarray) -> float:
    """Noise s.d. from the median absolute pixel-to-pixel difference (blobs barely affect it)."""
    d = np.diff(np.asarray(image, dtype=np.float32), axis=1)
    return float(MAD_TO_SD * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0)) or 1.0


# Automatic scale (`DetectParams.auto_scale`). Every constant below was chosen on the tuning subset
# of benchmarks/bench_detection_real.py (real ex2 gt/tar, data_mask 520, synthetic seeds 101-102)
# and reported on the rest (docs/tracking.md). Ratios to the blob scale s (px) reproduce the
# fixed defaults at the synthetic worm's s = 1.7 px.
AUTO_SCALES = (0.8, 1.13, 1.6, 2.26, 3.2, 4.5, 6.4, 9.0)  # DoG pyramid, sqrt(2) steps
AUTO_TOP = 20  # the strongest blobs vote for the scale (noise specks never make the top)
AUTO_SMOOTH_NOISY = 0.6  # x s: matched-ish smoothing where pixel noise needs it
AUTO_SMOOTH_FLAT = 0.2  # x s: pre-filtered (flat background) images need little
AUTO_MIN_DISTANCE = 0.6  # x s, at least 1 px: neighbours closer than this merge
AUTO_BLOCK = 12.0  # x s: local-background window
AUTO_AREA = (2.0, 140.0)  # x s^2: area limits
AUTO_MAX_BBOX = 18.0  # x s
AUTO_FLAT_LEVELS = 300.0  # flat background: noise unit = 99.9th percentile / this


def estimate_scale(image: np.ndarray) -> float:
    """Blob scale s (px; a Gaussian blob of s.d. s gives s) from the image itself: the median
    scale of the `AUTO_TOP` strongest maxima of a difference-of-Gaussians pyramid, so neither
    the microscope's magnification nor the pixel size has to be typed in."""
    img = np.asarray(image, dtype=np.float32)
    dog = _dog_pyramid(img)
    best = dog.max(axis=0)
    which = dog.argmax(axis=0)
    peaks = (best == ndi.maximum_filter(best, 5)) & (best > 0)
    peaks &= which > 0  # one-pixel specks (hot pixels) answer on the finest level: no vote
    if not peaks.any():
        return 1.7  # a flat image: the synthetic worm's scale, so the fixed defaults apply
    strength = best[peaks]
    top = np.argsort(strength)[::-1][:AUTO_TOP]
    i = which[peaks][top]
    at = dog[:, peaks][:, top]  # (levels, blobs)
    cols = np.arange(len(top))
    lo, hi = at[np.maximum(i - 1, 0), cols], at[np.minimum(i + 1, len(dog) - 1), cols]
    mid = at[i, cols]
    curv = lo - 2 * mid + hi
    inner = (i > 0) & (i < len(dog) - 1) & (curv < 0)
    # parabola through the three levels around each maximum: the scale between pyramid steps
    shift = np.where(inner, 0.5 * (lo - hi) / np.where(inner, curv, -1.0), 0.0)
    log_mid = 0.5 * (np.log(AUTO_SCALES[:-1]) + np.log(AUTO_SCALES[1:]))
    step = np.log(AUTO_SCALES[1] / AUTO_SCALES[0])
    return float(np.exp(np.median(log_mid[i] + step * np.clip(shift, -0.5, 0.5))))


def _dog_pyramid(img: np.ndarray) -> np.ndarray:
    """(levels, Y, X) G(s_i) - G(s_i+1) over `AUTO_SCALES`: about (k - 1) s^2 LoG, so scale-
    normalised (a blob peaks at its own s). Blurred incrementally, and from s = 2.26 on at half
    resolution (as in SIFT octaves; nearest-upsampled back), which keeps it to a few ms."""
    scales = AUTO_SCALES
    split = next(i for i, s in enumerate(scales) if s >= 2.0)  # last full-resolution level
    full = [ndi.gaussian_filter(img, scales[0], truncate=3.0)]
    for a, b in itertools.pairwise(scales[: split + 1]):
        full.append(ndi.gaussian_filter(full[-1], np.sqrt(b * b - a * a), truncate=3.0))
    half = [full[-1][::2, ::2]]
    for a, b in itertools.pairwise(scales[split:]):
        half.append(ndi.gaussian_filter(half[-1], np.sqrt(b * b - a * a) / 2, truncate=3.0))
    h, w = img.shape
    levels = [a - b for a, b in itertools.pairwise(full)]
    for a, b in itertools.pairwise(half):
        levels.append(np.repeat(np.repeat(a - b, 2, axis=0), 2, axis=1)[:h, :w])
    return np.stack(levels)


def _flat_background(img: np.ndarray) -> bool:
    """True when most neighbouring pixels are exactly equal (a clipped, pre-filtered image, e.g.
    DoG output with background 0): there the pixel-difference noise estimate is 0."""
    d = np.diff(img, axis=1)
    return bool(np.median(np.abs(d - np.median(d))) == 0)


_FACTS: dict[tuple, tuple[float, bool, float]] = {}  # a few recent images (slider previews)
_FACTS_LOCK = threading.Lock()  # a worker's detection and a slider preview may meet here


def _image_facts(img: np.ndarray) -> tuple[float, bool, float]:
    """(blob scale, flat background?, noise unit) of one image, remembered for the last few
    images: a widget re-detects the same frame on every slider move, and hashing it (well under
    1 ms) is much cheaper than the scale estimate."""
    key = (img.shape, hashlib.blake2b(np.ascontiguousarray(img).data, digest_size=16).digest())
    facts = _FACTS.get(key)
    if facts is None:
        flat = _flat_background(img)
        if flat:
            unit = float(np.percentile(img, 99.9) - np.median(img)) / AUTO_FLAT_LEVELS or 1.0
        else:
            unit = robust_noise(img)
        facts = (estimate_scale(img), flat, unit)
        with _FACTS_LOCK:
            if len(_FACTS) >= 4:
                _FACTS.pop(next(iter(_FACTS)), None)
            _FACTS[key] = facts
    return facts


def auto_params(
    image: np.ndarray, params: DetectParams | None = None
) -> tuple[DetectParams, float, float]:
    """`(params, unit, peak_sigma)`: `params` with the size settings derived from the image's own
    blob scale, the pixel noise unit the thresholds are counted in, and the smoothing (px) the
    peak test is made at. `threshold` and `min_peak_snr` stay as given.

    Noisy images: noise from pixel differences and the peak test on the segmentation's own
    smoothing, as without auto (`peak_sigma` 0). Flat-background images (`_flat_background`)
    carry no measurable noise: the unit is their bright level (99.9th percentile) /
    `AUTO_FLAT_LEVELS`, segmentation smooths lightly (they were filtered already) and the peak is
    tested on the image smoothed at the blob scale, which flattens one-pixel specks but only
    halves a neuron's peak (so that contrast counts double)."""
    p = params or DetectParams()
    s, flat, unit = _image_facts(np.asarray(image, dtype=np.float32))
    area_lo, area_hi = AUTO_AREA
    sized = p.replace(
        sigma=round((AUTO_SMOOTH_FLAT if flat else AUTO_SMOOTH_NOISY) * s, 2),
        block_size=int(2 * round(AUTO_BLOCK * s / 2) + 1),
        min_distance=max(1, round(AUTO_MIN_DISTANCE * s)),
        min_area=max(1, round(area_lo * s * s)),
        max_area=max(2, round(area_hi * s * s)),
        min_bbox=1,
        max_bbox=max(3, round(AUTO_MAX_BBOX * s)),
        auto_scale=False,
    )
    return sized, unit, (s if flat else 0.0)


def detect_candidates(
    image: np.ndarray, params: DetectParams | None = None, **changes: Any
) -> tuple[np.ndarray, pd.DataFrame]:
    """Segment candidate neurons in a 2-D image with `params` (a `DetectParams`; keyword
    `changes` override single values, e.g. ``detect_candidates(img, threshold=4)``).

    Hysteresis thresholding: pixels more than `threshold` smoothed-noise s.d. above the local
    (Gaussian-weighted, `block_size`) background form regions, and a region is kept only when its
    peak stands `min_peak_snr` pixel-noise s.d. above that background, so the same values work
    for dim and bright recordings. Regions then pass the filters: mean `brightness` (raw image
    units) >= `min_brightness`, `min_area <= area <= max_area` pixels,
    `min_bbox <= bbox side <= max_bbox`. Returns `(labels, table)`; the table has
    `neuron_id,y,x,area,brightness,bbox_h,bbox_w,peak,snr` with `neuron_id` equal to the label
    value, (y, x) the intensity-weighted centroid and `snr` the peak's contrast in noise s.d.
    """
    p = (params or DetectParams()).replace(**changes) if changes else (params or DetectParams())
    img = np.asarray(image, dtype=np.float32)
    pixel_noise = None
    peak_sigma = 0.0
    if img.ndim != 2:
        raise InputError(f"detection needs one 2-D frame, got an array of shape {img.shape}")
    if not np.isfinite(img).all():
        if not np.isfinite(img).any():  # was "0 candidates", unexplained
            raise InputError(
                "the frame is NaN/infinite everywhere (a dropped frame?): nothing to detect on; "
                "choose another frame"
            )
        img = np.nan_to_num(img, nan=float(np.nanmin(img)))
    if p.auto_scale:
        p, pixel_noise, peak_sigma = auto_params(img, p)
    smooth = ndi.gaussian_filter(img, p.sigma) if p.sigma > 0 else img
    # Local background: a wide Gaussian, as skimage.filters.threshold_local(method="gaussian") does,
    # but computed once here so the noise estimate can reuse it.
    background = ndi.gaussian_filter(smooth, (p.block_size - 1) / 6.0)
    if pixel_noise is None:
        pixel_noise = robust_noise(img)
    noise = pixel_noise / max(1.0, 2.0 * np.sqrt(np.pi) * p.sigma)  # noise left after smoothing
    contrast = smooth - background
    mask = contrast > p.threshold * noise
    labels, n = ndi.label(mask)
    if n and p.split_touching:
        # imported here: the tracker uses this module's `robust_noise` on every `catrack track`
        from skimage.feature import peak_local_max
        from skimage.segmentation import watershed

        # one pass over the masked image (per-label peak search is slow with many noise specks)
        masked = np.where(mask, smooth, float(smooth.min()))
        peaks = peak_local_max(
            masked, min_distance=max(1, int(p.min_distance)), exclude_border=False
        )
        peaks = peaks[mask[tuple(peaks.T)]]
        markers = np.zeros(img.shape, dtype=np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        labels = watershed(-smooth, markers, mask=mask)
    table = _measure(labels, img)
    snr = np.zeros(int(labels.max()) + 1)
    if len(table):
        peak = contrast
        if peak_sigma > 0:  # flat-background auto mode: the peak at the blob scale (see above)
            peak = 2.0 * (ndi.gaussian_filter(img, peak_sigma) - background)
        np.maximum.at(snr, labels[mask].ravel(), peak[mask].ravel() / pixel_noise)
    table["snr"] = snr[table.neuron_id.to_numpy()]
    keep = (
        (table.area >= p.min_area)
        & (table.area <= p.max_area)
        & (table[["bbox_h", "bbox_w"]].min(axis=1) >= p.min_bbox)
        & (table[["bbox_h", "bbox_w"]].max(axis=1) <= p.max_bbox)
        & (table.snr >= p.min_peak_snr)
    )
    if p.min_brightness is not None:
        keep &= table.brightness >= p.min_brightness
    table = table[keep.to_numpy()]
    lut = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lut[table.neuron_id.to_numpy()] = np.arange(1, len(table) + 1)
    labels = lut[labels]
    table = table.assign(neuron_id=np.arange(1, len(table) + 1)).reset_index(drop=True)
    return labels, table


def _measure(labels: np.ndarray, img: np.ndarray) -> pd.DataFrame:
    """Per-label area, weighted centroid, mean brightness, peak and bounding box, vectorised."""
    n = int(labels.max())
    if n == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in CANDIDATE_COLUMNS[:-1]}).astype(
            {"neuron_id": int, "area": int, "bbox_h": int, "bbox_w": int}
        )
    flat = labels.ravel()
    sel = flat > 0
    lab = flat[sel]
    yy, xx = np.indices(labels.shape)
    yy, xx = yy.ravel()[sel], xx.ravel()[sel]
    val = img.ravel()[sel].astype(np.float64)
    area = np.bincount(lab, minlength=n + 1)[1:]
    present = area > 0
    low = np.full(n + 1, np.inf)
    np.minimum.at(low, lab, val)
    w = val - low[lab] + 1e-6  # weights relative to the region's rim: centroid sits on the peak
    sw = np.bincount(lab, w, n + 1)[1:]
    cy = np.bincount(lab, w * yy, n + 1)[1:] / np.maximum(sw, 1e-12)
    cx = np.bincount(lab, w * xx, n + 1)[1:] / np.maximum(sw, 1e-12)
    bright = np.bincount(lab, val, n + 1)[1:] / np.maximum(area, 1)
    peak = np.full(n + 1, -np.inf)
    np.maximum.at(peak, lab, val)
    ymin = np.full(n + 1, labels.shape[0])
    ymax = np.full(n + 1, -1)
    xmin = np.full(n + 1, labels.shape[1])
    xmax = np.full(n + 1, -1)
    np.minimum.at(ymin, lab, yy)
    np.maximum.at(ymax, lab, yy)
    np.minimum.at(xmin, lab, xx)
    np.maximum.at(xmax, lab, xx)
    ids = np.arange(1, n + 1)
    df = pd.DataFrame(
        {
            "neuron_id": ids,
            "y": cy,
            "x": cx,
            "area": area,
            "brightness": bright,
            "bbox_h": (ymax - ymin + 1)[1:],
            "bbox_w": (xmax - xmin + 1)[1:],
            "peak": peak[1:],
        }
    )
    return df[present].reset_index(drop=True)


def detect_candidates_3d(
    volume: np.ndarray, params: DetectParams | None = None, *, z_step: float = 1.0, **changes: Any
) -> pd.DataFrame:
    """Candidate neurons in one (Z, Y, X) volume, as points: local maxima of the smoothed volume
    that pass the same peak test as `detect_candidates` (no masks, no GUI; the pipeline is 2-D).

    In 3-D neurons at different depths stay apart, where a max projection merges them.
    `z_step` is the z spacing in xy pixels (anisotropy): smoothing, background and the spacing
    of maxima shrink by it along z. `auto_scale` takes the blob scale from the max projection,
    and the noise unit too where its background is flat (its bright level); a noisy volume's
    unit is a voxel's noise either way. Returns `neuron_id,z,y,x,peak,snr` (voxel coordinates).
    """
    p = (params or DetectParams()).replace(**changes) if changes else (params or DetectParams())
    vol = np.asarray(volume, dtype=np.float32)
    if vol.ndim != 3:
        raise InputError(f"3-D detection needs one (Z, Y, X) volume, got shape {vol.shape}")
    if not z_step > 0:
        raise InputError(f"z_step must be a positive number of xy pixels, not {z_step}")
    if not np.isfinite(vol).all():
        if not np.isfinite(vol).any():
            raise InputError("the volume is NaN/infinite everywhere: nothing to detect on")
        vol = np.nan_to_num(vol, nan=float(np.nanmin(vol)))
    peak_sigma = 0.0
    if p.auto_scale:
        p, unit, peak_sigma = auto_params(vol.max(axis=0), p)
    if peak_sigma == 0:  # noisy: a voxel's noise. The projection's (a maximum of Z samples, about
        # half a voxel's s.d. for 16 planes) would double every snr and halve `min_peak_snr`
        unit = robust_noise(vol.reshape(-1, vol.shape[-1]))

    def per_axis(s: float) -> tuple[float, float, float]:
        return (s / z_step, s, s)

    smooth = ndi.gaussian_filter(vol, per_axis(p.sigma)) if p.sigma > 0 else vol
    background = ndi.gaussian_filter(smooth, per_axis((p.block_size - 1) / 6.0))
    peak = smooth - background
    if peak_sigma > 0:  # flat background (see `auto_params`): smoothing at s in 3-D leaves
        peak = 2.0**1.5 * (ndi.gaussian_filter(vol, per_axis(peak_sigma)) - background)  # ~1/2^1.5
    d = max(1, int(p.min_distance))
    dz = max(1, round(d / z_step))
    footprint = np.ones((2 * dz + 1, 2 * d + 1, 2 * d + 1), bool)
    is_max = (smooth == ndi.maximum_filter(smooth, footprint=footprint, mode="nearest")) & (
        peak >= p.min_peak_snr * unit
    )
    is_max &= smooth > ndi.minimum_filter(smooth, footprint=footprint, mode="nearest")  # not flat
    zyx = np.argwhere(is_max)
    snr = peak[tuple(zyx.T)] / unit
    table = pd.DataFrame(
        {
            "neuron_id": np.arange(1, len(zyx) + 1),
            "z": zyx[:, 0].astype(float),
            "y": zyx[:, 1].astype(float),
            "x": zyx[:, 2].astype(float),
            "peak": vol[tuple(zyx.T)].astype(float),
            "snr": snr.astype(float),
        }
    )
    return table
