"""Layout of the transients widget (controls only; behaviour lives in `transients.py`) and the
keyboard routing: curation keys typed in the plot, the cell list or the tables go to
`handle_key`, while text fields and spin boxes keep their own typing."""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableView,
    QTabWidget,
    QWidget,
)

from napari_catrack.core.transients.curation import REASONS
from napari_catrack.core.transients.params import TransientParams
from napari_catrack.widgets._context_controls import FrameRateControl
from napari_catrack.widgets._dock import scroll_body
from napari_catrack.widgets._params_form import ParamsForm
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


class TransientsPanel(QWidget):
    """The widget's controls; subclasses implement `handle_key` and the actions."""

    def __init__(self, viewer) -> None:
        super().__init__()
        self._build(viewer)
        for w in (self, self.canvas, self.cell_list, self.transient_view, self.cell_view):
            w.installEventFilter(self)

    def _build(self, viewer) -> None:
        self.source_label = QLabel("no traces loaded")
        self.source_label.setWordWrap(True)
        self.session_button = QPushButton("Use session traces")
        self.load_button = QPushButton("Load traces CSV…")
        self.fps = FrameRateControl(viewer)
        # every detection setting of the three methods, defaults in one place (TransientParams)
        self.form = ParamsForm(TransientParams)
        self.method = self.form.control("method")
        self.peak_threshold = self.form.control("peak_threshold")
        self.min_interval = self.form.control("min_interval_s")
        self.snr = self.form.control("snr_threshold")
        self.k = self.form.control("k")
        self.abs_threshold = self.form.control("abs_threshold")
        self.smooth = self.form.control("smooth_window_s")
        self.detect_button = QPushButton("Detect")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar(minimum=0, maximum=100, value=0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.viewer_keys = QCheckBox("curation keys on the image too")
        self.viewer_keys.setChecked(True)
        self.viewer_keys.setToolTip(
            "N/P/Y/R/U/A/D also work when the image has the focus (while this widget is shown); "
            "refused while another widget (e.g. alignment nudging) holds one of these keys"
        )
        self.method.currentTextChanged.connect(self._method_changed)
        self._method_changed(self.method.currentText())

        src = QHBoxLayout()
        src.addWidget(self.session_button)
        src.addWidget(self.load_button)
        form = QFormLayout()
        form.addRow(self.source_label)
        form.addRow(src)
        form.addRow("frame rate", self.fps)
        form.addRow(self.form)
        run = QHBoxLayout()
        run.addWidget(self.detect_button)
        run.addWidget(self.cancel_button)
        form.addRow(run)
        form.addRow(self.bar)
        form.addRow(self.status)

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
        for w in (self.prev_button, self.next_button, QLabel("show"), self.filter):
            nav.addWidget(w)
        # two short rows rather than one wide one, so the dock fits beside a laptop's canvas
        verdict = QHBoxLayout()
        for w in (self.accept_button, self.reject_button):
            verdict.addWidget(w)
        reason_row = QHBoxLayout()
        for w in (QLabel("reason"), self.reason, self.reason_text):
            reason_row.addWidget(w)

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
        for w in (self.csv_button, self.xlsx_button):
            export.addWidget(w)
        figures = QHBoxLayout()
        for w in (QLabel("figures as"), self.figure_format, self.figures_button):
            figures.addWidget(w)

        self.body_layout = layout = scroll_body(self)
        layout.addLayout(form)
        cells_label = QLabel("Cells (N/P to step, Y accept, R reject, U unverified):")
        cells_label.setWordWrap(True)
        layout.addWidget(cells_label)
        layout.addLayout(nav)
        layout.addWidget(self.cell_list)
        layout.addLayout(verdict)
        layout.addLayout(reason_row)
        layout.addWidget(self.roi_button)
        layout.addLayout(edit)
        layout.addWidget(self.mode_label)
        layout.addWidget(self.viewer_keys)
        layout.addWidget(self.canvas, stretch=2)
        layout.addWidget(self.tabs, stretch=1)
        layout.addLayout(export)
        layout.addLayout(figures)

    def _method_changed(self, method: str) -> None:
        """Enable only the chosen method's own settings (their help starts with its name)."""
        owner = {"rules": "rules:", "ksigma": "k-sigma:", "model": "model:"}
        for info in TransientParams.fields():
            if info.name not in self.form.controls or info.name == "method":
                continue
            prefix = next(
                (p for p in owner.values() if info.meta.get("help", "").startswith(p)), ""
            )
            self.form.control(info.name).setEnabled(not prefix or prefix == owner[method])
        # a trained detector brings its own smoothing of the input
        self.smooth.setEnabled(method != "model")

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
