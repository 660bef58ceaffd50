"""`catrack traces`: per-neuron green/red intensities, ratio and dF/F along tracks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_catrack.commands._common import (
    add_alignment_arguments,
    add_params_from_argument,
    add_recording_arguments,
    add_session_argument,
    alignment_from_args,
    check_outputs,
    params_from_args,
    positive_float,
    recording_from_args,
    recording_inputs,
    session_from_args,
    warn,
)
from napari_catrack.core.signals.params import CleaningParams, TracesParams
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    """Add the `traces` sub-command."""
    p = subparsers.add_parser(
        "traces",
        help="extract green/red traces, ratio and dF/F along neuron tracks",
        description="For every tracked neuron and frame: mean intensity in a disk around the "
        "track (background-subtracted), red sampled through the alignment, ratio G/R and "
        "dF/F (ratio-based dR/R0 unless --no-ratio). Writes neuron_id,frame,time_s,green,red,"
        "ratio,dff followed by flag and background columns. Frames where a track's status is "
        "'lost' are NaN (missing) unless --lost-frames measure.",
    )
    add_recording_arguments(p)
    p.add_argument("--tracks", required=True, help="tracks CSV: neuron_id,frame,y,x (green pixels)")
    add_alignment_arguments(p)
    p.add_argument("--fps", type=positive_float, default=None,
                   help="frame rate (default: from the file)")  # fmt: skip
    TracesParams.add_arguments(p, title="extraction")
    p.add_argument("--no-background", dest="background", action="store_const", const="none",
                   default=None, help="do not subtract a background (= --background none)")  # fmt: skip
    p.add_argument(
        "--clean",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add a dff_clean column: the cleaning steps below (default drift removal + "
        "wavelet denoising; needs fps); with --params-from, on when that session's traces were "
        "cleaned (--no-clean: not)",
    )
    CleaningParams.add_arguments(p, title="cleaning (with --clean)")
    p.add_argument("-o", "--output", required=True, help="traces table (.csv)")
    add_session_argument(p)
    add_params_from_argument(p, "traces")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Extract traces and write the table atomically; notes go to stderr."""
    from napari_catrack.core.signals.cleaning import clean_table_column
    from napari_catrack.core.signals.extraction import extract_traces, lost_frames_note
    from napari_catrack.io.tables import read_table, write_table

    check_outputs({"-o": args.output, "--session": args.session},
                  {**recording_inputs(args.recording), "--tracks": args.tracks, "--align": args.align})  # fmt: skip
    if args.fps is not None and not args.fps > 0:
        raise InputError(f"--fps must be positive, got {args.fps}")
    params = TracesParams.from_args(args, **params_from_args(args, "traces", "traces"))
    cleaning = CleaningParams.from_args(args, **_cleaning_from_session(args))
    target = session_from_args(args, args.recording)
    tracks = read_table(args.tracks, ("neuron_id", "frame", "y", "x"), what="tracks",
                        numeric=("y", "x"), frames=("frame",))  # fmt: skip
    rec = recording_from_args(args)
    if 2 * params.radius >= min(rec.frame_shape):
        raise InputError(
            f"--radius {params.radius:g} px does not fit in {rec.frame_shape[0]}x{rec.frame_shape[1]} frames"
        )
    fps = args.fps or rec.fps
    if args.fps and rec.fps and abs(args.fps - rec.fps) > 0.01 * rec.fps:
        warn("traces", f"--fps {args.fps:g} differs from the {rec.fps:g} Hz the file states; "
             "using --fps")  # fmt: skip
    if fps is None:
        print(
            "catrack traces: no frame rate in the file and no --fps: time_s left empty",
            file=sys.stderr,
        )
    if rec.red is None:
        print(
            "catrack traces: single-channel recording: red and ratio are NaN, dff is green dF/F0",
            file=sys.stderr,
        )
    transform = alignment_from_args(args, rec, "traces")
    if params.dff_baseline != "percentile" and fps is None:
        raise InputError(f"--baseline {params.dff_baseline} needs a frame rate: pass --fps")
    if args.clean and fps is None:
        raise InputError("--clean needs a frame rate: pass --fps")
    # warnings (red too dim, ...) are shown as one line each by `catrack` (cli.main)
    df = extract_traces(rec.green, tracks, rec.red, params, transform=transform, fps=fps)
    cleaned = None
    if args.clean:
        df["dff_clean"], cleaned = clean_table_column(df, fps, cleaning)
    write_table(df, args.output)
    if target is not None:
        from napari_catrack.core.signals.records import record_traces

        inputs = {"recording": args.recording, "tracks": args.tracks, "align": args.align}
        target.record(record_traces, df, params, fps=fps, alignment=transform, cleaning=cleaned,
                      cleaning_params=cleaning if cleaned is not None else None, inputs=inputs)  # fmt: skip
        target.save(rec)
    n = df["neuron_id"].nunique()
    lost = lost_frames_note(df, params)
    if lost:
        print(f"catrack traces: {lost}", file=sys.stderr)
    print(  # the result line, on stdout as every command's (notes and warnings: stderr)
        f"{n} neurons x {len(df) // max(n, 1)} frames -> {args.output} "
        f"(dff: {'green dF/F0' if not params.use_ratio or rec.red is None else 'ratio dR/R0'})"
    )
    return 0


def _cleaning_from_session(args: argparse.Namespace) -> dict:
    """--params-from SESSION: whether its traces were cleaned (`--clean` unless --no-clean is
    given) and its cleaning values (options given win), said in a line each."""
    if not args.params_from:
        return {}
    from napari_catrack.batch.from_session import read_cleaning_params

    cleaned, values = read_cleaning_params(args.params_from)
    name = Path(args.params_from).name
    if args.clean is None:
        args.clean = cleaned
    if cleaned:
        state = "on" if args.clean else "off (--no-clean)"
        text = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in values.items()}
        taken = ", ".join(f"{k}={v}" for k, v in text.items()) or "the defaults"
        print(f"catrack traces: {name}'s traces were cleaned: cleaning {state}, with {taken}",
              file=sys.stderr)  # fmt: skip
    given = [k for k in values if getattr(args, k, None) is not None]
    if given:
        print(f"catrack traces: this command line's {', '.join(given)} over {name}'s",
              file=sys.stderr)  # fmt: skip
    return values
