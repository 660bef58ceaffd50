"""Signal correction and cleaning on constructed traces with known answers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_catrack.core.signals.baselines import (
    baseline,
    baseline_caiman,
    baseline_percentile,
    baseline_running_percentile,
    delta_f_over_f,
)
from napari_catrack.core.signals.cleaning import clean_traces
from napari_catrack.core.signals.denoise import denoise_savgol, denoise_wavelet
from napari_catrack.core.signals.drift import correct_bleaching, remove_drift
from napari_catrack.core.signals.nan import nan_quantile
from napari_catrack.core.signals.noise import snr_caltrig
from napari_catrack.core.signals.ratio import ratio as green_red_ratio
from napari_catrack.errors import InputError

FPS = 10.0
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def transient(t_s: np.ndarray, onset_s: float, amp: float, tau_s: float = 1.0) -> np.ndarray:
    dt = t_s - onset_s
    d = np.clip(dt, 0, None)
    return np.where(dt >= 0, amp * (1 - np.exp(-d / 0.1)) * np.exp(-d / tau_s), 0)


def activity(n_frames: int, seed: int, n_events: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / FPS
    onsets = rng.uniform(0, t[-1] - 3, n_events)
    return sum(transient(t, o, rng.uniform(0.5, 1.5)) for o in onsets)


# ------------------------------------------------------------ ratio / dF/F
def test_ratio_removes_common_mode_dip():
    t = np.arange(600) / FPS
    act = transient(t, 20, 1.0)
    dip = 1 - 0.4 * np.exp(-(((t - 40) / 0.5) ** 2))  # focus change dims both channels
    green, red = 200 * (1 + act) * dip, 100 * dip
    ratio, invalid = green_red_ratio(green, red)
    dr = delta_f_over_f(ratio)
    dg = delta_f_over_f(green)
    assert not invalid.any()
    np.testing.assert_allclose(dr, act, atol=1e-9)  # R0 = 2 exactly: the dip cancels
    assert dg[t == 40][0] < -0.35  # the green-only trace shows the fake dip
    assert np.corrcoef(dr, act)[0, 1] > np.corrcoef(dg, act)[0, 1]


def test_ratio_guards_zero_and_negative_red():
    g = np.array([[10.0, 10, 10, 10]])
    r = np.array([[5.0, 0.0, -2.0, np.nan]])
    with pytest.warns(RuntimeWarning, match="ratio set to NaN"):
        out, invalid = green_red_ratio(g, r)
    assert out[0, 0] == 2.0
    assert np.isnan(out[0, 1:]).all() and not np.isinf(out).any()
    assert invalid.tolist() == [[False, True, True, True]]


def test_dff_nonpositive_baseline_is_nan_not_inf():
    with pytest.warns(RuntimeWarning, match="F0 <= 0"):
        out = delta_f_over_f(np.array([1.0, 2, 3]), np.array([0.0, 1, -1]))
    assert np.isnan(out[0]) and out[1] == 1.0 and np.isnan(out[2])


# ------------------------------------------------------------ baselines
def test_percentile_baselines_on_constructed_trace():
    x = np.concatenate([np.full(80, 10.0), np.full(20, 30.0)])  # 80 % at rest, 20 % active
    assert np.allclose(baseline_percentile(x, 10), 10)
    assert np.allclose(baseline_percentile(x, 25), 10)  # lower quartile still at rest
    assert np.allclose(baseline_percentile(x, 90), 30)


def test_running_percentile_follows_a_slow_step_but_not_transients():
    t = np.arange(3000) / FPS
    rest = np.where(t < 150, 100.0, 150.0)
    x = rest * (1 + activity(3000, 1, n_events=20))
    f0 = baseline_running_percentile(x, FPS, window_s=20, percentile=10)
    assert np.allclose(f0[t < 130], 100, rtol=0.02)
    assert np.allclose(f0[t > 170], 150, rtol=0.02)


def test_caiman_baseline_picks_the_mode_percentile():
    rng = np.random.default_rng(0)
    t = np.arange(4000) / FPS
    x = 100 + rng.normal(0, 2, t.size) + 100 * activity(4000, 3, n_events=25)
    f0, pct = baseline_caiman(x, FPS, window_s=60)
    assert 10 < pct[0] < 60  # the resting level sits below the median of an active trace
    assert np.median(np.abs(f0 - 100)) < 2.0
    f0_fixed, pct_fixed = baseline_caiman(np.vstack([x, x]), FPS, window_s=60, percentile=8)
    assert pct_fixed.tolist() == [8, 8] and f0_fixed.shape == (2, 4000)


def test_caiman_baseline_of_a_trace_with_a_gap_warns_nothing_and_ignores_it():
    """A lost neuron's frames are NaN by default since h16: the mode percentile cast each NaN to
    an integer ("invalid value encountered in cast" on every `catrack traces --dff-baseline
    caiman` run with a lost neuron); it is the percentile of the measured samples alone."""
    rng = np.random.default_rng(0)
    x = 100 + rng.normal(0, 2, 4000) + 100 * activity(4000, 3, n_events=25)
    gap = x.copy()
    gap[1500:2600] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f0, pct = baseline_caiman(gap, FPS, window_s=60)
    _, pct_measured = baseline_caiman(x[np.isfinite(gap)], FPS, window_s=60)
    assert pct[0] == pytest.approx(pct_measured[0])
    assert np.median(np.abs(f0[np.isfinite(gap)] - 100)) < 2.0  # the resting level


def test_bleaching_exponential_is_removed():
    t = np.arange(3000) / FPS
    act = activity(3000, 2)
    x = 500 * np.exp(-t / 120) * (1 + act)
    out, decay = correct_bleaching(x, FPS, method="exponential")
    assert decay[0] == pytest.approx(1.0)
    np.testing.assert_allclose(decay, np.exp(-t / 120), rtol=0.03)
    rest = act < 1e-3
    assert np.std(out[rest]) / np.mean(out[rest]) < 0.02  # flat after correction
    out2, _ = correct_bleaching(x, FPS, method="running")
    assert np.std(out2[rest]) / np.mean(out2[rest]) < 0.03


# ------------------------------------------------------------ drift
@pytest.mark.parametrize("method", ["envelope", "highpass"])
def test_drift_removal_keeps_fast_transient(method):
    t = np.arange(6000) / FPS
    fast = transient(t, 300, 1.0, tau_s=0.8)
    ramp = 0.5 * t / t[-1] + 0.3 * np.sin(2 * np.pi * t / 200)  # slow drift, periods > 20 s
    clean, _ = remove_drift(fast + ramp, FPS, cutoff_s=20, method=method)
    assert np.max(np.abs(clean[np.abs(t - 300) > 30])) < 0.08  # the ramp is gone
    peak = clean[np.abs(t - 300) < 5].max()
    assert peak == pytest.approx(fast.max(), rel=0.12 if method == "envelope" else 0.25)


def test_drift_envelope_divide_mode_gives_ratio_to_trend():
    t = np.arange(3000) / FPS
    x = 100 + t  # pure slow ramp
    out, trend = remove_drift(x, FPS, cutoff_s=20, mode="divide")
    assert np.allclose(out[300:-300], 1.0, atol=0.05)
    np.testing.assert_allclose(trend, x, rtol=0.05)  # a pure ramp is all trend, edges included


# ------------------------------------------------------------ denoising and SNR
@pytest.mark.parametrize("method", ["BayesShrink", "VisuShrink"])
def test_wavelet_denoising_reduces_error(method):
    rng = np.random.default_rng(4)
    clean = np.vstack([activity(2048, s) for s in range(5)])
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    den = denoise_wavelet(noisy, method=method)
    err0 = np.sqrt(np.mean((noisy - clean) ** 2))
    assert np.sqrt(np.mean((den - clean) ** 2)) < 0.6 * err0


def test_wavelet_matches_skimage_on_one_trace():
    skr = pytest.importorskip("skimage.restoration")
    rng = np.random.default_rng(5)
    x = 0.3 * activity(1024, 7) + rng.normal(0, 0.05, 1024)
    for method in ("BayesShrink", "VisuShrink"):
        ours = denoise_wavelet(x, wavelet="db2", method=method)
        ref = skr.denoise_wavelet(x, wavelet="db2", method=method, mode="soft", rescale_sigma=False)
        np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_savgol_reduces_error_and_keeps_nan():
    rng = np.random.default_rng(6)
    clean = activity(1000, 8)
    noisy = clean + rng.normal(0, 0.1, clean.size)
    noisy[100] = np.nan
    den = denoise_savgol(noisy, window_s=0.7, fps=FPS, polyorder=2)
    ok = np.isfinite(noisy)
    assert np.isnan(den[100])
    assert np.sqrt(np.mean((den[ok] - clean[ok]) ** 2)) < 0.7 * np.sqrt(
        np.mean((noisy[ok] - clean[ok]) ** 2)
    )


def test_snr_high_on_transient_low_on_noise():
    rng = np.random.default_rng(9)
    t = np.arange(1200) / FPS
    x = transient(t, 60, 1.0, tau_s=2.0) + rng.normal(0, 0.02, t.size)
    snr, smooth, noise = snr_caltrig(x)
    assert snr[(t > 60.5) & (t < 62)].min() > 10
    assert np.median(snr[t < 50]) < 3
    assert noise.min() >= 0.01  # CalTrig's floor
    scaled, _, _ = snr_caltrig(x, rescale=True)
    assert np.nanmax(scaled) == pytest.approx(np.nanmax(smooth))
    med, _, _ = snr_caltrig(x, noise_stat="median")
    assert med[(t > 60.5) & (t < 62)].min() > 10


# ------------------------------------------------------------ pipeline and bad input
def test_clean_traces_records_parameters_and_improves_error():
    rng = np.random.default_rng(10)
    t = np.arange(3000) / FPS
    clean = np.vstack([activity(3000, s) for s in range(4)])
    noisy = clean + 0.3 * np.sin(2 * np.pi * t / 150) + rng.normal(0, 0.1, clean.shape)
    out, params, inter = clean_traces(
        noisy,
        FPS,
        steps=["drift", ("wavelet", {"method": "VisuShrink"})],
        return_intermediates=True,
    )
    assert params["fps"] == FPS
    assert [s["name"] for s in params["steps"]] == ["drift", "wavelet"]
    assert params["steps"][1]["params"]["method"] == "VisuShrink"
    assert params["steps"][0]["params"]["cutoff_s"] == 20.0  # defaults are recorded too
    assert list(inter) == ["input", "0:drift", "1:wavelet"]
    rerun, _ = clean_traces(noisy, FPS, steps=[(s["name"], s["params"]) for s in params["steps"]])
    np.testing.assert_array_equal(rerun, out)
    err = lambda y: np.sqrt(np.mean((y - clean - np.median(y - clean, axis=1, keepdims=True)) ** 2))  # noqa: E731
    assert err(out) < 0.5 * err(noisy)


def test_clean_traces_bad_input():
    with pytest.raises(InputError, match="unknown cleaning step"):
        clean_traces(np.zeros((2, 100)), FPS, steps=["nope"])
    with pytest.raises(InputError, match="frame rate"):
        clean_traces(np.zeros((2, 100)), 0)
    with pytest.raises(InputError, match="1-D"):
        clean_traces(np.zeros((2, 3, 100)), FPS)


def test_nan_frames_stay_nan_and_do_not_spread():
    rng = np.random.default_rng(11)
    x = 1 + 0.1 * rng.normal(size=(3, 2000)) + np.vstack([activity(2000, s) for s in range(3)])
    x[0, 500:510] = np.nan
    x[2, :] = np.nan  # a neuron never seen
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from all-NaN slices
        out, _ = clean_traces(x, FPS, steps=["bleach", "dff", "drift", "wavelet", "savgol"])
    assert np.isnan(out[0, 500:510]).all()
    assert np.isfinite(out[0, :500]).all() and np.isfinite(out[1]).all()
    assert np.isnan(out[2]).all()


def test_nan_quantile_matches_numpy():
    rng = np.random.default_rng(12)
    a = rng.normal(size=(50, 30))
    a[rng.random(a.shape) < 0.2] = np.nan
    np.testing.assert_allclose(nan_quantile(a, 0.2), np.nanquantile(a, 0.2, axis=1))


def test_clean_real_worm_traces():
    """Real freely-moving-worm traces (Scholz et al. 2018, 62 neurons, ~6 volumes/s): cleaning
    keeps each trace's shape and its NaN samples, and removes frame-to-frame noise."""
    path = (
        DATA
        / "worm"
        / "scholz2018"
        / "ScholzEtAl2018.AML175_moving.BrainScanner20180223_141721.nwb"
    )
    if not path.exists():
        pytest.skip("not found: ../shared/data/worm/scholz2018 (real worm traces)")
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "r") as f:
        acq = f["acquisition"]
        x = np.stack([acq[f"Activity_{i:04d}/data"][:] for i in range(62)])
        t = acq["Activity_0000/timestamps"][:]
    fps = 1.0 / np.median(np.diff(t))
    full, _ = clean_traces(x, fps, steps=["drift", "wavelet"])
    assert full.shape == x.shape
    np.testing.assert_array_equal(np.isnan(full), np.isnan(x))
    # these published traces are already smooth: the adaptive denoiser leaves them alone ...
    out, params = clean_traces(x, fps, steps=["wavelet"])
    ok = np.isfinite(x).all(axis=1)
    r = [np.corrcoef(out[i], x[i])[0, 1] for i in np.flatnonzero(ok)]
    assert np.median(r) > 0.99
    assert params["fps"] == pytest.approx(fps)
    # ... and recovers them when noise is added (real activity as the ground truth)
    noisy = x + np.random.default_rng(0).normal(0, 0.3, x.shape)
    den, _ = clean_traces(noisy, fps, steps=["wavelet"])
    rms = lambda y: np.sqrt(np.nanmean((y - x) ** 2))  # noqa: E731
    assert rms(den) < 0.75 * rms(noisy)


def test_exponential_bleaching_fit_ignores_frames_before_tracking_started():

    t = np.arange(6000) / 10.0
    trace = 100.0 * np.exp(-t / 200.0)
    trace[:2000] = np.nan  # a neuron tracked only from frame 2000 on
    corrected, _ = correct_bleaching(trace, 10.0, method="exponential")
    finite = corrected[np.isfinite(corrected)]
    assert finite.max() / finite.min() < 1.02  # flat once bleaching is divided out


# --- methods review (h10): reference computations and edge cases --------------------------------


@pytest.mark.parametrize("method", ["exponential", "running"])
def test_bleaching_of_a_recording_shorter_than_its_window_is_still_corrected(method):
    """20 s at 10 Hz with the default 30 s window: the envelope was one constant and nothing was
    divided out, silently (the trace kept its e-fold decay)."""
    fps, t = 10.0, np.arange(200) / 10.0
    y = 100 * np.exp(-t / 20) + np.random.default_rng(0).normal(0, 0.3, t.size)
    with pytest.warns(RuntimeWarning, match=r"not longer than the bleaching window \(30 s"):
        out, decay = correct_bleaching(y, fps, method=method)
    assert decay[-1] < 0.5
    assert np.abs(out / 100 - 1).max() < 0.05


def _running_reference(x, w, q):
    """Exact centred running percentile, the window truncated at the recording's edges."""
    h = w // 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.array(
            [[np.nanpercentile(r[max(0, i - h) : i + h + 1], q) for i in range(r.size)] for r in x]
        )


def test_baselines_and_dff_against_numpy_references_on_real_traces_with_a_gap():
    """zephir traces (23 x 512; offset to positive F) with a neuron lost for 80 frames."""
    path = Path("/work/shared/data/worm/zephir/traces.npy")
    if not path.exists():
        pytest.skip("shared data not present")
    x = np.load(path)[0] + 2.0
    x[3, 100:180] = np.nan
    ref = np.nanpercentile(x, 10, axis=1, keepdims=True)
    np.testing.assert_allclose(baseline_percentile(x)[:, :1], ref)
    d = delta_f_over_f(x)
    np.testing.assert_allclose(d, (x - ref) / ref, equal_nan=True)
    assert np.isnan(d).sum() == 80  # the gap stays a gap, nothing else is lost
    # running percentile, evaluated every frame, equals the exact reference away from the edges
    f0 = baseline_running_percentile(x, 2.0, window_s=30, step_s=0.5)
    exact = _running_reference(x, 61, 10)
    inner = np.isfinite(exact[:, 30:-30])  # windows wholly inside the gap have no reference
    np.testing.assert_allclose(f0[:, 30:-30][inner], exact[:, 30:-30][inner], rtol=1e-9)
    assert (~inner).sum() == 20 and np.all(np.isfinite(f0))  # F0 bridges the gap


@pytest.mark.parametrize("fps", [1.0, 4.8, 30.0, 500.0])
def test_dff_of_a_known_signal_at_any_frame_rate(fps):
    """F = F0 (1 + a pulse of 0.5) on a flat baseline: dF/F is the pulse, whatever the rate."""
    n = int(max(200, 120 * fps))
    pulse = np.zeros(n)
    pulse[n // 2 : n // 2 + max(2, n // 50)] = 0.5
    f = 80.0 * (1 + pulse)
    for method in ("percentile", "running", "caiman"):
        d = delta_f_over_f(f, baseline(f, fps, method=method))
        np.testing.assert_allclose(d, pulse, atol=1e-9, err_msg=method)


def test_zero_or_negative_f0_gives_nan_and_one_warning_never_inf():
    f = np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -0.5], [0.0, 0.0, 0.0]])
    with pytest.warns(RuntimeWarning, match=r"F0 <= 0 in 6 samples of 2 of 3 trace\(s\) "
                      r"\(trace \(row\) 1, 2\)"):  # fmt: skip
        d = delta_f_over_f(f)
    assert np.isfinite(d[0]).all() and np.isnan(d[1:]).all()
    with pytest.warns(RuntimeWarning, match=r"\(neuron AVAL, RIM\)"):
        delta_f_over_f(f, names=["AVAR", "AVAL", "RIM"])


@pytest.mark.parametrize("method", ["BayesShrink", "VisuShrink"])
@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_wavelet_denoising_is_skimage_denoise_wavelet(method, mode):
    """The docs say "as skimage.restoration.denoise_wavelet": the same numbers, row by row."""
    sk = pytest.importorskip("skimage.restoration")
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(0, 0.05, (5, 700)), axis=1) + rng.normal(0, 0.2, (5, 700))
    ref = np.stack([sk.denoise_wavelet(r, wavelet="sym4", method=method, mode=mode) for r in x])
    np.testing.assert_allclose(denoise_wavelet(x, method=method, mode=mode), ref, atol=1e-12)


def test_running_baseline_at_500_hz_keeps_its_memory_bounded_and_its_values():
    """A 30 s window at 500 Hz is 15,001 frames: the windows picked at every centre were copied
    for all neurons at once (300 neurons x 5 min: ~10 GB). Now a few rows at a time."""
    import tracemalloc

    from napari_catrack.core.signals import windows

    x = np.random.default_rng(0).normal(100, 3, (40, 40_000))
    tracemalloc.start()
    f0 = baseline_running_percentile(x, 500.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 150e6, f"{peak / 1e6:.0f} MB"  # all rows at once: ~ 2 x 40 x 22 x 15,001 x 8 B
    one_by_one = np.concatenate([baseline_running_percentile(r[None], 500.0) for r in x[:3]])
    np.testing.assert_array_equal(f0[:3], one_by_one)
    assert windows.WINDOW_BUDGET <= 4_000_000
