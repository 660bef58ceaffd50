"""Benchmark: publication figures of a long recording (review h13).

300 neurons x 20,000 frames (about 67 min at 5 Hz; 6 million trace rows): how long each figure
takes to build and save (SVG and 300-dpi PNG), and whether it stays readable (the trace figure
draws a heat map beyond `MAX_LINE_NEURONS`; the transient traces show the first 10 neurons; the
raster's height is capped). Figures drawn: trace_figure (every neuron, dff panel; heat map),
trace_figure (first 8 neurons, 4 panels; lines, as `catrack export` draws `traces`),
transients traces_figure, raster_figure, amplitude and ITI histograms.
Targets: every figure built and saved in < 30 s wall on the shared 2-core machine; the SVG of a
heat map < 5 MB (an image, not 6 million path points).
Run: nice -n 10 python benchmarks/bench_figures_long.py [--neurons 300 --frames 20000]
Writes benchmarks/results/figures_long.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _data(n: int, t: int, fps: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    dff = rng.normal(0, 0.05, (n, t))
    rows = []
    for i in range(n):
        peaks = np.sort(rng.choice(np.arange(5, t - 20), size=rng.integers(5, 40), replace=False))
        for p in peaks:
            dff[i, p : p + 15] += 0.8 * np.exp(-np.arange(15) / 5.0)
            rows.append((i, p - 1, p, p + 14, 0.8))
    tr = pd.DataFrame(rows, columns=["neuron_id", "start_frame", "peak_frame", "end_frame",
                                     "peak_amplitude"])  # fmt: skip
    tr["iti_s"] = tr.groupby("neuron_id")["peak_frame"].diff() / fps
    frames = np.arange(t)
    traces = pd.DataFrame(
        {
            "neuron_id": np.repeat(np.arange(n), t),
            "frame": np.tile(frames, n),
            "time_s": np.tile(frames / fps, n),
            "green": (100 * (1 + dff)).ravel(),
            "red": np.full(n * t, 200.0),
            "ratio": (0.5 * (1 + dff)).ravel(),
            "dff": dff.ravel(),
        }
    )
    return dff, tr, traces


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--neurons", type=int, default=300)
    ap.add_argument("--frames", type=int, default=20_000)
    ap.add_argument("--fps", type=float, default=5.0)
    args = ap.parse_args()
    from napari_catrack.figures import save_figure
    from napari_catrack.figures.traces import trace_figure
    from napari_catrack.figures.transients import (
        amplitude_figure,
        iti_figure,
        raster_figure,
        traces_figure,
    )

    n, t, fps = args.neurons, args.frames, args.fps
    dff, tr, traces = _data(n, t, fps)
    ids = list(range(n))
    builders = {
        "traces_all_heatmap": lambda: trace_figure(traces, ids, ["dff"]),
        "traces_first8_lines": lambda: trace_figure(traces, ids[:8]),
        "transients_traces": lambda: traces_figure(dff, fps, tr, ids),
        "transients_raster": lambda: raster_figure(tr, ids, fps, t),
        "amplitudes": lambda: amplitude_figure(tr),
        "iti": lambda: iti_figure(tr),
    }
    results = {"neurons": n, "frames": t, "transients": len(tr), "load": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in builders.items():
            t0 = time.perf_counter()
            fig = build()
            t1 = time.perf_counter()
            save_figure(fig, Path(tmp) / f"{name}.svg")
            t2 = time.perf_counter()
            save_figure(fig, Path(tmp) / f"{name}.png")
            t3 = time.perf_counter()
            results[name] = {
                "build_s": round(t1 - t0, 2),
                "svg_s": round(t2 - t1, 2),
                "png_s": round(t3 - t2, 2),
                "svg_mb": round((Path(tmp) / f"{name}.svg").stat().st_size / 1e6, 2),
                "size_in": [round(float(v), 2) for v in fig.get_size_inches()],
            }
            print(name, results[name], flush=True)
    out = Path(__file__).parent / "results" / "figures_long.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
