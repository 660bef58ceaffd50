"""dF/F of extracted traces: relative to the cell's baseline plus the background under it.

CaImAn's `detrend_df_f` idea, shared by our extraction and the imports: a background-subtracted
trace `raw` has a baseline F0 (running 10th percentile; with `baseline="caiman"` the running
percentile at the mode of the trace, as detrend_df_f chooses it); the fluorescence the cell
sits on also includes the background under its footprint (neuropil, `bg`, in the units of
`raw`), so dF/F = (raw - F0) / (F0 + B0) with B0 the background's running baseline (the same
percentile). With bg = 0 it is the plain (raw - F0) / F0.

That ratio means something only where F0 + B0 is clearly above the trace's noise. A trace whose
baseline was removed (CNMF's C sits on ~0: its baseline is in the background b, f) and that
comes without a background has no such F0: dividing by it gives NaN (F0 <= 0) or numbers 100x
too large (F0 ~ noise). For those cells (F0 + B0 <= 3 noise s.d. in some frame, the noise from
the median frame-to-frame change) the rule is CaImAn's own without a background
(`detrend_only`): dF/F is replaced by dF = raw - F0, in the trace's units, and a line appended
to `notes` (the caller's list of warnings) says which cells. No cell is left all NaN.
"""

from __future__ import annotations

import warnings

import numpy as np

from napari_catrack.core.signals.baselines import baseline_caiman, baseline_running_percentile

NOISE_FLOOR = 3.0  # F0 + B0 must exceed this many noise s.d. for a ratio


def _baseline(x: np.ndarray, fps: float, window_s: float, how: str, pct=None):
    if how == "caiman":
        if pct is None:
            return baseline_caiman(x, fps, window_s=window_s)
        out = np.empty_like(x)
        for p in np.unique(pct):  # B at the percentile chosen for F, as detrend_df_f does
            rows = pct == p
            out[rows] = baseline_caiman(x[rows], fps, window_s=window_s, percentile=float(p))[0]
        return out, pct
    return baseline_running_percentile(x, fps, window_s=window_s), None


def _noise(raw: np.ndarray) -> np.ndarray:
    """Noise s.d. per trace from the median absolute frame-to-frame change (robust to the
    transients and to single-frame spikes, which inflate a spectral estimate)."""
    if raw.shape[1] < 3:
        return np.zeros(len(raw))
    d = np.diff(raw, axis=1)
    with warnings.catch_warnings():  # an all-NaN trace has no noise (and stays NaN)
        warnings.simplefilter("ignore", RuntimeWarning)
        mad = np.nanmedian(np.abs(d - np.nanmedian(d, axis=1, keepdims=True)), axis=1)
    return np.nan_to_num(1.4826 * mad / np.sqrt(2.0))


def dff_with_background(
    raw: np.ndarray,
    bg: np.ndarray | None,
    fps: float,
    window_s: float = 30.0,
    *,
    baseline: str = "percentile",
    notes: list[str] | None = None,
    ids=None,
) -> np.ndarray:
    """dF/F (K, T); cells without a usable F0 get dF (see the module doc), named in `notes`
    (by `ids`, default their row index) when a list is given."""
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if not raw.size:
        return raw
    f0, pct = _baseline(raw, fps, window_s, baseline)
    den = f0
    if bg is not None:
        b = np.broadcast_to(np.atleast_2d(np.asarray(bg, np.float64)), raw.shape).copy()
        den = f0 + _baseline(b, fps, window_s, baseline, pct)[0]
    noise = _noise(raw)
    ok = np.all((den > NOISE_FLOOR * noise[:, None]) & (den > 0) | np.isnan(den), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ok[:, None], (raw - f0) / np.where(ok[:, None], den, 1.0), raw - f0)
    if notes is not None and not ok.all():
        names = np.arange(len(raw)) if ids is None else np.asarray(ids)
        bad = [str(v) for v in names[~ok]]
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        notes.append(
            f"{len(bad)} of {len(raw)} cells have no baseline above their noise "
            f"({'no background under them' if bg is None else 'baseline + background <= 3 noise s.d.'}"
            f"): their dff is dF (raw minus its baseline, in the trace's units), not dF/F "
            f"(cells {shown})"
        )
    return out
