"""Benchmark: peak memory of `catrack import imagej` with the neuropil ring (h13).

K ten-pixel oval ROIs at random places on a SIZE x SIZE movie of T frames (zeros, uint16, in
memory), neuropil coefficient 0.7 (suite2p's ring of >= 350 px). Each stage runs in a fresh
subprocess; its peak resident set size is the kernel's (getrusage RUSAGE_CHILDREN ru_maxrss):
- `measure`: the ROIs' pixels, their rings and one pass over the movie (`imagej_pixels`,
  `neuropil_rings`, `mask_means`): what the sparse storage bounds;
- `import`: the whole `read_imagej`, whose result holds one full float32 footprint image per ROI
  (the sources format every step shares): K x SIZE^2 x 4 bytes on top.
Run: python benchmarks/bench_imagej_memory.py [--rois 2000] [--size 1024] [--frames 20]
     [--stage measure|import]
Measured (h13, 2 cores): measure 2,000 ROIs on 1,024 x 1,024: 257-267 MB (500 ROIs took 2.29 GB
with full-frame masks before); import 500 ROIs: 1.6 GB (6.3 GB before); 2,000 ROIs: 6.1 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys, time, numpy as np, roifile
from napari_catrack.core.sources.imported import mask_means
from napari_catrack.core.sources.neuropil import neuropil_rings
from napari_catrack.core.sources.params import NeuropilParams
from napari_catrack.io.frames import open_frames
from napari_catrack.io.imagej_rois import imagej_pixels, pixel_matrix, read_imagej
k, size, t, stage, folder = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rng = np.random.default_rng(0)
rois = [roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=int(x), top=int(y), right=int(x) + 10,
        bottom=int(y) + 10, name=f"c{i}") for i, (x, y) in enumerate(rng.integers(0, size - 12, (k, 2)))]
path = f"{folder}/RoiSet.zip"
roifile.roiwrite(path, rois, mode="w")
movie = np.zeros((t, size, size), np.uint16)
p = NeuropilParams(neuropil_coefficient=0.7)
t0 = time.perf_counter()
if stage == "measure":
    with open_frames(movie) as frames:
        px = imagej_pixels(path, (size, size))[0]
        means = mask_means(frames, pixel_matrix(px + neuropil_rings(px, (size, size), p), (size, size)))
else:
    means = read_imagej(path, movie, fps=10, neuropil=p).raw
print(f"{stage}: {k} ROIs, {size} x {size} x {t}: traces {means.shape}, {time.perf_counter() - t0:.1f} s")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rois", type=int, default=2000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--stage", choices=("measure", "import"), default="measure")
    a = ap.parse_args()
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as folder:
        args = [str(a.rois), str(a.size), str(a.frames), a.stage, folder]
        subprocess.run([sys.executable, "-c", CHILD, *args], check=True, env=env)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"peak RSS {peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
