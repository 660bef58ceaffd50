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
from napari_catrack.core.alignment_params import AlignParams
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "align",
        help="estimate the transform that puts the red channel on the green one",
        description=(
            "Estimate dy, dx, rotation_deg (and optionally scale) mapping red onto green from "
            "summary images and simultaneous frame pairs; writes JSON."
        ),
    )
    add_recording_arguments(p)
    AlignParams.add_arguments(p, title="estimate")
    p.add_argument("-o", "--output", required=True, metavar="JSON", help="output alignment file")
    add_session_argument(p)
    add_params_from_argument(p, "align")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.alignment import estimate_alignment, poor_match_warning

    check_outputs({"-o": args.output, "--session": args.session},
                  recording_inputs(args.recording))  # fmt: skip
    params = AlignParams.from_args(args, **params_from_args(args, "align", "align"))
    target = session_from_args(args, args.recording)
    rec = recording_from_args(args, memmap=True)  # reads a few frames: numpy views will do
    try:
        if rec.red is None:
            raise InputError(
                f"{args.recording} has one channel; alignment needs green and red "
                "(give --green-channel/--red-channel, --layout or --split)"
            )
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

            target.record(record_alignment, transform, params,
                          inputs={"recording": args.recording})  # fmt: skip
            target.save(rec)
    finally:
        rec.close()
    print(
        f"red -> green: dy={transform.dy:+.3f} dx={transform.dx:+.3f} "
        f"rotation={transform.rotation_deg:+.4f} deg scale={transform.scale:.5f} "
        f"(ncc {info.get('ncc')}) -> {args.output}",
        file=sys.stderr,
    )
    poor = poor_match_warning(transform)
    if poor:
        warn("align", poor)
    return 0
