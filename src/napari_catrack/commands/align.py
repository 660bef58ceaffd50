"""`catrack align REC -o align.json`: the red → green channel transform, headless.

Writes {"dy", "dx", "rotation_deg", "scale", "source", "provenance"}: a red pixel p = (y, x) lands
at scale·R·(p − c) + c + (dy, dx) in green (ARCHITECTURE.md, the CLI contract).
"""

from __future__ import annotations

import argparse
import sys

from napari_catrack import __version__
from napari_catrack.commands._common import (
    add_params_from_argument,
    add_recording_arguments,
    add_session_argument,
    check_outputs,
    params_from_args,
    recording_from_args,
    recording_inputs,
    session_from_args,
    warn,
)
from napari_catrack.core.alignment_params import AXES, DIRECTIONS, AlignParams
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "align",
        help="estimate the transform that puts the red channel on the green one",
        description=(
            "Estimate dy, dx, rotation_deg (and optionally scale, or a full affine) mapping red "
            "onto green from summary images and simultaneous frame pairs; or take a calibration "
            "matrix measured elsewhere (--from-matrix) and check it on REC; writes JSON."
        ),
    )
    add_recording_arguments(p)
    AlignParams.add_arguments(p, title="estimate")
    calib = p.add_argument_group("calibration measured elsewhere (instead of an estimate)")
    calib.add_argument(
        "--from-matrix", metavar="FILE",
        help="a 2x3 (OpenCV) or 3x3 affine matrix (.npy, or text .txt/.csv) relating the two "
        "cameras: used instead of an estimate, after checking it on REC (its NCC, as the "
        "estimate reports); the axis order and direction are found on REC unless given",
    )  # fmt: skip
    calib.add_argument(
        "--matrix-axes", choices=("auto", *AXES), default="auto",
        help="the matrix's axis order: xy (OpenCV, first row gives x) or yx (napari); "
        "auto (default) keeps the one that fits REC best",
    )  # fmt: skip
    calib.add_argument(
        "--matrix-direction", choices=("auto", *DIRECTIONS), default="auto",
        help="which camera the matrix maps onto which; auto (default) keeps the one that fits "
        "REC best",
    )  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="JSON", help="output alignment file")
    add_session_argument(p)
    add_params_from_argument(p, "align")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.alignment import estimate_alignment, poor_match_warning

    matrix_file = {} if args.from_matrix is None else {"--from-matrix": args.from_matrix}
    check_outputs({"-o": args.output, "--session": args.session},
                  {**recording_inputs(args.recording), **matrix_file})  # fmt: skip
    matrix = None
    if args.from_matrix is not None:
        from napari_catrack.core.alignment_matrix import read_matrix

        matrix = read_matrix(args.from_matrix)  # checked before the recording is read
    elif args.matrix_axes != "auto" or args.matrix_direction != "auto":
        raise InputError("--matrix-axes and --matrix-direction describe --from-matrix FILE")
    params = AlignParams.from_args(args, **params_from_args(args, "align", "align"))
    target = session_from_args(args, args.recording)
    rec = recording_from_args(args, memmap=True)  # reads a few frames: numpy views will do
    try:
        if rec.red is None:
            raise InputError(
                f"{args.recording} has one channel; alignment needs green and red "
                "(give --green-channel/--red-channel, --layout or --split)"
            )
        if matrix is not None:
            transform = _from_matrix(args, rec, matrix, params)
        else:
            transform = estimate_alignment(rec.green, rec.red, params)
        info = dict(transform.info)
        info.update(
            params=params.to_dict(),
            recording=str(args.recording),
            recording_options=dict(getattr(rec, "options", {}) or {}),
            package_version=__version__,
        )
        transform.replace(info=info).save_json(args.output)
        if target is not None:
            from napari_catrack.core.alignment_records import record_alignment

            inputs = {"recording": args.recording}
            if matrix is not None:
                inputs["matrix"] = args.from_matrix
            target.record(record_alignment, transform, params,
                          file=args.from_matrix, inputs=inputs)  # fmt: skip
            target.save(rec)
    finally:
        rec.close()
    affine = (
        f" aspect={transform.aspect:.5f} shear={transform.shear:+.5f}"
        if transform.is_affine
        else ""
    )
    print(
        f"red -> green: dy={transform.dy:+.3f} dx={transform.dx:+.3f} "
        f"rotation={transform.rotation_deg:+.4f} deg scale={transform.scale:.5f}{affine} "
        f"(ncc {info.get('ncc')}) -> {args.output}"
    )  # the result line, on stdout as every command's (notes and warnings: stderr)
    poor = poor_match_warning(transform)
    if poor:
        warn("align", poor)
    return 0


def _from_matrix(args: argparse.Namespace, rec, matrix, params: AlignParams):
    """The reading of a calibration matrix that fits the recording best (said on stderr, with a
    warning when the recording cannot tell two different readings apart)."""
    from napari_catrack.core.alignment_matrix import fit_matrix

    fit = fit_matrix(rec.green, rec.red, matrix, args.matrix_axes, args.matrix_direction,
                     params, file=args.from_matrix)  # fmt: skip
    print(f"catrack align: {fit.describe(str(args.from_matrix))}", file=sys.stderr)
    ambiguous = fit.ambiguity(str(args.from_matrix), "give --matrix-axes and --matrix-direction")
    if ambiguous:
        warn("align", ambiguous)
    misfit = fit.misfit(str(args.from_matrix), "estimate one instead (without --from-matrix)")
    if misfit:
        warn("align", misfit)
    return fit.transform
