"""Per-frame SAM image embeddings cached on disk, so corrective prompts are instant.

The image encoder is the expensive part of Segment Anything (seconds per frame on a CPU); the
prompt decoder takes milliseconds. As in micro-sam, each frame's embedding is computed once and
kept: here one `.npy` file per frame (float32, 4 MB for ViT-B) in a folder per model, named by
a hash of the frame's pixels, so edits of the video or another model never reuse a stale
embedding. A small in-memory cache serves the frames around the one being corrected.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from napari_catrack.io.atomic import atomic_write_path


def default_cache_dir() -> Path:
    """The user cache folder of napari-catrack (platformdirs), e.g. ~/.cache/napari-catrack."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("CATRACK_CACHE_DIR") or user_cache_dir("napari-catrack"))


def frame_key(image: np.ndarray) -> str:
    """Content hash of a (prepared) frame: its bytes, shape and dtype."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str((image.shape, image.dtype.str)).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


class EmbeddingCache:
    """Embeddings of one model: memory (a few frames) in front of a folder of `.npy` files."""

    def __init__(self, folder: str | os.PathLike | None, model_key: str, memory: int = 16):
        base = Path(folder) if folder is not None else default_cache_dir() / "sam-embeddings"
        self.folder = base / model_key
        self.memory = memory
        self._mem: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        if key in self._mem:
            self._mem.move_to_end(key)
            self.hits += 1
            return self._mem[key]
        path = self._path(key)
        if path.is_file():
            try:
                arr = np.load(path)
            except (OSError, ValueError):  # a damaged cache file is recomputed
                return None
            self._remember(key, arr)
            self.hits += 1
            return arr
        self.misses += 1
        return None

    def put(self, key: str, features: np.ndarray) -> None:
        arr = np.asarray(features, dtype=np.float32)
        self._remember(key, arr)
        try:
            with atomic_write_path(self._path(key)) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, arr)
        except Exception:  # a read-only or full cache folder must not stop segmentation
            pass

    def _remember(self, key: str, arr: np.ndarray) -> None:
        self._mem[key] = arr
        self._mem.move_to_end(key)
        while len(self._mem) > self.memory:
            self._mem.popitem(last=False)
