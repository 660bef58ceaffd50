"""A folder or glob of TIFF files read as one lazy movie (`io.tiff.open_tiff_sequence`).

Each file is either a frame, or a stack of frames (a camera writing 500-frame stacks per file):
then, as Fiji's File > Import > Image Sequence does, every page of every file is a frame, in
name order, whatever each file holds (the last file of a recording is often shorter). A file
whose pages are not frames (a Z stack per time point, a two-channel image per time point) is
one time point, as before: every file must then have one shape.

Only headers are read at open (and every file's completeness checked: a truncated frame file is
one message naming it, never a movie that ends early or reads zeros); each frame's pixels are
read when it is used, one chunk per frame (what napari slices), with plain file reads where the
file's pages are stored contiguously. No file handle stays open.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from napari_catrack._tifffile_log import hold as _tifffile_log_held
from napari_catrack.errors import InputError

# tifffile's letters for an unnamed stack of pages (a plain multi-page file, a tifffile.imwrite
# without metadata): pages of a camera's stack, as Fiji reads them
_UNNAMED = "IQ"
# a "channel" axis longer than this is a stack of frames (tifffile writes an ImageJ or OME
# stack whose axes were not given as channels); as `layouts.guess_axes` tells C from Z
MAX_CHANNELS = 4
_IMAGE_AXES = ("YX", "YXS")


@dataclass(frozen=True)
class TiffHead:
    """What a sequence reads of one TIFF file: its first series' header."""

    path: Path
    shape: tuple[int, ...]
    axes: str
    dtype: np.dtype
    offset: int | None  # where a contiguous series' pixels start in the file, else None
    pages: int  # the series' pages
    fps: float | None = None
    pixel_size_um: float | None = None
    byteorder: str = "<"  # the file's ("<" or ">": ImageJ writes big-endian); `dtype` is native

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        """(Y, X[, S]) of one image of a 2-D file or of a stack of 2-D images along one axis;
        None for a file of more axes (a hyperstack)."""
        if self.axes in _IMAGE_AXES:
            return self.shape
        if len(self.axes) >= 3 and self.axes[1:] in _IMAGE_AXES:
            return self.shape[1:]
        return None

    @property
    def n_images(self) -> int:
        return 1 if self.axes in _IMAGE_AXES else int(self.shape[0])

    @property
    def pages_are_frames(self) -> bool:
        """A stack of 2-D images along a time axis (T), an unnamed one (a plain multi-page
        file) or a "channel" axis longer than `MAX_CHANNELS`: its pages are frames of a movie."""
        if self.image_shape is None or self.axes in _IMAGE_AXES:
            return False
        first = self.axes[0]
        return first == "T" or first in _UNNAMED or (first == "C" and self.n_images > MAX_CHANNELS)


def tiff_head(path: Path) -> TiffHead:
    """The header of one TIFF file of a sequence, checked complete (a file cut short by a copy
    or a crashed acquisition is refused here, naming it, not when its frame is read)."""
    with _tifffile_log_held() as held:  # tifffile's notes of a cut file: our one line instead
        try:
            from napari_catrack.io.tiff_header import (
                _check_complete,
                _one_series,
                _physical_metadata,
            )

            tif = tifffile.TiffFile(path)
            try:  # a file written page by page: all its pages (one series each) as one
                first = _physical_metadata(tif) if len(tif.series) > 1 else None
                tif = _one_series(Path(path), tif)
            except BaseException:
                tif.close()
                raise
            with tif:
                series = tif.series[0]
                _check_complete(path, tif, series)
                fps, pixel = first or _physical_metadata(tif)
                head = TiffHead(Path(path), tuple(int(n) for n in series.shape), series.axes,
                                np.dtype(series.dtype), series.dataoffset, len(series.pages),
                                fps, pixel, tif.byteorder)  # fmt: skip
        except InputError as exc:
            raise InputError(f"{exc}; copy the file again, or remove it from the folder") from None
        except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError,
                struct.error) as exc:  # fmt: skip
            raise InputError(
                f"{Path(path).name} in the sequence is not a readable TIFF: {exc}"
            ) from None
        held.pass_on()
    return head


def _shape_text(shape: tuple[int, ...], dtype: np.dtype) -> str:
    from napari_catrack.io.tiff_header import _describe

    return _describe(tuple(shape), dtype)


def sequence_layout(files: list[Path], axes: str | None = None) -> tuple[list[TiffHead], bool]:
    """The headers of a TIFF sequence's files and whether their pages are frames (True: the
    movie is every page of every file, in order) or each file is one time point (False).

    Pages are frames when every file is a 2-D image or a stack of them along one axis and one
    file's stack is frames (`TiffHead.pages_are_frames`), or when `axes` (the user's, as
    `open_recording` takes them) name one file's axes (e.g. TYX for a folder of Z-labelled
    stacks); `axes` of one letter more (TZYX) keep each file one time point. Files that do not
    fit are refused, naming the file."""
    heads = [tiff_head(f) for f in files]
    first = heads[0]
    if axes is not None:
        by_pages = len(axes) == len(first.shape) and first.image_shape is not None
        by_pages = by_pages and len(first.shape) > len(first.image_shape or ())
    else:
        by_pages = any(h.pages_are_frames for h in heads)
    if by_pages:
        shape, dtype = first.image_shape, first.dtype
        for h in heads:
            if h.image_shape is None:
                raise InputError(
                    f"{h.path.name} holds a {h.axes} stack of shape {h.shape}, but the other "
                    f"files of the sequence are frames ({first.path.name}: {first.n_images} "
                    f"frame(s) of {_shape_text(shape, dtype)}): every file must hold 2-D frames"
                )
            if h.image_shape != shape or h.dtype != dtype:
                raise InputError(
                    f"the frames differ in size or kind: {first.path.name} holds frames of "
                    f"{_shape_text(shape, dtype)}, {h.path.name} of "
                    f"{_shape_text(h.image_shape, h.dtype)}; every frame of a sequence must be "
                    "the same size and kind"
                )
        return heads, True
    for h in heads[1:]:  # each file is one time point: all alike
        if h.shape != first.shape:
            raise InputError(
                f"{h.path.name} has shape {h.shape}, but {first.path.name} has {first.shape}: "
                "all frames of a sequence must match"
            )
        if h.dtype != first.dtype:
            raise InputError(
                f"{h.path.name} holds {h.dtype} pixels, but {first.path.name} {first.dtype}: "
                "all frames of a sequence must match"
            )
    return heads, False


def frame_starts(heads: list[TiffHead], by_pages: bool) -> list[int]:
    """The movie frame each file starts at."""
    counts = [h.n_images if by_pages else 1 for h in heads]
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()


class SequenceFrames:
    """A (T, ...) movie made of the files of a TIFF sequence, read on indexing (as dask's
    `from_array` does, one frame chunk at a time): frames of one file read together."""

    def __init__(self, heads: list[TiffHead], by_pages: bool) -> None:
        self._heads, self._by_pages = heads, by_pages
        first = heads[0]
        frame = first.image_shape if by_pages else first.shape
        self._starts = np.asarray([*frame_starts(heads, by_pages), 0], np.int64)
        total = sum(h.n_images for h in heads) if by_pages else len(heads)
        self._starts[-1] = total
        self.dtype = first.dtype  # native (tifffile's); a big-endian file's bytes are swapped
        self.shape = (int(total), *frame)  # type: ignore[misc]
        self.ndim = len(self.shape)

    def __getitem__(self, item):
        item = item if isinstance(item, tuple) else (item,)
        first, rest = item[0], item[1:]
        frames = np.arange(self.shape[0])[first]
        scalar = frames.ndim == 0
        frames = np.atleast_1d(frames)
        out = np.empty((len(frames), *self.shape[1:]), self.dtype)
        i = 0
        while i < len(frames):  # runs of consecutive frames of one file: one read each
            f = int(np.searchsorted(self._starts, frames[i], side="right")) - 1
            j = i + 1
            while (
                j < len(frames)
                and frames[j] == frames[j - 1] + 1
                and frames[j] < self._starts[f + 1]
            ):
                j += 1
            t0 = int(frames[i] - self._starts[f])
            self._read(self._heads[f], t0, t0 + (j - i), int(frames[i]), out[i:j])
            i = j
        return out[(0, *rest)] if scalar else out[(slice(None), *rest)]

    def _read(self, head: TiffHead, t0: int, t1: int, first: int, into: np.ndarray) -> None:
        """Images t0..t1 of one file, whose image t0 is the movie's frame `first`; a file whose
        header was read but whose pixels are not (changed on disk since) is one line naming it."""
        try:
            self._read_pixels(head, t0, t1, into)
        except InputError:
            raise
        except (OSError, ValueError, IndexError, struct.error, tifffile.TiffFileError) as exc:
            frame = f"frame {first}" if t1 - t0 == 1 else f"frames {first}-{first + t1 - t0 - 1}"
            raise InputError(
                f"{head.path.name} ({frame} of the sequence) is damaged or cut short: its header "
                f"was read but its pixels are not ({exc}); copy the file again, or remove it "
                "from the folder"
            ) from None

    def _read_pixels(self, head: TiffHead, t0: int, t1: int, into: np.ndarray) -> None:
        """Images t0..t1 of one file into `into` (contiguous ones straight from the file: no
        copy of a chunk beside the chunk)."""
        item = self.shape[1:]  # a frame, or with each file one time point the file's shape
        n = t1 - t0
        if head.offset is not None:  # contiguous: plain reads of the images' bytes
            size = int(np.prod(item)) * head.dtype.itemsize
            view, done = memoryview(into).cast("B"), 0
            with open(head.path, "rb", buffering=0) as f:
                f.seek(head.offset + t0 * size)
                while done < n * size:
                    got = f.readinto(view[done:])
                    if not got:
                        raise InputError(
                            f"{head.path.name} changed on disk while it was being read: it ends "
                            f"before its image {t1 - 1} (another program shortened or rewrote "
                            "it); open the folder again once it is written"
                        )
                    done += got
            if not head.dtype.newbyteorder(head.byteorder).isnative:
                into.byteswap(inplace=True)  # a big-endian file's bytes (ImageJ's)
            return
        if not self._by_pages:  # the file is one time point
            data = tifffile.imread(head.path)
            if tuple(data.shape) != tuple(head.shape):
                _changed(head.path, data.shape, head.shape)
            into[0] = data
            return
        from napari_catrack.io.tiff_header import _one_series

        with _one_series(head.path, tifffile.TiffFile(head.path)) as tif:
            series = tif.series[0]
            if tuple(series.shape) != head.shape:
                _changed(head.path, tuple(series.shape), head.shape)
            if len(series.pages) == head.n_images:  # a page per image: only those pages
                data = tif.asarray(key=list(range(t0, t1)), series=0)
            else:  # images packed otherwise (several in a page): the whole file
                data = series.asarray().reshape((head.n_images, *item))[t0:t1]
        into[...] = np.reshape(data, (n, *item))


def _changed(path: Path, now: tuple, was: tuple):
    raise InputError(
        f"{path.name} changed on disk: it now holds shape {tuple(now)}, {tuple(was)} when the "
        "folder was opened; open the folder again"
    )


def open_tiff_files(files: list[Path], axes: str | None = None):
    """The TIFF files of a sequence (`io.tiff.sequence_files`) as one lazy `RawStack`."""
    import dask.array as da
    from dask.base import tokenize

    from napari_catrack.io.tiff_header import RawStack

    heads, by_pages = sequence_layout(files, axes)
    frames = SequenceFrames(heads, by_pages)
    first = heads[0]
    chunks = (1, *frames.shape[1:])
    stats = [(str(h.path), *_stat(h.path)) for h in heads]
    data = da.from_array(frames, chunks=chunks, asarray=True, meta=np.empty((0,) * frames.ndim, frames.dtype),
                         name=f"tiff-sequence-{tokenize(stats, by_pages)}")  # fmt: skip
    if by_pages:
        axes_out = "T" + ("YXS" if len(frames.shape) == 4 else "YX")
    else:
        axes_out = "T" + first.axes
    meta = {"format": "tiff-sequence", "files": len(files), "first_file": str(files[0])}
    counts = {h.n_images for h in heads}
    if by_pages and axes is None and len(counts) == 1 and 1 < min(counts) <= MAX_CHANNELS:
        if all(h.axes[0] in _UNNAMED for h in heads):  # 2 unnamed pages a file: channels?
            n = min(counts)
            meta["notes"] = [
                f"WARNING: every file holds {n} pages that do not say what they are: read as "
                f"{n} frames each, in name order ({frames.shape[0]} frames); if each file is "
                f"one time point of {n} channels, open it with --axes TCYX"
            ]
    return RawStack(data, axes_out, first.fps, first.pixel_size_um, meta, frames=frames)


def _stat(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns
