"""Helpers shared by the GUI tests."""

from __future__ import annotations


def wait_job(qtbot, job, timeout: int = 60000) -> None:
    """Wait until a `widgets._worker.start_job` job has finished and delivered its result."""
    assert job is not None, "the widget refused to start (see its status / notification)"
    qtbot.waitUntil(lambda: not job.running, timeout=timeout)
