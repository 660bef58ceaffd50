"""`catrack import suite2p|caiman|minian PATH -o DIR`: another tool's sources as our files.

Writes the same DIR/footprints.h5, DIR/components.csv and DIR/traces.csv as `catrack sources`
(suite2p: the output folder or its plane folder; CaImAn: the results .hdf5 file; Minian: the
output folder of `save_minian` zarr arrays, or a netCDF file). A multi-plane suite2p output:
plane0 unless --plane N (a warning lists the other planes).
"""

from __future__ import annotations

import argparse
import sys

from napari_catrack.commands._common import (
    OutputFolder,
    add_session_argument,
    check_outputs,
    positive_float,
    session_from_args,
    warn,
)
from napari_catrack.io.tool_outputs import TOOLS, read_tool_output


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import",
        help="convert suite2p / CaImAn / Minian results into sources files",
        description=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("tool", choices=TOOLS)
    p.add_argument("path", metavar="PATH", help="the tool's output folder or file")
    p.add_argument("--fps", type=positive_float, default=None, metavar="F",
                   help="frame rate (needed when the output does not store it, e.g. Minian)")  # fmt: skip
    p.add_argument("--plane", type=int, default=None, metavar="N",
                   help="suite2p: the plane to import (default: plane0; a warning lists the others)")  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    add_session_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.io.sources import SOURCES_FILES, write_sources

    check_outputs({"-o": OutputFolder(args.output, SOURCES_FILES), "--session": args.session},
                  {"PATH": args.path})  # fmt: skip
    target = session_from_args(args)  # another tool's output, not a recording
    result = read_tool_output(args.tool, args.path, args.fps, plane=args.plane)
    if target is not None:  # the cells go into a session: they must belong to its movie
        from napari_catrack.core.sources.session import check_against_movie

        summary = target.session.recording.get("summary") or {}
        shape = (summary.get("height"), summary.get("width"))
        for line in check_against_movie(result, summary.get("frames"), shape if all(shape) else None,
                                        what=f"the {args.tool} import"):  # fmt: skip
            warn("import", line)
    write_sources(args.output, result.footprints, result.components, result.traces_table(),
                  {"source": str(args.path), "tool": args.tool, "fps": result.fps})  # fmt: skip
    if target is not None:
        from napari_catrack.core.sources.session import record_sources

        target.record(record_sources, result, origin=args.tool, inputs={args.tool: args.path})
        target.save()
    n_acc = int(result.components["accepted"].sum())
    for note in result.warnings:
        warn("import", note)
    read = f"; {'; '.join(result.notes)}" if result.notes else ""
    print(f"{len(result.components)} {args.tool} components ({n_acc} accepted{read}) -> {args.output}",
          file=sys.stderr)  # fmt: skip
    return 0
