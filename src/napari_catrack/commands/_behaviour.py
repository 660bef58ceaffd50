"""Options and helpers shared by the behaviour commands (segment, centerline, velocity)."""

from __future__ import annotations

import argparse
import math

from napari_catrack.commands._common import progress_printer, warn
from napari_catrack.errors import InputError


def point(text: str) -> tuple[float, float]:
    """argparse type for 'y,x' pixel coordinates."""
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        y, x = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected y,x (two numbers), got {text!r}") from None
    if not (math.isfinite(y) and math.isfinite(x)):
        raise argparse.ArgumentTypeError(f"expected finite y,x, got {text!r}")
    return y, x


def size(text: str) -> tuple[int, int]:
    """argparse type for 'H,W' image sizes."""
    try:
        h, w = (int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W (two integers), got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"expected positive H,W, got {text!r}")
    return h, w


def add_prompt_arguments(p: argparse.ArgumentParser, *, required: bool) -> None:
    g = p.add_argument_group("prompt")
    g.add_argument(
        "--prompt",
        type=point,
        action="append",
        required=required,
        metavar="Y,X",
        help="a point on the worm (repeat for more points on the same frame)",
    )
    g.add_argument(
        "--negative",
        type=point,
        action="append",
        default=[],
        metavar="Y,X",
        help="a point that is NOT worm (repeatable)",
    )
    g.add_argument(
        "--prompt-frame",
        type=int,
        default=0,
        metavar="F",
        help="frame of the prompt points (default %(default)s)",
    )
    g.add_argument("--channel", choices=("green", "red"), default="green",
                   help="which channel of a two-channel recording shows the worm")  # fmt: skip


def _command(args: argparse.Namespace) -> str:
    return getattr(args, "command", None) or "segment"


def behaviour_frames(args: argparse.Namespace):
    """The single-channel (T, Y, X) video the user named, and the recording it came from."""
    from napari_catrack.commands._common import recording_from_args

    rec = recording_from_args(args)  # prints a damaged video's notes (frames lost or cut off)
    frames = rec.red if getattr(args, "channel", "green") == "red" else rec.green
    if frames is None:
        raise InputError("the recording has no red channel")
    if frames.ndim != 3:
        raise InputError(f"a behaviour video must be (T, Y, X), got shape {frames.shape}")
    return frames, rec


def anchor_from_args(args: argparse.Namespace):
    from napari_catrack.core.behaviour import Anchor

    pos = list(args.prompt or [])
    neg = list(args.negative or [])
    return Anchor(args.prompt_frame, pos + neg, [1] * len(pos) + [0] * len(neg))


def run_segmentation(frames, args, params, log=print, *, centerlines=None):
    """Segment the video from the prompt in args; returns (result, quality table, centerlines).

    With `centerlines` (CenterlineParams) the centerlines are computed during the segmentation
    in a worker process (`pipeline.segment_and_centerline`), else the third item is None.
    """
    import os

    import numpy as np

    from napari_catrack.core.behaviour import frame_quality, segment_video
    from napari_catrack.core.behaviour.pipeline import segment_and_centerline
    from napari_catrack.core.behaviour.quality import LOOP
    from napari_catrack.core.behaviour.sam import make_segmenter
    from napari_catrack.text import frame_ranges

    segmenter = make_segmenter(params, log=lambda m: warn(_command(args), m))
    progress = progress_printer(f"catrack {_command(args)}: segmentation")
    cl = None
    if centerlines is None:
        result = segment_video(frames, anchor_from_args(args), params, segmenter=segmenter,
                               progress=progress)  # fmt: skip
    else:
        result, cl = segment_and_centerline(
            frames, anchor_from_args(args), params, centerlines, segmenter=segmenter,
            processes=1 if (os.cpu_count() or 1) > 1 else 0, progress=progress,
        )  # fmt: skip
    quality = frame_quality(result.masks, result.score, low_score=params.low_score,
                            area_jump=params.area_jump, source=result.source)  # fmt: skip
    n_low = int(quality["low_confidence"].sum())
    log(f"{result.method}: {result.n_frames} frames segmented, {n_low} listed as doubtful")
    blank = np.flatnonzero(result.source == "blank")
    if len(blank):
        warn(_command(args), f"{len(blank)} blank frame(s) (lost or not decodable in the video) have no mask: "
             f"{frame_ranges(blank)}")  # fmt: skip
    loops = quality["reason"].str.contains(LOOP, regex=False).to_numpy()
    if loops.any():
        warn(_command(args), f"{int(loops.sum())} frame(s) where the worm touches itself (loop): "
             f"{frame_ranges(np.flatnonzero(loops))}")  # fmt: skip
    return result, quality, cl


def warn_other_video(target, video, command: str, steps: tuple[str, ...]) -> None:
    """A `--session` that holds `steps` of another behaviour video: they are replaced by this
    run's (any session takes a behaviour video, as the widget does), so say which video's.
    "Another" by content (the size and SHA-256 the step recorded), not by path: the same video
    moved or copied is not another, a different video written at the same path is."""
    if target is None or not video:
        return
    from napari_catrack.layers import behaviour_video_path, is_behaviour_video

    theirs = behaviour_video_path(target.session)
    held = [s for s in steps if s in target.session]
    if held and theirs and not is_behaviour_video(target.session, video, by_content=True):
        warn(command, f"{target.path.name} holds the {' and '.join(held)} of another video, "
             f"{theirs}: replaced by this run's of {video}")  # fmt: skip
