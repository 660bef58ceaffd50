"""Spike trains and the calcium (GCaMP) dF/F they produce, shared by the synthetic generators.

Spikes come in events (a burst of one or more spikes over a few frames) drawn as a Poisson process
whose rate differs per cell, so that a recording has silent, sparse and active cells, as real ones do.
Each spike adds a double-exponential transient (fast rise, slow decay) of a fixed amplitude; a soft
saturation keeps large bursts from growing without bound, like GCaMP binding does.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def draw_event_rates(
    n_cells: int,
    rng: np.random.Generator,
    silent_fraction: float = 0.25,
    rate_range_hz: tuple[float, float] = (0.03, 0.3),
    silent_rate_hz: float = 0.003,
) -> np.ndarray:
    """Event rate (Hz) per cell: a fraction nearly silent, the rest log-uniform in `rate_range_hz`."""
    lo, hi = rate_range_hz
    rates = np.exp(rng.uniform(np.log(lo), np.log(hi), n_cells))
    silent = rng.random(n_cells) < silent_fraction
    rates[silent] = silent_rate_hz
    return rates


def simulate_spikes(
    rates_hz: np.ndarray,
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    burst_mean_spikes: float = 2.0,
    burst_frames: int = 3,
) -> np.ndarray:
    """Spike counts (N, T) from Poisson events; each event is 1 + Poisson(burst_mean - 1) spikes
    spread over up to `burst_frames` frames (worm neurons and cortical cells both fire in bursts)."""
    rates_hz = np.asarray(rates_hz, dtype=float)
    n = rates_hz.size
    p_event = 1.0 - np.exp(-rates_hz[:, None] / fps)
    events = rng.random((n, n_frames)) < p_event
    spikes = np.zeros((n, n_frames), dtype=np.int64)
    cell, frame = np.nonzero(events)
    n_spk = 1 + rng.poisson(max(burst_mean_spikes - 1.0, 0.0), cell.size)
    # spread each event's spikes over the next few frames
    for _ in range(int(n_spk.max(initial=0))):
        live = n_spk > 0
        offs = rng.integers(0, max(burst_frames, 1), live.sum())
        f = frame[live] + offs
        ok = f < n_frames
        np.add.at(spikes, (cell[live][ok], f[ok]), 1)
        n_spk = n_spk - 1
    return spikes


def spikes_to_dff(
    spikes: np.ndarray,
    fps: float,
    tau_rise_s: float | np.ndarray = 0.07,
    tau_decay_s: float | np.ndarray = 0.8,
    amplitude: float | np.ndarray = 0.4,
    dff_max: float | None = 4.0,
) -> np.ndarray:
    """dF/F (N, T) of spike counts convolved with a peak-normalised double exponential.

    A spike counted in frame t is taken to occur half a frame before that frame's mid-exposure, so a
    transient already shows in its own frame. `amplitude` is the peak dF/F of one isolated spike;
    `dff_max` saturates the sum smoothly (x / (1 + x / dff_max)); None = linear.
    Per-cell taus/amplitudes may be given as arrays of length N.
    """
    s = np.atleast_2d(np.asarray(spikes, dtype=float))
    n = s.shape[0]
    dt = 1.0 / fps
    tr = np.broadcast_to(np.asarray(tau_rise_s, dtype=float), (n,))
    td = np.broadcast_to(np.asarray(tau_decay_s, dtype=float), (n,))
    amp = np.broadcast_to(np.asarray(amplitude, dtype=float), (n,))
    out = np.empty_like(s)
    for i in range(n):
        td_i, tr_i = td[i], max(tr[i], 1e-4)
        if abs(td_i - tr_i) < 1e-6:
            tr_i = td_i * 0.999
        # peak of exp(-t/td) - exp(-t/tr), for normalisation
        t_peak = np.log(td_i / tr_i) * td_i * tr_i / (td_i - tr_i)
        norm = np.exp(-t_peak / td_i) - np.exp(-t_peak / tr_i)
        xd = lfilter([np.exp(-0.5 * dt / td_i)], [1.0, -np.exp(-dt / td_i)], s[i])
        xr = lfilter([np.exp(-0.5 * dt / tr_i)], [1.0, -np.exp(-dt / tr_i)], s[i])
        out[i] = amp[i] * (xd - xr) / norm
    if dff_max is not None:
        out = out / (1.0 + out / dff_max)
    return out


def calcium_kernel(
    fps: float, tau_rise_s: float, tau_decay_s: float, n: int | None = None
) -> np.ndarray:
    """The one-spike dF/F response (peak 1) sampled at frames 0..n-1, for models and plots."""
    n = n or int(np.ceil(6 * tau_decay_s * fps)) + 1
    impulse = np.zeros((1, n))
    impulse[0, 0] = 1
    return spikes_to_dff(impulse, fps, tau_rise_s, tau_decay_s, 1.0, None)[0]


def choose_groups(n_cells: int, n_groups: int, size: int, rng: np.random.Generator):
    """Disjoint random groups of `size` cell indices (fewer groups when cells run out)."""
    n_groups = min(int(n_groups), n_cells // max(int(size), 1))
    cells = rng.permutation(n_cells)
    return [np.sort(cells[g * size : (g + 1) * size]) for g in range(max(n_groups, 0))]


def group_activations(
    n_groups: int,
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    rate_hz: float = 0.3,
    refractory_s: float = 2.0,
    separation_s: float = 1.0,
) -> list[np.ndarray]:
    """Activation frames of each co-active group, as told-apart activations can be.

    Each group is a renewal process with mean rate `rate_hz` and a dead time of `refractory_s`
    after each activation (a member's transient must decay before a new one can be seen as
    new: two activations 0.3 s apart are one transient), and no group starts within
    `separation_s` of another group's activation (two ensembles firing in the same instant are
    one mixed event to any method). Groups take turns in time order; a start that would
    collide with another group's is delayed to the earliest allowed time.
    """
    if n_groups <= 0 or n_frames <= 0 or not rate_hz > 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(max(n_groups, 0))]
    duration = n_frames / fps
    mean_gap = 1.0 / rate_hz
    extra = max(mean_gap - refractory_s, 0.1 * mean_gap)  # exponential part of each interval
    nxt = rng.uniform(0.0, mean_gap, n_groups)  # stationary start of each renewal process
    times: list[list[float]] = [[] for _ in range(n_groups)]
    last_any = -np.inf
    while True:
        g = int(np.argmin(nxt))
        t = max(float(nxt[g]), last_any + separation_s)
        if t >= duration:
            break
        times[g].append(t)
        last_any = t
        nxt[g] = t + refractory_s + rng.exponential(extra)
    return [
        np.unique(np.minimum(np.round(np.asarray(ts) * fps), n_frames - 1)).astype(np.int64)
        for ts in times
    ]


def group_spikes(
    members: list[np.ndarray],
    n_cells: int,
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    rate_hz: float = 0.3,
    jitter_frames: int = 1,
    burst_mean_spikes: float = 2.0,
    refractory_s: float = 2.0,
    separation_s: float = 1.0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Spikes (N, T) of co-active groups and the frames of each group's events.

    Groups activate as `group_activations` draws (mean `rate_hz`, refractory and separated); at
    an activation every member bursts (1 + Poisson(`burst_mean_spikes` - 1) spikes) within
    `jitter_frames` frames of it. Added to the cells' own events, this is what ensemble analysis
    should recover.
    """
    extra = np.zeros((n_cells, n_frames), dtype=np.int64)
    events = group_activations(
        len(members), n_frames, fps, rng, rate_hz, refractory_s, separation_s
    )
    for group, frames in zip(members, events):
        for f in frames:
            spikes = 1 + rng.poisson(max(burst_mean_spikes - 1.0, 0.0), len(group))
            t = np.clip(f + rng.integers(-jitter_frames, jitter_frames + 1, len(group)), 0,
                        n_frames - 1)  # fmt: skip
            np.add.at(extra, (group, t), spikes)
    return extra, events
