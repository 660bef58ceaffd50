"""Real data: SIMA's example two-photon movie, registered and its components compared with the
two hand-drawn ImageJ ROIs that come with it (../shared/data/sima).

For each ROI: the best intersection-over-union with a component's footprint (above 20 % of its
peak) and the distance to the nearest component centre. The movie has 20 frames, so
activity-based extraction has little to go on; the numbers are what they are.
Run: python benchmarks/bench_twophoton_sima.py   Writes benchmarks/results/twophoton_sima.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import roifile
from skimage.draw import polygon

from napari_catrack.core.registration import RegisterParams, register_movie
from napari_catrack.core.sources import SourcesParams, extract_sources

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sima"
RESULTS = Path(__file__).resolve().parent / "results" / "twophoton_sima.json"


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no run
    reg = register_movie(DATA / "example.tif", RegisterParams(mode="piecewise", patch_px=64), keep_in_memory=True)  # fmt: skip
    src = extract_sources(reg.movie, SourcesParams(patch_px=0), fps=2.0)
    rows = []
    for roi in roifile.roiread(DATA / "imageJ_ROIs.zip"):
        xy = roi.coordinates()
        mask = np.zeros(reg.movie.shape[1:], bool)
        rr, cc = polygon(xy[:, 1], xy[:, 0], mask.shape)
        mask[rr, cc] = True
        fps_ = [f > 0.2 * f.max() for f in src.footprints]
        iou = [float((mask & f).sum() / (mask | f).sum()) for f in fps_]
        centre = np.array([rr.mean(), cc.mean()])
        d = np.hypot(*(src.components[["y", "x"]].to_numpy() - centre).T)
        k = int(np.argmax(iou))
        rows.append({"roi": roi.name, "area_px": int(mask.sum()), "centre_yx": centre.round(1).tolist(),
                     "best_iou": iou[k], "best_iou_component": int(src.components["neuron_id"].iloc[k]),
                     "nearest_component_px": float(d.min())})  # fmt: skip
    out = {"benchmark": "twophoton_sima", "command": " ".join(sys.argv), "frames": len(reg.shifts),
           "registration": reg.metrics, "components": len(src.components),
           "accepted": int(src.components["accepted"].sum()), "rois": rows}  # fmt: skip
    RESULTS.write_text(json.dumps(out, indent=2, default=float))
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
