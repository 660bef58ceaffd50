"""Benchmark: peak memory and time of `catrack import imagej` and `catrack sources` with dense
(before session 14) and sparse footprints, and whether their outputs are the same.

- import: K ten-pixel oval ImageJ ROIs at random places (seed 0) on a 1,024 x 1,024 uint16
  movie of T frames (a TIFF under --work, random values 0-199), neuropil coefficient 0.7, the
  CLI as a user runs it with `-o DIR --session FILE` (footprints.h5, tables and the session);
- sources: `make_two_photon_movie` of T frames of S x S with N cells (no motion), written as a
  TIFF under --work, then `catrack sources movie.tif -o DIR --session FILE` (default
  parameters);
- minian: a Minian result (`save_minian` zarr v2 stores, as xarray writes them: A, C, S, b0,
  b, f, with zarr's own chunking of A) of K 12 x 12 px units (seed 0) on a 1,024 x 1,024
  frame, A float64 (dense on disk, K full frames), T frames of traces, then
  `catrack import minian DIR --fps 30` (session 15: A read a block of chunks at a time);
- each command runs under /usr/bin/time -v (peak RSS of the process, wall seconds), once with
  the code given by --before (a `src` folder with the dense code, e.g. /work/main/src at
  6e93273) and once with this checkout's src; nice 10;
- identical: traces.csv, components.csv, footprints.h5 of the two runs compared (max abs
  difference per column / array; "identical" = bit-identical).
Run: python benchmarks/bench_sparse_footprints.py --before /work/main/src [--work /tmp/h14_sparse]
     [--rois 500,2000] [--frames 1000] [--sources-size 768 --sources-cells 600
     --sources-frames 600] [--minian-units 200] [--only import|sources|minian]
Writes benchmarks/results/sparse_footprints.json (merged with what is there).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "sparse_footprints.json"


def make_import_movie(path: Path, frames: int, size: int = 1024) -> None:
    import tifffile

    if path.is_file():
        return
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".part.tif")

    def pages():
        for _ in range(frames):
            yield rng.integers(0, 200, (size, size), dtype=np.uint16)

    tifffile.imwrite(tmp, pages(), shape=(frames, size, size), dtype=np.uint16, imagej=True,
                     metadata={"axes": "TYX", "finterval": 1 / 30})  # fmt: skip
    tmp.replace(path)


def make_rois(path: Path, k: int, size: int = 1024) -> None:
    import roifile

    if path.is_file():
        return
    rng = np.random.default_rng(0)
    rois = [roifile.ImagejRoi(roitype=roifile.ROI_TYPE.OVAL, left=int(x), top=int(y),
                              right=int(x) + 10, bottom=int(y) + 10, name=f"c{i}")
            for i, (x, y) in enumerate(rng.integers(0, size - 12, (k, 2)))]  # fmt: skip
    roifile.roiwrite(path, rois, mode="w")


def make_sources_movie(path: Path, frames: int, size: int, cells: int) -> None:
    if path.is_file():
        return
    code = (
        "import sys; from napari_catrack.synthetic import make_two_photon_movie;"
        "from napari_catrack.io.tiff import write_movie_tiff;"
        f"m = make_two_photon_movie({frames}, ({size}, {size}), n_cells={cells}, seed=3, motion_px=0);"
        f"write_movie_tiff(sys.argv[1], m.movie, fps=m.fps)"
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)


def make_minian(folder: Path, k: int, frames: int, size: int = 1024) -> None:
    """A Minian output folder of k units (written a chunk of units at a time, never dense)."""
    import zarr

    if (folder / "done").is_file():
        return
    rng = np.random.default_rng(0)
    units = np.arange(k) * 3 + 2
    corners = rng.integers(0, size - 12, (k, 2))
    spot = np.outer(np.hanning(14)[1:-1], np.hanning(14)[1:-1])

    def store(name, dims, shape, coords, fill=None, chunks="auto"):
        group = zarr.open_group(str(folder / f"{name}.zarr"), mode="w", zarr_format=2)
        arr = group.create_array(name, shape=shape, dtype="f8", chunks=chunks, fill_value=0.0)
        arr.attrs["_ARRAY_DIMENSIONS"] = list(dims)
        for c, v in coords.items():
            z = group.create_array(c, shape=v.shape, dtype=v.dtype)
            z[...] = v
            z.attrs["_ARRAY_DIMENSIONS"] = [c]
        if fill is not None:
            arr[...] = fill
        return arr

    frame, px = {"frame": np.arange(frames)}, {"height": np.arange(size), "width": np.arange(size)}
    a = store("A", ("unit_id", "height", "width"), (k, size, size), {"unit_id": units, **px})
    cu = a.chunks[0]
    for u0 in range(0, k, cu):
        block = np.zeros((min(cu, k - u0), size, size))
        for j, (y, x) in enumerate(corners[u0 : u0 + cu]):
            block[j, y : y + 12, x : x + 12] = spot * (1 + (u0 + j) % 3)
        a[u0 : u0 + len(block)] = block
    s = (rng.random((k, frames)) < 0.02).astype(float)
    c = np.stack([np.convolve(v, np.exp(-np.arange(60) / 15.0))[:frames] for v in s]) * 5
    traces = {"unit_id": units, **frame}
    store("C", ("unit_id", "frame"), (k, frames), traces, c)
    store("S", ("unit_id", "frame"), (k, frames), traces, s)
    store("b0", ("unit_id", "frame"), (k, frames), traces, np.full((k, frames), 2.0))
    store("b", ("height", "width"), (size, size), px, rng.random((size, size)) * 10)
    store("f", ("frame",), (frames,), frame, 1 + 0.1 * np.sin(np.arange(frames) / 50))
    (folder / "done").write_text(f"A chunks {a.chunks}\n")


def timed(cmd: list[str], src: str) -> dict:
    """Peak RSS (MB) and wall seconds of `cmd` under /usr/bin/time -v with PYTHONPATH=src."""
    env = {**os.environ, "PYTHONPATH": src}
    full = ["nice", "-n", "10", "/usr/bin/time", "-v", *cmd]
    run = subprocess.run(full, env=env, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)[1])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", run.stderr)[1]
    secs = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.split(":"))))
    return {"peak_rss_mb": round(rss / 1024), "wall_s": round(secs, 1)}


def compare(a: Path, b: Path) -> dict:
    """Max abs differences between two sources folders (0 everywhere: bit-identical)."""
    import h5py
    import pandas as pd

    out = {}
    for name in ("traces.csv", "components.csv"):
        ta, tb = pd.read_csv(a / name), pd.read_csv(b / name)
        assert list(ta.columns) == list(tb.columns) and len(ta) == len(tb), name
        num = ta.select_dtypes("number").columns
        out[name] = float(np.nanmax(np.abs(ta[num].to_numpy(float) - tb[num].to_numpy(float)), initial=0))  # fmt: skip
        other = [c for c in ta.columns if c not in num]
        assert ta[other].fillna("").astype(str).equals(tb[other].fillna("").astype(str)), name
    with h5py.File(a / "footprints.h5") as fa, h5py.File(b / "footprints.h5") as fb:
        da, db = fa["footprints"], fb["footprints"]
        assert da.shape == db.shape and da.dtype == db.dtype
        out["footprints.h5"] = max((float(np.abs(da[i] - db[i]).max()) for i in range(len(da))), default=0.0)  # fmt: skip
        out["footprints_shape"] = list(da.shape)
    out["identical"] = all(v == 0 for k, v in out.items() if k.endswith((".csv", ".h5")))
    return out


def session_footprints_equal(a: Path, b: Path, src: str) -> bool:
    """Both sessions' footprints read through this checkout's reader (old dense, new sparse)."""
    code = (
        "import sys, numpy as np; from napari_catrack.session import Session;"
        "from napari_catrack.core.sources.session import session_footprints;"
        "f = [session_footprints(Session.load(p)['sources']) for p in sys.argv[1:3]];"
        "print(int(f[0].shape == f[1].shape and (f[0].matrix != f[1].matrix).nnz == 0))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(a), str(b)], env={**os.environ, "PYTHONPATH": src},
                         capture_output=True, text=True, check=True)  # fmt: skip
    return run.stdout.strip().endswith("1")


def run_pair(name: str, args: list[str], work: Path, before: str, after: str) -> dict:
    row = {"command": "catrack " + " ".join(a if "/" not in a else Path(a).name for a in args)}
    for label, src in (("dense_before", before), ("sparse_after", after)):
        out, session = work / f"{name}_{label}", work / f"{name}_{label}.catrack.h5"
        session.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "napari_catrack.cli", *args, "-o", str(out), "--session", str(session)]  # fmt: skip
        row[label] = timed(cmd, src)
        row[label]["session_mb"] = round(session.stat().st_size / 1e6, 1)
        row[label]["footprints_h5_mb"] = round((out / "footprints.h5").stat().st_size / 1e6, 1)
        print(name, label, row[label], flush=True)
    row["outputs"] = compare(work / f"{name}_dense_before", work / f"{name}_sparse_after")
    row["session_footprints_equal"] = session_footprints_equal(
        work / f"{name}_dense_before.catrack.h5", work / f"{name}_sparse_after.catrack.h5", after
    )
    print(name, row["outputs"], row["session_footprints_equal"], flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="src folder of the dense code")
    ap.add_argument("--work", default="/tmp/h14_sparse")
    ap.add_argument("--rois", default="500,2000")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--sources-size", type=int, default=768)
    ap.add_argument("--sources-cells", type=int, default=600)
    ap.add_argument("--sources-frames", type=int, default=600)
    ap.add_argument("--minian-units", type=int, default=200)
    ap.add_argument("--only", choices=("import", "sources", "minian"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    after = str(HERE.parent / "src")
    result = json.loads(RESULT.read_text()) if RESULT.is_file() else {}
    result.update({"benchmark": "sparse_footprints", "script": "benchmarks/bench_sparse_footprints.py",
                   "cpu_count": os.cpu_count(), "before": a.before})  # fmt: skip
    if a.only in (None, "import"):
        movie = work / f"movie_1024_{a.frames}.tif"
        make_import_movie(movie, a.frames)
        for k in (int(v) for v in a.rois.split(",")):
            rois = work / f"RoiSet_{k}.zip"
            make_rois(rois, k)
            args = ["import", "imagej", str(rois), "--movie", str(movie), "--neuropil-coefficient", "0.7"]  # fmt: skip
            row = run_pair(f"import_{k}", args, work, a.before, after)
            row.update({"rois": k, "movie": f"1024 x 1024 x {a.frames} uint16 TIFF"})
            result.setdefault("import_imagej", {})[str(k)] = row
            RESULT.write_text(json.dumps(result, indent=2) + "\n")
    if a.only in (None, "minian"):
        k = a.minian_units
        folder = work / f"minian_{k}_{a.frames}"
        make_minian(folder, k, a.frames)
        row = run_pair(f"minian_{k}", ["import", "minian", str(folder), "--fps", "30"], work, a.before, after)  # fmt: skip
        row.update({"units": k, "A": f"{k} x 1024 x 1024 float64 zarr v2, chunks {(folder / 'done').read_text().split('chunks ')[1].strip()}",
                    "dense_A_mb": round(k * 1024 * 1024 * 8 / 2**20)})  # fmt: skip
        result.setdefault("import_minian", {})[str(k)] = row
        RESULT.write_text(json.dumps(result, indent=2) + "\n")
    if a.only in (None, "sources"):
        s, n, t = a.sources_size, a.sources_cells, a.sources_frames
        movie = work / f"synthetic_{s}_{n}_{t}.tif"
        make_sources_movie(movie, t, s, n)
        row = run_pair("sources", ["sources", str(movie)], work, a.before, after)
        row.update({"movie": f"make_two_photon_movie({t}, ({s}, {s}), n_cells={n}, seed=3, motion_px=0)"})  # fmt: skip
        result["sources"] = row
        RESULT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
