"""Transient detection against REAL ground truth: Cascade juxtacellular spikes + dF/F.

Run: python benchmarks/bench_transients_cascade.py  (about 4 minutes on 2 shared cores: all 30 datasets)
Data: ../shared/data/cascade (DS01 OGB-1, DS09 GCaMP6f, DS14 GCaMP6s, DS30 GCaMP8f).
Matching rule: see napari_catrack.core.transients.scoring and docs/transients.md.
Defaults were tuned on the even-numbered neurons (files) of each dataset; the odd ones are
held out and reported separately, beside the pooled numbers.
Writes benchmarks/results/transients_cascade.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_catrack.core.transients import detect_ksigma, detect_rules, prepare  # noqa: E402
from napari_catrack.core.transients.scoring import (  # noqa: E402
    binned_correlation,
    empty_result,
    match_events,
    precision_recall_f1,
)
from napari_catrack.io.cascade import read_cascade_file  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
BURST_GAP_S = 0.3
TOLERANCE_S = 0.15
SPEED_SHAPE = (324, 15_000)
SPEED_TARGET_S = 1.0
F1_TARGET = 0.85
# References for the GCaMP8f set beside the default ("auto": 0.2 s, at most 13 frames):
# the old fixed 0.2 s default, and the per-dataset 0.075 s window (chosen on DS30's tuning
# half among 0.05/0.075/0.1 s; held-out half reported)
FIXED_SMOOTH_S = 0.2
FAST_SMOOTH_S = 0.075


def load_dataset(folder: Path):
    """(file index, time_s, dff, spike_times_s) per recording, as the Cascade README says."""
    return [
        (fi, t, y, ap)
        for fi, f in enumerate(sorted(folder.glob("*.mat")))
        for t, y, ap in read_cascade_file(f)
    ]


def rise_weighted(prep, tab, t):
    """Event-rate estimate: positive increments of smoothed dF/F inside each onset..peak."""
    d = np.diff(prep.smooth[0], prepend=prep.smooth[0, 0])
    times, w = [], []
    for a, p in tab[["start_frame", "peak_frame"]].to_numpy(int):
        seg = np.clip(d[a + 1 : p + 1], 0, None)
        times.append(t[a + 1 : p + 1])
        w.append(seg)
    if not times:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(times), np.concatenate(w)


def score(recs, method: str, half: int | None):
    tot, strict = empty_result(), empty_result()
    corr_amp, corr_rise = {}, {}
    for fi, t, y, ap in recs:
        if half is not None and fi % 2 != half:
            continue
        fps = 1.0 / np.mean(np.diff(t))
        if method.startswith("rules"):
            smooth = {"rules_fast": FAST_SMOOTH_S, "rules_0.2s": FIXED_SMOOTH_S}
            prep = prepare(y, fps, smooth_window_s=smooth.get(method, "auto"))
            tab = detect_rules(y, fps, features=False, prepared=prep)
        else:
            tab = detect_ksigma(y, fps, features=False)
            prep = prepare(y, fps, smooth_window_s=0.2)  # k-sigma's default window
        on, pk = t[tab["start_frame"].to_numpy()], t[tab["peak_frame"].to_numpy()]
        tot = tot + match_events(on, pk, ap, BURST_GAP_S, TOLERANCE_S, rule="overlap")
        strict = strict + match_events(on, pk, ap, BURST_GAP_S, TOLERANCE_S, rule="first_spike")
        amp = tab["peak_amplitude"].to_numpy()
        corr_amp.setdefault(fi, []).append(binned_correlation(on, amp, ap, t[0], t[-1]))
        rt, rw = rise_weighted(prep, tab, t)
        corr_rise.setdefault(fi, []).append(binned_correlation(rt, rw, ap, t[0], t[-1]))
    m = precision_recall_f1(tot)
    m.update({f"first_spike_rule_{k}": v for k, v in precision_recall_f1(strict).items()})
    # per neuron (file) mean over its recordings, then mean over neurons (as spikefinder)
    m["corr_events_25hz"] = float(np.nanmean([np.nanmean(v) for v in corr_amp.values()]))
    m["corr_rise_25hz"] = float(np.nanmean([np.nanmean(v) for v in corr_rise.values()]))
    m.update(n_bursts=tot.n_bursts, n_single=tot.n_single, n_detected=tot.n_detected)
    return {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in m.items()}


def caltrig_reference(recs, thresholds=(3.0, 5.0, 8.0)):
    """CalTrig's own SNR (core.signals.noise.snr_caltrig: smoothed dF/F over a 10-frame rolling mean
    of |residual|, no baseline) with find_peaks(height = thr * noise, distance 0.3 s) and our
    onset/end rule: what the published SNR definition alone achieves on these data."""
    try:
        from napari_catrack.core.signals.noise import snr_caltrig
    except ImportError:
        return {}
    from scipy.signal import find_peaks

    from napari_catrack.core.transients.bounds import bounds_flat

    out = {}
    for thr in thresholds:
        tot = empty_result()
        for _, t, y, ap in recs:
            fps = 1.0 / np.mean(np.diff(t))
            _, s, noise = snr_caltrig(y)
            pk = find_peaks(s, height=thr * noise, distance=max(1, round(0.3 * fps)))[0]
            st, _ = bounds_flat(s[None], np.zeros_like(pk), pk, fps)
            tot = tot + match_events(t[st], t[pk], ap, BURST_GAP_S, TOLERANCE_S)
        m = precision_recall_f1(tot)
        out[f"snr_{thr:g}"] = {
            k: round(float(m[k]), 4) for k in ("precision", "recall", "f1", "burst_f1")
        }
    return out


def speed():
    rng = np.random.default_rng(0)
    n, t = SPEED_SHAPE
    fps = 30.0
    x = rng.normal(0, 0.05, (n, t))
    tt = np.arange(t) / fps
    for i in range(n):  # ~0.1 Hz of exponential transients per neuron
        for o in rng.uniform(0, tt[-1], 50):
            after = tt >= o
            x[i, after] += 0.5 * np.exp(-(tt[after] - o) / 0.6)
    out = {}
    for name, fn in [
        ("rules_detect", lambda: detect_rules(x, fps, features=False)),
        ("rules_with_features", lambda: detect_rules(x, fps)),
        ("ksigma_detect", lambda: detect_ksigma(x, fps, features=False)),
    ]:
        wall, cpu = np.inf, np.inf
        for _ in range(2 if "features" in name else 5):  # best of N: the machine is shared
            t0, c0 = time.perf_counter(), time.process_time()
            n_found = len(fn())
            wall = min(wall, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - c0)
        out[f"{name}_wall_s"] = round(wall, 3)
        out[f"{name}_cpu_s"] = round(cpu, 3)
        out[f"{name}_n_transients"] = n_found
    return out


def leaderboard():
    p = DATA / "leaderboards" / "spikefinder_unique.csv"
    if not p.is_file():
        return {}
    df = pd.read_csv(p, encoding="latin-1").sort_values("test_mean", ascending=False)
    return {r.algo: round(float(r.test_mean), 3) for r in df.head(5).itertuples()}


def main() -> int:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no run
    cascade = DATA / "cascade"
    if not cascade.is_dir():
        print(f"Cascade data not found: {cascade}")
        return 1
    t_start = time.perf_counter()
    results = {
        "matching": {"burst_gap_s": BURST_GAP_S, "tolerance_s": TOLERANCE_S, "rule": "overlap"},
        "datasets": {},
    }
    for folder in sorted(cascade.glob("DS*")):
        recs = load_dataset(folder)
        ds = {}
        fast = ("rules_0.2s", "rules_fast") if "GCaMP8" in folder.name else ()
        methods = ("rules", "ksigma", *fast)
        for method in methods:
            ds[method] = {
                "tune_half": score(recs, method, 0),
                "held_out_half": score(recs, method, 1),
                "all": score(recs, method, None),
            }
        ds["caltrig_snr_reference"] = caltrig_reference(recs)
        results["datasets"][folder.name] = ds
    results["speed"] = speed()
    results["spikefinder_test_corr_top5"] = leaderboard()
    results["spikefinder_reference"] = {
        "best": 0.464,
        "MLspike": 0.456,
        "suite2p": 0.423,
        "baseline": 0.387,
    }
    results["machine_note"] = "2 CPU cores shared with other jobs: timings are noisy"
    results["benchmark_wall_s"] = round(time.perf_counter() - t_start, 1)

    print(
        f"Matching: spikes < {BURST_GAP_S * 1000:.0f} ms apart form a burst; a transient matches a "
        f"burst with a spike in [onset - {TOLERANCE_S}s, peak + {TOLERANCE_S}s]; one-to-one. "
        "F1 strict: the burst's FIRST spike must be in that window."
    )
    hdr = f"{'dataset':22s} {'method':10s} {'split':8s} {'P':>5s} {'R':>5s} {'F1':>5s} {'burstF1':>7s} {'1-spk R':>7s} {'r_ev':>5s} {'r_rise':>6s} {'F1strict':>8s}"
    print(hdr)
    for name, ds in results["datasets"].items():
        for method, parts in ds.items():
            if method == "caltrig_snr_reference":
                best = max(parts.items(), key=lambda kv: kv[1]["f1"], default=None)
                if best:
                    b = best[1]
                    print(
                        f"{name:22s} CalTrig SNR alone, best of {len(parts)} thresholds ({best[0]}): "
                        f"P {b['precision']:.2f} R {b['recall']:.2f} F1 {b['f1']:.2f} "
                        f"burst F1 {b['burst_f1']:.2f}"
                    )
                continue
            for split, m in parts.items():
                print(
                    f"{name:22s} {method:10s} {split[:8]:8s} {m['precision']:5.2f} {m['recall']:5.2f} "
                    f"{m['f1']:5.2f} {m['burst_f1']:7.2f} {m['single_spike_recall']:7.2f} "
                    f"{m['corr_events_25hz']:5.2f} {m['corr_rise_25hz']:6.2f} {m['first_spike_rule_f1']:8.2f}"
                )
    gcamp = [k for k in results["datasets"] if "GCaMP" in k]
    # targets use the defaults ("rules"); the GCaMP8f references are reported above
    f1s = {k: results["datasets"][k]["rules"]["all"]["f1"] for k in gcamp}
    bf1s = {k: results["datasets"][k]["rules"]["all"]["burst_f1"] for k in gcamp}
    results["targets"] = {
        "f1_all_events_ge_0.85_on_gcamp": all(v >= F1_TARGET for v in f1s.values()),
        "burst_f1_ge_0.85_on_gcamp": all(v >= F1_TARGET for v in bf1s.values()),
        "rules_324x15000_lt_1s": results["speed"]["rules_detect_wall_s"] < SPEED_TARGET_S,
    }
    print(
        "Spikefinder test correlation (25 Hz, other data!):", results["spikefinder_test_corr_top5"]
    )
    print("Speed (324 x 15000):", results["speed"])
    for k, v in results["targets"].items():
        print(f"target {k}: {'MET' if v else 'NOT MET'}")
    out = ROOT / "benchmarks" / "results" / "transients_cascade.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(out)
    print(f"wrote {out} ({results['benchmark_wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
