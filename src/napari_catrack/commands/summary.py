"""`catrack summary REC -o DIR`: summary images of a movie, as given (pass the registered movie).

Writes DIR/mean.tif, DIR/max.tif and DIR/correlation.tif (local correlation image, CaImAn's
definition), plus DIR/std.tif and DIR/pnr.tif (peak-to-noise), all float32 (Y, X). The five
appear together when all are written: an interrupted run leaves an older run's set as it was.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_catrack.commands._common import (
    OutputFolder,
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
from napari_catrack.core.summary import IMAGE_NAMES, SummaryParams, summary_images
from napari_catrack.io.atomic import atomic_write_path, atomic_write_set


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "summary",
        help="mean, max, std, local correlation and peak-to-noise images of a movie",
        description=__doc__.split("\n\n", 1)[1],
    )
    add_movie_arguments(p)
    SummaryParams.add_arguments(p, title="summary images")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    add_session_argument(p)
    add_params_from_argument(p, "summary")
    p.set_defaults(func=run)


def write_image(path: Path, image) -> Path:
    import tifffile

    with atomic_write_path(path) as tmp:
        tifffile.imwrite(tmp, image)
    return path


def run(args: argparse.Namespace) -> int:
    names = tuple(f"{name}.tif" for name in IMAGE_NAMES)
    check_outputs({"-o": OutputFolder(args.output, names), "--session": args.session},
                  recording_inputs(args.recording))  # fmt: skip
    params = SummaryParams.from_args(args, **params_from_args(args, "summary", "summary"))
    # the movie as given: the session's recording, or the movie its registration wrote
    target = session_from_args(args, args.recording, also=("registration",))
    if target is not None:
        target.open_options = movie_options(args)
    with frames_from_args(args) as source:
        images = summary_images(source, params)
    for note in images.notes:
        warn("summary", note)
    out = Path(args.output)
    with atomic_write_set():  # the five images replace an older run's together, or not at all
        for name, image in images.as_dict().items():
            write_image(out / f"{name}.tif", image)
    if target is not None:
        from napari_catrack.core.summary_records import record_summary

        target.record(record_summary, images, params, inputs={"recording": args.recording})
        target.save()
    # the result line, on stdout as every command's (notes and warnings: stderr)
    print(f"summary images ({', '.join(images.as_dict())}) -> {out}")
    return 0
