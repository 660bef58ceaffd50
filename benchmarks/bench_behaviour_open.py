"""Benchmark: open a long behaviour session (20,000 frames) in napari (h13 item 3).

Builds, in a temporary folder (never the repo), a `catrack segment|centerline --session`-like
session: a short synthetic worm video (`synthetic.behaviour`) repeated to N frames, written as a
TIFF, with its masks and 50-point centerlines recorded. Then times, in this process:
  reader   - `read_session` (the npe2 reader: session file -> LayerData)
  add      - each LayerData added to a real napari.Viewer (`viewer._add_layer_from_data`),
             per layer kind (the centerline Shapes layer was most of the 19 s)
  slider   - 100 moves of the time slider (the centerline path is swapped on each), ms a move
Wall-clock and CPU seconds (CPU: this process's, steadier on a shared machine).
Run (needs a display; e.g. under xvfb-run):
  QT_API=pyqt5 PYTHONPATH=src xvfb-run -a python benchmarks/bench_behaviour_open.py \
      [--frames 20000] [--folder /tmp/h13-long]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def build(folder: Path, frames: int) -> Path:
    """The session file (made once per folder and frame count)."""
    from napari_catrack.core.behaviour import CenterlineResult, frame_quality
    from napari_catrack.core.behaviour.centerline import resample
    from napari_catrack.core.behaviour.propagate import SegmentationResult
    from napari_catrack.core.behaviour.records import record_centerline, record_segmentation
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    path = folder / f"worm{frames}.catrack.h5"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    video = make_behaviour_video(100, shape=(96, 96), seed=3, pixel_size_um=16.0)
    reps = -(-frames // 100)
    movie = write_movie_tiff(
        folder / f"worm{frames}.tif", np.tile(video.frames, (reps, 1, 1))[:frames]
    )
    masks = np.tile(video.truth.masks.astype(bool), (reps, 1, 1))[:frames]
    pts = np.stack([resample(c, 50) for c in video.truth.centerline])
    pts = np.tile(pts, (reps, 1, 1))[:frames]
    score = np.ones(frames)
    session = Session(path)
    session.set_recording(str(movie), {}, {})
    seg = SegmentationResult(masks, score, np.full(frames, "propagated"), np.zeros(frames, int),
                             "classical", [])  # fmt: skip
    record_segmentation(session, seg, {"method": "classical"}, frame_quality(masks, score),
                        save=False, inputs={"recording": str(movie)})  # fmt: skip
    result = CenterlineResult(pts, np.full(frames, "ok", dtype=object), np.full(frames, 100.0),
                              np.full(frames, 8.0), np.full(frames, 10.0))  # fmt: skip
    record_centerline(session, result, {}, save=False, inputs={"recording": str(movie)})
    session.save()
    return path


def measure(path: Path) -> dict:
    import napari

    from napari_catrack._reader import read_session

    viewer = napari.Viewer(show=False)
    t0, c0 = time.perf_counter(), time.process_time()
    layers = read_session(str(path))
    out = {"reader_s": time.perf_counter() - t0, "reader_cpu_s": time.process_time() - c0}
    out["layers"] = {}
    for data, meta, kind in layers:
        t1, c1 = time.perf_counter(), time.process_time()
        viewer._add_layer_from_data(data, meta, kind)
        wall, cpu = time.perf_counter() - t1, time.process_time() - c1
        out["layers"][f"{meta.get('name')} ({kind})"] = {"s": wall, "cpu_s": cpu}
    out["total_s"], out["total_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    frames = np.random.default_rng(0).integers(0, viewer.dims.nsteps[0], 100)
    t2, c2 = time.perf_counter(), time.process_time()
    for t in frames:  # the time slider moved 100 times (every layer sliced again)
        viewer.dims.set_current_step(0, int(t))
    out["slider_ms_per_move"] = (time.perf_counter() - t2) * 10
    out["slider_cpu_ms_per_move"] = (time.process_time() - c2) * 10
    shapes = viewer.layers["centerline"]
    if len(shapes.data) == 1:  # one path (the current frame's): the user drags it by a pixel
        moved = np.asarray(shapes.data[0]).copy()
        moved[:, -1] += 1.0
        t3, c3 = time.perf_counter(), time.process_time()
        shapes.data = [moved]  # written back into the session (autosaved)
        out["edit_s"], out["edit_cpu_s"] = time.perf_counter() - t3, time.process_time() - c3
    viewer.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--folder", default="/tmp/h13-long")
    args = ap.parse_args()
    path = build(Path(args.folder), args.frames)
    print(json.dumps({"frames": args.frames, "session": str(path), **measure(path)}, indent=1))


if __name__ == "__main__":
    main()
