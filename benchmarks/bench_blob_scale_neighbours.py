"""Benchmark: does a bright neighbour make a neuron's own blob read too small for the size check?

Run: `python benchmarks/bench_blob_scale_neighbours.py` (writes
benchmarks/results/blob_scale_neighbours.json).

`shape.blob_scale` of a neuron 7 px from one 10x brighter reads about half its size (1.0-1.25 px
for 1.7-2 px blobs: the neighbour sits in the negative ring of the 2-3 px kernels; h18). The size
check (`TrackParams.size_ratio` 2) refuses a take-back onto a blob more than 2x off the neuron's
template and a jump onto one more than 2x smaller. This measures how often a neuron's OWN peak
reads that far off, at its true place in every frame, and whether a bright neighbour is the
cause: per neuron-frame, the local maximum of the tracker's smoothed frame (sigma 1) nearest the true
position within 2 px (none: the neuron has no peak of its own there, not counted), its blob scale, and the neuron's template (the median of its own scales),
on the frames where it is visible (at least 1/4 of its median brightness);
"refusable" = more than 2x off (a take-back onto it would be refused), "too_small" = more than
2x smaller (a jump onto it would be refused too). A neighbour is "bright" when another neuron's
true place lies within 7 px and its peak is at least 3x this one's.

Data: ZephIR's recording (512 frames, 23 neurons, positions from its annotations; needs PyAV),
the tracking benchmark's synthetic worm (`make_worm_recording`, 300 frames, 20 neurons, seed 101,
red) and the calcium test movies (`make_calcium_tracking_case`, seeds 0-4, green).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

NEAR_PX, BRIGHTER, RATIO = 7.0, 3.0, 2.0


def measure(movie: np.ndarray, truth: np.ndarray) -> dict:
    """Scales of each neuron's own peak at its true places (`truth` (T, N, 2), NaN: none)."""
    from napari_catrack.core.tracking.shape import blob_scale

    T, N, _ = truth.shape
    scale = np.full((T, N), np.nan)
    amp = np.full((T, N), np.nan)
    for t in range(T):
        img = ndi.gaussian_filter(np.asarray(movie[t], np.float32), 1.0, truncate=3.0)
        bg = float(np.median(img))
        ok = np.isfinite(truth[t, :, 0])
        h, w = img.shape
        peak = img == ndi.maximum_filter(img, size=3)  # the local maxima a track can take
        yx = np.clip(np.rint(truth[t, ok]).astype(int), 2, [h - 3, w - 3])
        off = np.stack(np.meshgrid(np.arange(-2, 3), np.arange(-2, 3), indexing="ij"), -1)
        near = (yx[:, None, None] + off).reshape(len(yx), -1, 2)
        is_peak = peak[near[..., 0], near[..., 1]]
        dist = np.where(is_peak, np.linalg.norm(off.reshape(-1, 2), axis=1)[None, :], np.inf)
        best = near[np.arange(len(yx)), dist.argmin(axis=1)]  # the nearest local maximum
        own = np.isfinite(dist.min(axis=1))
        rows = np.flatnonzero(ok)
        best, rows = best[own], rows[own]
        amp[t, rows] = img[best[:, 0], best[:, 1]] - bg
        if len(best):
            scale[t, rows] = blob_scale(img, best)
    with np.errstate(all="ignore"):
        template = np.nanmedian(scale, axis=0)
        off = np.abs(np.log(scale / template[None, :]))
        refusable = off > np.log(RATIO)
        small = scale < template[None, :] / RATIO
        d = np.linalg.norm(truth[:, :, None] - truth[:, None, :], axis=-1)
        d[:, np.arange(N), np.arange(N)] = np.inf
        brighter = amp[:, None, :] >= BRIGHTER * np.maximum(amp[:, :, None], 1e-6)
        bright_nb = ((d < NEAR_PX) & brighter).any(axis=2)
        ten = amp[:, None, :] >= 10.0 * np.maximum(amp[:, :, None], 1e-6)
        bright_10x = ((d < NEAR_PX) & ten).any(axis=2)
        # visible: at least 1/4 of the neuron's median brightness (a dark neuron's place reads
        # a speck's scale, rightly refused)
        visible = amp >= 0.25 * np.nanmedian(amp, axis=0)[None, :]
    have = np.isfinite(scale) & visible

    def part(mask):
        m = mask & have
        n = int(m.sum())
        return {
            "neuron_frames": n,
            "refusable": int((refusable & m).sum()),
            "too_small": int((small & m).sum()),
            "median_scale_over_template": round(
                float(np.nanmedian((scale / template[None, :])[m])), 3
            )
            if n
            else None,
        }

    return {
        "neurons": N,
        "frames": T,
        "templates_px": [round(float(v), 2) for v in template],
        "visible_neuron_frames": int(visible.sum()),
        "visible_without_scale": int((visible & ~np.isfinite(scale)).sum()),
        "without_own_peak": int((np.isfinite(truth[..., 0]) & np.isnan(amp)).sum()),
        "bright_neighbour_within_7px": part(bright_nb),
        "of_which_10x_brighter": part(bright_10x),
        "other": part(~bright_nb),
    }


def main() -> dict:
    out = {
        "command": "python benchmarks/bench_blob_scale_neighbours.py",
        "ratio": RATIO,
        "near_px": NEAR_PX,
        "brighter": BRIGHTER,
    }
    try:
        import bench_tracking_real as real

        movie = real.load_movie()
        gt = real.load_annotations("annotations-g.h5")
        yx, _z, _hand = real.truth_arrays(gt, np.arange(len(movie)))
        out["zephir"] = measure(movie, yx)
    except (SystemExit, OSError, ImportError) as exc:
        out["zephir"] = f"not run: {exc}"
    from napari_catrack.synthetic import make_worm_recording
    from napari_catrack.synthetic.tracking_cases import make_calcium_tracking_case

    rec = make_worm_recording(n_frames=300, shape=(256, 256), n_neurons=20, seed=101)
    out["synthetic_worm"] = measure(np.asarray(rec.red), rec.truth.red_positions)
    out["calcium"] = {}
    for s in range(5):
        case = make_calcium_tracking_case(seed=s)
        out["calcium"][f"seed_{s}"] = measure(np.asarray(case.movie), case.truth)
    for k, v in out.items():
        print(k, json.dumps(v, default=float)[:600])
    path = ROOT / "benchmarks" / "results" / "blob_scale_neighbours.json"
    path.write_text(json.dumps(out, indent=1, default=float) + "\n")
    print("wrote", path)
    return out


if __name__ == "__main__":
    main()
