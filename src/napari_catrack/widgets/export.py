"""The Export widget: everything the session holds, with checkboxes and formats, written to a
folder in one action, in the layout `catrack batch` uses per recording (docs/export.md).

Thin: the list is `export.available_items(session)` and the writing is `export.export_session`
in a `start_job` worker; the result (every file written, and what could not be written and why)
is shown below. NWB subject/session metadata come from a YAML file or the two boxes here (their
examples follow the session's kind), the NWB file's frame rate from the frame-rate box every widget
shares (`catrack export --fps`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from napari_catrack.errors import Cancelled, InputError
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._context_controls import FrameRateControl
from napari_catrack.widgets._dock import scroll_body
from napari_catrack.widgets._worker import start_job

if TYPE_CHECKING:
    import napari

#: the status line before the first export (it was blank) and while there is nothing to export
NOTHING_EXPORTED = "nothing exported yet: tick the items, choose a folder, then Export"
NOTHING_TO_EXPORT = "the session holds nothing to export yet"
#: the subject boxes' examples: (subject id, species) of a worm session, of a two-photon one
EXAMPLES = {False: ("worm7", "Caenorhabditis elegans"), True: ("mouse7", "Mus musculus")}


class ExportWidget(QWidget):
    """Check what to export, pick formats and a folder, press Export."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.items: list = []
        self.last_result = None
        self.job = None

        self.table = _ExportTable()
        self.table.setToolTip("Everything the session holds; tick what to write")
        all_button, none_button = QPushButton("All"), QPushButton("None")
        refresh = QPushButton("Refresh")
        all_button.clicked.connect(lambda: self.check_all(True))
        none_button.clicked.connect(lambda: self.check_all(False))
        refresh.clicked.connect(self.refresh)
        row = QHBoxLayout()
        for b in (all_button, none_button, refresh):
            row.addWidget(b)

        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder to write into")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder)
        folder_row.addWidget(browse)
        self.folder.textChanged.connect(lambda *_: self._path_tips())

        self.metadata = QLineEdit()
        self.metadata.setPlaceholderText("optional: NWB metadata YAML (docs/nwb.md)")
        self.subject = QLineEdit()  # (its example follows the session's kind: `_examples`)
        self.species = QLineEdit()
        # the NWB file's imaging rate, as `catrack export --fps`: the frame-rate box every
        # widget shares (a rate typed here is the session's, for the figures' time axes too)
        self.fps = FrameRateControl(napari_viewer)
        self.fps.spin.setToolTip(
            "frames per second of the imaging: the NWB file's rate and the figures' time axis "
            "(catrack export --fps); shared by every napari-catrack widget and stored in the "
            "session"
        )
        form = QFormLayout()
        form.addRow("NWB metadata file", self.metadata)
        form.addRow("subject id", self.subject)
        form.addRow("species", self.species)
        form.addRow("frame rate", self.fps)

        self.export_button = QPushButton("Export")
        self.export_button.clicked.connect(self.export)
        self.nwb_button = QPushButton("Export NWB file…")
        self.nwb_button.clicked.connect(self._ask_nwb)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        for b in (self.export_button, self.nwb_button, self.cancel_button):
            buttons.addWidget(b)
        self.bar = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.written = QPlainTextEdit()
        self.written.setReadOnly(True)
        self.written.setMaximumHeight(140)

        layout = scroll_body(self)  # scrolls and tabs with the other catrack docks
        layout.addWidget(QLabel("What the session holds"))
        layout.addWidget(self.table)
        layout.addLayout(row)
        layout.addWidget(QLabel("Folder"))
        layout.addLayout(folder_row)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.written)
        self.ctx.events.session.connect(lambda *_: self.refresh())
        self.refresh()

    # --- the list -------------------------------------------------------------------------
    def refresh(self) -> None:
        """List what the session holds now (keeping the user's ticks and formats)."""
        from napari_catrack.export import available_items

        self._examples()
        keep = {k: (on, fmt) for k, on, fmt in self._rows()}
        self.items = available_items(self.ctx.session)
        self.table.setRowCount(len(self.items))
        for r, item in enumerate(self.items):
            check = QTableWidgetItem(item.label)
            check.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled)
            on, fmt = keep.get(item.key, (True, item.default_format))
            check.setCheckState(Qt.Checked if on else Qt.Unchecked)
            check.setData(Qt.UserRole, item.key)
            check.setToolTip(item.label)
            self.table.setItem(r, 0, check)
            self.table.removeCellWidget(r, 1)  # (a row's item may have changed since)
            if len(item.formats) > 1:
                combo = QComboBox()
                combo.addItems(list(item.formats))
                combo.setCurrentText(fmt if fmt in item.formats else item.default_format)
                combo.currentTextChanged.connect(lambda _t, r=r: self._show_path(r))
                self.table.takeItem(r, 1)
                self.table.setCellWidget(r, 1, combo)
            else:  # one format, nothing to choose: its name, whole (a box cut it to "catrac")
                only = QTableWidgetItem(item.default_format)
                only.setFlags(Qt.ItemIsEnabled)
                only.setToolTip(f"written as {item.default_format} (its only format)")
                self.table.setItem(r, 1, only)
            self.table.setItem(r, 2, QTableWidgetItem(""))
            self._show_path(r)
        self.table.fit_columns()
        if not self.items:
            self.status.setText(NOTHING_TO_EXPORT)
        elif self.status.text() in ("", NOTHING_TO_EXPORT):  # (not the last export's summary)
            self.status.setText(NOTHING_EXPORTED)  # what will happen: it was blank till then

    def _examples(self) -> None:
        """The subject boxes' examples for the session's kind: a mouse for a two-photon session
        (sources, their traces or a motion correction: `two_photon_session`), else a worm
        (they said worm7, Caenorhabditis elegans over a mouse's cells: h21 leftover)."""
        from napari_catrack.core.sources.session import two_photon_session

        subject, species = EXAMPLES[two_photon_session(self.ctx.session)]
        self.subject.setPlaceholderText(f"e.g. {subject}")
        self.species.setPlaceholderText(f"e.g. {species}")

    def _format(self, r: int) -> str | None:
        """Row `r`'s format: its box's choice, or its only format."""
        combo = self.table.cellWidget(r, 1)
        if combo is not None:
            return combo.currentText()
        cell = self.table.item(r, 1)
        return None if cell is None else cell.text()

    def _show_path(self, r: int) -> None:
        path = self.items[r].relative_path(self._format(r))
        cell = QTableWidgetItem(path)
        cell.setFlags(Qt.ItemIsEnabled)
        cell.setData(Qt.UserRole, path)
        cell.setToolTip(self._full_path(path))
        self.table.setItem(r, 2, cell)

    def _full_path(self, path: str) -> str:
        """Where the file will be written: in the folder typed (the relative path until then)."""
        folder = _typed_path(self.folder.text(), self._base())
        return str(Path(folder) / path) if folder else path

    def _path_tips(self) -> None:
        for r in range(self.table.rowCount()):
            cell = self.table.item(r, 2)
            if cell is not None and cell.data(Qt.UserRole):
                cell.setToolTip(self._full_path(cell.data(Qt.UserRole)))

    def _rows(self) -> list[tuple[str, bool, str]]:
        out = []
        for r in range(self.table.rowCount()):
            cell, fmt = self.table.item(r, 0), self._format(r)
            if cell is not None and fmt is not None:
                out.append((cell.data(Qt.UserRole), cell.checkState() == Qt.Checked, fmt))
        return out

    def check_all(self, on: bool) -> None:
        for r in range(self.table.rowCount()):
            self.table.item(r, 0).setCheckState(Qt.Checked if on else Qt.Unchecked)

    def select(self, keys, formats: dict[str, str] | None = None) -> None:
        """Tick exactly `keys` (and set their formats): what a script or a test would click."""
        wanted = set(keys)
        for r, item in enumerate(self.items):
            self.table.item(r, 0).setCheckState(Qt.Checked if item.key in wanted else Qt.Unchecked)
            combo = self.table.cellWidget(r, 1)
            if formats and item.key in formats and combo is not None:
                combo.setCurrentText(formats[item.key])

    def selection(self) -> dict[str, str]:
        return {key: fmt for key, on, fmt in self._rows() if on}

    # --- writing --------------------------------------------------------------------------
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into folder")
        if folder:
            self.folder.setText(folder)

    meta_warnings: tuple[str, ...] = ()  # what reading the metadata said (a guessed time zone)

    def nwb_metadata(self, notify: bool = True) -> dict[str, Any]:
        """The metadata file plus the two boxes, checked. Its warnings (a session_start_time
        without time or zone, taken as local time) are kept in `meta_warnings`; `notify`: also
        as notifications now (the NWB button; the folder export shows them with the NWB file
        once it is written, and not at all when it is not)."""
        import warnings

        from napari.utils.notifications import show_warning

        from napari_catrack.io.nwb import check_metadata, metadata_gaps, read_metadata

        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            path = _typed_path(self.metadata.text(), self._base())
            meta = read_metadata(path) if path else {}
            subject = dict(meta.get("subject") or {})
            if self.subject.text().strip():
                subject["subject_id"] = self.subject.text().strip()
            if self.species.text().strip():
                subject["species"] = self.species.text().strip()
            if subject:
                meta["subject"] = subject
            meta = check_metadata(meta, where="NWB metadata")
        gaps = metadata_gaps(meta, self.ctx.session)  # no subject, no start time: as the CLI says
        self.meta_warnings = (*(str(w.message) for w in said), *gaps)
        for text in self.meta_warnings if notify else ():
            show_warning(f"napari-catrack: {text}")
        return meta

    def _nwb_fps(self) -> float | None:
        """The rate the frame-rate box shows, for the NWB file, where the session's own differs
        (a rate only the recording's layer states); None: the session's, which a rate typed in
        the box is (`ViewerContext.set_fps`), as `catrack export` without --fps."""
        fps = self.ctx.fps()
        return fps if fps and fps != self.ctx.session.frame_rate() else None

    def _base(self) -> Path | None:
        """Where a relative path typed into the widget starts: the session file's folder."""
        path = self.ctx.session.path
        return Path(path).parent if path is not None else None

    def _with_meta_warnings(self, text: str) -> str:
        return "; ".join([text, *(f"warning: {w}" for w in self.meta_warnings)])

    def export(self):
        """Write the ticked items into the folder (a background job); returns the job."""
        from napari_catrack.export import check_export_outputs, export_session
        from napari_catrack.export.write import partial_export_cancelled

        session = self.ctx.session
        self.status.setToolTip("")  # (the last export's details)
        try:
            folder = _typed_path(self.folder.text(), self._base())
            if not folder:
                raise InputError("choose the folder to export into")
            selection = self.selection()
            if not selection:
                raise InputError("tick at least one thing to export")
            self.meta_warnings = ()
            meta = self.nwb_metadata(notify=False) if "nwb" in selection else None
            fps = self._nwb_fps()
            # the CLI's check: never over an input, never into the TIFF-folder recording
            check_export_outputs(session, folder, selection, label="export folder")
        except InputError as exc:
            self.status.setText(str(exc))
            self.written.setPlainText("nothing written by this export")
            return None
        self.written.setPlainText("")  # the list shows what this run writes, nothing older

        def work(job):
            result = export_session(
                session,
                folder,
                selection,
                nwb_metadata=meta,
                nwb_fps=fps,
                progress=job.progress,
                cancel=job.cancelled,
            )
            if job.cancelled():  # cancelled after the last file: everything was written
                raise partial_export_cancelled(result, len(result.written) + len(result.failed))
            return result

        self.job = start_job(
            self,
            work,
            what="export",
            on_done=self._done,
            on_failed=self._failed,
            bar=self.bar,
            buttons=[self.export_button, self.nwb_button],
            cancel_button=self.cancel_button,
            status=self.status,
        )
        return self.job

    def _done(self, result) -> None:
        """One short summary line; the details (each item not written and why, then the files,
        the NWB file with its metadata warnings under it) in the list below and the line's
        tooltip. (All in the line, it was a 16-line wall of text: h16 first-hour walk.)"""
        self.last_result = result
        nwb = self._nwb_file()
        warned = self.meta_warnings if nwb is not None and nwb in result.written else ()
        lines = [f"NOT WRITTEN {label}: {why}" for label, why in result.failed]
        for path in result.written:
            lines.append(str(path))
            if path == nwb:
                lines += [f"    NWB metadata warning: {w}" for w in warned]
        n, m = len(result.written), len(result.failed)
        line = f"Wrote {n} file{'' if n == 1 else 's'} to {result.folder}"
        more = []
        if m:
            more.append(f"{m} item{'' if m == 1 else 's'} not written")
        if warned:
            more.append(f"{len(warned)} NWB metadata warning{'' if len(warned) == 1 else 's'}")
        if more:
            line += "; " + ", ".join(more) + " (details below)"
        self.status.setText(line)
        self.status.setToolTip("\n".join(lines))
        self.written.setPlainText("\n".join(lines))

    def _nwb_file(self) -> Path | None:
        """The NWB file's path in the export folder (relative), if the NWB item is ticked."""
        fmt = self.selection().get("nwb")
        item = next((i for i in self.items if i.key == "nwb"), None)
        return None if fmt is None or item is None else Path(item.relative_path(fmt))

    def _failed(self, exc: BaseException) -> None:
        """A cancelled or failed export: list what this run wrote before it stopped (its files
        are kept), not the previous export's files."""
        result = getattr(exc, "result", None)
        if result is None and not isinstance(exc, (Cancelled, InputError)):
            folder = _typed_path(self.folder.text(), self._base())
            self.written.setPlainText(
                f"the export stopped with an error; {folder} may hold files it wrote before"
            )
            return
        if result is None or not result.written:
            self.written.setPlainText("nothing written by this export")
            return
        lines = [f"written before it stopped ({len(result.written)} file(s)):"]
        lines += [str(p) for p in result.written]
        lines += [f"NOT WRITTEN {label}: {why}" for label, why in result.failed]
        self.written.setPlainText("\n".join(lines))

    def _ask_nwb(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "NWB file", "session.nwb", "NWB (*.nwb)")
        if path:
            self.export_nwb(path)

    def export_nwb(self, path: str | Path):
        """The NWB file alone, to a path of the user's choice (a shortcut to the NWB item).

        Cancel works as for the folder export: the file is written under a temporary name and
        renamed only when complete, so a cancelled export leaves no file at `path` and a
        previous one there unchanged."""
        from napari_catrack.io.nwb import write_nwb

        path = Path(path)
        if path.suffix.lower() != ".nwb":  # docs/nwb.md: the output name ends in .nwb
            path = path.with_name(path.name + ".nwb")
        try:
            meta = self.nwb_metadata()
        except InputError as exc:
            self.status.setText(str(exc))
            return None
        session, fps = self.ctx.session, self._nwb_fps()
        placed: list[Path] = []  # the file, once it replaced `path` (Cancel cannot undo that)

        def work(job) -> Path:
            written = write_nwb(
                session, path, metadata=meta, fps=fps, progress=job.progress, cancel=job.cancelled
            )
            placed.append(written)
            return placed[-1]

        def failed(exc: BaseException) -> None:
            if isinstance(exc, Cancelled) and placed:  # pressed after the file was in place
                self.status.setText(
                    f"Cancel came too late: the NWB file was already written, complete: {path}"
                )

        self.job = start_job(
            self,
            work,
            what="NWB export",
            on_done=lambda p: self.status.setText(
                self._with_meta_warnings(f"NWB file written: {p}")
            ),
            on_failed=failed,
            bar=self.bar,
            buttons=[self.export_button, self.nwb_button],
            cancel_button=self.cancel_button,  # the same Cancel as the folder export
            status=self.status,
        )
        return self.job


class _OneLine(QStyledItemDelegate):
    """Cells on one line ("catrack.h5" never wraps at its ".")."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.features &= ~QStyleOptionViewItem.WrapText
        option.textElideMode = Qt.ElideMiddle


class _PathCell(_OneLine):
    """A file's path, every character of it: on one line where it fits, else its folder on one
    line and its file name under it (`fit_path`). Eliding its middle to fit the 449 px dock that
    every widget shares cut the names that tell the files apart ("behaviour/c…terline.csv",
    "figures/tra…des.svg": h20 leftover); the rows are two or three lines tall for the item
    names beside them anyway."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        room = option.rect.width() - self.text_margins(option.widget)
        if room > 0:  # (0 while the view asks for a size without a column width)
            option.text = fit_path(option.text, option.fontMetrics, room)

    @staticmethod
    def text_margins(widget) -> int:
        """What a cell keeps beside its text (Qt's item text margin, both sides)."""
        from qtpy.QtWidgets import QApplication, QStyle

        style = widget.style() if widget is not None else QApplication.style()
        return 2 * (style.pixelMetric(QStyle.PM_FocusFrameHMargin, None, widget) + 1)


#: where `fit_path` breaks a path: Qt's line separator (a "\n" breaks the painted text but not
#: the size the cell asks for, so the row stayed one line tall)
LINE_BREAK = "\u2028"


def fit_path(path: str, metrics, room: int) -> str:
    """`path` as it reads in `room` px: whole on one line, else broken after its last "/" (the
    folder on the first line, the file name under it, `LINE_BREAK` between); a file name still
    too wide breaks after a "_" or "-" of its own ("transients_" over "amplitudes.svg"). Only a
    piece wider than the room alone loses its middle."""
    import re

    def width(text: str) -> int:
        return metrics.horizontalAdvance(text)

    def fit(text: str) -> str:
        return text if width(text) <= room else metrics.elidedText(text, Qt.ElideMiddle, room)

    if width(path) <= room or not any(c in path for c in "/_-"):
        return fit(path)
    folder, slash, name = path.rpartition("/")
    lines = [fit(folder + slash)] if slash else []
    for piece in re.findall(r"[^_-]+[_-]*|[_-]+", name):  # greedy: as much on a line as fits
        if lines and len(lines) > bool(slash) and width(lines[-1] + piece) <= room:
            lines[-1] += piece
        else:
            lines.append(piece)
    return LINE_BREAK.join(fit(line) for line in lines)


class _ExportTable(QTableWidget):
    """The items, their formats and files. The file column is as wide as its longest name while
    the item names keep `MIN_NAME` (room to read in two lines where the dock allows, h20); a path
    too long for it reads in two lines, its folder over its file name (`_PathCell`; whole in its
    tooltip too, with the export folder). Names wrap, rows grow
    to fit. The table asks for the width its columns need (the dock opens that wide where the
    window allows) and always shows several rows. (At 1300 x 800 the file column was 90 px, cut
    "session.catrack.h5" to "sessi…ck.h5", and the item names wrapped to 3-4 lines in 107 px with
    4 rows shown: h18 walk.) An item with one format shows it as text, whole: a box with one
    choice cut "catrack.h5" to "catrac" (h19)."""

    #: the item names' column: never narrower than this
    MIN_NAME = 150
    #: rows shown at least (the dock body scrolls for the rest of the widget)
    MIN_ROWS = 8

    def __init__(self) -> None:
        super().__init__(0, 3)
        self.setHorizontalHeaderLabels(["export", "format", "file"])
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(1, QHeaderView.Interactive)
        header.setSectionResizeMode(2, QHeaderView.Interactive)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.ElideMiddle)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.verticalHeader().setVisible(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setItemDelegateForColumn(1, _OneLine(self))  # "catrack.h5" never wraps at its "."
        self.setItemDelegateForColumn(2, _PathCell(self))  # a path: its folder over its name
        self.verticalHeader().sectionResized.connect(lambda *_: self._fit_height())  # rewrapped

    def _text_width(self, column: int) -> int:
        """The widest text of `column` on one line, with the cell's padding (and check box)."""
        metrics = self.fontMetrics()
        extra = 16 + (24 if column == 0 else 0)
        widths = [metrics.horizontalAdvance(self.item(r, column).text()) for r in range(self.rowCount()) if self.item(r, column)]  # fmt: skip
        return max(widths, default=0) + extra

    def _format_width(self) -> int:
        """As wide as the format boxes, and as the one-format names (\"catrack.h5\") whole."""
        boxes = [self.cellWidget(r, 1).sizeHint().width() for r in range(self.rowCount()) if self.cellWidget(r, 1)]  # fmt: skip
        names = [self._text_width(1)] if any(self.item(r, 1) for r in range(self.rowCount())) else []  # fmt: skip
        return max(70, min(max([*boxes, *names], default=70), 120))

    def _name_width(self) -> int:
        """What the item names need to read in two lines (word wrap needs some slack)."""
        metrics = self.fontMetrics()
        widths = [metrics.horizontalAdvance(self.item(r, 0).text()) for r in range(self.rowCount()) if self.item(r, 0)]  # fmt: skip
        return max(self.MIN_NAME, min(max(widths, default=0) // 2 + 30 + 40, 2 * self.MIN_NAME))

    def fit_columns(self) -> None:
        """Format as wide as its boxes, file as its longest name where the names keep `MIN_NAME`
        (else what is left, eliding), names the rest (two lines' width where there is room);
        `MIN_ROWS` rows tall at least."""
        fmt = self._format_width()
        self.setColumnWidth(1, fmt)
        files = self._text_width(2)
        # the names give up their two-line width (not MIN_NAME) before a file name loses its
        # middle: with every widget docked the dock was 449 px and "session.catrack.h5" read
        # "ses….h5", the names in two lines beside it (h20)
        left = self.viewport().width() - fmt
        names = max(self.MIN_NAME, min(self._name_width(), left - files))
        before = self.columnWidth(2)
        self.setColumnWidth(2, max(60, min(files, left - names)))
        if self.columnWidth(2) != before:  # a path may now need its second line, or not
            self.resizeRowsToContents()
        self._fit_height()

    def _fit_height(self) -> None:
        rows = min(self.rowCount(), self.MIN_ROWS)
        header = max(self.horizontalHeader().height(), self.horizontalHeader().sizeHint().height())
        height = header + 2 * self.frameWidth() + 2
        self.setMinimumHeight(height + sum(self.rowHeight(r) for r in range(rows)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    #: the width the table asks for at most (the dock beside a laptop's canvas)
    MAX_WIDTH = 460

    def sizeHint(self) -> QSize:
        chrome = 2 * self.frameWidth() + self.verticalScrollBar().sizeHint().width()
        need = self._text_width(0) + self._format_width() + self._text_width(2) + chrome
        return QSize(min(need, self.MAX_WIDTH), super().sizeHint().height())


def _typed_path(text: str, base: Path | None = None) -> str:
    """A path as typed, made absolute: `~` is the home folder (a shell's habit; it used to make a
    folder named `~` in the folder napari was started from), and a relative path is taken from
    `base`, the session file's folder (it was taken from wherever napari happened to be started,
    which the user cannot see), else from the current folder. "" stays ""."""
    text = text.strip()
    if not text:
        return text
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = (base if base is not None else Path.cwd()) / path
    return str(path)
