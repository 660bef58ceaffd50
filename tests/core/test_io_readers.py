"""Readers: formats, layouts, laziness, metadata and the bad-input messages (core, no Qt)."""

from __future__ import annotations

import hashlib
import logging
import os

import dask.array as da
import h5py
import numpy as np
import pytest
import tifffile

from napari_catrack.errors import InputError
from napari_catrack.io.recording import open_recording
from napari_catrack.io.tiff import write_movie_tiff
from tests.conftest import shared_data


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- real data --------------------------------------------------------------------------------
def test_sima_tiff_and_hdf5_hold_the_same_movie():
    tif = open_recording(shared_data("sima", "example.tif"))
    h5 = open_recording(shared_data("sima", "example.h5"))
    assert tif.green.shape == (20, 128, 256)
    # The HDF5 copy is stored (y, x, t) without labels: the reader must find the time axis.
    assert h5.green.shape == (20, 128, 256)
    assert h5.metadata["axes_guessed"] is True
    np.testing.assert_array_equal(
        np.asarray(tif.green[[0, 7, 19]]), np.asarray(h5.green[[0, 7, 19]])
    )
    assert tif.red is None and tif.layout == "single"


def test_sima_folder_and_glob_sequences_in_natural_order():
    folder = shared_data("sima", "example-tiffs")
    rec = open_recording(folder)
    assert rec.green.shape == (3, 173, 173)
    for i in range(3):
        np.testing.assert_array_equal(
            np.asarray(rec.green[i]), tifffile.imread(folder / f"{i}.tif")
        )
    globbed = open_recording(str(folder / "*.tif"))
    np.testing.assert_array_equal(np.asarray(globbed.green), np.asarray(rec.green))


def test_sima_volume_honours_dimension_labels_and_projects_z():
    path = shared_data("sima", "example-volume.h5")
    rec = open_recording(path)
    with h5py.File(path) as f:
        raw = f["imaging"][()]  # (t, z, y, x, c)
    assert rec.layout == "channel-axis"
    np.testing.assert_array_equal(np.asarray(rec.green), raw[..., 0].max(axis=1))
    np.testing.assert_array_equal(np.asarray(rec.red), raw[..., 1].max(axis=1))
    plane = open_recording(path, z_projection=2)
    np.testing.assert_array_equal(np.asarray(plane.red), raw[:, 2, :, :, 1])
    assert rec.pixel_size_um == pytest.approx(0.29386463, rel=1e-6)


# --- layouts ----------------------------------------------------------------------------------
def test_channel_axis_tiff_roundtrip_with_metadata(two_channel_tiff):
    path, green, red = two_channel_tiff
    rec = open_recording(path)
    assert isinstance(rec.green, da.Array)
    np.testing.assert_array_equal(np.asarray(rec.green), green)
    np.testing.assert_array_equal(np.asarray(rec.red), red)
    assert rec.fps == pytest.approx(5.0)
    assert rec.pixel_size_um == pytest.approx(0.5)
    swapped = open_recording(path, green_channel=1, red_channel=0)
    np.testing.assert_array_equal(np.asarray(swapped.green), red)


@pytest.mark.parametrize(
    ("layout", "green_slice", "red_slice"),
    [
        ("left-right", np.s_[..., :10], np.s_[..., 10:]),
        ("right-left", np.s_[..., 10:], np.s_[..., :10]),
        ("top-bottom", np.s_[..., :8, :], np.s_[..., 8:, :]),
        ("bottom-top", np.s_[..., 8:, :], np.s_[..., :8, :]),
    ],
)
def test_split_halves(tmp_path, layout, green_slice, red_slice):
    movie = np.arange(5 * 16 * 20, dtype=np.uint16).reshape(5, 16, 20)
    path = write_movie_tiff(tmp_path / "split.tif", movie)
    rec = open_recording(path, layout=layout)
    np.testing.assert_array_equal(np.asarray(rec.green), movie[green_slice])
    np.testing.assert_array_equal(np.asarray(rec.red), movie[red_slice])


def test_interleaved_frames_and_odd_count_note(tmp_path):
    movie = np.arange(7 * 4 * 4, dtype=np.uint16).reshape(7, 4, 4)
    path = write_movie_tiff(tmp_path / "inter.tif", movie)
    rec = open_recording(path, layout="interleaved")
    np.testing.assert_array_equal(np.asarray(rec.green), movie[0:6:2])
    np.testing.assert_array_equal(np.asarray(rec.red), movie[1:6:2])
    assert "dropped" in rec.metadata["notes"][0]
    red_first = open_recording(path, layout="interleaved", green_channel=1, red_channel=0)
    np.testing.assert_array_equal(np.asarray(red_first.green), movie[1:6:2])


def test_hdf5_green_red_datasets_and_axis_attribute(tmp_path):
    green = np.random.default_rng(1).integers(0, 100, (4, 6, 8)).astype(np.uint16)
    red = green + 1000
    path = tmp_path / "pair.h5"
    with h5py.File(path, "w") as f:
        f["green"] = green.transpose(1, 2, 0)
        f["green"].attrs["axes"] = "yxt"
        f["red"] = red.transpose(1, 2, 0)
        f["red"].attrs["axes"] = "yxt"
        f.attrs["fps"] = 20.0
    rec = open_recording(path)
    assert rec.layout == "separate-datasets"
    np.testing.assert_array_equal(np.asarray(rec.green), green)
    np.testing.assert_array_equal(np.asarray(rec.red), red)
    assert rec.fps == 20.0


def test_ome_tiff_axes_and_physical_size(tmp_path):
    data = np.random.default_rng(2).integers(0, 500, (3, 2, 8, 8), dtype=np.uint16)
    path = tmp_path / "movie.ome.tif"
    tifffile.imwrite(
        path, data, ome=True, metadata={"axes": "TCYX", "PhysicalSizeX": 0.25, "TimeIncrement": 0.1}
    )
    rec = open_recording(path)
    np.testing.assert_array_equal(np.asarray(rec.red), data[:, 1])
    assert rec.pixel_size_um == pytest.approx(0.25)
    assert rec.fps == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("kind", "time_unit", "interval", "length_unit", "size", "fps", "pixel"),
    [
        ("imagej", "ms", 100.0, "nm", 500.0, 10.0, 0.5),  # ImageJ's tunit / unit
        ("imagej", "min", 0.5, "micron", 0.25, 1 / 30, 0.25),
        ("imagej", "fortnight", 1.0, "furlong", 1.0, None, None),  # unknown: not guessed
        ("ome", "ms", 100.0, "nm", 500.0, 10.0, 0.5),  # TimeIncrementUnit / PhysicalSizeXUnit
        ("ome", "s", 0.05, "mm", 0.001, 20.0, 1.0),
    ],
)
def test_time_and_length_units_of_the_file_are_converted(
    tmp_path, kind, time_unit, interval, length_unit, size, fps, pixel
):
    # a frame interval in ms was read as seconds (fps 1000x too small, time_s 1000x too long)
    data = np.zeros((3, 8, 8), dtype=np.uint8)
    if kind == "imagej":
        path = tmp_path / "movie.tif"
        meta = {"axes": "TYX", "finterval": interval, "tunit": time_unit, "unit": length_unit}
        tifffile.imwrite(path, data, imagej=True, metadata=meta, resolution=(1 / size, 1 / size))
    else:
        path = tmp_path / "movie.ome.tif"
        meta = {"axes": "TYX", "TimeIncrement": interval, "TimeIncrementUnit": time_unit}
        meta.update(PhysicalSizeX=size, PhysicalSizeXUnit=length_unit)
        tifffile.imwrite(path, data, ome=True, metadata=meta)
    rec = open_recording(path)
    assert rec.fps == (None if fps is None else pytest.approx(fps))
    assert rec.pixel_size_um == (None if pixel is None else pytest.approx(pixel))


def test_compressed_tiff_is_read_lazily_through_zarr(tmp_path):
    data = np.random.default_rng(3).integers(0, 500, (5, 32, 32), dtype=np.uint16)
    path = tmp_path / "zlib.tif"
    tifffile.imwrite(path, data, compression="zlib", imagej=False, metadata={"axes": "TYX"})
    rec = open_recording(path)
    assert rec.green.chunks[0] == (1,) * 5  # one chunk per frame
    np.testing.assert_array_equal(np.asarray(rec.green[3]), data[3])


def test_open_reads_no_pixels(tmp_path, monkeypatch):
    """Opening must not touch pixel data: reading happens when a frame is asked for."""
    data = np.ones((50, 64, 64), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "big.tif", data)
    calls = []
    real_memmap = np.memmap

    class CountingMemmap(real_memmap):
        def __getitem__(self, item):
            out = super().__getitem__(item)
            calls.append(np.size(out))  # dask probes with empty slices: count elements read
            return out

    monkeypatch.setattr(np, "memmap", CountingMemmap)
    rec = open_recording(path)
    assert sum(calls) == 0
    rec.green[10].compute()
    assert 0 < sum(calls) <= 3 * 64 * 64, "reading one frame should read about one frame"


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("layout", "channels"),
    [(None, 2), ("left-right", 1), ("bottom-top", 1), ("interleaved", 1), ("single", 1)],
)
def test_memmap_views_hold_what_the_dask_arrays_hold(tmp_path, layout, channels):
    """open_recording(memmap=True): the same pixels, read from the file on demand (nothing read
    at open; h13: by file reads, never through the memory map); every way the commands index
    them gives what the dask array gives; the options (what a session stores) unchanged."""
    from napari_catrack.io.tiff import FileFrames

    rng = np.random.default_rng(4)
    movie = rng.integers(0, 4000, (7, channels, 12, 16), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "m.tif", *(movie[:, c] for c in range(channels)))
    lazy = open_recording(path, layout=layout)
    direct = open_recording(path, layout=layout, memmap=True)
    assert direct.options == lazy.options and direct.layout == lazy.layout
    for a, b in ((direct.green, lazy.green), (direct.red, lazy.red)):
        assert (a is None) == (b is None)
        if a is None:
            continue
        assert type(a) is FileFrames and a.shape == b.shape and a.dtype == b.dtype
        whole = b.compute()
        np.testing.assert_array_equal(np.asarray(a), whole)
        n, h = a.shape[0], a.shape[1]
        for item in (n - 1, -1, slice(1, n), slice(None, None, 2), [n - 1, 0, 1],
                     np.array([n // 2]), np.arange(n) % 2 == 0, (slice(1, n), slice(2, h)),
                     (np.array([0, n - 1]), slice(3, 5), slice(1, 2)), (1, h - 1, slice(None)),
                     (Ellipsis, slice(0, 4)), (slice(None), h - 1), (slice(None), slice(h, h))):  # fmt: skip
            np.testing.assert_array_equal(a[item], whole[item], err_msg=str(item))
    assert direct.summary() == lazy.summary()


def test_memmap_falls_back_to_dask_where_a_view_cannot_do(tmp_path):
    """Compressed files (no memory map) and volumes (a Z projection reads everything) stay dask."""
    data = np.random.default_rng(5).integers(0, 500, (4, 3, 16, 16), dtype=np.uint16)
    zlib = tmp_path / "zlib.tif"
    tifffile.imwrite(
        zlib, data[:, 0], compression="zlib", photometric="minisblack", metadata={"axes": "TYX"}
    )
    rec = open_recording(zlib, memmap=True)
    assert isinstance(rec.green, da.Array)
    np.testing.assert_array_equal(rec.green.compute(), data[:, 0])
    tifffile.imwrite(tmp_path / "vol.tif", data, imagej=True, metadata={"axes": "TZYX"})
    rec = open_recording(tmp_path / "vol.tif", memmap=True)
    assert isinstance(rec.green, da.Array)
    np.testing.assert_array_equal(rec.green.compute(), data.max(axis=1))


def test_truncated_tiff_is_reported_and_left_untouched(tmp_path):
    path = write_movie_tiff(tmp_path / "t.tif", np.ones((10, 32, 32), dtype=np.uint16))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    before = _digest(path)
    with pytest.raises(InputError, match="truncated"):
        open_recording(path)
    assert _digest(path) == before


def test_corrupt_tiff(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"this is not a tiff at all" * 10)
    with pytest.raises(InputError, match="not a readable TIFF"):
        open_recording(path)


def test_hdf5_without_image_dataset_lists_what_is_there(tmp_path):
    path = tmp_path / "table.h5"
    with h5py.File(path, "w") as f:
        f["traces"] = np.zeros((10, 100))
    with pytest.raises(InputError, match=r"no image dataset.*/traces \(10, 100\)"):
        open_recording(path)


def test_ambiguous_hdf5_names_the_datasets(tmp_path):
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f["a"] = np.zeros((3, 4, 4))
        f["b"] = np.zeros((3, 4, 4))
    with pytest.raises(InputError, match=r"several image datasets.*/a.*/b"):
        open_recording(path)
    assert open_recording(path, dataset="b").green.shape == (3, 4, 4)


def test_single_2d_image_is_not_a_movie(tmp_path):
    path = tmp_path / "still.tif"
    tifffile.imwrite(path, np.zeros((32, 32), dtype=np.uint16))
    with pytest.raises(InputError, match="single image.*not a movie"):
        open_recording(path)


def test_channels_of_different_shapes(tmp_path):
    path = tmp_path / "mismatch.h5"
    with h5py.File(path, "w") as f:
        f["green"] = np.zeros((3, 8, 8))
        f["red"] = np.zeros((3, 8, 6))
    with pytest.raises(InputError, match="differ in shape"):
        open_recording(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "diagonal"}, "unknown channel layout"),
        ({"layout": "left-right"}, "already has 2 channels"),
        ({"green_channel": 3}, "green channel 3 does not exist"),
        ({"axes": "TYX"}, "3 letters but the data has 4"),
        ({"fps": -1.0}, "frame rate must be positive"),
    ],
)
def test_bad_options_have_specific_messages(two_channel_tiff, kwargs, message):
    path, _, _ = two_channel_tiff
    with pytest.raises(InputError, match=message):
        open_recording(path, **kwargs)


def test_odd_width_cannot_be_split(tmp_path):
    path = write_movie_tiff(tmp_path / "odd.tif", np.zeros((3, 8, 9), dtype=np.uint16))
    with pytest.raises(InputError, match="width 9 is odd"):
        open_recording(path, layout="left-right")


def test_mixed_sequence_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "f1.tif", np.zeros((8, 8), dtype=np.uint16))
    tifffile.imwrite(tmp_path / "f2.tif", np.zeros((8, 9), dtype=np.uint16))
    with pytest.raises(InputError, match="f2.tif has shape"):
        open_recording(tmp_path)


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unsupported file type .txt"):
        open_recording(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="not found"):
        open_recording(tmp_path / "missing.tif")


def test_a_volume_says_its_depth_was_projected(tmp_path):
    # `catrack info` of a TZCYX worm volume showed axes TCYX and nothing about its 16 planes
    vol = np.zeros((2, 16, 2, 12, 10), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "v.tif", vol, imagej=True, metadata={"axes": "TZCYX"})
    assert open_recording(tmp_path / "v.tif").summary()["z"] == "16 planes, max projection"
    plane = open_recording(tmp_path / "v.tif", z_projection=3).summary()
    assert plane["z"] == "16 planes, plane 3 only" and plane["axes"] == "TCYX"
    tifffile.imwrite(tmp_path / "m.tif", vol[:, 0], imagej=True, metadata={"axes": "TCYX"})
    assert "z" not in open_recording(tmp_path / "m.tif").summary()


def test_numpy_array_says_how_to_convert(tmp_path):
    # the targettrack worm volumes are published as .npy (C, X, Y, Z) arrays
    np.save(tmp_path / "frame_gt.npy", np.zeros((2, 8, 6, 3), dtype=np.uint8))
    with pytest.raises(InputError, match=r"NumPy array.*tifffile\.imwrite.*--axes"):
        open_recording(tmp_path / "frame_gt.npy")


def test_unnamed_tiff_axes_ask_for_axes_and_then_open(tmp_path):
    # a plain tifffile.imwrite of a 4-D array reads back as 'QQYX': say to give --axes, not
    # "repeat an axis" (the user gave no axes)
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 200, size=(1, 2, 12, 10, 5), dtype=np.uint8)  # (T, C, X, Y, Z)
    tifffile.imwrite(tmp_path / "plain.tif", vol[0])
    with pytest.raises(InputError, match=r"does not name its axes.*'QQYX'.*--axes"):
        open_recording(tmp_path / "plain.tif")
    with pytest.raises(InputError, match=r"one volume at one time point.*--axes TCXYZ"):
        open_recording(tmp_path / "plain.tif", axes="CXYZ")  # one time point: says how
    tifffile.imwrite(tmp_path / "plain5.tif", vol)
    rec = open_recording(tmp_path / "plain5.tif", axes="TCXYZ", z_projection="max")
    # X and Y given in the file's order come out as (T, Y, X); Z is max-projected
    np.testing.assert_array_equal(np.asarray(rec.green), vol[:, 0].max(axis=-1).transpose(0, 2, 1))
    np.testing.assert_array_equal(np.asarray(rec.red), vol[:, 1].max(axis=-1).transpose(0, 2, 1))


def test_negative_channel_indices_cannot_alias(two_channel_tiff):
    path, _green, red = two_channel_tiff
    last = open_recording(path, green_channel=0, red_channel=-1)
    np.testing.assert_array_equal(np.asarray(last.red), red)
    with pytest.raises(InputError, match="name the same channel"):
        open_recording(path, green_channel=-1, red_channel=1)
    # green set alone to 1 (red keeps its default 1): the message says what red should be
    with pytest.raises(InputError, match=r"set the red channel index too \(e.g. 0\)"):
        open_recording(path, layout="channel-axis", green_channel=1)


def _three_channel_tiff(tmp_path):
    """A tiny TCYX TIFF whose channel c holds the value c + 1 (which channel came out shows)."""
    movie = np.ones((4, 3, 6, 5), dtype=np.uint16) * np.arange(1, 4, dtype=np.uint16)[:, None, None]
    path = tmp_path / "tcyx3.tif"
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TCYX"})
    return path


def test_three_channels_auto_layout_takes_the_channel_indices(tmp_path):
    """Auto layout with 3+ channels: the green/red indices say which two (the loader's boxes
    and the CLI's --green-channel/--red-channel go through here alike)."""
    path = _three_channel_tiff(tmp_path)
    rec = open_recording(path, green_channel=2, red_channel=0)
    assert rec.layout == "channel-axis" and rec.green.shape == (4, 6, 5)
    assert np.asarray(rec.green).max() == 3 and np.asarray(rec.red).max() == 1
    with pytest.raises(
        InputError, match=r"^red channel 7 does not exist: .*3 channel.*numbered 0-2$"
    ):
        open_recording(path, green_channel=2, red_channel=7)
    with pytest.raises(
        InputError, match=r"3 channels found \(numbered 0-2\).*set the green and red"
    ):
        open_recording(path)  # the defaults 0 and 1 are no choice
    both = open_recording(path, layout="channel-axis")  # ... unless the layout is chosen
    assert np.asarray(both.green).max() == 1 and np.asarray(both.red).max() == 2
    from napari_catrack.cli import main

    assert main(["info", str(path), "--green-channel", "2", "--red-channel", "0"]) == 0
    assert main(["info", str(path), "--green-channel", "2", "--red-channel", "7"]) == 2


def test_interleaved_channels_run_at_half_the_file_frame_rate(tmp_path):
    movie = np.zeros((8, 4, 4), dtype=np.uint16)
    path = write_movie_tiff(tmp_path / "inter.tif", movie, fps=20.0)
    rec = open_recording(path, layout="interleaved")
    assert rec.n_frames == 4 and rec.fps == pytest.approx(10.0)
    assert open_recording(path, layout="interleaved", fps=7.0).fps == 7.0  # an override wins


def test_unwritable_outputs_are_one_line_errors(tmp_path):
    from napari_catrack.io.atomic import write_text_atomic

    with pytest.raises(InputError, match="is a folder"):
        write_text_atomic(tmp_path, "x")
    blocker = tmp_path / "file"
    blocker.write_text("I am a file")
    with pytest.raises(InputError, match="cannot write"):
        write_text_atomic(blocker / "out.json", "x")
    assert blocker.read_text() == "I am a file"


def test_a_truncated_tiff_gives_our_one_line_without_tifffiles_log_lines(tmp_path, caplog):
    """Review (h9): tifffile's own log lines ("ImageJ series metadata invalid or corrupted
    file", "invalid page offset") reached the terminal before our clear "truncated" message."""
    import tifffile

    from napari_catrack.io.tiff import open_tiff

    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.ones((20, 32, 32), np.uint16), imagej=True, metadata={"axes": "TYX"})
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with (
        caplog.at_level(logging.WARNING, logger="tifffile"),
        pytest.raises(InputError, match="truncated"),
    ):
        open_tiff(path)
    assert "metadata invalid" not in caplog.text and "invalid page offset" not in caplog.text


def test_tifffiles_notes_on_a_file_that_opens_are_passed_on(caplog):
    from napari_catrack.io.tiff import _tifffile_log_held

    with caplog.at_level(logging.WARNING, logger="tifffile"):
        with _tifffile_log_held() as held:
            logging.getLogger("tifffile").warning("a note about the file")
            assert "a note about the file" not in caplog.text  # held while opening
            held.pass_on()
    assert "a note about the file" in caplog.text
    assert logging.getLogger("tifffile").propagate


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_two_threads_holding_tifffiles_log_each_get_their_own_records():
    """h13 item 3: a thread that held tifffile's records while another held too could put the
    other's holder back on the logger for good (or leave `propagate` off); records of one thread
    went to the other's holder. Interleaved by hand: A holds, B holds, A drops, B passes on."""
    import threading

    from napari_catrack.io.tiff import _tifffile_log_held

    log = logging.getLogger("tifffile")
    kept, propagate, handlers = _Kept(), log.propagate, list(log.handlers)
    log.addHandler(kept)
    step = threading.Barrier(2)

    def a() -> None:
        with _tifffile_log_held():  # dropped (as when the file is truncated)
            step.wait()  # 1: both hold
            log.warning("from a")
            step.wait()  # 2: both logged
        step.wait()  # 3: a released first

    def b() -> None:
        step.wait()  # 1 (b entered after a: see the main thread)
        with _tifffile_log_held() as held:
            log.warning("from b")
            step.wait()  # 2
            step.wait()  # 3
            assert kept.messages == []  # still held
            held.pass_on()

    try:
        errors: list[BaseException] = []

        def run(f):
            try:
                f()
            except BaseException as exc:
                errors.append(exc)
                step.abort()

        ta = threading.Thread(target=run, args=(a,))
        ta.start()
        tb = threading.Thread(target=run, args=(b,))
        tb.start()
        ta.join(30)
        tb.join(30)
        assert not errors
        assert kept.messages == ["from b"]
        assert log.handlers == [*handlers, kept] and log.propagate == propagate
    finally:
        log.removeHandler(kept)


def test_two_threads_opening_tiffs_at_once_leave_tifffiles_logger_as_it_was(tmp_path):
    """h13 item 3, with real files: one thread opens truncated TIFFs (tifffile's lines dropped,
    ours raised), the other a TIFF that opens with a tifffile note (passed on, once per open)."""
    import shutil
    import threading

    from napari_catrack.io.tiff import open_tiff

    cut = tmp_path / "cut.tif"
    tifffile.imwrite(cut, np.ones((20, 32, 32), np.uint16), imagej=True, metadata={"axes": "TYX"})
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 2 // 3])
    odd = tmp_path / "odd.tif"
    shutil.copy(shared_data("sima", "example-tiffs", "0.tif"), odd)
    log = logging.getLogger("tifffile")
    kept, propagate, handlers = _Kept(), log.propagate, list(log.handlers)
    log.addHandler(kept)
    n = 150
    errors: list[BaseException] = []
    truncated = []

    def open_cut() -> None:
        for _ in range(n):
            try:
                open_tiff(cut)
            except InputError as exc:
                truncated.append("truncated" in str(exc))
            except BaseException as exc:
                errors.append(exc)

    def open_odd() -> None:
        for _ in range(n):
            try:
                open_tiff(odd)
            except BaseException as exc:
                errors.append(exc)

    try:
        threads = [threading.Thread(target=open_cut), threading.Thread(target=open_odd)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        assert truncated == [True] * n
        assert len(kept.messages) == n  # each of the odd file's opens passed on its note
        assert all("odd.tif" in m and "metadata invalid" in m for m in kept.messages)
        assert log.handlers == [*handlers, kept] and log.propagate == propagate
    finally:
        log.removeHandler(kept)


@pytest.mark.parametrize("layout", ["single", "left-right", "interleaved"])
def test_a_tiff_shortened_while_a_command_reads_it_is_one_error_not_a_sigbus(tmp_path, layout):
    """h13 item 4: `open_recording(memmap=True)` (track, align, detect) handed out numpy views
    of the file's memory map: reading a frame of a file shortened meanwhile was a SIGBUS that
    killed Python. Run in a child process, which the old code killed."""
    import subprocess
    import sys

    movie = np.arange(8 * 16 * 24, dtype=np.uint16).reshape(8, 16, 24)
    path = write_movie_tiff(tmp_path / "m.tif", movie)
    code = f"""
import os, sys
import numpy as np
from napari_catrack.errors import InputError
from napari_catrack.io.recording import open_recording
rec = open_recording({str(path)!r}, layout={layout!r}, memmap=True)
first = np.asarray(rec.green[0]).copy()
os.truncate({str(path)!r}, os.path.getsize({str(path)!r}) // 2)
try:
    np.asarray(rec.green[rec.n_frames - 1]).sum()
except InputError as exc:
    print("error:", exc)
print("alive", int(first.sum()))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    lines = done.stdout.splitlines()
    assert lines[0].startswith("error: m.tif changed on disk while it was being read: it now has")
    assert lines[1].startswith("alive ")


def test_warning_lines_in_one_thread_and_a_tiff_opening_in_another_leave_the_logger_as_it_was(
    capsys,
):
    """h13 item 3: `errors.warnings_as_lines` (a batch step in its worker thread, a command)
    also put a handler on tifffile's logger and saved/restored `propagate`: with a TIFF opening
    in another thread meanwhile, `propagate` was left off for good. Interleaved by hand: B
    opens (holds), A starts its warning lines, B ends, A logs one record and ends."""
    import threading

    from napari_catrack.errors import warnings_as_lines
    from napari_catrack.io.tiff import _tifffile_log_held

    log = logging.getLogger("tifffile")
    propagate, handlers = log.propagate, list(log.handlers)
    step = threading.Barrier(2)
    errors: list[BaseException] = []

    def a() -> None:
        step.wait()  # 1: b holds
        with warnings_as_lines("catrack batch: rec: track"):
            step.wait()  # 2: lines on
            step.wait()  # 3: b released
            log.warning("<tifffile.TiffFile 'x.tif'> odd header")
        step.wait()  # 4

    def b() -> None:
        with _tifffile_log_held():
            step.wait()  # 1
            step.wait()  # 2
        step.wait()  # 3
        step.wait()  # 4

    def run(f) -> None:
        try:
            f()
        except BaseException as exc:
            errors.append(exc)
            step.abort()

    threads = [threading.Thread(target=run, args=(f,)) for f in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert log.handlers == handlers and log.propagate == propagate
    err = capsys.readouterr().err.splitlines()
    assert err == ["catrack batch: rec: track: warning: x.tif: odd header (tifffile)"]


def _png_frames(folder, frames, names=None):
    from PIL import Image

    folder.mkdir(exist_ok=True)
    names = names or [f"{i:05d}.png" for i in range(len(frames))]
    for name, frame in zip(names, frames):
        Image.fromarray(frame).save(folder / name)
    return folder


def test_a_folder_of_png_frames_is_read_as_one_lazy_movie(tmp_path):
    """A new user's first command on the WormPose sample (h20): a folder of PNG frames was
    refused ("no TIFF files in folder ..."). It is one movie now, read as a TIFF sequence is:
    natural order of names, one lazy chunk per file, through `open_recording` (the CLI, the
    loader widget) and napari's File > Open (`get_reader`). Fails on the old code (refused)."""
    from PIL import Image

    from napari_catrack._reader import get_reader, read_recording
    from napari_catrack.io import tiff

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (8, 10), dtype=np.uint8) for _ in range(3)]
    folder = _png_frames(tmp_path / "sample", frames, ["f2.png", "f10.png", "f1.png"])
    (folder / "features.h5").write_bytes(b"")  # not a frame
    read = []
    real = tiff._read_image
    tiff._read_image = lambda *a: read.append(a[0].name) or real(*a)
    try:
        rec = open_recording(folder)
        assert read == []  # nothing read at open
        assert isinstance(rec.green, da.Array) and rec.green.chunks[0] == (1, 1, 1)
        assert rec.green.shape == (3, 8, 10) and rec.red is None and rec.dtype == np.uint8
        np.testing.assert_array_equal(np.asarray(rec.green[1]), frames[0])  # f1, f2, f10
        assert read == ["f2.png"]
    finally:
        tiff._read_image = real
    in_order = np.stack([frames[2], frames[0], frames[1]])
    np.testing.assert_array_equal(np.asarray(rec.green), in_order)
    assert rec.summary()["format"] == "png-sequence"
    glob_rec = open_recording(str(folder / "f*.png"))
    np.testing.assert_array_equal(np.asarray(glob_rec.green), in_order)
    assert get_reader(str(folder)) is read_recording
    (tmp_path / "jpeg").mkdir()  # JPEG frames too (lossy: nearly the values written)
    for i in range(2):
        frame = np.full((6, 4), 40 * i + 50, np.uint8)
        Image.fromarray(frame).save(tmp_path / "jpeg" / f"{i}.jpg")
    jpeg = np.asarray(open_recording(tmp_path / "jpeg").green)
    assert jpeg.shape == (2, 6, 4) and abs(int(jpeg[1].mean()) - 90) <= 2


def test_colour_and_grey_png_frames_are_read_as_tiff_frames_are(tmp_path):
    """RGB PNG frames are three channels, as the same frames saved as TIFFs (the green and red
    channel indices pick two; the defaults ask which); grey frames with alpha are grey; 16-bit
    grey stays 16-bit."""
    from PIL import Image

    rng = np.random.default_rng(1)
    rgb = [rng.integers(0, 255, (6, 7, 3), dtype=np.uint8) for _ in range(2)]
    png = _png_frames(tmp_path / "png", rgb)
    tifs = tmp_path / "tif"
    tifs.mkdir()
    for i, frame in enumerate(rgb):
        tifffile.imwrite(tifs / f"{i:05d}.tif", frame, photometric="rgb")
    for folder in (png, tifs):
        with pytest.raises(InputError, match="3 channels found"):
            open_recording(folder)
    a = open_recording(png, green_channel=1, red_channel=0)
    b = open_recording(tifs, green_channel=1, red_channel=0)
    np.testing.assert_array_equal(np.asarray(a.green), np.asarray(b.green))
    np.testing.assert_array_equal(np.asarray(a.red), np.asarray(b.red))
    np.testing.assert_array_equal(np.asarray(a.green[1]), rgb[1][..., 1])
    grey = rng.integers(0, 255, (5, 5), dtype=np.uint8)
    (tmp_path / "la").mkdir()
    for i in range(2):
        with_alpha = Image.fromarray(np.stack([grey, np.full_like(grey, 255)], -1), "LA")
        with_alpha.save(tmp_path / "la" / f"{i}.png")
    la = open_recording(tmp_path / "la")
    assert la.red is None
    np.testing.assert_array_equal(np.asarray(la.green[0]), grey)
    deep = [rng.integers(0, 60000, (4, 6), dtype=np.uint16) for _ in range(2)]
    rec16 = open_recording(_png_frames(tmp_path / "u16", deep))
    assert rec16.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(rec16.green), np.stack(deep))


def test_png_frames_of_different_sizes_are_refused_naming_two(tmp_path):
    """Frames cropped around the worm one by one (WormPose's sample: 40-108 px a side) are not
    one movie: refused in one line naming two files and their sizes, never padded."""
    frames = [np.zeros((8, 10), np.uint8)] * 2 + [np.zeros((9, 12), np.uint8)]
    folder = _png_frames(tmp_path / "crops", frames)
    with pytest.raises(InputError) as err:
        open_recording(folder)
    msg = str(err.value)
    assert "00000.png is 8x10 px (height x width), greyscale 8-bit" in msg
    assert "00002.png is 9x12 px (height x width), greyscale 8-bit" in msg
    assert "same size" in msg
    colour = [np.zeros((8, 10), np.uint8), np.zeros((8, 10, 3), np.uint8)]
    with pytest.raises(InputError, match="00001.png is 8x10 px .* RGB 8-bit"):
        open_recording(_png_frames(tmp_path / "mixed", colour))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "0.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="0.png in the sequence is not a readable PNG"):
        open_recording(tmp_path / "bad")
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match="no TIFF, PNG or JPEG frames in folder"):
        open_recording(tmp_path / "none")


def test_a_png_frame_cut_short_is_one_message_naming_the_file_and_frame(tmp_path):
    """A PNG whose header is whole but whose pixel data was cut short (a copy interrupted) opens
    (headers only) and failed when its frame was read with Pillow's raw OSError ("image file is
    truncated"), naming no file. It is one InputError naming the file and the frame (h21). Fails
    on the old code (OSError)."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (40, 50), dtype=np.uint8) for _ in range(3)]
    folder = _png_frames(tmp_path / "cut", frames)
    cut = folder / "00002.png"
    whole = cut.read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    rec = open_recording(folder)  # the header is whole: opening reads headers only
    np.testing.assert_array_equal(np.asarray(rec.green[1]), frames[1])
    with pytest.raises(InputError) as err:
        np.asarray(rec.green[2])
    msg = str(err.value)
    assert "00002.png (frame 2 of the sequence) is damaged or cut short" in msg


def test_an_output_that_would_join_a_png_sequence_is_refused(tmp_path):
    """A folder of PNG frames is a recording: a figure (PNG) or a TIFF written into it would
    change it, so both are refused before any work. A PNG beside TIFF frames is refused too
    (h21): a folder mixing kinds reads a same-size PNG as a frame (`sequence_files`), and which
    kind is read follows the counts."""
    from napari_catrack.io.output_check import check_outputs

    png = _png_frames(tmp_path / "png", [np.zeros((4, 4), np.uint8)] * 2)
    for name in ("speed.png", "masks.tif"):
        with pytest.raises(InputError, match="read as one recording"):
            check_outputs({"-o": png / name}, {"VIDEO": png})
    tifs = tmp_path / "tifs"
    tifs.mkdir()
    tifffile.imwrite(tifs / "0.tif", np.zeros((4, 4), np.uint8))
    for name in ("speed.png", "more.tif"):
        with pytest.raises(InputError, match="read as one recording"):
            check_outputs({"-o": tifs / name}, {"VIDEO": tifs})
    check_outputs({"-o": tifs / "speed.svg"}, {"VIDEO": tifs})  # no frame file: allowed


def test_the_one_kind_pattern_of_a_mixed_folder_reads_all_that_kind(tmp_path):
    """The warning of a folder mixing kinds offers a pattern that reads one kind only. It was
    built from the first file's suffix: `folder/*.tif` in a folder of .tif and .tiff frames
    (beside a PNG preview) left out the .tiff ones (or `*.tiff` the .tif ones). The pattern
    offered now, opened as the user would, reads every TIFF frame and no PNG (h21). Fails on
    the old code (the pattern reads 2 or 1 of the 3 TIFF frames)."""
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    frames = [np.full((6, 8), 1000 * i, np.uint16) for i in range(3)]
    for name, frame in zip(["t0.tif", "t1.tiff", "t2.tif"], frames):
        tifffile.imwrite(folder / name, frame)
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(folder / "preview.png")
    rec = open_recording(folder)
    assert rec.green.shape == (3, 6, 8)
    (warning,) = rec.warnings
    offered = warning.split("open ")[-1].split(" to say so")[0]
    assert offered.startswith(str(folder)), warning
    alone = open_recording(offered)
    assert not any("holds" in w for w in alone.warnings), alone.warnings  # one kind: no note
    np.testing.assert_array_equal(np.asarray(alone.green), np.stack(frames))


def test_a_folder_mixing_frame_kinds_is_never_read_silently(tmp_path):
    """h21: a folder of TIFFs and PNGs read only the TIFFs, a PNG/JPEG mix the commoner kind,
    without a word (and 1 TIFF beside 500 PNG frames was a 1-frame movie). As ImageJ's Import >
    Image Sequence does, every frame file is read in name order where the kinds are one size and
    kind; else the commoner kind only. Either way a warning names the counts, the files left
    out and the pattern that reads one kind. Fails on the old code (no note; 3 TIFF frames of 5)."""
    from PIL import Image

    from napari_catrack.io.tiff import expand_sequence

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (6, 8), dtype=np.uint8) for _ in range(5)]
    same = tmp_path / "same"
    same.mkdir()
    for i, frame in enumerate(frames):  # frames 0, 2, 4 as TIFF; 1, 3 as PNG
        if i % 2:
            Image.fromarray(frame).save(same / f"f{i}.png")
        else:
            tifffile.imwrite(same / f"f{i}.tif", frame)
    rec = open_recording(same)
    np.testing.assert_array_equal(np.asarray(rec.green), np.stack(frames))
    assert [p.name for p in expand_sequence(same)] == [f"f{i}{'.png' if i % 2 else '.tif'}"
                                                       for i in range(5)]  # fmt: skip
    (warning,) = rec.warnings
    assert "holds 3 TIFF and 2 PNG frame files of one size and kind: all 5 are read" in warning
    assert os.path.join(str(same), "*.tif") in warning
    assert rec.summary()["format"] == "tiff+png-sequence"

    # a 16-bit TIFF movie with an 8-bit PNG preview: the TIFFs only, the preview named
    deep = tmp_path / "deep"
    deep.mkdir()
    for i in range(3):
        tifffile.imwrite(deep / f"t{i}.tif", np.full((6, 8), 1000 * i, np.uint16))
    Image.fromarray(frames[0]).save(deep / "preview.png")
    rec = open_recording(deep)
    assert rec.green.shape == (3, 6, 8) and rec.dtype == np.uint16
    (warning,) = rec.warnings
    assert "holds 3 TIFF and 1 PNG frame files" in warning
    assert "t0.tif is 6x8 px (height x width), greyscale 16-bit" in warning
    assert "only the 3 TIFF files are read as frames; left out: 1 file(s) (preview.png)" in warning

    # PNG frames with one stray TIFF: the PNGs (the commoner kind), not a 1-frame movie
    pngs = _png_frames(tmp_path / "pngs", frames)
    tifffile.imwrite(pngs / "mask.tif", np.zeros((3, 3), np.uint8))
    rec = open_recording(pngs)
    assert rec.green.shape == (5, 6, 8)
    assert "left out: 1 file(s) (mask.tif)" in rec.warnings[0]

    # every frame saved twice (PNG and JPEG of one name): one kind, never the frames doubled
    twice = _png_frames(tmp_path / "twice", frames[:2], ["a0.png", "a1.png"])
    for i in range(2):
        Image.fromarray(frames[i]).save(twice / f"a{i}.jpg")
    rec = open_recording(twice)
    assert rec.green.shape == (2, 6, 8) and rec.summary()["format"] == "png-sequence"
    assert "the same names in two kinds, e.g. a0" in rec.warnings[0]
    assert "left out: 2 file(s) (a0.jpg, a1.jpg)" in rec.warnings[0]
    np.testing.assert_array_equal(np.asarray(rec.green), np.stack(frames[:2]))  # lossless PNGs

    # one kind: no note (as before)
    assert open_recording(_png_frames(tmp_path / "one", frames)).warnings == []


def test_an_animated_png_gives_all_its_frames(tmp_path):
    """h21: an animated PNG (APNG) in a folder of frames was read as its first frame only,
    silently. All its frames are read, in order (Pillow composes them), and a note says so.
    Fails on the old code (1 frame)."""
    from PIL import Image

    frames = [np.full((5, 7), 30 * i + 10, np.uint8) for i in range(4)]
    folder = tmp_path / "apng"
    folder.mkdir()
    images = [Image.fromarray(f) for f in frames]
    images[0].save(folder / "movie.png", save_all=True, append_images=images[1:], duration=100)
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(folder / "zz_last.png")
    rec = open_recording(folder)
    assert rec.green.shape == (5, 5, 7)
    np.testing.assert_array_equal(np.asarray(rec.green[:4]), np.stack(frames))
    assert not np.asarray(rec.green[4]).any()
    assert rec.metadata["notes"] == ["animated PNG: every frame is read, in order: movie.png "
                                     "(4 frames)"]  # fmt: skip


def _write_page_by_page(path, frames, **kwargs) -> None:
    for frame in frames:  # tifffile's defaults: each page a one-image series of its own
        tifffile.imwrite(path, frame, append=True, **kwargs)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_tiff_written_one_page_at_a_time_reads_every_page_as_a_frame(
    tmp_path, capsys, compression
):
    """(h22) a loop of `tifffile.imwrite(path, frame, append=True)` gives 20 one-page series:
    the reader used series[0] only and gave the first frame as a (Y, X) image. Uncompressed,
    its evenly spaced pages are one strided memory map (read by file reads with memmap=True);
    compressed, tifffile's store reads a page per frame."""
    import json

    from napari_catrack.cli import main
    from napari_catrack.io.tiff import FileFrames, open_tiff

    frames = np.random.default_rng(3).integers(0, 4000, (20, 24, 30)).astype(np.uint16)
    path = tmp_path / "appended.tif"
    _write_page_by_page(path, frames, compression=compression)
    mapped = open_tiff(path, memmap=True)
    assert (mapped.mapped is not None) == (compression is None)
    for close in mapped.closers:
        close()
    assert len(tifffile.TiffFile(path).series) == 20  # (the case: one series per page)
    raw = open_tiff(path)
    assert isinstance(raw.data, da.Array) and raw.data.shape == (20, 24, 30)
    assert raw.data.chunks[0] == (1,) * 20  # lazy, a frame per chunk
    np.testing.assert_array_equal(raw.data[7].compute(), frames[7])
    for close in raw.closers:
        close()
    for memmap in (False, True):
        rec = open_recording(path, memmap=memmap)
        assert rec.green.shape == (20, 24, 30)
        if memmap and compression is None:
            assert isinstance(rec.green, FileFrames)
            np.testing.assert_array_equal(rec.green[[3, 4, 19], 2:9], frames[[3, 4, 19], 2:9])
        np.testing.assert_array_equal(np.asarray(rec.green[:]), frames)
        rec.close()
    assert main(["info", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 20


def test_one_page_series_of_different_sizes_are_refused_naming_one(tmp_path):
    path = tmp_path / "mixed.tif"
    _write_page_by_page(path, np.zeros((4, 24, 30), np.uint16))
    tifffile.imwrite(path, np.zeros((12, 30), np.uint8), append=True)
    with pytest.raises(InputError) as err:
        open_recording(path)
    message = str(err.value)
    assert "\n" not in message
    assert "5 one-page images" in message and "series 4 is 12x30 uint8" in message
    assert "series 0 24x30 uint16" in message and "1 of the 5 differ" in message


def test_a_stack_written_at_once_still_reads_as_before(tmp_path):
    from napari_catrack.io.tiff import open_tiff

    frames = np.random.default_rng(4).integers(0, 255, (20, 24, 30)).astype(np.uint8)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, frames)
    raw = open_tiff(path, memmap=True)
    assert isinstance(raw.data, np.ndarray) and raw.mapped is not None  # memory-mapped
    assert raw.axes == "QYX" and raw.data.shape == (20, 24, 30)
    np.testing.assert_array_equal(raw.data, frames)
    # a stack with a smaller preview image after it (a second series): the stack, as before
    with tifffile.TiffWriter(tmp_path / "preview.tif") as tw:
        tw.write(frames, photometric="minisblack", metadata=None)
        tw.write(frames[0, ::2, ::2], photometric="minisblack", metadata=None)
    rec = open_recording(tmp_path / "preview.tif")
    np.testing.assert_array_equal(np.asarray(rec.green[:]), frames)
    rec.close()
