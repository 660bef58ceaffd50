"""Benchmark: the centerline's body width (`width_px`) and the velocity at a stretch's ends (h20).

width   - `mask_centerline(mask).width` against the truth: 92 bent worms drawn at known widths
          (5-16 px, pixels whose centre lies within width / 2 of a sine curve, random direction
          and sub-pixel position), and every 8th labelled WormPose frame (classical masks, and
          masks derived from the labels) against the labels' median width.
ends    - velocity (`derivative`, window 0.5 s, order 2; with `limit_ends` as `compute_velocity`
          gives it since h21, and without) at the first and last frame of each stretch between
          the Scholz et al. 2018 path's gaps, against the steps beside them; on a straight crawl
          at 100 µm/s with 2 µm position noise at 12 Hz (300 runs) the rms error at the end
          frames and inside, and the end-frame error at 100 µm/s² (no noise); on two synthetic
          crawling worms (600 frames, 15 Hz) the end frames' error against the centred window.
Run: PYTHONPATH=src python benchmarks/bench_behaviour_width_ends.py  (about 1.5 min)
Writes benchmarks/results/behaviour_width_ends.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "worm"


def _band(width: float, rng) -> np.ndarray:
    from scipy.spatial import cKDTree

    length, amp, per = rng.uniform(80, 140), rng.uniform(0, 12), rng.uniform(0.8, 2)
    s = np.linspace(0, length, 3000)
    bend = amp * np.sin(2 * np.pi * s / length * per)
    a = rng.uniform(0, np.pi)
    x = 100 + np.cos(a) * (s - length / 2) - np.sin(a) * bend + rng.uniform(0, 1)
    y = 100 + np.sin(a) * (s - length / 2) + np.cos(a) * bend + rng.uniform(0, 1)
    yy, xx = np.mgrid[0:200, 0:200]
    d, _ = cKDTree(np.c_[y, x]).query(np.c_[yy.ravel(), xx.ravel()])
    return (d <= width / 2).reshape(yy.shape)


def width() -> dict:
    import h5py
    from PIL import Image

    from napari_catrack.core.behaviour import Anchor, SegmentParams, segment_video
    from napari_catrack.core.behaviour.centerline import mask_centerline
    from napari_catrack.core.behaviour.scoring import derived_mask

    rng = np.random.default_rng(0)
    ratio = np.array([mask_centerline(_band(w, rng)).width / w
                      for w in np.linspace(5, 16, 23) for _ in range(4)])  # fmt: skip
    out = {"synthetic": {"worms": len(ratio), "mean": ratio.mean(), "sd": ratio.std(),
                         "p5": np.percentile(ratio, 5), "p95": np.percentile(ratio, 95)}}  # fmt: skip
    folder = DATA / "wormpose" / "sample_data"
    with h5py.File(folder / "features.h5") as f:
        skel, widths = f["skeletons"][:], f["width"][:]
    frames = np.flatnonzero(np.isfinite(skel[:, 0, 0]))[::8]
    seg, der = [], []
    for i in frames:
        mask = derived_mask(skel[i][:, ::-1] + 10.5, widths[i], (140, 140))
        der.append(mask_centerline(mask).width)
        img = np.asarray(Image.open(folder / f"{i:05d}.png"))
        prompt = Anchor(0, [skel[i][26][::-1] + 0.5], [1])
        found = segment_video(img[None], prompt, SegmentParams(method="classical")).masks[0]
        cl = mask_centerline(found)
        seg.append(cl.width if cl is not None else np.nan)
    labels = np.median(widths[frames], axis=1)
    out["wormpose"] = {"frames": len(frames), "label_median_px": np.median(labels),
                       "classical_median_px": np.nanmedian(seg),
                       "classical_ratio": np.nanmedian(np.array(seg) / labels),
                       "derived_median_px": np.nanmedian(der)}  # fmt: skip
    return out


def ends() -> dict:
    """The stretch ends as `compute_velocity` gives them (`limit_ends`, h21) and as the plain
    Savitzky-Golay derivative (scipy's `mode="interp"`) does; and, on the synthetic crawling
    worm (its centroid, with the body wave's sideways sway), the end frames' error against the
    centred window on the unbroken track, the stretches cut every 40 frames."""
    import h5py

    from napari_catrack.core.behaviour.velocity import derivative, time_gaps
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    name = "ScholzEtAl2018.AML175_moving.BrainScanner20180223_141721.nwb"
    with h5py.File(DATA / "scholz2018" / name) as f:
        acq = f["acquisition"]
        t = acq["Activity_0000/timestamps"][:]
        xy = acq["Tracked 2D position/ss_2D/data"][:] * 1e6
    steps = np.hypot(*np.diff(xy, axis=0).T) / np.diff(t)
    cuts = [i + 1 for i, _ in time_gaps(t, 0.5)]
    rng = np.random.default_rng(0)
    tt = np.arange(120) / 12
    crawls = [100 * tt + rng.normal(0, 2, tt.size) for _ in range(300)]
    worms = []
    for seed in range(2):
        v = make_behaviour_video(600, (64, 64), seed=seed, n_debris=0)
        worms.append(v.truth.centroid_um)
    out = {}
    for label, limit in (("limited", True), ("interp", False)):
        speed = np.hypot(*derivative(xy, t, 0.5, 2, limit_ends=limit).T)
        over = []
        for lo, hi in zip([0, *cuts], [*cuts, len(t)], strict=True):
            for end, beside in ((lo, steps[lo : lo + 2]), (hi - 1, steps[hi - 3 : hi - 1])):
                over.append((speed[end] / beside.max(), int(end)))
        worst = max(over)
        errs = np.array([derivative(np.stack([x, 0 * x], 1), tt, 0.5, 2, limit_ends=limit)[:, 0]
                         - 100 for x in crawls])  # fmt: skip
        acc = derivative(np.stack([50 * tt**2, 0 * tt], 1), tt, 0.5, 2,
                         limit_ends=limit)[:, 0] - 100 * tt  # fmt: skip
        worm_end, worm_inside = [], []
        for c in worms:
            tw = np.arange(len(c)) / 15.0
            ref = derivative(c, tw, 0.5, 2)  # the centred window, no stretch end near
            for lo in range(0, len(c) - 39, 40):
                d = derivative(c[lo : lo + 40], tw[lo : lo + 40], 0.5, 2, limit_ends=limit)
                err = np.hypot(*(d - ref[lo : lo + 40]).T)
                worm_end += [err[0], err[-1]]
                worm_inside += list(err[5:-5])
        out[label] = {
            "scholz": {"ends": len(over), "worst_ratio_to_adjoining_steps": worst[0],
                       "worst_frame": worst[1], "ends_over_their_steps":
                       int(sum(r > 1 + 1e-9 for r, _ in over)),
                       "frame_563_um_s": float(speed[563])},
            "noise_rms_um_s": {"end": errs[:, [0, -1]].std(), "second": errs[:, [1, -2]].std(),
                               "third": errs[:, [2, -3]].std(),
                               "inside": errs[:, 10:-10].std()},
            "accelerating_end_error_um_s": {"first": float(abs(acc[0])),
                                            "last": float(abs(acc[-1]))},
            "synthetic_worm_vs_centred_rms_um_s": {
                "end": float(np.sqrt(np.mean(np.square(worm_end)))),
                "inside": float(np.sqrt(np.mean(np.square(worm_inside))))},
        }  # fmt: skip
    return out


def main() -> None:
    result = {"width": width(), "ends": ends()}
    text = json.dumps(result, indent=2, default=float)
    print(text)
    out = Path(__file__).parent / "results" / "behaviour_width_ends.json"
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
