"""Denoised traces and spike estimates by OASIS (the oasis-deconv package from PyPI).

OASIS (Friedrich et al. 2017) solves CNMF's constrained deconvolution: an AR(1) calcium model
with a non-negative spike train, its noise level estimated from the power spectrum, the L1
sparsity set so the residual matches the noise. It is the deconvolution CaImAn and suite2p use.

OASIS replaces an AR root it estimates outside (0, 1] (a short or spiky trace) by a draw from
numpy's global random generator (`oasis.functions.estimate_time_constant`); each trace is
therefore deconvolved with that generator seeded at `OASIS_SEED` (and the caller's state put
back), so a trace gives the same result in every run, batch worker and row order (until h20 a
batch's denoised traces, SNR and verdicts of the SIMA movie changed from run to run).

That generator is one for the whole process, and OASIS takes no generator of its own
(oasis-deconv 0.3.2: `deconvolve` has no seed or generator argument; the draw is
`np.random.normal` inside `estimate_time_constant`). So the seed, the run and the put-back hold
a module lock (`_seeded_global_random`), one trace at a time: two jobs deconvolving at once (two
GUI workers, a batch in threads) seeded, drew and put back the one state over each other, and a
trace's result could depend on the other job (h21). Code elsewhere that draws from numpy's
global generator while a trace is deconvolved is not held by the lock (this package does not:
ruff's NPY002 forbids it).
"""

from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager

import numpy as np

from napari_catrack.core.summary import noise_fft

OASIS_SEED = 0
_GLOBAL_RANDOM = threading.Lock()  # numpy's global generator: one seeded OASIS run at a time


@contextmanager
def _seeded_global_random(seed: int):
    """numpy's global generator seeded at `seed` for one OASIS run, the caller's state put back
    after, one thread at a time (the module's lock: the state is the whole process's)."""
    with _GLOBAL_RANDOM:
        state = np.random.get_state()  # noqa: NPY002 (OASIS draws from the legacy global)
        np.random.seed(seed)  # noqa: NPY002 (OASIS's draw for a root outside (0, 1])
        try:
            yield
        finally:
            np.random.set_state(state)  # noqa: NPY002


def deconvolve_traces(raw: np.ndarray, method: str = "oasis") -> tuple[np.ndarray, np.ndarray]:
    """(denoised, spikes) for (K, T) raw traces; denoised is in the raw trace's units."""
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if method == "none":
        return raw.copy(), np.full(raw.shape, np.nan)
    from oasis.functions import deconvolve

    den = np.empty_like(raw)
    spk = np.empty_like(raw)
    for k, y in enumerate(raw):
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            den[k], spk[k] = y, 0.0
            continue
        with _seeded_global_random(OASIS_SEED), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = deconvolve(y, penalty=1)
        c, s, b = res[0], res[1], res[2]
        den[k] = c + b
        spk[k] = np.maximum(s, 0)
    return den, spk


def trace_noise(raw: np.ndarray) -> np.ndarray:
    """Noise s.d. of each (K, T) trace from its power spectrum (CaImAn's / OASIS's estimate)."""
    raw = np.atleast_2d(np.asarray(raw, np.float64))
    if raw.shape[1] < 8:
        return raw.std(axis=1)
    return noise_fft(raw.T).astype(np.float64)
