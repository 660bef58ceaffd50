"""Lazy TIFF reading: multi-page stacks, ImageJ hyperstacks, OME-TIFF and folders/globs of frames.

Nothing reads pixel data at open: contiguous files are memory-mapped, compressed ones are wrapped
through tifffile's zarr store, and file sequences become one dask chunk per file. The memory map
of a contiguous file can also be handed out as it is (`open_tiff(memmap=True)`): a numpy view is
just as lazy, and a command that reads every frame once skips dask's per-frame tasks.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tifffile
from natsort import natsorted

from napari_catrack._tifffile_log import hold as _tifffile_log_held
from napari_catrack.errors import InputError
from napari_catrack.io.tiff_header import (  # noqa: F401 (their home since h22; read here)
    RawStack,
    _chain_is_cut,
    _check_complete,
    _describe,
    _one_series,
    _physical_metadata,
)

if TYPE_CHECKING:  # dask is imported where a lazy array is built (memmap=True never needs it)
    import dask.array as da

TIFF_SUFFIXES = (".tif", ".tiff", ".ome.tif", ".ome.tiff", ".btf", ".tf8")


def is_tiff_path(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(TIFF_SUFFIXES)


def open_tiff(path: str | os.PathLike, *, memmap: bool = False) -> RawStack:
    """Open one TIFF file lazily (memmap when contiguous, zarr store otherwise).

    The data is a dask array of one chunk per image plane (what viewers slice), or with
    `memmap=True` and an uncompressed, contiguous file the read-only memory map itself as a numpy
    array (for commands that read frames straight through; compressed files stay dask).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    with _tifffile_log_held() as held:
        try:
            tif = tifffile.TiffFile(path)
        except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as exc:
            raise InputError(
                f"{path.name} is not a readable TIFF (truncated or corrupt?): {exc}"
            ) from None
        try:
            # a file written page by page is opened again as one series: its rate and pixel
            # size are those its first page's description gives
            first = _physical_metadata(tif) if len(tif.series) > 1 else None
            tif = _one_series(path, tif)
            series = tif.series[0]
            shape, dtype, axes = tuple(series.shape), np.dtype(series.dtype), series.axes
            _check_complete(path, tif, series)
            data = _lazy_series(path, tif, series, memmap)
            fps, pixel_size = first or _physical_metadata(tif)
        except InputError:
            tif.close()
            raise
        except Exception as exc:  # tifffile raises many types for damaged files
            tif.close()
            raise InputError(
                f"{path.name} is not a readable TIFF (truncated or corrupt?): {exc}"
            ) from None
        held.pass_on()  # opened: tifffile's own notes (if any) are passed on as they were
    meta = {"format": "ome-tiff" if tif.is_ome else ("imagej-tiff" if tif.is_imagej else "tiff")}
    meta.update({"shape": shape, "dtype": str(dtype), "file_axes": axes})
    start = _map_start(tif, series)
    if start is not None:  # a memory map reads the pixels: the handle is done with now, not
        # when a layer that keeps the map is garbage-collected (ResourceWarning)
        tif.close()
        mapped = None
        if isinstance(data, np.ndarray):
            mapped = (path, data.__array_interface__["data"][0], start)
        return RawStack(data, axes, fps, pixel_size, meta, mapped=mapped)
    return RawStack(data, axes, fps, pixel_size, meta, closers=[tif.close])


class _SliceOnly:
    """Expose only slicing of a memory map: dask copies array-likes that have `.copy()`.

    Each read first checks that the mapped file still holds every byte the map covers: reading
    a page of a file that another program shortened or rewrote meanwhile (an acquisition program
    restarting its file) is a SIGBUS, which kills the whole process (napari, unsaved work and
    all). A file replaced by name (or deleted) is no danger: the map keeps the old one alive.
    """

    def __init__(self, array: np.ndarray, path: Path | None = None, end: int = 0) -> None:
        self._array, self._path, self._end = array, path, end
        self._ino = os.stat(path).st_ino if path is not None else None
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, item):
        if self._path is not None:
            try:
                st = os.stat(self._path)
            except OSError:
                st = None
            size = st.st_size if st is not None and st.st_ino == self._ino else self._end
            if size < self._end:
                raise InputError(
                    f"{self._path.name} changed on disk while it was being read: it now has "
                    f"{size} bytes, {self._end} are needed (another program, such as the "
                    "acquisition, shortened or rewrote it); open it again once it is written"
                )
        return np.asarray(self._array[item])


class FileFrames:
    """A (T, ...) stack of a contiguous TIFF read with plain file reads (`os.pread`), for the
    commands that read frames with numpy (`open_recording(memmap=True)`: track, align, detect).

    It stands for a numpy view of the file's memory map (`view`, any channel layout's strides)
    but never reads pixels through the map: a page of a map whose file another program shortened
    meanwhile is a SIGBUS, which kills Python; a short read here is one `InputError` line. A
    file replaced under the same name (another inode) is the same error, not silently the new
    file's pixels. Indexing the first axis (an int, a slice, a list or array of frames), then
    any index of the frames read, gives numpy arrays; frames next to each other in the file are
    read in one call.
    """

    READ_BYTES = 32 * 2**20  # at most this much in one read (more frames: more reads)
    reads_on_demand = True  # (like a dask array: `np.asarray` of it reads every frame)

    def __init__(self, view: np.ndarray, path: Path, offset: int, ino: int | None = None) -> None:
        self._view, self._path, self._offset = view, Path(path), int(offset)
        self._ino = os.stat(path).st_ino if ino is None else ino
        self.shape, self.dtype, self.ndim = view.shape, view.dtype, view.ndim
        self.nbytes = view.nbytes
        # bytes one frame spans in the file, from its first byte (`lo` before the frame's start)
        inner = list(zip(view.shape[1:], view.strides[1:]))
        self._lo = sum(min(0, (n - 1) * s) for n, s in inner)
        self._span = sum(max(0, (n - 1) * s) for n, s in inner) - self._lo + view.itemsize

    @staticmethod
    def fits(view: np.ndarray) -> bool:
        """Whether a frame's bytes lie close together (not a T-innermost file's scattered
        pixels, where each frame would read the whole file)."""
        if view.ndim < 2 or not view.shape[0] or view.strides[0] <= 0:
            return False
        inner = list(zip(view.shape[1:], view.strides[1:]))
        span = sum(abs((n - 1) * s) for n, s in inner) + view.itemsize
        return span <= 4 * max(view[0].nbytes, 1)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        data = self[:]
        return data if dtype is None else data.astype(dtype, copy=False)

    def __getitem__(self, item) -> np.ndarray:
        first, rest = (item[0], item[1:]) if isinstance(item, tuple) else (item, ())
        if first is Ellipsis:
            first, rest = slice(None), ((Ellipsis, *rest) if len(rest) else ())
        source = self
        rows = rest[0] if rest and self.ndim > 2 else None
        if (
            isinstance(rows, slice)
            and rows != slice(None)
            and len(range(*rows.indices(self.shape[1])))
        ):
            view = self._view[:, rows]  # only these rows are read
            moved = view.__array_interface__["data"][0] - self._view.__array_interface__["data"][0]
            source = FileFrames(view, self._path, self._offset + moved, self._ino)
            rest = (slice(None), *rest[1:])
        frames = np.arange(self.shape[0])[first]
        read = source._read(np.atleast_1d(frames).ravel())
        # the frames read stand for `first`: the same index into them, numpy's own rules after
        if isinstance(first, slice):
            at = slice(None)
        elif frames.ndim == 0:
            at = 0
        else:
            at = np.arange(frames.size).reshape(frames.shape)
        return read[(at, *rest)]

    def _read(self, frames: np.ndarray) -> np.ndarray:
        out = np.empty((len(frames), *self.shape[1:]), self.dtype)
        if not len(frames):
            return out
        step = self._view.strides[0]
        start = self._offset + self._lo
        # frames stored as `out` holds them (one channel, whole frames): read straight into it
        direct = self._lo == 0 and self._view[:1].flags.c_contiguous and step == out[0].nbytes
        with open(self._path, "rb", buffering=0) as f:
            if os.fstat(f.fileno()).st_ino != self._ino:
                self._changed(None)
            i = 0
            while i < len(frames):  # runs of consecutive frames: one read each
                j = i + 1
                while (
                    j < len(frames)
                    and frames[j] == frames[j - 1] + 1
                    and (j - i) * step + self._span <= self.READ_BYTES
                ):
                    j += 1
                t0, n = int(frames[i]), j - i
                want = (n - 1) * step + self._span
                buf = out[i:j] if direct else np.empty(want, np.uint8)
                self._read_into(f, memoryview(buf).cast("B"), start + t0 * step)
                if not direct:
                    out[i:j] = np.ndarray(
                        (n, *self.shape[1:]), self.dtype, buf, -self._lo, self._view.strides
                    )
                i = j
        return out

    def _read_into(self, f, into: memoryview, offset: int) -> None:
        """Fill `into` from `offset`: a file that ends first changed on disk (one line)."""
        f.seek(offset)
        done = 0
        while done < len(into):
            got = f.readinto(into[done:])
            if not got:
                self._changed(os.fstat(f.fileno()).st_size)
            done += got

    def _changed(self, size: int | None) -> None:
        now = "was replaced by another file" if size is None else f"now has {size} bytes"
        raise InputError(
            f"{self._path.name} changed on disk while it was being read: it {now} (another "
            "program, such as the acquisition, shortened or rewrote it); open it again once it "
            "is written"
        )


def file_frames(view: np.ndarray, mapped: tuple[Path, int, int]) -> FileFrames | np.ndarray:
    """`view` (of the memory map `mapped` = (path, address of the map, file offset of it)) as a
    `FileFrames`; a view whose frames scatter over the file stays as it is, a dask array too."""
    path, address, offset = mapped
    if not isinstance(view, np.ndarray) or not FileFrames.fits(view):  # (a Z axis: dask)
        return view
    return FileFrames(view, path, offset + view.__array_interface__["data"][0] - address)


def _mappable(tif: tifffile.TiffFile, series) -> bool:
    """Whether the series' pixels can be memory-mapped as they are: contiguous, and in this
    machine's byte order. tifffile's dtype is native whatever the file's: a big-endian file
    (ImageJ/Fiji write big-endian by default) mapped with it read every 16-bit pixel
    byte-swapped (1 read as 256); such a file goes through tifffile's store, which swaps."""
    if series.dataoffset is None:
        return False
    return np.dtype(series.dtype).newbyteorder(tif.byteorder).isnative


def _page_step(tif: tifffile.TiffFile, series) -> tuple[int, int] | None:
    """(first pixel's offset, bytes from one page's pixels to the next's) of a stack of
    one-image pages stored uncompressed, one segment each, at evenly spaced offsets (a file
    written page by page: each page's description and tags between its pixels and the next's),
    in this machine's byte order; else None. Such pages map as one strided view (h22)."""
    pages = series.pages
    if len(series.shape) < 3 or len(pages) != series.shape[0] or len(pages) < 2:
        return None
    if not np.dtype(series.dtype).newbyteorder(tif.byteorder).isnative:
        return None
    size = int(np.prod(series.shape[1:])) * np.dtype(series.dtype).itemsize
    offsets = []
    for page in pages:
        key = page.keyframe  # (a page's own; a TiffFrame's is the page it repeats)
        if key.compression != 1 or tuple(key.shape) != tuple(series.shape[1:]):
            return None
        if len(page.dataoffsets) != 1 or int(page.databytecounts[0]) != size:
            return None
        offsets.append(int(page.dataoffsets[0]))
    step = offsets[1] - offsets[0]
    if step < size or np.any(np.diff(offsets) != step):
        return None
    return offsets[0], step


def _map_start(tif: tifffile.TiffFile, series) -> int | None:
    """Where the pixels a memory map of the series reads start in the file, or None when the
    series is not mapped (compressed, big-endian, pages scattered)."""
    if _mappable(tif, series):
        return int(series.dataoffset)
    step = _page_step(tif, series) if series.dataoffset is None else None
    return None if step is None else step[0]


def _lazy_series(
    path: Path, tif: tifffile.TiffFile, series, memmap: bool = False
) -> da.Array | np.ndarray:
    chunks = tuple(s if a in "YXS" else 1 for a, s in zip(series.axes, series.shape))
    stepped = _page_step(tif, series) if series.dataoffset is None else None
    if _mappable(tif, series) or stepped is not None:
        shape, dtype = tuple(series.shape), np.dtype(series.dtype)
        if stepped is None:
            mm = np.memmap(path, dtype=dtype, mode="r", offset=series.dataoffset, shape=shape)
            start, view = int(series.dataoffset), mm
        else:  # evenly spaced pages: one strided view of a map from the first page's pixels
            start, step = stepped
            frame = int(np.prod(shape[1:])) * dtype.itemsize
            mm = np.memmap(path, np.uint8, mode="r", offset=start,
                           shape=((shape[0] - 1) * step + frame,))  # fmt: skip
            inner = tuple(
                int(np.prod(shape[i + 1 :])) * dtype.itemsize for i in range(1, len(shape))
            )
            view = np.ndarray(shape, dtype, buffer=mm, strides=(step, *inner))
        if memmap:  # a plain ndarray view of the map: no copy, no memmap-subclass surprises
            return np.asarray(view)
        import dask.array as da

        end = start + int(mm.nbytes)
        return da.from_array(_SliceOnly(view, path, end), chunks=chunks, asarray=True,
                             name=f"tiff-mm-{path}")  # fmt: skip
    import dask.array as da
    import zarr

    store = series.aszarr()
    z = zarr.open(store, mode="r")
    if isinstance(z, zarr.Group):  # pyramidal files: level 0 is full resolution
        z = z["0"]
    frame_chunks = tuple(s if a in "YXS" else 1 for a, s in zip(series.axes, series.shape))
    return da.from_zarr(z).rechunk(frame_chunks)  # strips -> whole planes, what viewers read


# Seconds per time unit and micrometres per length unit, as ImageJ (`tunit`, `unit`) and OME
# (`TimeIncrementUnit`, `PhysicalSizeXUnit`) name them. A value in a unit not listed here is not
# used (the rate/pixel size is then unknown and can be given), never read as seconds/µm.
def expand_sequence(spec: str | os.PathLike) -> list[Path]:
    """A folder or glob pattern -> its frame files in natural order (frame2 before frame10), as
    `open_tiff_sequence` reads them (`sequence_files`, less its notes)."""
    return sequence_files(spec)[0]


#: Image files other than TIFF that a folder or glob is read as frames from (with Pillow)
IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}
# which kind of frame files is read when a folder mixes kinds that cannot be one movie and as
# many files of each: the lossless ones first
_KIND_ORDER = ("TIFF", "PNG", "BMP", "JPEG")


def is_hidden_file(path: str | os.PathLike) -> bool:
    """A hidden file (name starting with "."): never a frame of a folder (".DS_Store", macOS's
    "._frame001.tif" Finder-metadata copies), as a `*` pattern skips it."""
    return Path(path).name.startswith(".")


def is_frame_image_path(path: str | os.PathLike) -> bool:
    """A PNG/JPEG/BMP file: a frame of a folder or glob (with Pillow)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def frame_file_kind(path: str | os.PathLike) -> str | None:
    """ "TIFF", "PNG", "JPEG" or "BMP" for a frame file, else None."""
    return "TIFF" if is_tiff_path(path) else IMAGE_SUFFIXES.get(Path(path).suffix.lower())


def sequence_kind(files: list[Path]) -> str:
    """ "TIFF", "PNG", "JPEG" or "BMP": the kind of the frame files `expand_sequence` gave
    ("TIFF+PNG", kinds in that order, for a folder whose frames mix kinds)."""
    kinds = {frame_file_kind(f) for f in files}
    return "+".join(k for k in _KIND_ORDER if k in kinds)


def sequence_files(spec: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """A folder or glob pattern -> (its frame files in natural order, notes for the user).

    A folder of one kind of frame file (TIFF, PNG, JPEG or BMP) is those files. A folder that
    mixes kinds (TIFF frames and a PNG preview, PNGs and JPEGs) is never read silently: as
    ImageJ's Import > Image Sequence does, every frame file is read in name order when the first
    file of each kind has one size and kind (grey or colour, bit depth) and no name is there in
    two kinds (frame7.tif and frame7.png: one frame saved twice); else only the kind that most
    files are (ties: TIFF, PNG, BMP, JPEG) is read. Either way a warning note names the counts
    and the files left out, and the pattern that reads one kind only.

    Hidden files (names starting with ".": macOS's "._frame001.tif" copies of a file's Finder
    metadata, ".DS_Store") are never frames, in a folder as in a pattern (`glob` skips them
    unless the pattern itself starts with "."): hidden frame-kind files skipped are said in
    one note."""
    spec = str(spec)
    if os.path.isdir(spec):
        entries = list(Path(spec).iterdir())
        found = [p for p in entries if not is_hidden_file(p)]
        hidden = natsorted((p for p in entries if is_hidden_file(p) and frame_file_kind(p)
                            and p.is_file()), key=str)  # fmt: skip
        where = f"folder {spec}"
    else:
        found, hidden = [Path(p) for p in glob.glob(spec)], []
        where = f"pattern {spec}"
    by_kind: dict[str, list[Path]] = {}
    for p in found:
        kind = frame_file_kind(p)
        if kind and p.is_file():
            by_kind.setdefault(kind, []).append(p)
    skipped = ""
    if hidden:
        names = ", ".join(p.name for p in hidden[:3]) + (", ..." if len(hidden) > 3 else "")
        skipped = (f"{len(hidden)} hidden file(s) in {where} skipped, not read as frames "
                   f"({names}): names starting with '.' are never frames (macOS writes "
                   "'._' copies of Finder metadata beside each file it copies)")  # fmt: skip
    if not by_kind:
        raise InputError(
            f"no TIFF, PNG or JPEG frames in {where}" + (f"; {skipped}" if skipped else "")
        )
    notes: list[str] = [skipped] if skipped else []
    if len(by_kind) == 1:
        files = next(iter(by_kind.values()))
    else:
        files, note = _mixed_frames(by_kind, where, spec)
        notes.append(note)
    return [Path(p) for p in natsorted(files, key=str)], notes


def _kind_pattern(by_kind: dict[str, list[Path]], kind: str) -> str | None:
    """A glob of file names ("*.tif", "*.tif*" for .tif and .tiff, "*.[jJ][pP]*" for .jpg and
    .JPEG) that selects exactly the `kind` files among the frame files found (as `glob` matches
    on this system), or None where no such one glob is found: the pattern a mixed folder's
    warning offers to read that kind only. The first file's suffix alone missed the others
    (`*.tif` left out the .tiff files of a folder holding both)."""
    import fnmatch

    def common_start(words: list[str]) -> str:  # of the characters, not of path parts
        n = 0
        while all(len(w) > n and w[n] == words[0][n] for w in words):
            n += 1
        return words[0][:n]

    suffixes = sorted({p.suffix for p in by_kind[kind]})
    prefix = common_start(suffixes)
    lower = common_start([x.lower() for x in suffixes])
    anycase = "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in lower[1:])
    rest = "" if len(suffixes) == 1 else "*"
    candidates = [f"*{prefix}{rest}"] if len(prefix) > 1 else []
    if len(lower) > 1:
        candidates.append(f"*.{anycase}{'' if len({x.lower() for x in suffixes}) == 1 else '*'}")
    want = {p.name for p in by_kind[kind]}
    names = [p.name for k in by_kind for p in by_kind[k]]
    for pattern in candidates:
        if {n for n in names if fnmatch.fnmatch(n, pattern)} == want:
            return pattern
    return None


def _mixed_frames(by_kind: dict[str, list[Path]], where: str, spec: str) -> tuple[list, str]:
    """The frame files read from a folder/glob of several kinds, and the warning that says so."""
    kinds = sorted(by_kind, key=lambda k: (-len(by_kind[k]), _KIND_ORDER.index(k)))
    counts = " and ".join(f"{len(by_kind[k])} {k}" for k in kinds)
    firsts = {k: natsorted(by_kind[k], key=str)[0] for k in kinds}
    looks = {k: _frame_header(f)[:2] for k, f in firsts.items()}
    stems: dict[str, set[str]] = {}
    for k in kinds:
        for p in by_kind[k]:
            stems.setdefault(p.stem.lower(), set()).add(k)
    twice = sorted((s for s, ks in stems.items() if len(ks) > 1), key=str)
    main = kinds[0]
    tail = _kind_pattern(by_kind, main)
    if tail is None:
        one_kind = f"a folder of the {main} files only"
    elif os.path.isdir(spec):
        one_kind = os.path.join(spec, tail)
    else:
        one_kind = f"a pattern ending {tail}"
    if len(set(looks.values())) == 1 and not twice:
        total = sum(map(len, by_kind.values()))
        return [p for k in kinds for p in by_kind[k]], (
            f"WARNING: {where} holds {counts} frame files of one size and kind: all {total} are "
            f"read as frames, in name order; to read one kind only, open {one_kind}"
        )
    if twice:
        why = f"the same names in two kinds, e.g. {twice[0]} (one frame saved twice)"
    else:
        why = ", ".join(f"{firsts[k].name} is {_describe(*looks[k])}" for k in kinds)
        why = f"the kinds differ in size or kind: {why}"
    left = natsorted((p for k in kinds[1:] for p in by_kind[k]), key=str)
    shown = ", ".join(p.name for p in left[:5]) + (", ..." if len(left) > 5 else "")
    return by_kind[main], (
        f"WARNING: {where} holds {counts} frame files ({why}): only the {len(by_kind[main])} "
        f"{main} files are read as frames; left out: {len(left)} file(s) ({shown}); open "
        f"{one_kind} to say so, or a pattern of another kind to read that one"
    )


def open_tiff_sequence(spec: str | os.PathLike, axes: str | None = None) -> RawStack:
    """A folder/glob of TIFF frame files (or PNG/JPEG/BMP images, or a mix: `sequence_files`)
    as one lazy movie, one chunk per frame. A folder of multi-page TIFFs (a camera's stacks of
    500 frames per file) is every page of every file in name order, as Fiji's Import > Image
    Sequence reads it (`io.tiff_sequence`; `axes` as `open_recording` takes them may say how).
    Every frame must have the first's size and kind (grey or colour, bit depth): frames of
    different sizes are refused, never padded. The notes of `sequence_files` (a folder mixing
    kinds, hidden files skipped) are the movie's `metadata["notes"]`."""
    files, notes = sequence_files(spec)
    if sequence_kind(files) != "TIFF":
        raw = _open_image_sequence(files)
    else:
        from napari_catrack.io.tiff_sequence import open_tiff_files

        raw = open_tiff_files(files, axes)
    if notes:
        raw.metadata["notes"] = [*notes, *raw.metadata.get("notes", [])]
    return raw


def sequence_frame_starts(
    spec: str | os.PathLike, axes: str | None = None
) -> tuple[list[Path], list[int]]:
    """The frame files of a folder/glob and the movie frame each starts at, as
    `open_tiff_sequence` numbers them (a multi-page TIFF or an animated PNG holds several):
    NWB's `starting_frame` of a linked recording. Headers only."""
    files = sequence_files(spec)[0]
    if sequence_kind(files) == "TIFF":
        from napari_catrack.io.tiff_sequence import frame_starts, sequence_layout

        return files, frame_starts(*sequence_layout(files, axes))
    counts = [_frame_header(f)[3] for f in files]
    return files, np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()


# Pillow modes read as another: alpha is no image channel (a grey PNG with alpha is grey, not two
# channels), bilevel images become 0/255 bytes, CMYK JPEGs RGB; palette images are resolved below.
_IMAGE_MODE_AS = {"1": "L", "LA": "L", "La": "L", "RGBA": "RGB", "RGBa": "RGB", "RGBX": "RGB",
                  "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "PA": "RGB"}  # fmt: skip


def _image_mode(img) -> str:
    """The Pillow mode a frame is read in: grey stays grey (8 or 16 bit), colour is RGB."""
    mode = img.mode
    if mode == "P":  # a palette of greys is a grey image; any other palette, colour
        pal = np.asarray(img.getpalette() or [], np.uint8)[: 3 * 256].reshape(-1, 3)
        return "L" if (pal == pal[:, :1]).all() else "RGB"
    return _IMAGE_MODE_AS.get(mode, mode)


def _frame_header(path: Path) -> tuple[tuple[int, ...], np.dtype, str | None, int]:
    """(frame shape, dtype, Pillow mode, frames) of one frame file, from its header only: a
    TIFF's first series (mode None; a stack of frames, such as a camera's multi-page file,
    gives its frames' shape and count: `io.tiff_sequence.TiffHead`), a PNG/JPEG/BMP image's
    size and mode (an animated PNG holds several frames; other kinds one)."""
    if is_tiff_path(path):  # a stack of frames (a camera's multi-page file): its frames
        from napari_catrack.io.tiff_sequence import tiff_head

        head = tiff_head(path)
        if head.pages_are_frames:
            return head.image_shape, head.dtype, None, head.n_images  # type: ignore[return-value]
        return head.shape, head.dtype, None, 1
    from PIL import Image  # Pillow (a dependency of its own: pyproject.toml)

    kind = IMAGE_SUFFIXES.get(path.suffix.lower(), "image")
    try:
        with Image.open(path) as img:
            mode = _image_mode(img)
            size = img.size
            # an animated PNG (APNG) is a movie of its own; a JPEG's extra pictures (MPO: a
            # camera's preview) are no frames
            frames = int(getattr(img, "n_frames", 1)) if kind == "PNG" else 1
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path.name} in the sequence is not a readable {kind}: {exc}") from None
    probe = np.asarray(Image.new(mode, (1, 1)))  # the dtype and samples of a pixel of `mode`
    return (size[1], size[0], *probe.shape[2:]), probe.dtype, mode, max(frames, 1)


def _read_image(path: Path, mode: str, shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        if img.mode != mode:
            img = img.convert(mode)
        data = np.asarray(img)
    if data.shape != shape:  # the file was replaced after the folder was opened
        _changed(path, data, shape)
    return data


def _changed(path: Path, data: np.ndarray, shape: tuple[int, ...]):
    raise InputError(
        f"{path.name} changed on disk: it is now {_describe(data.shape, data.dtype)}, the "
        f"sequence's frames are {_describe(shape, data.dtype)}; open the folder again"
    )


def _read_frame_file(
    path: Path, mode: str | None, shape: tuple[int, ...], n: int, first: int = 0
) -> np.ndarray:
    """The `n` frames (n, *shape) of one file of a sequence, whose first is the movie's frame
    `first`: a TIFF's, an image's, or each frame of an animated PNG (as Pillow composes them).
    A file whose header was read but whose pixels are not (a PNG cut short by a copy) is one
    `InputError` naming the file and the frame, never a raw OSError from deep in Pillow."""
    try:
        return _read_frame_pixels(path, mode, shape, n)
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, tifffile.TiffFileError) as exc:
        frame = f"frame {first}" if n == 1 else f"frames {first}-{first + n - 1}"
        raise InputError(
            f"{path.name} ({frame} of the sequence) is damaged or cut short: its header was "
            f"read but its pixels are not ({exc}); copy the file again, or remove it from the "
            "folder"
        ) from None


def _read_frame_pixels(path: Path, mode: str | None, shape: tuple[int, ...], n: int) -> np.ndarray:
    if mode is None:  # a TIFF: one frame, or a stack of `n` (a multi-page file)
        data = tifffile.imread(path)
        if n > 1 and data.shape != (n, *shape):
            raise InputError(f"{path.name} changed on disk; open the folder again")
        if n == 1 and data.shape != shape:
            _changed(path, data, shape)
        return data if n > 1 else data[None]
    if n == 1:
        return _read_image(path, mode, shape)[None]
    from PIL import Image

    with Image.open(path) as img:
        if int(getattr(img, "n_frames", 1)) != n or img.size != (shape[1], shape[0]):
            raise InputError(f"{path.name} changed on disk; open the folder again")
        out = []
        for i in range(n):
            img.seek(i)
            out.append(np.asarray(img if img.mode == mode else img.convert(mode)))
    return np.stack(out)


def _open_image_sequence(files: list[Path]) -> RawStack:
    """PNG/JPEG/BMP frames (TIFFs among them where a folder mixes kinds: `sequence_files`) as one
    lazy movie (TYX, or TYXS for colour, as a TIFF sequence of the same frames): headers are read
    now, each file's pixels when a frame of it is shown or used. An animated PNG gives all its
    frames (one chunk), said in a note."""
    shape, dtype, _, _ = header = _frame_header(files[0])
    headers = [header]
    for f in files[1:]:  # headers only (~0.1 ms a file): a mixed folder is refused up front
        other, other_dtype, _, _ = found = _frame_header(f)
        if other != shape or other_dtype != dtype:
            raise InputError(
                f"the frames differ in size or kind: {files[0].name} is "
                f"{_describe(shape, dtype)}, {f.name} is {_describe(other, other_dtype)}; every "
                "frame of a sequence must be the same size and kind (frames cropped around the "
                "animal one by one, as the WormPose sample's, are not one movie: paste them onto "
                "one canvas first, or save a video)"
            )
        headers.append(found)

    import dask
    import dask.array as da

    firsts = np.cumsum([0] + [n for *_, n in headers])  # each file's first frame
    blocks = [da.from_delayed(dask.delayed(_read_frame_file)(f, mode, shape, n, int(first)),
                              shape=(n, *shape), dtype=dtype)
              for f, (_, _, mode, n), first in zip(files, headers, firsts)]  # fmt: skip
    axes = "TYX" + ("S" if len(shape) == 3 else "")
    kind = sequence_kind(files)
    meta = {"format": f"{kind.lower()}-sequence", "files": len(files),
            "first_file": str(files[0])}  # fmt: skip
    animated = [(f.name, n) for f, (*_, n) in zip(files, headers) if n > 1]
    if animated:
        named = ", ".join(f"{name} ({n} frames)" for name, n in animated[:5])
        more = f" and {len(animated) - 5} more" if len(animated) > 5 else ""
        meta["notes"] = [f"animated PNG: every frame is read, in order: {named}{more}"]
    fps = pixel = None
    tiffs = [f for f in files if is_tiff_path(f)]
    if tiffs:  # a folder mixing kinds: the rate and pixel size its first TIFF states
        first = open_tiff(tiffs[0])
        for closer in first.closers:
            closer()
        fps, pixel = first.fps, first.pixel_size_um
    data = blocks[0] if len(blocks) == 1 else da.concatenate(blocks)
    return RawStack(data, axes, fps, pixel, meta)


def write_movie_tiff(
    path: str | os.PathLike,
    green: np.ndarray,
    red: np.ndarray | None = None,
    *,
    fps: float | None = None,
    pixel_size_um: float | None = None,
) -> Path:
    """Write (T, Y, X) green [+ red] as an ImageJ hyperstack (TCYX) that Fiji and this reader open.

    Written to a temp file and renamed, so an existing file is never left half-overwritten.
    """
    from napari_catrack.io.atomic import atomic_write_path

    green = np.asarray(green)
    if green.ndim != 3:
        raise InputError(f"a movie must be (T, Y, X); got shape {green.shape}")
    if red is not None:
        red = np.asarray(red)
        if red.shape != green.shape:
            raise InputError(f"green {green.shape} and red {red.shape} differ in shape")
        data = np.stack([green, red], axis=1)
        axes = "TCYX"
    else:
        data, axes = green, "TYX"
    metadata: dict = {"axes": axes}
    kwargs: dict = {}
    if fps:
        metadata["finterval"] = 1.0 / fps
        metadata["fps"] = fps
    if pixel_size_um:
        metadata["unit"] = "um"
        kwargs["resolution"] = (1.0 / pixel_size_um, 1.0 / pixel_size_um)
    with atomic_write_path(path) as tmp:
        tifffile.imwrite(tmp, data, imagej=True, metadata=metadata, **kwargs)
    return Path(path)
