"""Folders (and globs) of TIFF files read as one movie (h22): a camera's multi-page stacks are
every page in name order, with each file's starting frame right (NWB); a truncated frame file
is one message naming it at open; hidden files (macOS's "._" copies) are never frames; and the
reader's warnings reach `catrack batch`'s report for steps that read frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_catrack.errors import InputError
from napari_catrack.io.recording import open_recording
from tests.conftest import shared_data

WRITERS = {  # how cameras and tools write stacks, and the axes tifffile reads back
    "plain": {},  # QYX: unnamed pages
    "separate-pages": {"metadata": None},  # IYX
    "imagej-default": {"imagej": True},  # CYX with 5 "channels": the "5 channels found" case
    "imagej-frames": {"imagej": True, "metadata": {"axes": "TYX"}},
    "ome-frames": {"ome": True, "metadata": {"axes": "TYX"}},
    "zlib": {"compression": "zlib"},  # not contiguous: read page by page
    # ImageJ/Fiji write big-endian TIFFs by default: the bytes read are swapped
    "big-endian": {"imagej": True, "metadata": {"axes": "TYX"}, "byteorder": ">"},
}


def _movie(n: int = 13, shape=(24, 30), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60000, (n, *shape)).astype(np.uint16)


def _stacks(folder: Path, movie: np.ndarray, sizes, names=None, **kwargs) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"cam_{i}.tif" for i in range(len(sizes))]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    paths = []
    for name, a, b in zip(names, starts[:-1], starts[1:]):
        tifffile.imwrite(folder / name, movie[a:b], **kwargs)
        paths.append(folder / name)
    return paths


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_folder_of_multipage_tiffs_is_every_page_in_name_order(tmp_path, writer):
    """A camera writing 5-frame stacks per file (the last shorter): the folder was read with
    each file's pages as channels ("5 channels found"), or refused for unnamed axes. Now it is
    one movie of every page, in natural name order (cam_2 before cam_10), as Fiji's Import >
    Image Sequence reads it, one lazy chunk per frame. Fails on the old code."""
    from napari_catrack.io.frames import open_frames

    movie = _movie(23)
    names = ["cam_1.tif", "cam_2.tif", "cam_10.tif", "cam_11.tif", "cam_12.tif"]
    _stacks(tmp_path / "f", movie, [5, 5, 5, 5, 3], names, **WRITERS[writer])
    rec = open_recording(tmp_path / "f")
    assert rec.green.shape == (23, 24, 30) and rec.red is None and rec.axes == "TYX"
    assert rec.green.chunks[0] == (1,) * 23  # a frame a chunk: a slider step reads one frame
    np.testing.assert_array_equal(np.asarray(rec.green), movie)
    np.testing.assert_array_equal(np.asarray(rec.green[[4, 5, 21]]), movie[[4, 5, 21]])
    with open_frames(tmp_path / "f") as source:  # what register/summary/sources read
        np.testing.assert_array_equal(source.read(3, 17), movie[3:17])
    globbed = open_recording(str(tmp_path / "f" / "cam_*.tif"))
    np.testing.assert_array_equal(np.asarray(globbed.green[18:]), movie[18:])


def test_real_two_photon_frames_saved_as_stacks_read_as_the_one_file(tmp_path):
    """The real SIMA movie (20 frames) saved as Fiji saves a time stack, in stacks of 6, 6, 6
    and 2 frames: the folder is the same movie as the file. Fails on the old code."""
    whole = open_recording(shared_data("sima", "example.tif"))
    movie = np.asarray(whole.green)
    _stacks(tmp_path, movie, [6, 6, 6, 2], imagej=True, metadata={"axes": "TYX"})
    rec = open_recording(tmp_path)
    assert rec.n_frames == 20 and rec.frame_shape == whole.frame_shape
    np.testing.assert_array_equal(np.asarray(rec.green), movie)


def test_each_files_starting_frame_is_where_its_first_page_is(tmp_path):
    """NWB links a frame folder's files with the frame each starts at (`starting_frame`): one
    frame per file put every later stack's frames off ([0, 1, 2]). Now [0, 5, 10], as the
    reader numbers them. Fails on the old code."""
    from napari_catrack.io.nwb_ophys import _external_files
    from napari_catrack.io.tiff import sequence_frame_starts

    movie = _movie(12)
    paths = _stacks(tmp_path, movie, [5, 5, 2], imagej=True)
    files, starts = _external_files(str(tmp_path))
    assert [Path(f).name for f in files] == [p.name for p in paths]
    assert starts == [0, 5, 10]
    green = np.asarray(open_recording(tmp_path).green)
    for path, start in zip(paths, starts):
        np.testing.assert_array_equal(green[start], tifffile.imread(path)[0])
    assert sequence_frame_starts(tmp_path)[1] == starts


def test_a_behaviour_session_on_a_folder_of_stacks_exports_each_files_first_frame(tmp_path):
    """The NWB file itself, read back with pynwb: the behaviour video linked as its three
    stack files, each with the frame it starts at, and all 12 frames. Fails on the old code
    (the folder did not open: "5 channels found")."""
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    from napari_catrack.cli import main
    from tests.core._behaviour_helpers import small_video

    v = small_video(n_frames=12)
    frames = np.asarray(v.frames[:12])
    meta = {"axes": "TYX", "fps": float(v.fps)}
    paths = _stacks(tmp_path / "cam", frames, [5, 5, 2], imagej=True, metadata=meta)
    session = tmp_path / "s.catrack.h5"
    y, x = v.truth.centerline[0, 50]
    assert main(["segment", str(tmp_path / "cam"), "--prompt", f"{y:.0f},{x:.0f}", "--method",
                 "classical", "-o", str(tmp_path / "m.tif"), "--session", str(session)]) == 0  # fmt: skip
    out = tmp_path / "s.nwb"
    assert main(["export-nwb", str(session), "-o", str(out), "--no-prompt"]) == 0
    with NWBHDF5IO(str(out), "r") as io:
        series = io.read().acquisition["BehaviorVideo"]
        linked = [Path(f).name for f in series.external_file[:]]
        starting = [int(s) for s in series.starting_frame[:]]
        assert series.num_samples == 12
    assert linked == [p.name for p in paths]
    assert starting == [0, 5, 10]
    for path, start in zip(paths, starting):  # the frame each file's first page is
        np.testing.assert_array_equal(tifffile.imread(path)[0], frames[start])


def test_files_that_do_not_fit_one_movie_are_refused_naming_the_file(tmp_path):
    """Stacks whose frames differ in size or bit depth, or a hyperstack among frame stacks,
    are one message naming the file, never a movie of mixed frames."""
    movie = _movie(10)
    _stacks(tmp_path / "size", movie, [5, 5], imagej=True)
    tifffile.imwrite(tmp_path / "size" / "cam_2.tif", np.zeros((5, 24, 31), np.uint16))
    with pytest.raises(
        InputError, match=r"differ in size or kind: cam_0.tif .* cam_2.tif of 24x31"
    ):
        open_recording(tmp_path / "size")
    _stacks(tmp_path / "depth", movie, [5, 5], imagej=True)
    tifffile.imwrite(tmp_path / "depth" / "cam_2.tif", np.zeros((5, 24, 30), np.uint8))
    with pytest.raises(InputError, match="cam_2.tif of 24x30 px .* greyscale 8-bit"):
        open_recording(tmp_path / "depth")
    _stacks(tmp_path / "hyper", movie, [5, 5], imagej=True)
    tifffile.imwrite(tmp_path / "hyper" / "cam_2.tif", np.zeros((2, 2, 24, 30), np.uint16),
                     imagej=True, metadata={"axes": "TCYX"})  # fmt: skip
    with pytest.raises(InputError, match="cam_2.tif holds a TCYX stack"):
        open_recording(tmp_path / "hyper")


def test_volumes_and_channel_images_per_file_stay_one_time_point_each(tmp_path):
    """Pages that are not frames keep their meaning: a folder of Z stacks (a volume per time
    point) is a TZYX movie, projected as before, and volumes of different depths are refused
    naming the file; `--axes TYX` says a folder's Z-labelled stacks are frames after all, and
    `--axes TCYX` that unnamed two-page files are two channels, which a warning offers."""
    vols = np.random.default_rng(1).integers(0, 100, (3, 4, 16, 20)).astype(np.uint8)
    (tmp_path / "z").mkdir()
    for t, vol in enumerate(vols):
        tifffile.imwrite(tmp_path / "z" / f"t{t}.tif", vol, imagej=True, metadata={"axes": "ZYX"})
    rec = open_recording(tmp_path / "z")
    np.testing.assert_array_equal(np.asarray(rec.green), vols.max(axis=1))
    assert rec.summary()["z"] == "4 planes, max projection"
    pages = open_recording(tmp_path / "z", axes="TYX")
    np.testing.assert_array_equal(np.asarray(pages.green), vols.reshape(12, 16, 20))
    tifffile.imwrite(tmp_path / "z" / "t3.tif", vols[0, :3], imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(InputError, match=r"t3.tif has shape \(3, 16, 20\), but t0.tif has"):
        open_recording(tmp_path / "z")

    pairs = np.random.default_rng(2).integers(0, 100, (4, 2, 16, 20)).astype(np.uint16)
    (tmp_path / "two").mkdir()
    for t, pair in enumerate(pairs):
        tifffile.imwrite(tmp_path / "two" / f"t{t}.tif", pair)  # unnamed pages (QYX)
    rec = open_recording(tmp_path / "two")
    assert rec.n_frames == 8
    assert any("open it with --axes TCYX" in w for w in rec.warnings)
    both = open_recording(tmp_path / "two", axes="TCYX")
    np.testing.assert_array_equal(np.asarray(both.green), pairs[:, 0])
    np.testing.assert_array_equal(np.asarray(both.red), pairs[:, 1])


@pytest.mark.parametrize("stacks", [False, True], ids=["one-frame-files", "stacks"])
def test_a_truncated_tiff_frame_file_is_one_message_naming_it(tmp_path, stacks):
    """A TIFF frame file cut short (an interrupted copy) in a TIFF-only folder opened, then
    failed with tifffile's own "failed to read 2560 bytes, got 1152" (no file named) when its
    frame was read, or gave a movie that ended early. Now opening says which file and what is
    wrong. Fails on the old code."""
    movie = _movie(12)
    if stacks:
        paths = _stacks(tmp_path, movie, [4, 4, 4], metadata=None)
    else:
        paths = _stacks(tmp_path, movie, [1] * 12, [f"f{i:02d}.tif" for i in range(12)])
    cut = paths[len(paths) // 2]
    whole = cut.read_bytes()
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(InputError) as err:
        open_recording(tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{cut.name} is truncated"), msg
    assert "remove it from the folder" in msg


def test_a_frame_file_shortened_after_opening_is_one_message_naming_it(tmp_path):
    """A stack shortened on disk once the folder is open (the acquisition rewriting it): the
    frame read is one line naming the file, never zeros or tifffile's error."""
    movie = _movie(10)
    paths = _stacks(tmp_path, movie, [5, 5], imagej=True, metadata={"axes": "TYX"})
    rec = open_recording(tmp_path)
    whole = paths[1].read_bytes()
    paths[1].write_bytes(whole[: len(whole) // 2])
    np.testing.assert_array_equal(np.asarray(rec.green[4]), movie[4])
    with pytest.raises(InputError, match="cam_1.tif changed on disk while it was being read"):
        np.asarray(rec.green[9])


def test_hidden_files_are_never_frames_of_a_folder_as_of_a_pattern(tmp_path):
    """macOS leaves "._f00.tif" (Finder metadata, not a TIFF) and ".DS_Store" beside the
    frames it copies: the folder listed them ("._f00.tif in the sequence is not a readable
    TIFF") where the pattern folder/* skipped them. Both now read the same frames, and the
    folder says once that it skipped hidden frame-kind files. Fails on the old code."""
    from napari_catrack._reader import get_reader
    from napari_catrack.io.recording import recording_folder_problem
    from napari_catrack.io.tiff import expand_sequence

    movie = _movie(4)
    _stacks(tmp_path / "f", movie, [1] * 4, [f"f{i:02d}.tif" for i in range(4)])
    for name in ("._f00.tif", "._f01.tif", ".DS_Store"):
        (tmp_path / "f" / name).write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 200)  # AppleDouble
    rec = open_recording(tmp_path / "f")
    np.testing.assert_array_equal(np.asarray(rec.green), movie)
    pattern = open_recording(str(tmp_path / "f" / "*"))
    np.testing.assert_array_equal(np.asarray(pattern.green), movie)
    assert expand_sequence(tmp_path / "f") == expand_sequence(str(tmp_path / "f" / "*"))
    notes = [n for n in rec.metadata["notes"] if "hidden" in n]
    assert len(notes) == 1 and notes[0].startswith("2 hidden file(s) in folder")
    assert "._f00.tif, ._f01.tif" in notes[0]
    assert rec.warnings == []  # nothing for the user to do: not a warning in batch or loader

    only = tmp_path / "only"
    only.mkdir()
    (only / "._f00.tif").write_bytes(b"\x00\x05\x16\x07")
    with pytest.raises(InputError, match="no TIFF, PNG or JPEG frames in folder .*1 hidden"):
        open_recording(only)
    assert get_reader(str(only)) is None  # napari does not offer it as a movie
    assert recording_folder_problem(only) is not None


def test_an_output_named_as_a_hidden_file_does_not_join_a_frame_folder(tmp_path):
    """The output check refused any frame-kind file written into a frame folder: a hidden one
    is never read as a frame, so it changes nothing (listing and reading agree)."""
    from napari_catrack.io.output_check import check_outputs

    _stacks(tmp_path / "f", _movie(2), [1, 1])
    check_outputs({"-o": tmp_path / "f" / ".masks.tif"}, {"VIDEO": tmp_path / "f"})
    with pytest.raises(InputError, match="read as one recording"):
        check_outputs({"-o": tmp_path / "f" / "masks.tif"}, {"VIDEO": tmp_path / "f"})


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_a_big_endian_tiff_reads_its_pixels_not_byte_swapped(tmp_path, dtype):
    """ImageJ and Fiji write big-endian TIFFs by default. tifffile's dtype is native whatever
    the file's, and a contiguous file was memory-mapped with it: every 16-bit pixel came out
    byte-swapped (1 read as 256), in napari, the CLI (memmap=True) and the chunked reads of
    register/summary/sources. Now such a file is read through tifffile's store, which swaps.
    Fails on the old code."""
    from napari_catrack.io.frames import open_frames

    movie = np.arange(6 * 8 * 10).reshape(6, 8, 10).astype(dtype)
    two = np.stack([movie, movie[::-1]], axis=1)
    path, pair = tmp_path / "fiji.tif", tmp_path / "pair.tif"
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TYX"}, byteorder=">")
    tifffile.imwrite(pair, two, imagej=True, metadata={"axes": "TCYX"}, byteorder=">")
    for memmap in (False, True):
        np.testing.assert_array_equal(np.asarray(open_recording(path, memmap=memmap).green), movie)
        rec = open_recording(pair, memmap=memmap)
        np.testing.assert_array_equal(np.asarray(rec.green), movie)
        np.testing.assert_array_equal(np.asarray(rec.red), movie[::-1])
    with open_frames(path) as source:
        np.testing.assert_array_equal(source.read(1, 5), movie[1:5])


def test_a_frame_folder_copied_by_a_mac_keeps_its_provenance(tmp_path):
    """A folder of frames copied by macOS gains "._f00.tif" copies of Finder metadata and a
    ".DS_Store": its recorded provenance (size, SHA-256; how a moved session finds its video
    again by content) counted them, so the copy was another recording. Hidden files are no
    part of a folder's content now; a zarr movie's ".zattrs" still is. Fails on the old code."""
    from napari_catrack.io.provenance import file_provenance

    _stacks(tmp_path / "f", _movie(3), [1, 1, 1])
    before = file_provenance(tmp_path / "f")
    (tmp_path / "f" / "._f0.tif").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 100)
    (tmp_path / "f" / ".DS_Store").write_bytes(b"\x00" * 50)
    (tmp_path / "f" / ".Spotlight-V100").mkdir()
    (tmp_path / "f" / ".Spotlight-V100" / "store").write_bytes(b"x")
    after = file_provenance(tmp_path / "f")
    assert (after["size"], after["sha256"], after["files"]) == (
        before["size"],
        before["sha256"],
        before["files"],
    )
    z = tmp_path / "m.zarr"
    z.mkdir()
    (z / "0").write_bytes(b"chunk")
    (z / ".zattrs").write_text('{"fps": 10}')
    first = file_provenance(z)["sha256"]
    (z / ".zattrs").write_text('{"fps": 200}')
    assert file_provenance(z)["sha256"] != first


def test_a_folder_of_files_written_one_page_at_a_time_is_every_page(tmp_path):
    """(h22) each file written with a loop of `tifffile.imwrite(path, frame, append=True)` (a
    one-page series per page): every file was read as its first page only, silently (13 frames
    became 3). Fails on the old code."""
    from napari_catrack.io.frames import open_frames

    movie = _movie(13)
    folder = tmp_path / "f"
    folder.mkdir()
    for i, (a, b) in enumerate([(0, 5), (5, 10), (10, 13)]):
        for frame in movie[a:b]:
            tifffile.imwrite(folder / f"cam_{i}.tif", frame, append=True)
    rec = open_recording(folder)
    assert rec.green.shape == (13, 24, 30)
    np.testing.assert_array_equal(np.asarray(rec.green), movie)
    np.testing.assert_array_equal(np.asarray(rec.green[[4, 5, 12]]), movie[[4, 5, 12]])
    with open_frames(folder) as source:
        np.testing.assert_array_equal(source.read(3, 11), movie[3:11])
