"""Bad-input sweep: every `catrack` command against a battery of broken inputs, as a user types them.

For each run it records the exit code, whether stderr is one clear `catrack ...: error:` line
(good) or a traceback / library error (bad), and whether any file that existed before the run
changed or vanished (every file under the work folder is hashed before and after), and whether
an error run left an output behind.

    PYTHONPATH=src python scripts/bad_input_sweep.py WORKDIR [--only CMD,CMD] [--match TEXT]

WORKDIR is made (tiny files: a few MB); the table is printed and written to WORKDIR/sweep.tsv.
Commands run in this process through `cli.main` (one import of each library: the whole sweep
takes a few minutes); `--subprocess` runs each in its own `python -m napari_catrack.cli`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import h5py
import numpy as np
import tifffile

T, H, W = 12, 48, 48  # tiny movies: every command runs in well under a second on them


# --- the battery --------------------------------------------------------------------------------
def _movie(rng, t=T, channels=0) -> np.ndarray:
    """A small movie with a few bright blobs (so steps that need structure find some)."""
    yy, xx = np.mgrid[:H, :W]
    base = 100 + 5 * rng.standard_normal((t, H, W))
    for cy, cx in ((12, 14), (30, 33), (20, 38)):
        base += 400 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)[None]
    movie = np.clip(base, 0, 60000).astype(np.uint16)
    if channels:
        return np.stack([movie] * channels, axis=1)  # T C Y X
    return movie


def _write_tif(path: Path, data: np.ndarray, axes: str | None = None, **kw) -> Path:
    meta = {"axes": axes} if axes else None
    tifffile.imwrite(path, data, metadata=meta, **kw)
    return path


def build_battery(root: Path) -> dict[str, Path]:
    """Every bad input of the brief (and the valid companions), in `root`; name -> path."""
    rng = np.random.default_rng(0)
    b: dict[str, Path] = {}
    root.mkdir(parents=True, exist_ok=True)
    good = root / "good"
    bad = root / "bad"
    good.mkdir(exist_ok=True)
    bad.mkdir(exist_ok=True)

    # valid companions, cropped from the demo's outputs where they need to agree with each other
    b["rec1"] = _write_tif(good / "rec1.tif", _movie(rng), "TYX")  # one channel
    b["rec2"] = _write_tif(good / "rec2.tif", _movie(rng, channels=2), "TCYX")  # green + red
    seeds = good / "seeds.csv"
    seeds.write_text("neuron_id,y,x\n1,12,14\n2,30,33\n3,20,38\n")
    b["seeds"] = seeds
    tracks = good / "tracks.csv"
    tracks.write_text(
        "neuron_id,frame,y,x\n"
        + "".join(f"{n},{f},{y},{x}\n" for f in range(T) for n, y, x in ((1, 12, 14), (2, 30, 33)))
    )
    b["tracks"] = tracks
    t_ = np.arange(200)
    tr = good / "traces.csv"
    lines = ["neuron_id,frame,time_s,dff"]
    for n in (1, 2, 3):
        sig = 0.02 * rng.standard_normal(200)
        for s in (20 + 10 * n, 90 + 7 * n, 150):
            sig[s:] += np.exp(-(t_[s:] - s) / 8.0)
        lines += [f"{n},{f},{f / 10:.1f},{sig[f]:.5f}" for f in range(200)]
    tr.write_text("\n".join(lines) + "\n")
    b["traces"] = tr
    trans = good / "transients.csv"
    rows = ["neuron_id,start_frame,peak_frame,end_frame,peak_amplitude"]
    for n in (1, 2, 3):
        for s in (20 + 10 * n, 90 + 7 * n, 150):
            rows.append(f"{n},{s},{s + 2},{s + 20},1.0")
    trans.write_text("\n".join(rows) + "\n")
    b["transients"] = trans
    align = good / "align.json"
    align.write_text(json.dumps({"dy": 0.0, "dx": 0.0, "rotation_deg": 0.0}))
    b["align"] = align
    masks = np.zeros((T, H, W), np.uint8)
    masks[:, 20:26, 6:42] = 1  # a straight worm
    b["masks"] = _write_tif(good / "masks.tif", masks, "TYX")
    stage = good / "stage.csv"
    stage.write_text(
        "frame,time_s,stage_y_um,stage_x_um\n"
        + "".join(f"{f},{f / 10:.1f},0,{5 * f}\n" for f in range(T))
    )
    b["stage"] = stage
    cl = good / "centerline.csv"
    cl.write_text(
        "frame,point,y,x\n"
        + "".join(f"{f},{p},23,{6 + 3 * p}\n" for f in range(T) for p in range(12))
    )
    b["centerline"] = cl
    ev = good / "events.csv"
    ev.write_text("time_s,event\n3.0,reversal\n8.0,reversal\n13.0,reversal\n")
    b["events"] = ev

    # bad files
    (bad / "empty.tif").write_bytes(b"")
    b["empty.tif"] = bad / "empty.tif"
    for ext in ("tif", "h5", "avi", "csv", "json", "catrack.h5", "yaml"):
        p = bad / f"text.{ext}"
        p.write_text("this is not a movie\n")
        b[f"text.{ext}"] = p
    b["1-frame"] = _write_tif(bad / "one_frame.tif", _movie(rng, t=1), "TYX")
    b["2-frame"] = _write_tif(bad / "two_frames.tif", _movie(rng, t=2), "TYX")
    b["1-frame-2ch"] = _write_tif(bad / "one_frame_2ch.tif", _movie(rng, t=1, channels=2), "TCYX")
    b["2-D"] = _write_tif(bad / "image2d.tif", _movie(rng)[0], "YX")
    b["5-D"] = _write_tif(
        bad / "five_d.tif", np.stack([_movie(rng, channels=2)] * 3, axis=1), "TZCYX"
    )
    rgb = np.stack([_movie(rng)] * 3, axis=-1).astype(np.uint8)
    b["RGB"] = _write_tif(bad / "rgb.tif", rgb, photometric="rgb")
    m = _movie(rng)
    b["float64"] = _write_tif(bad / "float64.tif", m.astype(np.float64), "TYX")
    b["int32"] = _write_tif(bad / "int32.tif", m.astype(np.int32) - 50, "TYX")
    b["big-endian"] = _write_tif(bad / "bigendian.tif", m.astype(">u2"), "TYX", byteorder=">")
    b["zeros"] = _write_tif(bad / "zeros.tif", np.zeros_like(m), "TYX")
    b["zeros-2ch"] = _write_tif(bad / "zeros_2ch.tif", np.zeros((T, 2, H, W), np.uint16), "TCYX")
    nan = np.full((T, H, W), np.nan, np.float32)
    b["NaN"] = _write_tif(bad / "nan.tif", nan, "TYX")
    b["NaN-2ch"] = _write_tif(bad / "nan_2ch.tif", np.stack([nan, nan], 1), "TCYX")
    inf = m.astype(np.float32)
    inf[3, 10:20, 10:20] = np.inf
    b["Inf"] = _write_tif(bad / "inf.tif", inf, "TYX")
    b["Inf-2ch"] = _write_tif(bad / "inf_2ch.tif", np.stack([inf, inf], 1), "TCYX")
    with h5py.File(bad / "no_datasets.h5", "w") as f:
        f.attrs["note"] = "nothing here"
    b["h5-empty"] = bad / "no_datasets.h5"
    with h5py.File(bad / "wrong_name.h5", "w") as f:
        f["imaging"] = m
    b["h5-wrong-name"] = bad / "wrong_name.h5"  # used with --dataset mov
    with h5py.File(bad / "group.h5", "w") as f:
        f.create_group("mov")["data"] = m
    b["h5-group"] = bad / "group.h5"  # used with --dataset mov
    full = _write_tif(bad / "full.tif", m, "TYX")
    raw = full.read_bytes()
    (bad / "truncated.tif").write_bytes(raw[: len(raw) // 2])
    full.unlink()
    b["truncated"] = bad / "truncated.tif"
    full2 = _write_tif(bad / "full2.tif", _movie(rng, channels=2), "TCYX")
    raw = full2.read_bytes()
    (bad / "truncated_2ch.tif").write_bytes(raw[: len(raw) // 2])
    full2.unlink()
    b["truncated-2ch"] = bad / "truncated_2ch.tif"
    b["missing"] = bad / "does_not_exist.tif"
    (bad / "a_folder.tif").mkdir(exist_ok=True)
    b["folder"] = bad / "a_folder.tif"
    b["empty-folder"] = bad / "empty_folder"
    b["empty-folder"].mkdir(exist_ok=True)

    # tables
    (bad / "empty.csv").write_text("")
    for name, text in (("matrix-2x2", "1 0\n0 1\n"), ("matrix-mirror", "-1 0 0\n0 1 0\n"),
                       ("matrix-nan", "1 0 nan\n0 1 0\n"),
                       ("matrix-last-row", "1 0 0\n0 1 0\n1 1 1\n")):  # fmt: skip
        b[name] = bad / f"{name}.txt"
        b[name].write_text(text)
    b["matrix-pickle"] = bad / "matrix_pickle.npy"
    np.save(b["matrix-pickle"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    b["empty.csv"] = bad / "empty.csv"
    (bad / "header_only.csv").write_text("neuron_id,frame,y,x\n")
    b["header-only.csv"] = bad / "header_only.csv"
    (bad / "missing_cols.csv").write_text("a,b\n1,2\n3,4\n")
    b["missing-cols.csv"] = bad / "missing_cols.csv"
    (bad / "wrong_types.csv").write_text(
        "neuron_id,frame,y,x,time_s,dff,start_frame,peak_frame,end_frame,peak_amplitude,point,"
        "stage_y_um,stage_x_um,event\n"
        + "".join("one,zero,up,left,soon,big,a,b,c,d,e,f,g,h\n" for _ in range(5))
    )
    b["wrong-types.csv"] = bad / "wrong_types.csv"
    (bad / "nan_values.csv").write_text(
        "neuron_id,frame,time_s,y,x,dff,start_frame,peak_frame,end_frame,peak_amplitude,point,"
        "stage_y_um,stage_x_um,event\n"
        + "".join(f"1,{f},{f / 10},nan,nan,nan,nan,nan,nan,nan,{f},nan,nan,x\n" for f in range(5))
    )
    b["nan-values.csv"] = bad / "nan_values.csv"
    (bad / "bad.json").write_text("{not json")
    b["bad.json"] = bad / "bad.json"
    (bad / "wrong_keys.json").write_text('{"a": 1}')
    b["wrong-keys.json"] = bad / "wrong_keys.json"
    (bad / "list.json").write_text("[1, 2, 3]")
    b["list.json"] = bad / "list.json"
    with h5py.File(bad / "not_session.catrack.h5", "w") as f:
        f["x"] = np.arange(3)
    b["h5-not-session"] = bad / "not_session.catrack.h5"
    # sessions that must be left as they are (data-safety review 14): a newer version's, one
    # truncated on disk, a read-only one
    from napari_catrack.session import SCHEMA_VERSION, Session

    for name in ("newer", "truncated", "read-only"):
        path = bad / f"{name}.catrack.h5"
        session = Session(path, autosave=False)
        session.record("settings", attrs={"fps": 10.0}, save=False)
        session.save()
        b[f"{name}.catrack.h5"] = path
    with h5py.File(b["newer.catrack.h5"], "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    data = b["truncated.catrack.h5"].read_bytes()
    b["truncated.catrack.h5"].write_bytes(data[: len(data) // 2])
    b["read-only.catrack.h5"].chmod(0o444)
    return b


# --- cases --------------------------------------------------------------------------------------
def cases(b: dict[str, Path], demo: Path | None) -> list[tuple[str, str, list[str]]]:
    """(command, what is bad, argv) for every run. OUT marks a fresh output path."""
    s = {k: str(v) for k, v in b.items()}
    out: list[tuple[str, str, list[str]]] = []

    rec_files_1 = ["empty.tif", "text.tif", "text.h5", "text.avi", "1-frame", "2-frame", "2-D",
                   "5-D", "RGB", "float64", "int32", "big-endian", "zeros", "NaN", "Inf",
                   "h5-empty", "truncated", "missing", "folder", "empty-folder"]  # fmt: skip
    rec_files_2 = ["empty.tif", "text.tif", "text.h5", "1-frame-2ch", "2-D", "5-D", "RGB",
                   "zeros-2ch", "NaN-2ch", "Inf-2ch", "h5-empty", "truncated-2ch", "missing",
                   "folder"]  # fmt: skip
    h5_ds = [("h5-wrong-name", ["--dataset", "mov"]), ("h5-group", ["--dataset", "mov"])]

    def rec_cases(cmd, argv_fn, files, extra_ds=True):
        for name in files:
            out.append((cmd, name, argv_fn(s[name])))
        if extra_ds:
            for name, opts in h5_ds:
                out.append((cmd, f"{name} --dataset mov", argv_fn(s[name]) + opts))

    # recording commands (one channel)
    rec_cases("info", lambda r: ["info", r], rec_files_1)
    rec_cases("summary", lambda r: ["summary", r, "-o", "OUT/summary"], rec_files_1)
    rec_cases("register", lambda r: ["register", r, "--mode", "rigid", "-o", "OUT/reg.tif", "--shifts",
                                     "OUT/shifts.csv"], rec_files_1)  # fmt: skip
    rec_cases("sources", lambda r: ["sources", r, "--fps", "10", "-o", "OUT/src"], rec_files_1)
    rec_cases("segment", lambda r: ["segment", r, "--prompt", "23,20", "--method", "classical",
                                    "-o", "OUT/masks.tif"], rec_files_1)  # fmt: skip
    rec_cases("centerline", lambda r: ["centerline", "--masks", r, "-o", "OUT/cl.csv"],
              rec_files_1, extra_ds=False)  # fmt: skip
    # two-channel commands
    rec_cases("align", lambda r: ["align", r, "-o", "OUT/align.json"], rec_files_2)
    rec_cases("detect", lambda r: ["detect", r, "--no-align", "-o", "OUT/cand.csv"], rec_files_2)
    rec_cases("track", lambda r: ["track", r, "--seeds", s["seeds"], "--no-align", "-o",
                                  "OUT/tracks.csv"], rec_files_2)  # fmt: skip
    rec_cases("traces", lambda r: ["traces", r, "--tracks", s["tracks"], "--no-align", "--fps",
                                   "10", "-o", "OUT/traces.csv"], rec_files_2)  # fmt: skip
    rec_cases("puncta", lambda r: ["puncta", r, "--pixel-size-nm", "100", "-o", "OUT/puncta"],
              rec_files_2)  # fmt: skip

    # tables
    tables = ["empty.csv", "header-only.csv", "missing-cols.csv", "wrong-types.csv",
              "nan-values.csv", "text.tif", "missing", "folder"]  # fmt: skip
    for t in tables:
        out.append(("track", f"--seeds {t}", ["track", s["rec2"], "--seeds", s[t], "--no-align",
                                               "-o", "OUT/tracks.csv"]))  # fmt: skip
        out.append(("traces", f"--tracks {t}", ["traces", s["rec2"], "--tracks", s[t],
                                                 "--no-align", "-o", "OUT/traces.csv"]))  # fmt: skip
        out.append(("transients", f"TRACES {t}", ["transients", s[t], "--fps", "10", "-o",
                                                   "OUT/tr.csv"]))  # fmt: skip
        out.append(("ensembles", f"EVENTS {t}", ["ensembles", s[t], "--fps", "10", "-o",
                                                  "OUT/ens"]))  # fmt: skip
        out.append(("velocity", f"--stage {t}", ["velocity", "--stage", s[t], "--centerline",
                                                  s["centerline"], "--pixel-size", "1", "--fps",
                                                  "10", "-o", "OUT/vel.csv"]))  # fmt: skip
        out.append(("velocity", f"--centerline {t}", ["velocity", "--stage", s["stage"],
                                                       "--centerline", s[t], "--pixel-size", "1",
                                                       "--fps", "10", "-o", "OUT/vel.csv"]))  # fmt: skip
        out.append(("velocity", f"--tracks {t}", ["velocity", "--stage", s["stage"], "--tracks",
                                                   s[t], "--pixel-size", "1", "--fps", "10",
                                                   "-o", "OUT/vel.csv"]))  # fmt: skip
        out.append(("events", f"TRACES {t}", ["events", s[t], "--events", s["events"], "--fps",
                                               "10", "-o", "OUT/ev"]))  # fmt: skip
        out.append(("events", f"--events {t}", ["events", s["traces"], "--events", s[t],
                                                 "--fps", "10", "-o", "OUT/ev"]))  # fmt: skip
        out.append(("train-detector", f"TRACES {t}", ["train-detector", s[t], s["transients"],
                                                       "--fps", "10", "--epochs", "1", "-o",
                                                       "OUT/det.json"]))  # fmt: skip
        out.append(("train-detector", f"TRANSIENTS {t}", ["train-detector", s["traces"], s[t],
                                                           "--fps", "10", "--epochs", "1", "-o",
                                                           "OUT/det.json"]))  # fmt: skip
        out.append(("centerline", f"--masks {t}", ["centerline", "--masks", s[t], "-o",
                                                    "OUT/cl.csv"]))  # fmt: skip
        out.append(("batch", f"MANIFEST {t}", ["batch", s[t], "-o", "OUT/batch"]))
    for j in ("bad.json", "wrong-keys.json", "list.json", "text.tif", "missing"):
        for cmd, extra in (("detect", ["-o", "OUT/c.csv"]),
                           ("track", ["--seeds", s["seeds"], "-o", "OUT/t.csv"]),
                           ("traces", ["--tracks", s["tracks"], "-o", "OUT/tr.csv"])):  # fmt: skip
            out.append((cmd, f"--align {j}", [cmd, s["rec2"], "--align", s[j], *extra]))
        out.append(("puncta", f"--camera {j}", ["puncta", s["rec2"], "--pixel-size-nm", "100",
                                                 "--camera", s[j], "-o", "OUT/p"]))  # fmt: skip
    out.append(("batch", "MANIFEST text.yaml", ["batch", s["text.yaml"], "-o", "OUT/batch"]))

    # sessions
    for sess in ("newer.catrack.h5", "truncated.catrack.h5", "read-only.catrack.h5"):
        out.append(("transients", f"--session {sess}", ["transients", s["traces"], "--fps", "10",
                    "--method", "ksigma", "-o", "OUT/tr.csv", "--session", s[sess]]))  # fmt: skip
    for sess in ("text.catrack.h5", "empty.tif", "h5-not-session", "missing", "folder",
                 "newer.catrack.h5", "truncated.catrack.h5"):  # fmt: skip
        out.append(("export", f"SESSION {sess}", ["export", s[sess], "-o", "OUT/exp"]))
        out.append(("export-nwb", f"SESSION {sess}", ["export-nwb", s[sess], "-o",
                                                       "OUT/x.nwb", "--no-prompt"]))  # fmt: skip
        out.append(("info", f"SESSION {sess}", ["info", s[sess]]))
        out.append(("detect", f"--session {sess}", ["detect", s["rec2"], "--no-align", "-o",
                                                      "OUT/c.csv", "--session", s[sess]]))  # fmt: skip
        out.append(("events", f"TRACES session {sess}", ["events", s[sess], "--events",
                                                          s["events"], "--fps", "10", "-o",
                                                          "OUT/ev"]))  # fmt: skip
    if demo is not None:
        other = str(demo / "demo.catrack.h5")
        for cmd, extra in (
            ("detect", ["--no-align", "-o", "OUT/c.csv"]),
            ("align", ["-o", "OUT/a.json"]),
            ("track", ["--seeds", s["seeds"], "--no-align", "-o", "OUT/t.csv"]),
            ("traces", ["--tracks", s["tracks"], "--no-align", "-o", "OUT/tr.csv"]),
        ):
            out.append((cmd, "--session of another recording", [cmd, s["rec2"], *extra,
                                                                  "--session", other]))  # fmt: skip
        for cmd, extra in (("summary", ["-o", "OUT/sum"]), ("register", ["-o", "OUT/r.tif",
                           "--shifts", "OUT/s.csv"]), ("sources", ["-o", "OUT/src"])):  # fmt: skip
            out.append((cmd, "--session of another recording", [cmd, s["rec1"], *extra,
                                                                  "--session", other]))  # fmt: skip
        out.append(("segment", "--session of another recording",
                    ["segment", s["rec1"], "--prompt", "23,20", "--method", "classical", "-o",
                     "OUT/m.tif", "--session", other]))  # fmt: skip

    # output paths: in a missing folder, equal to the input, an existing folder
    out_cases = {
        "align": (["align", s["rec2"]], "-o", "align.json", s["rec2"]),
        "detect": (["detect", s["rec2"], "--no-align"], "-o", "c.csv", s["rec2"]),
        "track": (
            ["track", s["rec2"], "--seeds", s["seeds"], "--no-align"],
            "-o",
            "t.csv",
            s["seeds"],
        ),
        "traces": (
            ["traces", s["rec2"], "--tracks", s["tracks"], "--no-align"],
            "-o",
            "tr.csv",
            s["tracks"],
        ),
        "transients": (["transients", s["traces"], "--fps", "10"], "-o", "x.csv", s["traces"]),
        "segment": (
            ["segment", s["rec1"], "--prompt", "23,20", "--method", "classical"],
            "-o",
            "m.tif",
            s["rec1"],
        ),
        "centerline": (["centerline", "--masks", s["masks"]], "-o", "cl.csv", s["masks"]),
        "velocity": (
            [
                "velocity",
                "--stage",
                s["stage"],
                "--centerline",
                s["centerline"],
                "--pixel-size",
                "1",
                "--fps",
                "10",
            ],
            "-o",
            "v.csv",
            s["stage"],
        ),
        "register": (
            ["register", s["rec1"], "--mode", "rigid", "--shifts", "OUT/sh.csv"],
            "-o",
            "r.tif",
            s["rec1"],
        ),
        "train-detector": (
            ["train-detector", s["traces"], s["transients"], "--fps", "10", "--epochs", "1"],
            "-o",
            "d.json",
            s["transients"],
        ),
        "summary": (["summary", s["rec1"]], "-o", "sum", None),
        "sources": (["sources", s["rec1"], "--fps", "10"], "-o", "src", None),
        "ensembles": (["ensembles", s["transients"], "--fps", "10"], "-o", "ens", None),
        "events": (
            ["events", s["traces"], "--events", s["events"], "--fps", "10"],
            "-o",
            "ev",
            None,
        ),
        "puncta": (["puncta", s["rec2"], "--pixel-size-nm", "100"], "-o", "p", None),
        "import": (["import", "suite2p", s["empty-folder"]], "-o", "imp", None),
    }
    if demo is not None:
        sess = str(demo / "demo.catrack.h5")
        out_cases["export"] = (["export", sess], "-o", "exp", None)
        out_cases["export-nwb"] = (["export-nwb", sess, "--no-prompt"], "-o", "x.nwb", sess)
    for cmd, (argv, opt, name, same) in out_cases.items():
        out.append((cmd, "-o in a missing folder", [*argv, opt, f"OUT/no/such/dir/{name}"]))
        if same is not None:
            out.append((cmd, "-o equal to an input", [*argv, opt, same]))
        out.append((cmd, "-o an existing folder" if "." in name else "-o an existing file",
                    [*argv, opt, s["folder"] if "." in name else s["stage"]]))  # fmt: skip
    out.append(("register", "--shifts equal to REC", ["register", s["rec1"], "-o", "OUT/r.tif",
                                                       "--shifts", s["rec1"]]))  # fmt: skip

    # numbers
    def num(cmd, base, opt, values=("-1", "0", "nan", "inf")):
        for v in values:
            out.append((cmd, f"{opt} {v}", [*base, f"{opt}={v}"]))

    num("traces", ["traces", s["rec2"], "--tracks", s["tracks"], "--no-align", "-o",
                   "OUT/t.csv"], "--fps")  # fmt: skip
    num("traces", ["traces", s["rec2"], "--tracks", s["tracks"], "--no-align", "-o",
                   "OUT/t.csv"], "--radius")  # fmt: skip
    num("traces", ["traces", s["rec2"], "--tracks", s["tracks"], "--no-align", "-o",
                   "OUT/t.csv"], "--min-red-fraction", ("-1", "nan", "2"))  # fmt: skip
    num("transients", ["transients", s["traces"], "-o", "OUT/x.csv"], "--fps")
    num("transients", ["transients", s["traces"], "--fps", "10", "-o", "OUT/x.csv"],
        "--peak-threshold", ("-1", "nan"))  # fmt: skip
    num("transients", ["transients", s["traces"], "--fps", "10", "--method", "ksigma", "-o",
                       "OUT/x.csv"], "--k", ("-1", "0", "nan"))  # fmt: skip
    num("transients", ["transients", s["traces"], "--fps", "10", "-o", "OUT/x.csv"],
        "--threshold", ("-1", "nan", "2"))  # fmt: skip
    num("ensembles", ["ensembles", s["transients"], "-o", "OUT/e"], "--fps")
    num("ensembles", ["ensembles", s["transients"], "--fps", "10", "-o", "OUT/e"],
        "--percentile", ("-1", "nan", "101"))  # fmt: skip
    num("ensembles", ["ensembles", s["transients"], "--fps", "10", "-o", "OUT/e"],
        "--bin-s", ("-1", "0", "nan"))  # fmt: skip
    num("velocity", ["velocity", "--stage", s["stage"], "--centerline", s["centerline"],
                     "--fps", "10", "-o", "OUT/v.csv"], "--pixel-size")  # fmt: skip
    num("velocity", ["velocity", "--stage", s["stage"], "--centerline", s["centerline"],
                     "--pixel-size", "1", "-o", "OUT/v.csv"], "--fps")  # fmt: skip
    num("velocity", ["velocity", "--stage", s["stage"], "--centerline", s["centerline"],
                     "--pixel-size", "1", "--fps", "10", "-o", "OUT/v.csv"], "--smooth")  # fmt: skip
    num("velocity", ["velocity", "--stage", s["stage"], "--centerline", s["centerline"],
                     "--pixel-size", "1", "--fps", "10", "-o", "OUT/v.csv"], "--stage-scale")  # fmt: skip
    num("velocity", ["velocity", "--stage", s["stage"], "--centerline", s["centerline"],
                     "--pixel-size", "1", "--fps", "10", "-o", "OUT/v.csv"],
        "--stage-time-scale")  # fmt: skip
    num("velocity", ["velocity", "--stage", s["stage"], "--centerline", s["centerline"],
                     "--pixel-size", "1", "--fps", "10", "-o", "OUT/v.csv"], "--still-um-s",
        ("-1", "nan"))  # fmt: skip
    num("events", ["events", s["traces"], "--events", s["events"], "-o", "OUT/ev"], "--fps")
    num("events", ["events", s["traces"], "--events", s["events"], "--fps", "10", "-o",
                   "OUT/ev"], "--pre-s")  # fmt: skip
    num("events", ["events", s["traces"], "--events", s["events"], "--fps", "10", "-o",
                   "OUT/ev"], "--alpha", ("-1", "0", "nan", "2"))  # fmt: skip
    num("events", ["events", s["traces"], "--events", s["events"], "--fps", "10", "-o",
                   "OUT/ev"], "--video-fps")  # fmt: skip
    num("events", ["events", s["traces"], "--events", s["events"], "--fps", "10", "-o",
                   "OUT/ev"], "--events-start-s", ("nan", "inf"))  # fmt: skip
    num("puncta", ["puncta", s["rec2"], "-o", "OUT/p"], "--pixel-size-nm")
    num("puncta", ["puncta", s["rec2"], "--pixel-size-nm", "100", "-o", "OUT/p"], "--threshold")
    num("puncta", ["puncta", s["rec2"], "--pixel-size-nm", "100", "-o", "OUT/p"],
        "--psf-sigma-nm")  # fmt: skip
    num("puncta", ["puncta", s["rec2"], "--pixel-size-nm", "100", "-o", "OUT/p"],
        "--link-distance-nm")  # fmt: skip
    num("register", ["register", s["rec1"], "--mode", "rigid", "-o", "OUT/r.tif", "--shifts", "OUT/s.csv"],
        "--fps")  # fmt: skip
    num("register", ["register", s["rec1"], "--mode", "rigid", "-o", "OUT/r.tif", "--shifts", "OUT/s.csv"],
        "--max-shift-px")  # fmt: skip
    num("register", ["register", s["rec1"], "--mode", "rigid", "-o", "OUT/r.tif", "--shifts", "OUT/s.csv"],
        "--smooth-sigma-px")  # fmt: skip
    num("summary", ["summary", s["rec1"], "-o", "OUT/s"], "--pnr-sigma-px")
    num("sources", ["sources", s["rec1"], "-o", "OUT/src"], "--fps")
    num("sources", ["sources", s["rec1"], "--fps", "10", "-o", "OUT/src"], "--cell-radius-px")
    num("sources", ["sources", s["rec1"], "--fps", "10", "-o", "OUT/src"], "--min-corr",
        ("-1", "nan", "2"))  # fmt: skip
    num("detect", ["detect", s["rec2"], "--no-align", "-o", "OUT/c.csv"], "--sigma")
    num("detect", ["detect", s["rec2"], "--no-align", "-o", "OUT/c.csv"], "--threshold")
    num("detect", ["detect", s["rec2"], "--no-align", "-o", "OUT/c.csv"], "--frame",
        ("-1", "999", "nan"))  # fmt: skip
    num("track", ["track", s["rec2"], "--seeds", s["seeds"], "--no-align", "-o", "OUT/t.csv"],
        "--sigma")  # fmt: skip
    num("track", ["track", s["rec2"], "--seeds", s["seeds"], "--no-align", "-o", "OUT/t.csv"],
        "--gate")  # fmt: skip
    num("track", ["track", s["rec2"], "--seeds", s["seeds"], "--no-align", "-o", "OUT/t.csv"],
        "--seed-frame", ("-1", "999"))  # fmt: skip
    num("align", ["align", s["rec2"], "-o", "OUT/a.json"], "--frames", ("-1", "0"))
    for name in ("matrix-2x2", "matrix-mirror", "matrix-nan", "matrix-last-row", "matrix-pickle",
                 "empty.csv", "text.tif", "missing", "folder"):  # fmt: skip
        out.append(("align", f"--from-matrix {name}",
                    ["align", s["rec2"], "--from-matrix", s[name], "-o", "OUT/a.json"]))  # fmt: skip
    out.append(("align", "--matrix-axes without --from-matrix",
                ["align", s["rec2"], "--matrix-axes", "xy", "-o", "OUT/a.json"]))  # fmt: skip
    num("segment", ["segment", s["rec1"], "--prompt", "23,20", "--method", "classical", "-o",
                    "OUT/m.tif"], "--edge-fraction", ("-1", "0", "nan", "2"))  # fmt: skip
    num("segment", ["segment", s["rec1"], "--prompt", "23,20", "--method", "classical", "-o",
                    "OUT/m.tif"], "--prompt-frame", ("-1", "999"))  # fmt: skip
    for p in ("-5,-5", "999,999", "nan,nan", "1", "a,b"):
        out.append(("segment", f"--prompt {p}", ["segment", s["rec1"], f"--prompt={p}",
                                                  "--method", "classical", "-o", "OUT/m.tif"]))  # fmt: skip
    num("centerline", ["centerline", "--masks", s["masks"], "-o", "OUT/cl.csv"], "--points",
        ("-1", "0", "1", "nan"))  # fmt: skip
    num("centerline", ["centerline", "--masks", s["masks"], "-o", "OUT/cl.csv"], "--smooth")
    num("centerline", ["centerline", "--masks", s["masks"], "-o", "OUT/cl.csv"],
        "--pixel-size")  # fmt: skip
    num("train-detector", ["train-detector", s["traces"], s["transients"], "--epochs", "1",
                           "-o", "OUT/d.json"], "--fps")  # fmt: skip
    num("train-detector", ["train-detector", s["traces"], s["transients"], "--fps", "10", "-o",
                           "OUT/d.json"], "--epochs", ("-1", "0"))  # fmt: skip
    num("train-detector", ["train-detector", s["traces"], s["transients"], "--fps", "10",
                           "--epochs", "1", "-o", "OUT/d.json"], "--learning-rate")  # fmt: skip
    num("train-tracker", ["train-tracker", "-o", "OUT/tt"], "--recordings", ("-1", "0"))
    num("train-tracker", ["train-tracker", "-o", "OUT/tt"], "--lr")
    num("train-puncta", ["train-puncta", "-o", "OUT/tp.json"], "--pixel-size-nm")
    num("train-puncta", ["train-puncta", "-o", "OUT/tp.json"], "--max-density")
    num("import", ["import", "imagej", s["missing"], "-o", "OUT/i"], "--fps")
    for tool in ("suite2p", "caiman", "minian", "imagej"):
        for name in ("missing", "empty-folder", "text.h5", "empty.tif", "text.csv"):
            movie = ["--movie", s["rec1"]] if tool == "imagej" else []
            out.append(("import", f"{tool} {name}", ["import", tool, s[name], *movie, "-o",
                                                      "OUT/imp"]))  # fmt: skip
    num("batch", ["batch", s["text.yaml"], "-o", "OUT/b"], "--workers", ("-1", "0"))
    num("batch", ["batch", s["text.yaml"], "-o", "OUT/b"], "--retries", ("-1",))
    return out


# --- running ------------------------------------------------------------------------------------
_HASHED: dict[tuple, str] = {}  # (path, size, mtime) -> sha1: the demo's 80 MB movie once


def _hashes(root: Path) -> dict[str, str]:
    found = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        if "runs" in Path(dirpath).relative_to(root).parts[:1]:
            continue
        for name in filenames:
            p = Path(dirpath) / name
            try:
                st = p.stat()
                key = (str(p), st.st_size, st.st_mtime_ns, st.st_ino)
                if key not in _HASHED:
                    _HASHED[key] = hashlib.sha1(p.read_bytes()).hexdigest()
                found[str(p)] = _HASHED[key]
            except OSError as exc:
                found[str(p)] = f"unreadable: {exc}"
    return found


def _created(watched: list[Path], before: dict, after: dict) -> list[Path]:
    """Files and folders a run made in the battery (outside `runs/`), so the next run finds
    the battery as built: a `missing` path must stay missing."""
    made = {Path(k) for k in after if k not in before}
    for root in watched:
        for dirpath, dirnames, _ in os.walk(root):
            if Path(dirpath) == root and "runs" in dirnames:
                dirnames.remove("runs")
            for d in dirnames:
                p = Path(dirpath) / d
                if str(p) not in _DIRS.setdefault(str(root), _dirs(root)):
                    made.add(p)
    top = sorted(made, key=lambda p: len(p.parts))
    return [p for p in top if not any(q in p.parents for q in top)]


_DIRS: dict[str, set[str]] = {}


def _dirs(root: Path) -> set[str]:
    return {
        str(Path(d) / n)
        for d, names, _ in os.walk(root)
        for n in names
        if not (Path(d) == root and n == "runs")
    }


def run_one(argv: list[str], subprocess_mode: bool) -> tuple[int | None, str]:
    if subprocess_mode:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        proc = subprocess.run([sys.executable, "-m", "napari_catrack.cli", *argv], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        return proc.returncode, proc.stderr
    from napari_catrack.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc(file=err)
            code = None
    return code, err.getvalue()


def classify(code: int | None, stderr: str) -> tuple[str, str]:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ": error: " in ln and ln.startswith("catrack")]
    if code is None or "Traceback (most recent call last)" in stderr:
        tail = next((ln for ln in reversed(lines) if ln and not ln.startswith(" ")), "")
        return "TRACEBACK", tail[:200]
    if code == 0:
        return "accepted", (lines[-1][:200] if lines else "")
    if errors:
        return "clear", errors[-1][:240]
    return "OBSCURE", (lines[-1][:200] if lines else f"exit {code} with no message")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workdir")
    ap.add_argument("--demo", default=None, help="a `catrack demo -o DIR` folder (its session)")
    ap.add_argument("--only", default=None, help="commands to run, comma-separated")
    ap.add_argument("--match", default=None, help="only cases whose description contains this")
    ap.add_argument("--subprocess", action="store_true")
    args = ap.parse_args()
    root = Path(args.workdir).resolve()
    battery = build_battery(root)
    demo = Path(args.demo).resolve() if args.demo else None
    todo = cases(battery, demo)
    if args.only:
        keep = set(args.only.split(","))
        todo = [c for c in todo if c[0] in keep]
    if args.match:
        todo = [c for c in todo if args.match in c[1]]
    runs = root / "runs"
    rows = []
    watched = [root] + ([demo] if demo else [])
    (runs).mkdir(exist_ok=True)
    for w in watched:
        _DIRS[str(w)] = _dirs(w)  # the folders the battery has before any run
    for i, (cmd, what, argv) in enumerate(todo):
        outdir = runs / f"{i:04d}"
        outdir.mkdir(parents=True, exist_ok=True)
        argv = [a.replace("OUT/", f"{outdir}/") for a in argv]
        before = {k: v for w in watched for k, v in _hashes(w).items()}
        t0 = time.perf_counter()
        code, stderr = run_one(argv, args.subprocess)
        dt = time.perf_counter() - t0
        after = {k: v for w in watched for k, v in _hashes(w).items()}
        changed = [k for k, v in before.items() if after.get(k) != v]
        kind, line = classify(code, stderr)
        left = [str(p.relative_to(outdir)) for p in outdir.rglob("*") if p.is_file()]
        note = []
        if changed:
            note.append("CHANGED: " + ", ".join(Path(c).name for c in changed))
        created = _created(watched, before, after)
        if created:  # outside the run's folder (e.g. `--session missing.tif`): noted, removed
            note.append("CREATED: " + ", ".join(p.name for p in created))
            for p in created:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        if code not in (0, None) and left:
            note.append("LEFT OUTPUT: " + ", ".join(left[:4]))
        rows.append((cmd, what, str(code), kind, f"{dt:.1f}", line, "; ".join(note)))
        print("\t".join(rows[-1]), flush=True)
        if kind == "TRACEBACK":
            (runs / "tracebacks").mkdir(exist_ok=True)
            (runs / "tracebacks" / f"{i:04d}_{cmd}.txt").write_text(" ".join(argv) + "\n" + stderr)
    with open(root / "sweep.tsv", "w", encoding="utf-8") as f:
        f.write("command\tinput\texit\tkind\tseconds\tmessage\tnotes\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    bad = [r for r in rows if r[3] in ("TRACEBACK", "OBSCURE") or r[6]]
    print(f"\n{len(rows)} runs, {len(bad)} bad (traceback, obscure, changed or left output)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
