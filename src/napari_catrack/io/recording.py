"""One entry point for every recording format: `open_recording` -> green/red lazy (T, Y, X) movies."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_catrack.errors import InputError, long_paths_as_lines
from napari_catrack.io.atomic import recover_before_reading
from napari_catrack.io.hdf5 import HDF5_SUFFIXES, is_hdf5_path, open_hdf5
from napari_catrack.io.layouts import check_same_shape, guess_axes, split_channels
from napari_catrack.io.tiff import (
    TIFF_SUFFIXES,
    RawStack,
    file_frames,
    frame_file_kind,
    is_hidden_file,
    is_tiff_path,
    open_tiff,
    open_tiff_sequence,
)
from napari_catrack.io.video import VIDEO_SUFFIXES, is_video_path, open_video
from napari_catrack.io.zarr_movie import ZARR_SUFFIXES, is_zarr_path, open_zarr_array

# What `open_recording` (and so `catrack batch`) reads: files of these kinds, and folders (a .zarr
# movie, a folder of TIFFs, else of PNG/JPEG/BMP frames) or globs of them.
RECORDING_FILE_SUFFIXES = tuple(
    s for s in (*TIFF_SUFFIXES, *HDF5_SUFFIXES, *VIDEO_SUFFIXES) if s.count(".") == 1
)  # (.ome.tif is a .tif)
RECORDING_FOLDER_SUFFIXES = ZARR_SUFFIXES


def recording_folder_problem(path: str | os.PathLike) -> str | None:
    """None when `path` is a folder `open_recording` reads (a .zarr movie, or a folder holding
    TIFF, PNG, JPEG or BMP frames), else why not, in one line."""
    folder = Path(path)
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if is_zarr_path(folder):
        return None
    if any(frame_file_kind(p) and not is_hidden_file(p) for p in folder.iterdir() if p.is_file()):
        return None
    return (
        f"{folder} is neither a .zarr movie nor a folder of TIFF, PNG or JPEG frames; pick the "
        ".zarr folder or the folder that holds the frames (files: Add files…)"
    )


if TYPE_CHECKING:  # dask is imported where lazy arrays are built (memmap=True may never need it)
    import dask.array as da


@dataclass
class Recording:
    """A lazily opened recording: what every later step reads from.

    `options` are the arguments that reopen exactly this view of the file (kept in sessions).
    `green`/`red` are dask arrays, or numpy views of a memory-mapped file when opened with
    `memmap=True` (equally lazy; see `open_recording`).
    """

    green: da.Array | np.ndarray
    red: da.Array | np.ndarray | None
    path: str
    layout: str
    axes: str
    fps: float | None = None
    pixel_size_um: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    _closers: list = field(default_factory=list, repr=False)
    # `green` read by plain file reads, where green is a TIFF sequence as it is
    # (`RawStack.frames`): `io.frames.open_frames` reads runs of frames without a dask task each
    frames: Any = field(default=None, repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.green.shape[0])

    @property
    def frame_shape(self) -> tuple[int, int]:
        return int(self.green.shape[1]), int(self.green.shape[2])

    @property
    def dtype(self) -> np.dtype:
        return self.green.dtype

    @property
    def has_red(self) -> bool:
        return self.red is not None

    @property
    def warnings(self) -> list[str]:
        """What a user must know about this file (a damaged video's lost frames, ...)."""
        return [n.removeprefix("WARNING: ") for n in self.metadata.get("notes", [])
                if str(n).startswith("WARNING")]  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """What the loader widget and `catrack info` show a user."""
        extra = {"warnings": self.warnings} if self.warnings else {}
        if self.metadata.get("z"):  # a volume: its depth was reduced (--z-projection)
            extra = {"z": self.metadata["z"], **extra}
        return {
            "path": self.path,
            "frames": self.n_frames,
            "height": self.frame_shape[0],
            "width": self.frame_shape[1],
            "channels": 2 if self.has_red else 1,
            "layout": self.layout,
            "axes": self.axes,
            "dtype": str(self.dtype),
            "fps": self.fps,
            "pixel_size_um": self.pixel_size_um,
            "format": self.metadata.get("format"),
            **extra,
        }

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()


@long_paths_as_lines()
def open_recording(
    path: str | os.PathLike,
    layout: str | None = None,
    green_channel: int = 0,
    red_channel: int = 1,
    *,
    dataset: str | None = None,
    axes: str | None = None,
    z_projection: str | int = "max",
    fps: float | None = None,
    pixel_size_um: float | None = None,
    memmap: bool = False,
) -> Recording:
    """Open a TIFF/HDF5 file, a zarr movie, a folder or a glob of TIFFs (or of PNG/JPEG/BMP
    frames), or a video, lazily, as green (+ red) movies.

    `axes` overrides the file's axis letters (T, Z, C, Y, X); `fps`/`pixel_size_um` override
    metadata. Raises `InputError` with one clear line for anything a user can fix.

    Green and red are dask arrays of one chunk per frame: what the viewer slices, one frame read
    per frame shown. `memmap=True` is for commands that read frames straight through (tracking):
    an uncompressed, contiguous TIFF without a Z axis then gives numpy views of its memory map,
    as lazy as dask (nothing is read until indexed) but without a task per frame per read and
    without importing dask (together ~0.5 s of CPU for a 400-frame file); other inputs stay dask.
    It changes how pixels are read, not which: `options` (and so a session) are the same.
    """
    spec = os.fspath(path)
    recover_before_reading(spec)  # a set killed half placed there (a registered movie's): finished
    options = {
        "layout": layout,
        "green_channel": green_channel,
        "red_channel": red_channel,
        "dataset": dataset,
        "axes": axes,
        "z_projection": z_projection,
        "fps": fps,
        "pixel_size_um": pixel_size_um,
    }
    red_raw: RawStack | None = None
    if is_zarr_path(spec):
        raw = _open_zarr(spec)
    elif os.path.isdir(spec) or any(ch in spec for ch in "*?["):
        raw = open_tiff_sequence(spec, axes=axes)
    elif is_tiff_path(spec):
        raw = open_tiff(spec, memmap=memmap)
    elif is_hdf5_path(spec):
        raw, red_raw = open_hdf5(spec, dataset=dataset)
    elif is_video_path(spec):
        raw = open_video(spec)  # behaviour videos: AVI/MP4/..., single channel
    elif not os.path.exists(spec):
        raise InputError(f"file not found: {spec}")
    elif Path(spec).suffix.lower() in (".npy", ".npz"):
        raise InputError(
            f"{Path(spec).name} is a NumPy array, which holds no axis names or frame rate: save "
            "it as TIFF, e.g. python -c \"import numpy, tifffile; tifffile.imwrite('movie.tif', "
            f"numpy.load('{Path(spec).name}'))\", and open that with --axes in the array's "
            "order (e.g. --axes CXYZ)"
        )
    else:
        raise InputError(
            f"unsupported file type {Path(spec).suffix or '(none)'} for {spec}; "
            "napari-catrack reads TIFF (.tif/.tiff, folders, globs), HDF5 (.h5/.hdf5), zarr "
            "(.zarr folders) and videos (.avi/.mp4/.mov/.mkv)"
        )
    try:
        file_axes = axes.upper() if axes else raw.axes
        if axes and len(axes) != raw.data.ndim:
            raise InputError(
                f"axes {axes!r} have {len(axes)} letters but the data has {raw.data.ndim} "
                f"dimensions {tuple(raw.data.shape)}"
            )
        if red_raw is not None:  # separate /green and /red datasets
            if layout not in (None, "channel-axis"):
                raise InputError(f"layout {layout} does not apply to separate green/red datasets")
            g = split_channels(raw.data, file_axes, "single", z_projection=z_projection)
            r = split_channels(
                red_raw.data,
                axes.upper() if axes else red_raw.axes,
                "single",
                z_projection=z_projection,
            )
            check_same_shape(g.green, r.green)
            green, red, used_layout, norm_axes, notes = (
                g.green,
                r.green,
                "separate-datasets",
                g.axes,
                g.notes,
            )
        else:
            ch = split_channels(
                raw.data,
                file_axes,
                layout,
                green_channel=green_channel,
                red_channel=red_channel,
                z_projection=z_projection,
                keep_numpy=memmap,
            )
            check_same_shape(ch.green, ch.red)
            if raw.mapped is not None:  # pixels by file reads, never through the map (SIGBUS)
                ch.green = file_frames(ch.green, raw.mapped)
                ch.red = None if ch.red is None else file_frames(ch.red, raw.mapped)
            green, red, used_layout, norm_axes, notes = (
                ch.green,
                ch.red,
                ch.layout,
                ch.axes,
                ch.notes,
            )
        if fps is not None and fps <= 0:
            raise InputError(f"frame rate must be positive, got {fps}")
        if pixel_size_um is not None and pixel_size_um <= 0:
            raise InputError(f"pixel size must be positive, got {pixel_size_um}")
    except BaseException:
        for close in raw.closers:
            close()
        raise
    file_fps = raw.fps
    if file_fps is not None and used_layout == "interleaved":
        file_fps = file_fps / 2  # the file's rate counts both channels' frames
    metadata = dict(raw.metadata)
    if notes:
        metadata["notes"] = [*metadata.get("notes", []), *notes]
    if fps is not None and file_fps:  # an override: what the file said, for a warning
        metadata["file_fps"] = float(file_fps)
    depth = _depth(raw.data.shape, file_axes, z_projection)
    if depth:
        metadata["z"] = depth
    return Recording(
        green=green,
        red=red,
        path=spec,
        layout=used_layout,
        axes=norm_axes,
        fps=fps if fps is not None else file_fps,
        pixel_size_um=pixel_size_um if pixel_size_um is not None else raw.pixel_size_um,
        options=options,
        metadata=metadata,
        _closers=list(raw.closers),
        frames=raw.frames if raw.frames is not None and green is raw.data else None,
    )


def _depth(shape: tuple[int, ...], axes: str, z_projection: str | int) -> str | None:
    """How a Z axis of the file became 2-D frames, for `summary` ("16 planes, max projection"):
    the axes shown are those after it (TCYX for a TZCYX file), so it is said here."""
    from napari_catrack.io.layouts import normalise_axes

    try:
        named = normalise_axes(axes, shape)
    except InputError:
        return None
    if "Z" not in named:
        return None
    n = int(shape[named.index("Z")])
    if isinstance(z_projection, int | np.integer):
        return f"{n} planes, plane {int(z_projection)} only"
    return f"{n} planes, {z_projection} projection"


def _open_zarr(spec: str) -> RawStack:
    """A `.zarr` movie as `catrack register -o X.zarr` writes it: (T, Y, X), fps and pixel size
    in its attributes."""
    import dask.array as da

    arr = open_zarr_array(spec)
    axes = str(arr.attrs.get("axes") or ("TYX" if arr.ndim == 3 else guess_axes(arr.shape)[0]))
    fps, pixel = arr.attrs.get("fps"), arr.attrs.get("pixel_size_um")
    meta = {"format": "zarr", "shape": tuple(arr.shape), "dtype": str(arr.dtype), "file_axes": axes}
    return RawStack(
        da.from_zarr(arr), axes, float(fps) if fps else None, float(pixel) if pixel else None, meta
    )


def reopen(path: str, options: dict[str, Any]) -> Recording:
    """Open a recording again with the options a session stored."""
    return open_recording(path, **options)
