"""Benchmark: behaviour on synthetic crawling-worm videos, side by side with the usual baseline.

Run: `python benchmarks/bench_behaviour.py [--quick]` (writes benchmarks/results/behaviour.json).

Data: `make_behaviour_video` (256 x 256, 15 fps, 8 µm/px: a 1 mm worm is 125 px long and 10 px
wide), forward runs, reversals, omega coils and a stage that follows the worm, for several
seeds in both polarities (bright-field dark worm, dark-field bright worm). Every video is
segmented from ONE prompt point on frame 0 (the classical method; SAM needs weights that cannot
be downloaded here, see bench_behaviour_sam.py).

Metrics against the ground truth (napari_catrack.core.behaviour.scoring):
- masks: median IoU per video (target >= 0.92);
- centerline: median point error (px) with 50 points head first (target <= 1.5), head/tail
  flips as % of frames (target <= 1 %), frames without a centerline (target 0);
- velocity: Pearson r of the signed speed with the true one (target >= 0.95), direction right
  on moving frames (target >= 95 %);
- speed: frames/s of segmentation + centerline on 256 x 256 frames (target >= 50 on 2 cores):
  segmentation is sequential (each frame is prompted by the previous one), the per-frame
  centerlines run in a worker process at the same time, as `segment_and_centerline` (and
  `catrack centerline REC --prompt`) does. On a shared machine the wall clock measures the
  neighbours too (the load is recorded), so the frames/s from the process's own CPU time is
  reported beside it.

Baseline (what a user would otherwise do): Otsu threshold of each frame + its largest
connected component + skeletonize (scikit-image) + the skeleton's longest path resampled to 50
points, ends as they come (no head/tail tracking), on the same frames. Timings are wall-clock
on a shared 2-core machine: the load is recorded and they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_catrack.core.behaviour import (  # noqa: E402
    Anchor,
    CenterlineParams,
    SegmentParams,
    VelocityParams,
    compute_centerlines,
    compute_velocity,
    segment_video,
)
from napari_catrack.core.behaviour.centerline import _longest_path, resample  # noqa: E402
from napari_catrack.core.behaviour.scoring import (  # noqa: E402
    centerline_errors,
    mask_iou,
    velocity_scores,
)
from napari_catrack.synthetic.behaviour import make_behaviour_video  # noqa: E402


def otsu_baseline(frames: np.ndarray, dark: bool, n_points: int = 50):
    """Otsu + largest component + skeleton longest path, per frame (no temporal logic)."""
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu
    from skimage.morphology import skeletonize

    masks = np.zeros(frames.shape, bool)
    points = np.full((len(frames), n_points, 2), np.nan)
    for t, f in enumerate(frames):
        fg = f < threshold_otsu(f) if dark else f > threshold_otsu(f)
        lab, n = ndi.label(fg)
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        m = lab == int(np.argmax(sizes))
        masks[t] = m
        path = _longest_path(skeletonize(m))
        if path is not None and len(path) > 1:
            points[t] = resample(path.astype(float), n_points)
    return masks, points


def run_video(seed: int, polarity: str, n_frames: int) -> dict:
    video = make_behaviour_video(n_frames, seed=seed, polarity=polarity)
    truth = video.truth
    T = len(video.frames)
    out: dict = {"seed": seed, "polarity": polarity, "frames": T, "load_1min": os.getloadavg()[0],
                 "coiled_frames_truth": int(truth.coiled.sum())}  # fmt: skip
    # --- ours: one prompt on frame 0, classical; centerlines in a parallel thread
    t0, c0 = time.perf_counter(), time.process_time()
    seg = segment_video(video.frames, Anchor(0, [truth.centerline[0, 50]], [1]),
                        SegmentParams(method="classical"))  # fmt: skip
    t_seg, c_seg = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    cl = compute_centerlines(seg.masks, CenterlineParams(points=50))
    t_cl, c_cl = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    from napari_catrack.core.behaviour.pipeline import segment_and_centerline

    seg2, cl2 = segment_and_centerline(
        video.frames, Anchor(0, [truth.centerline[0, 50]], [1]),
        SegmentParams(method="classical"), CenterlineParams(points=50), processes=1,
    )  # fmt: skip
    t_both = time.perf_counter() - t0
    assert np.array_equal(seg2.masks, seg.masks)
    assert np.array_equal(cl2.points, cl.points)
    iou = mask_iou(seg.masks, truth.masks)
    err, flipped = centerline_errors(cl.points, truth.centerline)
    times = np.arange(T) / video.fps
    vel = compute_velocity(cl.points.mean(axis=1), times, truth.stage_um, (256, 256),
                           VelocityParams(pixel_size_um=video.pixel_size_um),
                           body_px=cl.points)  # fmt: skip
    r, right = velocity_scores(vel.signed_speed_um_s, vel.direction, truth.signed_speed_um_s,
                               truth.direction)  # fmt: skip
    out["ours"] = {
        "mask_iou_median": float(np.median(iou)),
        "mask_iou_p10": float(np.percentile(iou, 10)),
        "centerline_error_median_px": float(np.median(err)),
        "centerline_error_median_px_not_coiled": float(np.median(err[~truth.coiled])),
        "centerline_error_median_px_coiled": float(np.median(err[truth.coiled]))
        if truth.coiled.any()
        else None,
        "head_tail_flips_pct": 100.0 * float(flipped.mean()),
        "frames_without_centerline": int((~np.isfinite(cl.points).all(axis=(1, 2))).sum()),
        "status_counts": {
            s: int((cl.status == s).sum()) for s in ("ok", "coiled", "filled", "failed")
        },
        "velocity_r": r,
        "direction_right_moving_pct": 100.0 * right,
        "segmentation_frames_per_s": T / t_seg,
        "centerline_frames_per_s": T / t_cl,
        "segment_plus_centerline_frames_per_s_serial": T / (t_seg + t_cl),
        "segment_plus_centerline_frames_per_s_2_processes": T / t_both,
        "cpu_ms_per_frame_segmentation": 1000 * c_seg / T,
        "cpu_ms_per_frame_centerline": 1000 * c_cl / T,
        "segment_plus_centerline_frames_per_s_from_cpu_time": T / (c_seg + c_cl),
    }
    # --- baseline
    t0, c0 = time.perf_counter(), time.process_time()
    b_masks, b_points = otsu_baseline(video.frames, dark=polarity == "dark")
    t_base, c_base = time.perf_counter() - t0, time.process_time() - c0
    ok = np.isfinite(b_points).all(axis=(1, 2))
    b_err, b_flip = centerline_errors(np.nan_to_num(b_points), truth.centerline)
    b_iou = mask_iou(b_masks, truth.masks)
    out["otsu_baseline"] = {
        "mask_iou_median": float(np.median(b_iou)),
        "mask_iou_p10": float(np.percentile(b_iou, 10)),
        "centerline_error_median_px": float(np.median(b_err[ok])) if ok.any() else None,
        "head_tail_flips_pct": 100.0 * float(b_flip[ok].mean()) if ok.any() else None,
        "frames_without_centerline": int((~ok).sum()),
        "frames_per_s": T / t_base,
        "frames_per_s_from_cpu_time": T / c_base,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short video per polarity")
    parser.add_argument("--frames", type=int, default=600)
    args = parser.parse_args()
    seeds = (11,) if args.quick else (11, 12, 13)
    n = 200 if args.quick else args.frames
    load_before = os.getloadavg()
    videos = [run_video(s, p, n) for s in seeds for p in ("dark", "bright")]

    def med(key, who="ours"):
        vals = [v[who][key] for v in videos if v[who][key] is not None]
        return float(np.median(vals)) if vals else None

    summary = {
        "mask_iou_median": med("mask_iou_median"),
        "mask_iou_median_otsu": med("mask_iou_median", "otsu_baseline"),
        "centerline_error_median_px": med("centerline_error_median_px"),
        "centerline_error_median_px_otsu": med("centerline_error_median_px", "otsu_baseline"),
        "head_tail_flips_pct_max": max(v["ours"]["head_tail_flips_pct"] for v in videos),
        "head_tail_flips_pct_otsu_median": med("head_tail_flips_pct", "otsu_baseline"),
        "frames_without_centerline": sum(v["ours"]["frames_without_centerline"] for v in videos),
        "velocity_r_min": min(v["ours"]["velocity_r"] for v in videos),
        "direction_right_moving_pct_min": min(
            v["ours"]["direction_right_moving_pct"] for v in videos
        ),
        "segment_plus_centerline_frames_per_s_2_processes": med(
            "segment_plus_centerline_frames_per_s_2_processes"
        ),
        "segment_plus_centerline_frames_per_s_serial": med(
            "segment_plus_centerline_frames_per_s_serial"
        ),
        "segment_plus_centerline_frames_per_s_from_cpu_time": med(
            "segment_plus_centerline_frames_per_s_from_cpu_time"
        ),
        "otsu_baseline_frames_per_s": med("frames_per_s", "otsu_baseline"),
        "otsu_baseline_frames_per_s_from_cpu_time": med(
            "frames_per_s_from_cpu_time", "otsu_baseline"
        ),
    }
    targets = {
        "mask_iou_median >= 0.92": summary["mask_iou_median"] >= 0.92,
        "centerline_error_median_px <= 1.5": summary["centerline_error_median_px"] <= 1.5,
        "head_tail_flips <= 1 %": summary["head_tail_flips_pct_max"] <= 1.0,
        "no frame missing": summary["frames_without_centerline"] == 0,
        "velocity r >= 0.95": summary["velocity_r_min"] >= 0.95,
        "direction right >= 95 % of moving frames": summary["direction_right_moving_pct_min"] >= 95,
        "segmentation + centerline >= 50 frames/s (wall clock, shared machine)": summary[
            "segment_plus_centerline_frames_per_s_2_processes"
        ]
        >= 50,
        "segmentation + centerline >= 50 frames/s (process CPU time)": summary[
            "segment_plus_centerline_frames_per_s_from_cpu_time"
        ]
        >= 50,
    }
    result = {
        "command": "python benchmarks/bench_behaviour.py" + (" --quick" if args.quick else ""),
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
        "frame_shape": [256, 256],
        "summary": summary,
        "targets_met": targets,
        "videos": videos,
    }
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / ("behaviour_quick.json" if args.quick else "behaviour.json")
    )
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({"summary": summary, "targets_met": targets}, indent=2))
    print("wrote", out)


if __name__ == "__main__":
    main()
