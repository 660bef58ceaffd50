"""Denoised traces and spike estimates by OASIS (the oasis-deconv package from PyPI).

OASIS (Friedrich et al. 2017) solves CNMF's constrained deconvolution: an AR(1) calcium model
with a non-negative spike train, its noise level estimated from the power spectrum, the L1
sparsity set so the residual matches the noise. It is the deconvolution CaImAn and suite2p use.

OASIS replaces an AR root it estimates outside (0, 1] (a short or spiky trace) by a draw from
numpy's global random generator (`oasis.functions.estimate_time_constant`). Until h20 that made a
batch's denoised traces, SNR and verdicts of the SIMA movie change from run to run; h20 seeded
the global generator at `OASIS_SEED` for each trace (and put the caller's state back), and h21
held a module lock around seed, run and put-back, with `warnings.catch_warnings` inside it. Both
acted on the whole process: the lock did not hold back another library drawing from numpy's
global generator meanwhile, and `catch_warnings` changed every thread's warning filters.

Since h22 nothing global is touched, so no lock is needed. OASIS's `deconvolve(y, penalty=1)`
for an AR(1) model is three steps, taken here one by one (`_oasis_ar1`): the noise level from
the power spectrum (`_noise_level`, OASIS's `GetSn`), the AR root by least squares on the
autocovariance (`_ar1_root`, OASIS's `estimate_time_constant` for p = 1; both written here from
their published formulas, not OASIS's code, which is GPL-3.0), and OASIS's own
solver, `constrained_oasisAR1`, given both. The draw for a root outside (0, 1] was seeded the
same for every trace, so it was always the first normal draw of seed `OASIS_SEED`: a constant
(`_DRAW`), no generator at all. Results are OASIS's to float rounding (tests/core/
test_deconv_threads.py compares the two on traces of every kind). Floating-point warnings are
silenced with `np.errstate`, which holds for the calling thread only; the spectrum is taken over
at most the trace's length (`welch`'s warning for a trace shorter than 256 frames is not raised,
rather than filtered).
"""

from __future__ import annotations

import numpy as np

from napari_catrack.core.summary import noise_fft

OASIS_SEED = 0
# the draw OASIS added to a root outside (0, 1] with numpy's global generator seeded at
# OASIS_SEED (h20-h21): the first normal draw of sd 0.01 of that seed, the same for every trace
_DRAW = float(np.random.RandomState(OASIS_SEED).normal(0.0, 0.01))  # (the legacy stream)
_LAGS = 10  # autocovariance lags beyond the AR order (OASIS's `estimate_parameters` default)
_FUDGE = 0.98  # OASIS's shrink of the estimated root (`deconvolve` without `optimize_g`)
_NOISE_BAND = (0.25, 0.5)  # frequencies (x the frame rate) whose power is noise (OASIS's `GetSn`)


def _noise_level(y: np.ndarray) -> float:
    """OASIS's noise s.d. of a finite trace (`GetSn`, method "mean"): the mean power spectral
    density (Welch, one segment of at most 256 frames) strictly between a quarter and half the
    frame rate. NaN when no frequency lies there (a trace of 2 or 4 frames)."""
    from scipy.signal import welch

    ff, pxx = welch(y, nperseg=min(256, y.size))
    band = pxx[(ff > _NOISE_BAND[0]) & (ff < _NOISE_BAND[1])]
    return float(np.sqrt(np.mean(band / 2))) if band.size else float("nan")


def _ar1_root(y: np.ndarray, sn: float) -> float:
    """The AR(1) coefficient OASIS estimates for a trace with noise s.d. `sn` (Friedrich et al.
    2017; `estimate_time_constant` for p = 1), as its closed form: with c_k the trace's
    autocovariance at lag k (the noise variance taken off c_0), the least-squares g of
    c_{k+1} = g c_k over k = 0.._LAGS is sum(c_k c_{k+1}) / sum(c_k^2); a g above 1 becomes 0.95
    and one below 0 becomes 0.15 (each plus `_DRAW`), and the result is shrunk by `_FUDGE`.
    Written from the formula, not OASIS's code (oasis-deconv is GPL-3.0; this package BSD-3)."""
    y = y - y.mean()
    c = np.array([y[k:] @ y[: max(y.size - k, 0)] for k in range(_LAGS + 2)]) / y.size
    c[0] -= sn**2
    power = float(c[:-1] @ c[:-1])
    g = float(c[:-1] @ c[1:]) / power if power > 0 else 0.0  # (least squares' minimum norm)
    if g > 1:
        g = 0.95 + _DRAW
    elif g < 0:
        g = 0.15 + _DRAW
    return _FUDGE * g


def _oasis_ar1(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(denoised without baseline, spikes, baseline) of OASIS's `deconvolve(y, penalty=1)` for a
    finite trace, touching no global state (module docstring); None where OASIS cannot estimate
    the noise (`_noise_level` NaN: it stopped with a LinAlgError there)."""
    from oasis.oasis_methods import constrained_oasisAR1

    with np.errstate(all="ignore"):  # (this thread's only)
        sn = _noise_level(y)
        if not np.isfinite(sn):
            return None
        g = _ar1_root(y, sn)
        c, s, b, _, _ = constrained_oasisAR1(y, g, sn, optimize_b=True, b_nonneg=True, optimize_g=0, penalty=1)  # fmt: skip
    return c, s, b


def deconvolve_traces(raw: np.ndarray, method: str = "oasis") -> tuple[np.ndarray, np.ndarray]:
    """(denoised, spikes) for (K, T) raw traces; denoised is in the raw trace's units. A trace
    OASIS cannot take (not finite, flat, or too short for its noise estimate: 2 or 4 frames,
    where it stopped with a LinAlgError) is kept as it is, with no spikes."""
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if method == "none":
        return raw.copy(), np.full(raw.shape, np.nan)
    den = np.empty_like(raw)
    spk = np.empty_like(raw)
    for k, y in enumerate(raw):
        res = _oasis_ar1(y) if np.isfinite(y).all() and np.ptp(y) != 0 else None
        if res is None:
            den[k], spk[k] = y, 0.0
            continue
        c, s, b = res
        den[k] = c + b
        spk[k] = np.maximum(s, 0)
    return den, spk


def trace_noise(raw: np.ndarray) -> np.ndarray:
    """Noise s.d. of each (K, T) trace from its power spectrum (CaImAn's / OASIS's estimate)."""
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if raw.shape[1] < 8:
        return raw.std(axis=1)
    return noise_fft(raw.T).astype(np.float64)
