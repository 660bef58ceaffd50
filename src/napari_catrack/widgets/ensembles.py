"""Ensembles widget: find ensembles in a transient table, colour neurons by ensemble, step
through an ensemble's activations on the time slider.

Thin: it reads the table (the session's curated transients, a CSV file, or one handed over with
`set_table`), runs `core.ensembles.find_ensembles` in a background job (progress, Cancel) at the
frame rate in force (shared by every widget: typing it here sets it everywhere), and writes the
result where the user can see and edit it: an `ensemble` feature column and face colours on the
chosen Points layer, and the session step "ensembles", from which a reopened session restores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from napari.layers import Image, Points
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from napari_catrack.core.ensembles.params import EnsembleParams
from napari_catrack.errors import CatrackError, InputError
from napari_catrack.session import watch_session
from napari_catrack.text import counted
from napari_catrack.widgets._common import preferred_neuron_layer
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._context_controls import FrameRateControl
from napari_catrack.widgets._dock import FittedList, scroll_body
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import report_exception, start_job

if TYPE_CHECKING:
    import napari

GREY = np.array([0.6, 0.6, 0.6, 1.0])
STEP = "ensembles"


@dataclass
class ShownEnsembles:
    """What the widget shows of a result: the session's tables (a fresh run or a reopened one)."""

    events: pd.DataFrame
    members: pd.DataFrame
    threshold: Any
    params: dict
    warnings: list = field(default_factory=list)

    @property
    def n_ensembles(self) -> int:
        ids = self.events["ensemble_id"].to_numpy() if len(self.events) else np.zeros(0)
        return int(ids.max() + 1) if len(ids) and ids.max() >= 0 else 0


def run_ensembles(
    table: pd.DataFrame | None,
    path: str,
    fps: float,
    params: EnsembleParams,
    n_frames: int | None,
    progress=None,
    cancel=None,
    neuron_ids=None,
    traces=None,
):
    """Worker body (no Qt): read the table if needed and run the core (progress, cancel).
    `neuron_ids`: every neuron traced (`records.traced_neurons`), None: those in the table.
    `traces`: the session's traces, whose missing (NaN) frames are unknown, not silent
    (`records.observed_by`); None: every frame observed."""
    from napari_catrack.core.ensembles import find_ensembles, trains_from_table
    from napari_catrack.core.ensembles.records import observed_by
    from napari_catrack.io.tables import read_table

    if table is None:
        if not path:
            raise InputError("choose a transient table (CSV) first")
        table = read_table(path, required=("neuron_id", "start_frame"), what="transient table")
    trains = observed_by(trains_from_table(table, n_frames=n_frames, neuron_ids=neuron_ids), traces)
    return find_ensembles(trains, fps, params, progress=progress, cancel=cancel)


def _unobserved_note(params: dict) -> str:
    """The status line's note on unobserved neuron-frames ("" when every frame was observed)."""
    obs = params.get("observation") or {}
    n = obs.get("unobserved_neuron_frames")
    return f"; {n} neuron-frames unobserved (unknown, not silent)" if n else ""


class EnsemblesWidget(QWidget):
    """Find neuronal ensembles and browse them on the viewer."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.result: ShownEnsembles | None = None
        self._table: pd.DataFrame | None = None
        self._neuron_ids: np.ndarray | None = None  # the session's neurons traced (n_neurons)
        self.job = None
        self._event_frames: np.ndarray = np.zeros(0, dtype=np.int64)
        self._event_index = -1

        self.path = QLineEdit()
        self.path.setPlaceholderText("transient table CSV (neuron_id, start_frame, ...)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        source = QHBoxLayout()
        source.addWidget(self.path)
        source.addWidget(browse)

        self.fps = FrameRateControl(napari_viewer)
        self.form = ParamsForm(EnsembleParams)  # every setting, defaults in one place
        self.bin_s = self.form.control("bin_s")
        self.shuffles = self.form.control("n_shuffles")
        self.percentile = self.form.control("percentile")
        self.null = self.form.control("null")
        self.points = QComboBox()
        self.points.setToolTip("the neurons (Points layer with neuron_id) coloured by ensemble")

        form = QFormLayout()
        form.addRow("transients", source)
        form.addRow("frame rate", self.fps)
        form.addRow(self.form)
        form.addRow("neurons (Points)", self.points)

        self.find_button = QPushButton("Find ensembles")
        self.find_button.clicked.connect(self.find)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar(minimum=0, maximum=100, value=0)
        run = QHBoxLayout()
        run.addWidget(self.find_button)
        run.addWidget(self.cancel_button)
        self.status = QLabel("no ensembles yet")
        self.status.setWordWrap(True)
        self.ensembles_label = QLabel("ensembles (select one to browse its events):")
        self.prev_button = QPushButton("◀ &Previous event")
        self.next_button = QPushButton("&Next event ▶")
        self.prev_button.clicked.connect(lambda: self.step_event(-1))
        self.next_button.clicked.connect(lambda: self.step_event(1))
        self.steps = QWidget()  # the event buttons, in one row
        steps = QHBoxLayout(self.steps)
        steps.setContentsMargins(0, 0, 0, 0)
        steps.addWidget(self.prev_button)
        steps.addWidget(self.next_button)
        self.event_label = QLabel("")
        # as tall as its ensembles; hidden with its line and the event buttons while there are
        # none (the status says so; the buttons showed, with nothing to step through: h19)
        self.ensembles = FittedList(
            header=self.ensembles_label, companions=(self.steps, self.event_label)
        )
        self.ensembles.currentRowChanged.connect(self._select_ensemble)

        layout = scroll_body(self)
        layout.addLayout(form)
        layout.addLayout(run)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.ensembles_label)
        layout.addWidget(self.ensembles)
        layout.addWidget(self.steps)
        layout.addWidget(self.event_label)
        layout.addStretch(1)

        self._from_session = False
        self._chosen = ""  # the Points layer the user picked (kept while it exists)
        self.points.activated.connect(lambda _: setattr(self, "_chosen", self.points.currentText()))
        self.load_session_transients()
        self.viewer.layers.events.inserted.connect(self._refresh_points)
        self.viewer.layers.events.removed.connect(self._refresh_points)
        self.ctx.events.layer_names.connect(self._refresh_points)  # a layer renamed
        self._refresh_points()
        self.restore(self.ctx.session)
        watch_session(self.viewer, self._on_session_replaced)
        self.ctx.events.verdicts.connect(self._on_verdicts)

    @property
    def _worker(self):
        return self.job

    # ---- inputs -------------------------------------------------------------------------------
    def set_table(self, table: pd.DataFrame | None) -> None:
        """Use this transient table (e.g. from the session) instead of a CSV file."""
        self._table = table
        self._from_session = False
        self._neuron_ids = None
        if table is not None:
            self._say_table(f"{len(table)} handed over", f"a transient table handed over by "
                            f"another widget: {len(table)} transients")  # fmt: skip

    def load_session_transients(self) -> bool:
        """The session's curated transients (rejected cells left out).

        Called on opening and again by Find, so curation done after docking is used.
        """
        session = self.ctx.session
        if "transients" not in session or "transients" not in session["transients"].tables:
            return False
        step = session["transients"]
        from napari_catrack.core.ensembles.records import ensemble_input

        # every neuron traced counts (n_neurons), a rejected cell and its transients do not: the
        # one rule of `catrack ensembles --session`, the demos and the batch (`ensemble_input`)
        table, ids, rejected = ensemble_input(session, step.tables["transients"])
        self.set_table(table)
        self._from_session = True
        if ids is not None:
            self._neuron_ids = ids
        if step.attrs.get("fps") and not self.ctx.fps():
            self.ctx.set_fps(float(step.attrs["fps"]), source="from the transients step")
        left_out = f", {len(rejected)} rejected cell(s) left out" if rejected else ""
        self._say_table(f"{len(table)} from session",
                        f"the session's transients: {len(table)}{left_out}")  # fmt: skip
        return True

    def _say_table(self, short: str, whole: str) -> None:
        """The table in use, short enough for the field in a shared dock ("111 from session");
        the whole sentence is the tooltip (the placeholder was elided: "table handed over…")."""
        self.path.setPlaceholderText(short)
        self.path.setToolTip(f"{whole}; browse for a CSV file to use that instead")

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Transient table", "", "CSV (*.csv);;All (*)")
        if name:
            self.path.setText(name)
            self._table = None

    def _refresh_points(self, event=None) -> None:
        """List neuron Points layers (with a neuron_id feature: not e.g. the behaviour widget's
        "worm head"); keep the user's pick, else offer the likeliest neurons layer."""
        names = [
            layer.name
            for layer in self.viewer.layers
            if isinstance(layer, Points) and "neuron_id" in layer.features
        ]
        self.points.clear()
        self.points.addItems(names)
        choice = (
            self._chosen if self._chosen in names else preferred_neuron_layer(self.viewer, names)
        )
        if choice:
            self.points.setCurrentText(choice)
        else:
            self.points.setCurrentIndex(-1)

    def _n_frames(self) -> int | None:
        """Recording length from the tallest time-lapse image, if one is open, else (the
        session's transients) from its traces, as the demo and the batch count it; None: one past
        the table's last frame."""
        frames = [
            layer.data.shape[0]
            for layer in self.viewer.layers
            if isinstance(layer, Image) and layer.ndim >= 3
        ]
        if frames:
            return int(max(frames))
        from napari_catrack.core.ensembles.records import traced_frames

        return traced_frames(self.ctx.session) if self._from_session else None

    def params(self) -> EnsembleParams:
        """The settings shown (an `EnsembleParams`, exactly what the core gets)."""
        return self.form.params()

    def show_params(self, params: dict) -> None:
        """Show the settings of a run (e.g. restored from a session)."""
        self.form.set_params(EnsembleParams.from_dict(params))

    # ---- running ------------------------------------------------------------------------------
    def find(self):
        """Start the background job; returns it (or None when the inputs are not usable)."""
        if not self.path.text() and (self._table is None or self._from_session):
            self.load_session_transients()
        table = self._table if not self.path.text() else None
        try:
            params, fps = self.params(), self.ctx.require_fps()
            if table is None and not self.path.text():
                raise InputError(
                    "no transients: curate transients first, or choose a transient table (CSV)"
                )
        except CatrackError as exc:
            self.status.setText(str(exc))
            report_exception(exc, "ensembles")
            return None
        path, n_frames = self.path.text(), self._n_frames()
        ids = self._neuron_ids if table is not None else None  # a CSV chosen: its own neurons
        session = self.ctx.session
        traces = (  # the session's transients: their traces say where a neuron was not measured
            session["traces"].tables.get("traces")
            if table is not None and self._from_session and "traces" in session
            else None
        )

        def work(job):
            job.progress(0, 1, "shuffling")
            return run_ensembles(table, path, fps, params, n_frames, job.progress, job.cancelled,
                                 neuron_ids=ids, traces=traces)  # fmt: skip

        inputs = {"transients": path} if path else None
        self.job = start_job(self, work, what="ensembles", bar=self.bar,
                             on_done=lambda result: self._on_result(result, inputs),
                             buttons=[self.find_button], cancel_button=self.cancel_button,
                             status=self.status)  # fmt: skip
        return self.job

    def _on_result(self, result, inputs=None) -> None:
        from napari_catrack.core.ensembles.records import record_ensembles

        record_ensembles(self.ctx.session, result, inputs=inputs)
        for msg in result.warnings:
            show_warning(f"napari-catrack: {msg}")
        self.show_result(ShownEnsembles(result.events, result.members, result.threshold,
                                        dict(result.params), list(result.warnings)))  # fmt: skip
        if not self.result.n_ensembles:
            show_info("napari-catrack: no ensembles found")

    def show_result(self, shown: ShownEnsembles) -> None:
        """List the ensembles, colour the neurons, select the first ensemble."""
        self.result = shown
        self.status.setText(
            f"{counted(len(shown.events), 'ensemble event')} (coactivity > {shown.threshold}), "
            f"{counted(shown.n_ensembles, 'ensemble')}" + _unobserved_note(shown.params)
        )
        self.ensembles.blockSignals(True)
        self.ensembles.clear()
        for e in range(shown.n_ensembles):
            n_mem = int((shown.members["ensemble_id"] == e).sum())
            n_ev = int((shown.events["ensemble_id"] == e).sum())
            self.ensembles.addItem(f"ensemble {e}: {n_mem} neurons, {n_ev} events")
        self.ensembles.blockSignals(False)
        if shown.n_ensembles:  # selecting ensemble 0 colours the points (once: colouring them
            self.ensembles.setCurrentRow(0)  # all first rebuilt every point's label twice)
        else:
            self.color_points()

    def restore(self, session) -> bool:
        """Show the ensembles a session holds (docking, or a session file opened later)."""
        if STEP not in session or "events" not in session[STEP].tables:
            return False
        step = session[STEP]
        self.show_params(step.params)
        # the run's threshold and warnings are in its params (the CLI, the demo); older GUI
        # sessions kept them in attrs only
        threshold = step.params.get("threshold", step.attrs.get("threshold"))
        warnings = step.params.get("warnings", step.attrs.get("warnings")) or []
        self.show_result(ShownEnsembles(step.tables["events"], step.tables["members"],
                                        threshold, dict(step.params), list(warnings)))  # fmt: skip
        return True

    def _on_verdicts(self, _event=None) -> None:
        """Cells accepted/rejected elsewhere: the session's table is read again (rejected left out)."""
        if self._from_session:
            self.load_session_transients()

    def _on_session_replaced(self, _session) -> None:
        # after the reader has added the session's layers (the points to colour)
        QTimer.singleShot(0, self._restore_current)

    def _restore_current(self) -> None:
        try:
            self.load_session_transients()
            if not self.restore(self.ctx.session) and self.result is not None:
                self.result = None  # the session's ensembles were removed (traces replaced)
                self.ensembles.clear()
                self.status.setText("the session holds no ensembles: Find them again")
        except RuntimeError:  # the widget was closed
            pass

    # ---- layers -------------------------------------------------------------------------------
    def points_layer(self) -> Points | None:
        name = self.points.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def color_points(self, highlight: int | None = None) -> None:
        """Write the `ensemble` feature (strongest membership, -1 none) and colour the points.

        With `highlight`, only that ensemble's members keep their colour.
        """
        from napari_catrack.figures.ensembles import ensemble_colors

        layer, result = self.points_layer(), self.result
        if layer is None or result is None:
            return
        if "neuron_id" not in layer.features.columns:
            show_warning(f"napari-catrack: layer {layer.name!r} has no neuron_id feature")
            return
        best = result.members.sort_values("fraction", ascending=False).drop_duplicates("neuron_id")
        lookup = dict(zip(best["neuron_id"].astype(str), best["ensemble_id"].astype(int)))
        ens = layer.features["neuron_id"].astype(str).map(lookup).fillna(-1).astype(int).to_numpy()
        old = layer.features.get("ensemble")
        if old is None or not np.array_equal(old.to_numpy(), ens):  # (setting the features
            features = layer.features.copy()  # rebuilds every point's label: skipped when
            features["ensemble"] = ens  # browsing the ensembles, which only recolours)
            layer.features = features
        colors = np.tile(GREY, (len(ens), 1))
        palette = ensemble_colors(max(result.n_ensembles, 1))
        if highlight is None:
            colors[ens >= 0] = palette[ens[ens >= 0]]
        else:
            ids = set(
                result.members.loc[result.members["ensemble_id"] == highlight, "neuron_id"].astype(
                    str
                )
            )
            on = layer.features["neuron_id"].astype(str).isin(ids).to_numpy()
            colors[on] = palette[highlight]
        layer.face_color = colors
        layer.refresh()

    # ---- browsing -----------------------------------------------------------------------------
    def _select_ensemble(self, row: int) -> None:
        if self.result is None or row < 0:
            return
        ev = self.result.events
        self._event_frames = ev.loc[ev["ensemble_id"] == row, "start_frame"].to_numpy()
        self._event_index = -1
        self.color_points(highlight=row)
        self.step_event(1)

    def step_event(self, direction: int) -> int | None:
        """Move the time slider to the next (+1) / previous (-1) event; returns the frame."""
        if not len(self._event_frames):
            return None
        self._event_index = (self._event_index + direction) % len(self._event_frames)
        frame = int(self._event_frames[self._event_index])
        self.viewer.dims.set_current_step(0, frame)
        self.event_label.setText(
            f"event {self._event_index + 1}/{len(self._event_frames)} at frame {frame}"
        )
        return frame
