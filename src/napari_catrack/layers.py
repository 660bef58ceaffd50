"""napari LayerData tuples built from core objects: shared by the reader, sample data, sessions and widgets.

Qt-free (it only describes layers); the role of each image layer is kept in
`metadata["catrack"]` so widgets can find the green and red channels the user is looking at.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.io.recording import Recording

LayerData = tuple[Any, dict, str]
GREEN_COLORMAP = "green"
RED_COLORMAP = "magenta"  # magenta + green stays readable for red-green colour-blind users


AXIS_LABELS = ("t", "z", "y", "x")  # time first; a layer of 2 dimensions is (y, x)


def axis_labels(ndim: int) -> tuple[str, ...]:
    """The axis labels of a `ndim`-dimensional layer of ours: (y, x), (t, y, x), (t, z, y, x);
    any further leading axis keeps napari's own name (its index, "-5")."""
    ndim = int(ndim)
    ours = AXIS_LABELS[-2:] if ndim <= 2 else ("t", "y", "x") if ndim == 3 else AXIS_LABELS
    ours = ours[-ndim:] if ndim < len(ours) else ours
    return tuple(str(i) for i in range(-ndim, -len(ours))) + ours


def supports_axis_labels() -> bool:
    """Whether the installed napari's layers take `axis_labels` (napari 0.6 and later); before,
    the slider shows the axis index ("-3") and nothing is passed (a TypeError there)."""
    global _AXIS_LABELS_OK
    if _AXIS_LABELS_OK is None:
        try:
            import inspect

            from napari.layers import Image

            _AXIS_LABELS_OK = "axis_labels" in inspect.signature(Image.__init__).parameters
        except ImportError:  # (no napari: the LayerData are for someone else)
            _AXIS_LABELS_OK = False
    return _AXIS_LABELS_OK


_AXIS_LABELS_OK: bool | None = None


def _layer_ndim(data: Any, meta: dict, kind: str) -> int | None:
    """The number of dimensions of the layer `data` of `kind` makes (None: unknown)."""
    try:
        if kind == "tracks":  # (track id, t, ..., y, x)
            return int(np.shape(data)[1]) - 1
        if kind in ("points", "vectors"):
            return int(np.shape(data)[-1])
        if kind == "shapes":  # a list of (n, D) arrays
            return int(np.shape(data[0])[-1]) if len(data) else None
        if isinstance(data, (list, tuple)):  # a multiscale image: its levels
            data = data[0]
        ndim = len(data.shape)
        rgb = meta.get("rgb")
        if kind == "image" and (rgb or (rgb is None and ndim > 2 and data.shape[-1] in (3, 4))):
            ndim -= 1  # colour channels (napari's own guess), not an axis of the slider
        return ndim
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def with_axis_labels(layers: list) -> list:
    """The LayerData tuples with `axis_labels` (t, z, y, x: `axis_labels`) in their meta where
    napari supports them and none is given: what the reader, the sample data and reopened
    sessions hand to napari, so its slider reads "t", not "-3"."""
    if not supports_axis_labels():
        return layers
    for layer in layers:
        if len(layer) < 3 or layer[0] is None:
            continue
        data, meta, kind = layer[0], layer[1], layer[2]
        ndim = _layer_ndim(data, meta, kind)
        if ndim:
            meta.setdefault("axis_labels", axis_labels(ndim))
    return layers


def label_axes(layer: Any) -> Any:
    """Give a layer our widgets added (viewer.add_*) its axis labels (`axis_labels`) where
    napari supports them and the layer still has napari's default ones; returns the layer."""
    if not supports_axis_labels():
        return layer
    ndim = int(layer.ndim)
    if tuple(layer.axis_labels) == tuple(str(i) for i in range(-ndim, 0)):  # napari's defaults
        layer.axis_labels = axis_labels(ndim)
    return layer


def contrast_from_frame(frame: np.ndarray) -> tuple[float, float]:
    """Display range from one frame's percentiles: cheap and robust to hot pixels."""
    frame = np.asarray(frame, dtype=np.float32)
    finite = frame[np.isfinite(frame)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, (0.5, 99.8))
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def warm_units() -> None:
    """Build napari's unit registry (pint's application registry: ~1 s, once per process) now.

    napari builds it on the first layer made in the process, i.e. in the GUI thread while the
    loader shows a recording; a worker that reads the recording calls this first. (Two threads
    building it at once is pint's lazy registry's own matter: the GUI thread makes no layer
    while the loader's worker runs, unless the user adds one by hand in that second.)
    """
    import pint

    pint.get_application_registry().pixel  # noqa: B018 (the attribute access builds it)


def recording_layers(rec: Recording, *, name: str | None = None) -> list[LayerData]:
    """Green (and red) Image layers for a lazily opened recording.

    A video file (AVI, MP4, ...) is a behaviour camera's, never a calcium channel: its one layer
    gets the role "behaviour" (what the Worm behaviour widget looks for), so opening it beside a
    calcium recording does not make it the "green" every calcium widget measures.
    """
    from napari_catrack.io.video import is_video_path

    base = name or _stem(rec.path)
    catrack = {
        "path": rec.path,
        "options": rec.options,
        "summary": rec.summary(),
    }
    layers: list[LayerData] = []
    channels = [("green", rec.green, GREEN_COLORMAP)]
    if rec.red is not None:
        channels.append(("red", rec.red, RED_COLORMAP))
    for role, data, cmap in channels:
        first = np.asarray(data[0])
        meta = {
            "name": f"{base} {role}" if rec.red is not None else base,
            "colormap": cmap if rec.red is not None else "gray",
            "blending": "additive",
            "contrast_limits": contrast_from_frame(first),
            "metadata": {"catrack": {**catrack, "role": role}},
        }
        layers.append((data, meta, "image"))
    if is_video_path(rec.path) and rec.red is None:
        layers[0][1]["metadata"]["catrack"]["role"] = "behaviour"
    return with_axis_labels(layers)


def tracks_layer(tracks: pd.DataFrame, *, name: str = "tracks", **kwargs) -> LayerData:
    """A Tracks layer from a `neuron_id,frame,y,x` table (track ids are integer codes of ids)."""
    ids = pd.Categorical(tracks["neuron_id"].astype(str))
    data = np.column_stack(
        [ids.codes, tracks["frame"].to_numpy(), tracks["y"].to_numpy(), tracks["x"].to_numpy()]
    ).astype(float)
    features = pd.DataFrame({"neuron_id": np.asarray(ids.astype(str))})
    for col in ("status", "source"):  # tracked / predicted / lost: traces leave lost frames out,
        if col in tracks.columns:  # unless you placed the point there (source manual)
            features[col] = tracks[col].astype(str).to_numpy()
    meta = {"name": name, "features": features, "tail_length": 10, **kwargs}
    return with_axis_labels([(data, meta, "tracks")])[0]


def neuron_points_layer(
    points: pd.DataFrame, *, name: str = "neurons", frame_column: str | None = "frame", **kwargs
) -> LayerData:
    """A Points layer from `neuron_id,(frame,)y,x`; the user's editing surface for neurons."""
    coords = ["y", "x"] if frame_column is None else [frame_column, "y", "x"]
    data = points[coords].to_numpy(dtype=float)
    features = pd.DataFrame(
        {
            "neuron_id": points["neuron_id"].astype(str).to_numpy(),
            "source": points["source"].to_numpy() if "source" in points else "auto",
        }
    )
    meta = {
        "name": name,
        "features": features,
        "size": 7,
        "face_color": "transparent",
        "border_color": "yellow",
        # label above each point; napari wants one translation entry per layer dimension. The
        # label is the neuron_id column itself (a feature name, napari's direct encoding): the
        # same text as "{neuron_id}", which napari formats point by point (0.5 s per write of
        # a 48,000-point tracked-neurons layer's features)
        "text": {
            "string": "neuron_id",
            "size": 8,
            "color": "yellow",
            "translation": [0.0] * (data.shape[1] - 2) + [-6.0, 0.0],
        },
        **kwargs,
    }
    return with_axis_labels([(data, meta, "points")])[0]


# the Worm behaviour widget's layers (its editing surfaces): made here so that a reopened session
# (the reader) and the widget show the same layers, which the widget then finds by name
MASKS_LAYER, CENTERLINE_LAYER, HEAD_LAYER = "worm masks", "centerline", "worm head"
STATUS_COLORS = {"ok": "yellow", "coiled": "orange", "filled": "red", "failed": "magenta",
                 "edited": "cyan"}  # fmt: skip


def masks_layer(masks: np.ndarray) -> LayerData:
    """The "worm masks" Labels layer (T, Y, X) of a segmentation (1 = worm)."""
    data = np.asarray(masks).astype(np.uint8)
    return with_axis_labels([(data, {"name": MASKS_LAYER, "opacity": 0.35}, "labels")])[0]


class CenterlineFrames:
    """Every frame's centerline behind the "centerline" layer, kept in the layer's metadata
    (catrack "frames"): the layer shows the current frame's path only, because napari builds a
    Shapes layer of one path per frame at ~1-2 ms a path (20,000 frames: over 20 s).
    `centerline_layer.follow_centerlines` swaps the path on the time slider and writes the
    user's edits back here and into `session` (the one the paths came from)."""

    def __init__(self, points: np.ndarray, status: np.ndarray, session: Any = None) -> None:
        self.points = np.array(points, dtype=float)  # (T, N, 2) y, x
        self.status = np.array(status, dtype=object)  # (T,)
        self.session = session
        self.showing = False  # the path is being swapped (not an edit)
        self.edited: list[int] = []  # frames the user edited since last asked (`take_edited`)

    @property
    def n_frames(self) -> int:
        return len(self.points)

    def path(self, t: int) -> np.ndarray:
        """Frame t's path as a Shapes path (frame, y, x)."""
        return np.column_stack([np.full(len(self.points[t]), float(t)), self.points[t]])

    def color(self, t: int) -> str:
        return STATUS_COLORS.get(str(self.status[t]), "yellow")

    def take_edited(self) -> list[int]:
        """The frames edited since the last call (the widget says which)."""
        out, self.edited = sorted(set(self.edited)), []
        return out

    def __deepcopy__(self, memo: dict) -> CenterlineFrames:
        """A duplicated layer's: its own arrays, the same session (never a copy of that)."""
        return CenterlineFrames(self.points.copy(), self.status.copy(), self.session)

    def __repr__(self) -> str:  # what a user sees in the layer's metadata
        return f"CenterlineFrames({self.n_frames} frames)"


def centerline_layers(
    points: np.ndarray, status: np.ndarray, session: Any = None, frame: int = 0
) -> list[LayerData]:
    """The "centerline" Shapes layer (the path of `frame`, coloured by status, feature `frame`;
    all frames in metadata catrack "frames", a `CenterlineFrames`) and the "worm head" Points
    layer (point 0 of every frame's path)."""
    frames = CenterlineFrames(points, status, session)
    t = int(np.clip(frame, 0, max(frames.n_frames - 1, 0)))
    features = pd.DataFrame({"frame": [t], "status": [str(frames.status[t])]})
    shapes = {"name": CENTERLINE_LAYER, "shape_type": "path", "edge_color": [frames.color(t)],
              "edge_width": 1.0, "features": features, "ndim": 3,
              "metadata": {"catrack": {"role": "centerline", "frames": frames}}}  # fmt: skip
    heads = np.column_stack([np.arange(len(points), dtype=float), np.asarray(points)[:, 0]])
    head = {"name": HEAD_LAYER, "size": 5, "face_color": "magenta", "border_width": 0,
            "out_of_slice_display": False}  # fmt: skip
    return with_axis_labels([([frames.path(t)], shapes, "shapes"), (heads, head, "points")])


def layer_source_path(layer: Any) -> str | None:
    """The file a layer was opened from: napari-catrack's metadata, else napari's source."""
    meta = getattr(layer, "metadata", {}).get("catrack", {})
    return meta.get("path") or getattr(getattr(layer, "source", None), "path", None)


def behaviour_video_path(session: Any) -> str | None:
    """The video the session's behaviour steps (segmentation, centerline) ran on, as this
    process opens it; None when they record none."""
    for step in ("segmentation", "centerline"):
        if step in session:
            stored = ((session[step].attrs.get("inputs") or {}).get("recording") or {}).get("path")
            if stored:
                return session.resolve_stored_path(stored)
    return None


def is_behaviour_video(session: Any, path: Any, *, by_content: bool = False) -> bool:
    """Whether `path` is the video the session's behaviour steps ran on: that file, or a copy
    of it with the size and SHA-256 the step recorded. The steps store the video's absolute path
    (`Session.stored_path`), so a session folder moved or copied elsewhere (another disk, another
    computer) would otherwise lose its masks and centerlines.

    `by_content=True`: where the step recorded the size and SHA-256, only they decide, so another
    video later written at the recorded path is not taken for it (the CLI's "another video"
    warning); the path decides only for a step that recorded no SHA-256."""
    from napari_catrack.io.output_check import same_file

    video = behaviour_video_path(session)
    if not path or not video:
        return False
    facts = _behaviour_video_facts(session)
    hashed = bool(facts.get("sha256")) and not facts.get("missing")
    if same_file(path, video) and not (by_content and hashed):
        return True
    if not hashed:
        return False
    import os

    if os.path.isfile(path) and os.path.getsize(path) != facts.get("size"):
        return False  # a quick no before any hashing
    from napari_catrack.io.provenance import file_provenance

    got = file_provenance(path)
    return (got.get("sha256"), got.get("sha256_of")) == (facts["sha256"], facts.get("sha256_of"))


def _behaviour_video_facts(session: Any) -> dict[str, Any]:
    """The recorded provenance (size, SHA-256) of the video the behaviour steps ran on."""
    for step in ("segmentation", "centerline"):
        if step in session:
            facts = (session[step].attrs.get("inputs") or {}).get("recording") or {}
            if facts.get("path"):
                return dict(facts)
    return {}


def behaviour_on_recording(session: Any) -> bool:
    """Whether the session's behaviour results belong over its recording's layers: the steps ran
    on the session's recording (a `catrack segment VIDEO --session` session), or either is
    unknown. In a session with an imaging recording and a separate behaviour video (the demo's)
    they are the video's pixels and frames, not the imaging movie's."""
    video = behaviour_video_path(session)
    ref = session.recording.get("path") if session.recording else None
    if not video or not ref:
        return True
    return is_behaviour_video(session, session.resolve_stored_path(ref) or ref)


def behaviour_layers(
    session: Any, skip: set[str] | frozenset[str] = frozenset()
) -> list[LayerData]:
    """The layers of a session's behaviour steps (segmentation masks, centerlines and heads),
    as the Worm behaviour widget shows them; none named in `skip` (saved with the session)."""
    from napari_catrack.core.behaviour.records import (
        centerline_from_session,
        segmentation_from_session,
    )

    out: list[LayerData] = []
    if MASKS_LAYER not in skip:
        stored = segmentation_from_session(session)
        if stored is not None:
            out.append(masks_layer(stored.masks))
    if CENTERLINE_LAYER not in skip:  # (never saved: its frames are the step's; the heads are)
        cl = centerline_from_session(session)
        if cl is not None:
            both = centerline_layers(cl[0].points, cl[0].status, session)
            out.extend(lay for lay in both if lay[1]["name"] not in skip)
    return out


def sources_layers(session: Any, skip: set[str] | frozenset[str] = frozenset()) -> list[LayerData]:
    """The Sources widget's 'footprints' layer (each cell as label neuron id + label_offset,
    those deleted there left out) of a session's `sources` step, unless saved with the session
    (`skip`): a `catrack sources|import --session` session opens with its cells (one without a
    recording, as an import of a tool's output, opened with nothing: napari said the reader
    'returned no data'); the widget finds the layer by name and adds the contours."""
    if "sources" not in session or "footprints" in skip:
        return []
    from napari_catrack.core.sources.session import shown_labels, sources_from_session

    labels, shown, offset = shown_labels(session, sources_from_session(session))
    catrack = {"role": "footprints", "shown_ids": shown, "label_offset": offset}
    return [(labels, {"name": "footprints", "opacity": 0.35, "metadata": {"catrack": catrack}}, "labels")]  # fmt: skip


def _stem(path: str) -> str:
    from pathlib import Path

    name = Path(str(path).rstrip("/*")).name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".hdf5", ".h5"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name or "recording"
