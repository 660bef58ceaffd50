"""Benchmark: how long napari's main thread waits for an HDF5 read while the background writer
(`save_queue`) saves a session holding a large array (h5py holds one global lock per call).

Run: `python benchmarks/bench_save_lock.py write FOLDER` (the first save: the array written from
memory, in slabs: `session.SLAB_BYTES`) or `... copy FOLDER` (the save after a small step is
recorded: the unchanged array copied from the previous file, chunk by chunk since h15;
`--h5ocopy`: by one H5Ocopy as before, for the comparison). Meanwhile the main thread reads one
frame of another HDF5 file (FOLDER/recording.h5, 512 x 512 uint16 frames) every 10 ms, as a
time-slider step does; each prints one JSON line: the longest and the 99th-percentile read,
the number of reads and the save's wall time. `--frames 4000` (default) x 256 x 256 uint8 is a
262 MB array; `--content masks` (a wandering ellipse: compresses like a worm's masks, ~1 MB
stored) or `noise` (random labels 0-4 on 30 % of pixels: ~70 MB stored, the worst case for a
copy). `... set FOLDER`: the time `atomic_write_set` takes per set of three 2 kB files (200 sets;
the journal written before the renames since h15). `... crowded FOLDER --files 5000`: ms per
`write_text_atomic` of a small file into a folder of 5,000 files (each write lists the
folder). `... compress FOLDER`: seconds the array's write itself takes (3 runs, no reads). Run with `PYTHONPATH=src` for this checkout
(without it: the installed package, another checkout: the code before a change), in a fresh
process per measurement.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd


def _array(frames: int, content: str) -> np.ndarray:
    size = 256
    if content == "noise":
        rng = np.random.default_rng(0)
        out = rng.integers(0, 5, (frames, size, size), dtype=np.uint8)
        out[rng.random((frames, size, size)) > 0.3] = 0
        return out
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):
        cy, cx = size / 2 + 60 * np.sin(t / 300), size / 2 + 60 * np.cos(t / 410)
        out[t] = ((yy - cy) / 10) ** 2 + ((xx - cx) / 60) ** 2 < 1
    return out


def _recording(folder: Path) -> Path:
    path = folder / "recording.h5"
    if not path.exists():
        with h5py.File(path, "w") as f:
            data = np.random.default_rng(1).integers(0, 4000, (200, 512, 512), dtype=np.uint16)
            f.create_dataset("data", data=data, chunks=(1, 512, 512))
    return path


def run(mode: str, folder: Path, frames: int, content: str, h5ocopy: bool) -> dict:
    import napari_catrack.io.hdf5 as hdf5
    from napari_catrack import save_queue
    from napari_catrack.session import Session

    if h5ocopy:
        hdf5.COPY_BY_CHUNKS_BYTES = 1 << 62  # every copy by one H5Ocopy, as before h15
    folder.mkdir(parents=True, exist_ok=True)
    recording = _recording(folder)
    path = folder / f"bench-{mode}.catrack.h5"
    path.unlink(missing_ok=True)
    session = Session(path)
    session.background_saves = True
    arr = _array(frames, content)
    if mode == "copy":  # the first save, in this thread: not measured
        session.record("segmentation", arrays={"masks": arr}, save=False)
        session.save()
        record = lambda: session.record("velocity", tables={"v": pd.DataFrame({"a": [1.0]})})  # noqa: E731
    else:
        record = lambda: session.record("segmentation", arrays={"masks": arr})  # noqa: E731
    reads: list[float] = []
    with h5py.File(recording, "r") as f:
        ds = f["data"]
        ds[0]  # opened and cached once
        start = time.perf_counter()
        record()  # queued: the writer thread saves
        time.sleep(0.001)
        i = 0
        while not save_queue.idle():
            t0 = time.perf_counter()
            ds[i % ds.shape[0]]
            reads.append(time.perf_counter() - t0)
            i += 1
            time.sleep(0.01)
        wall = time.perf_counter() - start
    assert save_queue.flush(60)
    with h5py.File(path, "r") as f:
        stored = f["steps/segmentation/arrays/masks"]
        stored_mb = stored.id.get_storage_size() / 1e6
        assert np.array_equal(stored[()], arr)
    reads_ms = np.array(reads) * 1000
    return {
        "mode": mode + (" (H5Ocopy)" if h5ocopy and mode == "copy" else ""),
        "array_mb": round(arr.nbytes / 1e6, 1),
        "stored_mb": round(stored_mb, 1),
        "content": content,
        "longest_read_ms": round(float(reads_ms.max()), 1) if len(reads) else None,
        "p99_read_ms": round(float(np.percentile(reads_ms, 99)), 1) if len(reads) else None,
        "reads": len(reads),
        "save_s": round(wall, 2),
        "threads": threading.active_count(),
    }


def sets(folder: Path, n: int = 200) -> dict:
    from napari_catrack.io.atomic import atomic_write_path, atomic_write_set

    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for _ in range(n):
        with atomic_write_set():
            for name in ("a.csv", "b.csv", "c.csv"):
                with atomic_write_path(folder / "set" / name) as tmp:
                    tmp.write_text("x\n" * 1000)
    return {"mode": "set", "ms_per_set": round((time.perf_counter() - start) / n * 1000, 2)}


def compress(folder: Path, frames: int, content: str, runs: int = 3) -> dict:
    """Seconds `session._create_array` takes to write the array into a new file (an
    `h5_writer`, as a save), in this thread with nothing else running: the write's own cost."""
    import napari_catrack.session as session_module
    from napari_catrack.io.h5write import h5_writer

    folder.mkdir(parents=True, exist_ok=True)
    arr = _array(frames, content)
    times = []
    for _ in range(runs):
        with h5_writer(folder / "compress.h5") as f:
            start = time.perf_counter()
            session_module._create_array(f, "masks", arr)
            times.append(round(time.perf_counter() - start, 2))
    return {"mode": "compress", "content": content, "seconds": times}


def crowded(folder: Path, files: int, n: int = 300) -> dict:
    """ms per `write_text_atomic` of a small file into a folder of `files` other files: every
    atomic write lists its folder (a set's journal to finish, its own stale temp files)."""
    from napari_catrack.io.atomic import write_text_atomic

    folder = folder / f"crowded-{files}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (folder / f"frame_{i:05d}.tif").touch()
    write_text_atomic(folder / "result.csv", "x\n")  # (the folder's listing cached once)
    start = time.perf_counter()
    for _ in range(n):
        write_text_atomic(folder / "result.csv", "x\n" * 100)
    ms = (time.perf_counter() - start) / n * 1000
    return {"mode": "crowded", "files": files, "ms_per_write": round(ms, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["write", "copy", "set", "crowded", "compress"])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--frames", type=int, default=4000)
    ap.add_argument("--content", choices=["masks", "noise"], default="noise")
    ap.add_argument("--h5ocopy", action="store_true")
    ap.add_argument("--files", type=int, default=5000, help="crowded: files in the folder")
    args = ap.parse_args()
    if args.mode == "compress":
        print(json.dumps(compress(args.folder, args.frames, args.content)))
        return
    if args.mode == "crowded":
        print(json.dumps(crowded(args.folder, args.files)))
        return
    if args.mode == "set":
        print(json.dumps(sets(args.folder)))
        return
    print(json.dumps(run(args.mode, args.folder, args.frames, args.content, args.h5ocopy)))


if __name__ == "__main__":
    main()
