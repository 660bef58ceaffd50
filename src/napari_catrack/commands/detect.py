"""`catrack detect REC --frame F -o candidates.csv`: candidate neurons on one frame."""

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
from napari_catrack.core.tracking.params import DetectParams
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "detect",
        help="find candidate neurons on one frame (adaptive threshold + watershed)",
        description="Candidate neurons on one frame; writes neuron_id,y,x,area,brightness,...,"
        "frame in green-frame pixels (detecting on red maps through the alignment in force); "
        "`catrack track --seeds` starts them on that frame.",
    )
    add_recording_arguments(p)
    p.add_argument("--frame", type=non_negative_int, default=0,
                   help="frame to detect on (default %(default)s)")  # fmt: skip
    p.add_argument("--project", type=non_negative_int, default=0, metavar="K",
                   help="detect on the mean of K frames starting at --frame instead")  # fmt: skip
    p.add_argument("--channel", choices=("red", "green"), default="red",
                   help="channel to find neurons on (default red, the structural marker; a "
                   "one-channel recording: green)")  # fmt: skip
    add_alignment_arguments(p)
    DetectParams.add_arguments(p, title="detection parameters")
    p.add_argument("--no-split", dest="split_touching", action="store_false", default=None,
                   help="do not split touching neurons (same as --no-split-touching)")  # fmt: skip
    p.add_argument("-o", "--output", required=True, help="output CSV")
    add_session_argument(p)
    add_params_from_argument(p, "detect")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.detection import detect_candidates, project
    from napari_catrack.core.tracking.in_green import channel_stack
    from napari_catrack.io.tables import write_table

    check_outputs({"-o": args.output, "--session": args.session},
                  {**recording_inputs(args.recording), "--align": args.align})  # fmt: skip
    params = DetectParams.from_args(args, **params_from_args(args, "detect", "detect"))
    target = session_from_args(args, args.recording)
    rec = recording_from_args(args, memmap=True)  # reads a few frames: numpy views will do
    channel, stack = channel_stack(rec, args.channel)
    T = stack.shape[0]
    if not 0 <= args.frame < T:
        raise InputError(f"--frame {args.frame} is outside the recording (0..{T - 1})")
    k = max(1, args.project)
    if args.frame + k > T:
        raise InputError(
            f"--project {k} from --frame {args.frame} runs past the recording's last frame "
            f"({T - 1}): at most --project {T - args.frame} from that frame"
        )
    image = project(stack, slice(args.frame, args.frame + k), "mean")
    _, table = detect_candidates(image, params)
    align = alignment_from_args(args, rec, "detect") if channel == "red" else None
    if align is not None and len(table):
        table[["y", "x"]] = align.map_points(table[["y", "x"]].to_numpy(float), image.shape)
    table["frame"] = args.frame  # `catrack track --seeds` starts these seeds on this frame
    write_table(table, args.output)
    if target is not None:
        from napari_catrack.core.tracking.records import record_neurons

        facts = {"project": k} if k > 1 else None
        target.record(record_neurons, table, params, frame=args.frame, channel=channel,
                      facts=facts, inputs={"recording": args.recording, "align": args.align})  # fmt: skip
        target.save(rec)
    print(f"{len(table)} candidates -> {args.output}")
    return 0
