"""Event-triggered averages per neuron with a circular-shift null and a significance table.

For each neuron and each kind of event:
- the **average**: the trace around every event (nearest recorded frame at each lag on a grid of
  the frame interval, so dropped frames are gaps, not shifts), minus its pre-event baseline,
  averaged over events (mean and SEM);
- the **response**: mean over events of (mean in the response window - mean in the baseline
  window);
- the **null**: the same response after shifting the trace circularly against the events by a
  random offset (at least the analysis span, so a shifted event never sees its own response),
  `n_shuffles` times; shifting keeps each trace's autocorrelation and the events' own timing
  (CalTrig and Jercog-style shuffles), which a per-frame shuffle would destroy;
- p = (1 + shifts at least as extreme) / (1 + shifts), Benjamini-Hochberg q over the whole table.

Windows are frame ranges found by `searchsorted` on the frame times and summed with cumulative
sums (NaN-aware), so the null costs O(neurons x shifts x events), not x window length.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_catrack.core.events.clock import Clock
from napari_catrack.core.events.params import EtaParams
from napari_catrack.errors import InputError, check_cancelled

SIGNIFICANCE_COLUMNS = [
    "neuron_id",
    "event",
    "n_events",
    "response",
    "null_mean",
    "null_sd",
    "z",
    "p_value",
    "q_value",
    "significant",
    "direction",
]
ETA_COLUMNS = ["neuron_id", "event", "lag_s", "mean", "sem", "n_events"]
NEURON_CHUNK = 32


@dataclass
class EtaResult:
    eta: pd.DataFrame  # ETA_COLUMNS, long: one row per neuron, event kind and lag
    significance: pd.DataFrame  # SIGNIFICANCE_COLUMNS, one row per neuron and event kind
    params: EtaParams
    # per event kind: events whose window the recording's start or end cuts short (`edge_counts`)
    edges: dict[str, dict[str, int]] = field(default_factory=dict)

    def significant(self) -> pd.DataFrame:
        return self.significance[self.significance["significant"]]


class _Windows:
    """NaN-aware window means of (N, T) traces over frame ranges, circular via a doubled copy."""

    def __init__(self, values: np.ndarray, clock: Clock) -> None:
        self.clock = clock
        self.duration = clock.end - clock.start
        doubled = np.concatenate([values, values], axis=1)
        finite = np.isfinite(doubled)
        zeros = np.zeros((len(values), 1))
        self.sums = np.concatenate(
            [zeros, np.cumsum(np.where(finite, doubled, 0.0), axis=1)], axis=1
        )
        self.counts = np.concatenate([zeros, np.cumsum(finite, axis=1)], axis=1)
        self.times = np.concatenate([clock.times, clock.times + self.duration])

    def bounds(self, t: np.ndarray, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        return np.searchsorted(self.times, t + a), np.searchsorted(self.times, t + b)

    def mean(self, rows: slice, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        s = self.sums[rows][:, hi] - self.sums[rows][:, lo]
        n = self.counts[rows][:, hi] - self.counts[rows][:, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _nanmean(a: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """np.nanmean that gives NaN for an all-NaN slice without numpy's "Mean of empty slice"
    RuntimeWarning (a lost neuron, or a window with no recorded frame, is expected here: the
    CLI showed those warnings as `catrack events: warning: ...` lines)."""
    ok = ~np.isnan(a)
    n = ok.sum(axis=axis, keepdims=keepdims)
    s = np.where(ok, a, 0.0).sum(axis=axis, keepdims=keepdims)
    with np.errstate(invalid="ignore"):  # (inf - inf in s: NaN, as np.nanmean gives)
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _responses(win: _Windows, rows: slice, t: np.ndarray, p: EtaParams) -> np.ndarray:
    """(n, *t.shape) response of each event: response window mean - baseline mean."""
    blo, bhi = win.bounds(t, -p.baseline_s, 0.0)
    rlo, rhi = win.bounds(t, p.response_start_s, p.response_end_s)
    return win.mean(rows, rlo, rhi) - win.mean(rows, blo, bhi)


def _p_values(obs: np.ndarray, null: np.ndarray, alternative: str) -> np.ndarray:
    """obs (n,), null (n, S): permutation p-values with the +1 correction, over the shifts with
    a value; NaN where there is no response or no shift with a value (a lost neuron, or one with
    no data in its windows: a NaN compared as "not extreme" gave it p = 1 / (1 + S), the
    smallest possible, so an all-NaN neuron was listed as responsive)."""
    valid = ~np.isnan(null)
    s = valid.sum(axis=1)
    if alternative == "greater":
        extreme = null >= obs[:, None]
    elif alternative == "less":
        extreme = null <= obs[:, None]
    else:
        centre = _nanmean(null, axis=1, keepdims=True)
        extreme = np.abs(null - centre) >= np.abs(obs[:, None] - centre) - 1e-12
    hits = (extreme & valid).sum(axis=1)
    return np.where(np.isnan(obs) | (s == 0), np.nan, (1.0 + hits) / (1.0 + s))


def tested_summary(significance: pd.DataFrame, min_events: int) -> str:
    """'N responsive neuron-event pairs of M tested', naming the kinds not tested (too few
    events far enough from the ends): the Events widget's status and the batch eta step's report
    line. Pairs without a p-value (such a kind, a lost neuron) are not counted as tested."""
    sig = significance
    tested = np.isfinite(pd.to_numeric(sig["p_value"], errors="coerce").to_numpy(float))
    n_hits = int(sig["significant"].astype(bool).sum())
    kinds = sig.assign(t=tested).groupby(sig["event"].astype(str))["t"].any()
    untested = ", ".join(kinds.index[~kinds.to_numpy(bool)])
    text = f"{n_hits} responsive neuron-event pairs of {int(tested.sum())} tested"
    if untested:
        text += f"; not tested (fewer than {min_events} events far enough from the ends): "
        text += untested
    return text


def lag_frames(clock: Clock, times: np.ndarray) -> np.ndarray:
    """The recorded frame at each time (`Clock.nearest`, -1 in a gap of dropped frames), and -1
    more than half a frame interval before the first frame or after the last: inside, the nearest
    frame is never further than that, so an edge frame taken from further away would be the
    same sample shown at two lags (the window silently shifted onto the recording)."""
    idx = clock.nearest(times, 1.0 - 1e-9)
    half = 0.5 * clock.interval * (1 + 1e-6)
    outside = (times < clock.times[0] - half) | (times > clock.times[-1] + half)
    return np.where(outside, -1, idx)


def edge_counts(
    times: np.ndarray, lags: np.ndarray, idx: np.ndarray, base: np.ndarray, clock: Clock
) -> dict[str, int]:
    """Among events at `times` (their frame at each lag `idx`, `lag_frames`; `base` the baseline
    lags): `cut_short`, those whose window runs past the recording's start or end (and has a
    recorded lag), so they are
    averaged over the lags recorded (and not tested: the test keeps to events `span_s` from the
    ends); `no_baseline`, those of them without one recorded baseline frame, so not averaged at
    all (their window has nothing to subtract)."""
    t = np.asarray(times, float)
    if not len(t):
        return {"cut_short": 0, "no_baseline": 0}
    half = 0.5 * clock.interval * (1 + 1e-6)
    cut = (t + lags[0] < clock.times[0] - half) | (t + lags[-1] > clock.times[-1] + half)
    cut &= (idx >= 0).any(axis=1)  # (a window wholly outside is not cut short: not there)
    no_base = (idx[:, base] < 0).all(axis=1) if base.any() else np.zeros(len(t), bool)
    return {"cut_short": int(cut.sum()), "no_baseline": int((cut & no_base).sum())}


def edge_note(counts: dict[str, int] | None) -> str:
    """'' or ', N with the window cut short by the recording's ends: averaged over the lags
    recorded[; M of them without a recorded baseline: not averaged]' (`edge_counts`): what the
    command's line per kind, the Events widget's status and the batch report add."""
    if not counts or not counts.get("cut_short"):
        return ""
    text = (
        f", {counts['cut_short']} with the window cut short by the recording's ends: averaged "
        "over the lags recorded"
    )
    if counts.get("no_baseline"):
        text += f"; {counts['no_baseline']} of them without a recorded baseline: not averaged"
    return text


def edges_total(edges: dict[str, dict[str, int]] | None) -> dict[str, int]:
    """`EtaResult.edges` (or the eta step's attrs `edges`) summed over the event kinds."""
    out = {"cut_short": 0, "no_baseline": 0}
    for counts in (edges or {}).values():
        for key in out:
            out[key] += int(counts.get(key, 0))
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """q-values (monotone BH adjustment); NaN p-values stay NaN and are not counted."""
    p = np.asarray(p, float)
    q = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not ok.size:
        return q
    order = ok[np.argsort(p[ok])]
    ranked = p[order] * ok.size / np.arange(1, ok.size + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def event_triggered_averages(
    values: np.ndarray,
    frame_times: np.ndarray,
    neuron_ids,
    events: pd.DataFrame,
    params: EtaParams | None = None,
    *,
    progress: Callable[..., object] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> EtaResult:
    """ETAs and their significance for (N, T) `values` sampled at `frame_times` (imaging clock),
    around `events` (columns `event`, `time_s` on the imaging clock: `align.align_events`)."""
    p = params or EtaParams()
    values = np.atleast_2d(np.asarray(values, float))
    ids = np.asarray(neuron_ids)
    clock = Clock(frame_times)
    if values.shape != (len(ids), len(clock)):
        raise InputError(
            f"{values.shape} trace values for {len(ids)} neurons x {len(clock)} frames"
        )
    if not {"event", "time_s"} <= set(events.columns):
        raise InputError("events need event and time_s columns (on the imaging clock)")
    if 2 * p.span_s >= clock.end - clock.start:
        raise InputError(
            f"the recording ({clock.end - clock.start:.1f} s) is too short for a "
            f"{p.span_s:.1f} s window and its circular shifts"
        )
    win = _Windows(values, clock)
    rng = np.random.default_rng(p.seed)
    dt = clock.interval
    lags = np.arange(-round(p.pre_s / dt), round(p.post_s / dt) + 1) * dt
    if len(lags) < 3:  # (frame times in ms read as s give one lag: empty means and axes)
        raise InputError(
            f"the averaging window ({p.pre_s:g} s before to {p.post_s:g} s after each event) "
            f"spans fewer than 3 frames at {1 / dt:.3g} Hz; check the frame rate or frame times"
        )
    base = lags < 0 if p.baseline_s <= 0 else (lags >= -p.baseline_s - 1e-9) & (lags < 0)
    kinds = sorted(events["event"].astype(str).unique())
    eta_rows, sig_rows = [], []
    edges: dict[str, dict[str, int]] = {}
    for k, kind in enumerate(kinds):
        check_cancelled(cancel, "event-triggered averages")
        t_all = np.sort(events.loc[events["event"].astype(str) == kind, "time_s"].to_numpy(float))
        inside = (t_all - p.span_s >= clock.start) & (t_all + p.span_s <= clock.end)
        t = t_all[inside]
        # the averages (all events with any data in the window)
        idx = (  # a lag outside the recording is empty, never its first or last frame again
            lag_frames(clock, t_all[:, None] + lags[None, :])
            if len(t_all)
            else np.zeros((0, len(lags)), int)
        )
        edges[kind] = edge_counts(t_all, lags, idx, base, clock)
        snips = np.where(idx >= 0, values[:, np.maximum(idx, 0)], np.nan)  # (N, E, L)
        quiet = warnings.catch_warnings()  # "Mean of empty slice": no event in the recording
        with quiet:  # (its averages are NaN, and the command says how many events fell inside)
            warnings.simplefilter("ignore", RuntimeWarning)
            if base.any():
                snips = snips - np.nanmean(snips[:, :, base], axis=2, keepdims=True)
        n_ok = np.isfinite(snips).sum(axis=1)  # (N, L)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = (
                np.nanmean(snips, axis=1) if len(t_all) else np.full((len(ids), len(lags)), np.nan)
            )
            sem = (
                np.nanstd(snips, axis=1, ddof=1) / np.sqrt(n_ok)
                if len(t_all) > 1
                else np.full_like(mean, np.nan)
            )
        for i, nid in enumerate(ids):
            eta_rows.append(
                pd.DataFrame(
                    {
                        "neuron_id": nid,
                        "event": kind,
                        "lag_s": np.round(lags, 9),
                        "mean": mean[i],
                        "sem": sem[i],
                        "n_events": n_ok[i],
                    }
                )
            )
        # the test
        obs = np.full(len(ids), np.nan)
        null = np.full((len(ids), p.n_shuffles), np.nan)
        if len(t) >= p.min_events:
            shifts = rng.uniform(p.span_s, win.duration - p.span_s, size=p.n_shuffles)
            shifted = clock.start + np.mod(t[None, :] - clock.start + shifts[:, None], win.duration)
            shifted = np.where(shifted - p.span_s < clock.start, shifted + win.duration, shifted)
            for lo in range(0, len(ids), NEURON_CHUNK):
                rows = slice(lo, min(lo + NEURON_CHUNK, len(ids)))
                # (a neuron with no data in any window, e.g. lost: NaN, not tested)
                obs[rows] = _nanmean(_responses(win, rows, t, p), axis=1)
                null[rows] = _nanmean(_responses(win, rows, shifted, p), axis=2)
                check_cancelled(cancel, "event-triggered averages")
        pv = (
            _p_values(obs, null, p.alternative)
            if len(t) >= p.min_events
            else np.full(len(ids), np.nan)
        )
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # untested: the null is all NaN
            mu, sd = np.nanmean(null, axis=1), np.nanstd(null, axis=1)
        for i, nid in enumerate(ids):
            sig_rows.append(
                {
                    "neuron_id": nid,
                    "event": kind,
                    "n_events": len(t),
                    "response": obs[i],
                    "null_mean": mu[i],
                    "null_sd": sd[i],
                    "z": (obs[i] - mu[i]) / sd[i] if sd[i] > 0 else np.nan,
                    "p_value": pv[i],
                }
            )
        if progress is not None:
            progress(k + 1, len(kinds), f"event {kind}")
    sig = pd.DataFrame(sig_rows, columns=SIGNIFICANCE_COLUMNS[:8])
    sig["q_value"] = benjamini_hochberg(sig["p_value"].to_numpy(float))
    sig["significant"] = sig["q_value"].to_numpy(float) < p.alpha
    # "" where nothing was tested (fewer than min_events events in the recording): a NaN
    # response used to read as "inhibited"
    tested = np.isfinite(sig["response"].to_numpy(float)) & np.isfinite(
        sig["null_mean"].to_numpy(float)
    )
    sig["direction"] = np.where(
        ~tested, "", np.where(sig["response"] > sig["null_mean"], "excited", "inhibited")
    )
    eta = pd.concat(eta_rows, ignore_index=True) if eta_rows else pd.DataFrame(columns=ETA_COLUMNS)
    return EtaResult(eta[ETA_COLUMNS], sig[SIGNIFICANCE_COLUMNS], p, edges)
