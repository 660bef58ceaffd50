"""Benchmark: neuron tracking on REAL worm data (ZephIR's example recording), against ZephIR.

Run: `python benchmarks/bench_tracking_real.py [--frames N]` (writes
benchmarks/results/tracking_real.json; `--frames` tracks only N frames around the seed frame and
writes nothing unless `--out` is given). Needs PyAV (`pip install av`) to decode the movie.

Data: ../shared/data/worm/zephir (MIT, venkatachalamlab/ZephIR; see the data README): a
512-frame confocal recording of a semi-immobilised worm (23 z-planes x 200 x 512, the raw
volumes are not public) rendered as `movie.mp4` with three maximum projections of one
fluorescence channel, and ZephIR's corrected tracks of 23 neurons in every frame
(`annotations-g.h5`, coordinates normalised to the volume; 53 rows hand-verified `ANTT`).

What is tracked: the movie's green channel (the only channel drawn; red and blue are ~0),
xy panel = rows 0..199, columns 0..511 of the 604 x 292 frame. The panel is drawn at one
movie pixel per voxel (604 = 512 + 4 x 23, 292 = 200 + 4 x 23: the zy and xz panels are the z
axis stretched 4x), so a ZephIR position is (y * 200, x * 512) in panel pixels; an overlay of
frame 271 puts the positions on the centres of the bright blobs (checked by eye, see
docs/tracking.md). The green panel is given to `track` as the single (green) channel,
`channel="green"`, float32 in 0..255.

Seeds: ZephIR's hand annotations at frame 271 (its first reference frame, `annotations-2.h5`),
tracked forward and backward through all 512 frames; ZephIR's frame-171 annotations are NOT
given (they are not ours to use as anchors: the benchmark measures a one-seed-frame track).
Variants: `model="default"` (patch correlation) and `model="cnn"` (the shipped CNN); trackpy
(locate + link on the same panel, matched to ZephIR's neurons at frame 271) when a venv exists
at /work/venvs/trackpy (or $TRACKPY_VENV).

Variants also include `lost_after=0` (lost tracks off: the tracker before h15, which carried a
neuron without a peak on its motion estimate however long). Each variant's `review` block says
where the failures (> 4 px) sit: by `status` and in the ranked review list (`review_stretches`).

Scores against ZephIR (its positions are themselves a tracker's output, corrected; not ground
truth everywhere): fraction of neuron-frames within 2 and 4 px (xy-panel pixels = voxels),
median and 90th-percentile error, identity swaps (a neuron-frame more than 4 px from its own
neuron and within 2 px of another ZephIR neuron; `swap_events` counts the runs), the same on
the 30 hand-verified rows off the seed frame (frames 171 and 23), and separately for "overlapping" neuron-frames (another neuron of
a different z lies < 4 px away in xy at that frame: one blob in the projection, which no 2-D
tracker can tell apart) and the rest.
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

DATA = ROOT.parent / "shared" / "data" / "worm" / "zephir"
if not DATA.exists():  # a worktree beside the main checkout: ../shared is one level higher
    DATA = Path("/work/shared/data/worm/zephir")
OUT = ROOT / "benchmarks" / "results" / "tracking_real.json"
SEED_FRAME = 271  # ZephIR's first reference frame (metadata.json t_ref)
SHAPE = (23, 200, 512)  # z, y, x of the raw volumes
OVERLAP_PX = 4.0
TRACKPY_PY = Path(os.environ.get("TRACKPY_VENV", "/work/venvs/trackpy")) / "bin" / "python"


def load_movie(path: Path = DATA / "movie.mp4") -> np.ndarray:
    """(T, 200, 512) float32: the xy panel of the movie's green channel, 1 px per voxel."""
    try:
        import av
    except ImportError:
        raise SystemExit(
            "PyAV is not installed: `pip install av` (needed to decode movie.mp4)"
        ) from None
    with av.open(str(path)) as c:
        frames = [
            f.to_ndarray(format="rgb24")[: SHAPE[1], : SHAPE[2], 1] for f in c.decode(video=0)
        ]
    return np.stack(frames).astype(np.float32)


def load_annotations(name: str) -> pd.DataFrame:
    """ZephIR's rows as neuron_id, frame, y, x, z (voxels) and hand (hand-verified)."""
    import h5py

    with h5py.File(DATA / name) as f:
        d = {k: f[k][:] for k in ("t_idx", "worldline_id", "x", "y", "z", "provenance")}
    return pd.DataFrame(
        {
            "neuron_id": d["worldline_id"].astype(int),
            "frame": d["t_idx"].astype(int),
            "y": d["y"].astype(float) * SHAPE[1],
            "x": d["x"].astype(float) * SHAPE[2],
            "z": d["z"].astype(float) * SHAPE[0],
            "hand": d["provenance"] == b"ANTT",
        }
    ).sort_values(["neuron_id", "frame"], ignore_index=True)


def truth_arrays(gt: pd.DataFrame, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, N, 2) y, x; (T, N) z; (T, N) hand flag, for `frames` in order."""
    ids = np.sort(gt.neuron_id.unique())
    g = gt.set_index(["frame", "neuron_id"]).sort_index()
    idx = pd.MultiIndex.from_product([frames, ids])
    sub = g.reindex(idx)
    T, N = len(frames), len(ids)
    return (
        sub[["y", "x"]].to_numpy().reshape(T, N, 2),
        sub["z"].to_numpy().reshape(T, N),
        sub["hand"].fillna(False).to_numpy(dtype=bool).reshape(T, N).copy(),
    )


def overlapping(yx: np.ndarray, z: np.ndarray, px: float = OVERLAP_PX) -> np.ndarray:
    """(T, N) True where another neuron at a different z lies < px away in xy."""
    d = np.linalg.norm(yx[:, :, None] - yx[:, None, :], axis=-1)
    dz = np.abs(z[:, :, None] - z[:, None, :])
    close = (d < px) & (dz >= 1.0)
    close[:, np.arange(yx.shape[1]), np.arange(yx.shape[1])] = False
    return close.any(axis=2)


def score(pred: np.ndarray, yx: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Errors of (T, N, 2) `pred` against `yx`, on the neuron-frames in `mask` (default all)."""
    err = np.linalg.norm(pred - yx, axis=-1)
    d_all = np.linalg.norm(pred[:, :, None] - yx[:, None, :], axis=-1)  # (T, N own, N other)
    n = yx.shape[1]
    d_all[:, np.arange(n), np.arange(n)] = np.inf
    swap = (err > 4.0) & (d_all.min(axis=2) < 2.0)
    m = np.ones(err.shape, bool) if mask is None else mask
    e = np.where(np.isnan(err), np.inf, err)[m]
    events = int((np.diff(swap.astype(int), axis=0, prepend=0) == 1)[m].sum())
    if not len(e):
        return {"n": 0}
    return {
        "n": len(e),
        "within_2px": round(float((e <= 2).mean()), 4),
        "within_4px": round(float((e <= 4).mean()), 4),
        "median_px": round(float(np.median(e)), 3),
        "p90_px": round(float(np.percentile(e, 90)), 3),
        "swap_frames": int(swap[m].sum()),
        "swap_events": events,
    }


TRACKPY_SCRIPT = r"""
import sys, warnings
import numpy as np, trackpy as tp
warnings.filterwarnings("ignore")
tp.quiet()
movie = np.load(sys.argv[1])
f = tp.batch(movie, diameter=7, minmass=float(sys.argv[3]), processes=1)
links = tp.link(f, search_range=6, memory=3)
links[["frame", "particle", "y", "x"]].to_csv(sys.argv[2], index=False)
"""


def run_trackpy(movie, seeds) -> tuple[np.ndarray | None, str]:
    """trackpy on the panel in its venv; each ZephIR neuron gets the particle nearest its seed."""
    if not TRACKPY_PY.exists():
        return None, f"not run: no trackpy venv at {TRACKPY_PY.parent.parent}"
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "m.npy", movie)
        r = subprocess.run(
            [str(TRACKPY_PY), "-c", TRACKPY_SCRIPT, f"{tmp}/m.npy", f"{tmp}/l.csv", "20"],
            capture_output=True,
            text=True,
        )
        if r.returncode:
            return None, f"failed: {r.stderr.strip().splitlines()[-1:]}"
        links = pd.read_csv(Path(tmp) / "l.csv")
    T, ids = len(movie), np.sort(seeds.neuron_id.to_numpy())
    out = np.full((T, len(ids), 2), np.nan)
    at = links[links.frame == SEED_FRAME]
    s = seeds.set_index("neuron_id").loc[ids, ["y", "x"]].to_numpy()
    for i, (y, x) in enumerate(s):
        d = np.hypot(at.y - y, at.x - x)
        if len(d) and d.min() <= 3:
            tr = links[links.particle == at.particle.iloc[int(np.argmin(d))]]
            out[tr.frame.to_numpy(), i] = tr[["y", "x"]].to_numpy()
    return out, "ok (diameter 7, minmass 20, search_range 6, memory 3)"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=None, help="only N frames around the seed")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--no-cnn", action="store_true")
    args = ap.parse_args(argv)
    movie = load_movie()
    gt = load_annotations("annotations-g.h5")
    seeds = load_annotations("annotations-2.h5")
    seeds = seeds[seeds.frame == SEED_FRAME][["neuron_id", "y", "x"]]
    lo, hi = 0, len(movie)
    if args.frames:
        lo = max(0, SEED_FRAME - args.frames // 2)
        hi = min(len(movie), lo + args.frames)
    frames = np.arange(lo, hi)
    yx, z, hand = truth_arrays(gt, frames)
    hand[SEED_FRAME - lo] = False  # the seeds themselves: scored as given, not tracked
    ov = overlapping(yx, z)
    sub = movie[lo:hi]
    res = {
        "data": "ZephIR example (movie.mp4 xy panel, green; annotations-g.h5)",
        "frames": [int(lo), int(hi - 1)],
        "seed_frame": SEED_FRAME,
        "neurons": int(yx.shape[1]),
        "neuron_frames": int(yx.shape[0] * yx.shape[1]),
        "hand_verified_rows_scored": int(hand.sum()),
        "overlapping_neuron_frames": int(ov.sum()),
        "seeds_vs_zephir_at_seed_px": round(
            float(np.nanmax(np.linalg.norm(yx[SEED_FRAME - lo] - seeds.sort_values(
                "neuron_id")[["y", "x"]].to_numpy(), axis=1))), 4),
        "variants": {},
    }  # fmt: skip
    import napari_catrack.core.tracking.tracker as trk
    from napari_catrack.core.tracking import TrackParams

    # the green panel is tracked as green: the default brightness rules are the calcium ones
    # (h16); "steady" are the rules before h16 (a structural channel)
    variants = {
        "default": ("default", {}),
        "brightness=steady (before h16)": ("default", {"brightness": "steady"}),
        "lost_after=0 (before h15)": ("default", {"lost_after": 0, "brightness": "steady"}),
    }
    if not args.no_cnn:
        variants["cnn"] = ("cnn", {})
    for name, (model, changes) in variants.items():
        params = TrackParams(**changes) if changes else None
        # track() takes the seed frame in the (cropped) stack's frame numbers
        pred, wall = _run_window(trk, sub, seeds, SEED_FRAME - lo, model, params)
        res["variants"][name] = _scores(pred, yx, hand, ov, wall)
        res["variants"][name]["review"] = review_scores(*_run_window.last, yx)
        print(name, json.dumps(res["variants"][name]["all"]))
        print("  review", json.dumps(res["variants"][name]["review"]))
    if not args.frames:
        pred, status = run_trackpy(movie, seeds)
        res["variants"]["trackpy"] = (
            {"status": status}
            if pred is None
            else {"status": status, **_scores(pred, yx, hand, ov)}
        )
        print("trackpy", status)
    out = args.out or (None if args.frames else OUT)
    if out is not None:
        out.write_text(json.dumps(res, indent=1) + "\n")
        print("wrote", out)
    return res


def _run_window(trk, sub, seeds, seed_frame, model, params=None):
    t0 = time.perf_counter()
    out = trk.track(None, sub, seeds, seed_frame, channel="green", model=model, params=params)
    wall = time.perf_counter() - t0
    ids = np.sort(seeds.neuron_id.to_numpy())
    p = out.set_index(["frame", "neuron_id"]).sort_index()
    p = p.reindex(pd.MultiIndex.from_product([np.arange(len(sub)), ids]))
    _run_window.last = (out, p)  # the table, for the review scores
    return p[["y", "x"]].to_numpy().reshape(len(sub), len(ids), 2), wall


def review_scores(out: pd.DataFrame, wide: pd.DataFrame, yx: np.ndarray) -> dict:
    """Where the failures (> 4 px from ZephIR) sit: by status, and in the review list
    (`review_stretches` with the default threshold and gap): the fraction of failures inside a
    listed stretch, inside the first 5 and 10 listed, and the fraction of listed frames that
    fail (`bench_review_ranking.py` compares the ranking before h18)."""
    from napari_catrack.core.tracking import review_stretches

    T, N = yx.shape[:2]
    pred = wide[["y", "x"]].to_numpy().reshape(T, N, 2)
    bad = np.linalg.norm(pred - yx, axis=-1) > 4.0
    status = wide["status"].to_numpy().reshape(T, N) if "status" in wide else None
    review = review_stretches(out)
    col = {n: i for i, n in enumerate(np.sort(out.neuron_id.unique()))}
    listed = np.zeros((T, N), bool)
    top5 = np.zeros((T, N), bool)
    top10 = np.zeros((T, N), bool)
    for r in review.itertuples():
        listed[r.start_frame : r.end_frame + 1, col[r.neuron_id]] = True
        if r.rank <= 5:
            top5[r.start_frame : r.end_frame + 1, col[r.neuron_id]] = True
        if r.rank <= 10:
            top10[r.start_frame : r.end_frame + 1, col[r.neuron_id]] = True
    n_bad = max(int(bad.sum()), 1)
    res = {
        "failures_gt4px": int(bad.sum()),
        "review_places": len(review),
        "listed_neuron_frames": int(listed.sum()),
        "failures_in_listed": round(float((bad & listed).sum() / n_bad), 4),
        "failures_in_first_5_places": round(float((bad & top5).sum() / n_bad), 4),
        "failures_in_first_10_places": round(float((bad & top10).sum() / n_bad), 4),
        "listed_that_fail": round(float((bad & listed).sum() / max(listed.sum(), 1)), 4),
    }
    if status is not None:
        res["status_neuron_frames"] = {s: int((status == s).sum()) for s in np.unique(status)}
        res["failures_by_status"] = {s: int((bad & (status == s)).sum()) for s in np.unique(status)}
    return res


def _scores(pred, yx, hand, ov, wall=None) -> dict:
    d = {
        "all": score(pred, yx),
        "hand_verified": score(pred, yx, hand),
        "not_overlapping": score(pred, yx, ~ov),
        "overlapping": score(pred, yx, ov),
        "per_neuron_within_4px": [
            round(float(v), 3) for v in (np.linalg.norm(pred - yx, axis=-1) <= 4).mean(axis=0)
        ],
    }
    if wall is not None:
        d["wall_s"] = round(wall, 2)
    return d


if __name__ == "__main__":
    main()
