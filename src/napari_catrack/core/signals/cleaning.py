"""The `clean_traces` pipeline: named cleaning steps run in order, with what ran recorded.

Each step is one function of the signals package (bleaching, dF/F, z-score, drift removal,
wavelet or Savitzky-Golay denoising); the recorded parameters let a session store and rerun it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.core.signals.arrays import as_traces, like
from napari_catrack.core.signals.baselines import baseline, delta_f_over_f
from napari_catrack.core.signals.denoise import denoise_savgol, denoise_wavelet
from napari_catrack.core.signals.drift import correct_bleaching, remove_drift
from napari_catrack.core.signals.noise import MAD_TO_SD
from napari_catrack.core.signals.params import CleaningParams
from napari_catrack.errors import InputError
from napari_catrack.io.tables import long_to_matrix, matrix_values_at

__all__ = ["CLEANING_STEPS", "clean_table_column", "clean_traces"]


def _step_bleach(x, fps, **p):
    return correct_bleaching(x, fps, **p)[0]


def _step_dff(x, fps, *, method: str = "percentile", **p):
    return delta_f_over_f(x, baseline(x, fps, method=method, **p))


def _step_zscore(x, fps):
    mu = np.nanmedian(x, axis=-1, keepdims=True)
    mad = np.nanmedian(np.abs(x - mu), axis=-1, keepdims=True) * MAD_TO_SD
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


def clean_traces(
    dff: np.ndarray,
    fps: float,
    params: CleaningParams | None = None,
    *,
    steps: Sequence[str | tuple[str, dict[str, Any]]] | None = None,
    return_intermediates: bool = False,
    **changes: Any,
) -> tuple[np.ndarray, dict[str, Any]] | tuple[np.ndarray, dict[str, Any], dict[str, np.ndarray]]:
    """Run cleaning steps in order on (N, T) or (T,) traces; returns (cleaned, params).

    `params` (a `CleaningParams`; keyword `changes` override single values) names the steps
    (`params.steps`) and each step's values (`params.step_params(name)`). `steps` overrides the
    list: items are a step name (see CLEANING_STEPS) or (name, values merged over the params').
    The second item returned records exactly what ran, e.g. {"fps": 10, "steps": [{"name":
    "drift", "params": {...}}, ...]}, so that a session can store it and rerun it. With return_intermediates, a third item maps
    "input" and each "<i>:<name>" to the traces after that step (for the cleaning figure).
    """
    if fps is None or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"frame rate must be a positive number, got {fps!r}")
    cp = CleaningParams.resolve(params, **changes)
    steps = cp.steps if steps is None else steps
    x = as_traces(dff)
    record: list[dict[str, Any]] = []
    inter: dict[str, np.ndarray] = {"input": like(x, dff)}
    for i, step in enumerate(steps):
        name, given = (step, {}) if isinstance(step, str) else (step[0], dict(step[1]))
        if name not in CLEANING_STEPS:
            raise InputError(
                f"unknown cleaning step {name!r}: choose from {sorted(CLEANING_STEPS)}"
            )
        p = {**cp.step_params(name), **given}
        if name == "savgol" and given.get("window") is not None:
            p.pop("window_s", None)
        x = as_traces(CLEANING_STEPS[name](x, float(fps), **dict(p)))
        record.append({"name": name, "params": p})
        inter[f"{i}:{name}"] = like(x, dff)
    params = {"fps": float(fps), "steps": record}
    out = like(x, dff)
    return (out, params, inter) if return_intermediates else (out, params)


def clean_table_column(
    traces: pd.DataFrame,
    fps: float,
    params: CleaningParams | None = None,
    column: str = "dff",
) -> tuple[np.ndarray, dict[str, Any]]:
    """`clean_traces` on one column of a long traces table (`neuron_id, frame, <column>`).

    Returns the cleaned values row by row, aligned with `traces` (ready to become a
    `dff_clean` column), and the record of what ran.
    """
    m = long_to_matrix(traces, column, sort_ids=False)
    cleaned, record = clean_traces(m.dff, fps, params)
    return matrix_values_at(traces, m, cleaned), record
