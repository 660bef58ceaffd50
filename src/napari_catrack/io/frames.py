"""Frame-chunk reading and streaming writing of single-channel movies, with bounded memory.

Steps that walk a whole movie (registration, summary images, source extraction) read it in frame
chunks through `open_frames` and write results through `MovieWriter`, so a movie larger than RAM
is processed with memory bounded by the chunk size.

Why not simply the memory-mapped dask array of `open_recording`: pages of a memory-mapped file
that were read stay resident and count in the process's RSS until the kernel needs the memory,
so walking a 10 GB memmap grows RSS towards 10 GB. For the common case (one contiguous,
uncompressed TIFF series) `open_frames` therefore reads chunks with plain file reads; any other
input goes through `open_recording` (lazy dask, chunk by chunk).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from napari_catrack import stop
from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path, place_when_done, short_name
from napari_catrack.io.zarr_movie import ZARR_SUFFIXES, is_zarr_path, open_zarr_array


@dataclass
class FrameSource:
    """A (T, Y, X) movie read in frame chunks: `read(t0, t1)` returns an in-memory array."""

    shape: tuple[int, int, int]
    dtype: np.dtype
    read: Callable[[int, int], np.ndarray]
    fps: float | None = None
    pixel_size_um: float | None = None
    path: str | None = None
    _closers: list = field(default_factory=list)
    # the reader's notes on the file (`Recording.metadata["notes"]`: a folder mixing kinds,
    # hidden files skipped; "WARNING: " ones are what a user must know), for the caller to show
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.shape[0])

    def chunks(self, chunk_frames: int, start: int = 0, stop: int | None = None) -> Iterator:
        """(t0, t1) ranges of at most `chunk_frames` frames."""
        stop = self.n_frames if stop is None else stop
        for t0 in range(start, stop, max(1, int(chunk_frames))):
            yield t0, min(stop, t0 + max(1, int(chunk_frames)))

    def sample(self, n: int) -> np.ndarray:
        """Up to `n` frames spread evenly over the movie, read in a few contiguous blocks."""
        n = min(n, self.n_frames)
        blocks = min(n, 10)
        size = int(np.ceil(n / blocks))
        starts = np.linspace(0, self.n_frames - size, blocks).astype(int)
        parts = [self.read(int(s), int(s) + size) for s in np.unique(starts)]
        return np.concatenate(parts)[:n]

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_movie_shape(shape: tuple, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise InputError(f"{what} must be a single-channel movie (T, Y, X); got shape {shape}")
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


def open_frames(movie, *, fps: float | None = None, **recording_options) -> FrameSource:
    """A `FrameSource` for an array (numpy or dask) or a file (TIFF, HDF5, folder/glob).

    Files are opened with `open_recording` options (layout, channel, dataset, axes,
    z_projection); the green (or only) channel is the movie. A file with a Z axis needs
    `z_projection` (a plane, or max/mean): these steps work on one plane, and projecting the
    planes unasked would mix cells of different depths, each plane with its own motion.
    """
    if not isinstance(movie, str | os.PathLike):
        shape = _check_movie_shape(tuple(movie.shape), "the movie")

        def read_array(t0: int, t1: int) -> np.ndarray:
            return np.asarray(movie[t0:t1])

        return FrameSource(shape, np.dtype(movie.dtype), read_array, fps)
    path = Path(movie)
    if is_zarr_path(path):
        return _open_zarr(path, fps)
    if path.is_file() and path.suffix.lower() in (".tif", ".tiff") and not recording_options:
        fast = _open_contiguous_tiff(path, fps)
        if fast is not None:
            return fast
    from napari_catrack.io.recording import open_recording

    try:
        rec = open_recording(path, **recording_options)
    except InputError as exc:  # the reader asks for green and red: these steps take one channel
        text, asks = str(exc), "; say which are green and red"
        if asks not in text:
            raise
        raise InputError(
            f"{path.name}: {text.split(asks)[0]}; these steps work on one: choose it with "
            "--channel N"
        ) from None
    planes = int(str(rec.metadata.get("z") or "1").split()[0])  # "3 planes, max projection"
    if planes > 1 and "z_projection" not in recording_options:
        rec.close()
        raise InputError(
            f"{path.name} has a Z axis ({planes} planes): registration, summary images and "
            f"sources work on one plane; choose it with --z-projection N (0-{planes - 1}), or "
            "--z-projection max or mean to use a projection (z_projection in a batch manifest)"
        )
    green = rec.green
    shape = _check_movie_shape(tuple(green.shape), f"{path.name}")

    # a TIFF sequence: a run of one file's frames in one plain read, not a dask task and a file
    # open per frame (a folder of 100-frame stacks read ~100x faster)
    frames = rec.frames

    def read_lazy(t0: int, t1: int) -> np.ndarray:
        return frames[t0:t1] if frames is not None else np.asarray(green[t0:t1])

    return FrameSource(
        shape,
        np.dtype(green.dtype),
        read_lazy,
        fps or rec.fps,
        rec.pixel_size_um,
        str(path),
        [rec.close],
        list(rec.metadata.get("notes", [])),
    )


def _open_contiguous_tiff(path: Path, fps: float | None) -> FrameSource | None:
    """Plain file reads of one contiguous uncompressed (T, Y, X) series; None when not that."""
    from napari_catrack.io.tiff_header import _check_complete, _physical_metadata

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            _check_complete(path, tif, series)  # a truncated file: open_recording says so
            offset = series.dataoffset
            shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype), series.axes
            file_fps, pixel_size = _physical_metadata(tif)
            native = dtype.newbyteorder(tif.byteorder).isnative  # (tifffile's dtype is native)
    except Exception:  # anything odd: let open_recording explain it
        return None
    if offset is None or len(shape) != 3 or axes[1:] not in ("YX",) or not native:
        return None  # (a big-endian file, as ImageJ writes: open_recording's store swaps)
    frame_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    fh = open(path, "rb")

    def read(t0: int, t1: int) -> np.ndarray:
        t0, t1 = max(0, t0), min(shape[0], t1)
        fh.seek(offset + t0 * frame_bytes)
        buf = np.fromfile(fh, dtype=dtype, count=(t1 - t0) * frame_bytes // dtype.itemsize)
        if hasattr(os, "posix_fadvise"):  # do not keep a huge movie in the page cache
            with contextlib.suppress(OSError):
                os.posix_fadvise(fh.fileno(), offset + t0 * frame_bytes, (t1 - t0) * frame_bytes,
                                 os.POSIX_FADV_DONTNEED)  # fmt: skip
        return buf.reshape((t1 - t0, *shape[1:]))

    return FrameSource(shape, dtype, read, fps or file_fps, pixel_size, str(path), [fh.close])  # type: ignore[arg-type]


def _open_zarr(path: Path, fps: float | None) -> FrameSource:
    arr = open_zarr_array(path)
    shape = _check_movie_shape(tuple(arr.shape), path.name)
    fps = fps or arr.attrs.get("fps")
    pixel_size = arr.attrs.get("pixel_size_um")

    def read(t0: int, t1: int) -> np.ndarray:
        return np.asarray(arr[t0:t1])

    return FrameSource(shape, np.dtype(arr.dtype), read, fps, pixel_size, str(path))


IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)  # what ImageJ (and `write_movie_tiff`) holds


def _tiff_metadata(shape, dtype, fps, pixel_size_um) -> tuple[dict, dict]:
    """TiffWriter.write arguments (every frame's, the first frame's) that keep the frame rate and
    pixel size where `io.tiff` reads them back: an ImageJ description (fps, finterval, unit um)
    and the resolution tags, as `write_movie_tiff` writes. The description is built for the
    whole movie up front, as frames are written one by one. A dtype ImageJ cannot hold keeps
    tifffile's own (shaped) description, which carries them too."""
    tags: dict = {}
    if pixel_size_um:
        tags["resolution"] = (1.0 / pixel_size_um, 1.0 / pixel_size_um)
    if dtype not in IMAGEJ_DTYPES:
        meta = {"axes": "TYX"}
        meta.update({"fps": float(fps)} if fps else {})
        meta.update({"pixel_size_um": float(pixel_size_um)} if pixel_size_um else {})
        return {**tags, "metadata": meta}, {}
    ij: dict = {}
    if fps:
        ij.update(fps=float(fps), finterval=1.0 / float(fps))
    if pixel_size_um:
        ij["unit"] = "um"
    t, y, x = shape
    description = tifffile.imagej_description((t, 1, 1, y, x, 1), **ij)
    return {**tags, "metadata": None}, {"description": description}


class MovieWriter:
    """Write a (T, Y, X) movie chunk by chunk to TIFF (BigTIFF) or zarr; atomic as a whole.

    The movie appears under its name only when `close()` succeeds after all frames were
    written; an error or cancel leaves no partial file (and an existing file untouched).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        shape,
        dtype,
        *,
        fps: float | None = None,
        pixel_size_um: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.shape = _check_movie_shape(tuple(shape), "the output")
        self.dtype = np.dtype(dtype)
        self.written = 0
        self.is_zarr = str(self.path).lower().endswith(ZARR_SUFFIXES)
        if not self.is_zarr and self.path.suffix.lower() not in (".tif", ".tiff"):
            raise InputError(f"write the movie as .tif/.tiff or .zarr, not {self.path.name}")
        if self.is_zarr:
            import zarr

            self._tmp = self.path.with_name(f".{short_name(self.path.name)}.partial")
            shutil.rmtree(self._tmp, ignore_errors=True)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                chunks = (
                    max(1, min(self.shape[0], (1 << 22) // max(1, self.shape[1] * self.shape[2]))),
                    *self.shape[1:],
                )
                self._zarr = zarr.open_array(str(self._tmp), mode="w", shape=self.shape, chunks=chunks, dtype=self.dtype)  # fmt: skip
            except OSError as exc:
                raise InputError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            if fps:
                self._zarr.attrs["fps"] = float(fps)
            if pixel_size_um:
                self._zarr.attrs["pixel_size_um"] = float(pixel_size_um)
        else:
            self._ctx = atomic_write_path(self.path)
            self._tmp = self._ctx.__enter__()
            bigtiff = int(np.prod(self.shape)) * self.dtype.itemsize > 2**31
            self._tif = tifffile.TiffWriter(self._tmp, bigtiff=bigtiff)
            self._tags, self._first = _tiff_metadata(self.shape, self.dtype, fps, pixel_size_um)

    def write(self, frames: np.ndarray) -> None:
        stop.check()  # a stop whose exception was dropped ends the movie here, not at the end
        frames = np.asarray(frames, dtype=self.dtype)
        n = len(frames)
        if self.written + n > self.shape[0]:
            raise InputError("more frames written than the movie holds")
        if self.is_zarr:
            self._zarr[self.written : self.written + n] = frames
        else:
            for frame in frames:
                first, self._first = self._first, {}
                self._tif.write(frame, contiguous=True, **self._tags, **first)
        self.written += n

    def close(self) -> Path:
        if self.written != self.shape[0]:
            self.abort()
            raise InputError(f"only {self.written} of {self.shape[0]} frames were written")
        if self.is_zarr:
            place_when_done(self._tmp, self.path)  # now, or with the rest of an atomic_write_set
        else:
            self._tif.close()
            self._ctx.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far (the target keeps whatever it held before)."""
        with stop.shielded():  # a second stop signal must not cut the removal short
            self._abort()

    def _abort(self) -> None:
        if self.is_zarr:
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:
            with contextlib.suppress(Exception):
                self._tif.close()
            with contextlib.suppress(BaseException):
                self._ctx.__exit__(InputError, InputError("aborted"), None)

    def __enter__(self) -> MovieWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
