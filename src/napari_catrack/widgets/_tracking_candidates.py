"""Candidates section of the tracking widget: live detection preview and picking the neurons.

Detection runs on the current frame (or a mean/max projection around it) of the chosen channel,
debounced 150 ms after the last parameter change or time-slider move, in a background job (the
first detection pays for imports and reading frames; the viewer stays responsive). A change made
while a detection runs starts one more when it ends, so the layers always show the latest settings. Candidates are a Points
layer "candidates" (+ Labels "candidate masks"); the user selects some and presses
"Use selected" (or "Use all") to copy them into the Points layer "neurons", the editable seed set.
Each neuron keeps the frame it was picked (or placed, or last moved) on, its feature `frame`, like
the seeds table of `catrack track`: tracking starts from that frame, whatever the slider shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from napari.utils.events import Event
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.core.detection import DetectParams, detect_candidates, project
from napari_catrack.errors import CatrackError, InputError
from napari_catrack.layers import label_axes, neuron_points_layer
from napari_catrack.widgets._common import show_info
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import StatusLine
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._tracking_layers import (
    channel_stack,
    fill_channel_combo,
    next_ids,
    points_table,
    to_green,
)
from napari_catrack.widgets._worker import report_exception, start_job

if TYPE_CHECKING:
    import napari

DEBOUNCE_MS = 150
SOURCES = ("current frame", "mean of N frames", "max of N frames")


def current_frame(viewer: napari.Viewer, stack) -> int:
    """The time-slider position (axis 0), clipped to the stack."""
    if len(stack.shape) < 3:
        return 0
    return int(np.clip(viewer.dims.current_step[0], 0, stack.shape[0] - 1))


class CandidatesPanel(QWidget):
    """Parameters, live preview, and the candidates -> neurons hand-over."""

    def __init__(self, viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.ctx = ViewerContext.of(viewer)
        self.job = None
        self._again = False  # settings changed while a detection ran: detect once more
        self.candidates: pd.DataFrame | None = None  # green-frame table of the last preview
        self.last_params: dict[str, Any] = {}
        self._syncing = False
        self._watched = None
        self._cache = np.zeros((0, 2))  # positions of "neurons" after the last edit we saw
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.request_preview)

        self.source = QComboBox()
        self.source.addItems(SOURCES)
        self.source.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.source.setMinimumContentsLength(8)  # (its longest item made the dock scroll sideways)
        self.n_frames = QSpinBox(minimum=2, maximum=100_000, value=10)
        self.channel = QComboBox()
        fill_channel_combo(self.channel, self.ctx)
        self.ctx.events.channels.connect(self._on_channels)
        self.form = ParamsForm(DetectParams)  # every detection setting, defaults in one place
        self.live = QCheckBox("live preview")
        self.live.setChecked(True)
        self.detect_button = QPushButton("Detect")
        self.use_selected_button = QPushButton("Use selected")
        self.use_all_button = QPushButton("Use all")
        self.by_hand_button = QPushButton("Add by hand")
        self.clear_button = QPushButton("Clear neurons")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("new name for the selected neuron")
        self.rename_button = QPushButton("Rename")
        self.status = StatusLine()  # wrapped; hidden while empty (it left a blank under Rename)
        self._build()

        for w in (self.source, self.channel):
            w.currentIndexChanged.connect(self.schedule)
        self.n_frames.valueChanged.connect(self.schedule)
        self.form.changed.connect(self.schedule)
        self.live.toggled.connect(self.schedule)
        self.detect_button.clicked.connect(self.request_preview)
        self.use_selected_button.clicked.connect(lambda: self._guard(self.use_selected))
        self.use_all_button.clicked.connect(lambda: self._guard(self.use_all))
        self.by_hand_button.clicked.connect(lambda: self._guard(self.add_by_hand))
        self.clear_button.clicked.connect(lambda: self._guard(self.clear_neurons))
        self.rename_button.clicked.connect(lambda: self._guard(self.rename_selected))
        self.name_edit.returnPressed.connect(lambda: self._guard(self.rename_selected))
        self.viewer.dims.events.current_step.connect(self._on_step)

    def _build(self) -> None:
        form = QFormLayout()
        src = QHBoxLayout()
        src.addWidget(self.source)
        src.addWidget(QLabel("N frames"))
        src.addWidget(self.n_frames)
        form.addRow("image", src)
        form.addRow("channel", self.channel)
        buttons = QGridLayout()
        buttons.addWidget(self.live, 0, 0)
        buttons.addWidget(self.detect_button, 0, 1)
        buttons.addWidget(self.use_selected_button, 1, 0)
        buttons.addWidget(self.use_all_button, 1, 1)
        buttons.addWidget(self.by_hand_button, 2, 0)
        buttons.addWidget(self.clear_button, 2, 1)
        rename = QHBoxLayout()
        rename.addWidget(self.name_edit)
        rename.addWidget(self.rename_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.form)
        lay.addLayout(buttons)
        lay.addLayout(rename)
        lay.addWidget(self.status)

    # ---- detection -------------------------------------------------------------------------
    def params(self) -> DetectParams:
        """The detection settings shown (a `DetectParams`, exactly what the core gets)."""
        return self.form.params()

    def set_params(self, **values: Any) -> None:
        """Change some settings as if typed (the live preview follows)."""
        self.form.set_params(self.form.params(**values))

    def show_params(self, params: dict) -> None:
        """Show stored detection settings (a reopened session's "neurons" step)."""
        for w in (self.form, self.source, self.channel):
            w.blockSignals(True)
        try:
            self.form.set_params(DetectParams.from_dict(params))
            image = params.get("image")
            if image in ("frame", "mean", "max"):
                self.source.setCurrentIndex(("frame", "mean", "max").index(image))
            if params.get("channel") in [
                self.channel.itemText(i) for i in range(self.channel.count())
            ]:
                self.channel.setCurrentText(params["channel"])
        finally:
            for w in (self.form, self.source, self.channel):
                w.blockSignals(False)
        self.last_params = dict(params)

    def _image_job(self):
        """Read the settings here (GUI thread); the returned function reads the pixels and may run
        in a worker: it returns (channel, image, how, transform)."""
        channel, stack, transform = channel_stack(self.ctx, self.channel.currentText())
        frame = current_frame(self.viewer, stack)
        mode, n = self.source.currentIndex(), self.n_frames.value()

        def make():
            how: dict[str, Any] = {"channel": channel, "frame": frame, "image": "frame"}
            if len(stack.shape) == 2:
                return channel, np.asarray(stack, np.float32), how, transform
            if mode == 0:
                return channel, np.asarray(stack[frame], np.float32), how, transform
            start = int(np.clip(frame - n // 2, 0, max(stack.shape[0] - n, 0)))
            frames = slice(start, min(start + n, stack.shape[0]))
            method = "mean" if mode == 1 else "max"
            how.update(image=method, frames=[frames.start, frames.stop - 1])
            return channel, project(stack, frames, method), how, transform

        return make

    def schedule(self, *_: Any) -> None:
        """Restart the debounce timer: the preview runs once the user pauses."""
        if self.live.isChecked():
            self._timer.start()

    def _on_step(self, event: Event | None = None) -> None:
        try:
            if self.live.isChecked() and "candidates" in self.viewer.layers:
                self._timer.start()
        except RuntimeError:  # the widget was closed: stop listening to the viewer
            self.viewer.dims.events.current_step.disconnect(self._on_step)

    def _on_channels(self, _event: Any = None) -> None:
        try:
            fill_channel_combo(self.channel, self.ctx)
        except RuntimeError:  # closed
            self.ctx.events.channels.disconnect(self._on_channels)

    def _guard(self, fn) -> Any:
        try:
            return fn()
        except CatrackError as exc:  # a user mistake: one line; anything else is a bug
            self.status.setText(str(exc))
            report_exception(exc, "candidates")
            return None

    def detect_job(self):
        """Settings read now; the returned function detects (safe in a worker thread) and returns
        what `show_candidates` takes."""
        make, params = self._image_job(), self.params()

        def run():
            _channel, img, how, transform = make()
            labels, table = detect_candidates(img, params)
            return table, labels, {**params.to_dict(), **how}, transform, img.shape

        return run

    def request_preview(self, *_: Any):
        """Detect in the background and show the result; returns the job (None if one runs)."""
        if self.job is not None and self.job.running:
            self._again = True
            return None
        self._again = False

        def finished(_exc=None) -> None:
            if self._again:
                self._timer.start()

        def done(result) -> None:
            self.show_candidates(*result)
            finished()

        try:
            run = self.detect_job()
        except CatrackError as exc:
            self.status.setText(str(exc))
            report_exception(exc, "candidate detection")
            return None
        self.job = start_job(self, lambda job: run(), what="candidate detection",
                             on_done=done, on_failed=finished, status=self.status)  # fmt: skip
        return self.job

    def preview(self) -> pd.DataFrame:
        """Detect now (in this thread) and refresh the "candidate masks" and "candidates" layers."""
        return self.show_candidates(*self.detect_job()())

    def show_candidates(self, table, labels, params, transform, shape) -> pd.DataFrame:
        """Put a detection result in the "candidate masks" and "candidates" layers."""
        green = to_green(table, transform, shape)
        self.candidates, self.last_params = green, params
        affine = np.eye(3) if transform is None else transform.napari_affine(shape, ndim=2)
        if "candidate masks" in self.viewer.layers:
            masks = self.viewer.layers["candidate masks"]
            masks.data, masks.affine = labels, affine
        else:
            label_axes(
                self.viewer.add_labels(labels, name="candidate masks", opacity=0.35, affine=affine)
            )
        feats = green[["neuron_id", "area", "brightness"]].reset_index(drop=True)
        data = green[["y", "x"]].to_numpy(float).reshape(-1, 2)
        if "candidates" in self.viewer.layers:
            layer = self.viewer.layers["candidates"]
            layer.selected_data = set()
            layer.data = data
            layer.features = feats
        else:
            label_axes(self.viewer.add_points(
                data, name="candidates", features=feats, size=8, face_color="transparent",
                border_color="orange", ndim=2,
            ))  # fmt: skip
        what = params["image"] if params["image"] == "frame" else f"{params['image']} projection"
        self.status.setText(
            f"{len(green)} candidates on {params['channel']}, {what} {params['frame']}; select "
            "some in 'candidates', then Use selected"
        )
        return green

    # ---- neurons layer ---------------------------------------------------------------------
    def neurons_layer(self, create: bool = True):
        """The seeds layer: the one this panel made or watched (also after the user renamed
        it), else a layer named "neurons" (e.g. from a session file), else a new one."""
        if self._watched is not None and self._watched in self.viewer.layers:
            return self._watched
        if "neurons" in self.viewer.layers:
            layer = self.viewer.layers["neurons"]
            if layer is not self._watched:  # e.g. restored from a session: watch its edits too
                layer.events.data.connect(self._on_neurons_edited)
                self._watched, self._cache = layer, np.asarray(layer.data, float).copy()
            return layer
        if not create:
            return None
        text = pd.Series(dtype=object)
        empty = pd.DataFrame({"neuron_id": text, "y": [], "x": [], "source": text})
        data, meta, _ = neuron_points_layer(empty, name="neurons", frame_column=None)
        meta["features"] = empty[["neuron_id", "source"]].assign(frame=pd.Series(dtype=float))
        meta.update(border_color="cyan", ndim=2, size=9)
        meta["text"] = {**meta["text"], "color": "cyan"}
        layer = label_axes(self.viewer.add_points(data.reshape(-1, 2), **meta))
        layer.feature_defaults = {"neuron_id": "", "source": "manual", "frame": np.nan}
        layer.events.data.connect(self._on_neurons_edited)
        self._watched, self._cache = layer, np.zeros((0, 2))
        return layer

    def neurons(self) -> pd.DataFrame:
        """`neuron_id,y,x,source` (green pixels) of the "neurons" layer."""
        layer = self.neurons_layer(create=False)
        if layer is None or len(layer.data) == 0:
            raise InputError("no neurons to track: pick candidates (Use selected) or add by hand")
        table = points_table(layer)[["neuron_id", "y", "x", "source"]]
        if "frame" in layer.features:  # the frame each was picked on (NaN: not known)
            table["frame"] = pd.to_numeric(layer.features["frame"], errors="coerce").to_numpy()
        return table

    def _viewer_frame(self) -> int:
        """The time slider's frame (what the user is looking at while placing a neuron)."""
        return int(self.viewer.dims.current_step[0]) if self.viewer.dims.ndim >= 3 else 0

    def _with_frames(self, feats: pd.DataFrame) -> pd.DataFrame:
        """Features with the `frame` column (a layer from an older session has none: its
        neurons were picked on the session's detection frame)."""
        if "frame" not in feats:
            feats["frame"] = float(self.last_params.get("frame", np.nan))
        return feats

    def picked_frames(self) -> dict[int, list[str]]:
        """The frames the neurons were picked on -> their ids (neurons whose frame is not known,
        e.g. a layer made elsewhere, are left out; the session's detection frame stands in for
        a whole layer restored from a session written before frames were kept)."""
        layer = self.neurons_layer(create=False)
        if layer is None or not len(layer.data):
            return {}
        ids = layer.features["neuron_id"].astype(str).to_numpy()
        if "frame" in layer.features:
            frames = pd.to_numeric(layer.features["frame"], errors="coerce").to_numpy(float)
        else:
            frames = np.full(len(ids), float(self.last_params.get("frame", np.nan)))
        out: dict[int, list[str]] = {}
        for nid, f in zip(ids, frames):
            if np.isfinite(f):
                out.setdefault(int(f), []).append(nid)
        return out

    def show_seeds(self) -> bool:
        """Show the "neurons" layer again (the tracking widget hides it while tracks exist);
        True if it was hidden."""
        layer = self.neurons_layer(create=False)
        if layer is None or layer.visible:
            return False
        layer.visible = True
        return True

    def _append(self, rows: pd.DataFrame) -> int:
        """Add candidate rows to "neurons", skipping any within 2 px of a neuron already there."""
        self.show_seeds()  # picking afresh: the seeds are what the user works on now
        layer = self.neurons_layer()
        old = np.asarray(layer.data, float).reshape(-1, 2)
        yx = rows[["y", "x"]].to_numpy(float)
        if len(old):
            d = np.linalg.norm(yx[:, None] - old[None, :, -2:], axis=-1).min(axis=1)
            yx = yx[d > 2.0]
        if not len(yx):
            return 0
        feats = self._with_frames(layer.features.reset_index(drop=True))
        frame = float(self.last_params.get("frame", self._viewer_frame()))  # detected there
        new = pd.DataFrame({"neuron_id": next_ids(feats["neuron_id"], len(yx)),
                            "source": ["auto"] * len(yx), "frame": frame})  # fmt: skip
        self._syncing = True
        try:
            layer.data = np.vstack([old[:, -2:], yx])
            layer.features = pd.concat(
                [feats[["neuron_id", "source", "frame"]], new], ignore_index=True
            )
        finally:
            self._syncing = False
        self._record()
        return len(yx)

    def use_selected(self) -> int:
        layer = self.viewer.layers["candidates"] if "candidates" in self.viewer.layers else None
        if layer is None or self.candidates is None:
            raise InputError("no candidates yet: press Detect (or move a slider)")
        picked = sorted(layer.selected_data)
        if not picked:
            raise InputError("select candidates first (select tool in the 'candidates' layer)")
        rows = pd.DataFrame(np.asarray(layer.data)[picked][:, -2:], columns=["y", "x"])
        n = self._append(rows)
        self.status.setText(f"{n} neuron(s) added to 'neurons'")
        return n

    def use_all(self) -> int:
        if self.candidates is None:
            self.preview()
        n = self._append(self.candidates)
        self.status.setText(f"{n} neuron(s) added to 'neurons'")
        return n

    def add_by_hand(self) -> None:
        self.show_seeds()
        layer = self.neurons_layer()
        self.viewer.layers.selection.active = layer
        layer.mode = "add"
        show_info("napari-catrack: click on the image to add neurons (press Escape/V to stop)")

    def clear_neurons(self) -> None:
        layer = self.neurons_layer(create=False)
        if layer is not None:
            self._syncing = True
            try:
                layer.data = np.zeros((0, 2))
            finally:
                self._syncing = False

    def rename_selected(self, name: str | None = None) -> str:
        """Give the one selected neuron a new (unique) name."""
        name = (name if name is not None else self.name_edit.text()).strip()
        layer = self.neurons_layer(create=False)
        sel = sorted(layer.selected_data) if layer is not None else []
        if len(sel) != 1:
            raise InputError("select exactly one point in the 'neurons' layer to rename")
        if not name:
            raise InputError("type a name first")
        feats = layer.features.copy()
        if (feats["neuron_id"].astype(str) == name).drop(index=sel[0]).any():
            raise InputError(f"a neuron is already called {name!r}")
        old = str(feats.at[sel[0], "neuron_id"])
        feats.loc[sel[0], "neuron_id"] = name
        layer.features = feats
        layer.refresh()
        self.name_edit.clear()
        self.status.setText(f"{old} renamed {name}")
        self._record()
        return old

    def _on_neurons_edited(self, event: Event) -> None:
        """New points get fresh ids and source "manual"; moved points become "manual" too."""
        layer = event.source
        action = getattr(event, "action", None)
        data = np.asarray(layer.data, float)
        if self._syncing or action not in ("added", "changed", "removed"):
            if action in ("added", "changed", "removed"):
                self._cache = data.copy()
            return
        n = len(data)
        if action == "added":
            idx = sorted({int(i) % n for i in event.data_indices}) if n else []
        elif action == "changed" and self._cache.shape == data.shape:
            idx = np.flatnonzero(np.abs(data - self._cache).max(axis=1) > 1e-9).tolist()
        else:
            idx = []
        self._cache = data.copy()
        if not idx:
            return
        feats = self._with_frames(layer.features.copy())
        if action == "added":
            others = feats["neuron_id"].drop(index=idx)
            feats.loc[idx, "neuron_id"] = next_ids(others, len(idx))
        feats.loc[idx, "source"] = "manual"
        feats.loc[idx, "frame"] = float(self._viewer_frame())  # placed while looking at it
        self._syncing = True
        try:
            layer.features = feats
            layer.refresh()
        finally:
            self._syncing = False

    def _record(self) -> None:
        from napari_catrack.core.tracking.records import record_neurons
        from napari_catrack.session import session_for_viewer

        how = dict(self.last_params or {})
        params = DetectParams.from_dict(how) if how else None
        facts = {k: v for k, v in how.items() if k not in (params.to_dict() if params else {})}
        frame, channel = facts.pop("frame", None), facts.pop("channel", None)
        record_neurons(session_for_viewer(self.viewer), self.candidates, params, frame=frame,
                       channel=channel, selected=self.neurons(), facts=facts,
                       inputs=self.ctx.recording_inputs(channel or "red"))  # fmt: skip
