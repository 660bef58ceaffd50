"""Red rules of the two-channel ratio (h18): what each rule marks, before (the pre-h18 relative
rule: 0.05 of the median red), with h18's first default (0.2 of the 90th-percentile red, now the
option `--min-red-fraction 0.2`) and with the defaults (0.05 of the 90th percentile since
h18-rev2), each with the noise floor.

1. The moving-worm sample (200 frames, seed 0) tracked as in the h17 GUI walk: candidates
   detected on the red frame (100: 24 candidates; 40: 26), tracked on red with the defaults, no
   alignment accepted; and its ground-truth tracks. Which candidates are true neurons: median
   distance to the nearest ground-truth track below 3 px.
2. Synthetic two-channel recordings with common-mode focus artefacts (bench_signals' settings:
   defocus dips that dim green and red together), traces at the ground-truth positions: real
   red fluctuations the ratio is there to correct; no sample should be marked.

Per case: samples and neurons each rule marks alone and together, on true neurons, the largest
ΔR/R₀ left, and the trained detector's transients (all, on true neurons).

Run: python benchmarks/bench_red_rules.py [--quick]   -> benchmarks/results/red_rules.json
"""

from __future__ import annotations

import argparse
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
from napari_catrack.core.detection import detect_candidates  # noqa: E402
from napari_catrack.core.signals.extraction import extract_traces  # noqa: E402
from napari_catrack.core.signals.params import TracesParams  # noqa: E402
from napari_catrack.core.tracking.tracker import track  # noqa: E402
from napari_catrack.core.transients.detect import detect_transients  # noqa: E402
from napari_catrack.core.transients.params import TransientParams  # noqa: E402
from napari_catrack.io.tables import long_to_matrix  # noqa: E402
from napari_catrack.synthetic import make_worm_recording  # noqa: E402

PRE_H18 = {"min_red_fraction": 0.05, "red_reference_percentile": 50.0}
FRACTION_0_2 = {"min_red_fraction": 0.2, "red_reference_percentile": 90.0}
ARTEFACTS = {"focus_dip_rate_hz": 0.1, "global_dip_rate_hz": 0.05}  # as bench_signals


def _truth_tracks(pos: np.ndarray, ids) -> pd.DataFrame:
    n_t, n_n, _ = pos.shape
    return pd.DataFrame({"neuron_id": np.tile([str(i) for i in ids], n_t),
                         "frame": np.repeat(np.arange(n_t), n_n),
                         "y": pos[:, :, 0].ravel(), "x": pos[:, :, 1].ravel()})  # fmt: skip


def _walk_tracks(red: np.ndarray, frame: int) -> pd.DataFrame:
    _, cand = detect_candidates(np.asarray(red[frame], np.float32))
    seeds = cand[["y", "x"]].copy()
    seeds["neuron_id"] = [f"n{k + 1}" for k in range(len(seeds))]
    return track(red, None, seeds[["neuron_id", "y", "x"]], frame, channel="red")


def _true_ids(tracks: pd.DataFrame, truth: np.ndarray) -> set[str]:
    out = set()
    for nid, g in tracks.groupby("neuron_id"):
        p = truth[g.frame.to_numpy()]
        d = np.linalg.norm(p - g[["y", "x"]].to_numpy()[:, None], axis=-1).min(axis=1)
        if np.nanmedian(d) < 3:
            out.add(str(nid))
    return out


def _case(green, red, tracks, fps, true_ids, transform=None) -> dict:
    res = {}
    tables = {}
    for name, changes in (("pre_h18", PRE_H18), ("fraction_0_2", FRACTION_0_2), ("h18", {})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = extract_traces(green, tracks, red, transform=transform, fps=fps, **changes)
        tables[name] = df
        tp = TracesParams(**changes)
        ok = ~df.missing.to_numpy()
        r = df.red.to_numpy()
        ref = df.groupby("neuron_id").red.transform(
            lambda s, q=tp.red_reference_percentile: s.quantile(q / 100.0)
        )
        relative = ok & (r <= np.maximum(tp.min_red_fraction * ref.to_numpy(), 0))  # fmt: skip
        noise = ok & (r <= df.red_floor.to_numpy())
        on_true = df.neuron_id.astype(str).isin(true_ids).to_numpy()
        inv = df.red_invalid.to_numpy()
        m = long_to_matrix(df, "dff", sort_ids=False)
        found = detect_transients(m.dff, fps, None, m.neuron_ids, TransientParams())
        dff = df.dff.to_numpy()
        res[name] = {
            "red_invalid": int(inv.sum()),
            "red_invalid_neurons": int(df.neuron_id[inv].nunique()),
            "red_invalid_on_true_neurons": int((inv & on_true).sum()),
            "relative_rule_alone": int(relative.sum()),
            "noise_floor_alone": int(noise.sum()),
            "relative_not_noise_floor": int((relative & ~noise).sum()),
            "per_neuron": {str(k): int(v) for k, v in df[inv].groupby("neuron_id").size().items()},
            "max_dff": round(float(np.nanmax(dff)), 2),
            "max_dff_true_neurons": (
                round(float(np.nanmax(dff[on_true])), 2) if on_true.any() else None
            ),
            "transients": len(found),
            "transients_true_neurons": int(found.neuron_id.astype(str).isin(true_ids).sum()),
        }
    a = tables["pre_h18"]
    for name in ("fraction_0_2", "h18"):  # what each marks that the pre-h18 rules did not
        b = tables[name]
        new = b.red_invalid & ~a.red_invalid
        res[f"added_{name}"] = [{"neuron_id": str(r.neuron_id), "frame": int(r.frame),
                                 "red": round(float(r.red), 2),
                                 "red_floor": round(float(r.red_floor), 2),
                                 "dff_before": round(float(a.dff[i]), 2)}
                                for i, r in b[new].iterrows()]  # fmt: skip
    b = tables["h18"]
    ok = ~b.missing & b.neuron_id.astype(str).isin(true_ids)
    p90 = b[ok].groupby("neuron_id").red.transform(lambda s: s.quantile(0.9))
    res["true_neurons_lowest_red_of_p90"] = (round(float((b.red[ok] / p90).min()), 3)
                                             if ok.any() else None)  # fmt: skip
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one focus-artefact seed, 300 frames")
    args = ap.parse_args()
    out: dict = {"benchmark": "red_rules", "version": __version__,
                 "machine": platform.platform(), "pre_h18": PRE_H18,
                 "fraction_0_2": FRACTION_0_2,
                 "h18": {k: getattr(TracesParams(), k) for k in PRE_H18}, "cases": {}}  # fmt: skip
    t0 = time.perf_counter()
    rec = make_worm_recording(n_frames=200, seed=0)
    green, red = np.asarray(rec.green), np.asarray(rec.red)
    truth = np.asarray(rec.truth.positions, float)
    truth_ids = {str(i) for i in rec.truth.neuron_ids}
    for frame in (100, 40):
        tracks = _walk_tracks(red, frame)
        key = f"worm_sample_walk_red_frame_{frame}"
        out["cases"][key] = {"candidates": int(tracks.neuron_id.nunique()),
                             **_case(green, red, tracks, rec.fps, _true_ids(tracks, truth))}  # fmt: skip
        print(
            key,
            json.dumps(
                {k: out["cases"][key][k]["red_invalid"] for k in ("pre_h18", "fraction_0_2", "h18")}
            ),
        )
    out["cases"]["worm_sample_truth"] = _case(
        green, red, _truth_tracks(truth, rec.truth.neuron_ids), rec.fps, truth_ids
    )
    seeds, n_frames = ([0], 300) if args.quick else ([0, 1, 2], 600)
    for seed in seeds:
        rec = make_worm_recording(n_frames=n_frames, seed=seed, **ARTEFACTS)
        ids = {str(i) for i in rec.truth.neuron_ids}
        key = f"focus_artefacts_seed_{seed}_truth"
        tracks = _truth_tracks(rec.truth.positions, rec.truth.neuron_ids)
        out["cases"][key] = _case(rec.green, rec.red, tracks, rec.fps, ids,
                                  transform=rec.truth.misalignment)  # fmt: skip
        print(key, out["cases"][key]["h18"]["red_invalid"])
    out["seconds"] = round(time.perf_counter() - t0, 1)
    path = (
        ROOT
        / "benchmarks"
        / "results"
        / ("red_rules_quick.json" if args.quick else "red_rules.json")
    )
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
