"""HDF5 writes that a full disk or a failing one cannot crash: HDF5 never sees the write error.

HDF5 (2.0, h5py 3.16) does not survive a failed write: a full disk (ENOSPC) while a session
was saved ended in a segmentation fault at the next flush or close, which in napari took every
unsaved result with it. So every HDF5 file napari-catrack writes (`atomic_write_path`'s temp
file) is written through `_Unfailing` (h5py's ``fileobj`` driver): a failed write is recorded and
reported to HDF5 as done; HDF5 finishes and closes a file that is then known to be bad, and
`h5_writer` raises the recorded `OSError`, which `atomic_write_path` turns into one line and the
removal of the temp file. The previous file at the target is never touched.

`chunk_encoder`/`write_chunks`: a large array's chunks compressed in Python, outside h5py's
global lock, and written as stored bytes (a read in napari's main thread never waits for a
compression).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np


def _read_at(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: no pread (one file object, one thread)
    return os.read(fd, size)


def _write_at(fd: int, data: memoryview, offset: int) -> int:
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.write(fd, data)


_KEEP_DROPPED = 1 << 20


class _Unfailing:
    """A file object for h5py that never fails a write: the first `OSError` of a write is kept
    in `error`, and from then on writes are dropped (the file is bad anyway); a dropped write of
    up to 1 MiB is kept in memory and reads see it (HDF5 reads its metadata back: read as zeros
    it segfaulted), the rest reads what is on disk (zeros past its end, as h5py fills them)."""

    def __init__(self, path: str | os.PathLike, truncate: bool) -> None:
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else 0)
        self._fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o666)
        self._pos = 0
        self.error: OSError | None = None
        # writes dropped after the failure, kept (up to 1 MiB each: HDF5's metadata) so that a
        # read-back sees what HDF5 wrote: zeros in a metadata block segfaulted HDF5 2.0
        self._dropped: dict[int, bytes] = {}

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._pos = offset
        elif whence == os.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = os.fstat(self._fd).st_size + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        try:
            while done < len(view):
                chunk = _read_at(self._fd, len(view) - done, self._pos + done)
                if not chunk:
                    break
                view[done : done + len(chunk)] = chunk
                done += len(chunk)
        except OSError as exc:  # an unreadable sector: the rest reads as zeros
            self._fail(exc)
        end = self._pos + len(view)
        for offset, data in self._dropped.items():
            lo, hi = max(offset, self._pos), min(offset + len(data), end)
            if lo < hi:
                if done < lo - self._pos:
                    view[done : lo - self._pos] = bytes(lo - self._pos - done)
                view[lo - self._pos : hi - self._pos] = data[lo - offset : hi - offset]
                done = max(done, hi - self._pos)
        self._pos += done
        return done

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = max(os.fstat(self._fd).st_size - self._pos, 0)
        buffer = bytearray(size)
        return bytes(buffer[: self.readinto(buffer)])

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            done = 0
            try:
                while done < len(view):
                    done += _write_at(self._fd, view[done:], self._pos + done)
            except OSError as exc:
                self._fail(exc)
                view = view[done:]
                self._pos += done
        if self.error is not None and len(view) <= _KEEP_DROPPED:
            self._dropped.pop(self._pos, None)  # re-inserted: the newest write is applied last
            self._dropped[self._pos] = bytes(view)
        self._pos += len(view)
        return len(view)  # always "written": HDF5 must not see the failure

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self._fail(exc)
        return size

    def flush(self) -> None:
        pass  # nothing is buffered here; `atomic_write_path` fsyncs the finished file

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _fail(self, exc: OSError) -> None:
        if self.error is None:
            self.error = exc


@contextlib.contextmanager
def h5_writer(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[h5py.File]:
    """`h5py.File(path, mode)` for writing ("w": new, "r+": a copy to change) whose failed
    writes come out as one `OSError` (strerror: "No space left on device") after HDF5 closed the
    file, instead of a crash. Also raised when the block failed meanwhile: a read-back of a
    write that was dropped makes HDF5 fail in ways that only hide the cause."""
    if mode not in ("w", "r+"):
        raise ValueError(f"h5_writer writes ('w' or 'r+'), not {mode!r}")
    raw = _Unfailing(path, truncate=mode == "w")
    try:
        try:
            with h5py.File(raw, mode, **kwargs) as f:
                yield f
        except Exception:
            if raw.error is None:
                raise
        if raw.error is not None:
            exc = raw.error
            raise OSError(exc.errno, exc.strerror or str(exc), str(Path(path))) from None
    finally:
        raw.close()


# --- compressing chunks outside h5py's lock ----------------------------------------------------
_FILTER_SHUFFLE = 2  # HDF5's filter ids (H5Zpublic.h)
_FILTER_DEFLATE = 1


def chunk_encoder(ds: h5py.Dataset, dtype: np.dtype) -> Callable[[np.ndarray], bytes] | None:
    """A function that turns one chunk of `ds` (an array of `dtype`, or a partial edge chunk)
    into the bytes HDF5's filter pipeline stores for it, or None where this is not exactly
    reproduced (then h5py must compress: `dset[...] = data`).

    Why: h5py holds its global lock for a whole write call, compression included, so a 16 MB
    slab of noise-like masks held every HDF5 read of napari's main thread 1.2-2.5 s while the
    background writer (`save_queue`) wrote it. Here the chunk is filtered in Python (byte
    shuffle: a transpose of the bytes; deflate: `zlib.compress` at the dataset's level, which
    releases the GIL) and only the finished bytes go to h5py (`write_chunks`). Reproduced: the
    pipelines of the datasets napari-catrack creates (shuffle, deflate, both in that order, or
    none) on a plain number type stored as in memory; anything else (fletcher32, szip, lzf, a
    plugin, another byte order) is left to h5py. An edge chunk is padded to the full chunk with
    the fill value, as HDF5 does (it stores full-size chunks)."""
    if ds.chunks is None or dtype.kind not in "biuf" or ds.dtype != dtype:
        return None
    tid = ds.id.get_type()
    if tid.get_size() != dtype.itemsize or tid.get_class() not in (
        h5py.h5t.INTEGER, h5py.h5t.FLOAT, h5py.h5t.ENUM
    ):  # fmt: skip
        return None
    plist = ds.id.get_create_plist()
    steps: list[Callable[[memoryview], bytes | memoryview]] = []
    itemsize = dtype.itemsize
    for i in range(plist.get_nfilters()):
        fid, _flags, values, _name = plist.get_filter(i)
        if fid == _FILTER_SHUFFLE and tuple(values) in ((), (itemsize,)):
            if itemsize > 1:  # (HDF5 leaves one-byte elements as they are)
                steps.append(lambda b: np.frombuffer(b, np.uint8).reshape(-1, itemsize).T.tobytes())
        elif fid == _FILTER_DEFLATE and len(values) == 1 and 0 <= values[0] <= 9:
            level = int(values[0])
            steps.append(lambda b, level=level: zlib.compress(b, level))
        else:
            return None
    shape = tuple(ds.chunks)
    fill = ds.fillvalue

    def encode(block: np.ndarray) -> bytes:
        if block.shape != shape:  # an edge chunk: stored full size, padded with the fill value
            full = np.full(shape, fill, dtype)
            full[tuple(slice(0, n) for n in block.shape)] = block
            block = full
        data: bytes | memoryview = memoryview(np.ascontiguousarray(block, dtype)).cast("B")
        for step in steps:
            data = step(data)
        return bytes(data)

    return encode


def write_chunks(
    ds: h5py.Dataset, start: int, slab: np.ndarray, encode: Callable[[np.ndarray], bytes]
) -> None:
    """Write `slab` into `ds` at row `start` (a multiple of the chunk rows; the slab whole chunk
    rows, or the array's last rows) chunk by chunk: each chunk encoded (`chunk_encoder`) outside
    h5py's lock, then stored as is (`write_direct_chunk`), so a read in another thread waits for
    one chunk's I/O at most, never for a compression."""
    chunks = ds.chunks
    grid = [range(0, n, c) for n, c in zip(slab.shape, chunks, strict=True)]
    for offset in itertools.product(*grid):
        block = slab[tuple(slice(o, o + c) for o, c in zip(offset, chunks, strict=True))]
        data = encode(block)
        ds.id.write_direct_chunk((start + offset[0], *offset[1:]), data)
