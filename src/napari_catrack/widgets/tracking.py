"""Neuron candidates and human-in-the-loop tracking, in one docked widget.

1. Candidates (`_tracking_candidates.CandidatesPanel`): live detection preview, then the user picks
   the neurons to follow into the Points layer "neurons" (and adds, moves, renames by hand).
2. Tracking: "Track" follows the neurons from the current frame forward and backward in a worker
   thread (napari progress bar, Cancel). The result is a Tracks layer "tracks" and a per-frame Points
   layer "tracked neurons" coloured by confidence (red = doubtful, green = sure, cyan = yours). Drag
   a point to correct it; "Re-track" recomputes around your corrections, which stay fixed as anchors.
   The list of low-confidence stretches jumps to each one. Tracks (green pixels) go to the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from napari.utils.events import Event
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.core.tracking import (
    TRACK_COLUMNS,
    TrackParams,
    retrack,
    review_stretches,
    track,
)
from napari_catrack.core.tracking.params import recorded_values
from napari_catrack.errors import CatrackError, InputError
from napari_catrack.layers import label_axes, tracks_layer
from napari_catrack.widgets._common import show_info
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._context_controls import AlignmentLine, ChannelPicker
from napari_catrack.widgets._dock import FittedList, StatusLine, scroll_body
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._tracking_candidates import CandidatesPanel, current_frame
from napari_catrack.widgets._tracking_layers import (
    ShownTracks,
    channel_stack,
    confidence_colors,
    fill_channel_combo,
    prepare_tracks,
    set_or_add,
    to_native,
    tracked_points,
)
from napari_catrack.widgets._worker import report_exception, reports_errors, start_job

if TYPE_CHECKING:
    import napari

TRACKED = "tracked neurons"
SEEDS_HIDDEN = (
    "the seeds ('neurons') are hidden while tracks exist (not deleted: turn their layer's "
    "eye on to see them)"
)
REVIEW_SHOWN = 20  # places to review listed, worst first; the rest are counted
REVIEW_HEADER = "Places to review, worst first (click: go to the worst frame):"
REVIEW_NONE_YET = "Places to review: none yet (Track lists them here)"
MODELS = ("default", "classical", "cnn")


class TrackingWidget(QWidget):
    """Pick neurons from detected candidates, track them, correct and re-track."""

    def __init__(self, napari_viewer: napari.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.tracks: pd.DataFrame | None = None  # green-frame pixels, the stored result
        self.run_info: dict[str, Any] = {}  # channel/seed frame/model of the current tracks
        self.edited: set[tuple[str, int]] = set()  # (neuron_id, frame) the user moved
        self.job = None
        self.last_outcome = ""
        self._syncing = False
        self._shown = np.zeros((0, 3))  # "tracked neurons" data as last written by us
        self._watched = None  # the "tracked neurons" layer whose edits we follow
        self._n_low = 0

        self.channels = ChannelPicker(napari_viewer)  # any image layer can be a channel
        self.candidates = CandidatesPanel(self.viewer, self)
        self.in_force = AlignmentLine(napari_viewer)
        self.track_channel = QComboBox()
        self.track_channel.setToolTip("the channel whose images the tracker follows")
        defaults = TrackParams()
        self.model = QComboBox()
        self.model.addItems(MODELS)
        self.model.setCurrentText(defaults.model)
        self.model.setToolTip(
            next(f for f in TrackParams.fields() if f.name == "model").meta["help"]
        )
        # every other tracking setting, defaults in one place (channel/model: the combos above)
        self.form = ParamsForm(TrackParams, exclude=("channel", "model"))
        self.track_button = QPushButton("Track")
        self.track_button.setToolTip(
            "track the 'neurons' layer through the recording, from the frame they were picked on"
        )
        self.retrack_button = QPushButton("Re-track with corrections")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar(minimum=0, maximum=100, value=0)
        self.threshold = self.form.control("low_confidence")
        self.review_label = QLabel(REVIEW_NONE_YET)
        self.review_label.setWordWrap(True)  # (unwrapped it made the dock scroll sideways)
        self.low_list = FittedList()  # as tall as its entries; hidden while there are none
        self.low_more = QLabel("")
        self.low_more.hide()
        self.status = StatusLine()  # wrapped, scrolled into sight when it changes
        self._build()
        self._fill_channels()

        self.track_button.clicked.connect(self.start_tracking)
        self.retrack_button.clicked.connect(self.start_retracking)
        self.form.changed.connect(self.refresh_low_confidence)
        self.low_list.itemClicked.connect(self._on_low_clicked)
        self.ctx.events.channels.connect(self._on_channels)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        self._restore()
        from napari_catrack.session import watch_session

        watch_session(self.viewer, self._on_session_replaced)

    @property
    def worker(self):
        """The running job (None when idle)."""
        return self.job if self.job is not None and self.job.running else None

    def _fill_channels(self) -> None:
        fill_channel_combo(self.track_channel, self.ctx)

    def _on_channels(self, _event: Any = None) -> None:
        try:
            self._fill_channels()
        except RuntimeError:  # closed
            self.ctx.events.channels.disconnect(self._on_channels)

    def _on_session_replaced(self, _session) -> None:
        # after the reader has added the session's layers, so existing layers are reused
        QTimer.singleShot(0, self._restore)

    def _restore(self) -> None:
        """Show tracks already in the viewer's session (e.g. a reopened session file)."""
        session = self.ctx.session
        if "neurons" in session:  # the detection settings the seeds were picked with
            self.candidates.show_params(session["neurons"].params)
        if "tracks" not in session:
            return
        step = session["tracks"]
        table = step.tables.get("tracks")
        if table is None or not set(TRACK_COLUMNS) <= set(table.columns) or table.empty:
            return
        self.tracks = table.assign(neuron_id=table.neuron_id.astype(str)).reset_index(drop=True)
        keys = ("channel", "seed_frame", "model", "alignment")
        self.run_info = {k: step.params[k] for k in keys if k in step.params}
        # a session from before h15 recorded no `lost_after` (never lost), before h16 no
        # `brightness` (steady rules), before h17 no `size_ratio` (no size check): Re-track
        # keeps the rules the tracks were made with
        self.form.set_params(TrackParams.from_dict(recorded_values(step.params)))
        if self.run_info.get("model") in MODELS:
            self.model.setCurrentText(self.run_info["model"])
        self.show_tracks(keep_layer_edits=True)
        n = len(self.edited)
        self.status.setText(
            "tracks restored from the session"
            + (
                f"; {n} point(s) moved in the layer kept as corrections (Re-track uses them)"
                if n
                else ""
            )
            + self._hide_seeds()
        )

    def _build(self) -> None:
        cand = QGroupBox("1. Candidates")
        QVBoxLayout(cand).addWidget(self.candidates)
        box = QGroupBox("2. Tracking")
        form = QFormLayout()
        form.addRow(self.in_force)
        form.addRow("track channel", self.track_channel)
        form.addRow("model", self.model)
        form.addRow(self.form)
        row = QHBoxLayout()
        row.addWidget(self.track_button)
        row.addWidget(self.retrack_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.bar)
        row2.addWidget(self.cancel_button)
        lay = QVBoxLayout(box)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addLayout(row2)
        lay.addWidget(self.review_label)
        lay.addWidget(self.low_list)
        lay.addWidget(self.low_more)
        lay.addWidget(self.status)
        outer = scroll_body(self)
        outer.addWidget(self.channels)
        outer.addWidget(cand)
        outer.addWidget(box)
        outer.addStretch(1)

    # ---- running ---------------------------------------------------------------------------
    @reports_errors("tracking")  # (an unexpected error too: one message, the policy)
    def start_tracking(self):
        """Track the "neurons" layer from the frame they were picked on; returns the job."""
        try:
            seeds = self.candidates.neurons()
            channel, stack, transform = channel_stack(self.ctx, self.track_channel.currentText())
            if len(stack.shape) != 3:
                raise InputError("tracking needs a (T, Y, X) recording, not a single image")
            frame, note = self._start_frame(stack)
            native = to_native(seeds, transform, stack.shape[-2:])
            if seeds.neuron_id.duplicated().any():
                dup = seeds.neuron_id[seeds.neuron_id.duplicated()].tolist()
                raise InputError(f"two neurons share the name(s) {dup[:3]}: rename one")
            anchors, dropped = self._anchors(set(seeds.neuron_id.astype(str)))
            anchors_n = to_native(anchors, transform, stack.shape[-2:])
            self.candidates._record()
        except CatrackError as exc:
            self.status.setText(str(exc))
            report_exception(exc, "tracking")
            return None
        params = self.track_params(channel)
        info = {**params.to_dict(), "seed_frame": frame, "corrections": len(anchors),
                "alignment": None if transform is None else transform.to_dict()}  # fmt: skip

        def work(job):
            # the stack is the chosen channel's own pixels: track it as given
            new = track(stack, None, native[["neuron_id", "y", "x"]], frame, channel="red",
                        progress=job.progress, cancel=job.cancelled, params=params)  # fmt: skip
            if len(anchors_n):  # the user's corrections stay: a full track must not lose them
                new["neuron_id"] = new["neuron_id"].astype(str)
                new = retrack(new, anchors_n, stack, cancel=job.cancelled, params=params)
            return new

        job = self._launch(work, f"tracking on {channel}", info, stack.shape[-2:], transform)
        notes = [note] if note else []
        if len(anchors):
            notes.append(f"keeping {len(anchors)} correction(s) as anchors")
        if dropped:
            notes.append(f"dropping {dropped} correction(s) of neurons no longer in 'neurons'")
        if notes and job is not None:
            self.status.setText("; ".join(notes))
            show_info(f"napari-catrack: {'; '.join(notes)}")
        return job

    def _anchors(self, neuron_ids: set[str]) -> tuple[pd.DataFrame, int]:
        """The hand corrections to keep through a full Track (green px): the `manual` rows of the
        current tracks and the points dragged since, of neurons still picked; and how many of
        them belong to neurons no longer there (dropped, and said). None once the user deleted
        the tracked-neurons layer (the way to track afresh)."""
        cols = ["neuron_id", "frame", "y", "x"]
        parts = [self.corrections()[cols]]
        if self.tracks is not None and self._tracked_layer() is not None:  # deleted: start over
            parts.insert(0, self.tracks.loc[self.tracks.source == "manual", cols])
        rows = pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)
        rows["neuron_id"] = rows["neuron_id"].astype(str)
        rows = rows.drop_duplicates(["neuron_id", "frame"], keep="last")  # a later drag wins
        keep = rows["neuron_id"].isin(neuron_ids).to_numpy()
        return rows[keep].reset_index(drop=True), int((~keep).sum())

    def _start_frame(self, stack) -> tuple[int, str]:
        """The frame tracking starts from: the one the neurons were picked on (as `catrack track`
        takes the seeds' frame), not the slider's; returns it and what to tell the user."""
        now = current_frame(self.viewer, stack)
        picked = self.candidates.picked_frames()
        if not picked:  # neurons from elsewhere, frame unknown: the frame shown
            return now, ""
        if len(picked) > 1:
            where = "; ".join(f"{', '.join(ids[:4])}{' …' if len(ids) > 4 else ''} on frame {f}"
                              for f, ids in sorted(picked.items()))  # fmt: skip
            raise InputError(
                f"the neurons were placed on different frames ({where}): tracking starts from "
                "one frame; go to one of them and move (or delete) the others' points there"
            )
        frame = next(iter(picked))
        if not 0 <= frame < stack.shape[0]:
            raise InputError(f"the neurons were picked on frame {frame}, outside the recording")
        if frame == now:
            return frame, ""
        return frame, (
            f"tracking from frame {frame}, where the neurons were picked (not the slider's {now})"
        )

    def corrections(self) -> pd.DataFrame:
        """`neuron_id,frame,y,x` (green pixels) of every point the user moved since the last run."""
        layer = self._tracked_layer()
        if self.tracks is None or layer is None:
            return pd.DataFrame(columns=["neuron_id", "frame", "y", "x"])
        self._scan_edits()
        feats = layer.features
        data = np.asarray(layer.data, float)
        keys = list(zip(feats["neuron_id"].astype(str), feats["frame"].astype(int)))
        rows = [i for i, k in enumerate(keys) if k in self.edited]
        out = pd.DataFrame(
            {
                "neuron_id": [keys[i][0] for i in rows],
                "frame": [keys[i][1] for i in rows],
                "y": data[rows, -2] if rows else [],
                "x": data[rows, -1] if rows else [],
            }
        )
        return out.drop_duplicates(["neuron_id", "frame"], keep="first").reset_index(drop=True)

    @reports_errors("re-tracking")  # (an unexpected error too: one message, the policy)
    def start_retracking(self):
        """Re-track around the user's corrections (all manual points are kept as anchors)."""
        try:
            if self.tracks is None:
                raise InputError("track first: there are no tracks to correct")
            corr = self.corrections()
            if corr.empty:
                layer = self._tracked_layer()
                raise InputError(
                    f"no corrections: drag points in {layer.name!r} to where the neuron is"
                    if layer is not None
                    else "no corrections: the tracked-neurons layer was deleted; press Track "
                    "to track again (or reopen the session)"
                )
            channel, stack, transform = channel_stack(self.ctx, self.run_info.get("channel", "red"))
            shape = stack.shape[-2:]
            tracks_n = to_native(self.tracks, transform, shape)
            corr_n = to_native(corr, transform, shape)
            # the tracks table keeps ids as strings (as shown in layers)
            tracks_n["neuron_id"] = tracks_n["neuron_id"].astype(str)
        except CatrackError as exc:
            self.status.setText(str(exc))
            report_exception(exc, "re-tracking")
            return None
        params = TrackParams.from_dict({**self.track_params(channel).to_dict(), **{
            k: v for k, v in self.run_info.items() if k == "model"}})  # fmt: skip
        info = {**self.run_info, **params.to_dict(), "corrections": len(corr),
                "alignment": None if transform is None else transform.to_dict()}  # fmt: skip

        def work(job):
            return retrack(tracks_n, corr_n, stack, progress=job.progress,
                           cancel=job.cancelled, params=params)  # fmt: skip

        return self._launch(work, f"re-tracking on {channel}", info, shape, transform)

    def track_params(self, channel: str | None = None) -> TrackParams:
        """The tracking settings shown (a `TrackParams`, exactly what the core gets)."""
        return self.form.params(channel=channel or self.track_channel.currentText(),
                                model=self.model.currentText())  # fmt: skip

    def _launch(self, work, what: str, info: dict, shape, transform):
        def failed(exc: BaseException) -> None:
            kept = "previous tracks kept" if self.tracks is not None else "no tracks yet"
            line = self.status.text()
            self.last_outcome = f"{what} cancelled; {kept}" if "cancelled" in line else line
            self.status.setText(self.last_outcome)

        review_at = self._review_settings()

        def work_and_prepare(job):  # the layers' data made in the worker, not the GUI thread
            return prepare_tracks(work(job), transform, shape, review_at)

        self.job = start_job(
            self, work_and_prepare, what=what,
            on_done=lambda shown: self._on_result(shown, what, info, transform),
            on_failed=failed, bar=self.bar, buttons=[self.track_button, self.retrack_button],
            cancel_button=self.cancel_button, status=self.status,
        )  # fmt: skip
        return self.job

    def cancel(self) -> None:
        """Ask the running job to stop; the previous tracks stay as they are."""
        if self.job is not None:
            self.job.cancel()
            self.status.setText("cancelling...")

    def _review_settings(self) -> tuple[float, int] | None:
        """(threshold, merge gap) of the review list as set now; None if the form is invalid."""
        try:
            p = self.form.params()
        except CatrackError:
            return None
        return float(p.low_confidence), int(p.review_gap)

    def _on_result(self, shown: ShownTracks, what: str, info: dict, transform) -> None:
        tracks = self.tracks = shown.tracks
        self.run_info = {k: v for k, v in info.items() if k != "corrections"}
        self.edited.clear()
        self.show_tracks(shown=shown)
        from napari_catrack.core.tracking.records import record_tracks

        params = TrackParams.from_dict(info)
        facts = {k: v for k, v in info.items()
                 if k not in params.to_dict() and k not in ("seed_frame", "alignment")}  # fmt: skip
        facts.update(step="re-track" if what.startswith("re-") else "track",
                     n_manual=int((tracks.source == "manual").sum()))  # fmt: skip
        record_tracks(self.ctx.session, self.tracks, params, seed_frame=info.get("seed_frame", 0),
                      alignment=transform, facts=facts,
                      inputs=self.ctx.recording_inputs(params.channel))  # fmt: skip
        self.bar.setValue(100)
        self.last_outcome = (
            f"{what} done: {tracks.neuron_id.nunique()} neurons x {tracks.frame.nunique()} "
            f"frames; {self._n_low} place(s) to review"
        )
        n_manual = int((tracks.source == "manual").sum())
        if n_manual:  # the user's own points, fixed in every later run
            self.last_outcome += f"; {n_manual} hand correction(s) kept as anchors"
        self.last_outcome += self._hide_seeds()
        self.status.setText(self.last_outcome)

    def _hide_seeds(self) -> str:
        """Hide the seeds layer once tracks exist; returns the status-line note ("" if none).

        Its labels sit where the neurons were picked, on every frame, so each tracked neuron had
        a second label, in the wrong place on most frames (h16 first-hour walk). Hidden, not
        deleted: a new Track reads it and the user may turn it back on. It shows again when the
        tracked neurons are removed or neurons are picked afresh (`CandidatesPanel.show_seeds`)."""
        seeds = self.candidates.neurons_layer(create=False)
        if seeds is None or not len(seeds.data) or not seeds.visible:
            return ""
        seeds.visible = False
        return "; " + SEEDS_HIDDEN

    def _on_layer_removed(self, event: Any) -> None:
        """The tracked-neurons layer deleted (the way to track afresh): show the seeds again."""
        try:
            self.objectName()
        except RuntimeError:  # the widget is gone
            self.viewer.layers.events.removed.disconnect(self._on_layer_removed)
            return
        layer = getattr(event, "value", None)
        role = getattr(layer, "metadata", {}).get("catrack", {}).get("role")
        if layer is None or (role != TRACKED and layer.name != TRACKED):
            return
        if self._tracked_layer() is None and self.candidates.show_seeds():
            self.status.setText(
                "tracked neurons removed: the seeds ('neurons') are shown again; Track starts "
                "afresh from them"
            )

    # ---- layers ----------------------------------------------------------------------------
    def _tracked_layer(self):
        """The points layer whose edits are corrections: the one this widget wrote (also after
        the user renamed it), else a layer named "tracked neurons" (e.g. from a session file)."""
        if self._watched is not None and self._watched in self.viewer.layers:
            return self._watched
        marked = [
            lay for lay in self.viewer.layers
            if lay.metadata.get("catrack", {}).get("role") == TRACKED
        ]  # fmt: skip
        if marked:  # ours, whatever the user renamed it to
            return marked[-1]
        return self.viewer.layers[TRACKED] if TRACKED in self.viewer.layers else None

    def _adopt_layer_edits(self, layer, data: np.ndarray, feats: pd.DataFrame) -> bool:
        """When the widget is (re)opened over a tracked-neurons layer holding the same points as
        the stored tracks, the points the user dragged meanwhile stay where they are and count as
        corrections (the layer is what the user sees; the widget must not undo it)."""
        old = layer.features
        if len(layer.data) != len(data) or not {"neuron_id", "frame"} <= set(old.columns):
            return False
        same = (old["neuron_id"].astype(str).to_numpy() == feats["neuron_id"].astype(str).to_numpy()
                ) & (old["frame"].to_numpy() == feats["frame"].to_numpy())  # fmt: skip
        if not same.all():
            return False
        self._watched, self._shown = layer, data.copy()
        layer.events.data.connect(self._on_tracked_edited)
        moved = self._scan_edits()
        if moved:
            marked = old.copy()
            marked.loc[moved, "source"] = "manual"
            layer.features = marked
            layer.border_color = confidence_colors(marked.confidence, marked.source)
        return True

    def show_tracks(self, keep_layer_edits: bool = False, shown: ShownTracks | None = None) -> None:
        """Refresh "tracks" and "tracked neurons" from `self.tracks` (`keep_layer_edits`: on
        restoring, points dragged in an existing layer are kept as corrections; `shown`: the
        layers' data already prepared from `self.tracks` in a worker)."""
        tracks = self.tracks
        if shown is None:
            shown = ShownTracks(tracks, tracks_layer(tracks, name="tracks", tail_length=15),
                                tracked_points(tracks))  # fmt: skip
        set_or_add(self.viewer, shown.tracks_layer, "tracks")
        data, feats, colors = shown.points
        self._syncing = True
        try:
            layer = self._tracked_layer()
            if (
                keep_layer_edits
                and layer is not None
                and layer is not self._watched
                and self._adopt_layer_edits(layer, data, feats)
            ):
                return
            if layer is not None:
                layer.selected_data = set()
                layer.data = data
                layer.features = feats
                layer.border_color = colors
                if layer is not self._watched:  # e.g. restored from a session file
                    layer.events.data.connect(self._on_tracked_edited)
            else:
                layer = self.viewer.add_points(
                    data, name=TRACKED, features=feats, size=8, face_color="transparent",
                    metadata={"catrack": {"role": TRACKED}},
                    border_color=colors, border_width=0.2,
                    text={"string": "neuron_id", "size": 8, "color": "white",
                          "translation": [0, -6, 0]},
                )  # fmt: skip
                label_axes(layer)
                layer.events.data.connect(self._on_tracked_edited)
            self._watched = layer
            self._shown = data.copy()
        finally:
            self._syncing = False
            self.refresh_low_confidence(shown)

    def _scan_edits(self) -> list[int]:
        """Points whose position differs from the last result are corrections (marked manual)."""
        layer = self._tracked_layer()
        if layer is None:
            return []
        data = np.asarray(layer.data, float)
        if data.shape != self._shown.shape:
            return []
        moved = np.flatnonzero(np.abs(data[:, 1:] - self._shown[:, 1:]).max(axis=1) > 1e-6)
        feats = layer.features
        for i in moved:
            self.edited.add((str(feats.at[i, "neuron_id"]), int(feats.at[i, "frame"])))
        return moved.tolist()

    def _on_tracked_edited(self, event: Event) -> None:
        action = getattr(event, "action", None)
        if self._syncing or action not in ("changed", "added", "removed"):
            return
        if action != "changed":  # keep the reference aligned with the layer's rows
            data = np.asarray(event.source.data, float)
            if action == "removed":
                self._shown = np.delete(self._shown, list(event.data_indices), axis=0)
            else:
                self._shown = np.vstack([self._shown, data[len(self._shown) :]])
                self.status.setText("add neurons in the 'neurons' layer; here, drag points")
            return
        moved = self._scan_edits()
        if not moved:
            return
        layer = event.source
        feats = layer.features.copy()
        feats.loc[moved, "source"] = "manual"
        self._syncing = True
        try:
            layer.features = feats
            layer.border_color = confidence_colors(feats.confidence, feats.source)
        finally:
            self._syncing = False
        self.status.setText(f"{len(self.edited)} correction(s); press Re-track to use them")

    def refresh_low_confidence(self, shown: ShownTracks | None = None) -> pd.DataFrame:
        """List the REVIEW_SHOWN worst places to review (`review_stretches`); count the rest
        (`shown`: a review list prepared in the worker, used if made with today's settings)."""
        self.low_list.clear()
        self._n_low = 0
        self.low_more.setText("")
        self.low_more.hide()
        self.review_label.setText(REVIEW_NONE_YET)
        if self.tracks is None:
            return pd.DataFrame()
        try:
            p = self.form.params()
        except CatrackError as exc:
            report_exception(exc, "review list")
            return pd.DataFrame()
        if (
            isinstance(shown, ShownTracks)  # (a form's `changed` signal passes its own argument)
            and shown.review is not None
            and shown.tracks is self.tracks
            and shown.review_at == (float(p.low_confidence), int(p.review_gap))
        ):
            review = shown.review
        else:
            review = review_stretches(
                self.tracks, threshold=p.low_confidence, merge_gap=p.review_gap
            )
        self._n_low = len(review)
        for r in review.head(REVIEW_SHOWN).itertuples(index=False):
            span = f"{r.start_frame}" if r.start_frame == r.end_frame else (
                f"{r.start_frame}-{r.end_frame}")  # fmt: skip
            jump = f", jumps {r.jump_px:.1f} px" if r.jump_px >= 2 else ""
            lost = f", {r.lost_frames} lost" if r.lost_frames else ""  # no peak for long: held
            # on a peak that fits badly: what ranks a place first (h18)
            poor = f", {r.poor_match_frames} poorly matched" if r.poor_match_frames else ""
            item = QListWidgetItem(
                f"{r.rank}. {r.neuron_id}: frames {span} ({r.low_frames} low{lost}{poor}, min "
                f"{r.min_confidence:.2f}{jump})"
            )
            item.setData(Qt.ItemDataRole.UserRole, (str(r.neuron_id), int(r.worst_frame)))
            self.low_list.addItem(item)
        rest = len(review) - self.low_list.count()
        self.low_more.setText(
            f"... and {rest} more places (fix these, re-track, and the list shrinks)"
            if rest
            else ""
        )
        self.low_more.setVisible(bool(rest))
        self.review_label.setText(
            REVIEW_HEADER
            if len(review)
            else f"Places to review: none (confidence ≥ {p.low_confidence:g} throughout)"
        )
        return review

    def _on_low_clicked(self, item: QListWidgetItem) -> None:
        nid, frame = item.data(Qt.ItemDataRole.UserRole)
        self.go_to(nid, frame)

    def go_to(self, neuron_id: str, frame: int) -> None:
        """Show `frame`, select that neuron's point there and centre the view on it."""
        self.viewer.dims.set_current_step(0, frame)
        layer = self._tracked_layer()
        if layer is None:
            return
        feats = layer.features
        hit = np.flatnonzero((feats["neuron_id"].astype(str) == str(neuron_id))
                             & (feats["frame"].to_numpy() == frame))  # fmt: skip
        if len(hit):
            self.viewer.layers.selection.active = layer
            layer.mode = "select"
            layer.selected_data = {int(hit[0])}
            y, x = np.asarray(layer.data)[hit[0], -2:]
            scene = getattr(self.viewer, "scene", None)  # napari >= 0.9 moved the camera there
            camera = scene.camera if scene is not None else self.viewer.camera
            camera.center = (float(y), float(x))
