"""Benchmark: peak memory and time of `catrack export-nwb` on a session with K imported ImageJ
ROIs on a 1,024 x 1,024 movie, with the footprints written as dense `image_mask`s (before
session 14's h14-nwb) and as a `pixel_mask` column (after), and whether the masks are equal.

- data: the ImageJ import of bench_sparse_footprints (K ten-pixel ovals at random places, seed
  0, on a 1,024 x 1,024 uint16 TIFF of T frames, random values 0-199), imported once with this
  checkout (`catrack import imagej ... --session FILE`);
- each export is `catrack export-nwb FILE -o OUT.nwb --no-prompt` under /usr/bin/time -v (peak
  RSS, wall seconds), nice 10, once with the code given by --before (a `src` folder, e.g. the
  branch point's src extracted with `git archive 8fa2d72 src`) and once with this checkout;
- equal: every ROI's mask read back with pynwb (image_mask or pixel_mask) equals the session's
  footprint, pixel for pixel and weight for weight.
Run: python benchmarks/bench_nwb_masks.py --before /tmp/h14_nwb/before_src [--work /tmp/h14_nwb]
     [--rois 500,2000] [--frames 200]
Writes benchmarks/results/nwb_masks.json (merged with what is there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_sparse_footprints import make_import_movie, make_rois, timed  # noqa: E402

RESULT = HERE / "results" / "nwb_masks.json"

CHECK = """
import sys, numpy as np
from pynwb import NWBHDF5IO
from napari_catrack.session import Session
from napari_catrack.core.sources.session import session_footprints
fp = session_footprints(Session.load(sys.argv[1])["sources"])
with NWBHDF5IO(sys.argv[2], "r") as io:
    ps = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
    kind = "pixel_mask" if "pixel_mask" in ps.colnames else "image_mask"
    ok = len(ps) == len(fp)
    for k in range(len(fp)):
        want = fp[k]
        if kind == "image_mask":
            got = np.asarray(ps["image_mask"][k])
        else:
            pm = np.asarray(ps["pixel_mask"][k])
            got = np.zeros(want.shape, np.float32)
            got[pm["x"], pm["y"]] = pm["weight"]
            ok &= len(pm) == np.count_nonzero(want)
        ok &= bool(np.array_equal(got, want))
print(kind, int(ok))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="src folder of the image_mask code")
    ap.add_argument("--work", default="/tmp/h14_nwb")
    ap.add_argument("--rois", default="500,2000")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--only", choices=("before", "after"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    after = str(HERE.parent / "src")
    result = json.loads(RESULT.read_text()) if RESULT.is_file() else {}
    result.update({"benchmark": "nwb_masks", "script": "benchmarks/bench_nwb_masks.py",
                   "cpu_count": os.cpu_count(), "before": a.before})  # fmt: skip
    movie = work / f"movie_1024_{a.frames}.tif"
    make_import_movie(movie, a.frames)
    env = {**os.environ, "PYTHONPATH": after}
    for k in (int(v) for v in a.rois.split(",")):
        rois, session = work / f"RoiSet_{k}.zip", work / f"import_{k}.catrack.h5"
        make_rois(rois, k)
        if not session.is_file():
            subprocess.run([sys.executable, "-m", "napari_catrack.cli", "import", "imagej", str(rois),
                            "--movie", str(movie), "-o", str(work / f"import_{k}"), "--session",
                            str(session)], check=True, env=env, capture_output=True)  # fmt: skip
        row = result.setdefault("export_nwb", {}).setdefault(str(k), {})
        row.update({"rois": k, "movie": f"1024 x 1024 x {a.frames} uint16 TIFF",
                    "command": f"catrack export-nwb import_{k}.catrack.h5 -o OUT.nwb --no-prompt"})  # fmt: skip
        for label, src in (("image_mask_before", a.before), ("pixel_mask_after", after)):
            if a.only and not label.endswith(a.only):
                continue
            out = work / f"export_{k}_{label}.nwb"
            out.unlink(missing_ok=True)
            cmd = [sys.executable, "-m", "napari_catrack.cli", "export-nwb", str(session), "-o", str(out), "--no-prompt"]  # fmt: skip
            row[label] = timed(cmd, src)
            row[label]["nwb_mb"] = round(out.stat().st_size / 1e6, 1)
            check = subprocess.run([sys.executable, "-c", CHECK, str(session), str(out)], env=env,
                                   capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
            row[label]["masks"] = check[0]
            row[label]["masks_equal_footprints"] = check[1] == "1"
            print(k, label, row[label], flush=True)
            RESULT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
