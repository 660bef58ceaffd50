"""The "model" detector controls of the transients widget: choose, train, save a detector.

Training runs `core.transients.training.train_detector` in a worker thread with a progress bar
and Cancel (the previous detector is kept); the trained detector is stored in the session
(step "transient_detector", weights as bytes) so it comes back with the session file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from napari.utils.notifications import show_warning
from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
)

from napari_catrack.core.transients.params import TrainDetectorParams
from napari_catrack.errors import CatrackError
from napari_catrack.widgets._common import show_info
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import report_exception, start_job

STEP = "transient_detector"


class DetectorPanel(QGroupBox):
    """Which trained detector the "model" method uses, and training a new one from curation.

    `training_source()` (given by the owner) returns (dff, neuron_ids, table, fps, statuses)
    with table frames indexing the columns of dff; `session()` returns the viewer's session.
    """

    def __init__(
        self,
        training_source: Callable,
        session: Callable,
        parent=None,
        status: QLabel | None = None,
    ) -> None:
        super().__init__("Trained detector (method: model)", parent)
        self._training_source = training_source
        self._session = session
        self._status = status  # the owner's status line: where a training's outcome is said
        self.detector = None  # None: the shipped detector
        self._saved = False  # whether the current trained detector is also in a file
        self.job = None
        self.last_outcome = ""

        self.name_label = QLabel("shipped (trained on Cascade ground truth)")
        self.name_label.setWordWrap(True)
        # the training settings, defaults in one place (TrainDetectorParams)
        self.form = ParamsForm(TrainDetectorParams)
        self.arch = self.form.control("arch")
        self.hidden = self.form.control("hidden")
        self.epochs = self.form.control("epochs")
        self.train_button = QPushButton("Train on curated cells")
        self.train_button.setToolTip(
            "learn from the transients of accepted cells (all but rejected if none is accepted)"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar(minimum=0, maximum=100, value=0)
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
        form.addRow(self.form)
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
        except KeyError:
            report_exception(CatrackError("the session's detector has no weights"), "detector")
            return
        except CatrackError as exc:
            report_exception(exc, "reading the session's detector")
            return
        self.set_detector(det, str(rec.attrs.get("label", "")) or None, record=False)

    def load(self, path: str | Path) -> bool:
        from napari_catrack.core.transients.learned import load_detector

        try:
            det = load_detector(path)
        except CatrackError as exc:
            report_exception(exc, "loading a detector")
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
            report_exception(exc, "saving the detector")
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
        from napari_catrack.core.transients.learned import DetectorConfig
        from napari_catrack.core.transients.training import (
            train_detector,
            training_data,
            undertrained,
        )

        try:
            dff, ids, table, fps, statuses = self._training_source()
            traces, intervals, used = training_data(dff, ids, table, fps, statuses)
            settings = self.form.params()
            cfg = DetectorConfig(**settings.network()).check()
        except CatrackError as exc:
            report_exception(exc, "training")
            return None
        meta = {"cells": [str(i) for i in used], "trained_on": "curated in napari"}

        def work(job):
            det = train_detector(traces, fps, intervals, cfg, settings, meta=meta,
                                 progress=job.progress, should_stop=job.cancelled)  # fmt: skip
            if det.meta.get("stopped_early"):
                return det, None
            # does it find its own labels? (`catrack train-detector` checks the same)
            said = undertrained(det, traces, fps, intervals)
            return det, said and f"{said}: train longer (epochs; {settings.epochs} now)"

        # no other detector may be chosen while one trains: the result would replace it
        buttons = [self.train_button, self.load_button, self.save_button, self.shipped_button]
        self.job = start_job(self, work, what="training detector", on_done=self._on_trained,
                             on_failed=self._on_error, bar=self.bar, buttons=buttons,
                             cancel_button=self.cancel_button)  # fmt: skip
        return self.job

    @property
    def worker(self):
        """The running job (None when idle)."""
        return self.job if self.job is not None and self.job.running else None

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_trained(self, result) -> None:
        det, said = result
        if det.meta.get("stopped_early"):
            self.bar.setValue(0)
            self.bar.setFormat("%p%")
            self._say("training cancelled; the previous detector is kept")
            return
        self.set_detector(det)
        text = (
            f"trained {det.config.arch} in {det.meta['train_seconds']} s "
            f"(final loss {det.meta['final_loss']}); method 'model' now uses it"
        )
        if said:
            text += f"; warning: {said}"
            show_warning(f"napari-catrack: {said}")
        self._say(text)

    def _say(self, text: str) -> None:
        self.last_outcome = text
        show_info(f"napari-catrack: {text}")
        if self._status is not None:
            self._status.setText(text)

    def _on_error(self, exc: BaseException) -> None:
        self.last_outcome = f"training failed: {exc}"
