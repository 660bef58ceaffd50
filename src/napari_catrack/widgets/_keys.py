"""One registry of the keys napari-catrack binds on a viewer, so two widgets never hold the same
key at the same time.

The alignment nudges (W/A/S/D/Q/E/R) and the curation keys (A add, D delete, R reject, ...) used
to be bound side by side: pressing A while curating moved the red channel. Now a widget *claims*
its keys (all or none); a claim that would take a key another widget holds raises `KeyConflict`
naming the holder, and releasing gives back whatever the keys did before.

    keys = KeyRegistry.of(viewer)
    keys.claim("Align channels", {"W": up, "Shift-W": up10})   # or KeyConflict
    keys.release("Align channels")
    keys.events.connect(callback)                              # called after any claim/release
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from napari_catrack.errors import InputError

_REGISTRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class KeyConflict(InputError):
    """A key is already held by another napari-catrack widget."""


def _normal(key: str) -> str:
    from napari.utils.key_bindings import coerce_keybinding

    return str(coerce_keybinding(key))


class KeyRegistry:
    """The catrack key bindings of one viewer (`KeyRegistry.of(viewer)`)."""

    def __init__(self, viewer: Any) -> None:
        self._viewer_ref = weakref.ref(viewer)
        self._holder: dict[str, str] = {}  # normalised key -> owner
        self._previous: dict[str, Any] = {}  # normalised key -> what it did before
        self._listeners: list[Callable[[], None]] = []

    @classmethod
    def of(cls, viewer: Any) -> KeyRegistry:
        from napari_catrack.session import real_viewer  # (not a widget's proxy: see there)

        viewer = real_viewer(viewer)
        reg = _REGISTRIES.get(viewer)
        if reg is None:
            reg = cls(viewer)
            _REGISTRIES[viewer] = reg
        return reg

    # --- queries ------------------------------------------------------------------------------
    def holder(self, key: str) -> str | None:
        return self._holder.get(_normal(key))

    def held(self, owner: str) -> list[str]:
        return sorted(k for k, o in self._holder.items() if o == owner)

    def conflicts(self, owner: str, keys) -> dict[str, str]:
        """key -> other owner, for the keys another owner holds."""
        out = {}
        for key in keys:
            other = self._holder.get(_normal(key))
            if other is not None and other != owner:
                out[key] = other
        return out

    # --- claiming -----------------------------------------------------------------------------
    def claim(self, owner: str, bindings: dict[str, Callable]) -> None:
        """Bind all `bindings` on the viewer for `owner`, or none of them (KeyConflict)."""
        taken = self.conflicts(owner, bindings)
        if taken:
            by: dict[str, list[str]] = {}
            for key, other in taken.items():
                by.setdefault(other, []).append(key)
            held = "; ".join(f"{', '.join(keys)} held by {other}" for other, keys in by.items())
            raise KeyConflict(f"{owner}: keys in use ({held}); turn those keys off there first")
        viewer = self._viewer_ref()
        if viewer is None:
            return
        for key, callback in bindings.items():
            norm = _normal(key)
            if self._holder.get(norm) != owner:
                self._previous[norm] = viewer.keymap.get(norm)
            viewer.bind_key(key, callback, overwrite=True)
            self._holder[norm] = owner
        self._changed()

    def release(self, owner: str) -> None:
        """Unbind the owner's keys and give back what they did before."""
        viewer = self._viewer_ref()
        keys = self.held(owner)
        for norm in keys:
            del self._holder[norm]
            previous = self._previous.pop(norm, None)
            if viewer is None:
                continue
            viewer.bind_key(norm, None)
            if previous is not None:
                viewer.bind_key(norm, previous, overwrite=True)
        if keys:
            self._changed()

    # --- listeners ----------------------------------------------------------------------------
    def connect(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after every claim or release (e.g. to retry a refused claim)."""
        self._listeners.append(callback)

    def disconnect(self, callback: Callable[[], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except RuntimeError:  # a closed widget: forget it
                self.disconnect(callback)
