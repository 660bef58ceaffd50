"""Channel alignment widget: estimate, nudge and accept the red → green transform.

Thin by design: all maths is in `napari_catrack.core.alignment`. The transform the user sees is the
red Image layer's affine (so napari's own tools may edit it too); this widget writes it, and reads
it back before saving or accepting.

Keys (bound on the viewer while the widget is shown): W/A/S/D move red up/left/down/right by the
step (Shift ×10); Q rotates red counter-clockwise, E clockwise, by the angle step (Shift ×10);
R resets to the last estimate (or loaded file).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.key_bindings import coerce_keybinding
from napari.utils.notifications import show_error, show_info
from napari.utils.transforms import Affine
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.core.alignment import PROJECTIONS, AlignmentTransform, iter_estimate_alignment
from napari_catrack.errors import CatrackError, InputError

if TYPE_CHECKING:
    import napari

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
        self.transform = AlignmentTransform(source="manual")
        self.base: AlignmentTransform | None = None  # last estimate or loaded file (R resets here)
        self._worker = None
        self._bound: dict[str, Any] = {}
        self._overlay_saved: dict[str, tuple] = {}

        self.green_combo, self.red_combo = QComboBox(), QComboBox()
        self.frames = QSpinBox(minimum=1, maximum=100_000, value=500)
        self.projection = QComboBox()
        self.projection.addItems(PROJECTIONS)
        self.scale_check = QCheckBox("estimate scale too")
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
        self.keys_check = QCheckBox("keyboard nudging (W/A/S/D, Q/E, R; Shift ×10)")
        self.overlay_check = QCheckBox("overlay: green + magenta, additive")
        self.reset_button, self.accept_button = QPushButton("Reset (R)"), QPushButton("Accept")
        self.load_button, self.save_button = QPushButton("Load JSON…"), QPushButton("Save JSON…")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._build_layout()

        self.estimate_button.clicked.connect(self.estimate)
        self.cancel_button.clicked.connect(self.cancel_estimate)
        for spin in (self.dy, self.dx, self.rotation):
            spin.valueChanged.connect(self._on_readout_edited)
        self.keys_check.toggled.connect(self._on_keys_toggled)
        self.overlay_check.toggled.connect(self.set_overlay)
        self.reset_button.clicked.connect(self.reset)
        self.accept_button.clicked.connect(self.accept)
        self.load_button.clicked.connect(lambda: self.load_json())
        self.save_button.clicked.connect(lambda: self.save_json())
        self.red_combo.currentTextChanged.connect(lambda _: self.apply())
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

    # ---- construction ---------------------------------------------------------------------------
    @staticmethod
    def _spin(lo: float, hi: float, decimals: int, suffix: str, value: float = 0.0):
        spin = QDoubleSpinBox(minimum=lo, maximum=hi, decimals=decimals, value=value)
        spin.setSuffix(suffix)
        spin.setKeyboardTracking(False)
        return spin

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("green layer", self.green_combo)
        form.addRow("red layer", self.red_combo)
        form.addRow("frames to use", self.frames)
        form.addRow("summary", self.projection)
        form.addRow("", self.scale_check)
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
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.keys_check)
        layout.addWidget(self.overlay_check)
        layout.addLayout(buttons)
        layout.addLayout(files)
        layout.addWidget(
            QLabel("W/A/S/D: move red up/left/down/right · Q: rotate CCW · E: rotate CW · R: reset")
        )
        layout.addWidget(self.status)
        layout.addStretch()

    def _refresh_layers(self, event: Any = None) -> None:
        """Fill the layer choices; prefer layers tagged green/red by the reader, then by name."""
        names = [layer.name for layer in self.viewer.layers if isinstance(layer, Image)]
        for combo, role in ((self.green_combo, "green"), (self.red_combo, "red")):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            guess = current if self._keeps(current, role, names) else self._guess(role, names)
            if guess:
                combo.setCurrentText(guess)
            combo.blockSignals(False)
        self.sync_from_layer()

    def _keeps(self, current: str, role: str, names: list[str]) -> bool:
        """Keep the shown choice unless it is the other channel and this one has arrived.

        (Docked before the recording opened, the red combo first shows the green layer.)
        """
        if current not in names:
            return False
        tagged = {
            layer.name: layer.metadata.get("catrack", {}).get("role")
            for layer in self.viewer.layers
            if isinstance(layer, Image) and isinstance(layer.metadata, dict)
        }
        return tagged.get(current) in (None, role) or role not in tagged.values()

    def _guess(self, role: str, names: list[str]) -> str | None:
        for layer in reversed(list(self.viewer.layers)):
            meta = layer.metadata.get("catrack", {}) if isinstance(layer.metadata, dict) else {}
            if isinstance(layer, Image) and meta.get("role") == role:
                return layer.name
        for name in reversed(names):
            if role in name.lower():
                return name
        index = 0 if role == "green" else 1
        return names[index] if len(names) > index else None

    # ---- layers ---------------------------------------------------------------------------------
    def layer(self, role: str) -> Image:
        name = (self.green_combo if role == "green" else self.red_combo).currentText()
        if not name or name not in self.viewer.layers:
            raise InputError(f"choose a {role} Image layer first")
        return self.viewer.layers[name]

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
        self.scale_label.setText(f"{transform.scale:.5f}")
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
        from napari_catrack.session import session_for_viewer

        session = session_for_viewer(self.viewer)
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

    def activate_keys(self) -> None:
        """Bind W/A/S/D/Q/E/R (and Shift-) on the viewer, remembering what they replaced."""
        if self._bound:
            return
        for key, callback in self._key_callbacks().items():
            previous = self.viewer.keymap.get(coerce_keybinding(key))
            self.viewer.bind_key(key, callback, overwrite=True)
            self._bound[key] = previous
        self.keys_check.blockSignals(True)
        self.keys_check.setChecked(True)
        self.keys_check.blockSignals(False)

    def deactivate_keys(self) -> None:
        """Unbind our keys and give back any binding they had replaced."""
        for key, previous in self._bound.items():
            self.viewer.bind_key(key, None)
            if previous is not None:
                self.viewer.bind_key(key, previous, overwrite=True)
        self._bound = {}
        self.keys_check.blockSignals(True)
        self.keys_check.setChecked(False)
        self.keys_check.blockSignals(False)

    def _on_keys_toggled(self, on: bool) -> None:
        self.activate_keys() if on else self.deactivate_keys()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.activate_keys()

    def hideEvent(self, event: Any) -> None:
        self.deactivate_keys()
        super().hideEvent(event)

    def closeEvent(self, event: Any) -> None:
        self.deactivate_keys()
        super().closeEvent(event)

    # ---- overlay --------------------------------------------------------------------------------
    def set_overlay(self, on: bool) -> None:
        """Green in green, red in magenta, additive: aligned structures turn white."""
        try:
            layers = {"green": self.layer("green"), "red": self.layer("red")}
        except InputError as exc:
            show_error(f"napari-catrack: {exc}")
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
    def params(self) -> dict[str, Any]:
        return {
            "max_frames": self.frames.value(),
            "projection": self.projection.currentText(),
            "estimate_scale": self.scale_check.isChecked(),
        }

    def estimate(self):
        """Run the estimate in a worker thread; returns the worker (tests can wait on it)."""
        try:
            green, red = _frame_data(self.layer("green")), _frame_data(self.layer("red"))
            if self.green_combo.currentText() == self.red_combo.currentText():
                raise InputError("green and red must be two different layers")
        except CatrackError as exc:
            show_error(f"napari-catrack: {exc}")
            return None
        run = thread_worker(iter_estimate_alignment, ignore_errors=True)  # errors -> _on_error
        worker = run(green, red, **self.params())
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_estimated)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        worker.aborted.connect(
            lambda: self.status.setText("estimate cancelled; alignment unchanged")
        )
        self.estimate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText("estimating…")
        self._worker = worker
        worker.start()
        return worker

    def cancel_estimate(self) -> None:
        """Stop the estimate at its next step; the red layer keeps its current transform."""
        if self._worker is not None:
            self._worker.quit()

    def _on_finished(self) -> None:
        self.estimate_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_progress(self, update: tuple[float, str]) -> None:
        fraction, message = update
        self.progress.setValue(round(100 * fraction))
        self.status.setText(message)

    def _on_estimated(self, transform: AlignmentTransform) -> None:
        self.base = transform
        self.set_transform(transform)
        self.status.setText(
            f"estimated (NCC {transform.info.get('ncc')}); nudge with W/A/S/D, Q/E, then Accept"
        )

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText(f"failed: {exc}")
        if isinstance(exc, CatrackError | ValueError):
            show_error(f"napari-catrack: {exc}")
        else:
            show_error(f"napari-catrack: alignment failed: {type(exc).__name__}: {exc}")

    # ---- persistence ----------------------------------------------------------------------------
    def accept(self) -> AlignmentTransform | None:
        """Store the transform shown on the red layer in the viewer's session, with provenance."""
        try:
            transform = self.read_layer_transform()
        except CatrackError as exc:
            show_error(f"napari-catrack: {exc}")
            return None
        self.set_transform(transform)
        from napari_catrack.session import session_for_viewer

        params = {
            **self.params(),
            "green_layer": self.green_combo.currentText(),
            "red_layer": self.red_combo.currentText(),
            "estimate": self.base.to_dict() if self.base is not None else None,
            "estimate_info": dict(self.base.info) if self.base is not None else None,
        }
        session_for_viewer(self.viewer).record(
            "alignment", attrs=transform.to_dict(), params=params
        )
        self.status.setText("alignment stored in the session")
        show_info("napari-catrack: alignment stored in the session")
        return transform

    def save_json(self, path: str | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save alignment", "align.json", "*.json")
            if not path:
                return None
        try:
            return self.read_layer_transform().save_json(path)
        except (CatrackError, OSError) as exc:
            show_error(f"napari-catrack: cannot save alignment: {exc}")
            return None

    def load_json(self, path: str | None = None) -> AlignmentTransform | None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load alignment", "", "*.json")
            if not path:
                return None
        try:
            transform = AlignmentTransform.load_json(path)
        except CatrackError as exc:
            show_error(f"napari-catrack: {exc}")
            return None
        self.base = transform
        self.set_transform(transform)
        self.status.setText(f"loaded {Path(path).name}")
        return transform
