"""Per-transient features and per-cell summaries.

Shapes are measured on the smoothed trace that detection used, so rise, decay and widths do
not jump with single-frame noise, and relative to the baseline at the peak (like the
amplitude): FWHM at half the amplitude, AUCs of (dF/F - baseline) in dF/F x s. The decay constant comes from a closed-form weighted
log-linear fit of an exponential: fast enough for tens of thousands of transients, and
flagged (`decay_fit_ok` False, `decay_time_s` NaN) where it cannot fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError

from .prepare import CORE_COLUMNS, Prepared, prepare

TRANSIENT_COLUMNS = [
    "neuron_id",
    "start_frame",
    "peak_frame",
    "end_frame",
    "peak_amplitude",
    "rise_time_s",
    "decay_time_s",
    "decay_fit_ok",
    "fwhm_s",
    "rise_auc",
    "total_auc",
    "iti_s",
    "snr",
    "start_time_s",
    "peak_time_s",
    "end_time_s",
    "source",
    "transient_id",
]
STATUSES = ("unverified", "accepted", "rejected")
CELL_COLUMNS = [
    "neuron_id",
    "n_transients",
    "event_rate_hz",
    "mean_amplitude",
    "median_amplitude",
    "mean_iti_s",
    "cv_iti",
    "fraction_active",
    "burstiness",
    "frames_measured",
    "frames_missing",
    "status",
    "reason",
]


def row_index(neuron_ids: np.ndarray, table_ids) -> np.ndarray:
    """Row of each transient's neuron in the (N, T) arrays; unknown ids are an InputError."""
    lookup = {v: i for i, v in enumerate(np.asarray(neuron_ids).tolist())}
    try:
        return np.fromiter((lookup[v] for v in pd.Series(table_ids).tolist()), np.intp)
    except KeyError as exc:
        raise InputError(
            f"transient refers to neuron {exc.args[0]!r}, which has no trace"
        ) from None


def _shape_features(prep: Prepared, rows, st, pk, en) -> dict[str, np.ndarray]:
    """Decay tau, FWHM and AUCs of all transients at once.

    Each transient's onset..end samples (minus the baseline at its peak) become one row of a
    padded matrix, processed in chunks; the decay constant is a closed-form weighted
    log-linear least-squares fit (weights y^2, samples above 10 % of the peak, >= 3 needed).
    """
    fps = prep.fps
    n_frames = prep.smooth.shape[1]
    flat = prep.smooth.ravel()
    m = st.size
    tau, fwhm = np.full(m, np.nan), np.full(m, np.nan)
    rise_auc, total_auc = np.zeros(m), np.zeros(m)
    if m == 0:
        return {"tau": tau, "fwhm": fwhm, "rise_auc": rise_auc, "total_auc": total_auc}
    span = int((en - st).max()) + 1
    k = np.arange(span)
    chunk = max(1, 2_000_000 // span)
    for c in range(0, m, chunk):
        sl = slice(c, c + chunk)
        a, p, e, r = st[sl, None], pk[sl, None], en[sl, None], rows[sl, None]
        inside = k <= e - a
        idx = r * n_frames + np.minimum(a + k, e)
        y = flat[idx] - prep.base[r[:, 0], p[:, 0]][:, None]
        y = np.where(inside, y, 0.0)
        kp = p - a  # peak position in the row
        ypk = np.take_along_axis(y, kp, axis=1)
        # AUCs by the trapezoid rule: sum minus half the end points
        up = k <= kp
        y0 = y[:, :1]
        rise_auc[sl] = ((y * up).sum(1, keepdims=True) - 0.5 * (y0 + ypk))[:, 0] / fps
        ye = np.take_along_axis(y, e - a, axis=1)
        total_auc[sl] = ((y * inside).sum(1, keepdims=True) - 0.5 * (y0 + ye))[:, 0] / fps
        # FWHM: interpolated crossings of half the peak, before and after the peak
        half = 0.5 * ypk
        below = y < half
        left_hit = below & up
        has_left = left_hit.any(1, keepdims=True)
        i = np.where(has_left, span - 1 - np.argmax(left_hit[:, ::-1], axis=1)[:, None], 0)
        yi, yn = np.take_along_axis(y, i, 1), np.take_along_axis(y, np.minimum(i + 1, span - 1), 1)
        left = np.where(has_left, i + (half - yi) / np.where(yn != yi, yn - yi, 1), 0.0)
        right_hit = below & (k >= kp) & inside
        has_right = right_hit.any(1, keepdims=True)
        # (at least 1, at most span - 1: a one-frame transient, start = peak = end, as a
        # measured frame between missing ones gives, has no crossing and a span of 1)
        j = np.clip(np.argmax(right_hit, axis=1)[:, None], 1, max(span - 1, 0))
        yj, yb = np.take_along_axis(y, j, 1), np.take_along_axis(y, np.maximum(j - 1, 0), 1)
        right = j - 1 + (yb - half) / np.where(yb != yj, yb - yj, 1)
        ok = has_right & (ypk > 0)
        fwhm[sl] = np.where(ok, (right - left) / fps, np.nan)[:, 0]
        # decay: weighted log-linear fit on peak..end samples above 10 % of the peak
        use = (k >= kp) & inside & (y > 0.1 * ypk) & (ypk > 0)
        w = np.where(use, y, 0.0) ** 2
        t = (k - kp) / fps
        ly = np.log(np.where(use, y, 1.0))
        sw, st_, sy = w.sum(1), (w * t).sum(1), (w * ly).sum(1)
        stt, sty = (w * t * t).sum(1), (w * t * ly).sum(1)
        den = sw * stt - st_**2
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (sw * sty - st_ * sy) / den
        good = (use.sum(1) >= 3) & (den > 0) & (slope < 0)
        tau[sl] = np.where(good, -1.0 / np.where(good, slope, -1.0), np.nan)
    return {"tau": tau, "fwhm": fwhm, "rise_auc": rise_auc, "total_auc": total_auc}


def add_features(table: pd.DataFrame, prep: Prepared, neuron_ids: np.ndarray) -> pd.DataFrame:
    """Return a new table with every feature column filled from the prepared traces."""
    out = table.copy()
    fps = prep.fps
    rows = row_index(neuron_ids, out["neuron_id"])
    st = out["start_frame"].to_numpy(np.int64)
    pk = out["peak_frame"].to_numpy(np.int64)
    en = out["end_frame"].to_numpy(np.int64)
    f = _shape_features(prep, rows, st, pk, en)
    out["start_time_s"] = st / fps
    out["peak_time_s"] = pk / fps
    out["end_time_s"] = en / fps
    out["rise_time_s"] = (pk - st) / fps
    out["decay_time_s"] = f["tau"]
    out["decay_fit_ok"] = np.isfinite(f["tau"])
    out["fwhm_s"] = f["fwhm"]
    out["rise_auc"] = f["rise_auc"]
    out["total_auc"] = f["total_auc"]
    out["peak_amplitude"] = prep.smooth[rows, pk] - prep.base[rows, pk]
    out["snr"] = prep.snr_at(rows, pk)
    out = out.sort_values(["neuron_id", "peak_frame"], kind="stable").reset_index(drop=True)
    out["iti_s"] = out.groupby("neuron_id")["peak_time_s"].diff()
    extra = [c for c in out.columns if c not in TRANSIENT_COLUMNS]
    return out[TRANSIENT_COLUMNS + extra]


def transient_features(
    table: pd.DataFrame,
    dff: np.ndarray,
    fps: float,
    neuron_ids: np.ndarray | None = None,
    smooth_window_s: float | str = "auto",
) -> pd.DataFrame:
    """Features for a table of (neuron_id, start/peak/end frames), e.g. after manual edits."""
    prep = prepare(dff, fps, smooth_window_s)
    ids = np.arange(prep.raw.shape[0]) if neuron_ids is None else np.asarray(neuron_ids)
    missing = [c for c in CORE_COLUMNS[1:5] if c not in table.columns]
    if missing:
        raise InputError(f"transient table lacks column(s) {', '.join(missing)}")
    return add_features(table, prep, ids)


def time_offsets(traces: pd.DataFrame, fps: float) -> dict[str, float]:
    """{neuron id: seconds} each neuron's samples are timed after frame / fps, read from a long
    traces table's `time_s`: a multi-plane suite2p import's plane offset (`time_offset_s`, plane
    p of n at p / (n x fs)). Only neurons whose time_s is frame / fps plus one constant other
    than 0 (to a thousandth of a frame) are listed: where time_s is frame / fps, absent, NaN or
    on another rate, transient times stay frame / fps."""
    cols = ("neuron_id", "frame", "time_s")
    if not fps or not set(cols) <= set(traces.columns) or not len(traces):
        return {}
    frame = pd.to_numeric(traces["frame"], errors="coerce").to_numpy(float)
    late = pd.to_numeric(traces["time_s"], errors="coerce").to_numpy(float) - frame / fps
    ok = np.isfinite(late)
    if not ok.any():
        return {}
    g = pd.Series(late[ok]).groupby(traces["neuron_id"].astype(str).to_numpy()[ok])
    lo, hi, mid = g.min(), g.max(), g.median()
    keep = (hi - lo <= 1e-3 / fps) & (mid.abs() > 1e-6 / fps)
    return {str(k): float(v) for k, v in mid[keep].items()}


# How far a step of a table's times may stray from its frames at the stated rate, in frames:
# a quarter of a frame plus 0.1 % of the step. Real timestamps (a DAQ's or a camera's, jitter
# of a few % of a frame) pass; a dropped frame (a step one frame long), a second rate (a
# neuron's or a stretch's: 10 % off over its span of frames) or times going back do not.
TIME_STEP_TOLERANCE_FRAMES = 0.25
TIME_STEP_TOLERANCE_FRACTION = 1e-3
# The rate the steps are checked at: the median over runs of this many consecutive steps of a
# neuron (frames over time across each run), not over single steps. Times rounded to the
# millisecond at 30 Hz step 0.033 s twice for each 0.034 s, so the median single step said
# 30.303 Hz, 1 % off, and every neuron's span then looked like "two rates" (h20); across 64
# steps the rounding is 1 ms in 2 s. A dropped frame moves one run's rate, the median none; a
# second rate is still the rate of about half the runs, so the other half's span strays.
TIME_STEP_RUN = 64


def _neuron_ranks(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(rank of each row's neuron in the sorted names, the sorted names) of a neuron_id column,
    its ids read as text: a table whose neurons come in runs (as every table written here) is
    ranked by its runs, others by `pd.factorize` (6 million rows: 0.3 s rather than seconds;
    shuffled, 1-1.5 s, the most of the rule's time, h21). Whole-number ids are factorized as numbers and only their names made text (6 million
    rows: `astype(str)` alone took 4.8 s, h21)."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iu":
        codes, uniques = pd.factorize(column.to_numpy())
        return _ranked(codes, pd.Series(uniques).astype(str).to_numpy(dtype=object))
    ids = column.astype(str).to_numpy(dtype=object)
    change = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts = np.r_[0, change] if len(ids) else np.zeros(0, np.int64)
    firsts = ids[starts] if len(starts) <= 100_000 else ids[:0]  # (else: rows shuffled)
    if len(firsts) and len(set(firsts)) == len(firsts):  # each neuron one run
        return _ranked(np.repeat(np.arange(len(firsts)), np.diff(np.r_[starts, len(ids)])), firsts)
    codes, uniques = pd.factorize(ids)
    return _ranked(codes, np.asarray(uniques, dtype=object))


def _ranked(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each code's rank among the `uniques` sorted, the sorted uniques)."""
    order = np.array(sorted(range(len(uniques)), key=uniques.__getitem__), dtype=np.int64)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def _sample_order(rank: np.ndarray, frame: np.ndarray, time: np.ndarray) -> np.ndarray:
    """The order of samples by (neuron rank, frame, time), as `np.lexsort((time, frame, rank))`,
    in linear time where the frames are whole numbers over a span near the rows' count (any
    traces table): a counting sort of the one integer key rank x span + frame, each key's row
    put in its slot (6 million shuffled rows: 0.2-0.5 s, the lexsort of 3 float keys 3.8 s, h21).
    A neuron's frame twice is ordered by its times (`np.lexsort` of the key and the time)."""
    lo, hi = float(frame.min()), float(frame.max())
    n_keys = (float(rank.max()) + 1) * (hi - lo + 1)  # (inf for infinite frames)
    near = n_keys <= 4 * len(rank) + (1 << 20) and max(-lo, hi) < 2.0**62
    whole = frame.astype(np.int64) if near else None
    if whole is None or not (whole == frame).all():  # (no cast of frames beyond int64)
        return np.lexsort((time, frame, rank))
    span, n_keys = int(hi - lo) + 1, int(n_keys)
    key = rank * span + (whole - int(lo))
    count = np.bincount(key, minlength=n_keys)
    if count.max() > 1:
        return np.lexsort((time, key))
    slot = np.empty(n_keys, np.int64)
    slot[key] = np.arange(len(key))
    return slot[count > 0]


def _time_steps(table: pd.DataFrame, pairs) -> tuple | None:
    """The (frame, time) samples of a long table's `pairs` columns, per neuron (sorted by name)
    in frame order, each (neuron, frame, time) once: (names, rank, frame, time, same, d_frame,
    d_time, where), `names[rank]` each sample's neuron, `same` marking the steps from one sample
    of a neuron to its next (`where` their first sample); None without such columns."""
    pairs = [(f, t) for f, t in pairs if {f, t} <= set(table.columns)]
    if "neuron_id" not in table.columns or not pairs:
        return None
    rank, names = _neuron_ranks(table["neuron_id"])
    num = lambda c: pd.to_numeric(table[c], errors="coerce").to_numpy(float)  # noqa: E731
    rank = np.concatenate([rank] * len(pairs))
    frame = np.concatenate([num(f) for f, _ in pairs])
    time = np.concatenate([num(t) for _, t in pairs])
    ok = ~(np.isnan(frame) | np.isnan(time))  # (a NaN: no sample)
    rank, frame, time = rank[ok], frame[ok], time[ok]
    d_r, d_f, d_t = np.diff(rank), np.diff(frame), np.diff(time)
    in_order = (d_r > 0) | ((d_r == 0) & ((d_f > 0) | ((d_f == 0) & (d_t >= 0))))
    if not in_order.all():  # (tables written here are in order: no sort of millions of rows)
        order = _sample_order(rank, frame, time)
        rank, frame, time = rank[order], frame[order], time[order]
        d_r, d_f, d_t = np.diff(rank), np.diff(frame), np.diff(time)
    keep = np.r_[True, (d_r != 0) | (d_f != 0) | (d_t != 0)]  # each sample once
    if not keep.all():
        rank, frame, time = rank[keep], frame[keep], time[keep]
    same = rank[1:] == rank[:-1]
    return names, rank, frame, time, same, np.diff(frame)[same], np.diff(time)[same], np.flatnonzero(same)  # fmt: skip


def frame_rate_of_times(table: pd.DataFrame, pairs=(("frame", "time_s"),)) -> tuple[float | None, str]:  # fmt: skip
    """(rate, "") the frame rate a long table's times state, else (None, why): the one rule of
    `catrack transients` / `catrack ensembles` (`commands._common.stated_frame_rate`), the
    Transients and Traces widgets and `Session.frame_rate` (a session's traces, so `ctx.fps`,
    the batch steps and the exports). The median of frames per second over runs of
    `TIME_STEP_RUN` steps (a step: from one sample of a neuron to its next; times rounded to
    the millisecond bias a single step's rate) is checked: every step, and each neuron's whole
    span, must be its frames at that rate within `TIME_STEP_TOLERANCE_FRAMES` +
    `TIME_STEP_TOLERANCE_FRACTION` of the step (a suite2p plane's offset in time keeps the
    slope); the rate stated is then the neurons' frames over their time, first to last sample.
    `why` is "" when the table has no such columns or no finite times (the caller says
    what is missing), else says the times are uneven and where. `pairs`: the (frame, time)
    columns, a traces table's (frame, time_s) or a transient table's (start_frame,
    start_time_s), (peak_frame, peak_time_s), (end_frame, end_time_s) (`catrack ensembles`).
    The one other reading of a rate from such times is `median_step_rate`, which says why."""
    steps = _time_steps(table, pairs)
    if steps is None:
        return None, ""
    names, rank, frame, time, same, d_frame, d_time, where = steps
    step = d_frame > 0
    if not step.any():
        return None, ""
    back = step & (d_time <= 0)
    if back.any():
        i = where[int(np.argmax(back))]
        return None, (f"its times are uneven: neuron {names[rank[i]]}'s frames {int(frame[i])} to "
                      f"{int(frame[i + 1])} go back or stand still in time")  # fmt: skip
    # the rate of most runs of TIME_STEP_RUN steps (each neuron's steps numbered in turn)
    at = where[step]  # each step's first sample (sorted: a neuron's samples in a row)
    begins = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(len(rank)), 0))[at]
    block = (at - begins) // TIME_STEP_RUN  # (its neuron's first sample, its run there)
    run = np.cumsum(np.r_[True, (begins[1:] != begins[:-1]) | (block[1:] != block[:-1])]) - 1
    frames_run = np.bincount(run, weights=d_frame[step])
    rates = frames_run / np.bincount(run, weights=d_time[step])
    # runs with a step off the single steps' median rate (a gap, a pause) left out: with few
    # runs a neuron has (100 frames: 2) the gap's run moved the median, which then named
    # frames 0 to 1 as uneven rather than the gap (h21 review)
    single = np.median(d_frame[step] / d_time[step])
    off = np.abs(d_time[step] * single - d_frame[step]) > (
        TIME_STEP_TOLERANCE_FRAMES + TIME_STEP_TOLERANCE_FRACTION * d_frame[step]
    )
    clean = np.bincount(run, weights=off) == 0
    rate = float(np.median(rates[clean] if clean.any() else rates))
    # each step, then each neuron's first to last sample (a second rate drifts away over it)
    first = np.r_[True, ~same]
    last = np.r_[~same, True]
    spans = (frame[last] - frame[first], time[last] - time[first], np.flatnonzero(first))
    for d_f, d_t, at in ((d_frame, d_time, where), spans):
        off = d_t * rate - d_f
        bad = np.abs(off) > TIME_STEP_TOLERANCE_FRAMES + TIME_STEP_TOLERANCE_FRACTION * np.abs(d_f)
        if bad.any():
            i = int(np.argmax(bad))
            a, b = int(frame[at[i]]), int(frame[at[i]] + d_f[i])
            return None, (f"its times are uneven: neuron {names[rank[at[i]]]}'s frames {a} to {b} take "
                          f"{d_t[i] * rate:.3g} frames at the {rate:.6g} Hz of most steps "
                          "(dropped frames, or two rates?)")  # fmt: skip
    # stated: the rate over the neurons' whole spans, which jitter does not blur as it does
    # the median step (2e-4 off at 30 Hz with 0.5 ms jitter, 20 frames over 100,000)
    return float(spans[0].sum() / spans[1].sum()), ""


def uneven_times_note(uneven: str, fps: float, what: str) -> str:
    """The one warning where a frame rate in force (set, or recorded in the session) meets
    traces whose time_s states none (`uneven`: `frame_rate_of_times`'s why, naming the frames):
    the rate is kept and times the `what` (the Transients widget's "transients", `catrack
    events`'s "events"), these times not followed."""
    return (f"the traces' time_s states no frame rate, {uneven}; the {fps:g} Hz in force times "
            f"the {what} (frame / rate), not these time_s")  # fmt: skip


def median_step_rate(table: pd.DataFrame, pairs=(("frame", "time_s"),)) -> float | None:
    """The frame rate of the median step of a long table's times, uneven or not (None without
    such columns or steps forward in time). NOT a rate to time frames by (`frame_rate_of_times`
    is: after a dropped frame, frame / this rate runs a frame early for ever). Read only where
    the rate the frames were taken at must be told apart from their gaps: `catrack events`
    warns that a --fps 1 % off this is wrong, and then, at the right rate, that the time_s has
    gaps (give --frame-times), two different mistakes with two different fixes."""
    steps = _time_steps(table, pairs)
    if steps is None:
        return None
    d_frame, d_time = steps[5], steps[6]
    ok = (d_frame > 0) & (d_time > 0)
    return float(np.median(d_frame[ok] / d_time[ok])) if ok.any() else None


def fps_from_times(table: pd.DataFrame, pairs=(("frame", "time_s"),)) -> float | None:
    """The frame rate a long table's times state (`frame_rate_of_times`), None when they state
    none (no such columns, or uneven times)."""
    return frame_rate_of_times(table, pairs)[0]


def frame_times(table: pd.DataFrame, fps: float, offsets: dict | None = None) -> pd.DataFrame:
    """The table with `start_time_s`, `peak_time_s`, `end_time_s` = its frames / fps plus each
    neuron's offset (`time_offsets`: its trace's time_s, a plane's time in the volume), so a
    transient's times are its trace's time_s at its frames. The one rule of `catrack
    transients`, the batch step and the curation's tables (frames in recording numbers)."""
    out = table.copy()
    late = 0.0
    if offsets and len(out):
        late = out["neuron_id"].astype(str).map(offsets).fillna(0.0).to_numpy(float)
    for c in ("start", "peak", "end"):
        if f"{c}_frame" in out.columns:
            out[f"{c}_time_s"] = out[f"{c}_frame"].to_numpy(np.int64) / fps + late
    return out


def cell_table(
    transients: pd.DataFrame,
    neuron_ids,
    n_frames: int | np.ndarray,
    fps: float,
    verdicts: pd.DataFrame | None = None,
    total_frames: int | None = None,
) -> pd.DataFrame:
    """One row per neuron: event rate, amplitudes, ITI statistics, activity and verdict.

    `n_frames`: the frames each neuron was measured in (its finite dF/F samples, one number or
    one per neuron): rates and the active fraction are per measured frame, so a neuron missing
    for a stretch (lost by the tracker) is not counted as silent there. `frames_measured` says
    it; `frames_missing` is `total_frames` (the traces' length) minus it, NaN when not given.

    Neurons without transients are kept (rate 0), so a table of rates is never biased
    toward active cells. Burstiness is Goh & Barabasi's B = (sd - mean) / (sd + mean) of the
    ITIs: -1 periodic, 0 Poisson, towards 1 bursty. `verdicts` (neuron_id, status[, reason])
    supplies curation results; cells not in it are "unverified".
    """
    ids = pd.Index(np.asarray(neuron_ids), name="neuron_id")
    frames = pd.Series(np.broadcast_to(np.asarray(n_frames, float), (len(ids),)), index=ids)
    g = transients.groupby("neuron_id")
    dur = transients["end_frame"] - transients["start_frame"] + 1
    iti = g["iti_s"]
    mean_iti, sd_iti = iti.mean(), iti.std(ddof=0)
    out = pd.DataFrame(index=ids)
    out["n_transients"] = g.size().reindex(ids, fill_value=0).astype(np.int64)
    out["event_rate_hz"] = out["n_transients"] / (frames / fps)
    out["mean_amplitude"] = g["peak_amplitude"].mean().reindex(ids)
    out["median_amplitude"] = g["peak_amplitude"].median().reindex(ids)
    out["mean_iti_s"] = mean_iti.reindex(ids)
    out["cv_iti"] = (sd_iti / mean_iti).reindex(ids)
    out["fraction_active"] = (
        dur.groupby(transients["neuron_id"]).sum().reindex(ids, fill_value=0) / frames
    )
    out["burstiness"] = (
        ((sd_iti - mean_iti) / (sd_iti + mean_iti)).where(iti.count() >= 2).reindex(ids)
    )
    out["frames_measured"] = frames.astype(np.int64)
    out["frames_missing"] = (
        (total_frames - frames).astype(np.int64) if total_frames is not None else np.nan
    )
    out["status"] = "unverified"
    out["reason"] = ""
    out = out.reset_index()
    if verdicts is not None:
        out = apply_verdicts(out, verdicts)
    return out[CELL_COLUMNS]


def check_verdicts(verdicts: pd.DataFrame, where: str = "verdicts table") -> pd.DataFrame:
    """`verdicts` when it has columns neuron_id and status, with known statuses; else one line."""
    if "neuron_id" not in verdicts.columns or "status" not in verdicts.columns:
        found = ", ".join(map(str, verdicts.columns)) or "none"
        raise InputError(f"{where} needs columns neuron_id and status; found {found}")
    unknown = ~verdicts["status"].astype(str).isin(STATUSES)
    if unknown.any():  # the values, and whose is the first (h22 walk)
        bad = sorted(set(verdicts["status"][unknown].astype(str)))
        first = verdicts["neuron_id"].iloc[int(unknown.to_numpy().argmax())]
        raise InputError(
            f"{where}: verdict status must be one of {', '.join(STATUSES)}; got {', '.join(bad)} "
            f"(the first for neuron {first})"
        )
    return verdicts


def rejected_ids(verdicts: pd.DataFrame | None) -> frozenset[str]:
    """Ids (as text) of the cells a verdicts table (neuron_id, status; the last verdict of a
    cell counts) rejects: a rejected cell is no neuron, so figures, ensembles and the cell
    table's readers leave it out. Empty without a table or without those columns."""
    if verdicts is None or not len(verdicts) or not {"neuron_id", "status"} <= set(verdicts):
        return frozenset()
    v = verdicts.assign(neuron_id=verdicts["neuron_id"].astype(str))
    v = v.drop_duplicates("neuron_id", keep="last")
    return frozenset(v.loc[v["status"].astype(str) == "rejected", "neuron_id"])


def apply_verdicts(cells: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Copy curation verdicts (status, reason) onto a per-cell table; returns a new table."""
    v = check_verdicts(verdicts)
    # ids compared as text: a session stores "3" where a CSV's traces read 3
    v = v.assign(neuron_id=v["neuron_id"].astype(str))
    v = v.drop_duplicates("neuron_id", keep="last").set_index("neuron_id")
    out = cells.copy()
    ids = out["neuron_id"].astype(str)
    status = ids.map(v["status"].astype(str))
    out["status"] = status.fillna("unverified")
    if "reason" in v.columns:
        reason = ids.map(v["reason"].fillna("").astype(str))
        out["reason"] = reason.fillna("")
    return out
