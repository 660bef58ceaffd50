"""A labelled form built from a step's parameter dataclass (btrack's "one config synced with the
widget"): the widget shows the dataclass defaults, `params()` returns the dataclass the core and the
session get, and `set_params()` shows restored provenance. No default is written in a widget.
"""

from __future__ import annotations

import math
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.errors import InputError
from napari_catrack.params import NONE_GIVEN, FieldInfo, StepParams

_NONE_TEXT = "none"


def fold_button(title: str, content: QWidget) -> QToolButton:
    """A "▸ title" button that shows or hides `content` (folded at first); add both to the
    layout. A checkable QGroupBox would do the same but draws an empty frame under napari's
    style sheet when folded. The button has `setChecked`/`isChecked`/`toggled` like the box."""
    button = QToolButton()
    button.setText(title)
    button.setCheckable(True)
    button.setChecked(False)
    button.setAutoRaise(True)
    button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
    button.setArrowType(Qt.RightArrow)
    content.setVisible(False)

    def unfold(on: bool) -> None:
        content.setVisible(on)
        button.setArrowType(Qt.DownArrow if on else Qt.RightArrow)

    button.toggled.connect(unfold)
    return button


class ParamsForm(QWidget):
    """Controls for the fields of a `StepParams` class (those with `gui=True`).

    `exclude` hides fields the widget sets itself (e.g. the frame rate from the viewer context);
    `advanced` fields go into a folded "More options" box.
    """

    changed = Signal()

    def __init__(
        self,
        params_class: type[StepParams],
        parent: QWidget | None = None,
        *,
        exclude: tuple[str, ...] = (),
        initial: StepParams | None = None,
    ) -> None:
        super().__init__(parent)
        self.params_class = params_class
        self._base = initial or params_class()
        self.controls: dict[str, QWidget] = {}
        self._infos = {
            f.name: f
            for f in params_class.fields()
            if f.meta.get("gui", True) and f.name not in exclude
        }
        main = QFormLayout()
        more = QFormLayout()
        for info in self._infos.values():
            control = _control(info, getattr(self._base, info.name))
            control.setToolTip(_tooltip(info))
            _connect(control, self.changed.emit)
            self.controls[info.name] = control
            (more if info.meta.get("advanced") else main).addRow(info.label, control)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(main)
        if more.rowCount():
            inner = QWidget()
            inner.setLayout(more)
            self.more_box = fold_button("More options", inner)
            self.more_panel = inner
            outer.addWidget(self.more_box)
            outer.addWidget(inner)

    def params(self, **overrides: Any) -> StepParams:
        """The dataclass for the values shown (fields not shown keep the initial values)."""
        values = self._base.to_dict()
        for name, control in self.controls.items():
            values[name] = _read(self._infos[name], control)
        values.update(overrides)
        return self.params_class.from_dict(values)

    def set_params(self, params: StepParams | dict) -> None:
        """Show stored values (e.g. restored from a session) without emitting `changed` per field."""
        if isinstance(params, dict):
            params = self.params_class.from_dict(params)
        self._base = params
        self.blockSignals(True)
        try:
            for name, control in self.controls.items():
                _write(self._infos[name], control, getattr(params, name))
        finally:
            self.blockSignals(False)
        self.changed.emit()

    def set_value(self, name: str, value: Any) -> None:
        """Show one value without checking it against the others (a layer's pixel size that the
        current PSF does not suit): the check comes when `params()` is read, e.g. by a run, which
        reports it in one line; a widget must still open."""
        self.blockSignals(True)
        try:
            _write(self._infos[name], self.controls[name], value)
        finally:
            self.blockSignals(False)
        self.changed.emit()

    def value(self, name: str) -> Any:
        """One value as shown (unchecked)."""
        return _read(self._infos[name], self.controls[name])

    def control(self, name: str) -> QWidget:
        return self.controls[name]


def _tooltip(info: FieldInfo) -> str:
    """The field's help, and its maximum with the reason where the field gives one (the control
    stops there: the tooltip says why)."""
    tip, why, hi = info.meta.get("help", ""), info.meta.get("maximum_why"), info.meta.get("maximum")
    if why and hi is not None:
        unit = f" {info.meta['unit']}" if info.meta.get("unit") else ""
        tip += f" (at most {hi:g}{unit}: {why})"
    return tip


def _control(info: FieldInfo, value: Any) -> QWidget:
    lo, hi = info.meta.get("minimum"), info.meta.get("maximum")
    if info.kind is bool:
        w: QWidget = QCheckBox()
    elif info.choices:
        w = QComboBox()
        w.addItems(_choice_texts(info))
    elif info.kind is int and not info.optional:
        w = QSpinBox()
        w.setRange(
            int(lo) if lo is not None else -(2**31), int(hi) if hi is not None else 2**31 - 1
        )
        if info.meta.get("step"):
            w.setSingleStep(int(info.meta["step"]))
    elif info.kind is float and not info.optional:
        w = QDoubleSpinBox()
        w.setDecimals(_decimals(info))
        w.setRange(float(lo) if lo is not None else -1e9, float(hi) if hi is not None else 1e9)
        w.setSingleStep(float(info.meta.get("step") or _default_step(info)))
    else:  # optional numbers, "auto"-or-number, tuples, free text
        w = QLineEdit()
    _write(info, w, value)
    return w


def _choice_texts(info: FieldInfo) -> list[str]:
    """The items of a choice box; an optional choice offers "none" first."""
    texts = [str(c) for c in info.choices]
    return [_NONE_TEXT, *texts] if info.optional else texts


def _decimals(info: FieldInfo) -> int:
    step = info.meta.get("step") or _default_step(info)
    return max(1, min(6, -math.floor(math.log10(step)) + 1)) if step < 1 else 2


def _default_step(info: FieldInfo) -> float:
    d = abs(float(info.default or 1.0))
    return 10 ** math.floor(math.log10(d)) / 10 if d > 0 else 0.1


def _connect(w: QWidget, slot) -> None:
    if isinstance(w, QCheckBox):
        w.toggled.connect(lambda *_: slot())
    elif isinstance(w, QComboBox):
        w.currentIndexChanged.connect(lambda *_: slot())
    elif isinstance(w, QSpinBox | QDoubleSpinBox):
        w.valueChanged.connect(lambda *_: slot())
    else:
        w.editingFinished.connect(slot)


def _write(info: FieldInfo, w: QWidget, value: Any) -> None:
    if isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif isinstance(w, QComboBox):
        texts = _choice_texts(info)
        text = _NONE_TEXT if value is None else str(value)
        w.setCurrentIndex(texts.index(text) if text in texts else 0)
    elif isinstance(w, QSpinBox | QDoubleSpinBox):
        w.setValue(value)
    else:
        if value is None:
            text = "auto" if _means_auto(info) else _NONE_TEXT
        elif isinstance(value, tuple | list):
            text = ", ".join(map(str, value))
        else:
            text = str(value)
        w.setText(text)


def _means_auto(info: FieldInfo) -> bool:
    """A field whose "none" is an automatic choice (its parser reads "auto" as none given): the
    box then says "auto", as the command line does, not "none"."""
    parse = info.meta.get("parse")
    if parse is None:
        return False
    try:
        return parse("auto") in (None, NONE_GIVEN)
    except (ValueError, TypeError):
        return False


def _read(info: FieldInfo, w: QWidget) -> Any:
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, QComboBox):
        if info.optional and w.currentIndex() == 0:
            return None
        return info.choices[w.currentIndex() - (1 if info.optional else 0)]
    if isinstance(w, QSpinBox | QDoubleSpinBox):
        return w.value()
    text = w.text().strip()
    if info.optional and text.lower() in ("", _NONE_TEXT):
        return None
    parse = info.meta.get("parse")
    try:
        if parse is not None:  # "auto" may parse to the command line's "none given"
            value = parse(text)
            return None if value is NONE_GIVEN else value
        if info.kind is tuple:
            return tuple(float(t) for t in text.replace(";", ",").split(",") if t.strip())
        if info.kind in (int, float):
            return info.kind(text)
    except ValueError:
        raise InputError(f"{info.label}: cannot read {text!r}") from None
    return text
