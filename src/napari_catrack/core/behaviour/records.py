"""Behaviour results in the session file: one place that writes and reads them.

Steps (the session's HDF5 compresses the arrays):
- "segmentation": arrays `masks` (T, Y, X) uint8 and `painted_<frame>` for painted anchors,
  table `frames` (quality per frame), attrs `anchors`, `method`, `info`; params SegmentParams.
- "centerline": tables `centerline` (frame,point,y,x), `frames` (status, length, head
  confidence), `posture`; attrs `head_points` (frames where the user set the head), `posture`
  (`pixel_size_um`, `eigenworms`: what the posture table was computed with); params.
- "velocity": table `velocity` (the CLI columns); attrs `source`, `stage` and the run facts the
  table depends on beside the params (`fps`, `times`: fps / frame times / stage log,
  `image_size`, `stage_columns`, `stage_scale_um`, `stage_time_scale_s`: the same keys from
  `catrack velocity` and the widget); params.
- "bouts": table `bouts` (`core.behaviour.bouts.COLUMNS`: forward runs, reversals, pauses,
  turns) of the "velocity" step (removed when that is replaced: `record_velocity`); attrs
  `coiled` (whether coiled frames were given for the turns: `catrack velocity --frames-table`,
  the widget's from the session's centerline); params BoutParams.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.core.behaviour.prompts import Anchor
from napari_catrack.core.behaviour.propagate import SegmentationResult
from napari_catrack.core.behaviour.video_centerline import CenterlineResult

SEGMENTATION, CENTERLINE, VELOCITY = "segmentation", "centerline", "velocity"
BOUTS = "bouts"


def record_segmentation(
    session,
    result: SegmentationResult,
    params: dict,
    quality: pd.DataFrame,
    save=None,
    *,
    inputs: dict[str, Any] | None = None,
) -> None:
    """`inputs` ({role: path}): the files read, stored as attrs `inputs` (`io.provenance`)."""
    from napari_catrack.io.masks import as_uint8
    from napari_catrack.io.provenance import inputs_provenance

    arrays = {"masks": as_uint8(result.masks)}  # a view: no second copy of a long video's masks
    for a in result.anchors:
        if a.mask is not None:
            arrays[f"painted_{a.frame}"] = np.asarray(a.mask, np.uint8)
    table = quality.assign(source=result.source, anchor_frame=result.anchor_frame)
    session.record(
        SEGMENTATION,
        tables={"frames": table},
        arrays=arrays,
        attrs={
            "anchors": [a.to_dict() for a in result.anchors],
            "method": result.method,
            "info": result.info,
            "inputs": inputs_provenance(session, inputs),
        },
        params=params,
        save=save,
    )


def segmentation_from_session(session) -> SegmentationResult | None:
    if SEGMENTATION not in session:
        return None
    step = session[SEGMENTATION]
    masks = step.arrays.get("masks")
    if masks is None:
        return None
    frames = step.tables.get("frames")
    T = len(masks)
    anchors = []
    for a in step.attrs.get("anchors", []):
        mask = step.arrays.get(f"painted_{a['frame']}") if a.get("painted") else None
        anchors.append(
            Anchor(
                a["frame"],
                a.get("points", []),
                a.get("labels", []),
                None if mask is None else mask.astype(bool),
            )
        )
    score = frames["score"].to_numpy(float) if frames is not None else np.ones(T)
    source = frames["source"].astype(str).to_numpy() if frames is not None else np.full(T, "")
    anchor_frame = frames["anchor_frame"].to_numpy(int) if frames is not None else np.zeros(T, int)
    return SegmentationResult(
        masks.astype(bool), score, source, anchor_frame, str(step.attrs.get("method", "")),
        anchors, dict(step.attrs.get("info", {})),
    )  # fmt: skip


def record_centerline(
    session,
    result: CenterlineResult,
    params: dict,
    *,
    posture: pd.DataFrame | None = None,
    head_points: dict[int, tuple[float, float]] | None = None,
    inputs: dict[str, Any] | None = None,
    posture_facts: dict[str, Any] | None = None,
    save=None,
) -> None:
    """`posture_facts`: what the posture table was computed with beside the centerlines
    (`pixel_size_um`, `eigenworms`), stored as attrs `posture`."""
    from napari_catrack.io.provenance import inputs_provenance

    tables = {"centerline": result.table(), "frames": result.frames_table()}
    if posture is not None:
        tables["posture"] = posture
    session.record(
        CENTERLINE,
        tables=tables,
        attrs={
            "head_points": {str(k): list(v) for k, v in (head_points or {}).items()},
            "inputs": inputs_provenance(session, inputs),
            **({"posture": dict(posture_facts)} if posture_facts else {}),
        },
        params=params,
        save=save,
    )


def centerline_from_session(session) -> tuple[CenterlineResult, dict[int, Any]] | None:
    if CENTERLINE not in session:
        return None
    step = session[CENTERLINE]
    table = step.tables.get("centerline")
    if table is None or table.empty:
        return None
    result = CenterlineResult.from_tables(table, step.tables.get("frames"))
    heads = {int(k): tuple(v) for k, v in step.attrs.get("head_points", {}).items()}
    return result, heads


def record_centerline_edits(session, edits: dict[int, np.ndarray], save=None) -> list[int] | None:
    """The user's edited paths ({frame: (N, 2) y, x at the stored point count}) become those
    frames' centerlines (status "edited"), wherever they were edited (the centerline layer, with
    or without the Worm behaviour widget). The step's params, inputs, head points and posture
    facts stay; the posture rows of those frames are recomputed as they were computed (pixel
    size, eigenworm basis). Returns the frames written (None: the session has no centerlines).

    Only the edited frames' rows are computed (a drag on a 20,000-frame video rebuilt every
    frame's centerline and length on napari's main thread: 0.6-2 s): the step is recorded again
    (its tables copied once, by `record`) and those rows changed in the copies; the GUI's
    autosave then writes it in the background."""
    from napari_catrack.core.behaviour.centerline import curve_length

    step = session[CENTERLINE] if CENTERLINE in session else None
    table = step.tables.get("centerline") if step is not None else None
    if table is None or table.empty:
        return None
    frame_of = table["frame"].to_numpy(int)
    n_frames = int(frame_of.max()) + 1
    frames = sorted({int(t) for t in edits if 0 <= int(t) < n_frames})
    if not frames:
        return []
    tables = dict(step.tables)
    if tables.get("frames") is None or len(tables["frames"]) != n_frames:  # an older step
        tables["frames"] = CenterlineResult.from_tables(table).frames_table()
    posture = tables.get("posture")
    rec = session.record(CENTERLINE, tables=tables, attrs=step.attrs, params=step.params,
                         save=False)  # fmt: skip
    table, per_frame = rec.tables["centerline"], rec.tables["frames"]
    point_of = table["point"].to_numpy(int)
    yx_cols = [table.columns.get_loc("y"), table.columns.get_loc("x")]
    frame_col = per_frame["frame"].to_numpy(int)
    status_col, length_col = (per_frame.columns.get_loc(c) for c in ("status", "length_px"))
    for t in frames:
        pts = np.asarray(edits[t], float)
        rows = np.flatnonzero(frame_of == t)
        rows = rows[np.argsort(point_of[rows], kind="stable")]
        if len(rows) != len(pts):
            raise ValueError(f"frame {t}: {len(pts)} edited points, {len(rows)} stored")
        table.iloc[rows, yx_cols] = pts  # in place, in its block
        at = np.flatnonzero(frame_col == t)
        per_frame.iloc[at, status_col] = "edited"
        per_frame.iloc[at, length_col] = curve_length(pts)
    if posture is not None and len(posture) == n_frames:
        points = np.stack([np.asarray(edits[t], float) for t in frames])
        _posture_rows(rec.tables["posture"], points, frames, step.attrs.get("posture") or {})
    if save or (save is None and session.autosave):
        session.autosave_now()
    return frames


def _posture_rows(
    posture: pd.DataFrame, points: np.ndarray, frames: list[int], facts: dict
) -> pd.DataFrame:
    """The posture table with the rows of `frames` (sorted; `points` their edited centerlines,
    each usable: an edited frame's status is "edited") recomputed (eigenworm amplitudes NaN when
    the basis it was computed with cannot be read again), in place; returns it."""
    from napari_catrack.core.behaviour.posture import load_eigenworms, posture_table
    from napari_catrack.errors import CatrackError

    amplitudes = [c for c in posture.columns if c[:1] == "a" and c[1:].isdigit()]
    basis = None
    if amplitudes and facts.get("eigenworms"):
        try:
            basis = load_eigenworms(facts["eigenworms"])
        except (CatrackError, OSError, ValueError):
            basis = None
    from napari_catrack.core.behaviour.centerline import resample

    idx = np.asarray(frames)
    # an edited path is stored as the user drew it (a dragged vertex stays where it was
    # dropped); its posture is computed on it evenly resampled, as every computed frame's is
    n = points.shape[1] if points.ndim == 3 else 0
    even = np.stack([resample(p, n) for p in points]) if len(points) else points
    rows = posture_table(even, pixel_size_um=facts.get("pixel_size_um"), basis=basis)
    out = posture
    at = np.nonzero(np.isin(out["frame"].to_numpy(int), idx))[0]
    for col in out.columns:
        if col == "frame":
            continue
        if col == "status":
            out.iloc[at, out.columns.get_loc(col)] = "edited"
        elif col in rows:
            out.iloc[at, out.columns.get_loc(col)] = rows[col].to_numpy()
        elif col in amplitudes:
            out.iloc[at, out.columns.get_loc(col)] = np.nan
    return out


def behaviour_pixel_size_um(session) -> float | None:
    """The behaviour video's pixel size (µm) a session holds, never the imaging recording's
    (the behaviour camera has its own: 8 µm against 0.45 µm in the demo): the one its posture
    was computed with (centerline attrs `posture`), else its video velocity's (param
    `pixel_size_um`), else its recording's where the centerlines were computed on that
    recording (a behaviour video's own session). None when none is stored."""
    step = session[CENTERLINE] if CENTERLINE in session else None
    facts = (step.attrs.get("posture") or {}) if step is not None else {}
    if facts.get("pixel_size_um"):
        return float(facts["pixel_size_um"])
    if VELOCITY in session and session[VELOCITY].attrs.get("source") not in ("tracks", "stage"):
        px = (session[VELOCITY].params or {}).get("pixel_size_um")
        if px:
            return float(px)
    recording = session.recording or {}
    source = ((step.attrs.get("inputs") or {}).get("recording") or {}) if step is not None else {}
    px = (recording.get("summary") or {}).get("pixel_size_um")
    if px and source.get("path") and _same_path(session, source["path"], recording.get("path")):
        return float(px)
    return None


def _same_path(session, a: str | None, b: str | None) -> bool:
    from napari_catrack.io.output_check import same_file

    if not a or not b:
        return False
    return a == b or same_file(session.resolve_stored_path(a), session.resolve_stored_path(b))


def posture_from_session(session) -> tuple[pd.DataFrame | None, str | None]:
    """The centerline step's posture table as the readers (export, NWB, the Worm behaviour
    widget) give it, and a note for the user (None when there is nothing to say).

    The widget recorded its posture without a pixel size before session 20, so a session saved
    then has no `length_um`: it is computed here from `length_px` and the behaviour video's pixel
    size the session stores (`behaviour_pixel_size_um`), in the copy handed out (the session is
    not changed); where none is stored, the note says the lengths are in px only and why. None
    when the session has no posture table."""
    if CENTERLINE not in session:
        return None, None
    posture = session[CENTERLINE].tables.get("posture")
    if posture is None or "length_px" not in posture or "length_um" in posture:
        return posture, None
    px = behaviour_pixel_size_um(session)
    if px is None:
        return posture, (
            "the posture table has no length_um (computed without a pixel size, as the Worm "
            "behaviour widget did before session 20) and the session stores no pixel size of "
            "the behaviour video: its lengths are in px only; compute the centerlines again "
            "with the video's pixel size (catrack centerline --pixel-size, or the Load "
            "recording widget's pixel size box) for µm"
        )
    out = posture.copy()
    after = "mean_abs_curvature_per_px" if "mean_abs_curvature_per_px" in out else "length_px"
    out.insert(out.columns.get_loc(after) + 1, "length_um", out["length_px"] * px)  # as computed
    return out, None


def record_velocity(
    session, table: pd.DataFrame, params: dict, attrs: dict, save=None, *, inputs=None
) -> bool:
    """The velocity table; the bouts of the velocity it replaces (step "bouts") are removed
    with it, never left beside a velocity they were not called from. Returns whether there were
    (the widget says so; `catrack velocity --bouts` records the new ones after)."""
    from napari_catrack.io.provenance import inputs_provenance

    attrs = {**attrs, "inputs": inputs_provenance(session, inputs)}
    # bouts are called from a velocity: an older run's would be exported beside this one
    # (`catrack velocity --bouts` records the new bouts after it)
    stale = BOUTS in session
    session.remove(BOUTS, save=False)
    session.record(VELOCITY, tables={"velocity": table}, attrs=attrs, params=params, save=save)
    return stale


def record_bouts(
    session, table: pd.DataFrame, params: dict, attrs: dict, save=None, *, inputs=None
) -> None:
    """The bout table (`catrack velocity --bouts`), with the BoutParams it was called with."""
    from napari_catrack.io.provenance import inputs_provenance

    attrs = {**attrs, "inputs": inputs_provenance(session, inputs)}
    session.record(BOUTS, tables={"bouts": table}, attrs=attrs, params=params, save=save)


def bouts_from_session(session) -> pd.DataFrame | None:
    if BOUTS not in session:
        return None
    return session[BOUTS].tables.get("bouts")


def centerline_frames_table(session) -> pd.DataFrame | None:
    """The session's centerline per frame, as `catrack centerline --frames-report` writes it
    (`frame`, `status`, ...) with the posture's eigenworm `a3` when it has one: what the bouts'
    turns are read from (`bouts.turn_flags`). None without a centerline."""
    if CENTERLINE not in session:
        return None
    tables = session[CENTERLINE].tables
    frames, posture = tables.get("frames"), tables.get("posture")
    if frames is None or "status" not in frames:
        return None
    if posture is not None and "a3" in posture and "a3" not in frames:
        frames = frames.merge(posture[["frame", "a3"]], on="frame", how="left")
    return frames


def velocity_from_session(session) -> pd.DataFrame | None:
    if VELOCITY not in session:
        return None
    return session[VELOCITY].tables.get("velocity")


def video_frame_times(session, frames: np.ndarray) -> np.ndarray | None:
    """Behaviour-video frames -> seconds on the imaging clock, from the video the Behaviour events
    widget (or `catrack events --video-fps/--video-times`) lined up (session step
    "behaviour_video"); frames beyond its table at its mean rate. None: no video lined up."""
    from napari_catrack.core.events.session import VIDEO

    if VIDEO not in session or "frame_times" not in session[VIDEO].tables:
        return None
    ft = session[VIDEO].tables["frame_times"].sort_values("frame")
    vf, vt = ft["frame"].to_numpy(float), ft["time_s"].to_numpy(float)
    if not len(vf):
        return None
    frames = np.asarray(frames, float)
    slope = (vt[-1] - vt[0]) / max(vf[-1] - vf[0], 1.0)  # beyond the table: its mean rate
    t = np.interp(frames, vf, vt)
    t = np.where(frames < vf[0], vt[0] + (frames - vf[0]) * slope, t)
    return np.where(frames > vf[-1], vt[-1] + (frames - vf[-1]) * slope, t)


def velocity_on_imaging_axis(session, velocity: pd.DataFrame, fps: float) -> pd.DataFrame:
    """The velocity with `time_s` moved onto the traces' axis (imaging frame / fps, seconds).

    Without more, the behaviour camera's first frame is taken to start with the imaging. When
    the Behaviour events widget lined the video up with the imaging (session step
    "behaviour_video": the video's frame times on the imaging clock), each velocity row's video
    frame takes that time, which becomes a fractional imaging frame on the imaging clock
    (recorded frame times, with their dropped frames) and so a time on the traces' axis.
    """
    from napari_catrack.core.events.session import EVENTS

    t = video_frame_times(session, velocity["frame"].to_numpy(float))
    if t is None:
        return velocity
    imaging = None
    if EVENTS in session and "frame_times" in session[EVENTS].tables:
        it = session[EVENTS].tables["frame_times"].sort_values("frame")
        imaging = it["time_s"].to_numpy(float), it["frame"].to_numpy(float)
    if imaging is None:  # a regular imaging clock starting at 0: its time is the axis
        x = t
    else:
        times, index = imaging
        rate = (index[-1] - index[0]) / max(times[-1] - times[0], 1e-12)
        k = np.interp(t, times, index)
        k = np.where(t < times[0], index[0] + (t - times[0]) * rate, k)
        k = np.where(t > times[-1], index[-1] + (t - times[-1]) * rate, k)
        x = k / float(fps)
    out = velocity.copy()
    out["time_s"] = x
    return out
