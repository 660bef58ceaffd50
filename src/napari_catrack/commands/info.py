"""`catrack info REC`: what the reader sees in a recording (frames, size, channels, metadata);
`catrack info SESSION.catrack.h5`: how the session's results were made (provenance)."""

from __future__ import annotations

import argparse
import json

from napari_catrack.commands._common import add_recording_arguments, recording_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="show frames, size, channels, frame rate and pixel size of a recording",
        description="REC may also be a session file (*.catrack.h5): then its provenance is "
        "shown (package version, recording, and per step the version, parameters and input "
        "files with their SHA-256).",
    )
    add_recording_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # (the suffix spelled here: importing the session module for it would cost every `info`
    # on a movie h5py and pandas)
    if str(args.recording).lower().endswith(".catrack.h5"):  # not a movie: how it was made
        from napari_catrack.session import Session

        print(json.dumps(Session.read_provenance(args.recording), indent=2, default=str))
        return 0
    rec = recording_from_args(args, memmap=True)  # reads no pixels: numpy views will do
    try:
        print(json.dumps(rec.summary(), indent=2))
    finally:
        rec.close()
    return 0
