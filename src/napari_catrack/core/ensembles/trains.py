"""Event trains: the sparse (neuron, frame) form that every ensemble computation works on.

Ensembles only need *when* each neuron became active, so both inputs (a transient table or a
neurons x frames raster) are reduced to sorted, de-duplicated event indices. Shuffling and binning
then touch only the events, never a dense raster.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError
from napari_catrack.io.tables import wide_to_matrix


@dataclass(frozen=True)
class EventTrains:
    """Sorted, unique events: `neuron[k]` (index into `neuron_ids`) was active at `frame[k]`.

    Events are sorted by (neuron, frame); `n_frames` is the recording length the circular shifts
    wrap around. `observed` (None: every neuron observed at every frame) is a boolean
    neurons x frames mask of the frames where each neuron was measured (its trace not NaN): a
    neuron not observed at a frame is unknown there, not silent (docs/ensembles.md, "Unobserved
    frames"); set it with `with_observed`.
    """

    neuron_ids: np.ndarray
    neuron: np.ndarray
    frame: np.ndarray
    n_frames: int
    observed: np.ndarray | None = None

    def with_observed(self, observed: np.ndarray | None) -> EventTrains:
        """These trains with an observation mask (neurons x frames, True = measured). A mask
        that observes everything is stored as None, so that the result is the old one exactly;
        a frame with an event is observed whatever the mask says (an onset was seen there)."""
        if observed is None:
            return replace(self, observed=None)
        obs = np.array(observed, dtype=bool)
        if obs.shape != (self.n_neurons, self.n_frames):
            raise InputError(
                f"the observation mask is {obs.shape[0]} x {obs.shape[1]} (neurons x frames); "
                f"the events need {self.n_neurons} x {self.n_frames}"
            )
        obs[self.neuron, self.frame] = True
        return replace(self, observed=None if obs.all() else obs)

    @property
    def n_unobserved(self) -> int:
        """Neuron-frames not observed (0 without a mask)."""
        return 0 if self.observed is None else int(self.observed.size - self.observed.sum())

    @property
    def n_neurons(self) -> int:
        return len(self.neuron_ids)

    @property
    def n_events(self) -> int:
        return len(self.frame)

    def counts(self) -> np.ndarray:
        """Events per neuron."""
        return np.bincount(self.neuron, minlength=self.n_neurons)

    def raster(self) -> np.ndarray:
        """Dense boolean neurons x frames raster (for figures and slow reference code only)."""
        out = np.zeros((self.n_neurons, self.n_frames), dtype=bool)
        out[self.neuron, self.frame] = True
        return out


def _make_trains(neuron_ids: np.ndarray, neuron: np.ndarray, frame: np.ndarray, n_frames: int):
    order = np.lexsort((frame, neuron))
    neuron, frame = neuron[order], frame[order]
    keep = np.ones(len(frame), dtype=bool)
    keep[1:] = (np.diff(neuron) != 0) | (np.diff(frame) != 0)
    return EventTrains(
        neuron_ids=np.asarray(neuron_ids),
        neuron=neuron[keep].astype(np.int64),
        frame=frame[keep].astype(np.int64),
        n_frames=int(n_frames),
    )


def trains_from_table(
    table: pd.DataFrame,
    *,
    frame_column: str = "start_frame",
    n_frames: int | None = None,
    neuron_ids: np.ndarray | list | None = None,
) -> EventTrains:
    """Event trains from a transient table (one row per transient; onsets by default).

    `n_frames` is the recording length; when None it is one past the largest frame mentioned in
    the table (`end_frame` / `peak_frame` / the onset column), which under-estimates a recording
    that ends in silence. `neuron_ids` lists neurons that may have no transients at all (they
    still count as neurons that could have been active).
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError("the transient table must be a pandas DataFrame")
    missing = [c for c in ("neuron_id", frame_column) if c not in table.columns]
    if missing:
        raise InputError(
            f"transient table lacks column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, table.columns)) or 'none'}"
        )
    ids = table["neuron_id"].to_numpy()
    frames_f = pd.to_numeric(table[frame_column], errors="coerce").to_numpy(dtype=float)
    if pd.isna(ids).any():
        raise InputError("transient table has rows without a neuron_id")
    if np.isnan(frames_f).any():
        raise InputError(f"column {frame_column} has empty or non-numeric values")
    if (frames_f < 0).any():
        raise InputError(f"column {frame_column} has negative frames (frames are 0-based)")
    if (frames_f != np.round(frames_f)).any():
        raise InputError(f"column {frame_column} has non-integer frames")
    frames = frames_f.astype(np.int64)

    last = -1
    for col in ("end_frame", "peak_frame", frame_column):
        if col in table.columns and len(table):
            v = pd.to_numeric(table[col], errors="coerce").max()
            if pd.notna(v):
                last = max(last, int(v))
    if n_frames is None:
        n_frames = last + 1
    elif len(frames) and frames.max() >= n_frames:
        raise InputError(
            f"events reach frame {frames.max()} but the recording has only {n_frames} frames"
        )
    if neuron_ids is None:
        all_ids = pd.unique(ids)
        try:  # numeric / string ids in natural order; mixed types keep first-seen order
            all_ids = np.sort(all_ids)
        except TypeError:
            pass
    else:
        all_ids = np.asarray(neuron_ids)
        unknown = ~pd.Index(ids).isin(all_ids)
        if unknown.any():
            raise InputError(f"neuron_id {ids[unknown][0]!r} is not in the given neuron list")
    index = pd.Index(all_ids).get_indexer(ids)
    return _make_trains(all_ids, index.astype(np.int64), frames, max(int(n_frames), 0))


def trains_from_raster(
    raster: np.ndarray | pd.DataFrame,
    *,
    threshold: float = 0.5,
    neuron_ids: np.ndarray | list | None = None,
    onsets: bool = False,
) -> EventTrains:
    """Event trains from a neurons x frames raster: a neuron is active where value >= threshold.

    With `onsets=True` only the first frame of each supra-threshold run counts (as with a
    transient table); otherwise every active frame does. A DataFrame keeps its index as ids.
    """
    if isinstance(raster, pd.DataFrame):
        if neuron_ids is None:
            neuron_ids = raster.index.to_numpy()
        raster = raster.to_numpy(dtype=float)
    arr = np.asarray(raster, dtype=float)
    if arr.ndim != 2:
        raise InputError(f"a raster must be 2-D (neurons x frames); got shape {arr.shape}")
    if np.isnan(arr).any():
        raise InputError("the raster has NaN values; fill or drop them first")
    active = arr >= threshold
    if onsets:
        active[:, 1:] &= ~active[:, :-1]
    neuron, frame = np.nonzero(active)
    ids = np.arange(arr.shape[0]) if neuron_ids is None else np.asarray(neuron_ids)
    if len(ids) != arr.shape[0]:
        raise InputError(f"{len(ids)} neuron ids for a raster of {arr.shape[0]} neurons")
    return _make_trains(ids, neuron.astype(np.int64), frame.astype(np.int64), arr.shape[1])


def wide_table_to_raster(table: pd.DataFrame) -> pd.DataFrame:
    """A wide table (one row per neuron, one column per frame) as a raster indexed by neuron id.

    The id column is found as every wide table's is (`io.tables.wide_to_matrix`: `neuron_id`,
    else a first column that is not a frame, else rows numbered 0..N-1); every cell must hold a
    number, since the event trains have no notion of a missing frame.
    """
    m = wide_to_matrix(table, "the wide table")
    if np.isnan(m.dff).any():
        raise InputError("the wide table has empty or non-numeric cells")
    return pd.DataFrame(m.dff, index=pd.Index(m.neuron_ids, name="neuron_id"), columns=m.frames)


def observed_from_traces(
    traces: pd.DataFrame, neuron_ids: np.ndarray | list, n_frames: int
) -> np.ndarray:
    """Observation mask (neurons in `neuron_ids` order x `n_frames`) from a long traces table
    (neuron_id, frame, ...): a frame is unobserved where the `missing` column is True (the
    traces step's lost frames) or `dff` is NaN (no transient can be called there, e.g. a ratio
    with too little red: the cell table's `frames_missing` counts the same); a frame with
    no row for the neuron, or a neuron with no rows at all, is unobserved too. Rows of neurons
    not in `neuron_ids`, or of frames outside the recording, are ignored."""
    if not isinstance(traces, pd.DataFrame) or not {"neuron_id", "frame"} <= set(traces.columns):
        raise InputError("the traces need neuron_id and frame columns to tell observed frames")
    seen = np.ones(len(traces), dtype=bool)
    if "missing" in traces.columns:
        seen &= ~traces["missing"].fillna(False).astype(bool).to_numpy()
    if "dff" in traces.columns:
        seen &= pd.to_numeric(traces["dff"], errors="coerce").notna().to_numpy()
    if "missing" not in traces.columns and "dff" not in traces.columns:
        raise InputError("the traces have neither a missing nor a dff column to tell observed "
                         "frames")  # fmt: skip
    ids = pd.Index(neuron_ids)
    row = ids.get_indexer(traces["neuron_id"])
    if (row < 0).all() and len(traces):  # a CSV reads 1 where the session stores "1"
        row = ids.astype(str).get_indexer(traces["neuron_id"].astype(str))
    frame = pd.to_numeric(traces["frame"], errors="coerce").to_numpy(dtype=float)
    ok = (row >= 0) & np.isfinite(frame) & (frame >= 0) & (frame < n_frames) & seen
    out = np.zeros((len(ids), int(n_frames)), dtype=bool)
    out[row[ok], frame[ok].astype(np.int64)] = True
    absent = np.ones(len(ids), dtype=bool)
    absent[row[row >= 0]] = False
    out[absent] = True
    return out
