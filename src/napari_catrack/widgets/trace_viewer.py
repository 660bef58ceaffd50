"""Trace viewer: the selected neurons' green, red, ratio, dF/F and cleaned traces, docked.

Thin: it draws `figures.traces.draw_trace_panels` on a matplotlib canvas, and "Extract" runs
`core.signals.extraction.extract_traces` in a worker thread on the green / red image layers at the positions
of the chosen Points or Tracks layer (red sampled through the red layer's affine). A vertical cursor
follows the time slider, a click on the plot moves the slider there, and the selection is
shared with a Points layer whose `features` hold `neuron_id` (select a point -> its trace;
select a trace -> its points). Traces come from a CSV written by `catrack traces` or from
`set_traces(table)` (session, other widgets).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.layers import Image, Points, Tracks
from napari.qt.threading import thread_worker
from napari.utils import progress
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.errors import InputError
from napari_catrack.figures.traces import PANELS, draw_trace_panels
from napari_catrack.session import session_for_viewer, watch_session
from napari_catrack.widgets._common import (
    channel_layer,
    preferred_neuron_layer,
    report_error,
    show_info,
)

if TYPE_CHECKING:
    import napari

DEFAULT_PANELS = ("green", "red", "ratio", "dff")


def _world(layer: Image) -> np.ndarray:
    """A layer's data -> world matrix: affine · (scale / rotate / shear / translate)."""
    from napari.utils.transforms import Affine

    physical = Affine(
        scale=layer.scale, translate=layer.translate, rotate=layer.rotate, shear=layer.shear
    ).affine_matrix
    return np.asarray(layer.affine.affine_matrix) @ physical


def layer_alignment(red: Image, green: Image | None = None):
    """Red data -> green data as a 3x3 (y, x) matrix, or None when it is the identity.

    The alignment widget (and napari's own tools) keep the alignment in the red layer's
    affine, so this reads what the user sees: inverse(green world) · red world.
    """
    nd = red.ndim
    m = _world(red)
    if green is not None and green.ndim == nd:
        m = np.linalg.inv(_world(green)) @ m
    out = np.eye(3)
    out[:2, :2] = m[nd - 2 : nd, nd - 2 : nd]
    out[:2, 2] = m[nd - 2 : nd, nd]
    return None if np.allclose(out, np.eye(3)) else out


class _Relay(QObject):
    """Carries extraction progress from the worker thread to the GUI thread (queued signal)."""

    progressed = Signal(int, int)


class TraceViewerWidget(QWidget):
    """Docked trace plot synchronised with the time slider and a neurons Points layer."""

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer = napari_viewer
        self.traces: pd.DataFrame | None = None
        self._axes: list = []
        self._cursors: list = []
        self._syncing = False
        self._pbar: progress | None = None
        self._relay = _Relay(self)
        self._relay.progressed.connect(self._on_progress)

        self.extract_button = QPushButton("Extract")
        self.radius = QDoubleSpinBox()
        self.radius.setRange(0.5, 50.0)
        self.radius.setValue(3.0)
        self.radius.setSuffix(" px")
        self.radius.setToolTip("ROI disk radius (background: annulus radius+2 .. radius+6)")
        self.load_button = QPushButton("Load traces CSV…")
        self.clean_button = QPushButton("Compute cleaned")
        self.export_button = QPushButton("Export SVG/PNG…")
        self.steps_button = QPushButton("Cleaning steps figure…")
        self.steps_button.setToolTip(
            "before / drift-removed / denoised panels of the selected cells"
        )
        self.points = QComboBox()
        self.neurons = QListWidget()
        self.neurons.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.neurons.setMaximumHeight(110)
        self.panel_boxes = {name: QCheckBox(PANELS[name][1]) for name in PANELS}
        for name, box in self.panel_boxes.items():
            box.setChecked(name in DEFAULT_PANELS)
            box.toggled.connect(self.redraw)
        self.figure = Figure(figsize=(5, 4), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(280)

        buttons = QHBoxLayout()
        for b in (self.extract_button, self.radius, self.load_button):
            buttons.addWidget(b)
        buttons2 = QHBoxLayout()
        for b in (self.clean_button, self.export_button, self.steps_button):
            buttons2.addWidget(b)
        grid = QGridLayout()
        for i, box in enumerate(self.panel_boxes.values()):
            grid.addWidget(box, i // 3, i % 3)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(buttons2)
        layout.addWidget(self.points)
        layout.addWidget(self.neurons)
        layout.addLayout(grid)
        layout.addWidget(self.canvas, stretch=1)

        self.extract_button.clicked.connect(self.extract)
        self.load_button.clicked.connect(self._ask_load)
        self.clean_button.clicked.connect(self._clean_clicked)
        self.export_button.clicked.connect(self._ask_export)
        self.steps_button.clicked.connect(self._ask_cleaning_steps)
        self.neurons.itemSelectionChanged.connect(self._list_selection_changed)
        self.points.currentIndexChanged.connect(self._connect_points)
        self.points.activated.connect(lambda _: setattr(self, "_chosen", self.points.currentText()))
        self.canvas.mpl_connect("button_press_event", self._on_click)
        viewer.dims.events.current_step.connect(self._update_cursor)
        viewer.layers.events.inserted.connect(self._refresh_points)
        viewer.layers.events.removed.connect(self._refresh_points)
        self._points_layer: Points | None = None
        self._chosen = ""  # the layer the user picked in the combo (kept while it exists)
        self._refresh_points()
        self._show_session_traces(session_for_viewer(viewer))
        watch_session(viewer, self._show_session_traces)

    def _show_session_traces(self, session) -> None:
        """Show the traces a session already holds (on docking, or when a session file is opened)."""
        if "traces" in session and "traces" in session["traces"].tables:
            self.set_traces(session["traces"].tables["traces"])

    # ------------------------------------------------------------ data
    def set_traces(self, traces: pd.DataFrame) -> None:
        """Show a traces table (columns neuron_id, frame, and any of the panel columns)."""
        if not {"neuron_id", "frame"} <= set(traces.columns):
            raise InputError("a traces table needs columns neuron_id and frame")
        self.traces = traces.assign(neuron_id=traces["neuron_id"].astype(str))
        self.neurons.blockSignals(True)
        self.neurons.clear()
        self.neurons.addItems(list(pd.unique(self.traces["neuron_id"])))
        self.neurons.blockSignals(False)
        if self.neurons.count():
            self.neurons.item(0).setSelected(True)
        self.redraw()

    def extraction_inputs(self) -> dict:
        """Green/red stacks, tracks table, alignment and fps read from the viewer's layers."""
        green = channel_layer(self.viewer, "green")
        if green is None:
            images = [lay for lay in self.viewer.layers if isinstance(lay, Image)]
            green = images[0] if images else None
        if green is None or green.ndim != 3:
            raise InputError("no (T, Y, X) green image layer to extract from")
        red = channel_layer(self.viewer, "red")
        name = self.points.currentText()
        if not name:
            raise InputError("no Points or Tracks layer with a neuron_id feature")
        layer = self.viewer.layers[name]
        data = np.asarray(layer.data, dtype=float)
        if isinstance(layer, Tracks):
            data = data[:, 1:]  # drop the track id column: (t, y, x)
        if data.shape[1] != 3:
            raise InputError(f"layer {name!r} has no time axis: points must be (frame, y, x)")
        tracks = pd.DataFrame(
            {
                "neuron_id": layer.features["neuron_id"].astype(str).to_numpy(),
                "frame": np.round(data[:, 0]).astype(int),
                "y": data[:, 1],
                "x": data[:, 2],
            }
        )
        meta = green.metadata.get("catrack", {})
        fps = (meta.get("summary") or {}).get("fps") or meta.get("fps")
        return {
            "green": green.data,
            "red": None if red is None else red.data,
            "tracks": tracks,
            "transform": None if red is None else layer_alignment(red, green),
            "fps": fps,
        }

    def extract(self):
        """Run the extraction in a worker thread; the table appears when it is done."""
        try:
            inputs = self.extraction_inputs()
        except Exception as exc:
            report_error(exc)
            return None
        radius = self.radius.value()
        self.extract_button.setEnabled(False)

        params = {"radius": radius, "fps": inputs["fps"]}
        if inputs["transform"] is not None:
            params["red_to_green_matrix"] = np.asarray(inputs["transform"]).tolist()

        # the napari progress bar lives in the GUI thread; the worker reports through a signal
        self._pbar = progress(total=int(inputs["green"].shape[0]), desc="extracting traces")

        @thread_worker
        def work():
            from napari_catrack.core.signals.extraction import extract_traces

            return extract_traces(
                inputs["green"],
                inputs["tracks"],
                inputs["red"],
                transform=inputs["transform"],
                fps=inputs["fps"],
                radius=radius,
                progress=self._relay.progressed.emit,
            )

        def finished(table: pd.DataFrame) -> None:
            session_for_viewer(self.viewer).record(
                "traces", tables={"traces": table}, params=params
            )
            self.set_traces(table)

        worker = work()
        worker.returned.connect(finished)
        worker.errored.connect(report_error)
        worker.finished.connect(self._extraction_finished)
        worker.start()
        return worker

    def _on_progress(self, done: int, total: int) -> None:
        if self._pbar is not None:
            self._pbar.total = total
            self._pbar.update(done - self._pbar.n)

    def _extraction_finished(self) -> None:
        self.extract_button.setEnabled(True)
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None

    def load_csv(self, path: str) -> None:
        from napari_catrack.io.tables import read_table

        self.set_traces(read_table(path, ("neuron_id", "frame"), what="traces"))

    def compute_cleaned(self, fps: float | None = None) -> dict:
        """Add a `dff_clean` column with the default `clean_traces` steps; returns the params."""
        from napari_catrack.core.signals.cleaning import clean_table_column

        if self.traces is None:
            raise InputError("load traces first")
        fps = fps or self._fps()
        if fps is None:
            raise InputError("the traces have no time_s column: the frame rate is unknown")
        self.traces["dff_clean"], params = clean_table_column(self.traces, fps)
        session = session_for_viewer(self.viewer)
        if "traces" in session:
            previous = session["traces"].params
            session.record(
                "traces", tables={"traces": self.traces}, params={**previous, "cleaning": params}
            )
        self.panel_boxes["cleaned"].setChecked(True)
        self.redraw()
        return params

    def _fps(self) -> float | None:
        d = self.traces
        if d is None or "time_s" not in d or d["time_s"].isna().all():
            return None
        ok = d[d["time_s"] > 0]
        return float(np.median(ok["frame"] / ok["time_s"])) if len(ok) else None

    # ------------------------------------------------------------ selection
    def selected_ids(self) -> list[str]:
        return [item.text() for item in self.neurons.selectedItems()]

    def select(self, neuron_ids) -> None:
        """Select these neurons in the list (and so in the Points layer)."""
        wanted = {str(n) for n in neuron_ids}
        self.neurons.blockSignals(True)
        for i in range(self.neurons.count()):
            item = self.neurons.item(i)
            item.setSelected(item.text() in wanted)
        self.neurons.blockSignals(False)
        self._list_selection_changed()

    def _list_selection_changed(self) -> None:
        self.redraw()
        layer = self._points_layer
        if layer is None or self._syncing or "neuron_id" not in layer.features:
            return
        ids = layer.features["neuron_id"].astype(str).to_numpy()
        self._syncing = True
        try:
            layer.selected_data = set(np.flatnonzero(np.isin(ids, self.selected_ids())).tolist())
        finally:
            self._syncing = False

    def _points_selection_changed(self, *_args) -> None:
        layer = self._points_layer
        if layer is None or self._syncing or "neuron_id" not in layer.features:
            return
        rows = sorted(layer.selected_data)
        if not rows:
            return
        ids = layer.features["neuron_id"].astype(str).to_numpy()[rows]
        self._syncing = True
        try:
            self.select(pd.unique(ids))
        finally:
            self._syncing = False

    def _refresh_points(self, event=None) -> None:
        """List the neuron layers; keep the user's pick, else offer the likeliest one."""
        names = [
            lay.name
            for lay in self.viewer.layers
            if isinstance(lay, (Points, Tracks)) and "neuron_id" in lay.features
        ]
        self.points.blockSignals(True)
        self.points.clear()
        self.points.addItems(names)
        choice = (
            self._chosen if self._chosen in names else preferred_neuron_layer(self.viewer, names)
        )
        if choice:
            self.points.setCurrentText(choice)
        self.points.blockSignals(False)
        self._connect_points()

    def _connect_points(self, *_args) -> None:
        if self._points_layer is not None:
            try:
                self._points_layer.selected_data.events.items_changed.disconnect(
                    self._points_selection_changed
                )
            except (TypeError, ValueError):
                pass
        name = self.points.currentText()
        layer = self.viewer.layers[name] if name in self.viewer.layers else None
        self._points_layer = layer if isinstance(layer, Points) else None
        if self._points_layer is not None:
            layer.selected_data.events.items_changed.connect(self._points_selection_changed)

    # ------------------------------------------------------------ drawing
    def panels(self) -> list[str]:
        return [name for name, box in self.panel_boxes.items() if box.isChecked()]

    def redraw(self, *_args) -> None:
        self.figure.clear()
        self._axes, self._cursors = [], []
        ids, panels = self.selected_ids(), self.panels()
        if self.traces is None or not ids or not panels:
            self.canvas.draw_idle()
            return
        axes = self.figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        xlabel = draw_trace_panels(axes, self.traces, ids, panels)
        self._draw_event_ticks(axes)
        axes[-1].set_xlabel(xlabel)
        self._axes = list(axes)
        x = self._frame_to_x(self.viewer.dims.current_step[0])
        self._cursors = [ax.axvline(x, color="k", lw=0.8, alpha=0.6) for ax in axes]
        self.canvas.draw_idle()

    def _draw_event_ticks(self, axes) -> None:
        """Behaviour events of the session (Behaviour events widget) as ticks on every panel."""
        session = session_for_viewer(self.viewer)
        if "events" in session and "events" in session["events"].tables:
            from napari_catrack.figures.events import draw_event_ticks

            draw_event_ticks(axes, session["events"].tables["events"], self._frame_to_x)

    def _frame_to_x(self, frame: int) -> float:
        fps = self._fps()
        return frame / fps if fps else float(frame)

    def _x_to_frame(self, x: float) -> int:
        fps = self._fps()
        return round(x * fps if fps else x)

    def _update_cursor(self, event=None) -> None:
        x = self._frame_to_x(self.viewer.dims.current_step[0])
        for line in self._cursors:
            line.set_xdata([x, x])
        if self._cursors:
            self.canvas.draw_idle()

    def cursor_x(self) -> float | None:
        return float(self._cursors[0].get_xdata()[0]) if self._cursors else None

    def _on_click(self, event) -> None:
        if event.inaxes is None or event.xdata is None:
            return
        frame = self._x_to_frame(event.xdata)
        n = self.viewer.dims.nsteps[0] if self.viewer.dims.ndim else 0
        if n:
            self.viewer.dims.set_current_step(0, int(np.clip(frame, 0, n - 1)))

    # ------------------------------------------------------------ file actions
    def export(self, path: str) -> None:
        """Save the current plot; the format follows the extension (.svg, .png, .pdf)."""
        if not self._axes:
            raise InputError("nothing to export: select a neuron first")
        from napari_catrack.figures import save_figure

        save_figure(self.figure, path)

    def export_cleaning_steps(self, folder: str | Path) -> list[Path]:
        """One "cleaning steps" figure (SVG + PNG) per selected cell, from the default cleaning."""
        from napari_catrack.core.signals.cleaning import clean_traces
        from napari_catrack.figures import save_figure
        from napari_catrack.figures.traces import cleaning_steps_figure
        from napari_catrack.io.tables import long_to_matrix

        if self.traces is None or not self.selected_ids():
            raise InputError("select at least one neuron with traces first")
        fps = self._fps()
        if fps is None:
            raise InputError("the traces have no time_s column: the frame rate is unknown")
        m = long_to_matrix(self.traces, "dff", sort_ids=False)
        _, _, steps = clean_traces(m.dff, fps, return_intermediates=True)
        written = []
        for nid in self.selected_ids():
            row = int(np.flatnonzero(np.asarray(m.neuron_ids).astype(str) == nid)[0])
            fig = cleaning_steps_figure(steps, fps, row, neuron_label=nid)
            for ext in ("svg", "png"):
                written.append(save_figure(fig, Path(folder) / f"cleaning_{nid}.{ext}"))
        return written

    def _ask_cleaning_steps(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the cleaning-steps figures")
        if folder:
            try:
                written = self.export_cleaning_steps(folder)
                show_info(f"napari-catrack: {len(written)} figure files in {folder}")
            except Exception as exc:
                report_error(exc)

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Traces table", "", "Tables (*.csv *.xlsx)")
        if path:
            try:
                self.load_csv(path)
            except Exception as exc:
                report_error(exc)

    def _clean_clicked(self) -> None:
        try:
            params = self.compute_cleaned()
            show_info(f"cleaned with {[s['name'] for s in params['steps']]}")
        except Exception as exc:
            report_error(exc)

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export plot", "traces.svg", "SVG/PNG (*.svg *.png)"
        )
        if path:
            try:
                self.export(path)
            except Exception as exc:
                report_error(exc)
