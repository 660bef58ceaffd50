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
        "files with their SHA-256). With --params: the session's parameters that differ from "
        "the defaults, as a manifest's `defaults: params:` block (YAML) for `catrack batch`.",
    )
    add_recording_arguments(p)
    p.add_argument(
        "--params",
        action="store_true",
        help="SESSION only: print the parameters its steps ran with that differ from the "
        "defaults as a batch manifest's `defaults: params:` block (docs/batch.md)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "params", False):
        return _params(args.recording)
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


def _params(path: str) -> int:
    """The manifest block on stdout (redirect it into a manifest); what was left out on stderr."""
    import sys

    from napari_catrack.batch.from_session import manifest_block, read_session_params

    found = read_session_params(path)
    for line in found.lines(dropped_only=True):  # the block itself says what was taken
        print(f"catrack info: {line}", file=sys.stderr)
    print(manifest_block(found), end="")
    return 0
