"""Benchmark: a full affine red → green alignment on real two-channel worm data.

Data: targettrack's real red/green head volumes (`../shared/data/worm/targettrack`, ex2, ex3,
ex4, ex6; ex5 is the same file as ex3), z max projections (160 × 256), their own cross-channel
differences left in. Added to red: (a) wbfm's measured dual-camera matrix
(`../shared/data/worm/wbfm`, read as OpenCV's green-to-red map), (b) aspect 0.98 and shear 0.02
with a small shift and rotation. Truth = the added map composed with the pair's own affine
estimate. Reported: the largest error at the frame's four corners (px, Euclidean; the corners
lie far from the worm, so this is the strict measure) for the rigid estimate, `--scale` and
`--affine`.
Run: python benchmarks/bench_alignment_affine.py   (writes benchmarks/results/alignment_affine.json)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_catrack.core.alignment import estimate_alignment
from napari_catrack.core.alignment_matrix import read_matrix, reading
from napari_catrack.core.rigid import AlignmentTransform

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "worm"
EXAMPLES = ("ex2", "ex3", "ex4", "ex6")
MODES = {"rigid": {}, "scale": {"estimate_scale": True}, "affine": {"estimate_affine": True}}


def make_red(img: np.ndarray, t: AlignmentTransform) -> np.ndarray:
    m = t.matrix(img.shape)
    return ndimage.affine_transform(img, m[:2, :2], offset=m[:2, 2], order=3)


def main() -> None:
    calibration = read_matrix(DATA / "wbfm" / "warp_mat_green_to_red_2022-04-09.npy")
    rows = []
    for ex in EXAMPLES:
        vol = np.load(DATA / "targettrack" / "data_points" / ex / "frame_gt.npy").astype(np.float32)
        red0, green = (vol[c].max(axis=2).T for c in (0, 1))
        shape = green.shape
        h, w = shape
        corners = np.array([[0, 0, 1], [0, w - 1, 1], [h - 1, 0, 1], [h - 1, w - 1, 1]], float)
        native = estimate_alignment(green, red0, estimate_affine=True)
        added = {
            "wbfm": reading(calibration, shape, "xy", "green-to-red"),
            "aspect0.98_shear0.02": AlignmentTransform(1.0, -2.0, 0.5, aspect=0.98, shear=0.02),
        }
        for name, t in added.items():
            truth = t.matrix(shape) @ native.matrix(shape)
            red = make_red(red0, t)
            row = {"example": ex, "added": name}
            for mode, kw in MODES.items():
                t0 = time.perf_counter()
                est = estimate_alignment(green, red, **kw)
                row[f"{mode}_s"] = round(time.perf_counter() - t0, 3)
                diff = (corners @ est.matrix(shape).T - corners @ truth.T)[:, :2]
                row[f"{mode}_corner_err_px"] = round(float(np.linalg.norm(diff, axis=1).max()), 3)
                row[f"{mode}_ncc"] = est.info["ncc"]
            rows.append(row)
            print(row)
    out = Path(__file__).parent / "results" / "alignment_affine.json"
    summary = {
        mode: {
            "corner_err_px_min": min(r[f"{mode}_corner_err_px"] for r in rows),
            "corner_err_px_median": float(np.median([r[f"{mode}_corner_err_px"] for r in rows])),
            "corner_err_px_max": max(r[f"{mode}_corner_err_px"] for r in rows),
        }
        for mode in MODES
    }
    out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
