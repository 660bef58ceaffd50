"""The behavioural bouts part of the behaviour widget (see widgets/behaviour.py).

Bouts are called from the session's velocity (step 3) and the centerline's coiled frames (step
2) by `core.behaviour.bouts.compute_bouts` with the form's `BoutParams`, the function and
parameters `catrack velocity --bouts --frames-table` uses, in a background job (progress,
Cancel); they are recorded as the session's "bouts" step as the command records them, so a
reopened session, an export (behaviour/bouts.csv) and the NWB file have them. The panel lists
them (a click goes to the bout's first frame) and the docked Behaviour plot draws them as a strip
over the speed.
"""

from __future__ import annotations

from qtpy.QtWidgets import QGroupBox, QLabel, QListWidgetItem, QPushButton, QVBoxLayout

from napari_catrack.core.behaviour.bouts import bout_counts_text
from napari_catrack.core.behaviour.params import BoutParams
from napari_catrack.core.behaviour.records import (
    BOUTS,
    VELOCITY,
    bouts_from_session,
    centerline_frames_table,
    record_bouts,
    velocity_from_session,
)
from napari_catrack.errors import Cancelled, InputError
from napari_catrack.widgets._dock import FittedList
from napari_catrack.widgets._params_form import ParamsForm
from napari_catrack.widgets._worker import start_job
from napari_catrack.widgets.behaviour_plot import refresh_plots


def counts_text(bouts) -> str:
    """'12 bouts (5 forward, 4 reversal, 2 pause, 1 turn)', the command's words."""
    return bout_counts_text(bouts)


def bout_line(row) -> str:
    """One bout as a line of the list: state, times, frames (short: the dock never scrolls
    sideways; the rest is its tooltip, `bout_details`)."""
    return (
        f"{row.state}: {row.onset_s:.1f}-{row.offset_s:.1f} s, frames "
        f"{int(row.start_frame)}-{int(row.end_frame)}"
    )


def bout_details(row) -> str:
    """A bout's duration, mean signed speed and distance (the list entry's tooltip)."""
    speed = row.mean_signed_speed_um_s
    signed = f"{speed:+.0f} µm/s" if speed == speed else "unknown (no direction)"
    return (
        f"{row.duration_s:.2f} s, {int(row.n_frames)} frames; mean signed speed {signed}, "
        f"mean speed {row.mean_speed_um_s:.0f} µm/s; {row.distance_um:.0f} µm travelled"
    )


class BoutsPanel(QGroupBox):
    """Forward runs, reversals, pauses and turns from the velocity."""

    def __init__(self, owner) -> None:
        super().__init__("4. Behavioural bouts")
        self.owner = owner
        self.form = ParamsForm(BoutParams)
        self.run_button = QPushButton("Compute bouts")  # wired by the owner
        self.run_button.setToolTip(
            "call forward runs, reversals, pauses and turns from the velocity (step 3) and the "
            "centerline's coiled frames, as catrack velocity --bouts"
        )
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.list_label = QLabel("bouts (click to go to the first frame):")
        self.list = FittedList(header=self.list_label)
        self.list.itemClicked.connect(self._jump)
        lay = QVBoxLayout(self)
        lay.addWidget(self.form)
        lay.addWidget(self.run_button)
        lay.addWidget(self.status)
        lay.addWidget(self.list_label)
        lay.addWidget(self.list)

    def run(self):
        """Call the bouts in a background job; returns the job."""
        from napari_catrack.core.behaviour.bouts import compute_bouts, turn_flags

        owner = self.owner
        session = owner.ctx.session
        velocity = velocity_from_session(session)
        if velocity is None:
            raise InputError("compute the velocity first (step 3)")
        per_frame = centerline_frames_table(session)
        params = self.form.params()
        if params.pause_um_s > params.move_um_s:  # said at the click, not after a job
            raise InputError(
                f"the pause speed ({params.pause_um_s:g} µm/s) must not be above the moving "
                f"speed ({params.move_um_s:g} µm/s)"
            )

        def work(job):
            job.progress(0, 2, "turns")
            coiled = a3 = None
            if per_frame is not None:
                coiled, a3 = turn_flags(per_frame, velocity["frame"], params,
                                        name="the session's centerline")  # fmt: skip
            if job.cancelled():
                raise Cancelled("bouts cancelled; the previous bouts are kept")
            job.progress(1, 2, "bouts")
            table = compute_bouts(velocity, params, coiled=coiled, a3=a3)
            job.progress(2, 2, "bouts")
            return table

        called_from = session[VELOCITY]  # (Compute velocity stays clickable meanwhile)
        done = lambda table: self._done(table, params, per_frame is not None, session, called_from)  # noqa: E731
        owner.job = start_job(owner, work, what="bouts", on_done=done, bar=owner.bar,
                              buttons=owner.buttons(), cancel_button=owner.cancel_button,
                              status=self.status)  # fmt: skip
        return owner.job

    def _done(self, table, params: BoutParams, coiled: bool, session, called_from) -> None:
        if self.owner.ctx.session is not session or session.steps.get(VELOCITY) is not called_from:
            # a velocity computed (or a session opened) while the job ran: these bouts are the
            # old velocity's, never recorded beside the new one (`record_velocity`)
            raise InputError("the session's velocity changed while the bouts were called "
                             "(computed again, or another session opened): these bouts were "
                             "not recorded; Compute bouts again")  # fmt: skip
        # recorded as `catrack velocity --bouts` records it: the params, whether coiled frames
        # gave the turns, the files read (none: the session's own velocity and centerline)
        record_bouts(session, table, params.to_dict(), {"coiled": coiled},
                     inputs={})  # fmt: skip
        self.show_bouts(table)
        refresh_plots(self.owner.viewer)
        note = "" if coiled else "; no centerline: no turns"
        self.status.setText(f"{counts_text(table)}{note}; the plot's top strip shows them")

    def show_bouts(self, table) -> None:
        self.list.clear()
        if table is None:
            return
        for row in table.itertuples(index=False):
            item = QListWidgetItem(bout_line(row))
            item.setToolTip(bout_details(row))
            item.setData(256, int(row.start_frame))
            self.list.addItem(item)

    def _jump(self, item) -> None:
        self.owner.viewer.dims.set_current_step(0, int(item.data(256)))

    def restore(self, removed: bool = False) -> None:
        """Show the session's bouts and the parameters they were called with (a reopened
        session), or none; `removed`: the velocity was just recomputed, which removed them."""
        session = self.owner.ctx.session
        table = bouts_from_session(session)
        self.show_bouts(table)
        if table is not None:
            self.form.set_params(BoutParams.from_dict(session[BOUTS].params))
            self.status.setText(f"{counts_text(table)} restored from the session")
        elif removed:
            self.status.setText("the bouts of the previous velocity were removed: Compute bouts")
        else:
            self.status.setText("")

    def kept(self) -> str:
        """What a failed run leaves in place (said beside its error)."""
        return "the previous bouts are kept" if BOUTS in self.owner.ctx.session else ""
