"""The "alignment" session step: the one way every caller records an accepted alignment.

attrs: the transform (`AlignmentTransform.to_dict()`: dy, dx, rotation_deg, scale, source; what
`AlignmentTransform.from_dict` and the session's layers read back) and `inputs` (the files read,
`io.provenance`); params: `AlignParams.to_dict()` of the estimate, plus `file` when the
transform came from an alignment file and `estimate` (the estimate before a user's nudges).
"""

from __future__ import annotations

from typing import Any

STEP = "alignment"


def record_alignment(
    session,
    transform,
    params=None,
    *,
    file: str | None = None,
    estimate=None,
    facts: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    save=None,
):
    """Store `transform` (an `AlignmentTransform`) estimated with `params` (`AlignParams`)."""
    from napari_catrack.io.provenance import inputs_provenance

    stored: dict[str, Any] = params.to_dict() if params is not None else {}
    if file:
        stored["file"] = session.stored_path(file)
    if estimate is not None:
        stored["estimate"] = estimate.to_dict()
        stored["estimate_info"] = dict(getattr(estimate, "info", {}) or {})
    stored.update(facts or {})
    attrs = {**transform.to_dict(), "inputs": inputs_provenance(session, inputs)}
    return session.record(STEP, attrs=attrs, params=stored, save=save)
