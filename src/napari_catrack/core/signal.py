"""From fluorescence to clean dF/F: ratio correction, dF/F, and the `clean_traces` pipeline.

Motion and focus changes dim both channels together while calcium changes only green, so the
green/red ratio R cancels the common-mode artefacts; dR/R0 is then the activity readout.
Baselines, bleaching and drift live in `baselines.py`, denoising and SNR in `denoise.py`; they
are re-exported here so `napari_catrack.core.signal` is the one place to import from.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from napari_catrack.core.baselines import (
    _like,
    as_traces,
    baseline_caiman,
    baseline_percentile,
    baseline_running_percentile,
    correct_bleaching,
    nan_quantile,
    remove_drift,
)
from napari_catrack.core.denoise import denoise_savgol, denoise_wavelet, snr_caltrig
from napari_catrack.errors import InputError

__all__ = [
    "CLEANING_STEPS",
    "baseline",
    "baseline_caiman",
    "baseline_percentile",
    "baseline_running_percentile",
    "clean_traces",
    "correct_bleaching",
    "delta_f_over_f",
    "denoise_savgol",
    "denoise_wavelet",
    "nan_quantile",
    "ratio",
    "remove_drift",
    "snr_caltrig",
]


def ratio(
    green: np.ndarray,
    red: np.ndarray,
    *,
    min_red: float | np.ndarray = 0.0,
    warn: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """R = G / R with a division guard: returns (ratio, invalid).

    Where red is <= `min_red` (a number, or an array broadcasting against red, e.g. one
    threshold per neuron as (N, 1)), NaN or infinite (an empty or off-worm ROI, a dark frame) the
    ratio is NaN and `invalid` is True, with one warning: never inf, never a huge spike.
    """
    g = np.asarray(green, dtype=np.float64)
    r = np.asarray(red, dtype=np.float64)
    if g.shape != r.shape:
        raise InputError(f"green {g.shape} and red {r.shape} traces differ in shape")
    invalid = ~np.isfinite(r) | (r <= min_red)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(invalid, np.nan, g / np.where(invalid, 1.0, r))
    bad_red = invalid & np.isfinite(r)
    if warn and bad_red.any():
        warnings.warn(
            f"red intensity too low (<= min_red) in {int(bad_red.sum())} samples: "
            "ratio set to NaN there",
            RuntimeWarning,
            stacklevel=2,
        )
    return out, invalid


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
    f: np.ndarray, f0: np.ndarray | None = None, *, min_f0: float = 1e-12
) -> np.ndarray:
    """(F - F0) / F0 (works for ratios too: dR/R0). F0 defaults to the 10th percentile.

    Where F0 is not positive the result is NaN (with a warning), never inf.
    """
    a = as_traces(f)
    b = as_traces(baseline_percentile(a) if f0 is None else np.broadcast_to(f0, np.shape(f)))
    bad = ~(b > min_f0)
    if (bad & np.isfinite(b)).any():
        warnings.warn(
            f"baseline F0 <= 0 in {int((bad & np.isfinite(b)).sum())} samples: dF/F set to NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(bad, np.nan, (a - b) / np.where(bad, 1.0, b))
    return _like(out, f)


# ---------------------------------------------------------------- pipeline
def _step_bleach(x, fps, **p):
    return correct_bleaching(x, fps, **p)[0]


def _step_dff(x, fps, *, method: str = "percentile", **p):
    return delta_f_over_f(x, baseline(x, fps, method=method, **p))


def _step_zscore(x, fps):
    mu = np.nanmedian(x, axis=-1, keepdims=True)
    mad = np.nanmedian(np.abs(x - mu), axis=-1, keepdims=True) * 1.4826
    return (x - mu) / np.where(mad > 0, mad, 1.0)


def _step_drift(x, fps, **p):
    return remove_drift(x, fps, **p)[0]


def _step_wavelet(x, fps, **p):
    return denoise_wavelet(x, **p)


def _step_savgol(x, fps, **p):
    if p.get("window") is not None:
        p.pop("window_s", None)
    return denoise_savgol(x, fps=fps, **p)


CLEANING_STEPS = {
    "bleach": _step_bleach,
    "dff": _step_dff,
    "zscore": _step_zscore,
    "drift": _step_drift,
    "wavelet": _step_wavelet,
    "savgol": _step_savgol,
}
"""Step names accepted by `clean_traces`; each maps (traces, fps, **params) -> traces."""

STEP_DEFAULTS: dict[str, dict[str, Any]] = {
    "bleach": {"method": "exponential", "window_s": 30.0, "percentile": 10.0},
    "dff": {"method": "percentile"},
    "zscore": {},
    "drift": {"cutoff_s": 20.0, "method": "envelope", "percentile": 10.0, "mode": "subtract"},
    "wavelet": {"wavelet": "sym4", "method": "BayesShrink", "mode": "soft", "levels": None},
    "savgol": {"window_s": 0.5, "polyorder": 2},
}
"""Parameters each step runs with unless given: merged in and recorded by `clean_traces`."""

DEFAULT_STEPS: tuple = (("drift", {"cutoff_s": 20.0}), ("wavelet", {"method": "BayesShrink"}))


def clean_traces(
    dff: np.ndarray,
    fps: float,
    *,
    steps: Sequence[str | tuple[str, dict[str, Any]]] = DEFAULT_STEPS,
    return_intermediates: bool = False,
) -> tuple[np.ndarray, dict[str, Any]] | tuple[np.ndarray, dict[str, Any], dict[str, np.ndarray]]:
    """Run cleaning steps in order on (N, T) or (T,) traces; returns (cleaned, params).

    `steps` items are a step name (see CLEANING_STEPS) or (name, params). `params` records
    exactly what ran, e.g. {"fps": 10, "steps": [{"name": "drift", "params": {...}}, ...]},
    so that a session can store it and rerun it. With return_intermediates, a third item maps
    "input" and each "<i>:<name>" to the traces after that step (for the cleaning figure).
    """
    if fps is None or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"frame rate must be a positive number, got {fps!r}")
    x = as_traces(dff)
    record: list[dict[str, Any]] = []
    inter: dict[str, np.ndarray] = {"input": _like(x, dff)}
    for i, step in enumerate(steps):
        name, given = (step, {}) if isinstance(step, str) else (step[0], dict(step[1]))
        if name not in CLEANING_STEPS:
            raise InputError(
                f"unknown cleaning step {name!r}: choose from {sorted(CLEANING_STEPS)}"
            )
        p = {**STEP_DEFAULTS[name], **given}
        if name == "savgol" and given.get("window") is not None:
            p.pop("window_s", None)
        x = as_traces(CLEANING_STEPS[name](x, float(fps), **dict(p)))
        record.append({"name": name, "params": p})
        inter[f"{i}:{name}"] = _like(x, dff)
    params = {"fps": float(fps), "steps": record}
    out = _like(x, dff)
    return (out, params, inter) if return_intermediates else (out, params)
