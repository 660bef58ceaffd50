"""How the component-evaluation defaults were chosen: F1 over a grid of thresholds, on the
TUNING seeds only (1-4, easy and hard), never on the test seeds `bench_twophoton_sources.py`
reports (11-15).

Each movie is extracted once with the default extraction parameters; every threshold triple
(min SNR, min r-value, min area) re-judges the same components (`SourcesResult.reevaluate`).
Movies as in bench_twophoton_sources.py (1,000 x 256 x 256, 60 cells, no motion).
Run: python benchmarks/bench_twophoton_sources_tuning.py
Writes benchmarks/results/twophoton_sources_tuning.json (mean F1 per triple, best first).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

from napari_catrack.core.sources import EvaluationParams, extract_sources
from napari_catrack.core.sources.scoring import score_detection
from napari_catrack.synthetic import TWO_PHOTON_VARIANTS, make_two_photon_movie

RESULTS = Path(__file__).resolve().parent / "results" / "twophoton_sources_tuning.json"
NO_MOTION = {"motion_px": 0.0, "drift_px_per_sqrt_s": 0.0, "jump_rate_hz": 0.0, "nonrigid_px": 0.0}
SEEDS = (1, 2, 3, 4)
GRID = {"min_snr": [2, 3, 4, 5], "min_r": [0.3, 0.5, 0.7, 0.8], "min_area_px": [10, 20, 30, 40]}


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no run
    scores: dict[tuple, list[float]] = {}
    load = [os.getloadavg()[0]]
    for variant in ("easy", "hard"):
        for seed in SEEDS:
            kw = {**TWO_PHOTON_VARIANTS[variant], **NO_MOTION}
            m = make_two_photon_movie(1000, (256, 256), n_cells=60, seed=seed, **kw)
            active = m.truth.spikes.sum(axis=1) > 0
            res = extract_sources(m.movie, fps=m.fps)
            for combo in itertools.product(*GRID.values()):
                comps = res.reevaluate(EvaluationParams(**dict(zip(GRID, combo, strict=True)))).components  # fmt: skip
                acc = comps[comps["accepted"]]
                scores.setdefault(combo, []).append(score_detection(acc[["y", "x"]].to_numpy(), m.truth.centres[active])["f1"])  # fmt: skip
            print(variant, seed, flush=True)
    load.append(os.getloadavg()[0])
    rows = [{**dict(zip(GRID, combo, strict=True)), "f1_mean": float(np.mean(v)), "f1_min": float(np.min(v)),
             "f1_easy": v[: len(SEEDS)], "f1_hard": v[len(SEEDS) :]} for combo, v in scores.items()]  # fmt: skip
    rows.sort(key=lambda r: -r["f1_mean"])
    d = EvaluationParams()
    default = next(r for r in rows if (r["min_snr"], r["min_r"], r["min_area_px"]) == (d.min_snr, d.min_r, d.min_area_px))  # fmt: skip
    out = {"benchmark": "twophoton_sources_tuning", "command": " ".join(sys.argv), "tuning_seeds": list(SEEDS),
           "variants": ["easy", "hard"], "load": load, "defaults": default, "grid": rows}  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    print(json.dumps(rows[:5], indent=1), "\ndefaults", json.dumps(default))


if __name__ == "__main__":
    main()
