"""Benchmark: does the tracking review list (`review_stretches`) put the real failures first?

Run: `PYTHONPATH=src python benchmarks/bench_review_ranking.py [--no-zephir] [--no-cnn]`
(writes benchmarks/results/review_ranking.json).

Each movie is tracked once with the defaults; its review list (default threshold 0.5, gap 10) is
ranked twice: as today (`STATUS_RISK`: each low frame weighted by its status) and with every
status weighing 1 (the ranking before h18). Failures are neuron-frames more than `px` from the
truth; the grouping, so the list's content, is the same for both rankings, only the order moves.

Movies (the ones the tests and the tracking benchmarks use):
- ZephIR (real; ../shared/data/worm/zephir, as `bench_tracking_real.py`: 23 neurons x 512 frames,
  seeded at frame 271, failures > 4 px from ZephIR's corrected tracks): the default tracker, the
  steady brightness rules, the CNN refiner. Needs PyAV; skipped with a line when absent.
- hard synthetic worms (`make_worm_recording(..., min_spacing_px=5, max_jump_px=20,
  focus_dip_rate_hz=0.1, focus_dip_depth=(0.5, 0.9))`, tracked on red from the true frame-0
  positions): 120 frames x 20 neurons, 128 x 128, seeds 0-13; 200 x 25, 160 x 160, seed 4;
  300 x 25, 192 x 192, seeds 11 and 12 (docs/tracking.md; `tests/core/test_tracking.py`),
  failures > 2 px (what the tests use) and > 4 px;
- calcium movies (`make_calcium_tracking_case(seed=0..4)`, tracked on green), > 2 and > 4 px.

Per movie and ranking: `failures`, `failures_listed` (inside a listed place), `in_first_5` and
`in_first_10` (inside one of the first 5 / 10 places), `listed_that_fail` (of the listed
neuron-frames), `failing_places` (places holding at least one failure) and how many of them are
among the first 5 / 10 (`failing_places_in_first_5`, `..._10`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import napari_catrack.core.tracking.review as review_module  # noqa: E402
from napari_catrack.core.tracking import TrackParams, review_stretches, track  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "review_ranking.json"
HARD = [(s, 120, 128, 20) for s in range(14)] + [(4, 200, 160, 25), (11, 300, 192, 25),
                                                   (12, 300, 192, 25)]  # fmt: skip


@contextlib.contextmanager
def before_h18():
    """Every status weighing 1: the severity of the review list before h18."""
    saved = dict(review_module.STATUS_RISK)
    review_module.STATUS_RISK.update(dict.fromkeys(saved, 1.0))
    try:
        yield
    finally:
        review_module.STATUS_RISK.update(saved)


def scores(table: pd.DataFrame, ids: list, truth: np.ndarray, px: float, review) -> dict:
    """Where the failures (> px from `truth`, (T, N, 2) in `ids` order) sit in `review`."""
    T, N = truth.shape[:2]
    wide = table.set_index(["frame", "neuron_id"]).sort_index()
    wide = wide.reindex(pd.MultiIndex.from_product([np.arange(T), ids]))
    pred = wide[["y", "x"]].to_numpy(float).reshape(T, N, 2)
    bad = ~(np.linalg.norm(pred - truth, axis=-1) <= px)
    col = {n: i for i, n in enumerate(ids)}
    listed, first5, first10 = (np.zeros((T, N), bool) for _ in range(3))
    failing = []
    for r in review.itertuples():
        where = (slice(r.start_frame, r.end_frame + 1), col[r.neuron_id])
        listed[where] = True
        first5[where] |= r.rank <= 5
        first10[where] |= r.rank <= 10
        if bad[where].any():
            failing.append(r.rank)
    failing = np.asarray(failing, int)
    return {
        "failures": int(bad.sum()),
        "places": len(review),
        "failures_listed": int((bad & listed).sum()),
        "in_first_5": int((bad & first5).sum()),
        "in_first_10": int((bad & first10).sum()),
        "listed_that_fail": round(float((bad & listed).sum() / max(listed.sum(), 1)), 4),
        "failing_places": len(failing),
        "failing_places_in_first_5": int((failing <= 5).sum()),
        "failing_places_in_first_10": int((failing <= 10).sum()),
    }


def both_rankings(table, ids, truth, pxs) -> dict:
    now = review_stretches(table)
    with before_h18():
        then = review_stretches(table)
    assert len(now) == len(then)  # the same places, in another order
    return {f"{px:g}px": {"now": scores(table, ids, truth, px, now),
                          "before_h18": scores(table, ids, truth, px, then)}
            for px in pxs}  # fmt: skip


def zephir_movies(cnn: bool) -> dict:
    import bench_tracking_real as real

    if not real.DATA.exists():
        print("ZephIR: skipped, no data at", real.DATA)
        return {}
    try:
        import av  # noqa: F401
    except ImportError:
        print("ZephIR: skipped, PyAV is not installed")
        return {}
    movie = real.load_movie(real.DATA / "movie.mp4")
    seeds = real.load_annotations("annotations-2.h5")
    seeds = seeds[seeds.frame == real.SEED_FRAME][["neuron_id", "y", "x"]]
    truth, _, _ = real.truth_arrays(real.load_annotations("annotations-g.h5"),
                                    np.arange(len(movie)))  # fmt: skip
    ids = list(np.sort(seeds.neuron_id.to_numpy()))
    variants = {"default": ("default", None),
                "brightness=steady": ("default", TrackParams(brightness="steady"))}  # fmt: skip
    if cnn:
        variants["cnn"] = ("cnn", None)
    out = {}
    for name, (model, params) in variants.items():
        table = track(None, movie, seeds, real.SEED_FRAME, channel="green", model=model,
                      params=params)  # fmt: skip
        out[f"zephir {name}"] = both_rankings(table, ids, truth, [4.0])
        print(f"zephir {name}", json.dumps(out[f"zephir {name}"]))
    return out


def hard_worms():
    """(name, red movie, tracks, truth positions, neuron ids) of each HARD worm, tracked from
    the true first-frame positions with the default parameters."""
    from napari_catrack.synthetic import make_worm_recording

    for seed, n_frames, size, n in HARD:
        rec = make_worm_recording(n_frames=n_frames, seed=seed, shape=(size, size), n_neurons=n,
                                  min_spacing_px=5.0, max_jump_px=20, focus_dip_rate_hz=0.1,
                                  focus_dip_depth=(0.5, 0.9))  # fmt: skip
        truth = rec.truth.red_positions
        seeds = pd.DataFrame({"neuron_id": rec.truth.neuron_ids, "y": truth[0, :, 0],
                              "x": truth[0, :, 1]})  # fmt: skip
        table = track(rec.red, None, seeds, 0)
        name = f"hard seed {seed}, {n_frames} x {n}"
        yield name, np.asarray(rec.red), table, truth, list(rec.truth.neuron_ids)


def synthetic_movies() -> dict:
    from napari_catrack.synthetic.tracking_cases import make_calcium_tracking_case

    out = {}
    for key, _, table, truth, ids in hard_worms():
        out[key] = both_rankings(table, ids, truth, [2.0, 4.0])
    for seed in range(5):
        case = make_calcium_tracking_case(seed=seed)
        table = track(None, case.movie, case.seeds, 0, channel="green")
        out[f"calcium seed {seed}"] = both_rankings(table, list(case.ids), case.truth, [2.0, 4.0])
    return out


def totals(per_movie: dict, prefix: str, px: str) -> dict:
    """Sums over the movies whose name starts with `prefix`."""
    rows = [v[px] for k, v in per_movie.items() if k.startswith(prefix) and px in v]
    return {
        ranking: {k: int(sum(r[ranking][k] for r in rows)) for k in rows[0][ranking]
                  if k != "listed_that_fail"}
        for ranking in ("now", "before_h18")
    }  # fmt: skip


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-zephir", action="store_true")
    ap.add_argument("--no-cnn", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    movies = {} if args.no_zephir else zephir_movies(cnn=not args.no_cnn)
    movies.update(synthetic_movies())
    res = {
        "status_risk": dict(review_module.STATUS_RISK),
        "totals": {
            f"{prefix} {px}": totals(movies, prefix, px)
            for prefix in ("hard", "calcium")
            for px in ("2px", "4px")
        },
        "movies": movies,
    }
    for k, v in res["totals"].items():
        print(k, json.dumps(v))
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print("wrote", args.out)
    return res


if __name__ == "__main__":
    main()
