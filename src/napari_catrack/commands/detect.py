"""`catrack detect REC --frame F -o candidates.csv`: candidate neurons on one frame."""

from __future__ import annotations

import argparse

from napari_catrack.commands._common import (
    add_recording_arguments,
    recording_from_args,
    write_table_atomic,
)
from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="find candidate neurons on one frame (adaptive threshold + watershed)",
        description="Candidate neurons on one frame; writes neuron_id,y,x,area,brightness,...",
    )
    add_recording_arguments(p)
    p.add_argument("--frame", type=int, default=0, help="frame to detect on (default 0)")
    p.add_argument("--project", type=int, default=0, metavar="K",
                   help="detect on the mean of K frames starting at --frame instead")  # fmt: skip
    p.add_argument("--channel", choices=("red", "green"), default="red")
    p.add_argument("--align", default=None, metavar="JSON",
                   help="red->green transform (catrack align); output in green pixels")  # fmt: skip
    p.add_argument("--sigma", type=float, default=1.0, help="smoothing, px")
    p.add_argument("--block-size", type=int, default=21, help="local-threshold window, px")
    p.add_argument("--threshold", type=float, default=3.0, help="noise s.d. above local background")
    p.add_argument("--min-brightness", type=float, default=None)
    p.add_argument("--min-area", type=int, default=4)
    p.add_argument("--max-area", type=int, default=400)
    p.add_argument("--min-bbox", type=int, default=2)
    p.add_argument("--max-bbox", type=int, default=30)
    p.add_argument("--no-split", action="store_true", help="do not split touching neurons")
    p.add_argument("-o", "--output", required=True, help="output CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.detection import detect_candidates, project

    rec = recording_from_args(args)
    stack = rec.red if args.channel == "red" else rec.green
    if stack is None:
        if args.channel == "red" and rec.green is not None:
            stack, args.channel = rec.green, "green"
        else:
            raise InputError(f"the recording has no {args.channel} channel")
    T = stack.shape[0]
    if not 0 <= args.frame < T:
        raise InputError(f"--frame {args.frame} is outside the recording (0..{T - 1})")
    k = max(1, args.project)
    image = project(stack, slice(args.frame, min(T, args.frame + k)), "mean")
    _, table = detect_candidates(
        image, sigma=args.sigma, block_size=args.block_size, threshold=args.threshold,
        min_brightness=args.min_brightness, min_area=args.min_area, max_area=args.max_area,
        min_bbox=args.min_bbox, max_bbox=args.max_bbox, split_touching=not args.no_split,
    )  # fmt: skip
    if args.align and args.channel == "red" and len(table):
        align = AlignmentTransform.load_json(args.align)
        table[["y", "x"]] = align.map_points(table[["y", "x"]].to_numpy(float), image.shape)
    write_table_atomic(table, args.output)
    print(f"{len(table)} candidates -> {args.output}")
    return 0
