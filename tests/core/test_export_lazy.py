"""`catrack export`, `catrack export-nwb`, `catrack batch` and `Session.save_copy` on a session
whose arrays they do not need (a long video's masks): those arrays are neither read nor
recompressed; the ones an export writes are read once (the masks' TIFF: block by block)."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from napari_catrack import session as session_module
from napari_catrack.cli import main
from napari_catrack.session import Session

from ._session_helpers import damage_first_chunk, two_photon_session
from .test_session_lazy import _masks, _open_hdf5_files, _raw_chunks, _session

ARRAYS = ("segmentation/arrays/masks", "segmentation/arrays/painted_3", "tracks/arrays/weights")


@pytest.fixture
def reads(monkeypatch):
    """(array name, index) of each read of a stored array (h5py dataset reads under /arrays/)."""
    seen: list[tuple[str, object]] = []
    original = h5py.Dataset.__getitem__

    def counting(self, key):
        if "/arrays/" in self.name:
            seen.append((self.name.rsplit("/", 1)[1], key))
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    return seen


@pytest.fixture
def recompressed(monkeypatch):
    """The dataset names a save wrote (compressed) from memory rather than copied as stored."""
    names: list[str] = []
    original = session_module._create_array

    def recording(group, name, arr):
        names.append(f"{group.name}/{name}".rsplit("/", 1)[1] if "/arrays" in group.name else
                     f"{group.name}/{name}")  # fmt: skip
        return original(group, name, arr)

    monkeypatch.setattr(session_module, "_create_array", recording)
    return names


def test_export_of_tables_and_the_session_reads_no_array(tmp_path, reads, recompressed):
    """The session copy an export writes carries every array over as stored (same filters,
    same compressed chunks), and nothing was decompressed to write it or the tables."""
    path, out = tmp_path / "worm.catrack.h5", tmp_path / "out"
    _session(path)
    stored = {key: _raw_chunks(path, f"steps/{key}") for key in ARRAYS}
    reads.clear(), recompressed.clear()
    assert main(["export", str(path), "-o", str(out), "--items", "session,tracks"]) == 0
    assert reads == []
    assert recompressed == ["/layers/000/data"]  # layers are read at load (a points layer)
    for key, chunks in stored.items():
        assert _raw_chunks(out / "session.catrack.h5", f"steps/{key}") == chunks, key
    copy = Session.load(out / "session.catrack.h5")
    np.testing.assert_array_equal(copy["segmentation"].arrays["masks"], _masks())
    np.testing.assert_array_equal(copy["tracks"].arrays["weights"], np.arange(5.0))
    assert len(pd.read_csv(out / "tracks.csv")) == len(copy["tracks"].tables["tracks"])
    assert _open_hdf5_files() == 0  # the command closed the session file


def test_export_of_everything_reads_the_masks_once_in_blocks(tmp_path, reads):
    """The default export writes the masks' TIFF: the masks are read once, in slices (never
    whole), and the file is the one `write_masks` writes from the masks in memory."""
    from napari_catrack.io.masks import write_masks

    path, out = tmp_path / "worm.catrack.h5", tmp_path / "out"
    _session(path)
    stored = _raw_chunks(path, "steps/segmentation/arrays/masks")
    reads.clear()
    assert main(["export", str(path), "-o", str(out)]) == 0
    assert {name for name, _ in reads} == {"masks"}  # painted_3, weights: not exported
    assert all(isinstance(key, slice) for _, key in reads), reads
    assert sum(len(range(*key.indices(40))) for _, key in reads) == 40  # each frame once
    tif = out / "behaviour" / "masks.tif"
    np.testing.assert_array_equal(tifffile.imread(tif), _masks())
    assert tif.read_bytes() == write_masks(tmp_path / "eager.tif", _masks()).read_bytes()
    assert _raw_chunks(out / "session.catrack.h5", "steps/segmentation/arrays/masks") == stored


def test_a_damaged_masks_chunk_fails_the_masks_item_only(tmp_path, capsys):
    """Garbage inside a compressed chunk of the masks: the eager load refused the whole export;
    now the items that do not read the masks are written and the TIFF is one failed line (no
    partial file), exit status 1."""
    path, out = tmp_path / "worm.catrack.h5", tmp_path / "out"
    _session(path)
    damage_first_chunk(path)
    assert main(["export", str(path), "-o", str(out)]) == 1
    said, err = capsys.readouterr()  # the result line on stdout, what failed and why on stderr
    assert (
        "catrack export: not written: Worm masks (uint8 TIFF stack) (worm.catrack.h5 is damaged"
        in err
    )
    assert said.endswith(f"\n4 file(s) written to {out}; 1 item(s) not written\n"), said
    assert "Traceback" not in err
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["behaviour/segmentation_frames.csv", "session.catrack.h5", "session.nwb",
                       "tracks.csv"]  # fmt: skip
    assert _open_hdf5_files() == 0


def test_array_blocks_read_whole_chunks_once_and_keep_nothing(tmp_path, reads):
    from napari_catrack.session import array_blocks

    path = tmp_path / "s.catrack.h5"
    s = Session(path, autosave=False)
    s.record("segmentation", arrays={"masks": _masks(100)}, save=False)
    s.save()
    with h5py.File(path, "r") as f:
        chunk = f["steps/segmentation/arrays/masks"].chunks[0]
    assert chunk < 100  # several blocks
    lazy = Session.load(path, lazy_arrays=True)
    arrays = lazy["segmentation"].arrays
    reads.clear()
    blocks = list(array_blocks(arrays, "masks", frames=1))
    np.testing.assert_array_equal(np.concatenate(blocks), _masks(100))
    starts = [key.start for _, key in reads]
    assert starts == list(range(0, 100, chunk))  # one read per chunk row, in order
    assert arrays.read_from("masks") is None  # not kept in memory: the next use reads again
    in_memory = [b.shape for b in array_blocks({"masks": _masks(10)}, "masks", frames=4)]
    assert in_memory == [(4, 48, 48), (4, 48, 48), (2, 48, 48)]
    lazy.close()


def test_save_copy_copies_the_arrays_proven_unchanged(tmp_path, monkeypatch, recompressed):
    """`save_copy` (the export's session file) takes the copy path of `save`: an eagerly loaded
    session's arrays unchanged since the load, and a lazy one's arrays read and unchanged, are
    copied as stored; an array edited in place is written from memory."""
    monkeypatch.setattr(session_module, "FINGERPRINT_MIN_BYTES", 1)  # the test's arrays are small
    path = tmp_path / "s.catrack.h5"
    _session(path)
    stored = {key: _raw_chunks(path, f"steps/{key}") for key in ARRAYS}
    eager = Session.load(path)
    recompressed.clear()
    eager.save_copy(tmp_path / "copy.catrack.h5")
    assert recompressed == []
    for key, chunks in stored.items():
        assert _raw_chunks(tmp_path / "copy.catrack.h5", f"steps/{key}") == chunks, key
    assert eager.path == path  # a copy: the session still saves to its own file

    eager["segmentation"].arrays["masks"][5, 20, 20] ^= 1  # painted in place
    eager.save_copy(tmp_path / "edited.catrack.h5")
    assert recompressed == ["masks"]
    edited = Session.load(tmp_path / "edited.catrack.h5")["segmentation"].arrays["masks"]
    assert edited[5, 20, 20] != _masks()[5, 20, 20]

    lazy = Session.load(path, lazy_arrays=True)
    lazy["segmentation"].arrays["masks"]  # read (the masks' TIFF of an older export did this)
    lazy["tracks"].arrays["weights"] = np.arange(5.0) * 2  # replaced
    recompressed.clear()
    lazy.save_copy(tmp_path / "lazy.catrack.h5")
    assert recompressed == ["weights", "/layers/000/data"]  # layers: read at load, written
    assert _raw_chunks(tmp_path / "lazy.catrack.h5", f"steps/{ARRAYS[0]}") == stored[ARRAYS[0]]
    lazy.close()


def test_export_nwb_reads_only_what_it_writes_and_writes_what_the_eager_path_did(
    tmp_path, reads, capsys
):
    """`catrack export-nwb` on a session that also holds behaviour masks: the masks are never
    read, the footprints and the 2-D summary image once each, and the NWB file holds the same
    data as one written from the session loaded whole."""
    from napari_catrack.io.nwb import read_metadata, write_nwb

    session, _ = two_photon_session(tmp_path)
    rng = np.random.default_rng(2)
    session.record("summary", arrays={"mean": rng.random((20, 24)).astype(np.float32),
                                      "planes": rng.random((2, 20, 24))}, save=False)  # fmt: skip
    session.record("segmentation", arrays={"masks": _masks()}, save=False)
    session.save()
    (tmp_path / "meta.yaml").write_text(
        "session_start_time: 2024-05-01T10:00:00+00:00\nsubject: {subject_id: m1, species: "
        "Mus musculus}\nidentifier: fixed-id\n"
    )
    eager = write_nwb(Session.load(session.path), tmp_path / "eager.nwb",
                      metadata=read_metadata(tmp_path / "meta.yaml"))  # fmt: skip
    reads.clear()
    lazy = tmp_path / "lazy.nwb"
    assert main(["export-nwb", str(session.path), "-o", str(lazy),
                 "--metadata", str(tmp_path / "meta.yaml")]) == 0  # fmt: skip
    assert sorted(name for name, _ in reads) == ["footprints", "mean"]
    assert _nwb_content(lazy) == _nwb_content(eager)
    assert _open_hdf5_files() == 0


def _nwb_content(path) -> dict:
    """Every dataset of an NWB file as bytes, and its attributes, but for what changes per write
    (creation date, object ids)."""
    out: dict = {}

    def visit(name, obj):
        attrs = {k: str(v) for k, v in obj.attrs.items() if k != "object_id"}
        value = None
        if isinstance(obj, h5py.Dataset) and not name.endswith("file_create_date"):
            value = np.asarray(obj[()]).tobytes() if obj.dtype.kind != "O" else str(obj[()])
        out[name] = (attrs, value)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def test_a_resumed_batch_reads_no_array_its_steps_do_not_use(tmp_path, reads):
    """A recording's session with a large array no batch step uses: rerunning the batch (all up
    to date, then one step changed) neither reads it nor recompresses it."""
    from napari_catrack.batch.manifest import read_manifest
    from napari_catrack.batch.recording import run_recording
    from napari_catrack.core.transients.params import TransientParams
    from napari_catrack.synthetic.batch import write_batch_folder

    folder = tmp_path / "in"
    steps = ("track", "traces", "transients")
    write_batch_folder(folder, 1, n_frames=40, shape=(48, 48), n_neurons=3, steps=steps,
                       extra={"no_align": True})  # fmt: skip
    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    assert [r["status"] for r in run_recording(spec, tmp_path)][:3] == ["done"] * 3
    path = tmp_path / spec.name / "session.catrack.h5"
    s = Session.load(path)
    # an array no step uses and the export does not write (painted frames of the GUI)
    s.record("kept", arrays={"painted_stack": _masks()}, save=False)
    s.save()
    stored = _raw_chunks(path, "steps/kept/arrays/painted_stack")
    reads.clear()
    assert [r["status"] for r in run_recording(spec, tmp_path)][:3] == ["up to date"] * 3
    other = TransientParams().snr_threshold + 1.0
    changed = type(spec)(**{**spec.__dict__, "params": {"transients": {"snr_threshold": other}}})
    rows = run_recording(changed, tmp_path)
    assert [r["status"] for r in rows][:3] == ["up to date", "up to date", "done"]
    assert "painted_stack" not in {name for name, _ in reads}
    assert _raw_chunks(path, "steps/kept/arrays/painted_stack") == stored
    again = Session.load(path)
    assert again["transients"].params["snr_threshold"] == other
    np.testing.assert_array_equal(again["kept"].arrays["painted_stack"], _masks())
    assert _open_hdf5_files() == 0


def test_a_batch_sets_aside_a_session_damaged_inside_a_compressed_chunk(tmp_path):
    """docs/batch.md (h13 item 5): garbage inside a compressed chunk (headers intact) was not
    seen when the batch reopened the session lazily: the steps stayed up to date and the export
    row failed later. The reopen now inflates each compressed chunk as stored (zlib's checksum):
    the session is set aside as a damaged header is, and the steps run again into a new one."""
    from napari_catrack.batch.manifest import read_manifest
    from napari_catrack.batch.recording import run_recording
    from napari_catrack.synthetic.batch import write_batch_folder

    folder = tmp_path / "in"
    write_batch_folder(folder, 1, n_frames=40, shape=(48, 48), n_neurons=3,
                       steps=("track", "traces"), extra={"no_align": True})  # fmt: skip
    spec = read_manifest(folder / "manifest.yaml").recordings[0]
    run_recording(spec, tmp_path)
    path = tmp_path / spec.name / "session.catrack.h5"
    s = Session.load(path)
    s.record("segmentation", arrays={"masks": _masks()}, save=False)
    s.save()
    damage_first_chunk(path)
    data = path.read_bytes()
    rows = run_recording(spec, tmp_path)
    assert [(r["step"], r["status"]) for r in rows] == [
        ("session", "set aside"), ("track", "done"), ("traces", "done"), ("export", "done")
    ]  # fmt: skip
    assert "compressed chunk at (0, 0, 0) of /steps/segmentation/arrays/masks" in rows[0]["message"]
    aside = path.with_name("session.catrack.h5.unreadable")
    assert aside.read_bytes() == data  # set aside as it was, never rewritten
    assert "segmentation" not in Session.load(path)  # the new session: recomputed steps only


@pytest.mark.parametrize("stamped", [True, False])
def test_damaged_chunk_finds_garbage_inside_a_compressed_chunk(tmp_path, stamped):
    """h13 item 5: a session saved now carries the digest of its compressed chunks (checked by
    hashing them); one saved by an earlier version has none (checked by inflating each chunk:
    zlib's Adler-32). Either way a clean file is None and the damaged chunk is named."""
    from napari_catrack.io.hdf5 import CHUNKS_DIGEST, damaged_chunk

    path = tmp_path / "s.catrack.h5"
    s = Session(path, autosave=False)
    s.record("segmentation", arrays={"masks": _masks()}, save=False)
    s.save()
    dataset = "steps/segmentation/arrays/masks"
    with h5py.File(path, "r+") as f:
        assert CHUNKS_DIGEST in f[dataset].attrs
        if not stamped:  # as an earlier version saved it
            del f[dataset].attrs[CHUNKS_DIGEST]
    assert damaged_chunk(path) is None
    with h5py.File(path, "r+") as f:  # rewritten in place by h5py: the digest differs, no damage
        f[dataset][0] = 1
    assert damaged_chunk(path) is None
    damage_first_chunk(path, dataset)
    assert damaged_chunk(path) == f"compressed chunk at (0, 0, 0) of /{dataset} is damaged"


def test_a_session_copied_as_stored_keeps_a_true_digest(tmp_path):
    """A lazily loaded session's arrays are copied as stored (H5Ocopy) at each save, their
    digest with them: the copy still checks clean; a step recorded meanwhile is stamped too."""
    from napari_catrack.io.hdf5 import CHUNKS_DIGEST, damaged_chunk

    path = tmp_path / "s.catrack.h5"
    s = Session(path, autosave=False)
    s.record("segmentation", arrays={"masks": _masks()}, save=False)
    s.save()
    lazy = Session.load(path, lazy_arrays=True)
    lazy.record("other", arrays={"big": np.arange(20_000, dtype=np.int64)}, save=False)
    lazy.save()
    lazy.close()
    assert damaged_chunk(path) is None
    with h5py.File(path, "r") as f:
        assert CHUNKS_DIGEST in f["steps/other/arrays/big"].attrs


def test_damaged_chunk_passes_an_earlier_sessions_long_string_column(tmp_path):
    """Review of h13 item 5: a session table's string column over 4,096 rows (a long video's
    per-frame status) is stored compressed as variable-length strings, 16 bytes of heap
    reference per row, not numpy's 8-byte object itemsize. A session saved by an earlier
    version (no digest) was said to be damaged, and a batch set it aside and ran every step
    again. Its chunks are checked by zlib's checksum only: clean is None, garbage is named."""
    from napari_catrack.io.hdf5 import CHUNKS_DIGEST, damaged_chunk

    path = tmp_path / "s.catrack.h5"
    s = Session(path, autosave=False)
    frames = pd.DataFrame({"frame": np.arange(5000), "status": ["ok", "edited"] * 2500})
    s.record("centerline", tables={"frames": frames}, save=False)
    s.save()
    with h5py.File(path, "r+") as f:  # as an earlier version saved it: no digests
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if CHUNKS_DIGEST in o.attrs else None)
        for name in names:
            del f[name].attrs[CHUNKS_DIGEST]
        column = next(n for n in names if f[n].dtype.kind == "O")
    assert damaged_chunk(path) is None
    assert Session.load(path)["centerline"].tables["frames"]["status"].iloc[1] == "edited"
    damage_first_chunk(path, column)
    assert damaged_chunk(path) == f"compressed chunk at (0) of /{column} is damaged"


def _earlier_session_with_damaged_masks(path):
    """A session as an earlier version saved it (no digests), its masks damaged on disk."""
    from napari_catrack.io.hdf5 import CHUNKS_DIGEST

    s = Session(path, autosave=False)
    s.record("segmentation", arrays={"masks": _masks()}, save=False)
    s.save()
    with h5py.File(path, "r+") as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if CHUNKS_DIGEST in o.attrs else None)
        for name in names:
            del f[name].attrs[CHUNKS_DIGEST]
    damage_first_chunk(path)


DAMAGED = "compressed chunk at (0, 0, 0) of /steps/segmentation/arrays/masks is damaged"


def test_writing_one_step_never_vouches_for_an_earlier_sessions_unchecked_chunks(tmp_path):
    """Review of h13 item 5: `Session.write_step` (the cached alignment estimate) stamped a
    digest on every dataset of the copied file that had none, reading none of them: an earlier
    session's damaged masks then matched their new digest and the batch kept the session (its
    export row failing later). Only what the write adds is stamped."""
    from napari_catrack.io.hdf5 import damaged_chunk

    path = tmp_path / "s.catrack.h5"
    _earlier_session_with_damaged_masks(path)
    assert damaged_chunk(path) == DAMAGED
    assert Session.write_step(path, "cache", attrs={"n": 1})
    assert damaged_chunk(path) == DAMAGED


def test_a_save_never_vouches_for_arrays_it_copied_unread(tmp_path):
    """Review of h13 item 5: a lazily loaded earlier session's never-read masks are copied as
    stored at save (H5Ocopy, nothing inflated); they had no digest and were stamped with one,
    damage included. They stay checked by inflating (as the file they came from), while a step
    written from memory is stamped."""
    from napari_catrack.io.hdf5 import CHUNKS_DIGEST, damaged_chunk

    path = tmp_path / "s.catrack.h5"
    _earlier_session_with_damaged_masks(path)
    lazy = Session.load(path, lazy_arrays=True)
    lazy.record("other", arrays={"big": np.arange(20_000, dtype=np.int64)}, save=False)
    lazy.save()
    lazy.close()
    assert damaged_chunk(path) == DAMAGED
    with h5py.File(path, "r") as f:
        assert CHUNKS_DIGEST in f["steps/other/arrays/big"].attrs


def test_a_batch_checked_earlier_session_gains_its_digests_at_the_next_save(tmp_path):
    """docs/batch.md: an earlier session the batch checked (every chunk inflated, none damaged)
    gains the digests of the arrays it copies unread the next time it is saved, also after a
    save in napari marked them unchecked; an unchecked reopen keeps the mark."""
    from napari_catrack.io.hdf5 import CHUNKS_DIGEST, UNCHECKED, damaged_chunk

    path = tmp_path / "s.catrack.h5"
    s = Session(path, autosave=False)
    s.record("segmentation", arrays={"masks": _masks()}, save=False)
    s.save()
    masks = "steps/segmentation/arrays/masks"
    with h5py.File(path, "r+") as f:
        del f[masks].attrs[CHUNKS_DIGEST]
    for step, checked in (("a", False), ("b", False), ("c", True)):
        lazy = Session.load(path, lazy_arrays=True)
        if checked:
            assert damaged_chunk(path) is None
            lazy.note_chunks_checked()
        lazy.record(step, attrs={"n": 1}, save=False)
        lazy.save()
        lazy.close()
        with h5py.File(path, "r") as f:
            assert (CHUNKS_DIGEST in f[masks].attrs) is checked
            assert (UNCHECKED in f[masks].attrs) is not checked
    assert damaged_chunk(path) is None
