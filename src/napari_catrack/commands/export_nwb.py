"""`catrack export-nwb SESSION.catrack.h5 -o FILE.nwb [--metadata meta.yaml]`: the session as NWB."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from types import SimpleNamespace

from napari_catrack.commands._common import positive_float

PROMPTS = (
    ("subject_id", "subject id (e.g. worm1)"),
    ("species", "species (e.g. Caenorhabditis elegans)"),
    ("session_start_time", "session start time, ISO (e.g. 2024-05-01T10:30:00+02:00)"),
    ("experimenter", "experimenter (Last, First)"),
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-nwb",
        help="write a session as an NWB file (Neurodata Without Borders)",
        description="Write the session's imaging (as an external link to the recording), ROIs, "
        "neuron positions, traces, dF/F, transients with curation status, behaviour and events "
        "as an NWB file (docs/nwb.md). Subject and session metadata come from --metadata, or are "
        "asked for on an interactive terminal.",
    )
    p.add_argument("session", metavar="SESSION", help="session file (*.catrack.h5)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.nwb",
                   help="NWB file to write (.nwb); an existing file is replaced only when it is "
                   "an NWB file napari-catrack wrote")  # fmt: skip
    p.add_argument(
        "--metadata",
        default=None,
        metavar="YAML",
        help="subject/session metadata (keys: docs/nwb.md)",
    )
    p.add_argument(
        "--embed-imaging",
        action="store_true",
        help="copy the imaging into the NWB file (default: link to the recording)",
    )
    add_nwb_fps_argument(p)
    p.add_argument(
        "--no-prompt", action="store_true", help="never ask for metadata, even on a terminal"
    )
    p.set_defaults(func=run)


def add_nwb_fps_argument(p: argparse.ArgumentParser) -> None:
    """`--fps`, the NWB file's imaging frame rate: one definition for `catrack export-nwb` and
    `catrack export` (its `nwb` item); read with `nwb_frame_rate`."""
    p.add_argument(
        "--fps",
        type=positive_float,
        default=None,
        metavar="F",
        help="imaging frame rate in frames per second (default: the session's; needed when the "
        "session states none, e.g. a puncta-only session)",
    )


def nwb_frame_rate(args: argparse.Namespace, session, command: str) -> float | None:
    """The rate `--fps` gives the NWB file (None: the session's), by the rule of every --fps:
    one that contradicts the session's is used, with a warning (`frame_rate_from_args`)."""
    from napari_catrack.commands._common import frame_rate_from_args

    if args.fps is None:
        return None
    never = lambda: (None, "", "")  # noqa: E731 (a session's rate is the only other source)
    return frame_rate_from_args(args, SimpleNamespace(session=session), command, never, "imaging")


def prompt_metadata(ask: Callable[[str], str] = input) -> dict:
    """The few metadata fields NWB readers look for first, asked one by one (Enter skips)."""
    meta: dict = {}
    for key, text in PROMPTS:
        answer = ask(f"{text}: ").strip()
        if not answer:
            continue
        if key in ("subject_id", "species"):
            meta.setdefault("subject", {})[key] = answer
        elif key == "experimenter":
            meta[key] = [answer]
        else:
            meta[key] = answer
    return meta


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from napari_catrack.errors import InputError
    from napari_catrack.session import Session

    out = Path(args.output)
    if out.suffix.lower() != ".nwb":
        raise InputError(
            f"-o {out}: an NWB file name ends in .nwb (e.g. -o {out.with_suffix('.nwb')})"
        )
    # arrays read when used: NWB takes the summary images and source footprints, never the
    # behaviour masks (a long video's session is not decompressed for a few tables)
    session = Session.load(args.session, lazy_arrays=True)
    try:
        return _write(args, session, out)
    finally:
        session.close()


def _write(args: argparse.Namespace, session, out) -> int:
    from napari_catrack.commands._common import check_outputs, session_inputs, warn
    from napari_catrack.io.nwb import (
        check_metadata,
        check_nwb_target,
        metadata_gaps,
        read_metadata,
        write_nwb,
    )

    check_outputs({"-o": out}, {**session_inputs(session), "--metadata": args.metadata})
    check_nwb_target(out)
    if args.metadata:
        meta = read_metadata(args.metadata)
    elif not args.no_prompt and sys.stdin.isatty():
        meta = check_metadata(prompt_metadata(), where="your answers")
    else:
        meta = {}
    fps = nwb_frame_rate(args, session, "export-nwb")
    path = write_nwb(session, args.output, metadata=meta, embed_imaging=args.embed_imaging,
                     fps=fps)  # fmt: skip
    print(f"{args.session} -> {path}")  # the result line, on stdout as every command's
    for gap in metadata_gaps(meta, session, embed_imaging=args.embed_imaging):
        warn("export-nwb", gap)
    return 0
