"""Benchmark: what `recording_session.recording_session_path` costs in a crowded folder (a
command given a recording alone looks for its session among the folder's `*.catrack.h5`).

Run: `python benchmarks/bench_session_lookup.py FOLDER --files 5000 --sessions 3`: FOLDER gets
a small movie, `--sessions` session files that record it (so every one is read), and
`--files` small other files; prints one JSON line: the folder listings one lookup made
(`os.listdir`/`os.scandir` calls on FOLDER) and the median and best ms of 20 lookups. Run with
`PYTHONPATH=src` for this checkout (without it: the installed package or another checkout: the
code before a change), in a fresh process per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np


def _setup(folder: Path, files: int, sessions: int) -> Path:
    from napari_catrack.io.provenance import inputs_provenance
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    folder.mkdir(parents=True, exist_ok=True)
    movie = folder / "movie.tif"
    if not movie.exists():
        rng = np.random.default_rng(0)
        frames = rng.integers(100, 4000, (6, 48, 48), dtype=np.uint16)
        write_movie_tiff(movie, frames, frames, fps=5.0)
    for i in range(sessions):
        path = folder / f"run{i}.catrack.h5"
        if path.exists():
            continue
        s = Session(path, autosave=False)
        s.set_recording(str(movie), {}, {"frames": 6, "height": 48, "width": 48})
        inputs = inputs_provenance(s, {"recording": movie})
        s.record("alignment", attrs={"dy": 0.0, "dx": 0.0, "rotation_deg": 0.0,
                                     "source": "manual", "inputs": inputs})  # fmt: skip
        s.save()
        s.close()
    for i in range(files):
        other = folder / f"frame_{i:05d}.txt"
        if not other.exists():
            other.write_text("x", encoding="utf-8")
    return movie


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--sessions", type=int, default=3)
    args = ap.parse_args()
    movie = _setup(args.folder, args.files, args.sessions)

    from napari_catrack.recording_session import recording_session_path

    target = os.path.abspath(args.folder)
    listings = 0
    real_listdir, real_scandir = os.listdir, os.scandir

    def listdir(path="."):
        nonlocal listings
        listings += os.path.abspath(path) == target
        return real_listdir(path)

    def scandir(path="."):
        nonlocal listings
        listings += os.path.abspath(path) == target
        return real_scandir(path)

    os.listdir, os.scandir = listdir, scandir
    found = recording_session_path(movie) if args.sessions < 2 else None
    if args.sessions >= 2:
        try:
            recording_session_path(movie)
        except Exception as exc:  # AmbiguousSessions: every session read and described
            found = type(exc).__name__
    per_call = listings
    times = []
    for _ in range(20):
        start = time.perf_counter()
        try:
            recording_session_path(movie)
        except Exception:
            pass
        times.append((time.perf_counter() - start) * 1000)
    os.listdir, os.scandir = real_listdir, real_scandir
    print(json.dumps({"files": args.files, "sessions": args.sessions, "found": str(found),
                      "listings_per_lookup": per_call,
                      "median_ms": round(statistics.median(times), 1),
                      "best_ms": round(min(times), 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
