"""OASIS deconvolution in two threads at once gives each its single-thread result (h21, h22).

OASIS draws from numpy's global generator (an AR root outside (0, 1]: `oasis.functions.
estimate_time_constant`), which `core.sources.deconv` seeded for each trace and put back after
(h20, reproducible batches). That state is the process's: two GUI jobs deconvolving at once
seeded, drew and put back over each other, so a trace could take the other job's draw; h21 held
the seed, the run and the put-back under a module lock, with `warnings.catch_warnings` inside.
Neither held back another library's use of the global generator, and `catch_warnings` changed
every thread's warning filters. Since h22 the module touches no global state (OASIS's steps
taken one by one, the seeded draw a constant), with OASIS's results to the last bit."""

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
        _oasis_itself(raw)
    finally:
        oasis.functions.np.random.normal = real
    return drawn


def _oasis_itself(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(denoised, spikes) by OASIS's own `deconvolve(y, penalty=1)`, numpy's global generator
    seeded at OASIS_SEED for each trace (as h20-h21 did), the caller's state put back."""
    import warnings

    from oasis.functions import deconvolve

    from napari_catrack.core.sources.deconv import OASIS_SEED

    raw = np.atleast_2d(raw)
    den, spk = np.empty_like(raw), np.empty_like(raw)
    state = np.random.get_state()  # noqa: NPY002
    try:
        for k, y in enumerate(raw):
            np.random.seed(OASIS_SEED)  # noqa: NPY002
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c, s, b = deconvolve(y, penalty=1)[:3]
            den[k], spk[k] = c + b, np.maximum(s, 0)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return den, spk


def _kinds() -> np.ndarray:
    """Traces of many kinds and lengths (OASIS's own path for each: spectrum segments shorter
    and longer than 256 frames, roots inside (0, 1], above 1 and below 0, a jump, a ramp)."""
    rng = np.random.default_rng(5)
    out = []
    for t in (3, 5, 7, 9, 20, 64, 255, 256, 600):
        rows = [rng.normal(0, 50, t), np.cumsum(rng.normal(0, 50, t)),
                np.exp(-np.arange(t) / 3.0) * 1000 + rng.normal(0, 5, t),
                (np.arange(t) % 2).astype(float), np.linspace(0, 1, t)]  # fmt: skip
        out += [np.pad(r, (0, 600 - t), constant_values=np.nan) for r in rows]
    return np.array(out)


def test_deconvolution_is_oasis_to_rounding():
    """OASIS's steps taken one by one (h22) give what `oasis.functions.deconvolve` gives, seeded
    as h20-h21 seeded it: the same denoised traces and spikes to float rounding (the AR(1)
    root is its closed form here, least squares by SVD in OASIS), NaN where OASIS gives NaN (a
    3-frame ramp)."""
    from napari_catrack.core.sources.deconv import deconvolve_traces

    checked = 0
    for raw in [_spiky(1), _spiky(2), *_kinds()]:
        for y in np.atleast_2d(raw):
            y = y[np.isfinite(y)]
            den, spk = deconvolve_traces(y)
            den0, spk0 = _oasis_itself(y)
            scale = max(float(np.nanmax(np.abs(den0), initial=0.0)), 1.0)
            np.testing.assert_allclose(den, den0, rtol=0, atol=1e-9 * scale)
            np.testing.assert_allclose(spk, spk0, rtol=0, atol=1e-9 * scale)
            checked += 1
    assert checked == 24 + 45


def test_deconvolution_touches_no_global_state(monkeypatch):
    """No seeding of numpy's global generator, no draw from it, no change of the warning
    filters (`catch_warnings`, `simplefilter`): h21's lock around them did not hold back other
    code using them at the same time (h22)."""
    import warnings

    from napari_catrack.core.sources import deconv

    def refused(*_args, **_kwargs):
        raise AssertionError("numpy's global generator used")

    for name in ("seed", "get_state", "set_state", "normal", "random", "uniform"):
        monkeypatch.setattr(np.random, name, refused)
    changes: list[str] = []  # (delegated: pytest itself uses them around the test)

    def spy(name, real):
        def call(*args, **kwargs):
            changes.append(name)
            return real(*args, **kwargs)

        return call

    for name in ("simplefilter", "filterwarnings", "resetwarnings"):
        monkeypatch.setattr(warnings, name, spy(name, getattr(warnings, name)))

    class Spied(warnings.catch_warnings):
        def __enter__(self):
            changes.append("catch_warnings")
            return super().__enter__()

    monkeypatch.setattr(warnings, "catch_warnings", Spied)
    den, spk = deconv.deconvolve_traces(_spiky(1))
    assert changes == []
    assert den.shape == spk.shape == (12, 20) and np.isfinite(den).all()


def test_a_trace_too_short_for_the_noise_estimate_is_kept_as_it_is():
    """2 or 4 frames leave no frequency in OASIS's noise band: its least squares stopped with
    LinAlgError ("SVD did not converge"), and the whole extraction or import with it. Such a
    trace is kept, with no spikes, as a flat one is (h22)."""
    from napari_catrack.core.sources.deconv import deconvolve_traces

    raw = np.array([[1.0, 5.0, 2.0, 3.0], [4.0, 1.0, 7.0, 2.0]])
    den, spk = deconvolve_traces(raw)
    np.testing.assert_array_equal(den, raw)
    assert (spk == 0).all()
    den, spk = deconvolve_traces(raw[:, :2])
    np.testing.assert_array_equal(den, raw[:, :2])


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


def test_another_thread_using_numpys_global_generator_and_warnings_changes_nothing(often_switching):
    """One thread deconvolves while another (a third-party library) seeds and draws from numpy's
    global generator and reads the warning filters: the deconvolution gives its single-thread
    result, and the other thread's filters never change under it. h21's lock held back only
    this module's own runs: a seed in between changed OASIS's draw, and `catch_warnings` put
    an "ignore all" filter before every thread's (h22)."""
    import warnings

    from napari_catrack.core.sources.deconv import deconvolve_traces

    raw = np.concatenate([_spiky(1), _spiky(2)])
    alone = deconvolve_traces(raw)
    filters = list(warnings.filters)
    done = threading.Event()
    changed: list = []

    def other():
        while not done.is_set():
            np.random.seed(123)  # noqa: NPY002
            np.random.normal(0, 1, 3)  # noqa: NPY002
            if warnings.filters != filters:
                changed.append(list(warnings.filters[:1]))

    thread = threading.Thread(target=other)
    thread.start()
    try:
        results = [deconvolve_traces(raw) for _round in range(6)]
    finally:
        done.set()
        thread.join()
    for den, spk in results:
        np.testing.assert_array_equal(den, alone[0])
        np.testing.assert_array_equal(spk, alone[1])
    assert not changed, changed[:1]
