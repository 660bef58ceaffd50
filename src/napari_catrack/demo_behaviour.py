"""The behaviour part of `catrack demo`: a synthetic behaviour video through every step.

A crawling worm (forward runs, reversals, omega coils, a stage that follows it) is written as a
Motion-JPEG AVI with its stage log, then segmented from one prompt point (classical method: no
weights are downloaded), its centerlines, posture, velocity and behavioural bouts computed with
the same core functions as the widget and `catrack segment|centerline|velocity --bouts`,
recorded in the session and scored against the ground truth (the bouts' reversal, pause and
turn onsets against the planted ones, as benchmarks/bench_bouts.py scores them:
`scoring.bout_onset_scores`; a pause is planted where the worm is truly still by the bout
rules' own `BoutParams`, which the demo's short pauses never are).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.figures import save_figure
from napari_catrack.figures.style import label_recording


def run_behaviour_demo(
    output: str | Path,
    *,
    n_frames: int = 300,
    seed: int = 0,
    session=None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write `output/` (video, stage, masks, centerline, posture, velocity, figures); scores."""
    from napari_catrack.core.behaviour import (
        Anchor,
        CenterlineParams,
        SegmentParams,
        VelocityParams,
        compute_centerlines,
        compute_velocity,
        frame_quality,
        posture_table,
        segment_video,
    )
    from napari_catrack.core.behaviour.bouts import compute_bouts, turn_flags, write_bouts
    from napari_catrack.core.behaviour.params import BoutParams
    from napari_catrack.core.behaviour.posture import kymograph, median_length
    from napari_catrack.core.behaviour.records import (
        record_bouts,
        record_centerline,
        record_segmentation,
        record_velocity,
    )
    from napari_catrack.core.behaviour.scoring import (
        bout_onset_scores,
        centerline_errors,
        mask_iou,
        planted_onsets,
        velocity_scores,
    )
    from napari_catrack.core.behaviour.velocity import write_velocity
    from napari_catrack.figures import behaviour as fig
    from napari_catrack.io.masks import write_masks
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.stage import read_stage, stage_at
    from napari_catrack.io.table_formats import write_step_table
    from napari_catrack.io.tables import write_table
    from napari_catrack.io.video import write_video
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    clock = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    video = make_behaviour_video(n_frames, seed=seed)
    truth = video.truth
    avi = write_video(out / "behaviour.avi", video.frames, video.fps)
    write_table(video.stage_table(), out / "stage.csv", float_format="%.3f")
    gt = out / "ground_truth"
    T, K = truth.centerline.shape[:2]
    write_table(
        pd.DataFrame({"frame": np.repeat(np.arange(T), K), "point": np.tile(np.arange(K), T),
                      "y": truth.centerline[..., 0].ravel(), "x": truth.centerline[..., 1].ravel()}),
        gt / "centerline.csv", float_format="%.3f",
    )  # fmt: skip
    write_table(
        pd.DataFrame({"frame": np.arange(T), "time_s": np.arange(T) / video.fps,
                      "signed_speed_um_s": truth.signed_speed_um_s, "direction": truth.direction,
                      "state": truth.state, "coiled": truth.coiled}),
        gt / "behaviour.csv", float_format="%.3f",
    )  # fmt: skip
    write_masks(gt / "masks.tif", truth.masks)

    # the video as a user has it: a Motion-JPEG AVI read lazily
    rec = open_recording(avi)
    prompt = truth.centerline[0, K // 2]
    params = SegmentParams(method="classical")
    seg = segment_video(rec.green, Anchor(0, [prompt], [1]), params)
    quality = frame_quality(seg.masks, seg.score, low_score=params.low_score, source=seg.source)
    write_masks(out / "masks.tif", seg.masks)
    iou = mask_iou(seg.masks, truth.masks)

    cl_params = CenterlineParams()
    cl = compute_centerlines(seg.masks, cl_params, frames=rec.green)
    write_step_table(cl.table(), out / "centerline.csv", "centerline", "centerline")
    err, flipped = centerline_errors(cl.points, truth.centerline)
    posture = posture_table(cl.points, pixel_size_um=video.pixel_size_um,
                            usable=cl.posture_ok).assign(status=cl.status)  # fmt: skip
    write_step_table(posture, out / "posture.csv", "centerline", "posture")

    v_params = VelocityParams(pixel_size_um=video.pixel_size_um)
    times = np.arange(T) / video.fps
    log_stage = read_stage(out / "stage.csv")
    stage_um = stage_at(log_stage, np.arange(T), times)
    velocity = compute_velocity(cl.points.mean(axis=1), times, stage_um, rec.frame_shape,
                                v_params, body_px=cl.points)  # fmt: skip
    write_velocity(velocity, out / "velocity.csv")
    r, right = velocity_scores(velocity.signed_speed_um_s, velocity.direction,
                               truth.signed_speed_um_s, truth.direction)  # fmt: skip
    rec.close()
    # the bouts, turns from the centerline's coiled frames, as `catrack velocity --bouts
    # --frames-table` and the widget call them; scored against the true motion
    b_params = BoutParams()
    coiled, a3 = turn_flags(cl.frames_table(), velocity["frame"], b_params, name="centerline")
    bouts = compute_bouts(velocity, b_params, coiled=coiled, a3=a3)
    write_bouts(bouts, out / "bouts.csv")
    bout_scores = bout_onset_scores(bouts, truth.state, truth.coiled, video.fps,
                                    states=("reversal", "pause", "turn"),
                                    direction=truth.direction, speed=truth.speed_um_s,
                                    params=b_params)  # fmt: skip

    if session is not None:
        read = {"recording": avi}
        record_segmentation(session, seg, params.to_dict(), quality, save=False, inputs=read)
        record_centerline(session, cl, cl_params.to_dict(), posture=posture, inputs=read,
                          save=False, posture_facts={"pixel_size_um": video.pixel_size_um})  # fmt: skip
        # the stage log as a path the session resolves (a bare "stage.csv" named DIR/stage.csv,
        # not DIR/behaviour/stage.csv: the NWB export found no stage)
        record_velocity(session, velocity, v_params.to_dict(),
                        {"stage": session.stored_path(out / "stage.csv"), "source": "centerline"},
                        save=False,
                        inputs={"stage": out / "stage.csv", "recording": avi})  # fmt: skip
        record_bouts(session, bouts, b_params.to_dict(), {"coiled": True}, save=False, inputs={})

    figures = out / "figures"
    kymo = kymograph(cl.points, cl.posture_ok, pixel_size=video.pixel_size_um)
    length = median_length(cl.points, cl.posture_ok, video.pixel_size_um)  # colour limits' floor
    picks = np.linspace(0, T - 1, 6).round().astype(int)
    coils = np.nonzero(truth.coiled)[0]
    if len(coils):
        picks[-2] = coils[len(coils) // 2]
    # ticks to compare the reversal bouts with: where the worm truly starts backing
    planted = times[planted_onsets(truth.state, truth.coiled, truth.direction)["reversal"]]
    speed = fig.speed_figure(velocity, truth.signed_speed_um_s, bouts=bouts, planted=planted)
    for name, f in (
        ("speed", speed),
        ("kymograph", fig.kymograph_figure(kymo, times, good=cl.reliable, length=length)),
        ("frames", fig.frames_figure(video.frames, seg.masks, cl.points, sorted(picks), cl.status)),
    ):
        label_recording(f, "behaviour.avi")  # the video the demo writes beside them
        for ext in ("svg", "png"):
            save_figure(f, figures / f"behaviour_{name}.{ext}")
    rev = bout_scores["reversal"]
    onset_scores = {f"{state}_onset_{what}": _rounded(bout_scores[state][what])
                    for state in ("reversal", "turn") for what in ("precision", "recall")}  # fmt: skip
    summary = {
        "frames": T,
        # the point the demo segmented from, as `catrack segment --prompt Y,X` takes it
        "prompt": f"{prompt[0]:.0f},{prompt[1]:.0f}",
        "mask_iou_median": round(float(np.median(iou)), 4),
        "centerline_error_median_px": round(float(np.median(err)), 3),
        "head_tail_flips": int(flipped.sum()),
        "velocity_r": round(r, 4),
        "direction_right_moving": round(right, 4),
        "doubtful_frames": int(quality["low_confidence"].sum()),
        "coiled_frames": int((cl.status == "coiled").sum()),
        "bouts": len(bouts),
        # reversal (and turn) onsets within 0.5 s of the planted ones, one to one
        **onset_scores,
        "reversals_called_planted": [rev["called"], rev["planted"]],
        # pauses: planted where the true speed stays under the rules' pause speed for their
        # minimum bout duration (the default worm's short pauses: none)
        "pauses_called_planted": [bout_scores["pause"]["called"], bout_scores["pause"]["planted"]],
        "seconds": round(time.perf_counter() - clock, 2),
    }
    log("[behaviour] " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "seconds")
        + f" ({summary['seconds']:.1f} s)")  # fmt: skip
    return summary


def _rounded(value):
    return None if value is None else round(float(value), 4)
