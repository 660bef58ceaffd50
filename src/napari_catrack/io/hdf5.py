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


CHUNKS_DIGEST = "catrack_chunks_sha256"
"""A session dataset's attribute: SHA-256 of its compressed chunks as stored (`stamp_chunks`)."""


def _deflate_bit(ds: h5py.Dataset) -> int | None:
    """The filter-mask bit of deflate for a chunked dataset filtered by deflate (and shuffle
    only), else None: what `damaged_chunk` can check."""
    if ds.chunks is None:
        return None
    plist = ds.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if h5py.h5z.FILTER_DEFLATE not in filters or any(
        f not in (h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE) for f in filters
    ):
        return None
    return 1 << filters.index(h5py.h5z.FILTER_DEFLATE)


def _chunk_infos(ds: h5py.Dataset) -> list:
    """The dataset's stored chunks, in the order of their positions in the array."""
    infos: list = []
    if hasattr(ds.id, "chunk_iter"):  # h5py >= 3.8 with HDF5 >= 1.12.3: one pass
        ds.id.chunk_iter(infos.append)
    else:
        infos = [ds.id.get_chunk_info(i) for i in range(ds.id.get_num_chunks())]
    return sorted(infos, key=lambda info: tuple(info.chunk_offset))


COPY_BY_CHUNKS_BYTES = 4 << 20
"""A dataset storing more than this is copied chunk by chunk (`copy_as_stored`), not by H5Ocopy."""


def copy_as_stored(ds: h5py.Dataset, group: h5py.Group, name: str) -> None:
    """Copy `ds` into `group` (another file) as `name` with its compressed chunks as stored
    (nothing decompressed), its creation properties (chunks, filters, fill value) and its
    attributes: what HDF5's H5Ocopy (`Group.copy`) does, byte for byte in each chunk.

    H5Ocopy is one h5py call, and h5py holds its global lock for a whole call: while the
    background writer copied a long video's masks, every HDF5 read in napari's main thread (a
    time-slider step on an HDF5 recording) waited for the whole copy. A large dataset is
    therefore copied one chunk per call (`read_direct_chunk`/`write_direct_chunk`), so a read
    waits one chunk at most; a small one, or one with no chunks, still by H5Ocopy."""
    if (
        ds.chunks is None
        or ds.id.get_storage_size() <= COPY_BY_CHUNKS_BYTES
        or ds.dtype.kind not in "biufc"
        or not _attrs_plain(ds)
    ):
        group.copy(ds, group, name=name)
        return
    new = h5py.Dataset(
        h5py.h5d.create(
            group.id, name.encode(), ds.id.get_type(), ds.id.get_space(),
            dcpl=ds.id.get_create_plist(),
        )
    )  # fmt: skip
    try:
        _copy_attrs(ds, new)
        for info in _chunk_infos(ds):  # (unwritten chunks stay unwritten: the fill value)
            mask, data = ds.id.read_direct_chunk(info.chunk_offset)
            new.id.write_direct_chunk(info.chunk_offset, data, mask)
    except BaseException:
        del group[name]
        raise


def _attrs_plain(ds: h5py.Dataset) -> bool:
    """Whether `_copy_attrs` can copy every attribute of `ds`: none holds an object reference
    or a variable-length sequence (a dimension scale's DIMENSION_LIST holds both), which read
    into a buffer in their file type crashed the process (segmentation fault); H5Ocopy copies
    those."""
    for aname in ds.attrs:
        key = aname.encode() if isinstance(aname, str) else aname
        htype = h5py.h5a.open(ds.id, key).get_type()
        if htype.detect_class(h5py.h5t.REFERENCE) or htype.detect_class(h5py.h5t.VLEN):
            return False
    return True


def _copy_attrs(src: h5py.HLObject, dst: h5py.HLObject) -> None:
    """Every attribute of `src` onto `dst` with its HDF5 type and shape as stored."""
    for aname in src.attrs:
        key = aname.encode() if isinstance(aname, str) else aname
        attr = h5py.h5a.open(src.id, key)
        htype, space = attr.get_type(), attr.get_space()
        out = h5py.h5a.create(dst.id, key, htype, space)
        if space.get_simple_extent_type() == h5py.h5s.NULL:
            continue  # an empty attribute: nothing to copy
        buf = np.empty(attr.shape, dtype=attr.dtype)
        attr.read(buf, mtype=htype)
        out.write(buf, mtype=htype)


def _chunks_digest(ds: h5py.Dataset, infos: list) -> str:
    import hashlib

    digest = hashlib.sha256()
    for info in infos:
        mask, data = ds.id.read_direct_chunk(info.chunk_offset)
        digest.update(np.asarray(info.chunk_offset, np.int64).tobytes())
        digest.update(int(mask).to_bytes(4, "little"))
        digest.update(data)
    return digest.hexdigest()


def _chunk_bytes(ds: h5py.Dataset) -> int | None:
    """Bytes of one chunk inflated, or None where the file does not fix it: a variable-length
    type (a session table's string column) stores a heap reference per element, whose size is
    neither numpy's object itemsize nor the type's size (only zlib's checksum is checked)."""
    tid = ds.id.get_type()
    if tid.get_class() == h5py.h5t.VLEN or (
        tid.get_class() == h5py.h5t.STRING and tid.is_variable_str()
    ):
        return None
    return int(np.prod(ds.chunks)) * tid.get_size()


def _checked_datasets(f: h5py.Group) -> list[tuple[str, h5py.Dataset, int]]:
    found: list = []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and (bit := _deflate_bit(obj)) is not None:
            found.append((name, obj, bit))

    f.visititems(visit)
    return found


UNCHECKED = "catrack_chunks_unchecked"
"""A session dataset's attribute: copied as stored (never read) from a file that had no digest
for it (`mark_copied`), so no digest may vouch for its chunks: `damaged_chunk` inflates them."""


def mark_copied(ds: h5py.Dataset, checked: bool) -> None:
    """After copying `ds` as stored (unread): one without a digest (an earlier version's
    session) is marked `UNCHECKED` unless every chunk of the file it came from was `checked`
    (`damaged_chunk` found none damaged); `stamp_chunks` stamps only unmarked ones."""
    if checked:
        if UNCHECKED in ds.attrs:
            del ds.attrs[UNCHECKED]
    elif CHUNKS_DIGEST not in ds.attrs:
        ds.attrs[UNCHECKED] = True


def stamp_chunks(group: h5py.Group) -> None:
    """Store with each compressed dataset under `group` (a file: all) that has none yet the
    digest of its chunks as stored (`CHUNKS_DIGEST`), so `damaged_chunk` checks it by reading
    the compressed bytes only.

    Called by every session write before its file closes, on what it wrote. A dataset copied
    from an earlier file as stored (`H5Ocopy`) keeps its attribute, which stays true: its
    chunks are copied as they were; one copied without a digest is marked `UNCHECKED` and not
    stamped (a digest of bytes nobody read would vouch for damage). Costs one read and hash of
    the compressed bytes written from memory.
    """
    group.file.flush()
    for _name, ds, _bit in _checked_datasets(group):
        if CHUNKS_DIGEST not in ds.attrs and not ds.attrs.get(UNCHECKED, False):
            ds.attrs[CHUNKS_DIGEST] = _chunks_digest(ds, _chunk_infos(ds))


def damaged_chunk(path: str | os.PathLike) -> str | None:
    """Where a deflate-compressed chunk of an HDF5 file is damaged (one line), else None.

    A dataset stamped at save (`stamp_chunks`) is checked against that digest: its compressed
    bytes read and hashed, nothing inflated; only when they differ are its chunks inflated as
    below (a dataset rewritten in place by another program is not damaged). One without (a
    session saved by an earlier version) is checked chunk by chunk: each is a zlib stream
    ending in an Adler-32 checksum of its bytes, so inflating the chunks as stored (no shuffle
    undone, no array built, one chunk in memory at a time) finds garbage that the file's headers
    and a lazy open never see; this costs one inflate of every compressed byte. Chunks of other
    filters, or stored unfiltered, are not checked (they carry no checksum); a string column's
    chunks (variable length) by their checksum only. docs/batch.md has
    the times for a long session.
    """
    import zlib

    with h5py.File(path, "r") as f:
        for name, ds, bit in _checked_datasets(f):
            infos = _chunk_infos(ds)
            stored = ds.attrs.get(CHUNKS_DIGEST)
            if stored is not None and _chunks_digest(ds, infos) == str(stored):
                continue
            size = _chunk_bytes(ds)
            for info in infos:
                mask, data = ds.id.read_direct_chunk(info.chunk_offset)
                if mask & bit:  # stored without deflate
                    continue
                try:
                    inflated = len(zlib.decompress(data))
                    ok = size is None or inflated == size
                except zlib.error:
                    ok = False
                if not ok:
                    where = ", ".join(str(int(o)) for o in info.chunk_offset)
                    return f"compressed chunk at ({where}) of /{name} is damaged"
            # (a digest that differs while every chunk inflates: written in place by another
            # program, such as h5py by hand; not damage, so the file is not set aside)
    return None
