"""Events in the session: the steps this package writes and reads.

- "events": table `events` (align.EVENT_COLUMNS), table `frame_times` (frame, time_s: the
  imaging clock every export uses), attrs `source` (the event file), `frame_times_source` and
  `video_source` (the files lined up with it, "" when none), `dropped_frames`, `fps`, `inputs`
  (roles `events`, `frame_times`, `video`, `video_times`); params EventAlignParams;
- "behaviour_video": attrs `path`, `fps`, `n_frames`, `inputs` (`video`, `video_times`); table
  `frame_times` (the video's frames on the imaging clock) and table `imaging_to_video` (frame,
  video_frame, covered);
- "eta": tables `eta` and `significance` (eta.ETA_COLUMNS / SIGNIFICANCE_COLUMNS), attrs `inputs`
  (the events step's files the averages were taken around) and `df_left_out` (the ids of cells
  whose dff is dF, not dF/F, left out of a dF/F average: `traces_for_eta`); params EtaParams.

`inputs` is `io.provenance.inputs_provenance` ({role: path, size, mtime, sha256}), as every
step's record stores it (`Session.provenance()`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from napari_catrack.core.events.clock import Clock
from napari_catrack.core.events.eta import EtaResult
from napari_catrack.core.events.params import EtaParams, EventAlignParams
from napari_catrack.errors import InputError

EVENTS, VIDEO, ETA = "events", "behaviour_video", "eta"


def imaging_clock(
    session, n_frames: int | None = None, fps: float | None = None, recorded: bool = True
) -> Clock:
    """The imaging clock: the session's recorded frame times (unless `recorded` is False: a new
    line-up at the frame rate), else frames at the frame rate."""
    if recorded and EVENTS in session and "frame_times" in session[EVENTS].tables:
        ft = session[EVENTS].tables["frame_times"].sort_values("frame")
        return Clock(ft["time_s"].to_numpy(float))
    fps = fps or session.frame_rate()
    if not fps:
        _, uneven = session.traces_frame_rate()  # (times with gaps: their frames named)
        why = f" (the traces' time_s states none, {uneven}: or give their frame times)"
        raise InputError(
            f"the frame rate is unknown{why if uneven else ''}: set it before lining up events"
        )
    n = n_frames or recording_frames(session)
    if not n:
        raise InputError("the number of imaging frames is unknown: open the recording first")
    return Clock.regular(n, fps)


def uneven_clock_note(session, fps: float | None) -> str:
    """The warning where a new line-up at a frame rate in force (`fps`, else the session's)
    meets traces whose time_s states none (dropped frames, two rates): `imaging_clock` keeps
    the rate, and frame / rate times the events, not those times. The one message
    (`core.transients.uneven_times_note`) of `catrack events`, the Events widget, the batch
    events step and the Transients widget; "" where the times are even or no rate is in force."""
    from napari_catrack.core.transients import uneven_times_note

    fps = fps or session.frame_rate()
    if not fps:
        return ""
    _, uneven = session.traces_frame_rate()
    return uneven_times_note(uneven, fps, "events") if uneven else ""


def recording_frames(session) -> int | None:
    """The recording's frame count as the session knows it (its summary, else the traces)."""
    n = int((session.recording.get("summary") or {}).get("frames") or 0)
    if not n and "traces" in session and "traces" in session["traces"].tables:
        n = int(session["traces"].tables["traces"]["frame"].max()) + 1
    return n or None


def _traces_frames(session) -> np.ndarray | None:
    if "traces" in session and "traces" in session["traces"].tables:
        return np.unique(session["traces"].tables["traces"]["frame"].to_numpy())
    return None


def check_times(times: np.ndarray, name: str, rows: np.ndarray | None = None) -> None:
    """Frame times must be numbers that increase: say which row is not (file rows: header = 1),
    not only "sample times must be finite and strictly increasing"."""
    rows = np.arange(len(times)) if rows is None else np.asarray(rows)
    bad = ~np.isfinite(times)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{name}: row {rows[i] + 2} has no usable time_s ({times[i]})")
    step = np.diff(times)
    if (step <= 0).any():
        i = int(np.argmax(step <= 0)) + 1
        raise InputError(
            f"{name}: time_s must increase frame by frame; row {rows[i] + 2} has {times[i]:g} "
            f"after {times[i - 1]:g}"
        )


def frame_times_rate_note(imaging: Clock, known_fps: float | None, name: str) -> str | None:
    """A warning when frame times run at another rate than the traces were made at (by more
    than 10 %): a time_s column in ms is 1000 times slower and would be taken silently. The
    frame times are still used (they may be right and the stored rate wrong)."""
    if not known_fps or not np.isfinite(imaging.fps) or imaging.fps <= 0:
        return None
    if abs(imaging.fps - known_fps) <= 0.1 * known_fps:
        return None
    return (
        f"{name}: its frames come at {imaging.fps:.3g} Hz but the traces' frame rate is "
        f"{known_fps:g} Hz (time_s in another unit, e.g. ms?); the frame times are used"
    )


def read_imaging_frame_times(path, n_frames: int | None = None, session=None) -> Clock:
    """The imaging clock from a frame-times file: a `time_s` column (and optionally `frame`) with
    one row per recorded frame; refused when it has no `time_s` or not `n_frames` rows."""
    from pathlib import Path

    from napari_catrack.io.tables import read_table

    path = Path(path)
    if not path.is_file():
        raise InputError(f"frame times file not found: {path}")
    table = read_table(path, (), "frame times")
    if "time_s" not in table.columns:
        raise InputError(
            f"{path.name}: no time_s column (the time, s, of each recorded imaging frame); "
            f"it has {', '.join(map(str, table.columns)) or 'no columns'}"
        )
    times = pd.to_numeric(table["time_s"], errors="coerce").to_numpy(float)
    order = np.arange(len(times))
    if "frame" in table.columns:
        order = np.argsort(table["frame"].to_numpy(), kind="stable")
        times = times[order]
    check_times(times, path.name, rows=order)
    if n_frames and len(times) != n_frames:
        numbered = _traces_frames(session) if session is not None else None
        if numbered is not None and len(numbered) == len(times) < n_frames:
            # one time per frame the traces hold, but their frame numbers have gaps (frames
            # numbered by acquisition, the dropped ones left out): times go by frame number
            raise InputError(
                f"{path.name} has {len(times)} frame times, one per frame of the traces, but "
                f"the traces number their frames 0-{n_frames - 1} with {n_frames - len(times)} "
                "numbers missing; frame times go by frame number: number the traces' frames "
                f"0-{len(times) - 1} in recorded order (their gaps are then the timestamps')"
            )
        raise InputError(
            f"{path.name} has {len(times)} frame times (rows) but the recording has {n_frames} "
            "frames; give one time_s per recorded frame"
        )
    return Clock(times)


def record_events(
    session,
    aligned: pd.DataFrame,
    imaging: Clock,
    params: EventAlignParams,
    source: str = "",
    save=None,
    *,
    frame_times_source: str = "",
    video_source: str = "",
    inputs: dict | None = None,
) -> None:
    """Store lined-up events with the files they came from, so that a reopened widget or
    session shows what was lined up (the event file, frame times and video paths); their
    provenance (and that of `inputs`, e.g. {"video_times": path}) is attrs `inputs`.

    A line-up without a video drops the video an earlier line-up kept (`record_video`): its
    frames were placed on that line-up's clock, and it would go on timing the behaviour series
    of an NWB export."""
    from napari_catrack.io.provenance import inputs_provenance

    if not video_source and VIDEO in session:
        session.remove(VIDEO, save=False)

    read = {"events": source, "frame_times": frame_times_source, "video": video_source}
    _first, missing = imaging.dropped()
    session.record(
        EVENTS,
        tables={
            "events": aligned,
            "frame_times": pd.DataFrame(
                {"frame": np.arange(len(imaging)), "time_s": imaging.times}
            ),
        },
        attrs={  # as the recording's path: the session reopens them from any working folder
            "source": session.stored_path(source),
            "frame_times_source": session.stored_path(frame_times_source),
            "video_source": session.stored_path(video_source),
            "dropped_frames": int(missing.sum()),
            "fps": imaging.fps,
            "inputs": inputs_provenance(session, {**read, **(inputs or {})}),
        },
        params=params.to_dict(),
        save=save,
    )


def record_video(
    session, path: str, video: Clock, imaging: Clock, save=None, *, inputs: dict | None = None
) -> None:
    """The video's frames on the imaging clock; the video's provenance (and `inputs`', e.g.
    {"video_times": path}) is attrs `inputs`."""
    from napari_catrack.core.events.sync import video_frame_for_imaging
    from napari_catrack.io.provenance import inputs_provenance

    index, covered = video_frame_for_imaging(imaging, video)
    session.record(
        VIDEO,
        tables={
            "frame_times": pd.DataFrame({"frame": np.arange(len(video)), "time_s": video.times}),
            "imaging_to_video": pd.DataFrame(
                {"frame": np.arange(len(imaging)), "video_frame": index, "covered": covered}
            ),
        },
        # absolute: a relative path would name another file from another working folder
        attrs={
            "path": session.stored_path(path),
            "fps": video.fps,
            "n_frames": len(video),
            "inputs": inputs_provenance(session, {"video": path, **(inputs or {})}),
        },
        save=save,
    )


def record_eta(session, result: EtaResult, save=None, df_left_out=()) -> None:
    """The averages; attrs `inputs`: the files of the events they were taken around (the
    events step's, as recorded; the traces are the session's own); `df_left_out`: the cells
    `traces_for_eta` left out (dF, not dF/F)."""
    read = dict(session[EVENTS].attrs.get("inputs") or {}) if EVENTS in session else {}
    session.record(
        ETA,
        tables={"eta": result.eta, "significance": result.significance},
        attrs={"inputs": read, "edges": result.edges, "df_left_out": [str(i) for i in df_left_out]},
        params=result.params.to_dict(),
        save=save,
    )


# the traces columns in dF/F: a cell whose dff is dF (`core.sources.session.df_cells`) is left
# out of their averages, as the export's dF/F figures leave it out
DFF_SIGNALS = ("dff", "dff_clean")


class EtaTraces(NamedTuple):
    values: np.ndarray  # (N, T)
    times: np.ndarray  # (T,) frame times on the imaging clock
    ids: np.ndarray  # (N,) neuron ids
    df_left_out: list[str]  # cells whose dff is dF, not dF/F, left out of a dF/F average

    def note(self) -> str:
        """'2 cells with dF, not dF/F, left out' ("" when none): the count every caller says."""
        from napari_catrack.figures.style import left_out_label

        return left_out_label(None, 0, len(self.df_left_out)) or ""


def traces_for_eta(session, signal: str = "dff") -> EtaTraces:
    """(values (N, T), frame times (T,), neuron ids, dF cells left out) of the session's traces
    on the imaging clock. For a dF/F signal (`DFF_SIGNALS`) the cells whose dff is dF (the
    sources' `dff_kind`) are left out and counted: their values (hundreds to thousands of
    counts) would set a dF/F average's scale. Only dF cells: refused, naming another signal."""
    from napari_catrack.core.sources.session import df_cells
    from napari_catrack.io.tables import long_to_matrix

    if "traces" not in session or "traces" not in session["traces"].tables:
        raise InputError("the session has no traces yet: extract them first")
    traces = session["traces"].tables["traces"]
    if signal not in traces:
        raise InputError(
            f"the traces have no {signal!r} column; they have {', '.join(traces.columns)}"
        )
    left_out: list[str] = []
    if signal in DFF_SIGNALS and (df := set(df_cells(session))):
        ids = traces["neuron_id"].astype(str)
        left_out = sorted(set(ids) & df, key=lambda i: (len(i), i))
        if left_out:
            traces = traces[~ids.isin(df)]
            if traces.empty:
                raise InputError(
                    f"every cell's dff is dF, not dF/F (no baseline + background under it: see "
                    f"dff_kind in the components): no {signal} to average; choose another "
                    "signal (e.g. denoised)"
                )
    m = long_to_matrix(traces, signal, sort_ids=False)
    clock = imaging_clock(session, n_frames=int(m.frames.max()) + 1)
    if m.frames.max() >= len(clock):
        raise InputError(
            f"the traces reach frame {int(m.frames.max())} but the imaging clock "
            f"has {len(clock)} frames"
        )
    return EtaTraces(m.dff, clock.times[m.frames], m.neuron_ids, left_out)


def eta_params_from_session(session) -> EtaParams:
    return EtaParams.from_dict(session[ETA].params) if ETA in session else EtaParams()
