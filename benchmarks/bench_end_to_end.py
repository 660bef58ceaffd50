"""Benchmark: the whole pipeline (`catrack demo`) on several synthetic recordings, scored per step.

Answers "how good are the results when every step uses the project's own output" (issue: signals,
end to end with the project's own tracks: median r >= 0.9). Each run: alignment error, detection
recall/spurious, tracking accuracy, trace correlation with the true activity, time per step.
Run: python benchmarks/bench_end_to_end.py [--frames 600] [--seeds 11 12 13]
Writes benchmarks/results/end_to_end.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from napari_catrack.demo import run_demo

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    args = ap.parse_args()
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_demo(
                Path(tmp) / "demo", n_frames=args.frames, seed=seed, log=lambda _: None
            )
        runs.append(summary)
        print(
            f"seed {seed}: align dx/dy/rot err {summary['alignment']['dx_error_px']:.3f}/"
            f"{summary['alignment']['dy_error_px']:.3f} px/{summary['alignment']['rotation_error_deg']:.3f} deg"
            f" | detection recall {summary['detection']['recall']:.3f}, spurious "
            f"{summary['detection']['spurious']} | tracking within 2 px "
            f"{summary['tracking']['within_2px']:.4f} | trace median r "
            f"{summary['traces']['median_r_vs_truth']:.3f}"
        )
    r = [s["traces"]["median_r_vs_truth"] for s in runs]
    within = [s["tracking"]["within_2px"] for s in runs]
    result = {
        "frames": args.frames,
        "seeds": args.seeds,
        "runs": runs,
        "median_r_per_recording": r,
        "target_median_r": 0.9,
        "target_met": bool(min(r) >= 0.9),
        "tracking_within_2px": within,
    }
    print(
        f"end to end: trace median r {np.round(r, 3).tolist()} (target >= 0.9: "
        f"{'MET' if result['target_met'] else 'NOT MET'}); tracking within 2 px "
        f"{np.round(within, 4).tolist()}"
    )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "end_to_end.json").write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
