"""`catrack register REC [--mode rigid|piecewise] -o registered.tif --shifts shifts.csv`.

Motion correction of a head-fixed movie. shifts.csv is `frame,dy,dx`: the motion of the sample in
each frame relative to the template (the frame's content sits at template + (dy, dx)); the
registered movie undoes it and has the input's shape and dtype. In piecewise mode `dy,dx` are the
rigid part plus the mean patch deviation, and `--patch-shifts` writes
`frame,patch,y,x,dy,dx` (patch centre and its shift).
"""

from __future__ import annotations

import argparse
import json

from napari_catrack.commands._common import (
    add_movie_arguments,
    add_params_from_argument,
    add_session_argument,
    check_outputs,
    frames_from_args,
    movie_options,
    params_from_args,
    recording_inputs,
    session_from_args,
    warn,
)
from napari_catrack.core.registration.params import RegisterParams


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "register",
        help="motion-correct a head-fixed movie (rigid or piecewise-rigid)",
        description=__doc__.split("\n\n", 1)[1],
    )
    add_movie_arguments(p)
    RegisterParams.add_arguments(p, title="registration")
    p.add_argument("-o", "--output", required=True, metavar="MOVIE",
                   help="registered movie (.tif/.tiff or .zarr)")  # fmt: skip
    p.add_argument("--shifts", required=True, metavar="CSV", help="per-frame shifts (frame,dy,dx)")
    p.add_argument("--patch-shifts", default=None, metavar="CSV",
                   help="per-patch shifts (piecewise mode): frame,patch,y,x,dy,dx")  # fmt: skip
    p.add_argument("--metrics", default=None, metavar="JSON",
                   help="quality metrics (correlation with the template, crispness, residual motion)")  # fmt: skip
    add_session_argument(p)
    add_params_from_argument(p, "register")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.registration.apply import register_movie
    from napari_catrack.core.registration.metrics import quality_line
    from napari_catrack.io.atomic import atomic_write_set, write_text_atomic
    from napari_catrack.io.tables import write_table

    check_outputs({"-o": args.output, "--shifts": args.shifts, "--patch-shifts": args.patch_shifts,
                   "--metrics": args.metrics, "--session": args.session},
                  recording_inputs(args.recording))  # fmt: skip
    params = RegisterParams.from_args(args, **params_from_args(args, "register", "register"))
    target = session_from_args(args, args.recording)
    if target is not None:
        target.open_options = movie_options(args)
    with atomic_write_set():  # the movie and its shift tables appear together, or none of them
        with frames_from_args(args) as source:
            result = register_movie(source, params, output=args.output)
        write_table(result.shifts_table(), args.shifts)
        if args.patch_shifts:
            write_table(result.patch_table(), args.patch_shifts)
        attrs = result.attrs()
        read = _read_options(args)
        if args.metrics:
            movie = {"movie_options": read} if read else {}
            write_text_atomic(
                args.metrics,
                json.dumps({"params": result.params.to_dict(), **movie, **attrs}, indent=2),
            )
    for note in result.notes:
        warn("register", note)
    if target is not None:
        from napari_catrack.core.registration.records import record_registration

        target.record(
            record_registration, result, inputs={"recording": args.recording}, movie_options=read
        )
        target.save()
    # the result line, on stdout as every command's (notes and warnings: stderr)
    print(
        f"registered {attrs['frames']} frames ({params.mode}): {quality_line(attrs)} -> {args.output}"
    )
    return 0


def _read_options(args: argparse.Namespace) -> dict:
    """How the movie was read from REC (`--channel`, `--z-projection`, `--dataset`, `--axes`),
    for the provenance: the registered movie is one channel and plane of the file."""
    names = ("channel", "z_projection", "dataset", "axes")
    read = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if "z_projection" in read:  # a plane number as the number `movie_options` opens
        read["z_projection"] = movie_options(args)["z_projection"]
    return read
