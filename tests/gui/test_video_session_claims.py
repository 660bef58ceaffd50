"""The claim note of a behaviour video's session (video_session.py, h17) where the temporary
folder is shared or read-only: closing the viewer never fails and never removes another
process's note."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.gui


def test_closing_a_viewer_whose_claim_could_not_be_written_keeps_the_other_note(
    qtbot, tmp_path, monkeypatch
):
    """A shared lab computer: another user's napari left its note for the same video's session
    (its process ended: stale, so this viewer continues the session) in the temporary folder
    that user owns. This viewer's claim cannot be written there (the write is refused, and said
    nowhere: by design). On close the viewer deleted "its" note: the other user's file, refused
    too, and the PermissionError escaped from Qt's close event. Now only a note naming this
    process is removed, and a refused removal is ignored."""
    from qtpy.QtWidgets import QWidget

    from napari_catrack import video_session

    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "notes" / "abc.json"
    note.parent.mkdir()
    theirs = json.dumps({"pid": 1, "host": socket.gethostname(), "path": str(session)})
    note.write_text(theirs, encoding="utf-8")
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    real_write, real_unlink = Path.write_text, Path.unlink

    def refused_write(self, *args, **kwargs):
        if self == note:
            raise PermissionError(13, "Permission denied", str(self))
        return real_write(self, *args, **kwargs)

    def refused_unlink(self, *args, **kwargs):
        if self == note:
            raise PermissionError(13, "Permission denied", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refused_write)
    monkeypatch.setattr(Path, "unlink", refused_unlink)
    window = QWidget()
    qtbot.addWidget(window)
    viewer = SimpleNamespace(window=SimpleNamespace(_qt_window=window))
    video_session.claim(viewer, session)  # (its note not written: no error)
    window.show()
    window.close()  # (before: PermissionError in the close event's filter)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert video_session._key(session) not in video_session._CLAIMS
    assert note.read_text(encoding="utf-8") == theirs


def test_closing_a_viewer_removes_its_own_note(qtbot, tmp_path, monkeypatch):
    """The usual case still: the note this process wrote goes with its viewer's window."""
    from qtpy.QtWidgets import QWidget

    from napari_catrack import video_session

    session = tmp_path / "behaviour.avi.catrack.h5"
    note = tmp_path / "notes" / "abc.json"
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    window = QWidget()
    qtbot.addWidget(window)
    viewer = SimpleNamespace(window=SimpleNamespace(_qt_window=window))
    video_session.claim(viewer, session)
    assert json.loads(note.read_text(encoding="utf-8"))["pid"] == os.getpid()
    window.show()
    window.close()
    assert not note.exists()
    assert video_session._key(session) not in video_session._CLAIMS


@pytest.mark.parametrize("text", ["[]", '{"pid": "x"}', '{"host": "h"}', '{"pid": null}'])
def test_a_note_that_is_not_a_claim_is_no_holder(tmp_path, monkeypatch, text):
    """A note file that names no process (edited, truncated to other JSON) raised from `int` or
    `.get` in napari's reader (outside the JSON check); it is no claim (pid 0 read as "napari
    process 0": os.kill(0, 0) signals this process's group and succeeds)."""
    from napari_catrack import video_session

    note = tmp_path / "abc.json"
    note.write_text(text, encoding="utf-8")
    monkeypatch.setattr(video_session, "_note_file", lambda path: note)
    assert video_session.holder(tmp_path / "behaviour.avi.catrack.h5") is None
