"""What the relative red rule's fraction costs on real neurons (h18-rev2): `--min-red-fraction`
0.05 (the default), 0.1 and 0.2 (h18's first default) of the neuron's 90th-percentile red.

1. Real red: the targettrack volumes (../shared/data/worm/targettrack/data_points, MIT,
   rahi-lab/targettrack; real, DoG-filtered two-channel volumes of a freely moving worm, channel
   0 the red one), each neuron annotated at two time points (ex2-ex6; 282 pairs). Red of a
   neuron = the mean of the 9 brightest voxels in a 7 x 7 x 3 box at its annotation (as ZephIR's
   traces). Per fraction f: the pairs whose dimmer red is below f of the brighter (a real neuron's
   red falling that far with focus and deformation between two time points), and the neurons
   with an annotated neighbour (within 8 px in x-y, 1 plane in z) more than 1/f times brighter
   (a track on it for more than 10 % of the frames makes the neuron's own red fall below f of
   its 90th percentile in every frame on its own neuron). The data are filtered: a DoG filter
   takes more away from a blurred (out of focus) neuron than a camera does.
2. Synthetic (one neuron, 400 frames, `extract_traces` with the defaults but the fraction):
   a red bleaching to 0.3 / 0.15 / 0.1 / 0.05 of its start (no --bleach); a focus dip of both
   channels to 0.3 / 0.15 / 0.1 of their best in 8 % of the frames; the track on a 6 x brighter
   neighbour in 5 / 15 / 30 % of the frames. Samples marked `red_invalid` (on the neuron itself).

Run: python benchmarks/bench_red_fraction.py   -> benchmarks/results/red_fraction.json
"""

from __future__ import annotations

import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_catrack import __version__  # noqa: E402
from napari_catrack.core.signals.extraction import extract_traces  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "worm" / "targettrack" / "data_points"
if not DATA.exists():  # a worktree beside the main checkout: ../shared is one level higher
    DATA = Path("/work/shared/data/worm/targettrack/data_points")
FRACTIONS = (0.05, 0.1, 0.2)


def _red(vol: np.ndarray, p: np.ndarray) -> float:
    """Mean of the 9 brightest red voxels in a 7 x 7 x 3 box at p = (x, y, z); vol (C, X, Y, Z)."""
    x, y, z = (round(float(v)) for v in p)
    box = vol[0, max(x - 3, 0) : x + 4, max(y - 3, 0) : y + 4, max(z - 1, 0) : z + 2]
    return float(np.sort(box.astype(float).ravel())[-9:].mean())


def real_red() -> dict:
    pairs, brighter, seen = [], [], set()
    for ex in ("ex2", "ex3", "ex4", "ex5", "ex6"):
        gt, tar = np.load(DATA / ex / "frame_gt.npy"), np.load(DATA / ex / "frame_tar.npy")
        pg, pt = np.load(DATA / ex / "pts_gt.npy"), np.load(DATA / ex / "pts_tar.npy")
        for a, b in zip(pg, pt, strict=True):
            if np.isfinite(a).all() and np.isfinite(b).all():
                r = sorted((_red(gt, a), _red(tar, b)))
                pairs.append(r[0] / r[1])
        for vol, pts in ((gt, pg), (tar, pt)):  # each distinct volume once (ex3, ex5 share gt)
            key = hash(vol.tobytes())
            if key in seen:
                continue
            seen.add(key)
            pts = pts[np.isfinite(pts).all(axis=1)]
            red = np.array([_red(vol, p) for p in pts])
            dxy = np.linalg.norm(pts[:, None, :2] - pts[None, :, :2], axis=-1)
            dz = np.abs(pts[:, None, 2] - pts[None, :, 2])
            np.fill_diagonal(dxy, np.inf)
            near = (dxy <= 8) & (dz <= 1)
            brighter += [
                red[m].max() / r if m.any() else 0.0 for m, r in zip(near, red, strict=True)
            ]
    pairs, brighter = np.array(pairs), np.array(brighter)
    return {
        "pairs": len(pairs),
        "neurons": len(brighter),
        "pair_ratio_quantiles_1_5_10_25_50": [
            round(float(q), 3) for q in np.quantile(pairs, [0.01, 0.05, 0.1, 0.25, 0.5])
        ],
        "per_fraction": {
            str(f): {
                "pairs_below": int((pairs < f).sum()),
                "neurons_with_a_neighbour_brighter_than_1_over_f": int((brighter > 1 / f).sum()),
            }
            for f in FRACTIONS
        },
    }


T, Y, X = 400, 48, 64


def _movie(rng, parts):
    yy, xx = np.mgrid[:Y, :X]
    g, r = np.full((T, Y, X), 100.0), np.full((T, Y, X), 100.0)
    for (cy, cx), ra, ga in parts:
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.8**2))
        r += ra[:, None, None] * blob
        g += ga[:, None, None] * blob
    r += rng.normal(0, 3, r.shape)
    g += rng.normal(0, 3, g.shape)
    return g.astype(np.float32), r.astype(np.float32)


def _marked(g, r, tracks, keep=None) -> dict:
    out = {}
    for f in FRACTIONS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = extract_traces(g, tracks, r, fps=5.0, min_red_fraction=f)
        inv = df.red_invalid.to_numpy()
        out[str(f)] = int(inv[keep].sum() if keep is not None else inv.sum())
    return out


def synthetic() -> dict:
    rng = np.random.default_rng(0)
    t = np.arange(T)
    one = pd.DataFrame({"neuron_id": "a", "frame": t, "y": 24.0, "x": 32.0})
    res: dict = {"bleach_to": {}, "focus_dip_to": {}, "on_6x_neighbour": {}}
    for end in (0.3, 0.15, 0.1, 0.05):
        ra = 300 * end ** (t / T)
        res["bleach_to"][str(end)] = _marked(*_movie(rng, [((24, 32), ra, 0.5 * ra)]), one)
    for k in (0.3, 0.15, 0.1):
        s = np.where(t % 50 < 4, k, 1.0)
        res["focus_dip_to"][str(k)] = _marked(*_movie(rng, [((24, 32), 300 * s, 150 * s)]), one)
    for p in (0.05, 0.15, 0.3):
        on = rng.random(T) < p
        g, r = _movie(rng, [((24, 26), np.full(T, 100.0), np.full(T, 50.0)),
                            ((24, 36), np.full(T, 600.0), np.full(T, 300.0))])  # fmt: skip
        tracks = one.assign(x=np.where(on, 36.0, 26.0))
        res["on_6x_neighbour"][str(p)] = {"own_frames": int((~on).sum()),
                                          **_marked(g, r, tracks, keep=~on)}  # fmt: skip
    return res


def main() -> None:
    t0 = time.perf_counter()
    out = {"benchmark": "red_fraction", "version": __version__,
           "machine": platform.platform(), "fractions": list(FRACTIONS)}  # fmt: skip
    out["real_targettrack"] = real_red() if DATA.exists() else "data not found"
    out["synthetic_samples_marked"] = synthetic()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    path = ROOT / "benchmarks" / "results" / "red_fraction.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
