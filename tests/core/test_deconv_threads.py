"""OASIS deconvolution in two threads at once gives each its single-thread result (h21).

OASIS draws from numpy's global generator (an AR root outside (0, 1]: `oasis.functions.
estimate_time_constant`), which `core.sources.deconv` seeds for each trace and puts back after
(h20, reproducible batches). That state is the process's: two GUI jobs deconvolving at once
seeded, drew and put back over each other, so a trace could take the other job's draw. The seed,
the run and the put-back now hold a module lock."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest


def _spiky(seed: int, n: int = 12) -> np.ndarray:
    """Short traces with one big transient each: OASIS's AR root often falls outside (0, 1] and
    it draws a random one (the SIMA movie's 20 frames in a batch)."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0, 50, (n, 20))
    raw[:, 3] += rng.uniform(1500, 3000, n)
    raw[:, 4] += 150
    raw[:, 5] += 800
    return raw


def _draws(raw: np.ndarray) -> int:
    """How many of the traces make OASIS draw from the global generator."""
    import oasis.functions

    drawn = 0
    real = oasis.functions.np.random.normal

    def counting(*args, **kwargs):
        nonlocal drawn
        out = real(*args, **kwargs)
        drawn += np.size(out) > 0
        return out

    oasis.functions.np.random.normal = counting
    try:
        from napari_catrack.core.sources.deconv import deconvolve_traces

        deconvolve_traces(raw)
    finally:
        oasis.functions.np.random.normal = real
    return drawn


@pytest.fixture
def often_switching():
    """Threads switch every microsecond (Python's default: 5 ms), so the two runs interleave."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_two_threads_deconvolving_at_once_each_get_their_single_thread_result(often_switching):
    from napari_catrack.core.sources.deconv import deconvolve_traces

    inputs = [_spiky(1), _spiky(2)]
    assert all(_draws(raw) >= len(raw) // 3 for raw in inputs)  # (8 and 6 of 12 draw)
    alone = [deconvolve_traces(raw) for raw in inputs]
    assert not np.array_equal(alone[0][0], alone[1][0])
    np.random.seed(7)  # noqa: NPY002
    caller = np.random.get_state()  # noqa: NPY002

    def run(i, start, results):
        start.wait()
        results[i] = deconvolve_traces(inputs[i])

    for _round in range(8):
        results: list = [None, None]
        start = threading.Barrier(2)
        threads = [threading.Thread(target=run, args=(i, start, results)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for (den, spk), (den1, spk1) in zip(results, alone):
            np.testing.assert_array_equal(den, den1)
            np.testing.assert_array_equal(spk, spk1)
    after = np.random.get_state()  # noqa: NPY002
    assert after[2] == caller[2]  # the caller's stream is where it was
    np.testing.assert_array_equal(after[1], caller[1])
