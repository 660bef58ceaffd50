"""Channel alignment widget: estimate, nudge and accept the red → green transform.

Thin by design: all maths is in `napari_catrack.core.alignment`. The transform the user sees is the
red Image layer's affine (so napari's own tools may edit it too); this widget writes it, and reads
it back before saving or accepting.

Keys (bound on the viewer only while "Nudge with keys" is ticked; Accept unticks it, so the
curation keys A/D/R never move the red channel): W/A/S/D move red up/left/down/right by the step
(Shift ×10); Q rotates red counter-clockwise, E clockwise, by the angle step (Shift ×10); R resets
to the last estimate (or loaded file). The keys are claimed through the one catrack key registry
(`_keys.KeyRegistry`), which refuses them while another widget holds any of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image
from napari.utils.notifications import show_info
from napari.utils.transforms import Affine
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from napari_catrack.core.alignment import (
    AlignmentTransform,
    iter_estimate_alignment,
    poor_match_warning,
)
from napari_catrack.core.alignment_params import AlignParams
from napari_catrack.errors import CatrackError, InputError, check_cancelled
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._context_controls import AlignmentLine, ChannelPicker
from napari_catrack.widgets._dock import TabFront, dock_of, scroll_body
from napari_catrack.widgets._keys import KeyRegistry
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import report_exception, start_job

if TYPE_CHECKING:
    import napari

OWNER = "Align channels"  # the key registry's name for this widget
# key -> (dy, dx, rotation) in units of the step / angle step; Shift multiplies by 10
NUDGES = {
    "W": (-1.0, 0.0, 0.0),
    "A": (0.0, -1.0, 0.0),
    "S": (1.0, 0.0, 0.0),
    "D": (0.0, 1.0, 0.0),
    "Q": (0.0, 0.0, 1.0),  # counter-clockwise on screen (positive rotation_deg)
    "E": (0.0, 0.0, -1.0),  # clockwise
}


def _physical(layer: Image) -> np.ndarray:
    """A layer's own data → physical matrix (scale/rotate/shear/translate, without `affine`)."""
    return Affine(
        scale=layer.scale, translate=layer.translate, rotate=layer.rotate, shear=layer.shear
    ).affine_matrix


def _frame_data(layer: Image) -> Any:
    data = layer.data[0] if layer.multiscale else layer.data
    return data


class AlignmentWidget(QWidget):
    """Estimate / nudge / accept the transform that puts the red layer on the green one."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.keys = KeyRegistry.of(napari_viewer)
        self.transform = AlignmentTransform(source="manual")
        self.base: AlignmentTransform | None = None  # last estimate or loaded file (R resets here)
        self.job = None
        self._overlay_saved: dict[str, tuple] = {}

        self.channels = ChannelPicker(napari_viewer)
        self.green_combo, self.red_combo = self.channels.green_combo, self.channels.red_combo
        self.in_force = AlignmentLine(napari_viewer)
        self.form = ParamsForm(AlignParams)  # the estimate's settings, defaults in one place
        self.frames = self.form.control("max_frames")
        self.projection = self.form.control("projection")
        self.scale_check = self.form.control("estimate_scale")
        self.affine_check = self.form.control("estimate_affine")
        self._scale_before = False  # the scale box as it was before "full affine" held it
        self.affine_check.toggled.connect(self._affine_toggled)
        self.estimate_button = QPushButton("Estimate")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(minimum=0, maximum=100, value=0)
        self.dy, self.dx, self.rotation = (
            self._spin(-1000, 1000, 3, " px"),
            self._spin(-1000, 1000, 3, " px"),
            self._spin(-180, 180, 4, " °"),
        )
        self.scale_label, self.source_label = QLabel("1.00000"), QLabel("manual")
        self.step = self._spin(0.001, 100, 3, " px", value=0.5)
        self.angle_step = self._spin(0.001, 45, 3, " °", value=0.1)
        self.keys_check = QCheckBox("Nudge with keys (W/A/S/D, Q/E, R; Shift ×10)")
        self.keys_check.setToolTip(
            "binds W/A/S/D/Q/E/R on the viewer while ticked; Accept unticks it so these keys "
            "are free for curation"
        )
        self.overlay_check = QCheckBox("overlay: green + magenta, additive")
        self.reset_button, self.accept_button = QPushButton("Reset (R)"), QPushButton("Accept")
        self.load_button, self.save_button = QPushButton("Load…"), QPushButton("Save JSON…")
        self.load_button.setToolTip(
            "an alignment JSON, or a calibration matrix measured elsewhere (.npy, .txt, .csv: "
            "OpenCV's 2x3 or 3x3), whose axis order and direction are found on the recording"
        )
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._build_layout()

        self.estimate_button.clicked.connect(self.estimate)
        for spin in (self.dy, self.dx, self.rotation):
            spin.valueChanged.connect(self._on_readout_edited)
        self.keys_check.toggled.connect(self._on_keys_toggled)
        # a tab behind another one is still "visible" to Qt: give the keys back there too
        self.tab_front = TabFront(self, lambda front: front or self.deactivate_keys())
        self.overlay_check.toggled.connect(self.set_overlay)
        self.reset_button.clicked.connect(self.reset)
        self.accept_button.clicked.connect(self.accept)
        self.load_button.clicked.connect(lambda: self.load_file())
        self.save_button.clicked.connect(lambda: self.save_json())
        self.channels.changed.connect(self._on_channels_chosen)
        self.ctx.events.channels.connect(self._on_context_channels)
        self.ctx.events.session.connect(self._on_session)
        self._on_session()
        self.sync_from_layer()

    # ---- construction ---------------------------------------------------------------------------
    @staticmethod
    def _spin(lo: float, hi: float, decimals: int, suffix: str, value: float = 0.0):
        spin = QDoubleSpinBox(minimum=lo, maximum=hi, decimals=decimals, value=value)
        spin.setSuffix(suffix)
        spin.setKeyboardTracking(False)
        return spin

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow(self.channels)
        form.addRow(self.in_force)
        form.addRow(self.form)
        form.addRow(self.estimate_button, self.progress)
        form.addRow("", self.cancel_button)
        form.addRow("dy (down)", self.dy)
        form.addRow("dx (right)", self.dx)
        form.addRow("rotation (CCW +)", self.rotation)
        form.addRow("scale", self.scale_label)
        form.addRow("source", self.source_label)
        form.addRow("step", self.step)
        form.addRow("angle step", self.angle_step)
        buttons, files = QHBoxLayout(), QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.accept_button)
        files.addWidget(self.load_button)
        files.addWidget(self.save_button)
        layout = scroll_body(self)
        layout.addLayout(form)
        layout.addWidget(self.keys_check)
        layout.addWidget(self.overlay_check)
        layout.addLayout(buttons)
        layout.addLayout(files)
        keys = QLabel(
            "W/A/S/D: move red up/left/down/right · Q: rotate CCW · E: rotate CW · R: reset"
        )
        keys.setWordWrap(True)
        layout.addWidget(keys)
        layout.addWidget(self.status)
        layout.addStretch()

    def _on_channels_chosen(self) -> None:
        self.sync_from_layer()
        self.apply()

    def _on_session(self, _event: Any = None) -> None:
        """Show the settings an accepted alignment was estimated with (a reopened session)."""
        try:
            if "alignment" in self.ctx.session:
                self.form.set_params(AlignParams.from_dict(self.ctx.session["alignment"].params))
        except RuntimeError:  # the widget was closed
            self.ctx.events.session.disconnect(self._on_session)

    def _on_context_channels(self, _event: Any = None) -> None:
        try:
            self.sync_from_layer()
        except RuntimeError:  # the widget was closed
            self.ctx.events.channels.disconnect(self._on_context_channels)

    # ---- layers ---------------------------------------------------------------------------------
    def layer(self, role: str) -> Image:
        layer = self.ctx.channel_layer(role)
        if layer is None:
            raise InputError(f"choose a {role} layer first (the '{role} layer' box)")
        return layer

    def _green_world(self, red: Image) -> np.ndarray:
        """Green's data → world matrix, sized for the red layer (identity if no green layer)."""
        try:
            green = self.layer("green")
        except InputError:
            return np.eye(red.ndim + 1)
        if green.ndim != red.ndim:
            return np.eye(red.ndim + 1)
        return green.affine.affine_matrix @ _physical(green)

    def apply(self) -> None:
        """Write the current transform to the red layer's affine (red on top of green)."""
        try:
            red = self.layer("red")
        except InputError:
            return
        shape = red.data.shape[-2:] if not red.multiscale else red.data[0].shape[-2:]
        m = self.transform.napari_affine(tuple(shape), ndim=red.ndim)
        red.affine = self._green_world(red) @ m @ np.linalg.inv(_physical(red))
        catrack = dict(red.metadata.get("catrack", {}))
        catrack["alignment"] = self.transform.to_dict()
        red.metadata = {**red.metadata, "catrack": catrack}
        self.ctx.alignment_changed()

    def read_layer_transform(self) -> AlignmentTransform:
        """The transform as the red layer shows it now (napari tools may have changed it)."""
        red = self.layer("red")
        shape = tuple((red.data[0] if red.multiscale else red.data).shape[-2:])
        m = np.linalg.inv(self._green_world(red)) @ red.affine.affine_matrix @ _physical(red)
        shown = AlignmentTransform.from_matrix(m, shape, source=self.transform.source)
        close = np.allclose(shown.matrix(shape), self.transform.matrix(shape), atol=1e-6)
        return self.transform if close else shown.replace(source="manual")

    # ---- transform state ------------------------------------------------------------------------
    def set_transform(self, transform: AlignmentTransform) -> None:
        """Show a transform in the readout and on the red layer."""
        self._show(transform)
        self.apply()

    def _show(self, transform: AlignmentTransform) -> None:
        """Make `transform` the current one in the readout only (the red layer is left as is)."""
        self.transform = transform
        for spin, value in ((self.dy, transform.dy), (self.dx, transform.dx)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.rotation.blockSignals(True)
        self.rotation.setValue(transform.rotation_deg)
        self.rotation.blockSignals(False)
        scale = f"{transform.scale:.5f}"
        if transform.is_affine:  # kept by every nudge; shown so nobody wonders why it differs
            scale += f"; aspect {transform.aspect:.5f}, shear {transform.shear:+.5f}"
        self.scale_label.setText(scale)
        self.source_label.setText(transform.source)

    def sync_from_layer(self) -> None:
        """Start from what the red layer shows (a reopened session's alignment, napari's tools).

        Without this, the readout said 0 and the first nudge threw a restored alignment away.
        """
        try:
            shown = self.read_layer_transform()
            shape = tuple(_frame_data(self.layer("red")).shape[-2:])
        except InputError:
            return
        if shown is self.transform:
            return
        session = self.ctx.session
        if "alignment" in session:
            accepted = AlignmentTransform.from_dict(dict(session["alignment"].attrs))
            if np.allclose(accepted.matrix(shape), shown.matrix(shape), atol=1e-6):
                shown = accepted
                self.base = self.base or accepted
        self._show(shown)

    def nudge(self, dy: float = 0.0, dx: float = 0.0, rotation: float = 0.0) -> None:
        """Move/rotate red by an increment (pixels, degrees CCW); the result is "manual"."""
        self.sync_from_layer()
        t = self.transform
        self.set_transform(
            t.replace(
                dy=t.dy + dy, dx=t.dx + dx, rotation_deg=t.rotation_deg + rotation, source="manual"
            )
        )

    def reset(self) -> None:
        """Back to the last estimate (or loaded file); identity if there is none."""
        self.set_transform(
            self.base if self.base is not None else AlignmentTransform(source="manual")
        )

    def _on_readout_edited(self, _value: float = 0.0) -> None:
        self.set_transform(
            self.transform.replace(
                dy=self.dy.value(),
                dx=self.dx.value(),
                rotation_deg=self.rotation.value(),
                source="manual",
            )
        )

    # ---- keys -----------------------------------------------------------------------------------
    def _key_callbacks(self) -> dict[str, Any]:
        def make(vec: tuple[float, float, float], factor: float):
            def callback(viewer: Any) -> None:
                s, a = self.step.value() * factor, self.angle_step.value() * factor
                self.nudge(vec[0] * s, vec[1] * s, vec[2] * a)

            return callback

        callbacks: dict[str, Any] = {}
        for key, vec in NUDGES.items():
            callbacks[key] = make(vec, 1.0)
            callbacks[f"Shift-{key}"] = make(vec, 10.0)
        callbacks["R"] = lambda viewer: self.reset()
        return callbacks

    def activate_keys(self) -> bool:
        """Claim W/A/S/D/Q/E/R (and Shift-) on the viewer; False (and a message) if another
        napari-catrack widget holds one of them."""
        try:
            self.keys.claim(OWNER, self._key_callbacks())
        except CatrackError as exc:
            self._set_keys_check(False)
            self.status.setText(str(exc))
            report_exception(exc, "nudging")
            return False
        self._set_keys_check(True)
        return True

    def deactivate_keys(self) -> None:
        """Give the keys back (to whatever they did before)."""
        self.keys.release(OWNER)
        self._set_keys_check(False)

    def keys_active(self) -> bool:
        return bool(self.keys.held(OWNER))

    def _set_keys_check(self, on: bool) -> None:
        self.keys_check.blockSignals(True)
        self.keys_check.setChecked(on)
        self.keys_check.blockSignals(False)

    def _on_keys_toggled(self, on: bool) -> None:
        self.activate_keys() if on else self.deactivate_keys()

    def hideEvent(self, event: Any) -> None:
        self.deactivate_keys()
        super().hideEvent(event)

    def closeEvent(self, event: Any) -> None:
        self.deactivate_keys()
        super().closeEvent(event)

    def event(self, event: Any) -> bool:
        if event.type() == QEvent.ParentChange and dock_of(self) is None:
            self.deactivate_keys()  # taken out of its dock (napari's remove_dock_widget)
        return super().event(event)

    # ---- overlay --------------------------------------------------------------------------------
    def set_overlay(self, on: bool) -> None:
        """Green in green, red in magenta, additive: aligned structures turn white."""
        try:
            layers = {"green": self.layer("green"), "red": self.layer("red")}
        except InputError as exc:
            report_exception(exc, "overlay")
            self.overlay_check.blockSignals(True)
            self.overlay_check.setChecked(False)
            self.overlay_check.blockSignals(False)
            return
        if on:
            for role, layer in layers.items():
                self._overlay_saved.setdefault(role, (layer.name, layer.colormap, layer.blending))
                layer.colormap = "green" if role == "green" else "magenta"
                layer.blending = "additive"
        else:
            for _role, (name, cmap, blending) in self._overlay_saved.items():
                if name in self.viewer.layers:
                    self.viewer.layers[name].colormap = cmap
                    self.viewer.layers[name].blending = blending
            self._overlay_saved = {}

    # ---- estimate -------------------------------------------------------------------------------
    def params(self) -> AlignParams:
        """The estimate's settings shown (an `AlignParams`, exactly what the core gets)."""
        return self.form.params()

    def _affine_toggled(self, on: bool) -> None:
        """A full affine fits the scale too: the scale box says so while it is ticked."""
        if on:
            self._scale_before = self.scale_check.isChecked()
            self.scale_check.setChecked(True)
        else:
            self.scale_check.setChecked(self._scale_before)
        self.scale_check.setEnabled(not on)

    def _green_red(self, what: str, also=None) -> tuple | None:
        """The green and red frames (plus `also()`'s result, when given) for a job, or None with
        the reason in the status line and a notification."""
        try:
            extra = () if also is None else (also(),)
            green, red = _frame_data(self.layer("green")), _frame_data(self.layer("red"))
            if self.layer("green") is self.layer("red"):
                raise InputError("green and red must be two different layers")
        except CatrackError as exc:
            self.status.setText(str(exc))
            report_exception(exc, what)
            return None
        return (green, red, *extra)

    def estimate(self):
        """Run the estimate in the background (progress, Cancel); returns the job (or None)."""
        pair = self._green_red("alignment")
        if pair is None:
            return None
        green, red = pair
        params = self.params()

        def work(job):
            gen = iter_estimate_alignment(green, red, params)
            while True:
                check_cancelled(job.cancelled, "alignment estimate")
                try:
                    fraction, message = next(gen)
                except StopIteration as stop:
                    return stop.value
                job.progress(round(100 * fraction), 100, message)

        self.job = start_job(
            self, work, what="alignment estimate", on_done=self._on_estimated, bar=self.progress,
            buttons=[self.estimate_button], cancel_button=self.cancel_button, status=self.status,
        )  # fmt: skip
        return self.job

    def cancel_estimate(self) -> None:
        """Stop the estimate at its next step; the red layer keeps its current transform."""
        if self.job is not None:
            self.job.cancel()

    def _on_estimated(self, transform: AlignmentTransform) -> None:
        self.base = transform
        self.set_transform(transform)
        poor = poor_match_warning(
            transform, "check the green/red layer boxes and how the recording was opened "
            "(layout, channels) before you Accept"
        )  # fmt: skip
        self.status.setText(
            f"WARNING: {poor}" if poor else
            f"estimated (NCC {transform.info.get('ncc')}); tick 'Nudge with keys' to adjust with "
            "W/A/S/D, Q/E, then Accept"
        )  # fmt: skip

    # ---- persistence ----------------------------------------------------------------------------
    def accept(self) -> AlignmentTransform | None:
        """Store the transform shown on the red layer in the session: from now on it is the
        alignment every step uses. Nudging with keys stops (the keys are free again)."""
        try:
            transform = self.read_layer_transform()
        except CatrackError as exc:
            report_exception(exc, "accepting the alignment")
            return None
        self.set_transform(transform)
        from napari_catrack.core.alignment_records import record_alignment

        layers = {"green_layer": self.green_combo.currentText(),
                  "red_layer": self.red_combo.currentText()}  # fmt: skip
        inputs, file = self.ctx.recording_inputs(), None
        info = getattr(self.base, "info", None) or {}
        if info.get("method") == "calibration matrix" and info.get("file"):
            file = inputs["matrix"] = info["file"]  # with its SHA-256, as catrack align records
        record_alignment(self.ctx.session, transform, self.params(), estimate=self.base,
                         file=file, facts=layers, inputs=inputs)  # fmt: skip
        self.deactivate_keys()
        self.ctx.alignment_changed()
        self.status.setText("alignment accepted: tracking, traces and detection on red use it")
        show_info("napari-catrack: alignment accepted and stored in the session")
        return transform

    def save_json(self, path: str | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save alignment", "align.json", "*.json")
            if not path:
                return None
        try:
            return self.read_layer_transform().save_json(path)
        except CatrackError as exc:
            report_exception(exc, "saving the alignment")
            return None

    def load_file(self, path: str | None = None):
        """Load button: an alignment JSON (`load_json`) or a calibration matrix (`load_matrix`,
        a background job that reads frames)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Load alignment", "",
                "Alignment or calibration matrix (*.json *.npy *.txt *.csv *.tsv);;All files (*)",
            )  # fmt: skip
            if not path:
                return None
        if Path(path).suffix.lower() == ".json":
            return self.load_json(path)
        return self.load_matrix(path)

    def load_matrix(self, path: str):
        """A calibration matrix from another tool: its readings (axis order, direction) are
        scored on the recording in the background and the best is shown on the red layer, as
        `catrack align --from-matrix` does; Accept stores it. Returns the job (or None)."""
        from napari_catrack.core.alignment_matrix import fit_matrix, read_matrix

        pair = self._green_red("loading the calibration matrix", lambda: read_matrix(path))
        if pair is None:
            return None
        (green, red), matrix = pair[:2], pair[2]
        params, name = self.params(), Path(path).name

        def work(job):
            job.progress(0, 100, f"scoring the readings of {name} on the recording")
            fit = fit_matrix(green, red, matrix, params=params, file=str(path))
            check_cancelled(job.cancelled, "calibration matrix")
            return fit

        def done(fit) -> None:
            self.base = fit.transform
            self.set_transform(fit.transform)
            check = "use Estimate instead, or check the overlay before you Accept"
            ambiguous = (
                fit.ambiguity(name, "check the overlay before you Accept")
                or poor_match_warning(fit.transform, f"{name} is not this recording's; {check}")
                or fit.misfit(name, check)
            )  # the command line's warnings, in the same order
            self.status.setText(f"WARNING: {ambiguous}" if ambiguous else fit.describe(name))

        self.job = start_job(
            self, work, what="calibration matrix", on_done=done, bar=self.progress,
            buttons=[self.estimate_button, self.load_button], cancel_button=self.cancel_button,
            status=self.status,
        )  # fmt: skip
        return self.job

    def load_json(self, path: str | None = None) -> AlignmentTransform | None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load alignment", "", "*.json")
            if not path:
                return None
        try:
            transform = AlignmentTransform.load_json(path)
        except CatrackError as exc:
            report_exception(exc, "loading the alignment")
            return None
        self.base = transform
        self.set_transform(transform)
        self.status.setText(f"loaded {Path(path).name}")
        return transform
