"""Post-hoc calibration of the network's position uncertainties on held-out simulated movies.

DECODE's loss trains the standard deviations, but a small network trained for a few thousand
steps on a CPU reports them too small (the first shipped model by 1.1-2.2x), and its errors
include what no per-pixel Gaussian knows about (a neighbour mistaken for the punctum at high
density). So after training, the network localises clips it has never seen, drawn from the same
range as training, its errors against the truth are measured, and the reported standard
deviation becomes sd' = sqrt((a sd)^2 + b^2), with a and b maximising the Gaussian likelihood of
the errors (a variance-scaling recalibration, Levi et al. 2022 "Evaluating and calibrating
uncertainty prediction in regression tasks"). a and b are stored in the model's JSON.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.optimize import minimize

from napari_catrack.core.puncta.params import PunctaParams, TrainPunctaParams

CLIP_SHAPE = (64, 64)
MATCH_NM = 250.0  # the benchmarks' matching radius


def fit_variance_scaling(errors: np.ndarray, sd: np.ndarray) -> tuple[float, float]:
    """(a, b) maximising the Gaussian likelihood of `errors` with sd' = sqrt((a sd)^2 + b^2)."""
    e2, s2 = np.asarray(errors, float) ** 2, np.asarray(sd, float) ** 2

    def nll(p):
        var = np.exp(2 * p[0]) * s2 + np.exp(2 * p[1])
        return float(np.mean(np.log(var) + e2 / var))

    start = [0.5 * np.log(max(np.mean(e2) / max(np.mean(s2), 1e-12), 1e-6)), np.log(1e-3)]
    best = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-8})
    return float(np.exp(best.x[0])), float(np.exp(best.x[1]))


def calibrate_uncertainty(net, tp: TrainPunctaParams, rng: np.random.Generator, n_clips: int,
                          shape: tuple[int, int] = CLIP_SHAPE) -> dict:  # fmt: skip
    """Localise `n_clips` held-out simulated clips with `net` (uncalibrated), fit (a, b) and
    return them with what was measured (Jaccard, matched errors, z before and after)."""
    from napari_catrack.core.puncta.inference import localize_network
    from napari_catrack.core.puncta.scenes import random_scene
    from napari_catrack.synthetic.puncta import make_puncta_recording, match_to_truth

    calibrated = net.config
    net.config = replace(calibrated, uncertainty_scale=1.0, uncertainty_floor_px=0.0)
    params = PunctaParams(pixel_size_nm=tp.pixel_size_nm, psf_sigma_nm=tp.psf_sigma_nm)
    errors, sds = [], []
    truths = found = matched = 0
    try:
        for _ in range(n_clips):
            cfg = random_scene(rng, tp, 1.0, shape=shape)
            rec = make_puncta_recording(cfg, seed=int(rng.integers(2**31)))
            locs = localize_network(net, rec.puncta, rec.calcium, cfg.camera, params)
            truth = rec.truth.emitters.reset_index(drop=True)
            ti, li = match_to_truth(truth, locs, MATCH_NM / tp.pixel_size_nm)
            truths, found, matched = truths + len(truth), found + len(locs), matched + len(ti)
            errors += [locs.x.to_numpy()[li] - truth.x.to_numpy()[ti],
                       locs.y.to_numpy()[li] - truth.y.to_numpy()[ti]]  # fmt: skip
            sds += [locs.uncertainty_x.to_numpy()[li], locs.uncertainty_y.to_numpy()[li]]
    finally:
        net.config = calibrated
    report = {"clips": n_clips, "truth": truths, "localizations": found, "matched": matched,
              "jaccard": matched / max(truths + found - matched, 1)}  # fmt: skip
    if matched < 20:  # too few to calibrate: keep the head's own values
        return {**report, "a": 1.0, "b_px": 0.0}
    e, s = np.concatenate(errors), np.concatenate(sds)
    a, b = fit_variance_scaling(e, s)
    after = np.hypot(a * s, b)
    return {**report, "a": round(a, 4), "b_px": round(b, 5),
            "z_rms_before": float(np.sqrt(np.mean((e / s) ** 2))),
            "z_rms_after": float(np.sqrt(np.mean((e / after) ** 2)))}  # fmt: skip
