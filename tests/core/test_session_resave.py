"""`Session.save` copies an array unchanged since the session last read or wrote its file.

The copy (HDF5's H5Ocopy of the stored, compressed dataset) replaces recompressing a long
video's masks at every GUI autosave; it is only taken when the array's content fingerprint and
the previous file's stamp prove that the stored dataset is what memory holds.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

import napari_catrack.session as session_mod
from napari_catrack.io.atomic import atomic_write_set
from napari_catrack.session import FINGERPRINT_MIN_BYTES, Session, SessionFileChanged


def _masks(value: int = 1, frames: int = 40) -> np.ndarray:
    """Masks above the fingerprint threshold (40 x 256 x 256 uint8 = 2.6 MB)."""
    masks = np.zeros((frames, 256, 256), np.uint8)
    masks[:, 100:140, 30:200] = value
    masks[np.arange(frames), np.arange(frames), np.arange(frames)] = 2  # every frame differs
    assert masks.nbytes >= FINGERPRINT_MIN_BYTES
    return masks


def _table(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"frame": np.arange(n), "speed": np.linspace(0, 1, n)})


@pytest.fixture
def writes(monkeypatch):
    """Every array `save` writes (compresses) from memory, by dataset path."""
    written: list[str] = []
    real = session_mod._create_array

    def spy(group, name, arr):
        written.append(f"{group.name}/{name}")
        real(group, name, arr)

    monkeypatch.setattr(session_mod, "_create_array", spy)
    return written


def _no_recompress(monkeypatch) -> None:
    """Make the write-from-memory path fail for large arrays: only a copy can save them."""
    real = session_mod._create_array

    def refuse(group, name, arr):
        if arr.nbytes >= FINGERPRINT_MIN_BYTES:
            raise AssertionError(f"{group.name}/{name} was recompressed, not copied")
        real(group, name, arr)

    monkeypatch.setattr(session_mod, "_create_array", refuse)


def test_resave_copies_an_unchanged_array(tmp_path, monkeypatch):
    path = tmp_path / "s.catrack.h5"
    masks = _masks()
    s = Session(path)
    s.record("segmentation", arrays={"masks": masks}, tables={"frames": _table()})
    _no_recompress(monkeypatch)
    s.record("velocity", tables={"velocity": _table(50)})  # autosave: copies the masks
    s.record("transients", tables={"events": _table(5)})  # and again, from the file just written
    back = Session.load(path)
    np.testing.assert_array_equal(back["segmentation"].arrays["masks"], masks)
    assert back["segmentation"].arrays["masks"].dtype == np.uint8
    pd.testing.assert_frame_equal(back["velocity"].tables["velocity"], _table(50))
    assert set(back.steps) == {"segmentation", "velocity", "transients"}


def test_resave_of_a_loaded_session_copies_its_arrays(tmp_path, monkeypatch):
    """The GUI loads eagerly: the arrays as read are fingerprinted, so its first autosave copies."""
    path = tmp_path / "s.catrack.h5"
    masks = _masks()
    first = Session(path)
    first.record("segmentation", arrays={"masks": masks})
    first.layers = [(_masks(3), {"name": "worm masks"}, "labels")]
    first.save()
    loaded = Session.load(path)
    _no_recompress(monkeypatch)
    loaded.record("velocity", tables={"velocity": _table()})
    back = Session.load(path)
    np.testing.assert_array_equal(back["segmentation"].arrays["masks"], masks)
    np.testing.assert_array_equal(back.layers[0][0], _masks(3))
    assert set(back.steps) == {"segmentation", "velocity"}


def test_array_edited_in_place_after_save_is_written_anew(tmp_path, writes):
    path = tmp_path / "s.catrack.h5"
    masks = _masks()
    s = Session(path)
    s.record("segmentation", arrays={"masks": masks})
    assert s["segmentation"].arrays["masks"] is masks  # the session holds the caller's array
    masks[5, 0, 0] = 9  # a widget mutates its numpy array: the same object, new content
    writes.clear()
    s.record("velocity", tables={"velocity": _table()})
    assert "/steps/segmentation/arrays/masks" in writes
    back = Session.load(path)
    assert back["segmentation"].arrays["masks"][5, 0, 0] == 9
    np.testing.assert_array_equal(back["segmentation"].arrays["masks"], masks)


def test_painted_labels_layer_of_a_loaded_session_is_written_anew(tmp_path, writes):
    path = tmp_path / "s.catrack.h5"
    first = Session(path)
    first.layers = [(_masks(3), {"name": "worm masks"}, "labels")]
    first.record("segmentation", arrays={"masks": _masks()})
    loaded = Session.load(path)
    loaded.layers[0][0][7, 200:210, 200:210] = 4  # a brush stroke on the Labels layer's data
    writes.clear()
    loaded.record("velocity", tables={"velocity": _table()})
    assert "/layers/000/data" in writes
    assert "/steps/segmentation/arrays/masks" not in writes  # unchanged: copied
    back = Session.load(path)
    assert (back.layers[0][0][7, 200:210, 200:210] == 4).all()
    np.testing.assert_array_equal(back["segmentation"].arrays["masks"], _masks())


def _saved_then_replaced_by_another_writer(path):
    """A session that saved its masks at `path`, and another writer that then saved other
    masks (all 5) at the same dataset path: (the first session, its masks)."""
    mine = _masks(1)
    s = Session(path)
    s.record("segmentation", arrays={"masks": mine})
    other = Session.load(path)
    other["segmentation"].arrays["masks"][:] = 5
    other.save()
    return s, mine


def test_no_copy_from_a_file_another_writer_replaced(tmp_path, writes):
    """Another writer saved other masks at the same dataset path: this session's next save goes
    to `-2` as before, with its own masks, never the other writer's."""
    path = tmp_path / "s.catrack.h5"
    s, mine = _saved_then_replaced_by_another_writer(path)
    writes.clear()
    with pytest.warns(SessionFileChanged, match="s-2.catrack.h5"):
        s.record("velocity", tables={"velocity": _table()})
    assert s.path == tmp_path / "s-2.catrack.h5"
    assert "/steps/segmentation/arrays/masks" in writes
    np.testing.assert_array_equal(Session.load(s.path)["segmentation"].arrays["masks"], mine)
    theirs = Session.load(path)
    assert (theirs["segmentation"].arrays["masks"] == 5).all()
    assert "velocity" not in theirs


def test_no_copy_from_a_replaced_file_the_session_is_pointed_at_again(tmp_path, writes):
    """Pointing the session at its path again accepts writing over the file there now: the
    fingerprints describe the file replaced, so nothing is copied from the new one."""
    path = tmp_path / "s.catrack.h5"
    s, mine = _saved_then_replaced_by_another_writer(path)
    s.path = path
    writes.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SessionFileChanged)
        s.record("velocity", tables={"velocity": _table()})
    assert s.path == path
    assert "/steps/segmentation/arrays/masks" in writes
    np.testing.assert_array_equal(Session.load(path)["segmentation"].arrays["masks"], mine)


def test_no_copy_from_a_replaced_file_of_the_same_size_and_mtime(tmp_path, writes):
    """Another file of the same size with the old mtime put back: only the inode tells it
    apart, and the stamp includes it."""
    path = tmp_path / "s.catrack.h5"
    mine = _masks(3)
    s = Session(path)
    s.record("segmentation", arrays={"masks": mine})
    before = os.stat(path)
    other = Session.load(path)
    other["segmentation"].arrays["masks"][:] = _masks(1)
    other.save()
    short = before.st_size - os.stat(path).st_size
    assert short >= 0
    with open(path, "ab") as fh:  # HDF5 ignores bytes past the end of its data
        fh.write(b"\0" * short)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    now = os.stat(path)
    assert (now.st_size, now.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert now.st_ino != before.st_ino
    s.path = path  # accepts the file as it is now; the fingerprints still name the old one
    writes.clear()
    s.record("velocity", tables={"velocity": _table()})
    assert "/steps/segmentation/arrays/masks" in writes
    np.testing.assert_array_equal(Session.load(path)["segmentation"].arrays["masks"], mine)


def test_save_inside_a_write_set_copies_nothing_from_the_file_not_yet_replaced(tmp_path, writes):
    """Inside `atomic_write_set` the replace waits for the end of the set: the file at the path
    is still the older one, whose masks differ from the ones just saved."""
    path = tmp_path / "s.catrack.h5"
    masks = _masks(1)
    s = Session(path)
    s.record("segmentation", arrays={"masks": masks})
    with atomic_write_set():
        masks[:] = 7
        s.save()  # into a temp file, placed when the set ends
        writes.clear()
        s.save()
        assert "/steps/segmentation/arrays/masks" in writes
    back = Session.load(path)
    assert (back["segmentation"].arrays["masks"] == 7).all()


def test_small_arrays_are_written_again(tmp_path, writes):
    """Below FINGERPRINT_MIN_BYTES hashing and copying cost about what writing does: written."""
    path = tmp_path / "s.catrack.h5"
    small = np.arange(100, dtype=np.float64)
    s = Session(path)
    s.record("traces", arrays={"f0": small, "masks": _masks()})
    writes.clear()
    s.record("velocity", tables={"velocity": _table()})
    assert writes == ["/steps/traces/arrays/f0"]  # the masks were copied
    np.testing.assert_array_equal(Session.load(path)["traces"].arrays["f0"], small)


def test_explicit_save_elsewhere_writes_everything(tmp_path, writes):
    path = tmp_path / "s.catrack.h5"
    masks = _masks()
    s = Session(path)
    s.record("segmentation", arrays={"masks": masks})
    writes.clear()
    elsewhere = s.save(tmp_path / "other.catrack.h5")
    assert "/steps/segmentation/arrays/masks" in writes
    np.testing.assert_array_equal(Session.load(elsewhere)["segmentation"].arrays["masks"], masks)
    writes.clear()
    s.save()  # the session now saves to other.catrack.h5, which it just wrote: copied
    assert writes == []


def test_fingerprint_tells_dtype_shape_and_layout_apart():
    a = np.arange(2**20, dtype=np.uint16).reshape(1024, 1024)
    fp = session_mod._fingerprint
    assert fp(a) == fp(a.copy())
    assert fp(a) != fp(a.reshape(2048, 512))
    assert fp(a) != fp(a.view(np.int16))
    assert fp(a.T) == fp(np.ascontiguousarray(a.T))  # content in C order, however it is held
    b = a.copy()
    b[-1, -1] ^= 1
    assert fp(a) != fp(b)
    assert fp(np.zeros(10)) is None  # small: not fingerprinted
    assert fp(np.array(["x"] * 2**20, dtype=object)) is None


def test_lazy_session_copies_an_array_it_read_and_left_unchanged(tmp_path, monkeypatch):
    """A `--session` command that reads the masks (lazy load) and records a small step copies
    them from the file as loaded, like the ones it never read."""
    path = tmp_path / "s.catrack.h5"
    masks = _masks()
    first = Session(path)
    first.record("segmentation", arrays={"masks": masks, "other": _masks(4)})
    lazy = Session.load(path, lazy_arrays=True)
    try:
        np.testing.assert_array_equal(lazy["segmentation"].arrays["masks"], masks)  # read
        _no_recompress(monkeypatch)
        lazy.record("velocity", tables={"velocity": _table()})
    finally:
        lazy.close()
    back = Session.load(path)
    np.testing.assert_array_equal(back["segmentation"].arrays["masks"], masks)
    np.testing.assert_array_equal(back["segmentation"].arrays["other"], _masks(4))


def test_lazy_session_writes_an_array_it_read_and_changed(tmp_path, writes):
    path = tmp_path / "s.catrack.h5"
    first = Session(path)
    first.record("segmentation", arrays={"masks": _masks()})
    lazy = Session.load(path, lazy_arrays=True)
    try:
        lazy["segmentation"].arrays["masks"][0, 0, 0] = 8
        writes.clear()
        lazy.record("velocity", tables={"velocity": _table()})
    finally:
        lazy.close()
    assert writes == ["/steps/segmentation/arrays/masks"]
    assert Session.load(path)["segmentation"].arrays["masks"][0, 0, 0] == 8


def _same_chunks(ours, reference) -> None:
    """Every chunk of `ours` stores what h5py's own write of the same array stores: the same
    offsets and filter masks, the same bytes inflated (edge chunks padded as HDF5 pads them),
    and the same compressed bytes wherever Python's zlib reproduces HDF5's deflate."""
    import zlib

    mine, theirs = _stored_chunks(ours), _stored_chunks(reference)
    assert mine.keys() == theirs.keys()
    for offset, (mask, data) in theirs.items():
        assert mine[offset][0] == mask == 0, offset
        assert zlib.decompress(mine[offset][1]) == zlib.decompress(data), offset
        level = reference.compression_opts
        if zlib.compress(zlib.decompress(data), level) == data:  # (same zlib as HDF5's)
            assert mine[offset][1] == data, offset


def test_a_large_array_is_written_chunk_by_chunk_with_the_bytes_h5py_writes(tmp_path, monkeypatch):
    """h5py holds its global lock for a whole write call, compression included: a background
    autosave writing one 16 MB slab of noise-like masks kept napari's main thread from reading
    an HDF5 recording 1.2-2.5 s. Each chunk is now compressed outside h5py (shuffle + deflate in
    Python) and written as stored bytes; the file holds the dataset a single h5py write makes
    (shape, dtype, chunks, filters, every chunk, edge chunks included), readable by any HDF5
    reader. Fails on the old code: the slabs went through `Dataset.__setitem__`."""
    import h5py

    monkeypatch.setattr(session_mod, "SLAB_BYTES", 1 << 20)
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 5, (37, 129, 250), dtype=np.uint16)  # 2.4 MB; edge chunks on 3 axes
    arr[rng.random(arr.shape) > 0.3] = 0
    writes = []
    original = h5py.Dataset.__setitem__

    def counting(self, key, value):
        if self.shape == arr.shape:
            writes.append(key)
        return original(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", counting)
    s = Session()
    s.record("segment", arrays={"masks": arr}, save=False)
    path = s.save(tmp_path / "s.catrack.h5")
    monkeypatch.setattr(h5py.Dataset, "__setitem__", original)
    assert writes == []  # nothing compressed inside h5py
    with (
        h5py.File(tmp_path / "one.h5", "w") as one,
        h5py.File(path, "r") as f,
    ):
        reference = one.create_dataset("m", data=arr, **session_mod._compression(arr.size))
        ds = f["steps/segment/arrays/masks"]
        assert ds.chunks == reference.chunks
        assert any(n % c for n, c in zip(arr.shape, ds.chunks, strict=True))  # edge chunks
        plist, ref_plist = ds.id.get_create_plist(), reference.id.get_create_plist()
        filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
        assert filters == [ref_plist.get_filter(i) for i in range(ref_plist.get_nfilters())]
        assert [f[3] for f in filters] == [b"shuffle", b"deflate"]
        _same_chunks(ds, reference)
        np.testing.assert_array_equal(ds[()], arr)
    np.testing.assert_array_equal(Session.load(path)["segment"].arrays["masks"], arr)


@pytest.mark.parametrize(
    ("dtype", "fill"), [(np.uint8, 0), (np.float32, 0), (bool, False), (np.int16, -7)]
)
def test_chunks_encoded_in_python_equal_h5pys_for_each_type_and_fill_value(tmp_path, dtype, fill):
    """`chunk_encoder` pads an edge chunk with the dataset's fill value, as HDF5 does, and
    reproduces shuffle (a no-op for one-byte types) and deflate for each number type."""
    import h5py

    from napari_catrack.io.h5write import chunk_encoder, write_chunks

    rng = np.random.default_rng(1)
    arr = (rng.random((21, 70, 45)) * 4).astype(dtype)
    kwargs = {"compression": "gzip", "compression_opts": 4, "shuffle": True, "chunks": (8, 32, 16)}
    with h5py.File(tmp_path / "t.h5", "w") as f:
        reference = f.create_dataset("ref", data=arr, fillvalue=fill, **kwargs)
        ds = f.create_dataset("ours", shape=arr.shape, dtype=arr.dtype, fillvalue=fill, **kwargs)
        encode = chunk_encoder(ds, arr.dtype)
        assert encode is not None
        for start in range(0, arr.shape[0], 16):  # slabs of two chunk rows
            write_chunks(ds, start, arr[start : start + 16], encode)
        _same_chunks(ds, reference)
        np.testing.assert_array_equal(ds[()], arr)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"compression": "gzip", "fletcher32": True},
        {"compression": "lzf"},
        {"compression": "gzip", "scaleoffset": 0},
        {"chunks": None},
    ],
    ids=["fletcher32", "lzf", "scaleoffset", "contiguous"],
)
def test_a_filter_pipeline_not_reproduced_is_left_to_h5py(tmp_path, kwargs):
    import h5py

    from napari_catrack.io.h5write import chunk_encoder

    with h5py.File(tmp_path / "t.h5", "w") as f:
        ds = f.create_dataset("a", shape=(40, 50), dtype=np.uint16, **kwargs)
        assert chunk_encoder(ds, np.dtype(np.uint16)) is None
        plain = f.create_dataset("b", shape=(40, 50), dtype=">u2", compression="gzip")
        assert chunk_encoder(plain, np.dtype("<u2")) is None  # another byte order


def test_chunks_are_compressed_while_h5pys_lock_is_free(tmp_path, monkeypatch):
    """The point of the chunk-by-chunk write: while a chunk is compressed another thread can
    take h5py's global lock (napari's main thread reading a recording). Fails on the old code:
    h5py compressed inside its lock, Python's zlib was never called."""
    import threading
    import zlib

    from h5py._objects import phil

    monkeypatch.setattr(session_mod, "SLAB_BYTES", 1 << 20)
    real = zlib.compress
    free: list[bool] = []

    def compress(data, level=-1, **kwargs):
        got: list[bool] = []

        def try_lock() -> None:
            got.append(phil.acquire(False))
            if got[-1]:
                phil.release()

        t = threading.Thread(target=try_lock)
        t.start()
        t.join()
        free.append(got[0])
        return real(data, level, **kwargs)

    monkeypatch.setattr(zlib, "compress", compress)
    arr = np.random.default_rng(2).integers(0, 5, (40, 128, 256), dtype=np.uint8)  # 1.3 MB
    s = Session()
    s.record("segment", arrays={"masks": arr}, save=False)
    path = s.save(tmp_path / "s.catrack.h5")
    monkeypatch.setattr(zlib, "compress", real)
    assert free and all(free), f"{free.count(False)} of {len(free)} compressions held h5py's lock"
    np.testing.assert_array_equal(Session.load(path)["segment"].arrays["masks"], arr)


def _datasets(f):
    names = []
    f.visit(names.append)
    return names


def _stored_chunks(ds) -> dict:
    """{chunk offset: (filter mask, compressed bytes)} of a dataset, as stored."""
    import napari_catrack.io.hdf5 as hdf5

    return {
        tuple(info.chunk_offset): ds.id.read_direct_chunk(info.chunk_offset)
        for info in hdf5._chunk_infos(ds)
    }


@pytest.mark.parametrize("lazy", [False, True], ids=["eager load", "lazy load, never read"])
def test_a_large_unchanged_array_is_copied_chunk_by_chunk_as_stored(tmp_path, monkeypatch, lazy):
    """H5Ocopy is one h5py call, held under h5py's global lock for the whole copy: a background
    autosave copying a long video's masks kept a main-thread HDF5 read waiting for all of it.
    A large dataset is now copied one compressed chunk per call; the copy holds the chunks H5Ocopy
    makes, byte for byte, with the same creation properties and attributes (the chunk digest)."""
    import shutil

    import h5py

    import napari_catrack.io.hdf5 as hdf5

    monkeypatch.setattr(hdf5, "COPY_BY_CHUNKS_BYTES", 1 << 14, raising=False)  # 16 kB
    rng = np.random.default_rng(0)
    masks = _masks()
    masks[rng.random(masks.shape) < 0.05] = 3  # some noise: many chunks, ~0.5 MB stored
    path = tmp_path / "s.catrack.h5"
    s = Session(path)
    s.record("segmentation", arrays={"masks": masks})
    shutil.copy(path, tmp_path / "before.h5")
    if lazy:
        s = Session.load(path, lazy_arrays=True)
    key = "/steps/segmentation/arrays/masks"
    whole_copies = []
    real_copy = h5py.Group.copy

    def spy(self, source, dest, name=None, **kwargs):
        whole_copies.append(getattr(source, "name", source))
        return real_copy(self, source, dest, name=name, **kwargs)

    monkeypatch.setattr(h5py.Group, "copy", spy)
    _no_recompress(monkeypatch)  # only a copy can save the masks
    s.record("velocity", tables={"velocity": _table()})
    s.close()
    monkeypatch.setattr(h5py.Group, "copy", real_copy)
    assert key not in whole_copies  # not one H5Ocopy
    with h5py.File(tmp_path / "before.h5", "r") as f, h5py.File(tmp_path / "ref.h5", "w") as r:
        r.copy(f[key], r, name="masks")  # what H5Ocopy makes of it
    with h5py.File(tmp_path / "ref.h5", "r") as r, h5py.File(path, "r") as f:
        ref, ds = r["masks"], f[key]
        assert len(ds.chunks) == 3 and len(_stored_chunks(ref)) > 10
        assert _stored_chunks(ds) == _stored_chunks(ref)
        assert (ds.chunks, ds.compression, ds.compression_opts, ds.shuffle, ds.fillvalue) == (
            ref.chunks, ref.compression, ref.compression_opts, ref.shuffle, ref.fillvalue
        )  # fmt: skip
        assert dict(ds.attrs) == dict(ref.attrs) and hdf5.CHUNKS_DIGEST in ds.attrs
        np.testing.assert_array_equal(ds[()], masks)
    assert hdf5.damaged_chunk(path) is None  # the digest copied still vouches for the chunks


def test_copy_as_stored_keeps_every_attribute_as_h5ocopy_does(tmp_path, monkeypatch):
    import h5py

    import napari_catrack.io.hdf5 as hdf5

    monkeypatch.setattr(hdf5, "COPY_BY_CHUNKS_BYTES", 0)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        ds = f.create_dataset("x", data=_masks(), chunks=(4, 64, 64), compression="gzip")
        ds.attrs["text"] = "a variable-length string"
        ds.attrs["fixed"] = np.bytes_(b"fixed")
        ds.attrs["numbers"] = np.arange(3, dtype=np.int16)
        ds.attrs["empty"] = h5py.Empty("f")
        ds.attrs["flag"] = True
    with h5py.File(tmp_path / "a.h5", "r") as f, h5py.File(tmp_path / "b.h5", "w") as g:
        f.copy(f["x"], g, name="ref")
        hdf5.copy_as_stored(f["x"], g, "mine")
        ref, mine = g["ref"], g["mine"]
        assert _stored_chunks(mine) == _stored_chunks(ref)
        for name in ref.attrs:
            assert ref.attrs.get_id(name).dtype == mine.attrs.get_id(name).dtype, name
            assert repr(ref.attrs[name]) == repr(mine.attrs[name]), name
        assert set(mine.attrs) == set(ref.attrs)


@pytest.mark.parametrize("kind", ["reference", "dimension scale", "vlen integers"])
def test_copy_as_stored_of_a_dataset_with_references_or_sequences_does_not_crash(tmp_path, kind):
    """An attribute holding an object reference or a variable-length sequence of numbers (a
    dimension scale's DIMENSION_LIST holds both) was read into a buffer in its file type: the
    process died (segmentation fault; napari with it, mid-save). Such a dataset is copied by
    H5Ocopy, as before h15, and its other attributes kept. In a child process: a crash is a
    failed test, not a dead test run."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import h5py, numpy as np
        import napari_catrack.io.hdf5 as hdf5
        hdf5.COPY_BY_CHUNKS_BYTES = 0
        kind = {kind!r}
        with h5py.File({str(tmp_path / "a.h5")!r}, "w") as f:
            ds = f.create_dataset("x", data=np.arange(4096, dtype=np.int32).reshape(64, 64),
                                  chunks=(16, 16), compression="gzip")
            f.create_dataset("t", data=np.arange(64.0))
            ds.attrs["text"] = "kept"
            if kind == "reference":
                ds.attrs["ref"] = f["t"].ref
            elif kind == "dimension scale":
                f["t"].make_scale("time")
                ds.dims[0].attach_scale(f["t"])
            else:
                ds.attrs.create("v", np.array([np.arange(3), np.arange(2)], dtype=object),
                                dtype=h5py.vlen_dtype(np.int32))
        with h5py.File({str(tmp_path / "a.h5")!r}, "r") as f, \
                h5py.File({str(tmp_path / "b.h5")!r}, "w") as g:
            hdf5.copy_as_stored(f["x"], g, "x")
            assert np.array_equal(g["x"][()], f["x"][()])
            assert g["x"].attrs["text"] == "kept"
            assert len(g["x"].attrs) == len(f["x"].attrs)
        print("ok")
    """)
    src = os.path.dirname(os.path.dirname(session_mod.__file__))  # the package under test
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ok", (
        done.returncode,
        done.stderr[-2000:],
    )
