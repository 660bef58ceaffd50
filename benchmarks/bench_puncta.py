"""Puncta benchmark: the classical localiser against the simulator's ground truth and side by
side with Picasso (picassosr, its own venv) on the same frames; calcium calls at puncta; tracks;
fitting speed. Writes benchmarks/results/puncta.json.

    python benchmarks/bench_puncta.py            # ~10 min on 2 busy cores

Targets (issue 15): at moderate density Jaccard >= 0.9 (250 nm), lateral RMSE <= 1.2 x CRLB,
bias < 5 nm, recall > 90 % for SNR > 5, calibrated uncertainty (0.8-1.25); calcium sensitivity
>= 0.85 and specificity >= 0.9 per punctum-frame, diffuse events not called; track completeness
>= 70 % for tracks over 10 frames; >= 10,000 classical fits/s on 2 cores (wall clock, and per
CPU-second; the machine's load is recorded with each timing).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from _puncta_eval import (
    load,
    run_picasso,
    score_calcium,
    score_localizations,
    score_tracks,
    write_result,
)
from napari_catrack.core.puncta.fit import available_cores, localize_boxes, resolve_workers
from napari_catrack.core.puncta.localize import localize_classical
from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.core.puncta.pipeline import analyse_puncta
from napari_catrack.core.puncta.psf import render_spots
from napari_catrack.synthetic.puncta import EMCCD, make_puncta_recording

PX = 108.0
FRAMES = 60
SCENARIOS = {
    # name: (scene changes, what it tests)
    "moderate": ({"density_per_um2": 0.25}, "moderate density, sCMOS, Gaussian PSF"),
    "moderate_airy_emccd": (
        {"density_per_um2": 0.25, "psf": "airy", "camera": EMCCD},
        "moderate density, EMCCD, Airy PSF (model mismatch)",
    ),
    "isolated": ({"density_per_um2": 0.05}, "sparse puncta: fitting efficiency"),
    "dim": ({"density_per_um2": 0.25, "photons": 300.0}, "moderate density, 300 photons"),
}
PICASSO_NG = (300, 600, 1200, 2500, 5000, 10000)
# seeds for the calibration over several movies: the benchmark's own (7), held-out seeds no
# constant was chosen on (31-40), and the seeds the unresolved-pair constants were chosen on
# (21-25; core/puncta/unresolved.py), reported apart
SEED_GROUPS = {"benchmark": (7,), "held_out": tuple(range(31, 41)), "tuning": (21, 22, 23, 24, 25)}
SEED_KEYS = ("jaccard", "recall_snr_gt_5", "rmse_nm", "bias_x_nm", "bias_y_nm",
             "rmse_over_crlb", "calibration_z_rms")  # fmt: skip


def tune_picasso(camera, changes) -> float:
    """Picasso's net-gradient threshold picked for its best Jaccard on a separate movie."""
    rec = make_puncta_recording(shape=(128, 128), n_frames=15, seed=99, **changes)
    best = (-1.0, PICASSO_NG[0])
    for ng in PICASSO_NG:
        locs, _ = run_picasso(rec.puncta, camera, ng)
        j = score_localizations(rec.truth.emitters, locs, PX)["jaccard"]
        best = max(best, (j, ng))
    return best[1]


def fit_speed(n: int = 60_000) -> dict:
    """Fits per second of the vectorised MLE alone (7 x 7 boxes, Poisson, sigma free), on one
    thread and on every core (threads over chunks of spots; numpy releases the GIL)."""
    rng = np.random.default_rng(0)
    x, y = 3 + rng.uniform(-0.5, 0.5, n), 3 + rng.uniform(-0.5, 0.5, n)
    boxes = rng.poisson(render_spots((n, 7, 7), np.arange(n), y, x, 1000, 1.2) + 20).astype(float)
    localize_boxes(boxes[:1000], np.zeros(1000), np.zeros(1000), 1.2)  # warm-up
    out = {"boxes": n, "cores": available_cores()}
    for name, workers in (("one_thread", 1), ("all_cores", 0)):
        t0, c0 = time.perf_counter(), time.process_time()
        res = localize_boxes(boxes, np.zeros(n), np.zeros(n), 1.2, workers=workers)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        # on a shared machine the wall-clock rate says more about the neighbours than the
        # fitter: CPU seconds count only this process
        out[name] = {"threads": resolve_workers(workers), "seconds": dt, "cpu_seconds": cpu,
                     "fits_per_s": n / dt, "fits_per_cpu_s": n / cpu,
                     "mean_iterations": float(res.iterations.mean()), "load": load()}  # fmt: skip
    return out


def over_seeds() -> dict:
    """The classical localiser's accuracy and calibration on movies of several seeds, per
    scenario: each seed's numbers, and per seed group the mean and the worst (furthest from 1
    for the calibration ratios, lowest Jaccard and recall, largest |bias|)."""
    out = {}
    for name in ("moderate", "moderate_airy_emccd", "dim"):
        changes = SCENARIOS[name][0]
        per_seed, groups = {}, {}
        for group, seeds in SEED_GROUPS.items():
            rows = []
            for seed in seeds:
                rec = make_puncta_recording(shape=(128, 128), n_frames=FRAMES, seed=seed, **changes)
                locs = localize_classical(rec.puncta, rec.camera, PunctaParams())
                score = score_localizations(rec.truth.emitters, locs, PX)
                per_seed[seed] = {k: score.get(k) for k in SEED_KEYS}
                rows.append(per_seed[seed])
            summary = {}
            for k in SEED_KEYS:
                v = np.array([r[k] for r in rows], float)
                if k in ("rmse_over_crlb", "calibration_z_rms"):
                    worst = v[np.argmax(np.abs(np.log(v)))]
                elif k.startswith("bias"):
                    worst = v[np.argmax(np.abs(v))]
                elif k == "rmse_nm":
                    worst = v.max()
                else:
                    worst = v.min()
                summary[k] = {"mean": float(v.mean()), "worst": float(worst)}
            groups[group] = {"seeds": list(seeds), **summary}
        out[name] = {"groups": groups, "per_seed": per_seed}
        z = groups["held_out"]["calibration_z_rms"]
        print(name, f"held-out error/reported mean {z['mean']:.3f} worst {z['worst']:.3f}",
              flush=True)  # fmt: skip
    return out


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no run
    out: dict = {"load_start": load(), "frames": FRAMES, "shape": [128, 128], "pixel_nm": PX}
    out["fit_speed"] = fit_speed()
    scenarios = {}
    for name, (changes, what) in SCENARIOS.items():
        rec = make_puncta_recording(shape=(128, 128), n_frames=FRAMES, seed=7, **changes)
        t0 = time.perf_counter()
        ours = localize_classical(rec.puncta, rec.camera, PunctaParams())
        ours_s = time.perf_counter() - t0
        ng = tune_picasso(rec.camera, changes)
        peer, timing = run_picasso(rec.puncta, rec.camera, ng)
        scenarios[name] = {
            "what": what,
            "napari_catrack": {
                **score_localizations(rec.truth.emitters, ours, PX),
                "seconds": ours_s,
                "frames_per_s": FRAMES / ours_s,
            },
            "picasso": {
                **score_localizations(rec.truth.emitters, peer, PX),
                "min_net_gradient": ng,
                **timing,
                "frames_per_s": FRAMES / (timing["identify_s"] + timing["fit_s"]),
            },
            "load": load(),
        }
        print(name, {k: round(v["jaccard"], 3) for k, v in scenarios[name].items()
                     if isinstance(v, dict)}, flush=True)  # fmt: skip
    out["localization"] = scenarios
    out["over_seeds"] = over_seeds()
    # calcium and tracks: the whole step on a longer moderate-density movie
    rec = make_puncta_recording(shape=(128, 128), n_frames=200, seed=8)
    t0 = time.perf_counter()
    res = analyse_puncta(rec.puncta, rec.calcium, rec.camera, PunctaParams())
    out["pipeline"] = {
        "frames": 200,
        "seconds": time.perf_counter() - t0,
        "calcium": score_calcium(rec, res.localizations, PX),
        "tracks": score_tracks(rec, res.localizations, PX),
        "stats": res.stats,
        "load": load(),
    }
    out["load_end"] = load()
    write_result("puncta", out)


if __name__ == "__main__":
    main()
