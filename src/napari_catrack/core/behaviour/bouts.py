"""Behavioural bouts: the velocity's per-frame numbers turned into forward runs, reversals,
pauses and turns, one row per bout (the table neuroscientists line calcium up against).

Each frame is first given a state, as the motion states of Yemini et al. 2013 (Nature Methods;
open-worm-analysis-toolbox, Tierpsy) do it: the worm moves once its speed reaches `move_um_s`
and keeps moving until it drops below `pause_um_s` (hysteresis: a speed hovering at one
threshold does not flicker between states); a still frame is a `pause`, a moving one
`forward` (direction +1) or `reversal` (-1). A coiled frame (the centerline step's flag: the
body touches itself, an omega or delta turn), or one whose eigenworm a3 reaches `turn_a3` (the
classic turn mode of Stephens et al. 2008) when it is set, is a `turn`. A moving frame whose
direction is unknown (no head: neurons' tracks or a stage path alone) or a frame without a
speed is never given a state: it ends the bout it interrupts. Failed centerline frames that touch
coiled ones (`coiled_frames`: a coil the centerline could not follow) are part of the turn.

Then, per run of one state: a run of another known state at most `merge_gap_s` long between two
runs of one state is merged into them (a 0.2 s dip below the pause speed inside a forward run),
and runs shorter than `min_bout_s` are not called. A gap in the frame times (a paused recording,
`velocity.time_gaps`) ends every bout, and after it the worm starts still, as at the first frame
(the hysteresis does not carry a state across it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.behaviour.params import BoutParams
from napari_catrack.core.behaviour.velocity import direction_values, time_gaps
from napari_catrack.errors import InputError

STATES = ("forward", "reversal", "pause", "turn")
COLUMNS = (
    "state", "start_frame", "end_frame", "onset_s", "offset_s", "duration_s", "n_frames",
    "mean_signed_speed_um_s", "mean_speed_um_s", "distance_um",
)  # fmt: skip

__all__ = [
    "COLUMNS", "STATES", "BoutParams", "coiled_frames", "compute_bouts", "frame_states",
    "turn_flags", "write_bouts",
]  # fmt: skip


def frame_states(
    velocity: pd.DataFrame,
    params: BoutParams,
    *,
    coiled: np.ndarray | None = None,
    a3: np.ndarray | None = None,
) -> np.ndarray:
    """Per frame of a velocity table (`velocity.COLUMNS`): "forward", "reversal", "pause",
    "turn", or "" (unknown: no speed, or moving without a known direction). coiled, a3: (T,)
    per frame of the same table (NaN a3: not a turn by a3)."""
    missing = [c for c in ("speed_um_s", "direction") if c not in velocity.columns]
    if missing:
        raise InputError(
            f"the velocity table needs columns speed_um_s, direction; missing {missing}"
        )
    if params.pause_um_s > params.move_um_s:
        raise InputError(
            f"the pause speed ({params.pause_um_s:g} µm/s) must not be above the moving speed "
            f"({params.move_um_s:g} µm/s)"
        )
    speed = pd.to_numeric(velocity["speed_um_s"], errors="coerce").to_numpy(float)
    direction = direction_values(velocity)
    T = len(speed)
    out = np.full(T, "", dtype=object)
    moving = False
    restart = set()  # frames after a gap in the times: the worm starts still, as at frame 0
    if "time_s" in velocity and T > 1:
        times = pd.to_numeric(velocity["time_s"], errors="coerce").to_numpy(float)
        if np.isfinite(times).all():
            dt = float(np.median(np.diff(times)))
            restart = {i + 1 for i, _ in time_gaps(times, 3 * dt)}  # as `compute_bouts`
    for t in range(T):
        if t in restart:
            moving = False
        s = speed[t]
        if not np.isfinite(s):
            continue  # unknown; the hysteresis state carries over
        if moving and s < params.pause_um_s:
            moving = False
        elif not moving and s >= params.move_um_s:
            moving = True
        if not moving:
            out[t] = "pause"
        elif direction[t] == 1:
            out[t] = "forward"
        elif direction[t] == -1:
            out[t] = "reversal"
        elif direction[t] == 0 and t and out[t - 1] in ("forward", "reversal"):
            out[t] = out[t - 1]  # moving by the hysteresis, below the velocity's still speed
    turn = np.zeros(T, bool)
    for name, flag in (("coiled", coiled), ("a3", a3)):
        if flag is not None and len(flag) != T:
            raise InputError(f"{name} has {len(flag)} frames, the velocity {T}")
    if coiled is not None:
        turn |= np.asarray(coiled, bool)
    if a3 is not None and params.turn_a3 > 0:
        amp = np.abs(np.asarray(a3, float))
        turn |= np.where(np.isfinite(amp), amp, 0.0) >= params.turn_a3
    out[turn] = "turn"
    return out


def coiled_frames(status) -> np.ndarray:
    """(T,) True on the turns' frames of a centerline status column (ok / coiled / filled /
    failed): the coiled frames, and each run of failed frames that touches them (a coil the
    centerline could not follow through: the worm is in the turn all the same)."""
    st = np.asarray(pd.Series(status).astype("string").fillna(""), dtype=object)
    turn = st == "coiled"
    failed = st == "failed"
    T = len(st)
    t = 0
    while t < T:
        if not failed[t]:
            t += 1
            continue
        end = t
        while end + 1 < T and failed[end + 1]:
            end += 1
        if (t > 0 and turn[t - 1]) or (end + 1 < T and st[end + 1] == "coiled"):
            turn[t : end + 1] = True
        t = end + 1
    return turn


def turn_flags(
    per_frame: pd.DataFrame, frames, params: BoutParams, *, name: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """(coiled, a3) per frame of `frames` (the velocity's frame numbers) from a centerline's
    per-frame table (columns `frame`, `status`, optionally `a3`: `catrack centerline
    --frames-report/--posture`, or the session's posture table), matched by frame number; a3 is
    None without an `a3` column. `name` names the table in the errors."""
    table = per_frame.drop_duplicates("frame").set_index("frame")
    frames = np.asarray(frames, int)
    if not np.isin(frames, table.index.to_numpy(int)).any():
        raise InputError(f"{name} has none of the velocity's frames")
    coiled = coiled_frames(table["status"].reindex(frames))
    a3 = None
    if "a3" in table.columns:
        a3 = pd.to_numeric(table["a3"].reindex(frames), errors="coerce").to_numpy(float)
    elif params.turn_a3 > 0:
        raise InputError(f"a turn by |a3| (turn_a3 {params.turn_a3:g}) needs an a3 column in "
                         f"{name}: the posture with an eigenworm basis")  # fmt: skip
    return coiled, a3


def _runs(labels: np.ndarray, breaks: np.ndarray) -> list[list]:
    """[label, start, end (inclusive)] of each run of one label; `breaks` (T,) True where a new
    run must start (after a gap in the frame times)."""
    runs: list[list] = []
    for t, lab in enumerate(labels):
        if runs and runs[-1][0] == lab and not breaks[t]:
            runs[-1][2] = t
        else:
            runs.append([lab, t, t])
    return runs


def compute_bouts(
    velocity: pd.DataFrame,
    params: BoutParams | None = None,
    *,
    coiled: np.ndarray | None = None,
    a3: np.ndarray | None = None,
) -> pd.DataFrame:
    """The bout table (`COLUMNS`, one row per bout in time order) of a velocity table.

    start_frame/end_frame: the first and last frame of the bout (the velocity's `frame`
    numbers, end inclusive); onset_s: the first frame's time, offset_s: the time after the last
    frame (its time + one median frame step), duration_s their difference; mean speeds over the
    bout's frames (NaN where unknown); distance_um: the path length (speed x frame step)."""
    params = params or BoutParams()
    if len(velocity) == 0:
        return pd.DataFrame({c: [] for c in COLUMNS})
    if len(velocity) == 1:  # (its duration was taken as 1 s: a 1 s pause from one frame)
        raise InputError(
            "the velocity table has one frame: a bout lasts whole frame steps (at least the "
            f"minimum bout duration, {params.min_bout_s:g} s), so bouts need two frames or more"
        )
    times = pd.to_numeric(velocity["time_s"], errors="coerce").to_numpy(float)
    if not np.isfinite(times).all():
        raise InputError("the velocity table has frames without a time_s")
    frames = velocity["frame"].to_numpy() if "frame" in velocity else np.arange(len(times))
    labels = frame_states(velocity, params, coiled=coiled, a3=a3)
    T = len(labels)
    dt = float(np.median(np.diff(times)))
    breaks = np.zeros(T, bool)
    gaps = time_gaps(times, 3 * dt)
    for i, _ in gaps:
        breaks[i + 1] = True
    runs = _runs(labels, breaks)

    def length(run) -> float:
        return times[run[2]] - times[run[1]] + dt

    merged, start = True, 1
    while merged:  # a short interruption between two runs of one state joins them
        merged = False
        # (from the first run a merge changed: the runs before it were found not to merge;
        # from the first run each time, a noisy 20-minute recording at 30 Hz took 14 s)
        for i in range(start, len(runs) - 1):
            before, mid, after = runs[i - 1], runs[i], runs[i + 1]
            if (
                mid[0]
                and before[0]
                and before[0] == after[0]
                and mid[0] != before[0]
                and length(mid) <= params.merge_gap_s + 1e-9
                and not breaks[mid[1]]
                and not breaks[after[1]]
            ):
                runs[i - 1 : i + 2] = [[before[0], before[1], after[2]]]
                merged, start = True, max(1, i - 2)
                break
    speed = pd.to_numeric(velocity["speed_um_s"], errors="coerce").to_numpy(float)
    signed = pd.to_numeric(velocity.get("signed_speed_um_s", pd.Series(np.nan, index=velocity.index)),
                           errors="coerce").to_numpy(float)  # fmt: skip
    rows = []
    for lab, a, b in runs:
        dur = times[b] - times[a] + dt
        if not lab or dur < params.min_bout_s - 1e-9:
            continue
        s, v = speed[a : b + 1], signed[a : b + 1]
        rows.append(
            {
                "state": lab,
                "start_frame": int(frames[a]),
                "end_frame": int(frames[b]),
                "onset_s": float(times[a]),
                "offset_s": float(times[b] + dt),
                "duration_s": float(dur),
                "n_frames": int(b - a + 1),
                "mean_signed_speed_um_s": _mean(v),
                "mean_speed_um_s": _mean(s),
                "distance_um": float(np.nansum(s) * dt),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _mean(values: np.ndarray) -> float:
    ok = np.isfinite(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


def rate_per_minute(bouts: pd.DataFrame, state: str, minutes: float) -> float:
    """How many bouts of `state` start per minute of `minutes` observed."""
    if minutes <= 0:
        return float("nan")
    return float((bouts["state"] == state).sum()) / minutes


def bout_counts_text(bouts: pd.DataFrame) -> str:
    """'12 bouts (5 forward, 4 reversal, 2 pause, 1 turn)', '1 bout (1 forward, ...)': the words
    of `catrack velocity --bouts` and the Worm behaviour widget (one rule; both said '1 bouts')."""
    from napari_catrack.text import counted

    counts = bouts["state"].value_counts()
    told = ", ".join(f"{int(counts.get(s, 0))} {s}" for s in STATES)
    return f"{counted(len(bouts), 'bout')} ({told})"


def write_bouts(table: pd.DataFrame, path) -> None:
    """bouts.csv (or .xlsx) atomically, each float column with 4 decimals. `catrack events
    --events bouts.csv` reads it as events: `state` the name, `onset_s` the time, `duration_s`
    the interval."""
    from napari_catrack.io.table_formats import write_step_table

    write_step_table(table, path, "bouts", "bouts")
