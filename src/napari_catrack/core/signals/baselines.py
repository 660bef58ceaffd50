"""Baselines F0 and dF/F on (N, T) trace arrays.

Every function works on the last axis (time) of a 1-D or 2-D array, tolerates NaN frames
(missing or flagged samples stay NaN and do not poison their neighbours), and takes its
parameters explicitly so that callers can record them as provenance.

Two running baselines exist on purpose: `baseline_running_percentile` (a centred running
percentile, for dF/F) and `rolling_baseline` (percentiles of blocks, median-smoothed: the
transient detectors' thresholds were tuned on it, and it is cheaper on smoothed input).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from napari_catrack.core.signals.arrays import as_traces, like
from napari_catrack.core.signals.nan import fill_nan, nan_quantile
from napari_catrack.core.signals.windows import odd_window, running_quantile
from napari_catrack.errors import InputError

__all__ = [
    "baseline",
    "baseline_caiman",
    "baseline_percentile",
    "baseline_running_percentile",
    "delta_f_over_f",
    "rolling_baseline",
]


def baseline_percentile(x: np.ndarray, percentile: float = 10.0) -> np.ndarray:
    """Constant F0 per trace: a low percentile (10th, or 25th = lower quartile) of all frames.

    Returns an array of x's shape (the constant repeated) so that F0 can be used uniformly.
    """
    a = as_traces(x)
    f0 = nan_quantile(a, percentile / 100.0)[:, None]
    return like(np.broadcast_to(f0, a.shape).copy(), x)


def baseline_running_percentile(
    x: np.ndarray,
    fps: float,
    *,
    window_s: float = 30.0,
    percentile: float = 10.0,
    step_s: float | None = None,
    smooth_s: float = 0.0,
) -> np.ndarray:
    """Time-varying F0: a low percentile in a centred running window (follows slow changes).

    The percentile is evaluated every `step_s` (default window/8) and linearly interpolated
    between, which is what keeps (324, 15000) arrays well under a second; `smooth_s` adds a
    moving average on top to remove the staircase of a small window.
    """
    a = as_traces(x)
    w = odd_window(window_s, fps)
    step = max(1, round((step_s if step_s is not None else window_s / 8) * fps))
    f0 = running_quantile(a, w, percentile / 100.0, step)
    if smooth_s > 0:
        f0 = uniform_filter1d(f0, odd_window(smooth_s, fps), axis=-1, mode="nearest")
    return like(f0, x)


def _mode_percentile(a: np.ndarray, bins: int = 100) -> np.ndarray:
    """Percentile (0..100) at which each trace's histogram peaks: the most common, resting level.

    CaImAn (df_percentile) finds the mode with a kernel density estimate; a histogram with a
    light smoothing gives the same answer for baselines and is vectorised across traces.
    """
    lo = nan_quantile(a, 0.005)[:, None]
    hi = nan_quantile(a, 0.995)[:, None]
    span = np.where(hi > lo, hi - lo, 1.0)
    finite = np.isfinite(a)  # (a NaN cast to an integer warned on every trace with a gap)
    scaled = np.where(finite, (np.where(finite, a, lo) - lo) / span * bins, 0.0)
    idx = np.clip(scaled.astype(np.int64, copy=False), 0, bins - 1)
    idx = np.where(finite, idx, bins)  # NaN -> overflow bin, ignored below
    rows = np.repeat(np.arange(a.shape[0]), a.shape[1])
    hist = np.zeros((a.shape[0], bins + 1))
    np.add.at(hist, (rows, idx.ravel()), 1.0)
    hist = uniform_filter1d(hist[:, :bins], 5, axis=-1, mode="nearest")
    mode = lo[:, 0] + (np.argmax(hist, axis=-1) + 0.5) / bins * span[:, 0]
    n = np.isfinite(a).sum(axis=-1)
    pct = 100.0 * (np.where(np.isfinite(a), a, np.inf) <= mode[:, None]).sum(-1) / np.maximum(n, 1)
    return np.clip(pct, 1.0, 50.0)


def baseline_caiman(
    x: np.ndarray,
    fps: float,
    *,
    window_s: float = 30.0,
    percentile: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CaImAn-style F0 (detrend_df_f): a running percentile whose percentile is, by default,
    chosen per trace at the mode of its distribution (the resting level), computed on a
    down-sampled grid and interpolated back.

    Returns (f0, percentiles_used) so the automatic choice can be recorded.
    """
    a = as_traces(x)
    pct = _mode_percentile(a) if percentile is None else np.full(a.shape[0], float(percentile))
    w = odd_window(window_s, fps)
    step = max(1, w // 4)
    f0 = np.empty_like(a)
    for p in np.unique(pct):  # traces sharing a percentile go through together
        rows = pct == p
        f0[rows] = running_quantile(a[rows], w, p / 100.0, step)
    return like(f0, x), pct


def rolling_baseline(
    x: np.ndarray,
    fps: float,
    window_s: float = 30.0,
    q: float = 20.0,
    measured: np.ndarray | None = None,
):
    """Slow baseline: a low percentile of blocks, median-smoothed and interpolated back.

    Block quantiles instead of a per-frame running percentile keep this O(T) and vectorised;
    the percentile (not the mean) ignores the transients riding on top. `measured` (bool, x's
    shape; None: all): the samples the percentiles are taken from. A missing sample that was
    filled so filters can run is not the trace's level: a neuron lost for the rest of a
    recording is filled with its last sample, maybe a transient's top, for thousands of frames,
    which became the baseline of every block near it (h16 review). A block without a measured
    sample takes its neighbours' value (interpolated between blocks).
    """
    n, t = x.shape
    if measured is not None and not np.all(measured):
        x = np.where(measured, x, np.nan)
    else:
        measured = None
    block = max(1, round(window_s * fps / 4))
    nb = int(np.ceil(t / block))
    if nb < 2:
        if measured is None:
            return np.repeat(np.percentile(x, q, axis=1, keepdims=True), t, axis=1)
        return np.repeat(fill_nan(nan_quantile(x, q / 100.0)[:, None]), t, axis=1)
    pad = nb * block - t
    xp = np.concatenate([x, x[:, t - pad :][:, ::-1]], axis=1) if pad else x
    step = max(1, block // 32)  # the input is smooth: ~32 samples per block are plenty
    if measured is None:
        qb = np.percentile(xp.reshape(n, nb, block)[:, :, ::step], q, axis=2)
        qb = median_filter(qb, size=(1, 5), mode="nearest")
    else:  # a block without a measured sample (at the strides) is NaN, and the median is of
        # the blocks around that have any: a gap's blocks are no copies of its edge's
        qb = nan_quantile(xp.reshape(n, nb, block)[:, :, ::step], q / 100.0, axis=2)
        near = np.lib.stride_tricks.sliding_window_view(
            np.pad(qb, ((0, 0), (2, 2)), mode="edge"), 5, axis=1
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (a window of empty blocks: NaN)
            qb = fill_nan(np.nanmedian(near, axis=2))
    # linear interpolation between block centres, the same weights for every row
    pos = np.clip((np.arange(t) - (block - 1) / 2) / block, 0, nb - 1)
    i0 = np.minimum(pos.astype(np.intp), nb - 2)
    w = pos - i0
    return qb[:, i0] * (1 - w) + qb[:, i0 + 1] * w


def baseline(x: np.ndarray, fps: float | None = None, *, method: str = "percentile", **params):
    """F0 by name: "percentile" (constant low percentile), "running" (running percentile),
    "caiman" (running percentile at the mode's percentile). Extra keyword args go through."""
    if method == "percentile":
        return baseline_percentile(x, **params)
    if fps is None:
        raise InputError(f"baseline method {method!r} needs the frame rate (fps)")
    if method == "running":
        return baseline_running_percentile(x, fps, **params)
    if method == "caiman":
        return baseline_caiman(x, fps, **params)[0]
    raise InputError(f"unknown baseline {method!r}: use 'percentile', 'running' or 'caiman'")


def delta_f_over_f(
    f: np.ndarray,
    f0: np.ndarray | None = None,
    *,
    min_f0: float = 1e-12,
    names: list | None = None,
    what: str = "dF/F",
) -> np.ndarray:
    """(F - F0) / F0 (works for ratios too: dR/R0). F0 defaults to the 10th percentile.

    Where F0 is not positive the result is NaN (with one warning naming the traces, by `names`
    (e.g. neuron ids) or row number, and `what` was set to NaN: the traces step names the
    channel and column, as it computes two), never inf.
    """
    a = as_traces(f)
    b = as_traces(baseline_percentile(a) if f0 is None else np.broadcast_to(f0, np.shape(f)))
    bad = ~(b > min_f0)
    hit = bad & np.isfinite(b)
    if hit.any():
        rows = np.flatnonzero(hit.any(axis=-1))
        label = [str(names[i]) if names is not None else str(i) for i in rows[:5]]
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        kind = "neuron" if names is not None else "trace (row)"
        warnings.warn(
            f"baseline F0 <= 0 in {int(hit.sum())} samples of {len(rows)} of {a.shape[0]} "
            f"trace(s) ({kind} {', '.join(label)}{more}): {what} set to NaN there",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(bad, np.nan, (a - b) / np.where(bad, 1.0, b))
    return like(out, f)
