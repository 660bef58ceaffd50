"""Benchmark: reading a large contiguous TIFF the way `catrack track` / `align` / `detect` do
(`open_recording(memmap=True)`): numpy views of the memory map (before h13) or file reads
(`io.tiff.FileFrames`, after: a file shortened meanwhile is one error, not a SIGBUS).

Run: `python benchmarks/bench_memmap_reads.py make /tmp/big.tif` once (2,000 x 512 x 512 uint16,
1 GiB), then `python benchmarks/bench_memmap_reads.py run /tmp/big.tif` with `PYTHONPATH=src`
(this checkout) and without it (the installed package: the code before, for a before/after
comparison), a fresh process each. Prints one JSON line: seconds for a sequential walk in
blocks of 32 frames as float32 (the tracker's `read_frames`), 200 single frames in random order,
the alignment's mean summary of 200 spread frames (`summary_image`), and the peak RSS. The file
is read once first, so every measure reads from the page cache (the same for both).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


def make(path: Path, frames: int = 2000, size: int = 512) -> None:
    import tifffile

    rng = np.random.default_rng(0)
    block = rng.integers(0, 4000, (100, size, size), dtype=np.uint16)
    mm = tifffile.memmap(path, shape=(frames, size, size), dtype=np.uint16, bigtiff=True,
                         photometric="minisblack", metadata={"axes": "TYX"})  # fmt: skip
    for t0 in range(0, frames, 100):  # one contiguous series, as acquisition software writes
        mm[t0 : t0 + 100] = block
    mm.flush()
    del mm


def run(path: Path) -> dict:
    from napari_catrack.core.alignment import summary_image
    from napari_catrack.io.recording import open_recording

    rec = open_recording(path, memmap=True)
    green = rec.green
    with open(path, "rb") as f:  # warm the page cache: both measures read from memory
        while f.read(64 << 20):
            pass
    out = {"kind": type(green).__name__, "frames": rec.n_frames}
    t = time.perf_counter()
    total = 0.0
    for t0 in range(0, rec.n_frames, 32):
        total += float(np.asarray(green[t0 : t0 + 32], dtype=np.float32)[:, 0, 0].sum())
    out["walk_32_s"] = round(time.perf_counter() - t, 3)
    order = np.random.default_rng(1).permutation(rec.n_frames)[:200]
    t = time.perf_counter()
    for i in order:
        total += float(np.asarray(green[int(i)])[0, 0])
    out["random_200_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    summary_image(green, 200, "mean")
    out["summary_200_s"] = round(time.perf_counter() - t, 3)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return out


if __name__ == "__main__":
    what, where = sys.argv[1], Path(sys.argv[2])
    if what == "make":
        make(where)
    else:
        print(json.dumps(run(where)))
