"""One way for every widget to run heavy work: a background thread with progress, Cancel and one
error policy.

    job = start_job(self, lambda job: track(..., progress=job.progress, cancel=job.cancelled),
                    what="tracking", on_done=self._show, bar=self.bar,
                    buttons=[self.track_button], cancel_button=self.cancel_button,
                    status=self.status)

Error policy (the only one): `Cancelled` -> an info line, the previous result is kept;
`CatrackError` (a user mistake) -> one-line error notification; anything else is a bug -> an
error notification naming the exception, with the traceback kept in napari's log. A `ValueError`
that is not a `CatrackError` is a bug too.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from napari_catrack.errors import Cancelled, CatrackError

logger = logging.getLogger("napari_catrack")


class Job:
    """A running background step: `progress()` and `cancelled()` are safe to call from the worker."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._cancel = threading.Event()
        self._relay = None  # a ProgressRelay living in the GUI thread
        self.worker = None
        self.outcome = ""  # "done" / "cancelled" / the error line, once finished
        self.finished = threading.Event()

    def progress(self, done: int, total: int, message: str = "") -> None:
        if self._relay is not None:
            try:
                self._relay.report(done, total, message)
            except RuntimeError:  # Qt is shutting down (viewer closed): nobody is watching
                self._relay = None

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def running(self) -> bool:
        return not self.finished.is_set()


def user_message(exc: BaseException, what: str) -> str:
    """The one line shown for an exception raised by a step (see the module's policy)."""
    if isinstance(exc, Cancelled):
        return str(exc) or f"{what} cancelled; the previous result is kept"
    if isinstance(exc, CatrackError):
        return str(exc)
    return f"{what} failed: {type(exc).__name__}: {exc}"


def report_exception(exc: BaseException, what: str) -> str:
    """Show an exception the napari way according to the policy; returns the line shown."""
    from napari.utils.notifications import show_error, show_info

    line = user_message(exc, what)
    if isinstance(exc, Cancelled):
        show_info(f"napari-catrack: {line}")
    elif isinstance(exc, CatrackError):
        show_error(f"napari-catrack: {line}")
    else:
        logger.error("napari-catrack: %s", line, exc_info=(type(exc), exc, exc.__traceback__))
        show_error(f"napari-catrack: {line} (a bug: the traceback is in the log)")
    return line


def _positional_room(handler: Callable) -> int | None:
    """How many positional arguments `handler` takes after `self` (None: any number)."""
    params = list(inspect.signature(handler).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def reports_errors(what: str) -> Callable:
    """For a widget's button handler: an exception it raises (e.g. a missing input) is reported
    by the one policy and shown in the widget's `status` label, instead of escaping to Qt as a
    traceback; the handler then returns None.

    The handler can be connected to a Qt signal directly (`button.clicked.connect(self.run)`):
    the signal's extra arguments (`clicked(bool checked)`) are dropped when the handler does not
    take them, as Qt does for a plain method, so `run(self)` never sees `checked`.
    """

    def wrap(handler: Callable) -> Callable:
        room = _positional_room(handler)

        @functools.wraps(handler)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            if room is not None:
                args = args[:room]
            return _reported_call(self, what, handler, self, *args, **kwargs)

        return run

    return wrap


def reported(owner: Any, what: str, action: Callable[[], Any]) -> Callable[..., Any]:
    """A slot running `action()` under the same policy as `reports_errors`, for a connection that
    needs arguments of its own: `button.clicked.connect(reported(self, "verdict", lambda:
    self.verdict("accepted")))`. The signal's arguments are ignored."""

    def slot(*_signal_args: Any) -> Any:
        return _reported_call(owner, what, action)

    return slot


def _reported_call(owner: Any, what: str, action: Callable, *args: Any, **kwargs: Any) -> Any:
    try:
        return action(*args, **kwargs)
    except Exception as exc:  # the policy decides how each kind is shown
        line = report_exception(exc, what)
        status = getattr(owner, "status", None)
        if status is not None:
            status.setText(line)
        return None


def _alive(widget: Any) -> bool:
    """False once Qt has deleted the widget (its Python wrapper may outlive it)."""
    if widget is None:
        return True
    try:
        widget.objectName()
    except RuntimeError:
        return False
    return True


def start_job(
    owner: Any,
    work: Callable[[Job], Any],
    *,
    what: str,
    on_done: Callable[[Any], None] | None = None,
    on_failed: Callable[[BaseException], None] | None = None,
    bar: Any = None,
    buttons: Sequence[Any] = (),
    cancel_button: Any = None,
    status: Any = None,
    cancel_keeps_progress: bool = False,
) -> Job:
    """Run `work(job)` in a napari worker thread; call from the GUI thread.

    While it runs the `buttons` are disabled and `cancel_button` (if given) is enabled and wired
    to `job.cancel`; progress goes to `bar` (a QProgressBar) and to napari's activity dock;
    `status` (a QLabel) shows what happened. `on_done(result)` runs in the GUI thread on success,
    `on_failed(exc)` after the error was reported (cancellation included). The bar goes back to
    0 when the job fails or is cancelled, unless `cancel_keeps_progress` (work whose finished
    part is kept on Cancel, as a batch's finished recordings): then a cancelled job's bar stays
    at what it reported last.

    Every recording shown in a viewer stays open until the job ends (`handles.hold_open`): one
    whose last layer the user removes meanwhile is closed then, not under the job's reads.
    """
    from napari.qt.threading import create_worker

    from napari_catrack.handles import hold_open
    from napari_catrack.widgets._common import progress_relay

    job = Job(what)
    job._relay = progress_relay(bar, owner)  # (Job.progress copes with a closed owner)
    owner_ref = weakref.ref(owner) if owner is not None else None

    def owner_gone() -> bool:
        """The widget was closed while the job ran (held weakly: a job never keeps it alive)."""
        if owner_ref is None:
            return False
        widget = owner_ref()
        return widget is None or not _alive(widget)

    job._relay.start(what)
    for b in buttons:
        b.setEnabled(False)
    cancel_slot = None
    if cancel_button is not None:
        cancel_button.setEnabled(True)

        def cancel_slot(*_):
            job.cancel()
            if status is not None:
                status.setText(f"cancelling {what}...")

        cancel_button.clicked.connect(cancel_slot)
    if status is not None:
        status.setText(f"{what} running...")

    def returned(result: Any) -> None:
        if job.cancelled():  # it ran to the end anyway: Cancel still keeps the previous result
            failed(Cancelled(f"{what} cancelled; the previous result is kept"))
            return
        job.outcome = "done"
        if owner_gone():  # nothing left to show the result in
            return
        if bar is not None:
            bar.setRange(0, 100)  # (busy until a first report: see ProgressRelay)
            bar.setValue(100)
        if on_done is not None:
            try:
                on_done(result)
            except Exception as exc:  # a failure while showing the result follows the policy
                failed(exc)

    def failed(exc: BaseException) -> None:
        if owner_gone():
            job.outcome = user_message(exc, what)
            logger.info("napari-catrack: %s (after its widget closed)", job.outcome)
            return
        line = report_exception(exc, what)
        job.outcome = "cancelled" if isinstance(exc, Cancelled) else line
        if status is not None:
            status.setText(line)
        if on_failed is not None:
            on_failed(exc)

    def finished() -> None:
        release_files()  # a recording whose last layer went meanwhile: closed now
        if owner_gone():
            job._relay.finish()
            job.worker = None
            job.finished.set()
            return
        for b in buttons:
            b.setEnabled(True)
        if cancel_button is not None:
            cancel_button.setEnabled(False)
            try:
                cancel_button.clicked.disconnect(cancel_slot)
            except (TypeError, RuntimeError):
                pass
        keep = cancel_keeps_progress and job.outcome == "cancelled"
        job._relay.finish(stopped=job.outcome != "done", keep=keep)
        job.worker = None
        job.finished.set()

    release_files = hold_open()
    try:
        worker = create_worker(work, job, _ignore_errors=True)
    except BaseException:
        release_files()
        raise
    worker.returned.connect(returned)
    worker.errored.connect(failed)
    worker.finished.connect(finished)
    job.worker = worker
    worker.start()
    return job
