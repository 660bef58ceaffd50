"""Event rasters with planted neuronal ensembles, for testing and benchmarking ensemble detection.

Background: every neuron fires transients as an independent Poisson process at its own rate (a
share nearly silent, the rest log-uniform, as `draw_event_rates` gives). On top, each planted
ensemble activates at known, well separated times; at each activation every member joins with
probability `participation`, its onset jittered by up to `jitter_frames`. Ground truth: members,
activation frames, and for every transient whether it came from an ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from napari_catrack.synthetic.calcium import draw_event_rates


@dataclass
class PlantedRaster:
    """A transient table plus the ensembles planted in it."""

    events: pd.DataFrame  # neuron_id, start_frame, peak_frame, end_frame, ensemble (-1 background)
    n_frames: int
    fps: float
    neuron_ids: np.ndarray
    members: list[np.ndarray]  # neuron ids of each planted ensemble
    activations: list[np.ndarray]  # activation (centre) frames of each planted ensemble
    positions: pd.DataFrame  # neuron_id, y, x (members of an ensemble sit near each other)
    jitter_frames: int

    def raster(self) -> np.ndarray:
        """Boolean onset raster (neurons x frames) in `neuron_ids` order."""
        out = np.zeros((len(self.neuron_ids), self.n_frames), dtype=bool)
        row = pd.Index(self.neuron_ids).get_indexer(self.events["neuron_id"])
        out[row, self.events["start_frame"].to_numpy()] = True
        return out

    def activation_table(self) -> pd.DataFrame:
        """One row per planted activation: ensemble, frame (sorted by frame)."""
        rows = [
            pd.DataFrame({"ensemble": e, "frame": f.astype(np.int64)})
            for e, f in enumerate(self.activations)
        ]
        if not rows:
            return pd.DataFrame({"ensemble": pd.Series(dtype=np.int64), "frame": []})
        return pd.concat(rows).sort_values("frame", ignore_index=True)

    def true_event_labels(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Planted ensemble behind each found event [start, end] (inclusive), -1 if none.

        An event belongs to an activation when their frame spans overlap (activation span:
        centre +- jitter); the nearest activation wins if several do.
        """
        act = self.activation_table()
        if len(act) == 0 or len(start) == 0:
            return np.full(len(start), -1, dtype=np.int64)
        centre = act["frame"].to_numpy()
        lo, hi = centre - self.jitter_frames, centre + self.jitter_frames
        overlap = (np.asarray(start)[:, None] <= hi) & (np.asarray(end)[:, None] >= lo)
        mid = (np.asarray(start) + np.asarray(end))[:, None] / 2
        dist = np.where(overlap, np.abs(mid - centre), np.inf)
        best = dist.argmin(axis=1)
        return np.where(np.isfinite(dist.min(axis=1)), act["ensemble"].to_numpy()[best], -1)


def planted_ensembles(
    n_neurons: int = 100,
    n_frames: int = 3000,
    fps: float = 4.8,
    *,
    n_ensembles: int = 3,
    ensemble_size: int = 10,
    n_activations: int = 15,
    participation: float = 0.8,
    jitter_frames: int = 0,
    overlap: int = 0,
    rate_range_hz: tuple[float, float] = (0.01, 0.1),
    silent_fraction: float = 0.25,
    transient_s: float = 2.0,
    seed: int | None = 0,
) -> PlantedRaster:
    """Make a transient table with `n_ensembles` planted ensembles (0 for pure background).

    Members are disjoint, except that ensemble e also takes `overlap` members of ensemble e - 1.
    Activations of all ensembles are at least 4 * (jitter + 2) frames apart.
    """
    rng = np.random.default_rng(seed)
    if n_ensembles * (ensemble_size - overlap) + overlap > n_neurons:
        raise ValueError("not enough neurons for the requested ensembles")
    neuron_ids = np.arange(n_neurons)

    rates = draw_event_rates(
        n_neurons, rng, silent_fraction=silent_fraction, rate_range_hz=rate_range_hz
    )
    n_bg = rng.poisson(rates * n_frames / fps)
    bg_neuron = np.repeat(neuron_ids, n_bg)
    bg_frame = rng.integers(0, n_frames, len(bg_neuron))

    perm = rng.permutation(n_neurons)
    step = ensemble_size - overlap
    members = [np.sort(perm[e * step : e * step + ensemble_size]) for e in range(n_ensembles)]

    gap = 4 * (jitter_frames + 2)
    n_total = n_ensembles * n_activations
    n_slots = (n_frames - 2 * jitter_frames) // gap
    if n_total > n_slots:
        raise ValueError(f"{n_total} activations do not fit in {n_frames} frames")
    slots = np.sort(rng.choice(n_slots, size=n_total, replace=False))
    centres = jitter_frames + slots * gap + rng.integers(0, gap // 2, n_total)
    owner = rng.permutation(np.repeat(np.arange(n_ensembles), n_activations))
    activations = [np.sort(centres[owner == e]) for e in range(n_ensembles)]

    ens_neuron, ens_frame, ens_label = [], [], []
    for e, (mem, acts) in enumerate(zip(members, activations)):
        joins = rng.random((len(acts), len(mem))) < participation
        a, m = np.nonzero(joins)
        jitter = rng.integers(-jitter_frames, jitter_frames + 1, len(a))
        ens_neuron.append(mem[m])
        ens_frame.append(np.clip(acts[a] + jitter, 0, n_frames - 1))
        ens_label.append(np.full(len(a), e))
    neuron = np.concatenate([bg_neuron, *ens_neuron]).astype(np.int64)
    start = np.concatenate([bg_frame, *ens_frame]).astype(np.int64)
    label = np.concatenate([np.full(len(bg_neuron), -1), *ens_label]).astype(np.int64)

    table = pd.DataFrame({"neuron_id": neuron, "start_frame": start, "ensemble": label})
    table = table.sort_values(
        ["neuron_id", "start_frame", "ensemble"], ascending=[True, True, False]
    )
    table = table.drop_duplicates(["neuron_id", "start_frame"], ignore_index=True)
    dur = max(1, round(transient_s * fps))
    table.insert(2, "peak_frame", np.minimum(table["start_frame"] + max(1, dur // 4), n_frames - 1))
    table.insert(3, "end_frame", np.minimum(table["start_frame"] + dur, n_frames - 1))

    centre_xy = rng.uniform(40, 216, size=(max(n_ensembles, 1), 2))
    home = np.full(n_neurons, -1)
    for e, mem in enumerate(members):
        home[mem] = e
    xy = rng.uniform(0, 256, size=(n_neurons, 2))
    grouped = home >= 0
    xy[grouped] = centre_xy[home[grouped]] + rng.normal(0, 12, size=(grouped.sum(), 2))
    positions = pd.DataFrame({"neuron_id": neuron_ids, "y": xy[:, 0], "x": xy[:, 1]})
    return PlantedRaster(
        table, n_frames, fps, neuron_ids, members, activations, positions, jitter_frames
    )
