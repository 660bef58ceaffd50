"""NWB behaviour of a session: centroid, velocity, centerline, posture, stage, events, video, ETAs."""

from __future__ import annotations

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
            pos.create_spatial_series(
                name="stage",
                data=compressed(stage[1]),
                **timing(stage[0]),
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
                data = v[cols].to_numpy(float)
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
    _centerline(nwb, session, clock)


def _stage(session, nwb_path) -> tuple[np.ndarray, np.ndarray] | None:
    """(times, (n, 2) x/y µm) of the stage: a `stage` table of the velocity step, or its log file."""
    step = session["velocity"]
    table = step.tables.get("stage")
    if table is None:
        from napari_catrack.errors import InputError
        from napari_catrack.io.stage import read_stage

        name = step.attrs.get("stage")
        bases = [Path(p).parent for p in (session.path, nwb_path) if p is not None]
        paths = [Path(name)] + [b / name for b in bases] if name else []
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
        summary = (session.recording or {}).get("summary") or {}
        px = summary.get("pixel_size_um")
        unit = {"unit": "meters", "conversion": float(px) * 1e-6} if px else {"unit": "pixels"}
        series = TimeSeries(
            name="centerline",
            data=compressed(data),
            **timing(clock.times(frames)),
            description="centerline points (x, y image pixels) from the tip of "
            "the head (point 0) to the tip of the tail",
            **unit,
        )
        _module(nwb).add(series)
    posture = step.tables.get("posture")
    if posture is not None and len(posture) and "frame" in posture:
        group = BehavioralTimeSeries(name="Posture")
        t = clock.times(posture["frame"].to_numpy())
        for col in posture.columns:
            if col in ("frame", "time_s") or posture[col].dtype.kind not in "biuf":
                continue
            group.add_timeseries(
                TimeSeries(
                    name=str(col),
                    data=compressed(posture[col].to_numpy(float)),
                    **timing(t),
                    unit="n.a.",
                    description=f"posture: {col}",
                )
            )
        if group.time_series:
            _module(nwb).add(group)


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
        for r in ev.itertuples(index=False):
            table.add_row(
                timestamp=float(r.time_s),
                event=str(r.event),
                frame=int(r.frame),
                source_time=float(getattr(r, "source_time_s", r.time_s)),
            )
        nwb.add_events_table(table)
    _video(nwb, session, nwb_path)
    _eta(nwb, session)


def _video(nwb, session, nwb_path) -> None:
    from pynwb.image import ImageSeries

    if "behaviour_video" not in session:
        return
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
    sig = step.tables.get("significance")
    if sig is not None and len(sig):
        nwb.add_analysis(
            DynamicTable(
                name="eta_significance",
                description="event-triggered responses per neuron and event: response = mean "
                "post-event minus pre-event dF/F; p from a circular-shift null; q: Benjamini-Hochberg",
                columns=[
                    VectorData(name=str(c), description=str(c), data=plain_column(sig[c]))
                    for c in sig.columns
                ],
            )
        )
    eta = step.tables.get("eta")
    if eta is not None and len(eta):
        wide = eta.pivot_table(index=["neuron_id", "event"], columns="lag_s", values="mean")
        sem = eta.pivot_table(index=["neuron_id", "event"], columns="lag_s", values="sem")
        keys = wide.index.to_frame(index=False)
        nwb.add_analysis(
            DynamicTable(
                name="event_triggered_averages",
                description="mean (and SEM) dF/F around each event type, one row per neuron and "
                "event; lags_s gives the time of each column relative to the event",
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
                        name="mean", description="mean dF/F per lag", data=wide.to_numpy(float)
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
