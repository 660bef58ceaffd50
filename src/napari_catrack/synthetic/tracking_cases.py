"""Small single-channel (calcium) movies with ground truth for the tracker's brightness rules.

`make_worm_recording` has two channels and transients of at most a few x; these movies are the
calcium channel alone, with the cases the tracker's brightness rules must survive when the
channel it follows is the calcium one (`--channel green`): transients of 5-20x, a neuron that
fades out and comes back during its own transient, and a neighbour 5.5 px from a neuron that
brightens 10x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi


@dataclass
class CalciumTrackingCase:
    """movie (T, Y, X) float32; seeds at frame 0; truth (T, N, 2) y, x per neuron (a neuron's
    place also where it is dark); visible (T, N) bool: the neuron shows in the frame."""

    movie: np.ndarray
    seeds: pd.DataFrame
    truth: np.ndarray
    visible: np.ndarray
    ids: list[str]
    returning: str  # the neuron that fades out and comes back during its own transient
    bright: str  # the neuron that brightens 10x ...
    neighbour: str  # ... and its neighbour, 5.5 px away
    dark: tuple[int, int]  # the returning neuron's dark frames [start, stop)


def _transient(t: np.ndarray, start: float, peak: float, tau: float) -> np.ndarray:
    """A calcium transient as a gain above baseline: a jump to `peak` x at `start`, decay `tau`."""
    dt = t - start
    return (peak - 1) * np.where(dt >= 0, np.exp(-np.maximum(dt, 0) / tau), 0.0)


def make_calcium_tracking_case(
    n_frames: int = 120,
    seed: int = 0,
    *,
    return_peak: float = 12.0,
    bright_peak: float = 10.0,
    neighbour_px: float = 5.5,
    noise: float = 3.0,
) -> CalciumTrackingCase:
    """A 128 x 128 calcium-channel movie of 8 neurons (baseline 60 above a background of 20,
    noise s.d. `noise`, on a smooth body texture of s.d. 5), moved as a whole by a smooth swing of a few px plus 0.2 px jitter.

    - "r" is dark in frames 20-44 and comes back at 45 during its own transient (`return_peak`
      x its baseline, decaying with a 10-frame time constant): visible from 45 on;
    - "b" brightens `bright_peak` x at frame 70 (decay 12 frames); "c" sits `neighbour_px` from b;
    - the others ("n1", "n2", "n3" around r, "d", "e") have transients of 5-20x of their own.
    """
    rng = np.random.default_rng(seed)
    ids = ["r", "n1", "n2", "n3", "b", "c", "d", "e"]
    base = np.array(
        [[64, 64], [54, 64], [74, 66], [64, 53], [40, 92], [40, 92 + neighbour_px],
         [92, 30], [30, 34]], dtype=float,
    )  # fmt: skip
    t = np.arange(n_frames, dtype=float)
    swing = np.column_stack([3 * np.sin(2 * np.pi * t / 60), 4 * np.sin(2 * np.pi * t / 90 + 1)])
    truth = base[None] + swing[:, None] + rng.normal(0, 0.2, (n_frames, len(ids), 2))
    gain = np.ones((n_frames, len(ids)))
    dark = (20, 45)
    gain[dark[0] : dark[1], 0] = 0.0
    gain[dark[1] :, 0] += _transient(t[dark[1] :], dark[1], return_peak, 10.0)
    gain[:, 4] += _transient(t, 70, bright_peak, 12.0)
    for j in (1, 2, 3, 5, 6, 7):  # transients of their own, 5-20x, at random times
        for start in rng.choice(np.arange(5, n_frames - 10), 2, replace=False):
            gain[:, j] += _transient(t, float(start), float(rng.uniform(5, 20)), 8.0)
    amp = 60.0 * gain
    # the body's own faint, smooth texture (autofluorescence), moving with the swing: what the
    # global motion estimate locks onto between the neurons
    field = ndi.gaussian_filter(rng.normal(0, 1, (160, 160)), 5.0)
    field *= 5.0 / field.std()
    yy, xx = np.mgrid[:128, :128].astype(np.float32)
    movie = np.empty((n_frames, 128, 128), np.float32)
    for f in range(n_frames):
        at = [yy + 16 - swing[f, 0], xx + 16 - swing[f, 1]]
        img = 20.0 + ndi.map_coordinates(field, at, order=1).astype(np.float32)
        for j in range(len(ids)):
            if amp[f, j] > 0:
                y, x = truth[f, j]
                img += amp[f, j] * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.7**2))
        movie[f] = img + rng.normal(0, noise, img.shape)
    seeds = pd.DataFrame({"neuron_id": ids, "y": truth[0, :, 0], "x": truth[0, :, 1]})
    return CalciumTrackingCase(
        movie=movie, seeds=seeds, truth=truth, visible=gain > 0, ids=ids, returning="r",
        bright="b", neighbour="c", dark=dark,
    )  # fmt: skip
