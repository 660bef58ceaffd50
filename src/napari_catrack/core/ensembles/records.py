"""The "ensembles" session step: the one way every caller records an ensemble analysis.

tables `events`, `members`, `event_neurons`; array `similarity`; attrs `threshold`, `warnings`,
`inputs` (files read, `io.provenance`); params the result's full parameters
(`EnsembleParams.to_dict()` + fps, as `find_ensembles` returns them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

STEP = "ensembles"


def record_ensembles(session, result, *, inputs: dict[str, Any] | None = None, save=None):
    """Store an `EnsembleResult`."""
    from napari_catrack.io.provenance import inputs_provenance

    return session.record(
        STEP,
        tables={
            "events": result.events,
            "members": result.members,
            "event_neurons": result.event_neurons,
        },
        arrays={"similarity": np.asarray(result.similarity, dtype=float)},
        attrs={
            "threshold": result.threshold,
            "warnings": list(result.warnings),
            "inputs": inputs_provenance(session, inputs),
        },
        params=result.params,
        save=save,
    )
