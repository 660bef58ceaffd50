"""One viewer context shared by every widget: the channels, the alignment in force, the frame rate
and the session, each found one way.

    ctx = ViewerContext.of(viewer)
    green = ctx.channel_data("green")           # (T, Y, X) array, or InputError naming the fix
    align = ctx.alignment()                     # AlignmentInForce: transform + where it came from
    fps = ctx.fps()                             # float or None
    ctx.events.fps.connect(...)                 # also: alignment, channels, session, verdicts
    ctx.verdicts_changed(sender=self)           # cell verdicts edited: lists reload them only

The rule for "the alignment" (used by tracking, traces and every red <-> green mapping):
1. an alignment the user accepted (session step ``alignment``) is in force;
2. otherwise the red layer's own transform (an estimate or nudges not yet accepted) is in force
   and reported as "not accepted";
3. otherwise none (identity), reported as such.
When the red layer shows something else than the transform in force (nudged after Accept),
`AlignmentInForce.differs_from_layer` says so, so widgets can show it.

The frame rate in force: a rate the user set in any widget (stored in the session, so it survives
the widget and is shared by all), else the recording's, else None.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_catrack.core.alignment_rule import AlignmentInForce
from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.errors import InputError

if TYPE_CHECKING:
    import napari

    from napari_catrack.session import Session

ROLES = ("green", "red")
SETTINGS_STEP = "settings"  # session step holding viewer-wide choices (frame rate set by the user)


_CONTEXTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ViewerContext:
    """What widgets need to know about one viewer; one instance per viewer (`ViewerContext.of`)."""

    def __init__(self, viewer: napari.Viewer) -> None:
        from napari.utils.events import EmitterGroup

        self._viewer_ref = weakref.ref(viewer)
        self.events = EmitterGroup(
            source=self, alignment=None, fps=None, channels=None, session=None, verdicts=None,
            layer_names=None,
        )  # fmt: skip
        self._watched_red: set[int] = set()  # ids of red layers whose affine we follow
        self._warned: set[tuple] = set()  # sets of same-role layers already reported
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layers_changed)
        # a renamed layer: widgets that list layers by name refresh their boxes
        viewer.layers.events.inserted.connect(self._watch_name)
        for layer in viewer.layers:
            layer.events.name.connect(self._on_layer_renamed)
        self.events.channels.connect(self._watch_red)
        self._watch_red()
        from napari_catrack.session import watch_session

        watch_session(viewer, self._on_session_replaced)

    def _watch_name(self, event: Any) -> None:
        event.value.events.name.connect(self._on_layer_renamed)

    def _on_layer_renamed(self, _event: Any = None) -> None:
        self.events.layer_names()

    @classmethod
    def of(cls, viewer: napari.Viewer) -> ViewerContext:
        """The context of this viewer, shared by every widget docked in it (keyed by and holding
        the real viewer, not the widget's proxy: it outlives any one widget)."""
        from napari_catrack.session import real_viewer

        viewer = real_viewer(viewer)
        ctx = _CONTEXTS.get(viewer)
        if ctx is None:
            ctx = cls(viewer)
            _CONTEXTS[viewer] = ctx
        return ctx

    @property
    def viewer(self) -> napari.Viewer:
        viewer = self._viewer_ref()
        if viewer is None:  # widgets die with their viewer
            raise RuntimeError("the viewer of this napari-catrack context was closed")
        return viewer

    # --- session ----------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        from napari_catrack.session import session_for_viewer

        return session_for_viewer(self.viewer)

    def verdicts_changed(self, sender: Any = None) -> None:
        """Cell verdicts (session step "transients", table "verdicts") were edited: widgets that
        show them reload just the verdicts (`event.sender` is the widget that edited, which can
        skip its own change) instead of the whole session."""
        self.events.verdicts(sender=sender)

    def _on_session_replaced(self, _session: Any) -> None:
        self.events.session()
        self.events.fps()
        self.events.alignment()

    # --- channels ---------------------------------------------------------------------------
    def channel_layer(self, role: str):
        """The Image layer with this napari-catrack role ("green"/"red"), or None.

        Two layers with one role (a second recording opened with napari-catrack) never swap
        silently: the session's recording's layer is used, else the first one opened, and a
        warning names the one used (once per set of layers). Picking a layer as 'green layer'
        / 'red layer' (`adopt`) leaves it the only one.
        """
        from napari.layers import Image

        found = [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, Image) and layer.metadata.get("catrack", {}).get("role") == role
        ]
        if len(found) <= 1:
            return found[0] if found else None
        session = self.session
        recording = _norm_path(session.resolve_stored_path((session.recording or {}).get("path")))
        ours = [lay for lay in found
                if recording and _norm_path(lay.metadata["catrack"].get("path")) == recording]  # fmt: skip
        used = ours[0] if ours else found[0]
        key = (role, tuple(id(lay) for lay in found))
        if key not in self._warned:
            self._warned.add(key)
            from napari.utils.notifications import show_warning

            why = "the session's recording" if ours else "the first opened"
            others = ", ".join(repr(lay.name) for lay in found if lay is not used)
            show_warning(
                f"napari-catrack: {len(found)} {role} layers; using {used.name!r} ({why}), not "
                f"{others}: pick the {role} layer in Align channels or Track neurons to change it"
            )
        return used

    def recording_inputs(self, role: str = "green") -> dict[str, str]:
        """{"recording": path} of the file the channel layer came from (else the session's
        recording): the input a step's record names in its provenance (`io.provenance`)."""
        layer = self.channel_layer(role) or self.channel_layer("green")
        path = layer.metadata.get("catrack", {}).get("path") if layer is not None else None
        path = path or self.recording().get("path")
        return {"recording": str(path)} if path else {}

    def recording(self) -> dict[str, Any]:
        """The recording open in this viewer, found one way for every widget: the session's
        recording ({"path", "summary", ...}: opened by the Loader, napari's File > Open or a
        reopened .catrack.h5), else the green (or red) layer's own (a recording opened before
        the session knew it); {} when none is open."""
        recording = dict(self.session.recording or {})
        if recording.get("path"):
            return recording
        for role in ROLES:
            layer = self.channel_layer(role)
            meta = layer.metadata.get("catrack", {}) if layer is not None else {}
            if meta.get("path") or meta.get("summary"):
                summary = dict(meta.get("summary") or {})
                return {"path": meta.get("path") or summary.get("path"), "summary": summary}
        return {}

    def channel_data(self, role: str, *, fallback_to_green: bool = False):
        """The (T, Y, X) (or (Y, X)) data of a channel; InputError naming the fix when absent."""
        layer = self.channel_layer(role)
        if layer is None and fallback_to_green and role == "red":
            layer = self.channel_layer("green")
        if layer is None:
            raise InputError(
                f"no {role} channel: open a recording with napari-catrack (Load recording), or "
                f"pick any image layer as '{role} layer' in Align channels or Track neurons"
            )
        return layer.data[0] if layer.multiscale else layer.data

    def has_red(self) -> bool:
        return self.channel_layer("red") is not None

    def candidate_layers(self) -> list:
        """Image layers without a role (e.g. opened by napari's builtin reader) that could be adopted."""
        from napari.layers import Image

        return [
            lay
            for lay in self.viewer.layers
            if isinstance(lay, Image) and not lay.metadata.get("catrack", {}).get("role")
        ]

    def adopt(self, layer, role: str) -> None:
        """Give any image layer a channel role, so every widget uses it (e.g. builtin-reader TIFFs)."""
        if role not in ROLES:
            raise InputError(f"a channel role is one of {', '.join(ROLES)}, not {role!r}")
        for previous in self.viewer.layers:  # every other layer with the role gives it up
            meta = dict(previous.metadata.get("catrack", {}))
            if previous is not layer and meta.get("role") == role:
                meta.pop("role", None)
                previous.metadata = {**previous.metadata, "catrack": meta}
        meta = dict(layer.metadata.get("catrack", {}))
        meta["role"] = role
        layer.metadata = {**layer.metadata, "catrack": meta}
        self.events.channels()
        if role == "red":
            self.events.alignment()

    def release_role(self, role: str) -> None:
        """No layer has this role any more (e.g. the red picker set to "none")."""
        layer = self.channel_layer(role)
        while layer is not None:
            meta = dict(layer.metadata.get("catrack", {}))
            meta.pop("role", None)
            layer.metadata = {**layer.metadata, "catrack": meta}
            layer = self.channel_layer(role)
        self.events.channels()
        if role == "red":
            self.events.alignment()

    def roles(self) -> list[str]:
        """The channel roles present, green first."""
        return [role for role in ROLES if self.channel_layer(role) is not None]

    def _on_layers_changed(self, event: Any) -> None:
        from napari.layers import Image

        layer = getattr(event, "value", None)
        if isinstance(layer, Image) and layer.metadata.get("catrack", {}).get("role"):
            self.events.channels()

    def _watch_red(self, _event: Any = None) -> None:
        """Follow the red layer's affine: nudges, napari's transform tools, restored sessions."""
        red = self.channel_layer("red")
        if red is not None and id(red) not in self._watched_red:
            self._watched_red.add(id(red))
            red.events.affine.connect(self._on_red_affine)

    def _on_red_affine(self, _event: Any = None) -> None:
        self.events.alignment()

    # --- alignment --------------------------------------------------------------------------
    def alignment(self) -> AlignmentInForce:
        """The red -> green transform in force (see the module docstring for the rule)."""
        red = self.channel_layer("red")
        if red is None:
            return AlignmentInForce(None, "no red channel")
        shown = _layer_alignment(red, self.channel_layer("green"))
        session = self.session
        if "alignment" in session:
            accepted = AlignmentTransform.from_dict(dict(session["alignment"].attrs))
            differs = not _same(accepted, shown)
            return AlignmentInForce(None if accepted.is_identity else accepted, "accepted", differs)
        if shown is not None and not shown.is_identity:
            return AlignmentInForce(shown, "not accepted")
        return AlignmentInForce(None, "none")

    def alignment_changed(self) -> None:
        """Tell widgets the alignment in force may have changed (after Accept or nudges)."""
        self.events.alignment()

    # --- frame rate -------------------------------------------------------------------------
    def fps(self) -> float | None:
        """The frame rate in force: the user's (any widget), else the recording's, else the one
        the session's results were made at (`Session.frame_rate`: a session of imported cells
        alone has no recording), else None."""
        session = self.session
        if SETTINGS_STEP in session:
            value = session[SETTINGS_STEP].attrs.get("fps")
            if value:
                return float(value)
        recording = self._recording_fps()
        return recording if recording else session.frame_rate()

    def _recording_fps(self) -> float | None:
        summary = (self.session.recording or {}).get("summary") or {}
        if summary.get("fps"):
            return float(summary["fps"])
        for role in ROLES:
            layer = self.channel_layer(role)
            if layer is not None:
                meta = layer.metadata.get("catrack", {})
                fps = (meta.get("summary") or {}).get("fps") or meta.get("fps")
                if fps:
                    return float(fps)
        return None

    def fps_source(self) -> str:
        """Where the frame rate in force came from ("set by you", "from the recording", ...)."""
        session = self.session
        if SETTINGS_STEP in session and session[SETTINGS_STEP].attrs.get("fps"):
            return str(session[SETTINGS_STEP].attrs.get("fps_source") or "set by you")
        if self._recording_fps():
            return "from the recording"
        return "from the session's results" if self.fps() else "unknown"

    def require_fps(self) -> float:
        """The frame rate in force, or an InputError saying where to set it."""
        fps = self.fps()
        if not fps:
            raise InputError(
                "the frame rate is unknown: type it in a 'frame rate' box (it is shared by every "
                "widget and kept in the session)"
            )
        return fps

    def set_fps(self, fps: float, source: str = "set by you") -> None:
        """A frame rate the user typed (or a table implied): stored in the session, shared by all."""
        if not (fps > 0 and np.isfinite(fps)):
            raise InputError(f"the frame rate must be a positive number, got {fps}")
        if fps == self.fps() and self.fps_source() == source:
            return
        session = self.session
        attrs = dict(session[SETTINGS_STEP].attrs) if SETTINGS_STEP in session else {}
        attrs["fps"] = float(fps)
        attrs["fps_source"] = source
        session.record(SETTINGS_STEP, attrs=attrs)
        self.events.fps()

    # --- pixel size -------------------------------------------------------------------------
    def pixel_size_um(self, layer: Any = None) -> float | None:
        """The image pixel size in µm: that of `layer`'s recording (its file's metadata, or the
        Load recording widget's pixel size box), else of the session's recording, else of the
        channel layers'; None when none states one. The one rule widgets use (the Worm behaviour
        widget's posture in µm, as `catrack centerline --pixel-size` gives it)."""
        layers = [layer] if layer is not None else []
        summaries = [((lay.metadata.get("catrack") or {}).get("summary") or {}) for lay in layers]
        summaries.append((self.session.recording or {}).get("summary") or {})
        for role in ROLES:
            found = self.channel_layer(role)
            if found is not None:
                summaries.append((found.metadata.get("catrack") or {}).get("summary") or {})
        for summary in summaries:
            value = summary.get("pixel_size_um")
            if value and float(value) > 0:
                return float(value)
        return None


def _norm_path(path: Any) -> str:
    import os

    return os.path.normcase(os.path.abspath(str(path))) if path else ""


def _world(layer) -> np.ndarray:
    """A layer's data -> world matrix: affine · (scale / rotate / shear / translate)."""
    from napari.utils.transforms import Affine

    physical = Affine(
        scale=layer.scale, translate=layer.translate, rotate=layer.rotate, shear=layer.shear
    ).affine_matrix
    return np.asarray(layer.affine.affine_matrix) @ physical


def layer_matrix(red, green=None) -> np.ndarray | None:
    """Red data -> green data as a 3x3 (y, x) matrix as the viewer draws it, None if identity.

    The alignment widget (and napari's own tools) keep the alignment in the red layer's affine,
    so this reads what the user sees: inverse(green world) · red world.
    """
    nd = red.ndim
    m = _world(red)
    if green is not None and green.ndim == nd:
        m = np.linalg.inv(_world(green)) @ m
    out = np.eye(3)
    out[:2, :2] = m[nd - 2 : nd, nd - 2 : nd]
    out[:2, 2] = m[nd - 2 : nd, nd]
    return None if np.allclose(out, np.eye(3)) else out


def _layer_alignment(red, green=None) -> AlignmentTransform | None:
    """The red -> green transform the red layer shows (its affine), None for identity."""
    m = layer_matrix(red, green)
    if m is None:
        return None
    data = red.data[0] if red.multiscale else red.data
    stored = red.metadata.get("catrack", {}).get("alignment") or {}
    try:
        return AlignmentTransform.from_matrix(m, tuple(data.shape[-2:]),
                                              source=str(stored.get("source") or "manual"))  # fmt: skip
    except InputError:  # a flip or shear napari's tools allow: not an alignment we can use
        return None


def _same(a: AlignmentTransform | None, b: AlignmentTransform | None, tol: float = 1e-6) -> bool:
    a_id = a is None or a.is_identity
    b_id = b is None or b.is_identity
    if a_id or b_id:
        return a_id and b_id
    return (
        abs(a.dy - b.dy) < tol
        and abs(a.dx - b.dx) < tol
        and abs(a.rotation_deg - b.rotation_deg) < tol
        and abs(a.scale - b.scale) < tol
        and abs(a.aspect - b.aspect) < tol
        and abs(a.shear - b.shear) < tol
    )
