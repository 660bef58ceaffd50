"""Benchmark: red → green channel alignment (issue 3) on synthetic moving-worm recordings.

Targets:
  1. accuracy over several seeds: translation error <= 0.1 px (per component) and rotation error
     <= 0.1 deg. Data: `make_worm_recording` (moving, bending head; stage jumps; Poisson + read
     noise; focus dips), misalignment drawn uniformly within +-10 px and +-3 deg, bleaching much
     faster in green (tau 40 s) than red (tau 150 s) over 20 s, so the channels also differ in
     brightness trend. Also reported: the displacement error at the true neuron positions (what
     signal extraction feels), mean/max over neurons and frames;
  2. speed: `estimate_alignment` on 500 frames of 512 x 512 (uint16, in memory) in < 2 s on
     2 CPU cores. Only the estimate is timed. The stack is 100 generated frames repeated 5 times
     (generating 500 frames at 512 x 512 takes ~45 s and would not change the work done: the
     summaries still read all 500 frames). The machine is shared with other jobs, so the best of
     5 runs is reported next to the median, with process CPU time and the load average.
Run: python benchmarks/bench_alignment.py [--seeds 6]
Writes benchmarks/results/alignment.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from napari_catrack.core.alignment import estimate_alignment
from napari_catrack.synthetic import make_worm_recording

RESULTS = Path(__file__).resolve().parent / "results" / "alignment.json"
TRANSLATION_TARGET_PX, ROTATION_TARGET_DEG, SPEED_TARGET_S = 0.1, 0.1, 2.0


def accuracy(seeds: int, n_frames: int, shape: tuple[int, int]) -> dict:
    rng = np.random.default_rng(2026)
    rows = []
    for seed in range(seeds):
        truth = {
            "dy": float(rng.uniform(-10, 10)),
            "dx": float(rng.uniform(-10, 10)),
            "rotation_deg": float(rng.uniform(-3, 3)),
        }
        rec = make_worm_recording(
            n_frames=n_frames, shape=shape, n_neurons=30, seed=100 + seed, misalignment=truth,
            bleach_tau_green_s=40.0, bleach_tau_red_s=150.0,
        )  # fmt: skip
        t0 = time.perf_counter()
        est = estimate_alignment(rec.green, rec.red)
        seconds = time.perf_counter() - t0
        red_pts = rec.truth.red_positions[rec.truth.in_view]
        green_pts = rec.truth.positions[rec.truth.in_view]
        disp = np.linalg.norm(est.map_points(red_pts, shape) - green_pts, axis=1)
        row = {
            "seed": 100 + seed,
            "truth": truth,
            "estimate": {k: est.to_dict()[k] for k in ("dy", "dx", "rotation_deg")},
            "err_dy_px": est.dy - truth["dy"],
            "err_dx_px": est.dx - truth["dx"],
            "err_rotation_deg": est.rotation_deg - truth["rotation_deg"],
            "neuron_displacement_mean_px": float(disp.mean()),
            "neuron_displacement_max_px": float(disp.max()),
            "ncc": est.info.get("ncc"),
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"  seed {row['seed']}: truth dy {truth['dy']:+7.3f} dx {truth['dx']:+7.3f} "
            f"rot {truth['rotation_deg']:+6.3f} | error dy {row['err_dy_px']:+.3f} "
            f"dx {row['err_dx_px']:+.3f} px, rot {row['err_rotation_deg']:+.4f} deg | "
            f"at neurons mean {row['neuron_displacement_mean_px']:.3f} "
            f"max {row['neuron_displacement_max_px']:.3f} px"
        )
    t_err = max(max(abs(r["err_dy_px"]), abs(r["err_dx_px"])) for r in rows)
    r_err = max(abs(r["err_rotation_deg"]) for r in rows)
    return {
        "n_frames": n_frames,
        "shape": list(shape),
        "seeds": rows,
        "max_translation_error_px": t_err,
        "max_rotation_error_deg": r_err,
        "mean_abs_translation_error_px": float(
            np.mean([abs(r[k]) for r in rows for k in ("err_dy_px", "err_dx_px")])
        ),
        "mean_abs_rotation_error_deg": float(np.mean([abs(r["err_rotation_deg"]) for r in rows])),
        "translation_target_met": t_err <= TRANSLATION_TARGET_PX,
        "rotation_target_met": r_err <= ROTATION_TARGET_DEG,
    }


def speed(repeats: int = 5) -> dict:
    truth = {"dy": -6.3, "dx": 8.7, "rotation_deg": 2.2}
    t0 = time.perf_counter()
    rec = make_worm_recording(
        n_frames=100, shape=(512, 512), n_neurons=30, seed=11, misalignment=truth
    )
    gen_s = time.perf_counter() - t0
    green, red = np.tile(rec.green, (5, 1, 1)), np.tile(rec.red, (5, 1, 1))
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        est = estimate_alignment(green, red, max_frames=500)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    best = min(walls)
    print(
        f"  500 x 512 x 512: best {best:.2f} s, median {np.median(walls):.2f} s wall "
        f"(CPU {np.median(cpus):.2f} s); load average {os.getloadavg()[0]:.1f}; "
        f"error dy {est.dy - truth['dy']:+.3f} dx {est.dx - truth['dx']:+.3f} px "
        f"rot {est.rotation_deg - truth['rotation_deg']:+.4f} deg"
    )
    return {
        "stack": [500, 512, 512],
        "generation_s_not_timed": gen_s,
        "wall_s": walls,
        "cpu_s": cpus,
        "best_s": best,
        "median_s": float(np.median(walls)),
        "load_average_1min": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "target_s": SPEED_TARGET_S,
        "target_met_best": best < SPEED_TARGET_S,
        "error": {
            "dy_px": est.dy - truth["dy"],
            "dx_px": est.dx - truth["dx"],
            "rotation_deg": est.rotation_deg - truth["rotation_deg"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    print(f"accuracy: {args.seeds} moving-worm recordings, {args.frames} frames of 256 x 256")
    acc = accuracy(args.seeds, args.frames, (256, 256))
    print(
        f"  max error: translation {acc['max_translation_error_px']:.3f} px "
        f"(target <= {TRANSLATION_TARGET_PX}: {'met' if acc['translation_target_met'] else 'NOT met'}), "
        f"rotation {acc['max_rotation_error_deg']:.4f} deg "
        f"(target <= {ROTATION_TARGET_DEG}: {'met' if acc['rotation_target_met'] else 'NOT met'})"
    )
    print("speed:")
    spd = speed()
    print(
        f"  target < {SPEED_TARGET_S} s on 2 cores: "
        f"{'met' if spd['target_met_best'] else 'NOT met'} (best of 5, shared machine)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "alignment", "accuracy": acc, "speed": spd}
    tmp = RESULTS.with_suffix(".json.partial")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, RESULTS)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
