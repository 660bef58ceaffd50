"""Lazy HDF5 reading: find the movie dataset(s), honour axis labels, accept /green + /red pairs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from napari_catrack.errors import InputError
from napari_catrack.io.tiff import RawStack

if TYPE_CHECKING:
    import dask.array as da

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_AXIS_ATTRS = ("axes", "axis_labels", "dimension_labels", "DIMENSION_LABELS", "dims")
_GREEN_NAMES = ("green", "gcamp", "activity", "g", "ch_green")
_RED_NAMES = ("red", "rfp", "structural", "r", "ch_red", "tagrfp", "mcherry")
_FPS_ATTRS = ("fps", "frame_rate", "framerate", "sampling_rate", "imaging_rate")
_PIXEL_ATTRS = ("pixel_size_um", "pixel_size", "um_per_pixel", "microns_per_pixel")


def is_hdf5_path(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(HDF5_SUFFIXES)


def image_datasets(f: h5py.File) -> dict[str, h5py.Dataset]:
    """All numeric datasets with >= 3 dims (the only ones that can be movies)."""
    found: dict[str, h5py.Dataset] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim >= 3 and obj.dtype.kind in "uif":
            found["/" + name] = obj

    f.visititems(visit)
    return found


def _axes_of(ds: h5py.Dataset) -> str | None:
    for key in _AXIS_ATTRS:
        if key in ds.attrs:
            value = ds.attrs[key]
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, str):
                letters = value.replace(",", "").replace(" ", "")
            else:
                letters = "".join(
                    (v.decode() if isinstance(v, bytes) else str(v))[:1] for v in np.ravel(value)
                )
            if len(letters) == ds.ndim:
                return letters.upper()
    labels = [d.label for d in ds.dims]
    if all(labels):
        return "".join(label[:1] for label in labels).upper()
    return None


def _float_attr(objs, names) -> float | None:
    for obj in objs:
        for key in names:
            if key in obj.attrs:
                try:
                    value = float(np.ravel(obj.attrs[key])[-1])
                except (TypeError, ValueError):
                    continue
                if value > 0:
                    return value
    return None


def _lazy(ds: h5py.Dataset, axes: str) -> da.Array:
    import dask.array as da

    chunks = tuple(s if a in "YX" else 1 for a, s in zip(axes, ds.shape))
    return da.from_array(ds, chunks=chunks, name=f"h5-{ds.file.filename}-{ds.name}")


def _role(name: str, names: tuple[str, ...]) -> bool:
    return name.rsplit("/", 1)[-1].lower() in names


def open_hdf5(
    path: str | os.PathLike, dataset: str | None = None
) -> tuple[RawStack, RawStack | None]:
    """Open the movie in an HDF5 file; returns (first, red) where red is set for /green + /red pairs.

    The file stays open while the dask arrays live (h5py reads on demand); `closers` close it.
    """
    from napari_catrack.io.layouts import guess_axes

    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path.name} is not a readable HDF5 file: {exc}") from None
    try:
        candidates = image_datasets(f)
        if dataset is not None:
            key = dataset if dataset.startswith("/") else "/" + dataset
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise InputError(
                    f"{path.name} has no dataset {dataset!r}; image datasets: "
                    f"{', '.join(candidates) or 'none'}"
                )
            chosen, red_ds = f[key], None
        elif not candidates:
            shapes = []
            f.visititems(
                lambda n, o: (
                    shapes.append(f"/{n} {o.shape}") if isinstance(o, h5py.Dataset) else None
                )
            )
            raise InputError(
                f"{path.name} holds no image dataset (numeric, 3+ dimensions); "
                f"datasets: {', '.join(shapes) or 'none'}"
            )
        elif len(candidates) == 1:
            chosen, red_ds = next(iter(candidates.values())), None
        else:
            greens = [n for n in candidates if _role(n, _GREEN_NAMES)]
            reds = [n for n in candidates if _role(n, _RED_NAMES)]
            if len(greens) == 1 and len(reds) == 1:
                chosen, red_ds = candidates[greens[0]], candidates[reds[0]]
            else:
                listing = ", ".join(f"{n} {v.shape}" for n, v in candidates.items())
                raise InputError(
                    f"{path.name} has several image datasets ({listing}); choose one "
                    "(--dataset) or name them /green and /red"
                )
        stacks = []
        for ds in (chosen, red_ds):
            if ds is None:
                stacks.append(None)
                continue
            axes = _axes_of(ds)
            guessed = False
            if axes is None:
                axes, guessed = guess_axes(ds.shape)
            fps = _float_attr((ds, f), _FPS_ATTRS)
            pixel = _float_attr((ds, f), _PIXEL_ATTRS)
            if pixel is None and "element_size_um" in ds.attrs:
                pixel = float(np.ravel(ds.attrs["element_size_um"])[-1])
            meta = {
                "format": "hdf5",
                "dataset": ds.name,
                "shape": tuple(ds.shape),
                "dtype": str(ds.dtype),
                "file_axes": axes,
                "axes_guessed": guessed,
            }
            stacks.append(RawStack(_lazy(ds, axes), axes, fps, pixel, meta))
        stacks[0].closers.append(f.close)
        return stacks[0], stacks[1]
    except BaseException:
        f.close()
        raise


def damaged_chunk(path: str | os.PathLike) -> str | None:
    """Where a deflate-compressed chunk of an HDF5 file is damaged (one line), else None.

    Each compressed chunk is a zlib stream ending in an Adler-32 checksum of its bytes: inflating
    the chunks as stored (no shuffle undone, no array built, one chunk in memory at a time)
    finds garbage that the file's headers and a lazy open never see. Chunks of other filters, or
    stored unfiltered, are not checked (they carry no checksum). Costs one inflate of every
    compressed byte: docs/batch.md has the time for a long session.
    """
    import zlib

    problem: list[str] = []
    with h5py.File(path, "r") as f, open(path, "rb") as raw:

        def check(name: str, obj) -> None:
            if problem or not isinstance(obj, h5py.Dataset) or obj.chunks is None:
                return
            plist = obj.id.get_create_plist()
            filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
            if h5py.h5z.FILTER_DEFLATE not in filters or any(
                f not in (h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE) for f in filters
            ):
                return
            deflate_bit = 1 << filters.index(h5py.h5z.FILTER_DEFLATE)
            size = int(np.prod(obj.chunks)) * obj.dtype.itemsize

            def chunk(info) -> None:
                if problem or info.filter_mask & deflate_bit:  # stored without deflate
                    return
                raw.seek(info.byte_offset)
                try:
                    ok = len(zlib.decompress(raw.read(info.size))) == size
                except zlib.error:
                    ok = False
                if not ok:
                    where = ", ".join(str(int(o)) for o in info.chunk_offset)
                    problem.append(f"compressed chunk at ({where}) of /{name} is damaged")

            if hasattr(obj.id, "chunk_iter"):  # h5py >= 3.8 with HDF5 >= 1.12.3: one pass
                obj.id.chunk_iter(chunk)
            else:
                for i in range(obj.id.get_num_chunks()):
                    chunk(obj.id.get_chunk_info(i))

        f.visititems(check)
    return problem[0] if problem else None
