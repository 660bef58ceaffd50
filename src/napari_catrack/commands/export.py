"""`catrack export SESSION -o DIR`: everything a session holds, in the export layout (docs/export.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from napari_catrack.commands.export_nwb import add_nwb_fps_argument, nwb_frame_rate
from napari_catrack.export.layout import FIGURE_FORMATS, TABLE_FORMATS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a session's tables, figures, masks, NWB and the session itself to a folder",
        description="Write what a session holds into DIR in the layout `catrack batch` uses per "
        "recording (docs/export.md). --list shows the items and their files.",
    )
    p.add_argument("session", metavar="SESSION", help="session file (*.catrack.h5)")
    p.add_argument("-o", "--output", metavar="DIR", help="folder to write into")
    p.add_argument(
        "--items",
        default=None,
        metavar="KEY,KEY",
        help="only these items (keys from --list; default: all)",
    )
    p.add_argument("--table-format", choices=TABLE_FORMATS, default="csv",
                   help="format of the tables (default %(default)s)")  # fmt: skip
    p.add_argument("--figure-format", choices=FIGURE_FORMATS, default="svg",
                   help="format of the figures (default %(default)s)")  # fmt: skip
    p.add_argument("--metadata", default=None, metavar="YAML", help="NWB metadata (docs/nwb.md)")
    add_nwb_fps_argument(p)  # as `catrack export-nwb --fps`: the NWB file's imaging rate
    p.add_argument("--list", action="store_true", help="list the items and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.session import Session

    # arrays read when an item uses them (the masks' TIFF, block by block): the session copy
    # and the tables read none (docs/behaviour.md "Long videos")
    session = Session.load(args.session, lazy_arrays=True)
    try:
        return _export(args, session)
    finally:
        session.close()


def _export(args: argparse.Namespace, session) -> int:
    from napari_catrack.errors import InputError
    from napari_catrack.export import available_items, check_export_outputs, export_session
    from napari_catrack.export.layout import NWB_FILE
    from napari_catrack.io.nwb import read_metadata

    if args.list:
        for item in available_items(session):
            print(f"{item.key:32s} {item.relative_path():45s} {item.label}")
        return 0
    if not args.output:
        raise InputError("give the folder to write into with -o DIR (or --list)")
    keys = [k.strip() for k in args.items.split(",") if k.strip()] if args.items else None
    formats = dict(table_format=args.table_format, figure_format=args.figure_format)
    check_export_outputs(
        session, args.output, keys, **formats, inputs={"--metadata": args.metadata}
    )
    meta = read_metadata(args.metadata) if args.metadata else None
    fps = None
    if args.fps is not None:
        nwb = [i.key for i in available_items(session) if i.kind == "nwb"]
        if not nwb or (keys is not None and not set(nwb) & set(keys)):
            raise InputError(
                "--fps is the NWB file's imaging frame rate, and no NWB file is exported "
                "(add nwb to --items)"
            )
        fps = nwb_frame_rate(args, session, "export")
    result = export_session(
        session,
        args.output,
        keys,
        table_format=args.table_format,
        figure_format=args.figure_format,
        nwb_metadata=meta,
        nwb_fps=fps,
    )
    for path in result.written:
        print(path)
    for label, why in result.failed:  # each on stderr, as every command's warnings and errors
        print(f"catrack export: not written: {label} ({why})", file=sys.stderr)
    if any(Path(p).name == NWB_FILE for p in result.written):  # as catrack export-nwb says them
        from napari_catrack.commands._common import warn
        from napari_catrack.io.nwb import metadata_gaps

        for gap in metadata_gaps(meta or {}, session):
            warn("export", gap)
    print(result.summary())  # the result line, on stdout as every command's
    return 1 if result.failed else 0
