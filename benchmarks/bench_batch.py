"""`catrack batch` on a 4-process LocalCluster: 12 synthetic recordings give the same results as
running each alone; a worker killed mid-run loses only its recording and the rerun completes only
what is missing; a worker's peak memory for a short and an 8x longer recording (tracking reads
a channel of up to 512 MB whole, so it grows with the recording up to that bound).

    python benchmarks/bench_batch.py [--recordings 12] [--workers 4] [--frames 120]

Writes benchmarks/results/batch.json (numbers, the command, the machine load).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from napari_catrack.batch.manifest import read_manifest
from napari_catrack.batch.recording import run_recording
from napari_catrack.batch.runner import run_batch
from napari_catrack.synthetic.batch import write_batch_folder

TABLES = ("tracks.csv", "traces.csv", "transients.csv", "cells.csv")
RESULT = Path(__file__).parent / "results" / "batch.json"


def _same(a: Path, b: Path) -> bool:
    return all(pd.read_csv(a / t).equals(pd.read_csv(b / t)) for t in TABLES)


def _killer(killed: dict):
    def on_client(client):
        pids = client.run(os.getpid)

        def run():
            while not killed:
                busy = {w: t for w, t in client.processing().items() if t}
                if busy:
                    worker, tasks = next(iter(busy.items()))
                    time.sleep(1.0)
                    killed["task"] = str(tasks[0])
                    os.kill(pids[worker], signal.SIGKILL)
                time.sleep(0.05)

        threading.Thread(target=run, daemon=True).start()

    return on_client


def _peak_rss(manifest, out: Path, memory_limit: str) -> tuple[float, pd.DataFrame]:
    """Peak resident memory (MB) of the single worker while it runs the manifest."""
    import psutil

    peak = {"mb": 0.0}

    def on_client(client):
        pid = next(iter(client.run(os.getpid).values()))
        proc = psutil.Process(pid)

        def watch():
            while True:
                try:
                    peak["mb"] = max(peak["mb"], proc.memory_info().rss / 2**20)
                except psutil.Error:
                    return
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()

    result = run_batch(
        manifest, out, workers=1, memory_limit=memory_limit, on_client=on_client, log=lambda _: None
    )
    return peak["mb"], result.report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=int, default=12)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--frames", type=int, default=120)
    args = ap.parse_args()
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    steps = ("align", "track", "traces", "transients")
    write_batch_folder(
        tmp / "data",
        args.recordings,
        n_frames=args.frames,
        shape=(128, 128),
        n_neurons=8,
        steps=steps,
    )
    manifest = read_manifest(tmp / "data" / "manifest.yaml")
    out: dict = {
        "command": "python benchmarks/bench_batch.py " + " ".join(sys.argv[1:]),
        "recordings": args.recordings,
        "workers": args.workers,
        "frames": args.frames,
        "steps": list(steps),
        "cpu_count": os.cpu_count(),
        "load_before": [round(x, 2) for x in load_before],
    }

    t = time.perf_counter()
    for spec in manifest.recordings:
        run_recording(spec, tmp / "alone")
    out["alone_sequential_s"] = round(time.perf_counter() - t, 1)

    first = run_batch(manifest, tmp / "batch", workers=args.workers, log=lambda _: None)
    out["batch_s"] = round(first.seconds, 1)
    out["batch_failed"] = first.failed
    out["batch_equals_alone"] = all(
        _same(tmp / "batch" / s.name, tmp / "alone" / s.name) for s in manifest.recordings
    )

    killed: dict = {}
    hit = run_batch(
        manifest,
        tmp / "killed",
        workers=args.workers,
        on_client=_killer(killed),
        log=lambda _: None,
    )
    lost = [s.name for s in manifest.recordings if f"catrack-{s.name}-" in killed.get("task", "")]
    rerun = run_batch(manifest, tmp / "killed", workers=args.workers, log=lambda _: None)
    steps_rerun = rerun.report[rerun.report.step != "export"]
    redone = sorted(set(steps_rerun[steps_rerun.status == "done"].recording))
    out["kill"] = {
        "killed_recording": lost,
        "failed_in_first_run": hit.failed,
        "finished_in_first_run": int(
            (hit.report.groupby("recording").status.apply(lambda s: (s == "done").all())).sum()
        ),
        "recordings_recomputed_by_rerun": redone,
        "rerun_failed": rerun.failed,
        "rerun_s": round(rerun.seconds, 1),
        "final_equals_alone": all(
            _same(tmp / "killed" / s.name, tmp / "alone" / s.name) for s in manifest.recordings
        ),
    }

    mem = {}
    for frames in (200, 1600):
        folder = tmp / f"mem{frames}"
        write_batch_folder(
            folder,
            1,
            n_frames=frames,
            shape=(256, 256),
            n_neurons=8,
            steps=("track", "traces", "transients"),
            extra={"no_align": True},
        )
        m = read_manifest(folder / "manifest.yaml")
        size_mb = (folder / "rec00.tif").stat().st_size / 2**20
        peak, report = _peak_rss(m, folder / "out", "1GB")
        mem[str(frames)] = {
            "recording_mb": round(size_mb, 1),
            "worker_peak_rss_mb": round(peak, 1),
            "ok": bool((report.status == "done").all()),
        }
    out["memory"] = mem
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
