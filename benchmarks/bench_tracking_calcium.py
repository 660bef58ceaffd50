"""Benchmark: tracking the calcium channel itself (`--channel green`), brightness rules.

Run: `python benchmarks/bench_tracking_calcium.py` (writes benchmarks/results/tracking_calcium.json).

Data: `make_calcium_tracking_case` (synthetic/tracking_cases.py), seeds 0-4: 8 neurons with
transients of 5-20x, one ("r") dark for 25 frames and back during its own 12x transient, one
("b") brightening 10x with a neighbour ("c") 5.5 px away. Tracked with the defaults
(`TrackParams()`, the brightness rules of the tracked channel) and with `brightness="steady"`
(the rules before h16, which assume a steady structural channel).

Metrics: neuron-frames within 2 px of the truth; frames of r marked `lost` while it is visible
(it is back from frame 45); swap events (a run of more than 3 frames in which a track lies
closer to another neuron's true position than to its own); frames in which c's track is within
2 px of b's true position (c pulled onto b's peak).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_catrack.core.tracking import TrackParams, review_stretches, track  # noqa: E402
from napari_catrack.synthetic.tracking_cases import make_calcium_tracking_case  # noqa: E402

SWAP_FRAMES = 3


def review_size(case, table) -> dict:
    """How much the review list (`review_stretches`, default threshold and gap) asks to check:
    its places, its low-confidence neuron-frames, and those of r after its return."""
    review = review_stretches(table)
    r = review[review.neuron_id == case.returning]
    back = [max(0, e - max(s, case.dark[1]) + 1) for s, e in zip(r.start_frame, r.end_frame)]
    return {
        "review_places": len(review),
        "review_low_frames": int(review.low_frames.sum()),
        "review_r_frames_after_return": int(sum(back)),
    }


def measure(case, out) -> dict:
    T = case.truth.shape[0]
    table = out
    out = out.set_index(["neuron_id", "frame"])
    est = np.stack([out.loc[n][["y", "x"]].to_numpy() for n in case.ids], axis=1)
    status = np.stack([out.loc[n]["status"].to_numpy() for n in case.ids], axis=1)
    err = np.linalg.norm(est - case.truth, axis=-1)
    d = np.linalg.norm(est[:, :, None] - case.truth[:, None], axis=-1)
    own = np.diagonal(d, axis1=1, axis2=2)
    closer = d.min(axis=2) < own
    swaps = 0
    for col in closer.T:
        edges = np.diff(np.concatenate([[0], col.astype(int), [0]]))
        runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        swaps += int((runs > SWAP_FRAMES).sum())
    r, b, c = (case.ids.index(k) for k in (case.returning, case.bright, case.neighbour))
    back = np.arange(T) >= case.dark[1]
    lost_back = np.flatnonzero(back & (status[:, r] == "lost"))
    return {
        "within_2px": float((err <= 2).mean()),
        "within_2px_visible": float((err[case.visible] <= 2).mean()),
        "swap_events": swaps,
        "r_lost_while_visible": len(lost_back),
        "r_reacquired_at": int(np.flatnonzero(back & (status[:, r] == "tracked"))[0])
        if (back & (status[:, r] == "tracked")).any()
        else None,
        "r_within_2px_back": float((err[back, r] <= 2).mean()),
        "c_on_b": int((np.linalg.norm(est[:, c] - case.truth[:, b], axis=-1) <= 2).sum()),
        "statuses": {k: int((status == k).sum()) for k in ("tracked", "predicted", "lost")},
        **review_size(case, table),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/tracking_calcium.json"))
    args = ap.parse_args()
    rows = {}
    for name, params in (("steady (before)", TrackParams(brightness="steady")),
                         ("default", TrackParams())):  # fmt: skip
        per = []
        for s in range(args.seeds):
            case = make_calcium_tracking_case(seed=s)
            out = track(None, case.movie, case.seeds, 0, channel="green", params=params)
            per.append(measure(case, out))
        rows[name] = per
        tot = {k: [p[k] for p in per] for k in per[0] if k != "statuses"}
        print(f"{name}:")
        for k, v in tot.items():
            print(f"  {k}: {v}")
    Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
