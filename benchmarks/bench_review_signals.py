"""Benchmark: can a cheap signal mark confidently tracked frames on a wrong peak (h19)?

Run: `PYTHONPATH=src python benchmarks/bench_review_signals.py [--no-zephir]` (about 2 min;
writes benchmarks/results/review_signals.json). Measures; builds nothing (docs/tracking.md,
"Confidently tracked failures: measured, not built" and "Dark neurons on specks").

Movies as `bench_review_ranking.py` (ZephIR with the defaults, failures > 4 px; the hard synthetic
worms, > 2 px; the calcium movies, > 2 px), each tracked once with the defaults. Per movie:

- `signals`: confident frames (`tracked`, outside every place of `review_stretches`) flagged by
  a track step against the common motion (`review._jumps`) over 1.5 / 2 / 3 px, by the brightness
  at the track (smoothed frame minus background) or its blob scale (`shape.blob_scale`) off the
  neuron's median of its last 10 tracked frames by more than a factor; `flags`, `flags_on_fail`
  (the frame or the next fails) and `caught` (unlisted failure frames in a place opened by a
  flag: that frame and the next 5).
- `jump_places`: the review list with such a place for each step over J px (severity that of one
  tracked frame at half the threshold, 10, x (1 + step / 2)): failures in its first 10 / 50
  places and in all of it, against the list as it is.
- `unlisted`: the failures outside the list: how many sit on another neuron (within 2 px of its
  truth: an identity swap), and how many of their stretches begin within 3 frames after a place.
- `creep` (ZephIR): chains of steps of at most 2 px on peaks (not lost) from a frame within 2 px
  of the truth to one more than 4 px off, with the blob scale and brightness where they end.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from napari_catrack.core.tracking import review_stretches, track  # noqa: E402
from napari_catrack.core.tracking.motion import downsample  # noqa: E402
from napari_catrack.core.tracking.review import _jumps  # noqa: E402
from napari_catrack.core.tracking.shape import blob_scale  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "review_signals.json"
from bench_review_ranking import hard_worms  # noqa: E402  (the same hard worms as the ranking)


def wide(table, T, ids):
    w = table.set_index(["frame", "neuron_id"]).sort_index()
    w = w.reindex(pd.MultiIndex.from_product([np.arange(T), ids]))
    N = len(ids)
    return (w[["y", "x"]].to_numpy(float).reshape(T, N, 2),
            w.confidence.to_numpy(float).reshape(T, N), w.status.to_numpy().reshape(T, N))  # fmt: skip


def listed_mask(review, T, ids, first=None):
    col = {n: i for i, n in enumerate(ids)}
    m = np.zeros((T, len(ids)), bool)
    for r in review.itertuples():
        if first is None or r.rank <= first:
            m[r.start_frame : r.end_frame + 1, col[r.neuron_id]] = True
    return m


def at_track(movie, pos):
    """(T, N) brightness above background and blob scale at the track, on the tracker's frame."""
    T, N = pos.shape[:2]
    br, sc = np.full((T, N), np.nan), np.full((T, N), np.nan)
    for t in range(T):
        img = ndi.gaussian_filter(np.asarray(movie[t], np.float32), 1.0, output=np.float32,
                                  truncate=3.0)  # fmt: skip
        bg = float(np.median(downsample(img, 2)[::2, ::2]))
        p = np.clip(np.rint(np.nan_to_num(pos[t])).astype(int), 0, np.array(img.shape) - 1)
        br[t], sc[t] = img[p[:, 0], p[:, 1]] - bg, blob_scale(img, p)
    return br, sc


def off_own_median(a, tracked, last=10):
    """|log| of each frame's value against the median of the neuron's last `last` tracked ones."""
    T, N = a.shape
    out = np.full((T, N), np.nan)
    for n in range(N):
        hist = []
        for t in range(T):
            if hist:
                out[t, n] = abs(np.log(max(a[t, n], 1e-3) / max(np.median(hist[-last:]), 1e-3)))
            if tracked[t, n] and np.isfinite(a[t, n]):
                hist.append(a[t, n])
    return out


def with_jump_places(table, review, ids, pos, conf, J, span=5, weight=10.0):
    T = pos.shape[0]
    jump = _jumps(pos)
    listed = listed_mask(review, T, ids)
    extra = [{"neuron_id": ids[n], "start_frame": int(t), "end_frame": int(min(t + span, T - 1)),
              "severity": weight * (1 + jump[t, n] / 2)}
             for t, n in zip(*np.nonzero((jump > J) & ~listed & (np.nan_to_num(conf) >= 0.5)))]  # fmt: skip
    out = review.drop(columns="rank")
    if extra:
        out = pd.concat([out, pd.DataFrame(extra)], ignore_index=True)
    out = out.sort_values(["severity", "start_frame"], ascending=[False, True], kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True), len(extra)


def measure(movie, table, truth, ids, px) -> dict:
    T, N = truth.shape[:2]
    pos, conf, st = wide(table, T, ids)
    err = np.linalg.norm(pos - truth, axis=-1)
    bad = ~(err <= px)
    review = review_stretches(table)
    listed = listed_mask(review, T, ids)
    unl = (st == "tracked") & ~listed
    br, sc = at_track(movie, pos)
    tracked = st == "tracked"
    sigs = {"step": (_jumps(pos), (1.5, 2.0, 3.0)),
            "brightness": (off_own_median(br, tracked), (1.5, 2.0, 3.0)),
            "scale": (off_own_median(sc, tracked), (1.3, 1.5, 2.0))}  # fmt: skip
    signals = {}
    for name, (sig, thrs) in sigs.items():
        for thr in thrs:
            flag = unl & (np.nan_to_num(sig) > (thr if name == "step" else np.log(thr)))
            cover = np.zeros((T, N), bool)
            for t, n in zip(*np.nonzero(flag)):
                cover[t : t + 6, n] = True
            signals[f"{name} > {thr:g}{' px' if name == 'step' else 'x'}"] = {
                "flags": int(flag.sum()),
                "flags_on_fail": int((flag & (bad | np.roll(bad, -1, 0))).sum()),
                "caught": int((bad & ~listed & cover).sum()),
            }
    places = {}
    for J in (None, 3.0, 2.5, 2.0):
        rv, n_new = (review, 0) if J is None else with_jump_places(table, review, ids, pos,
                                                                   conf, J)  # fmt: skip
        places["as is" if J is None else f"step > {J:g} px"] = {
            "new_places": n_new,
            **{f"failures_in_first_{k}": int((bad & listed_mask(rv, T, ids, k)).sum())
               for k in (10, 50)},
            "failures_listed": int((bad & listed_mask(rv, T, ids)).sum()),
        }  # fmt: skip
    d_other = np.linalg.norm(pos[:, :, None] - truth[:, None], axis=-1)
    d_other[:, np.arange(N), np.arange(N)] = np.inf
    u = bad & ~listed
    runs = after_place = 0
    for n in range(N):
        f = np.flatnonzero(u[:, n])
        for s in f[np.r_[True, np.diff(f) > 1]] if len(f) else []:
            runs += 1
            after_place += bool(s > 0 and listed[max(s - 3, 0) : s, n].any())
    return {
        "failures": int(bad.sum()),
        "unlisted": {
            "failures": int(u.sum()),
            "on_another_neuron": int((u & (d_other.min(axis=2) < 2)).sum()),
            "stretches": runs,
            "stretches_starting_after_a_place": after_place,
        },
        "signals": signals,
        "jump_places": places,
        "_state": (pos, err, st, br, sc),
    }


def creep(pos, err, st, br, sc) -> dict:
    T, N = err.shape
    step = np.r_[np.zeros((1, N)), np.linalg.norm(np.diff(pos, axis=0), axis=-1)]
    events = []
    for n in range(N):
        for rng, nxt in ((range(T), 0), (range(T - 1, -1, -1), 1)):
            start = None
            for t in rng:
                s = step[t, n] if nxt == 0 else (step[t + 1, n] if t + 1 < T else 0.0)
                if st[t, n] == "lost" or s > 2:
                    start = t if err[t, n] <= 2 and st[t, n] != "lost" else None
                elif err[t, n] <= 2:
                    start = t
                elif err[t, n] > 4 and start is not None:
                    events.append({"neuron": n, "from": int(start), "to": int(t),
                                   "status": str(st[t, n]), "scale_px": round(float(sc[t, n]), 2),
                                   "brightness": round(float(br[t, n]), 1)})  # fmt: skip
                    start = None
    on_peak = st != "lost"
    speck = on_peak & ~(sc >= 1.5)
    return {"events": events, "on_peak": int(on_peak.sum()), "on_speck_scale": int(speck.sum()),
            "on_speck_scale_gt4px": int((speck & (err > 4)).sum())}  # fmt: skip


def totals(movies: dict, prefix: str) -> dict:
    rows = [v for k, v in movies.items() if k.startswith(prefix)]
    out = {"failures": sum(r["failures"] for r in rows)}
    for key in ("unlisted", "signals", "jump_places"):
        first = rows[0][key]
        if isinstance(next(iter(first.values())), dict):
            out[key] = {k: {m: sum(r[key][k][m] for r in rows) for m in first[k]} for k in first}
        else:
            out[key] = {k: sum(r[key][k] for r in rows) for k in first}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-zephir", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    movies, res = {}, {}
    if not args.no_zephir:
        import bench_tracking_real as real

        movie = real.load_movie(real.DATA / "movie.mp4")
        seeds = real.load_annotations("annotations-2.h5")
        seeds = seeds[seeds.frame == real.SEED_FRAME][["neuron_id", "y", "x"]]
        truth, _, _ = real.truth_arrays(real.load_annotations("annotations-g.h5"),
                                        np.arange(len(movie)))  # fmt: skip
        table = track(None, movie, seeds, real.SEED_FRAME, channel="green")
        m = measure(movie, table, truth, list(np.sort(seeds.neuron_id.to_numpy())), 4.0)
        res["zephir creep"] = creep(*m["_state"])
        movies["zephir"] = m
    from napari_catrack.synthetic.tracking_cases import make_calcium_tracking_case

    for key, red, table, truth, ids in hard_worms():
        movies[key] = measure(red, table, truth, ids, 2.0)
    for seed in range(5):
        case = make_calcium_tracking_case(seed=seed)
        table = track(None, case.movie, case.seeds, 0, channel="green")
        movies[f"calcium seed {seed}"] = measure(np.asarray(case.movie), table, case.truth,
                                                 list(case.ids), 2.0)  # fmt: skip
    for m in movies.values():
        m.pop("_state")
    res["totals"] = {p: totals(movies, p) for p in ("zephir", "hard", "calcium") if any(
        k.startswith(p) for k in movies)}  # fmt: skip
    res["movies"] = movies
    for k, v in res["totals"].items():
        print(k, json.dumps(v))
    if "zephir creep" in res:
        print("zephir creep", json.dumps(res["zephir creep"]))
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print("wrote", args.out)
    return res


if __name__ == "__main__":
    main()
