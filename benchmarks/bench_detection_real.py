"""Benchmark: candidate detection on every annotated worm image, fixed defaults vs --auto-scale.

Run: `PYTHONPATH=src python benchmarks/bench_detection_real.py` (about 40 s; writes
benchmarks/results/detection_real.json and prints the table for docs/tracking.md).

Cases, truth, matching radius and how 2-D overlap is counted: see `_detect_eval.py`. In short:
9 distinct targettrack volumes x 2 channels (max over z), the 2 data_mask crops, 16 frames of
ZephIR's movie (only with PyAV installed: `pip install av`), the bundled sample, 4 other
synthetic worms, and two cases at 2x magnification; then 3-D detection on the volumes. Scores: recall over all
annotated points and over the "achievable" ones (separable in 2-D), precision over all
candidates and over candidates inside the annotated region (annotators marked head neurons only).
The constants of the automatic scale were chosen on `TUNING` only; "held out" rows are the rest.
Timing: median of 20 calls per image, on a shared 2-core machine (noisy).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _detect_eval import TUNING, Case, all_cases, cases_3d, match_3d, score
from napari_catrack.core.detection import detect_candidates, detect_candidates_3d

OUT = Path(__file__).resolve().parent / "results" / "detection_real.json"
MODES = {"old": {}, "auto": {"auto_scale": True}}


def timed(image: np.ndarray, changes: dict, n: int = 20, fresh: bool = False) -> float:
    """Median ms per call; `fresh` forgets the remembered scale first (a new frame each call)."""
    from napari_catrack.core import detection

    times = []
    for _ in range(n):
        if fresh:
            detection._FACTS.clear()
        t = time.perf_counter()
        detect_candidates(image, **changes)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def main() -> int:
    cases = all_cases()
    rows = []
    for c in cases:
        row = {"case": c.name, "kind": c.kind, "split": "tuning" if c.name in TUNING else "held out",
               "shape": list(c.image.shape), "radius_px": c.radius}  # fmt: skip
        for mode, changes in MODES.items():
            _, table = detect_candidates(c.image, **changes)
            row[mode] = score(table, c)
        rows.append(row)
    summary = {}
    for split in ("tuning", "held out"):
        for kind in ("real", "real-green", "real-zephir", "synthetic"):
            sel = [r for r in rows if r["split"] == split and r["kind"] == kind]
            if not sel:
                continue
            summary[f"{kind} / {split}"] = {
                mode: {
                    k: round(float(np.mean([r[mode][k] for r in sel])), 3)
                    for k in ("recall", "recall_achievable", "precision", "precision_in_region")
                }
                | {"cases": len(sel)}
                for mode in MODES
            }
    by_name = {c.name: c for c in cases}
    timing = {
        name: {
            "old": round(timed(by_name[name].image, {}), 1),
            "auto, new image": round(timed(by_name[name].image, MODES["auto"], fresh=True), 1),
            "auto, same image again": round(timed(by_name[name].image, MODES["auto"]), 1),
        }
        for name in ("synth-101", "tt-ex2-gt-red")
        if name in by_name
    }
    rows3d = []
    for c in cases_3d():
        row = {"case": c.name, "z_step": c.z_step, "annotated": len(c.truth)}
        projection = Case(c.name, c.volume.max(axis=0), c.truth[:, 1:], c.radius, "real")
        _, table2d = detect_candidates(projection.image, auto_scale=True)
        row["2-D auto (projection)"] = score(table2d, projection)
        for mode, changes in MODES.items():
            t = time.perf_counter()
            table = detect_candidates_3d(c.volume, z_step=c.z_step, **changes)
            ms = (time.perf_counter() - t) * 1000
            hit = match_3d(table[["z", "y", "x"]].to_numpy(float), c.truth, c.radius, c.z_step)
            row[f"3-D {mode}"] = {"candidates": len(table), "matched": hit,
                                  "recall": hit / len(c.truth),
                                  "precision": hit / len(table) if len(table) else 0.0,
                                  "ms": round(ms)}  # fmt: skip
        rows3d.append(row)
    result = {"rows": rows, "summary": summary, "timing_ms": timing, "rows_3d": rows3d}
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    print("| case | split | annotated / achievable | old: recall (achievable), precision (in region) "
          "| auto: recall (achievable), precision (in region) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in rows:
        cells = [
            f"{r[m]['matched']}/{r[m]['candidates']}: {r[m]['recall']:.2f} "
            f"({r[m]['recall_achievable']:.2f}), {r[m]['precision']:.2f} "
            f"({r[m]['precision_in_region']:.2f})"
            for m in MODES
        ]
        print(f"| {r['case']} | {r['split']} | {r['old']['annotated']} / {r['old']['achievable']} "
              f"| {cells[0]} | {cells[1]} |")  # fmt: skip
    print()
    for k, v in summary.items():
        print(k, v)
    print("timing (ms, median of 20):", timing)
    print()
    print("| volume | annotated | 2-D auto on the projection: found/candidates, recall, precision "
          "| 3-D fixed | 3-D auto |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in rows3d:
        cells = [
            f"{r[k]['matched']}/{r[k]['candidates']}, {r[k]['recall']:.2f}, {r[k]['precision']:.2f}"
            for k in ("2-D auto (projection)", "3-D old", "3-D auto")
        ]
        print(f"| {r['case']} | {r['annotated']} | {' | '.join(cells)} |")
    print(f"-> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
