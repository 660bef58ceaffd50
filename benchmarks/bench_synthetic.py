"""Benchmark: generation time of the synthetic recordings (napari_catrack.synthetic).

Targets: `make_worm_recording` 1000 frames of 256 x 256 (two channels) well under 30 s; 500 frames
of 512 x 512 feasible (reported, no target). The machine may be shared with other jobs, so the
load average and the process CPU time are reported next to the wall time.
Run: python benchmarks/bench_synthetic.py
Writes benchmarks/results/synthetic.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from napari_catrack.synthetic import make_two_photon_movie, make_worm_recording

RESULTS = Path(__file__).resolve().parent / "results" / "synthetic.json"
TARGET_S = 30.0


def timed(fn, **kw) -> dict:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(**kw)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    arr = out.green if hasattr(out, "green") else out.movie
    return {"args": kw, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "shape": arr.shape}


def main() -> int:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no run
    runs = {
        "worm_1000x256": timed(make_worm_recording, n_frames=1000, shape=(256, 256), seed=0),
        "worm_500x512": timed(make_worm_recording, n_frames=500, shape=(512, 512), seed=0),
        "two_photon_500x128": timed(make_two_photon_movie, n_frames=500, shape=(128, 128), seed=0),
    }
    met = runs["worm_1000x256"]["wall_s"] < TARGET_S
    result = {
        "runs": runs,
        "target": f"worm 1000 x 256 x 256 < {TARGET_S} s",
        "target_met": met,
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
    }
    for name, r in runs.items():
        print(f"{name:22s} wall {r['wall_s']:6.1f} s   cpu {r['cpu_s']:6.1f} s   {r['shape']}")
    print(
        f"target (worm 1000x256 < {TARGET_S} s): {'met' if met else 'NOT met'}; load {os.getloadavg()}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=list))
    os.replace(tmp, RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
