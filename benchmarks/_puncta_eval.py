"""Scoring puncta results against the simulator's ground truth (shared by the puncta benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.synthetic.puncta import match_to_truth as match

PICASSO_PYTHON = Path("/work/venvs/picasso/bin/python")
PEER = Path(__file__).resolve().parent / "peers" / "picasso_localize.py"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def score_localizations(truth, locs, pixel_nm: float, tolerance_nm: float = 250.0) -> dict:
    """Jaccard, recall (all and SNR > 5), RMSE, bias, RMSE / reported uncertainty."""
    truth = truth.reset_index(drop=True)
    locs = locs.reset_index(drop=True)
    ti, li = match(truth, locs, tolerance_nm / pixel_nm)
    tp = len(ti)
    out = {
        "truth": len(truth),
        "localizations": len(locs),
        "jaccard": tp / max(len(truth) + len(locs) - tp, 1),
        "recall": tp / max(len(truth), 1),
        "precision": tp / max(len(locs), 1),
    }
    bright = truth.snr.to_numpy() > 5
    out["recall_snr_gt_5"] = (
        float(np.isin(np.nonzero(bright)[0], ti).mean()) if bright.any() else None
    )
    if tp:
        ex = (locs.x.values[li] - truth.x.values[ti]) * pixel_nm
        ey = (locs.y.values[li] - truth.y.values[ti]) * pixel_nm
        ux = locs.uncertainty_x.values[li] * pixel_nm
        uy = locs.uncertainty_y.values[li] * pixel_nm
        rmse = float(np.sqrt(np.mean(np.r_[ex, ey] ** 2)))
        reported = float(np.sqrt(np.mean(np.r_[ux, uy] ** 2)))
        out.update(
            rmse_nm=rmse,
            rmse_x_nm=float(np.sqrt(np.mean(ex**2))),
            rmse_y_nm=float(np.sqrt(np.mean(ey**2))),
            bias_x_nm=float(ex.mean()),
            bias_y_nm=float(ey.mean()),
            reported_uncertainty_rms_nm=reported,
            rmse_over_crlb=rmse / reported,
            # per localisation: error / its own reported uncertainty (1 = calibrated)
            calibration_z_rms=float(np.sqrt(np.mean(np.r_[ex / ux, ey / uy] ** 2))),
            median_abs_error_nm=float(np.median(np.abs(np.r_[ex, ey]))),
        )
        iso = _isolated(truth, 500 / pixel_nm)[ti]
        if iso.any():
            r_iso = float(np.sqrt(np.mean(np.r_[ex[iso], ey[iso]] ** 2)))
            u_iso = float(np.sqrt(np.mean(np.r_[ux[iso], uy[iso]] ** 2)))
            out.update(isolated_fraction=float(iso.mean()), isolated_rmse_nm=r_iso,
                       isolated_rmse_over_crlb=r_iso / u_iso)  # fmt: skip
    return out


def _isolated(truth: pd.DataFrame, radius_px: float) -> np.ndarray:
    """Truth puncta with no other punctum within radius_px in the same frame."""
    from scipy.spatial import cKDTree

    iso = np.ones(len(truth), bool)
    for _, g in truth.groupby("frame"):
        if len(g) > 1:
            d, _ = cKDTree(g[["x", "y"]].values).query(g[["x", "y"]].values, k=2)
            iso[g.index.to_numpy()] = d[:, 1] > radius_px
    return iso


def score_calcium(rec, locs, pixel_nm: float) -> dict:
    """Per punctum-frame sensitivity and specificity of the calcium call, and how often puncta
    under a diffuse event (no local signal) are called."""
    truth = rec.truth.emitters.reset_index(drop=True)
    ti, li = match(truth, locs.reset_index(drop=True), 250 / pixel_nm)
    label = truth.calcium.values[ti]
    call = locs.reset_index(drop=True).calcium.values[li]
    under = np.zeros(len(ti), bool)
    for ev in rec.truth.diffuse_events.itertuples():
        f = truth.frame.values[ti]
        d = np.hypot(truth.x.values[ti] - ev.x, truth.y.values[ti] - ev.y)
        under |= (f >= ev.start_frame) & (f <= ev.end_frame) & (d <= 1.5 * ev.sigma)
    quiet_under = under & (label == 0)
    return {
        "punctum_frames": len(ti),
        "with_signal": int(label.sum()),
        "sensitivity": float((call[label == 1] == 1).mean()) if label.any() else None,
        "specificity": float((call[label == 0] == 0).mean()) if (label == 0).any() else None,
        "under_diffuse_events": int(quiet_under.sum()),
        "called_under_diffuse_events": float(call[quiet_under].mean())
        if quiet_under.any()
        else None,
    }


def score_tracks(rec, locs, pixel_nm: float, min_frames: int = 11) -> dict:
    """Completeness: for each true punctum seen in > 10 frames, the share of its frames that
    its best-overlapping track covers (matched localisations), averaged over puncta."""
    truth = rec.truth.emitters.reset_index(drop=True)
    locs = locs.reset_index(drop=True)
    ti, li = match(truth, locs, 250 / pixel_nm)
    pairs = pd.DataFrame(
        {"punctum": truth.punctum_id.values[ti], "track": locs.track_id.values[li]}
    )
    lengths = truth.groupby("punctum_id").size()
    long = lengths[lengths >= min_frames]
    comp = []
    for pid, n in long.items():
        tracks = pairs[(pairs.punctum == pid) & (pairs.track >= 0)].track
        comp.append(tracks.value_counts().iloc[0] / n if len(tracks) else 0.0)
    return {"puncta_over_10_frames": len(long), "completeness": float(np.mean(comp)) if comp else None,
            "tracks": int(locs.track_id.max() + 1) if len(locs) else 0}  # fmt: skip


def run_picasso(
    movie: np.ndarray, camera, min_ng: float, box: int = 7
) -> tuple[pd.DataFrame, dict]:
    """Picasso in its own venv on the same frames; its table in our internal columns."""
    if not PICASSO_PYTHON.is_file():
        raise RuntimeError(f"Picasso venv missing: {PICASSO_PYTHON} (pip install picassosr there)")
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "movie.npy", movie)
        (Path(tmp) / "camera.json").write_text(json.dumps(camera.to_dict()))
        out = Path(tmp) / "locs.csv"
        t0 = time.perf_counter()
        run = subprocess.run(
            [str(PICASSO_PYTHON), str(PEER), str(Path(tmp) / "movie.npy"),
             str(Path(tmp) / "camera.json"), str(box), str(min_ng), str(out)],
            capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        if run.returncode:
            raise RuntimeError(run.stderr[-2000:])
        timing = json.loads(run.stdout.strip().splitlines()[-1])
        timing["wall_s_with_startup"] = wall
        df = pd.read_csv(out)
    locs = pd.DataFrame(
        {
            "frame": df.frame.astype(int),
            "x": df.x, "y": df.y, "photons": df.photons, "background": df.bg,
            "sigma": (df.sx + df.sy) / 2, "uncertainty_x": df.lpx, "uncertainty_y": df.lpy,
        }
    )  # fmt: skip
    locs["uncertainty"] = np.sqrt((locs.uncertainty_x**2 + locs.uncertainty_y**2) / 2)
    return locs, timing


def write_result(name: str, result: dict) -> Path:
    path = Path(__file__).resolve().parent / "results" / f"{name}.json"
    result = {"command": "python " + " ".join(sys.argv), **result}
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, indent=2, default=float))
    return path
