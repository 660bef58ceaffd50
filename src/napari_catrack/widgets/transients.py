"""Transient curation widget: detect, add / delete / adjust transients, verify cells.

Thin: traces come from the session's "traces" step or a CSV file; detection runs the core
(`core.transients.detect_transients`) in a worker thread; every edit goes through the core edit
functions (see `core.transients.curation.CurationState`, which keeps the undo stack) and is recorded in the
session as the "transients" step, which is also where the widget restores itself from.
Shortcuts are listed in `SHORTCUTS` and in docs/curation.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from napari.layers import Image
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QFileDialog, QListWidgetItem

from napari_catrack.core.transients.curation import CurationState, long_matrix
from napari_catrack.core.transients.detect import without_lost
from napari_catrack.core.transients.features import (
    frame_rate_of_times,
    time_offsets,
    uneven_times_note,
)
from napari_catrack.core.transients.params import TransientParams
from napari_catrack.errors import CatrackError, InputError
from napari_catrack.figures.style import signal_label
from napari_catrack.figures.traces import dff_is_ratio
from napari_catrack.session import watch_session
from napari_catrack.widgets._common import show_info
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import TabFront
from napari_catrack.widgets._keys import KeyRegistry
from napari_catrack.widgets._transients_io import (
    export_figures,
    export_tables,
    follow_neuron,
    polygon_from_layer,
)
from napari_catrack.widgets._transients_model import DetectorPanel
from napari_catrack.widgets._transients_ui import SHORTCUTS, TransientsPanel
from napari_catrack.widgets._worker import report_exception, start_job

if TYPE_CHECKING:
    import napari

STEP = "transients"
FOLLOW_DELAY_MS = 120  # the viewer follows the current cell this long after the last key press
OWNER = "Curate transients"  # the key registry's name for this widget
VIEWER_KEYS = {"N": Qt.Key_N, "P": Qt.Key_P, "Y": Qt.Key_Y, "R": Qt.Key_R, "U": Qt.Key_U,
               "A": Qt.Key_A, "D": Qt.Key_D}  # fmt: skip


class TransientsWidget(TransientsPanel):
    """Curate calcium transients and cells (see docs/curation.md)."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__(napari_viewer)
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.keys = KeyRegistry.of(napari_viewer)
        self.state = CurationState()
        self.roi_traces = pd.DataFrame()
        self.traces_source = ""  # "session" or a file path
        self.current: str | None = None
        self.selected_tid = -1
        self.add_mode = False
        self.job = None
        self.last_params: dict = {}
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(1000)
        self._save_timer.timeout.connect(self._save_in_background)
        # The viewer follows the current cell once the keys rest: selecting the neuron's point
        # repaints the whole napari canvas (tens of ms in software OpenGL), too slow per press.
        self._follow_timer = QTimer(self)
        self._follow_timer.setSingleShot(True)
        self._follow_timer.setInterval(FOLLOW_DELAY_MS)
        self._follow_timer.timeout.connect(self.follow_current)
        self.detector_panel = DetectorPanel(
            self.training_source, lambda: self.session, self, status=self.status
        )
        self.body_layout.insertWidget(1, self.detector_panel)
        self._connect()
        self.canvas.span_drawn.connect(self._on_span)
        self.canvas.edge_moved.connect(self._on_edge)
        self.canvas.clicked.connect(self._on_click)
        self.viewer.dims.events.current_step.connect(self._on_step)
        self.ctx.events.fps.connect(self._fps_changed)
        self.ctx.events.verdicts.connect(self._on_verdicts)
        self.viewer_keys.toggled.connect(self._viewer_keys_toggled)
        self.keys.connect(self._retry_keys)
        # a tab behind another one is still "visible" to Qt: give the keys back there too
        self.tab_front = TabFront(self, self._tab_front_changed)
        self.detector_panel.restore()
        if STEP in self.session:
            self.restore()
        elif "traces" in self.session:
            self.load_session_traces()
        watch_session(self.viewer, self._on_session_replaced)

    @property
    def session(self):
        """The viewer's session now (a session file opened later replaces the first one)."""
        return self.ctx.session

    @property
    def worker(self):
        """The running job (None when idle)."""
        return self.job if self.job is not None and self.job.running else None

    # ------------------------------------------------------------ UI
    def _connect(self) -> None:
        self.session_button.clicked.connect(self.load_session_traces)
        self.load_button.clicked.connect(self._ask_csv)
        self.detect_button.clicked.connect(self.detect)
        self.filter.currentTextChanged.connect(lambda _: self._refresh_cells())
        self.cell_list.currentItemChanged.connect(self._list_changed)
        self.prev_button.clicked.connect(lambda: self.step_cell(-1))
        self.next_button.clicked.connect(lambda: self.step_cell(1))
        self.accept_button.clicked.connect(self.accept_cell)
        # not connect(self.reject_cell): clicked(bool) would pass False as the reason
        self.reject_button.clicked.connect(lambda: self.reject_cell())
        self.roi_button.clicked.connect(self.add_polygon_cell)
        self.add_button.toggled.connect(self.set_add_mode)
        self.delete_button.clicked.connect(self.delete_selected)
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.transient_view.doubleClicked.connect(self._table_double_clicked)
        self.csv_button.clicked.connect(lambda: self._ask_export("csv"))
        self.xlsx_button.clicked.connect(lambda: self._ask_export("xlsx"))
        self.figures_button.clicked.connect(self._ask_figures)

    def _fps_changed(self, _event=None) -> None:
        """The frame rate in force changed (here or in another widget)."""
        try:
            fps = self.ctx.fps()
        except RuntimeError:  # closed
            self.ctx.events.fps.disconnect(self._fps_changed)
            return
        if fps and fps != self.state.fps:
            self.state.fps = float(fps)
            self._redraw()

    # ------------------------------------------------------------ traces
    def load_session_traces(self) -> bool:
        """Use the traces of the session's "traces" step (the signals widget's result)."""
        try:
            if "traces" not in self.session or "traces" not in self.session["traces"].tables:
                raise InputError("the session has no traces yet: extract traces first")
            traces = self.session["traces"].tables["traces"]
            m = long_matrix(traces, "the session's traces")
            self._set_traces(m.neuron_ids, m.frames, m.dff, frame_rate_of_times(traces), "session",
                             ratio=dff_is_ratio(traces), times=traces)  # fmt: skip
        except CatrackError as exc:
            self._fail(exc, "loading the session's traces")
            return False
        return True

    def load_csv(self, path: str | Path, layout: str | None = None) -> bool:
        """Traces from a CSV/Excel file: long (`neuron_id,frame,dff`) or wide (one row a cell)."""
        from napari_catrack.io.atomic import cleanup_in_background
        from napari_catrack.io.tables import read_table, to_matrix

        try:
            with cleanup_in_background():  # (GUI thread: a killed set's backups removed aside)
                df = read_table(path)
            # long or wide alike, the neurons lost throughout (all NaN) are left out with a
            # note naming them, as `catrack transients` does (a wide file was refused, a long
            # one lost them silently)
            ratio, times = False, None
            if layout in (None, "long") and {"neuron_id", "frame", "dff"} <= set(df.columns):
                m, fps = long_matrix(df, str(path)), frame_rate_of_times(df)
                ratio, times = dff_is_ratio(df), df
            else:
                m = to_matrix(df, layout or "wide", where=str(path), lost_ok=True)
                fps = None, ""
            self._set_traces(m.neuron_ids, m.frames, m.dff, fps, str(path), ratio=ratio, times=times)  # fmt: skip
        except CatrackError as exc:
            self._fail(exc, "loading traces")
            return False
        return True

    def _fail(self, exc: BaseException, what: str) -> None:
        self.status.setText(str(exc))
        report_exception(exc, what)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Traces table", "", "Tables (*.csv *.xlsx)")
        if path:
            self.load_csv(path)

    def _set_traces(self, ids, frames, dff, fps, source: str, ratio: bool = False, times=None) -> None:  # fmt: skip
        """Show these traces; `fps`: (rate, why none) their time column implies
        (`frame_rate_of_times`, the rule of `catrack transients`; times that are there but
        uneven refuse the traces while no rate is in force, saying where, and with one in force
        are said in the status line, the rate kept). The
        neurons without any value are left out, said in the status line. `ratio`: their dff is
        the two-channel ΔR/R₀ (`figures.traces.dff_is_ratio`), and the plot's axis says so, as
        the Traces widget and the exported figures do. `times`: their long table, whose time_s
        times the transients (`core.transients.time_offsets`: a suite2p plane's offset)."""
        self.canvas.ax.set_ylabel(signal_label("dff", ratio=ratio))
        ids, dff, lost = without_lost(np.asarray(ids).astype(str).astype(object), dff)
        note, warnings = "", [lost] if lost else []
        fps, uneven = fps
        if uneven and not self.ctx.fps():
            raise InputError(f"the traces' time_s states no frame rate, {uneven}: type the rate "
                             "in a 'frame rate' box")  # fmt: skip
        if uneven:  # a rate in force is kept, but the times it will not follow are said
            warnings.append(uneven_times_note(uneven, self.ctx.fps(), "transients"))
        if fps and not self.ctx.fps():
            self.ctx.set_fps(float(fps), source="from the traces' time_s")
        elif fps and abs(fps - self.ctx.fps()) > 1e-3 * fps:
            note = (
                f"; their time_s implies {fps:g} Hz but {self.ctx.fps():g} Hz is in force "
                "(change 'frame rate' if that is wrong)"
            )
        rate = self.ctx.require_fps()
        offsets = time_offsets(times, rate) if times is not None else None
        self.state.set_traces(ids, frames, dff, rate, offsets)
        self.traces_source = source
        for nid in self.roi_traces.get("neuron_id", pd.Series(dtype=object)).unique():
            roi = self.roi_traces[self.roi_traces["neuron_id"] == nid]
            if str(nid) not in set(self.state.ids):
                self.state.add_cell(str(nid), roi["frame"].to_numpy(), roi["dff"].to_numpy())
        label = "session traces" if source == "session" else Path(source).name
        self.source_label.setText(
            f"{len(self.state.ids)} cells x {len(frames)} frames ({label}){note}"
        )
        self.status.setText(
            "warning: " + "; ".join(warnings) if warnings else ""
        )  # (an older error goes)
        self._refresh_all()

    # ------------------------------------------------------------ detection
    def training_source(self):
        """What the detector panel trains on: the traces, the curated table, the verdicts."""
        st = self.state
        if not st.ids.size:
            raise InputError("load traces first (session traces or a CSV file)")
        statuses = {k: v[0] for k, v in st.status_map().items()}
        return st.dff, list(st.ids), st.table, st.fps, statuses

    def detect_params(self) -> TransientParams:
        """The detection settings shown (a `TransientParams`); "model" uses the panel's detector
        (None: the shipped one)."""
        params = self.form.params()
        if params.method == "model":
            return params.replace(model=self.detector_panel.current())
        return params.replace(model=None)

    def show_detect_params(self, params: dict) -> None:
        """Show the method and settings of a detection (e.g. restored from a session)."""
        stored = {k: v for k, v in params.items() if k != "model"}  # the detector: its own step
        shown = TransientParams.from_dict(stored)
        self.form.set_params(shown)
        self.state.smooth_window_s = shown.smooth_window_s

    def detect(self):
        """Run the chosen detector on all cells in the background (progress, Cancel); returns
        the job (or None)."""
        try:
            if not self.state.ids.size:
                raise InputError("load traces first (session traces or a CSV file)")
            params = self.detect_params()
        except CatrackError as exc:
            self._fail(exc, "transient detection")
            return None
        dff, fps, ids, method = self.state.dff, self.state.fps, self.state.ids, params.method

        def work(job):
            from napari_catrack.core.transients import detect_transients

            return detect_transients(dff, fps, neuron_ids=ids, params=params,
                                     progress=job.progress, cancel=job.cancelled)  # fmt: skip

        self.job = start_job(
            self, work, what=f"transient detection ({method})",
            on_done=lambda table: self._on_detected(table, params), bar=self.bar,
            buttons=[self.detect_button], cancel_button=self.cancel_button, status=self.status,
        )  # fmt: skip
        return self.job

    def _on_detected(self, table: pd.DataFrame, params: TransientParams) -> None:
        method = params.method
        # manual edits use the detector's smoothing ("auto" of k-sigma is its fixed window)
        self.state.smooth_window_s = (
            params.ksigma_smooth_window_s() if method == "ksigma" else params.smooth_window_s
        )
        from napari_catrack.core.transients.records import stored_params

        # the session keeps a detector trained here itself (its own step)
        self.last_params = stored_params(params)
        self.state.set_table(table)
        self.selected_tid = -1
        self._changed()
        active = table["neuron_id"].nunique() if len(table) else 0  # as `catrack transients`
        line = f"{len(table)} transients in {active} of {len(self.state.ids)} cells ({method})"
        self.status.setText(line)
        show_info(f"napari-catrack: {line}")

    # ------------------------------------------------------------ edits
    def _edit(self, fn, *args) -> bool:
        try:
            fn(*args)
        except CatrackError as exc:
            self._fail(exc, "editing")
            return False
        self._changed()
        return True

    def add_span(self, start: int, end: int) -> bool:
        """Manual transient on the current cell from start to end (trace indices)."""
        if self.current is None:
            return False
        n = len(self.state.table)
        ok = self._edit(self.state.add, self.current, start, end)
        if ok and len(self.state.table) > n:
            self.selected_tid = int(self.state.table["transient_id"].max())
            self._redraw()
        return ok

    def add_at(self, idx: int) -> bool:
        """Add mode: a transient at the highest dF/F within 0.25 s of the clicked index."""
        if self.current is None:
            return False
        y = self.state.trace(self.current)
        w = max(1, round(0.25 * self.state.fps))
        lo, hi = max(0, idx - w), min(y.size, idx + w + 1)
        peak = lo + int(np.nanargmax(y[lo:hi]))
        return self._edit(self.state.add_peak, self.current, peak)

    def adjust_edge(self, transient_id: int, which: str, idx: int) -> bool:
        self.selected_tid = int(transient_id)
        return self._edit(self.state.adjust, transient_id, which, idx)

    def delete_selected(self) -> bool:
        if self.selected_tid < 0:
            return False
        ok = self._edit(self.state.delete, self.selected_tid)
        if ok:
            self.selected_tid = -1
            self._redraw()
        return ok

    def undo(self) -> bool:
        ok = self.state.undo()
        if ok:
            self._changed()
        return ok

    def redo(self) -> bool:
        ok = self.state.redo()
        if ok:
            self._changed()
        return ok

    def set_add_mode(self, on: bool) -> None:
        self.add_mode = bool(on)
        self.add_button.blockSignals(True)
        self.add_button.setChecked(self.add_mode)
        self.add_button.blockSignals(False)
        self.mode_label.setText(
            "ADD MODE: click a peak to add a transient (A or Esc to leave)" if on else ""
        )

    def select_transient(self, transient_id: int) -> None:
        self.selected_tid = int(transient_id)
        self._redraw()

    def _on_span(self, start: int, end: int) -> None:
        self.add_span(start, end)

    def _on_edge(self, tid: int, which: str, idx: int) -> None:
        self.adjust_edge(tid, which, idx)

    def _on_click(self, idx: int, tid: int) -> None:
        if self.add_mode:
            self.add_at(idx)
            return
        self.select_transient(tid)
        if self.viewer.dims.ndim >= 3:
            self.viewer.dims.set_current_step(0, self.state.frame0 + idx)

    def _table_double_clicked(self, index) -> None:
        row = self.transient_model.dataframe.iloc[index.row()]
        self.select_cell(str(row["neuron_id"]))
        self.select_transient(int(row["transient_id"]))

    # ------------------------------------------------------------ cells
    def visible_cells(self) -> list[str]:
        """Cell ids that pass the status filter, in trace order."""
        wanted = self.filter.currentText()
        ids = [str(i) for i in self.state.ids]
        if wanted == "all":
            return ids
        verdicts = self.state.status_map()
        return [i for i in ids if verdicts.get(i, ("unverified", ""))[0] == wanted]

    def select_cell(self, neuron_id: str | None) -> None:
        self.current = None if neuron_id is None else str(neuron_id)
        self.selected_tid = -1
        for i in range(self.cell_list.count()):
            item = self.cell_list.item(i)
            if item.data(Qt.UserRole) == self.current:
                self.cell_list.blockSignals(True)
                self.cell_list.setCurrentItem(item)
                self.cell_list.blockSignals(False)
                break
        self._redraw()
        if self.current is not None:
            self._follow_timer.start()  # restarted by each press: one follow after the last

    def follow_current(self) -> None:
        """Select the current cell's point in the viewer and bring it into view."""
        self._follow_timer.stop()
        if self.current is not None:
            follow_neuron(self.viewer, self.current)

    def step_cell(self, delta: int) -> str | None:
        cells = self.visible_cells()
        if not cells:
            return None
        i = cells.index(self.current) + delta if self.current in cells else 0
        self.select_cell(cells[int(np.clip(i, 0, len(cells) - 1))])
        return self.current

    def _list_changed(self, item: QListWidgetItem | None, _prev=None) -> None:
        if item is not None:
            self.select_cell(item.data(Qt.UserRole))

    def reason_value(self) -> str:
        r = self.reason.currentText()
        return (self.reason_text.text().strip() or "other") if r == "other" else r

    def accept_cell(self) -> bool:
        return self._verdict("accepted", "")

    def reject_cell(self, reason: str | None = None) -> bool:
        return self._verdict("rejected", self.reason_value() if reason is None else reason)

    def _verdict(self, status: str, reason: str) -> bool:
        if self.current is None:
            return False
        ok = self._edit(self.state.set_verdict, self.current, status, reason)
        if ok:
            self.ctx.verdicts_changed(sender=self)
        return ok

    def _on_verdicts(self, event) -> None:
        """Another widget (sources) edited the verdicts in the session: take them, keep the rest."""
        if getattr(event, "sender", None) is self or STEP not in self.session:
            return
        verdicts = self.session[STEP].tables.get("verdicts")
        if verdicts is None:
            return
        self.state.verdicts = verdicts.assign(
            neuron_id=verdicts["neuron_id"].astype(str),
            reason=verdicts["reason"].fillna("").astype(str),
        )
        self._refresh_cells()

    def add_polygon_cell(self):
        """Trace of the selected (or last) polygon in a Shapes layer, added as a new cell.

        Red is read through the alignment in force (the same rule as every other widget); the
        ratio's red rule and the dF/F baseline are those the session's traces were extracted
        with (`traces_params`), so the cell is measured as its tracked neighbours are."""
        from napari_catrack.core.signals.roi import polygon_trace

        try:
            params = self.traces_params()
            green = self.ctx.channel_layer("green") or next(
                (x for x in self.viewer.layers if isinstance(x, Image) and x.ndim == 3), None
            )
            if green is None:
                raise InputError("no (T, Y, X) image layer to measure the polygon in")
            polygon = polygon_from_layer(self.viewer, green)
            red = self.ctx.channel_layer("red")
            fps = self.ctx.require_fps()
        except CatrackError as exc:
            self._fail(exc, "polygon cell")
            return None
        transform = self.ctx.alignment().transform if red is not None else None
        taken = set(self.state.ids)
        nid = next(f"roi-{k}" for k in range(1, len(taken) + 2) if f"roi-{k}" not in taken)
        g_data, r_data = green.data, None if red is None else red.data

        def work(job):
            return polygon_trace(g_data, r_data, polygon, transform, params, neuron_id=nid, fps=fps)  # fmt: skip

        self.job = start_job(self, work, what="polygon trace", on_done=self._on_roi,
                             bar=self.bar, status=self.status)  # fmt: skip
        return self.job

    def traces_params(self):
        """The `TracesParams` the session's traces (shown here) were extracted with, read as
        `recorded_values` (a record of an older version: the rules it ran); None (the defaults)
        for traces not extracted by `extract_traces` (imported cells, a table). A polygon cell
        took the defaults whatever the traces used (a min red fraction of 0.2 set for them
        was 0.05 for it, h19 review)."""
        from napari_catrack.core.signals.params import TracesParams, recorded_values

        if self.traces_source != "session" or "traces" not in self.session:
            return None
        made_with = self.session["traces"].params or {}
        if "radius" not in made_with:  # (an import's or a table's traces: not extracted here)
            return None
        return TracesParams.from_dict(recorded_values(made_with))

    def _on_roi(self, trace: pd.DataFrame) -> None:
        nid = str(trace["neuron_id"].iloc[0])
        try:
            self.state.add_cell(nid, trace["frame"].to_numpy(), trace["dff"].to_numpy())
        except CatrackError as exc:
            self._fail(exc, "polygon cell")
            return
        self.roi_traces = pd.concat([self.roi_traces, trace], ignore_index=True)
        self.source_label.setText(f"{len(self.state.ids)} cells (+ {nid} from a polygon)")
        self._changed()
        self.filter.setCurrentText("all")
        self.select_cell(nid)

    # ------------------------------------------------------------ refresh + session
    def _changed(self) -> None:
        self._refresh_all()
        self.save_to_session()

    def _refresh_all(self) -> None:
        self.transient_model.set_dataframe(self.state.transients())
        self.cell_model.set_dataframe(self.state.cells() if self.state.ids.size else pd.DataFrame())
        self.undo_button.setEnabled(bool(self.state.undo_stack))
        self.redo_button.setEnabled(bool(self.state.redo_stack))
        self._refresh_cells()

    def _refresh_cells(self) -> None:
        cells = self.visible_cells()
        self.cell_list.blockSignals(True)
        self.cell_list.clear()
        verdicts = self.state.status_map()
        counts = self.state.table["neuron_id"].value_counts()
        for nid in cells:
            status, reason = verdicts.get(nid, ("unverified", ""))
            n = int(counts.get(nid, 0))
            text = f"{nid}  [{status}{': ' + reason if reason else ''}]  {n} transients"
            item = QListWidgetItem(text)
            item.setData(Qt.UserRole, nid)
            self.cell_list.addItem(item)
        self.cell_list.blockSignals(False)
        if self.current in cells:
            self.select_cell_quietly(self.current)
        elif cells:
            self.select_cell(cells[0])
        else:
            self.current = None
            self._redraw()

    def select_cell_quietly(self, nid: str) -> None:
        """Re-select the current cell after a refresh without moving the viewer."""
        for i in range(self.cell_list.count()):
            if self.cell_list.item(i).data(Qt.UserRole) == nid:
                self.cell_list.blockSignals(True)
                self.cell_list.setCurrentRow(i)
                self.cell_list.blockSignals(False)
        self._redraw()

    def _redraw(self) -> None:
        st = self.state
        if self.current is None or self.current not in set(st.ids):
            self.canvas.show_trace(None, self._spans(None), st.fps, st.frame0, "no cell selected")
            return
        status, reason = st.status(self.current)
        spans = self._spans(self.current)
        title = f"{self.current}: {status}{' (' + reason + ')' if reason else ''}, "
        title += f"{len(spans)} transients"
        if self.current in self._df_ids():  # its dff is dF (components' dff_kind): say so
            title += "; dF, not dF/F (no baseline + background to divide by)"
        self.canvas.show_trace(
            st.trace(self.current), spans, st.fps, st.frame0, title, self.selected_tid
        )
        self._on_step()

    def _df_ids(self) -> set[str]:
        """The cells whose dff is dF, not dF/F (the session's components' `dff_kind`), when the
        traces shown are the session's."""
        from napari_catrack.core.sources.session import df_cells

        if self.traces_source != "session" or self.session is None:
            return set()
        return set(df_cells(self.session))

    def _spans(self, nid) -> pd.DataFrame:
        """The transients of one cell, from a per-table index (stepping cells does no filtering)."""
        t = self.state.table
        cached = getattr(self, "_spans_index", None)
        if cached is None or cached[0] is not t:
            spans = pd.DataFrame(
                {
                    "transient_id": t["transient_id"].to_numpy(int),
                    "start": t["start_frame"].to_numpy(int),
                    "peak": t["peak_frame"].to_numpy(int),
                    "end": t["end_frame"].to_numpy(int),
                    "source": t["source"].to_numpy(object),
                }
            )
            groups = spans.groupby(t["neuron_id"].astype(str).to_numpy(), sort=False).indices
            cached = self._spans_index = (t, spans, groups)
        _, spans, groups = cached
        rows = groups.get(str(nid))
        return spans.iloc[rows] if rows is not None else spans.iloc[:0]

    def _on_step(self, _event=None) -> None:
        dims = self.viewer.dims
        self.canvas.set_cursor(int(dims.current_step[0]) if dims.ndim >= 3 else 0)

    def save_to_session(self) -> None:
        """Record transients, cells and verdicts as the session's "transients" step."""
        from napari_catrack.core.transients.records import record_transients

        st = self.state
        tables = {"roi_traces": self.roi_traces} if len(self.roi_traces) else {}
        attrs = {"frame0": st.frame0, "traces_source": self.traces_source}
        source = self.traces_source
        inputs = {"traces": source} if source and source != "session" else None
        # The file is written by flush_session, debounced: fast keyboard curation never waits on it.
        record_transients(self.session, st.transients(), st.cells(), dict(self.last_params or {}),
                          fps=st.fps, verdicts=st.verdicts, tables=tables, attrs=attrs,
                          inputs=inputs, save=False)  # fmt: skip
        if self.session.autosave and self.session.path is not None:
            self._save_timer.start()

    def flush_session(self) -> Path | None:
        """Write the session file now (edits are recorded at once, written 1 s after the last)."""
        self._save_timer.stop()
        if self.session.path is None or not self.session.autosave:
            return None
        try:
            return self.session.save()
        except CatrackError as exc:
            self._fail(exc, "saving the session")
            return None

    def _save_in_background(self) -> None:
        """The debounced autosave: handed to the background writer (`save_queue`; closing the
        viewer waits for it), not written on the main thread."""
        self._save_timer.stop()
        if self.session.path is not None and self.session.autosave:
            self.session.autosave_now()

    def hideEvent(self, event) -> None:
        if self._save_timer.isActive():
            self._save_in_background()
        self.keys.release(OWNER)
        super().hideEvent(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.viewer_keys.isChecked() and self.tab_front.shown():
            self.claim_viewer_keys(quiet=True)

    def _tab_front_changed(self, front: bool) -> None:
        if not front:
            self.keys.release(OWNER)
        elif self.viewer_keys.isChecked() and self.isVisible():
            self.claim_viewer_keys(quiet=True)

    def closeEvent(self, event) -> None:
        self.keys.release(OWNER)
        self.keys.disconnect(self._retry_keys)
        super().closeEvent(event)

    # ------------------------------------------------------------ keys on the viewer
    def claim_viewer_keys(self, quiet: bool = False) -> bool:
        """Bind N/P/Y/R/U/A/D on the viewer too (all or none: see `_keys.KeyRegistry`)."""

        def make(qt_key):
            return lambda viewer: self.handle_key(qt_key, Qt.NoModifier)

        try:
            self.keys.claim(OWNER, {k: make(q) for k, q in VIEWER_KEYS.items()})
        except CatrackError as exc:
            self.mode_label.setText(f"curation keys work in this widget only: {exc}")
            if not quiet:
                report_exception(exc, "curation keys")
            return False
        if self.mode_label.text().startswith("curation keys"):
            self.mode_label.setText("")
        return True

    def _viewer_keys_toggled(self, on: bool) -> None:
        if on and self.tab_front.shown():
            self.claim_viewer_keys()
        elif not on:
            self.keys.release(OWNER)

    def _retry_keys(self) -> None:
        """Another widget gave keys back: take ours if we wanted them."""
        if self.viewer_keys.isChecked() and self.tab_front.shown() and not self.keys.held(OWNER):
            if not self.keys.conflicts(OWNER, VIEWER_KEYS):
                self.claim_viewer_keys(quiet=True)

    def _on_session_replaced(self, session) -> None:
        """A session file was opened: show its transients, else its traces (as on opening)."""
        self.detector_panel.restore()
        if STEP in session:
            self.restore()
        elif "traces" in session:
            self.load_session_traces()

    def restore(self) -> None:
        """Load traces, transients, verdicts and polygon cells from the session."""
        rec = self.session[STEP]
        self.last_params = dict(rec.params)
        self.roi_traces = rec.tables.get("roi_traces", pd.DataFrame())
        if rec.attrs.get("fps") and not self.ctx.fps():
            self.ctx.set_fps(float(rec.attrs["fps"]), source="from the session")
        # a step the CLI, batch or demo wrote names no source: it read the session's traces
        source = str(rec.attrs.get("traces_source", "")) or "session"
        if source == "session" and "traces" in self.session:
            self.load_session_traces()
        elif source and Path(source).is_file():
            self.load_csv(source)
        elif len(self.roi_traces):
            self._set_traces([], [], np.zeros((0, 0)), (None, ""), "session")
        self.show_detect_params(self.last_params)
        self.state.load_transients(rec.tables.get("transients", pd.DataFrame()))
        verdicts = rec.tables.get("verdicts")
        if verdicts is not None and len(verdicts):
            self.state.verdicts = verdicts.assign(
                neuron_id=verdicts["neuron_id"].astype(str), reason=verdicts["reason"].fillna("")
            )
        self._refresh_all()

    # ------------------------------------------------------------ exports
    def _ask_export(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Transient table", f"transients.{fmt}")
        if path:
            self.export(Path(path).with_suffix(f".{fmt}"))

    def export(self, path: str | Path) -> list[Path]:
        """Transients to `path`, cells to `<stem>_cells<suffix>` (CSV or XLSX)."""
        try:
            out = export_tables(self.state, Path(path))
        except CatrackError as exc:
            self._fail(exc, "export")
            return []
        show_info(f"napari-catrack: wrote {', '.join(p.name for p in out)}")
        return out

    def _ask_figures(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the figures")
        if folder:
            self.export_figures(folder, self.figure_format.currentText())

    def export_figures(self, folder: str | Path, fmt: str = "svg") -> list[Path]:
        """The four transient figures (rejected cells left out) as SVG, PNG or PDF."""
        try:
            return export_figures(self.state, Path(folder), fmt, df_ids=self._df_ids())
        except CatrackError as exc:
            self._fail(exc, "figure export")
            return []

    # ------------------------------------------------------------ keys
    def handle_key(self, key: int, modifiers) -> bool:
        """Curation shortcuts (see SHORTCUTS); returns whether the key was used."""
        ctrl = bool(modifiers & Qt.ControlModifier)
        shift = bool(modifiers & Qt.ShiftModifier)
        if ctrl and key in (Qt.Key_Z, Qt.Key_Y):
            if shift or key == Qt.Key_Y:
                self.redo()
            else:
                self.undo()
            return True
        if ctrl or modifiers & Qt.AltModifier:
            return False
        actions = {
            Qt.Key_A: lambda: self.set_add_mode(not self.add_mode),
            Qt.Key_D: self.delete_selected,
            Qt.Key_Delete: self.delete_selected,
            Qt.Key_Backspace: self.delete_selected,
            Qt.Key_N: lambda: self.step_cell(1),
            Qt.Key_Down: lambda: self.step_cell(1),
            Qt.Key_P: lambda: self.step_cell(-1),
            Qt.Key_Up: lambda: self.step_cell(-1),
            Qt.Key_Y: self.accept_cell,
            Qt.Key_R: self.reject_cell,
            Qt.Key_U: lambda: self._verdict("unverified", ""),
            Qt.Key_Escape: self._escape,
        }
        if key not in actions:
            return False
        actions[key]()
        return True

    def _escape(self) -> None:
        self.set_add_mode(False)
        self.select_transient(-1)


__all__ = ["SHORTCUTS", "TransientsWidget"]
