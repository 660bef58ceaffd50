"""Benchmark: two-photon motion correction vs suite2p, side by side on the same movies (issue 14).

Targets: on a 1,000-frame 256 x 256 synthetic movie with known motion (random-walk drift, jumps,
a mild non-rigid warp): median whole-frame shift error <= 0.03 px at >= 2x suite2p's
registration frames/s on the same movie and machine.

- Movies: `make_two_photon_movie` with the "easy" and "hard" variants (TWO_PHOTON_VARIANTS), 60
  cells, seed 0. Truth per frame = the mean of the true displacement field.
- Error: Euclidean error per frame after removing the constant offset between estimate and truth
  (the template sits wherever the sample was), median over frames. Patch errors: at patch/block
  centres, each patch's constant offset removed.
- suite2p 1.x runs in its own venv (/work/venvs/suite2p) as a subprocess: `registration_wrapper`
  (reference + all frames) on CPU, 2 torch threads; its whole-frame shift = rigid offset + mean
  block offset ("its block step counted"), its rigid-only run separately.
- Ours: `register_movie` on the same movie held in memory (suite2p gets an in-memory array
  too), output not written (suite2p's binary output is in memory as well); template included.
  Timing: wall clock and process CPU time (all threads), best of --repeats, with the load
  average: on a shared, loaded machine frames per CPU-second is the fairer comparison.
Run: python benchmarks/bench_twophoton_registration.py [--frames 1000] [--repeats 2]
Writes benchmarks/results/twophoton_registration.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_catrack.core.registration import RegisterParams, register_movie, shift_error
from napari_catrack.core.registration.metrics import patch_shift_error
from napari_catrack.synthetic import TWO_PHOTON_VARIANTS, make_two_photon_movie

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "twophoton_registration.json"
SUITE2P = Path(os.environ.get("SUITE2P_PYTHON", "/work/venvs/suite2p/bin/python"))
ERROR_TARGET_PX, SPEED_TARGET = 0.03, 2.0


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def suite2p_register(movie_npy: Path, rigid: bool, repeats: int) -> dict | None:
    if not SUITE2P.exists():
        return None
    best = None
    for _ in range(repeats):
        out = movie_npy.with_suffix(f".s2p{'_rigid' if rigid else ''}.npz")
        cmd = [str(SUITE2P), str(HERE / "peers" / "suite2p_runner.py"), "register", str(movie_npy), str(out)]  # fmt: skip
        if rigid:
            cmd.append("--rigid")
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        d = dict(np.load(out, allow_pickle=True))
        if best is None or float(d["seconds"]) < float(best["seconds"]):
            best = d
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--variants", default="easy,hard")
    ap.add_argument("--reuse-suite2p", default=None, metavar="JSON",
                    help="take suite2p's rows from an earlier run on the same movies (same seed, "
                    "frames and size) instead of running it again (it takes ~10 min per run here)")  # fmt: skip
    args = ap.parse_args()
    out = {"benchmark": "twophoton_registration", "command": " ".join(sys.argv), "variants": {},
           "targets": {"median_error_px": ERROR_TARGET_PX, "speed_vs_suite2p": SPEED_TARGET},
           "cpu_count": os.cpu_count()}  # fmt: skip
    for variant in args.variants.split(","):
        m = make_two_photon_movie(args.frames, (args.size, args.size), n_cells=60, seed=0,
                                  **TWO_PHOTON_VARIANTS[variant])  # fmt: skip
        n = len(m.movie)
        truth = np.array([m.truth.displacement(t).mean(axis=(1, 2)) for t in range(n)])
        row: dict = {"frames": n, "shape": [args.size, args.size], "load_before": load()}
        for mode in ("rigid", "piecewise"):
            times, cpus, res = [], [], None
            for _ in range(args.repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                res = register_movie(m.movie, RegisterParams(mode=mode))
                times.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            entry = {"seconds": min(times), "frames_per_s": n / min(times), "cpu_seconds": min(cpus),
                     "frames_per_cpu_s": n / min(cpus), **shift_error(res.shifts, truth)}  # fmt: skip
            if res.patch_shifts is not None:
                iy = np.rint(res.patch_centres).astype(int)
                tp = np.stack([m.truth.displacement(t)[:, iy[:, 0], iy[:, 1]].T for t in range(n)])
                entry["patch_error"] = patch_shift_error(res.patch_shifts, tp)
            row[f"ours_{mode}"] = entry
        reused = json.loads(Path(args.reuse_suite2p).read_text(encoding="utf-8")).get(variant, {}) if args.reuse_suite2p else None  # fmt: skip
        if reused is not None:
            for key in ("suite2p_rigid", "suite2p_nonrigid"):
                if key in reused:
                    row[key] = {**reused[key], "measured": "in an earlier run (--reuse-suite2p)",
                                "load_then": reused.get("load_after")}  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            npy = Path(tmp) / "movie.npy"
            np.save(npy, m.movie)
            for rigid in (True, False) if reused is None else ():
                d = suite2p_register(npy, rigid, args.repeats)
                if d is None:
                    row["suite2p"] = "not installed"
                    continue
                est = np.stack([d["yoff"], d["xoff"]], axis=1).astype(float)
                if not rigid and d["yoff1"].ndim == 2:
                    est = est + np.stack([d["yoff1"].mean(axis=1), d["xoff1"].mean(axis=1)], axis=1)
                sec, cpu = float(d["seconds"]), float(d["cpu_seconds"])
                row[f"suite2p_{'rigid' if rigid else 'nonrigid'}"] = {
                    "seconds": sec, "frames_per_s": n / sec, "cpu_seconds": cpu,
                    "frames_per_cpu_s": n / cpu, "version": str(d["version"]),
                    **shift_error(est, truth),
                }  # fmt: skip
        row["load_after"] = load()
        if "suite2p_nonrigid" in row:
            row["speed_ratio_piecewise_vs_suite2p_nonrigid"] = row["ours_piecewise"]["frames_per_s"] / row["suite2p_nonrigid"]["frames_per_s"]  # fmt: skip
            row["speed_ratio_rigid_vs_suite2p_rigid"] = row["ours_rigid"]["frames_per_s"] / row["suite2p_rigid"]["frames_per_s"]  # fmt: skip
            row["cpu_speed_ratio_piecewise_vs_suite2p_nonrigid"] = row["ours_piecewise"]["frames_per_cpu_s"] / row["suite2p_nonrigid"]["frames_per_cpu_s"]  # fmt: skip
            row["cpu_speed_ratio_rigid_vs_suite2p_nonrigid"] = row["ours_rigid"]["frames_per_cpu_s"] / row["suite2p_nonrigid"]["frames_per_cpu_s"]  # fmt: skip
        out["variants"][variant] = row
        print(variant, json.dumps(row, indent=1, default=float), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
