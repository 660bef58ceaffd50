"""Benchmark: the WHOLE `catrack track` command vs trackpy (locate + link, numba) on one TIFF.

Run: `python benchmarks/bench_track_vs_trackpy.py` (writes benchmarks/results/track_vs_trackpy.json).

Data: `make_worm_recording(400 frames, 192 x 192, 14 neurons, seed 1)`, both channels written to
one ImageJ TIFF (TCYX uint16) as a user would have it; seeds are the true green positions at
frame 0. Both tools run as separate processes on that file, side by side in one run, so imports,
reading, alignment mapping and refinement all count:
- ours: `python -m napari_catrack.cli track REC --seeds seeds.csv --align align.json -o tracks.csv`
  (and once more without --align, where the command estimates the alignment itself);
- trackpy 0.7 with numba (`tp.batch(..., engine="numba")` + `tp.link(..., link_strategy="numba")`)
  on the red channel, in a separate venv (/work/venvs/trackpy, or $TRACKPY_VENV):
      python -m venv /work/venvs/trackpy && /work/venvs/trackpy/bin/pip install trackpy numba tifffile
  trackpy particles are matched to the true neurons at frame 0 (nearest within 3 px).
CPU time = user + system time of the child process (`os.wait4` resource usage), peak memory =
its maximum resident set size; accuracy = fraction of neuron-frames within 2 px of the truth
(trackpy in red pixels against the red truth, ours in green pixels against the green truth).
Each tool runs `--repeats` times; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from napari_catrack.io.tiff import write_movie_tiff  # noqa: E402
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


def run_child(argv: list[str], env: dict | None = None) -> dict:
    """Run a command; its CPU time (user + sys), peak RSS and wall time from os.wait4."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=fo, stderr=fe, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{argv[:4]} failed ({code}): {err.decode()[-2000:]}")
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "wall_s": wall,
        "stdout": out.decode(),
        "stderr": err.decode(),
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


def median_run(make_argv, repeats: int, score, env=None) -> dict:
    runs = []
    for i in range(repeats):
        out = Path(tempfile.mkdtemp()) / f"out{i}.csv"
        res = run_child(make_argv(out), env)
        res["within_2px"] = score(out)
        runs.append(res)
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
    results: dict = {
        "data": "make_worm_recording(n_frames=400, shape=(192, 192), n_neurons=14, seed=1), "
        "TCYX uint16 TIFF",
        "load_before": os.getloadavg(),
        "commands": {
            "ours": " ".join(ours_cmd[1:]) + " --align align.json -o tracks.csv",
            "ours_estimating_alignment": " ".join(ours_cmd[1:]) + " -o tracks.csv",
            "trackpy": f"tp.batch(red, diameter=7, minmass={args.minmass:g}, engine='numba') + "
            "tp.link(search_range=16, memory=3, adaptive_stop=2, link_strategy='numba')",
        },
    }
    results["ours"] = median_run(
        lambda out: [*ours_cmd, "--align", str(align), "-o", str(out)], args.repeats,
        lambda out: ours_accuracy(out, rec), env,
    )  # fmt: skip
    results["ours_estimating_alignment"] = median_run(
        lambda out: [*ours_cmd, "-o", str(out)], 1, lambda out: ours_accuracy(out, rec), env
    )
    if args.before_src:
        old_env = {**os.environ, "PYTHONPATH": str(Path(args.before_src).resolve())}
        results["before"] = median_run(
            lambda out: [*ours_cmd, "--align", str(align), "-o", str(out)], args.repeats,
            lambda out: ours_accuracy(out, rec), old_env,
        )  # fmt: skip
        results["before"]["src"] = args.before_src
    if TRACKPY_PY.exists():
        script = work / "tp.py"
        script.write_text(TRACKPY_SCRIPT)
        results["trackpy"] = median_run(
            lambda out: [str(TRACKPY_PY), str(script), str(tif), str(out), str(args.minmass)],
            args.repeats, lambda out: trackpy_accuracy(out, rec),
        )  # fmt: skip
        tp_, ours = results["trackpy"], results["ours"]
        results["summary"] = {
            "cpu_speedup_vs_trackpy": tp_["cpu_s"] / ours["cpu_s"],
            "peak_rss_ratio_ours_over_trackpy": ours["peak_rss_mb"] / tp_["peak_rss_mb"],
            "within_2px_ours": ours["within_2px"],
            "within_2px_trackpy": tp_["within_2px"],
            "target_2x_cpu": tp_["cpu_s"] / ours["cpu_s"] >= 2.0,
        }
    else:
        results["trackpy"] = {"skipped": f"{TRACKPY_PY} not found (see the docstring)"}
    results["load_after"] = os.getloadavg()
    out = ROOT / "benchmarks" / "results" / "track_vs_trackpy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=float))
    os.replace(tmp, out)
    print(json.dumps({k: v for k, v in results.items() if k != "commands"}, indent=2,
                     default=float))  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
