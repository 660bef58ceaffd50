"""`catrack track REC --seeds seeds.csv -o tracks.csv`: follow neurons through the recording."""

from __future__ import annotations

import argparse

from napari_catrack.commands._common import (
    add_alignment_arguments,
    add_params_from_argument,
    add_recording_arguments,
    add_session_argument,
    alignment_from_args,
    check_outputs,
    non_negative_int,
    params_from_args,
    recording_from_args,
    recording_inputs,
    session_from_args,
)
from napari_catrack.core.tracking.params import TrackParams


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "track",
        help="track seed neurons forward and backward through a moving-worm recording",
        description="Track neurons; writes neuron_id,frame,y,x,confidence,source,status for "
        "every frame (status: tracked, predicted or lost). Seeds, anchors and tracks are in "
        "green-frame pixels; tracking runs on red through the alignment in force (see the "
        "alignment options).",
    )
    add_recording_arguments(p)
    p.add_argument("--seeds", required=True,
                   help="CSV with neuron_id,y,x (and frame, as `catrack detect` writes it)")  # fmt: skip
    p.add_argument("--seed-frame", type=non_negative_int, default=None, metavar="F",
                   help="frame the seeds are on (default: their frame column, else 0)")  # fmt: skip
    p.add_argument("--anchors", default=None, help="CSV neuron_id,frame,y,x of fixed points")
    add_alignment_arguments(p)
    TrackParams.add_arguments(p, title="tracking parameters")
    p.add_argument("-o", "--output", required=True, help="output CSV")
    add_session_argument(p)
    add_params_from_argument(p, "track")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from napari_catrack.core.tracking.in_green import track_in_green
    from napari_catrack.core.tracking.tracker import in_memory, seeds_frame
    from napari_catrack.io.table_formats import write_step_table
    from napari_catrack.io.tables import read_table

    check_outputs({"-o": args.output, "--session": args.session},
                  {**recording_inputs(args.recording), "--seeds": args.seeds,
                   "--anchors": args.anchors, "--align": args.align})  # fmt: skip
    params = TrackParams.from_args(args, **params_from_args(args, "track", "track"))
    target = session_from_args(args, args.recording)
    seeds = read_table(args.seeds, ("neuron_id", "y", "x"), "seeds")
    seed_frame = seeds_frame(seeds, args.seed_frame, f"the seeds in {args.seeds}")
    anchors = read_table(args.anchors, ("neuron_id", "frame", "y", "x"), "anchors") if (
        args.anchors
    ) else None  # fmt: skip
    # tracking reads every frame straight through: numpy views of a memory-mapped file where it
    # allows (no dask tasks, no dask import), dask otherwise
    rec = recording_from_args(args, memmap=True)
    uses_red = params.channel == "red" and rec.red is not None
    if uses_red:
        # the tracker reads every red frame: read a lazy (dask) stack once (when it fits) and let
        # an alignment estimate take its red frames from the same read
        rec = dataclasses.replace(rec, red=in_memory(rec.red))
    align = alignment_from_args(args, rec, "track") if uses_red else None
    tracks = track_in_green(rec, seeds, seed_frame, align, params, anchors=anchors)
    write_step_table(tracks, args.output, "tracks", "tracks")
    if target is not None:
        from napari_catrack.core.tracking.records import record_tracks

        inputs = {"recording": args.recording, "seeds": args.seeds, "anchors": args.anchors,
                  "align": args.align}  # fmt: skip
        from napari_catrack.core.tracking.in_green import channel_used

        used = params.replace(channel=channel_used(rec, params.channel))  # the channel tracked
        target.record(record_tracks, tracks, used, seed_frame=seed_frame, alignment=align,
                      inputs=inputs)  # fmt: skip
        target.save(rec)
    print(result_line(tracks, rec, params, args.output))
    return 0


def result_line(tracks, rec, params: TrackParams, output) -> str:
    """What `catrack track` did, as the Track neurons widget says it: the channel tracked, the
    places to review (`review_stretches`, the widget's list) and the neurons lost at some
    frames (their trace is NaN there). It said only "23 neurons x 300 frames -> tracks.csv"."""
    from napari_catrack.core.tracking.in_green import channel_used
    from napari_catrack.core.tracking.review import review_stretches

    review = review_stretches(tracks, threshold=params.low_confidence,
                              merge_gap=params.review_gap)  # fmt: skip
    line = (f"tracking on {channel_used(rec, params.channel)}: {tracks.neuron_id.nunique()} "
            f"neurons x {rec.n_frames} frames; {len(review)} place(s) to review (confidence < "
            f"{params.low_confidence:g})")  # fmt: skip
    if "status" in tracks:
        lost = tracks[tracks["status"] == "lost"]
        if len(lost):
            # (rows: one per neuron and frame; "lost at 40 frame(s)" could exceed the recording)
            line += f"; {lost.neuron_id.nunique()} neuron(s) lost in {len(lost)} neuron-frame(s)"
    return f"{line} -> {output}"
