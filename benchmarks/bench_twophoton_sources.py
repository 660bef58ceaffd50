"""Benchmark: source extraction vs suite2p, side by side on the same movies (issue 14).

Targets: F1 >= 0.95 against the true cell centres (one-to-one matching within 4 px) and median
r >= 0.95 of the denoised trace with the true activity (dF/F), with suite2p's F1, r and
frames/s on the same movie beside them; an easy and a hard variant.

- Movies: `make_two_photon_movie`, 1,000 frames of 256 x 256, 60 cells, seed 1, variants
  "easy" and "hard" (TWO_PHOTON_VARIANTS: the hard one has an active neuropil, few photons and
  overlapping cells), without motion: both tools get the movie as a perfect registration would
  leave it (registration is benchmarked separately), suite2p with do_registration = 0.
- Truth: the cells that fire at least one spike in the movie (a cell that never fires is
  invisible to activity-based methods, ours and suite2p's); F1 against all cells also reported.
- Ours: `extract_sources` with default parameters, accepted components. suite2p 1.x: its full
  pipeline without registration (detection, extraction, classification, deconvolution) in its
  venv as a subprocess, ROIs with iscell = 1, diameter 10 px, tau 0.7 s; its trace is the
  neuropil-corrected F - 0.7 Fneu (suite2p has no denoised trace; its spks are spikes).
  frames/s = frames / wall seconds of the whole step.
Run: python benchmarks/bench_twophoton_sources.py [--frames 1000]
Writes benchmarks/results/twophoton_sources.json.
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
import tifffile

from napari_catrack.core.sources import extract_sources
from napari_catrack.core.sources.scoring import match_centres, score_detection, trace_correlations
from napari_catrack.synthetic import TWO_PHOTON_VARIANTS, make_two_photon_movie

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "twophoton_sources.json"
SUITE2P = Path(os.environ.get("SUITE2P_PYTHON", "/work/venvs/suite2p/bin/python"))
NO_MOTION = {"motion_px": 0.0, "drift_px_per_sqrt_s": 0.0, "jump_rate_hz": 0.0, "nonrigid_px": 0.0}


def score(est_yx, traces, truth, active) -> dict:
    det = score_detection(est_yx, truth.centres[active])
    det_all = score_detection(est_yx, truth.centres)
    pairs = match_centres(est_yx, truth.centres[active])
    r = trace_correlations(traces, truth.traces[active], pairs)
    return {**det, "f1_all_cells": det_all["f1"], "median_r": float(np.nanmedian(r)) if len(r) else None,
            "r_p10": float(np.nanpercentile(r, 10)) if len(r) else None}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    out = {"benchmark": "twophoton_sources", "command": " ".join(sys.argv), "variants": {},
           "targets": {"f1": 0.95, "median_r": 0.95, "match_px": 4.0}}  # fmt: skip
    for variant in ("easy", "hard"):
        kw = {**TWO_PHOTON_VARIANTS[variant], **NO_MOTION}
        m = make_two_photon_movie(args.frames, (args.size, args.size), n_cells=60, seed=1, **kw)
        active = m.truth.spikes.sum(axis=1) > 0
        row: dict = {"frames": args.frames, "cells": len(active), "active_cells": int(active.sum()),
                     "load_before": [round(v, 2) for v in os.getloadavg()]}  # fmt: skip
        t0, c0 = time.perf_counter(), time.process_time()
        res = extract_sources(m.movie, fps=m.fps)
        sec, cpu = time.perf_counter() - t0, time.process_time() - c0
        acc = res.components[res.components["accepted"]]
        rows = acc.index.to_numpy()
        ours = score(acc[["y", "x"]].to_numpy(), res.denoised[rows], m.truth, active)
        ours_raw = score(acc[["y", "x"]].to_numpy(), res.raw[rows], m.truth, active)
        row["ours"] = {"seconds": sec, "frames_per_s": args.frames / sec, "cpu_seconds": cpu, "components": len(res.components),
                       "accepted": len(acc), **ours, "median_r_raw": ours_raw["median_r"]}  # fmt: skip
        if SUITE2P.exists():
            with tempfile.TemporaryDirectory() as tmp:
                data = Path(tmp) / "data"
                data.mkdir()
                tifffile.imwrite(data / "movie.tif", m.movie)
                npz = Path(tmp) / "s2p.npz"
                cmd = [str(SUITE2P), str(HERE / "peers" / "suite2p_runner.py"), "sources",
                       str(data / "movie.tif"), str(Path(tmp) / "work"), str(npz), "--fps", str(m.fps),
                       "--diameter", "10"]  # fmt: skip
                run = subprocess.run(cmd, capture_output=True, text=True)
                if run.returncode:
                    row["suite2p"] = {"error": run.stderr[-2000:]}
                else:
                    d = np.load(npz, allow_pickle=True)
                    keep = d["iscell"][:, 0] > 0.5
                    raw = d["F"] - 0.7 * d["Fneu"]
                    s2 = score(d["centroid"][keep], raw[keep], m.truth, active)
                    row["suite2p"] = {"seconds": float(d["seconds"]), "frames_per_s": args.frames / float(d["seconds"]), "cpu_seconds": float(d["cpu_seconds"]),
                                      "rois": len(keep), "accepted": int(keep.sum()), "version": str(d["version"]), **s2}  # fmt: skip
        row["load_after"] = [round(v, 2) for v in os.getloadavg()]
        out["variants"][variant] = row
        print(variant, json.dumps(row, indent=1, default=float), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
