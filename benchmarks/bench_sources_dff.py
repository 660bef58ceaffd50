"""F0 of CNMF traces, and which cells get dF/F (h20).

Our extraction's raw trace (C + residual) rests at ~0 plus the cell's own resting fluorescence
the fit left in C; dF/F = (raw - F0) / (F0 + B0) with B0 the background under the footprint
(core/sources/dff.py). Before h20 F0 was a running 10th percentile; now it is CaImAn's (the
percentile at the trace's mode). This measures, on synthetic movies with ground truth:

- F0 minus the trace's resting level (mean raw over the frames where the true activity is
  below 0.005), in noise s.d., median over the matched active cells, for both baselines;
- the slope of dff against the truth's dF/F at the cell's peak pixel (activity x cell
  brightness / (cell + neuropil + background + offset) there) for both: it is below 1 for both
  because CNMF's B0 weights the background by sum(a) / sum(a^2) of the footprint a (CaImAn's
  definition too), so the slope compares the two, it does not score them;
- how many cells get dF (no denominator) under the rule in force.

Cases: the default movie without motion (extraction here is not registered) and a dim one
(cells 5-15 photons, neuropil 3, background 2, no camera offset), 1,500 frames each.
Run: python benchmarks/bench_sources_dff.py [--quick]   -> benchmarks/results/sources_dff.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CASES = {
    "default_no_motion": {"motion_px": 0.0},
    "dim_no_motion": {"motion_px": 0.0, "cell_brightness": (5.0, 15.0), "neuropil_brightness": 3.0,
                      "background_photons": 2.0, "camera_offset": 0.0},
}  # fmt: skip


def _case(n_frames: int, kw: dict) -> dict:
    import napari_catrack.core.sources.extract as extract
    from napari_catrack.core.sources import dff as D
    from napari_catrack.core.sources.scoring import match_centres
    from napari_catrack.synthetic import make_two_photon_movie

    seen: dict = {}
    real = extract.dff_and_kind

    def spy(raw, bg, fps, window_s, **options):  # the traces the extraction divides
        seen.update(raw=raw, bg=bg, fps=fps, window_s=window_s)
        return real(raw, bg, fps, window_s, **options)

    extract.dff_and_kind = spy
    try:
        syn = make_two_photon_movie(n_frames=n_frames, seed=3, **kw)
        res = extract.extract_sources(syn.movie, fps=syn.fps)
    finally:
        extract.dff_and_kind = real
    raw, bg, fps, win = seen["raw"], seen["bg"], seen["fps"], seen["window_s"]
    t, p = syn.truth, syn.params
    cy, cx = np.round(t.centres).astype(int).T
    level = t.baseline + t.neuropil_image[cy, cx] * t.neuropil.mean() + p["background_photons"] + p["camera_offset"]  # fmt: skip
    truth = t.traces * (t.baseline / level)[:, None]
    est, true = match_centres(res.components[["y", "x"]].to_numpy(), t.centres, 5.0)
    noise = D._noise(raw)
    out = {"components": len(res.components), "matched": len(est),
           "dF_cells": int((res.components["dff_kind"] == D.DF).sum())}  # fmt: skip
    for how in ("percentile", "caiman"):
        f0, pct = D._baseline(raw, fps, win, how)
        dff = D.dff_with_background(raw, bg, fps, win, baseline=how)
        bias, slope = [], []
        for k, i in zip(est, true):
            quiet = t.traces[i] < 0.005
            if quiet.sum() > 100 and noise[k] > 0:
                bias.append(float(np.median(f0[k] - raw[k, quiet].mean()) / noise[k]))
            if truth[i].std() > 0.02:
                slope.append(float(np.polyfit(truth[i], dff[k], 1)[0]))
        out[how] = {
            "f0_minus_rest_noise_sd_median": round(float(np.median(bias)), 3),
            "cells_for_bias": len(bias),
            "slope_vs_peak_pixel_truth_median": round(float(np.median(slope)), 3),
            "slope_10_90": [round(float(v), 3) for v in np.percentile(slope, [10, 90])],
            "active_cells": len(slope),
            "percentile_median": None if pct is None else float(np.median(pct)),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="600 frames instead of 1,500")
    args = ap.parse_args()
    t0 = time.perf_counter()
    n = 600 if args.quick else 1500
    out = {"python": platform.python_version(), "n_frames": n, "cases": {}}
    for name, kw in CASES.items():
        out["cases"][name] = _case(n, kw)
        print(name, json.dumps(out["cases"][name]))
    out["seconds"] = round(time.perf_counter() - t0, 1)
    path = ROOT / "benchmarks" / "results" / ("sources_dff_quick.json" if args.quick else "sources_dff.json")  # fmt: skip
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
