"""dF/F of extracted traces: relative to the cell's baseline plus the background under it.

CaImAn's `detrend_df_f` idea, shared by our extraction and the imports: a background-subtracted
trace `raw` has a baseline F0 (running 10th percentile; with `baseline="caiman"` the running
percentile at the mode of the trace, as detrend_df_f chooses it); the fluorescence the cell
sits on also includes the background under its footprint (neuropil, `bg`, in the units of
`raw`), so dF/F = (raw - F0) / (F0 + B0) with B0 the background's running baseline (the same
percentile). With bg = 0 it is the plain (raw - F0) / F0.

That ratio needs a denominator that is really there:

- with a background (CNMF: our extraction, CaImAn, Minian) F0 + B0 is the fluorescence the cell
  sits on, measured as a baseline over a window of frames; it is used when it is clearly above
  zero, more than 3 standard errors of that baseline estimate (noise s.d. x
  sqrt(p(1 - p)) / phi(z_p) / sqrt(frames in the window), the standard error of the p-th
  percentile of n noisy samples). A dim cell on a dim background (SIMA: B0 of 2-4 noise s.d.
  in a noisy 20-frame movie) has a well-defined dF/F: the per-frame noise is not the
  uncertainty of a baseline taken over many frames (the rule before h20 compared F0 + B0 with
  3 noise s.d. and gave 23 of SIMA's 164 cells dF instead);
- without a background, a trace whose baseline was removed (CNMF's C sits on ~0: its baseline
  is in the background b, f) has no F0: dividing by it gives NaN (F0 <= 0) or numbers 100x too
  large (F0 ~ noise). There F0 must exceed 3 noise s.d. in every frame.

A cell without such a denominator gets CaImAn's own rule without a background (`detrend_only`):
dF = raw - F0, in the trace's units, and its kind says so: `dff_and_kind` returns, per cell,
`DFF` ("dF/F") or `DF` ("dF"), which the sources step keeps as the components' `dff_kind`
column (components.csv, the session), so tables and figures never call dF "dF/F"; a line
appended to `notes` (the caller's list of warnings) names the cells. No cell is left all NaN.

Our extraction's traces (C + residual, CNMF's) sit on ~0 like CaImAn's, so it takes CaImAn's
F0 (`baseline="caiman"`, the percentile at the trace's mode, B0 at the same percentile): a
fixed 10th percentile of a trace resting at 0 is -1.3 noise s.d., which lifted every frame by
that much and shrank F0 + B0 by it (on a cell whose background is 3 noise s.d. dF/F came out
1.8x too large).
"""

from __future__ import annotations

import warnings

import numpy as np

from napari_catrack.core.signals.baselines import baseline_caiman, baseline_running_percentile

NOISE_FLOOR = 3.0  # F0 + B0 must exceed this many noise s.d. (no background) or standard
# errors of the baseline (with a background) for a ratio
DFF = "dF/F"  # a cell's dff is the ratio (raw - F0) / (F0 + B0)
DF = "dF"  # a cell's dff is raw - F0, in the trace's units: no denominator (module doc)


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


def _baseline_se(noise: np.ndarray, pct, fps: float, window_s: float, n_frames: int) -> np.ndarray:
    """Standard error of a running p-th percentile of noisy samples (noise s.d. `noise`) over
    the window's frames (at most the trace's): sqrt(p(1-p)) / phi(z_p) / sqrt(n) noise s.d."""
    from scipy.stats import norm

    from napari_catrack.core.signals.windows import odd_window

    p = np.clip(np.broadcast_to(np.asarray(10.0 if pct is None else pct, float), noise.shape) / 100.0, 0.01, 0.99)  # fmt: skip
    n = max(1, min(n_frames, odd_window(window_s, fps)))
    return noise * np.sqrt(p * (1 - p)) / norm.pdf(norm.ppf(p)) / np.sqrt(n)


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
    (by `ids`, default their row index) when a list is given. `dff_and_kind` also says which."""
    return dff_and_kind(raw, bg, fps, window_s, baseline=baseline, notes=notes, ids=ids)[0]


def dff_and_kind(
    raw: np.ndarray,
    bg: np.ndarray | None,
    fps: float,
    window_s: float = 30.0,
    *,
    baseline: str = "percentile",
    notes: list[str] | None = None,
    ids=None,
) -> tuple[np.ndarray, np.ndarray]:
    """(dF/F (K, T), kind (K,) of `DFF` or `DF`): what `dff_with_background` returns, with
    each cell's kind (module doc)."""
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if not raw.size:
        return raw, np.full(len(raw), DFF, dtype=object)
    f0, pct = _baseline(raw, fps, window_s, baseline)
    den = f0
    noise = _noise(raw)
    floor = NOISE_FLOOR * noise  # without a background: the per-frame noise (module doc)
    if bg is not None:
        b = np.broadcast_to(np.atleast_2d(np.asarray(bg, np.float64)), raw.shape).copy()
        den = f0 + _baseline(b, fps, window_s, baseline, pct)[0]
        floor = NOISE_FLOOR * _baseline_se(noise, pct, fps, window_s, raw.shape[1])
    ok = np.all((den > floor[:, None]) & (den > 0) | np.isnan(den), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ok[:, None], (raw - f0) / np.where(ok[:, None], den, 1.0), raw - f0)
    if notes is not None and not ok.all():
        names = np.arange(len(raw)) if ids is None else np.asarray(ids)
        bad = [str(v) for v in names[~ok]]
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        notes.append(
            f"{len(bad)} of {len(raw)} cells have no baseline above their noise "
            f"({'no background under them' if bg is None else 'baseline + background not clearly above 0'}"
            f"): their dff is dF (raw minus its baseline, in the trace's units), not dF/F; "
            f"their dff_kind says so and figures of dF/F leave them out (cells {shown})"
        )
    return out, np.where(ok, DFF, DF).astype(object)
