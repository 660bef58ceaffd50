"""`catrack import suite2p|caiman|minian|imagej PATH -o DIR`: another tool's sources as our files.

Writes the same DIR/footprints.h5, DIR/components.csv and DIR/traces.csv as `catrack sources`
(suite2p: the output folder or its plane folder; CaImAn: the results .hdf5 file; Minian: the
output folder of `save_minian` zarr arrays, or a netCDF file; imagej: hand-drawn ImageJ/Fiji
ROIs, a RoiSet .zip, one .roi file or a TIFF's overlay, over --movie MOVIE (a TIFF's own by
default), whose traces are the mean of the movie inside each ROI, minus
--neuropil-coefficient C x the mean of a ring around the ROI when C > 0). A multi-plane suite2p
output (plane0/, plane1/, ...): every plane (--plane all, the default), each cell with its
`plane` and `plane_roi` (its row in planeN/stat.npy) in components.csv; --plane N: one plane,
its cells under the same ids as in the all-planes import. Plane p of an n-plane volume is timed
p / (n x fs) after plane 0 (time_s; --no-plane-offsets: not). suite2p's redcell.npy becomes the
red_cell and red_prob columns.
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
from napari_catrack.core.sources.params import NeuropilParams, SourcesParams
from napari_catrack.errors import InputError
from napari_catrack.io.tool_outputs import (
    CLI_RETRY,
    TOOLS,
    read_at_rate_in_force,
    read_tool_output,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import",
        help="convert suite2p / CaImAn / Minian results or ImageJ ROIs into sources files",
        description=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("tool", choices=(*TOOLS, "imagej"), metavar="TOOL",
                   help=f"the tool that made PATH: {', '.join((*TOOLS, 'imagej'))}")  # fmt: skip
    p.add_argument("path", metavar="PATH", help="the tool's output folder or file (imagej: .zip, .roi, or a TIFF with ROIs in its overlay)")  # fmt: skip
    p.add_argument("--movie", default=None, metavar="MOVIE",
                   help="imagej: the movie the ROIs were drawn on (TIFF/HDF5/zarr); its mean "
                   "inside each ROI is the trace (default for a TIFF PATH: PATH itself)")  # fmt: skip
    p.add_argument("--z-projection", default=None, metavar="N|max|mean",
                   help="imagej: a movie with a Z axis: the plane (0, 1, ...) or max/mean for ROIs "
                   "without a Z position (a ROI drawn on a plane is measured there)")  # fmt: skip
    p.add_argument("--channel", type=int, default=None, metavar="I",
                   help="imagej: the calcium channel of a --movie with a channel axis (default 0); "
                   "every ROI is measured there, whichever channel it was drawn on")  # fmt: skip
    p.add_argument("--fps", type=positive_float, default=None, metavar="F",
                   help="frame rate (needed when the output does not store it, e.g. Minian, "
                   "or an imagej --movie without one; default with --session: the session's, "
                   "its recording's, over the rate the tool stored; a --fps that differs from "
                   "the session's is used, with a warning)")  # fmt: skip
    p.add_argument("--plane", type=_plane, default=None, metavar="N|all",
                   help="suite2p: the plane to import, or all (default: every plane of a "
                   "multi-plane output, each cell with its plane in components.csv)")  # fmt: skip
    p.add_argument("--no-plane-offsets", dest="plane_offsets", action="store_false",
                   help="suite2p: time every plane's samples at frame / fs (default: plane p of "
                   "an n-plane volume at p / (n x fs) later, in time_s and the NWB export)")  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    NeuropilParams.add_arguments(p, title="imagej: neuropil correction (suite2p's ring)")
    # the dF/F window of `catrack sources`, its default from the one place (SourcesParams; h22)
    SourcesParams.add_arguments(p, exclude=tuple(f.name for f in SourcesParams.fields() if f.name != "baseline_window_s"),
                                title="dF/F of the imported traces")  # fmt: skip
    add_session_argument(p, "MOVIE", only=" (imagej; another tool's output gives none)")
    p.set_defaults(func=run)


def _plane(text: str) -> int | str:
    """--plane: a plane number or "all"."""
    if text.strip().lower() == "all":
        return "all"
    if text.strip().isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"a plane number (0, 1, ...) or all, not {text!r}")


def _session_rate(session) -> tuple[float | None, str]:
    """The frame rate in force in a --session, and where it came from, as the Sources widget
    finds it: a rate typed in a widget, else the recording's (a tool's stored rate is often its
    default, suite2p's fs 10, so it is trusted less). Not the rate of the session's earlier
    results: in a session of imports alone that is the last import's stored rate, which a
    re-run of the tool may have corrected."""
    settings = session["settings"].attrs.get("fps") if "settings" in session else None
    if settings:
        return float(settings), "set in the session"
    recording = (session.recording.get("summary") or {}).get("fps")
    if recording:
        return float(recording), "from the session's recording"
    return None, ""


RATE_TOLERANCE = 1e-3  # a --fps within 0.1 % of the session's rate is that rate, rounded


def _rate_differs(given: float, in_force: float, where: str) -> str:
    """The warning of a --fps that contradicts the session's rate in force: the import is
    recorded at --fps (an explicit option wins, as for `catrack transients`), and the session's
    other steps keep theirs, so the two clocks disagree until one is corrected."""
    return (
        f"--fps {given:g} differs from the session's frame rate {in_force:g} Hz ({where}): "
        f"the import is recorded at {given:g} Hz, not at the rate of the session's other "
        f"steps; leave --fps out to import at {in_force:g} Hz"
    )


def _rate_in_force(target, given: float | None) -> tuple[float | None, str]:
    """The rate to import at, and where it came from ("" for --fps or none): with --session, the
    session's rate in force (as in napari) unless --fps is given; a --fps that differs from it is
    used, with a warning (h22: unsaid). Every tool's import, imagej's included, follows it."""
    if target is None:
        return given, ""
    in_force, where = _session_rate(target.session)
    if given is None:
        return in_force, (where if in_force else "")
    if in_force and abs(given - in_force) > RATE_TOLERANCE * in_force:
        warn("import", _rate_differs(given, in_force, where))
    return given, ""


def run(args: argparse.Namespace) -> int:
    from napari_catrack.io.sources import SOURCES_FILES, write_sources

    imagej = args.tool == "imagej"
    if imagej and not args.movie and str(args.path).lower().endswith((".tif", ".tiff")):
        args.movie = args.path  # a TIFF with its ROIs in its overlay: measured on itself
    if imagej and not args.movie:
        raise InputError("catrack import imagej needs --movie MOVIE: the movie the ROIs were drawn on")  # fmt: skip
    if not imagej and (args.movie or args.z_projection is not None or args.channel is not None):
        raise InputError(f"--movie, --z-projection and --channel are for imagej ROIs, not {args.tool}")  # fmt: skip
    if args.channel is not None and args.channel < 0:
        raise InputError(f"--channel must be 0 or more, got {args.channel}")
    neuropil = NeuropilParams.from_args(args)
    given = [i.option for i in NeuropilParams.fields() if getattr(args, i.name, None) is not None]
    if not imagej and given:
        raise InputError(f"{given[0]} is for imagej ROIs; {args.tool}'s own neuropil or background is read from its output")  # fmt: skip
    if imagej and not args.plane_offsets:
        raise InputError("--no-plane-offsets is for suite2p outputs, not imagej")
    if imagej and args.plane is not None:
        raise InputError("--plane is for suite2p outputs; a movie's plane is --z-projection N")
    window = SourcesParams.from_args(args).baseline_window_s  # the option, else the default
    inputs = {"PATH": args.path, **({"--movie": args.movie} if imagej else {})}
    check_outputs({"-o": OutputFolder(args.output, SOURCES_FILES), "--session": args.session},
                  inputs)  # fmt: skip
    if imagej:  # the movie is the session's recording
        from napari_catrack.io.imagej_rois import read_imagej

        target = session_from_args(args, args.movie, also=("registration",))
        z = args.z_projection
        options = {} if z is None else {"z_projection": int(z) if str(z).lstrip("-").isdigit() else z}  # fmt: skip
        if args.channel is not None:  # one channel of the channel axis (as `--channel` elsewhere)
            options.update(layout="single", green_channel=args.channel)
        fps, where = _rate_in_force(target, args.fps)  # the other tools' rule (h22)
        result = read_imagej(args.path, args.movie, fps=fps, neuropil=neuropil, baseline_window_s=window, **options)  # fmt: skip
        if where:  # the movie's other rate: said of the session's, not of a --fps not given
            said = f"--fps {fps:g} differs from the"
            result.warnings = [w.replace(said, f"the session's frame rate {fps:g} Hz ({where}) differs from the")
                               .replace(f": {fps:g} Hz is used", f": {fps:g} Hz is used (give --fps to use another)")
                               if w.startswith(said) else w for w in result.warnings]  # fmt: skip
            result.notes = [n.replace(f"fs {fps:g} Hz (given)", f"fs {fps:g} Hz ({where})") for n in result.notes]  # fmt: skip
    else:
        target = session_from_args(args)  # another tool's output, not a recording
        if not args.plane_offsets and args.tool != "suite2p":
            raise InputError(f"--no-plane-offsets is for suite2p outputs, not {args.tool}")
        fps, source = _rate_in_force(target, args.fps)
        options = {"plane": args.plane, "plane_offsets": args.plane_offsets, "baseline_window_s": window}  # fmt: skip
        if source:  # a tool's rate that differs is said, with the --fps to give if it is right
            result = read_at_rate_in_force(args.tool, args.path, fps, source, CLI_RETRY, **options)  # fmt: skip
        else:  # --fps given (the reader says when the tool stored another), or none known
            result = read_tool_output(args.tool, args.path, fps, **options)
    if target is not None:  # the cells go into a session: they must belong to its movie
        from napari_catrack.core.sources.session import check_against_movie, check_verdicts_follow

        check_verdicts_follow(target.session, result, args.tool)  # placed, or nothing written

        summary = target.session.recording.get("summary") or {}
        shape = (summary.get("height"), summary.get("width"))
        for line in check_against_movie(result, summary.get("frames"), shape if all(shape) else None,
                                        what=f"the {args.tool} import"):  # fmt: skip
            warn("import", line)
    attrs = {"source": str(args.path), "tool": args.tool, "fps": result.fps, "baseline_window_s": window}  # fmt: skip
    if imagej:
        attrs["movie"] = str(args.movie)
        attrs.update(neuropil.to_dict())  # how raw was made (neuropil_coefficient 0: not)
    write_sources(args.output, result.footprints, result.components, result.traces_table(), attrs)
    if target is not None:
        from napari_catrack.core.sources.session import record_sources

        read = {args.tool: args.path, **({"recording": args.movie} if imagej else {})}
        target.record(record_sources, result, origin=args.tool, inputs=read)
        target.save()
    n_acc = int(result.components["accepted"].sum())
    for note in result.warnings:
        warn("import", note)
    for note in result.notes:  # how the output was read: on stderr, as every command's notes
        print(f"catrack import: {note}", file=sys.stderr)
    # the result line, on stdout as every command's
    from napari_catrack.core.sources.imported import tool_name  # "CaImAn", not "caiman"

    print(f"{len(result.components)} {tool_name(args.tool)} components ({n_acc} accepted) -> {args.output}")  # fmt: skip
    return 0
