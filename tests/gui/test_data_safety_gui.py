"""A viewer whose autosave fails (a full disk, a read-only folder) says so in one line and keeps
its results: they can be saved elsewhere, and the file already there is left as it was."""

from __future__ import annotations

import errno
import os

import pytest

pytestmark = pytest.mark.gui


def test_a_full_disk_at_autosave_is_one_error_line_and_the_results_stay_in_the_viewer(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Typing a frame rate autosaves the session (from a Qt slot with no error handling): a full
    disk there escaped to Qt as a traceback (after HDF5 itself had crashed the process). Now an
    error notification of one line says what happened and where to save instead; the frame rate
    is in force and in the session, and File > Save to another file keeps it."""
    import napari.utils.notifications as notifications

    from napari_catrack import save_queue
    from napari_catrack.io import h5write
    from napari_catrack.session import Session, session_for_viewer
    from napari_catrack.widgets._context_controls import FrameRateControl

    viewer = make_napari_viewer()
    session = session_for_viewer(viewer)
    path = tmp_path / "movie.catrack.h5"
    session.path = path
    session.record("alignment", attrs={"dy": 1.0})
    save_queue.flush()  # (a viewer's session autosaves in the background writer)
    before = path.read_bytes()
    box = FrameRateControl(viewer)
    qtbot.addWidget(box)
    shown: list[str] = []
    monkeypatch.setattr(notifications, "show_error", shown.append)

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as disk:
        disk.setattr(h5write, "_write_at", full)
        box.spin.setValue(12.5)  # as if typed
        save_queue.flush()  # the viewer's autosave is written in the background writer
        qtbot.waitUntil(lambda: bool(shown), timeout=10_000)  # its line comes on the main thread
    assert len(shown) == 1 and "\n" not in shown[0], shown
    line = shown[0]
    assert f"cannot write {path}: No space left on device" in line, line
    assert "still in this viewer" in line and "Save All Layers" in line, line
    assert path.read_bytes() == before
    assert session["settings"].attrs["fps"] == 12.5 and box.value() == 12.5
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    elsewhere = session.save(tmp_path / "elsewhere.catrack.h5")
    assert Session.load(elsewhere)["settings"].attrs["fps"] == 12.5
