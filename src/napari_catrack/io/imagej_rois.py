"""Hand-drawn ImageJ / Fiji ROIs (`RoiSet.zip` from the ROI Manager, one `.roi` file, or a
TIFF's overlay) as sources: each area ROI becomes a binary footprint, its trace the mean of the
movie inside it.

`roifile` parses the files; the masks follow ImageJ's own rule (a pixel belongs to a ROI when
its centre lies inside), so a rectangle at left 2, width 4 covers columns 2-5 as in ImageJ:
polygons (polygon, freehand, traced, and the elliptical / rotated-rectangle tools, which ImageJ
stores as freehand) are filled at pixel centres by `core.signals.roi.polygon_mask` (as a cell
drawn in napari), rectangles are their bounding box (rounded corners ignored), ovals
`skimage.draw.ellipse` in their box. ROIs come from a RoiSet .zip, a .roi file or an ImageJ
TIFF's overlay. Every ROI applies to every frame (a ROI's frame position is not used: a ROI
drawn on frame t of a calcium movie is meant for the whole movie, a cell keeps its place in a
registered movie); frame positions that disagree with that are warned about
(`position_warnings`). A hyperstack ROI's Z position is followed: it is measured in its plane
of a movie file with a Z axis, or in its plane's movie of a {plane: movie} mapping (the
Sources widget's single-plane layers; `roi_planes`), and the components get a `plane` column;
its channel position is not (the calcium channel is measured; ROIs drawn on another channel
are warned about). Masks and rings are flat pixel-index lists, never a full frame per ROI. Lines, points, text and composite ROIs have no
area here: they are skipped with one warning, as are ROIs outside the frame or empty once
clipped to it. Neuropil is
subtracted only when asked (`NeuropilParams.neuropil_coefficient` > 0; suite2p's ring, see
`core.sources.neuropil`): the other imports take the tool's own background; hand-drawn ROIs
have none.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from napari_catrack.core.sources.params import NeuropilParams
from napari_catrack.errors import InputError

ROI_SUFFIXES = (".roi", ".zip", ".tif", ".tiff")
AREA_TYPES = ("POLYGON", "FREEHAND", "TRACED", "RECT", "OVAL")


def _tiff_rois(path: Path) -> list:
    """The ROIs an ImageJ TIFF carries: its overlay (Image > Overlay > Add Selection, saved with
    the image; tifffile's `imagej_metadata["Overlays"]`) and the selection saved with it
    (`"ROI"`), in that order."""
    import roifile
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            meta = tif.imagej_metadata
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise InputError(f"{path.name} is not a readable TIFF ({exc})") from None
    blobs: list[bytes] = []
    for key in ("Overlays", "ROI"):
        found = (meta or {}).get(key)
        blobs += list(found) if isinstance(found, list | tuple) else [found] if found else []
    if not blobs:
        raise InputError(f"{path.name} holds no ImageJ ROIs (no overlay or selection saved with the image): give the RoiSet .zip or .roi file")  # fmt: skip
    return [roifile.ImagejRoi.frombytes(b) for b in blobs]


def read_rois(path: str | os.PathLike) -> list:
    """The `roifile.ImagejRoi`s of a `.roi` file, a ROI Manager `.zip` or an ImageJ TIFF's
    overlay (in file order)."""
    import roifile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such ImageJ ROI file")
    if path.suffix.lower() not in ROI_SUFFIXES:
        raise InputError(f"{path.name} is not an ImageJ ROI file: give a .roi file, a RoiSet .zip or an ImageJ TIFF with an overlay")  # fmt: skip
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            rois = _tiff_rois(path)
        else:
            rois = roifile.roiread(path)
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path.name} is not an ImageJ ROI file ({exc})") from None
    rois = rois if isinstance(rois, list) else [rois]
    if not rois:
        raise InputError(f"{path.name} holds no ImageJ ROIs")
    return rois


def _kind(roi) -> str | None:
    """The area kind of a ROI ("POLYGON", "RECT", "OVAL", ...) or None (line, point, text...)."""
    import roifile

    if getattr(roi, "composite", False):
        return None
    kind = roifile.ROI_TYPE(roi.roitype).name
    if kind == "RECT" and roi.subtype in (roifile.ROI_SUBTYPE.TEXT, roifile.ROI_SUBTYPE.IMAGE):
        return None
    return kind if kind in AREA_TYPES else None


def _describe(roi) -> str:
    import roifile

    if getattr(roi, "composite", False):
        return "composite"
    kind = roifile.ROI_TYPE(roi.roitype).name.lower()
    if roi.subtype in (roifile.ROI_SUBTYPE.TEXT, roifile.ROI_SUBTYPE.IMAGE):
        return roifile.ROI_SUBTYPE(roi.subtype).name.lower()
    return kind


def roi_pixels(roi, shape: tuple[int, int]) -> np.ndarray:
    """The flat (row-major, sorted) indices of an area ROI's pixels in a frame of `shape`,
    clipped to it (ImageJ's pixel-centre rule). Computed in the ROI's bounding box, never the
    whole frame, so thousands of ROIs on a large frame stay cheap."""
    from skimage.draw import ellipse

    from napari_catrack.core.signals.roi import polygon_mask

    kind = _kind(roi)
    ly, lx = int(shape[0]), int(shape[1])
    none = np.zeros(0, np.int64)
    if kind == "RECT":
        y0, y1 = max(int(roi.top), 0), min(int(roi.bottom), ly)
        x0, x1 = max(int(roi.left), 0), min(int(roi.right), lx)
        if y1 <= y0 or x1 <= x0:
            return none
        yy, xx = np.mgrid[y0:y1, x0:x1]
        return np.ravel_multi_index((yy.ravel(), xx.ravel()), (ly, lx)).astype(np.int64)
    if kind == "OVAL":
        h, w = roi.bottom - roi.top, roi.right - roi.left
        if h <= 0 or w <= 0:
            return none
        cy, cx = roi.top + h / 2 - 0.5, roi.left + w / 2 - 0.5
        rr, cc = ellipse(cy, cx, h / 2, w / 2, shape=(ly, lx))  # drawn in its own box
        return np.unique(np.ravel_multi_index((rr, cc), (ly, lx))).astype(np.int64)
    if kind is None:
        return none
    xy = np.asarray(roi.coordinates(), float)  # (x, y) of the outline, pixel-corner units
    if len(xy) < 3:
        return none
    yx = xy[:, ::-1] - 0.5  # the curation's polygon rule, in pixel-centre (y, x) coordinates
    # the polygon's box (a pixel whose centre is inside lies in it), clipped to the frame; an
    # integer shift of ImageJ's float32 coordinates is exact, so the pixels are the frame's
    y0, x0 = (max(int(np.floor(v)), 0) for v in yx.min(axis=0))
    y1 = min(int(np.ceil(yx[:, 0].max())) + 1, ly)
    x1 = min(int(np.ceil(yx[:, 1].max())) + 1, lx)
    if y1 <= y0 or x1 <= x0:
        return none
    ys, xs = np.nonzero(polygon_mask((y1 - y0, x1 - x0), yx - (y0, x0)))
    return np.ravel_multi_index((ys + y0, xs + x0), (ly, lx)).astype(np.int64)


def roi_mask(roi, shape: tuple[int, int]) -> np.ndarray:
    """The (Y, X) boolean mask of an area ROI, clipped to the frame (ImageJ's pixel-centre rule)."""
    mask = np.zeros(shape, bool)
    mask.flat[roi_pixels(roi, shape)] = True
    return mask


def _frame_of(roi) -> int:
    """The frame (1-based) a ROI is tied to, 0 for none: a hyperstack's t position, else the
    stack position (a plain stack's slices are our frames)."""
    return int(getattr(roi, "t_position", 0) or 0) or int(getattr(roi, "position", 0) or 0)


def position_warnings(rois, names, name: str, n_frames: int | None) -> list[str]:
    """What the ROIs' time positions say that the import does not do: each ROI is measured on
    every frame (a ROI drawn on frame t of a calcium movie is meant for the whole movie: in a
    registered movie a cell keeps its place), so ROIs tied to different frames (drawn on a
    moving cell?) or to a frame past the movie's end (another movie?) are said. Z and channel
    positions are followed instead (`roi_planes`)."""
    out = []
    frames = {n: _frame_of(r) for r, n in zip(rois, names, strict=True) if _frame_of(r)}
    if len(set(frames.values())) > 1:
        lo, hi = min(frames.values()), max(frames.values())
        out.append(f"{len(frames)} ROI(s) of {name} are tied to different frames ({lo}-{hi}, ImageJ's position): each is measured on every frame, as a cell that keeps its place in a registered movie")  # fmt: skip
    if n_frames:
        past = [f"{n} ({f})" for n, f in frames.items() if f > n_frames]
        if past:
            out.append(f"{len(past)} ROI(s) of {name} are tied to frames past the movie's {n_frames}: {', '.join(past)}; ROIs of another movie?")  # fmt: skip
    return out


def movie_axes(movie) -> tuple[int, bool]:
    """(Z planes, whether there is a channel axis) of a movie file (1, False for an array, or
    a file the recording reader does not open: those give one plane of one channel)."""
    if not isinstance(movie, str | os.PathLike):
        return 1, False
    from napari_catrack.io.recording import open_recording

    try:
        rec = open_recording(movie, layout="single", z_projection=0)
    except InputError:
        return 1, False
    try:
        planes = int(str(rec.metadata.get("z") or "1").split()[0])  # "3 planes, plane 0 only"
        return planes, "C" in rec.axes
    finally:
        rec.close()


def roi_planes(
    rois, names, name: str, movie, movie_options: dict
) -> tuple[list[dict | None], list[str], list[str]]:
    """(the `open_frames` options each ROI is measured with, None for a ROI skipped; notes,
    warnings). A ROI drawn on a Z plane of a hyperstack (ImageJ's z position) is measured in
    that plane of a movie with a Z axis, or in that plane's movie when `movie` is a {plane:
    movie} mapping (napari layers of single planes; a ROI of a plane not in it is skipped, with
    a warning); a ROI without that position, or a movie without that axis, uses `movie_options`
    (the --z-projection): ROIs of several planes measured on one plane's movie (an array, a
    layer) are warned about. A position past the movie's planes is an InputError naming the ROI.
    The channel a ROI was drawn on (c position) is NOT followed: a cell is outlined on whichever
    channel shows it best (often the structural one), while its calcium trace is the calcium
    channel's, the one `movie_options` measure (--green-channel); ROIs drawn on another channel
    are said in a warning."""
    zs = [int(getattr(r, "z_position", 0) or 0) for r in rois]
    cs = [int(getattr(r, "c_position", 0) or 0) for r in rois]
    same = [dict(movie_options) for _ in rois]
    if not any(zs) and not any(cs):
        return same, [], []
    if isinstance(movie, Mapping) and any(zs):
        return _mapped_planes(names, zs, name, movie, movie_options)
    planes, has_channels = movie_axes(movie)
    follow_z = planes > 1 and any(zs)
    warned = []
    measured = int(movie_options.get("green_channel") or 0)
    other = [n for n, c in zip(names, cs, strict=True) if c and c - 1 != measured]
    if has_channels and other:
        warned.append(f"{len(other)} ROI(s) of {name} were drawn while another channel than the one measured (channel {measured}, --channel) was shown ({', '.join(map(str, other[:5]))}{', ...' if len(other) > 5 else ''}): they are measured in channel {measured}, as every ROI is")  # fmt: skip
    if not follow_z and len({z for z in zs if z}) > 1:
        lo, hi = min(z for z in zs if z) - 1, max(zs) - 1
        hint = "" if isinstance(movie, str | os.PathLike) else " (in napari: open each plane as its own layer, the loader's Z projection 'one plane', to measure each ROI in its plane)"  # fmt: skip
        warned.append(f"the ROIs of {name} were drawn on Z planes {lo}-{hi} but the movie measured has no Z axis: each is measured on it{hint}")  # fmt: skip
    if not follow_z:
        return same, [], warned
    out, notes = [], []
    for n, z in zip(names, zs, strict=True):
        opts = dict(movie_options)
        if z:
            if z > planes:
                raise InputError(f"ROI {n} of {name} was drawn on Z plane {z - 1} but the movie has {planes} planes (0-{planes - 1}): ROIs of another movie?")  # fmt: skip
            opts["z_projection"] = z - 1
        out.append(opts)
    from collections import Counter

    per = sorted(Counter(z - 1 for z in zs if z).items())
    said = ", ".join(f"plane {k}: {v}" for k, v in per)
    notes.append(f"ROIs measured in the Z plane they were drawn on ({said})")
    return out, notes, warned


def _mapped_planes(
    names, zs: list[int], name: str, movie: Mapping, movie_options: dict
) -> tuple[list[dict | None], list[str], list[str]]:
    """`roi_planes` for one movie per plane ({plane: movie}): each ROI in its plane's movie,
    a ROI without a Z position in the plane `movie_options["z_projection"]`; a ROI of a plane
    that has no movie is skipped (measuring it in another plane would be another cell's
    trace), with a warning; none left is an InputError."""
    from collections import Counter

    default = movie_options.get("z_projection")
    out: list[dict | None] = []
    missing: dict = {}
    for n, z in zip(names, zs, strict=True):
        plane = z - 1 if z else default
        if plane in movie:
            out.append({**movie_options, "z_projection": plane})
        else:
            out.append(None)
            missing.setdefault(plane, []).append(str(n))
    open_ = ", ".join(map(str, sorted(movie)))
    if all(o is None for o in out):
        raise InputError(f"none of the ROIs of {name} was drawn on a Z plane open as a movie (drawn on {', '.join(map(str, sorted(missing, key=str)))}; open: {open_}): open their planes (the loader's Z projection 'one plane')")  # fmt: skip
    warned = []
    if missing:
        skipped = [n for v in missing.values() for n in v]
        warned.append(f"{len(skipped)} ROI(s) of {name} were drawn on Z plane(s) {', '.join(map(str, sorted(missing, key=str)))}, which no open movie shows (open: plane(s) {open_}), and were skipped: {', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''}; open those planes (the loader's Z projection 'one plane') to measure them")  # fmt: skip
    per = sorted(Counter(o["z_projection"] for o in out if o is not None).items())
    said = ", ".join(f"plane {k}: {v}" for k, v in per)
    return out, [f"ROIs measured in the Z plane they were drawn on ({said})"], warned


def _open_measured(movie, options: dict):
    """`open_frames` of `movie`, or of the plane `options["z_projection"]` of a {plane: movie}."""
    from napari_catrack.io.frames import open_frames

    if isinstance(movie, Mapping):
        return open_frames(movie[options.get("z_projection")])
    return open_frames(movie, **options)


def imagej_pixels(
    path: str | os.PathLike,
    shape: tuple[int, int],
    *,
    n_frames: int | None = None,
) -> tuple[list[np.ndarray], np.ndarray, list[str], list[str]]:
    """(pixels: the flat indices of each ROI in a frame of `shape` (`roi_pixels`), their numbers,
    their names, warnings) of the area ROIs of an ImageJ ROI file that overlap the frame; the
    others are listed in warnings. A ROI's number is its position in the file from 1, as ImageJ
    labels ROIs on the image (Show All): never 0, which is the background of the footprints
    Labels layer. Every ROI outside the frame (coordinates of another movie) is an InputError.
    `n_frames`: the movie's frame count, checked against the ROIs' frame positions
    (`position_warnings`). Index lists, not full-frame masks: 2,000 ROIs on a
    1,024 x 1,024 frame are a few MB, not 2 GB."""
    rois = read_rois(path)
    name = Path(path).name
    pixels, ids, names = [], [], []
    unsupported, outside = [], []
    for i, roi in enumerate(rois):
        label = roi.name or f"roi{i + 1}"
        if _kind(roi) is None:
            unsupported.append(f"{label} ({_describe(roi)})")
            continue
        px = roi_pixels(roi, shape)
        if not px.size:
            outside.append(label)
            continue
        pixels.append(px)
        ids.append(i + 1)
        names.append(label)
    used = [rois[i - 1] for i in ids]
    warnings = position_warnings(used, names, name, n_frames)
    if unsupported:
        warnings.append(f"{len(unsupported)} ROI(s) of {name} have no area and were skipped: {', '.join(unsupported)}")  # fmt: skip
    if outside and pixels:
        warnings.append(f"{len(outside)} ROI(s) of {name} lie outside the {shape[1]} x {shape[0]} frame (or are empty) and were skipped: {', '.join(outside)}")  # fmt: skip
    if not pixels:
        if outside:
            raise InputError(f"none of the {len(outside)} area ROI(s) of {name} lies inside the movie's {shape[1]} x {shape[0]} frame: are they from another movie?")  # fmt: skip
        raise InputError(f"{name} has no area ROIs (polygon, freehand, rectangle, oval): {', '.join(unsupported)}")  # fmt: skip
    return pixels, np.asarray(ids), names, warnings


def imagej_masks(
    path: str | os.PathLike,
    shape: tuple[int, int],
    *,
    n_frames: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """`imagej_pixels` with (K, Y, X) bool masks instead of index lists (small cases, tests)."""
    pixels, ids, names, warnings = imagej_pixels(path, shape, n_frames=n_frames)
    return dense_masks(pixels, shape), ids, names, warnings


def dense_masks(pixels: list[np.ndarray], shape: tuple[int, int], dtype=bool) -> np.ndarray:
    """(K, Y, X) masks (`dtype`, 1 inside) of K flat pixel-index lists in a frame of `shape`."""
    out = np.zeros((len(pixels), int(np.prod(shape))), dtype)
    for k, px in enumerate(pixels):
        out[k, px] = 1
    return out.reshape(len(pixels), *shape)


def read_imagej(
    path: str | os.PathLike,
    movie,
    *,
    fps: float | None = None,
    neuropil: NeuropilParams | None = None,
    baseline_window_s: float | None = None,
    progress=None,
    cancel=None,
    **movie_options,
):
    """The `SourcesResult` of the ImageJ ROIs in `path` over `movie` (a file, read in chunks
    through `open_frames` with `movie_options`, or an array such as a napari layer's data, or
    a {plane: array} mapping of single Z planes, `z_projection` naming the plane of ROIs that
    have no Z position; see `roi_planes`):
    footprints = the masks, raw trace = the mean inside each mask per frame (minus
    c x the mean of its neuropil ring when `neuropil.neuropil_coefficient` c > 0, see
    `core.sources.neuropil`), dF/F on a percentile baseline (relative to baseline plus the
    subtracted neuropil, as the suite2p import). `fps`: given, or the movie's own (an InputError
    when neither is known). `progress`/`cancel`: a widget's job (see `mask_means`)."""
    from napari_catrack.core.sources.imported import imported_result, mask_means
    from napari_catrack.core.sources.neuropil import neuropil_rings

    neuropil = neuropil or NeuropilParams()
    coeff = neuropil.neuropil_coefficient
    rois = read_rois(path)
    area = [i for i, r in enumerate(rois) if _kind(r) is not None]
    labels = [rois[i].name or f"roi{i + 1}" for i in area]
    chosen, plane_notes, plane_warnings = roi_planes([rois[i] for i in area], labels, Path(path).name, movie, movie_options)  # fmt: skip
    options = {i + 1: o for i, o in zip(area, chosen, strict=True)}  # by ROI number
    first = next((o for o in chosen if o is not None), movie_options)
    with _open_measured(movie, first) as frames:
        shape, n_frames, stated = frames.shape[1:], frames.n_frames, frames.fps
        pixels, ids, names, warnings = imagej_pixels(path, shape, n_frames=n_frames)
    warnings += plane_warnings
    kept = [j for j, i in enumerate(ids) if options.get(int(i), movie_options) is not None]
    if len(kept) < len(ids):  # ROIs of a plane no movie shows (`_mapped_planes`)
        if not kept:
            raise InputError(f"no ROI of {Path(path).name} is left to measure: those inside the frame were drawn on planes no open movie shows")  # fmt: skip
        pixels, ids, names = [pixels[j] for j in kept], ids[kept], [names[j] for j in kept]
    if not (fps or stated):
        raise InputError("the movie does not store its frame rate: give it (--fps)")
    if fps and stated and abs(stated - fps) > 0.01 * stated:
        warnings.append(f"--fps {fps:g} differs from the {stated:g} Hz the movie states: {fps:g} Hz is used")  # fmt: skip
    rate = float(fps or stated)
    k = len(pixels)
    used = [options.get(int(i), movie_options) for i in ids]
    rings: list[np.ndarray] = [np.zeros(0, np.int64)] * k
    if (
        coeff > 0
    ):  # a ring leaves out the ROIs of its own plane (cells of other planes are not here)
        for plane in {o.get("z_projection") for o in used}:
            group = [j for j, o in enumerate(used) if o.get("z_projection") == plane]
            for j, ring in zip(group, neuropil_rings([pixels[j] for j in group], shape, neuropil), strict=True):  # fmt: skip
                rings[j] = ring
    ring_px = np.array([r.size for r in rings], int)
    groups: dict[tuple, list[int]] = {}
    for j, o in enumerate(used):
        groups.setdefault(tuple(sorted(o.items(), key=str)), []).append(j)
    means = np.zeros((2 * k, n_frames))  # ROIs, then their rings
    for done, (key, group) in enumerate(groups.items()):  # one pass per plane / channel measured
        step = None if progress is None else (lambda a, b, w, d=done: progress(d * b + a, len(groups) * b, w))  # fmt: skip
        with _open_measured(movie, dict(key)) as frames:
            if frames.n_frames != n_frames or tuple(frames.shape[1:]) != tuple(shape):
                raise InputError(f"the movie's plane/channel {dict(key)} is {frames.n_frames} frames of {frames.shape[1:]}, not {n_frames} of {tuple(shape)}")  # fmt: skip
            with_ring = [j for j in group if ring_px[j]]
            measured = [pixels[j] for j in group] + [rings[j] for j in with_ring]
            got = mask_means(frames, pixel_matrix(measured, shape), progress=step, cancel=cancel)
        means[group] = got[: len(group)]
        means[[k + j for j in with_ring]] = got[len(group) :]
    k = len(pixels)
    raw, background = means[:k], None
    how = "given" if fps else "from the movie"
    notes = [f"{k} ROI(s) over {n_frames} frames, fs {rate:g} Hz ({how})", *plane_notes]
    if coeff > 0:
        fneu = means[k:]  # 0 where a ROI has no ring
        background = coeff * fneu
        raw = raw - background
        notes.append(
            f"raw = F - {coeff:g} * Fneu, Fneu the mean of a ring {neuropil.inner_neuropil_radius_px} px "
            f"outside each ROI with at least {neuropil.min_neuropil_pixels} px of no ROI "
            f"(median {np.median(ring_px):g} px)"
        )  # fmt: skip
        small = [f"{n} ({c} px)" for n, c in zip(names, ring_px, strict=True) if c < neuropil.min_neuropil_pixels]  # fmt: skip
        if small:
            warnings.append(f"{len(small)} ROI(s) have a neuropil ring under {neuropil.min_neuropil_pixels} px (too few free pixels in the frame; none = not subtracted): {', '.join(small)}")  # fmt: skip
    from napari_catrack.core.sources.footprints import Footprints

    masks = Footprints.from_pixels(pixels, shape)  # the result's footprints (sparse), peak 1
    result = imported_result("imagej", masks, raw, fps=rate, ids=ids, notes=notes,
                             warnings=warnings, tool_fps=None, background=background,
                             baseline_window_s=baseline_window_s)  # fmt: skip
    result.components["name"] = names
    if plane_notes:  # ROIs followed to their Z planes: the plane each was measured in
        result.components["plane"] = [_plane_number(o) for o in used]
    if coeff > 0:
        result.components["neuropil_px"] = ring_px
    result.made_with.update(neuropil=neuropil.to_dict())  # the provenance: how raw was made
    return result


def _plane_number(options: dict) -> int:
    """The Z plane a ROI was measured in; -1 for a projection (a ROI without a Z position
    measured with --z-projection max or mean)."""
    z = options.get("z_projection")
    return int(z) if isinstance(z, int | np.integer) else -1


def pixel_matrix(pixels: list[np.ndarray], shape: tuple[int, int]):
    """The (K, Y*X) sparse 0/1 matrix of K flat pixel-index lists (what `mask_means` reads)."""
    from scipy import sparse

    n = np.array([len(p) for p in pixels], np.int64)
    indptr = np.concatenate([[0], np.cumsum(n)])
    cols = np.concatenate(pixels) if pixels else np.zeros(0, np.int64)
    size = int(np.prod(shape))
    return sparse.csr_matrix((np.ones(cols.size), cols, indptr), shape=(len(pixels), size))


def is_roi_path(path: str | os.PathLike) -> bool:
    """A `.roi` file, or a `.zip` whose entries are all `.roi` files (a ROI Manager RoiSet):
    other zip files are left to other readers."""
    spec = os.fspath(path)
    low = spec.lower()
    if low.endswith(".roi"):
        return os.path.isfile(spec)
    if not low.endswith(".zip") or not os.path.isfile(spec):
        return False
    try:
        with zipfile.ZipFile(spec) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names) and all(n.lower().endswith(".roi") for n in names)


def roi_shapes(path: str | os.PathLike) -> tuple[list[np.ndarray], list[str], list[str], list[str]]:
    """(napari Shapes data, shape types, names, warnings) of the area ROIs of an ImageJ ROI file,
    for showing them as drawn: polygons (polygon, freehand, traced) as polygons, rectangles as
    rectangles, ovals as ellipses, in napari's (y, x) pixel-centre coordinates (ImageJ's are
    pixel corners: minus 0.5). No frame is needed, so nothing is clipped or measured here."""
    rois = read_rois(path)
    name = Path(path).name
    data, types, names, unsupported = [], [], [], []
    for i, roi in enumerate(rois):
        kind = _kind(roi)
        label = roi.name or f"roi{i + 1}"
        if kind in ("RECT", "OVAL"):
            t, b, lf, r = roi.top - 0.5, roi.bottom - 0.5, roi.left - 0.5, roi.right - 0.5
            data.append(np.array([[t, lf], [t, r], [b, r], [b, lf]], float))
            types.append("rectangle" if kind == "RECT" else "ellipse")
        elif kind is not None and len(roi.coordinates()) >= 3:
            data.append(np.asarray(roi.coordinates(), float)[:, ::-1] - 0.5)
            types.append("polygon")
        else:
            unsupported.append(f"{label} ({_describe(roi)})")
            continue
        names.append(label)
    warnings = []
    if unsupported:
        warnings.append(f"{len(unsupported)} ROI(s) of {name} have no area and were skipped: {', '.join(unsupported)}")  # fmt: skip
    if not data:
        raise InputError(f"{name} has no area ROIs (polygon, freehand, rectangle, oval): {', '.join(unsupported)}")  # fmt: skip
    return data, types, names, warnings
