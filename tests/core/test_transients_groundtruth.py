"""Cascade's recipe for training data: rate variants, noise to a level, crops, model inputs."""

from __future__ import annotations

import numpy as np
import pytest

from napari_catrack.core.signals.denoise import denoise_savgol
from napari_catrack.core.signals.noise import standardized_noise
from napari_catrack.core.transients.groundtruth import (
    GroundTruthTrace,
    add_noise_to_level,
    load_cascade_dataset,
    rate_variants,
)
from napari_catrack.core.transients.model_input import N_CHANNELS, N_COND, label_grid, model_inputs
from napari_catrack.core.transients.training import (
    Augmentation,
    CropPool,
    CropSampler,
    TrainingTrace,
)
from napari_catrack.errors import InputError
from napari_catrack.synthetic.noise import noise_traces
from tests.conftest import shared_data


def trace(fps: float, seconds: float = 60.0, seed: int = 0) -> GroundTruthTrace:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fps)) / fps
    spikes = np.sort(rng.uniform(1, seconds - 1, 20))
    y = sum(0.3 * np.exp(-(t - s) / 0.6) * (t >= s) for s in spikes) + rng.normal(0, 0.02, t.size)
    return GroundTruthTrace("DSX", 0, fps, y.astype(np.float32), spikes)


def test_rate_variants_only_downsample_and_keep_time():
    fast = trace(60.0)
    rates = sorted(v.fps for v in rate_variants(fast))
    assert rates == [3.75, 7.5, 15.0, 30.0]
    v30 = next(v for v in rate_variants(fast) if v.fps == 30.0)
    assert v30.dff.size == pytest.approx(fast.dff.size / 2, abs=1)
    np.testing.assert_array_equal(v30.spikes_s, fast.spikes_s)
    slow = trace(10.0)
    variants = rate_variants(slow)
    assert variants[0] is slow  # slower than the detector's rate: itself, never upsampled
    assert sorted(v.fps for v in variants) == [3.75, 7.5, 10.0]
    near = trace(29.8)  # within 5 % of 30 Hz: not resampled
    assert any(v is near for v in rate_variants(near))


def test_noise_is_added_up_to_the_target_level_only():
    rng = np.random.default_rng(1)
    x = noise_traces(1, 20_000, 30.0, 0.5, "white", seed=2)[0]
    y = add_noise_to_level(x, 30.0, 2.0, rng)
    assert standardized_noise(y, 30.0) == pytest.approx(2.0, rel=0.05)
    same = add_noise_to_level(x, 30.0, 0.3, rng)  # already noisier than the target
    np.testing.assert_array_equal(same, x)


def test_model_inputs_do_not_depend_on_the_traces_scale_or_offset():
    x = noise_traces(2, 3000, 30.0, 1.0, "white", seed=3)
    a, ca = model_inputs(x, 30.0)
    b, cb = model_inputs(7.0 * x + 3.0, 30.0)
    assert a.shape == (2, N_CHANNELS, 3000) and ca.shape == (2, N_COND)
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(ca, cb, atol=1e-5)


def test_conditioning_tells_smoothed_and_pink_noise_from_white():
    white = noise_traces(4, 6000, 30.0, 1.0, "white", seed=4)
    _, c_white = model_inputs(white, 30.0)
    _, c_smooth = model_inputs(denoise_savgol(white, window=11), 30.0)
    _, c_pink = model_inputs(noise_traces(4, 6000, 30.0, 1.0, "pink", seed=4), 30.0)
    _, c_slow = model_inputs(white, 7.5)
    assert np.abs(c_white[:, 1:]).max() < 0.15  # every lag: the same noise
    assert (c_smooth[:, 2] > 0.8).all() and (c_pink[:, 3] > 0.4).all()
    assert c_white[0, 0] == 0.0 and c_slow[0, 0] == pytest.approx(np.log(0.25))


def test_label_grid_marks_intervals_on_the_model_grid():
    lab = label_grid(np.array([[1.0, 1.2], [1.1, 1.5], [9.9, 20.0]]), 300, 30.0)
    assert lab[30:46].all() and not lab[29] and not lab[46]  # overlapping intervals merge
    assert lab[297:].all() and lab.sum() == 16 + 3


def test_crop_sampler_and_pool_give_masked_windows():
    traces = [TrainingTrace(t.dff, t.fps, np.stack([t.spikes_s, t.spikes_s + 0.2], 1), g)
              for t, g in [(trace(30.0, 60.0, 1), "a"), (trace(15.0, 20.0, 2), "b")]]  # fmt: skip
    sampler = CropSampler(traces, 30.0, 900, Augmentation(), seed=0)
    x, cond, y, mask = sampler.batch(12)
    assert x.shape == (12, N_CHANNELS, 900) and cond.shape == (12, N_COND)
    assert np.isfinite(x).all() and np.isfinite(cond).all()
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert (mask.sum(axis=1) < 900).any()  # the 20 s trace is padded, padding masked out
    pool = CropPool.concat([CropPool.draw(sampler, 6), CropPool.draw(sampler, 2)])
    xb, cb, yb, mb = pool.batch(40)
    assert xb.dtype == np.float32 and xb.shape == (40, N_CHANNELS, 900)
    assert cb.shape == (40, N_COND) and yb.shape == mb.shape == (40, 900)
    quiet = CropPool.draw(CropSampler(traces, 30.0, 900, Augmentation(noise_only=1.0)), 4)
    assert not quiet.y.any()  # pure-noise crops carry no label


def test_ignored_stretches_leave_the_loss_but_events_stay_in_it():
    t = trace(30.0, 40.0, 3)
    events = np.array([[5.0, 5.3]])
    ignored = np.array([[10.0, 10.3], [5.1, 5.2]])  # the second overlaps an event: stays in
    crop = CropSampler(
        [TrainingTrace(t.dff, t.fps, events, "a", ignored)], 30.0, 1200, Augmentation.none(),
        crop_s=40.0,
    ).crop()  # fmt: skip
    lab, mask = crop[2], crop[3]
    assert lab[150:159].all() and mask[150:159].all()
    assert not mask[300:309].any() and not lab[300:309].any()
    assert mask[:150].all() and mask[310:].all() and mask.sum() == 1200 - 10


def test_crop_pool_shares_fix_each_pools_fraction_of_a_batch():
    def const(v, n):  # a pool whose crops are all v (to tell them apart in a batch)
        return CropPool(np.full((n, 1, 4), v, np.float16), np.zeros((n, 1), np.float32),
                        np.zeros((n, 4), bool), np.ones((n, 4), bool))  # fmt: skip

    equal = CropPool.concat([const(0, 50), const(1, 5)], seed=1)
    assert 0.4 < equal.batch(4000)[0].mean() < 0.6  # equal shares, whatever the sizes
    mixed = CropPool.concat([const(0, 50), const(1, 5)], seed=1, shares=[1, 3])
    assert 0.72 < mixed.batch(4000)[0].mean() < 0.78
    with pytest.raises(InputError, match="share"):
        CropPool.concat([const(0, 2), const(1, 2)], shares=[1.0])
    with pytest.raises(InputError, match="no usable traces"):
        CropSampler([TrainingTrace(np.zeros(3), 30.0, np.zeros((0, 2)))], 30.0, 900)


def test_cascade_files_with_odd_trials_load():
    root = shared_data("cascade")
    recs = load_cascade_dataset(root / "DS04-OGB1-zf-pDp")  # one trial: fluo_mean > fluo_time
    assert len({r.neuron for r in recs}) == 15
    assert all(np.isfinite(r.dff).all() and r.spikes_s.min() >= 0 for r in recs if r.spikes_s.size)
    s1 = load_cascade_dataset(root / "DS03-Cal520-m-S1")  # trials with ephys only are skipped
    assert {r.neuron for r in s1} == set(range(8)) and all(r.fps > 400 for r in s1)


def test_fit_runs_on_the_device_asked_for_and_returns_the_net_on_the_cpu():
    torch = pytest.importorskip("torch")
    from napari_catrack.core.transients.learned import DetectorConfig, build_detector
    from napari_catrack.core.transients.training import fit

    traces = [TrainingTrace(trace(30.0).dff, 30.0, np.zeros((0, 2)), "a")]
    pool = CropPool.draw(CropSampler(traces, 30.0, 900, Augmentation(), seed=0), 4)
    net = build_detector(DetectorConfig(hidden=4), seed=0).net
    summary = fit(net, pool, 2, batch_size=2, device="cpu")
    assert summary["steps"] == 2 and "device" not in summary
    assert {p.device.type for p in net.parameters()} == {"cpu"}
    if not torch.cuda.is_available():  # the device is really used: no CUDA here, so it fails
        with pytest.raises((RuntimeError, AssertionError)):
            fit(net, pool, 1, batch_size=2, device="cuda")
        assert {p.device.type for p in net.parameters()} == {"cpu"}  # and the net is back
