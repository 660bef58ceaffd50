"""What a TIFF file's header says, shared by `io.tiff` (one file, a folder of frames) and
`io.tiff_sequence` (a folder of multi-page stacks): the lazily readable stack (`RawStack`),
whether the file is whole (`_check_complete`), its frame rate and pixel size
(`_physical_metadata`), and a frame's words (`_describe`). Its own module so the two readers
import it without importing each other (h22)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tifffile

from napari_catrack.errors import InputError

if TYPE_CHECKING:  # dask is imported where a lazy array is built (memmap=True never needs it)
    import dask.array as da


@dataclass
class RawStack:
    """A lazily readable N-D array with axis letters and whatever physical metadata the file had.

    `data` is a dask array, or with `open_tiff(memmap=True)` a numpy view of the memory-mapped
    file (read only; pixels are read when indexed).
    """

    data: da.Array | np.ndarray
    axes: str
    fps: float | None = None
    pixel_size_um: float | None = None
    metadata: dict = field(default_factory=dict)
    closers: list = field(default_factory=list)
    # with memmap=True: (path, address of the memory map, its offset in the file), for
    # `file_frames`: the map gives the views' geometry, file reads give their pixels
    mapped: tuple[Path, int, int] | None = None
    # a TIFF sequence's frames read by plain file reads (`io.tiff_sequence.SequenceFrames`:
    # `frames[t0:t1]` reads a run of frames of one file at once), for `io.frames.open_frames`,
    # which would otherwise pay a dask task (and a file open) per frame
    frames: Any = None


def _check_complete(path: Path, tif: tifffile.TiffFile, series) -> None:
    """Catch truncated files at open rather than when a user scrolls to the end: the chain of
    pages leads past the end of the file (tifffile only logs it and reads the pages before the
    cut), a contiguous series is cut short, or the last image's data lies past the end."""
    size = path.stat().st_size
    planes = int(np.prod([k for a, k in zip(series.axes, series.shape) if a not in "YXS"]))
    if series.dataoffset is not None:  # contiguous: count the whole images on disk
        plane_bytes = series.size // max(planes, 1) * np.dtype(series.dtype).itemsize
        readable = max(0, size - series.dataoffset) // max(plane_bytes, 1)
    else:  # pages times the series' planes in one page: a page can hold several (tifffile
        # writes a compressed (4, Y, X) stack with axes TYX as one page of 4 samples)
        first = tif.pages.first if hasattr(tif.pages, "first") else tif.pages[0]
        plane = int(np.prod([k for a, k in zip(series.axes, series.shape) if a in "YXS"]))
        readable = len(tif.pages) * max(int(first.size) // max(plane, 1), 1)
    # A header may over-announce images (files cropped by some tools): only a chain that runs
    # past the end of the file, or a contiguous series cut short, is a truncation.
    if readable < planes or _chain_is_cut(path, tif):
        if series.dataoffset is None:  # the page the chain was cut in may have lost its data
            readable = _whole_pages(tif, size) * max(readable // max(len(tif.pages), 1), 1)
        # Only the header's own count is "announced": a plain stack's series is just the pages
        # tifffile found before the cut (a cut in the first page's data said "only 0 of the 1
        # images its header announces", h22)
        declared = _announced_images(tif, series)
        if declared is not None and declared > readable:
            count = f"only {readable} of the {declared} images its header announces can be read"
        elif readable:
            count = f"only {readable} image(s) can be read"
        else:
            count = "not one image can be read whole"
        raise InputError(f"{path.name} is truncated (the file ends before its last image): {count}")
    if series.dataoffset is not None:
        return
    last = series.pages[-1] if len(series.pages) else None
    if last is None:
        raise InputError(f"{path.name} holds no image data")
    last_page = last if hasattr(last, "dataoffsets") else last.keyframe
    ends = [o + n for o, n in zip(last_page.dataoffsets, last_page.databytecounts)]
    if ends and max(ends) > size:
        raise InputError(
            f"{path.name} is truncated: its last frame lies beyond the end of the file"
        )


def _whole_pages(tif: tifffile.TiffFile, size: int) -> int:
    """How many of the pages tifffile read have all their data inside a file of `size` bytes."""
    whole = 0
    for page in tif.pages:
        page = page if hasattr(page, "dataoffsets") else page.keyframe
        ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts)]
        if ends and max(ends) > size:
            break
        whole += 1
    return whole


def _announced_images(tif: tifffile.TiffFile, series) -> int | None:
    """How many images the file's header says it holds (ImageJ `images=`, tifffile's shaped
    description, OME-XML sizes), or None for a plain TIFF, whose header gives no count (its
    series is only the pages found before a cut)."""
    counts = [int((tif.imagej_metadata or {}).get("images", 0))]
    if series.kind == "shaped" and tif.shaped_metadata:
        shape = tif.shaped_metadata[0].get("shape") or []
        axes = tif.shaped_metadata[0].get("axes") or series.axes
        if len(axes) == len(shape):
            counts.append(int(np.prod([k for a, k in zip(axes, shape) if a not in "YXS"])))
    if tif.is_ome:
        try:
            pixels = ET.fromstring(tif.ome_metadata).find(".//{*}Image/{*}Pixels")
            channels = len(pixels.findall("{*}Channel")) or int(pixels.get("SizeC", 1))
            counts.append(channels * int(pixels.get("SizeZ", 1)) * int(pixels.get("SizeT", 1)))
        except (ET.ParseError, AttributeError, TypeError, ValueError):
            pass
    if series.kind in ("shaped", "imagej", "ome"):  # its shape is the header's
        counts.append(
            int(np.prod([k for a, k in zip(series.axes, series.shape) if a not in "YXS"]))
        )
    return max(counts) or None


def _chain_is_cut(path: Path, tif: tifffile.TiffFile) -> bool:
    """True when the last page's next-IFD pointer leads past the end of the file (truncation).

    A complete file ends its chain with 0, also one whose header over-announces images (files
    cropped by some tools). Walks the chain of page offsets (~1 ms per 1,000 pages).
    """
    import struct

    t, fh = tif.tiff, tif.filehandle
    last = tif.pages[len(tif.pages) - 1]
    fh.seek(last.offset)
    (n_tags,) = struct.unpack(t.tagnoformat, fh.read(t.tagnosize))
    fh.seek(last.offset + t.tagnosize + n_tags * t.tagsize)
    (next_offset,) = struct.unpack(t.offsetformat, fh.read(t.offsetsize))
    return next_offset >= path.stat().st_size


_SECONDS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "us": 1e-6, "µs": 1e-6, "\\u00b5s": 1e-6, "usec": 1e-6, "microsecond": 1e-6,
    "microseconds": 1e-6, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
}  # fmt: skip
_MICRONS = {
    "micron": 1.0, "microns": 1.0, "um": 1.0, "µm": 1.0, "μm": 1.0, "\\u00b5m": 1.0,
    "micrometer": 1.0, "micrometre": 1.0, "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3,
}  # fmt: skip


def _physical_metadata(tif: tifffile.TiffFile) -> tuple[float | None, float | None]:
    fps = pixel = None
    if tif.is_imagej and tif.imagej_metadata:
        ij = tif.imagej_metadata
        # ImageJ's frame interval is in its time unit `tunit` (seconds when absent)
        per_s = _SECONDS.get(str(ij.get("tunit", "sec")).strip().lower())
        if ij.get("finterval"):
            if per_s is not None and float(ij["finterval"]) > 0:
                fps = 1.0 / (float(ij["finterval"]) * per_s)
        elif ij.get("fps"):
            fps = float(ij["fps"])
        um = _MICRONS.get(str(ij.get("unit", "")).strip().lower())
        res = tif.pages.first.tags.get("XResolution")
        if res is not None and um is not None:
            num, den = res.value
            if num:
                pixel = den / num * um
    elif tif.is_shaped and tif.shaped_metadata:  # tifffile's own description (MovieWriter)
        shaped = tif.shaped_metadata[0]
        try:
            fps = float(shaped["fps"]) if shaped.get("fps") else None
            pixel = float(shaped["pixel_size_um"]) if shaped.get("pixel_size_um") else None
        except (TypeError, ValueError):
            fps = pixel = None
    elif tif.is_ome and tif.ome_metadata:
        try:
            root = ET.fromstring(tif.ome_metadata)
            pix = next(el for el in root.iter() if el.tag.endswith("Pixels"))
            # OME's defaults are µm and s; other units are converted (unknown ones not used)
            um = _MICRONS.get(pix.get("PhysicalSizeXUnit", "µm").strip().lower())
            if pix.get("PhysicalSizeX") and um is not None:
                pixel = float(pix.get("PhysicalSizeX")) * um
            per_s = _SECONDS.get(pix.get("TimeIncrementUnit", "s").strip().lower())
            if pix.get("TimeIncrement") and per_s is not None:
                fps = 1.0 / (float(pix.get("TimeIncrement")) * per_s)
        except (ET.ParseError, StopIteration, ValueError, ZeroDivisionError):
            pass
    return fps, pixel


def _describe(shape: tuple[int, ...], dtype: np.dtype) -> str:
    """'48x60 px (height x width), greyscale 8-bit' for an image frame's array."""
    colour = "greyscale" if len(shape) == 2 else ("RGB" if shape[2] == 3 else f"{shape[2]}-channel")
    return f"{shape[0]}x{shape[1]} px (height x width), {colour} {np.dtype(dtype).itemsize * 8}-bit"


def _one_series(path: Path, tif: tifffile.TiffFile) -> tifffile.TiffFile:
    """`tif`, or for a file written one page at a time (a loop of `tifffile.imwrite(path,
    frame, append=True)`: each page has its own shaped description, so tifffile sees one
    one-image series per page) the same file opened again as one series of all its pages
    (axis I, a stack of frames), `tif` closed. Reading `series[0]` of such a file gave its
    first frame only, silently (h22). One-page series that differ in shape or type are refused
    in one line, never read as their first. A file with ImageJ or OME metadata, or whose series
    are not all one page (a stack with a preview image), is left as it is."""
    series = tif.series
    if len(series) < 2 or tif.is_imagej or tif.is_ome:
        return tif
    if not all(len(s.pages) == 1 for s in series):
        return tif
    kinds = [(tuple(int(n) for n in s.shape), np.dtype(s.dtype)) for s in series]
    odd = [i for i, k in enumerate(kinds) if k != kinds[0]]
    if odd:
        tif.close()
        (shape, dtype), i = kinds[0], odd[0]
        raise InputError(
            f"{path.name} holds {len(kinds)} one-page images (series, as tifffile writes a file "
            f"page by page) that differ: series {i} is {_size(*kinds[i])}, series 0 "
            f"{_size(shape, dtype)} ({len(odd)} of the {len(kinds)} differ from series 0); a "
            "movie's frames must be one size and type: save them as one stack"
        )
    tif.close()
    whole = tifffile.TiffFile(path, is_shaped=False)
    if len(whole.series) != 1 or len(whole.series[0].pages) != len(kinds):
        whole.close()
        raise InputError(
            f"{path.name} holds {len(kinds)} one-page images (series) that tifffile does not "
            "read as one stack; save them as one stack"
        )
    return whole


def _size(shape: tuple[int, ...], dtype: np.dtype) -> str:
    return f"{'x'.join(map(str, shape))} {dtype}"
