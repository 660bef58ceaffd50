"""`catrack track REC --seeds seeds.csv -o tracks.csv`: follow neurons through the recording."""

from __future__ import annotations

import argparse
import sys

from napari_catrack.commands._common import (
    add_recording_arguments,
    read_table,
    recording_from_args,
    write_table_atomic,
)
from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "track",
        help="track seed neurons forward and backward through a moving-worm recording",
        description="Track neurons; writes neuron_id,frame,y,x,confidence,source for every frame.",
    )
    add_recording_arguments(p)
    p.add_argument("--seeds", required=True, help="CSV with neuron_id,y,x at --seed-frame")
    p.add_argument("--seed-frame", type=int, default=0)
    p.add_argument("--anchors", default=None, help="CSV neuron_id,frame,y,x of fixed points")
    p.add_argument("--channel", choices=("red", "green"), default="red")
    p.add_argument("--align", default=None, metavar="JSON",
                   help="red->green transform: seeds/output in green pixels while tracking red")  # fmt: skip
    p.add_argument("--model", default="default",
                   help="local refinement: 'default'/'classical' (patch correlation), 'cnn' "
                   "(the shipped CNN) or a folder with tracker.pt/.json")  # fmt: skip
    p.add_argument("-o", "--output", required=True, help="output CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.tracking import track
    from napari_catrack.core.tracking.model import load_model

    rec = recording_from_args(args)
    seeds = read_table(args.seeds, ("neuron_id", "y", "x"), "seeds")
    anchors = read_table(args.anchors, ("neuron_id", "frame", "y", "x"), "anchors") if (
        args.anchors
    ) else None  # fmt: skip
    channel = args.channel
    if channel == "red" and rec.red is None:
        channel = "green"
    stack = rec.red if channel == "red" else rec.green
    if stack is None:
        raise InputError(f"the recording has no {channel} channel")
    align = AlignmentTransform.load_json(args.align) if args.align and channel == "red" else None
    if channel == "red" and align is None and rec.green is not None:
        print(
            "catrack: warning: tracking red without --align: seeds and tracks are taken as RED-frame "
            "pixels (run `catrack align` and pass --align to work in green pixels)",
            file=sys.stderr,
        )
    shape = stack.shape[-2:]
    if align is not None:
        for tab in (seeds, anchors):
            if tab is not None:
                tab[["y", "x"]] = align.map_points(
                    tab[["y", "x"]].to_numpy(float), shape, inverse=True
                )
    model = args.model
    if model not in ("default", "classical", "cnn"):
        model = load_model(model)
    tracks = track(
        rec.red, rec.green, seeds, args.seed_frame, channel=channel, anchors=anchors, model=model
    )
    if align is not None:
        tracks[["y", "x"]] = align.map_points(tracks[["y", "x"]].to_numpy(float), shape)
    write_table_atomic(tracks, args.output, float_format="%.3f")
    n = tracks.neuron_id.nunique()
    print(f"{n} neurons x {stack.shape[0]} frames -> {args.output}")
    return 0
