"""`catrack traces`: per-neuron green/red intensities, ratio and dF/F along tracks."""

from __future__ import annotations

import argparse
import sys
import warnings

from napari_catrack.commands._common import (
    add_alignment_arguments,
    add_recording_arguments,
    alignment_from_args,
    percentile,
    positive_float,
    recording_from_args,
)
from napari_catrack.errors import InputError
from napari_catrack.io.tables import read_table, write_table


def register(subparsers) -> None:
    """Add the `traces` sub-command."""
    p = subparsers.add_parser(
        "traces",
        help="extract green/red traces, ratio and dF/F along neuron tracks",
        description="For every tracked neuron and frame: mean intensity in a disk around the "
        "track (background-subtracted), red sampled through the alignment, ratio G/R and "
        "dF/F (ratio-based dR/R0 unless --no-ratio). Writes neuron_id,frame,time_s,green,red,"
        "ratio,dff followed by flag and background columns.",
    )
    add_recording_arguments(p)
    p.add_argument("--tracks", required=True, help="tracks CSV: neuron_id,frame,y,x (green pixels)")
    add_alignment_arguments(p)
    p.add_argument("--fps", type=float, default=None, help="frame rate (default: from the file)")
    p.add_argument(
        "--radius", type=positive_float, default=3.0, help="ROI disk radius in pixels (3)"
    )
    p.add_argument(
        "--weighting",
        choices=("gaussian", "uniform"),
        default="gaussian",
        help="ROI average: Gaussian-weighted (sigma = radius/2, less noise) or plain mean",
    )
    p.add_argument("--sigma", type=float, default=None, help="Gaussian ROI sigma in pixels")
    p.add_argument("--no-ratio", action="store_true", help="dff from green alone (dF/F0)")
    p.add_argument(
        "--bleach",
        choices=("exponential", "running"),
        default=None,
        help="correct photobleaching of each channel before the ratio (needs fps)",
    )
    bg = p.add_argument_group("background")
    bg.add_argument("--no-background", action="store_true", help="do not subtract a background")
    bg.add_argument("--bg-inner", type=float, default=None, help="annulus inner radius (radius+2)")
    bg.add_argument("--bg-outer", type=float, default=None, help="annulus outer radius (radius+6)")
    bg.add_argument(
        "--bg-percentile", type=percentile, default=20.0, help="annulus percentile (20)"
    )
    f0 = p.add_argument_group("baseline")
    f0.add_argument(
        "--baseline",
        choices=("percentile", "running", "caiman"),
        default="percentile",
        help="F0: constant low percentile, running percentile, or CaImAn-style (needs fps)",
    )
    f0.add_argument("--baseline-percentile", type=percentile, default=10.0, help="percentile (10)")
    f0.add_argument(
        "--baseline-window", type=positive_float, default=30.0, help="running window, s (30)"
    )
    p.add_argument(
        "--clean",
        action="store_true",
        help="add a dff_clean column: drift (>20 s) removal + wavelet denoising (needs fps)",
    )
    p.add_argument("-o", "--output", required=True, help="traces table (.csv)")
    p.set_defaults(func=run)


def _baseline_params(args: argparse.Namespace, fps: float | None) -> dict:
    if args.baseline == "percentile":
        return {"percentile": args.baseline_percentile}
    if fps is None:
        raise InputError(f"--baseline {args.baseline} needs a frame rate: pass --fps")
    if args.baseline == "running":
        return {"percentile": args.baseline_percentile, "window_s": args.baseline_window}
    return {"window_s": args.baseline_window}


def run(args: argparse.Namespace) -> int:
    """Extract traces and write the table atomically; notes go to stderr."""
    from napari_catrack.core.signals.cleaning import clean_table_column
    from napari_catrack.core.signals.extraction import extract_traces

    if args.fps is not None and not args.fps > 0:
        raise InputError(f"--fps must be positive, got {args.fps}")
    tracks = read_table(args.tracks, ("neuron_id", "frame", "y", "x"), what="tracks")
    rec = recording_from_args(args)
    if 2 * args.radius >= min(rec.frame_shape):
        raise InputError(
            f"--radius {args.radius:g} px does not fit in {rec.frame_shape[0]}x{rec.frame_shape[1]} frames"
        )
    fps = args.fps or rec.fps
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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = extract_traces(
            rec.green,
            tracks,
            rec.red,
            transform=transform,
            radius=args.radius,
            weighting=args.weighting,
            sigma=args.sigma,
            background="none" if args.no_background else "annulus",
            bg_inner=args.bg_inner,
            bg_outer=args.bg_outer,
            bg_percentile=args.bg_percentile,
            fps=fps,
            use_ratio=not args.no_ratio,
            bleach=args.bleach,
            dff_baseline=args.baseline,
            dff_params=_baseline_params(args, fps),
        )
        if args.clean:
            if fps is None:
                raise InputError("--clean needs a frame rate: pass --fps")
            df["dff_clean"] = clean_table_column(df, fps)[0]
    for w in caught:
        print(f"catrack traces: warning: {w.message}", file=sys.stderr)
    write_table(df, args.output)
    n = df["neuron_id"].nunique()
    print(
        f"catrack traces: {n} neurons x {len(df) // max(n, 1)} frames -> {args.output} "
        f"(dff: {'green dF/F0' if args.no_ratio or rec.red is None else 'ratio dR/R0'})",
        file=sys.stderr,
    )
    return 0
