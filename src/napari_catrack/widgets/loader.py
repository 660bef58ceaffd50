"""Load-recording widget: channel layout options for files the reader cannot resolve alone.

Interleaved frames are checked for being one channel split in two (`io.layouts`): the widget
then warns in its status line and in a notification instead of silently showing two channels.
What an Open said (an error, a cancel, such a warning) stays in that line until the next Open or
Dismiss; the metadata box below always describes what is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import (
    ComboBox,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from napari_catrack.errors import Cancelled, CatrackError
from napari_catrack.io.layouts import LAYOUTS
from napari_catrack.layers import label_axes
from napari_catrack.widgets._common import show_info
from napari_catrack.widgets._context import ViewerContext
from napari_catrack.widgets._dock import StatusLine, scroll_body
from napari_catrack.widgets._worker import report_exception, start_job

if TYPE_CHECKING:
    import napari

AUTO = "auto"


class LoaderWidget(QWidget):
    """Open a recording with explicit layout options and show its metadata.

    The controls are magicgui widgets (file picker, ...) in a labelled form inside the catrack
    scroll area (napari docks a magicgui container's inner widget, so magicgui's own scrolling
    would be lost in a dock).
    """

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.path = FileEdit(label="recording", mode="r", filter="*.tif *.tiff *.h5 *.hdf5")
        self.layout_choice = ComboBox(label="channel layout", choices=(AUTO, *LAYOUTS), value=AUTO)
        self.green_channel = SpinBox(label="green channel", min=0, max=15, value=0)
        self.red_channel = SpinBox(label="red channel", min=0, max=15, value=1)
        for box, colour in ((self.green_channel, "green"), (self.red_channel, "red")):
            box.tooltip = (f"the {colour} channel's index; with 3+ channels and layout auto "
                           "these boxes pick the two channels")  # fmt: skip
        self.dataset = LineEdit(label="HDF5 dataset", value="")
        self.axes = LineEdit(label="axes (e.g. TCYX)", value="")
        self.z_projection = ComboBox(
            label="Z projection", choices=("max", "mean", "one plane"), value="max"
        )
        self.z_plane = SpinBox(label="Z plane", min=0, max=9999, value=0, enabled=False)
        self.z_plane.tooltip = "with Z projection 'one plane': the plane kept (0 = the first)"
        self.z_projection.changed.connect(
            lambda value: setattr(self.z_plane, "enabled", value == "one plane")
        )
        self.fps = FloatSpinBox(label="frame rate (Hz, 0=file)", min=0, max=10000, step=0.5)
        self.pixel_size = FloatSpinBox(
            label="pixel size (µm, 0=file)", min=0, max=1000, step=0.01, value=0
        )
        self.open_button = PushButton(text="Open")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.cancel_button.tooltip = "stop opening: no layers are added and the file is closed"
        self.bar = QProgressBar()  # busy while the file is read (a worker: the UI stays live)
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.job = None
        # what the last Open said (its error, a cancel, the file's warnings): it stays until the
        # next Open or Dismiss. In the metadata box, the next session/channel/rate change
        # replaced an error the user may not have read yet with the recording's description
        self.status = StatusLine("")
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("hide this message (the next Open says what it finds)")
        self.dismiss_button.clicked.connect(lambda: self.say(""))
        self.dismiss_button.setVisible(False)
        self.info = Label(label="metadata", value="no recording opened")
        self.info.native.setWordWrap(True)
        # fits the default dock width: a field that does not fit beside its label goes below it,
        # the file picker's button is short and the metadata/error text wraps under its label
        self.path.choose_btn.text = "Choose…"
        self.path.choose_btn.tooltip = "select the recording file"
        self.info.native.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        for w in (self.path, self.layout_choice, self.green_channel, self.red_channel,
                  self.dataset, self.axes, self.z_projection, self.z_plane, self.fps,
                  self.pixel_size):  # fmt: skip
            form.addRow(w.label, w.native)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button.native)
        buttons.addWidget(self.cancel_button.native)
        form.addRow(buttons)
        form.addRow(self.bar)
        self.said_row = QWidget()  # hidden while it says nothing: no blank row in the form
        said = QHBoxLayout(self.said_row)
        said.setContentsMargins(0, 0, 0, 0)
        said.addWidget(self.status, 1)
        said.addWidget(self.dismiss_button, 0, Qt.AlignTop)
        self.said_row.setVisible(False)
        form.addRow(self.said_row)
        form.addRow(QLabel(self.info.label))
        form.addRow(self.info.native)
        layout = scroll_body(self)
        layout.addLayout(form)
        layout.addStretch(1)
        self.open_button.changed.connect(self.start_open)
        self.recording = None
        # what is open, found the way every widget finds it (`ViewerContext.recording`): a
        # session reopened from File > Open showed "no recording opened" beside its layers
        self.ctx = ViewerContext.of(napari_viewer)
        self.refresh()
        self.ctx.events.session.connect(self._on_context)
        self.ctx.events.channels.connect(self._on_context)
        self.ctx.events.fps.connect(self._on_context)

    def refresh(self) -> None:
        """Show the recording open in the viewer (its file, session, channels, frames, rate)."""
        self.info.value = describe_open(self.ctx)

    def say(self, text: str) -> None:
        """What the last Open said, under its buttons until the next Open or Dismiss ("": none)."""
        self.status.setText(text)
        self.dismiss_button.setVisible(bool(text))
        self.said_row.setVisible(bool(text))

    def _on_context(self, _event=None) -> None:
        from napari_catrack.widgets._context_controls import _alive

        if not _alive(self):
            for emitter in (self.ctx.events.session, self.ctx.events.channels, self.ctx.events.fps):
                emitter.disconnect(self._on_context)
            return
        if self.job is not None and self.job.running:
            return  # the open in progress shows its own result
        self.refresh()

    def _z_projection(self) -> str | int:
        """max, mean, or the index of the one plane kept (what `open_recording` takes)."""
        if self.z_projection.value == "one plane":
            return int(self.z_plane.value)
        return self.z_projection.value

    def _read_job(self):
        """The chosen options, read here (GUI thread); the returned function opens the file and
        reads what the layers need (safe in a worker thread): (recording, layer data)."""
        from napari_catrack import layers
        from napari_catrack.io.recording import open_recording

        layout = self.layout_choice.value
        options = {
            "layout": None if layout == AUTO else layout,
            "green_channel": self.green_channel.value,
            "red_channel": self.red_channel.value,
            "dataset": self.dataset.value or None,
            "axes": self.axes.value or None,
            "z_projection": self._z_projection(),
            "fps": self.fps.value or None,
            "pixel_size_um": self.pixel_size.value or None,
        }
        path = str(self.path.value)

        def read(cancelled=lambda: False, opened=lambda rec: None):
            rec = open_recording(path, **options)
            opened(rec)
            if cancelled():  # before the first frame is read for the layers
                raise Cancelled("opening the recording cancelled; nothing was added")
            layer_data = layers.recording_layers(rec)
            layers.warm_units()  # (else the first layer made builds it in the GUI thread, ~1 s)
            return rec, layer_data

        return read

    def start_open(self, *_):
        """The Open button: read the file in a worker (a large TIFF's pages, a first frame for
        the contrast, the first import of dask), then add the layers; returns the job.
        Cancel adds no layers and closes the file (its read is not interrupted: it is checked
        after opening the file and before the layers are shown)."""
        if self.job is not None and self.job.running:
            return None
        self.say("")  # this Open's outcome replaces the last one's
        read = self._read_job()
        opened: list = []  # the recording read, closed if the open is cancelled or fails

        def failed(exc: BaseException) -> None:
            for rec in opened:
                if rec is not self.recording:  # not shown (a failure after: its layers close it)
                    rec.close()
            self._failed(exc)

        self.job = start_job(self, lambda job: read(job.cancelled, opened.append),
                             what="opening the recording",
                             on_done=lambda result: self._show(*result), on_failed=failed,
                             bar=self.bar, buttons=[self.open_button.native],
                             cancel_button=self.cancel_button.native)  # fmt: skip
        return self.job

    def _failed(self, exc: BaseException) -> None:
        self.refresh()  # what is open is unchanged
        if isinstance(exc, Cancelled):
            self.say("opening cancelled: nothing was added")
        elif isinstance(exc, CatrackError):
            self.say(f"error: {exc}")

    def open_recording(self) -> list:
        """Open with the chosen options in this thread, add the layers, show the metadata;
        returns the layers (what scripts call; the Open button runs `start_open`)."""
        self.say("")
        try:
            rec, layer_data = self._read_job()()
        except CatrackError as exc:
            report_exception(exc, "opening the recording")
            self.say(f"error: {exc}")
            return []
        return self._show(rec, layer_data)

    def _show(self, rec, layer_data) -> list:
        """Add the recording's layers and note it in the session (GUI thread)."""
        from napari.layers import Layer

        from napari_catrack.handles import close_with_layers
        from napari_catrack.session import session_for_viewer
        from napari_catrack.session_layers import behaviour_layers_beside_video
        from napari_catrack.video_session import continued_layers, note_opened

        self.recording = rec
        close_with_layers(self.viewer, rec)  # its file handle: closed with its last layer
        before = session_for_viewer(self.viewer)
        moved = note_opened(self.viewer, rec)  # a recording opened again: its session
        continued = session_for_viewer(self.viewer) is not before
        layer_data = [
            *layer_data,
            *(continued_layers(self.viewer, layer_data) if continued else []),
        ]
        added = [
            self.viewer.add_layer(label_axes(Layer.create(data, meta, kind)))
            for data, meta, kind in [
                *layer_data,  # and a separate behaviour video's masks, centerline
                *behaviour_layers_beside_video(self.viewer, rec.path),
            ]
        ]
        warnings = [n for n in rec.metadata.get("notes", []) if n.startswith("WARNING")]
        warnings += [moved] if moved else []  # an earlier session beside it is never replaced
        self.info.value = describe_open(self.ctx, rec.summary())
        self.say("\n".join(warnings))  # kept when a session/channel/rate change redraws the box
        if warnings:
            from napari.utils.notifications import show_warning

            for line in warnings:
                show_warning(f"napari-catrack: {line}")
        else:
            show_info(f"napari-catrack: opened {rec.n_frames} frames ({rec.layout})")
        return added


def describe_open(ctx: ViewerContext, summary: dict | None = None) -> str:
    """What is open in the viewer: "open: FILE (session S)" and its summary (`format_summary`),
    the frame rate being the one in force for every widget; "no recording opened" when none."""
    import os

    recording = ctx.recording()
    if summary:  # the recording just opened here (maybe not the session's): its own file
        recording = {"path": summary.get("path"), "summary": summary}
    summary = dict(recording.get("summary") or {})
    path = recording.get("path") or summary.get("path")
    if not path and not summary:
        return "no recording opened"
    session = ctx.session.path
    lines = [f"open: {os.path.basename(str(path)) if path else 'a recording'}"
             + (f" (session {session.name})" if session is not None else "")]  # fmt: skip
    if summary.get("frames") is not None:
        fps = ctx.fps()
        rate = f"{fps:g} Hz ({ctx.fps_source()})" if fps else None
        lines.append(format_summary(summary, rate))
    return "\n".join(lines)


def format_summary(summary: dict, rate: str | None = None) -> str:
    """A recording's summary in up to four lines; `rate` replaces its own frame rate's text.
    What the summary does not hold is left out (a layer's summary, e.g. a sample's, may hold
    its frames only: the Load recording widget stopped with KeyError 'height' on docking)."""
    get = summary.get
    fps, px = get("fps"), get("pixel_size_um")
    size = [f"{get('frames')} frames"] if get("frames") is not None else []
    if get("height") is not None and get("width") is not None:
        size.append(f"{get('height')} x {get('width')} px")
    if get("dtype"):
        size.append(str(get("dtype")))
    kind = [f"{get('channels')} channel(s)"] if get("channels") is not None else []
    kind += [f"{key} {get(key)}" for key in ("layout", "axes") if get(key)]
    lines = [", ".join(size), ", ".join(kind) + (f" (Z: {get('z')})" if get("z") else "")]
    lines = [line for line in lines if line]
    lines.append(f"frame rate: {rate or (f'{fps:g} Hz' if fps else 'unknown')}")
    lines.append(f"pixel size: {f'{px:g} µm' if px else 'unknown'}")
    return "\n".join(lines)
