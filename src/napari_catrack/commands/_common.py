"""Arguments and helpers shared by CLI commands, so every command reads recordings the same way."""

from __future__ import annotations

import argparse
import sys

from napari_catrack.errors import InputError
from napari_catrack.io.layouts import LAYOUTS

# outputs never overwrite inputs: one check, shared with batch and export
from napari_catrack.io.output_check import (  # noqa: F401 (commands import them from here)
    FILE_SUFFIXES,
    OutputFolder,
    check_outputs,
    recording_inputs,
    session_inputs,
)

SPLITS = ("left-right", "right-left", "top-bottom", "bottom-top")


def add_recording_arguments(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """REC plus the options that say how to find the green and red channels in it."""
    if positional:
        parser.add_argument(
            "recording", metavar="REC", help="TIFF/HDF5/zarr movie, TIFF folder or glob"
        )
    group = parser.add_argument_group("channels")
    group.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=None,
        help="how green and red are stored (default: detect a channel axis, else single channel)",
    )
    group.add_argument(
        "--split", choices=SPLITS, default=None, help="side-by-side halves (green first)"
    )
    group.add_argument("--green-channel", type=int, default=0, metavar="I")
    group.add_argument("--red-channel", type=int, default=1, metavar="I")
    group.add_argument("--dataset", default=None, help="HDF5 dataset path (when ambiguous)")
    group.add_argument("--axes", default=None, help="override the file's axis letters, e.g. YXT")
    group.add_argument(
        "--z-projection",
        default="max",
        help="how to reduce a Z axis: max, mean, or a plane index (default: max)",
    )


def warn(command: str, message: str) -> None:
    """One warning line on stderr: how every command tells the user what to check."""
    print(f"catrack {command}: warning: {message}", file=sys.stderr)


def recording_from_args(args: argparse.Namespace, *, memmap: bool = False):
    """Open the recording named by `add_recording_arguments` options; its reader notes (e.g.
    "the even and odd frames look like ONE channel") are printed as warnings.

    `memmap=True` for commands that read frames with plain numpy (see `open_recording`).
    """
    from napari_catrack.io.recording import open_recording

    if args.split and args.layout and args.layout != args.split:
        raise InputError(f"--split {args.split} contradicts --layout {args.layout}; give one")
    z = args.z_projection
    z_projection: str | int = int(z) if str(z).lstrip("-").isdigit() else z
    rec = open_recording(
        args.recording,
        layout=args.split or args.layout,
        green_channel=args.green_channel,
        red_channel=args.red_channel,
        dataset=args.dataset,
        axes=args.axes,
        z_projection=z_projection,
        memmap=memmap,
    )
    for note in rec.metadata.get("notes", []):
        warn(getattr(args, "command", None) or "", note.removeprefix("WARNING: "))
    return rec


def add_alignment_arguments(parser: argparse.ArgumentParser) -> None:
    """--align FILE / --no-align: how a command that maps red <-> green finds the alignment."""
    group = parser.add_argument_group(
        "alignment",
        "red->green alignment: --align FILE, else the one accepted in the recording's session "
        "file, else an estimate (what is used is printed on stderr)",
    )
    group.add_argument("--align", default=None, metavar="JSON",
                       help="alignment file from `catrack align` (dy, dx, rotation_deg)")  # fmt: skip
    group.add_argument("--no-align", action="store_true",
                       help="use red as it is (identity): opt out of alignment")  # fmt: skip


def alignment_from_args(args: argparse.Namespace, recording, command: str):
    """The alignment in force for this command (core rule), reported on stderr; None = identity."""
    from napari_catrack.core.alignment_rule import alignment_for_recording

    found = alignment_for_recording(
        recording,
        align_file=args.align,
        no_align=args.no_align,
        log=lambda line: print(f"catrack {command}: {line}", file=sys.stderr),
    )
    return found.transform


def _number(kind, test, what: str):
    """An argparse type that also checks the range, so bad options fail before any work."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
probability = _number(float, lambda v: 0 < v < 1, "a probability between 0 and 1 (exclusive)")
positive_float = _number(float, lambda v: _finite(v) and v > 0, "a finite number > 0")
non_negative_float = _number(float, lambda v: _finite(v) and v >= 0, "a finite number >= 0")
percentile = _number(float, lambda v: _finite(v) and 0 <= v <= 100, "a percentile in 0-100")


def add_movie_arguments(parser: argparse.ArgumentParser) -> None:
    """REC for single-channel (two-photon) steps, plus how to find the movie in the file."""
    parser.add_argument(
        "recording", metavar="REC", help="TIFF/HDF5/zarr movie, TIFF folder or glob"
    )
    group = parser.add_argument_group("movie")
    group.add_argument("--channel", type=int, default=None, metavar="I",
                       help="channel index when the file has a channel axis (default 0)")  # fmt: skip
    group.add_argument("--dataset", default=None, help="HDF5 dataset path (when ambiguous)")
    group.add_argument("--axes", default=None, help="override the file's axis letters, e.g. YXT")
    group.add_argument("--fps", type=positive_float, default=None, metavar="F",
                       help="frame rate (default: from the file)")  # fmt: skip


def frames_from_args(args: argparse.Namespace):
    """A `FrameSource` for the movie named by `add_movie_arguments` options."""
    from napari_catrack.io.frames import open_frames

    options = {}
    if args.channel is not None:
        options.update(layout="channel-axis", green_channel=args.channel)
    if args.dataset is not None:
        options["dataset"] = args.dataset
    if args.axes is not None:
        options["axes"] = args.axes
    return open_frames(args.recording, fps=args.fps, **options)
