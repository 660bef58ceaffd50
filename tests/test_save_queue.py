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
        getattr(save_queue, "_edited", {}).clear()  # (absent before the review of h15)
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

    def paint_then_write(group, name, arr, **kwargs):
        if arr is labels and not painted:  # the stroke, between the writer's hash and write
            labels[500:510, 500:510] = 2
            painted.append(True)
        return original(group, name, arr, **kwargs)

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


@pytest.mark.parametrize("stroke", ["left", "undone"], ids=["painted", "painted then undone"])
def test_a_stroke_painted_while_the_writer_writes_slabs_never_leaves_a_mix_in_the_file(
    tmp_path, monkeypatch, clean_queue, stroke
):
    """A Labels layer is painted in the GUI thread while the background writer is between two
    slabs of it. The file held half a stroke: frame 0 unpainted and frame 3 painted (a stroke
    over both, painted after frame 0 was written), or frame 1 painted and frame 3 not (a
    stroke over both, undone after frame 1 was written). Now it holds one whole state, the
    viewer's (the write is done again from a new snapshot)."""
    import napari_catrack.io.h5write as h5write
    import napari_catrack.session as session_module

    monkeypatch.setattr(session_module, "SLAB_BYTES", 1 << 20)  # 4 slabs of 1 MiB: one frame
    path = tmp_path / "s.catrack.h5"
    session = _session(path)
    labels = np.zeros((4, 1024, 1024), np.uint8)
    labels[:, 100:200, 100:200] = 1
    before = labels.copy()
    session.layers = [(labels, {"name": "masks"}, "labels")]
    frames = (0, 3) if stroke == "left" else (1, 3)
    holds = {1: (threading.Event(), threading.Event())}  # after slab n: (reached, go)
    if stroke == "undone":
        holds[2] = (threading.Event(), threading.Event())
    slabs = [0]
    real_setitem = h5py.Dataset.__setitem__
    real_chunks = h5write.write_chunks

    def held_after(ds) -> None:
        if ds.name == "/layers/000/data":
            slabs[0] += 1  # (the first write only: a second one counts on from 5)
            if slabs[0] in holds:
                reached, go = holds[slabs[0]]
                reached.set()
                assert go.wait(20)

    def held_between_slabs(ds, key, value):
        real_setitem(ds, key, value)
        held_after(ds)

    def held_between_chunk_slabs(ds, start, slab, encode):  # (the slabs written chunk by chunk)
        real_chunks(ds, start, slab, encode)
        held_after(ds)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", held_between_slabs)
    monkeypatch.setattr(h5write, "write_chunks", held_between_chunk_slabs)
    save_queue.request(session)
    assert holds[1][0].wait(20)  # the writer wrote frame 0 and waits before frame 1
    for frame in frames:  # the stroke, in this (the GUI's) thread
        labels[frame, 500:510, 500:510] = 2
    after = labels.copy()
    holds[1][1].set()
    if stroke == "undone":
        assert holds[2][0].wait(20)  # frame 1 written, painted
        labels[:] = before  # Ctrl+Z
        holds[2][1].set()
    assert save_queue.flush(timeout=60)
    with h5py.File(path, "r") as f:
        stored = f["layers/000/data"][()]
    painted = [int(frame) for frame in np.flatnonzero(stored[:, 505, 505] == 2)]
    assert np.array_equal(stored, after) or np.array_equal(stored, before), (
        f"a mix: frames {painted} painted, the stroke was on {list(frames)}"
    )
    assert np.array_equal(stored, labels)  # and it is what the viewer holds now


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


def test_an_autosave_lands_while_the_user_paints_on(tmp_path, monkeypatch, clean_queue):
    """Every write of the painted array is overtaken by a stroke (a user painting on while a
    long video's masks take tens of seconds to write): each checked write was given up and
    queued again, for as long as the user painted, so the file was never written. After
    `EDITED_RETRIES` in a row one lands (unchecked); once the painting stops the file holds the
    viewer's array."""
    import time

    import napari_catrack.session as session_module

    path = tmp_path / "s.catrack.h5"
    session = _session(path)
    labels = np.zeros((4, 256, 256), np.uint8)
    session.layers = [(labels, {"name": "masks"}, "labels")]
    painting = threading.Event()
    painting.set()
    original = session_module._create_array

    def stroke_during_write(group, name, arr, **kwargs):
        if arr is labels and painting.is_set():  # a stroke lands while the array is written
            labels[0, 0, 0] += 1
        return original(group, name, arr, **kwargs)

    monkeypatch.setattr(session_module, "_create_array", stroke_during_write)
    save_queue.request(session)
    try:
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.exists(), "no autosave landed while the user painted"
    finally:
        painting.clear()
    assert save_queue.flush(timeout=60)
    with h5py.File(path, "r") as f:
        assert np.array_equal(f["layers/000/data"][()], labels)


def test_the_retry_after_an_edit_is_the_gui_threads_snapshot_not_one_taken_by_the_writer(
    tmp_path, monkeypatch, clean_queue
):
    """After a write given up for an edit meanwhile, the writer queued a snapshot it took itself,
    in its own thread: one that could catch the GUI half-way through a change made in several
    statements (a step recorded, its recording entry not yet). The retry is the GUI thread's
    snapshot again (its arrays are the live ones), under a new generation, so it is written."""
    session = _session(tmp_path / "s.catrack.h5")
    taken_in: list[str] = []
    real_snapshot, real_write = Session.snapshot, Session.write_snapshot
    written: list = []

    def snapshot(self):
        taken_in.append(threading.current_thread().name)
        return real_snapshot(self)

    def write_snapshot(self, snap, checked=True):
        if not written:  # the first write: the GUI is half-way through a change, then an edit
            written.append(None)
            self.recording["half_way"] = True
            raise save_queue.EditedWhileSaved("painted meanwhile")
        written.append(dict(snap.recording))
        return real_write(self, snap, checked)

    monkeypatch.setattr(Session, "snapshot", snapshot)
    monkeypatch.setattr(Session, "write_snapshot", write_snapshot)
    save_queue.request(session)
    assert save_queue.flush(timeout=30)
    assert taken_in == [threading.main_thread().name]  # never in the writer thread
    assert len(written) == 2 and "half_way" not in written[1]  # the retry was written whole
    with h5py.File(session.path, "r") as f:
        assert "steps/steps_x/tables/t" in f
