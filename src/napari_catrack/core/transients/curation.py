"""The curation model (Qt-free): the traces under curation, their transient table, the cell
verdicts and the undo/redo stack. The transients widget is a view of it; scripts and tests can
curate without napari.

Transient rows are kept in *trace-index* frames (column j of `dff`), which is what the core edit
functions take; tables leave this object (session, exports) in the recording's frame numbers
(`frames[j]`), as `catrack transients` writes them. Every edit replaces `table` by the new table
the core returns and pushes the previous state on the undo stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_catrack.core.transients import (
    STATUSES,
    add_transient,
    adjust_transient,
    cell_table,
    delete_transient,
    empty_table,
    frame_times,
)
from napari_catrack.core.transients.detect import without_lost
from napari_catrack.errors import InputError
from napari_catrack.io.tables import long_to_matrix

FRAME_COLS = ("start_frame", "peak_frame", "end_frame")
TIME_COLS = ("start_time_s", "peak_time_s", "end_time_s")
VERDICT_COLUMNS = ["neuron_id", "status", "reason"]
REASONS = ("poor signal", "suspicious footprint", "statistical outlier", "other")
MAX_UNDO = 50  # each transient edit keeps a whole table


def empty_verdicts() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in VERDICT_COLUMNS})


def matrix_from_long(traces: pd.DataFrame, column: str = "dff"):
    """Long traces -> (ids as str, contiguous frames, (N, T) values); all-NaN neurons dropped
    (`without_lost` says which)."""
    m = long_matrix(traces, "the traces table", column)
    ids, dff, _note = without_lost(np.asarray(m.neuron_ids).astype(str).astype(object), m.dff)
    return ids, m.frames, dff


def long_matrix(traces: pd.DataFrame, where: str, column: str = "dff"):
    """Long traces -> a `TraceMatrix` in the table's own neuron order, lost (all-NaN) neurons
    kept for `without_lost`; a table where every neuron is NaN is refused."""
    m = long_to_matrix(traces, column, where, sort_ids=False)
    if not np.isfinite(m.dff).any():
        raise InputError(f"{where}: every neuron's {column} is NaN")
    return m


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for c in (*FRAME_COLS, "transient_id"):
        out[c] = out[c].astype(np.int64)
    out["decay_fit_ok"] = out["decay_fit_ok"].astype(bool)
    out["neuron_id"] = out["neuron_id"].astype(str).astype(object)
    return out


@dataclass
class CurationState:
    """Traces of the cells under curation plus their transient table and verdicts."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dff: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    fps: float = 1.0
    smooth_window_s: float | str = "auto"
    table: pd.DataFrame = field(default_factory=empty_table)
    verdicts: pd.DataFrame = field(default_factory=empty_verdicts)
    undo_stack: list = field(default_factory=list)
    redo_stack: list = field(default_factory=list)
    # {neuron id: s} each trace is timed after frame / fps (`features.time_offsets`: a suite2p
    # plane's time in the volume); the tables that leave (`transients`) carry it
    time_offsets: dict = field(default_factory=dict)

    # ------------------------------------------------------------ traces
    def set_traces(self, ids, frames, dff, fps: float, time_offsets: dict | None = None) -> None:
        dff = np.atleast_2d(np.asarray(dff, dtype=np.float64))
        if dff.shape != (len(ids), len(frames)):
            raise InputError(
                f"dff {dff.shape} does not match {len(ids)} ids x {len(frames)} frames"
            )
        if not fps or fps <= 0:
            raise InputError(f"frame rate must be positive, got {fps!r}")
        self.ids = np.asarray([str(i) for i in ids], dtype=object)
        self.frames = np.asarray(frames, dtype=np.int64)
        self.dff, self.fps = dff, float(fps)
        self.time_offsets = {str(k): float(v) for k, v in (time_offsets or {}).items()}
        known = set(self.ids)
        self.table = self.table[self.table["neuron_id"].isin(known)].reset_index(drop=True)

    @property
    def frame0(self) -> int:
        return int(self.frames[0]) if self.frames.size else 0

    def trace(self, neuron_id) -> np.ndarray:
        hit = np.flatnonzero(self.ids == str(neuron_id))
        if hit.size == 0:
            raise InputError(f"no trace for neuron {neuron_id!r}")
        return self.dff[hit[0]]

    def add_cell(self, neuron_id: str, frames: np.ndarray, dff: np.ndarray) -> None:
        """A new cell (e.g. a polygon ROI) on the recording's frames, aligned to ours."""
        series = pd.Series(np.asarray(dff, float), index=np.asarray(frames, np.int64))
        if not self.frames.size:
            self.set_traces([neuron_id], series.index, series.to_numpy()[None], self.fps)
            return
        if str(neuron_id) in set(self.ids):
            raise InputError(f"neuron {neuron_id!r} already exists")
        row = series.reindex(self.frames).to_numpy()
        self.ids = np.append(self.ids, np.asarray([str(neuron_id)], dtype=object))
        self.dff = np.vstack([self.dff, row[None]])

    # ------------------------------------------------------------ edits (undoable)
    def _push(self, table: pd.DataFrame, verdicts: pd.DataFrame | None = None) -> None:
        self.undo_stack.append((self.table, self.verdicts))
        del self.undo_stack[:-MAX_UNDO]
        self.redo_stack.clear()
        self.table = _typed(table) if len(table) else table
        if verdicts is not None:
            self.verdicts = verdicts

    def set_table(self, table: pd.DataFrame) -> None:
        self._push(table)

    def add(self, neuron_id, start: int, end: int) -> pd.DataFrame:
        """Manual transient from start to end; its peak is the largest dF/F inside."""
        y = self.trace(neuron_id)
        start, end = sorted((int(start), int(end)))
        seg = y[start : end + 1]
        if not np.isfinite(seg).any():
            raise InputError("the chosen span holds no dF/F values")
        peak = start + int(np.nanargmax(seg))
        self._push(
            add_transient(
                self.table, y, self.fps, str(neuron_id), peak, start, end, self.smooth_window_s
            )
        )
        return self.table

    def add_peak(self, neuron_id, peak: int) -> pd.DataFrame:
        """Manual transient at a peak frame; bounds from the detectors' walk-out rule."""
        y = self.trace(neuron_id)
        self._push(
            add_transient(
                self.table,
                y,
                self.fps,
                str(neuron_id),
                int(peak),
                smooth_window_s=self.smooth_window_s,
            )
        )
        return self.table

    def delete(self, transient_id: int) -> pd.DataFrame:
        self._push(delete_transient(self.table, int(transient_id)))
        return self.table

    def adjust(self, transient_id: int, which: str, frame: int) -> pd.DataFrame:
        """Move one edge; the peak stays unless it falls outside (then: largest dF/F inside)."""
        row = self.table[self.table["transient_id"] == int(transient_id)]
        if row.empty:
            raise InputError(f"no transient with id {transient_id}")
        r = row.iloc[0]
        s, e = int(r["start_frame"]), int(r["end_frame"])
        s, e = (int(frame), e) if which == "start" else (s, int(frame))
        s, e = sorted((s, e))
        y = self.trace(r["neuron_id"])
        p = int(r["peak_frame"])
        if not s <= p <= e:  # the peak left the span: take the largest dF/F inside
            p = s + int(np.nanargmax(y[s : e + 1]))
        table = adjust_transient(
            self.table, y, self.fps, int(transient_id), s, p, e, self.smooth_window_s
        )
        self._push(table)
        return self.table

    def set_verdict(self, neuron_id, status: str, reason: str = "") -> None:
        if status not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        v = self.verdicts[self.verdicts["neuron_id"] != str(neuron_id)]
        if status != "unverified":
            new = pd.DataFrame([{"neuron_id": str(neuron_id), "status": status, "reason": reason}])
            v = pd.concat([v, new], ignore_index=True) if len(v) else new
        self._push(self.table, v.reset_index(drop=True))

    def undo(self) -> bool:
        if not self.undo_stack:
            return False
        self.redo_stack.append((self.table, self.verdicts))
        self.table, self.verdicts = self.undo_stack.pop()
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            return False
        self.undo_stack.append((self.table, self.verdicts))
        self.table, self.verdicts = self.redo_stack.pop()
        return True

    # ------------------------------------------------------------ views
    def status_map(self) -> dict[str, tuple[str, str]]:
        """neuron_id -> (status, reason) for the cells with a verdict."""
        v = self.verdicts.drop_duplicates("neuron_id", keep="last")
        return {
            str(n): (str(s), "" if pd.isna(r) else str(r))
            for n, s, r in v[VERDICT_COLUMNS].itertuples(index=False)
        }

    def status(self, neuron_id) -> tuple[str, str]:
        hit = self.verdicts[self.verdicts["neuron_id"] == str(neuron_id)]
        if hit.empty:
            return "unverified", ""
        return str(hit.iloc[-1]["status"]), str(hit.iloc[-1]["reason"])

    def cells(self) -> pd.DataFrame:
        """Per-cell table (core `cell_table`) with verdicts and a `verified` flag."""
        n_frames = np.isfinite(self.dff).sum(axis=1) if self.dff.size else 0
        verdicts = self.verdicts if len(self.verdicts) else None
        total = self.dff.shape[1] if self.dff.size else None
        out = cell_table(self.table, self.ids, n_frames, self.fps, verdicts, total)
        out["verified"] = out["status"] != "unverified"
        return out

    def transients(self) -> pd.DataFrame:
        """The transient table in the recording's frame numbers (for sessions and exports),
        its times on each trace's clock (frame / fps plus the trace's `time_offsets`)."""
        return frame_times(shift_frames(self.table, self.frame0, self.fps), self.fps, self.time_offsets)  # fmt: skip

    def load_transients(self, table: pd.DataFrame) -> None:
        """Replace the table from one in recording frame numbers (a session, a file)."""
        local = frame_times(shift_frames(table, -self.frame0, self.fps), self.fps)  # (index / fps)
        self.table = _typed(local) if len(local) else empty_table()
        self.undo_stack.clear()
        self.redo_stack.clear()


def shift_frames(table: pd.DataFrame, offset: int, fps: float) -> pd.DataFrame:
    """Frame and time columns moved by `offset` frames (trace index <-> recording frame)."""
    if not offset:
        return table.copy()
    out = table.copy()
    for c in FRAME_COLS:
        if c in out.columns:
            out[c] = out[c].astype(np.int64) + int(offset)
    for c in TIME_COLS:
        if c in out.columns:
            out[c] = out[c] + offset / fps
    return out
