"""The "puncta" session step: the one way every caller records a puncta analysis.

tables `localizations`, `events`, `tracks`; attrs `stats`, `camera`, `model`, `frame_shape`,
`n_frames`, `fps` (the frame rate of the movie, None when unknown), `inputs` (files read, `io.provenance`); params `PunctaParams.to_dict()`.
"""

from __future__ import annotations

from typing import Any

STEP = "puncta"


def record_puncta(session, result, *, inputs: dict[str, Any] | None = None,
                  fps: float | None = None, save=None):  # fmt: skip
    """Store a `PunctaResult` of a movie taken at `fps` (None: unknown)."""
    from napari_catrack.io.provenance import inputs_provenance

    return session.record(
        STEP,
        tables={
            "localizations": result.localizations,
            "events": result.events,
            "tracks": result.tracks,
        },
        attrs={
            "stats": result.stats,
            "camera": result.camera.to_dict(),
            "model": result.model_info,
            "frame_shape": list(result.frame_shape),
            "n_frames": result.n_frames,
            "fps": fps,
            "inputs": inputs_provenance(session, inputs),
        },
        params=result.params.to_dict(),
        save=save,
    )
