"""Worm behaviour: Segment Anything from one prompt point, centerline, posture, velocity.

1. Segmentation. Click on the worm in any frame (the "worm prompts" Points layer; the combo
   sets whether new points are worm or background), pick Segment Anything (a checkpoint file,
   or Download the official one) or the classical method, and Segment: the mask is propagated
   through the video in a background job (progress, Cancel) into the "worm masks" Labels layer.
   Correct any frame by adding points or painting the masks: that frame becomes an anchor, and
   Re-propagate redoes only the frames it governs. Doubtful frames (low score, area jump,
   touching the border, a loop; after step 2 also coiled, filled and failed centerlines) are
   listed; a click jumps the viewer there.
2. Centerline and posture (`_behaviour_panels.CenterlinePanel`): editable paths, head/tail flips.
3. Velocity against the stage log (`_behaviour_panels.VelocityPanel`), plotted with the
   curvature kymograph in the docked "Behaviour plot" that follows the time slider.
4. Behavioural bouts (`_bouts_panel.BoutsPanel`): forward runs, reversals, pauses and turns
   from the velocity, listed and drawn as a strip over the plot's speed.
Everything is recorded in the session (masks compressed); nothing lives only in the widget.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.core.behaviour import SegmentParams, frame_quality, segment_video
from napari_catrack.core.behaviour.records import record_segmentation, segmentation_from_session
from napari_catrack.errors import InputError
from napari_catrack.layers import (
    behaviour_on_recording,
    behaviour_video_path,
    is_behaviour_video,
)
from napari_catrack.widgets._behaviour_layers import (
    BACKGROUND,
    MASKS,
    WORM,
    anchors_from_layers,
    layer_frames,
    painted_frames,
    prompt_layer,
    set_centerline,
    set_masks,
    video_layers,
)
from napari_catrack.widgets._behaviour_panels import CenterlinePanel, VelocityPanel, _file_row
from napari_catrack.widgets._bouts_panel import BoutsPanel
from napari_catrack.widgets._common import layer_source_path
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import FittedList, scroll_body
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import report_exception, start_job

if TYPE_CHECKING:
    import napari

#: the doubtful frames' line before a segmentation (the list under it is hidden while empty)
DOUBTFUL_NONE_YET = "doubtful frames: none yet (Segment video lists them here)"


def _reported(method):
    """Run a button's action; a failure is shown the one way (widgets/_worker policy)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            self.last_error = report_exception(exc, method.__name__.strip("_").replace("_", " "))
            self.status.setText(self.last_error)  # the widget says it too (as reports_errors)
            return None

    return wrapper


class BehaviourWidget(QWidget):
    """SAM prompt segmentation, centerline, posture and velocity of a crawling worm."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.job = None
        self.last_error = ""
        self._sam = None  # (params key, LoadedSam): a loaded model is reused, not reloaded

        self.video = QComboBox()
        self.video.setToolTip("the behaviour video (a (T, Y, X) image layer)")
        self.form = ParamsForm(SegmentParams)
        self.checkpoint = QLineEdit()
        self.checkpoint.setPlaceholderText("SAM checkpoint .pth (empty: classical, or cached)")
        self.download_button = QPushButton("Download official checkpoint")
        self.download_button.setToolTip("fetch the chosen SAM model (vit_b if auto) once, "
                                        "SHA256-checked, into the user cache folder")  # fmt: skip
        self.point_kind = QComboBox()
        self.point_kind.addItems(["worm (positive)", "background (negative)"])
        self.prompt_button = QPushButton("Add prompt points")
        self.segment_button = QPushButton("Segment video")
        self.repropagate_button = QPushButton("Re-propagate from anchors")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar()
        self.anchors_label = QLabel("anchors: none yet")
        self.anchors_label.setWordWrap(True)
        self.doubtful_label = QLabel(DOUBTFUL_NONE_YET)
        self.doubtful_label.setWordWrap(True)
        self.low_list = FittedList()  # as tall as its frames; hidden while there are none
        self.status = QLabel("click 'Add prompt points', then on the worm, then Segment")
        self.status.setWordWrap(True)
        self.centerline = CenterlinePanel(self)
        self.velocity = VelocityPanel(self)
        self.bouts = BoutsPanel(self)
        self.plot_button = QPushButton("Show velocity and curvature plot")

        self.prompt_button.clicked.connect(self.add_prompts)
        self.point_kind.currentIndexChanged.connect(self._point_kind)
        self.segment_button.clicked.connect(lambda: self.segment(reuse=False))
        self.repropagate_button.clicked.connect(lambda: self.segment(reuse=True))
        self.download_button.clicked.connect(self.download)
        self.low_list.itemClicked.connect(self._jump)
        self.video.currentTextChanged.connect(lambda _t: self.velocity.fill_fps())
        self._video_chosen = ""  # the video the user picked in the box (kept while it exists)
        self._restore_queued = False  # a restore waits for the layers of a video being opened
        self.video.activated.connect(
            lambda _i: setattr(self, "_video_chosen", self.video.currentText())
        )
        self.plot_button.clicked.connect(self.show_plot)
        for button, panel, name in (
            (self.centerline.run_button, self.centerline, "run"),
            (self.centerline.flip_button, self.centerline, "flip"),
            (self.velocity.run_button, self.velocity, "run"),
            (self.bouts.run_button, self.bouts, "run"),
        ):
            button.clicked.connect(functools.partial(self._panel_action, panel, name))
        self._build()
        self._refresh_videos()
        self.viewer.layers.events.inserted.connect(self._refresh_videos)
        self.viewer.layers.events.inserted.connect(self._video_opened)
        self.viewer.layers.events.removed.connect(self._refresh_videos)
        self.ctx.events.layer_names.connect(self._refresh_videos)  # a layer renamed
        # after the reader has added a reopened session's layers (masks, centerline), so the
        # widget finds them by name instead of adding a second copy
        self.ctx.events.session.connect(lambda *_: QTimer.singleShot(0, self._restore))
        self._restore()

    def _build(self) -> None:
        seg = QGroupBox("1. Segmentation (SAM or classical)")
        form = QFormLayout()
        form.addRow("video", self.video)
        form.addRow("checkpoint", _file_row(self.checkpoint, "SAM checkpoint", "PyTorch (*.pth *.pt)"))  # fmt: skip
        form.addRow("", self.download_button)
        form.addRow("new points are", self.point_kind)
        lay = QVBoxLayout(seg)
        lay.addLayout(form)
        lay.addWidget(self.form)
        lay.addWidget(self.prompt_button)
        row = QHBoxLayout()
        row.addWidget(self.segment_button)
        row.addWidget(self.repropagate_button)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(self.bar, 1)
        row2.addWidget(self.cancel_button)
        lay.addLayout(row2)
        lay.addWidget(self.anchors_label)
        lay.addWidget(self.doubtful_label)
        lay.addWidget(self.low_list)
        lay.addWidget(self.status)
        # the shared dock body: the dock is never narrower than its controls (no sideways scroll)
        outer = scroll_body(self)
        outer.addWidget(seg)
        outer.addWidget(self.centerline)
        outer.addWidget(self.velocity)
        outer.addWidget(self.bouts)
        outer.addWidget(self.plot_button)
        outer.addStretch(1)

    def buttons(self) -> list:
        return [self.segment_button, self.repropagate_button, self.centerline.run_button,
                self.download_button, self.bouts.run_button]  # fmt: skip

    def _panel_action(self, panel, name, *_):
        """Run a panel's step (button); its status shows this run's outcome, never the last
        one's: cleared first, the error (and what is kept) when it fails."""
        panel.status.setText("")
        try:
            return getattr(panel, name)()
        except Exception as exc:
            self.last_error = report_exception(exc, f"{panel.title().split('. ')[-1]} ({name})")
            kept = getattr(panel, "kept", lambda: "")()
            panel.status.setText(f"failed: {self.last_error}" + (f" ({kept})" if kept else ""))
            return None

    # --- layers -----------------------------------------------------------------------------
    def _refresh_videos(self, *_) -> None:
        current = self.video.currentText()
        names = [lay.name for lay in video_layers(self.viewer)]
        self.video.blockSignals(True)
        self.video.clear()
        self.video.addItems(names)
        preferred = [n for n in names if self.viewer.layers[n].metadata.get("catrack", {}).get("role") == "behaviour"]  # fmt: skip
        theirs = behaviour_video_path(self.ctx.session)  # the video the session's results are of
        preferred = [n for n in names if theirs and is_behaviour_video(self.ctx.session, layer_source_path(self.viewer.layers[n]))] + preferred  # fmt: skip
        green = self.ctx.channel_layer("green")
        if current in names and (current == self._video_chosen or current in preferred):
            pick = current  # the user's pick, or a behaviour video: kept
        else:  # a behaviour video opened after the fallback to green takes its place
            pick = (preferred or [green.name if green is not None and green.name in names else None])[0]  # fmt: skip
        if pick:
            self.video.setCurrentText(pick)
        self.video.blockSignals(False)
        self.velocity.fill_fps()  # the camera's rate follows the video picked

    def _video_opened(self, event) -> None:
        """The video a session's behaviour results are of was opened: its layers come with it
        (`session_layers.behaviour_layers_beside_video`, the reader's); once they are all in,
        the widget restores its own state (doubtful frames, anchors) and finds them by name.
        Only then: a removal, as when the viewer closes, never draws them again."""
        session = self.ctx.session
        layer = getattr(event, "value", None)
        if layer is None or behaviour_on_recording(session):
            return
        if self._restore_queued:
            return  # one restore for all the layers one opening brings (each reads the masks)
        if ("segmentation" in session or "centerline" in session) and is_behaviour_video(
            session, layer_source_path(layer)
        ):
            self._restore_queued = True
            QTimer.singleShot(0, self._queued_restore)

    def _queued_restore(self) -> None:
        self._restore_queued = False
        self._restore()

    def _results_video_open(self) -> bool:
        """Whether the session's behaviour results can be drawn: they are of its recording, or
        the video they are of is the one picked in the box."""
        session = self.ctx.session
        if behaviour_on_recording(session):
            return True
        return is_behaviour_video(session, self.video_inputs().get("recording"))

    def video_layer(self):
        name = self.video.currentText()
        if not name or name not in self.viewer.layers:
            raise InputError("no behaviour video: open a (T, Y, X) video or TIFF stack first")
        return self.viewer.layers[name]

    def matching_frames(self, n_frames: int):
        """The picked video's frames when it has `n_frames` frames, else None (no error)."""
        name = self.video.currentText()
        if not name or name not in self.viewer.layers:
            return None
        frames = layer_frames(self.viewer.layers[name])
        return frames if frames.ndim == 3 and len(frames) == n_frames else None

    def video_inputs(self) -> dict[str, str]:
        """{"recording": file} the picked video came from (the role `catrack segment`,
        `centerline` and `velocity` give it): the input the steps' records name."""
        name = self.video.currentText()
        if not name or name not in self.viewer.layers:
            return {}
        path = layer_source_path(self.viewer.layers[name])
        return {"recording": str(path)} if path else {}

    def video_shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in layer_frames(self.video_layer()).shape[-2:])

    @_reported
    def add_prompts(self, *_):
        layer = prompt_layer(self.viewer)
        self.viewer.layers.selection.active = layer
        layer.mode = "add"
        self._point_kind()
        return layer

    def _point_kind(self, *_) -> None:
        layer = prompt_layer(self.viewer, create=False)
        if layer is not None:
            layer.feature_defaults = {"label": WORM if self.point_kind.currentIndex() == 0 else BACKGROUND}  # fmt: skip

    # --- segmentation -----------------------------------------------------------------------
    @_reported
    def segment(self, reuse: bool = False):
        """Segment (or re-propagate) from every anchor; returns the job."""
        layer = self.video_layer()
        frames = layer_frames(layer)
        if frames.ndim != 3:
            raise InputError("the behaviour video must be (T, Y, X)")
        stored = segmentation_from_session(self.ctx.session)
        labels = self.viewer.layers[MASKS] if MASKS in self.viewer.layers else None
        painted = painted_frames(labels, stored.masks if stored is not None else None)
        anchors = anchors_from_layers(prompt_layer(self.viewer, create=False), painted)
        if not anchors:
            raise InputError("add a prompt point on the worm (Add prompt points) first")
        checkpoint = self.checkpoint.text().strip() or None
        params = self.form.params(checkpoint=checkpoint)
        previous = stored if reuse else None
        key = (params.checkpoint, params.model_type, params.device)
        loaded = self._sam[1] if self._sam is not None and self._sam[0] == key else None

        def work(job):
            from napari_catrack.core.behaviour.sam import make_segmenter

            notes = []
            seg = make_segmenter(params, loaded=loaded, log=notes.append)
            res = segment_video(frames, anchors, params, segmenter=seg, previous=previous,
                                progress=job.progress, cancel=job.cancelled)  # fmt: skip
            quality = frame_quality(res.masks, res.score, low_score=params.low_score,
                                    area_jump=params.area_jump, source=res.source)  # fmt: skip
            return res, quality, getattr(seg, "loaded", None), notes

        self.job = start_job(self, work, what="segmentation",
                             on_done=lambda out: self._segmented(out, params, key),
                             bar=self.bar, buttons=self.buttons(), cancel_button=self.cancel_button,
                             status=self.status)  # fmt: skip
        return self.job

    def _segmented(self, out, params, key) -> None:
        result, quality, loaded, notes = out
        if loaded is not None:
            self._sam = (key, loaded)
        set_masks(self.viewer, result.masks)
        record_segmentation(self.ctx.session, result, params.to_dict(), quality,
                            inputs={**self.video_inputs(), "checkpoint": params.checkpoint})  # fmt: skip
        self.show_doubtful(quality)
        self._show_anchors(result)
        low = int(quality["low_confidence"].sum())
        text = f"{result.method}: {result.n_frames} frames, {low} doubtful"
        self.status.setText("; ".join([*notes, text]))

    def show_doubtful(self, quality=None, status=None) -> None:
        """List the segmentation's doubtful frames (`quality`, the `frame_quality` table;
        default: the session's) and the frames whose centerline `status` is not ok."""
        from napari_catrack.core.behaviour.quality import doubtful_frames

        if quality is None and "segmentation" in self.ctx.session:
            quality = self.ctx.session["segmentation"].tables.get("frames")
        if quality is not None and "low_confidence" not in quality:
            quality = None
        self.low_list.clear()
        for frame, reason in doubtful_frames(quality, status).itertuples(index=False):
            item = QListWidgetItem(f"frame {int(frame)}: {reason}")
            item.setData(256, int(frame))
            self.low_list.addItem(item)
        if self.low_list.count():
            self.doubtful_label.setText("doubtful frames (click to go there):")
        else:
            done = quality is not None or status is not None
            self.doubtful_label.setText("doubtful frames: none" if done else DOUBTFUL_NONE_YET)

    def _show_anchors(self, result) -> None:
        kinds = [f"{a.frame} ({'painted' if a.mask is not None else 'points'})" for a in result.anchors]  # fmt: skip
        self.anchors_label.setText("anchors: frame " + ", ".join(kinds))

    def _jump(self, item) -> None:
        self.viewer.dims.set_current_step(0, int(item.data(256)))

    @_reported
    def download(self, *_):
        from napari_catrack.core.behaviour.sam import download_checkpoint

        model = self.form.params().model_type
        model = "vit_b" if model == "auto" else model
        return start_job(self, lambda job: download_checkpoint(model), what=f"download of SAM {model}",
                         on_done=lambda p: self.checkpoint.setText(str(p)), bar=self.bar,
                         buttons=self.buttons(), status=self.status)  # fmt: skip

    @_reported
    def show_plot(self, *_):
        """Dock the velocity and curvature plot, or show and raise the one already docked."""
        from napari_catrack.widgets._dock import dock_of
        from napari_catrack.widgets.behaviour_plot import BehaviourPlotWidget, plots_of

        for plot in plots_of(self.viewer):
            dock = dock_of(plot)
            if dock is None:
                continue  # not docked (made by hand): dock a new one
            dock.show()
            dock.raise_()
            plot.refresh()
            return plot
        plot = BehaviourPlotWidget(self.viewer)
        self.viewer.window.add_dock_widget(plot, name="Behaviour plot", area="bottom")
        return plot

    # --- session ----------------------------------------------------------------------------
    def _restore(self) -> None:
        """Show the behaviour results a (reopened) session holds."""
        from napari_catrack.core.behaviour.records import centerline_from_session

        session = self.ctx.session
        stored = segmentation_from_session(session)
        cl = centerline_from_session(session)
        if (stored is not None or cl is not None) and not self._results_video_open():
            # another video's pixels and frames (the demo: an imaging recording and a behaviour
            # video): not drawn over this one; shown when that video is opened (_refresh_videos)
            name = os.path.basename(behaviour_video_path(session) or "the behaviour video")
            self.status.setText(f"the session's behaviour results are of {name}: open that video "
                                "(File > Open) to see its masks and centerline")  # fmt: skip
            self.velocity.restore()
            self.bouts.restore()
            return
        if stored is not None:  # the session file may have restored the layers already: the
            # widget's own state (doubtful frames, anchors, status) is restored either way
            if MASKS not in self.viewer.layers:
                set_masks(self.viewer, stored.masks)
            self._show_anchors(stored)
            self.status.setText(
                f"segmentation of {stored.n_frames} frames restored from the session"
            )
        if cl is not None:
            if "centerline" not in self.viewer.layers:
                set_centerline(self.viewer, cl[0].points, cl[0].status, session)
            self.centerline.watch(self.viewer.layers["centerline"])
            self.centerline.flip_to.setValue(cl[0].n_frames - 1)
            self.centerline.restore(cl[0])
        if stored is not None or cl is not None:
            self.show_doubtful(status=cl[0].status if cl is not None else None)
        self.velocity.restore()
        self.bouts.restore()

    def closeEvent(self, event) -> None:  # pragma: no cover - Qt teardown
        if self.job is not None and self.job.running:
            self.job.cancel()
        super().closeEvent(event)
