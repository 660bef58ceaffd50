"""`catrack info REC`: what the reader sees in a recording (frames, size, channels, metadata)."""

from __future__ import annotations

import argparse
import json

from napari_catrack.commands._common import add_recording_arguments, recording_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="show frames, size, channels, frame rate and pixel size of a recording"
    )
    add_recording_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rec = recording_from_args(args, memmap=True)  # reads no pixels: numpy views will do
    try:
        print(json.dumps(rec.summary(), indent=2))
    finally:
        rec.close()
    return 0
