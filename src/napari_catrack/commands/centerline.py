"""`catrack centerline (REC --prompt y,x | --masks masks.tif [REC]) -o centerline.csv`."""

from __future__ import annotations

import argparse

from napari_catrack.commands._behaviour import (
    add_prompt_arguments,
    behaviour_frames,
    warn_other_video,
)
from napari_catrack.commands._common import (
    add_recording_arguments,
    add_session_argument,
    check_outputs,
    positive_float,
    progress_printer,
    recording_inputs,
    session_from_args,
    warn,
)
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    from napari_catrack.core.behaviour.params import CenterlineParams, SegmentParams

    p = subparsers.add_parser(
        "centerline",
        help="the worm's centerline in every frame, head first (from a video or masks)",
        description="Writes frame,point,y,x: --points points per frame evenly spaced from the "
        "head tip (point 0) to the tail tip, the same end in every frame. From REC + --prompt "
        "the worm is segmented first (as `catrack segment`); with --masks the head is found "
        "from shape and motion, and also from the look of the two ends when the video REC "
        "the masks were made from is given too.",
    )
    add_recording_arguments(p, positional=False)
    p.add_argument("recording", metavar="REC", nargs="?", default=None,
                   help="behaviour video (TIFF/HDF5/AVI/MP4): segmented from --prompt, or, "
                   "with --masks, read for the head cue from the ends' look")  # fmt: skip
    p.add_argument("--masks", default=None, help="masks TIFF from `catrack segment`")
    add_prompt_arguments(p, required=False)
    CenterlineParams.add_arguments(p, title="centerline")
    SegmentParams.add_arguments(p, title="segmentation (with REC --prompt)")
    g = p.add_argument_group("posture")
    g.add_argument(
        "--posture",
        default=None,
        metavar="CSV",
        help="also write per-frame posture: length, curvature, eigenworm amplitudes",
    )
    g.add_argument(
        "--eigenworms",
        default=None,
        metavar="FILE|n2",
        help="eigenworm basis for --posture (.mat/.npy/.csv, or n2 to download the "
        "standard N2 basis once)",
    )
    g.add_argument(
        "--pixel-size",
        type=positive_float,
        default=None,
        metavar="UM",
        help="pixel size in µm (posture lengths in µm)",
    )
    g.add_argument(
        "--frames-report",
        default=None,
        metavar="CSV",
        help="also write per-frame status (ok/coiled/filled/failed) and head confidence",
    )
    p.add_argument("-o", "--output", required=True, help="output CSV")
    add_session_argument(p, only=" when given", any_session=True)  # any session: check=False below
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.commands._behaviour import run_segmentation
    from napari_catrack.core.behaviour import (
        CenterlineParams,
        SegmentParams,
        compute_centerlines,
        load_eigenworms,
        posture_table,
    )
    from napari_catrack.core.behaviour.quality import status_warnings
    from napari_catrack.core.behaviour.video_centerline import STATUSES
    from napari_catrack.io.atomic import atomic_write_set
    from napari_catrack.io.masks import read_masks
    from napari_catrack.io.table_formats import write_step_table

    check_outputs(
        {"-o": args.output, "--posture": args.posture, "--frames-report": args.frames_report,
         "--session": args.session},
        {**recording_inputs(args.recording), "--masks": args.masks, "--checkpoint": args.checkpoint,
         "--eigenworms": None if str(args.eigenworms).lower() == "n2" else args.eigenworms},
    )  # fmt: skip
    if args.masks and args.prompt:
        raise InputError("give either REC --prompt y,x or --masks masks.tif, not both")
    params = CenterlineParams.from_args(args)
    # every input is checked before any work or writing: a bad basis must not leave a
    # centerline CSV behind after minutes of segmentation
    if args.eigenworms and not args.posture:
        warn("centerline", "--eigenworms is used only with --posture: ignored")
    basis = load_eigenworms(args.eigenworms) if args.eigenworms and args.posture else None
    # the behaviour video is not the imaging recording: any session takes it (as the widget)
    target = session_from_args(args, args.recording, check=False)
    warn_other_video(target, args.recording, "centerline", ("segmentation", "centerline"))
    segmented = None
    if args.masks:
        frames = behaviour_frames(args)[0] if args.recording else None
        result = compute_centerlines(read_masks(args.masks), params, frames=frames,
                                     progress=progress_printer("catrack centerline: centerlines"))  # fmt: skip
    elif args.recording:
        if not args.prompt:
            raise InputError("with REC, give --prompt y,x on the worm (or use --masks)")
        frames, _ = behaviour_frames(args)
        # segmentation here, per-frame centerlines in a worker process at the same time
        seg_params = SegmentParams.from_args(args)
        seg, quality, result = run_segmentation(frames, args, seg_params, centerlines=params)
        segmented = seg, quality, seg_params
    else:
        raise InputError("give a behaviour video REC with --prompt y,x, or --masks masks.tif")
    counts = {s: int((result.status == s).sum()) for s in STATUSES}
    for line in status_warnings(result.status):
        warn("centerline", line)
    posture = None
    with atomic_write_set():  # the tables of one run replace an older run's together
        write_step_table(result.table(), args.output, "centerline", "centerline")
        if args.frames_report:
            write_step_table(result.frames_table(), args.frames_report, "centerline", "frames")
        if args.posture:
            table = posture_table(result.points, pixel_size_um=args.pixel_size, basis=basis,
                                  usable=result.posture_ok)  # fmt: skip
            posture = table.assign(status=result.status)
            write_step_table(
                posture, args.posture, "centerline", "posture"
            )  # (no 1e-05 beside 0.5)
    if target is not None:
        from napari_catrack.core.behaviour.records import record_centerline, record_segmentation

        inputs = {"recording": args.recording, "masks": args.masks, "checkpoint": args.checkpoint}
        if basis is not None and str(args.eigenworms).lower() != "n2":  # n2: fetched, checked
            inputs["eigenworms"] = args.eigenworms  # (as the widget records it)
        if segmented is not None:
            seg, quality, seg_params = segmented
            target.record(record_segmentation, seg, seg_params.to_dict(), quality, inputs=inputs)
        target.record(record_centerline, result, params.to_dict(), posture=posture,
                      inputs=inputs, posture_facts=_posture_facts(args, posture))  # fmt: skip
        target.save()
    print(
        f"{result.n_frames} frames x {params.points} points ({counts['ok']} ok, "
        f"{counts['coiled']} coiled, {counts['filled']} filled, {counts['failed']} failed) "
        f"-> {args.output}"
    )
    return 0


def _posture_facts(args: argparse.Namespace, posture) -> dict | None:
    """What the posture table depends on beside the centerlines: the pixel size (its `_um`
    columns) and the eigenworm basis (its amplitudes; "n2" is the standard basis)."""
    if posture is None:
        return None
    return {"pixel_size_um": args.pixel_size, "eigenworms": args.eigenworms}
