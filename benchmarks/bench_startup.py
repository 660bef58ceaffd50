"""Benchmark: start-up of the `catrack` command (issue 11: "`catrack --help` imports everything").

Target: `catrack --help` and a step that needs no torch (`catrack info` on a small TIFF) start and
finish in under 1 s. Each case runs as a fresh `python -m napari_catrack.cli ...` process (what a
user's shell does), `--runs` times; the median wall time is reported with the modules imported and
the machine load and the median CPU time (user + system), because on a shared machine the load
moves wall times more than anything else while CPU time stays what the command itself costs.
`--before SRC` times an older source tree (e.g. a worktree of the commit before the change) in the
same run, interleaved with the current one so both see the same load.

Run: python benchmarks/bench_startup.py [--runs 7] [--before /path/to/old/src]
Writes benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
HEAVY = ("torch", "napari", "PyQt5", "skimage", "matplotlib", "dask", "scipy", "pandas", "numpy")


def _run(src: Path, args: list[str]) -> tuple[float, set[str]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "napari_catrack.cli", *args],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"catrack {' '.join(args)} failed ({src}):\n{out.stderr[-2000:]}")
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)", out.stderr, re.M)
    return wall, {n.split(".")[0] for n in names} | {"#" + str(len(names))}


def _plain_wall(src: Path, args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds without -X importtime (its report costs a little). CPU time (user +
    system of the child) is what the command costs; on a busy machine wall time adds waiting."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "napari_catrack.cli", *args], capture_output=True,
                   env=env, check=True)  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _commit(src: Path) -> str | None:
    """The git commit a source folder is checked out at (None outside git)."""
    out = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)  # fmt: skip
    return out.stdout.strip() or None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--before", type=Path, default=None, help="older src folder to compare")
    a = ap.parse_args()

    sys.path.insert(0, str(SRC))
    from napari_catrack.io.tiff import write_movie_tiff

    tmp = Path(tempfile.mkdtemp(prefix="catrack-startup-"))
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 4000, size=(20, 64, 64), dtype=np.uint16)
    tif = write_movie_tiff(tmp / "small.tif", movie, movie, fps=10.0)
    cases = {"help": ["--help"], "info": ["info", str(tif)]}
    trees = {"after": SRC} | ({"before": a.before} if a.before else {})
    load_before = os.getloadavg()
    results: dict = {}
    for src in trees.values():  # one warm-up each: the OS page cache, .pyc files
        for args in cases.values():
            _plain_wall(src, args)
    walls = {(t, c): [] for t in trees for c in cases}
    cpus = {(t, c): [] for t in trees for c in cases}
    modules = {}
    for _ in range(a.runs):
        for t, src in trees.items():
            for c, args in cases.items():
                wall, cpu = _plain_wall(src, args)
                walls[(t, c)].append(wall)
                cpus[(t, c)].append(cpu)
    for t, src in trees.items():
        for c, args in cases.items():
            _, mods = _run(src, args)
            modules[(t, c)] = mods
    for t in trees:
        results[t] = {}
        for c in cases:
            mods = modules[(t, c)]
            n = next(int(m[1:]) for m in mods if m.startswith("#"))
            results[t][c] = {
                "median_s": round(statistics.median(walls[(t, c)]), 3),
                "min_s": round(min(walls[(t, c)]), 3),
                "runs_s": [round(w, 3) for w in walls[(t, c)]],
                "median_cpu_s": round(statistics.median(cpus[(t, c)]), 3),
                "modules_imported": n,
                "heavy_imported": sorted(h for h in HEAVY if h in mods),
            }
    load_after = os.getloadavg()
    report = {
        "command": "python benchmarks/bench_startup.py " + " ".join(sys.argv[1:]),
        "target": "catrack --help and catrack info (small TIFF) under 1 s",
        "runs": a.runs,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_avg_1_5_15_before": [round(x, 2) for x in load_before],
            "load_avg_1_5_15_after": [round(x, 2) for x in load_after],
        },
        "before_src": str(a.before) if a.before else None,
        "before_commit": _commit(a.before) if a.before else None,
        "after_commit": _commit(SRC),
        "results": results,
        "small_tiff": {"frames": 20, "channels": 2, "shape": [64, 64]},
    }
    out = HERE / "results" / "startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for t in trees:
        for c in cases:
            r = results[t][c]
            print(f"{t:6s} {c:5s} median {r['median_s']:.3f} s (min {r['min_s']:.3f}, "
                  f"CPU {r['median_cpu_s']:.3f} s), "
                  f"{r['modules_imported']} modules, heavy: {', '.join(r['heavy_imported'])}")  # fmt: skip
    print(f"load {load_before[0]:.1f} -> {load_after[0]:.1f}; wrote {out}")


if __name__ == "__main__":
    main()
