"""Benchmark: a movie larger than RAM keeps peak RSS under 2 GB (issue 14; review 7, 3 and 4).

Builds a 10 GB uint16 TIFF (512 x 512 frames): a 200-frame synthetic two-photon movie
(`make_two_photon_movie`) repeated with a random-walk whole-pixel drift per frame (no drift for
`summary` and `sources`, which expect a registered movie), streamed to disk with `MovieWriter`
(so building it is bounded too). Then runs the step in a subprocess and reads the child's peak
resident set size from the kernel (getrusage RUSAGE_CHILDREN ru_maxrss), a 0.5 s poll of /proc
and the bytes it read (/proc/PID/io read_bytes):
- `register` (default): rigid mode (the memory bound is the same in piecewise mode, which is
  only slower) writing a registered TIFF as large as the movie;
- `summary`: `catrack summary` (the five images);
- `sources`: `catrack sources --fps 30` (above 1.5 GB as float32 it works in bands of patches).
The built files are deleted at the end (the disk is shared); `--movie` runs on an existing
uint16 TIFF instead and leaves it.
Run: python benchmarks/bench_twophoton_memory.py [--step register|summary|sources] [--gb 10]
     [--dir /tmp] [--movie big.tif] [--out result.json]
Prints the result (JSON). On the built movie it also writes the committed
benchmarks/results/twophoton_memory.json (register) or twophoton_memory_STEP.json; on a
`--movie` of your own it writes only to `--out` when given (which may name the committed file,
to replace it on purpose): a run on another movie never overwrites the committed result.
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

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_GB = 2.0


def build(path: Path, gb: float, size: int = 512, *, drift_px: int = 8) -> int:
    base = make_two_photon_movie(200, (size, size), n_cells=120, seed=2, motion_px=0.0).movie
    n = int(gb * 1e9 // (size * size * 2))
    rng = np.random.default_rng(0)
    drift = np.cumsum(rng.integers(-1, 2, (n, 2)), axis=0)
    drift = np.clip(drift - drift.mean(axis=0).astype(int), -drift_px, drift_px)
    with MovieWriter(path, (n, size, size), np.uint16, fps=30.0) as w:
        for t0 in range(0, n, 200):
            t1 = min(n, t0 + 200)
            w.write(np.stack([np.roll(base[t % 200], tuple(drift[t]), axis=(0, 1)) for t in range(t0, t1)]))  # fmt: skip
    return n


def result_path(step: str, movie: str | None, out: str | None) -> Path | None:
    """Where the result JSON goes: `--out`, else the committed file for the built movie, else
    nowhere (printed only). An `--out` that is the movie or a folder is refused."""
    if out:
        path = Path(out)
        if path.is_dir():
            raise SystemExit(f"--out {out} is a folder; give a .json file name")
        if movie and path.resolve() == Path(movie).resolve():
            raise SystemExit(f"--out {out} is the movie itself; give a .json file name")
        return path
    if movie:
        return None
    return RESULTS / (
        "twophoton_memory.json" if step == "register" else f"twophoton_memory_{step}.json"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--step", choices=("register", "summary", "sources"), default="register")
    ap.add_argument("--gb", type=float, default=10.0)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--movie", help="an existing uint16 (T, 512, 512) TIFF to use (kept)")
    ap.add_argument(
        "--out",
        help="write the result JSON here (default: the committed results file for the built "
        "movie; with --movie, printed only)",
    )
    args = ap.parse_args(argv)
    target = result_path(args.step, args.movie, args.out)  # refused before any work
    work = Path(tempfile.mkdtemp(prefix="catrack_mem_", dir=args.dir))
    try:
        t0 = time.perf_counter()
        movie = Path(args.movie) if args.movie else work / "big.tif"
        if args.movie:
            import tifffile

            with tifffile.TiffFile(movie) as tif:
                n = int(tif.series[0].shape[0])
        else:
            n = build(movie, args.gb, drift_px=8 if args.step == "register" else 0)
        built = time.perf_counter() - t0
        size_gb = movie.stat().st_size / 1e9
        cli = [sys.executable, "-m", "napari_catrack.cli", args.step, str(movie)]
        cmd = {
            "register": [*cli, "--mode", "rigid", "-o", str(work / "big_registered.tif"), "--shifts", str(work / "shifts.csv")],
            "summary": [*cli, "-o", str(work / "summary")],
            "sources": [*cli, "--fps", "30", "-o", str(work / "sources")],
        }[args.step]  # fmt: skip
        t0 = time.perf_counter()
        # the step's result line is on its stdout: read here, so this script's stdout is its JSON alone
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak_poll = read_bytes = 0
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status", encoding="utf-8") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            peak_poll = max(peak_poll, int(line.split()[1]) * 1024)
                with open(f"/proc/{proc.pid}/io", encoding="utf-8") as fh:
                    for line in fh:
                        if line.startswith("read_bytes:"):
                            read_bytes = int(line.split()[1])
            except OSError:
                pass
            time.sleep(0.5)
        err, said = proc.stderr.read(), proc.stdout.read()
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        out = {
            "benchmark": "twophoton_memory", "step": args.step, "command": " ".join(sys.argv),
            f"{args.step}_command": " ".join(cmd), "movie_gb": size_gb, "frames": n, "frame_shape": [512, 512],
            "build_seconds": built, f"{args.step}_seconds": seconds, "frames_per_s": n / seconds,
            "exit_code": proc.returncode, "peak_rss_gb": peak / 1e9, "peak_rss_polled_gb": peak_poll / 1e9,
            "disk_read_gb_last_poll": read_bytes / 1e9, "target_gb": TARGET_GB,
            "met": bool(peak / 1e9 < TARGET_GB and proc.returncode == 0), "result_line": said.strip(), "stderr_tail": err[-500:],
            "load": [round(v, 2) for v in os.getloadavg()],
        }  # fmt: skip
        print(json.dumps(out, indent=1))
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(out, indent=2))
            print(f"written: {target}", file=sys.stderr)
        else:
            print("not written (a --movie of your own; --out FILE to keep it)", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the built movie and the outputs go


if __name__ == "__main__":
    main()
