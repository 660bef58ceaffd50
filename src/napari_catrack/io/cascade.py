"""Reader for the Cascade ground-truth files (simultaneous electrophysiology + calcium imaging).

Used to validate transient detection on real data (benchmarks, tests). Format: MATLAB v5 `.mat`
with one cell array `CAttached`, one struct per recording of the same neuron; spike times are in
10 kHz ephys samples on the same clock as `fluo_time` (see ../shared/data/cascade/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from napari_catrack.errors import InputError

EPHYS_RATE_HZ = 1e4


def _unwrap(x):
    """MATLAB cells/structs load as nested 1-element object arrays (DS30 has one more level)."""
    while isinstance(x, np.ndarray) and x.dtype == object and x.size == 1:
        x = x.flat[0]
    return x


def read_cascade_file(
    path: str | os.PathLike,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (time_s, dff, spike_times_s) per recording; frames without a time are dropped and
    spikes are kept only within the imaged time span.

    As Cascade's own loader does: recordings (structs) without `fluo_time`/`fluo_mean` are
    skipped (some DS03 trials hold only ephys), and a `fluo_mean` longer than its `fluo_time`
    (one DS04 and one DS05 trial) is cut to the frames that have a time.
    """
    import scipy.io as sio

    try:
        cells = sio.loadmat(path)["CAttached"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path} is not a Cascade ground-truth file: {exc}") from None
    for k in range(cells.shape[1]):
        s = _unwrap(cells[0, k])
        names = s.dtype.names or ()
        if not {"fluo_time", "fluo_mean", "events_AP"} <= set(names):
            continue
        t = np.asarray(_unwrap(s["fluo_time"]), float).ravel()
        y = np.asarray(_unwrap(s["fluo_mean"]), float).ravel()
        ap = np.asarray(_unwrap(s["events_AP"]), float).ravel() / EPHYS_RATE_HZ
        n = min(t.size, y.size)
        t, y = t[:n], y[:n]
        ok = np.isfinite(t)
        t, y = t[ok], y[ok]
        if t.size < 2:
            continue
        ap = ap[np.isfinite(ap)]
        yield t, y, ap[(ap >= t[0]) & (ap <= t[-1])]
