"""A behaviour-event session with planted responses and ground truth (docs/events.md).

Neurons fire spontaneously (calcium transients, `synthetic.calcium`); some also respond to one
kind of event (an extra transient after each event of that kind, with a latency and some
failures), some are suppressed after it (their fluorescence dips), the rest ignore the events.
The clocks are deliberately awkward, as in real rigs: the event log starts before the imaging
(`events_start_s` < 0), events are logged as times and some as behaviour-video frames of a
camera at another rate that starts late, and imaging frames are dropped (gaps in the frame
timestamps). `truth` says which neuron responds to which event and how.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class EventSession:
    dff: np.ndarray  # (N, T) dF/F of the recorded frames
    frame_times: np.ndarray  # (T,) imaging-clock time of each recorded frame
    fps: float
    events: pd.DataFrame  # event, time_s (event-log clock) or frame (video frame), as logged
    events_start_s: float  # imaging-clock time of the event log's zero
    video_fps: float
    video_start_s: float
    n_video_frames: int
    dropped: np.ndarray  # indices (in the full frame sequence) of the dropped frames
    truth: pd.DataFrame  # neuron_id, event, kind (excited/inhibited/none), amplitude
    event_times: dict[str, np.ndarray] = field(default_factory=dict)  # imaging clock, truth

    @property
    def neuron_ids(self) -> np.ndarray:
        return np.array([f"n{i:02d}" for i in range(len(self.dff))])


def make_event_session(
    n_neurons: int = 24,
    duration_s: float = 300.0,
    fps: float = 10.0,
    *,
    kinds: tuple[str, ...] = ("lever", "reward"),
    event_rate_hz: float = 0.1,
    n_excited: int = 4,
    n_inhibited: int = 2,
    amplitude: float = 0.6,
    latency_s: float = 0.4,
    p_response: float = 0.85,
    noise: float = 0.08,
    spont_rate_hz: float = 0.05,
    events_start_s: float = -2.5,
    video_fps: float = 30.0,
    video_start_s: float = 1.2,
    drop_fraction: float = 0.01,
    seed: int = 0,
) -> EventSession:
    """Traces with planted event responses, events logged on other clocks, dropped frames."""
    from napari_catrack.synthetic.calcium import calcium_kernel

    rng = np.random.default_rng(seed)
    n_full = round(duration_s * fps)
    t_full = np.arange(n_full) / fps
    kernel = calcium_kernel(fps, 0.08, 0.8)
    drive = (rng.random((n_neurons, n_full)) < spont_rate_hz / fps).astype(float)
    suppress = np.zeros((n_neurons, n_full))
    truth_rows = []
    event_times: dict[str, np.ndarray] = {}
    order = rng.permutation(n_neurons)
    per_kind = n_excited + n_inhibited
    for k, kind in enumerate(kinds):
        n_ev = rng.poisson(event_rate_hz * (duration_s - 20))
        times = np.sort(rng.uniform(8.0, duration_s - 12.0, n_ev))
        keep = np.concatenate([[True], np.diff(times) > 4.0])  # events apart, as trials are
        times = times[keep]
        event_times[kind] = times
        chosen = order[k * per_kind : (k + 1) * per_kind]
        for j, n in enumerate(chosen):
            excited = j < n_excited
            for t in times:
                if rng.random() > p_response:
                    continue
                f = round((t + latency_s) * fps)
                if f < n_full:
                    if excited:
                        drive[n, f] += amplitude / kernel.max()
                    else:
                        suppress[n, f : f + int(2.5 * fps)] += amplitude * 0.6
            truth_rows.append(
                {
                    "neuron_id": f"n{n:02d}",
                    "event": kind,
                    "kind": "excited" if excited else "inhibited",
                    "amplitude": amplitude,
                }
            )
    dff = np.array([np.convolve(d, kernel)[:n_full] for d in drive]) * kernel.max()
    smooth = np.array([np.convolve(s, np.ones(3) / 3, mode="same") for s in suppress])
    baseline_activity = 0.3 * (rng.random((n_neurons, 1)) + 0.5)
    dff = dff - np.minimum(smooth, baseline_activity) + noise * rng.standard_normal(dff.shape)
    dropped = np.sort(
        rng.choice(np.arange(10, n_full - 10), int(drop_fraction * n_full), replace=False)
    )
    kept = np.setdiff1d(np.arange(n_full), dropped)
    responders = {(r["neuron_id"], r["event"]) for r in truth_rows}
    for n in range(n_neurons):
        for kind in kinds:
            if (f"n{n:02d}", kind) not in responders:
                truth_rows.append(
                    {"neuron_id": f"n{n:02d}", "event": kind, "kind": "none", "amplitude": 0.0}
                )
    n_video = int((duration_s - video_start_s) * video_fps)
    rows = []
    for k, (kind, times) in enumerate(event_times.items()):
        for t in times:
            if k % 2 == 1:  # every other kind is logged as the behaviour camera's frame
                rows.append(
                    {
                        "event": kind,
                        "time_s": np.nan,
                        "frame": round((t - video_start_s) * video_fps),
                    }
                )
            else:
                rows.append({"event": kind, "time_s": t - events_start_s, "frame": np.nan})
    events = pd.DataFrame(rows)
    for kind in list(event_times)[1::2]:  # the truth of video-logged events: their frame's time
        frames = np.round((event_times[kind] - video_start_s) * video_fps)
        event_times[kind] = video_start_s + frames / video_fps
    return EventSession(
        dff[:, kept],
        t_full[kept],
        fps,
        events,
        events_start_s,
        video_fps,
        video_start_s,
        n_video,
        dropped,
        pd.DataFrame(truth_rows),
        event_times,
    )
