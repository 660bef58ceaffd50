"""The "transients" session step: the one way every caller records detected transients.

tables `transients`, `cells`, and the curation's `verdicts` (kept from the step already in the
session unless new ones are given; sources record theirs through `core/sources/session.py`),
plus any the widget adds (`roi_traces`); attrs `fps`, `input` (the trace column detected on),
`traces_source` and `inputs` (files read, `io.provenance`); params `TransientParams.to_dict()`
+ `fps` (`model`: None for the shipped detector, a detector file's path, or the architecture
of a detector trained in the widget, which the session keeps as its own step).
"""

from __future__ import annotations

import os
from typing import Any

STEP = "transients"


def stored_params(params) -> dict[str, Any]:
    """`TransientParams.to_dict()` with the detector named (the detector itself is its own step)."""
    stored = params.to_dict()
    det = params.model
    if det is not None and not isinstance(det, str | os.PathLike):  # a detector object
        stored["model"] = det.config.arch
    return stored


def record_transients(
    session,
    transients,
    cells,
    params,
    *,
    fps: float,
    verdicts=None,
    tables: dict[str, Any] | None = None,
    attrs: dict[str, Any] | None = None,
    input_column: str = "dff",
    inputs: dict[str, Any] | None = None,
    dff_kinds: bool = True,
    save=None,
):
    """Store `transients` and per-cell `cells` found with `params` (`TransientParams`, or the
    dict a session already stores) at `fps`; the session's verdicts stay unless given, and
    `cells`' status and reason are theirs (as the Transients curation widget shows them).
    `dff_kinds`: the traces are the session's, so the cells take its components' `dff_kind`
    (False for another table whose cells merely share the ids)."""
    from napari_catrack.io.provenance import inputs_provenance

    all_tables = {"transients": transients}
    if verdicts is None and STEP in session:
        verdicts = session[STEP].tables.get("verdicts")  # a user's curation
    if verdicts is not None:
        all_tables["verdicts"] = verdicts
    if cells is not None:
        if verdicts is not None and len(verdicts):  # the cell table says the verdicts it is
            from napari_catrack.core.transients.features import apply_verdicts  # stored with

            cells = apply_verdicts(cells, verdicts)  # (the batch's and demos' were unverified)
        if input_column == "dff" and dff_kinds:  # a dF cell's amplitudes are dF: say which (h20)
            from napari_catrack.core.sources.session import with_dff_kind

            cells = with_dff_kind(cells, session)
        all_tables["cells"] = cells
    all_tables.update(tables or {})
    stored = dict(params) if isinstance(params, dict) else stored_params(params)
    stored["fps"] = fps
    facts = {"fps": fps, "input": input_column, **(attrs or {})}
    facts["inputs"] = inputs_provenance(session, inputs)
    return session.record(STEP, tables=all_tables, attrs=facts, params=stored, save=save)
