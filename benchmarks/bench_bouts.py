"""Benchmark: behavioural bouts (`core.behaviour.bouts`) against the synthetic worm's planted
schedule, and on the real Scholz et al. 2018 path.

Run: `python benchmarks/bench_bouts.py [--quick]` (writes benchmarks/results/bouts.json).

Synthetic: `make_behaviour_video` (600 frames at 15 fps, 256 x 256, 8 µm/px) plants forward runs,
reversals (1.2-2.5 s), pauses (0.4-1 s of no wave, of which the worm is below 20 µm/s for only
0.1-0.2 s: the 0.25 s transitions) and omega coils after reversals. Two routes to the velocity:
- "truth_centerline": the true centerlines and stage (the bout rules alone);
- "pipeline": one prompt on frame 0, classical segmentation, `compute_centerlines` (their
  `coiled` status gives the turns), `compute_velocity`: what a user gets.
Scores: bout onsets matched one-to-one to planted onsets within 0.5 s: precision, recall and
the median |onset error| (s) for reversals (planted: where the worm truly starts backing in a
`reverse` episode of the schedule), pauses (planted: where the true speed stays under the bout
rules' pause speed for at least their minimum bout duration, `BoutParams` as the rules read it:
`scoring.still_onsets`; the default worm has none) and turns (planted: the starts of runs of
truly coiled frames). Beside them, `pause_schedule_label` scores the pauses against the
schedule's `pause` starts, the truth used before h22 (it leads the true stop by the
deceleration).

Long pauses (`--long-pauses`, writes benchmarks/results/bouts_long_pauses.json): the same
worm with the generator's `pause_s=(2.0, 4.0)` and `pause_probability=0.5` (defaults 0.4-1 s and
0.25, which `catrack demo` and the other scenarios keep), so the worm is still for 1.5-3.5 s
and pause bouts can be called; pause onsets (planted: where the worm is truly still, as above)
are scored as the reversals are, beside the reversals and turns of that worm.

Real: the Scholz 2018 freely moving worm's path (stage only, no head: movement direction is
unknown, so only pauses are bouts). As a cross-check of the path's reversal rate (literature: about
1-3 per minute for a freely moving worm off food) the path's heading reversals are counted: the
velocity turns by more than 120 degrees within 1 s while moving at >= 40 µm/s on both sides
(not the bout rules; a head-free proxy).
"""

from __future__ import annotations

import argparse
import json
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
from napari_catrack.core.behaviour.bouts import coiled_frames, compute_bouts  # noqa: E402
from napari_catrack.core.behaviour.params import BoutParams  # noqa: E402
from napari_catrack.core.behaviour.scoring import bout_onset_scores, onsets  # noqa: E402
from napari_catrack.synthetic.behaviour import make_behaviour_video  # noqa: E402

SCHOLZ = next(
    (p for base in (ROOT.parent, ROOT.parent.parent)  # a checkout beside shared/, or a worktree
     if (p := base / "shared" / "data" / "worm" / "scholz2018"
         / "ScholzEtAl2018.AML175_moving.BrainScanner20180223_141721.nwb").exists()),
    None,
)  # fmt: skip


# the scenarios: make_behaviour_video's arguments beside n_frames and seed, and the bout
# states scored (planted onsets from the true motion: `scoring.planted_onsets`)
SCENARIOS = {
    "default": ({}, ("pause", "reversal", "turn")),
    "long_pauses": ({"pause_s": (2.0, 4.0), "pause_probability": 0.5},
                    ("pause", "reversal", "turn")),
}  # fmt: skip


def score(bouts, truth, fps, states=("pause", "reversal", "turn")) -> dict:
    # as `catrack demo` scores (core.behaviour.scoring.bout_onset_scores): pauses where the
    # worm is truly still by the rules' own BoutParams; beside them the schedule's label
    out = bout_onset_scores(bouts, truth.state, truth.coiled, fps, states=states,
                            direction=truth.direction, speed=truth.speed_um_s,
                            params=BoutParams())  # fmt: skip
    if "pause" in states:  # the truth before h22, for comparison
        label = bout_onset_scores(bouts, truth.state, truth.coiled, fps, states=("pause",))
        out["pause_schedule_label"] = label["pause"]
    return out


def run_video(seed: int, n_frames: int, scenario: str = "default") -> dict:
    kwargs, states = SCENARIOS[scenario]
    video = make_behaviour_video(n_frames, seed=seed, **kwargs)
    truth, fps = video.truth, video.fps
    T = len(video.frames)
    times = np.arange(T) / fps
    vp = VelocityParams(pixel_size_um=video.pixel_size_um)
    res = {"seed": seed, "frames": T, "minutes": T / fps / 60}
    vel = compute_velocity(truth.centerline.mean(axis=1), times, truth.stage_um, (256, 256), vp,
                           body_px=truth.centerline)  # fmt: skip
    res["truth_centerline"] = score(
        compute_bouts(vel, BoutParams(), coiled=truth.coiled), truth, fps, states
    )
    t0 = time.perf_counter()
    seg = segment_video(video.frames, Anchor(0, [truth.centerline[0, 50]], [1]),
                        SegmentParams(method="classical"))  # fmt: skip
    cl = compute_centerlines(seg.masks, CenterlineParams(points=50), frames=video.frames)
    vel = compute_velocity(cl.points.mean(axis=1), times, truth.stage_um, (256, 256), vp,
                           body_px=cl.points)  # fmt: skip
    res["pipeline_s"] = time.perf_counter() - t0
    res["pipeline"] = score(compute_bouts(vel, BoutParams(), coiled=coiled_frames(cl.status)),
                            truth, fps, states)  # fmt: skip
    return res


def totals(runs, route, fps, states=("pause", "reversal", "turn")) -> dict:
    out = {}
    for state in (*states, "pause_schedule_label") if "pause" in states else states:
        s = [r[route][state] for r in runs]
        called, planted = sum(x["called"] for x in s), sum(x["planted"] for x in s)
        hits = sum(x["matched"] for x in s)
        errs = [e for x in s for e in x["errors_frames"]]
        out[state] = {
            "precision": hits / called if called else None,
            "recall": hits / planted if planted else None,
            "matched_called_planted": [hits, called, planted],
            "median_onset_error_s": float(np.median(errs)) / fps if errs else None,
        }
    return out


def scholz() -> dict | None:
    if SCHOLZ is None:
        return None
    import h5py

    with h5py.File(SCHOLZ) as f:
        acq = f["acquisition"]
        t = acq["Activity_0000/timestamps"][:]
        xy = acq["Tracked 2D position/ss_2D/data"][:] * 1e6  # metres -> µm
    T = len(t)
    vel = compute_velocity(np.zeros((T, 2)), t, xy[:, ::-1], None,
                           VelocityParams(pixel_size_um=1.0))  # fmt: skip
    bouts = compute_bouts(vel, BoutParams())
    step = np.diff(t)
    observed_min = float(step[step <= 3 * np.median(step)].sum()) / 60  # the recording's gaps out
    v = vel[["vy_um_s", "vx_um_s"]].to_numpy(float)
    speed = vel["speed_um_s"].to_numpy(float)
    lag = max(1, round(1.0 / float(np.median(step))))
    a, b = v[:-lag], v[lag:]
    moving = (speed[:-lag] >= 40) & (speed[lag:] >= 40) & (t[lag:] - t[:-lag] <= 1.5)
    cos = np.einsum("ij,ij->i", a, b) / np.maximum(speed[:-lag] * speed[lag:], 1e-9)
    flip = moving & (cos < np.cos(np.deg2rad(120)))
    events = onsets(flip)
    if len(events):  # one reversal per flip stretch; flips closer than 2 s are one
        keep = [events[0]]
        for e in events[1:]:
            if t[e] - t[keep[-1]] > 2.0:
                keep.append(e)
        events = np.array(keep)
    return {
        "frames": T,
        "observed_minutes": observed_min,
        "bouts": bouts.state.value_counts().to_dict(),
        "pause_s_total": float(bouts.loc[bouts.state == "pause", "duration_s"].sum()),
        "moving_frames_direction_unknown": int((vel["direction"].isna()).sum()),
        "heading_reversals": len(events),
        "heading_reversals_per_min": len(events) / observed_min,
        "median_speed_um_s": float(np.nanmedian(speed)),
    }


def wormpose() -> dict | None:
    """The WormPose sample (crops around the worm: no plate coordinates, so no velocity step):
    direction from the crawling wave alone (`headtail.wave_lag` between consecutive labelled
    centerlines, + = the bends travel from label point 0 to the end: forward if point 0 is the
    head), its speed in body lengths/s as µm/s of a 1 mm worm, mean over 0.5 s; then the bout
    rules. A proxy for the direction, not the velocity step."""
    import h5py
    import pandas as pd
    from scipy.ndimage import uniform_filter1d

    from napari_catrack.core.behaviour.headtail import wave_lag

    path = next((p for base in (ROOT.parent, ROOT.parent.parent)
                 if (p := base / "shared" / "data" / "worm" / "wormpose" / "sample_data"
                     / "features.h5").exists()), None)  # fmt: skip
    if path is None:
        return None
    with h5py.File(path) as f:
        sk, fps = f["skeletons"][:], float(f.attrs["framerate"])
    T, N, _ = sk.shape
    ok = np.isfinite(sk).all(axis=(1, 2))
    lag = np.full(T, np.nan)
    for t in range(1, T):
        if ok[t] and ok[t - 1]:
            lag[t] = wave_lag(sk[t - 1][:, ::-1], sk[t][:, ::-1], 6)
    w = round(0.5 * fps) | 1
    num = uniform_filter1d(np.nan_to_num(lag), w)
    den = uniform_filter1d(np.isfinite(lag).astype(float), w)
    mean = np.where(den > 0.5, num / np.maximum(den, 1e-9), np.nan)
    speed = np.abs(mean) / (N - 1) * fps * 1000.0
    d = np.where(~np.isfinite(mean), np.nan, np.where(speed < 20, 0, np.sign(mean)))
    vel = pd.DataFrame({"frame": np.arange(T), "time_s": np.arange(T) / fps, "speed_um_s": speed,
                        "signed_speed_um_s": speed * d,
                        "direction": pd.array(d, dtype="Float64").astype("Int64")})  # fmt: skip
    bouts = compute_bouts(vel, BoutParams())
    rev = np.zeros(T, bool)
    for r in bouts.itertuples():
        if r.state == "reversal":
            rev[r.start_frame : r.end_frame + 1] = True
    return {
        "bouts": bouts[["state", "start_frame", "end_frame"]].to_dict("records"),
        "frames_700_on_labelled": int(ok[700:].sum()),
        "frames_700_on_in_reversal_bouts": int(rev[700:].sum()),
        "frames_before_700_labelled": int(ok[:700].sum()),
        "frames_before_700_in_reversal_bouts": int(rev[:700].sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds instead of 5")
    parser.add_argument("--long-pauses", action="store_true",
                        help="the worm with 2-4 s pauses (scores pause onsets too); writes "
                        "bouts_long_pauses.json")  # fmt: skip
    args = parser.parse_args()
    seeds = range(2 if args.quick else 5)
    fps = 15.0
    if args.long_pauses:
        long_pauses(seeds, args.quick, fps)
        return
    runs = [run_video(s, 600) for s in seeds]
    states = SCENARIOS["default"][1]
    result = {
        "command": "python benchmarks/bench_bouts.py" + (" --quick" if args.quick else ""),
        "params": BoutParams().to_dict(),
        "tolerance_s": 0.5,
        "summary": {r: totals(runs, r, fps, states) for r in ("truth_centerline", "pipeline")},
        "scholz2018": scholz(),
        "wormpose_wave_proxy": wormpose(),
        "runs": runs,
    }
    out = ROOT / "benchmarks" / "results" / ("bouts_quick.json" if args.quick else "bouts.json")
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("summary", "scholz2018")}, indent=2))
    print(json.dumps({k: v for k, v in result["wormpose_wave_proxy"].items() if k != "bouts"}))


def long_pauses(seeds, quick: bool, fps: float) -> None:
    kwargs, states = SCENARIOS["long_pauses"]
    runs = [run_video(s, 600, "long_pauses") for s in seeds]
    result = {
        "command": "python benchmarks/bench_bouts.py --long-pauses" + (" --quick" if quick else ""),
        "generator": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
        "params": BoutParams().to_dict(),
        "tolerance_s": 0.5,
        "summary": {r: totals(runs, r, fps, states) for r in ("truth_centerline", "pipeline")},
        "runs": runs,
    }
    name = "bouts_long_pauses_quick.json" if quick else "bouts_long_pauses.json"
    (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
