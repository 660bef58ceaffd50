"""Benchmark: a CLI step with `--session` on a long behaviour session (time and peak memory).

Run: `python benchmarks/bench_session_lazy.py make FOLDER` once (writes FOLDER/long.catrack.h5:
a `segmentation` step whose masks are 5,000 x 256 x 256 uint8, compressed as the session
compresses them; a moving, turning ellipse, so they compress like a worm's masks; `--rough`:
FOLDER/rough.catrack.h5, the same with ragged edges: 2.0 MB on disk instead of 1.4), then
`python benchmarks/bench_session_lazy.py step FOLDER/long.catrack.h5` in a fresh process per
measurement (`gui FOLDER/long.catrack.h5`: what napari does, an eager load and two autosaves,
each after recording a small table). `step` is what `catrack velocity ... --session FILE` does
around its own work: `session_from_args` (load), record a small `velocity` table through
`SessionTarget.record`, `SessionTarget.save` (write the whole file again, atomically); each
prints one JSON line with the wall time of each part and the process's peak RSS
(resource.getrusage, ru_maxrss).

Run `step` or `gui` with `PYTHONPATH=src` for this checkout; without it Python imports the installed
package (another checkout: the code before a change, for a before/after comparison).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make(folder: Path, frames: int = 5000, size: int = 256, rough: bool = False) -> Path:
    from napari_catrack.session import Session

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):  # a worm-sized ellipse (~125 x 10 px) wandering and turning
        cy = size / 2 + 60 * np.sin(t / 300)
        cx = size / 2 + 60 * np.cos(t / 410)
        a = t / 90
        u = (yy - cy) * np.cos(a) + (xx - cx) * np.sin(a)
        v = -(yy - cy) * np.sin(a) + (xx - cx) * np.cos(a)
        edge = 1 + (0.6 * rng.random((size, size)) if rough else 0)  # ragged: compresses less
        masks[t] = (u / 62) ** 2 + (v / 5) ** 2 <= edge
    name = ("rough" if rough else "long") + ("" if frames == 5000 else f"{frames}")
    path = folder / f"{name}.catrack.h5"
    session = Session(path, autosave=False)
    session.set_recording(str(folder / "video.avi"), {}, {"frames": frames, "fps": 15.0})
    quality = pd.DataFrame({"frame": np.arange(frames), "score": np.ones(frames)})
    session.record("segmentation", tables={"frames": quality}, arrays={"masks": masks},
                   attrs={"method": "classical"}, params={}, save=False)  # fmt: skip
    session.save()
    return path


def step(path: Path) -> dict:
    from napari_catrack.commands._common import session_from_args
    from napari_catrack.session import Session  # noqa: F401 (imported before the clock starts)

    t0 = time.perf_counter()
    args = argparse.Namespace(session=str(path), command="velocity")
    target = session_from_args(args, None, check=False)
    t1 = time.perf_counter()
    frames = 5000  # the table's rows (a velocity table's size does not matter here)
    table = pd.DataFrame({"frame": np.arange(frames), "speed_um_s": np.zeros(frames)})

    def record_velocity(session, table, save=None):
        session.record("velocity", tables={"velocity": table}, params={}, save=save)

    target.record(record_velocity, table)
    target.save()
    t2 = time.perf_counter()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"load_s": round(t1 - t0, 3), "record_save_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3), "peak_rss_mb": round(peak_kb / 1024, 1),
            "file_mb": round(path.stat().st_size / 2**20, 1)}  # fmt: skip


def gui(path: Path) -> dict:
    """What napari does with the session: `Session.load` (eager, as the `.catrack.h5` reader),
    then two autosaves, each after recording a small table (a velocity, a transient accepted).
    Works on a copy beside `path` (`gui-<name>`), so `path` stays as made."""
    import shutil

    from napari_catrack.session import Session

    work = path.with_name("gui-" + path.name)
    shutil.copyfile(path, work)
    peak = lambda: round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # noqa: E731
    t0 = time.perf_counter()
    session = Session.load(work)
    t1 = time.perf_counter()
    after_load = peak()
    table = pd.DataFrame({"frame": np.arange(5000), "speed_um_s": np.zeros(5000)})
    session.record("velocity", tables={"velocity": table}, params={})  # autosave 1
    t2 = time.perf_counter()
    session.record("transients", tables={"events": table.head(50)}, params={})  # autosave 2
    t3 = time.perf_counter()
    out = {"load_s": round(t1 - t0, 3), "save1_s": round(t2 - t1, 3),
           "save2_s": round(t3 - t2, 3), "peak_rss_after_load_mb": after_load,
           "peak_rss_mb": peak(), "file_mb": round(work.stat().st_size / 2**20, 1)}  # fmt: skip
    work.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("make", "step", "gui"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--rough", action="store_true", help="make: ragged mask edges")
    parser.add_argument("--frames", type=int, default=5000, help="make: frames [5000]")
    args = parser.parse_args()
    if args.what == "make":
        print(make(args.path, frames=args.frames, rough=args.rough))
    elif args.what == "gui":
        print(json.dumps(gui(args.path)), file=sys.stdout)
    else:
        print(json.dumps(step(args.path)), file=sys.stdout)


if __name__ == "__main__":
    main()
