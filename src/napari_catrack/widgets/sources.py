"""Sources widget: summary images, CNMF-style extraction or an import, evaluation, curation.

Thin: the work is `core.summary.summary_images`, `core.sources.extract_sources`,
`io.tool_outputs.read_tool_output`, `io.imagej_rois.read_imagej` (hand-drawn ImageJ/Fiji ROIs
over the chosen movie layer) and `core.sources.refit.refit_components`, each in a `start_job`
worker. What the user sees and edits are layers and the session:
- summary images (mean, max, std, correlation, PNR) as image layers;
- footprints as an editable Labels layer ("footprints": paint a missing cell with a new label,
  or reshape one, then "Fit drawn/edited cells") plus a contour Labels layer;
- evaluation thresholds with a live count of accepted components;
- Accept / Reject of the selected component write the same cell verdicts the transients
  curation uses (session step "transients", table "verdicts"); erasing a component's whole
  label in "footprints" rejects it (reason "deleted in the footprints layer"; the layer's undo,
  or Accept, brings it back). Verdict edits are announced with `ViewerContext.verdicts_changed`,
  so other widgets reload the verdicts only;
- the traces become the session's "traces" step, so transients, curation, ensembles and
  exports work on them unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from napari.utils.notifications import show_warning
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QWidget,
)

from napari_catrack.core.sources import EvaluationParams, SourcesParams, extract_sources
from napari_catrack.core.sources.evaluation import judge, rejudged, untested
from napari_catrack.core.sources.imported import tool_name
from napari_catrack.core.sources.params import NeuropilParams
from napari_catrack.core.sources.session import (
    DELETED,
    IMPORTED,
    check_against_movie,
    imported_tool,
    label_offset,
    labels_from_footprints,
    plane_labels,
    record_sources,
    set_verdict,
    shown_labels,
    sources_from_session,
    status_of,
    sync_deleted_labels,
)
from napari_catrack.errors import InputError
from napari_catrack.io.tool_outputs import TOOLS, read_at_rate_in_force, read_tool_output
from napari_catrack.layers import label_axes
from napari_catrack.session import attach_session
from napari_catrack.widgets._common import layer_source_path
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._context_controls import FrameRateControl
from napari_catrack.widgets._dock import FittedList, StatusLine
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import reported, reports_errors, start_job
from napari_catrack.widgets.registration import ROLE, movie_layers, scrolled_column

if TYPE_CHECKING:
    import napari

FOOTPRINTS = "footprints"
IMAGEJ = "imagej"  # hand-drawn ImageJ/Fiji ROIs: read over the chosen movie, not a tool's output
CONTOURS = "footprint contours"
PLANE_FOOTPRINTS = "plane footprints"  # role of the per-plane layers ("footprints plane N")
#: the status line while nothing has run: what the movie box holds, then the next step (it read
#: "choose the (registered) movie" with a movie already chosen, h18 walk)
NO_MOVIE = "no movie yet: open or register a (T, Y, X) movie"
MOVIE_CHOSEN = "movie '{}': make summary images, extract sources or import them"
SUMMARY_COLORMAPS = {"mean": "gray", "max": "gray", "std": "magma", "correlation": "viridis", "pnr": "inferno"}  # fmt: skip


class SourcesWidget(QWidget):
    """Find (or import) cells in a head-fixed movie, judge them, and hand their traces on."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.job = None

        self.movie = QComboBox()
        self.summary_button = QPushButton("Summary images")
        self.summary_button.clicked.connect(self.run_summary)
        self.form = ParamsForm(SourcesParams)
        self.fps = FrameRateControl(napari_viewer)  # shared with every widget and the session
        self.extract_button = QPushButton("Extract sources")
        self.extract_button.clicked.connect(self.run_extract)
        self.tool = QComboBox()
        self.tool.addItems((*TOOLS, IMAGEJ))
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip(
            "suite2p output folder, CaImAn results .hdf5, Minian folder or .nc, or ImageJ/Fiji "
            "ROIs (RoiSet .zip or .roi, drawn on the movie chosen above: the mean inside each)"
        )
        self.import_button.clicked.connect(self._ask_import)
        # ImageJ ROIs only (the tools' outputs carry their own neuropil/background)
        self.neuropil = ParamsForm(NeuropilParams)
        self.neuropil.setToolTip(NeuropilParams.__doc__.split("\n\n")[0])
        self.tool.currentTextChanged.connect(lambda t: self.neuropil.setVisible(t == IMAGEJ))
        self.neuropil.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar()
        self.status = QLabel(NO_MOVIE)
        self.status.setWordWrap(True)
        self.movie.currentTextChanged.connect(lambda *_: self._idle_status())
        # hand verdicts the last import/extraction dropped: a warning line of its own (and a
        # notification) until the next one; in the status line, the next message replaced it
        # and a user who lost verdicts might never notice (h20 leftover)
        self.dropped_note = StatusLine("")
        self.dropped_note.setStyleSheet("font-weight: bold")
        self.evaluation = ParamsForm(EvaluationParams)
        self.evaluation.changed.connect(self.reevaluate)
        self.rejudge = QCheckBox("re-judge imported cells with these thresholds")
        self.rejudge.setToolTip(
            "imported cells keep the verdicts of the tool that found them (suite2p iscell, CaImAn "
            "idx_components) unless this is ticked; untick to bring the tool's verdicts back"
        )
        self.rejudge.setEnabled(False)
        self.rejudge.toggled.connect(self.reevaluate)
        self.count = QLabel("no components yet")
        # wrapped: after an import its one line ("12 of 30 components accepted; suite2p's own
        # verdicts (...)") widened the dock to 864 px, the canvas squeezed to a strip (h17 walk)
        self.count.setWordWrap(True)
        # the selected cell's verdict and its whole reason, wrapped: the list cuts a long line
        self.reason = QLabel("select a component to see its verdict and why")
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.accept_button = QPushButton("Accept")
        self.reject_button = QPushButton("Reject")
        # as tall as its cells (10 rows, then it scrolls); hidden with its reason line and the
        # verdict buttons while there are none ("no components yet" says so): it was a blank
        # 192 px box before any cells, and one cell sat in the same 192 px box (h20)
        self.cells = FittedList(
            max_rows=10, companions=(self.reason, self.accept_button, self.reject_button)
        )
        self.cells.currentItemChanged.connect(self._cell_selected)
        self.accept_button.clicked.connect(reported(self, "verdict", lambda: self.verdict("accepted")))  # fmt: skip
        self.reject_button.clicked.connect(reported(self, "verdict", lambda: self.verdict("rejected")))  # fmt: skip
        self.refit_button = QPushButton("Fit drawn/edited cells")
        self.refit_button.setToolTip("paint a missing cell with a new label (or reshape one) in the 'footprints' layer, then fit")  # fmt: skip
        self.refit_button.clicked.connect(self.run_refit)

        row = QHBoxLayout()
        for w in (QLabel("or import from"), self.tool, self.import_button):
            row.addWidget(w)
        verdicts = QHBoxLayout()
        verdicts.addWidget(self.accept_button)
        verdicts.addWidget(self.reject_button)
        scrolled_column(self, [
            "movie (pass the registered one)", self.movie, "frame rate", self.fps,
            self.summary_button, self.form,
            self.extract_button, row, self.neuropil, self.cancel_button, self.bar, self.status, self.dropped_note,
            "component evaluation", self.evaluation, self.rejudge, self.count, self.cells, self.reason, verdicts,
            self.refit_button,
        ])  # fmt: skip
        self._buttons = [self.summary_button, self.extract_button, self.import_button, self.refit_button]  # fmt: skip

        self._refresh_layers()
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.ctx.events.layer_names.connect(self._refresh_layers)  # a layer renamed
        self.ctx.events.verdicts.connect(self._on_verdicts)
        # a session opened after docking (File > Open): its cells, once the reader's layers are in
        self.ctx.events.session.connect(self._on_session)
        self._restore()

    _restoring = False
    _shown_session = None  # the session whose cells are shown (its own re-attach redraws nothing)

    def _on_session(self, _event=None) -> None:
        try:
            QTimer.singleShot(0, self._restore)
        except RuntimeError:  # pragma: no cover - the widget was closed
            self.ctx.events.session.disconnect(self._on_session)

    def _restore(self) -> None:
        """Show a session's cells and the settings in force (docked over it, or it opened)."""
        session = self.ctx.session
        if session is self._shown_session:
            return
        self.dropped_note.setText("")  # the verdicts the last import dropped: another session's
        if "sources" not in session:
            return
        self._restore_forms()
        origin = session["sources"].attrs.get("origin") or "extracted"  # suite2p, ...
        self._show(sources_from_session(session), origin=origin, record=False)

    def _restore_forms(self) -> None:
        """The extraction and evaluation settings in force (the session's), not the defaults: the
        verdicts shown follow them, and a touched box changes only what it says."""
        rec = self.ctx.session["sources"]
        p = rec.params or {}
        self._restoring = True
        try:
            if p.get("sources"):
                self.form.set_params(SourcesParams.from_dict(p["sources"]))
            if p.get("evaluation"):
                self.evaluation.set_params(EvaluationParams.from_dict(p["evaluation"]))
            if window := (p.get("import") or {}).get("baseline_window_s"):  # an import's
                self.form.set_value("baseline_window_s", float(window))
            if isinstance((p.get("import") or {}).get("neuropil"), dict):  # ImageJ ROIs' setting
                self.neuropil.set_params(NeuropilParams.from_dict(p["import"]["neuropil"]))
            self.rejudge.setChecked(rejudged(rec.tables["components"]))
        finally:
            self._restoring = False

    # ------------------------------------------------------------ inputs
    def _refresh_layers(self, event=None):
        current = self.movie.currentText()
        new = getattr(event, "value", None)
        if new is not None and new.metadata.get("catrack", {}).get("role") == ROLE:
            current = new.name  # a freshly registered movie is what sources should use
        layers = movie_layers(self.viewer)
        names = [x.name for x in layers]
        self.movie.blockSignals(True)
        self.movie.clear()
        self.movie.addItems(names)
        registered = [x.name for x in layers if x.metadata.get("catrack", {}).get("role") == ROLE]
        pick = current if current in names else (registered[-1] if registered else (names[0] if names else None))  # fmt: skip
        if pick:
            self.movie.setCurrentText(pick)
        self.movie.blockSignals(False)
        self._idle_status()

    def _idle_status(self) -> None:
        """Before anything has run, the status line says which movie is chosen (or that there
        is none); a job's outcome or an error stays until the next one."""
        said = self.status.text()
        if said == NO_MOVIE or (said.startswith("movie '") and said.endswith(MOVIE_CHOSEN[-40:])):
            name = self.movie.currentText()
            self.status.setText(MOVIE_CHOSEN.format(name) if name else NO_MOVIE)

    def movie_data(self):
        name = self.movie.currentText()
        if not name or name not in self.viewer.layers:
            raise InputError("no movie layer: open or register a (T, Y, X) movie first")
        layer = self.viewer.layers[name]
        return layer.data[0] if layer.multiscale else layer.data

    def plane_movies(self) -> tuple[int, dict] | None:
        """(the chosen layer's Z plane, {plane: layer}) when the chosen movie layer shows one
        plane of a volume (opened with the loader's Z projection 'one plane', or registered
        from such a layer): the open layers showing the other planes of the same file, channel
        and loader options, one per plane (the chosen one for its plane, else a registered one,
        else the last opened).
        None when the chosen layer's plane is unknown (a projection, a plain movie)."""
        name = self.movie.currentText()
        if not name or name not in self.viewer.layers:
            return None
        chosen = _layer_plane(self.viewer, self.viewer.layers[name])
        if chosen is None:
            return None
        found: dict[int, object] = {}
        for layer in movie_layers(self.viewer):
            got = _layer_plane(self.viewer, layer)
            if got is None or got[0] != chosen[0]:
                continue
            was = found.get(got[1])
            registered = layer.metadata.get("catrack", {}).get("role") == ROLE
            if was is None or registered or was.metadata.get("catrack", {}).get("role") != ROLE:
                found[got[1]] = layer
        found[chosen[1]] = self.viewer.layers[name]
        return chosen[1], found

    def movie_inputs(self) -> dict:
        """{"recording": file} the movie layer came from (provenance of the step's record)."""
        name = self.movie.currentText()
        if not name or name not in self.viewer.layers:
            return {}
        path = layer_source_path(self.viewer.layers[name])
        return {"recording": str(path)} if path else {}

    def _start(self, work, what, on_done):
        self.job = start_job(self, work, what=what, on_done=on_done, bar=self.bar, buttons=self._buttons,
                             cancel_button=self.cancel_button, status=self.status)  # fmt: skip
        return self.job

    # ------------------------------------------------------------ actions
    @reports_errors("summary images")
    def run_summary(self):
        from napari_catrack.core.summary import summary_images

        data = self.movie_data()
        return self._start(lambda job: summary_images(data, progress=job.progress, cancel=job.cancelled),
                           "summary images", self._show_summary)  # fmt: skip

    def _show_summary(self, images) -> None:
        for name, img in images.as_dict().items():
            title = f"{name} image"
            if title in self.viewer.layers:
                self.viewer.layers[title].data = img
            else:
                label_axes(self.viewer.add_image(img, name=title, colormap=SUMMARY_COLORMAPS[name], visible=name == "correlation"))  # fmt: skip
        from napari_catrack.core.summary import SummaryParams
        from napari_catrack.core.summary_records import record_summary

        record_summary(self.ctx.session, images, SummaryParams(), inputs=self.movie_inputs())
        notes = "".join(f"; {note}" for note in images.notes)  # e.g. the NaN border left out
        self.status.setText(f"summary images added as layers (mean, max, std, correlation, pnr){notes}")  # fmt: skip

    @reports_errors("source extraction")
    def run_extract(self):
        data = self.movie_data()
        params, evaluation = self.form.params(), self.evaluation.params()
        fps = self.ctx.fps()
        if not fps:
            raise InputError("the frame rate is unknown: type it in 'frame rate' above")
        return self._start(
            lambda job: extract_sources(
                data, params, evaluation, fps=fps, progress=job.progress, cancel=job.cancelled
            ),
            "source extraction",
            self._show,
        )

    def _ask_import(self) -> None:
        tool = self.tool.currentText()
        if tool == IMAGEJ:  # ROIs opened in napari (File > Open, drag and drop): offered first
            opened = [x.metadata["catrack"].get("path", "") for x in self.viewer.layers if x.metadata.get("catrack", {}).get("role") == "imagej_rois"]  # fmt: skip
            path, _ = QFileDialog.getOpenFileName(self, "ImageJ/Fiji ROIs (RoiSet .zip, .roi, or a TIFF with an overlay)", opened[-1] if opened else "", "ImageJ ROIs (*.zip *.roi *.tif *.tiff);;all (*)")  # fmt: skip
        elif tool == "caiman" or tool == "minian":
            title = "CaImAn results (.hdf5)" if tool == "caiman" else "Minian .nc file (cancel to choose the save_minian folder instead)"  # fmt: skip
            path, _ = QFileDialog.getOpenFileName(self, title, "", "HDF5/netCDF (*.hdf5 *.h5 *.nc);;all (*)")  # fmt: skip
            if not path and tool == "minian":
                path = QFileDialog.getExistingDirectory(self, "Minian output folder")
        else:
            path = QFileDialog.getExistingDirectory(self, "suite2p output folder")
        if path:
            self.run_import(tool, path)

    @reports_errors("import")
    def run_import(self, tool: str, path):
        fps, source = self.ctx.fps(), self.ctx.fps_source()  # one rate in force per session
        window = float(self.form.value("baseline_window_s"))  # dF/F window, as extraction's
        if tool == IMAGEJ:  # hand-drawn ROIs: their traces are the mean of the chosen movie
            from napari_catrack.io.imagej_rois import read_imagej

            data, options, said = self.movie_data(), {}, ""
            planes = self.plane_movies()  # ROIs drawn on several Z planes: each in its plane
            if planes is not None:
                options = {"z_projection": planes[0]}  # ROIs without a Z position
                data = {p: (x.data[0] if x.multiscale else x.data) for p, x in planes[1].items()}
                said = "planes' layers: " + ", ".join(f"{p}: {x.name}" for p, x in sorted(planes[1].items()))  # fmt: skip
            if not fps:
                raise InputError("the frame rate is unknown: type it in 'frame rate' above")
            inputs = {IMAGEJ: str(path), **self.movie_inputs()}
            neuropil = self.neuropil.params()

            def work(job):
                result = read_imagej(
                    path,
                    data,
                    fps=fps,
                    neuropil=neuropil,
                    baseline_window_s=window,
                    progress=job.progress,
                    cancel=job.cancelled,
                    **options,
                )
                if "plane" in result.components:  # measured plane by plane: on which layers
                    result.notes.append(said)
                return result

            return self._start(work, "ImageJ ROI import", lambda r: self._show(r, origin=IMAGEJ, inputs=inputs))  # fmt: skip
        return self._start(lambda job: _read_import(tool, path, fps, source, window), f"{tool} import",
                           lambda r: self._show(r, origin=tool, inputs={tool: path}, set_rate=not fps))  # fmt: skip

    def _movie_size(self) -> tuple[int | None, tuple[int, int] | None]:
        """(frames, (height, width)) of the session's recording, else of the chosen movie layer."""
        summary = (self.ctx.session.recording or {}).get("summary") or {}
        if summary.get("frames") and summary.get("height") and summary.get("width"):
            return int(summary["frames"]), (int(summary["height"]), int(summary["width"]))
        name = self.movie.currentText()
        if name and name in self.viewer.layers:
            shape = self.viewer.layers[name].data.shape if not self.viewer.layers[name].multiscale else self.viewer.layers[name].data[0].shape  # fmt: skip
            if len(shape) == 3:
                return int(shape[0]), (int(shape[1]), int(shape[2]))
        return None, None

    @reports_errors("fitting drawn cells")
    def run_refit(self):
        from napari_catrack.core.sources.refit import masks_from_labels, refit_components

        if FOOTPRINTS not in self.viewer.layers:
            raise InputError("no footprints yet: extract or import sources first")
        result = sources_from_session(self.ctx.session)
        masks = masks_from_labels(self.viewer.layers[FOOTPRINTS].data, result.footprints, result.components["neuron_id"])  # fmt: skip
        if not masks:
            self.status.setText(
                "no drawn or edited cells: paint with a new label in 'footprints' first"
            )
            return None
        data = self.movie_data()
        tool = self._imported_tool()  # its verdicts stay its own; the drawn cells get none
        return self._start(
            lambda job: refit_components(
                data, result, masks, tool=tool, progress=job.progress, cancel=job.cancelled
            ),
            "fitting drawn cells",
            lambda r: self._show(r, origin="edited"),
        )

    # ------------------------------------------------------------ results
    def _show(
        self, result, origin: str = "extracted", record: bool = True, inputs=None, set_rate=False
    ) -> None:
        """`set_rate`: no frame rate was known, so the import's becomes the one in force."""
        session = self.ctx.session
        if record and origin in IMPORTED:  # another tool's cells: they must belong to this movie
            frames, shape = self._movie_size()
            found = check_against_movie(result, frames, shape, what=f"the {origin} import")
            result.warnings.extend(w for w in found if w not in result.warnings)
        if record and set_rate and not self.ctx.fps():  # shared: every widget shows it
            self.ctx.set_fps(result.fps, source=f"from the {origin} import")
            result.notes.append(f"the frame rate in force is now {origin}'s {result.fps:g} Hz (none was known)")  # fmt: skip
        self._shown_session = session
        dropped: list[str] = []
        if record:
            if inputs is None and origin == "extracted":
                inputs = self.movie_inputs()
            dropped = record_sources(session, result, origin=origin, inputs=inputs)
            self.dropped_note.setText("; ".join(f"Warning: {n}" for n in dropped))
            for note in dropped:
                show_warning(f"napari-catrack: {note}")
            attach_session(
                self.viewer, session
            )  # new traces: other widgets (traces, curation) reload
        ids = result.components["neuron_id"].to_numpy()
        labels, shown, offset = shown_labels(session, result)  # deleted cells stay erased
        for name, contour, opacity in ((FOOTPRINTS, 0, 0.35), (CONTOURS, 1, 0.9)):
            meta = {"catrack": {"role": name, "shown_ids": shown, "label_offset": offset}}
            if name in self.viewer.layers:
                layer = self.viewer.layers[name]
                was = layer.metadata.get("catrack", {})
                # a reopened session's layer drawn from these very cells (the reader's, or one
                # saved with the session): kept as it is, so what the user painted or erased in
                # it before docking is not redrawn away (erasures are synced below)
                kept = (not record and name == FOOTPRINTS and was.get("shown_ids") == shown
                        and was.get("label_offset", 0) == offset
                        and np.shape(layer.data) == labels.shape)  # fmt: skip
                layer.metadata = {**layer.metadata, **meta}
                if not kept:
                    self._setting_labels = True
                    try:
                        layer.data = labels.copy()
                    finally:
                        self._setting_labels = False
            else:
                layer = label_axes(self.viewer.add_labels(labels.copy(), name=name, opacity=opacity, metadata=meta))  # fmt: skip
                layer.contour = contour
            if name == FOOTPRINTS:  # also a reopened session's layer (connecting twice is a no-op)
                layer.events.paint.connect(self._footprints_edited)
                layer.events.set_data.connect(self._footprints_edited)  # the layer's undo/redo
        self.viewer.layers[CONTOURS].editable = False
        planes_said = self._show_planes(result, offset)
        if not record:  # cells erased in a kept layer before the widget listened: rejected now
            self._footprints_edited()
        imported = self._imported_tool() is not None
        if record or not imported:
            self.rejudge.blockSignals(True)
            self.rejudge.setChecked(False)  # a new import: the tool's verdicts stand
            self.rejudge.blockSignals(False)
        self.rejudge.setEnabled(imported)
        self._fill_list()
        warned = "; ".join(getattr(result, "warnings", []))
        notes = [n for n in getattr(result, "notes", []) if n not in dropped] if record else []
        read = "; ".join(notes)  # how an import was read (dropped verdicts: the line below)
        self.status.setText(
            f"{len(ids)} components ({tool_name(origin)})" + (f"; {read}" if read else "")
            + (f". {planes_said}" if planes_said else "")
            + (f". Warning: {warned}" if warned else "")
        )  # fmt: skip
        if warned:
            show_warning(f"napari-catrack: {warned}")

    def _show_planes(self, result, offset: int) -> str:
        """Cells of several imaging planes: one contour layer per plane, "footprints plane N"
        (on 'footprints' they share one frame and overlap), each over its plane's movie layer
        when the planes are open one per layer (`plane_movies`). Returns the status line."""
        planes = plane_labels(self.ctx.session, result, offset)
        names = {} if planes is None else {p: f"footprints plane {p}" for p in planes}
        for layer in [x for x in self.viewer.layers if x.metadata.get("catrack", {}).get("role") == PLANE_FOOTPRINTS]:  # fmt: skip
            if layer.name not in names.values():  # an earlier import's planes
                self.viewer.layers.remove(layer)
        if planes is None:
            return ""
        opened = self.plane_movies()
        chosen, movies = opened if opened is not None else (None, {})
        for p, labels in planes.items():
            meta = {"catrack": {"role": PLANE_FOOTPRINTS, "plane": p, "label_offset": offset}}
            if names[p] in self.viewer.layers:
                layer = self.viewer.layers[names[p]]
                layer.data, layer.metadata = labels, {**layer.metadata, **meta}
            else:
                layer = label_axes(self.viewer.add_labels(labels, name=names[p], opacity=0.9, metadata=meta))  # fmt: skip
                layer.contour = 1
                layer.visible = p == (chosen if chosen in planes else next(iter(planes)))
            layer.editable = False  # edits go to 'footprints' (its deletions follow here)
            if p in movies:  # over its own plane's movie layer: the same pixel grid
                layer.scale = tuple(movies[p].scale[-2:])
                layer.translate = tuple(movies[p].translate[-2:])
        listed = ", ".join(f"'{names[p]}'" for p in planes)
        if movies:
            over = ", ".join(f"plane {p} over '{movies[p].name}'" for p in planes if p in movies)
            not_open = [str(p) for p in planes if p not in movies]
            return (f"cells of {len(planes)} planes, one layer each ({listed}): {over}"
                    + (f"; plane(s) {', '.join(not_open)} not open as a layer" if not_open else "")
                    + "; show a plane's layer with its movie")  # fmt: skip
        return (
            f"cells of {len(planes)} planes, one layer each ({listed}; the chosen movie's plane "
            f"is unknown, so each is drawn on its frame: show one plane's layer at a time over "
            f"that plane's movie). 'footprints' (edit, delete) holds every plane's cells on one "
            f"frame, where cells of different planes overlap"
        )

    _setting_labels = False

    def _footprints_edited(self, _event=None) -> None:
        """Whole labels erased (or put back by undo) in 'footprints': reject (or restore) them."""
        if self._setting_labels or FOOTPRINTS not in self.viewer.layers or "sources" not in self.ctx.session:  # fmt: skip
            return
        layer = self.viewer.layers[FOOTPRINTS]
        meta = layer.metadata.get("catrack", {})
        shown, offset = meta.get("shown_ids", []), int(meta.get("label_offset", 0))
        present = [int(lab) - offset for lab in np.unique(layer.data) if lab]
        deleted, restored = sync_deleted_labels(self.ctx.session, shown, present)
        if not deleted and not restored:
            return
        self.ctx.verdicts_changed(sender=self)
        self._fill_list()
        said = []
        if any(x.metadata.get("catrack", {}).get("role") == PLANE_FOOTPRINTS for x in self.viewer.layers):  # fmt: skip
            self._show_planes(sources_from_session(self.ctx.session), offset)  # deletions follow
        if deleted:
            said.append(f"deleted (rejected): {', '.join(deleted)}; undo in the layer (Ctrl+Z) or Accept brings a cell back")  # fmt: skip
        if restored:
            said.append(f"back from deletion: {', '.join(restored)}")
        self.status.setText("; ".join(said))

    def _fill_list(self) -> None:
        session = self.ctx.session
        if "sources" not in session:
            return
        comps = session["sources"].tables["components"]
        statuses = status_of(session, comps["neuron_id"])
        current = self.current_id()
        self.cells.blockSignals(True)
        self.cells.clear()
        extra = _list_extras(comps)  # the tool's cell probability, plane, suite2p's red verdict
        for (nid, snr, r, a), (status, reason), more in zip(comps[["neuron_id", "snr", "r_value", "area"]].itertuples(index=False), statuses, extra, strict=True):  # fmt: skip
            shown = (
                "accepted" if status == "unverified" else status
            )  # not judged by hand: the evaluation's
            r_text = f"{r:.2f}" if np.isfinite(r) else "n/a"  # suite2p and Minian give no r-value
            text = f"{nid}: {shown}  SNR {snr:.1f}  r {r_text}  {int(a)} px{more}" + (f"  ({reason})" if reason else "")  # fmt: skip
            item = QListWidgetItem(text)
            item.setToolTip(text)  # the whole line: a long reason is cut at the list's edge
            item.setData(256, str(nid))
            self.cells.addItem(item)
            if str(nid) == current:
                self.cells.setCurrentItem(item)
        self.cells.blockSignals(False)
        self._show_reason()
        n_acc = sum(s == "accepted" or (s == "unverified") for s, _ in statuses)
        said = [f"{n_acc} of {len(comps)} components accepted"]
        tool = self._imported_tool()
        if tool is not None and not self.rejudge.isChecked():
            said.append(f"{tool_name(tool)}'s own verdicts (the thresholds apply when 're-judge imported cells' is ticked)")  # fmt: skip
        elif untested(comps):
            said.append(untested(comps))
        self.count.setText("; ".join(said))

    def current_id(self) -> str | None:
        item = self.cells.currentItem()
        return item.data(256) if item is not None else None

    def _show_reason(self) -> None:
        """The selected cell's verdict with its whole reason, in a wrapped label (no hovering)."""
        nid = self.current_id()
        if nid is None or "sources" not in self.ctx.session:
            self.reason.setText("select a component to see its verdict and why")
            return
        status, why = status_of(self.ctx.session, [nid])[0]
        shown = "accepted" if status == "unverified" else status
        # its probability, plane and red verdict too: the list cuts them at a narrow dock's edge
        comps = self.ctx.session["sources"].tables["components"]
        rows = np.flatnonzero(comps["neuron_id"].astype(str).to_numpy() == nid)
        extra = _list_extras(comps)[rows[0]].strip() if len(rows) else ""
        where = f" ({extra.replace('  ', ', ')})" if extra else ""
        self.reason.setText(f"{nid}: {shown}{where}" + (f" - {why}" if why else ""))

    def _cell_selected(self, item, _prev=None) -> None:
        self._show_reason()
        if item is None or FOOTPRINTS not in self.viewer.layers:
            return
        layer = self.viewer.layers[FOOTPRINTS]
        offset = int(layer.metadata.get("catrack", {}).get("label_offset", 0))
        layer.selected_label = int(item.data(256)) + offset
        comps = self.ctx.session["sources"].tables["components"]
        row = comps[comps["neuron_id"].astype(str) == item.data(256)]
        if len(row):
            camera = (
                self.viewer.scene.camera if hasattr(self.viewer, "scene") else self.viewer.camera
            )
            camera.center = (float(row["y"].iloc[0]), float(row["x"].iloc[0]))

    def verdict(self, status: str) -> None:
        nid = self.current_id()
        if nid is None:
            raise InputError("select a component in the list first")
        was_deleted = status_of(self.ctx.session, [nid])[0][1] == DELETED
        set_verdict(self.ctx.session, nid, status, "" if status == "accepted" else "rejected in the sources widget")  # fmt: skip
        if was_deleted and status == "accepted":
            self._put_back(nid)
        self.ctx.verdicts_changed(sender=self)
        self._fill_list()

    def _put_back(self, nid: str) -> None:
        """Paint a deleted component's label again where nothing else is painted."""
        if FOOTPRINTS not in self.viewer.layers:
            return
        result = sources_from_session(self.ctx.session)
        ids = result.components["neuron_id"].to_numpy()
        full = labels_from_footprints(result.footprints, ids)
        label = int(nid) + label_offset(ids)
        layer = self.viewer.layers[FOOTPRINTS]
        data = np.asarray(layer.data).copy()
        data[(full == label) & (data == 0)] = label
        self._setting_labels = True
        try:
            layer.data = data
        finally:
            self._setting_labels = False
        self._show_planes(result, label_offset(ids))  # back in its plane's layer too

    def _on_verdicts(self, event) -> None:
        if getattr(event, "sender", None) is not self:
            self._fill_list()

    def _imported_tool(self) -> str | None:
        return imported_tool(self.ctx.session)  # an edited import's too (edited_from, h19)

    def reevaluate(self, *_) -> None:
        """Thresholds changed: re-judge every component (live count), verdicts follow. Imported
        cells keep their tool's verdicts unless 're-judge imported cells' is ticked."""
        session = self.ctx.session
        if "sources" not in session or self._restoring:
            return
        try:
            evaluation = self.evaluation.params()
        except InputError as exc:
            self.count.setText(str(exc))
            return
        result = sources_from_session(session)
        tool = self._imported_tool()
        comps = judge(result.components, evaluation, tool=tool, rejudge_imported=self.rejudge.isChecked())  # fmt: skip
        from dataclasses import replace

        origin = str(session["sources"].attrs.get("origin") or "extracted")  # who found the cells
        record_sources(session, replace(result, components=comps, evaluation=evaluation), origin=origin)  # fmt: skip
        self.ctx.verdicts_changed(sender=self)
        self._fill_list()

    def accepted_count(self) -> int:
        return int(np.sum([s == "accepted" or s == "unverified" for s, _ in status_of(self.ctx.session, self.ctx.session["sources"].tables["components"]["neuron_id"])]))  # fmt: skip


def _list_extras(comps) -> list[str]:
    """Per cell, what the list adds after its size: "  p 0.91" (the tool's classifier
    probability that it is a cell, `tool_probability`: suite2p's iscell column 1, CaImAn's
    cnn_preds; "p n/a" for a cell without one, e.g. drawn by hand; h22), "  plane 1" when the
    cells come from several planes, "  red 0.83" (suite2p's red-channel probability,
    redcell.npy; "red 0.83 (red)" when suite2p called it red, "red n/a" for a plane without
    redcell.npy)."""
    out = [""] * len(comps)
    prob = (
        np.asarray(comps["tool_probability"], dtype=float) if "tool_probability" in comps else None
    )
    if prob is not None and np.isfinite(prob).any():
        out = [f"{o}  p {float(pr):.2f}" if pr == pr else f"{o}  p n/a" for o, pr in zip(out, prob, strict=True)]  # fmt: skip
    if "plane" in comps and comps["plane"].nunique() > 1:
        out = [f"{o}  plane {int(p)}" if p == p else o for o, p in zip(out, comps["plane"], strict=True)]  # fmt: skip
    if "red_prob" in comps:
        red = comps["red_cell"] if "red_cell" in comps else [np.nan] * len(comps)
        out = [o + (f"  red {float(pr):.2f}" + (" (red)" if rc == rc and bool(rc) else "") if pr == pr else "  red n/a")
               for o, pr, rc in zip(out, comps["red_prob"], red, strict=True)]  # fmt: skip
    return out


def _layer_plane(viewer, layer) -> tuple[tuple, int] | None:
    """((file, channel, other loader options), Z plane) a movie layer shows: a volume opened
    with one plane kept (the loader's Z projection 'one plane'), or a movie registered from
    such a layer; None otherwise. Layers whose first item differs are not planes of one movie:
    a two-channel volume gives each plane a green (calcium) and a red (structural) layer of the
    same file and options, and a red layer's trace is not the calcium trace."""
    meta = layer.metadata.get("catrack", {})
    if meta.get("role") == ROLE:  # registered: the plane of the layer it was registered from
        raw = meta.get("raw_layer")
        if not raw or raw not in viewer.layers or viewer.layers[raw] is layer:
            return None
        meta = viewer.layers[raw].metadata.get("catrack", {})
    z = (meta.get("options") or {}).get("z_projection")
    if not meta.get("path") or not (meta.get("summary") or {}).get("z") or isinstance(z, bool | str | None) or int(z) < 0:  # fmt: skip
        return None
    others = sorted((k, repr(v)) for k, v in (meta.get("options") or {}).items() if k != "z_projection")  # fmt: skip
    return (str(meta["path"]), meta.get("role"), tuple(others)), int(z)


def _read_import(tool: str, path, fps: float | None, source: str = "from the recording", window: float | None = None):  # fmt: skip
    """A tool's output at the frame rate in force (`io.tool_outputs.read_at_rate_in_force`),
    its dF/F on a baseline of `window` s (None: `SourcesParams`' default)."""
    return read_at_rate_in_force(tool, path, fps, source, reader=read_tool_output, baseline_window_s=window)  # fmt: skip
