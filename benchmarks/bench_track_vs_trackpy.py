"""Benchmark: the WHOLE `catrack track` command vs trackpy (locate + link, numba) on one TIFF.

Run: `python benchmarks/bench_track_vs_trackpy.py` (writes benchmarks/results/track_vs_trackpy.json).

Data: `make_worm_recording(400 frames, 192 x 192, 14 neurons, seed 1)`, both channels written to
one ImageJ TIFF (TCYX uint16) as a user would have it; seeds are the true green positions at
frame 0. Every tool runs as a separate process on that file, side by side in one run, so imports,
reading, alignment and refinement all count. The variants:
- `ours_align`: `catrack track REC --seeds seeds.csv --align align.json -o tracks.csv`;
- `ours_estimating`: the same without --align and with no session file beside the recording:
  the command must estimate the alignment itself (the session file it leaves is deleted before
  every repeat, so each repeat is a first command);
- `ours_cached`: a second command without --align, which finds the first one's estimate cached
  in the recording's session file;
- `trackpy`: trackpy 0.7 with numba (`tp.batch(..., engine="numba")` +
  `tp.link(..., link_strategy="numba")`) on the red channel, in a separate venv
  (/work/venvs/trackpy, or $TRACKPY_VENV):
      python -m venv /work/venvs/trackpy && /work/venvs/trackpy/bin/pip install trackpy numba tifffile
  trackpy particles are matched to the true neurons at frame 0 (nearest within 3 px).
The variants run round-robin (one of each per repeat), so a change in the machine's load hits all
of them alike. CPU time = user + system time of the child process (`os.wait4` resource usage),
peak memory = its maximum resident set size (read by a small launcher process, so that this
benchmark's own size does not leak into it); accuracy = fraction of neuron-frames within 2 px of the
truth (trackpy in red pixels against the red truth, ours in green pixels against the green
truth). The median of `--repeats` runs is reported. `--before-src DIR` adds the same two
commands (with and without --align) run from an older checkout's src/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from napari_catrack.io.tiff import write_movie_tiff  # noqa: E402
from napari_catrack.session import default_session_path  # noqa: E402
from napari_catrack.synthetic import make_worm_recording  # noqa: E402

TRACKPY_PY = Path(os.environ.get("TRACKPY_VENV", "/work/venvs/trackpy")) / "bin" / "python"
TRACKPY_SCRIPT = r"""
import sys, warnings
import tifffile, trackpy as tp
warnings.filterwarnings("ignore")
tp.quiet()
red = tifffile.imread(sys.argv[1])[:, 1]
f = tp.batch(red, diameter=7, minmass=float(sys.argv[3]), engine="numba", processes=1)
try:
    links = tp.link(f, search_range=16, memory=3, adaptive_stop=2, adaptive_step=0.9,
                    link_strategy="numba")
    status = "ok"
except Exception as exc:  # oversize subnets etc.
    links, status = f.assign(particle=-1), f"link failed: {type(exc).__name__}: {exc}"
links[["frame", "particle", "y", "x"]].to_csv(sys.argv[2], index=False)
print(status)
"""


# A small launcher process runs each command and reads its resource usage. Launching directly from
# this (large) benchmark process would not do: Linux carries the parent's peak RSS into a vforked
# child's ru_maxrss at exec, so every command would report at least this process's size.
LAUNCHER = r"""
import json, os, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, u = os.wait4(proc.pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "cpu_s": u.ru_utime + u.ru_stime,
               "maxrss_kb": u.ru_maxrss, "wall_s": wall}, f)
"""


def run_child(argv: list[str], env: dict | None = None) -> dict:
    """Run a command; its own CPU time (user + sys), peak RSS and wall time (see LAUNCHER)."""
    with tempfile.TemporaryDirectory() as tmp:
        usage_file = Path(tmp) / "usage.json"
        out_file, err_file = Path(tmp) / "out", Path(tmp) / "err"
        with out_file.open("wb") as fo, err_file.open("wb") as fe:
            subprocess.run(
                [sys.executable, "-S", "-c", LAUNCHER, str(usage_file), *argv],
                stdout=fo, stderr=fe, env=env, check=False,
            )  # fmt: skip
        out, err = out_file.read_text(), err_file.read_text()
        usage = json.loads(usage_file.read_text())
    if usage["code"] != 0:
        raise RuntimeError(f"{argv[:4]} failed ({usage['code']}): {err[-2000:]}")
    return {
        "cpu_s": usage["cpu_s"],
        "peak_rss_mb": usage["maxrss_kb"] / 1024,
        "wall_s": usage["wall_s"],
        "stdout": out,
        "stderr": err,
    }


def within_2px(est: np.ndarray, truth: np.ndarray) -> float:
    err = np.linalg.norm(est - truth, axis=-1)
    return float(np.nan_to_num(err <= 2.0).mean())


def ours_accuracy(csv: Path, rec) -> float:
    df = pd.read_csv(csv)
    ids = {n: i for i, n in enumerate(rec.truth.neuron_ids)}
    truth = rec.truth.positions[df.frame.to_numpy(), df.neuron_id.map(ids).to_numpy()]
    return float((np.linalg.norm(df[["y", "x"]].to_numpy() - truth, axis=1) <= 2).mean())


def trackpy_accuracy(csv: Path, rec) -> float:
    from bench_tracking import trackpy_tracks

    truth = rec.truth.red_positions
    return within_2px(trackpy_tracks(pd.read_csv(csv), truth), truth)


def summarise(runs: list[dict]) -> dict:
    keys = ("cpu_s", "peak_rss_mb", "wall_s", "within_2px")
    summary = {k: float(np.median([r[k] for r in runs])) for k in keys}
    summary["runs"] = [{k: round(r[k], 4) for k in keys} for r in runs]
    summary["stderr_tail"] = runs[-1]["stderr"].strip().splitlines()[-3:]
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--minmass", type=float, default=1000.0, help="trackpy minmass")
    ap.add_argument("--before-src", default=None, metavar="DIR",
                    help="also run the command from an older checkout's src/ (before/after)")  # fmt: skip
    args = ap.parse_args()
    rec = make_worm_recording(n_frames=400, shape=(192, 192), n_neurons=14, seed=1)
    work = Path(tempfile.mkdtemp(prefix="bench_track_"))
    tif = write_movie_tiff(work / "rec.tif", rec.green, rec.red, fps=rec.fps)
    session = default_session_path(tif)
    p0 = rec.truth.positions[0]
    seeds = work / "seeds.csv"
    pd.DataFrame({"neuron_id": rec.truth.neuron_ids, "y": p0[:, 0], "x": p0[:, 1]}).to_csv(
        seeds, index=False
    )
    align = work / "align.json"
    align.write_text(json.dumps(rec.truth.misalignment))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    ours_cmd = [sys.executable, "-m", "napari_catrack.cli", "track", str(tif), "--seeds",
                str(seeds)]  # fmt: skip
    with_align = ["--align", str(align)]

    def ours(extra: list[str], fresh: bool, environ: dict):
        def run(out: Path) -> dict:
            if fresh:
                session.unlink(missing_ok=True)  # no cached estimate: a first command
            res = run_child([*ours_cmd, *extra, "-o", str(out)], environ)
            res["within_2px"] = ours_accuracy(out, rec)
            return res

        return run

    variants = {
        "ours_align": ours(with_align, False, env),
        "ours_estimating": ours([], True, env),
        "ours_cached": ours([], False, env),  # runs right after ours_estimating left its cache
    }
    if args.before_src:
        old_env = {**os.environ, "PYTHONPATH": str(Path(args.before_src).resolve())}
        variants["before_align"] = ours(with_align, False, old_env)
        variants["before_estimating"] = ours([], True, old_env)
    if TRACKPY_PY.exists():
        script = work / "tp.py"
        script.write_text(TRACKPY_SCRIPT)

        def trackpy(out: Path) -> dict:
            res = run_child([str(TRACKPY_PY), str(script), str(tif), str(out), str(args.minmass)])
            res["within_2px"] = trackpy_accuracy(out, rec)
            return res

        variants["trackpy"] = trackpy
    results: dict = {
        "data": "make_worm_recording(n_frames=400, shape=(192, 192), n_neurons=14, seed=1), "
        "TCYX uint16 TIFF",
        "machine": f"{os.cpu_count()} CPUs, shared with other jobs",
        "load_before": os.getloadavg(),
        "commands": {
            "ours_align": "catrack track rec.tif --seeds seeds.csv --align align.json -o tracks.csv",
            "ours_estimating": "catrack track rec.tif --seeds seeds.csv -o tracks.csv "
            "(no rec.catrack.h5 beside the recording)",
            "ours_cached": "catrack track rec.tif --seeds seeds.csv -o tracks.csv "
            "(again: the estimate is cached in rec.catrack.h5)",
            "trackpy": f"tp.batch(red, diameter=7, minmass={args.minmass:g}, engine='numba') + "
            "tp.link(search_range=16, memory=3, adaptive_stop=2, link_strategy='numba')",
            "run": "python benchmarks/bench_track_vs_trackpy.py " + " ".join(sys.argv[1:]),
        },
    }
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for i in range(args.repeats):
        for name, run in variants.items():
            runs[name].append(run(work / f"{name}_{i}.csv"))
            print(f"repeat {i}: {name}: {runs[name][-1]['cpu_s']:.2f} s CPU", flush=True)
    for name in variants:
        results[name] = summarise(runs[name])
    if args.before_src:
        results["before_src"] = args.before_src
    if "trackpy" in results:
        tp_ = results["trackpy"]
        results["summary"] = {
            "cpu_speedup_vs_trackpy": {
                name: tp_["cpu_s"] / results[name]["cpu_s"]
                for name in variants
                if name != "trackpy"
            },
            "peak_rss_ratio_ours_over_trackpy": {
                name: results[name]["peak_rss_mb"] / tp_["peak_rss_mb"]
                for name in variants
                if name != "trackpy"
            },
            "within_2px": {name: results[name]["within_2px"] for name in variants},
            "target_2x_cpu_with_align": tp_["cpu_s"] / results["ours_align"]["cpu_s"] >= 2.0,
            "target_2x_cpu_estimating": tp_["cpu_s"] / results["ours_estimating"]["cpu_s"] >= 2.0,
        }
    else:
        results["trackpy"] = {"skipped": f"{TRACKPY_PY} not found (see the docstring)"}
    results["load_after"] = os.getloadavg()
    out = ROOT / "benchmarks" / "results" / "track_vs_trackpy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=float))
    os.replace(tmp, out)
    print(json.dumps(results.get("summary", {}), indent=2, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
