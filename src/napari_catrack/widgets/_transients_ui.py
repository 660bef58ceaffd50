"""Layout of the transients widget (controls only; behaviour lives in `transients.py`) and the
keyboard routing: curation keys typed in the plot, the cell list or the tables go to
`handle_key`, while text fields and spin boxes keep their own typing."""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.widgets._curation import REASONS
from napari_catrack.widgets._table_model import DataFrameModel
from napari_catrack.widgets._transient_canvas import TransientCanvas

FILTERS = ("all", "unverified", "accepted", "rejected")
SHORTCUTS = {
    "A": "toggle add mode (a click adds a transient at the nearest peak)",
    "D / Delete / Backspace": "delete the selected transient",
    "Ctrl+Z": "undo",
    "Ctrl+Shift+Z / Ctrl+Y": "redo",
    "N / Down": "next cell (in the current filter)",
    "P / Up": "previous cell",
    "Y": "accept the cell",
    "R": "reject the cell with the chosen reason",
    "U": "mark the cell unverified again",
    "Escape": "leave add mode, clear the selected transient",
}


def _spin(value: float, lo: float, hi: float, step: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox(minimum=lo, maximum=hi, value=value, decimals=3, singleStep=step)
    box.setToolTip(tip)
    return box


class TransientsPanel(QWidget):
    """The widget's controls; subclasses implement `handle_key` and the actions."""

    def __init__(self) -> None:
        super().__init__()
        self._build()
        for w in (self, self.canvas, self.cell_list, self.transient_view, self.cell_view):
            w.installEventFilter(self)

    def _build(self) -> None:
        self.source_label = QLabel("no traces loaded")
        self.source_label.setWordWrap(True)
        self.session_button = QPushButton("Use session traces")
        self.load_button = QPushButton("Load traces CSV…")
        self.fps = _spin(10.0, 0.001, 100000.0, 1.0, "frame rate of the traces (Hz)")
        self.fps.valueChanged.connect(self._fps_changed)
        self.method = QComboBox()
        self.method.addItems(["rules", "ksigma", "model"])
        self.peak_threshold = _spin(
            0.0, 0.0, 1000.0, 0.05, "minimum height above baseline (dF/F; k-sigma: abs_threshold)"
        )
        self.min_interval = _spin(0.3, 0.0, 3600.0, 0.1, "minimum time between peaks (s)")
        self.snr = _spin(3.0, 0.0, 1000.0, 0.5, "minimum SNR at the peak (rules)")
        self.k = _spin(2.5, 0.1, 100.0, 0.5, "threshold in robust SDs (ksigma)")
        self.smooth = _spin(
            0.0, 0.0, 10.0, 0.05, "Savitzky-Golay window (s); auto = 0.2 s, at most 13 frames"
        )
        self.smooth.setSpecialValueText("auto")  # 0 means: let the detector adapt to the fps
        self.detect_button = QPushButton("Detect")
        self.method.currentTextChanged.connect(self._method_changed)
        self._method_changed("rules")

        src = QHBoxLayout()
        src.addWidget(self.session_button)
        src.addWidget(self.load_button)
        form = QFormLayout()
        form.addRow(self.source_label)
        form.addRow(src)
        form.addRow("frame rate (Hz)", self.fps)
        form.addRow("method", self.method)
        form.addRow("peak threshold (dF/F)", self.peak_threshold)
        form.addRow("min interval (s)", self.min_interval)
        form.addRow("SNR threshold", self.snr)
        form.addRow("k (sigma)", self.k)
        form.addRow("smoothing (s)", self.smooth)
        form.addRow(self.detect_button)

        self.filter = QComboBox()
        self.filter.addItems(FILTERS)
        self.cell_list = QListWidget()
        self.cell_list.setMaximumHeight(120)
        self.cell_list.setSelectionMode(QAbstractItemView.SingleSelection)
        self.prev_button, self.next_button = QPushButton("◀ Prev"), QPushButton("Next ▶")
        self.accept_button, self.reject_button = (
            QPushButton("Accept (Y)"),
            QPushButton("Reject (R)"),
        )
        self.reason = QComboBox()
        self.reason.addItems(REASONS)
        self.reason_text = QLineEdit(placeholderText="reason (other)")
        self.reason_text.setEnabled(False)
        self.reason.currentTextChanged.connect(lambda r: self.reason_text.setEnabled(r == "other"))
        self.roi_button = QPushButton("Add cell from polygon")
        self.roi_button.setToolTip("mean green/red inside the selected (or last) Shapes polygon")
        nav = QHBoxLayout()
        for w in (self.prev_button, self.next_button, self.filter):
            nav.addWidget(w)
        verdict = QHBoxLayout()
        for w in (self.accept_button, self.reject_button, self.reason, self.reason_text):
            verdict.addWidget(w)

        self.mode_label = QLabel("")
        self.add_button = QPushButton("Add mode (A)")
        self.add_button.setCheckable(True)
        self.delete_button = QPushButton("Delete (D)")
        self.undo_button, self.redo_button = QPushButton("Undo"), QPushButton("Redo")
        edit = QHBoxLayout()
        for w in (self.add_button, self.delete_button, self.undo_button, self.redo_button):
            edit.addWidget(w)
        self.canvas = TransientCanvas()

        self.transient_model, self.cell_model = DataFrameModel(), DataFrameModel()
        self.transient_view, self.cell_view = QTableView(), QTableView()
        self.tabs = QTabWidget()
        for view, model, name in (
            (self.transient_view, self.transient_model, "Transients"),
            (self.cell_view, self.cell_model, "Cells"),
        ):
            view.setModel(model)
            view.setSortingEnabled(True)
            view.setSelectionBehavior(QAbstractItemView.SelectRows)
            view.setEditTriggers(QAbstractItemView.NoEditTriggers)
            self.tabs.addTab(view, name)
        self.csv_button, self.xlsx_button = QPushButton("Export CSV…"), QPushButton("Export Excel…")
        self.figure_format = QComboBox()
        self.figure_format.addItems(["svg", "png", "pdf"])
        self.figures_button = QPushButton("Export figures…")
        export = QHBoxLayout()
        for w in (self.csv_button, self.xlsx_button, self.figure_format, self.figures_button):
            export.addWidget(w)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(nav)
        layout.addWidget(self.cell_list)
        layout.addLayout(verdict)
        layout.addWidget(self.roi_button)
        layout.addLayout(edit)
        layout.addWidget(self.mode_label)
        layout.addWidget(self.canvas, stretch=2)
        layout.addWidget(self.tabs, stretch=1)
        layout.addLayout(export)

    def _method_changed(self, method: str) -> None:
        rules = method == "rules"
        for w in (self.min_interval, self.snr):  # the peak threshold serves both methods
            w.setEnabled(rules)
        self.k.setEnabled(method == "ksigma")
        for w in (self.peak_threshold, self.smooth):  # a trained detector has its own
            w.setEnabled(method != "model")

    def handle_key(self, key: int, modifiers) -> bool:  # pragma: no cover - overridden
        return False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.KeyPress, QEvent.ShortcutOverride):
            probe = self._probe(event)
            if probe:
                if kind == QEvent.ShortcutOverride:
                    event.accept()
                    return True
                return self.handle_key(event.key(), event.modifiers())
        return super().eventFilter(obj, event)

    @staticmethod
    def _probe(event) -> bool:
        key, mods = event.key(), event.modifiers()
        if mods & Qt.ControlModifier:
            return key in (Qt.Key_Z, Qt.Key_Y)
        return not mods & Qt.AltModifier and key in (
            Qt.Key_A, Qt.Key_D, Qt.Key_Delete, Qt.Key_Backspace, Qt.Key_N, Qt.Key_Down,
            Qt.Key_P, Qt.Key_Up, Qt.Key_Y, Qt.Key_R, Qt.Key_U, Qt.Key_Escape,
        )  # fmt: skip
