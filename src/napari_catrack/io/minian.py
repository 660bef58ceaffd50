"""Read Minian's results (`save_minian` zarr folders, or one netCDF file) as sources.

Minian saves each result with `save_minian(var.rename(name), dpath)`: an xarray Dataset written
by `to_zarr` to `dpath/<name>.zarr`, holding the variable `<name>` and its coordinates, each a
zarr array whose attribute `_ARRAY_DIMENSIONS` names its dimensions. `A` is (unit_id, height,
width) (the footprints), `C` (unit_id, frame) the denoised traces, `S` (unit_id, frame) the
spikes; `open_minian` also accepts a single netCDF file with the same variables, which is an
HDF5 file whose dimensions are HDF5 dimension scales. Both are read here without xarray.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from napari_catrack.core.sources.imported import imported_result
from napari_catrack.errors import InputError

DIMS = {"A": ("unit_id", "height", "width"), "C": ("unit_id", "frame"), "S": ("unit_id", "frame")}


def _order(arr: np.ndarray, dims: list[str], name: str, where: str) -> np.ndarray:
    want = DIMS[name]
    if sorted(dims) != sorted(want):
        raise InputError(f"{where}: {name} has dimensions {dims}, Minian's has {list(want)}")
    return np.transpose(arr, [dims.index(d) for d in want])


def _read_zarr(folder: Path, name: str):
    import zarr

    store = folder / f"{name}.zarr"
    if not store.is_dir():
        return None, None
    try:
        group = zarr.open_group(str(store), mode="r")
        arr = group[name]
        dims = list(arr.attrs.get("_ARRAY_DIMENSIONS", []))
        data = _order(np.asarray(arr[...]), dims, name, str(store))
        ids = np.asarray(group["unit_id"][...]) if "unit_id" in group else None
    except KeyError as exc:
        raise InputError(f"{store} is not a Minian result ({exc} missing)") from None
    except (ValueError, RuntimeError, OSError) as exc:  # damaged metadata (JSON) or chunks
        raise InputError(f"cannot read {store}: {exc}") from None
    return data, ids


def _read_netcdf(path: Path):
    out, ids = {}, None
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise InputError(
            f"{path.name} is not a netCDF-4 (HDF5) file, so not a Minian result"
        ) from None
    with f:
        for name in DIMS:
            if name in f:
                ds = f[name]
                dims = [d[0].name.strip("/") if len(d) else "" for d in ds.dims]
                out[name] = _order(ds[()], dims, name, path.name)
        if "unit_id" in f:
            ids = f["unit_id"][()]
    return out, ids


def read_minian(path: str | os.PathLike, *, fps: float | None = None):
    path = Path(path)
    if path.is_file():
        data, ids = _read_netcdf(path)
    elif path.is_dir():
        data, ids = {}, None
        for name in DIMS:
            arr, unit = _read_zarr(path, name)
            if arr is not None:
                data[name] = arr
                ids = unit if ids is None else ids
    else:
        raise InputError(f"{path} not found: give Minian's output folder or netCDF file")
    missing = [n for n in ("A", "C") if n not in data]
    if missing:
        raise InputError(
            f"{path} is not a Minian result: no {' or '.join(missing)} (expected "
            f"{', '.join(m + '.zarr' for m in missing)} or a netCDF file with them)"
        )
    if not fps:
        raise InputError("Minian results do not store the frame rate: give it (--fps)")
    A, C = data["A"], np.atleast_2d(data["C"]).astype(float)
    if len(A) != len(C):
        raise InputError(f"{path}: A has {len(A)} units but C {len(C)}")
    return imported_result(
        "Minian", A, C, fps=float(fps), ids=ids if ids is not None else np.arange(len(A)),
        denoised=C, spikes=data.get("S"),
    )  # fmt: skip
