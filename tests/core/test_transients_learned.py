"""Trainable transient detectors: tiny networks trained here on traces with known transients."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from napari_catrack.core.transients import detect_transients
from napari_catrack.core.transients.groundtruth import burst_intervals
from napari_catrack.core.transients.learned import (
    DEFAULT_MODEL,
    DetectorConfig,
    build_detector,
    default_detector,
    detector_from_bytes,
    detector_from_state,
    load_detector,
    runs_to_peaks,
    save_detector,
    windows,
)
from napari_catrack.core.transients.scoring import match_events
from napari_catrack.core.transients.training import (
    intervals_from_table,
    train_detector,
    training_data,
)
from napari_catrack.errors import InputError

RISE_S, TAU_S = 0.15, 0.6


def planted(fps: float, dur_s: float, seed: int, noise: float = 0.05, amp=(0.4, 1.2)):
    """A trace with transients at random onsets (at least 2 s apart) and its onsets (s)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur_s * fps)) / fps
    onsets = np.cumsum(rng.uniform(2.0, 6.0, int(dur_s / 2)))
    onsets = onsets[onsets < dur_s - 2]
    y = np.zeros_like(t)
    for o in onsets:
        a = rng.uniform(*amp)
        rise = (t >= o) & (t < o + RISE_S)
        y[rise] += a * (t[rise] - o) / RISE_S
        after = t >= o + RISE_S
        y[after] += a * np.exp(-(t[after] - o - RISE_S) / TAU_S)
    return y + rng.normal(0, noise, t.size), onsets


def training_set(n: int, fps: float, seed0: int = 0):
    traces, intervals = [], []
    for k in range(n):
        y, on = planted(fps, 60.0, seed0 + k)
        traces.append(y)
        intervals.append(np.stack([on, on + RISE_S], axis=1))
    return traces, intervals


def f1_on_new_traces(det, fps: float, seeds=(100, 101, 102)) -> float:
    tp = n_det = n_true = 0
    for s in seeds:
        y, on = planted(fps, 60.0, s)
        tab = det.detect(y, fps, features=False)
        r = match_events(
            tab["start_frame"] / fps, tab["peak_frame"] / fps, on, burst_gap_s=0.3, tolerance_s=0.15
        )
        tp, n_det, n_true = tp + r.n_matched, n_det + r.n_detected, n_true + r.n_bursts
    return 2 * tp / (n_det + n_true)


# small enough to train in seconds on a CI core: 15 Hz model rate, 10 s crops
TINY = {"hidden": 8, "layers": 1, "head": 4, "dilations": (1, 2, 4), "sample_rate_hz": 15.0,
        "window_s": 10.0, "margin_s": 1.0}  # fmt: skip
FIT = {"epochs": 30, "batch_size": 16, "learning_rate": 1e-2}


@pytest.fixture(scope="module")
def trained_gru():
    """A tiny convolutional detector (the default architecture) trained on planted transients."""
    traces, intervals = training_set(10, 30.0)
    return train_detector(traces, 30.0, intervals, DetectorConfig(**TINY), seed=0, **FIT)


@pytest.mark.slow
def test_tiny_detector_learns_transients_that_an_untrained_one_misses(trained_gru):
    untrained = build_detector(DetectorConfig(**TINY), seed=0)
    assert f1_on_new_traces(untrained, 30.0) < 0.5
    assert f1_on_new_traces(trained_gru, 30.0) >= 0.9
    tab = trained_gru.detect(planted(30.0, 60.0, 100)[0], 30.0)
    assert set(tab["source"]) == {"model"}
    assert {"rise_time_s", "decay_time_s", "snr"} <= set(tab.columns)
    assert (tab["start_frame"] <= tab["peak_frame"]).all()
    assert (tab["peak_frame"] <= tab["end_frame"]).all()


@pytest.mark.parametrize(
    "arch", ["gru", pytest.param("lstm", marks=pytest.mark.slow),
             pytest.param("transformer", marks=pytest.mark.slow)],
)  # fmt: skip
def test_other_architectures_train(arch):
    traces, intervals = training_set(10, 30.0)
    # without augmentation: tiny recurrent networks learn the clean task in a few steps (the
    # LSTM's gates need twice the GRU's: at 30 epochs it still sits at the all-negative answer)
    cfg = DetectorConfig(arch=arch, **TINY)
    fit = {**FIT, "epochs": 60} if arch == "lstm" else FIT
    det = train_detector(traces, 30.0, intervals, cfg, augment=False, **fit)
    assert det.meta["final_loss"] < 0.25  # the label fraction alone gives ~0.2 at chance
    assert f1_on_new_traces(det, 30.0) >= 0.8


def test_detector_runs_at_other_frame_rates(trained_gru):
    # trained at 30 Hz; a 90 Hz recording is resampled and the answer mapped back to its frames
    y, on = planted(90.0, 60.0, 100)
    tab = trained_gru.detect(y, 90.0, features=False)
    r = match_events(tab["start_frame"] / 90.0, tab["peak_frame"] / 90.0, on, 0.3, 0.15)
    assert r.n_matched >= 0.9 * on.size
    assert r.n_detected <= on.size + 1
    peak_err = np.abs(tab["peak_frame"].to_numpy()[:, None] / 90.0 - (on + RISE_S)[None]).min(1)
    assert np.median(peak_err) < 0.05


def test_windows_cover_long_traces_exactly(trained_gru):
    for n, length, margin in [(5, 150, 15), (149, 150, 15), (151, 150, 15), (5000, 150, 15),
                              (1234, 4096, 60), (9000, 4096, 60), (9001, 4096, 60)]:  # fmt: skip
        for align in (1, 3):
            wins = windows(n, length, margin, align)
            kept = np.concatenate([np.arange(a, b) for _, _, a, b in wins])
            np.testing.assert_array_equal(kept, np.arange(n))
            assert all(0 <= s <= a <= b <= min(e, n) for s, e, a, b in wins)
            assert len({e - s for s, e, _, _ in wins}) == 1  # one batch shape
            assert all(s % align == 0 for s, *_ in wins)
    p = trained_gru.probability(planted(30.0, 200.0, 7)[0], 30.0)
    assert p.shape == (1, 6000)  # native frames, though the model ran at 15 Hz
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()


def test_probability_is_the_same_in_long_windows_and_whole(trained_gru):
    """Windows overlap by the network's reach: cutting a long trace changes nothing."""
    y = planted(30.0, 700.0, 8)[0]  # 10,500 model frames: three windows
    whole = trained_gru.probability(y, 30.0)
    import napari_catrack.core.transients.learned as learned

    old = learned.TCN_WINDOW
    learned.TCN_WINDOW = 100_000
    try:
        single = trained_gru.probability(y, 30.0)
    finally:
        learned.TCN_WINDOW = old
    np.testing.assert_allclose(whole, single, atol=5e-3)  # the last frames: edge padding


def test_probability_reports_progress_and_can_be_cancelled(trained_gru):
    from napari_catrack.errors import Cancelled

    y = np.stack([planted(30.0, 60.0, s)[0] for s in range(40)])
    seen = []
    trained_gru.probability(y, 30.0, batch=8, progress=lambda d, t, m: seen.append((d, t)))
    assert seen[-1] == (5, 5) and len(seen) == 5
    with pytest.raises(Cancelled):
        trained_gru.probability(y, 30.0, batch=8, cancel=lambda: True)


def test_runs_to_peaks_merges_gaps_and_drops_short_runs():
    on = np.zeros((2, 40), bool)
    on[0, 2:6] = on[0, 8:12] = True  # gap of 2 frames: one run with gap 2
    on[0, 30:31] = True  # too short
    on[1, 10:20] = True
    s = np.zeros((2, 40))
    s[0, 9], s[1, 22] = 5.0, 3.0  # peak inside run 0; just after run 1 (within 0.15 s)
    rows, starts, peaks = runs_to_peaks(on, s, gap=2, min_len=2, fps=30.0)
    np.testing.assert_array_equal(rows, [0, 1])
    np.testing.assert_array_equal(starts, [2, 10])
    np.testing.assert_array_equal(peaks, [9, 22])
    rows, _, _ = runs_to_peaks(on, s, gap=1, min_len=2, fps=30.0)
    assert rows.tolist() == [0, 0, 1]


def test_save_load_round_trip(tmp_path, trained_gru):
    path = save_detector(trained_gru, tmp_path / "det.pt")
    back = load_detector(path)
    y = planted(30.0, 60.0, 5)[0]
    np.testing.assert_allclose(back.probability(y, 30.0), trained_gru.probability(y, 30.0))
    assert back.config == trained_gru.config and back.meta == trained_gru.meta
    again = detector_from_bytes(trained_gru.to_bytes())
    np.testing.assert_allclose(again.probability(y, 30.0), trained_gru.probability(y, 30.0))


def test_bad_detector_files(tmp_path, trained_gru):
    import torch

    with pytest.raises(InputError, match="no detector file"):
        load_detector(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(InputError, match="is not a napari-catrack transient detector: it is not "
                                         "a PyTorch weights file"):  # fmt: skip
        load_detector(junk)
    csv = tmp_path / "traces.csv"
    pd.DataFrame({"neuron_id": [1, 1], "frame": [0, 1], "dff": [0.1, 0.2]}).to_csv(csv)
    with pytest.raises(InputError) as err:
        load_detector(csv)
    assert "not a PyTorch weights file" in str(err.value)
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
    torch.save({"config": object()}, junk)  # a pickle of Python objects: never loaded
    with pytest.raises(InputError, match="holds Python objects besides weights"):
        load_detector(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(InputError, match="not a napari-catrack transient detector"):
        load_detector(other)
    state = trained_gru.state()
    state["config"] = {**state["config"], "hidden": 16}
    torch.save(state, other)
    with pytest.raises(InputError, match="do not fit"):
        load_detector(other)
    state = {k: v for k, v in trained_gru.state().items() if k != "config"}
    torch.save(state, other)
    with pytest.raises(InputError, match="no usable config"):
        load_detector(other)
    state = {**trained_gru.state(), "format_version": 99}
    torch.save(state, other)
    with pytest.raises(InputError, match="newer napari-catrack"):
        load_detector(other)


def test_near_model_rate_does_not_drift(trained_gru):
    # 14.98 Hz against the model's 15 Hz: without resampling, 30 min would drift by 2 s
    fps = 14.98
    y, on = planted(fps, 1800.0, 21)
    tab = trained_gru.detect(y, fps, features=False)
    late = on > 1500
    r = match_events(tab["start_frame"] / fps, tab["peak_frame"] / fps, on[late], 0.3, 0.15)
    assert r.n_matched >= 0.9 * late.sum()


def test_mostly_missing_trace_keeps_its_noise_level(trained_gru):
    y, on = planted(30.0, 120.0, 4)
    gappy = y.copy()
    gappy[: int(0.6 * y.size)] = np.nan  # 60 % missing: filled flat, which is not "no noise"
    found = trained_gru.detect(gappy, 30.0, features=False)
    kept = on[on > 0.6 * 120.0 + 1]
    assert len(found) <= kept.size + 2


def test_init_is_not_changed_by_fine_tuning(trained_gru):
    traces, intervals = training_set(2, 30.0)
    before = trained_gru.to_bytes()
    tuned = train_detector(traces, 30.0, intervals, init=trained_gru, epochs=1, batch_size=4)
    assert tuned is not trained_gru and trained_gru.to_bytes() == before


def test_bad_training_input():
    traces, intervals = training_set(2, 30.0)
    with pytest.raises(InputError, match="one interval list per trace"):
        train_detector(traces, 30.0, intervals[:1])
    with pytest.raises(InputError, match="no labelled transients"):
        train_detector(traces, 30.0, [np.zeros((0, 2))] * 2)
    with pytest.raises(InputError, match="frame rate"):
        train_detector(traces, 0.0, intervals)
    with pytest.raises(InputError, match="all NaN"):
        train_detector([np.full(100, np.nan)], 30.0, intervals[:1])
    with pytest.raises(InputError, match="group names"):
        train_detector(traces, 30.0, intervals, groups=["a"])
    with pytest.raises(InputError, match="architecture"):
        DetectorConfig(arch="cnn").check()
    with pytest.raises(InputError, match="threshold"):
        DetectorConfig(threshold=1.5).check()
    with pytest.raises(InputError, match="margin"):  # rounds to a window of 10, margins 5
        DetectorConfig(sample_rate_hz=30.0, window_s=10 / 30, margin_s=4.6 / 30).check()


def test_training_can_be_stopped():
    traces, intervals = training_set(2, 30.0)
    calls = []
    det = train_detector(
        traces, 30.0, intervals, DetectorConfig(**TINY), epochs=50,
        should_stop=lambda: len(calls) >= 3, progress=lambda *a: calls.append(a),
    )  # fmt: skip
    assert det.meta["stopped_early"] and len(calls) == 3


def test_training_progress_never_says_loss_nan():
    """h22 walk: `catrack train-detector --epochs 5` (5 steps on the demo) printed "step 1/5
    loss nan" ... "step 4/5 loss nan": the line showed the last 50-step mean, which does not
    exist before step 50, and read as a diverged training. It shows the mean so far instead."""
    traces, intervals = training_set(2, 30.0)
    calls = []
    train_detector(
        traces, 30.0, intervals, DetectorConfig(**TINY), epochs=50,
        should_stop=lambda: len(calls) >= 4, progress=lambda *a: calls.append(a),
    )  # fmt: skip
    lines = [str(c[-1]) for c in calls]
    assert lines and all("nan" not in ln for ln in lines), lines
    assert all(re.search(r"step \d+/\d+ loss \d+\.\d{3}$", ln) for ln in lines), lines


def test_training_data_follows_verdicts():
    dff = np.random.default_rng(0).normal(size=(3, 300))
    table = pd.DataFrame(
        {"neuron_id": ["a", "b", "c"], "start_frame": [10, 20, 30], "peak_frame": [15, 25, 35]}
    )
    ids = ["a", "b", "c"]
    _, iv, used = training_data(dff, ids, table, 30.0, {"b": "accepted", "c": "rejected"})
    assert used == ["b"]
    np.testing.assert_allclose(iv[0], [[20 / 30, 25 / 30]])
    _, _, used = training_data(dff, ids, table, 30.0, {"c": "rejected"})
    assert used == ["a", "b"]
    with pytest.raises(InputError, match="every cell is rejected"):
        training_data(dff, ids, table, 30.0, dict.fromkeys(ids, "rejected"))
    with pytest.raises(InputError, match="no 'peak_frame'"):
        intervals_from_table(table.drop(columns="peak_frame"), ids, 30.0)


def test_burst_intervals_group_spikes():
    iv = burst_intervals(np.array([10.0, 10.1, 10.2, 20.0]) - 5.0)
    np.testing.assert_allclose(iv, [[4.95, 5.35], [14.95, 15.15]])
    spikes = np.array([10.0, 10.1, 10.2, 20.0, 30.0, 30.2])
    np.testing.assert_allclose(
        burst_intervals(spikes, min_spikes=2), [[9.95, 10.35], [29.95, 30.35]]
    )
    np.testing.assert_allclose(burst_intervals(spikes, post_s=0.3, max_spikes=1), [[19.95, 20.3]])


def test_first_version_detector_files_still_load(tmp_path):
    """A GRU saved by the first version (two input channels, no conditioning, format 1)."""
    import torch

    old = build_detector(DetectorConfig(arch="gru", hidden=8, layers=1, inputs_version=1))
    state = old.state()
    state["format_version"] = 1
    state["config"] = {k: v for k, v in state["config"].items()
                       if k not in ("inputs_version", "dilations", "head")}  # fmt: skip
    path = tmp_path / "v1.pt"
    torch.save(state, path)
    back = load_detector(path)
    assert back.config.inputs_version == 1 and back.config.arch == "gru"
    y = planted(30.0, 60.0, 5)[0]
    np.testing.assert_allclose(back.probability(y, 30.0), old.probability(y, 30.0), atol=1e-6)
    with pytest.raises(InputError, match="predates"):
        train_detector([y], 30.0, [np.array([[1.0, 1.2]])], init=back, epochs=1)
    assert detector_from_state(back.state()).config == back.config


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="shipped detector not built")
def test_shipped_detector_finds_planted_transients():
    det = default_detector()
    assert len(det.meta["datasets"]) == 30  # every Cascade ground-truth dataset
    assert det.config.arch == "tcn" and det.config.inputs_version == 2
    y, on = planted(30.0, 60.0, 3, noise=0.05)
    tab = detect_transients(y, 30.0, "model")
    r = match_events(tab["start_frame"] / 30.0, tab["peak_frame"] / 30.0, on, 0.3, 0.15)
    assert r.n_matched >= 0.9 * on.size and r.n_detected <= on.size + 1


def test_unknown_method_lists_model():
    with pytest.raises(InputError, match="'model'"):
        detect_transients(np.zeros(100), 30.0, "cnn")


@pytest.mark.slow
def test_cli_train_then_detect(tmp_path, capsys):
    """`catrack train-detector` on a curated table, then `catrack transients --method model`;
    frame numbers that start at 100 map onto the right trace columns both ways."""
    cli = pytest.importorskip("napari_catrack.cli")
    fps, first = 30.0, 100
    rows, truth = [], []
    for k in range(4):
        y, on = planted(fps, 60.0, 10 + k)
        rows.append(pd.DataFrame({"neuron_id": k, "frame": first + np.arange(y.size), "dff": y}))
        start = first + np.round(on * fps).astype(int)
        truth.append(pd.DataFrame({"neuron_id": k, "start_frame": start,
                                   "peak_frame": start + round(RISE_S * fps)}))  # fmt: skip
    traces, labels = tmp_path / "traces.csv", tmp_path / "curated.csv"
    pd.concat(rows).to_csv(traces, index=False)
    pd.concat(truth).to_csv(labels, index=False)
    verdicts = tmp_path / "verdicts.csv"
    pd.DataFrame({"neuron_id": [0, 1, 2, 3], "status": ["accepted"] * 3 + ["rejected"]}).to_csv(
        verdicts, index=False
    )
    model = tmp_path / "det.pt"
    argv = ["train-detector", str(traces), str(labels), "--fps", "30", "-o", str(model)]
    argv += ["--verdicts", str(verdicts), "--hidden", "8", "--epochs", "150"]  # 300 steps
    argv += ["--sample-rate", "15", "--batch-size", "4", "--learning-rate", "1e-2"]
    assert cli.main(argv) == 0
    det = load_detector(model)
    assert det.meta["cells"] == ["0", "1", "2"]  # accepted cells only
    out = tmp_path / "found.csv"
    argv = ["transients", str(traces), "--fps", "30", "--method", "model", "--model", str(model)]
    assert cli.main([*argv, "-o", str(out)]) == 0
    found = pd.read_csv(out)
    assert set(found["source"]) == {"model"}
    assert found["start_frame"].min() >= first
    r = match_events(found.loc[found.neuron_id == 3, "start_frame"] / fps,
                     found.loc[found.neuron_id == 3, "peak_frame"] / fps,
                     truth[3]["start_frame"] / fps, 0.3, 0.15)  # fmt: skip
    assert r.n_matched >= 0.8 * r.n_bursts  # the rejected cell, never trained on
    bad = tmp_path / "bad.csv"
    pd.concat(truth).assign(start_frame=5).to_csv(bad, index=False)
    argv = ["train-detector", str(traces), str(bad), "--fps", "30", "-o", str(model)]
    assert cli.main(argv) == 2
    assert "not frames of" in capsys.readouterr().err
    assert cli.main(["transients", str(traces), "--fps", "30", "--method", "model",
                     "--model", str(bad), "-o", str(out)]) == 2  # fmt: skip
    assert "is not a napari-catrack transient detector" in capsys.readouterr().err


def test_cli_train_detector_refuses_bad_transients(tmp_path, capsys):
    """A text frame and a transient that starts after its peak: one line each, before training;
    --arch given with --init is said to be ignored."""
    from napari_catrack import cli

    y = planted(30.0, 20.0, 3)[0]
    traces = tmp_path / "traces.csv"
    pd.DataFrame({"neuron_id": 1, "frame": np.arange(y.size), "dff": y}).to_csv(traces, index=False)
    model = tmp_path / "det.pt"
    cases = (("1,a,7", "start_frame must be frame numbers; row 1 has 'a'"),
             ("1,9,5", "1 transient(s) start after their peak (neuron 1, first)"))  # fmt: skip
    for row, message in cases:
        (tmp_path / "t.csv").write_text(f"neuron_id,start_frame,peak_frame\n{row}\n")
        argv = ["train-detector", traces, tmp_path / "t.csv", "--fps", "30", "-o", model]
        assert cli.main([str(a) for a in argv]) == 2
        assert message in capsys.readouterr().err
        assert not model.exists()
    (tmp_path / "t.csv").write_text("neuron_id,start_frame,peak_frame\n1,100,103\n")
    (tmp_path / "t2.csv").write_text("neuron_id,start_frame,peak_frame\n1,100,103\n7,200,203\n")
    argv = ["train-detector", str(traces), str(tmp_path / "t2.csv"), "--fps", "30", "--epochs",
            "1", "--hidden", "4", "--batch-size", "2", "-o", str(tmp_path / "m2.pt")]  # fmt: skip
    assert cli.main(argv) == 0  # neuron 7 is not in the traces: said, not silently dropped
    assert "1 transient(s) of neuron(s) 7 not in" in capsys.readouterr().err
    (tmp_path / "v.csv").write_text("neuron_id,status\n1,maybe\n")  # not a verdict
    argv = ["train-detector", traces, tmp_path / "t.csv", "--fps", "30", "--verdicts",
            tmp_path / "v.csv", "-o", model]  # fmt: skip
    assert cli.main([str(a) for a in argv]) == 2
    assert "verdict status must be one of" in capsys.readouterr().err and not model.exists()
    argv = ["train-detector", str(traces), str(tmp_path / "t.csv"), "--fps", "30", "--epochs",
            "1", "--hidden", "4", "--batch-size", "2"]  # fmt: skip
    assert cli.main([*argv, "-o", str(model)]) == 0
    tuned = str(tmp_path / "tuned.pt")
    assert cli.main([*argv, "--init", str(model), "--arch", "gru", "-o", tuned]) == 0
    err = capsys.readouterr().err
    assert f"warning: --init {model} keeps its own network (tcn); ignoring --arch gru" in err
    assert "--hidden" not in err.split("ignoring")[-1]  # given, and the same as the model's
