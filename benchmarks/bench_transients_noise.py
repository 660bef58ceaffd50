"""False transients on pure noise: nothing to find, raw or already denoised.

A detector is only useful if it stays quiet where there is nothing. This runs every detector at
its defaults on zero-mean noise (10 min at 30 Hz per trace, 50 traces per condition):
- white and pink (1/f) noise,
- raw, after a Savitzky-Golay smoothing (11 frames, order 2: `denoise_savgol`'s default) and
  after wavelet shrinkage (`denoise_wavelet`'s default BayesShrink), as a user may have
  cleaned the traces before detection,
- at the noise levels nu of the Cascade ground-truth datasets (0.4, 1 and 3 % Hz^-1/2:
  GCaMP6f mouse V1, a typical level, jGCaMP8f),
and reports false transients per neuron per 10 minutes (target: <= 1).

Run: python benchmarks/bench_transients_noise.py   (about 2 minutes on 2 shared cores)
Writes benchmarks/results/transients_noise.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_catrack.core.signals.denoise import denoise_savgol, denoise_wavelet  # noqa: E402
from napari_catrack.core.transients import detect_transients  # noqa: E402
from napari_catrack.synthetic.noise import noise_traces  # noqa: E402

FPS, MINUTES, N = 30.0, 10.0, 50
LEVELS = (0.4, 1.0, 3.0)
TARGET = 1.0  # false transients per neuron per 10 min
METHODS = ("model", "rules", "ksigma")
PREPROCESSING = {
    "raw": lambda x: x,
    "savgol": lambda x: denoise_savgol(x, window=11, polyorder=2),
    "wavelet": lambda x: denoise_wavelet(x),
}


def main() -> int:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no run
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    frames = int(MINUTES * 60 * FPS)
    rows = []
    for nu in LEVELS:
        for kind in ("white", "pink"):
            base = noise_traces(N, frames, FPS, nu, kind, seed=round(nu * 100) + len(kind))
            for pre, fn in PREPROCESSING.items():
                x = fn(base)
                for method in METHODS:
                    tab = detect_transients(x, FPS, method, features=False)
                    rate = len(tab) / N * (10.0 / MINUTES)
                    rows.append({"nu": nu, "noise": kind, "preprocessing": pre,
                                 "method": method, "per_neuron_per_10min": round(rate, 3)})  # fmt: skip
                    print(f"nu {nu:3.1f} {kind:5s} {pre:7s} {method:6s} {rate:8.2f}", flush=True)
    worst = {}
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        worst[method] = {
            "worst_per_neuron_per_10min": max(r["per_neuron_per_10min"] for r in mine),
            "white_worst": max(r["per_neuron_per_10min"] for r in mine if r["noise"] == "white"),
            "pink_worst": max(r["per_neuron_per_10min"] for r in mine if r["noise"] == "pink"),
            "conditions_over_target": sum(r["per_neuron_per_10min"] > TARGET for r in mine),
            "conditions": len(mine),
        }
    out = {
        "command": "python benchmarks/bench_transients_noise.py",
        "setup": f"{N} traces x {MINUTES:g} min at {FPS:g} Hz per condition, detectors at defaults",
        "target_per_neuron_per_10min": TARGET,
        "summary": worst,
        "rows": rows,
        "wall_s": round(time.perf_counter() - t0, 1),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(worst, indent=1))
    path = ROOT / "benchmarks" / "results" / "transients_noise.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
