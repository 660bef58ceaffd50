"""Trained transient detectors against REAL ground truth (Cascade spikes), two-fold by neuron.

Fold 0 trains on the even-numbered files (neurons) of all four datasets and is scored on the
odd ones; fold 1 the other way round. "both folds" sums the held-out counts, so every neuron is
scored exactly once by a model that never saw it. Labels: one rising-phase interval per spike
burst (`intervals_from_spikes`: first spike - 50 ms to last spike + 150 ms). Matching rule:
the same as bench_transients_cascade.py (docs/transients.md).

Run:  python benchmarks/bench_transients_learned.py            (both folds, GRU; ~10 min/fold
                                                                 on 2 quiet cores)
      python benchmarks/bench_transients_learned.py --ship     (also train on every neuron and
                                                                 write the shipped detector)
Fold models are cached in --model-dir and reused when their recipe matches.
Writes benchmarks/results/transients_learned_<arch>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_transients_cascade import BURST_GAP_S, TOLERANCE_S, load_dataset  # noqa: E402
from napari_catrack.core.transients import detect_rules, prepare  # noqa: E402
from napari_catrack.core.transients.learned import (  # noqa: E402
    DEFAULT_MODEL,
    DetectorConfig,
    intervals_from_spikes,
    load_detector,
    save_detector,
    train_detector,
)
from napari_catrack.core.transients.scoring import (  # noqa: E402
    empty_result,
    match_events,
    precision_recall_f1,
)

DATA = ROOT.parent / "shared" / "data" / "cascade"
F1_TARGET = 0.85
THRESHOLDS = (0.4, 0.5, 0.6)


def training_split(data: dict, fold: int | None, balance: bool):
    """Traces, frame rates, labels and sampling weights of the training neurons (fold None:
    every neuron). Balanced: each dataset gets the same share of the training crops."""
    traces, rates, labels, weights = [], [], [], []
    for recs in data.values():
        mine = [r for r in recs if fold is None or r[0] % 2 == fold]
        total = sum(y.size for _, _, y, _ in mine)
        for _, t, y, ap in mine:
            traces.append(y)
            rates.append(1.0 / np.mean(np.diff(t)))
            labels.append(intervals_from_spikes(ap, t[0], BURST_GAP_S))
            weights.append(y.size / total)
    # unbalanced: None, i.e. train_detector's default (crops in proportion to trace length)
    return traces, rates, labels, (weights if balance else None)


def get_model(data, fold, args, model_dir: Path):
    cfg = DetectorConfig(arch=args.arch, hidden=args.hidden)
    recipe = {"fold": fold, "epochs": args.epochs, "seed": args.seed, **cfg.__dict__}
    tag = ""
    if args.balance:
        recipe["balance_datasets"] = True
        tag = "_balanced"
    path = model_dir / f"{args.arch}_h{args.hidden}_e{args.epochs}{tag}_fold{fold}.pt"
    if path.is_file():
        det = load_detector(path)
        if det.meta.get("recipe") == recipe:
            print(f"reusing {path}")
            return det
    traces, rates, labels, weights = training_split(
        data, None if fold == "all" else fold, args.balance
    )
    t0 = time.perf_counter()

    def progress(step, total, msg):
        if step % 25 == 0 or step == total:
            print(f"  fold {fold}: step {step}/{total} {msg} ({time.perf_counter() - t0:.0f} s)")

    det = train_detector(
        traces, rates, labels, cfg, epochs=args.epochs, seed=args.seed, progress=progress,
        trace_weights=weights,
        meta={"recipe": recipe,
              "trained_on": "Cascade ground truth (DS01 OGB-1, DS09 GCaMP6f, DS14 GCaMP6s, "
                            f"DS30 jGCaMP8f), {'all' if fold == 'all' else f'fold {fold}'} neurons",
              "command": "python benchmarks/bench_transients_learned.py --ship"},
    )  # fmt: skip
    save_detector(det, path)
    return det


def score(det, recs, held_out: int | None, thresholds=THRESHOLDS):
    """Match results per threshold (default gap) on the held-out neurons, plus frame-level
    counts against the labels (CalTrig reports frame-level F1)."""
    res = {thr: empty_result() for thr in thresholds}
    frames = np.zeros(3)  # tp, predicted, labelled
    for fi, t, y, ap in recs:
        if held_out is not None and fi % 2 != held_out:
            continue
        fps = 1.0 / np.mean(np.diff(t))
        prep = prepare(y, fps)
        p = det.probability(prep.raw, fps)
        for thr in thresholds:
            tab = det.detect(None, fps, threshold=thr, features=False, prepared=prep, probability=p)
            on, pk = t[tab["start_frame"].to_numpy()], t[tab["peak_frame"].to_numpy()]
            res[thr] = res[thr] + match_events(on, pk, ap, BURST_GAP_S, TOLERANCE_S)
        lab = np.zeros(t.size, bool)
        for a, b in intervals_from_spikes(ap, t[0], BURST_GAP_S):
            lab[max(0, round(a * fps)) : max(0, round(b * fps)) + 1] = True
        pred = p[0] >= det.config.threshold
        frames += [(pred & lab).sum(), pred.sum(), lab.sum()]
    return res, frames


def finetuned(det, recs, fold: int, epochs: int, seed: int):
    """The per-indicator workflow: fine-tune the fold's model on ONE dataset's training
    neurons (what a user does with a few curated cells of their own indicator), then score
    that dataset's held-out neurons."""
    from napari_catrack.core.transients.learned import detector_from_bytes

    mine = [r for r in recs if r[0] % 2 == fold]
    tuned = train_detector(
        [y for _, _, y, _ in mine],
        [1.0 / np.mean(np.diff(t)) for _, t, _, _ in mine],
        [intervals_from_spikes(ap, t[0], BURST_GAP_S) for _, t, _, ap in mine],
        epochs=epochs, learning_rate=1e-3, seed=seed,
        init=detector_from_bytes(det.to_bytes()),
    )  # fmt: skip
    return score(tuned, recs, 1 - fold, thresholds=(0.5,))[0][0.5]


def rules_reference(recs, held_out: int | None):
    tot = empty_result()
    for fi, t, y, ap in recs:
        if held_out is not None and fi % 2 != held_out:
            continue
        fps = 1.0 / np.mean(np.diff(t))
        tab = detect_rules(y, fps, features=False)
        on, pk = t[tab["start_frame"].to_numpy()], t[tab["peak_frame"].to_numpy()]
        tot = tot + match_events(on, pk, ap, BURST_GAP_S, TOLERANCE_S)
    return tot


def rounded(m: dict) -> dict:
    return {k: round(float(v), 4) for k, v in m.items()}


def caltrig_frame_f1() -> dict:
    """CalTrig's published frame-level results (Fig. 6: 10 tests per model, its own labels):
    F1 from the pooled TP/FP/FN counts, beside the mean and range over tests."""
    import pandas as pd

    path = DATA.parent / "caltrig" / "caltrig_TN_TP_FN_FP_raw_data.xlsx"
    if not path.is_file():
        return {}
    x = pd.read_excel(path, sheet_name="4 ML models (Fig.6)")
    model = x.iloc[:, 0].ffill()
    tests = [c for c in x.columns if str(c).startswith("Test")]
    out = {}
    for name in model.dropna().unique():
        sub = x[model == name].set_index(x.columns[2])
        tp, fp, fn = (
            sub.loc[k, tests].astype(float).to_numpy()
            for k in ("TP_Transient", "FP_Transient", "FN_Transient")
        )
        f1 = 2 * tp / (2 * tp + fp + fn)
        out[str(name).strip()] = {
            "pooled_f1": round(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()), 4),
            "per_test_mean": round(float(f1.mean()), 4),
            "per_test_range": [round(float(f1.min()), 4), round(float(f1.max()), 4)],
        }
    return out


def speed(det, n=324, t=3000, fps=30.0):
    x = np.random.default_rng(0).normal(0, 0.05, (n, t))
    t0 = time.perf_counter()
    det.detect(x, fps, features=False)
    wall = time.perf_counter() - t0
    return {"shape": [n, t], "wall_s": round(wall, 2), "frames_per_s": round(n * t / wall)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="gru", choices=("gru", "lstm", "transformer"))
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, nargs="*", default=[0, 1])
    ap.add_argument(
        "--finetune", type=int, default=0, metavar="EPOCHS",
        help="also fine-tune each fold's model per dataset (its training neurons) and score",
    )  # fmt: skip
    ap.add_argument("--balance", action="store_true", help="equal share of crops per dataset")
    ap.add_argument("--ship", action="store_true", help="train on all neurons, write the model")
    ap.add_argument("--model-dir", type=Path, default=Path("/tmp/catrack-bench-models"))
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"Cascade data not found: {DATA}")
        return 1
    args.model_dir.mkdir(parents=True, exist_ok=True)
    data = {f.name: load_dataset(f) for f in sorted(DATA.glob("DS*"))}
    out = {
        "arch": args.arch,
        "finetune_epochs_per_dataset": args.finetune,
        "config": {"hidden": args.hidden, "epochs": args.epochs, "seed": args.seed},
        "labels": "per burst (spikes < 0.3 s apart): first spike - 0.05 s .. last spike + 0.15 s",
        "matching": {"burst_gap_s": BURST_GAP_S, "tolerance_s": TOLERANCE_S, "rule": "overlap"},
        "folds": {},
    }
    combined = {name: {thr: empty_result() for thr in THRESHOLDS} for name in data}
    rules_comb = {name: empty_result() for name in data}
    frames_comb = {name: np.zeros(3) for name in data}
    tuned_comb = {name: empty_result() for name in data}
    for fold in args.folds:
        det = get_model(data, fold, args, args.model_dir)
        held = 1 - fold
        fo = out["folds"][f"fold{fold}"] = {"train_meta": det.meta, "held_out": {}}
        for name, recs in data.items():
            res, frames = score(det, recs, held)
            rr = rules_reference(recs, held)
            rules_comb[name] = rules_comb[name] + rr
            frames_comb[name] += frames
            fo["held_out"][name] = {
                f"model_thr{thr}": rounded(precision_recall_f1(r)) for thr, r in res.items()
            }
            fo["held_out"][name]["rules_default"] = rounded(precision_recall_f1(rr))
            for thr, r in res.items():
                combined[name][thr] = combined[name][thr] + r
            if args.finetune:
                ft = finetuned(det, recs, fold, args.finetune, args.seed)
                tuned_comb[name] = tuned_comb[name] + ft
                fo["held_out"][name]["model_finetuned_per_dataset"] = rounded(
                    precision_recall_f1(ft)
                )
                print(f"fold {fold} held-out {name:20s} fine-tuned burst F1 "
                      f"{precision_recall_f1(ft)['burst_f1']:.3f}", flush=True)  # fmt: skip
            m = precision_recall_f1(res[0.5])
            print(
                f"fold {fold} held-out {name:20s} model P {m['precision']:.2f} R {m['recall']:.2f} "
                f"burst F1 {m['burst_f1']:.3f} single R {m['single_spike_recall']:.2f} | rules "
                f"burst F1 {precision_recall_f1(rr)['burst_f1']:.3f}",
                flush=True,
            )
        out["speed"] = speed(det)
    if len(args.folds) == 2:
        both = out["both_folds"] = {}
        for name in data:
            tp, npred, nlab = frames_comb[name]
            both[name] = {
                **{f"model_thr{thr}": rounded(precision_recall_f1(r)) for thr, r in combined[name].items()},
                "rules_default": rounded(precision_recall_f1(rules_comb[name])),
                "model_frame_level_f1": round(2 * tp / (npred + nlab), 4),
            }  # fmt: skip
            if args.finetune:
                both[name]["model_finetuned_per_dataset"] = rounded(
                    precision_recall_f1(tuned_comb[name])
                )
                print(f"both folds {name:20s} fine-tuned per dataset ({args.finetune} epochs): "
                      f"burst F1 {both[name]['model_finetuned_per_dataset']['burst_f1']:.3f}")  # fmt: skip
            m = both[name]["model_thr0.5"]
            print(
                f"both folds {name:20s} model P {m['precision']:.2f} R {m['recall']:.2f} F1 "
                f"{m['f1']:.3f} burst F1 {m['burst_f1']:.3f} single R {m['single_spike_recall']:.2f}"
                f" frame F1 {both[name]['model_frame_level_f1']:.3f} | rules burst F1 "
                f"{both[name]['rules_default']['burst_f1']:.3f}"
            )
        gcamp = [k for k in data if "GCaMP" in k]
        out["target_burst_f1_ge_0.85_on_gcamp_both_folds"] = all(
            both[k]["model_thr0.5"]["burst_f1"] >= F1_TARGET for k in gcamp
        )
        print("target burst F1 >= 0.85 on GCaMP (both folds):",
              "MET" if out["target_burst_f1_ge_0.85_on_gcamp_both_folds"] else "NOT MET")  # fmt: skip
    if args.ship:
        det = get_model(data, "all", args, args.model_dir)
        save_detector(det, DEFAULT_MODEL)
        out["shipped"] = {"path": str(DEFAULT_MODEL.relative_to(ROOT)), "meta": det.meta}
        print(f"wrote {DEFAULT_MODEL}")
    out["caltrig_published_frame_f1"] = caltrig_frame_f1()
    print("CalTrig published frame-level F1 (its own data and labels):",
          {k: v["pooled_f1"] for k, v in out["caltrig_published_frame_f1"].items()})  # fmt: skip
    out["machine_note"] = "2 CPU cores shared with other jobs: timings are noisy"
    name = f"transients_learned_{args.arch}{'_balanced' if args.balance else ''}"
    name += f"_finetune{args.finetune}.json" if args.finetune else ".json"
    path = ROOT / "benchmarks" / "results" / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, default=str))
    tmp.replace(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
