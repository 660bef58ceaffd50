"""A disk cache for generated sample recordings, so File > Open Sample is instant after the
first time (generating the moving worm takes seconds and napari runs sample functions in the GUI
thread, freezing the window).

Entries live in the user cache folder (`platformdirs.user_cache_dir("napari-catrack")/samples`,
or `$NAPARI_CATRACK_CACHE/samples`), keyed by a hash of the generators' source code and the
arguments: any change to a generator makes a new key, so a stale sample is never served. Arrays
are `.npy` files opened memory-mapped (read-only); an entry is written to a temporary folder and
renamed into place, so an interrupted write never leaves a half entry. Without a writable cache
folder the sample is simply generated each time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ENV = "NAPARI_CATRACK_CACHE"


def cache_root() -> Path:
    """Where cached samples go (`$NAPARI_CATRACK_CACHE` overrides the user cache folder)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]) / "samples"
    import platformdirs

    return Path(platformdirs.user_cache_dir("napari-catrack")) / "samples"


def generator_version() -> str:
    """A hash of the synthetic generators' source: changes whenever any generator changes."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(here.glob("*.py")):
        if path.name != "cache.py":
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(name: str, args: dict[str, Any]) -> str:
    text = json.dumps({"name": name, "args": args, "version": generator_version()}, sort_keys=True)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def cached(
    name: str, args: dict[str, Any], make: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """`make()`'s result (arrays and JSON-able values) from the cache, or made and stored.

    Returns (values, whether they came from the cache). Arrays come back memory-mapped.
    """
    folder = cache_root() / cache_key(name, args)
    values = _load(folder)
    if values is not None:
        return values, True
    values = make()
    try:
        _store(folder, values)
    except OSError:  # no writable cache folder: generating each time still works
        return values, False
    loaded = _load(folder)
    return (loaded if loaded is not None else values), False


def _load(folder: Path) -> dict[str, Any] | None:
    meta_path = folder / "values.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        out: dict[str, Any] = dict(meta["values"])
        for key in meta["arrays"]:
            out[key] = np.load(folder / f"{key}.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry: made again (and replaced) by the caller
    return out


def _store(folder: Path, values: dict[str, Any]) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        arrays = [k for k, v in values.items() if isinstance(v, np.ndarray)]
        for key in arrays:
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(values[key]))
        plain = {k: v for k, v in values.items() if k not in arrays}
        (tmp / "values.json").write_text(
            json.dumps({"arrays": arrays, "values": plain}), encoding="utf-8"
        )
        if folder.exists():  # a damaged entry left by an older run
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
