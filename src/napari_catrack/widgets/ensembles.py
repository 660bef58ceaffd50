"""Ensembles widget: find ensembles in a transient table, colour neurons by ensemble, step
through an ensemble's activations on the time slider.

Thin: it reads the table (CSV file, or one handed over with `set_table`), runs
`core.ensembles.find_ensembles` in a worker thread, and writes the result back where the user can
see and edit it: an `ensemble` feature column and face colours on the chosen Points layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from napari.layers import Image, Points
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.errors import CatrackError
from napari_catrack.session import session_for_viewer
from napari_catrack.widgets._common import preferred_neuron_layer

if TYPE_CHECKING:
    import napari

    from napari_catrack.core.ensembles import EnsembleResult

GREY = np.array([0.6, 0.6, 0.6, 1.0])


def run_ensembles(table: pd.DataFrame | None, path: str, params: dict, n_frames: int | None):
    """Worker body (no Qt): read the table if needed and run the core."""
    from napari_catrack.core.ensembles import find_ensembles, trains_from_table
    from napari_catrack.io.tables import read_table

    if table is None:
        if not path:
            raise CatrackError("choose a transient table (CSV) first")
        table = read_table(path, required=("neuron_id", "start_frame"), what="transient table")
    trains = trains_from_table(table, n_frames=n_frames)
    return find_ensembles(trains, **params)


class EnsemblesWidget(QWidget):
    """Find neuronal ensembles and browse them on the viewer."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.result: EnsembleResult | None = None
        self._table: pd.DataFrame | None = None
        self._worker = None
        self._event_frames: np.ndarray = np.zeros(0, dtype=np.int64)
        self._event_index = -1

        self.path = QLineEdit()
        self.path.setPlaceholderText("transient table CSV (neuron_id, start_frame, ...)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        source = QHBoxLayout()
        source.addWidget(self.path)
        source.addWidget(browse)

        self.fps = QDoubleSpinBox(minimum=0.01, maximum=10000.0, value=4.8, decimals=3)
        self.bin_s = QDoubleSpinBox(minimum=0.001, maximum=3600.0, value=0.5, decimals=3)
        self.bin_s.setSingleStep(0.1)
        self.shuffles = QSpinBox(minimum=1, maximum=100000, value=1000)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.percentile = QDoubleSpinBox(minimum=50.0, maximum=99.999, value=95.0, decimals=3)
        self.null = QComboBox()
        self.null.addItems(["pooled", "max"])
        self.points = QComboBox()

        form = QFormLayout()
        form.addRow("transients", source)
        form.addRow("frame rate (Hz)", self.fps)
        form.addRow("bin (s)", self.bin_s)
        form.addRow("shuffles", self.shuffles)
        form.addRow("seed", self.seed)
        form.addRow("null percentile", self.percentile)
        form.addRow("null", self.null)
        form.addRow("neurons (Points)", self.points)

        self.find_button = QPushButton("Find ensembles")
        self.find_button.clicked.connect(self.find)
        self.status = QLabel("no ensembles yet")
        self.status.setWordWrap(True)
        self.ensembles = QListWidget()
        self.ensembles.currentRowChanged.connect(self._select_ensemble)
        self.prev_button = QPushButton("◀ &Previous event")
        self.next_button = QPushButton("&Next event ▶")
        self.prev_button.clicked.connect(lambda: self.step_event(-1))
        self.next_button.clicked.connect(lambda: self.step_event(1))
        steps = QHBoxLayout()
        steps.addWidget(self.prev_button)
        steps.addWidget(self.next_button)
        self.event_label = QLabel("")

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.find_button)
        layout.addWidget(self.status)
        layout.addWidget(self.ensembles)
        layout.addLayout(steps)
        layout.addWidget(self.event_label)

        self._from_session = False
        self._fps_by_user = False  # a frame rate the user typed wins over the session's
        self.fps.valueChanged.connect(lambda _: setattr(self, "_fps_by_user", True))
        self._chosen = ""  # the Points layer the user picked (kept while it exists)
        self.points.activated.connect(lambda _: setattr(self, "_chosen", self.points.currentText()))
        self.load_session_transients()
        self.viewer.layers.events.inserted.connect(self._refresh_points)
        self.viewer.layers.events.removed.connect(self._refresh_points)
        self._refresh_points()

    # ---- inputs -------------------------------------------------------------------------------
    def set_table(self, table: pd.DataFrame | None) -> None:
        """Use this transient table (e.g. from the session) instead of a CSV file."""
        self._table = table
        self._from_session = False
        self._fps_by_user = False  # a frame rate the user typed wins over the session's
        self.fps.valueChanged.connect(lambda _: setattr(self, "_fps_by_user", True))
        if table is not None:
            self.path.setPlaceholderText(f"table handed over ({len(table)} transients)")

    def load_session_transients(self) -> bool:
        """The session's curated transients (rejected cells left out) and their frame rate.

        Called on opening and again by Find, so curation done after docking is used.
        """
        session = session_for_viewer(self.viewer)
        if "transients" not in session or "transients" not in session["transients"].tables:
            return False
        step = session["transients"]
        table = step.tables["transients"]
        verdicts = step.tables.get("verdicts")
        rejected: set[str] = set()
        if verdicts is not None and len(verdicts):
            rejected = set(verdicts.loc[verdicts["status"] == "rejected", "neuron_id"].astype(str))
        table = table[~table["neuron_id"].astype(str).isin(rejected)]
        self.set_table(table.reset_index(drop=True))
        self._from_session = True
        if step.attrs.get("fps") and not self._fps_by_user:
            self.fps.blockSignals(True)
            self.fps.setValue(float(step.attrs["fps"]))
            self.fps.blockSignals(False)
        left_out = f", {len(rejected)} rejected cell(s) left out" if rejected else ""
        self.path.setPlaceholderText(f"table from session ({len(table)} transients{left_out})")
        return True

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Transient table", "", "CSV (*.csv);;All (*)")
        if name:
            self.path.setText(name)
            self._table = None

    def _refresh_points(self, event=None) -> None:
        """List Points layers; keep the user's pick, else offer the likeliest neurons layer."""
        names = [layer.name for layer in self.viewer.layers if isinstance(layer, Points)]
        self.points.clear()
        self.points.addItems(names)
        choice = (
            self._chosen if self._chosen in names else preferred_neuron_layer(self.viewer, names)
        )
        if choice:
            self.points.setCurrentText(choice)

    def _n_frames(self) -> int | None:
        """Recording length from the tallest time-lapse image, if one is open."""
        frames = [
            layer.data.shape[0]
            for layer in self.viewer.layers
            if isinstance(layer, Image) and layer.ndim >= 3
        ]
        return int(max(frames)) if frames else None

    def params(self) -> dict:
        return {
            "fps": self.fps.value(),
            "bin_s": self.bin_s.value(),
            "n_shuffles": self.shuffles.value(),
            "seed": self.seed.value(),
            "percentile": self.percentile.value(),
            "null": self.null.currentText(),
        }

    # ---- running ------------------------------------------------------------------------------
    def find(self):
        """Start the worker; returns it (tests can wait on it)."""
        if not self.path.text() and (self._table is None or self._from_session):
            self.load_session_transients()
        table = self._table if not self.path.text() else None
        run = thread_worker(run_ensembles, ignore_errors=True)  # errors go to _on_error
        worker = run(table, self.path.text(), self.params(), self._n_frames())
        worker.returned.connect(self._on_result)
        worker.errored.connect(self._on_error)
        worker.finished.connect(lambda: self.find_button.setEnabled(True))
        self.find_button.setEnabled(False)
        self.status.setText("finding ensembles…")
        self._worker = worker
        worker.start()
        return worker

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText(f"failed: {exc}")
        if isinstance(exc, CatrackError | ValueError):
            show_error(f"napari-catrack: {exc}")
        else:
            show_error(f"napari-catrack: ensembles failed: {type(exc).__name__}: {exc}")

    def _on_result(self, result: EnsembleResult) -> None:
        self.result = result
        session_for_viewer(self.viewer).record(
            "ensembles",
            tables={
                "events": result.events,
                "members": result.members,
                "event_neurons": result.event_neurons,
            },
            arrays={"similarity": np.asarray(result.similarity, dtype=float)},
            params=result.params,
        )
        for msg in result.warnings:
            show_warning(f"napari-catrack: {msg}")
        self.status.setText(
            f"{len(result.events)} ensemble events (coactivity > {result.threshold}), "
            f"{result.n_ensembles} ensembles"
        )
        self.ensembles.blockSignals(True)
        self.ensembles.clear()
        for e in range(result.n_ensembles):
            n_mem = int((result.members["ensemble_id"] == e).sum())
            n_ev = int((result.events["ensemble_id"] == e).sum())
            self.ensembles.addItem(f"ensemble {e}: {n_mem} neurons, {n_ev} events")
        self.ensembles.blockSignals(False)
        self.color_points()
        if result.n_ensembles:
            self.ensembles.setCurrentRow(0)
        else:
            show_info("napari-catrack: no ensembles found")

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
        features = layer.features.copy()
        features["ensemble"] = ens
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
