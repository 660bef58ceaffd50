"""Puncta widget: localise puncta (classical MLE or the network), link them into tracks, call
calcium at each punctum in each frame, and show it all as layers, tables and figures.

Thin: the work is `core.puncta.analyse_puncta` in a `start_job` worker (progress, Cancel, the
one error policy). Results go where a user sees them: a Points layer of localisations (features
photons, sigma, uncertainty, calcium probability; coloured by calcium state), a Tracks layer, a
super-resolution Image layer, the per-track table and figures, and the session step `puncta`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from napari.utils.notifications import show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.network import quality_warning
from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.errors import InputError
from napari_catrack.layers import label_axes
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import mark_catrack_dock
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._table_model import DataFrameModel
from napari_catrack.widgets._worker import start_job

if TYPE_CHECKING:
    import napari

    from napari_catrack.core.puncta.pipeline import PunctaResult

STEP = "puncta"
EVENT_COLOR = np.array([1.0, 0.15, 0.35, 1.0])  # a calcium signal at the punctum in this frame
QUIET_COLOR = np.array([0.2, 0.85, 1.0, 1.0])
RENDER_NM = 10.0


EXPORT_FILES = ("localizations.csv", "tracks.csv", "calcium.csv", "events.csv",
                "track_summary.csv", "precision_photons.png", "calcium_raster.png")  # fmt: skip
EXPORT_LIST = ".catrack-puncta.json"  # the files a save wrote there (so a new save may replace)


def _stamp(path) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _written_here(folder, name: str) -> bool:
    """Whether `folder/name` is a file an earlier save of this widget wrote (unchanged since)."""
    import json

    try:
        listed = json.loads((folder / EXPORT_LIST).read_text(encoding="utf-8")).get("files", {})
        return listed.get(name) == _stamp(folder / name)
    except (OSError, ValueError, AttributeError):
        return False


def _note_written(folder, names) -> None:
    import json

    from napari_catrack.io.atomic import atomic_write_path

    listed = {"written_by": "napari-catrack puncta widget",
              "files": {name: _stamp(folder / name) for name in names}}  # fmt: skip
    with atomic_write_path(folder / EXPORT_LIST) as tmp:
        tmp.write_text(json.dumps(listed, indent=1), encoding="utf-8")


def localization_points(locs: pd.DataFrame, pixel_size_nm: float) -> tuple:
    """LayerData of the localisations: (frame, y, x) points with the features a user filters on."""
    features = pd.DataFrame(
        {
            "frame": locs["frame"].to_numpy(int),
            "track_id": locs["track_id"].to_numpy(int),
            "photons": locs["photons"].to_numpy(float),
            "sigma_nm": locs["sigma"].to_numpy(float) * pixel_size_nm,
            "uncertainty_nm": locs["uncertainty"].to_numpy(float) * pixel_size_nm,
            "calcium_probability": locs["calcium_probability"].to_numpy(float),
            "calcium": locs["calcium"].to_numpy(int),
        }
    )
    colors = np.where(features["calcium"].to_numpy()[:, None] == 1, EVENT_COLOR, QUIET_COLOR)
    meta = {
        "name": "localizations",
        "features": features,
        "size": 3,
        "face_color": "transparent",
        "border_color": colors,
        "border_width": 0.25,
        "metadata": {"catrack": {"role": "puncta_localizations"}},
    }
    return locs[["frame", "y", "x"]].to_numpy(float), meta, "points"


def stored_result(record, params: PunctaParams) -> PunctaResult | None:
    """The result a session step `puncta` holds, or None when its tables are missing."""
    from napari_catrack.core.puncta.pipeline import PunctaResult

    tables, attrs = record.tables, record.attrs
    if "localizations" not in tables or "frame_shape" not in attrs:
        return None
    return PunctaResult(
        localizations=tables["localizations"], events=tables.get("events", pd.DataFrame()),
        tracks=tables.get("tracks", pd.DataFrame()), stats=dict(attrs.get("stats") or {}),
        params=params, camera=CameraModel(**attrs["camera"]),
        frame_shape=tuple(int(v) for v in attrs["frame_shape"]),
        n_frames=int(attrs.get("n_frames", 0)), model_info=dict(attrs.get("model") or {}),
    )  # fmt: skip


def gui_names() -> dict[str, str]:
    """The form's fields a model warning names, as the form labels them (`PunctaParams`), for
    the CLI's --model-min-jaccard and --method mle (`network.quality_warning`)."""
    fields = {f.name: f for f in PunctaParams.fields()}
    return {
        "min_jaccard": f"'{fields['model_min_jaccard'].label}' in More options",
        "classical": f"{fields['method'].label} mle",
    }


def in_widget_words(warnings: list[str], quality: dict | None) -> list[str]:
    """The run's warnings with the model's quality warning in the widget's words (the step
    warns in the CLI's: its options, which the widget has no boxes of)."""
    if not quality or not quality.get("warning"):
        return list(warnings)
    mine = quality_warning(quality, gui_names())
    return [mine if w == quality["warning"] else w for w in warnings]


class PunctaWidget(QWidget):
    """Localise, track and call calcium at PIEZO1-HaloTag puncta."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.result: PunctaResult | None = None
        self.job = None

        self.puncta_layer = QComboBox()
        self.calcium_layer = QComboBox()
        self.camera_text = QLabel()
        self.camera_text.setWordWrap(True)
        camera_button = QPushButton("Camera file…")
        camera_button.clicked.connect(self._choose_camera)
        self.model_path = QLineEdit()
        self.model_path.setPlaceholderText("shipped network (or choose a .json)")
        model_button = QPushButton("Model…")
        model_button.clicked.connect(self._choose_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_path, 1)
        model_row.addWidget(model_button)
        self._camera: CameraModel | None = None
        self._pixel_layer = None  # the puncta layer whose pixel size the form last took
        self._camera_path = ""

        source = QFormLayout()
        source.addRow("puncta channel", self.puncta_layer)
        source.addRow("calcium channel", self.calcium_layer)
        # the camera line on a row of its own: a wrapped label beside a button in one row was
        # clipped at the top and bottom (Qt gives the row one line's height)
        source.addRow("camera", self.camera_text)
        source.addRow("", camera_button)
        source.addRow("network model", model_row)
        self.form = ParamsForm(PunctaParams)

        self.run_button = QPushButton("Localise, track and call calcium")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        self.bar = QProgressBar()
        self.status = QLabel("choose the channels and run")
        self.status.setWordWrap(True)

        self.tabs = QTabWidget()
        self.track_view = QTableView()
        self.track_view.setSortingEnabled(True)
        self.track_model = DataFrameModel()
        self.track_view.setModel(self.track_model)
        self.stats_text = QLabel("")
        self.stats_text.setWordWrap(True)
        stats_page = QWidget()
        QVBoxLayout(stats_page).addWidget(self.stats_text)
        self.precision_canvas = FigureCanvasQTAgg()
        self.raster_canvas = FigureCanvasQTAgg()
        for canvas in (self.precision_canvas, self.raster_canvas):
            canvas.setMinimumHeight(320)
        self.tabs.addTab(self.track_view, "tracks")
        self.tabs.addTab(stats_page, "statistics")
        self.tabs.addTab(self.precision_canvas, "precision + photons")
        self.tabs.addTab(self.raster_canvas, "calcium raster")
        self.tabs.setMinimumHeight(300)
        self.export_button = export = QPushButton("Save tables and figures…")
        export.clicked.connect(lambda: self._export())  # not Qt's `checked` as the folder
        import_button = QPushButton("Show a ThunderSTORM table…")
        import_button.setToolTip("a localizations.csv from ThunderSTORM (or this tool) as points")
        import_button.clicked.connect(self._choose_thunderstorm)

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(source)
        layout.addWidget(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs)
        layout.addWidget(export)
        layout.addWidget(import_button)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        mark_catrack_dock(self)  # tabbed with the other catrack docks: the window fits a screen

        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.ctx.events.layer_names.connect(self._refresh_layers)  # a layer renamed
        self.ctx.events.session.connect(self._restore)
        self.puncta_layer.currentTextChanged.connect(self._puncta_layer_changed)
        self._refresh_layers()
        self._restore()

    # --- inputs -----------------------------------------------------------------------------
    def _image_layers(self) -> list:
        from napari.layers import Image

        return [lay for lay in self.viewer.layers if isinstance(lay, Image) and lay.ndim == 3]

    def _refresh_layers(self, *_) -> None:
        names = [lay.name for lay in self._image_layers()]
        for combo, role in ((self.puncta_layer, "green"), (self.calcium_layer, "red")):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            options = names if combo is self.puncta_layer else ["(none)", *names]
            combo.addItems(options)
            layer = self.ctx.channel_layer(role)
            # a choice still offered stays (also "(none)": it went back to the calcium layer
            # whenever a layer was added, e.g. by the run itself)
            pick = current if current in options else (layer.name if layer is not None else "")
            if pick:
                combo.setCurrentText(pick)
            combo.blockSignals(False)
        self._puncta_layer_changed()

    def _puncta_layer_changed(self, *_) -> None:
        """The pixel size and camera of the chosen puncta layer (a recording's or the sample's
        own); the camera line follows the layer, so it never shows another layer's camera."""
        layer = self._layer(self.puncta_layer.currentText())
        meta = layer.metadata.get("catrack", {}) if layer is not None else {}
        pixel_um = (meta.get("summary") or {}).get("pixel_size_um")
        # once per layer chosen (not on every layer added, which would undo a typed value), also
        # after a run: a second recording used to keep the first one's pixel size
        if layer is not None and layer is not self._pixel_layer:
            self._pixel_layer = layer
            if pixel_um:
                self.form.set_value("pixel_size_nm", float(pixel_um) * 1000)
                try:  # e.g. a calcium recording's 450 nm pixels under the 130 nm PSF: say so
                    self.form.params()  # (a run refuses it in the same words)
                except InputError as exc:
                    self.status.setText(f"{layer.name!r}: {exc}")
            else:  # the CLI refuses a file without one; here the box's value is used: say so
                px = self.form.value("pixel_size_nm")
                self.status.setText(
                    f"{layer.name!r} has no pixel size: check 'pixel size (nm)' (now {px:g} nm)"
                )
        self._show_camera()

    def _layer(self, name: str):
        return next((lay for lay in self._image_layers() if lay.name == name), None)

    def camera(self) -> CameraModel:
        """The camera in force: a chosen file, else the layer's own (samples), else defaults."""
        if self._camera is not None:
            return self._camera
        layer = self._layer(self.puncta_layer.currentText())
        stored = layer.metadata.get("catrack", {}).get("camera") if layer is not None else None
        if stored:
            from napari_catrack.io.camera import camera_from_dict

            return camera_from_dict(dict(stored), "the layer's camera")
        return CameraModel()

    def _show_camera(self) -> None:
        try:
            cam = self.camera()
        except InputError as exc:
            self.camera_text.setText(str(exc))
            return
        kind = f"EMCCD (gain {cam.em_gain:g})" if cam.is_emccd else "sCMOS/CCD"
        text = (
            f"{kind}, offset {cam.offset_adu:g} ADU, {cam.e_per_adu:g} e-/ADU, "
            f"QE {cam.quantum_efficiency:g}, read noise {cam.read_noise_e:g} e-"
        )
        if self._camera_is_assumed():  # as the CLI warns without --camera
            text = f"assumed (no camera file): {text}; photons and uncertainties only as right"
            text += " as this guess"
        self.camera_text.setText(text)

    def _camera_is_assumed(self) -> bool:
        """No camera file chosen and none stored with the layer: Picasso's defaults in force."""
        if self._camera is not None:
            return False
        layer = self._layer(self.puncta_layer.currentText())
        return not (layer is not None and layer.metadata.get("catrack", {}).get("camera"))

    def _choose_camera(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Camera file", "", "camera.json (*.json)")
        if path:
            self.set_camera_file(path)

    def set_camera_file(self, path: str) -> None:
        from napari_catrack.io.camera import read_camera
        from napari_catrack.widgets._worker import report_exception

        try:
            self._camera = read_camera(path)
            self._camera_path = str(path)  # an input: the export never writes over it
        except InputError as exc:
            report_exception(exc, "camera file")
            self.status.setText(str(exc))
            return
        self._show_camera()

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Puncta network", "", "network (*.json)")
        if path:
            self.model_path.setText(path)

    # --- running ----------------------------------------------------------------------------
    def run(self):
        """Start the analysis in the background; returns the job."""
        from napari_catrack.core.puncta.localize import step_warnings
        from napari_catrack.core.puncta.params import check_track_length
        from napari_catrack.core.puncta.pipeline import analyse_puncta
        from napari_catrack.widgets._worker import report_exception

        try:
            params = self.form.params()
            puncta = self._layer(self.puncta_layer.currentText())
            if puncta is None:
                raise InputError("choose the puncta channel (an image layer with frames)")
            calcium = self._layer(self.calcium_layer.currentText())
            if calcium is puncta:
                raise InputError("the puncta and calcium channels are the same layer")
            check_track_length(params, int(puncta.data.shape[0]))  # before the long run
            camera = self.camera()
            model = self.model_path.text().strip() or None
            if model and params.method != "network":
                raise InputError(
                    f"a network model is chosen but the method is {params.method}: it would be "
                    "ignored (choose method network, or clear the model box)"
                )
        except InputError as exc:
            report_exception(exc, "puncta")
            self.status.setText(str(exc))
            return None
        p_data, c_data = puncta.data, calcium.data if calcium is not None else None

        def work(job):
            # what the step warns (an offset above the data, blank frames) reaches the status
            # line and a notification; collected in this thread only (`step_warnings`), so that
            # another thread's warning during the run is never shown as the step's
            with step_warnings() as said:
                result = analyse_puncta(p_data, c_data, camera, params, model=model,
                                        progress=job.progress, cancel=job.cancelled)  # fmt: skip
            result.warnings = list(said)
            return result

        self.job = start_job(
            self, work, what="puncta analysis", on_done=self._show, bar=self.bar,
            buttons=[self.run_button], cancel_button=self.cancel_button, status=self.status,
        )  # fmt: skip
        return self.job

    def _show(self, result: PunctaResult) -> None:
        self.result = result
        self._update_layers(result)
        self._update_views(result)
        from napari_catrack.core.puncta.records import record_puncta

        record_puncta(self.ctx.session, result, inputs=self.ctx.recording_inputs(),
                      fps=self.ctx.fps())  # fmt: skip
        s = result.stats
        text = (
            f"{s['localizations']} localisations, {s['tracks']} tracks, "
            f"{s['calcium_events']} calcium events (median precision "
            f"{s['median_uncertainty_nm']:.1f} nm)"
        )
        said = in_widget_words(result.warnings, result.model_info.get("quality"))
        for message in said:
            show_warning(f"napari-catrack: {message}")
        self.status.setText("; ".join([text, *(f"warning: {m}" for m in said)]))

    def _replace_layer(self, name: str, data, meta: dict, kind: str):
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        add = getattr(self.viewer, f"add_{kind}")
        return label_axes(add(data, **{**meta, "name": name}))

    def _update_layers(self, result: PunctaResult, only_missing: bool = False) -> None:
        """The super-resolution, tracks and localisation layers (`only_missing`: only those
        the viewer lacks, e.g. a reopened session whose file held some of them)."""
        have = {layer.name for layer in self.viewer.layers} if only_missing else set()
        px = result.params.pixel_size_nm
        locs = result.localizations
        if "super-resolution" not in have:
            self._add_render(result, locs, px)
        linked = locs[locs["track_id"] >= 0]
        if len(linked) and "puncta tracks" not in have:
            data = linked[["track_id", "frame", "y", "x"]].to_numpy(float)
            self._replace_layer("puncta tracks", data, {"tail_length": 10,
                                "features": pd.DataFrame({"calcium": linked["calcium"].to_numpy()})},
                                "tracks")  # fmt: skip
        elif not len(linked) and "puncta tracks" in self.viewer.layers:
            self.viewer.layers.remove("puncta tracks")
        if "localizations" not in have:
            data, meta, _ = localization_points(locs, px)
            self._replace_layer("localizations", data, meta, "points")

    def _add_render(self, result: PunctaResult, locs: pd.DataFrame, px: float) -> None:
        from napari_catrack.core.puncta.render import render_localizations

        image, step = render_localizations(locs, result.frame_shape, px, RENDER_NM)
        self._replace_layer(
            "super-resolution", image,
            {"scale": (step, step), "translate": (-0.5 + step / 2, -0.5 + step / 2),
             "colormap": "inferno", "blending": "additive",
             "contrast_limits": (0.0, float(max(np.percentile(image[image > 0], 99.5)
                                                if (image > 0).any() else 1.0, 1e-6)))},
            "image",
        )  # fmt: skip

    def _update_views(self, result: PunctaResult) -> None:
        from napari_catrack.figures.puncta import puncta_figure

        self.track_model.set_dataframe(result.tracks)
        lines = [f"{k.replace('_', ' ')}: {v:.4g}" if isinstance(v, float) else
                 f"{k.replace('_', ' ')}: {v}" for k, v in result.stats.items()]  # fmt: skip
        self.stats_text.setText("\n".join(lines))
        fps = self.ctx.fps()
        # the one builder of `catrack puncta --figures` and of the export's puncta figures
        for canvas, name in (
            (self.precision_canvas, "precision_photons"),
            (self.raster_canvas, "calcium_raster"),
        ):
            fig = puncta_figure(name, result.localizations, result.params.pixel_size_nm,
                                result.n_frames, fps)  # fmt: skip
            canvas.figure = fig
            fig.set_canvas(canvas)
            canvas.draw_idle()

    def _restore(self, *_) -> None:
        """Show a stored result (a reopened session): tables, statistics, parameters, and the
        localisation, track and super-resolution layers the session's file did not hold."""
        session = self.ctx.session
        if STEP not in session or self.result is not None:
            return
        record = session[STEP]
        params = PunctaParams.from_dict(record.params)
        self.form.set_params(params)
        result = stored_result(record, params)
        if result is None:  # an older session without the tables: what there is
            if "tracks" in record.tables:
                self.track_model.set_dataframe(record.tables["tracks"])
            stats = record.attrs.get("stats") or {}
            self.stats_text.setText(
                "\n".join(f"{k.replace('_', ' ')}: {v}" for k, v in stats.items())
            )
        else:
            self.result = result
            self._update_views(result)
            # after the reader has added the session's own layers (the same event loop turn
            # would see none of them, and the saved ones would come back twice)
            QTimer.singleShot(0, lambda: self._update_layers(result, only_missing=True))
        # a barely trained model the stored run used is said again (its warning is provenance)
        quality = (record.attrs.get("model") or {}).get("quality") or {}
        warning = quality_warning(quality, gui_names()) if quality.get("warning") else ""
        said = f"; warning: {warning}" if warning else ""
        self.status.setText(f"restored the puncta result of the session{said}")

    # --- ThunderSTORM tables ---------------------------------------------------------------
    def _choose_thunderstorm(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "ThunderSTORM table", "", "CSV (*.csv)")
        if path:
            self.show_thunderstorm(path)

    def show_thunderstorm(self, path: str):
        """Add a ThunderSTORM CSV as a Points layer (in this widget's pixel size); None on error."""
        from napari_catrack.io.thunderstorm import read_localizations
        from napari_catrack.widgets._worker import report_exception

        try:
            px = self.form.params().pixel_size_nm
            locs = read_localizations(path, px)  # (also an older export's pixels)
        except InputError as exc:
            report_exception(exc, "ThunderSTORM table")
            self.status.setText(str(exc))
            return None
        locs = locs.assign(track_id=-1, calcium_probability=np.nan, calcium=0)
        data, meta, _ = localization_points(locs, px)
        from pathlib import Path

        name = f"ThunderSTORM {Path(path).stem}"
        meta["metadata"] = {"catrack": {"role": "thunderstorm", "path": str(path)}}
        return self._replace_layer(name, data, meta, "points")

    # --- export -----------------------------------------------------------------------------
    def _export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save puncta tables and figures")
        if folder:
            self.export(folder)

    def export(self, folder: str) -> list | None:
        """The CLI's files (localizations.csv, tracks.csv, calcium.csv, events.csv) + figures;
        returns the paths written, or None (the reason in the status line and a notification).

        Checked first, as every output (`io.output_check`): never over an input (the movies' and
        tables' files, the camera file, the session), and never over a file of that name this
        widget did not write (a user's own table): those are left untouched and the save is
        refused. Its own earlier files (listed in the folder's `.catrack-puncta.json`, with their
        size and time) are replaced."""
        from pathlib import Path

        from napari_catrack.core.puncta.tables import write_puncta_table
        from napari_catrack.figures import save_figure
        from napari_catrack.io.atomic import atomic_write_set
        from napari_catrack.io.thunderstorm import write_thunderstorm
        from napari_catrack.widgets._worker import report_exception

        if self.result is None:
            self.status.setText("nothing to save yet: run the analysis first")
            return None
        out = Path(folder)
        res = self.result
        try:
            self._check_export(out)
            # one set, as the CLI's: a save that fails half-way (a figure, a full disk) leaves
            # the folder as it was; else the tables it did write were not in the folder's note
            # and every later save was refused as "not written by this widget"
            with atomic_write_set():
                write_thunderstorm(res.localizations, out / "localizations.csv",
                                   res.params.pixel_size_nm)  # fmt: skip
                write_puncta_table(res.tracks_csv(), out / "tracks.csv")
                fps = self.ctx.fps()  # the times in calcium.csv and events.csv, as the CLI's
                write_puncta_table(res.calcium_csv(fps), out / "calcium.csv")
                write_puncta_table(res.events_csv(fps), out / "events.csv")
                write_puncta_table(res.tracks, out / "track_summary.csv")
                save_figure(self.precision_canvas.figure, out / "precision_photons.png")
                save_figure(self.raster_canvas.figure, out / "calcium_raster.png")
            _note_written(out, EXPORT_FILES)
        except Exception as exc:  # the one policy: a user's mistake in one line, a bug logged
            self.status.setText(report_exception(exc, "saving the puncta tables"))
            return None
        self.status.setText(f"saved tables and figures to {out}")
        return [out / name for name in EXPORT_FILES]

    def _check_export(self, out) -> None:
        from napari_catrack.io.output_check import OutputFolder, check_outputs, session_inputs

        inputs = {f"layer {lay.name!r}": lay.metadata.get("catrack", {}).get("path")
                  for lay in self.viewer.layers}  # fmt: skip
        inputs.update({"camera file": self._camera_path or None,
                       "model": self.model_path.text().strip() or None})  # fmt: skip
        session = self.ctx.session
        if session.path is not None:
            inputs.update(session_inputs(session, "session"))
        check_outputs({"save folder": OutputFolder(out, EXPORT_FILES)}, inputs)
        foreign = [name for name in EXPORT_FILES if (out / name).exists()
                   and not _written_here(out, name)]  # fmt: skip
        if foreign:
            one = len(foreign) == 1
            raise InputError(
                f"{out} already holds {', '.join(foreign)}, which this widget did not write; "
                f"{'it is' if one else 'they are'} left untouched: choose another folder "
                f"(or move {'it' if one else 'them'})"
            )
