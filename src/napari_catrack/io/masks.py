"""Worm masks as a TIFF stack: uint8 (T, Y, X), 1 = worm, 0 = background (the CLI contract).

Written zlib-compressed with ImageJ metadata (Fiji opens it as a stack) through a temp file
and rename; read back with a check that it is a stack of 0/1 (or 0/255) masks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import tifffile

from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path


def as_uint8(masks: np.ndarray) -> np.ndarray:
    """0/1 uint8 masks: a view of C-contiguous bool masks (no copy), else a converted copy."""
    masks = np.asarray(masks)
    if masks.dtype == bool and masks.flags.c_contiguous:
        return masks.view(np.uint8)
    return (masks > 0).astype(np.uint8)


def write_masks(path: str | os.PathLike, masks: np.ndarray) -> Path:
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise InputError(f"masks must be (T, Y, X); got shape {masks.shape}")
    # bool masks (what the segmentation gives) are written through a uint8 view, not copies:
    # a 20,000-frame 256 x 256 video's masks are 1.3 GB, and `(masks > 0).astype` held two more
    data = as_uint8(masks)
    with atomic_write_path(path) as tmp:
        tifffile.imwrite(tmp, data, imagej=True, metadata={"axes": "TYX"}, compression="zlib")
    return Path(path)


def write_mask_blocks(
    path: str | os.PathLike, blocks: Iterable[np.ndarray], shape: tuple[int, ...]
) -> Path:
    """`write_masks` of (T, Y, X) masks given as first-axis blocks (`session.array_blocks`):
    the same file, written a block at a time, so an export of a long video's masks from its
    session file holds one block in memory, not 1.3 GB."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3:
        raise InputError(f"masks must be (T, Y, X); got shape {shape}")

    def frames() -> Iterator[np.ndarray]:
        for block in blocks:
            yield from as_uint8(block)

    with atomic_write_path(path) as tmp:
        tifffile.imwrite(tmp, frames(), shape=shape, dtype=np.uint8, imagej=True,
                         metadata={"axes": "TYX"}, compression="zlib")  # fmt: skip
    return Path(path)


def read_masks(path: str | os.PathLike) -> np.ndarray:
    """(T, Y, X) bool masks from a TIFF stack (a single 2-D mask becomes one frame)."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "not found"
        raise InputError(f"mask file {problem}: {path}")
    try:
        data = tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types for damaged files
        raise InputError(f"{path.name} is not a readable TIFF: {exc}") from None
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise InputError(f"{path.name}: masks must be a (T, Y, X) stack, got shape {data.shape}")
    # frame by frame: np.unique of 20 frames at once sorts a copy of them (NumPy 1.x)
    values = np.unique(np.concatenate([np.unique(f) for f in data[:20]]))
    if len(values) > 2 and not np.array_equal(values, np.arange(len(values))):
        raise InputError(
            f"{path.name} does not look like masks (values {values[:6]}...): expected 0/1"
        )
    if data.dtype == np.uint8 and data.flags.c_contiguous and data.flags.writeable:
        # in place, as a bool view: a 20,000-frame video's masks are 1.3 GB, `data > 0` a second
        # copy; frame by frame, since NumPy 1.x buffers a whole overlapping input+output first
        out = data.view(bool)
        for frame, frame_out in zip(data, out, strict=True):
            np.not_equal(frame, 0, out=frame_out)
        return out
    return data > 0
