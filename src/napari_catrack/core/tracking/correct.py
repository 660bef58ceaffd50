"""Re-tracking after a user's corrections: only the stretch the correction changes is recomputed.

A correction at frame f says the tracker was wrong there. From f the corrected neuron is
followed forward (towards its next anchor) and backward (towards its previous one); each pass
stops as soon as the new track has rejoined the old one (within `REJOIN_PX` for `REJOIN_FRAMES`
frames in a row): from there on the old track was following the same neuron, so it is kept. A
track that never rejoins is recomputed up to the next anchor. Every other neuron stays exactly
as it was (held as known points, so the corrected track cannot take their neurons).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.core.tracking.params import TrackParams, recorded_values
from napari_catrack.core.tracking.tracker import (
    TRACK_COLUMNS,
    Cancel,
    Progress,
    TrackingCancelled,
    _check_stack,
    _combine,
    _Frames,
    _resolve_refiner,
    _sweep,
    _table,
    resolve_brightness,
    status_from_confidence,
    status_names,
    validate_points,
)
from napari_catrack.errors import InputError

REJOIN_PX = 1.0  # new and old positions this close ...
REJOIN_FRAMES = 3  # ... for this many frames in a row: the old track is right again


def _as_arrays(tracks: pd.DataFrame, T: int):
    """(ids, index, pos (T, N, 2), conf (T, N), source (T, N), status (T, N)) from a tracks
    table (a table without `status`, written before h15, gets one from its confidence)."""
    ids = list(dict.fromkeys(tracks.neuron_id.tolist()))
    index = {n: i for i, n in enumerate(ids)}
    N = len(ids)
    pos = np.full((T, N, 2), np.nan)
    conf = np.full((T, N), np.nan)
    source = np.full((T, N), "auto", dtype=object)
    ni = tracks.neuron_id.map(index).to_numpy()
    fr = tracks.frame.to_numpy().astype(int)
    if (fr < 0).any() or (fr >= T).any():
        raise InputError(f"track frames must lie in 0..{T - 1}")
    pos[fr, ni] = tracks[["y", "x"]].to_numpy(dtype=float)
    conf[fr, ni] = tracks.confidence.to_numpy(dtype=float)
    source[fr, ni] = tracks.source.to_numpy()
    status = np.full((T, N), "", dtype=object)
    if "status" in tracks.columns:
        status[fr, ni] = tracks.status.astype(str).to_numpy()
    else:
        status[fr, ni] = status_from_confidence(tracks.confidence, tracks.source)
    return ids, index, pos, conf, source, status


class _Rejoin:
    """A `stop` for `_sweep`: True once neuron n has been within REJOIN_PX of the old track for
    REJOIN_FRAMES frames in a row. Those frames keep their old values (`frames`)."""

    def __init__(self, old: np.ndarray, n: int) -> None:
        self.old, self.n, self.frames = old, n, []

    def __call__(self, t: int, cur: np.ndarray) -> bool:
        if np.linalg.norm(cur[self.n] - self.old[t, self.n]) <= REJOIN_PX:
            self.frames.append(t)
        else:
            self.frames = []
        return len(self.frames) >= REJOIN_FRAMES


def made_with_rules(params: TrackParams | None, made_with: dict | None) -> TrackParams:
    """`params` (None: `made_with`'s own, as `recorded_values` reads them) with the brightness
    rules resolved: an explicit choice kept, "auto" the rules the tracks were made with
    (`made_with`: a tracks record's stored params), else `params.channel`'s."""
    if made_with is None:
        return resolve_brightness(params or TrackParams())
    if not isinstance(made_with, dict):
        raise InputError(
            "made_with must be the tracks' recorded settings (a dict: session['tracks'].params)"
        )
    rec = recorded_values(made_with)
    if params is None:
        params = TrackParams.from_dict(rec)
    if params.brightness != "auto":
        return params
    rules = made_with.get("brightness_rules")  # what "auto" ran (since h17)
    if rules not in ("steady", "calcium"):
        rules = rec["brightness"]  # before h16: steady; h16: as chosen, or "auto"
    if rules not in ("steady", "calcium"):  # "auto" of an h16 record: its channel's
        rules = "calcium" if made_with.get("channel") == "green" else "steady"
    return params.replace(brightness=rules)


def retrack(
    tracks: pd.DataFrame,
    corrections: pd.DataFrame,
    recording,
    *,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    model=None,
    params: TrackParams | None = None,
    made_with: dict | None = None,
) -> pd.DataFrame:
    """Apply user corrections and recompute only the stretches they change.

    `recording` is the tracked channel (T, Y, X); `tracks` has TRACK_COLUMNS; `corrections`
    `neuron_id,frame,y,x` in the same coordinates. Every `seed`/`manual` row and every correction
    is an anchor. Returns the full table: corrected rows `manual`, recomputed rows `auto`, all
    other rows exactly as given. `progress(done, total)` counts frames against the longest
    possible stretch (passes usually stop earlier); `cancel()` raises `TrackingCancelled`.

    `made_with`: the settings the tracks were recorded with (`session["tracks"].params`). Where
    the caller did not choose (`params` None: those settings, read as `recorded_values`; or
    `params.brightness` "auto") the brightness rules are the ones the tracks were made with
    (their `brightness_rules`, else their `brightness`, else their `channel`'s), not the ones
    `params.channel` gives; an explicit `params.brightness` is kept. Without it, "auto" is
    resolved from `params.channel`.
    """
    params = made_with_rules(params, made_with)
    model = params.model if model is None else model
    stack = _check_stack(recording)
    T = stack.shape[0]
    missing = [c for c in TRACK_COLUMNS if c not in tracks.columns]
    if missing:
        raise InputError(f"tracks lack column(s) {', '.join(missing)}")
    corrections = validate_points(corrections, stack.shape, "corrections", need_frame=True)
    ids, index, pos, conf, source, status = _as_arrays(tracks, T)
    unknown = set(corrections.neuron_id) - set(ids)
    if unknown:
        raise InputError(
            f"corrections name neuron(s) not in the tracks: {sorted(map(str, unknown))}"
        )
    old = pos.copy()
    cn = corrections.neuron_id.map(index).to_numpy()
    cf = corrections.frame.to_numpy()
    pos[cf, cn] = corrections[["y", "x"]].to_numpy()
    conf[cf, cn] = 1.0
    source[cf, cn] = "manual"
    status[cf, cn] = "tracked"
    anchor = np.isin(source, ["seed", "manual"])
    refiner = _resolve_refiner(model)
    frames = _Frames(stack, params)
    # passes: (neuron, start frame, end frame, direction), one per side of each correction
    passes = []
    for n, f in sorted(set(zip(cn.tolist(), cf.tolist()))):
        af = np.flatnonzero(anchor[:, n])
        before, after = af[af < f], af[af > f]
        if f < T - 1 and (len(after) == 0 or after.min() > f + 1):
            passes.append((n, f, after.min() if len(after) else T - 1, 1))
        if f > 0 and (len(before) == 0 or before.max() < f - 1):
            passes.append((n, f, before.max() if len(before) else 0, -1))
    total = sum(abs(b - a) + 1 for _, a, b, _ in passes)
    done = [0]

    def tick():
        done[0] += 1
        if cancel is not None and cancel():
            raise TrackingCancelled("re-tracking cancelled; previous tracks kept")
        if progress is not None and done[0] % 10 == 0:
            progress(min(done[0], total), total)

    new_pos = np.full_like(pos, np.nan)
    new_conf = np.full_like(conf, np.nan)
    new_stat = np.full(conf.shape, -1, dtype=np.int8)
    for n, a, b, step in passes:
        known = pos.copy()
        kconf = conf.copy()
        lo, hi = min(a, b), max(a, b)
        free = np.zeros(T, bool)
        free[lo : hi + 1] = ~anchor[lo : hi + 1, n]
        known[free, n] = np.nan
        kconf[free, n] = np.nan
        order = np.arange(a, b + step, step)
        rejoin = _Rejoin(old, n)
        p, c, st = _sweep(frames, order, known, kconf, refiner, params, tick, rejoin)
        done_frames = free & ~np.isnan(c[:, n])
        done_frames[rejoin.frames] = False  # the old track was right again there
        # where the passes from two corrections overlap, the more confident estimate wins
        f_pos, f_conf, f_stat = _combine(
            new_pos[:, n], new_conf[:, n], p[:, n], c[:, n], new_stat[:, n], st[:, n]
        )
        new_pos[done_frames, n] = f_pos[done_frames]
        new_conf[done_frames, n] = f_conf[done_frames]
        new_stat[done_frames, n] = f_stat[done_frames]
    if progress is not None and total:
        progress(total, total)
    redo = ~np.isnan(new_conf) & ~anchor
    pos[redo] = new_pos[redo]
    conf[redo] = new_conf[redo]
    source[redo] = "auto"
    status[redo] = status_names(new_stat)[redo]
    return _table(ids, pos, conf, source, status)
