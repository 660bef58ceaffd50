"""`save_queue` without Qt: what the background writer does when it cannot run in the
background (h14 review)."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pandas as pd
import pytest

from napari_catrack import save_queue
from napari_catrack.session import Session


@pytest.fixture
def clean_queue():
    """The queue's module state as found (a failing test must not leave a session queued: the
    next flush, at exit too, would wait on it)."""
    yield
    with save_queue._cond:
        save_queue._pending.clear()
        save_queue._failed.clear()
        if save_queue._thread is not None and not save_queue._thread.is_alive():
            save_queue._thread = None


def _session(path) -> Session:
    session = Session(path)
    session.record("steps_x", tables={"t": pd.DataFrame({"a": [1, 2, 3]})}, save=False)
    session.background_saves = True
    return session


def test_a_save_requested_when_no_thread_can_start_is_written_at_once_not_left_queued(
    tmp_path, monkeypatch, clean_queue
):
    """At interpreter exit (Python >= 3.12 refuses new threads in atexit handlers) `_at_exit`
    retries the failed saves through `request`: the thread's start raised, the snapshot stayed
    queued and `_thread` named a thread never started, so the fallback `flush()` waited forever
    (napari's process hung at exit after a failed autosave)."""
    path = tmp_path / "s.catrack.h5"
    session = _session(path)

    def refused(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refused)
    save_queue.request(session)
    assert save_queue.idle()  # nothing left for a flush to wait on
    assert save_queue.writing_thread() is None
    with h5py.File(path, "r") as f:
        assert "steps/steps_x/tables/t" in f

    # the exit hook's retry of a session whose background write failed: written here too
    session.record("steps_y", tables={"t": pd.DataFrame({"b": [4]})}, save=False)
    save_queue._failed[id(session)] = session
    save_queue._at_exit()
    assert save_queue.idle() and not save_queue._failed
    with h5py.File(path, "r") as f:
        assert "steps/steps_y/tables/t" in f


def test_an_array_painted_while_the_writer_writes_it_is_written_again_not_copied_back(
    tmp_path, monkeypatch, clean_queue
):
    """A Labels layer's data is the live napari array (`layers_into_session`); a background
    autosave hashed it, the user painted a stroke before the write, and the file held the
    stroke under the hash of the unpainted array. After the stroke was undone, the next save
    found that hash again and copied the stale dataset: the file kept a stroke the viewer no
    longer had."""
    import napari_catrack.session as session_module

    path = tmp_path / "s.catrack.h5"
    session = _session(path)
    labels = np.zeros((1024, 1024), np.uint8)  # 1 MiB: fingerprinted (FINGERPRINT_MIN_BYTES)
    labels[100:200, 100:200] = 1
    session.layers = [(labels, {"name": "cells"}, "labels")]
    original = session_module._create_array
    painted = []

    def paint_then_write(group, name, arr):
        if arr is labels and not painted:  # the stroke, between the writer's hash and write
            labels[500:510, 500:510] = 2
            painted.append(True)
        original(group, name, arr)

    monkeypatch.setattr(session_module, "_create_array", paint_then_write)
    save_queue.request(session)
    assert save_queue.flush(timeout=60) and painted
    labels[500:510, 500:510] = 0  # undone
    session.record("steps_y", tables={"t": pd.DataFrame({"b": [4]})}, save=False)
    save_queue.request(session)
    assert save_queue.flush(timeout=60)
    with h5py.File(path, "r") as f:
        stored = f["layers/000/data"][()]
    assert np.array_equal(stored, labels)  # the viewer's labels, stroke undone


def test_a_path_set_while_the_writer_writes_is_kept(tmp_path, monkeypatch, clean_queue):
    """The GUI points the session at another file while a background autosave writes the old
    one (`note_recording`: an imaging recording opened after a behaviour video). The writer's
    `self.path = target` at the end of the write replaced the new path with the old one, and
    every later autosave went to the old file."""
    old_path, new_path = tmp_path / "video.catrack.h5", tmp_path / "movie.catrack.h5"
    session = _session(old_path)
    original = Session._write
    inside, release = threading.Event(), threading.Event()

    def held(self, f, target, arrays=None):
        inside.set()
        release.wait(20)
        return original(self, f, target, arrays)

    monkeypatch.setattr(Session, "_write", held)
    save_queue.request(session)
    assert inside.wait(20)  # the writer is inside its write of video.catrack.h5
    session.path = new_path  # the GUI thread, meanwhile
    release.set()
    assert save_queue.flush(timeout=60)
    assert old_path.is_file()  # that write finished where it began
    assert session.path == new_path
    session.record("steps_y", tables={"t": pd.DataFrame({"b": [4]})})  # the next autosave
    assert save_queue.flush(timeout=60)
    with h5py.File(new_path, "r") as f:
        assert "steps/steps_y/tables/t" in f
