"""The "traces" session step (traces along tracks): the one way every caller records it.

table `traces` (neuron_id, frame, time_s, green, red, ratio, dff, ... and `dff_clean` when
cleaned); attrs `fps` and `inputs` (files read, `io.provenance`); params `TracesParams.to_dict()`
+ `fps`, `alignment` (the red -> green transform used, None for none) and, when the traces were
cleaned, `cleaning` (what ran) and `cleaning_params` (`CleaningParams.to_dict()`), and, when
the red noise floor was measured (`red_floor` not all NaN), `red_floor_estimator` (the
estimator's name and version, `extraction.RED_FLOOR_ESTIMATOR`; none: h17's).
Traces of extracted or imported sources are recorded by `core/sources/session.py`.
"""

from __future__ import annotations

from typing import Any

STEP = "traces"


def record_traces(
    session,
    traces,
    params,
    *,
    fps: float | None,
    alignment=None,
    cleaning: dict[str, Any] | None = None,
    cleaning_params=None,
    facts: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    save=None,
):
    """Store `traces` extracted with `params` (`TracesParams`) at `fps`."""
    from napari_catrack.io.provenance import inputs_provenance

    stored = {
        **params.to_dict(),
        "fps": fps,
        "alignment": None if alignment is None else alignment.to_dict(),
    }
    if cleaning is not None:
        stored["cleaning"] = cleaning
        if cleaning_params is not None:
            stored["cleaning_params"] = cleaning_params.to_dict()
    if "red_floor" in getattr(traces, "columns", ()) and traces["red_floor"].notna().any():
        from napari_catrack.core.signals.extraction import RED_FLOOR_ESTIMATOR

        stored["red_floor_estimator"] = RED_FLOOR_ESTIMATOR  # what made the red noise floor
    stored.update(facts or {})
    attrs = {"fps": fps, "inputs": inputs_provenance(session, inputs)}
    return session.record(STEP, tables={"traces": traces}, attrs=attrs, params=stored, save=save)


def record_cleaning(session, traces, cleaning: dict[str, Any], cleaning_params, save=None):
    """Re-record the step with a cleaned `dff_clean` column, keeping what it already holds."""
    rec = session[STEP]
    params = {**rec.params, "cleaning": cleaning, "cleaning_params": cleaning_params.to_dict()}
    return session.record(
        STEP, tables={**rec.tables, "traces": traces}, attrs=rec.attrs, params=params, save=save
    )


def record_loaded_traces(session, traces, path=None, *, view_cleaning=None, save=None):
    """A traces table the user loaded from a file and chose as the session's traces: params say
    so (`source: loaded file`, its path) and attrs `inputs` name the file, nothing claims an
    extraction that did not happen."""
    from napari_catrack.io.provenance import inputs_provenance

    source = session.stored_path(path) if path else "a table"
    params = {"source": "loaded file", "path": source, **(view_cleaning or {})}
    attrs = {"inputs": inputs_provenance(session, {"traces": path} if path else None)}
    return session.record(STEP, tables={"traces": traces}, attrs=attrs, params=params, save=save)


def results_from_traces(session) -> list[str]:
    """The steps in `session` computed from its traces, described for the user: what replacing
    the traces leaves out of date (the curation's cell verdicts are not among them)."""
    found = []
    if "transients" in session:
        rec = session["transients"]
        table = rec.tables.get("transients")
        if str(rec.attrs.get("traces_source") or "session") == "session" and table is not None and len(table):  # fmt: skip
            cells = table["neuron_id"].nunique() if "neuron_id" in table else 0
            found.append(f"transients ({len(table)} detected in {cells} cells)")
    if "ensembles" in session:
        found.append("ensembles")
    if "eta" in session:
        found.append("event-triggered averages (eta)")
    return found


def forget_results_from_traces(session, neuron_ids, save=None) -> list[str]:
    """Remove the results `results_from_traces` lists (returned), keeping the user's cell
    verdicts of `neuron_ids` (the new traces' neurons) and cells drawn in the curation."""
    from napari_catrack.core.sources.session import read_verdicts, write_verdicts

    removed = results_from_traces(session)
    if any(r.startswith("transients") for r in removed):
        roi = session["transients"].tables.get("roi_traces")  # drawn cells: the movie's, kept
        keep = {str(n) for n in neuron_ids}
        if roi is not None and len(roi):
            keep |= set(roi["neuron_id"].astype(str))
        verdicts = read_verdicts(session)
        session.remove("transients", save=False)
        write_verdicts(session, verdicts[verdicts["neuron_id"].isin(keep)], save=False)
        if roi is not None and len(roi):
            rec = session["transients"]
            tables = {**rec.tables, "roi_traces": roi}
            session.record("transients", tables=tables, attrs=rec.attrs, params=rec.params, save=False)  # fmt: skip
    for step in ("ensembles", "eta"):
        session.remove(step, save=False)
    if save:
        session.save()
    elif save is None and session.autosave:
        session.autosave_now()  # (the GUI's: written in the background)
    return removed
