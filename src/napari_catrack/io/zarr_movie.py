"""Movies stored as a `.zarr` folder (what `MovieWriter` and `catrack register -o X.zarr` write):
recognising one and opening its array. Shared by the frame reader (`frames.py`) and the
recording opener (`recording.py`), which must not import each other both ways."""

from __future__ import annotations

import os
from pathlib import Path

from napari_catrack.errors import InputError

ZARR_SUFFIXES = (".zarr",)


def is_zarr_path(path: str | os.PathLike) -> bool:
    """A `.zarr` folder (what `MovieWriter` and `catrack register -o X.zarr` write)."""
    return str(path).rstrip("/\\").lower().endswith(ZARR_SUFFIXES) and os.path.isdir(path)


def open_zarr_array(path: str | os.PathLike):
    """The zarr array in a `.zarr` folder, read only; one `InputError` line when it is not one."""
    import zarr

    try:
        return zarr.open_array(str(path), mode="r")
    except Exception as exc:  # zarr raises many types for what is not an array
        raise InputError(f"{Path(path).name} is not a readable zarr array: {exc}") from None
