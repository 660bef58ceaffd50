"""Motion correction widget: register a head-fixed movie, see the shifts, compare raw/registered.

Thin: `core.registration.register_movie` runs in a `start_job` worker (progress, Cancel, the one
error policy). The registered movie becomes an image layer (written to the file in the "save
as" box, by default `<name>_registered.tif` beside the recording when it has a file, so it is
opened lazily like any recording; checked before any work); the shifts are plotted
with a line that follows the time slider; a toggle shows the raw or the registered movie; the
quality metrics and parameters go to the session step "registration".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from napari.layers import Image
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from napari_catrack.core.registration import RegisterParams, register_movie
from napari_catrack.core.registration.metrics import quality_line
from napari_catrack.core.registration.params import recorded_values
from napari_catrack.errors import InputError
from napari_catrack.layers import label_axes
from napari_catrack.widgets._canvas import FastCanvas
from napari_catrack.widgets._common import layer_source_path
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import scroll_body
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import reports_errors, start_job

if TYPE_CHECKING:
    import napari

STEP = "registration"
ROLE = "registered"
MOVIE_SUFFIXES = (".tif", ".tiff", ".zarr")  # what `MovieWriter` writes
NO_SHIFTS = "no shifts yet: Register draws them here"


def movie_layers(viewer) -> list:
    """3-D image layers (movies) a two-photon step can work on."""
    return [
        lay for lay in viewer.layers if isinstance(lay, Image) and lay.ndim == 3 and not lay.rgb
    ]


def layer_path(layer) -> Path | None:
    """The file a layer was opened from (napari's source, or napari-catrack's metadata)."""
    path = layer_source_path(layer)
    return Path(path) if path and Path(path).is_file() else None


def default_output(src: Path) -> Path:
    """Where the registered movie goes unless the user says otherwise: beside the recording."""
    return src.with_name(f"{src.stem}_registered.tif")


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
        self.output = QLineEdit()
        self.output.setToolTip(
            "where the registered movie is written (.tif/.tiff or .zarr; a relative path starts "
            "in the recording's folder); empty for a movie without a file: kept in memory"
        )
        self._default_output = ""  # what the box was filled with (replaced when the movie changes)
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._choose_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output, 1)
        output_row.addWidget(choose)
        self.movie.currentTextChanged.connect(lambda *_: self._fill_output())
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
        self.figure = Figure(figsize=(4, 2.2), layout="constrained")
        self.canvas = FastCanvas(self.figure)  # the cursor blitted, not a redraw per slider step
        self.canvas.setMinimumHeight(200)
        self._cursor = None

        scrolled_column(self, [
            "movie", self.movie, self.form, "save the registered movie as", output_row, row,
            self.bar, self.status, self.show_registered,
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
        self._fill_output()

    # ------------------------------------------------------------ output
    def _fill_output(self) -> None:
        """The default output of the chosen movie, unless the user typed another path."""
        if self.output.text().strip() not in ("", self._default_output):
            return
        name = self.movie.currentText()
        src = layer_path(self.viewer.layers[name]) if name in self.viewer.layers else None
        self._default_output = str(default_output(src)) if src is not None else ""
        self.output.setText(self._default_output)

    def _choose_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the registered movie as", self.output.text(), "TIFF (*.tif *.tiff)"
        )
        if path:
            self.output.setText(path)

    def output_path(self, src: Path | None) -> Path | bool | None:
        """The checked output: never the recording (or its session file), a .tif/.tiff/.zarr
        name, a folder that can be written; an existing file (not this session's own registered
        movie) is replaced only when confirmed. None: keep in memory (a movie without a file and
        an empty box). Raises InputError with one line; returns False when not confirmed."""
        from napari_catrack.io.output_check import check_outputs, recording_inputs
        from napari_catrack.widgets.export import _typed_path

        text = self.output.text().strip()
        if not text:
            if src is not None:
                raise InputError("choose where to save the registered movie (the box is empty)")
            return None
        path = Path(_typed_path(text, src.parent if src is not None else None))
        if not path.name.lower().endswith(MOVIE_SUFFIXES):
            raise InputError(
                f"save the registered movie as .tif, .tiff or .zarr, not {path.name!r}"
            )
        if path.is_dir() and not path.name.lower().endswith(".zarr"):
            raise InputError(f"{path} is a folder: give a file name for the registered movie")
        inputs = recording_inputs(src, "recording") if src is not None else {}
        if self.ctx.session.path is not None:
            inputs["session file"] = self.ctx.session.path
        check_outputs({"registered movie": path}, inputs)
        if path.exists() and not self._own_output(path) and not self._confirm_replace(path):
            return False
        return path

    def _own_output(self, path: Path) -> bool:
        """`path` is the registered movie this session's registration step wrote (redone)."""
        session = self.ctx.session
        stored = session[STEP].attrs.get("output") if STEP in session else None
        known = session.resolve_stored_path(stored) if stored else None
        return bool(known) and os.path.abspath(known) == os.path.abspath(path)

    def _confirm_replace(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self, "Replace the file?",
            f"{path} exists. Replace it with the registered movie?",
        )  # fmt: skip
        return answer == QMessageBox.Yes

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
        output = self.output_path(src)
        if output is False:
            self.status.setText(f"not registered: {self.output.text().strip()} kept as it was")
            return None
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
        self._cursor = None
        ax = self.figure.add_subplot(111)
        if self.shifts is not None:
            t = np.arange(len(self.shifts))
            ax.plot(t, self.shifts[:, 0], label="dy", lw=0.8)
            ax.plot(t, self.shifts[:, 1], label="dx", lw=0.8)
            ax.legend(loc="upper right", fontsize=7)
            ax.set_xlabel("frame")
            ax.set_ylabel("px")
            self._cursor = ax.axvline(self.viewer.dims.current_step[0], color="k", lw=0.8)
        else:  # (a blank white box read as a plot that failed to draw)
            ax.set_axis_off()
            ax.text(0.5, 0.5, NO_SHIFTS, ha="center", va="center", color="0.4",
                    transform=ax.transAxes)  # fmt: skip
        self.canvas.set_animated([self._cursor] if self._cursor is not None else [])
        self.canvas.relayout()
        self.canvas.draw_idle()

    def _move_cursor(self, *_):
        if self._cursor is not None:
            frame = self.viewer.dims.current_step[0]
            self._cursor.set_xdata([frame, frame])
            self.canvas.move_animated()

    def _restore(self) -> None:
        session = self.ctx.session
        if STEP in session and "shifts" in session[STEP].tables:
            self.shifts = session[STEP].tables["shifts"][["dy", "dx"]].to_numpy(float)
            self.form.set_params(RegisterParams.from_dict(recorded_values(session[STEP].params)))
            stored = session[STEP].attrs.get("output")
            if stored and self.output.text().strip() in ("", self._default_output):
                self._default_output = session.resolve_stored_path(stored)  # redone in place
                self.output.setText(self._default_output)
        self._plot()  # the session's shifts, or a line saying where they will be
        reg = self.registered_layer()
        if reg is not None:  # reopened with the session (the registration step's output)
            self.show_registered.setEnabled(True)
            self._toggle(self.show_registered.isChecked())
            attrs = dict(session[STEP].attrs) if STEP in session else {}
            quality = f": {quality_line(attrs)}" if "correlation_median" in attrs else ""
            self.status.setText(f"registered movie: {reg.name} (from the session){quality}")
