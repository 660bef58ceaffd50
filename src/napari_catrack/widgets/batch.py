"""Batch widget: a manifest built from the recordings open in napari (and any added files), run
with `catrack batch`'s runner in the background, recordings counted as they finish and the
report shown at the end (failed steps and their reasons on the status line).

Thin: the manifest is the documented one (docs/batch.md; "Save manifest…" writes it for the
command line), the run is `batch.runner.run_batch` in a `start_job` worker, the parameters are
those the session used (each step's recorded parameters that differ from the defaults) unless
unticked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.batch.manifest import DEFAULT_EXPORT, EXPORTS, export_keys
from napari_catrack.batch.steps import STEPS, session_params
from napari_catrack.errors import InputError
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import StatusLine
from napari_catrack.widgets._worker import start_job

if TYPE_CHECKING:
    import napari

DEFAULT_STEPS = ("align", "detect", "track", "traces", "transients")
HEADER = "# napari-catrack batch manifest (written by the Batch widget)\n"
# the report table's headers: shown (short, to fit the dock) -> the report.csv column it shows
REPORT_HEADERS = {"recording": "recording", "step": "step", "status": "status",
                  "s": "seconds the step took", "message": "message"}  # fmt: skip
OPEN_OPTION_KEYS = ("layout", "green_channel", "red_channel", "dataset", "axes", "z_projection")


def _file_fps(entry: dict[str, Any]) -> float | None:
    """The frame rate a manifest entry's file states (None: none, or it cannot be read here; the
    manifest check then says why)."""
    from napari_catrack.io.recording import open_recording

    options = {k: v for k, v in entry.items() if k in OPEN_OPTION_KEYS}
    try:
        rec = open_recording(entry["path"], **options)
    except Exception:  # only a hint for the frame rate
        return None
    try:
        return rec.fps
    finally:
        rec.close()


class BatchWidget(QWidget):
    """Recordings, steps, output folder, workers: Run."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.job = None
        self.result = None

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["name", "recording", "seeds (optional)"])
        self.table.horizontalHeader().setStretchLastSection(True)
        # paths are cut on the left: the file name tells the recordings apart (all rows of one
        # folder showed the same "/home/user/..."); the whole path is the cell's tooltip
        self.table.setTextElideMode(Qt.ElideLeft)
        self.table.setWordWrap(False)  # a wrapped cell is cut on the right whatever the mode
        self.table.itemChanged.connect(_path_tooltip)
        add_open, self.add_files_button, self.add_folder_button, remove = (
            QPushButton("Add open recordings"),
            QPushButton("Add files…"),
            QPushButton("Add folder…"),
            QPushButton("Remove"),
        )
        self.add_folder_button.setToolTip("a .zarr movie or a folder of TIFF frames")
        add_open.clicked.connect(self.add_open_recordings)
        self.add_files_button.clicked.connect(self._ask_files)
        self.add_folder_button.clicked.connect(self._ask_folder)
        remove.clicked.connect(self._remove_current)
        rows = QHBoxLayout()  # two short rows: one wide row made the dock scroll sideways
        for b in (add_open, remove):
            rows.addWidget(b)
        add_rows = QHBoxLayout()
        for b in (self.add_files_button, self.add_folder_button):
            add_rows.addWidget(b)
        self.step_boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout()
        for i, name in enumerate(STEPS):
            box = QCheckBox(name)
            box.setChecked(name in DEFAULT_STEPS)
            self.step_boxes[name] = box
            # three a row: four made the dock scroll sideways at 1300 x 800 (389 px > 382)
            grid.addWidget(box, i // 3, i % 3)
        # what each recording writes after its steps: the manifest's `export` and
        # `nwb_metadata` (batch.manifest.export_keys, as `catrack batch` reads them)
        self.export_boxes: dict[str, QCheckBox] = {}
        export_row = QHBoxLayout()
        export_row.addWidget(QLabel("export"))
        for name in EXPORTS:
            box = QCheckBox(name)
            box.setChecked(name in DEFAULT_EXPORT)
            box.toggled.connect(self._nwb_fields)
            self.export_boxes[name] = box
            export_row.addWidget(box)
        export_row.addStretch(1)
        self.nwb_metadata = QLineEdit()
        self.nwb_metadata.setPlaceholderText("NWB metadata: YAML (optional)")
        self.nwb_metadata.setToolTip(
            "the subject and session of each recording's session.nwb: a YAML file with the keys "
            "of catrack export-nwb --metadata (the manifest's nwb_metadata; docs/nwb.md)"
        )
        self.nwb_choose = QPushButton("Choose…")
        self.nwb_choose.clicked.connect(self._ask_nwb_metadata)
        nwb_row = QHBoxLayout()
        nwb_row.addWidget(self.nwb_metadata)
        nwb_row.addWidget(self.nwb_choose)
        self._nwb_fields()
        self.use_session = QCheckBox("use this session's parameters")
        self.use_session.setChecked(True)
        self.output = QLineEdit()
        self.output.setPlaceholderText("output folder")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._ask_output)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output)
        out_row.addWidget(choose)
        self.workers = QSpinBox()
        self.workers.setRange(1, 64)
        self.workers.setValue(2)
        self.workers.setToolTip("recordings processed at the same time")
        # its own labelled row: as a prefix inside a narrow box it showed "workers: :"
        workers_row = QHBoxLayout()
        workers_row.addWidget(QLabel("workers"))
        workers_row.addWidget(self.workers)
        workers_row.addStretch(1)
        self.save_button = QPushButton("Save manifest…")
        self.save_button.clicked.connect(self._ask_save)
        self.run_button = QPushButton("Run batch")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        for w in (self.save_button, self.run_button, self.cancel_button):
            buttons.addWidget(w)
        self.bar = QProgressBar()
        self.status = StatusLine()  # wrapped; no blank line under the progress bar while empty
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.report = QTableWidget(0, 5)
        # the columns fit the dock (at 1300 x 800 it scrolled sideways and cut "seconds"): short
        # headers (each whole header in its tooltip), step/status/s as wide as their text, the
        # recording and the message share the rest, elided (a row's message is its tooltip and
        # the failures are listed in the status line)
        self.report.setHorizontalHeaderLabels(list(REPORT_HEADERS))
        header = self.report.horizontalHeader()
        for c, (short, full) in enumerate(REPORT_HEADERS.items()):
            self.report.horizontalHeaderItem(c).setToolTip(full)
            fitted = short in ("step", "status", "s")
            header.setSectionResizeMode(c, QHeaderView.ResizeToContents if fitted else QHeaderView.Stretch)  # fmt: skip
        self.report.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.report.setTextElideMode(Qt.ElideMiddle)
        self.report.setWordWrap(False)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(QLabel("Recordings"))
        layout.addWidget(self.table)
        layout.addLayout(rows)
        layout.addLayout(add_rows)
        layout.addWidget(QLabel("Steps"))
        layout.addLayout(grid)
        layout.addLayout(export_row)
        layout.addLayout(nwb_row)
        layout.addWidget(self.use_session)
        layout.addLayout(out_row)
        layout.addLayout(workers_row)
        layout.addLayout(buttons)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.report)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        QVBoxLayout(self).addWidget(scroll)
        self.add_open_recordings()

    # --- recordings ---------------------------------------------------------------------------
    def _add(self, path: str, name: str = "", seeds: str = "", options: dict | None = None) -> None:
        if any(self.table.item(r, 1).text() == str(path) for r in range(self.table.rowCount())):
            return
        r = self.table.rowCount()
        self.table.insertRow(r)
        for c, text in enumerate((name, str(path), seeds)):
            self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.item(r, 1).setData(Qt.UserRole, dict(options or {}))
        self.table.item(r, 0).setData(Qt.UserRole, None if name else "")  # "": not the user's
        self._fill_names()

    def _remove_current(self) -> None:
        self.table.removeRow(self.table.currentRow())
        self._fill_names()

    def _fill_names(self) -> None:
        """The name column shows each recording's folder name in the batch: the manifest's own
        naming (`batch.manifest.default_names`: the file stem, the folder in front for stems
        used twice), kept up to date as rows come and go; a name typed in stays."""
        from napari_catrack.batch.manifest import case_insensitive, default_names

        rows = range(self.table.rowCount())
        paths = [self.table.item(r, 1).text() for r in rows]
        typed = [None if self._auto_name(r) else self.table.item(r, 0).text() for r in rows]
        out = self.output.text().strip()  # Rec1 and rec1: one folder only where it says so
        try:
            names = default_names(paths, typed, fold_case=bool(out) and case_insensitive(out))
        except InputError:  # e.g. a typed name used twice: the manifest check says so at Run
            return
        blocked = self.table.blockSignals(True)
        try:
            for r, name in zip(rows, names):
                if self._auto_name(r):
                    self.table.item(r, 0).setText(name)
                    self.table.item(r, 0).setData(Qt.UserRole, name)
        finally:
            self.table.blockSignals(blocked)

    def _auto_name(self, row: int) -> bool:
        """Whether row `row`'s name is the one `_fill_names` put there (not typed by the user)."""
        item = self.table.item(row, 0)
        auto = item.data(Qt.UserRole) if item is not None else None
        return item is None or (auto is not None and item.text() in ("", auto))

    def _open_layers_meta(self) -> list[dict]:
        out = []
        for layer in self.viewer.layers:
            meta = layer.metadata.get("catrack", {}) if hasattr(layer, "metadata") else {}
            if (
                meta.get("role") in ("green", "red")
                and meta.get("path")
                and Path(meta["path"]).exists()
            ):
                out.append(meta)
        return out

    def _open_paths(self) -> list[str]:
        return [meta["path"] for meta in self._open_layers_meta()]

    def add_open_recordings(self) -> None:
        """The recordings behind the viewer's image layers (each once, with its open options)."""
        for meta in self._open_layers_meta():
            self._add(meta["path"], options=meta.get("options"))

    def _ask_files(self) -> None:
        """Recording files: every kind `catrack batch` reads (`io.recording`); a .zarr movie or a
        folder of TIFFs is a folder: Add folder…."""
        from napari_catrack.io.recording import RECORDING_FILE_SUFFIXES

        patterns = " ".join(f"*{s}" for s in RECORDING_FILE_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Recordings", "", f"Recordings ({patterns});;All files (*)"
        )
        for p in paths:
            self._add(p)

    def _ask_folder(self) -> None:
        """A .zarr movie or a folder of TIFF frames (what `catrack batch` reads as a folder)."""
        from napari_catrack.io.recording import recording_folder_problem

        folder = QFileDialog.getExistingDirectory(self, "Recording folder (.zarr or TIFF frames)")
        if not folder:
            return
        problem = recording_folder_problem(folder)
        if problem:
            self.status.setText(problem)
            return
        self._add(folder)

    def _ask_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Batch output folder")
        if folder:
            self.output.setText(folder)

    def _nwb_fields(self, *_: Any) -> None:
        """The NWB metadata file counts with nwb ticked only (the manifest refuses it without)."""
        on = self.export_boxes["nwb"].isChecked()
        self.nwb_metadata.setEnabled(on)
        self.nwb_choose.setEnabled(on)

    def _ask_nwb_metadata(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "NWB metadata", "", "YAML (*.yaml *.yml);;All files (*)"
        )
        if path:
            self.nwb_metadata.setText(path)

    # --- the manifest -------------------------------------------------------------------------
    def steps(self) -> list[str]:
        return [name for name, box in self.step_boxes.items() if box.isChecked()]

    def exports(self) -> list[str]:
        return [name for name, box in self.export_boxes.items() if box.isChecked()]

    def manifest_dict(self) -> dict[str, Any]:
        """The manifest these controls describe (docs/batch.md)."""
        steps = self.steps()
        if not steps:
            raise InputError("tick at least one step")
        if not self.table.rowCount():
            raise InputError("add at least one recording")
        defaults: dict[str, Any] = {"steps": steps}
        defaults.update(export_keys(self.exports(), self.nwb_metadata.text()))
        # the rate in force goes to the open recording and to files that state none, never to the
        # defaults: a file added beside it that states its own rate was retimed to the viewer's
        fps = self.ctx.fps()
        open_paths = {str(p) for p in self._open_paths()}
        if self.use_session.isChecked():
            params = session_params(self.ctx.session, steps)
            if params:
                defaults["params"] = params
        recordings = []
        for r in range(self.table.rowCount()):
            entry: dict[str, Any] = {"path": self.table.item(r, 1).text()}
            options = self.table.item(r, 1).data(Qt.UserRole) or {}
            entry.update(
                {k: v for k, v in options.items() if k in OPEN_OPTION_KEYS and v is not None}
            )
            if fps and (entry["path"] in open_paths or _file_fps(entry) is None):
                entry["fps"] = fps
            for c, key in ((0, "name"), (2, "seeds")):
                if c == 0 and self._auto_name(r):
                    continue  # the manifest's own name for it: left to the manifest
                text = self.table.item(r, c).text().strip() if self.table.item(r, c) else ""
                if text:
                    entry[key] = text
            recordings.append(entry)
        return {"defaults": defaults, "recordings": recordings}

    def write_manifest(self, path: str | Path, data: dict[str, Any] | None = None) -> Path:
        import yaml

        from napari_catrack.io.atomic import write_text_atomic

        data = self.manifest_dict() if data is None else data
        return write_text_atomic(path, HEADER + yaml.safe_dump(data, sort_keys=False))

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Manifest", "manifest.yaml", "YAML (*.yaml)")
        if path:
            try:
                self.status.setText(f"manifest written: {self.write_manifest(path)}")
            except InputError as exc:
                self.status.setText(str(exc))

    # --- running --------------------------------------------------------------------------------
    def run(self):
        """Check, write DIR/manifest.yaml and run it on a local cluster in the background."""
        from napari_catrack.batch.manifest import parse_manifest
        from napari_catrack.batch.runner import check_batch_output, run_batch

        try:  # everything is checked before DIR/manifest.yaml is written
            out = self.output.text().strip()
            if not out:
                raise InputError("choose an output folder")
            folder = Path(out)
            if folder.exists() and not folder.is_dir():
                raise InputError(f"{folder} is a file, not a folder; choose a folder for the batch")
            data = self.manifest_dict()
            manifest = parse_manifest(data, folder, "manifest.yaml", output=folder)
            check_batch_output(manifest, folder, label="output folder")
            target = folder / "manifest.yaml"
            if target.exists() and not _ours(target):
                raise InputError(
                    f"{target} is not a manifest this widget wrote; write the batch results to a "
                    "folder of their own"
                )
            self.write_manifest(target, data)
        except InputError as exc:
            self.status.setText(str(exc))
            return None
        workers = self.workers.value()

        def work(job):
            lines, done = [], [0]  # recordings finished so far

            def log(line: str) -> None:
                lines.append(line)  # (a worker's warning: the bar stays where it is; it went
                job.progress(done[0], len(manifest.recordings), line)  # back to 0 here)

            def progress(d: int, total: int, name: str) -> None:
                done[0] = d
                job.progress(d, total, f"{name} finished" if name else "")

            return run_batch(
                manifest, out, workers=workers, log=log, cancel=job.cancelled, progress=progress
            )

        self.job = start_job(
            self,
            work,
            what="batch",
            on_done=self._show,
            on_failed=self._show_cancelled,
            bar=self.bar,
            buttons=[self.run_button, self.save_button],
            cancel_button=self.cancel_button,
            status=self.status,
            cancel_keeps_progress=True,  # the recordings that finished are kept
        )
        return self.job

    def _show(self, result) -> None:
        self.result = result
        why = self._fill_report(result.report)
        self.status.setText("\n".join([f"{result.summary()} -> {result.output}", *why]))

    def _show_cancelled(self, exc: BaseException) -> None:
        """Cancel after some recordings finished: their rows (their files are kept on disk);
        the status line keeps the cancel message, then what failed among them."""
        from napari_catrack.batch.runner import BatchCancelled

        if isinstance(exc, BatchCancelled):
            why = self._fill_report(exc.report)
            self.status.setText("\n".join([str(exc), *why]))

    def _fill_report(self, report) -> list[str]:
        """The report's rows in the table (failed rows marked); returns the status lines naming
        what failed and why, as `catrack batch` prints it (the message column is off to the
        right of a docked widget)."""
        from napari_catrack.batch.runner import failure_lines

        self.report.setRowCount(len(report))
        shade = {"failed": QColor(200, 60, 60, 90), "cancelled": QColor(128, 128, 128, 70)}
        for r, row in enumerate(report.itertuples(index=False)):
            for c, value in enumerate(row):
                text = f"{value:.1f}" if c == 3 and isinstance(value, float) else str(value)
                item = QTableWidgetItem(text)  # (seconds to 0.1 s: a narrow column)
                item.setToolTip(str(row.message))  # the reason, without scrolling to its column
                if row.status in shade:
                    item.setBackground(shade[row.status])
                self.report.setItem(r, c, item)
        why = failure_lines(report)
        more = [f"(and {len(why) - 5} more failed steps)"] if len(why) > 5 else []
        return why[:5] + more


def _path_tooltip(item: QTableWidgetItem) -> None:
    if item.column() and item.toolTip() != item.text():
        item.setToolTip(item.text())


def _ours(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline() == HEADER
    except (OSError, UnicodeDecodeError):
        return False
