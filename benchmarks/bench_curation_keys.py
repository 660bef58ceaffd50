"""Benchmark: keyboard curation speed with every napari-catrack widget docked (issue 11).

Target: < 100 ms per key press (N = next cell) with all widgets docked, 63 cells x 200 frames.
A real napari viewer (run under a display, e.g. `xvfb-run -a`), the moving-worm sample (200
frames), 63 tracked neurons (the sample's 15 true neurons + 48 more points that follow the head's
motion), their traces extracted by the core, transients detected with the default rules; then
N is pressed on the curation plot (through Qt, as a user's key press) until the last cell and P
back to the first. A press counts from the key event until the event loop has run everything the
press queued (matplotlib draw_idle, vispy canvas updates, other widgets' slots); the process CPU
time per press is reported too (wall time on a shared machine grows with the load average).

The viewer follows the current cell (its point selected, the view moved when needed) once the keys
rest for `FOLLOW_DELAY_MS`: that follow repaints the napari canvas and is timed on its own
("viewer_follow"). Both wall and CPU time per press are reported: on a loaded shared machine
the wall time grows with the load average, the CPU time does not.

Measured twice: with the catrack docks tabbed (the default: the curation tab in front) and side
by side (every widget visible at once, so the trace viewer redraws on each press). Also reported:
the main window's height with all widgets docked (the issue's "fits a screen").
Run: xvfb-run -a -s "-screen 0 1920x1080x24" python benchmarks/bench_curation_keys.py
     [--before old.json]   (this benchmark's result on the code before issue 11, kept beside)
Writes benchmarks/results/curation_keys.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "curation_keys.json"
PLUGIN = "napari-catrack"
TARGET_MS = 100.0


def manifest_widgets() -> list[str]:
    """Every widget of the suite, as napari.yaml lists them (new ones are measured too)."""
    import yaml

    import napari_catrack

    manifest = yaml.safe_load((Path(napari_catrack.__file__).parent / "napari.yaml").read_text())
    return [w["display_name"] for w in manifest["contributions"]["widgets"]]


def settle(app, min_rounds: int = 3) -> None:
    """Run the event loop until what is queued now (and what that queues) has run."""
    from qtpy.QtCore import QTimer

    for _ in range(min_rounds):
        done: list[bool] = []
        QTimer.singleShot(0, lambda done=done: done.append(True))
        while not done:
            app.processEvents()
    app.processEvents()


def tracks_for(truth_tracks, n_cells: int, seed: int = 0) -> pd.DataFrame:
    """The sample's true tracks plus extra neurons moving with the head (offsets of true ones);
    more than asked for, so enough keep a usable dF/F (see `usable`)."""
    ids = truth_tracks.features["neuron_id"].astype(str).to_numpy()
    data = np.asarray(truth_tracks.data)
    truth = pd.DataFrame({"neuron_id": ids, "frame": data[:, 1].astype(int), "y": data[:, 2],
                          "x": data[:, 3]})  # fmt: skip
    rng = np.random.default_rng(seed)
    names = sorted(truth.neuron_id.unique())
    parts = [truth]
    for k in range(2 * n_cells):
        src = truth[truth.neuron_id == names[k % len(names)]]
        dy, dx = rng.uniform(-6, 6, 2)
        parts.append(src.assign(neuron_id=f"x{k:03d}", y=src.y + dy, x=src.x + dx))
    out = pd.concat(parts, ignore_index=True)
    return out.assign(confidence=1.0, source="auto")


def usable(traces: pd.DataFrame, tracks: pd.DataFrame, n_cells: int):
    """The first `n_cells` neurons whose dF/F is finite somewhere (and their tracks)."""
    ok = traces.groupby("neuron_id")["dff"].apply(lambda s: s.notna().any())
    keep = [n for n in pd.unique(traces["neuron_id"]) if ok[n]][:n_cells]
    return traces[traces.neuron_id.isin(keep)], tracks[tracks.neuron_id.isin(keep)]


def measure_follow(app, curation, n: int = 10) -> dict:
    """The viewer's follow of the current cell (its point selected, the view moved when needed),
    which runs once the keys rest (after `FOLLOW_DELAY_MS`), timed on its own for `n` cells."""
    from napari_catrack.widgets.transients import FOLLOW_DELAY_MS

    wall, cpu = [], []
    for cell in list(curation.state.ids)[:n]:
        curation.select_cell(str(cell))
        t, c = time.perf_counter(), time.process_time()
        curation.follow_current()
        settle(app)
        wall.append(1000 * (time.perf_counter() - t))
        cpu.append(1000 * (time.process_time() - c))
    return {
        "viewer_follow": {
            "delay_after_last_press_ms": FOLLOW_DELAY_MS,
            "wall_ms_median": round(float(np.median(wall)), 1),
            "cpu_ms_median": round(float(np.median(cpu)), 1),
            "what": "selecting the cell's point repaints the napari canvas (software OpenGL "
            "under Xvfb here); it runs once per pause in the key presses, not per press",
        }
    }


def measure(args, tabbed: bool) -> dict:
    """One viewer, every widget docked, N pressed through all cells and P back."""
    import napari
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication

    from napari_catrack._sample_data import moving_worm_sample
    from napari_catrack.session import session_for_viewer

    try:
        from napari_catrack.widgets import _dock
    except ImportError:  # the code before issue 11 (for the "before" numbers): no docks module
        _dock = None

    try:
        from napari_catrack.core.signals.extraction import extract_traces
    except ImportError:  # before the signals package (the "before" numbers)
        from napari_catrack.core.traces import extract_traces

    if _dock is not None:
        _dock.AUTO_TABIFY = tabbed
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    viewer.window.resize(1600, 1000)
    t0 = time.perf_counter()
    for data, meta, kind in moving_worm_sample(n_frames=args.frames):
        getattr(viewer, f"add_{kind}")(data, **meta)
    sample_s = time.perf_counter() - t0
    tracks = tracks_for(viewer.layers["ground truth tracks"], args.cells)
    green, red = viewer.layers["worm green"].data, viewer.layers["worm red"].data
    traces = extract_traces(green, tracks[["neuron_id", "frame", "y", "x"]], red, fps=10.0)
    traces, tracks = usable(traces, tracks, args.cells)
    session = session_for_viewer(viewer)
    session.record("tracks", tables={"tracks": tracks})
    session.record("traces", tables={"traces": traces}, params={"fps": 10.0})

    docked = {}
    for name in manifest_widgets():
        dock, docked[name] = viewer.window.add_plugin_dock_widget(PLUGIN, name)
        settle(app)
    window = dock.window()
    settle(app)
    height = {"window_height_px": window.height(),
              "window_min_height_px": window.minimumSizeHint().height()}  # fmt: skip
    tracking = docked["Track neurons"]
    if getattr(tracking, "tracks", None) is None:  # tracks from the session make "tracked neurons"
        tracking.tracks = tracks.assign(neuron_id=tracks.neuron_id.astype(str))
        tracking.show_tracks()
    settle(app)
    curation = docked["Transients curation"]
    if tabbed and _dock is not None:  # the curation tab in front, as when curating
        _dock.dock_of(curation).raise_()
    curation.load_session_traces()
    job = curation.detect()
    t_end = time.time() + 300

    def running() -> bool:  # a start_job Job, or (before issue 11) a napari worker
        return job.running if hasattr(job, "running") else job.is_running

    while running() and time.time() < t_end:
        app.processEvents()
        time.sleep(0.01)
    settle(app)
    n_cells = len(curation.state.ids)
    curation.select_cell(str(curation.state.ids[0]))
    curation.canvas.setFocus()
    settle(app)
    visible = {name: bool(getattr(w, "native", w).isVisible()) for name, w in docked.items()}

    times, cpu = [], []
    for key in [Qt.Key_N] * (n_cells - 1) + [Qt.Key_P] * (n_cells - 1):
        t, c = time.perf_counter(), time.process_time()
        QTest.keyClick(curation.canvas, key)
        settle(app)
        times.append(1000 * (time.perf_counter() - t))
        cpu.append(1000 * (time.process_time() - c))
    assert curation.current == str(curation.state.ids[0]), "the key presses did not move"
    t = time.perf_counter()  # everything deferred (e.g. the trace viewer's follow-up) included
    QTest.qWait(200)
    settle(app)
    tail_ms = 1000 * (time.perf_counter() - t) - 200
    follow = measure_follow(app, curation) if hasattr(curation, "follow_current") else {}
    n_times, all_times = np.asarray(times[: n_cells - 1]), np.asarray(times)
    viewer.close()
    return {
        "cells": n_cells,
        "presses": len(times),
        "n_press_ms": {
            "median": round(float(np.median(n_times)), 1),
            "p95": round(float(np.percentile(n_times, 95)), 1),
            "max": round(float(n_times.max()), 1),
        },
        "all_presses_ms": {
            "median": round(float(np.median(all_times)), 1),
            "p95": round(float(np.percentile(all_times, 95)), 1),
        },
        "cpu_ms_per_press": {
            "median": round(float(np.median(cpu)), 1),
            "p95": round(float(np.percentile(cpu, 95)), 1),
        },
        "deferred_work_after_last_press_ms": round(max(tail_ms, 0.0), 1),
        **follow,
        "target_met": bool(np.percentile(all_times, 95) < TARGET_MS),
        "cpu_target_met": bool(np.percentile(cpu, 95) < TARGET_MS),
        "widgets_visible_while_curating": visible,
        "sample_layers_s": round(sample_s, 2),
        **height,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=63)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--before", type=Path, default=None,
                    help="a result of this benchmark run on the code before issue 11 (e.g. a "
                    "worktree at 5bb4e38), stored beside the new numbers")  # fmt: skip
    args = ap.parse_args()
    import napari

    load = os.getloadavg()
    runs = {"tabbed": measure(args, tabbed=True), "side_by_side": measure(args, tabbed=False)}
    result = {
        "what": "ms per N/P key press in the curation widget, every catrack widget docked",
        "frames": args.frames,
        "target_ms": TARGET_MS,
        "target_met": all(r["target_met"] for r in runs.values()),
        **runs,
        "command": "xvfb-run -a python " + " ".join(sys.argv),
        "load_average_before": [round(x, 2) for x in load],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "napari": napari.__version__,
    }
    if args.before is not None:
        before = json.loads(args.before.read_text())
        result["before_issue_11"] = {k: before[k] for k in ("tabbed", "side_by_side", "command",
                                     "load_average_before", "load_average_after") if k in before}  # fmt: skip
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
