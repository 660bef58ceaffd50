"""Controls that show (and edit) the viewer context the same way in every widget.

- `FrameRateControl`: the frame rate in force, editable; typing a rate sets it for every widget
  (it is stored in the session), and each control follows changes made elsewhere.
- `AlignmentLine`: which red -> green alignment every step uses, and whether the red layer shows
  unaccepted changes.
- `ChannelPicker`: which image layer is green and which is red; choosing any image layer (e.g.
  one opened by napari's builtin TIFF reader) gives it that role for every widget (`adopt`).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.widgets._context import ViewerContext

NONE = "(none)"


def _alive(widget: QWidget) -> bool:
    """False once Qt has deleted the widget (its Python wrapper may outlive it)."""
    try:
        widget.objectName()
    except RuntimeError:
        return False
    return True


class FrameRateControl(QWidget):
    """A labelled frame-rate box bound to the viewer context (0 shows "unknown")."""

    changed = Signal(float)

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ViewerContext.of(viewer)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 100_000.0)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(1.0)
        self.spin.setSuffix(" Hz")
        self.spin.setSpecialValueText("unknown")
        self.spin.setKeyboardTracking(False)  # one change per typed number, not per digit
        self.spin.setToolTip(
            "frames per second of the recording; shared by every napari-catrack widget and "
            "stored in the session"
        )
        # the note says where the rate came from, whole, wrapped under the box: beside it, a third
        # of a narrow dock's row, it was elided ("from the re…", h20 screenshots; cut mid-word
        # before that, h16), and the box keeps the row's width for its digits (".000" once)
        self.source = QLabel("")
        self.source.setWordWrap(True)
        self.source.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        row = QVBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(1)
        row.addWidget(self.spin)
        row.addWidget(self.source)
        self.refresh()
        self.spin.valueChanged.connect(self._typed)
        self.ctx.events.fps.connect(self._on_context)

    def value(self) -> float | None:
        return self.ctx.fps()

    def set_value(self, fps: float) -> None:
        """Set the frame rate for every widget (as if typed here)."""
        self.ctx.set_fps(float(fps))

    setValue = set_value

    def refresh(self) -> None:
        fps = self.ctx.fps()
        self.spin.blockSignals(True)
        self.spin.setValue(fps or 0.0)
        self.spin.blockSignals(False)
        note = self.ctx.fps_source() if fps else "type it"
        self.source.setText(note)
        self.source.setToolTip(note)

    def _typed(self, value: float) -> None:
        if value > 0:
            self.ctx.set_fps(float(value))  # emits events.fps -> every control refreshes
            self.changed.emit(float(value))
        else:
            self.refresh()

    def _on_context(self, _event: Any = None) -> None:
        if not _alive(self):
            self.ctx.events.fps.disconnect(self._on_context)
            return
        before = self.spin.value()
        self.refresh()
        if self.spin.value() != before:
            self.changed.emit(self.spin.value())


class AlignmentLine(QLabel):
    """One line saying which alignment is in force (see `ViewerContext.alignment`)."""

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ViewerContext.of(viewer)
        self.setWordWrap(True)
        self.refresh()
        self.ctx.events.alignment.connect(self._on_context)
        self.ctx.events.channels.connect(self._on_context)

    def refresh(self) -> None:
        inforce = self.ctx.alignment()
        self.setText(inforce.description)
        warn = inforce.differs_from_layer or inforce.source == "not accepted"
        self.setStyleSheet("color: #e8a33d;" if warn else "")

    def _on_context(self, _event: Any = None) -> None:
        if not _alive(self):
            self.ctx.events.alignment.disconnect(self._on_context)
            self.ctx.events.channels.disconnect(self._on_context)
            return
        self.refresh()


class ChannelPicker(QWidget):
    """Labelled "green layer" / "red layer" choices over all image layers.

    Choosing a layer gives it that channel role for every widget (`ViewerContext.adopt`); red
    may be "(none)" for one-channel recordings.
    """

    changed = Signal()

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.ctx = ViewerContext.of(viewer)
        self.green_combo, self.red_combo = QComboBox(), QComboBox()
        for combo, role in ((self.green_combo, "green"), (self.red_combo, "red")):
            combo.setToolTip(
                f"the image layer used as the {role} channel by every napari-catrack widget; "
                "any image layer can be chosen (e.g. one opened by napari's own reader)"
            )
            combo.activated.connect(lambda _i, r=role: self._chosen(r))
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("green layer", self.green_combo)
        form.addRow("red layer", self.red_combo)
        self.refresh()
        viewer.layers.events.inserted.connect(self._on_layers)
        viewer.layers.events.removed.connect(self._on_layers)
        self.ctx.events.channels.connect(self._on_layers)
        self.ctx.events.layer_names.connect(self._on_layers)

    def combo(self, role: str) -> QComboBox:
        return self.green_combo if role == "green" else self.red_combo

    def refresh(self) -> None:
        from napari.layers import Image

        names = [lay.name for lay in self.viewer.layers if isinstance(lay, Image)]
        for role in ("green", "red"):
            combo = self.combo(role)
            layer = self.ctx.channel_layer(role)
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([NONE, *names])
            combo.setCurrentText(layer.name if layer is not None else NONE)
            combo.blockSignals(False)

    def choose(self, role: str, name: str) -> None:
        """Make the layer called `name` the `role` channel ("(none)" removes the role)."""
        if name == NONE or not name:
            self.ctx.release_role(role)
        else:
            layer = self.viewer.layers[name]
            other = "red" if role == "green" else "green"
            if self.ctx.channel_layer(other) is layer:
                self.ctx.release_role(other)
            self.ctx.adopt(layer, role)
        self.refresh()
        self.changed.emit()

    def _chosen(self, role: str) -> None:
        self.choose(role, self.combo(role).currentText())

    def _on_layers(self, _event: Any = None) -> None:
        if not _alive(self):
            for emitter in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed,
                            self.ctx.events.channels, self.ctx.events.layer_names):  # fmt: skip
                emitter.disconnect(self._on_layers)
            return
        self.refresh()
