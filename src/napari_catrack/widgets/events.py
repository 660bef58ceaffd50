"""Behaviour events widget: events and a behaviour video on the imaging clock, the video in step
with the calcium movie, event ticks in the trace viewer, event-triggered averages.

Thin: `core.events` does the work (`align_events`, `video_frame_for_imaging`,
`event_triggered_averages`, in a `start_job` worker); results go to the session (steps
`events`, `behaviour_video`, `eta`) and to layers. The video layer shows, at each imaging frame,
the video frame nearest in time (a lazy view of the video file: nothing is decoded until shown).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtCore import QEvent, QSize
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_catrack.core.events.params import EtaParams, EventAlignParams
from napari_catrack.errors import InputError
from napari_catrack.layers import label_axes
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import StatusLine, scroll_body
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import start_job

if TYPE_CHECKING:
    import napari

VIDEO_LAYER = "behaviour video"
ETA_PX_PER_KIND = 360  # heat map + mean curves of one event kind: titles and labels stay apart
RESULT_TABLE_PX = 170  # the responsive-neuron table: its header and about five rows


def _file_row(edit: QLineEdit, title: str, filters: str, owner: QWidget) -> QHBoxLayout:
    button = QPushButton("…")
    button.setMaximumWidth(32)

    def choose() -> None:
        path, _ = QFileDialog.getOpenFileName(owner, title, "", filters)
        if path:
            edit.setText(path)

    button.clicked.connect(choose)
    row = QHBoxLayout()
    row.addWidget(edit)
    row.addWidget(button)
    return row


def _scrolled(content: QWidget) -> QScrollArea:
    """`content` in a frameless vertical scroll area (a tab page that may be short)."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setWidget(content)
    return area


def _seconds(minimum: float = -1e6) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(minimum, 1e6)
    box.setDecimals(3)
    box.setSuffix(" s")
    return box


class _FittedTabs(QTabWidget):
    """Tabs as tall as the page in front needs (its scrolled content), within `room()` (the
    dock's height left by what follows them; None: not known yet), and the pages in `fill` as
    tall as that room. Asked again when a page's content changes ("More options" opened) and
    when the dock is resized."""

    def __init__(self, room) -> None:
        super().__init__()
        self.room = room
        self.fill: set = set()

    def addTab(self, page: QWidget, title: str) -> int:
        content = page.widget() if isinstance(page, QScrollArea) else page
        content.installEventFilter(self)
        return super().addTab(page, title)

    def eventFilter(self, obj, event) -> bool:
        if event.type() in (QEvent.LayoutRequest, QEvent.Resize):
            self.updateGeometry()
        return False

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        page = self.currentWidget()
        content = page.widget() if isinstance(page, QScrollArea) else page
        if content is None:
            return hint
        chrome = self.tabBar().sizeHint().height() + 2 * self.style().pixelMetric(QStyle.PM_DefaultFrameWidth) + 2  # fmt: skip
        need, room = content.sizeHint().height() + chrome, self.room()
        if room is None:
            return QSize(hint.width(), hint.height() if page in self.fill else need)
        least = self.minimumSizeHint().height()
        return QSize(hint.width(), max(least, room if page in self.fill else min(need, room)))


class EventsWidget(QWidget):
    """Load events and a behaviour video, line them up, compute event-triggered averages."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.ctx = ViewerContext.of(napari_viewer)
        self.job = None
        self.result = None

        self.events_file = QLineEdit()
        self.frame_times = QLineEdit()
        self.video_file = QLineEdit()
        # short placeholders (whole in a narrow dock, where "optional: imaging frame…" was
        # elided, h20 screenshots); each field's tooltip says it all
        for field, short, full in (
            (self.events_file, "CSV of events",
             "a table (CSV, TSV, Excel): event name + time_s or video frame"),
            (self.frame_times, "optional: CSV",
             "optional: the imaging frames' timestamps (a CSV with time_s)"),
            (self.video_file, "optional: video",
             "optional: the behaviour video (AVI, MP4, MOV, MKV)"),
        ):  # fmt: skip
            field.setPlaceholderText(short)
            field.setToolTip(full)
        self.events_start = _seconds()
        self.events_start.setToolTip("imaging-clock time at which the event file's clock reads 0")
        self.video_start = _seconds()
        self.video_start.setToolTip("imaging-clock time of the video's first frame")
        self.video_fps = QDoubleSpinBox()
        self.video_fps.setRange(0, 10000)
        self.video_fps.setSpecialValueText("from the video")
        self.video_fps.setSuffix(" Hz")
        form = QFormLayout()
        form.addRow(
            "event file",
            _file_row(self.events_file, "Events", "Tables (*.csv *.tsv *.xlsx *.xls)", self),
        )
        form.addRow("event clock starts at", self.events_start)
        form.addRow(
            "imaging frame times", _file_row(self.frame_times, "Frame times", "CSV (*.csv)", self)
        )
        form.addRow(
            "behaviour video",
            _file_row(self.video_file, "Behaviour video", "Videos (*.avi *.mp4 *.mov *.mkv)", self),
        )
        form.addRow("video frame rate", self.video_fps)
        form.addRow("video starts at", self.video_start)
        self.align_button = QPushButton("Line up events (and video)")
        self.align_button.clicked.connect(self.line_up)
        self.summary = StatusLine("")  # (hidden while empty: a blank line under Line up)

        self.form = ParamsForm(EtaParams)
        self.eta_button = QPushButton("Event-triggered averages")
        self.eta_button.clicked.connect(self.compute)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.bar = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["neuron", "event", "response", "p", "q", "direction"])
        self.figure = Figure(figsize=(5, 4), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(320)

        self.table.setMinimumHeight(RESULT_TABLE_PX)  # a few rows above the figure
        # Two tabs, each scrolling on its own, over the run buttons, progress and status (always
        # in view): the settings filled the dock's height and the results sat below its fold
        settings = QWidget()
        layout = QVBoxLayout(settings)
        layout.addLayout(form)
        layout.addWidget(self.align_button)
        layout.addWidget(self.summary)
        layout.addWidget(self.form)
        layout.addStretch(1)
        results = QWidget()
        shown = QVBoxLayout(results)
        shown.addWidget(QLabel("Responsive neurons (q < alpha)"))
        shown.addWidget(self.table)
        shown.addWidget(self.canvas)
        self.tabs = _FittedTabs(self._tabs_room)
        self.settings_tab, self.results_tab = _scrolled(settings), _scrolled(results)
        self.tabs.addTab(self.settings_tab, "Events and settings")
        self.tabs.addTab(self.results_tab, "Results")
        self.tabs.fill.add(self.results_tab)
        self.tabs.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)
        outer = scroll_body(self)  # a dock shorter than the run block still scrolls as a whole
        outer.addWidget(self.tabs)
        buttons = QHBoxLayout()
        buttons.addWidget(self.eta_button)
        buttons.addWidget(self.cancel_button)
        outer.addLayout(buttons)
        outer.addWidget(self.bar)
        outer.addWidget(self.status)
        # the run block follows the settings, the room left below it (pinned to the dock's
        # bottom, a tall dock showed a blank between the settings and their buttons: h20 at
        # 1920 x 1200); the results tab takes the dock's height left by the run block, which
        # stays in view under either tab
        outer.addStretch(1)
        self.scroll_area.viewport().installEventFilter(self.tabs)  # resized: room anew
        self.tabs.currentChanged.connect(lambda *_: self.tabs.updateGeometry())
        self.ctx.events.session.connect(self._restore)
        self._restore()

    def _tabs_room(self) -> int | None:
        """The body's height left to the tabs by the run block under them (None: not shown)."""
        view = self.scroll_area.viewport().height()
        outer = self.body.layout()
        if view < 100 or outer is None:
            return None
        margins = outer.contentsMargins()
        block = [self.eta_button, self.bar, self.status]
        used = sum(max(w.sizeHint().height(), w.height()) for w in block if not w.isHidden())
        return view - used - 3 * max(outer.spacing(), 0) - margins.top() - margins.bottom()

    def _restore(self, _event: Any = None) -> None:
        """Show what the session holds (a reopened widget or session): the lined-up events with
        the files and clock settings they came from, their counts, and the averages. The widget
        keeps nothing of its own that would die with it."""
        from napari_catrack.core.events.session import ETA, EVENTS

        try:
            session = self.ctx.session
            if EVENTS in session:
                step = session[EVENTS]
                params = EventAlignParams.from_dict(step.params)
                for box, name in ((self.events_file, "source"),
                                  (self.frame_times, "frame_times_source"),
                                  (self.video_file, "video_source")):  # fmt: skip
                    # stored absolute (older sessions: relative to the working folder)
                    box.setText(session.resolve_stored_path(step.attrs.get(name) or "") or "")
                self.events_start.setValue(params.events_start_s)
                self.video_fps.setValue(params.video_fps or 0.0)
                self.video_start.setValue(params.video_start_s)
                self._show_counts(step.tables["events"])
            else:
                self.summary.setText("")
            if ETA in session:  # the settings the averages shown were made with (CLI or widget)
                try:
                    self.form.set_params(EtaParams.from_dict(session[ETA].params))
                except InputError:  # a value this version refuses: the boxes keep theirs
                    pass
                self._show(session[ETA])
                self.tabs.setCurrentWidget(self.results_tab)
            else:  # not the averages of another session
                self._clear_eta()
        except RuntimeError:  # the widget was closed
            self.ctx.events.session.disconnect(self._restore)

    # --- events and video -------------------------------------------------------------------
    def align_params(self) -> EventAlignParams:
        return EventAlignParams(
            events_start_s=self.events_start.value(),
            video_fps=self.video_fps.value() or None,
            video_start_s=self.video_start.value(),
        )

    def line_up(self) -> None:
        """Events (and the video) onto the imaging clock, into the session and the viewer."""
        from napari_catrack.core.events.align import align_events, outside_note
        from napari_catrack.core.events.session import (
            ETA,
            frame_times_rate_note,
            imaging_clock,
            read_imaging_frame_times,
            record_events,
            record_video,
            recording_frames,
            uneven_clock_note,
        )
        from napari_catrack.io.events import read_events
        from napari_catrack.widgets._worker import report_exception

        try:  # every input is read and checked before the session's events are replaced
            if not self.events_file.text().strip():
                raise InputError("choose an event file first")
            params = self.align_params()
            session = self.ctx.session
            n_frames = self._n_frames()
            note = None
            if self.frame_times.text().strip():
                imaging = read_imaging_frame_times(  # with the session, as `catrack events`:
                    self.frame_times.text().strip(),  # traces numbered with gaps are said so
                    n_frames or recording_frames(session),
                    session,
                )
                note = frame_times_rate_note(
                    imaging, self.ctx.fps(), Path(self.frame_times.text().strip()).name
                )
            else:
                imaging = imaging_clock(
                    session, n_frames=n_frames, fps=self.ctx.fps(), recorded=False
                )  # the rate kept over uneven time_s: said, as `catrack events` says it
                note = uneven_clock_note(session, self.ctx.fps()) or None
            video, raw = self._video(params)
            aligned = align_events(
                read_events(self.events_file.text().strip()), imaging, params, video=video
            )
            outside = outside_note(aligned, imaging)  # events in ms, a wrong clock start
            note = "; ".join(n for n in (note, outside) if n) or None
            record_events(
                session,
                aligned,
                imaging,
                params,
                source=self.events_file.text().strip(),
                save=False,
                frame_times_source=self.frame_times.text().strip(),
                video_source=self.video_file.text().strip(),
            )
            if ETA in session:  # averaged around the events just replaced
                session.remove(ETA, save=False)
                self._clear_eta()
            if raw is not None:
                record_video(session, self.video_file.text().strip(), video, imaging, save=False)
                self._show_video(raw, session["behaviour_video"].tables["imaging_to_video"])
            session.autosave_now()  # (the GUI's: written in the background)
        except Exception as exc:  # the one error policy, without a background job
            self.summary.setText(report_exception(exc, "lining up events"))
            return
        self._show_counts(aligned)
        if note:  # as `catrack events` warns: shown with the counts, and as a notification
            from napari.utils.notifications import show_warning

            self.summary.setText(f"{self.summary.text()}\nwarning: {note}")
            show_warning(f"napari-catrack: {note}")
        self._redraw_trace_viewers()

    def _show_counts(self, aligned) -> None:
        """Events per kind, and how many landed in the recording (after a line-up or restored)."""
        from napari_catrack.core.events.align import summarise

        counts = summarise(aligned)
        self.summary.setText(
            "; ".join(
                f"{r.event}: {r.events} ({r.in_recording} in the recording)"
                for r in counts.itertuples()
            )
        )

    def _n_frames(self) -> int | None:
        layer = self.ctx.channel_layer("green")
        return int(layer.data.shape[0]) if layer is not None else None

    def _video(self, params: EventAlignParams):
        from napari_catrack.core.events.clock import Clock

        path = self.video_file.text().strip()
        if not path:
            return (
                (Clock.regular(10**7, params.video_fps, params.video_start_s), None)
                if params.video_fps
                else (None, None)
            )
        from napari_catrack.io.video import open_video

        raw = open_video(path)
        fps = params.video_fps or raw.fps
        if not fps:
            raise InputError(
                f"the frame rate of {Path(path).name} is unknown: set the video frame rate"
            )
        return Clock.regular(int(raw.data.shape[0]), fps, params.video_start_s), raw

    def _show_video(self, raw, index_table) -> None:
        """The video as a layer that follows the imaging time slider (nearest frame in time)."""
        index = index_table.sort_values("frame")["video_frame"].to_numpy(np.int64)
        data = raw.data[index]
        green = self.ctx.channel_layer("green")
        offset = float(green.data.shape[-1]) + 10.0 if green is not None else 0.0
        meta = {"catrack": {"role": "behaviour_video", "path": self.video_file.text().strip()}}
        if VIDEO_LAYER in self.viewer.layers:
            layer = self.viewer.layers[VIDEO_LAYER]
            layer.data, layer.metadata = data, meta
        else:
            label_axes(
                self.viewer.add_image(
                    data, name=VIDEO_LAYER, colormap="gray", translate=(0, 0, offset), metadata=meta
                )
            )

    def _redraw_trace_viewers(self) -> None:
        from napari_catrack.widgets.trace_viewer import TraceViewerWidget

        for widget in getattr(self.viewer.window, "dock_widgets", {}).values():
            inner = (
                widget.findChildren(TraceViewerWidget) if hasattr(widget, "findChildren") else []
            )
            for viewer_widget in ([widget] if isinstance(widget, TraceViewerWidget) else []) + list(
                inner
            ):
                viewer_widget.redraw()

    # --- event-triggered averages -----------------------------------------------------------
    def compute(self):
        from napari_catrack.core.events.eta import event_triggered_averages
        from napari_catrack.core.events.session import record_eta, traces_for_eta

        session = self.ctx.session
        try:
            params = self.form.params()
            if "events" not in session:
                raise InputError("line up the events first")
            traces = traces_for_eta(session, params.signal)
        except InputError as exc:
            self.status.setText(str(exc))
            return None
        events = session["events"].tables["events"]

        def work(job):
            return event_triggered_averages(
                traces.values, traces.times, traces.ids, events, params,
                progress=job.progress, cancel=job.cancelled,
            )  # fmt: skip

        def done(result) -> None:
            record_eta(session, result, df_left_out=traces.df_left_out)
            self._show(session["eta"])
            self.tabs.setCurrentWidget(self.results_tab)  # what was asked for, in view

        self.job = start_job(
            self,
            work,
            what="event-triggered averages",
            on_done=done,
            bar=self.bar,
            buttons=[self.eta_button],
            cancel_button=self.cancel_button,
            status=self.status,
        )
        return self.job

    def _clear_eta(self) -> None:
        """No averages in the session: show none (not those of replaced events)."""
        self.table.setRowCount(0)
        self.figure.clear()
        self.canvas.draw_idle()

    def _show(self, step) -> None:
        from napari_catrack.figures.events import draw_eta

        sig, eta = step.tables["significance"], step.tables["eta"]
        hits = sig[sig["significant"].astype(bool)].sort_values("q_value")
        self.table.setRowCount(len(hits))
        for r, row in enumerate(hits.itertuples()):
            values = (
                row.neuron_id,
                row.event,
                f"{row.response:.3f}",
                f"{row.p_value:.3g}",
                f"{row.q_value:.3g}",
                row.direction,
            )
            for c, v in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(str(v)))
        self.figure.clear()
        kinds = max(1, eta["event"].astype(str).nunique())
        self.canvas.setMinimumHeight(ETA_PX_PER_KIND * kinds)  # one kind under the other
        from napari_catrack.figures.events import kind_durations

        session = self.ctx.session
        events = session["events"].tables.get("events") if "events" in session else None
        from napari_catrack.figures.traces import session_dff_is_ratio

        signal = str((step.params or {}).get("signal") or "dff")
        draw_eta(self.figure, eta, sig, stacked=True, durations=kind_durations(events),
                 signal=signal, ratio=session_dff_is_ratio(session))  # fmt: skip
        self.canvas.draw_idle()
        from napari_catrack.core.events.eta import edge_note, edges_total, tested_summary

        # pairs without a p-value were not tested (a kind with too few events, a lost neuron):
        # counting them as "of N" read as tested and negative, as `catrack events` said
        text = tested_summary(sig, step.params.get("min_events", EtaParams().min_events))
        text += edge_note(edges_total(step.attrs.get("edges")))  # events at the ends, as the CLI
        if n_df := len(step.attrs.get("df_left_out") or []):  # dF cells, as the batch row says
            from napari_catrack.figures.style import left_out_label

            text += f"; {left_out_label(None, 0, n_df)}"
        self.status.setText(text)
