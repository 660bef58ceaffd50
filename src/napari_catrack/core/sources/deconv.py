"""Denoised traces and spike estimates by OASIS (the oasis-deconv package from PyPI).

OASIS (Friedrich et al. 2017) solves CNMF's constrained deconvolution: an AR(1) calcium model
with a non-negative spike train, its noise level estimated from the power spectrum, the L1
sparsity set so the residual matches the noise. It is the deconvolution CaImAn and suite2p use.

OASIS replaces an AR root it estimates outside (0, 1] (a short or spiky trace) by a draw from
numpy's global random generator (`oasis.functions.estimate_time_constant`); each trace is
therefore deconvolved with that generator seeded at `OASIS_SEED` (and the caller's state put
back), so a trace gives the same result in every run, batch worker and row order (until h20 a
batch's denoised traces, SNR and verdicts of the SIMA movie changed from run to run).
"""

from __future__ import annotations

import warnings

import numpy as np

from napari_catrack.core.summary import noise_fft

OASIS_SEED = 0


def deconvolve_traces(raw: np.ndarray, method: str = "oasis") -> tuple[np.ndarray, np.ndarray]:
    """(denoised, spikes) for (K, T) raw traces; denoised is in the raw trace's units."""
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if method == "none":
        return raw.copy(), np.full(raw.shape, np.nan)
    from oasis.functions import deconvolve

    den = np.empty_like(raw)
    spk = np.empty_like(raw)
    state = np.random.get_state()  # noqa: NPY002 (OASIS draws from the legacy global)
    try:
        for k, y in enumerate(raw):
            if not np.isfinite(y).all() or np.ptp(y) == 0:
                den[k], spk[k] = y, 0.0
                continue
            np.random.seed(OASIS_SEED)  # noqa: NPY002 (OASIS's draw for a root outside (0, 1])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = deconvolve(y, penalty=1)
            c, s, b = res[0], res[1], res[2]
            den[k] = c + b
            spk[k] = np.maximum(s, 0)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return den, spk


def trace_noise(raw: np.ndarray) -> np.ndarray:
    """Noise s.d. of each (K, T) trace from its power spectrum (CaImAn's / OASIS's estimate)."""
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if raw.shape[1] < 8:
        return raw.std(axis=1)
    return noise_fft(raw.T).astype(np.float64)
