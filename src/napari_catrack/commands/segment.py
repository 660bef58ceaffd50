"""`catrack segment REC --prompt y,x -o masks.tif`: the worm's mask in every frame."""

from __future__ import annotations

import argparse

from napari_catrack.commands._behaviour import add_prompt_arguments, behaviour_frames
from napari_catrack.commands._common import (
    add_recording_arguments,
    add_session_argument,
    check_outputs,
    recording_inputs,
    session_from_args,
)


def register(subparsers) -> None:
    from napari_catrack.core.behaviour.params import SegmentParams

    p = subparsers.add_parser(
        "segment",
        help="segment the worm in a behaviour video from one prompt point (SAM or classical)",
        description="Writes masks.tif: uint8 (T, Y, X), 1 = worm, 0 = background, every frame. "
        "REC may be a TIFF stack/folder, HDF5 or a video (AVI/MP4). With --method auto, Segment "
        "Anything is used when a checkpoint is given (or was downloaded before), else the "
        "classical method.",
    )
    add_recording_arguments(p)
    add_prompt_arguments(p, required=True)
    SegmentParams.add_arguments(p, title="segmentation")
    p.add_argument("--report", default=None, metavar="CSV",
                   help="also write the per-frame quality (score, area, doubtful frames)")  # fmt: skip
    p.add_argument("-o", "--output", required=True, help="output masks TIFF")
    add_session_argument(p, any_session=True)  # any session: check=False below
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.commands._behaviour import run_segmentation, warn_other_video
    from napari_catrack.core.behaviour.params import SegmentParams
    from napari_catrack.io.atomic import atomic_write_set
    from napari_catrack.io.masks import write_masks
    from napari_catrack.io.table_formats import write_step_table

    check_outputs({"-o": args.output, "--report": args.report, "--session": args.session},
                  {**recording_inputs(args.recording), "--checkpoint": args.checkpoint})  # fmt: skip
    params = SegmentParams.from_args(args)
    # the behaviour video is not the imaging recording: any session takes it (as the widget)
    target = session_from_args(args, args.recording, check=False)
    warn_other_video(target, args.recording, "segment", ("segmentation", "centerline"))
    frames, _ = behaviour_frames(args)
    result, quality, _ = run_segmentation(frames, args, params)
    with atomic_write_set():  # the masks and their report replace an older run's together
        write_masks(args.output, result.masks)
        if args.report:
            write_step_table(quality, args.report, "segmentation", "frames")
    if target is not None:
        from napari_catrack.core.behaviour.records import record_segmentation

        target.record(record_segmentation, result, params.to_dict(), quality,
                      inputs={"recording": args.recording, "checkpoint": args.checkpoint})  # fmt: skip
        target.save()
    print(f"masks ({result.n_frames} x {frames.shape[1]} x {frames.shape[2]}) -> {args.output}")
    return 0
