"""Motion correction widget: register a head-fixed movie, see the shifts, compare raw/registered.

Thin: `core.registration.register_movie` runs in a `start_job` worker (progress, Cancel, the one
error policy). The registered movie becomes an image layer (written to a TIFF beside the
recording when it has a file, so it is opened lazily like any recording); the shifts are plotted
with a line that follows the time slider; a toggle shows the raw or the registered movie; the
quality metrics and parameters go to the session step "registration".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.layers import Image
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from napari_catrack.core.registration import RegisterParams, register_movie
from napari_catrack.core.registration.metrics import quality_line
from napari_catrack.errors import InputError
from napari_catrack.layers import label_axes
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import scroll_body
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import reports_errors, start_job

if TYPE_CHECKING:
    import napari

STEP = "registration"
ROLE = "registered"


def movie_layers(viewer) -> list:
    """3-D image layers (movies) a two-photon step can work on."""
    return [
        lay for lay in viewer.layers if isinstance(lay, Image) and lay.ndim == 3 and not lay.rgb
    ]


def layer_path(layer) -> Path | None:
    """The file a layer was opened from (napari's source, or napari-catrack's metadata)."""
    path = getattr(getattr(layer, "source", None), "path", None) or layer.metadata.get("catrack", {}).get("path")  # fmt: skip
    return Path(path) if path and Path(path).is_file() else None


def scrolled_column(owner: QWidget, items: list) -> None:
    """Fill `owner` with a scroll area holding `items` in one column (text becomes a label); the
    dock scrolls and tabs with the other catrack docks (`_dock.scroll_body`)."""
    lay = scroll_body(owner)
    for item in items:
        if isinstance(item, str):
            lay.addWidget(QLabel(item))
        elif isinstance(item, QWidget):
            lay.addWidget(item)
        else:
            lay.addLayout(item)
    lay.addStretch(1)


class RegistrationWidget(QWidget):
    """Rigid or piecewise-rigid motion correction of the chosen movie layer."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.job = None
        self.shifts: np.ndarray | None = None

        self.movie = QComboBox()
        self.movie.setToolTip("the movie to motion-correct")
        self.form = ParamsForm(RegisterParams)
        self.run_button = QPushButton("Register")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.run_button, 1)
        row.addWidget(self.cancel_button)
        self.bar = QProgressBar()
        self.status = QLabel("choose a movie and register it")
        self.status.setWordWrap(True)
        self.show_registered = QCheckBox("show the registered movie (untick: raw)")
        self.show_registered.setChecked(True)
        self.show_registered.setEnabled(False)
        self.show_registered.toggled.connect(self._toggle)
        self.figure = Figure(figsize=(4, 2.2), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(200)
        self._cursor = None

        scrolled_column(self, [
            "movie", self.movie, self.form, row, self.bar, self.status, self.show_registered,
            "shifts (px): the line follows the time slider", self.canvas,
        ])  # fmt: skip

        self._refresh_layers()
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.ctx.events.layer_names.connect(self._refresh_layers)  # a layer renamed
        self.viewer.dims.events.current_step.connect(self._move_cursor)
        self._restore()

    # ------------------------------------------------------------ layers
    def _refresh_layers(self, *_):
        current = self.movie.currentText()
        names = [lay.name for lay in movie_layers(self.viewer) if lay.metadata.get("catrack", {}).get("role") != ROLE]  # fmt: skip
        self.movie.blockSignals(True)
        self.movie.clear()
        self.movie.addItems(names)
        green = self.ctx.channel_layer("green")
        pick = current if current in names else (green.name if green is not None and green.name in names else None)  # fmt: skip
        if pick:
            self.movie.setCurrentText(pick)
        self.movie.blockSignals(False)

    def movie_layer(self):
        name = self.movie.currentText()
        if not name or name not in self.viewer.layers:
            raise InputError("no movie layer: open a (T, Y, X) recording first")
        return self.viewer.layers[name]

    def registered_layer(self):
        return next((x for x in self.viewer.layers if x.metadata.get("catrack", {}).get("role") == ROLE), None)  # fmt: skip

    # ------------------------------------------------------------ run
    @reports_errors("registration")
    def run(self):
        layer = self.movie_layer()
        params = self.form.params()
        src = layer_path(layer)
        output = src.with_name(f"{src.stem}_registered.tif") if src is not None else None
        data = layer.data[0] if layer.multiscale else layer.data

        def work(job):
            return register_movie(
                data, params, output=output, keep_in_memory=output is None,
                progress=job.progress, cancel=job.cancelled,
            )  # fmt: skip

        self.job = start_job(self, work, what="registration", on_done=lambda r: self._show(r, layer, output),
                             bar=self.bar, buttons=[self.run_button], cancel_button=self.cancel_button,
                             status=self.status)  # fmt: skip
        return self.job

    def _show(self, result, raw_layer, output: Path | None) -> None:
        old = self.registered_layer()
        if old is not None:
            self.viewer.layers.remove(old)
        if output is not None:  # opened lazily, like any recording
            from napari_catrack.io.recording import open_recording

            data = open_recording(output).green
        else:
            data = result.movie
        meta = {"catrack": {"role": ROLE, "path": str(output) if output else None, "raw_layer": raw_layer.name}}  # fmt: skip
        label_axes(self.viewer.add_image(data, name=f"{raw_layer.name} registered", colormap=raw_layer.colormap.name,
                              contrast_limits=raw_layer.contrast_limits, metadata=meta))  # fmt: skip
        self.shifts = result.shifts
        session = self.ctx.session
        from napari_catrack.core.registration.records import record_registration

        path = layer_path(raw_layer)
        record_registration(session, result, inputs={"recording": path} if path else None)
        self.status.setText(
            f"registered {len(result.shifts)} frames: {quality_line(result.attrs())}"
            + (f" -> {output.name}" if output else "")
            + "".join(f"; {note}" for note in result.notes)  # e.g. the patch size chosen
        )
        self.show_registered.setEnabled(True)
        self.show_registered.setChecked(True)
        self._toggle(True)
        self._plot()

    # ------------------------------------------------------------ view
    def _toggle(self, registered: bool) -> None:
        reg = self.registered_layer()
        if reg is None:
            return
        raw_name = reg.metadata["catrack"].get("raw_layer")
        reg.visible = bool(registered)
        if raw_name in self.viewer.layers:
            self.viewer.layers[raw_name].visible = not registered

    def _plot(self) -> None:
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        if self.shifts is not None:
            t = np.arange(len(self.shifts))
            ax.plot(t, self.shifts[:, 0], label="dy", lw=0.8)
            ax.plot(t, self.shifts[:, 1], label="dx", lw=0.8)
            ax.legend(loc="upper right", fontsize=7)
            ax.set_xlabel("frame")
            ax.set_ylabel("px")
            self._cursor = ax.axvline(self.viewer.dims.current_step[0], color="k", lw=0.8)
        self.canvas.draw_idle()

    def _move_cursor(self, *_):
        if self._cursor is not None:
            frame = self.viewer.dims.current_step[0]
            self._cursor.set_xdata([frame, frame])
            self.canvas.draw_idle()

    def _restore(self) -> None:
        session = self.ctx.session
        if STEP in session and "shifts" in session[STEP].tables:
            self.shifts = session[STEP].tables["shifts"][["dy", "dx"]].to_numpy(float)
            self.form.set_params(RegisterParams.from_dict(session[STEP].params))
            self._plot()
        reg = self.registered_layer()
        if reg is not None:  # reopened with the session (the registration step's output)
            self.show_registered.setEnabled(True)
            self._toggle(self.show_registered.isChecked())
            attrs = dict(session[STEP].attrs) if STEP in session else {}
            quality = f": {quality_line(attrs)}" if "correlation_median" in attrs else ""
            self.status.setText(f"registered movie: {reg.name} (from the session){quality}")
