"""`catrack events (TRACES.csv | SESSION.catrack.h5) --events events.csv -o DIR`: behaviour events
on the imaging clock and event-triggered averages with a circular-shift significance test."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_catrack.commands._common import OutputFolder, check_outputs, positive_float
from napari_catrack.core.events.params import EtaParams, EventAlignParams

EVENTS_FILES = ("events.csv", "eta.csv", "eta_significance.csv", "figures/eta.svg", "params.json")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "events",
        help="line behaviour events up with the imaging and compute event-triggered averages",
        description="Put behaviour events (time or behaviour-video frame per row) on the imaging "
        "clock (frame rate or recorded frame times, a start offset, dropped frames), then average "
        "every neuron's trace around each kind of event and test the response against circular "
        "shifts of the trace. Writes DIR/events.csv, DIR/eta.csv, DIR/eta_significance.csv, "
        "DIR/figures/eta.svg and DIR/params.json (settings, version, input files); with a session file, also records the steps in it (docs/events.md).",
    )
    p.add_argument(
        "traces",
        metavar="TRACES",
        help="traces table (long: neuron_id,frame,dff) or a session file",
    )
    p.add_argument("--events", required=True, metavar="CSV", help="event file (docs/events.md)")
    p.add_argument("--fps", type=positive_float, default=None, help="imaging frame rate")
    p.add_argument(
        "--frame-times",
        default=None,
        metavar="CSV",
        help="imaging frame timestamps (time_s per recorded frame; gaps = dropped)",
    )
    p.add_argument(
        "--video",
        default=None,
        metavar="FILE",
        help="behaviour video (for its frame count and rate; events given as frames)",
    )
    p.add_argument(
        "--video-times",
        default=None,
        metavar="CSV",
        help="behaviour video frame timestamps on the imaging clock",
    )
    EventAlignParams.add_arguments(p, title="event alignment")
    EtaParams.add_arguments(p, title="event-triggered averages")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help="output folder for the aligned events, the averages and their figures",
    )
    p.set_defaults(func=run)


def _video_clock(args, params: EventAlignParams):
    from napari_catrack.core.events.clock import Clock
    from napari_catrack.io.stage import read_frame_times

    if args.video_times:
        from napari_catrack.core.events.session import check_times

        times = read_frame_times(args.video_times)
        check_times(times, Path(args.video_times).name)
        return Clock(times)
    if args.video is None and params.video_fps is None:
        return None
    n, fps = None, params.video_fps
    if args.video is not None:
        from napari_catrack.io.video import open_video

        video = open_video(args.video)
        n, fps = int(video.data.shape[0]), fps or video.fps
        for close in video.closers:
            close()
    if not fps:
        from napari_catrack.errors import InputError

        raise InputError("the behaviour video's frame rate is unknown: give --video-fps")
    if n is None:
        n = 10**7  # frames are timed by the rate alone; any frame number is valid
    return Clock.regular(n, fps, params.video_start_s)


def _check_fps_agrees(fps: float | None, known: float | None, where: str) -> bool:
    """Warn when --fps contradicts the frame rate the traces were made at (the session's, or
    the spacing of the table's time_s column): every event would land on the wrong frame.

    `known`: the session's rate, else the one its time_s states (`frame_rate_of_times`, the
    rule of every table's times), else, for uneven time_s, the rate of its usual step
    (`core.transients.median_step_rate`, never used to time frames): a table with dropped
    frames still has the rate its frames were taken at, so that a wrong --fps (1 % off) is
    told apart from the gaps `_check_time_column` says (give --frame-times), which frame / fps
    cannot keep (h19 review)."""
    from napari_catrack.commands._common import warn

    if fps is not None and known and abs(fps - known) > 0.01 * known:
        warn("events", f"--fps {fps:g} differs from {where} ({known:g} Hz): the events are put "
             f"on frames at {fps:g} Hz; check which is right")  # fmt: skip
        return False
    return True


def _traces(session):
    """The session's traces table, or None."""
    return session["traces"].tables.get("traces") if "traces" in session else None


def _median_step_rate(session) -> float | None:
    """The rate of the usual step of the session's traces' time_s, even or not
    (`core.transients.median_step_rate`): what a wrong --fps is measured against."""
    from napari_catrack.core.transients import median_step_rate

    traces = _traces(session)
    return median_step_rate(traces) if traces is not None else None


def _check_time_column(traces, fps: float, where) -> None:
    """Warn when the table's time_s has gaps that frame / --fps does not (dropped frames timed
    by their timestamps): after the first gap every event would land on a shifted frame."""
    import numpy as np

    from napari_catrack.commands._common import warn

    if "time_s" not in traces:
        return
    one = traces.drop_duplicates("frame").sort_values("frame")
    t, f = one["time_s"].to_numpy(float), one["frame"].to_numpy(float)
    ok = np.isfinite(t) & np.isfinite(f)
    if ok.sum() < 2:
        return
    off = (t[ok] - t[ok][0]) - (f[ok] - f[ok][0]) / fps
    if np.nanmax(np.abs(off)) > 0.5 / fps:
        i = int(np.argmax(np.abs(off) > 0.5 / fps))
        warn("events", f"{where}: time_s departs from frame / --fps by {off[i]:+.3g} s from frame "
             f"{int(f[ok][i])} (dropped frames?); --fps ignores time_s: give the frame times "
             "with --frame-times to keep them")  # fmt: skip


def _check_session_times(session, fps: float) -> None:
    """Warn when a session's rate in force (recorded, or --fps) meets traces whose time_s states
    none (dropped frames, two rates): frame / rate lines the events up, not those times. The
    Transients widget's warning (`core.transients.uneven_times_note`), with the fix; not said
    where the session's own recorded frame times line them up (a --frame-times run kept)."""
    from napari_catrack.commands._common import warn
    from napari_catrack.core.events.session import EVENTS, uneven_clock_note

    if EVENTS in session and "frame_times" in session[EVENTS].tables:
        return
    if note := uneven_clock_note(session, fps):
        warn("events", note + ": give the frame times with --frame-times to keep them")


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.events.align import align_events, outside_note, summarise
    from napari_catrack.core.events.eta import edge_note, event_triggered_averages
    from napari_catrack.core.events.session import (
        frame_times_rate_note,
        imaging_clock,
        read_imaging_frame_times,
        record_eta,
        record_events,
        record_video,
        recording_frames,
        traces_for_eta,
    )
    from napari_catrack.errors import InputError
    from napari_catrack.figures import save_figure
    from napari_catrack.figures.events import eta_figure
    from napari_catrack.figures.style import label_recording, left_out_label
    from napari_catrack.io.atomic import atomic_write_set, write_text_atomic
    from napari_catrack.io.events import read_events
    from napari_catrack.io.tables import read_table, write_table
    from napari_catrack.session import SESSION_SUFFIX, Session

    check_outputs({"-o": OutputFolder(args.output, EVENTS_FILES)},
                  {"TRACES": args.traces, "--events": args.events, "--frame-times": args.frame_times,
                   "--video": args.video, "--video-times": args.video_times})  # fmt: skip
    align_params = EventAlignParams.from_args(args)
    eta_params = EtaParams.from_args(args)
    events = read_events(args.events)
    out = Path(args.output)
    session = None
    if str(args.traces).endswith(SESSION_SUFFIX):
        session = Session.load(args.traces, lazy_arrays=True)  # arrays: copied as stored
        if args.fps is not None or args.frame_times is not None:
            session.remove("events", save=False)
    else:
        session = Session(autosave=False)
        traces = read_table(args.traces, ("neuron_id", "frame"), "traces",
                            numeric=("time_s", eta_params.signal), frames=("frame",))  # fmt: skip
        if traces.empty:
            raise InputError(f"traces {args.traces} has no rows")
        session.record("traces", tables={"traces": traces}, save=False)
    stated = session.frame_rate()  # (a table's: the one rule, None for uneven time_s)
    nominal = stated or _median_step_rate(session)  # (uneven time_s: its usual step's rate)
    agrees = _check_fps_agrees(args.fps, nominal, "the session's frame rate" if stated and
                               session.path else "the traces' time_s")  # fmt: skip
    traces = _traces(session)
    if args.fps and not args.frame_times and agrees and not (stated and session.path):
        if traces is not None:  # (a session's own rate is not checked against its time_s)
            _check_time_column(traces, args.fps, args.traces)
    elif stated and session.path and not args.frame_times:
        _check_session_times(session, args.fps or stated)
    if args.fps and session.path is None:
        session.record("settings", attrs={"fps": args.fps}, save=False)
    if args.frame_times:
        imaging = read_imaging_frame_times(args.frame_times, recording_frames(session), session)
        known = session.frame_rate() or nominal  # (--fps, for a table)
        note = frame_times_rate_note(imaging, known, Path(args.frame_times).name)
        if note:
            from napari_catrack.commands._common import warn

            warn("events", note)
    else:
        if stated is None and args.fps is None:
            _, uneven = session.traces_frame_rate()
            why = f": the traces' time_s states no rate, {uneven}; --frame-times keeps their gaps, frame / --fps does not"  # fmt: skip
            raise InputError(
                "give the imaging frame rate (--fps) or its frame times (--frame-times)"
                + (why if uneven else "")
            )
        imaging = imaging_clock(session, fps=args.fps)
    video_clock = _video_clock(args, align_params)
    aligned = align_events(events, imaging, align_params, video=video_clock)
    if note := outside_note(aligned, imaging):
        from napari_catrack.commands._common import warn

        warn("events", note)
    record_events(
        session,
        aligned,
        imaging,
        align_params,
        source=str(args.events),
        save=False,
        frame_times_source=str(args.frame_times or ""),
        video_source=str(args.video or ""),
        inputs={"video_times": args.video_times},
    )
    if args.video is not None and session.path is not None:
        # the video lined up, as the widget keeps it: its frame times on the imaging clock time
        # the behaviour series and link it in the NWB export (docs/nwb.md)
        record_video(session, str(args.video), video_clock, imaging, save=False,
                     inputs={"video_times": args.video_times})  # fmt: skip
    traces = traces_for_eta(session, eta_params.signal)
    if traces.df_left_out:  # dF under a dF/F average would set its scale
        from napari_catrack.commands._common import warn

        warn("events", f"{traces.note()} of the averages: {', '.join(traces.df_left_out)} "
             "(dff_kind dF: no baseline + background to divide by)")  # fmt: skip
    result = event_triggered_averages(traces.values, traces.times, traces.ids, aligned,
                                      eta_params)  # fmt: skip
    record_eta(session, result, save=False, df_left_out=traces.df_left_out)
    with atomic_write_set():  # the tables and the figure replace an older run's together
        write_table(aligned, out / "events.csv")
        write_table(result.eta, out / "eta.csv")
        write_table(result.significance, out / "eta_significance.csv")
        from napari_catrack.figures.traces import session_dff_is_ratio

        fig = eta_figure(result.eta, result.significance, aligned, signal=eta_params.signal,
                         ratio=session_dff_is_ratio(session))  # fmt: skip
        name = _recording_name(session)  # the dF cells left out, counted as every figure does
        label_recording(fig, left_out_label(name, 0, len(traces.df_left_out)))
        save_figure(fig, out / "figures" / "eta.svg")
        write_text_atomic(out / "params.json", _run_facts(args, align_params, eta_params, imaging))
    if session.path is not None:
        session.save()
    sig = result.significance
    for row in summarise(aligned).itertuples():
        mine = sig[sig["event"].astype(str) == str(row.event)]
        n_tested = int(mine["n_events"].iloc[0]) if len(mine) else 0
        if n_tested >= eta_params.min_events:
            n_sig = int(mine["significant"].sum())
            verdict = f"{n_sig} responsive neuron{'s' if n_sig != 1 else ''}"
        else:  # (its rows have no p-value: "0 responsive neurons" read as tested and negative)
            verdict = f"not tested (fewer than --min-events {eta_params.min_events})"
        print(  # a result line per kind of event, on stdout as every command's result line
            f"{row.event}: {row.events} event{'s' if row.events != 1 else ''} "
            f"({row.in_recording} in the recording, {n_tested} at least {eta_params.span_s:g} s "
            "from its ends"
            f"{edge_note(result.edges.get(str(row.event)))}), {verdict}"
        )
    return 0


def _run_facts(args, align_params, eta_params, imaging) -> str:
    """DIR/params.json: the settings, the package version and the input files (path, size,
    SHA-256), so a table from a traces CSV (no session to record it in) says how it was made."""
    import json

    from napari_catrack import __version__
    from napari_catrack.io.provenance import inputs_provenance

    inputs = {"traces": args.traces, "events": args.events, "frame_times": args.frame_times,
              "video": args.video, "video_times": args.video_times}  # fmt: skip
    facts = {
        "version": __version__,
        "fps_option": args.fps,  # as given (None: from the frame times, the session or time_s)
        "fps": round(imaging.fps, 6),  # the imaging rate used (its median frame interval)
        "frame_times_used": bool(args.frame_times),
        "imaging_frames": len(imaging),
        "alignment": align_params.to_dict(),
        "eta": eta_params.to_dict(),
        "inputs": inputs_provenance(None, inputs),
    }
    return json.dumps(facts, indent=2, default=float) + "\n"


def _recording_name(session) -> str | None:
    """The session's recording file name, for the figure's title."""
    path = (session.recording or {}).get("path")
    return Path(str(path)).name if path else None
