"""Benchmark: registering a 10 GB movie on disk keeps peak RSS under 2 GB (issue 14).

Builds a 10 GB uint16 TIFF (512 x 512 frames): a 200-frame synthetic two-photon movie
(`make_two_photon_movie`) repeated with a random-walk whole-pixel drift per frame, streamed to
disk with `MovieWriter` (so building it is bounded too). Then runs `catrack register` on it in a
subprocess (rigid mode: the memory bound is the same in piecewise mode, which is only slower)
writing a registered 10 GB TIFF, and reads the child's peak resident set size from the kernel
(getrusage RUSAGE_CHILDREN ru_maxrss) and a 0.5 s poll of /proc. Both 10 GB files are deleted
at the end (the disk is shared).
Run: python benchmarks/bench_twophoton_memory.py [--gb 10] [--dir /tmp]
Writes benchmarks/results/twophoton_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_catrack.io.frames import MovieWriter
from napari_catrack.synthetic import make_two_photon_movie

RESULTS = Path(__file__).resolve().parent / "results" / "twophoton_memory.json"
TARGET_GB = 2.0


def build(path: Path, gb: float, size: int = 512) -> int:
    base = make_two_photon_movie(200, (size, size), n_cells=120, seed=2, motion_px=0.0).movie
    n = int(gb * 1e9 // (size * size * 2))
    rng = np.random.default_rng(0)
    drift = np.cumsum(rng.integers(-1, 2, (n, 2)), axis=0)
    drift = np.clip(drift - drift.mean(axis=0).astype(int), -8, 8)
    with MovieWriter(path, (n, size, size), np.uint16, fps=30.0) as w:
        for t0 in range(0, n, 200):
            t1 = min(n, t0 + 200)
            w.write(np.stack([np.roll(base[t % 200], tuple(drift[t]), axis=(0, 1)) for t in range(t0, t1)]))  # fmt: skip
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=10.0)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="catrack_mem_", dir=args.dir))
    try:
        t0 = time.perf_counter()
        n = build(work / "big.tif", args.gb)
        built = time.perf_counter() - t0
        size_gb = (work / "big.tif").stat().st_size / 1e9
        cmd = [sys.executable, "-m", "napari_catrack.cli", "register", str(work / "big.tif"), "--mode", "rigid",
               "-o", str(work / "big_registered.tif"), "--shifts", str(work / "shifts.csv")]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        peak_poll = 0
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            peak_poll = max(peak_poll, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.5)
        err = proc.stderr.read()
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        out = {
            "benchmark": "twophoton_memory", "command": " ".join(sys.argv), "register_command": " ".join(cmd),
            "movie_gb": size_gb, "frames": n, "frame_shape": [512, 512], "build_seconds": built,
            "register_seconds": seconds, "frames_per_s": n / seconds, "exit_code": proc.returncode,
            "peak_rss_gb": peak / 1e9, "peak_rss_polled_gb": peak_poll / 1e9, "target_gb": TARGET_GB,
            "met": bool(peak / 1e9 < TARGET_GB and proc.returncode == 0), "stderr_tail": err[-500:],
            "load": [round(v, 2) for v in os.getloadavg()],
        }  # fmt: skip
        print(json.dumps(out, indent=1))
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)  # both 10 GB files go


if __name__ == "__main__":
    main()
