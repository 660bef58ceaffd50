"""What a step read: the input files' provenance stored with its session record.

`file_provenance(path)` -> {"path", "size", "mtime", "sha256", "sha256_of"}: the absolute path,
bytes, modification time (ISO, UTC) and a SHA-256 of the content. Files up to `WHOLE_LIMIT`
(256 MB) are hashed whole; a larger one (a movie) by its first and last 8 MiB plus its size, so
recording a step never reads a multi-GB file again (`sha256_of` says which). A folder or glob of
frames (or a `.zarr` folder) is its files in name order, taken as one stream with the same rule.

`inputs_provenance(session, {role: path})` is what every record function stores as
`attrs["inputs"]`; the paths go through `Session.stored_path` like every path a step stores.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from pathlib import Path
from typing import Any

WHOLE_LIMIT = 256 * 1024 * 1024
ENDS = 8 * 1024 * 1024
WHOLE = "whole file"
ENDS_AND_SIZE = "first and last 8 MiB + size"
_BLOCK = 1024 * 1024
_SEEN: dict[tuple, dict[str, Any]] = {}  # (path, size, mtime_ns) of every file -> facts


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        # hidden files are no part of a folder's content (".DS_Store", macOS's "._frame1.tif"
        # Finder-metadata copies: a folder copied by a Mac gains them and must still be the
        # same recording, as its frames are); zarr's ".zarray"/".zattrs" are
        return sorted(
            (p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)),
            key=lambda p: p.relative_to(path).as_posix(),
        )
    if any(c in path.name for c in "*?["):
        return sorted(p for p in path.parent.glob(path.name) if p.is_file())
    return []


_ZARR_NAMES = {".zarray", ".zattrs", ".zgroup", ".zmetadata"}  # zarr v2 metadata: content


def _hidden(p: Path, root: Path) -> bool:
    """A hidden file, or a file in a hidden folder, below `root` (zarr's metadata files are
    none)."""
    return any(x.startswith(".") and x not in _ZARR_NAMES for x in p.relative_to(root).parts)


def _read_range(files: list[tuple[Path, int]], start: int, stop: int, digest) -> None:
    """Feed bytes [start, stop) of the files taken as one stream into `digest`."""
    offset = 0
    for path, size in files:
        lo, hi = max(start - offset, 0), min(stop - offset, size)
        if lo < hi:
            with open(path, "rb") as f:
                f.seek(lo)
                left = hi - lo
                while left > 0:
                    block = f.read(min(_BLOCK, left))
                    if not block:
                        break
                    digest.update(block)
                    left -= len(block)
        offset += size
        if offset >= stop:
            break


def file_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """Path, size, mtime and SHA-256 of one input (file, folder or glob of frames).

    An input that is not there is {"path", "missing": True}: provenance, not a check."""
    p = Path(path)
    files = _files(p)
    full = os.path.abspath(p)
    if not files:
        return {"path": full, "missing": True}
    stats = [(f, f.stat()) for f in files]
    key = tuple((os.path.abspath(f), st.st_size, st.st_mtime_ns) for f, st in stats)
    known = _SEEN.get(key)
    if known is not None:  # the steps of one run read the same recording: hash it once
        return {**known, "path": full}
    sized = [(f, st.st_size) for f, st in stats]
    size = sum(s for _, s in sized)
    mtime = max(st.st_mtime for _, st in stats)
    digest = hashlib.sha256()
    if size <= WHOLE_LIMIT:
        _read_range(sized, 0, size, digest)
        how = WHOLE
    else:
        _read_range(sized, 0, ENDS, digest)
        _read_range(sized, size - ENDS, size, digest)
        digest.update(str(size).encode())
        how = ENDS_AND_SIZE
    out: dict[str, Any] = {
        "path": full,
        "size": int(size),
        "mtime": _dt.datetime.fromtimestamp(mtime, _dt.UTC).isoformat(),
        "sha256": digest.hexdigest(),
        "sha256_of": how,
    }
    if len(files) > 1 or files[0] != p:
        out["files"] = len(files)
    if len(_SEEN) > 256:
        _SEEN.clear()
    _SEEN[key] = dict(out)
    return out


def inputs_provenance(session, inputs: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """{role: file_provenance} for the inputs a step read (roles with no path are left out)."""
    out = {}
    for role, path in (inputs or {}).items():
        if path is None or path == "":
            continue
        facts = file_provenance(path)
        facts["path"] = session.stored_path(path) if session is not None else facts["path"]
        out[str(role)] = facts
    return out
