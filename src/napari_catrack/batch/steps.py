"""The steps a batch can run on one recording: each calls the same core function as its command
and widget and records its result in the recording's session.

`StepContext` holds what the steps of one recording share (the recording opened once, the
session, the alignment in force, the frame rate). A step that does not apply to a recording
(aligning a single-channel movie) raises `NotApplicable`: reported as "skipped", not a failure.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_catrack.core.alignment_params import AlignParams
from napari_catrack.core.ensembles.params import EnsembleParams
from napari_catrack.core.events.params import EtaParams, EventAlignParams
from napari_catrack.core.registration.params import RegisterParams
from napari_catrack.core.signals.params import TracesParams
from napari_catrack.core.sources.params import EvaluationParams, SourcesParams
from napari_catrack.core.summary import SummaryParams
from napari_catrack.core.tracking.params import DetectParams, TrackParams
from napari_catrack.core.transients.params import TransientParams
from napari_catrack.errors import CatrackError, InputError

REGISTERED = "registered.tif"


class NotApplicable(CatrackError):
    """The step has nothing to do for this recording (reported as skipped, with the reason)."""


class RecordingNote(UserWarning):
    """What the reader says a user must know about a recording (`Recording.warnings`), raised
    once, when a batch step opens it: the worker's warning line and that step's report row."""


class StepContext:
    """What the steps of one recording share; the recording is opened once, lazily."""

    def __init__(self, spec: Any, session: Any, folder: Path, log: Callable[[str], None]) -> None:
        self.spec, self.session, self.folder, self.log = spec, session, folder, log
        self._noted = False

    def _note_reader(self, notes) -> None:
        """The reader's warnings (a mixed frame folder, a damaged video's lost frames), raised
        as `RecordingNote`s once a recording, by the first step that opens it, whether through
        `recording` or `frames` (register and summary read frames): in that step's row too."""
        if self._noted:
            return
        self._noted = True
        import warnings

        for note in notes:
            if str(note).startswith("WARNING"):
                warnings.warn(str(note).removeprefix("WARNING: "), RecordingNote, stacklevel=3)

    @functools.cached_property
    def recording(self):
        rec = self.spec.open()
        self._note_reader(rec.metadata.get("notes", []))
        stated = rec.metadata.get("file_fps")
        if stated and rec.fps and abs(rec.fps - stated) > 0.01 * stated:
            import warnings  # shown as one line naming the recording and the step

            warnings.warn(
                f"the manifest's fps {rec.fps:g} differs from the {stated:g} Hz the file states; "
                "the manifest's is used (remove `fps` from the manifest to use the file's)",
                UserWarning,
                stacklevel=2,
            )
        return rec

    def close(self) -> None:
        if "recording" in self.__dict__:
            self.recording.close()

    def fps(self) -> float:
        fps = self.spec.options.get("fps") or self.session.frame_rate()
        if not fps and self.spec.path.exists():
            fps = self.recording.fps
        if not fps:
            raise InputError("the frame rate is unknown: give `fps` in the manifest")
        return float(fps)

    def alignment(self):
        """The red -> green transform in force: none (`no_align`), this session's `alignment`
        step, the manifest's `align` file, else the project's rule (an estimate, said in the log)."""
        from napari_catrack.core.alignment_rule import alignment_for_recording
        from napari_catrack.core.rigid import AlignmentTransform

        rec = self.recording
        if self.spec.no_align or rec.red is None:
            return None
        if "alignment" in self.session:
            return AlignmentTransform.from_dict(dict(self.session["alignment"].attrs))
        found = alignment_for_recording(
            rec,
            align_file=self.spec.files.get("align"),
            session_path=self.session.path,
            log=self.log,
            cache=False,  # batch writes its own session (with step keys): no cache beside it
        )
        return found.transform

    def table(self, step: str, name: str, needed_by: str):
        if step not in self.session or name not in self.session[step].tables:
            raise InputError(f"{needed_by} needs the {step} step's {name} (run it first)")
        return self.session[step].tables[name]

    def inputs(self, **more) -> dict:
        """The files a step read, by role, for its record's provenance: the recording and `more`
        (the manifest's files the step used, named by the step)."""
        return {"recording": self.spec.path, **more}

    def movie(self):
        """The two-photon movie steps read: the registered one when there is one."""
        registered = self.folder / REGISTERED
        return registered if registered.is_file() else self.spec.path

    def frames(self, path=None):
        """`movie()` (or `path`) as a `FrameSource`, the raw recording opened with the manifest's
        options (its plane, channel, dataset), the registered movie as it is."""
        from napari_catrack.io.frames import open_frames

        path = self.movie() if path is None else path
        options = {} if path != self.spec.path else self.spec.open_options()
        source = open_frames(path, fps=options.pop("fps", None), **options)
        if path == self.spec.path:  # the recording's reader warnings, as `recording` gives them
            self._note_reader(source.notes)
        return source


@dataclass(frozen=True)
class BatchStep:
    name: str  # as written in manifests
    session_step: str  # the session step it records
    params: type | None
    upstream: tuple[str, ...] = ()  # batch steps whose results it reads (their keys chain)
    files: tuple[str, ...] = ()  # manifest files it reads
    reads_recording: bool = True
    run: Callable[[StepContext, Any], str] | None = None  # returns a short summary


def _align(ctx: StepContext, p: AlignParams) -> str:
    from napari_catrack.core.alignment import estimate_alignment
    from napari_catrack.core.alignment_records import record_alignment
    from napari_catrack.core.rigid import AlignmentTransform

    rec = ctx.recording
    if rec.red is None:
        raise NotApplicable("single-channel recording: nothing to align")
    file = ctx.spec.files.get("align")
    if file is not None:
        t = AlignmentTransform.load_json(file)
        record_alignment(ctx.session, t, file=str(file), inputs={"align": file}, save=False)
    else:
        t = estimate_alignment(rec.green, rec.red, p)
        record_alignment(ctx.session, t, p, inputs=ctx.inputs(), save=False)
    note = f"dy {t.dy:+.2f} dx {t.dx:+.2f} rotation {t.rotation_deg:+.2f}"
    if t.scale != 1:
        note += f" scale {t.scale:.4f}"
    if t.is_affine:
        note += f" aspect {t.aspect:.4f} shear {t.shear:+.4f}"
    return note


def _detect(ctx: StepContext, p: DetectParams) -> str:
    from napari_catrack.core.detection import detect_candidates
    from napari_catrack.core.tracking.records import record_neurons

    rec, frame = ctx.recording, ctx.spec.seed_frame or 0
    channel = "red" if rec.red is not None else "green"
    stack = rec.red if channel == "red" else rec.green
    _, cand = detect_candidates(np.asarray(stack[frame], dtype=np.float32), p)
    align = ctx.alignment() if channel == "red" else None
    if align is not None and len(cand):
        cand[["y", "x"]] = align.map_points(cand[["y", "x"]].to_numpy(float), stack.shape[-2:])
    cand["frame"] = frame
    record_neurons(
        ctx.session, cand, p, frame=frame, channel=channel, inputs=ctx.inputs(), save=False
    )
    return f"{len(cand)} candidates"


def _track(ctx: StepContext, p: TrackParams) -> str:
    from napari_catrack.core.tracking.in_green import channel_used, track_in_green
    from napari_catrack.core.tracking.records import record_tracks
    from napari_catrack.core.tracking.tracker import seeds_frame
    from napari_catrack.io.tables import read_table

    if "seeds" in ctx.spec.files:
        seeds = read_table(ctx.spec.files["seeds"], ("neuron_id", "y", "x"), "seeds")
    else:
        seeds = ctx.table("neurons", "candidates", "track (without a seeds file)")
    frame = seeds_frame(seeds, ctx.spec.seed_frame)
    rec = ctx.recording
    align = ctx.alignment() if p.channel == "red" and rec.red is not None else None
    tracks = track_in_green(rec, seeds[["neuron_id", "y", "x"]], frame, align, p)
    record_tracks(
        ctx.session,
        tracks,
        p.replace(channel=channel_used(rec, p.channel)),  # the channel tracked
        seed_frame=frame,
        alignment=align,
        inputs=ctx.inputs(seeds=ctx.spec.files.get("seeds")),
        save=False,
    )
    return f"{tracks.neuron_id.nunique()} neurons x {rec.n_frames} frames"


def _traces(ctx: StepContext, p: TracesParams) -> str:
    from napari_catrack.core.signals.extraction import extract_traces, lost_frames_note
    from napari_catrack.core.signals.records import record_traces

    tracks = ctx.table("tracks", "tracks", "traces")
    rec, fps, align = ctx.recording, ctx.fps(), ctx.alignment()
    traces = extract_traces(rec.green, tracks, rec.red, p, transform=align, fps=fps)
    record_traces(ctx.session, traces, p, fps=fps, alignment=align, inputs=ctx.inputs(), save=False)
    lost = lost_frames_note(traces, p, keep_hint="lost_frames: measure keeps them")
    return f"{traces.neuron_id.nunique()} neurons" + (f"; {lost}" if lost else "")


def _transients(ctx: StepContext, p: TransientParams) -> str:
    from napari_catrack.core.transients import (
        cell_table,
        detect_transients,
        frame_times,
        time_offsets,
    )
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.io.tables import long_to_matrix

    traces, fps = ctx.table("traces", "traces", "transients"), ctx.fps()
    m = long_to_matrix(traces, "dff", sort_ids=False)
    table = detect_transients(m.dff, fps, neuron_ids=m.neuron_ids, params=p)
    for c in ("start", "peak", "end"):  # matrix columns back to the recording's frame numbers
        table[f"{c}_frame"] = m.frames[table[f"{c}_frame"].to_numpy()]
    table = frame_times(table, fps, time_offsets(traces, fps))  # each trace's time_s clock
    cells = cell_table(table, m.neuron_ids, np.isfinite(m.dff).sum(axis=1), fps,
                       total_frames=m.dff.shape[1])  # fmt: skip
    record_transients(ctx.session, table, cells, p, fps=fps, save=False)  # keeps verdicts
    return f"{len(table)} transients in {table.neuron_id.nunique()}/{len(m.neuron_ids)} neurons"


def _ensembles(ctx: StepContext, p: EnsembleParams) -> str:
    from napari_catrack.core.ensembles import find_ensembles, trains_from_table
    from napari_catrack.core.ensembles.records import (
        ensemble_input,
        record_ensembles,
        traced_observed,
    )

    transients = ctx.table("transients", "transients", "ensembles")
    ctx.table("transients", "cells", "ensembles")
    n_frames = int(ctx.table("traces", "traces", "ensembles")["frame"].max()) + 1
    # every neuron traced (the cell table) less the rejected cells and their transients, as the
    # widget, `catrack ensembles --session` and the demos count them
    transients, ids, _rejected = ensemble_input(ctx.session, transients)
    trains = trains_from_table(transients, n_frames=n_frames, neuron_ids=ids)
    trains = traced_observed(ctx.session, trains)  # NaN trace frames: unknown, not silent
    result = find_ensembles(trains, ctx.fps(), p)
    record_ensembles(ctx.session, result, save=False)
    return f"{len(result.events)} events, {result.n_ensembles} ensembles"


def _register(ctx: StepContext, p: RegisterParams) -> str:
    from napari_catrack.core.registration import register_movie
    from napari_catrack.core.registration.records import record_registration

    with ctx.frames(ctx.spec.path) as source:
        result = register_movie(source, p, output=ctx.folder / REGISTERED)
    record_registration(ctx.session, result, output=REGISTERED, inputs=ctx.inputs(), save=False)
    residual = result.metrics.get("residual_motion_median_px", float("nan"))
    return _with_notes(f"residual motion {residual:.3f} px", result.notes)  # patches used


def _summary(ctx: StepContext, p: SummaryParams) -> str:
    from napari_catrack.core.summary import summary_images
    from napari_catrack.core.summary_records import record_summary

    movie = ctx.movie()
    with ctx.frames(movie) as source:
        images = summary_images(source, p)
    record_summary(ctx.session, images, p, inputs={"recording": movie}, save=False)
    return _with_notes(f"{len(images.as_dict())} images", images.notes)  # a NaN border


@dataclass(frozen=True)
class SourcesStepParams(SourcesParams, EvaluationParams):
    """The batch `sources` step's values: extraction's and the component-evaluation thresholds
    as one set of names, as `catrack sources` takes both as options (`min_snr: 4` in a
    manifest's `params: {sources: ...}`; the two share no name)."""

    def check(self) -> None:
        SourcesParams.check(self)
        EvaluationParams.check(self)

    def extraction(self) -> SourcesParams:
        return SourcesParams.from_dict(self.to_dict())

    def evaluation(self) -> EvaluationParams:
        return EvaluationParams.from_dict(self.to_dict())

    def key_dict(self) -> dict[str, Any]:
        """What the step key hashes: the extraction values as before the thresholds could be
        given, and the thresholds only when changed (a finished batch stays up to date)."""
        changed = self.evaluation().changed()
        return {**self.extraction().to_dict(), **({"evaluation": changed} if changed else {})}


def _sources(ctx: StepContext, p: SourcesStepParams) -> str:
    from napari_catrack.core.sources import extract_sources
    from napari_catrack.core.sources.session import record_sources

    movie = ctx.movie()
    with ctx.frames(movie) as source:
        result = extract_sources(source, p.extraction(), p.evaluation(), fps=ctx.fps())
    record_sources(ctx.session, result, inputs={"recording": movie}, save=False)
    n_acc = int(result.components.accepted.sum())
    return _with_notes(f"{len(result.components)} components, {n_acc} accepted", result.warnings)


def _with_notes(summary: str, notes) -> str:
    """A step's report message with what the user should know about its run (the NaN border
    left out, the patch size used on a small frame), which the command line warns about."""
    return "; ".join([summary, *(str(n) for n in notes or ())])


def _events(ctx: StepContext, p: EventAlignParams) -> str:
    from napari_catrack.core.events.align import align_events, outside_note
    from napari_catrack.core.events.clock import Clock
    from napari_catrack.core.events.session import (
        check_times,
        imaging_clock,
        read_imaging_frame_times,
        record_events,
        record_video,
        uneven_clock_note,
    )
    from napari_catrack.io.events import read_events
    from napari_catrack.io.stage import read_frame_times

    files = ctx.spec.files
    if "events" not in files:
        raise InputError("the events step needs an `events` file in the manifest")
    notes: list[str] = []
    if "frame_times" in files:
        # the rules of `catrack events --frame-times`: one time per recorded frame of this
        # recording, increasing (a file for another, longer recording was taken silently)
        imaging = read_imaging_frame_times(
            files["frame_times"], ctx.recording.n_frames, ctx.session
        )
        known = ctx.spec.options.get("fps") or ctx.recording.fps
        if known and abs(imaging.fps - known) > 0.1 * known:
            import warnings

            warnings.warn(
                f"{Path(files['frame_times']).name}: its frames come at {imaging.fps:.3g} Hz but "
                f"the recording's frame rate is {known:g} Hz (time_s in another unit, e.g. ms?); "
                "the frame times are used",
                UserWarning,
                stacklevel=2,
            )
    else:
        ctx.session.remove("events", save=False)  # a new rate or recording: not the old clock
        imaging = imaging_clock(ctx.session, n_frames=ctx.recording.n_frames, fps=ctx.fps())
        # the rate kept over traces' uneven time_s: said in the report, as `catrack events` says
        notes.append(uneven_clock_note(ctx.session, ctx.fps()))
    video = None
    if "video_times" in files:
        times = read_frame_times(files["video_times"])
        check_times(times, Path(files["video_times"]).name)
        video = Clock(times)
    elif "video" in files or p.video_fps:
        n_video, fps = _video_length(files.get("video"), p.video_fps)
        video = Clock.regular(n_video, fps, p.video_start_s)
    aligned = align_events(read_events(files["events"]), imaging, p, video=video)
    if note := outside_note(aligned, imaging):  # events in ms, a wrong clock start
        import warnings

        warnings.warn(note, UserWarning, stacklevel=2)
    record_events(
        ctx.session,
        aligned,
        imaging,
        p,
        source=str(files["events"]),
        save=False,
        frame_times_source=str(files.get("frame_times") or ""),
        video_source=str(files.get("video") or ""),
        inputs={"video_times": files.get("video_times")},
    )
    if "video" in files and video is not None:
        record_video(ctx.session, str(files["video"]), video, imaging, save=False,
                     inputs={"video_times": files.get("video_times")})  # fmt: skip
    summary = f"{int(aligned.in_recording.sum())}/{len(aligned)} events in the recording"
    return _with_notes(summary, [n for n in notes if n])


def _video_length(path: Path | None, fps: float | None) -> tuple[int, float]:
    if path is None:
        return 10**7, float(fps)  # events as frames of a video not given: timed by the rate
    from napari_catrack.io.video import open_video

    raw = open_video(path)
    try:
        fps = fps or raw.fps
        if not fps:
            raise InputError(
                f"the frame rate of {path.name} is unknown: give params.events.video_fps"
            )
        return int(raw.data.shape[0]), float(fps)
    finally:
        for close in raw.closers:
            close()


def _eta(ctx: StepContext, p: EtaParams) -> str:
    from napari_catrack.core.events.eta import (
        edge_note,
        edges_total,
        event_triggered_averages,
        tested_summary,
    )
    from napari_catrack.core.events.session import record_eta, traces_for_eta

    traces = traces_for_eta(ctx.session, p.signal)
    events = ctx.table("events", "events", "eta")
    result = event_triggered_averages(traces.values, traces.times, traces.ids, events, p)
    record_eta(ctx.session, result, save=False, df_left_out=traces.df_left_out)
    note = f"; {traces.note()}" if traces.df_left_out else ""  # as the CLI says
    return (
        tested_summary(result.significance, p.min_events)
        + edge_note(edges_total(result.edges))
        + note
    )


STEPS: dict[str, BatchStep] = {
    s.name: s
    for s in (
        BatchStep("align", "alignment", AlignParams, files=("align",), run=_align),
        BatchStep("detect", "neurons", DetectParams, ("align",), run=_detect),
        BatchStep(
            "track", "tracks", TrackParams, ("align", "detect"), ("seeds", "align"), run=_track
        ),
        BatchStep("traces", "traces", TracesParams, ("align", "track"), ("align",), run=_traces),
        BatchStep(
            "transients",
            "transients",
            TransientParams,
            ("traces", "sources"),
            reads_recording=False,
            run=_transients,
        ),
        BatchStep(
            "ensembles",
            "ensembles",
            EnsembleParams,
            ("transients",),
            reads_recording=False,
            run=_ensembles,
        ),
        BatchStep("register", "registration", RegisterParams, run=_register),
        BatchStep("summary", "summary", SummaryParams, ("register",), run=_summary),
        BatchStep("sources", "sources", SourcesStepParams, ("register",), run=_sources),
        BatchStep(
            "events",
            "events",
            EventAlignParams,
            (),
            ("events", "frame_times", "video", "video_times"),
            run=_events,
        ),
        BatchStep(
            "eta",
            "eta",
            EtaParams,
            ("traces", "sources", "events"),
            reads_recording=False,
            run=_eta,
        ),
    )
}
"""Every step a manifest can name, in the order an analysis runs them."""


# What the record functions store beside a step's parameters: facts of the run (the frame rate,
# the alignment used, counts), never a parameter. A recorded name that is neither one of these nor
# a field of the step's parameters is a parameter an older version had (`recorded_params`).
RECORDED_FACTS: dict[str, frozenset[str]] = {
    "align": frozenset({"file", "estimate", "estimate_info", "green_layer", "red_layer"}),
    "detect": frozenset({"frame", "channel", "project", "image", "frames"}),
    "track": frozenset(
        {"seed_frame", "alignment", "step", "n_manual", "corrections", "brightness_rules"}
    ),
    "traces": frozenset(
        {
            "fps",
            "alignment",
            "cleaning",
            "cleaning_params",
            "alignment_source",
            "points_layer",
            "red_floor_estimator",
        }
    ),
    "transients": frozenset({"fps"}),
    "ensembles": frozenset(
        {
            "fps",
            "bin_frames",
            "n_bins",
            "n_frames",
            "n_neurons",
            "n_input_events",
            "seed_used",
            "cut_rule",
            "version",
            "threshold",
            "cut",
        }
    ),
}


def recorded_params(step: str, recorded: dict[str, Any] | None) -> tuple[dict, dict]:
    """What batch step `step` was run with, from its session record's `params`: the values that
    differ from the defaults (field names), and the recorded values that are no parameter of this
    version (`RECORDED_FACTS` left out), which the caller reports rather than fails on.

    Raises `InputError` when a recorded value is not valid in this version (a bound changed)."""
    info = STEPS[step]
    recorded = dict(recorded or {})
    if step == "register":  # an older session's 96 is the automatic patch size it meant
        from napari_catrack.core.registration.params import recorded_values

        recorded = recorded_values(recorded)
    if step == "track":  # an older session's tracks: made with the rules of their time
        from napari_catrack.core.tracking.params import recorded_values

        recorded = recorded_values(recorded)
    if step == "traces":  # an older session's record without lost_frames measured them
        from napari_catrack.core.signals.params import recorded_values

        recorded = recorded_values(recorded)
    if step == "sources":  # {"sources": extraction values, "evaluation": ...} or {"import": ...}
        # the evaluation thresholds are taken whoever made the cells (tuned on imported cells
        # too); the extraction values only when the step extracted them
        recorded = {**(recorded.get("evaluation") or {}), **(recorded.get("sources") or {})}
    fields = {f.name for f in dataclasses.fields(info.params)}
    facts = RECORDED_FACTS.get(step, frozenset())
    unknown = {k: v for k, v in recorded.items() if k not in fields and k not in facts}
    return info.params.from_dict(recorded).changed(), unknown


def session_params(session, steps: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per batch step, the values this session ran it with that differ from the defaults."""
    out = {}
    for name in steps:
        info = STEPS[name]
        if info.params is None or info.session_step not in session:
            continue
        changed, _ = recorded_params(name, session[info.session_step].params)
        if changed:
            out[name] = changed
    return out
