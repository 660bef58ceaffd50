"""Benchmark: folders of TIFF frame files read by the steps that walk a whole movie (h22).

Two folders of the same 2,000 frames (256 x 256 uint16, written here): 20 multi-page stacks of
100 frames (a camera's files) and 2,000 single-frame files. For each: `open_recording` (headers
and completeness of every file), then every frame read in chunks of 200 as register, summary and
sources read them (`open_frames(...).read`), and the same through the dask array (one task and
one file open per frame, on dask's threads: what `open_frames` did before); reading
times (the best of 3 passes, wall and CPU) exclude the check. Checks that both give the frames
written.
Run: python benchmarks/bench_frame_folders.py [--frames 2000] [--per-file 100]
Writes benchmarks/results/frame_folders.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

HERE = Path(__file__).resolve().parent


def _case(folder: Path, movie: np.ndarray) -> dict:
    from napari_catrack.io.frames import open_frames
    from napari_catrack.io.recording import open_recording

    t0 = time.perf_counter()
    rec = open_recording(folder)
    opened = time.perf_counter() - t0

    def best(read) -> tuple[float, float, np.ndarray]:
        """The fastest of 3 passes (wall and CPU seconds; the machine may be shared)."""
        runs = []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            parts = read()
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        return min(r[0] for r in runs), min(r[1] for r in runs), np.concatenate(parts)

    with open_frames(folder) as source:
        chunked, chunked_cpu, got = best(lambda: [source.read(a, b) for a, b in source.chunks(200)])
    ok = np.array_equal(got, movie)
    through_dask, dask_cpu, got = best(
        lambda: [np.asarray(rec.green[a : a + 200]) for a in range(0, len(movie), 200)]
    )
    ok_dask = np.array_equal(got, movie)
    return {"open_s": round(opened, 3), "read_all_open_frames_s": round(chunked, 3),
            "read_all_open_frames_cpu_s": round(chunked_cpu, 3),
            "read_all_dask_s": round(through_dask, 3), "read_all_dask_cpu_s": round(dask_cpu, 3),
            "frames_right": bool(ok and ok_dask), "plain_reads": rec.frames is not None}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--per-file", type=int, default=100)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 4000, (args.frames, 256, 256)).astype(np.uint16)
    out: dict = {"frames": args.frames, "frame_shape": [256, 256], "dtype": "uint16"}
    with tempfile.TemporaryDirectory() as tmp:
        stacks, singles = Path(tmp) / "stacks", Path(tmp) / "singles"
        stacks.mkdir()
        singles.mkdir()
        for i, a in enumerate(range(0, args.frames, args.per_file)):
            tifffile.imwrite(stacks / f"cam_{i:03d}.tif", movie[a : a + args.per_file],
                             imagej=True, metadata={"axes": "TYX"})  # fmt: skip
        for i, frame in enumerate(movie):
            tifffile.imwrite(singles / f"f{i:05d}.tif", frame)
        out[f"stacks_of_{args.per_file}"] = _case(stacks, movie)
        out["single_frame_files"] = _case(singles, movie)
    print(json.dumps(out, indent=2))
    (HERE / "results" / "frame_folders.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
