"""How long napari's reader holds its (main) thread opening a session after a kill left a set
half placed beside it: the older registered movie (a large file or a zarr folder) still hidden
as `.old`, the shift table not yet replaced. Until h17 recovery deleted that movie on the
calling thread; now it renames only there and deletes in a background thread.

    PYTHONPATH=src python benchmarks/bench_recover_open.py /tmp/h17rr-bench --mb 500 --kind file
    PYTHONPATH=src python benchmarks/bench_recover_open.py /tmp/h17rr-bench --mb 500 --kind zarr

After one untimed warm-up (napari's imports, done long before in napari), prints, per run,
the reader call's wall time on the calling thread and (where the code has it)
how long the background deletion took after it; checks the folder ends with no hidden file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

BLOCK = b"\x5a" * (1 << 20)  # real blocks (not sparse): what a movie's bytes cost to free


def _fill(path: Path, mb: int, sparse: bool) -> None:
    with open(path, "wb") as fh:
        if sparse:
            fh.truncate(mb << 20)
        else:
            for _ in range(mb):
                fh.write(BLOCK)
        fh.flush()
        os.fsync(fh.fileno())


def make_case(folder: Path, mb: int, kind: str, sparse: bool) -> None:
    from napari_catrack.session import Session

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    s = Session(folder / "s.catrack.h5")
    s.record("alignment", attrs={"dy": 1.0})
    name = "reg.zarr" if kind == "zarr" else "reg.tif"
    movie, old = folder / name, folder / f".{name}.3333cccc.old"
    if kind == "zarr":  # chunks of 1 MB, as a registered movie's zarr of 512x512 uint16 frames
        for root, n in ((movie, 4), (old, mb)):
            (root / "0").mkdir(parents=True)
            for i in range(n):
                _fill(root / "0" / str(i), 1, sparse)
    else:
        _fill(movie, 4, sparse)
        _fill(old, mb, sparse)
    shifts, tmp = folder / "shifts.csv", folder / ".shifts.csv.x1.partial"
    shifts.write_text("old\n")
    tmp.write_text("new\n")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    journal = folder / ".catrack-set.0123456789ab.journal"
    files = [
        {"temp": str(folder / f".{name}.x0.partial"), "target": str(movie), "backup": str(old)},
        {"temp": str(tmp), "target": str(shifts), "backup": str(folder / ".shifts.csv.4.old")},
    ]
    journal.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                   "journals": [str(journal)], "files": files}))  # fmt: skip
    later = max(shifts.stat().st_ctime, time.time()) + 1
    os.utime(journal, (later, later))
    subprocess.run(["sync"], check=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--kind", choices=["file", "zarr"], default="file")
    ap.add_argument("--sparse", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    import napari  # noqa: F401  (in napari, long imported)

    from napari_catrack import _reader
    from napari_catrack.io import atomic

    for _ in range(2):  # warm-up, not timed: the reader's first calls import napari's layers
        make_case(args.folder, 1, args.kind, args.sparse)
        _reader.read_session(str(args.folder / "s.catrack.h5"))
        if hasattr(atomic, "wait_for_cleanup"):
            atomic.wait_for_cleanup(timeout=600)
    for run in range(args.runs):
        make_case(args.folder, args.mb, args.kind, args.sparse)
        t0 = time.perf_counter()
        _reader.read_session(str(args.folder / "s.catrack.h5"))
        held = time.perf_counter() - t0
        wait = getattr(atomic, "wait_for_cleanup", None)
        t1 = time.perf_counter()
        if wait is not None:
            wait(timeout=600)
        after = time.perf_counter() - t1
        hidden = sorted(p.name for p in args.folder.iterdir() if p.name.startswith("."))
        assert hidden == [], hidden
        assert (args.folder / "shifts.csv").read_text() == "new\n"
        print(f"run {run + 1}: {args.kind} {args.mb} MB{' sparse' if args.sparse else ''}: "
              f"reader held its thread {held * 1000:.0f} ms; background deletion then "
              f"{after * 1000:.0f} ms more")  # fmt: skip
    shutil.rmtree(args.folder)


if __name__ == "__main__":
    main()
