"""dF/F of extracted traces: relative to the cell's baseline plus the background under it.

CaImAn's `detrend_df_f` idea, shared by our extraction and the imports: a background-subtracted
trace `raw` has a baseline F0 (running 10th percentile); the fluorescence the cell sits on also
includes the background under its footprint (neuropil, `bg`), so dF/F = (raw - F0) / (F0 + B0)
with B0 the background's running baseline. With bg = 0 it is the plain (raw - F0) / F0.
"""

from __future__ import annotations

import numpy as np

from napari_catrack.core.signals.baselines import baseline_running_percentile


def dff_with_background(raw: np.ndarray, bg: np.ndarray | None, fps: float, window_s: float = 30.0) -> np.ndarray:  # fmt: skip
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if not raw.size:
        return raw
    f0 = baseline_running_percentile(raw, fps, window_s=window_s)
    den = f0
    if bg is not None:
        den = f0 + baseline_running_percentile(np.atleast_2d(np.asarray(bg, np.float64)), fps, window_s=window_s)  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (raw - f0) / den, np.nan)
