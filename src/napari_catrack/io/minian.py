"""Read Minian's results (`save_minian` zarr folders, or one netCDF file) as sources.

Minian saves each result with `save_minian(var.rename(name), dpath)`: an xarray Dataset written
by `to_zarr` to `dpath/<name>.zarr`, holding the variable `<name>` and its coordinates, each a
zarr array whose dimensions are named by the attribute `_ARRAY_DIMENSIONS` (zarr v2, what
Minian's pinned zarr 2 writes) or by `dimension_names` in zarr.json (zarr v3). `A` is (unit_id,
height, width) (the footprints), `C` (unit_id, frame) the denoised traces, `S` (unit_id, frame)
the spikes, `b0` and `c0` (unit_id, frame) each unit's baseline and initial decay, `b` (height,
width) and `f` (frame) the background, and `YrA` (unit_id, frame, an intermediate result) the
raw trace (C + b0 + c0 + residual); `open_minian` also accepts a single netCDF file with the
same variables, which is an HDF5 file whose dimensions are HDF5 dimension scales. Both are read
here without xarray.

A is read a block of stored chunks at a time straight into sparse `Footprints`
(`_sparse_units`): a unit covers a few hundred pixels of its frame, but the stored array is
dense, K full frames (2,000 units of 1,024² in float64 are 16.8 GB); peak memory is about one
block (`BLOCK_BYTES`, or one stored chunk when a chunk is larger) plus the non-zero pixels.

Every per-unit array is matched to A by its `unit_id` coordinate (each array keeps its own
order); different unit sets are refused. dF/F: raw = C (or YrA - b0 - c0), on a baseline of
b0 plus the background under the footprint, a·b f / |a|^2 (core/sources/dff.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
from scipy import sparse

from napari_catrack.core.sources.footprints import Footprints
from napari_catrack.core.sources.imported import imported_result
from napari_catrack.errors import InputError

DIMS = {
    "A": ("unit_id", "height", "width"),
    "C": ("unit_id", "frame"),
    "S": ("unit_id", "frame"),
    "YrA": ("unit_id", "frame"),
    "b0": ("unit_id", "frame"),
    "c0": ("unit_id", "frame"),
    "b": ("height", "width"),
    "f": ("frame",),
}
BLOCK_BYTES = 32 * 2**20  # A is read this much (dense) at a time, then kept sparse


def _order(arr: np.ndarray, dims: list[str], name: str, where: str) -> np.ndarray:
    want = DIMS[name]
    if sorted(dims) != sorted(want):
        raise InputError(f"{where}: {name} has dimensions {dims}, Minian's has {list(want)}")
    return np.transpose(arr, [dims.index(d) for d in want])


def _tile(shape: tuple[int, int, int], chunk: tuple[int, int, int], itemsize: int) -> list[int]:
    """The (units, height, width) block read at a time: whole stored chunks (each decompressed
    once), as many as fit in `BLOCK_BYTES`, along width, then height, then units; one chunk
    when a chunk alone is larger (zarr and HDF5 decompress a whole chunk anyway)."""
    tile = [max(1, min(c, s)) for c, s in zip(chunk, shape, strict=True)]  # (a run of 0 units)
    budget = max(1, BLOCK_BYTES // itemsize)
    for d in (2, 1, 0):
        rest = int(np.prod(tile)) // tile[d]
        n = max(1, budget // max(1, rest * tile[d]))  # how many chunks along d fit
        tile[d] = max(1, min(shape[d], tile[d] * n))
    return tile


def _cat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _sparse_units(arr, dims: list[str], where: str) -> Footprints:
    """Minian's A, stored in any dimension order (a zarr array or an h5py dataset), read a block
    of whole chunks at a time (`_tile`) into sparse footprints: never the whole dense (unit,
    height, width) array, only its non-zero pixels."""
    want = DIMS["A"]
    if sorted(dims) != sorted(want):
        raise InputError(f"{where}: A has dimensions {dims}, Minian's has {list(want)}")
    order = [dims.index(d) for d in want]  # stored axis of unit_id, height, width
    shape = tuple(int(arr.shape[i]) for i in order)
    k, h, w = shape
    stored = getattr(arr, "chunks", None)  # h5py: None for a contiguous dataset (any slice)
    chunk = tuple(int(stored[i]) for i in order) if stored else (1, h, w)
    tile = _tile(shape, chunk, np.dtype(arr.dtype).itemsize)
    units, pixels, values = [], [], []
    for u0 in range(0, k, tile[0]):
        for y0 in range(0, h, tile[1]):
            for x0 in range(0, w, tile[2]):
                want_sel = (slice(u0, u0 + tile[0]), slice(y0, y0 + tile[1]), slice(x0, x0 + tile[2]))  # fmt: skip
                sel = [want_sel[order.index(i)] for i in range(3)]  # in the stored order
                block = np.transpose(np.asarray(arr[tuple(sel)]), order)  # (units, y, x)
                u, y, x = np.nonzero(block)
                values.append(block[u, y, x].astype(np.float32))
                units.append(u + u0)
                pixels.append((y + y0).astype(np.int64) * w + (x + x0))
                del block
    m = sparse.coo_matrix(
        (_cat(values, np.float32), (_cat(pixels, np.int64), _cat(units, np.int64))),
        shape=(h * w, k),
    ).tocsc()  # canonical: sorted pixel indices per unit
    return Footprints(m, (h, w))


def _dims(arr) -> list[str]:
    """An array's dimension names: zarr v3 `dimension_names`, or v2's `_ARRAY_DIMENSIONS`."""
    names = getattr(getattr(arr, "metadata", None), "dimension_names", None)
    if names:
        return [str(n) for n in names]
    return list(arr.attrs.get("_ARRAY_DIMENSIONS", []))


def _read_zarr(folder: Path, name: str):
    import zarr

    store = folder / f"{name}.zarr"
    if not store.is_dir():
        return None, None
    try:
        group = zarr.open_group(str(store), mode="r")
        arr = group[name]
        if name == "A":  # sparse, a block of units at a time
            data = _sparse_units(arr, _dims(arr), str(store))
        else:
            data = _order(np.asarray(arr[...]), _dims(arr), name, str(store))
        ids = np.asarray(group["unit_id"][...]) if "unit_id" in DIMS[name] and "unit_id" in group else None  # fmt: skip
    except KeyError as exc:
        raise InputError(f"{store} is not a Minian result ({exc} missing)") from None
    except (ValueError, RuntimeError, OSError) as exc:  # damaged metadata (JSON) or chunks
        raise InputError(f"cannot read {store}: {exc}") from None
    return data, ids


def _read_netcdf(path: Path):
    out, ids = {}, {}
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise InputError(
            f"{path.name} is not a netCDF-4 (HDF5) file, so not a Minian result"
        ) from None
    with f:
        unit = f["unit_id"][()] if "unit_id" in f else None
        for name in DIMS:
            if name in f:
                ds = f[name]
                dims = [d[0].name.strip("/") if len(d) else "" for d in ds.dims]
                if name == "A":  # sparse, a block of units at a time
                    out[name] = _sparse_units(ds, dims, path.name)
                else:
                    out[name] = _order(ds[()], dims, name, path.name)
                ids[name] = unit if "unit_id" in DIMS[name] else None
    return out, ids


def _align(data: dict, ids: dict, where: Path) -> np.ndarray:
    """Put every per-unit array in A's unit order (in place); A's unit ids."""
    n = len(data["A"])
    ref = ids.get("A")
    if ref is not None and len(np.unique(ref)) != len(ref):
        raise InputError(f"{where}: A's unit_id has repeated values: not a Minian result?")
    for name in [k for k in data if k != "A" and "unit_id" in DIMS[k]]:
        own, arr = ids.get(name), data[name]
        if ref is None or own is None:  # no coordinates to match: the same count, in row order
            if len(arr) != n:
                raise InputError(f"{where}: A has {n} units but {name} {len(arr)}")
            continue
        if len(own) != len(arr) or set(own.tolist()) != set(ref.tolist()) or len(np.unique(own)) != len(own):  # fmt: skip
            only_a = sorted(set(ref.tolist()) - set(own.tolist()))
            only_x = sorted(set(own.tolist()) - set(ref.tolist()))
            what = (f"units {only_a[:5]} only in A" if only_a else "") + (
                ("; " if only_a else "") + f"units {only_x[:5]} only in {name}" if only_x else ""
            )
            raise InputError(
                f"{where}: A and {name} hold different units ({len(ref)} and {len(own)}"
                f"{': ' + what if what else ''}): from different runs or steps?"
            )
        pos = {u: i for i, u in enumerate(own.tolist())}
        data[name] = arr[[pos[u] for u in ref.tolist()]]
    return ref if ref is not None else np.arange(n)


def _background(A: Footprints, data: dict, t: int, where: Path):
    """b0 plus the background b f under each footprint (K, T) in C's units, or None (a·b from
    the sparse footprints: no dense copy of A)."""
    parts = []
    if "b0" in data:
        parts.append(np.asarray(data["b0"], float))
    if "b" in data and "f" in data:
        b, f = np.asarray(data["b"], float), np.asarray(data["f"], float)
        if b.shape != A.shape[1:] or f.shape != (t,):
            raise InputError(
                f"{where}: the background b is {b.shape} and f {f.shape}, but A's frame is "
                f"{A.shape[1:]} and C has {t} frames: from different runs?"
            )
        m = A.matrix  # (pixels, K) float32
        cols = np.repeat(np.arange(len(A)), np.diff(m.indptr))
        v = m.data.astype(float)
        norm2 = np.bincount(cols, v * v, len(A))
        ab = np.bincount(cols, v * np.nan_to_num(b).ravel()[m.indices], len(A))
        parts.append(np.outer(ab / np.where(norm2 > 0, norm2, 1.0), np.nan_to_num(f)))
    if not parts:
        return None
    bg = sum(parts)
    return bg if np.any(bg) else None


def read_minian(path: str | os.PathLike, *, fps: float | None = None, baseline_window_s: float | None = None):  # fmt: skip
    path = Path(path)
    if path.is_file():
        data, ids = _read_netcdf(path)
    elif path.is_dir():
        if path.suffix == ".zarr" and any((path.parent / f"{n}.zarr").is_dir() for n in ("A", "C")):  # fmt: skip
            raise InputError(
                f"{path} is one of Minian's arrays: give the folder that holds A.zarr and C.zarr "
                f"({path.parent})"
            )
        data, ids = {}, {}
        for name in DIMS:
            arr, unit = _read_zarr(path, name)
            if arr is not None:
                data[name], ids[name] = arr, unit
    else:
        raise InputError(f"{path} not found: give Minian's output folder or netCDF file")
    missing = [n for n in ("A", "C") if n not in data]
    if missing:
        hint = " (a .zarr store itself: give the folder that holds A.zarr)" if path.suffix == ".zarr" else ""  # fmt: skip
        raise InputError(
            f"{path} is not a Minian result: no {' or '.join(missing)} (expected "
            f"{', '.join(m + '.zarr' for m in missing)} or a netCDF file with them){hint}"
        )
    if not fps:
        raise InputError("Minian results do not store the frame rate: give it (--fps)")
    units = _align(data, ids, path)
    A, C = data["A"], np.atleast_2d(data["C"]).astype(float)
    t = C.shape[1]
    for name in ("S", "YrA", "b0", "c0"):
        if name in data and np.shape(data[name]) != C.shape:
            raise InputError(f"{path}: {name} is {np.shape(data[name])} but C {C.shape}: from different runs?")  # fmt: skip
    notes = [f"fs {float(fps):g} Hz (given)"]
    if "YrA" in data:
        raw = np.asarray(data["YrA"], float) - sum(np.asarray(data[n], float) for n in ("b0", "c0") if n in data)  # fmt: skip
        notes.append("raw = YrA" + "".join(f" - {n}" for n in ("b0", "c0") if n in data))
    else:
        raw = C
    bg = _background(A, data, t, path)
    used = [n for n in ("b0",) if n in data] + (["b, f"] if "b" in data and "f" in data else [])
    notes.append(
        f"dF/F relative to the baseline plus {' and '.join(used)} under each footprint"
        if bg is not None
        else "no b0, b or f in the result: dF/F relative to the trace's own baseline"
    )
    return imported_result(
        "Minian", A, raw, fps=float(fps), ids=units, denoised=C, spikes=data.get("S"),
        background=bg, baseline="caiman", notes=notes, baseline_window_s=baseline_window_s,
    )  # fmt: skip
