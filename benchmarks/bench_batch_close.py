"""How long `catrack batch` takes to end after its last recording, and whether dask says "Worker
process still alive after 4.0 seconds, killing" (h21, `batch/worker_exit.py`): the command on a
2-recording synthetic manifest (2 local workers, which run torch), in a subprocess, timed from
its "[2/2] ... finished" line to its exit (closing the cluster, then report.csv and the pooled
tables), and as a whole.

    python benchmarks/bench_batch_close.py [--runs 3] [--src DIR] [--label NAME]

`--src`: the napari_catrack sources to run (default this checkout's src/; give an older copy,
e.g. `git archive 87a84e9 src | tar -x -C /tmp/old`, for the "before"). Adds its numbers under
`--label` to benchmarks/results/batch_close.json (with the command and the machine load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from napari_catrack.synthetic.batch import write_batch_folder

RESULT = Path(__file__).parent / "results" / "batch_close.json"
WARNING = "Worker process still alive after"


def one_run(manifest: Path, out: Path, src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "napari_catrack", "batch", str(manifest), "-o", str(out),
               "--no-progress", "--workers", "2"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    last, lines = None, []
    for line in proc.stderr:  # the progress lines arrive as the recordings finish
        lines.append(line.rstrip())
        if "[2/2]" in line:
            last = time.perf_counter()
    proc.wait()
    end = time.perf_counter()
    return {
        "exit_code": proc.returncode,
        "total_s": round(end - start, 2),
        "after_last_recording_s": round(end - last, 2) if last else None,
        "still_alive_warnings": sum(WARNING in line for line in lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--src", default=str(Path(__file__).parents[1] / "src"))
    parser.add_argument("--label", default="this checkout")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        write_batch_folder(folder, 2, n_frames=40, shape=(72, 72), n_neurons=4)
        for k in range(args.runs):
            runs.append(one_run(folder / "manifest.yaml", Path(tmp) / f"out{k}", Path(args.src)))
            print(runs[-1], flush=True)
    after = [r["after_last_recording_s"] for r in runs if r["after_last_recording_s"] is not None]
    result = {
        "command": "python benchmarks/bench_batch_close.py " + " ".join(sys.argv[1:]),
        "cpu_count": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
        "median_after_last_recording_s": statistics.median(after) if after else None,
        "median_total_s": statistics.median(r["total_s"] for r in runs),
        "still_alive_warnings": sum(r["still_alive_warnings"] for r in runs),
    }
    held = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    held[args.label] = result
    RESULT.write_text(json.dumps(held, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
