"""Velocity of the worm on the plate, from its image position and the tracking stage.

World position = stage + (pixel - image centre) x pixel size, with the image axes turned into
the stage's axes by optional swap and flips (the ARCHITECTURE.md contract). Velocities are
Savitzky-Golay derivatives (scipy.signal.savgol_filter) over a window of `smooth_s` seconds, on
a uniform time grid (frames with uneven timestamps are resampled and mapped back). The sign
comes from the head: `direction` = +1 when the worm moves towards its head side (forward), -1
backward, 0 below `still_um_s`, empty (pd.NA; an empty CSV cell) where it is unknown: a moving
frame without a head (neurons' tracks without a centerline) or a frame without a position;
`signed_speed` = speed x direction (NaN where the direction is unknown). With a centerline, "towards
the head side" is measured along the body: the mean over the body of each point's velocity
projected on the head-ward tangent there. A crawling worm moves along itself, so this stays
right through bends and turns where the centroid-to-head vector points sideways (on the
synthetic videos it is right on 98-99 % of moving frames against 86-97 % for the centroid rule).
Without a centerline (neurons' tracks), the centroid's motion towards a given head point is
used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import savgol_filter

from napari_catrack.core.behaviour.params import VelocityParams
from napari_catrack.errors import InputError

COLUMNS = (
    "frame", "time_s", "x_um", "y_um", "vy_um_s", "vx_um_s", "speed_um_s",
    "signed_speed_um_s", "direction",
)  # fmt: skip


def write_velocity(table: pd.DataFrame, path) -> None:
    """velocity.csv (or .xlsx) atomically, each float column with 4 decimals
    (`io.table_formats`: the file an export of the session writes too)."""
    from napari_catrack.io.table_formats import write_step_table

    write_step_table(table, path, "velocity", "velocity")


def image_to_stage(offset_px: np.ndarray, params: VelocityParams) -> np.ndarray:
    """Image (dy, dx) pixel offsets -> (y, x) µm in the stage's axes (swap, then flips)."""
    v = np.asarray(offset_px, float) * float(params.pixel_size_um)
    if params.swap_axes:
        v = v[..., ::-1]
    sign = np.array([-1.0 if params.flip_y else 1.0, -1.0 if params.flip_x else 1.0])
    return v * sign


def time_gaps(times: np.ndarray, window_s: float) -> list[tuple[int, float]]:
    """(index of the frame before, length in s) of each step of `times` longer than both the
    smoothing window and 3 median steps: a stretch with no frames (a recording paused, frames
    dropped for seconds), which the derivative does not cross."""
    times = np.asarray(times, float)
    if len(times) < 2:
        return []
    step = np.diff(times)
    limit = max(float(window_s), 3.0 * float(np.median(step)))
    return [(int(i), float(step[i])) for i in np.flatnonzero(step > limit)]


def derivative(
    values: np.ndarray,
    times: np.ndarray,
    window_s: float,
    polyorder: int,
    *,
    limit_ends: bool = False,
):
    """Savitzky-Golay first derivative of (T, ...) samples at (possibly uneven) times. Each
    stretch between `time_gaps` is differentiated on its own (a filled-in gap would mix the
    samples on both sides of it into the frames beside it); a stretch of one frame has none
    (NaN), of two frames their slope. `limit_ends`: (T, D) positions, whose velocity at a
    stretch's first and last frame is limited to the faster of the two steps beside it
    (`_limit_ends`)."""
    values = np.asarray(values, float)
    times = np.asarray(times, float)
    T = len(times)
    if T < 3:
        return np.zeros_like(values)
    if float(np.median(np.diff(times))) <= 0:
        raise InputError("frame times must increase")
    cuts = [i + 1 for i, _ in time_gaps(times, window_s)]
    out = np.full(values.shape, np.nan)
    for lo, hi in zip([0, *cuts], [*cuts, T], strict=True):
        if hi - lo == 2:
            out[lo:hi] = (values[lo + 1] - values[lo]) / (times[lo + 1] - times[lo])
        elif hi - lo >= 3:
            out[lo:hi] = _derivative(values[lo:hi], times[lo:hi], window_s, polyorder)
            if limit_ends:
                _limit_ends(out[lo:hi], values[lo:hi], times[lo:hi])
    return out


def _limit_ends(velocity: np.ndarray, positions: np.ndarray, times: np.ndarray) -> None:
    """In place: the speed at a stretch's first and last frame at most the faster of the two
    steps beside it (their distance over their time), the direction kept: a slope limiter, as
    finite-volume schemes bound a reconstruction by its neighbours so that it makes no new
    extremum. The Savitzky-Golay fit's derivative at the edge of its window extrapolates the
    fitted parabola and on a noisy real path overshot every step beside it (Scholz et al. 2018,
    the frame before a gap: 146 µm/s beside steps of 116 and 38). It costs at most half a
    frame's change of speed (a worm accelerating at 100 µm/s² at 12 Hz: 4.2 µm/s at the last
    frame, 0 before); inside the stretch nothing changes (benchmarks/bench_behaviour_width_ends
    .py measures both)."""
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1) / np.diff(times)
    for end, beside in ((0, steps[:2]), (len(velocity) - 1, steps[-2:])):
        limit, speed = float(np.max(beside)), float(np.linalg.norm(velocity[end]))
        if np.isfinite(speed) and speed > limit:
            velocity[end] *= limit / speed


def _derivative(values: np.ndarray, times: np.ndarray, window_s: float, polyorder: int):
    """`derivative` of one stretch without gaps (3 frames or more)."""
    # (not `core.transients.frame_rate_of_times`: uneven times are not refused here but
    # resampled onto a grid of the usual step, every sample's time being known)
    dt = float(np.median(np.diff(times)))
    if dt <= 0:
        raise InputError("frame times must increase")
    uneven = np.abs(np.diff(times) - dt).max() > 0.05 * dt
    grid = np.arange(times[0], times[-1] + 0.5 * dt, dt) if uneven else times
    vals = values
    if uneven:
        vals = np.stack(
            [np.interp(grid, times, values[:, i]) for i in range(values.shape[1])], axis=1
        )
    win = max(polyorder + 2, round(window_s / dt) | 1)
    win = min(win, len(grid) if len(grid) % 2 else len(grid) - 1)
    if win <= polyorder:
        deriv = np.gradient(vals, dt, axis=0)
    else:
        deriv = savgol_filter(vals, win, polyorder, deriv=1, delta=dt, axis=0, mode="interp")
    if uneven:
        deriv = np.stack([np.interp(times, grid, deriv[:, i]) for i in range(deriv.shape[1])],
                         axis=1)  # fmt: skip
    return deriv


def compute_velocity(
    position_px: np.ndarray,
    times: np.ndarray,
    stage_um: np.ndarray,
    image_shape: tuple[int, int] | None,
    params: VelocityParams,
    *,
    head_px: np.ndarray | None = None,
    body_px: np.ndarray | None = None,
    frames: np.ndarray | None = None,
) -> pd.DataFrame:
    """The velocity table (`COLUMNS`) for per-frame positions (T, 2) in image pixels.

    stage_um: (T, 2) stage (y, x) at the same frames. body_px: (T, N, 2) head-first
    centerlines, for the direction (along-body motion); else head_px: (T, 2) a point on the
    head side (centroid motion towards it); without either the direction of a moving frame is
    unknown (pd.NA; `direction` is a nullable Int64 column) and its signed speed NaN, while a
    frame below `still_um_s` is still (0) either way. image_shape None: offsets are measured
    from pixel (0, 0) (positions shift by a constant; velocities are unchanged).
    """
    if not params.pixel_size_um:
        raise InputError("velocity needs the pixel size in µm (--pixel-size)")
    pos = np.asarray(position_px, float)
    stage = np.asarray(stage_um, float)
    T = len(pos)
    if stage.shape != (T, 2):
        raise InputError(f"stage positions are {stage.shape}, expected ({T}, 2) for {T} frames")
    centre = (np.asarray(image_shape, float) - 1) / 2 if image_shape is not None else 0.0
    world = stage + image_to_stage(pos - centre, params)
    ok = np.isfinite(world).all(axis=1)
    if ok.sum() < 3:
        raise InputError("fewer than 3 frames have a position: nothing to differentiate")
    vel = np.full((T, 2), np.nan)
    vel[ok] = derivative(world[ok], np.asarray(times)[ok], params.smooth_s, params.polyorder,
                         limit_ends=True)  # fmt: skip
    speed = np.hypot(vel[:, 0], vel[:, 1])
    along = None
    if body_px is not None:
        along = _along_body(np.asarray(body_px, float), stage, times, params, ok)
    elif head_px is not None:
        toward_head = image_to_stage(np.asarray(head_px, float) - pos, params)
        norm = np.linalg.norm(toward_head, axis=1)
        along = np.einsum("ij,ij->i", vel, toward_head) / np.where(norm > 0, norm, np.nan)
    sign = np.sign(along) if along is not None else np.full(T, np.nan)
    still = speed < params.still_um_s
    # 0 still, +-1 towards/away from the head, NaN unknown: without a head a moving worm's
    # direction was written 0, which the contract reads as "still"
    known = np.where(still, 0.0, np.where(np.isfinite(speed), sign, np.nan))
    direction = pd.array(known, dtype="Int64")  # NaN -> <NA>: an empty CSV cell
    signed = speed * known
    return pd.DataFrame(
        {
            "frame": np.arange(T) if frames is None else np.asarray(frames),
            "time_s": np.asarray(times, float),
            "x_um": world[:, 1],
            "y_um": world[:, 0],
            "vy_um_s": vel[:, 0],
            "vx_um_s": vel[:, 1],
            "speed_um_s": speed,
            "signed_speed_um_s": signed,
            "direction": direction,
        },
        columns=list(COLUMNS),
    )


def direction_values(velocity: pd.DataFrame) -> np.ndarray:
    """A velocity table's `direction` as floats: +1, -1, 0 (still) and NaN (unknown), whether
    it is the nullable Int64 column `compute_velocity` makes, or a CSV read back (float with
    NaN, or int). Readers compare these, never `direction != 0` on the column itself: an
    unknown direction is neither moving nor still."""
    return pd.to_numeric(velocity["direction"], errors="coerce").to_numpy(float, na_value=np.nan)


def _along_body(body, stage, times, params, ok) -> np.ndarray:
    """Mean velocity of the body points along the head-ward tangent (µm/s), per frame."""
    T, N, _ = body.shape
    world = stage[:, None, :] + image_to_stage(body, params)
    vel = np.full((T, N, 2), np.nan)
    flat = derivative(world[ok].reshape(int(ok.sum()), -1), np.asarray(times)[ok],
                      params.smooth_s, params.polyorder)  # fmt: skip
    vel[ok] = flat.reshape(-1, N, 2)
    tang = np.empty_like(world)
    tang[:, 1:-1] = world[:, :-2] - world[:, 2:]
    tang[:, 0] = world[:, 0] - world[:, 1]
    tang[:, -1] = world[:, -2] - world[:, -1]
    tang /= np.maximum(np.linalg.norm(tang, axis=2, keepdims=True), 1e-12)
    along = np.einsum("tnk,tnk->tn", vel, tang)
    finite = np.isfinite(along)
    n = finite.sum(axis=1)  # frames without a position (or a body) have none: NaN, no warning
    return np.where(n > 0, np.where(finite, along, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)


def centerline_positions(points: np.ndarray, head_fraction: float = 0.15):
    """(centroid (T, 2), head-side point (T, 2)) of (T, N, 2) head-first centerlines."""
    pts = np.asarray(points, float)
    k = max(2, round(head_fraction * pts.shape[1]))
    return pts.mean(axis=1), pts[:, :k].mean(axis=1)


def tracks_positions(
    tracks: pd.DataFrame, n_frames: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(frames, centroid (T, 2)) of tracked neurons: mean y, x of all neurons per frame."""
    missing = [c for c in ("frame", "y", "x") if c not in tracks.columns]
    if missing:
        raise InputError(f"the tracks table needs columns frame,y,x; missing {missing}")
    g = tracks.groupby("frame")[["y", "x"]].mean()
    frames = g.index.to_numpy(int)
    if n_frames is not None:
        full = np.full((n_frames, 2), np.nan)
        full[frames] = g.to_numpy(float)
        return np.arange(n_frames), full
    return frames, g.to_numpy(float)
