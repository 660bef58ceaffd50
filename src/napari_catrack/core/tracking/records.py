"""The "neurons" and "tracks" session steps: the one way every caller records them.

- "neurons": table `candidates` (detected, green-frame pixels, with `frame`) and, when a user
  picked seeds, `selected`; params `DetectParams.to_dict()` + `frame`, `channel` (and the
  widget's `image`); attrs `inputs`.
- "tracks": table `tracks` (neuron_id, frame, y, x, ... in green-frame pixels); params
  `TrackParams.to_dict()` (`channel`: the one tracked) + `brightness_rules` (steady | calcium:
  what `brightness` auto resolved to; absent before h17, and before h16 the rules were steady),
  `seed_frame` and `alignment` (the red -> green transform the tracks
  were mapped through, None for none) and a re-track's facts; attrs `inputs`.
"""

from __future__ import annotations

from typing import Any

NEURONS, TRACKS = "neurons", "tracks"


def record_neurons(
    session,
    candidates,
    params,
    *,
    frame: int | None,
    channel: str | None,
    selected=None,
    facts: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    save=None,
):
    """Store detected `candidates` (and the user's `selected` seeds) found with `params`."""
    from napari_catrack.io.provenance import inputs_provenance

    tables = {}
    if selected is not None:
        tables["selected"] = selected
    if candidates is not None:
        tables["candidates"] = candidates
    stored = params.to_dict() if params is not None else {}  # None: seeds placed by hand
    if frame is not None:
        stored["frame"] = int(frame)
    if channel is not None:
        stored["channel"] = channel
    stored.update(facts or {})
    return session.record(
        NEURONS,
        tables=tables,
        attrs={"inputs": inputs_provenance(session, inputs)},
        params=stored,
        save=save,
    )


def record_tracks(
    session,
    tracks,
    params,
    *,
    seed_frame: int,
    alignment=None,
    facts: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    save=None,
):
    """Store `tracks` (green-frame pixels) tracked with `params` (`TrackParams`) from seeds at
    `seed_frame`, mapped through `alignment` (an `AlignmentTransform`, or None). A `params.model`
    that is a folder (a trained tracker) is added to `inputs`."""
    import os

    from napari_catrack.io.provenance import inputs_provenance

    model = getattr(params, "model", "")
    if model and os.path.exists(model):  # a trained tracker's folder, not a built-in name:
        inputs = {**(inputs or {}), "model": model}  # its files' SHA-256 (CLI, widget, batch)
    from napari_catrack.core.tracking.tracker import resolve_brightness

    stored = {
        **params.to_dict(),
        # the rules `brightness="auto"` ran (from `params.channel`: the channel tracked)
        "brightness_rules": resolve_brightness(params).brightness,
        "seed_frame": int(seed_frame),
        "alignment": None if alignment is None else alignment.to_dict(),
        **(facts or {}),
    }
    return session.record(
        TRACKS,
        tables={"tracks": tracks},
        attrs={"inputs": inputs_provenance(session, inputs)},
        params=stored,
        save=save,
    )
