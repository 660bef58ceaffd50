"""Trace viewer: the selected neurons' green, red, ratio, dF/F and cleaned traces, docked.

Thin: it draws `figures.traces.draw_trace_panels` on a matplotlib canvas, and "Extract" runs
`core.signals.extraction.extract_traces` in a background job on the viewer's green / red channels at the
positions of the chosen Points or Tracks layer, with red sampled through the alignment in force
(`ViewerContext.alignment`, the rule every widget uses; the line above Extract says which) and
the shared frame rate. A vertical cursor follows the time slider (blitted, so playing the movie
does not redraw the plot), a click on the plot moves the slider there, and the selection is
shared with a Points layer whose `features` hold `neuron_id` (select a point -> its trace;
select a trace -> its points). Traces come from the session, a CSV written by `catrack traces`,
or `set_traces(table)`. A loaded table is shown for viewing only: "Compute cleaned" then cleans the
view and leaves the session's traces alone, until "Use as the session's traces" records it there
(its parameters name the file it came from). Panels whose column the table lacks (red and ratio of a one-channel
recording) are unticked and disabled. Over a two-photon session's traces (its sources', extracted or
imported) the extraction controls are hidden, a note said instead (`_sources_traces`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from napari.layers import Points, Tracks
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from napari_catrack.core.signals.params import CleaningParams, TracesParams, recorded_values
from napari_catrack.errors import CatrackError, InputError
from napari_catrack.figures.traces import PANELS, draw_trace_panels, panel_label
from napari_catrack.session import watch_session
from napari_catrack.widgets._canvas import FastCanvas
from napari_catrack.widgets._common import preferred_neuron_layer, show_info
from napari_catrack.widgets._context import ViewerContext, layer_matrix
from napari_catrack.widgets._context_controls import AlignmentLine, FrameRateControl
from napari_catrack.widgets._dock import StatusLine, scroll_body
from napari_catrack.widgets._params_form import ParamsForm, fold_button
from napari_catrack.widgets._worker import report_exception, reports_errors, start_job

if TYPE_CHECKING:
    import napari

DEFAULT_PANELS = ("green", "red", "ratio", "dff")
PANEL_MIN_PX = 110  # a panel never gets less than this (labels stop overlapping)
FOLLOW_MS = 250  # a selection made in the viewer is drawn once the stepping pauses this long
#: said instead of the extraction controls over a two-photon session's traces (`_sources_traces`)
SOURCES_NOTE = (
    "the session's traces are its two-photon cells' ({made}): Sources (two-photon) makes them; "
    "extraction at tracked neurons (the worm path) is hidden"
)


def _sources_note(session) -> str | None:
    """`SOURCES_NOTE` when the session's traces are its two-photon cells' (its sources':
    extracted or imported), else None: what hides the extraction controls and refuses
    `TraceViewerWidget.extract`."""
    from napari_catrack.core.sources.session import imported_tool, traces_from_sources

    if not traces_from_sources(session):
        return None
    tool = imported_tool(session)
    return SOURCES_NOTE.format(
        made=f"imported from {tool}" if tool else "extracted by the Sources widget"
    )


def _red_invalid_note(table: pd.DataFrame) -> str:
    """How many samples had too little red to divide by (ratio NaN): the extraction's warning
    goes by in a toast, and the worm sample's 192 NaN samples were otherwise unsaid (h17 walk)."""
    if "red_invalid" not in table:
        return ""
    n = int(table["red_invalid"].fillna(False).to_numpy(bool).sum())
    if not n:
        return ""
    return (
        f"; {n:,} sample(s) with too little red to divide by: ratio and ΔR/R₀ NaN there (min red "
        "fraction, red noise floor: More options)"
    )


def _missing_note(table: pd.DataFrame) -> str:
    """What the grey bands of the plot are: the lost-frames line counts only lost samples, but
    a frame is also missing (NaN, a grey band) where the neuron has no track position or its
    ROI no pixel in the image (a worm moving out of the field): without this the plot showed
    more grey than the line counted, unexplained."""
    if "missing" not in table or not table["missing"].any():
        return ""
    missing = table["missing"].fillna(False).to_numpy(bool)
    lost = table["lost"].fillna(False).to_numpy(bool) if "lost" in table else np.zeros_like(missing)
    other = int((missing & ~lost).sum())
    more = (
        f"; {other:,} more sample(s) missing (no position, or the ROI outside the image)"
        if other
        else ""
    )
    return f"{more}; grey bands in the plot mark the missing frames"


def layer_alignment(red, green=None):
    """Red data -> green data as a 3x3 (y, x) matrix as drawn, or None (see `_context`)."""
    return layer_matrix(red, green)


class TraceViewerWidget(QWidget):
    """Docked trace plot synchronised with the time slider and a neurons Points layer."""

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer = napari_viewer
        self.ctx = ViewerContext.of(viewer)
        self.traces: pd.DataFrame | None = None
        self._rate_of = None  # (the table, the rate its time_s states): `_fps`
        # whether the table shown is the session's traces step (else a loaded file or a table
        # handed to `set_traces`: view only), and the file it was loaded from
        self.shows_session = False
        self.loaded_from: str | None = None
        self._view_cleaning: dict = {}  # the cleaning run on a view-only table
        self.job = None
        self._axes: list = []
        self._cursors: list = []
        self._drawn: tuple = ()  # (ids, panels) of the plot as drawn
        self._syncing = False
        self._follow = QTimer(self)
        self._follow.setSingleShot(True)
        self._follow.setInterval(FOLLOW_MS)
        self._follow.timeout.connect(self._follow_selection)

        self.in_force = AlignmentLine(viewer)
        self.fps = FrameRateControl(viewer)
        self.extract_button = QPushButton("Extract")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar(minimum=0, maximum=100, value=0)
        # every extraction and cleaning setting, defaults in one place (TracesParams,
        # CleaningParams); the session records all of them with the traces
        self.form = ParamsForm(TracesParams)
        self.radius = self.form.control("radius")
        self.cleaning = ParamsForm(CleaningParams)
        self.cleaning_box = fold_button("Cleaning settings (Compute cleaned)", self.cleaning)
        self.load_button = QPushButton("Load traces CSV…")
        self.adopt_button = QPushButton("Use as the session's traces")
        self.adopt_button.setToolTip(
            "make the loaded table the session's traces (a loaded table is otherwise only shown)"
        )
        self.adopt_button.setEnabled(False)
        self.clean_button = QPushButton("Compute cleaned")
        self.export_button = QPushButton("Export SVG/PNG…")
        self.steps_button = QPushButton("Cleaning steps figure…")
        self.steps_button.setToolTip(
            "before / drift-removed / denoised panels of the selected cells"
        )
        self.points = QComboBox()
        self.points.setToolTip("the Points or Tracks layer (with a neuron_id feature) to measure")
        self.neurons = QListWidget()
        self.neurons.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.neurons.setMaximumHeight(110)
        self.panel_boxes = {name: QCheckBox(PANELS[name][1].replace("\n", " ")) for name in PANELS}
        for name, box in self.panel_boxes.items():
            box.setChecked(name in DEFAULT_PANELS)
            box.toggled.connect(self.redraw)
        self.velocity_box = QCheckBox("worm velocity")  # from the session's behaviour step
        self.velocity_box.setToolTip("the worm's signed speed (Worm behaviour widget), on the "
                                     "traces' time axis; needs the frame rate")  # fmt: skip
        self.velocity_box.toggled.connect(self.redraw)
        self.figure = Figure(figsize=(5, 4), layout="constrained")
        self.canvas = FastCanvas(self.figure)
        self.canvas.setMinimumHeight(2 * PANEL_MIN_PX)
        self.status = StatusLine()  # wrapped; no blank line under the progress bar while empty
        self._build()

        self.extract_button.clicked.connect(self.extract)
        self.load_button.clicked.connect(self._ask_load)
        self.adopt_button.clicked.connect(self._adopt_clicked)
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
        self.ctx.events.layer_names.connect(self._refresh_points)  # a layer renamed
        self._points_layer: Points | None = None
        self._chosen = ""  # the layer the user picked in the combo (kept while it exists)
        self._refresh_points()
        self._show_session_traces(self.ctx.session)
        watch_session(viewer, self._show_session_traces)

    def _build(self) -> None:
        # the worm path's extraction (traces at tracked neurons through the alignment): hidden,
        # with `sources_note` said instead, while the session's traces are its sources'
        # (`_sources_traces`)
        self.extraction = QWidget()
        form = QFormLayout(self.extraction)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.in_force)
        form.addRow("neurons layer", self.points)
        form.addRow(self.form)
        self.sources_note = QLabel(SOURCES_NOTE)
        self.sources_note.setWordWrap(True)
        self.sources_note.setVisible(False)
        rate = QFormLayout()
        rate.addRow("frame rate", self.fps)
        run = QHBoxLayout()
        for w in (self.extract_button, self.cancel_button, self.load_button):
            run.addWidget(w)
        adopt = QHBoxLayout()
        adopt.addStretch(1)
        adopt.addWidget(self.adopt_button)
        # two short rows rather than one wide one, so the dock fits beside a laptop's canvas
        buttons2 = QHBoxLayout()
        buttons2.addWidget(self.clean_button)
        buttons2.addWidget(self.export_button)
        buttons3 = QHBoxLayout()
        buttons3.addStretch(1)
        buttons3.addWidget(self.steps_button)
        grid = QGridLayout()
        for i, box in enumerate([*self.panel_boxes.values(), self.velocity_box]):
            grid.addWidget(box, i // 2, i % 2)
        layout = scroll_body(self)
        layout.addWidget(self.sources_note)
        layout.addWidget(self.extraction)
        layout.addLayout(rate)
        layout.addLayout(run)
        layout.addLayout(adopt)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        neurons_label = QLabel("neurons (select to plot; shared with the neurons layer):")
        neurons_label.setWordWrap(True)
        layout.addWidget(neurons_label)
        layout.addWidget(self.neurons)
        layout.addWidget(QLabel("panels:"))
        layout.addLayout(grid)
        layout.addWidget(self.canvas, stretch=1)
        layout.addWidget(self.cleaning_box)
        layout.addWidget(self.cleaning)
        layout.addLayout(buttons2)
        layout.addLayout(buttons3)

    def _show_session_traces(self, session) -> None:
        """Show the traces a session already holds (on docking, or when a session file is opened)
        and the settings they were extracted and cleaned with."""
        self._sources_traces(session)
        if "traces" in session and "traces" in session["traces"].tables:
            step = session["traces"]
            self.form.set_params(TracesParams.from_dict(recorded_values(step.params)))
            if isinstance(step.params.get("cleaning_params"), dict):
                self.cleaning.set_params(CleaningParams.from_dict(step.params["cleaning_params"]))
            self.set_traces(step.tables["traces"], of_session=True)

    def _sources_traces(self, session) -> None:
        """Over a two-photon session's traces (its sources': extracted or imported, e.g. from
        suite2p) the worm path's extraction controls (alignment, neurons layer, ROI settings,
        Extract) are hidden and a note says where the traces come from; Extract would have
        replaced the cells' traces with traces at tracked neurons (h21 leftover)."""
        note = _sources_note(session)
        sources = note is not None
        if sources:
            self.sources_note.setText(note)
        self.sources_note.setVisible(sources)
        self.extraction.setVisible(not sources)
        self.extract_button.setVisible(not sources)
        self.cancel_button.setVisible(not sources)

    # ------------------------------------------------------------ data
    def set_traces(
        self, traces: pd.DataFrame, *, of_session: bool = False, path: str | None = None
    ) -> None:
        """Show a traces table (columns neuron_id, frame, and any of the panel columns).

        Only `of_session=True` (the session's traces step) lets "Compute cleaned" write back to
        the session; any other table is shown for viewing (`path`: the file it came from).
        """
        if not {"neuron_id", "frame"} <= set(traces.columns):
            raise InputError("a traces table needs columns neuron_id and frame")
        self.traces = traces.assign(neuron_id=traces["neuron_id"].astype(str))
        self.shows_session, self.loaded_from, self._view_cleaning = of_session, path, {}
        self.adopt_button.setEnabled(not of_session)
        implied = self._fps()
        if implied and not self.ctx.fps():
            self.ctx.set_fps(implied, source="from the traces' time_s")
        self._offer_panels()
        self.neurons.blockSignals(True)
        self.neurons.clear()
        self.neurons.addItems(list(pd.unique(self.traces["neuron_id"])))
        self.neurons.blockSignals(False)
        if self.neurons.count():
            self.neurons.item(0).setSelected(True)
        self.redraw()

    def _offer_panels(self) -> None:
        """Untick and disable panels whose column the traces lack (e.g. red of one channel), and
        name each by what it shows: ΔR/R₀ for a two-channel ratio's dff, ΔF/F otherwise (as
        the panel's axis does)."""
        for name, box in self.panel_boxes.items():
            box.setText(panel_label(name, self.traces).replace("\n", " "))
            col = PANELS[name][0]
            has = bool(col in self.traces.columns and self.traces[col].notna().any())
            if name == "cleaned":  # computed on demand from dff
                has = "dff" in self.traces.columns
            box.blockSignals(True)
            if not has:
                box.setChecked(False)
            elif name in DEFAULT_PANELS and not box.isEnabled():
                box.setChecked(True)
            box.setEnabled(has)
            box.setToolTip("" if has else f"the traces have no {col} values")
            box.blockSignals(False)

    def extraction_inputs(self) -> dict:
        """Green/red stacks, tracks table, alignment in force and frame rate, from the context."""
        green = self.ctx.channel_layer("green")
        if green is None:
            raise InputError(
                "no green channel: open a recording with napari-catrack, or pick the green "
                "layer in Align channels / Track neurons ('green layer')"
            )
        if green.ndim != 3:
            raise InputError(f"the green layer {green.name!r} is not a (T, Y, X) movie")
        red = self.ctx.channel_layer("red")
        name = self.points.currentText()
        if not name:
            raise InputError(
                "no neurons to measure: track neurons first (Track neurons), or choose a Points "
                "or Tracks layer with a neuron_id feature in 'neurons layer'"
            )
        if name not in self.viewer.layers:
            raise InputError(
                f"the neurons layer {name!r} is no longer in the viewer: choose one in 'neurons layer'"
            )
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
        for col in ("status", "source"):  # lost frames (status) are left out unless placed by you
            if col in layer.features:
                tracks[col] = layer.features[col].astype(str).to_numpy()
        return {
            "green": green.data,
            "red": None if red is None else red.data,
            "tracks": tracks,
            "transform": self.ctx.alignment().transform if red is not None else None,
            "fps": self.ctx.fps(),
        }

    @reports_errors("trace extraction")  # (an unexpected error too: one message, the policy)
    def extract(self):
        """Run the extraction in the background (progress, Cancel); returns the job (or None).

        Over a two-photon session's traces it refuses with the note shown instead of the
        hidden controls (called from code, it replaced the cells' traces: h22)."""
        note = _sources_note(self.ctx.session)
        if note is not None:
            self.status.setText(note)
            return None
        try:
            inputs = self.extraction_inputs()
        except CatrackError as exc:
            self.status.setText(str(exc))
            report_exception(exc, "trace extraction")
            return None
        try:
            settings = self.form.params()
        except CatrackError as exc:
            report_exception(exc, "trace extraction")
            return None
        transform = inputs["transform"]
        facts = {
            "alignment_source": self.ctx.alignment().source,
            "points_layer": self.points.currentText(),
        }

        def work(job):
            from napari_catrack.core.signals.extraction import extract_traces

            return extract_traces(inputs["green"], inputs["tracks"], inputs["red"], settings,
                                  transform=transform, fps=inputs["fps"],
                                  progress=job.progress, cancel=job.cancelled)  # fmt: skip

        def done(table: pd.DataFrame) -> None:
            from napari_catrack.core.signals.extraction import lost_frames_note
            from napari_catrack.core.signals.records import record_traces

            note = _sources_note(self.ctx.session)
            if note is not None:  # two-photon cells' traces came in while it ran: kept
                self.status.setText(note)
                return
            record_traces(self.ctx.session, table, settings, fps=inputs["fps"],
                          alignment=transform, facts=facts,
                          inputs=self.ctx.recording_inputs())  # fmt: skip
            self.set_traces(table, of_session=True)
            lost = lost_frames_note(table, settings, keep_hint="'lost frames: measure' keeps them")
            self.status.setText(
                f"{table.neuron_id.nunique()} neurons x {table.frame.nunique()} frames"
                + (f"; {lost}" if lost else "")
                + _missing_note(table)
                + _red_invalid_note(table)
            )

        self.job = start_job(self, work, what="trace extraction", on_done=done, bar=self.bar,
                             buttons=[self.extract_button], cancel_button=self.cancel_button,
                             status=self.status)  # fmt: skip
        return self.job

    def load_csv(self, path: str) -> None:
        from napari_catrack.io.atomic import cleanup_in_background
        from napari_catrack.io.tables import read_table

        with cleanup_in_background():  # (GUI thread: a killed set's backups removed aside)
            table = read_table(path, ("neuron_id", "frame"), what="traces")
        self.set_traces(table, path=str(path))
        held = "traces" in self.ctx.session
        self.status.setText(
            f"showing {Path(path).name} (view only: "
            + ("the session's traces are unchanged" if held else "the session holds no traces")
            + "; 'Use as the session's traces' records it there)"
        )

    def adopt_loaded(self) -> None:
        """Record the table shown (loaded from a file) as the session's traces, saying so."""
        if self.traces is None:
            raise InputError("load a traces table first (Load traces CSV…)")
        if self.shows_session:
            raise InputError("the table shown already is the session's traces")
        from napari_catrack.core.signals.records import (
            forget_results_from_traces,
            record_loaded_traces,
        )
        from napari_catrack.session import attach_session

        session = self.ctx.session
        source = session.stored_path(self.loaded_from) if self.loaded_from else "a table"
        # results computed from the old traces no longer match: removed (verdicts kept)
        removed = forget_results_from_traces(session, self.traces["neuron_id"].unique(), save=False)  # fmt: skip
        record_loaded_traces(session, self.traces, self.loaded_from, view_cleaning=self._view_cleaning)  # fmt: skip
        self.shows_session, self.loaded_from = True, None
        self.adopt_button.setEnabled(False)
        attach_session(self.viewer, session)  # docked widgets show the new traces and results
        gone = f"; removed (computed from the old traces): {', '.join(removed)}; your cell verdicts are kept"  # fmt: skip
        self.status.setText(
            f"the session's traces are now the table loaded from {source}"
            + (gone if removed else "")
        )  # fmt: skip

    def compute_cleaned(self, fps: float | None = None) -> dict:
        """Add a `dff_clean` column cleaned with the settings shown; returns what ran."""
        from napari_catrack.core.signals.cleaning import clean_table_column

        if self.traces is None:
            raise InputError("load traces first")
        fps = fps or self.ctx.fps() or self._fps()
        if fps is None:
            raise InputError("the frame rate is unknown: type it in 'frame rate'")
        settings = self.cleaning.params()
        self.traces["dff_clean"], params = clean_table_column(self.traces, fps, settings)
        session = self.ctx.session
        if self.shows_session and "traces" in session:
            from napari_catrack.core.signals.records import record_cleaning

            record_cleaning(session, self.traces, params, settings)
        else:  # a loaded table: the view is cleaned, the session's traces are left alone
            self._view_cleaning = {"cleaning": params, "cleaning_params": settings.to_dict()}
            self.status.setText(
                "cleaned the table shown (view only: the session's traces are unchanged)"
            )
        self._offer_panels()
        self.panel_boxes["cleaned"].setChecked(True)
        self.redraw()
        return params

    def _fps(self) -> float | None:
        """The frame rate the table's time_s column states (`frame_rate_of_times`, the rule of
        every table's times: none for uneven ones; the median of frame / time_s read a suite2p
        plane's offset as a rate and took dropped frames in its stride)."""
        import weakref

        from napari_catrack.core.transients.features import fps_from_times

        traces = self.traces
        if traces is None:
            return None
        # read once per table, as `Session.traces_frame_rate` keeps it: the cursor asks at every
        # step of the slider, and the rule reads the whole table (600,000 rows: 0.7 s a step)
        held = self._rate_of
        if held is not None and held[0]() is traces:
            return held[1]
        fps = fps_from_times(traces)
        self._rate_of = (weakref.ref(traces), fps)
        return fps

    # ------------------------------------------------------------ selection
    def selected_ids(self) -> list[str]:
        return [item.text() for item in self.neurons.selectedItems()]

    def select(self, neuron_ids, *, draw: bool = True) -> None:
        """Select these neurons in the list (and so in the Points layer).

        `draw=False` leaves the plot to a short timer (selections made in the viewer, e.g. by
        stepping through cells in curation, are drawn once the stepping pauses).
        """
        wanted = {str(n) for n in neuron_ids}
        if wanted == set(self.selected_ids()):
            return
        self.neurons.blockSignals(True)
        first = None
        for i in range(self.neurons.count()):
            item = self.neurons.item(i)
            item.setSelected(item.text() in wanted)
            if first is None and item.text() in wanted:
                first = item
        self.neurons.blockSignals(False)
        if first is not None:  # picked in the viewer: the list shows it (it stayed at n1..n6)
            self.neurons.scrollToItem(first)
        self._list_selection_changed(draw=draw)

    def _list_selection_changed(self, draw: bool = True) -> None:
        if draw:
            self.redraw()
        else:
            self._follow.start()
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
            self.select(pd.unique(ids), draw=False)
        finally:
            self._syncing = False

    def _refresh_points(self, event=None) -> None:
        """List the neuron layers; keep the user's pick, else offer the likeliest one."""
        names = [
            lay.name
            for lay in self.viewer.layers
            if isinstance(lay, (Points, Tracks)) and "neuron_id" in lay.features
        ]
        shown = self._points_layer  # the layer picked before (it may just have been renamed)
        if shown is not None and shown in self.viewer.layers and shown.name in names:
            if self._chosen and self._chosen not in names:
                self._chosen = shown.name
        self.points.blockSignals(True)
        self.points.clear()
        self.points.addItems(names)
        choice = (
            self._chosen if self._chosen in names else preferred_neuron_layer(self.viewer, names)
        )
        if choice:
            self.points.setCurrentText(choice)
        else:  # nothing to measure yet (e.g. only the sample's ground truth): pick nothing
            self.points.setCurrentIndex(-1)
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
        names = [name for name, box in self.panel_boxes.items() if box.isChecked()]
        if self.velocity_box.isChecked() and self._velocity() is not None:
            names.append("velocity")
        return names

    def _velocity(self):
        """The session's worm velocity table when it can share the traces' time axis."""
        from napari_catrack.core.behaviour.records import (
            velocity_from_session,
            velocity_on_imaging_axis,
        )

        table, fps = velocity_from_session(self.ctx.session), self._fps()
        if table is None or not fps:
            return None
        return velocity_on_imaging_axis(self.ctx.session, table, fps)

    def _follow_selection(self) -> None:
        """A selection made in the viewer: plot it now if the plot is seen, else when it is."""
        if self.canvas.on_screen():
            self.redraw()
        else:
            self.canvas.put_off(self.redraw)

    def redraw(self, *_args) -> None:
        """Draw the selected neurons' panels (axes are reused while the panels stay the same)."""
        self._follow.stop()
        ids, panels = self.selected_ids(), self.panels()
        if self.traces is None or not ids or not panels:
            self.figure.clear()
            self._axes, self._cursors, self._drawn = [], [], ()
            self.canvas.draw_idle()
            return
        x = self._frame_to_x(self.viewer.dims.current_step[0])
        if len(self._axes) != len(panels) or self._drawn[1:] != (tuple(panels),):
            self.figure.clear()
            axes = self.figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
            self._axes = list(axes)
            self._cursors = [ax.axvline(x, color="k", lw=0.8, alpha=0.6) for ax in axes]
            self.canvas.set_animated(self._cursors)
            self.canvas.setMinimumHeight(max(2, len(panels)) * PANEL_MIN_PX)
            self.canvas.relayout()
        else:  # same panels: only the data changes (no new axes, cursors or layout)
            for ax in self._axes:
                for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
                    if artist not in self._cursors:
                        artist.remove()
                if ax.get_legend() is not None:
                    ax.get_legend().remove()
        trace_panels = [p for p in panels if p != "velocity"]
        xlabel = draw_trace_panels(self._axes[: len(trace_panels)], self.traces, ids, trace_panels,
                                   self._df_ids())  # fmt: skip
        if "velocity" in panels:
            from napari_catrack.figures.behaviour import draw_velocity_panel

            draw_velocity_panel(self._axes[-1], self._velocity())
        self._draw_event_ticks(self._axes)
        for line in self._cursors:  # the cursor must not stretch the axis to its frame
            line.set_visible(False)
        for ax in self._axes:
            ax.relim(visible_only=True)
            ax.autoscale_view()
        for line in self._cursors:
            line.set_visible(True)
        self._axes[-1].set_xlabel(xlabel)
        # one neuron has no legend: its id on top says which one is plotted
        self._axes[0].set_title(str(ids[0]) if len(ids) == 1 else "", fontsize=9)
        self._drawn = (tuple(ids), tuple(panels))
        self._update_cursor(draw=False)
        self.canvas.draw_idle()

    def _df_ids(self) -> list[str]:
        """The session's cells whose dff is dF, not dF/F (`dff_kind`), when the table shown is
        the session's traces (a loaded file's cells are not the session's components)."""
        from napari_catrack.core.sources.session import df_cells

        session = self.ctx.session
        return df_cells(session) if self.shows_session and session is not None else []

    def _draw_event_ticks(self, axes) -> None:
        """Behaviour events of the session (Behaviour events widget) on every panel: ticks,
        and spans for intervals (events with a duration)."""
        session = self.ctx.session
        if "events" in session and "events" in session["events"].tables:
            from napari_catrack.figures.events import draw_event_ticks

            events = session["events"].tables["events"]
            draw_event_ticks(axes, events, self._frame_to_x, fps=self._fps())

    def _frame_to_x(self, frame: int) -> float:
        fps = self._fps()
        return frame / fps if fps else float(frame)

    def _x_to_frame(self, x: float) -> int:
        fps = self._fps()
        return round(x * fps if fps else x)

    def _update_cursor(self, event=None, draw: bool = True) -> None:
        x = self._frame_to_x(self.viewer.dims.current_step[0])
        for line in self._cursors:
            line.set_xdata([x, x])
        if self._cursors and draw:
            self.canvas.move_animated()

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
        from napari_catrack.text import file_name_part

        if self.traces is None or not self.selected_ids():
            raise InputError("select at least one neuron with traces first")
        fps = self.ctx.fps() or self._fps()
        if fps is None:
            raise InputError("the frame rate is unknown: type it in 'frame rate'")
        m = long_to_matrix(self.traces, "dff", sort_ids=False)
        _, _, steps = clean_traces(m.dff, fps, self.cleaning.params(), return_intermediates=True)
        written = []
        for nid in self.selected_ids():
            row = int(np.flatnonzero(np.asarray(m.neuron_ids).astype(str) == nid)[0])
            fig = cleaning_steps_figure(steps, fps, row, neuron_label=nid)
            for ext in ("svg", "png"):
                written.append(
                    save_figure(fig, Path(folder) / f"cleaning_{file_name_part(nid)}.{ext}")
                )
        return written

    def _ask_cleaning_steps(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the cleaning-steps figures")
        if folder:
            try:
                written = self.export_cleaning_steps(folder)
                show_info(f"napari-catrack: {len(written)} figure files in {folder}")
            except CatrackError as exc:
                report_exception(exc, "cleaning-steps figure")

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Traces table", "", "Tables (*.csv *.xlsx)")
        if path:
            try:
                self.load_csv(path)
            except CatrackError as exc:
                report_exception(exc, "loading traces")

    def _adopt_clicked(self) -> None:
        from napari_catrack.core.signals.records import results_from_traces

        stale = results_from_traces(self.ctx.session)
        if "traces" in self.ctx.session or stale:
            gone = (
                "\n\nComputed from the old traces, these no longer match and will be removed "
                "from the session: " + "; ".join(stale) + ". Your cell verdicts (accepted / "
                "rejected) are kept for the neurons in the new table."
                if stale else ""
            )  # fmt: skip
            answer = QMessageBox.question(
                self, "Replace the session's traces",
                "Replace the session's traces with the table loaded from "
                f"{self.loaded_from or 'a table'}? Detection, ensembles and the export then "
                f"use it.{gone}",
            )  # fmt: skip
            if answer != QMessageBox.Yes:
                return
        try:
            self.adopt_loaded()
        except CatrackError as exc:
            report_exception(exc, "using the loaded traces")

    def _clean_clicked(self) -> None:
        try:
            params = self.compute_cleaned()
            show_info(f"cleaned with {[s['name'] for s in params['steps']]}")
        except CatrackError as exc:
            report_exception(exc, "cleaning")

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export plot", "traces.svg", "SVG/PNG (*.svg *.png)"
        )
        if path:
            try:
                self.export(path)
            except CatrackError as exc:
                report_exception(exc, "export")
