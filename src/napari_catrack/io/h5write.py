"""HDF5 writes that a full disk or a failing one cannot crash: HDF5 never sees the write error.

HDF5 (2.0, h5py 3.16) does not survive a failed write: a full disk (ENOSPC) while a session
was saved ended in a segmentation fault at the next flush or close, which in napari took every
unsaved result with it. So every HDF5 file napari-catrack writes (`atomic_write_path`'s temp
file) is written through `_Unfailing` (h5py's ``fileobj`` driver): a failed write is recorded and
reported to HDF5 as done; HDF5 finishes and closes a file that is then known to be bad, and
`h5_writer` raises the recorded `OSError`, which `atomic_write_path` turns into one line and the
removal of the temp file. The previous file at the target is never touched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import h5py


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
