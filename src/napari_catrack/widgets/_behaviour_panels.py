"""The centerline and velocity parts of the behaviour widget (see widgets/behaviour.py)."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from napari_catrack.core.behaviour import CenterlineParams, VelocityParams
from napari_catrack.core.behaviour.records import (
    CENTERLINE as CENTERLINE_STEP,
)
from napari_catrack.core.behaviour.records import (
    SEGMENTATION,
    VELOCITY,
    centerline_from_session,
    posture_from_session,
    record_centerline,
    record_velocity,
    segmentation_from_session,
)
from napari_catrack.errors import InputError
from napari_catrack.widgets._behaviour_layers import (
    CENTERLINE,
    MASKS,
    set_centerline,
)
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import start_job
from napari_catrack.widgets.behaviour_plot import refresh_plots

# the widget's own controls, named in the stage log's messages (instead of the CLI's flags)
GUI_NAMES = {"columns": "the 'stage columns' field", "fps": "the 'frame rate (Hz)' box",
             "time_scale": None}  # fmt: skip


def _file_row(edit: QLineEdit, title: str, filters: str) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    browse = QPushButton("…")
    browse.setToolTip(f"choose the {title}")

    def pick():
        path, _ = QFileDialog.getOpenFileName(edit, title, "", filters)
        if path:
            edit.setText(path)

    browse.clicked.connect(pick)
    row.addWidget(browse)
    return row


def _table_fps(table) -> float | None:
    """The frame rate a velocity table's `time_s` was computed with (sessions before the rate
    was stored with it), or None. The behaviour video's rate, its usual step (as
    `core.transients.median_step_rate`): velocities are made from uneven video times too."""
    if table is None or "time_s" not in table or len(table) < 2:
        return None
    frames, times = table["frame"].to_numpy(float), table["time_s"].to_numpy(float)
    ok = np.isfinite(times)
    dt, df = np.diff(times[ok]), np.diff(frames[ok])
    good = dt > 0
    return float(np.median(df[good] / dt[good])) if good.any() else None


def _counts_text(result, how: str = "") -> str:
    counts = {s: int((result.status == s).sum())
              for s in ("ok", "coiled", "filled", "failed", "edited")}  # fmt: skip
    return (
        f"{result.n_frames} centerlines{' ' + how if how else ''}: {counts['ok']} ok, "
        f"{counts['coiled']} coiled (walked through the crossing or fitted), {counts['filled']} "
        f"filled, {counts['failed']} failed (posture NaN), {counts['edited']} edited; see the "
        "doubtful frames"
    )


class CenterlinePanel(QGroupBox):
    """Centerlines from the masks, editable paths, head/tail flips, posture."""

    def __init__(self, owner) -> None:
        super().__init__("2. Centerline and posture")
        self.owner = owner
        self.form = ParamsForm(CenterlineParams)
        self.eigenworms = QLineEdit()
        self.eigenworms.setPlaceholderText("optional: .mat/.npy/.csv basis, or n2")
        self.run_button = QPushButton("Compute centerlines")  # wired by the owner
        self.flip_from, self.flip_to = QSpinBox(), QSpinBox()
        for box in (self.flip_from, self.flip_to):
            box.setRange(0, 10**7)
        self.flip_button = QPushButton("Flip head/tail")
        self.flip_button.setToolTip("swap head and tail in frames from..to (inclusive)")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._edit_timer = QTimer(self)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.setInterval(800)
        self._edit_timer.timeout.connect(self.keep_edits)
        self._watched = None

        lay = QVBoxLayout(self)
        lay.addWidget(self.form)
        form = QFormLayout()
        form.addRow("eigenworm basis", _file_row(self.eigenworms, "eigenworm basis",
                                                 "Eigenworms (*.mat *.npy *.csv)"))  # fmt: skip
        lay.addLayout(form)
        lay.addWidget(self.run_button)
        flip = QHBoxLayout()
        flip.addWidget(QLabel("frames"))
        flip.addWidget(self.flip_from)
        flip.addWidget(QLabel("to"))
        flip.addWidget(self.flip_to)
        flip.addStretch(1)
        lay.addLayout(flip)
        flip_button_row = QHBoxLayout()  # its own row, so the dock fits beside a laptop's canvas
        flip_button_row.addStretch(1)
        flip_button_row.addWidget(self.flip_button)
        lay.addLayout(flip_button_row)
        lay.addWidget(self.status)

    # --- running --------------------------------------------------------------------------
    def run(self):
        from napari_catrack.core.behaviour import compute_centerlines

        owner = self.owner
        session = owner.ctx.session
        step = session[SEGMENTATION] if SEGMENTATION in session else None
        if step is None or step.arrays.get("masks") is None:
            raise InputError("segment the worm first (step 1)")
        # the masks (the painted layer, else the stored ones) are read in the worker: each
        # full-video conversion took ~0.5 s of the GUI thread on 2,000 frames
        labels = owner.viewer.layers[MASKS].data if MASKS in owner.viewer.layers else None
        n_frames = len(labels) if labels is not None else len(step.arrays["masks"])
        params = self.form.params()
        previous = centerline_from_session(session)
        heads = previous[1] if previous is not None else {}
        kept = {}
        if previous is not None and len(previous[0].points) == n_frames:
            old = previous[0]
            kept = {t: old.points[t] for t in np.nonzero(old.status == "edited")[0]}

        frames = owner.matching_frames(n_frames)  # for the head cue from the ends' look

        def work(job):
            if labels is not None:
                masks = np.asarray(labels) > 0
            else:
                masks = segmentation_from_session(session).masks
            res = compute_centerlines(masks, params, head_points=heads, frames=frames,
                                      progress=job.progress, cancel=job.cancelled)  # fmt: skip
            for t, pts in kept.items():  # the user's edited paths stay as they were
                from napari_catrack.core.behaviour.centerline import resample

                same = len(pts) == params.points  # as drawn (a dropped vertex stays put)
                res.points[t] = pts if same else resample(pts, params.points)
                res.status[t] = "edited"
            return res

        return start_job(owner, work, what="centerlines", on_done=lambda r: self._done(r, heads),
                         bar=owner.bar, buttons=owner.buttons(), cancel_button=owner.cancel_button,
                         status=self.status)  # fmt: skip

    def kept(self) -> str:
        """What a failed run leaves in place (said beside its error)."""
        return (
            "the previous centerlines are kept" if CENTERLINE_STEP in self.owner.ctx.session else ""
        )

    def restore(self, result) -> None:
        """Show what the session's centerlines were computed with (the form, the eigenworm
        basis) and their counts, so a recompute here keeps the eigenworm amplitudes."""
        session = self.owner.ctx.session
        step = session[CENTERLINE_STEP]
        self.form.set_params(CenterlineParams.from_dict(step.params))
        basis = (step.attrs.get("posture") or {}).get("eigenworms")
        if basis:
            shown = basis if str(basis).lower() == "n2" else session.resolve_stored_path(basis)
            self.eigenworms.setText(str(shown or basis))
        _, note = posture_from_session(session)  # a posture saved before length_um: why px
        self.status.setText(_counts_text(result, "restored from the session")
                            + (f"; {note}" if note else ""))  # fmt: skip

    def _done(self, result, heads) -> None:
        self.show(result)
        self._record(result, heads)
        self.owner.show_doubtful(status=result.status)
        self.status.setText(f"{_counts_text(result)}; {self.lengths_note()}")

    def _record(self, result, heads) -> None:
        from napari_catrack.core.behaviour import load_eigenworms, posture_table

        basis_text = self.eigenworms.text().strip()
        basis = load_eigenworms(basis_text) if basis_text else None
        pixel = self.pixel_size_um()
        posture = posture_table(result.points, pixel_size_um=pixel, basis=basis,
                                usable=result.posture_ok).assign(status=result.status)  # fmt: skip
        basis_file = basis_text if basis_text.lower() not in ("", "n2") else None  # n2: fetched
        inputs = {**self.owner.video_inputs(), "eigenworms": basis_file}
        record_centerline(self.owner.ctx.session, result, self.form.params().to_dict(),
                          posture=posture, head_points=heads, inputs=inputs,
                          posture_facts={"pixel_size_um": pixel,
                                         "eigenworms": basis_text or None})  # fmt: skip
        refresh_plots(self.owner.viewer)

    def pixel_size_um(self) -> float | None:
        """The picked video's pixel size (`ViewerContext.pixel_size_um`), None when unknown."""
        name = self.owner.video.currentText()
        layer = self.owner.viewer.layers[name] if name in self.owner.viewer.layers else None
        return self.owner.ctx.pixel_size_um(layer)

    def lengths_note(self) -> str:
        """What the posture's lengths are in: µm at the known pixel size, else px and why."""
        pixel = self.pixel_size_um()
        if pixel:
            return f"lengths in µm at {pixel:g} µm/px"
        return ("lengths in px only: the video states no pixel size (open it with the Load "
                "recording widget's pixel size for µm)")  # fmt: skip

    def show(self, result) -> None:
        layer = set_centerline(self.owner.viewer, result.points, result.status,
                               self.owner.ctx.session)  # fmt: skip
        self.watch(layer)
        self.flip_to.setValue(result.n_frames - 1)

    def watch(self, layer) -> None:
        """Say which paths the user edited (the layer itself writes them into the session)."""
        if layer is not self._watched:
            self._watched = layer
            layer.events.data.connect(lambda _e: self._edit_timer.start())

    # --- human in the loop ----------------------------------------------------------------
    def keep_edits(self) -> None:
        """Paths the user dragged are the centerline of their frame (status "edited"): written
        by the layer (`centerline_layer.write_edits`, widget docked or not); this writes any
        still pending, says which frames and redraws the plots."""
        from napari_catrack.centerline_layer import centerline_frames, write_edits

        if CENTERLINE not in self.owner.viewer.layers:
            return
        layer = self.owner.viewer.layers[CENTERLINE]
        frames = centerline_frames(layer)
        if frames is None:
            return
        write_edits(self.owner.viewer, layer)
        edited = frames.take_edited()
        if edited:
            refresh_plots(self.owner.viewer)
            self.status.setText(f"kept your edits of frame(s) {edited[:8]}")

    def flip(self) -> None:
        stored = centerline_from_session(self.owner.ctx.session)
        if stored is None:
            raise InputError("compute centerlines first")
        result, heads = stored
        a, b = sorted((self.flip_from.value(), self.flip_to.value()))
        b = min(b, result.n_frames - 1)
        result.points[a : b + 1] = result.points[a : b + 1, ::-1]
        for t in range(a, b + 1):
            heads[t] = tuple(float(v) for v in result.points[t, 0])
        self.show(result)
        self._record(result, heads)
        self.status.setText(f"head and tail swapped in frames {a}-{b} (kept on recompute)")


class VelocityPanel(QGroupBox):
    """Velocity against the stage log."""

    def __init__(self, owner) -> None:
        super().__init__("3. Velocity")
        self.owner = owner
        self.stage = QLineEdit()
        self.stage.setPlaceholderText("stage log: CSV/Excel/HDF5")
        self.columns = QLineEdit()
        self.columns.setPlaceholderText("optional mapping, e.g. time=Time,y=Y,x=X")
        self.scale = QDoubleSpinBox(minimum=1e-6, maximum=1e9, value=1.0, decimals=6)
        self.scale.setToolTip("µm per stage unit (1000 for mm)")
        self.pixel = QDoubleSpinBox(minimum=0.0, maximum=1e6, value=0.0, decimals=4)
        self.pixel.setToolTip("image pixel size in µm")
        self.fps = QDoubleSpinBox(minimum=0.0, maximum=1e6, value=0.0, decimals=3)
        self.fps.setToolTip(
            "frame rate of the behaviour camera: the video file's own, kept with the velocity; "
            "not the imaging frame rate the calcium widgets share"
        )
        self._filled = 0.0  # the rate last put in the box by `fill_fps` (not typed)
        self.form = ParamsForm(VelocityParams, exclude=("pixel_size_um",))
        self.run_button = QPushButton("Compute velocity")  # wired by the owner
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.addRow("stage log", _file_row(self.stage, "stage log",
                                           "Tables (*.csv *.tsv *.txt *.xlsx *.h5 *.hdf5)"))  # fmt: skip
        form.addRow("stage columns", self.columns)
        form.addRow("µm per stage unit", self.scale)
        form.addRow("pixel size (µm)", self.pixel)
        form.addRow("frame rate (Hz)", self.fps)
        lay.addLayout(form)
        lay.addWidget(self.form)
        lay.addWidget(self.run_button)
        lay.addWidget(self.status)

    def restore(self) -> None:
        """Show the settings the session's velocity was computed with (stage log, pixel size,
        frame rate, the form), whatever layers are open."""
        session = self.owner.ctx.session
        if VELOCITY not in session:
            return
        step = session[VELOCITY]
        stage = session.resolve_stored_path(step.attrs.get("stage"))
        if stage:
            self.stage.setText(str(stage))
        if step.params.get("pixel_size_um"):
            self.pixel.setValue(float(step.params["pixel_size_um"]))
        self.form.set_params(VelocityParams.from_dict(step.params))
        self.fps.setValue(0.0)  # the rate stored with the velocity, not what the box held
        self.fill_fps()
        table = step.tables.get("velocity")
        if table is not None:
            self.status.setText(f"velocity of {len(table)} frames restored from the session")

    def camera_fps(self) -> float | None:
        """The behaviour camera's rate: the one stored with the velocity (its attrs, else its
        table's times), else the picked video layer's own (the file's), else None. Never the
        imaging rate (`ctx.fps`), which the calcium widgets share."""
        session = self.owner.ctx.session
        if VELOCITY in session:
            stored = session[VELOCITY].attrs.get("fps") or _table_fps(
                session[VELOCITY].tables.get("velocity")
            )
            if stored:
                return float(stored)
        name = self.owner.video.currentText()
        if name and name in self.owner.viewer.layers:
            meta = self.owner.viewer.layers[name].metadata.get("catrack", {})
            fps = (meta.get("summary") or {}).get("fps") or meta.get("fps")
            if fps:
                return float(fps)
        return None

    def fill_fps(self) -> None:
        """Pre-fill the frame rate box with the camera's rate, unless the user typed another."""
        if self.fps.value() not in (0.0, self._filled):
            return
        fps = self.camera_fps()
        if fps:
            self.fps.setValue(fps)
            self._filled = self.fps.value()

    def run(self):
        from napari_catrack.core.behaviour import compute_velocity, direction_values
        from napari_catrack.io.stage import read_stage, stage_at

        owner = self.owner
        stored = centerline_from_session(owner.ctx.session)
        if stored is None:
            raise InputError("compute centerlines first (step 2)")
        if not self.stage.text().strip():
            raise InputError("choose the stage log")
        if self.pixel.value() <= 0:
            raise InputError("give the pixel size in µm")
        if self.fps.value() <= 0:
            raise InputError("give the frame rate")
        params = self.form.params(pixel_size_um=self.pixel.value())
        body = stored[0].points
        shape = owner.video_shape()
        log = read_stage(self.stage.text().strip(), columns=self.columns.text().strip() or None,
                         scale_um=self.scale.value(), names=GUI_NAMES)  # fmt: skip
        frames = np.arange(len(body))
        times = frames / self.fps.value()
        notes = list(log.notes)  # rows filled, a frame rate the log contradicts
        stage_um = stage_at(log, frames, times if log.time_s is not None else None,
                            tolerance_s=0.5 / self.fps.value(), notes=notes,
                            names=GUI_NAMES)  # fmt: skip
        no_stage = int((~np.isfinite(stage_um).all(axis=1)).sum())
        if no_stage:
            notes.append(f"{no_stage} frame(s) have no stage position: no velocity there")
        table = compute_velocity(body.mean(axis=1), times, stage_um, shape, params, body_px=body)
        # the camera's rate goes with the velocity; the imaging rate (ctx.fps) is left alone
        # (the bouts of the velocity it replaces go with it: the panel says so)
        stale = record_velocity(owner.ctx.session, table, params.to_dict(),
                        {"stage": owner.ctx.session.stored_path(self.stage.text().strip()),
                         "source": "centerline", "fps": self.fps.value(), "times": "fps",
                         "image_size": list(shape),
                         "stage_columns": self.columns.text().strip() or None,
                         "stage_scale_um": self.scale.value(), "stage_time_scale_s": 1.0},
                        inputs={"stage": self.stage.text().strip(), **owner.video_inputs()})  # fmt: skip
        self._filled = self.fps.value()
        if stale:
            owner.bouts.restore(removed=True)
        refresh_plots(owner.viewer)
        d = direction_values(table)  # (NaN where unknown: a frame without a centerline)
        moving, fwd = int((np.abs(d) == 1).sum()), int((d > 0).sum())
        if notes:
            from napari.utils.notifications import show_warning

            for note in notes:
                show_warning(f"napari-catrack: {note}")
        self.status.setText("\n".join([
            f"{len(table)} frames: {moving} moving ({fwd} forward), median speed "
            f"{np.nanmedian(table['speed_um_s']):.0f} µm/s, at the camera's "
            f"{self.fps.value():g} Hz", *notes]))  # fmt: skip
        return table

    def kept(self) -> str:
        """What a failed run leaves in place (said beside its error)."""
        return "the plot shows the previous velocity" if VELOCITY in self.owner.ctx.session else ""
