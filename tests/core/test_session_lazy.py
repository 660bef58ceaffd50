"""Sessions loaded with lazy arrays (`Session.load(..., lazy_arrays=True)`, every `catrack ...
--session` step): arrays are read on first use, never from another writer's file, and a save
copies the arrays nobody read as they are stored."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from napari_catrack.errors import InputError
from napari_catrack.session import DamagedSession, LazyArrays, Session, SessionFileChanged

from ._session_helpers import damage_first_chunk
from .test_session import _damaged_session_files, _tracks


def _masks(frames: int = 40) -> np.ndarray:
    """A moving blob: compressible like a worm's masks, and big enough to be compressed."""
    yy, xx = np.mgrid[:48, :48]
    return np.stack(
        [((yy - 20 - t % 9) ** 2 + (xx - 10 - t) ** 2 < 60).astype(np.uint8) for t in range(frames)]
    )


def _session(path) -> Session:
    s = Session(path, autosave=False)
    s.set_recording("video.avi", {}, {"frames": 40, "fps": 15.0})
    s.record("segmentation", tables={"frames": pd.DataFrame({"frame": np.arange(40)})},
             arrays={"masks": _masks(), "painted_3": np.eye(48, dtype=np.uint8)},
             attrs={"method": "classical", "anchors": [{"frame": 3, "painted": True}]},
             params={"edge_fraction": 0.2}, save=False)  # fmt: skip
    s.record("tracks", tables={"tracks": _tracks()}, arrays={"weights": np.arange(5.0)},
             attrs={"n": 2}, save=False)  # fmt: skip
    s.layers = [(np.array([[0, 1.0, 2.0]]), {"name": "pts"}, "points")]
    s.save()
    return s


@pytest.fixture
def array_reads(monkeypatch):
    """The names of the stored arrays read into memory (h5py dataset reads under /arrays/)."""
    reads: list[str] = []
    original = h5py.Dataset.__getitem__

    def counting(self, key):
        if "/arrays/" in self.name:
            reads.append(self.name.rsplit("/", 1)[1])
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    return reads


def _raw_chunks(path, key) -> tuple:
    """A dataset as stored: its filters and each chunk's compressed bytes (or its raw data)."""
    with h5py.File(path, "r") as f:
        ds = f[key]
        filters = (ds.compression, ds.compression_opts, ds.shuffle, ds.chunks, ds.dtype)
        if ds.chunks is None:
            return filters, ds[()].tobytes()
        n = ds.id.get_num_chunks()
        return filters, [ds.id.read_direct_chunk(ds.id.get_chunk_info(i).chunk_offset)
                         for i in range(n)]  # fmt: skip


def test_lazy_load_reads_no_array_until_it_is_used(tmp_path, array_reads):
    path = tmp_path / "s.catrack.h5"
    _session(path)
    Session.load(path)
    assert sorted(array_reads) == ["masks", "painted_3", "weights"]  # eager: all, at load
    array_reads.clear()

    s = Session.load(path, lazy_arrays=True)
    seg = s["segmentation"]
    assert isinstance(seg.arrays, LazyArrays)
    assert list(seg.arrays) == ["masks", "painted_3"] and "masks" in seg.arrays
    assert len(seg.arrays) == 2 and list(seg.arrays.keys()) == ["masks", "painted_3"]
    assert "nothing" not in seg.arrays
    assert len(s["segmentation"].tables["frames"]) == 40  # tables and attrs are read at load
    assert s["tracks"].attrs == {"n": 2}
    assert array_reads == []
    np.testing.assert_array_equal(seg.arrays["masks"], _masks())
    np.testing.assert_array_equal(seg.arrays.get("masks"), _masks())  # read once, then kept
    assert array_reads == ["masks"]
    assert seg.arrays.get("absent") is None and array_reads == ["masks"]
    values = dict(s["tracks"].arrays.items())
    np.testing.assert_array_equal(values["weights"], np.arange(5.0))
    assert array_reads == ["masks", "weights"]
    s.close()


def test_saving_an_untouched_lazy_session_copies_its_arrays_as_stored(tmp_path, array_reads):
    path = tmp_path / "s.catrack.h5"
    _session(path)
    before = {k: _raw_chunks(path, f"steps/{k}") for k in
              ("segmentation/arrays/masks", "segmentation/arrays/painted_3",
               "tracks/arrays/weights")}  # fmt: skip
    assert before["segmentation/arrays/masks"][0][0] == "gzip"  # compressed: copied, not redone
    eager = Session.load(path)
    array_reads.clear()

    lazy = Session.load(path, lazy_arrays=True)
    lazy.save()  # over the file its arrays come from
    assert array_reads == []  # nothing was decompressed into memory
    for key, stored in before.items():
        assert _raw_chunks(path, f"steps/{key}") == stored, key
    again = Session.load(path)
    assert list(again.steps) == list(eager.steps) and again.recording == eager.recording
    for name, rec in eager.steps.items():
        back = again[name]
        assert (back.attrs, back.params, back.version, back.created) == (
            rec.attrs, rec.params, rec.version, rec.created)  # fmt: skip
        assert list(back.tables) == list(rec.tables) and list(back.arrays) == list(rec.arrays)
        for t in rec.tables:
            pd.testing.assert_frame_equal(back.tables[t], rec.tables[t])
        for a in rec.arrays:
            assert back.arrays[a].dtype == rec.arrays[a].dtype
            np.testing.assert_array_equal(back.arrays[a], rec.arrays[a])
    assert len(again.layers) == 1 and again.layers[0][1]["name"] == "pts"
    # the arrays not read before the save still read from the file as loaded
    np.testing.assert_array_equal(lazy["segmentation"].arrays["masks"], _masks())
    lazy.close()


def test_changing_one_array_and_adding_a_step_then_saving(tmp_path):
    path = tmp_path / "s.catrack.h5"
    _session(path)
    stored = _raw_chunks(path, "steps/segmentation/arrays/masks")
    s = Session.load(path, lazy_arrays=True)
    s["segmentation"].arrays["painted_3"] = np.ones((4, 4), np.uint8)
    weights = s["tracks"].arrays["weights"]  # read, unchanged
    del s["tracks"].arrays["weights"]
    s["tracks"].arrays["weights2"] = weights * 2
    s.record("velocity", tables={"velocity": pd.DataFrame({"v": [1.0, 2.0]})}, save=False)
    s.save()
    s.save()  # again: the unread masks come from the file as loaded, replaced by the first save
    s.close()
    back = Session.load(path)
    np.testing.assert_array_equal(back["segmentation"].arrays["painted_3"], np.ones((4, 4)))
    np.testing.assert_array_equal(back["segmentation"].arrays["masks"], _masks())
    assert list(back["tracks"].arrays) == ["weights2"]
    np.testing.assert_array_equal(back["tracks"].arrays["weights2"], np.arange(5.0) * 2)
    assert list(back["velocity"].tables["velocity"]["v"]) == [1.0, 2.0]
    assert _raw_chunks(path, "steps/segmentation/arrays/masks") == stored


def test_another_writer_replacing_the_file_before_first_use(tmp_path):
    """Another program saves (os.replace) the file after a lazy load: the lazy session still
    reads the file as it loaded it, and its save goes beside, as any session's (`-2`)."""
    path = tmp_path / "movie.catrack.h5"
    _session(path)
    mine = Session.load(path, lazy_arrays=True)
    other = Session.load(path)
    other["segmentation"].arrays["masks"] = np.zeros((2, 3, 3), np.uint8)
    other.record("settings", attrs={"fps": 5.0})  # autosave: temp file + os.replace
    np.testing.assert_array_equal(mine["segmentation"].arrays["painted_3"], np.eye(48))
    mine.record("velocity", tables={"velocity": pd.DataFrame({"v": [1.0]})}, save=False)
    with pytest.warns(SessionFileChanged, match="movie.catrack.h5 was changed on disk.*movie-2"):
        mine.save()
    np.testing.assert_array_equal(mine["segmentation"].arrays["masks"], _masks())  # not theirs
    mine.close()
    theirs, beside = Session.load(path), Session.load(tmp_path / "movie-2.catrack.h5")
    assert set(theirs.steps) == {"segmentation", "tracks", "settings"}
    assert theirs["segmentation"].arrays["masks"].shape == (2, 3, 3)
    assert set(beside.steps) == {"segmentation", "tracks", "velocity"}
    np.testing.assert_array_equal(beside["segmentation"].arrays["masks"], _masks())


def test_a_file_rewritten_in_place_is_refused_not_read(tmp_path):
    """`cp other.catrack.h5 movie.catrack.h5` writes into the same file (inode): the arrays a
    lazy session did not read yet are gone from it. Reading or saving them is one InputError
    line, and the file is left as the other program wrote it."""
    path, other = tmp_path / "movie.catrack.h5", tmp_path / "other.catrack.h5"
    _session(path)
    s = Session(other, autosave=False)
    s.record("segmentation", arrays={"masks": np.zeros((5, 4, 4), np.uint8)}, save=False)
    s.save()
    lazy = Session.load(path, lazy_arrays=True)
    shutil.copyfile(other, path)  # truncates and writes the same inode
    rewritten = path.read_bytes()
    with pytest.raises(InputError, match=r"movie\.catrack\.h5 was rewritten in place") as info:
        lazy["segmentation"].arrays["masks"]
    assert "\n" not in str(info.value) and not isinstance(info.value, DamagedSession)
    with pytest.raises(InputError, match="rewritten in place"):
        lazy.save(tmp_path / "elsewhere.catrack.h5")
    with pytest.raises(InputError, match="rewritten in place"):
        lazy.save()  # its own path changed, so beside it (movie-2): refused as well
    lazy.close()
    assert path.read_bytes() == rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.catrack.h5", "other.catrack.h5"]


def test_saving_a_lazy_session_to_a_new_path_and_closing_it(tmp_path):
    path, new = tmp_path / "s.catrack.h5", tmp_path / "sub" / "new.catrack.h5"
    _session(path)
    original = path.read_bytes()
    s = Session.load(path, lazy_arrays=True)
    assert s.save(new) == new and s.path == new
    s.save_copy(tmp_path / "copy.catrack.h5")
    assert path.read_bytes() == original
    for saved in (new, tmp_path / "copy.catrack.h5"):
        back = Session.load(saved)
        np.testing.assert_array_equal(back["segmentation"].arrays["masks"], _masks())
        np.testing.assert_array_equal(back["tracks"].arrays["weights"], np.arange(5.0))
    s.close()
    with pytest.raises(InputError, match="was closed before its array .*masks was read"):
        s["segmentation"].arrays["masks"]


def test_windows_reads_the_arrays_at_load(tmp_path, monkeypatch, array_reads):
    """An open file cannot be replaced on Windows: the arrays are read at load there."""
    from napari_catrack import session as session_module

    path = tmp_path / "s.catrack.h5"
    _session(path)
    monkeypatch.setattr(session_module, "_can_keep_open", lambda: False)
    s = Session.load(path, lazy_arrays=True)
    assert sorted(array_reads) == ["masks", "painted_3", "weights"]
    assert isinstance(s["segmentation"].arrays, dict) and not s._sources
    s.save()
    np.testing.assert_array_equal(Session.load(path)["segmentation"].arrays["masks"], _masks())


def test_a_damaged_session_is_still_damaged_session_when_loaded_lazily(tmp_path):
    for case, path in _damaged_session_files(tmp_path).items():
        before = path.read_bytes()
        with pytest.raises(DamagedSession) as eager:
            Session.load(path)
        with pytest.raises(DamagedSession) as lazy:
            Session.load(path, lazy_arrays=True)
        assert str(lazy.value) == str(eager.value), case
        assert path.read_bytes() == before, case


def test_damage_inside_an_arrays_compressed_bytes(tmp_path, array_reads):
    """Garbage in an array's compressed chunk (not its header): a lazy load cannot see it (it
    decompresses nothing), reading the array is `DamagedSession`, and a save carries the chunk
    over as it was (the file is no worse; the array still reads as damaged)."""
    path = tmp_path / "s.catrack.h5"
    _session(path)
    damage_first_chunk(path)
    with pytest.raises(DamagedSession, match="filter returned failure"):
        Session.load(path)
    s = Session.load(path, lazy_arrays=True)
    np.testing.assert_array_equal(s["segmentation"].arrays["painted_3"], np.eye(48))
    with pytest.raises(DamagedSession, match=r"s\.catrack\.h5 is damaged"):
        s["segmentation"].arrays["masks"]
    s2 = Session.load(path, lazy_arrays=True)
    s2.save(tmp_path / "copy.catrack.h5")
    s.close(), s2.close()
    copy = Session.load(tmp_path / "copy.catrack.h5", lazy_arrays=True)
    np.testing.assert_array_equal(copy["tracks"].arrays["weights"], np.arange(5.0))
    with pytest.raises(DamagedSession, match=r"copy\.catrack\.h5 is damaged"):
        copy["segmentation"].arrays["masks"]
    copy.close()


def test_catrack_velocity_with_session_reads_and_recompresses_no_array(tmp_path, array_reads):
    """The step a long behaviour session gets from the CLI: a small table. The masks are neither
    read nor recompressed (copied as stored), and the session file is closed afterwards."""
    from napari_catrack.cli import main

    path = tmp_path / "worm.catrack.h5"
    _session(path)
    stored = _raw_chunks(path, "steps/segmentation/arrays/masks")
    frames = np.arange(40)
    pd.DataFrame({"frame": frames, "time_s": frames / 15.0, "stage_y_um": 0.0,
                  "stage_x_um": frames * 3.0}).to_csv(tmp_path / "stage.csv", index=False)  # fmt: skip
    pd.DataFrame({"neuron_id": 1, "frame": frames, "y": 20.0, "x": 10.0 + frames}).to_csv(
        tmp_path / "tracks.csv", index=False
    )
    array_reads.clear()
    assert _open_hdf5_files() == 0
    assert main(["velocity", "--stage", str(tmp_path / "stage.csv"), "--tracks",
                 str(tmp_path / "tracks.csv"), "--pixel-size", "10", "--fps", "15",
                 "--image-size", "48,48", "-o", str(tmp_path / "v.csv"),
                 "--session", str(path)]) == 0  # fmt: skip
    assert array_reads == []
    assert _raw_chunks(path, "steps/segmentation/arrays/masks") == stored
    back = Session.load(path)
    assert set(back.steps) == {"segmentation", "tracks", "velocity"}
    assert len(back["velocity"].tables["velocity"]) == 40
    assert _open_hdf5_files() == 0  # the file the masks were copied from was closed


def _open_hdf5_files() -> int:
    return h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)


def test_session_target_records_into_a_file_saved_meanwhile(tmp_path):
    """`SessionTarget.save` after another program saved the file: the step goes into that
    version (its arrays copied from it as stored), the other program's work is kept."""
    import argparse

    from napari_catrack.commands._common import session_from_args

    path = tmp_path / "worm.catrack.h5"
    _session(path)
    target = session_from_args(argparse.Namespace(session=str(path), command="velocity"), None)
    other = Session.load(path)
    other["segmentation"].arrays["masks"] = _masks()[:7]
    other.record("settings", attrs={"fps": 5.0})

    def record(session, save=None):
        session.record("velocity", tables={"velocity": pd.DataFrame({"v": [1.0]})}, save=save)

    target.record(record)
    target.save()
    back = Session.load(path)
    assert set(back.steps) == {"segmentation", "tracks", "settings", "velocity"}
    np.testing.assert_array_equal(back["segmentation"].arrays["masks"], _masks()[:7])
    assert not list(tmp_path.glob("worm-2*"))


def test_a_step_a_record_removes_stays_removed_in_a_file_saved_meanwhile(tmp_path):
    """A record that removes a step (a new velocity takes the bouts called from the old one
    away: `record_velocity`; new traces their transients) into a file another program saved
    meanwhile: only the recorded steps went into that version, so the removed one came back
    beside the step that replaced its input (h22 review)."""
    import argparse

    from napari_catrack.commands._common import session_from_args
    from napari_catrack.core.behaviour.records import record_bouts, record_velocity

    path = tmp_path / "worm.catrack.h5"
    _session(path)
    with_bouts = Session.load(path)
    old = pd.DataFrame({"frame": [0, 1], "time_s": [0.0, 0.1], "speed_um_s": [50.0, 50.0]})
    record_velocity(with_bouts, old, {}, {}, save=False)
    record_bouts(with_bouts, pd.DataFrame({"state": ["forward"]}), {}, {}, save=False)
    with_bouts.save(path)
    target = session_from_args(argparse.Namespace(session=str(path), command="velocity"), None)
    other = Session.load(path)
    other.record("settings", attrs={"fps": 5.0})  # another program saves meanwhile

    new = old.assign(speed_um_s=[5.0, 5.0])
    assert target.record(record_velocity, new, {}, {}) is True  # the bouts were there
    target.save()
    back = Session.load(path)
    assert "settings" in back.steps  # the other program's work is kept
    assert "bouts" not in back.steps  # not beside the velocity that replaced theirs
    pd.testing.assert_frame_equal(back["velocity"].tables["velocity"], new)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_writer_replacing_the_file_while_it_is_opened_is_seen(tmp_path, monkeypatch, lazy):
    """The file is noted as the one actually read (its open descriptor), not what the path names
    a moment later: a writer's save landing between the two is not overwritten by our save."""
    from napari_catrack import session as session_module

    path = tmp_path / "movie.catrack.h5"
    _session(path)
    theirs = Session.load(path)
    theirs.record("settings", attrs={"fps": 5.0}, save=False)
    opened = session_module._open_session_file

    def open_then_replaced(p):
        f = opened(p)
        theirs.save_copy(path)  # another writer's os.replace, right after our open
        return f

    monkeypatch.setattr(session_module, "_open_session_file", open_then_replaced)
    mine = Session.load(path, lazy_arrays=lazy)
    monkeypatch.undo()
    assert "settings" not in mine.steps  # we read the file as it was
    mine.record("velocity", tables={"velocity": pd.DataFrame({"v": [1.0]})}, save=False)
    with pytest.warns(SessionFileChanged, match="movie-2"):
        mine.save()
    mine.close()
    assert set(Session.load(path).steps) == {"segmentation", "tracks", "settings"}
    beside = Session.load(tmp_path / "movie-2.catrack.h5")
    assert set(beside.steps) == {"segmentation", "tracks", "velocity"}
    np.testing.assert_array_equal(beside["segmentation"].arrays["masks"], _masks())
