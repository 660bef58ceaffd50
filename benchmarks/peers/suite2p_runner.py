"""Run suite2p (in its own venv, as a subprocess) on a movie; used by the two-photon benchmarks.

    <suite2p python> suite2p_runner.py register MOVIE.npy OUT.npz [--rigid]
    <suite2p python> suite2p_runner.py sources MOVIE.tif WORKDIR OUT.npz --fps F --diameter D

`register` times `registration_wrapper` (reference image + registration of every frame, the
suite2p 1.x pipeline's registration step) on CPU with 2 torch threads and saves the rigid and
block offsets; `sources` times the pipeline without registration (detection, extraction,
classification, deconvolution) and saves the ROIs, traces and verdicts. This file runs only in
the suite2p venv (python -m venv /work/venvs/suite2p && pip install suite2p).
"""

import argparse
import json
import time
from importlib.metadata import version

import numpy as np
import torch


def register(movie: str, out: str, rigid: bool) -> None:
    from suite2p import default_settings
    from suite2p.registration.register import registration_wrapper

    mov = np.load(movie).astype(np.int16)
    s = default_settings()["registration"]
    s["nonrigid"] = not rigid
    f_reg = mov.copy()
    t0, c0 = time.perf_counter(), time.process_time()
    o = registration_wrapper(f_reg, settings=s, device=torch.device("cpu"))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.savez(out, yoff=o["yoff"], xoff=o["xoff"], yoff1=o.get("yoff1"), xoff1=o.get("xoff1"),
             seconds=dt, cpu_seconds=cpu, version=version("suite2p"))  # fmt: skip


def sources(movie: str, work: str, out: str, fps: float, diameter: float) -> None:
    import os

    from suite2p import default_db, default_settings, run_s2p

    db = default_db()
    db.update(data_path=[os.path.dirname(movie)], save_path0=work, nplanes=1, nchannels=1)
    s = default_settings()
    s["fs"] = fps
    s["tau"] = 0.7
    s["diameter"] = [diameter, diameter]
    s["run"]["do_registration"] = 0
    t0, c0 = time.perf_counter(), time.process_time()
    run_s2p(db=db, settings=s)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    plane = os.path.join(work, "suite2p", "plane0")
    stat = np.load(os.path.join(plane, "stat.npy"), allow_pickle=True)
    med = np.array([s["med"] for s in stat], float).reshape(-1, 2)
    cen = np.array([[np.average(s["ypix"], weights=s["lam"]), np.average(s["xpix"], weights=s["lam"])] for s in stat]).reshape(-1, 2)  # fmt: skip
    np.savez(out, med=med, centroid=cen, F=np.load(os.path.join(plane, "F.npy")),
             Fneu=np.load(os.path.join(plane, "Fneu.npy")), spks=np.load(os.path.join(plane, "spks.npy")),
             iscell=np.load(os.path.join(plane, "iscell.npy")), seconds=dt, cpu_seconds=cpu, version=version("suite2p"))  # fmt: skip


if __name__ == "__main__":
    torch.set_num_threads(2)
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("register", "sources"))
    ap.add_argument("args", nargs="+")
    ap.add_argument("--rigid", action="store_true")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--diameter", type=float, default=10.0)
    a = ap.parse_args()
    if a.what == "register":
        register(a.args[0], a.args[1], a.rigid)
    else:
        sources(a.args[0], a.args[1], a.args[2], a.fps, a.diameter)
    print(json.dumps({"ok": True}))
