"""Benchmark: full track vs re-track after one correction (only the corrected stretch is redone).

Run: `python benchmarks/bench_retrack.py [--before-src OLD/src]`
(writes benchmarks/results/tracking_retrack.json).

Data: `make_worm_recording(1000 frames, 256 x 256, 20 neurons, seed 101)` (the tracking
benchmark's first recording), tracked on red from the true positions at frame 0. A tracker
mistake is planted: neuron 7 sits 6 px off its neuron in frames 500-520. One correction at frame
500 (the true position) is then re-tracked. Reported: CPU seconds of the full track and of the
re-track, frames processed by the re-track, the error of the corrected stretch before and after,
and whether any frame outside frames 480-540 or of another neuron changed. `--before-src` runs
the same measurement with an older checkout's code in a subprocess (before/after numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure() -> dict:
    import numpy as np
    import pandas as pd

    from napari_catrack.core.tracking import retrack, track
    from napari_catrack.synthetic import make_worm_recording

    rec = make_worm_recording(n_frames=1000, shape=(256, 256), n_neurons=20, seed=101)
    p0 = rec.truth.red_positions[0]
    seeds = pd.DataFrame({"neuron_id": rec.truth.neuron_ids, "y": p0[:, 0], "x": p0[:, 1]})
    t0 = time.process_time()
    tracks = track(rec.red, None, seeds, 0, model="classical")
    full_s = time.process_time() - t0
    k, nid = 7, rec.truth.neuron_ids[7]
    wrong = tracks.copy()
    bad = (wrong.neuron_id == nid) & wrong.frame.between(500, 520)
    wrong.loc[bad, "x"] += 6.0
    wrong.loc[bad, "confidence"] = 0.2
    y, x = rec.truth.red_positions[500, k]
    corr = pd.DataFrame({"neuron_id": [nid], "frame": [500], "y": [y], "x": [x]})
    polled = []
    t0 = time.process_time()
    new = retrack(wrong, corr, rec.red, model="classical",
                  cancel=lambda: polled.append(1) and False)  # fmt: skip
    re_s = time.process_time() - t0
    truth = rec.truth.red_positions[500:521, k]
    mine = new[new.neuron_id == nid].set_index("frame")
    old = wrong[wrong.neuron_id == nid].set_index("frame")
    err_after = np.linalg.norm(mine.loc[500:520, ["y", "x"]].to_numpy() - truth, axis=1)
    err_before = np.linalg.norm(old.loc[500:520, ["y", "x"]].to_numpy() - truth, axis=1)
    far = ~mine.index.to_series().between(480, 540)
    others_same = (
        new[new.neuron_id != nid]
        .reset_index(drop=True)
        .equals(wrong[wrong.neuron_id != nid].reset_index(drop=True))
    )
    return {
        "full_track_cpu_s": full_s,
        "retrack_cpu_s": re_s,
        "speedup": full_s / re_s,
        "retrack_frames_processed": len(polled),
        "stretch_within_2px_before": float((err_before <= 2).mean()),
        "stretch_within_2px_after": float((err_after <= 2).mean()),
        "far_frames_unchanged": bool(
            np.allclose(mine.loc[far, ["y", "x"]], old.loc[far, ["y", "x"]])
        ),
        "other_neurons_unchanged": bool(others_same),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-src", default=None, metavar="DIR")
    ap.add_argument("--print-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.print_only:  # a subprocess measuring whatever napari_catrack PYTHONPATH gives
        print(json.dumps(measure()))
        return
    sys.path.insert(0, str(ROOT / "src"))
    results = {
        "command": "python benchmarks/bench_retrack.py"
        + (f" --before-src {args.before_src}" if args.before_src else ""),
        "load_before": os.getloadavg(),
        "after": measure(),
    }
    if args.before_src:
        env = {**os.environ, "PYTHONPATH": str(Path(args.before_src).resolve())}
        out = subprocess.run([sys.executable, __file__, "--print-only"], env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
        results["before"] = json.loads(out.stdout.strip().splitlines()[-1])
        results["before"]["src"] = args.before_src
    results["load_after"] = os.getloadavg()
    path = ROOT / "benchmarks" / "results" / "tracking_retrack.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=float))
    os.replace(tmp, path)
    print(json.dumps(results, indent=2, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
