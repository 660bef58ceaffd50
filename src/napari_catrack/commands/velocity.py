"""`catrack velocity --stage stage.csv --centerline centerline.csv --pixel-size UM -o velocity.csv`."""

from __future__ import annotations

import argparse

from napari_catrack.commands._behaviour import size
from napari_catrack.commands._common import (
    add_session_argument,
    check_outputs,
    positive_float,
    recording_inputs,
    session_from_args,
    warn,
)
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    from napari_catrack.core.behaviour.params import BoutParams, VelocityParams

    p = subparsers.add_parser(
        "velocity",
        help="the worm's velocity on the plate from its image position and the stage",
        description="Writes frame,time_s,x_um,y_um,vy_um_s,vx_um_s,speed_um_s,signed_speed_um_s,"
        "direction. World position = stage + (pixel - image centre) x pixel size; position = "
        "centroid of the centerline (or of the tracked neurons with --tracks; with neither, "
        "the stage's path alone, one frame per --frame-times row or stage row); direction +1 "
        "forward (towards the head), -1 backward, 0 still; velocities are Savitzky-Golay "
        "derivatives over --smooth seconds.",
    )
    p.add_argument("--stage", required=True, help="stage log: CSV/Excel/HDF5")
    p.add_argument("--centerline", default=None, help="centerline CSV (frame,point,y,x)")
    p.add_argument("--tracks", default=None,
                   help="tracks CSV (neuron_id,frame,y,x): position = their centroid; the "
                   "direction then comes from --centerline when given (same frames)")  # fmt: skip
    VelocityParams.add_arguments(p, title="velocity")
    p.add_argument("--fps", type=positive_float, default=None,
                   help="frame rate (frame times = frame/fps)")  # fmt: skip
    p.add_argument(
        "--frame-times",
        default=None,
        metavar="CSV",
        help="frame timestamps (time_s per frame) when the camera rate is uneven",
    )
    p.add_argument(
        "--image-size",
        type=size,
        default=None,
        metavar="H,W",
        help="image size (for the image centre); else from --recording",
    )
    p.add_argument(
        "--recording",
        default=None,
        metavar="REC",
        help="the video, to read the image size and frame rate from",
    )
    g = p.add_argument_group("stage log columns")
    g.add_argument(
        "--stage-columns",
        default=None,
        metavar="MAP",
        help="map columns, e.g. time=Time,y=StageY,x=StageX (keys frame,time,y,x)",
    )
    g.add_argument(
        "--stage-scale",
        type=positive_float,
        default=1.0,
        metavar="UM",
        help="µm per stage unit (1000 for mm) [default: %(default)g]",
    )
    g.add_argument("--stage-time-scale", type=positive_float, default=1.0, metavar="S",
                   help="seconds per stage time unit (0.001 for ms) [default: %(default)g]")  # fmt: skip
    p.add_argument("-o", "--output", required=True, help="output CSV")
    b = p.add_argument_group("behavioural bouts (docs/behaviour.md)")
    b.add_argument("--bouts", default=None, metavar="CSV",
                   help="also write the bout table (forward, reversal, pause, turn; one row per "
                   "bout), which `catrack events --events` reads")  # fmt: skip
    b.add_argument("--frames-table", default=None, metavar="CSV",
                   help="`catrack centerline --frames-report` or `--posture` table (frame,status"
                   "[,a3]): its coiled frames are turns (and |a3| >= --turn-a3)")  # fmt: skip
    BoutParams.add_arguments(p, title="bout")
    # any session: check=False below
    add_session_argument(p, "the --recording video", only=" when given", any_session=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from napari_catrack.core.behaviour import VelocityParams, compute_velocity
    from napari_catrack.core.behaviour.params import BoutParams
    from napari_catrack.core.behaviour.velocity import time_gaps, tracks_positions, write_velocity
    from napari_catrack.core.behaviour.video_centerline import points_from_table
    from napari_catrack.io.stage import read_frame_times, read_stage, stage_at
    from napari_catrack.io.tables import read_table

    check_outputs({"-o": args.output, "--session": args.session, "--bouts": args.bouts},
                  {"--stage": args.stage, "--centerline": args.centerline,
                  "--tracks": args.tracks, "--frame-times": args.frame_times,
                  "--frames-table": args.frames_table,
                  **recording_inputs(args.recording, "--recording")})  # fmt: skip
    params = VelocityParams.from_args(args)
    bout_params = BoutParams.from_args(args)
    if args.frames_table and not args.bouts:
        raise InputError("--frames-table is read for --bouts: give --bouts CSV too")
    target = session_from_args(args, args.recording, check=False)  # the behaviour video
    stage_only = not (args.centerline or args.tracks)  # the stage's path is the worm's
    if not params.pixel_size_um and not stage_only:
        raise InputError("give the pixel size in µm with --pixel-size")
    body = None
    frames = position = None
    if args.centerline:
        body = points_from_table(read_table(args.centerline, ("frame", "point", "y", "x"),
                                            "centerline", numeric=("y", "x"),
                                            frames=("frame", "point")))  # fmt: skip
    if args.tracks:
        tracks = read_table(args.tracks, ("frame", "y", "x"), "tracks", numeric=("y", "x"),
                            frames=("frame",))  # fmt: skip
        if tracks.empty:
            raise InputError(f"tracks {args.tracks} has no rows")
        frames, position = tracks_positions(tracks)
        if body is not None and len(body) != int(frames.max()) + 1:
            warn("velocity", "--tracks and --centerline have different frame counts: no direction")
            body = None
        elif body is not None:
            body = body[frames]
    elif body is not None:
        frames, position = np.arange(len(body)), body.mean(axis=1)
    shape, fps = args.image_size, args.fps
    if args.recording:
        from napari_catrack.io.recording import open_recording

        rec = open_recording(args.recording)
        shape = shape or rec.frame_shape
        fps = fps or rec.fps
        rec.close()
    stage = read_stage(args.stage, columns=args.stage_columns, scale_um=args.stage_scale,
                       time_scale_s=args.stage_time_scale)  # fmt: skip
    for note in stage.notes:  # rows without a position: filled or left empty
        warn("velocity", note)
    if stage_only:  # one frame per frame time, else per stage row; the worm at the image centre
        n = len(read_frame_times(args.frame_times, None)) if args.frame_times else (
            int(stage.frame.max()) + 1 if stage.frame is not None else len(stage))  # fmt: skip
        frames, position, shape = np.arange(n), np.zeros((n, 2)), None
    n = int(frames.max()) + 1
    if args.frame_times:
        times = read_frame_times(args.frame_times, None)
        if len(times) < n:
            raise InputError(f"{len(times)} frame times for {n} frames")
        times = times[frames]
        time_source = "frame times"
    elif fps:
        times = frames / fps
        time_source = "fps"
    elif stage.time_s is not None and stage.frame is not None:
        time_source = "stage log"
        lookup = dict(zip(stage.frame.tolist(), stage.time_s.tolist()))
        if not all(int(f) in lookup for f in frames):
            raise InputError("the stage log lacks some frames: give --fps or --frame-times")
        times = np.array([lookup[int(f)] for f in frames])
    else:
        raise InputError("give --fps (or --frame-times) to know when each frame was taken")
    gaps = time_gaps(times, params.smooth_s)
    if gaps:
        at, longest = max(gaps, key=lambda g: g[1])
        warn("velocity", f"{len(gaps)} gap(s) in the frame times longer than the --smooth window "
             f"(the longest {longest:.3g} s, after frame {int(frames[at])} at {times[at]:.3f} s): "
             "velocities are not carried across them")  # fmt: skip
    notes: list[str] = []
    stage_um = stage_at(stage, frames, times if stage.time_s is not None else None,
                        tolerance_s=0.5 * float(np.median(np.diff(times))) if len(times) > 1 else 0,
                        notes=notes)  # fmt: skip
    for note in notes:  # --fps contradicting the log's own frame numbers and times
        warn("velocity", note)
    no_stage = ~np.isfinite(stage_um).all(axis=1)
    if no_stage.any():
        warn(
            "velocity", f"{int(no_stage.sum())} frame(s) have no stage position: no velocity there"
        )
    if shape is None and not stage_only:
        warn("velocity", "no --image-size (or --recording): positions are relative to pixel (0, 0) "
             "instead of the image centre; velocities are unaffected")  # fmt: skip
    if body is None:
        warn("velocity", "no centerline for the head: direction and signed speed are empty "
             "(unknown) where the worm moves")  # fmt: skip
    table = compute_velocity(position, times, stage_um, shape,
                             params if params.pixel_size_um else params.replace(pixel_size_um=1.0),
                             body_px=body, frames=frames)  # fmt: skip
    bouts = None
    if args.bouts:
        bouts = _bouts(table, bout_params, args.frames_table)
        if body is None:  # moving frames without a direction: in no bout
            warn("velocity", "--bouts without a centerline: moving frames have no direction, so "
                 "only pauses (and turns from --frames-table) are called, no forward runs or "
                 "reversals")  # fmt: skip
    if bouts is not None:
        from napari_catrack.core.behaviour.bouts import write_bouts
        from napari_catrack.io.atomic import atomic_write_set

        with atomic_write_set():  # the velocity and its bouts replace an older run's together
            write_velocity(table, args.output)
            write_bouts(bouts, args.bouts)
    else:
        write_velocity(table, args.output)
    if target is not None:
        from napari_catrack.core.behaviour.records import record_velocity

        # every value the table depends on beside the params: the clock, the image centre and
        # how the stage log was read (the widget records the same keys)
        attrs = {"stage": target.session.stored_path(args.stage),
                 "source": "tracks" if args.tracks else "centerline" if body is not None
                 else "stage",
                 "fps": None if args.frame_times else fps, "times": time_source,
                 "image_size": None if shape is None else [int(v) for v in shape],
                 "stage_columns": args.stage_columns, "stage_scale_um": args.stage_scale,
                 "stage_time_scale_s": args.stage_time_scale}  # fmt: skip
        inputs = {"stage": args.stage, "centerline": args.centerline, "tracks": args.tracks,
                  "frame_times": args.frame_times, "recording": args.recording}  # fmt: skip
        stale = target.record(record_velocity, table, params.to_dict(), attrs, inputs=inputs)
        if stale and bouts is None:  # (as the Worm behaviour widget says it)
            warn("velocity", "the session's bouts were called from the velocity this one "
                 "replaces: removed; give --bouts (with --frames-table) to call them again")  # fmt: skip
        if bouts is not None:
            from napari_catrack.core.behaviour.records import record_bouts

            target.record(record_bouts, bouts, bout_params.to_dict(),
                          {"coiled": args.frames_table is not None},
                          inputs={"frames_table": args.frames_table})  # fmt: skip
        target.save()
    if body is None:  # no head: a moving frame's direction is empty (unknown), not 0 (still)
        still = params.still_um_s
        moving = int((table["speed_um_s"] >= still).sum())
        what = f"{moving} at {still:g} um/s or more; direction unknown without a centerline"
    else:
        from napari_catrack.core.behaviour.velocity import direction_values

        what = f"{int((np.abs(direction_values(table)) == 1).sum())} moving"
    print(f"{len(table)} frames ({what}) -> {args.output}")
    if bouts is not None:
        from napari_catrack.core.behaviour.bouts import bout_counts_text

        print(f"{bout_counts_text(bouts)} -> {args.bouts}")
    return 0


def _bouts(table, params, frames_table):
    """The bout table of the velocity `table`; coiled frames (and a3) from the centerline's
    per-frame table when given, matched by frame number (`bouts.turn_flags`, as the widget)."""
    from napari_catrack.core.behaviour.bouts import compute_bouts, turn_flags
    from napari_catrack.io.tables import read_table

    coiled = a3 = None
    if frames_table:
        ft = read_table(frames_table, ("frame", "status"), "frames table", frames=("frame",))
        if "a3" not in ft.columns and params.turn_a3 > 0:
            raise InputError(f"--turn-a3 needs an a3 column in {frames_table} (catrack centerline "
                             "--posture with an eigenworm basis)")  # fmt: skip
        coiled, a3 = turn_flags(ft, table["frame"], params, name=str(frames_table))
    elif params.turn_a3 > 0:  # (without it --turn-a3 called no turn, and said nothing)
        raise InputError("--turn-a3 reads the a3 column of --frames-table: give --frames-table "
                         "posture.csv (catrack centerline --posture with an eigenworm basis)")  # fmt: skip
    return compute_bouts(table, params, coiled=coiled, a3=a3)
