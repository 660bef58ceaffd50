"""The shared widget helpers: one job launcher (progress, Cancel, error policy), one viewer context
(channels, alignment in force, frame rate, session) and the parameter form."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pytest

from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.params import StepParams, auto_or_float, param

pytestmark = pytest.mark.gui


def _wait(qtbot, job, timeout=10000):
    qtbot.waitUntil(lambda: not job.running, timeout=timeout)


def test_job_reports_progress_and_result(make_napari_viewer, qtbot):
    from qtpy.QtWidgets import QLabel, QProgressBar, QPushButton, QWidget

    from napari_catrack.widgets._worker import start_job

    make_napari_viewer()  # napari's activity dock shows the job
    owner = QWidget()  # any widget owns the job: no private napari window needed
    qtbot.addWidget(owner)
    bar, button, status = QProgressBar(), QPushButton(), QLabel()
    got = []

    def work(job):
        for i in range(5):
            job.progress(i + 1, 5, "step")
        return 42

    job = start_job(owner, work, what="demo", on_done=got.append, bar=bar,
                    buttons=[button], status=status)  # fmt: skip
    assert not button.isEnabled()
    _wait(qtbot, job)
    qtbot.waitUntil(lambda: got == [42])
    assert button.isEnabled() and bar.value() == 100 and job.outcome == "done"


def test_job_cancel_keeps_previous_and_says_so(make_napari_viewer, qtbot):
    from qtpy.QtWidgets import QLabel, QPushButton, QWidget

    from napari_catrack.widgets._worker import start_job

    make_napari_viewer()
    owner = QWidget()
    qtbot.addWidget(owner)
    cancel, status = QPushButton(), QLabel()
    done, failed = [], []

    def work(job):
        for _ in range(500):
            check_cancelled(job.cancelled, "demo")
            time.sleep(0.01)
        return "finished"

    job = start_job(owner, work, what="demo", on_done=done.append,
                    on_failed=failed.append, cancel_button=cancel, status=status)  # fmt: skip
    assert cancel.isEnabled()
    cancel.click()
    _wait(qtbot, job)
    qtbot.waitUntil(lambda: bool(failed))
    assert done == [] and job.outcome == "cancelled"
    assert "cancelled" in status.text() and not cancel.isEnabled()


def test_cancel_keeps_previous_even_when_the_work_ignores_it(make_napari_viewer, qtbot):
    """Before: a step that never looked at Cancel (trace extraction, ensembles) ran to the end
    and its result replaced the previous one although the status said "cancelling"."""
    from qtpy.QtWidgets import QLabel, QProgressBar, QPushButton, QWidget

    from napari_catrack.widgets._worker import start_job

    make_napari_viewer()
    owner = QWidget()
    qtbot.addWidget(owner)
    cancel, status, bar = QPushButton(), QLabel(), QProgressBar()
    done, failed = [], []

    def work(job):
        job.progress(1, 2, "shuffling")
        time.sleep(0.5)  # never checks job.cancelled
        return "new result"

    job = start_job(owner, work, what="demo", on_done=done.append, on_failed=failed.append,
                    cancel_button=cancel, status=status, bar=bar)  # fmt: skip
    cancel.click()
    _wait(qtbot, job)
    qtbot.waitUntil(lambda: bool(failed))
    assert done == [] and job.outcome == "cancelled" and "previous result is kept" in status.text()
    assert "shuffling" not in bar.format()  # the running text does not outlive the job


@pytest.mark.parametrize(
    ("exc", "expect"),
    [(InputError("frame rate missing"), "frame rate missing"),
     (ValueError("index 3 out of range"), "demo failed: ValueError: index 3 out of range")],
)  # fmt: skip
def test_one_error_policy(make_napari_viewer, qtbot, exc, expect):
    """Only CatrackError is a user mistake; a bare ValueError is reported as a failure (a bug)."""
    from qtpy.QtWidgets import QLabel, QWidget

    from napari_catrack.widgets._worker import start_job

    make_napari_viewer()
    owner = QWidget()
    qtbot.addWidget(owner)
    status = QLabel()

    def work(job):
        raise exc

    job = start_job(owner, work, what="demo", status=status)
    _wait(qtbot, job)
    qtbot.waitUntil(lambda: status.text() != "demo running...")
    assert status.text().startswith(expect)


def test_context_adopts_layers_and_applies_the_alignment_rule(make_napari_viewer):
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets._context import ViewerContext

    viewer = make_napari_viewer()
    g = viewer.add_image(np.zeros((3, 20, 24)), name="g")
    r = viewer.add_image(np.ones((3, 20, 24)), name="r")
    ctx = ViewerContext.of(viewer)
    assert ViewerContext.of(viewer) is ctx
    assert ctx.candidate_layers() == [g, r]
    with pytest.raises(InputError, match="no green channel"):
        ctx.channel_data("green")
    seen = []
    ctx.events.channels.connect(lambda e: seen.append("channels"))
    ctx.adopt(g, "green")
    ctx.adopt(r, "red")
    assert ctx.channel_data("red") is r.data and seen
    assert ctx.alignment().source == "none"

    nudged = AlignmentTransform(1.0, -2.0, 0.5)
    changed = []
    ctx.events.alignment.connect(lambda e: changed.append(1))
    r.affine = nudged.napari_affine((20, 24), ndim=3)  # what the red layer shows is read back
    assert changed  # widgets showing the alignment in force hear about it
    inforce = ctx.alignment()
    assert inforce.source == "not accepted" and inforce.transform.dx == pytest.approx(-2.0)

    accepted = AlignmentTransform(1.5, -2.0, 0.5)
    session_for_viewer(viewer).record("alignment", attrs=accepted.to_dict())
    inforce = ctx.alignment()
    assert inforce.source == "accepted" and inforce.transform.dy == 1.5
    assert inforce.differs_from_layer and "unaccepted" in inforce.description


def test_context_frame_rate_is_shared_and_survives_the_widget(make_napari_viewer):
    from napari_catrack.session import session_for_viewer
    from napari_catrack.widgets._context import ViewerContext

    viewer = make_napari_viewer()
    session = session_for_viewer(viewer)
    session.set_recording("rec.tif", {}, {"fps": 20.0})
    ctx = ViewerContext.of(viewer)
    assert ctx.fps() == 20.0 and ctx.fps_source() == "from the recording"
    ctx.set_fps(7.0)
    assert ctx.fps() == 7.0 and ctx.fps_source() == "set by you"
    assert session["settings"].attrs["fps"] == 7.0  # kept in the session, not in a widget
    with pytest.raises(InputError):
        ctx.set_fps(-1)


@dataclass(frozen=True)
class _FormParams(StepParams):
    step: ClassVar[str] = "form-test"
    sigma: float = param(1.5, "smoothing", minimum=0.0, maximum=10.0, unit="px")
    count: int = param(4, "count", minimum=1, maximum=20)
    method: Literal["a", "b"] = param("a", "method")
    window: float | str = param("auto", "window", parse=auto_or_float, advanced=True)
    cap: float | None = param(None, "cap", advanced=True)
    flag: bool = param(True, "flag")


def test_params_form_shows_defaults_and_returns_the_dataclass(qtbot):
    from napari_catrack.widgets._params_form import ParamsForm

    form = ParamsForm(_FormParams)
    qtbot.addWidget(form)
    assert form.params() == _FormParams()
    form.control("sigma").setValue(2.5)
    form.control("method").setCurrentIndex(1)
    form.control("window").setText("0.3")
    form.control("cap").setText("4")
    form.control("flag").setChecked(False)
    assert form.params() == _FormParams(sigma=2.5, method="b", window=0.3, cap=4.0, flag=False)
    form.set_params({"sigma": 0.5, "count": 9})
    assert form.params().count == 9 and form.control("sigma").value() == 0.5
    form.control("window").setText("soon")
    with pytest.raises(InputError, match="window"):
        form.params()


def test_an_automatic_patch_size_says_auto_in_the_form(qtbot):
    """Registration's patch size is automatic by default (None): the box says "auto", as the
    command line does, and "auto", "none" or an empty box all read back as automatic."""
    from napari_catrack.core.registration.params import RegisterParams
    from napari_catrack.widgets._params_form import ParamsForm

    form = ParamsForm(RegisterParams)
    qtbot.addWidget(form)
    box = form.control("patch_px")
    assert box.text() == "auto"
    for text in ("auto", "none", "", "AUTO"):
        box.setText(text)
        assert form.params().patch_px is None
    box.setText("48")
    assert form.params().patch_px == 48
    form.set_params(RegisterParams(patch_px=None))  # a restored session's automatic size
    assert box.text() == "auto"
