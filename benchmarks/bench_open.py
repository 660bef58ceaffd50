"""Benchmark: open a 4 GB uint16 TIFF lazily and show its first frame (issue: foundation).

Targets: under 2 s from open to the first frame, peak RSS under 500 MB.
Measured in fresh subprocesses so imports and caches of one case do not help another:
  1. core: `open_recording` + read frame 0 of green and red (what the CLI and widgets do);
  2. napari: the npe2 reader's layers added to a real viewer and the canvas drawn (needs a display;
     run under `xvfb-run` or skip with --no-napari). napari's own import is excluded from the time,
     and its RSS is reported as the increase over an empty viewer.
Run: python benchmarks/bench_open.py [--gb 4] [--keep] [--no-napari]
Writes benchmarks/results/open.json.
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

HERE = Path(__file__).resolve().parent

CORE = r"""
import json, resource, sys, time, numpy as np
t0 = time.perf_counter()
from napari_catrack.io.recording import open_recording
t_import = time.perf_counter() - t0
t1 = time.perf_counter()
rec = open_recording(sys.argv[1])
g = np.asarray(rec.green[0]); r = np.asarray(rec.red[0])
elapsed = time.perf_counter() - t1
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "import_s": t_import, "peak_rss_mb": rss,
                  "frame_mean": float(g.mean() + r.mean()), "shape": list(rec.green.shape)}))
"""

NAPARI = r"""
import json, resource, sys, time
import napari
from qtpy.QtWidgets import QApplication
viewer = napari.Viewer(show=True)
QApplication.processEvents()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def show(path):
    t0 = time.perf_counter()
    viewer.open(path, plugin="napari-catrack")
    shot = viewer.screenshot(canvas_only=True, flash=False)
    return time.perf_counter() - t0, float(shot[..., :3].std())

# Cold: the first file a fresh napari opens pays one-time imports (the plugin, napari's unit registry).
cold, _ = show(sys.argv[1])
viewer.layers.clear()
warm, std = show(sys.argv[1])
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds_cold": cold, "seconds": warm, "peak_rss_mb": rss,
                  "rss_before_open_mb": rss0, "rss_increase_mb": rss - rss0, "canvas_std": std}))
viewer.close()
"""


def write_big_tiff(path: Path, gigabytes: float) -> tuple[int, int, int]:
    """A two-channel TCYX ImageJ hyperstack of about `gigabytes`, written frame by frame."""
    import tifffile

    h = w = 512
    frames = int(gigabytes * 2**30 / (2 * h * w * 2))
    rng = np.random.default_rng(0)
    block = rng.integers(90, 4000, size=(8, 2, h, w), dtype=np.uint16)

    def planes():
        for t in range(frames):
            yield block[t % 8]

    tifffile.imwrite(
        path,
        planes(),
        shape=(frames, 2, h, w),
        dtype=np.uint16,
        imagej=True,
        metadata={"axes": "TCYX", "fps": 10.0},
    )
    return frames, h, w


def run(code: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=4.0)
    ap.add_argument("--keep", action="store_true", help="keep the big file")
    ap.add_argument("--no-napari", action="store_true")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    path = Path(args.dir) / f"catrack-bench-{args.gb:g}GB.tif"
    if not path.exists():
        t = time.perf_counter()
        write_big_tiff(path, args.gb)
        print(
            f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.1f} s"
        )
    size_gib = path.stat().st_size / 2**30
    result: dict = {"file_gib": round(size_gib, 3), "targets": {"seconds": 2.0, "peak_rss_mb": 500}}
    try:
        # Drop the file from the page cache where we can, so the first read is a cold read.
        os.posix_fadvise(os.open(path, os.O_RDONLY), 0, 0, os.POSIX_FADV_DONTNEED)
        core = run(CORE, path)
        result["core"] = core
        print(
            f"core:   open + first frame {core['seconds']:.3f} s, peak RSS {core['peak_rss_mb']:.0f} MB "
            f"(import {core['import_s']:.2f} s) -> "
            f"{'MET' if core['seconds'] < 2 and core['peak_rss_mb'] < 500 else 'NOT MET'}"
        )
        if not args.no_napari:
            if not os.environ.get("DISPLAY"):
                print("napari: skipped (no DISPLAY; run under xvfb-run)")
            else:
                nap = run(NAPARI, path)
                result["napari"] = nap
                print(
                    f"napari: open + draw first frame {nap['seconds']:.3f} s "
                    f"(first file in a fresh napari, with one-time imports: {nap['seconds_cold']:.2f} s), "
                    "RSS increase "
                    f"{nap['rss_increase_mb']:.0f} MB (process peak {nap['peak_rss_mb']:.0f} MB, "
                    f"empty viewer {nap['rss_before_open_mb']:.0f} MB)"
                )
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "open.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
