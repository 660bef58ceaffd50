"""Journal recovery leftovers of the h18 I/O review (h18-io2): a recording's session found
through a folder whose killed set cannot be finished says so; a target moved aside during
recovery whose new copy cannot be placed is put back; a folder the user restored is never
deleted where it lies; a backup folder whose deletion left something behind is retried."""

from __future__ import annotations

import errno
import warnings

from napari_catrack.io import atomic
from tests.core.test_recovery_review import _killed_set


def _notes(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, atomic.RecoveryNote)]


def test_a_recordings_session_looked_up_in_a_folder_it_cannot_finish_says_so(tmp_path, monkeypatch):
    """`catrack traces movie.tif` (no --session) looks for the recording's session in its
    folder, finishing that folder's killed sets first (`recording_session._read_once`); a set
    it could not finish there (a read-only share: every rename refused) was read as the kill
    left it, said nowhere, where every other read says it in one `RecoveryNote` line."""
    from napari_catrack.recording_session import recording_session_path

    movie = tmp_path / "movie.tif"
    movie.write_bytes(b"not read")
    paths = _killed_set(tmp_path)

    def read_only(src, dst=None):
        raise OSError(errno.EROFS, "Read-only file system", str(src))

    monkeypatch.setattr(atomic, "replace", read_only)
    monkeypatch.setattr(atomic, "_remove_path", read_only)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert recording_session_path(movie) == tmp_path / "movie.catrack.h5"
        assert recording_session_path(movie) == tmp_path / "movie.catrack.h5"
    notes = _notes(caught)
    assert len(notes) == 1, notes  # (before: none)
    assert str(tmp_path) in notes[0] and "could not be finished" in notes[0]
    assert paths["journal"].exists() and paths["b_old"].exists()  # nothing lost
