"""NWB optical physiology of a session: imaging links, motion correction, ROIs, positions, traces,
transients.

Image axes follow NWB's convention as suite2p's NWB writer does: an ImageSeries' data is
(frame, x, y) with x the first image axis, so napari-catrack's (T, Y, X) movies are written as
they are with `dimension` = [height, width] (rows, columns); `image_mask` is [row, column] and
`pixel_mask` entries are (row, column, weight) (suite2p: (ypix, xpix, lam)).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError
from napari_catrack.io.nwb_common import (
    IMAGING_DEFAULTS,
    ImagingClock,
    compressed,
    plain_column,
    relative_to,
)
from napari_catrack.session import array_header

FLUORESCENCE = {  # traces column -> (series name, description)
    "green": ("green", "green (calcium) channel, mean in the ROI minus local background"),
    "red": ("red", "red (structural) channel in the same ROI, through the alignment"),
    "ratio": ("ratio", "ratio green / red"),
    "raw": ("raw", "source trace (CNMF-style extraction)"),
    "denoised": ("denoised", "OASIS-denoised source trace"),
    "spikes": ("deconvolved", "OASIS deconvolved activity (spike inference, a.u.)"),
}
IMPORTED_FLUORESCENCE = {  # origin -> traces column -> what the tool measured (h21)
    "suite2p": {
        "raw": "F - neuropil coefficient x Fneu: suite2p's fluorescence in the ROI minus its "
        "scaled neuropil (F.npy, Fneu.npy; the run's neucoeff)",
        "spikes": "suite2p's deconvolved activity (spks.npy, OASIS; a.u.)",
    },
    "caiman": {
        "raw": "C + YrA: CaImAn's denoised trace plus its residual (CNMF)",
        "denoised": "CaImAn's denoised trace C",
        "spikes": "CaImAn's deconvolved activity S (a.u.)",
    },
    "minian": {
        "raw": "Minian's YrA minus b0 and c0 (its denoised C when YrA was not saved)",
        "denoised": "Minian's denoised trace C",
        "spikes": "Minian's spikes S (a.u.)",
    },
    "imagej": {
        "raw": "mean of the movie in the hand-drawn ImageJ ROI (minus the neuropil coefficient "
        "x the mean of a ring around it, when that coefficient is above 0)",
    },
}
DFF = {
    "dff": ("dff", "dF/F (ratio-based dR/R0 for two-channel recordings)"),
    "dff_clean": ("dff_clean", "dF/F after drift removal and denoising"),
    "dff_green": ("dff_green", "dF/F of the green channel alone"),
}
# frames and their times are the intervals' own start/stop/peak_time (rise_time_s and
# decay_time_s are features: kept)
TRANSIENT_SKIP = {"transient_id", "neuron_id", "start_frame", "peak_frame", "end_frame",
                  "start_time_s", "peak_time_s", "end_time_s"}  # fmt: skip


def neuron_order(session: Any) -> list[str]:
    """Neuron ids (as strings) in the order every table of the export uses."""
    ids: list[str] = []
    if "sources" in session and "components" in session["sources"].tables:
        ids += session["sources"].tables["components"]["neuron_id"].astype(str).tolist()
    for step, table in (("traces", "traces"), ("tracks", "tracks")):
        if step in session and table in session[step].tables:
            ids += session[step].tables[table]["neuron_id"].astype(str).tolist()
    return list(dict.fromkeys(ids))


def add_ophys(
    nwb, session, meta: dict, clock: ImagingClock, *, nwb_path=None, embed_imaging: bool = False
) -> None:
    ids = neuron_order(session)
    summary = (session.recording or {}).get("summary") or {}
    if not ids and not (session.recording or {}).get("path"):
        return
    if not ids and recording_is_behaviour_video(session):
        _behaviour_recording(nwb, session, summary, clock, nwb_path, embed_imaging)
        return
    imaging = {**IMAGING_DEFAULTS, **(meta.get("imaging") or {})}
    from napari_catrack.core.sources.session import two_photon_session

    # the metadata's method, else the rule the widgets' wording follows too
    two_photon = imaging.get("method") == "two-photon" or (
        imaging.get("method") is None and two_photon_session(session)
    )
    _check_lengths(session, summary)
    groups = plane_groups(session, ids)
    where = {p: _plane_where(session, p) for p in groups or ()}
    planes = _imaging_planes(nwb, meta, imaging, summary, clock, two_photon, groups, where)
    plane = next(iter(planes.values()))  # the acquisition's: the only one, or the lowest plane
    series = _imaging_series(nwb, session, plane, summary, clock, two_photon, nwb_path, embed_imaging)  # fmt: skip
    if not ids and "registration" not in session:
        return
    ophys = nwb.create_processing_module("ophys", "optical physiology processed by napari-catrack")
    corrected = _motion_correction(ophys, session, series, summary, clock, nwb_path, embed_imaging)
    _summary_images(ophys, session, summary)
    if not ids:
        return
    segs = _segmentations(ophys, session, planes, ids, groups, summary, corrected or series)
    _positions(ophys, session, ids, summary, clock)
    _responses(ophys, session, segs, clock)
    _transients(nwb, session, segs, ids, clock)


def plane_groups(session, ids: list[str]) -> dict[int, list[str]] | None:
    """{plane: its neuron ids, in `ids` order} when the session's cells come from several
    imaging planes (a multi-plane suite2p import: components' `plane` column), else None. Each
    plane is then its own ImagingPlane and PlaneSegmentation, as they are different fields of
    view; ImageJ ROIs measured on a projection (plane -1) keep the single-plane export."""
    if "sources" not in session or "components" not in session["sources"].tables:
        return None
    comps = session["sources"].tables["components"]
    if "plane" not in comps:
        return None
    of = dict(zip(comps["neuron_id"].astype(str), pd.to_numeric(comps["plane"], errors="coerce"), strict=True))  # fmt: skip
    if not all(i in of for i in ids):
        return None
    placed = {int(of[i]) for i in ids if np.isfinite(of[i])}
    if len(placed) < 2 or min(placed) < 0:
        return None  # one plane (cells drawn on its movie with it)
    unplaced = [i for i in ids if not np.isfinite(of[i])]
    if unplaced:  # drawn by hand on a multi-plane import: in no plane's segmentation
        shown = ", ".join(unplaced[:10]) + (", ..." if len(unplaced) > 10 else "")
        raise InputError(
            f"cell(s) {shown} were drawn by hand on a multi-plane import (planes "
            f"{', '.join(map(str, sorted(placed)))}) and belong to no plane, but NWB keeps each "
            "plane's cells in its own PlaneSegmentation: import the plane they were drawn on "
            "alone (catrack import suite2p --plane N; ImageJ ROIs: --z-projection N) and draw "
            "them there"
        )
    numbers = [int(of[i]) for i in ids]
    return {p: [i for i, q in zip(ids, numbers, strict=True) if q == p] for p in sorted(set(numbers))}  # fmt: skip


SUMMARY_NAMES = {
    "mean": "mean over frames",
    "max": "maximum over frames",
    "std": "standard deviation over frames",
    "correlation": "local correlation image (each pixel with its neighbours)",
    "pnr": "peak-to-noise ratio",
}


def _summary_images(ophys, session, summary) -> None:
    """The summary step's images (mean, max, std, correlation, PNR) as `SummaryImages`, as
    suite2p's writer keeps its mean and correlation images: what ROIs are drawn over."""
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    if "summary" not in session:
        return
    stored = session["summary"].arrays  # only the 2-D images are read (a lazy session)
    arrays = {k: stored[k] for k in stored if len(array_header(stored, k)[0]) == 2}
    if not arrays:
        return
    px = summary.get("pixel_size_um")
    extra = {"resolution": 1e4 / float(px)} if px else {}  # NWB: pixels per cm
    read = ((session["summary"].attrs.get("inputs") or {}).get("recording") or {}).get("path")
    movie = Path(read).name if read else "recording"  # the movie they were computed from
    images = Images(
        name="SummaryImages",
        description=f"summary images of {movie} (napari-catrack summary step), per pixel "
        "[row, column] as image_mask",
    )
    for name, arr in arrays.items():
        images.add_image(
            GrayscaleImage(
                name=str(name),
                data=compressed(np.asarray(arr, np.float32)),
                description=SUMMARY_NAMES.get(str(name), str(name)),
                **extra,
            )
        )
    ophys.add(images)


def _plane_where(session, plane: int) -> str:
    """Where plane `plane`'s cells came from, for the descriptions: a multi-plane suite2p
    output's planeN folder, or ImageJ ROIs drawn on that Z plane of the movie."""
    origin = str(session["sources"].attrs.get("origin") or "")
    if origin == "suite2p":
        return f"a multi-plane suite2p output (its plane{plane} folder)"
    return f"Z plane {plane} of the recording ({origin or 'imported'} ROIs)"


def _imaging_planes(nwb, meta, imaging, summary, clock, two_photon, groups, where=None) -> dict:
    """{plane: ImagingPlane}: one named "ImagingPlane" ({None: it}), or one per plane
    ("ImagingPlane_planeN") of a multi-plane import, all of one device; `where`: each plane's
    origin (`_plane_where`), after the user's own description (metadata `imaging.description`)."""
    from pynwb.ophys import OpticalChannel

    dev = meta.get("device") or {}
    name = str(dev.get("name", "microscope"))
    model = None
    if dev.get("manufacturer"):
        model = nwb.create_device_model(name=f"{name} model", manufacturer=str(dev["manufacturer"]))
    device = nwb.create_device(
        name=name,
        description=str(
            dev.get("description", "two-photon microscope" if two_photon else "microscope")
        ),
        model=model,
    )

    def channels() -> list:  # each plane its own (an NWB object has one parent)
        out = [
            OpticalChannel(
                name="green",
                description=f"calcium indicator ({imaging['indicator']})",
                emission_lambda=float(imaging["green_emission_lambda"]),
            )
        ]
        if int(summary.get("channels") or 1) > 1:
            out.append(
                OpticalChannel(
                    name="red",
                    description=str(imaging["red_indicator"]),
                    emission_lambda=float(imaging["red_emission_lambda"]),
                )
            )
        return out

    px = summary.get("pixel_size_um")
    extra = {"grid_spacing": [px * 1e-6, px * 1e-6], "grid_spacing_unit": "meters"} if px else {}
    described = imaging.get("description") or "imaging plane of the recording"
    own = imaging.get("description")  # the user's words stay on every plane
    out = {}
    for p in groups or [None]:
        out[p] = nwb.create_imaging_plane(
            name="ImagingPlane" if p is None else f"ImagingPlane_plane{p}",
            optical_channel=channels(),
            description=described
            if p is None
            else (f"{own}; " if own else "")
            + f"plane {p} of a multi-plane (volume) recording, from "
            f"{(where or {}).get(p, f'plane {p}')}; imaging_rate is the volume rate",
            device=device,
            excitation_lambda=float(imaging["excitation_lambda"]),
            indicator=str(imaging["indicator"]),
            location=str(imaging["location"]),
            imaging_rate=float(clock.fps) if clock.fps else None,
            **extra,
        )
    return out


def _external_files(path: str, options: dict | None = None) -> tuple[list[str], list[int]]:
    """The file(s) of a recording and the frame each starts at (NWB's `starting_frame`): a
    folder's/glob's files with the frames the reader takes from each (a multi-page TIFF or an
    animated PNG holds several: `io.tiff.sequence_frame_starts`, with the recording's `axes`
    option, which may say that a folder's stacks are frames), not one per file, which put every
    later file's frames off."""
    p = Path(path)
    if p.is_file():
        return [str(p)], [0]
    from napari_catrack.io.tiff import sequence_frame_starts

    files, starts = sequence_frame_starts(path, (options or {}).get("axes"))  # headers only
    return [str(f) for f in files], starts


def _check_lengths(session, summary) -> None:
    """Refuse (one line) traces or masks that contradict the imaging series they would sit beside
    (an import from another movie, or a part of it)."""
    n = int(summary.get("frames") or 0)
    size = (int(summary.get("height") or 0), int(summary.get("width") or 0))
    if "sources" in session and all(size):
        from napari_catrack.core.sources.session import footprints_shape

        fp = (footprints_shape(session["sources"]) or ())[1:]  # not read here
        if fp and fp != size:
            raise InputError(
                f"the session's source footprints are {fp[0]}x{fp[1]} px but its recording is "
                f"{size[0]}x{size[1]} px (height x width): they belong to another movie; not "
                "written to NWB"
            )
    if not n or "traces" not in session or "traces" not in session["traces"].tables:
        return
    traces = session["traces"].tables["traces"]
    if not len(traces):
        return
    last = int(traces["frame"].max()) + 1
    from_sources = session["traces"].attrs.get("source") == "sources"
    if last > n or (from_sources and last != n):
        raise InputError(
            f"the session's traces have {last} frames but its recording has {n}: their frames "
            "do not line up with the imaging series; not written to NWB (import the cells of "
            "this recording, or open the recording they belong to)"
        )


def _imaging_series(nwb, session, plane, summary, clock, two_photon, nwb_path, embed):
    """The recording's series (green, and red when two-channel), linked or embedded: {role: series}."""
    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    rec = session.recording or {}
    path = rec.get("path")
    n = int(summary.get("frames") or 0)
    if not path:
        return {}
    if not n:
        _no_frame_count("the imaging", f"the recording {path}", "imaging", embed)
        return {}
    why = "is not on disk"
    try:
        files, starts = _external_files(path, rec.get("options"))
    except Exception as exc:  # gone, or on disk but not readable as recorded (a folder refused)
        files, starts = [], []
        if Path(path).exists():
            why = f"cannot be read as recorded ({exc})"
    if not files or not all(Path(f).exists() for f in files):
        if embed:  # asked for the frames in the file: a file without them is not what was asked
            raise InputError(
                f"cannot embed the imaging: the recording {path} {why}; put it back, or "
                "export without embedding (the NWB file then has no imaging)"
            )
        warnings.warn(f"NWB export: the recording {path} {why}; imaging not linked", stacklevel=2)
        return {}
    cls = TwoPhotonSeries if two_photon else OnePhotonSeries
    options = rec.get("options") or {}
    layout = summary.get("layout") or options.get("layout") or "single"
    roles = ("green", "red") if int(summary.get("channels") or 1) > 1 else ("green",)
    out = {}
    for role in roles:
        kwargs: dict[str, Any] = dict(
            name=f"Imaging{role.capitalize()}" if len(roles) > 1 else "Imaging",
            imaging_plane=plane,
            unit="n.a.",
            description=f"{role} channel of {Path(path).name} (channel layout {layout}"
            f"{_options_text(options)})",
            dimension=_dimension(summary),
            **clock.series_timing(n),
        )
        _add_frames(kwargs, embed, path, options, role, files, starts, n, nwb_path)
        out[role] = cls(**kwargs)
        nwb.add_acquisition(out[role])
    return out


def _no_frame_count(what: str, named: str, series: str, embed: bool) -> None:
    """Say that `what` is neither linked nor embedded because the session's record of it has no
    frame count (its recording summary lacks `frames`: a reference set when the file could not
    be read, an old session), so its series has no length: an `InputError` when embedding was asked for, else a warning.
    Until h22 the behaviour video was said to be "not on disk", on disk or not, and the
    imaging was left out without a word."""
    why = (
        f"the session's record of {named} has no frame count (its recording summary lacks "
        "`frames`), so the series' length is unknown"
    )
    if embed:
        raise InputError(f"cannot embed {what}: {why}; export without embedding")
    warnings.warn(f"NWB export: {why}; {series} not linked", stacklevel=3)


def recording_is_behaviour_video(session) -> bool:
    """Whether the session's recording is the behaviour video its worm steps ran on (a session
    made by `catrack segment VIDEO --session`), with no imaging results: a bright-field camera,
    not a calcium movie, so the NWB file links it as `BehaviorVideo`, without an imaging plane."""
    from napari_catrack.layers import behaviour_on_recording, behaviour_video_path

    if any(step in session for step in ("registration", "sources", "traces")):
        return False
    return behaviour_video_path(session) is not None and behaviour_on_recording(session)


def _behaviour_recording(nwb, session, summary, clock, nwb_path, embed) -> None:
    """The session's recording, a behaviour video, as `acquisition/BehaviorVideo` (ImageSeries;
    linked, or its frames embedded) at the video's own rate: never an imaging plane."""
    from pynwb.image import ImageSeries

    rec = session.recording or {}
    path = rec.get("path")
    n = int(summary.get("frames") or 0)
    if path and not n:
        _no_frame_count("the behaviour video", str(path), "video", embed)
        return
    files, starts = _external_files(path, rec.get("options")) if path else ([], [])
    if not files or not all(Path(f).exists() for f in files):
        if embed:
            raise InputError(
                f"cannot embed the behaviour video: {path} is not on disk; put it back, or "
                "export without embedding (the NWB file then has no video)"
            )
        warnings.warn(
            f"NWB export: the behaviour video {path} is not on disk; video not linked",
            stacklevel=2,
        )
        return
    kwargs: dict[str, Any] = dict(
        name="BehaviorVideo",
        unit="n.a.",
        description=f"behaviour video {Path(path).name} (the session's recording)",
        dimension=_dimension(summary),
        **clock.series_timing(n),
    )
    _add_frames(kwargs, embed, path, rec.get("options") or {}, "green", files, starts, n, nwb_path)
    nwb.add_acquisition(ImageSeries(**kwargs))


def _dimension(summary) -> list[int]:
    """NWB `dimension`: pixels along the data's x, y axes = (rows, columns) of (T, Y, X) frames."""
    return [int(summary.get("height") or 0), int(summary.get("width") or 0)]


def _motion_correction(ophys, session, series, summary, clock, nwb_path, embed):
    """NWB's MotionCorrection of the registration step: the registered movie (linked, or embedded
    like the imaging) as CorrectedImageStack `corrected`, the raw imaging as `original`, the
    shifts as `xy_translation`. Returns the corrected series (the masks belong to it), or None."""
    from pynwb.base import TimeSeries
    from pynwb.image import ImageSeries
    from pynwb.ophys import CorrectedImageStack, MotionCorrection

    from napari_catrack.core.registration.output import registered_movie

    if "registration" not in session or "shifts" not in session["registration"].tables:
        return None
    shifts = session["registration"].tables["shifts"]
    mode = session["registration"].attrs.get("mode", "rigid")
    part = " (the rigid part; patch shifts are in the session)" if mode == "piecewise" else ""
    shift_series = dict(
        data=compressed(shifts[["dy", "dx"]].to_numpy(float)),
        unit="pixels",
        description=f"{mode} registration shifts per frame{part}: column 0 along rows (NWB x, "
        "dy), column 1 along columns (NWB y, dx); the registered frame at pixel p is the raw "
        "frame at p + (dy, dx)",
        **clock.series_timing(len(shifts), int(shifts["frame"].iloc[0]) if len(shifts) else 0),
    )
    path = registered_movie(session)
    original = series.get("green")
    if path is None or original is None:
        why = "the registered movie is not on disk" if path is None else "the recording is not linked"  # fmt: skip
        warnings.warn(f"NWB export: {why}; only the registration shifts are written", stacklevel=3)
        ophys.add(TimeSeries(name="registration_shifts", **shift_series))
        return None
    xy = TimeSeries(name="xy_translation", **shift_series)
    n = int(summary.get("frames") or 0)
    kwargs: dict[str, Any] = dict(
        name="corrected",
        unit="n.a.",
        description=f"the registered (motion-corrected) movie {Path(path).name}: the session's "
        "summary images and source footprints come from it",
        dimension=_dimension(summary),
        **clock.series_timing(n),
    )
    if embed:
        kwargs["data"] = _frames_iterator(path, {}, "green")
    else:
        kwargs.update(external_file=[relative_to(path, nwb_path)], starting_frame=[0],
                      format="external", num_samples=n)  # fmt: skip
    corrected = ImageSeries(**kwargs)
    stack = CorrectedImageStack(corrected=corrected, original=original, xy_translation=xy)
    ophys.add(MotionCorrection(corrected_image_stacks=[stack]))
    return corrected


def _add_frames(kwargs: dict, embed: bool, path, options: dict, role: str, files, starts, n: int, nwb_path) -> None:  # fmt: skip
    """An image series' frames into its `kwargs`: embedded (read frame by frame from `path`),
    or linked to the recording's files (paths relative to the NWB file, each file's first
    frame), as the imaging and the behaviour video are written alike."""
    if embed:
        kwargs["data"] = _frames_iterator(path, options, role)
    else:
        kwargs.update(
            external_file=[relative_to(f, nwb_path) for f in files],
            starting_frame=starts,
            format="external",
            num_samples=n,
        )


def _frames_iterator(path: str, options: dict, role: str):
    """Frames read one at a time into a compressed dataset (bounded memory)."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.data_utils import DataChunkIterator

    from napari_catrack.io.recording import open_recording

    rec = open_recording(path, **{k: v for k, v in options.items() if v is not None})
    stack = rec.green if role == "green" else rec.red

    def frames():
        for t in range(stack.shape[0]):
            yield np.asarray(stack[t])

    it = DataChunkIterator(
        data=frames(), maxshape=(None, *stack.shape[1:]), dtype=stack.dtype, buffer_size=1
    )
    return H5DataIO(it, compression="gzip", compression_opts=4)


def _status(session, ids: list[str]) -> tuple[list[str], list[str]]:
    from napari_catrack.core.sources.session import status_of

    pairs = status_of(session, ids)
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _first_positions(session, ids: list[str]) -> dict[str, tuple[float, float]]:
    if "tracks" not in session:
        return {}
    t = session["tracks"].tables["tracks"]
    t = t[np.isfinite(t["y"].to_numpy(float)) & np.isfinite(t["x"].to_numpy(float))]
    first = t.sort_values("frame").drop_duplicates("neuron_id")
    return {str(r.neuron_id): (float(r.y), float(r.x)) for r in first.itertuples()}


def _disk(y: float, x: float, radius: float, shape) -> list[tuple[int, int, float]]:
    r = int(np.ceil(radius))
    out = []
    for yy in range(round(y) - r, round(y) + r + 1):
        for xx in range(round(x) - r, round(x) + r + 1):
            inside = (yy - y) ** 2 + (xx - x) ** 2 <= radius**2
            if inside and 0 <= yy < shape[0] and 0 <= xx < shape[1]:
                out.append((yy, xx, 1.0))  # NWB (x, y) = (row, column), like image_mask[row, col]
    return out or [(round(y), round(x), 1.0)]


def _segmentations(ophys, session, planes: dict, ids, groups, summary, reference) -> dict:
    """{plane: (PlaneSegmentation, its ids)}: one "PlaneSegmentation" of every neuron, or one
    "PlaneSegmentation_planeN" per plane of a multi-plane import, each on its ImagingPlane."""
    from pynwb.ophys import ImageSegmentation

    seg = ImageSegmentation()
    ophys.add(seg)
    if groups is None:
        return {None: (_segmentation(seg, session, planes[None], ids, summary, reference), ids)}
    # the movie in acquisition is one plane's at most: the planes' masks reference none
    return {p: (_segmentation(seg, session, planes[p], mine, summary, None, p), mine)
            for p, mine in groups.items()}  # fmt: skip


def _segmentation(seg, session, plane, ids: list[str], summary, reference, number=None):
    """`reference`: the series the masks belong to (the corrected stack, else the imaging);
    `number`: the plane of a multi-plane import (its table is named after it)."""
    from napari_catrack.core.sources.session import footprints_shape, session_footprints

    name = "PlaneSegmentation" if number is None else f"PlaneSegmentation_plane{number}"
    shape = (int(summary.get("height") or 0), int(summary.get("width") or 0))
    status, reason = _status(session, ids)
    footprints = None
    if "sources" in session and footprints_shape(session["sources"]) is not None:
        comps = session["sources"].tables["components"]
        row = {str(n): i for i, n in enumerate(comps["neuron_id"].astype(str))}
        if all(i in row for i in ids):
            # sparse: written as the pixel_mask column from the non-zeros, never a frame each
            footprints = session_footprints(session["sources"])[[row[i] for i in ids]]
            shape = footprints.frame_shape
    if isinstance(reference, dict):  # the recording's series: masks of the green channel
        reference = reference.get("green")
    if footprints is not None and number is not None:
        description = (
            f"source footprints of plane {number}, from {_plane_where(session, number)}; "
            f"pixel_mask entries are (row, column, weight), the "
            f"footprint's non-zero pixels, on a frame of {shape[0]} x {shape[1]} px (rows x "
            "columns)"
        )
    elif footprints is not None:
        movie = (
            "the registered movie (processing/ophys/MotionCorrection, `corrected`), not the raw "
            "frames of acquisition"
            if "registration" in session
            else "the recording (acquisition)"
        )
        description = (
            f"source footprints of {movie}; pixel_mask entries are (row, column, weight), the "
            f"footprint's non-zero pixels, on a frame of {shape[0]} x {shape[1]} px (rows x "
            "columns)"
        )
    else:
        description = (
            "tracked neurons: each ROI is the trace disk at the neuron's first tracked "
            "position; the neuron moves with the animal, see NeuronPositions; pixel_mask "
            "entries are (row, column, weight)"
        )
    extra = {"reference_images": reference} if reference is not None else {}
    if footprints is not None:  # the whole table at once: masks from the sparse non-zeros
        return seg.create_plane_segmentation(
            description=description, imaging_plane=plane, name=name,
            id=list(range(len(ids))),
            columns=[*_pixel_mask_columns(footprints), *_id_columns(ids, status, reason),
                     *_red_columns(session, ids), *_dff_kind_columns(session, ids)],
            **extra,
        )  # fmt: skip
    ps = seg.create_plane_segmentation(
        description=description, imaging_plane=plane, name=name, **extra
    )
    kinds = dff_kinds_of(session, ids)
    columns = ID_COLUMNS if kinds is None else {**ID_COLUMNS, "dff_kind": DFF_KIND_TEXT}
    for name, text in columns.items():
        ps.add_column(name, text)
    first = _first_positions(session, ids)
    radius = (
        float((session["traces"].params or {}).get("radius", 3.0)) if "traces" in session else 3.0
    )
    for k, nid in enumerate(ids):
        extra = {"neuron_id": nid, "status": status[k], "status_reason": reason[k]}
        if kinds is not None:
            extra["dff_kind"] = kinds[k]
        if nid in first and all(shape):
            ps.add_roi(pixel_mask=_disk(*first[nid], radius, shape), **extra)
        else:  # a neuron known only from a traces table: no position
            ps.add_roi(pixel_mask=[(0, 0, 0.0)], **extra)
    return ps


ID_COLUMNS = {
    "neuron_id": "neuron id used by every napari-catrack table",
    "status": "curation verdict of the cell: accepted, rejected or unverified",
    "status_reason": "reason given with the verdict",
}


def _id_columns(ids: list[str], status: list[str], reason: list[str]) -> list:
    from hdmf.common import VectorData

    values = {"neuron_id": ids, "status": status, "status_reason": reason}
    return [VectorData(name=n, description=t, data=list(values[n])) for n, t in ID_COLUMNS.items()]


UNKNOWN_KIND = "unknown"
DFF_KIND_TEXT = (
    "what the cell's DfOverF series (dff, dff_clean) hold: 'dF/F' = (raw - F0) / (F0 + B0); "
    "'dF' = raw - F0 in the trace's units (no baseline + background to divide by); "
    "'unknown' = the session was written by a napari-catrack that did not record it (taken as "
    "dF/F there; re-run the sources step to know)"
)


def dff_kinds_of(session, ids: list[str]) -> list[str] | None:
    """Each cell's `dff_kind` ("dF/F", "dF", or "unknown" where the session does not say: written
    before h20) when the session's traces are the sources' and have a dff; None otherwise
    (tracked neurons' dff is always dF/F or dR/R0: no column)."""
    from napari_catrack.core.sources.session import _dff_kinds

    if "traces" not in session or session["traces"].attrs.get("source") != "sources":
        return None
    traces = session["traces"].tables.get("traces")
    if traces is None or "dff" not in traces or not traces["dff"].notna().any():
        return None
    known = _dff_kinds(session)
    kinds = {} if known is None else known.to_dict()
    return [kinds.get(str(i)) or UNKNOWN_KIND for i in ids]


def _dff_kind_columns(session, ids: list[str]) -> list:
    """The `dff_kind` column of a sources' PlaneSegmentation (`dff_kinds_of`); none without."""
    from hdmf.common import VectorData

    kinds = dff_kinds_of(session, ids)
    if kinds is None:
        return []
    return [VectorData(name="dff_kind", description=DFF_KIND_TEXT, data=kinds)]


RED_COLUMNS = {
    "red_cell": "suite2p's red-channel verdict (redcell.npy column 0): the ROI is red, i.e. "
    "labelled in the second (structural) channel; NaN: its plane had no redcell.npy",
    "red_prob": "suite2p's probability that the ROI is red (redcell.npy column 1); NaN: its "
    "plane had no redcell.npy",
    # not about red, but a tool's column written the same way (h22)
    "tool_probability": "the tool's classifier probability that the ROI is a cell: suite2p's "
    "iscell.npy column 1 (its verdict, column 0, is the import's accepted), CaImAn's cnn_preds; "
    "NaN: not given for this ROI",
}


def _red_columns(session, ids: list[str]) -> list:
    """`red_cell` and `red_prob` of a suite2p import with redcell.npy, and its `tool_probability`
    (iscell.npy column 1; components' columns), as PlaneSegmentation columns; none without them. red_cell is bool, or float (1.0 / 0.0 / NaN)
    when some planes had no redcell.npy, as in components.csv."""
    from hdmf.common import VectorData

    comps = session["sources"].tables["components"]
    row = {str(n): i for i, n in enumerate(comps["neuron_id"].astype(str))}
    out = []
    for name, text in RED_COLUMNS.items():
        if name not in comps:
            continue
        values = comps[name].iloc[[row[i] for i in ids]]
        if name == "red_cell" and values.notna().all():
            data = values.astype(bool).to_numpy()
        else:
            data = pd.to_numeric(values, errors="coerce").to_numpy(float)
        out.append(VectorData(name=name, description=text, data=data))
    return out


def _pixel_mask_columns(footprints) -> list:
    """The `pixel_mask` column and its index, straight from the sparse matrix: 12 bytes per
    non-zero pixel (a dense image_mask per ROI was K x Y x X x 4 bytes, held until written:
    8.4 GB for 2,000 ROIs on 1,024²). Entry (x, y, weight) = (row, column, value), as suite2p's
    and CaImAn's NWB writers write (ypix, xpix, lam); only non-zero pixels, in row-major order;
    a component with no pixel has an empty entry."""
    from hdmf.common import VectorData, VectorIndex

    from napari_catrack.io.nwb_common import compressed

    m = _one_entry_per_pixel(footprints.matrix)
    m.eliminate_zeros()
    row, col = np.divmod(m.indices.astype(np.int64), footprints.frame_shape[1])
    masks = np.empty(m.nnz, dtype=[("x", "<u4"), ("y", "<u4"), ("weight", "<f4")])
    masks["x"], masks["y"], masks["weight"] = row, col, m.data
    data = VectorData(
        name="pixel_mask", description="Pixel masks for each ROI", data=compressed(masks)
    )
    index = VectorIndex(name="pixel_mask_index", data=m.indptr[1:].astype(np.int64), target=data)
    return [data, index]


def _one_entry_per_pixel(matrix):
    """A CSC copy with each component's pixels sorted, a pixel listed twice keeping its last
    value (as `Footprints.component`, and the image_mask written from it, did)."""
    from scipy import sparse

    m = matrix.copy()
    if m.has_canonical_format:
        return m
    col = np.repeat(np.arange(m.shape[1], dtype=np.int64), np.diff(m.indptr))
    key = col * m.shape[0] + m.indices
    _, first = np.unique(key[::-1], return_index=True)  # last entry of each (column, pixel)
    keep = key.size - 1 - first  # in (column, pixel) order
    return sparse.csc_matrix((m.data[keep], (m.indices[keep], col[keep])), shape=m.shape)


def read_masks(ps):
    """The ROI masks of a PlaneSegmentation read back as `Footprints`: its `pixel_mask`
    (napari-catrack since session 14, suite2p, CaImAn) or, in older files, its `image_mask`
    (one ROI's frame at a time, never the whole (K, Y, X) stack). For tests and tools that read
    our files; `ps` is a pynwb PlaneSegmentation opened for reading."""
    from napari_catrack.core.sources.footprints import Footprints

    if "image_mask" in ps.colnames:
        column = ps["image_mask"]
        shape = tuple(column.data.shape[1:3])
        pixels, values = [], []
        for k in range(len(ps)):
            image = np.asarray(column.data[k], np.float32)
            pixels.append(np.flatnonzero(image))
            values.append(image.ravel()[pixels[-1]])
        return Footprints.from_pixels(pixels, shape, values)
    if "pixel_mask" not in ps.colnames:
        raise InputError(f"PlaneSegmentation {ps.name!r} has neither pixel_mask nor image_mask")
    masks = np.asarray(ps["pixel_mask"].target.data[:])
    ends = np.asarray(ps["pixel_mask"].data[:], np.int64)
    shape = _mask_frame(ps, masks)
    flat = masks["x"].astype(np.int64) * shape[1] + masks["y"]
    starts = np.concatenate([[0], ends[:-1]])
    pixels = [flat[a:b] for a, b in zip(starts, ends, strict=True)]
    values = [masks["weight"][a:b] for a, b in zip(starts, ends, strict=True)]
    return Footprints.from_pixels(pixels, shape, values)


def _mask_frame(ps, masks) -> tuple[int, int]:
    """(rows, columns) of the frame the pixel masks belong to: the reference movie's or the
    imaging plane's series' `dimension`, else the masks' extent."""
    for series in list(ps.reference_images or ()):
        dim = getattr(series, "dimension", None)
        if dim is not None and len(dim) >= 2:
            return int(dim[0]), int(dim[1])
    said = re.search(r"on a frame of (\d+) x (\d+) px", ps.description or "")
    if said:
        return int(said[1]), int(said[2])
    if not len(masks):
        return (0, 0)
    return int(masks["x"].max()) + 1, int(masks["y"].max()) + 1


def _pixel_unit(summary) -> dict[str, Any]:
    px = summary.get("pixel_size_um")
    return {"unit": "meters", "conversion": float(px) * 1e-6} if px else {"unit": "pixels"}


def _positions(ophys, session, ids: list[str], summary, clock: ImagingClock) -> None:
    if "tracks" not in session:
        return
    from pynwb.behavior import Position

    t = session["tracks"].tables["tracks"]
    frames = np.arange(int(t["frame"].min()), int(t["frame"].max()) + 1)
    pos = Position(name="NeuronPositions")
    for nid in ids:
        mine = t[t["neuron_id"].astype(str) == nid]
        if not len(mine):
            continue
        xy = mine.set_index("frame")[["x", "y"]].reindex(frames).to_numpy(float)
        pos.create_spatial_series(
            name=f"neuron_{nid}",
            data=compressed(xy),
            reference_frame="image pixels of the green channel (x = column, y = row), origin at "
            "the centre of the top-left pixel",
            description=f"position of neuron {nid} in every frame (NaN: not tracked)",
            **_pixel_unit(summary),
            **clock.series_timing(len(frames), int(frames[0])),
        )
    ophys.add(pos)


def _options_text(options: dict | None) -> str:
    """How the file was opened, readable: ', green_channel 0, z_projection max' (set ones only)."""
    shown = [
        f"{k} {v}" for k, v in (options or {}).items() if v not in (None, "", {}) and k != "layout"
    ]
    return "".join(f", {item}" for item in shown)


def _matrix(traces: pd.DataFrame, column: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(T, N) values of a long traces table, frames first..last, neurons in `ids` order."""
    keyed = traces.assign(neuron_id=traces["neuron_id"].astype(str))
    wide = keyed.pivot_table(index="frame", columns="neuron_id", values=column, dropna=False)
    frames = np.arange(int(keyed["frame"].min()), int(keyed["frame"].max()) + 1)
    return wide.reindex(index=frames, columns=ids).to_numpy(float), frames


def _responses(ophys, session, segs: dict, clock: ImagingClock) -> None:
    """One series per trace column, or per column and plane ("raw_plane1") of a multi-plane
    import, its ROIs a region of that plane's PlaneSegmentation."""
    from pynwb.ophys import DfOverF, Fluorescence

    if "traces" not in session or "traces" not in session["traces"].tables:
        return
    traces = session["traces"].tables["traces"]
    # each plane's series at its time in the volume; one plane alone (--plane N) at its own
    offsets = plane_offsets(session) if None not in segs else {None: _shared_offset(session, segs[None][1])}  # fmt: skip
    skip = set()
    if session["traces"].attrs.get("source") == "sources":
        skip.add("green")  # sources' green = raw, a copy for the trace viewer
    for container_cls, columns in ((Fluorescence, FLUORESCENCE), (DfOverF, DFF)):
        present = [c for c in columns if c in traces and c not in skip and traces[c].notna().any()]  # fmt: skip
        if not present:
            continue
        container = container_cls()
        ophys.add(container)  # first, so the ROI regions share an ancestor with their table
        two_channel = "ratio" in traces and traces["ratio"].notna().any()
        for col in present:
            name, description = columns[col]
            if session["traces"].attrs.get("source") == "sources":  # an import: the tool's words
                description = _source_description(session, col, description)
            if col == "dff":  # say which it is: the ratio's dR/R0, or the green channel's dF/F
                description = ("dR/R0 of the green / red ratio (two-channel recording)"
                               if two_channel else "dF/F of the green channel")  # fmt: skip
            if col == "red" and session["traces"].attrs.get("source") == "sources":
                # an import's second channel (suite2p F_chan2), not tracked through an alignment
                description = ("red (second) channel of the ROI as the tool measured it: "
                               "F_chan2 - neuropil coefficient x Fneu_chan2 (suite2p)")  # fmt: skip
            for p, (seg, ids) in segs.items():
                series = name if p is None else f"{name}_plane{p}"
                late = offsets.get(p, 0.0)
                data, frames = _matrix(traces, col, ids)
                plane_traces = traces[traces["neuron_id"].astype(str).isin(ids)]
                own = description + _missing_note(plane_traces, data)
                if col in ("dff", "dff_clean"):  # cells with no denominator: dF (h20)
                    own += _df_note(session, ids)
                container.create_roi_response_series(
                    name=series,
                    data=compressed(data),
                    rois=seg.create_roi_table_region(
                        description=f"the neurons of {series}", region=list(range(len(ids)))
                    ),
                    unit="a.u." if container_cls is Fluorescence else "n.a.",
                    description=(own if p is None else f"{own}, plane {p}")
                    + (f"; imaged {late * 1e3:.4g} ms after plane 0 in each volume (times offset)" if late else ""),
                    comments=orientation_comment(*data.shape),
                    **_shifted(clock.series_timing(len(frames), int(frames[0])), late),
                )  # fmt: skip


def _source_description(session, column: str, description: str) -> str:
    """What an imported tool measured in `column` (raw, denoised, spikes), for cells imported
    from suite2p, CaImAn, Minian or ImageJ ROIs (the words of FLUORESCENCE fit cells extracted
    here); cells edited by hand since (Fit drawn/edited cells) are the tool's or refit here."""
    if "sources" not in session:
        return description
    attrs, params = session["sources"].attrs, session["sources"].params or {}
    origin = str(attrs.get("origin") or "")
    edited = origin == "edited"
    tool = str(attrs.get("edited_from") or "") if edited else origin
    if origin == "re-evaluated":  # imported cells re-judged: the import's provenance is kept
        tool = str((params.get("import") or {}).get("tool") or "")
    said = IMPORTED_FLUORESCENCE.get(tool, {}).get(column)
    if said is None:
        return description
    if edited:
        return f"{said}; cells drawn or edited by hand (Fit drawn/edited cells): refit here"
    return said


def plane_offsets(session) -> dict[int, float]:
    """{plane: seconds after plane 0} of a multi-plane import whose components carry
    `time_offset_s` (suite2p: plane p of n at p / (n x fs)); {} without (the planes then share
    the volume's clock, as with `catrack import suite2p --no-plane-offsets`)."""
    if "sources" not in session or "components" not in session["sources"].tables:
        return {}
    comps = session["sources"].tables["components"]
    if not {"plane", "time_offset_s"} <= set(comps.columns):
        return {}
    known = comps[["plane", "time_offset_s"]].apply(pd.to_numeric, errors="coerce").dropna()
    return {int(p): float(g["time_offset_s"].iloc[0]) for p, g in known.groupby("plane")}


def neuron_offsets(session) -> dict[str, float]:
    """{neuron id: seconds after frame / fps} of the cells whose components carry a finite
    `time_offset_s` other than 0 (a suite2p plane's time in the volume); {} without. Where all
    finite offsets are one (one plane), a cell without one (drawn by hand on that plane's movie,
    recorded before h19 with NaN) has it too."""
    if "sources" not in session or "components" not in session["sources"].tables:
        return {}
    comps = session["sources"].tables["components"]
    if "time_offset_s" not in comps:
        return {}
    late = pd.to_numeric(comps["time_offset_s"], errors="coerce").to_numpy(float)
    ids = comps["neuron_id"].astype(str).to_numpy()
    shared = set(late[np.isfinite(late)].tolist())
    if len(shared) == 1:  # one plane: a cell drawn on its movie without an offset (NaN, before
        late = np.where(np.isfinite(late), late, shared.pop())  # h19) is imaged as the others
    return {i: float(v) for i, v in zip(ids, late, strict=True) if np.isfinite(v) and v}


def _shared_offset(session, ids: list[str]) -> float:
    """The offset all of `ids` share (`neuron_offsets`: one suite2p plane imported alone with
    `--plane N`, whose time_s run p / (n x fs) late), else 0: one series has one start."""
    late = neuron_offsets(session)
    values = {late.get(i, 0.0) for i in ids}
    return values.pop() if len(values) == 1 else 0.0


def _shifted(timing: dict, late: float) -> dict:
    """pynwb timing arguments (`ImagingClock.series_timing`) `late` seconds later."""
    if not late:
        return timing
    if "timestamps" in timing:
        return {"timestamps": np.asarray(timing["timestamps"], float) + late}
    return {**timing, "starting_time": float(timing["starting_time"]) + late}


def _df_note(session, ids) -> str:
    """What the dF/F series holds for cells whose dff is dF (components' `dff_kind`)."""
    from napari_catrack.core.sources.session import df_cells

    kinds = set(df_cells(session))  # (read once, not per ROI)
    df = [i for i in map(str, ids) if i in kinds]
    if not df:
        return ""
    return (f"; the ROIs of neuron_id {', '.join(df)} hold dF, not dF/F (raw minus its baseline, "
            "in the trace's units: no baseline + background to divide by; dff_kind dF)")  # fmt: skip


def _missing_note(traces: pd.DataFrame, data: np.ndarray) -> str:
    """What a reader of the series must know about its NaN values: they are missing samples,
    and how many of them are frames where the neuron's track was lost (traces `lost` column)."""
    n_nan = int(np.isnan(data).sum())
    if not n_nan:
        return ""
    note = f"; NaN = a missing sample, not a value ({n_nan:,} of {data.size:,}"
    lost = traces["lost"].fillna(False).astype(bool) if "lost" in traces else None
    if lost is not None and "missing" in traces:
        lost = lost & traces["missing"].fillna(False).astype(bool)  # not "measure"d there
    if lost is not None and lost.any():
        left_out = lost
        note += (
            f"; {int(left_out.sum()):,} at frames where the neuron's track was lost, left out "
            "(catrack traces --lost-frames missing)"
        )
    return note + ")"


def orientation_comment(n_frames: int, n_rois: int) -> str:
    """A response series' `comments`: where it has more ROIs than frames, that its axes are
    frames x ROIs all the same, for whoever reviews the file after nwbinspector's
    check_data_orientation (a heuristic: time "is usually the longest dimension") flagged it."""
    if n_rois <= n_frames:
        return "no comments"  # pynwb's default
    return (
        f"time is the first axis, as NWB requires: {n_frames} frames x {n_rois} ROIs (more ROIs "
        "than frames, which nwbinspector's check_data_orientation heuristic reports)"
    )


def traces_shape(session: Any) -> tuple[int, int] | None:
    """(frames, neurons) of the response series the export writes from the session's traces
    (`_responses`: first to last frame, every neuron of `neuron_order`), None without traces."""
    if "traces" not in session or "traces" not in session["traces"].tables:
        return None
    traces = session["traces"].tables["traces"]
    if not len(traces):
        return None
    frames = int(traces["frame"].max()) - int(traces["frame"].min()) + 1
    return frames, len(neuron_order(session))


def _transients(nwb, session, segs: dict, ids: list[str], clock: ImagingClock) -> None:
    """One interval per transient; its `roi` is the neuron's row of the PlaneSegmentation, or
    for a multi-plane import (a region cannot span tables) `plane` and `plane_roi`, the row of
    PlaneSegmentation_planeN."""
    from pynwb.epoch import TimeIntervals

    if "transients" not in session:
        return
    table = session["transients"].tables.get("transients")
    if table is None or not len(table):
        return
    table = table.assign(neuron_id=table["neuron_id"].astype(str))
    table = table[table["neuron_id"].isin(ids)].sort_values(["start_frame", "neuron_id"])
    status, reason = _status(session, ids)
    row_of = {n: i for i, n in enumerate(ids)}
    start = clock.times(table["start_frame"].to_numpy())
    # end_frame is the transient's last frame (inclusive): the interval covers it, so it stops
    # one frame step after that frame's time, as behavior_bouts do (docs/nwb.md)
    stop = clock.times(table["end_frame"].to_numpy()) + clock.step()
    intervals = TimeIntervals(
        name="transients",
        description="calcium transients, one row each, with the curation verdict of their cell",
    )
    intervals.add_column("peak_time", "time of the peak (s)")
    intervals.add_column("neuron_id", "neuron id")
    planes = None if None in segs else {n: (p, i) for p, (_, mine) in segs.items() for i, n in enumerate(mine)}  # fmt: skip
    if planes is None:
        intervals.add_column("roi", "the neuron's row of the PlaneSegmentation", table=segs[None][0])  # fmt: skip
    else:
        intervals.add_column("plane", "the neuron's imaging plane (PlaneSegmentation_planeN)")
        intervals.add_column("plane_roi", "the neuron's row of PlaneSegmentation_planeN")
    intervals.add_column("cell_status", "curation verdict of the cell")
    intervals.add_column("cell_status_reason", "reason given with the verdict")
    extra = {c: plain_column(table[c]) for c in table.columns if c not in TRANSIENT_SKIP}
    for c in extra:
        intervals.add_column(c, f"{c} (napari-catrack transient table)")
    peak = clock.times(table["peak_frame"].to_numpy())
    if offsets := neuron_offsets(session):  # each on its cell's clock: its plane's time
        late = np.array([offsets.get(n, 0.0) for n in table["neuron_id"]], float)
        start, stop, peak = start + late, stop + late, peak + late
    for k, nid in enumerate(table["neuron_id"]):
        i = row_of[nid]
        intervals.add_row(
            start_time=float(start[k]),
            stop_time=float(stop[k]),
            peak_time=float(peak[k]),
            neuron_id=nid,
            **(
                {"roi": i}
                if planes is None
                else {"plane": planes[nid][0], "plane_roi": planes[nid][1]}
            ),
            cell_status=status[i],
            cell_status_reason=reason[i],
            **{c: v[k] for c, v in extra.items()},
        )
    nwb.add_time_intervals(intervals)
