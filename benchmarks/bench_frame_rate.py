"""Benchmark: what `core.transients.frame_rate_of_times` (the one rule that reads a frame rate
from a table's times; `Session.frame_rate()`, `catrack transients`/`events`, the Transients and
Traces widgets) costs on a long traces table, and what it answers.

Run: `python benchmarks/bench_frame_rate.py --cells 1000 --frames 6000 --repeat 3`: a traces
table of `--cells` neurons ("n0", "n1", ...) x `--frames` frames at 30 Hz, times rounded to the
millisecond, read as
- grouped: neuron after neuron, as every table written here (n10 sorts before n2, so the rule
  still sorts it),
- shuffled: its rows in a random order,
- shuffled_int_ids: shuffled, neuron ids whole numbers (a CSV with numeric ids),
- shuffled_dropped: shuffled, 5 frames dropped before frame 1200 (the times jump: uneven).
Prints one JSON line: per case the best wall and CPU seconds of `--repeat` calls (after one
untimed call: the first in a process pays ~1.5 s of imports and first touches) and the answer
(rate, why), which must not change with the code. Run with `PYTHONPATH=src` for this checkout
(without it, or with PYTHONPATH set to an older `src`: the code before a change), one
measurement at a time on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def tables(cells: int, frames: int, fps: float = 30.0) -> dict[str, pd.DataFrame]:
    ids = np.repeat(np.array([f"n{i}" for i in range(cells)], dtype=object), frames)
    frame = np.tile(np.arange(frames), cells)
    grouped = pd.DataFrame({"neuron_id": ids, "frame": frame, "time_s": np.round(frame / fps, 3),
                            "dff": np.random.default_rng(0).normal(0, 0.05, len(ids))})  # fmt: skip
    order = np.random.default_rng(1).permutation(len(grouped))
    shuffled = grouped.iloc[order].reset_index(drop=True)
    int_ids = shuffled.assign(neuron_id=np.repeat(np.arange(cells), frames)[order])
    gap = np.round((frame + 5 * (frame >= 1200)) / fps, 3)
    dropped = grouped.assign(time_s=gap).iloc[order].reset_index(drop=True)
    return {"grouped": grouped, "shuffled": shuffled, "shuffled_int_ids": int_ids,
            "shuffled_dropped": dropped}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", default="grouped,shuffled,shuffled_int_ids,shuffled_dropped")
    args = ap.parse_args()
    import napari_catrack
    from napari_catrack.core.transients import frame_rate_of_times

    out = {"code": napari_catrack.__file__, "cells": args.cells, "frames": args.frames}
    made = tables(args.cells, args.frames)
    frame_rate_of_times(made[args.cases.split(",")[0]])  # (untimed: the first call's imports)
    for case in args.cases.split(","):
        table, walls, cpus = made[case], [], []
        for _ in range(args.repeat):
            w, c = time.perf_counter(), time.process_time()
            rate, why = frame_rate_of_times(table)
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        out[case] = {"rows": len(table), "wall_s": round(min(walls), 2),
                     "cpu_s": round(min(cpus), 2), "rate": rate, "why": why}  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
