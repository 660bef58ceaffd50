"""NWB behaviour of a session: centroid, velocity, centerline, posture, stage, events, video, ETAs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.io.nwb_common import (
    ImagingClock,
    compressed,
    plain_column,
    relative_to,
    timing,
)

WORLD = "world coordinates in µm from the stage and the image (x, y), see docs/behaviour.md"


def _times(table: pd.DataFrame, clock: ImagingClock) -> np.ndarray:
    """A behaviour table's own `time_s` where it has one, else its frames on the imaging clock."""
    if "time_s" in table and np.isfinite(table["time_s"].to_numpy(float)).all():
        return table["time_s"].to_numpy(float)
    return clock.times(table["frame"].to_numpy())


def _video_velocity(session) -> pd.DataFrame | None:
    """The velocity table when its frames are behaviour-video frames (not `--tracks`)."""
    if "velocity" not in session or session["velocity"].attrs.get("source") in ("tracks", "stage"):
        return None
    v = session["velocity"].tables.get("velocity")
    return v if v is not None and len(v) and {"frame", "time_s"} <= set(v.columns) else None


def behaviour_frame_times(session, frames: np.ndarray, clock: ImagingClock) -> np.ndarray:
    """Behaviour-video frames -> imaging-clock seconds: the lined-up video's frame times (step
    `behaviour_video`), else the velocity table's `time_s` of the same frames (the camera's rate,
    its first frame at the imaging's start), else the imaging frames' times (same camera)."""
    from napari_catrack.core.behaviour.records import video_frame_times

    frames = np.asarray(frames, float)
    t = video_frame_times(session, frames)
    if t is not None:
        return t
    v = _video_velocity(session)
    if v is not None:
        v = v.sort_values("frame")
        vf, vt = v["frame"].to_numpy(float), v["time_s"].to_numpy(float)
        ok = np.isfinite(vt)
        if ok.sum() >= 2:
            vf, vt = vf[ok], vt[ok]
            slope = (vt[-1] - vt[0]) / (vf[-1] - vf[0])
            t = np.interp(frames, vf, vt)
            t = np.where(frames < vf[0], vt[0] + (frames - vf[0]) * slope, t)
            return np.where(frames > vf[-1], vt[-1] + (frames - vf[-1]) * slope, t)
    return clock.times(frames)


def _behaviour_pixel_um(session) -> float | None:
    """The behaviour video's pixel size (µm): what the posture or the velocity was computed with
    (`core.behaviour.records.behaviour_pixel_size_um`). Not the recording's: the behaviour camera
    has its own (8 µm against 0.45 µm in the demo)."""
    from napari_catrack.core.behaviour.records import behaviour_pixel_size_um

    return behaviour_pixel_size_um(session)


def _module(nwb):
    if "behavior" not in nwb.processing:
        nwb.create_processing_module("behavior", "behaviour of the animal (napari-catrack)")
    return nwb.processing["behavior"]


def add_behaviour(nwb, session: Any, clock: ImagingClock, *, nwb_path=None) -> None:
    from pynwb import TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, Position

    if "velocity" in session and len(
        v := session["velocity"].tables.get("velocity", pd.DataFrame())
    ):
        t = _times(v, clock)
        if _video_velocity(session) is not None:  # video frames: on the lined-up video's clock
            t = behaviour_frame_times(session, v["frame"].to_numpy(), clock)
        pos = Position(name="BodyPosition")
        pos.create_spatial_series(
            name="centroid",
            data=compressed(v[["x_um", "y_um"]].to_numpy(float)),
            **timing(t),
            reference_frame=WORLD,
            unit="meters",
            conversion=1e-6,
            description="body centroid (x, y)",
        )
        stage = _stage(session, nwb_path)
        if stage is not None:
            stage_t = stage[0]
            own = v["time_s"].to_numpy(float) if "time_s" in v else None
            if own is not None and np.isfinite(own).all() and len(own) >= 2 and (own != t).any():
                # the log's clock is the velocity's own (time_s): onto the lined-up video's clock
                slope = (t[-1] - t[0]) / (own[-1] - own[0]) if own[-1] != own[0] else 1.0
                stage_t = np.interp(stage_t, own, t)
                stage_t = np.where(stage[0] < own[0], t[0] + (stage[0] - own[0]) * slope, stage_t)
                stage_t = np.where(
                    stage[0] > own[-1], t[-1] + (stage[0] - own[-1]) * slope, stage_t
                )
            pos.create_spatial_series(
                name="stage",
                data=compressed(stage[1]),
                **timing(stage_t),
                reference_frame="stage coordinates (x, y) in µm",
                unit="meters",
                conversion=1e-6,
                description="microscope stage position",
            )
        _module(nwb).add(pos)
        series = BehavioralTimeSeries(name="Velocity")
        for cols, name, unit, conv, desc in (
            (["vx_um_s", "vy_um_s"], "velocity", "meters/second", 1e-6, "centroid velocity (x, y)"),
            (["speed_um_s"], "speed", "meters/second", 1e-6, "centroid speed"),
            (
                ["signed_speed_um_s"],
                "signed_speed",
                "meters/second",
                1e-6,
                "speed x direction (+ forward, - backward)",
            ),
            (
                ["direction"],
                "direction",
                "n.a.",
                1.0,
                "+1 forward, -1 backward, 0 still, NaN unknown (no head)",
            ),
        ):
            if all(c in v for c in cols):
                data = v[cols].to_numpy(float, na_value=np.nan)  # NaN: pandas 2.2 refuses <NA>
                series.add_timeseries(
                    TimeSeries(
                        name=name,
                        data=compressed(data[:, 0] if len(cols) == 1 else data),
                        **timing(t),
                        unit=unit,
                        conversion=conv,
                        description=desc,
                    )
                )
        _module(nwb).add(series)
    _bouts(nwb, session, clock)
    _centerline(nwb, session, clock)


def _bouts(nwb, session, clock: ImagingClock) -> None:
    """The behavioural bouts (`catrack velocity --bouts`) as a TimeIntervals table
    `behavior_bouts` (start/stop on the same clock as the velocity series)."""
    from pynwb.epoch import TimeIntervals

    if "bouts" not in session or not len(b := session["bouts"].tables.get("bouts", pd.DataFrame())):
        return
    b = b.sort_values("onset_s", kind="stable")
    start = b["onset_s"].to_numpy(float)
    stop = b["offset_s"].to_numpy(float)
    if (v := _video_velocity(session)) is not None:  # video frames: the lined-up video's clock
        start = behaviour_frame_times(session, b["start_frame"].to_numpy(), clock)
        # the last frame's time + one usual step, as offset_s: not frame end + 1's time, which
        # after a bout that a gap in the frame times ends is the time after the gap
        frames = np.unique(v["frame"].to_numpy(float))
        step = np.diff(behaviour_frame_times(session, frames, clock))
        step = float(np.median(step)) if len(step) else 0.0
        stop = behaviour_frame_times(session, b["end_frame"].to_numpy(), clock) + step
    table = TimeIntervals(
        name="behavior_bouts",
        description="behavioural bouts: forward runs, reversals, pauses, turns (catrack "
        "velocity --bouts; parameters in the session's bouts step)",
    )
    source = session["velocity"].attrs.get("source") if "velocity" in session else None
    frame = {"tracks": "imaging frame (the tracked neurons')",
             "stage": "frame of the stage path (a stage-log or frame-times row)"}.get(
        source, "behaviour-video frame")  # fmt: skip
    for col, desc in (
        ("state", "forward, reversal, pause or turn"),
        ("start_frame", f"first {frame} of the bout"),
        ("end_frame", f"last {frame} of the bout (inclusive)"),
        ("mean_signed_speed_um_s", "mean signed speed over the bout (µm/s; NaN: unknown)"),
        ("mean_speed_um_s", "mean speed over the bout (µm/s)"),
    ):
        table.add_column(col, desc)
    for i, r in enumerate(b.itertuples(index=False)):
        table.add_interval(
            start_time=float(start[i]),
            stop_time=float(stop[i]),
            state=str(r.state),
            start_frame=int(r.start_frame),
            end_frame=int(r.end_frame),
            mean_signed_speed_um_s=float(r.mean_signed_speed_um_s),
            mean_speed_um_s=float(r.mean_speed_um_s),
        )
    nwb.add_time_intervals(table)


def _stage(session, nwb_path) -> tuple[np.ndarray, np.ndarray] | None:
    """(times, (n, 2) x/y µm) of the stage: a `stage` table of the velocity step, or its log file."""
    step = session["velocity"]
    table = step.tables.get("stage")
    if table is None:
        from napari_catrack.errors import InputError
        from napari_catrack.io.stage import read_stage

        name = step.attrs.get("stage")
        bases = [Path(p).parent for p in (session.path, nwb_path) if p is not None]
        paths = (
            [Path(session.resolve_stored_path(name))] + [b / name for b in bases] if name else []
        )
        # the file read, as its provenance has it (demo sessions before h11 stored a bare name)
        read = ((step.attrs.get("inputs") or {}).get("stage") or {}).get("path")
        paths += [Path(read)] if read else []
        found = next((p for p in paths if p.is_file()), None)
        if found is None:
            return None
        try:
            log = read_stage(found)
        except InputError:
            return None
        if log.time_s is None:
            return None
        return log.time_s, log.yx_um[:, ::-1]
    return table["time_s"].to_numpy(float), table[["stage_x_um", "stage_y_um"]].to_numpy(float)


def _centerline(nwb, session, clock: ImagingClock) -> None:
    from pynwb import TimeSeries
    from pynwb.behavior import BehavioralTimeSeries

    from napari_catrack.core.behaviour.records import posture_from_session

    if "centerline" not in session:
        return
    step = session["centerline"]
    cl = step.tables.get("centerline")
    if cl is not None and len(cl):
        frames = np.sort(cl["frame"].unique())
        n_points = int(cl["point"].max()) + 1
        data = np.full((len(frames), n_points, 2), np.nan)
        fi = np.searchsorted(frames, cl["frame"].to_numpy())
        data[fi, cl["point"].to_numpy(int), 0] = cl["x"].to_numpy(float)
        data[fi, cl["point"].to_numpy(int), 1] = cl["y"].to_numpy(float)
        px = _behaviour_pixel_um(session)
        unit = {"unit": "meters", "conversion": px * 1e-6} if px else {"unit": "pixels"}
        series = TimeSeries(
            name="centerline",
            data=compressed(data),
            **timing(behaviour_frame_times(session, frames, clock)),
            description="centerline points (x, y pixels of the behaviour video) from the tip of "
            "the head (point 0) to the tip of the tail",
            **unit,
        )
        _module(nwb).add(series)
    posture, note = posture_from_session(session)  # length_um also for a pre-h20 table
    if note:
        warnings.warn(f"NWB export: {note}", UserWarning, stacklevel=3)
    if posture is not None and len(posture) and "frame" in posture:
        group = BehavioralTimeSeries(name="Posture")
        t = behaviour_frame_times(session, posture["frame"].to_numpy(), clock)
        for col in posture.columns:
            if col in ("frame", "time_s") or posture[col].dtype.kind not in "biuf":
                continue
            group.add_timeseries(
                TimeSeries(
                    name=str(col),
                    data=compressed(posture[col].to_numpy(float)),
                    **timing(t),
                    **_posture_unit(str(col)),
                    description=f"posture: {col}",
                )
            )
        if group.time_series:
            _module(nwb).add(group)


def _posture_unit(col: str) -> dict[str, Any]:
    """The unit a posture column's name carries (`length_um`, `length_px`, `..._per_px`)."""
    if col.endswith("_per_px"):
        return {"unit": "1/pixels"}
    if col.endswith("_px"):
        return {"unit": "pixels"}
    if col.endswith("_um"):
        return {"unit": "meters", "conversion": 1e-6}
    return {"unit": "n.a."}


def add_events(nwb, session: Any, clock: ImagingClock, *, nwb_path=None) -> None:
    """Behaviour events (EventsTable), the behaviour video (external ImageSeries) and the ETAs."""
    from pynwb.event import EventsTable

    if "events" in session and len(ev := session["events"].tables.get("events", pd.DataFrame())):
        ev = ev.sort_values("time_s")
        table = EventsTable(
            name="behavior_events",
            description="behaviour events on the imaging clock (s)",
            source_description=str(session["events"].attrs.get("source", "")) or "event file",
        )
        table.add_column("event", "event name")
        table.add_column("frame", "nearest imaging frame (-1: outside the recording)")
        table.add_column("source_time", "time in the event file's own clock (s)")
        # intervals (an event file's duration, e.g. BIDS): the EventsTable's own duration
        # column, NaN for the events that are moments; none at all when every event is one
        duration = ev["duration_s"].to_numpy(float) if "duration_s" in ev else None
        if duration is not None and not np.isfinite(duration).any():
            duration = None
        for i, r in enumerate(ev.itertuples(index=False)):
            extra = {} if duration is None else {"duration": float(duration[i])}
            table.add_row(
                timestamp=float(r.time_s),
                event=str(r.event),
                frame=int(r.frame),
                source_time=float(getattr(r, "source_time_s", r.time_s)),
                **extra,
            )
        nwb.add_events_table(table)
    _video(nwb, session, nwb_path)
    _eta(nwb, session)


def _video(nwb, session, nwb_path) -> None:
    from pynwb.image import ImageSeries

    if "behaviour_video" not in session or "BehaviorVideo" in nwb.acquisition:
        return  # (a session whose recording is the video has linked it already)
    step = session["behaviour_video"]
    path = session.resolve_stored_path(step.attrs.get("path"))
    times = step.tables.get("frame_times")
    if not path or times is None or not Path(path).is_file():
        return
    nwb.add_acquisition(
        ImageSeries(
            name="BehaviorVideo",
            external_file=[relative_to(path, nwb_path)],
            starting_frame=[0],
            format="external",
            num_samples=len(times),
            **timing(times.sort_values("frame")["time_s"].to_numpy(float)),
            description="behaviour video, frame times on the imaging clock",
            unit="n.a.",
        )
    )


def _eta(nwb, session) -> None:
    from hdmf.common import DynamicTable, VectorData

    if "eta" not in session:
        return
    step = session["eta"]
    signal = str((step.params or {}).get("signal") or "dff")  # what was averaged (EtaParams)
    what = "dF/F" if signal == "dff" else f"{signal} (traces column)"
    sig = step.tables.get("significance")
    if sig is not None and len(sig):
        nwb.add_analysis(
            DynamicTable(
                name="eta_significance",
                description="event-triggered responses per neuron and event: response = mean "
                f"post-event minus pre-event {what}; p from a circular-shift null; q: "
                "Benjamini-Hochberg",
                columns=[
                    VectorData(name=str(c), description=str(c), data=plain_column(sig[c]))
                    for c in sig.columns
                ],
            )
        )
    eta = step.tables.get("eta")
    if eta is not None and len(eta):
        wide = eta.pivot_table(index=["neuron_id", "event"], columns="lag_s", values="mean")
        # one row per averaged neuron and event: an event kind logged once has no SEM at any lag,
        # and pivot_table drops all-NaN rows, so the SEM follows the means' rows and lags
        sem = eta.pivot_table(index=["neuron_id", "event"], columns="lag_s", values="sem")
        sem = sem.reindex(index=wide.index, columns=wide.columns)
        keys = wide.index.to_frame(index=False)
        nwb.add_analysis(
            DynamicTable(
                name="event_triggered_averages",
                description=f"mean (and SEM) {what} around each event type, one row per neuron "
                "and event; lags_s gives the time of each column relative to the event",
                columns=[
                    VectorData(
                        name="neuron_id",
                        description="neuron",
                        data=keys["neuron_id"].astype(str).tolist(),
                    ),
                    VectorData(
                        name="event",
                        description="event name",
                        data=keys["event"].astype(str).tolist(),
                    ),
                    VectorData(
                        name="mean", description=f"mean {what} per lag", data=wide.to_numpy(float)
                    ),
                    VectorData(
                        name="sem", description="standard error per lag", data=sem.to_numpy(float)
                    ),
                    VectorData(
                        name="lags_s",
                        description="lag of each column (s)",
                        data=np.tile(wide.columns.to_numpy(float), (len(wide), 1)),
                    ),
                ],
            )
        )
