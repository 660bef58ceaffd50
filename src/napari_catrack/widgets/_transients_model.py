"""The "model" detector controls of the transients widget: choose, train, save a detector.

Training runs `core.transients.learned.train_detector` in a worker thread with a progress bar
and Cancel (the previous detector is kept); the trained detector is stored in the session
(step "transient_detector", weights as bytes) so it comes back with the session file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
)

from napari_catrack.errors import CatrackError
from napari_catrack.widgets._common import progress_relay, show_error, show_info

STEP = "transient_detector"


class DetectorPanel(QGroupBox):
    """Which trained detector the "model" method uses, and training a new one from curation.

    `training_source()` (given by the owner) returns (dff, neuron_ids, table, fps, statuses)
    with table frames indexing the columns of dff; `session()` returns the viewer's session.
    """

    def __init__(self, training_source: Callable, session: Callable, parent=None) -> None:
        super().__init__("Trained detector (method: model)", parent)
        self._training_source = training_source
        self._session = session
        self.detector = None  # None: the shipped detector
        self._saved = False  # whether the current trained detector is also in a file
        self.worker = None
        self.last_outcome = ""
        self._cancel = threading.Event()

        self.name_label = QLabel("shipped (trained on Cascade ground truth)")
        self.name_label.setWordWrap(True)
        self.arch = QComboBox()
        self.arch.addItems(["gru", "lstm", "transformer"])
        self.hidden = QSpinBox(minimum=4, maximum=256, value=32)
        self.hidden.setToolTip("hidden units per layer: more learns more, trains slower")
        self.epochs = QSpinBox(minimum=1, maximum=500, value=20)
        self.epochs.setToolTip("passes over the curated traces")
        self.train_button = QPushButton("Train on curated cells")
        self.train_button.setToolTip(
            "learn from the transients of accepted cells (all but rejected if none is accepted)"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar(minimum=0, maximum=100, value=0)
        self._progress = progress_relay(self.bar, self)
        self.load_button = QPushButton("Load…")
        self.save_button = QPushButton("Save…")
        self.shipped_button = QPushButton("Use shipped")

        files = QHBoxLayout()
        for w in (self.load_button, self.save_button, self.shipped_button):
            files.addWidget(w)
        train = QHBoxLayout()
        for w in (self.train_button, self.cancel_button):
            train.addWidget(w)
        form = QFormLayout(self)
        form.addRow(self.name_label)
        form.addRow(files)
        form.addRow("architecture", self.arch)
        form.addRow("hidden units", self.hidden)
        form.addRow("epochs", self.epochs)
        form.addRow(train)
        form.addRow(self.bar)

        self.train_button.clicked.connect(self.train)
        self.cancel_button.clicked.connect(self.cancel)
        self.load_button.clicked.connect(self._ask_load)
        self.save_button.clicked.connect(self._ask_save)
        self.shipped_button.clicked.connect(self.use_shipped)

    # ------------------------------------------------------------ which detector
    def current(self):
        """The detector for `detect_transients(..., model=...)`: None means the shipped one."""
        return self.detector

    def use_shipped(self) -> bool:
        """Back to the shipped detector; a trained one that was never saved to a file is
        removed from the session only after the user agrees."""
        if self.detector is not None and not self._saved and not self._confirm_discard():
            return False
        self.set_detector(None)
        return True

    def _confirm_discard(self) -> bool:
        from qtpy.QtWidgets import QMessageBox

        answer = QMessageBox.question(
            self,
            "Discard the trained detector?",
            "The detector trained here has not been saved to a file; going back to the shipped "
            "one removes it from the session. Discard it?",
        )
        return answer == QMessageBox.Yes

    def set_detector(self, detector, label: str | None = None, record: bool = True) -> None:
        self.detector = detector
        self._saved = False
        if detector is None:
            self.name_label.setText("shipped (trained on Cascade ground truth)")
            if record and STEP in self._session():
                self._session().remove(STEP)
            return
        m = detector.meta
        text = label or (
            f"{detector.config.arch}, trained here on {len(m.get('cells', []))} cells, "
            f"{m.get('n_labelled_transients', '?')} transients"
        )
        self.name_label.setText(text)
        if record:
            self._session().record(
                STEP,
                arrays={"weights": np.frombuffer(detector.to_bytes(), np.uint8)},
                attrs={"label": text, "arch": detector.config.arch},
                params={k: v for k, v in m.items() if isinstance(v, int | float | str | bool)},
            )

    def restore(self) -> None:
        """Take the detector stored in the session, if any."""
        from napari_catrack.core.transients.learned import detector_from_bytes

        session = self._session()
        if STEP not in session:  # a session without one: back to the shipped detector
            self.set_detector(None, record=False)
            return
        rec = session[STEP]
        try:
            det = detector_from_bytes(rec.arrays["weights"].tobytes())
        except (CatrackError, KeyError) as exc:
            show_error(f"napari-catrack: the session's detector could not be read: {exc}")
            return
        self.set_detector(det, str(rec.attrs.get("label", "")) or None, record=False)

    def load(self, path: str | Path) -> bool:
        from napari_catrack.core.transients.learned import load_detector

        try:
            det = load_detector(path)
        except CatrackError as exc:
            show_error(f"napari-catrack: {exc}")
            return False
        self.set_detector(det, f"{det.config.arch} from {Path(path).name}")
        self._saved = True
        return True

    def save(self, path: str | Path) -> Path | None:
        from napari_catrack.core.transients.learned import default_detector, save_detector

        try:
            out = save_detector(self.detector or default_detector(), path)
            self._saved = self.detector is not None
            return out
        except CatrackError as exc:
            show_error(f"napari-catrack: {exc}")
            return None

    def _ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Transient detector", "", "Detector (*.pt)")
        if path:
            self.load(path)

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Transient detector", "detector.pt")
        if path:
            self.save(path)

    # ------------------------------------------------------------ training
    def train(self):
        """Train a new detector on the curated cells in a worker; returns the worker."""
        from napari_catrack.core.transients.learned import (
            DetectorConfig,
            train_detector,
            training_data,
        )

        try:
            dff, ids, table, fps, statuses = self._training_source()
            traces, intervals, used = training_data(dff, ids, table, fps, statuses)
            cfg = DetectorConfig(arch=self.arch.currentText(), hidden=self.hidden.value()).check()
        except CatrackError as exc:
            show_error(f"napari-catrack: {exc}")
            return None
        epochs = self.epochs.value()
        meta = {"cells": [str(i) for i in used], "trained_on": "curated in napari"}

        def work():
            return train_detector(traces, fps, intervals, cfg, epochs=epochs, meta=meta,
                                  progress=self._progress.report,
                                  should_stop=self._cancel.is_set)  # fmt: skip

        self._cancel.clear()
        self._set_running(True)
        self._progress.start("training detector")
        worker = create_worker(work, _ignore_errors=True)
        worker.returned.connect(self._on_trained)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()
        return worker

    def cancel(self) -> None:
        self._cancel.set()

    def _on_trained(self, det) -> None:
        if det.meta.get("stopped_early"):
            self.bar.setValue(0)
            self.bar.setFormat("%p%")
            self.last_outcome = "training cancelled; the previous detector is kept"
            show_info(f"napari-catrack: {self.last_outcome}")
            return
        self.set_detector(det)
        self.last_outcome = (
            f"trained {det.config.arch} in {det.meta['train_seconds']} s "
            f"(final loss {det.meta['final_loss']}); method 'model' now uses it"
        )
        show_info(f"napari-catrack: {self.last_outcome}")

    def _on_error(self, exc: BaseException) -> None:
        self.last_outcome = f"training failed: {exc}"
        show_error(f"napari-catrack: {self.last_outcome}")

    def _set_running(self, running: bool) -> None:
        # no other detector may be chosen while one trains: the result would replace it
        for b in (self.train_button, self.load_button, self.save_button, self.shipped_button):
            b.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _on_finished(self) -> None:
        self._set_running(False)
        self._progress.finish()
        self.worker = None
