"""The "summary" session step: the one way every caller records summary images.

arrays: mean, max, std, correlation, pnr (`SummaryImages.as_dict()`); params:
`SummaryParams.to_dict()`; attrs: `inputs` (the movie read, `io.provenance`) and, when there
are any, `notes` (e.g. the NaN border left out: why the images are NaN there).
"""

from __future__ import annotations

from typing import Any

STEP = "summary"


def record_summary(
    session, images, params=None, *, inputs: dict[str, Any] | None = None, save=None
):
    """Store `images` (`SummaryImages`) computed with `params` (`SummaryParams`, default)."""
    from napari_catrack.core.summary import SummaryParams
    from napari_catrack.io.provenance import inputs_provenance

    params = params if params is not None else SummaryParams()
    return session.record(
        STEP,
        arrays=images.as_dict(),
        attrs={
            "inputs": inputs_provenance(session, inputs),
            **({"notes": list(images.notes)} if getattr(images, "notes", None) else {}),
        },
        params=params.to_dict(),
        save=save,
    )
