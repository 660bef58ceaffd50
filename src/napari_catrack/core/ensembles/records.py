"""The "ensembles" session step: the one way every caller records an ensemble analysis.

tables `events`, `members`, `event_neurons`; array `similarity`; attrs `threshold`, `warnings`,
`inputs` (files read, `io.provenance`); params the result's full parameters
(`EnsembleParams.to_dict()` + fps, as `find_ensembles` returns them).
"""

from __future__ import annotations

from typing import Any, NamedTuple

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


def traced_neurons(session, table) -> np.ndarray | None:
    """Every neuron the transients in `table` were looked for on, in the session's order: the
    transients step's cell table (one row per neuron traced, with or without transients), else
    the traces' neurons; None when neither lists every neuron of `table` (a table from another
    analysis).

    The ensembles' `n_neurons` (docs/ensembles.md): a neuron traced but silent could have been
    active and is a neuron of the recording in no ensemble, so it counts, as in the demo and the
    batch. Its shifts draw from the null's random stream, so every caller must pass the same
    neurons in the same order for the same events from the same seed (widget, `catrack
    ensembles --session`, demo, batch: this function)."""
    import pandas as pd

    lists = []
    if "transients" in session:
        lists.append(session["transients"].tables.get("cells"))
    if "traces" in session:
        lists.append(session["traces"].tables.get("traces"))
    mine = pd.Index(table["neuron_id"])
    for listed in lists:
        if listed is None or "neuron_id" not in listed:
            continue
        ids = pd.Index(pd.unique(listed["neuron_id"].to_numpy()))
        if mine.isin(ids).all():
            return ids.to_numpy()
        # a CSV reads 1 where the session stores "1": compared as text, given in the table's type
        text = ids.astype(str)
        if not mine.astype(str).isin(text).all():
            continue
        if mine.dtype.kind in "iu":
            if all(t.lstrip("-").isdigit() for t in text):
                return np.array([int(t) for t in text], dtype=mine.dtype)
            continue
        return text.to_numpy(dtype=object)
    return None


class EnsembleInput(NamedTuple):
    """What an ensemble analysis of a session reads (`ensemble_input`)."""

    transients: Any  # the table, the rejected cells' rows left out
    neuron_ids: np.ndarray | None  # every neuron traced less the rejected; None: the table's
    rejected: frozenset  # ids (as text) of the cells the session's verdicts reject


def rejected_cells(session) -> frozenset:
    """Ids (as text) of the cells the session's verdicts reject (the Sources evaluation's,
    suite2p's `iscell`, the curation's: the transients step's `verdicts` table)."""
    from napari_catrack.core.transients.features import rejected_ids

    return rejected_ids(session["transients"].tables.get("verdicts") if "transients" in session else None)  # fmt: skip


def ensemble_input(session, table) -> EnsembleInput:
    """The transients and neurons an ensemble analysis of the session uses: `table` less the rows
    of the cells the session rejects, and every neuron traced (`traced_neurons`) less those
    cells. A rejected cell is no neuron: neither it nor its transients count. The Ensembles
    widget, `catrack ensembles --session`, the batch step and both demos call this, so that
    they count the same neurons (and draw the same null from the same seed)."""
    import pandas as pd

    rejected = rejected_cells(session)
    ids = traced_neurons(session, table)
    if rejected:
        table = table[~table["neuron_id"].astype(str).isin(rejected)].reset_index(drop=True)
        if ids is not None:
            ids = ids[~pd.Index(ids).astype(str).isin(rejected)]
    return EnsembleInput(table, ids, rejected)


def traced_frames(session) -> int | None:
    """The recording length the session's traces span (one past their last frame), as the demo
    and the batch give it to the null's circular shifts; None without traces."""
    traces = session["traces"].tables.get("traces") if "traces" in session else None
    if traces is None or "frame" not in traces or not len(traces):
        return None
    return int(traces["frame"].max()) + 1


def traced_observed(session, trains):
    """`trains` with the observation mask of the session's traces (`missing` / NaN frames,
    `trains.observed_from_traces`): a neuron lost for a stretch is unknown there, not silent
    (docs/ensembles.md, "Unobserved frames"); unchanged without traces. Every route that counts
    the session's neurons (widget, `catrack ensembles --session`, demo, batch) calls this."""
    traces = session["traces"].tables.get("traces") if "traces" in session else None
    return observed_by(trains, traces)


def observed_by(trains, traces):
    """`trains` with the observation mask of a traces table (None, or one without `frame` and
    `missing` / `dff`: unchanged)."""
    from napari_catrack.core.ensembles.trains import observed_from_traces

    if traces is None or not len(traces) or not {"neuron_id", "frame"} <= set(traces.columns):
        return trains
    if "missing" not in traces.columns and "dff" not in traces.columns:
        return trains
    return trains.with_observed(observed_from_traces(traces, trains.neuron_ids, trains.n_frames))


def observation_line(trains) -> str:
    """One line on what the ensembles knew of unobserved frames (CLI, widget status)."""
    if trains.observed is None:
        return "every neuron observed at every frame"
    n = int((~trains.observed.all(axis=1)).sum())
    return (
        f"{trains.n_unobserved} neuron-frame(s) of {n} neuron(s) unobserved (NaN in the traces): "
        "unknown there, not silent"
    )


def ensembles_from_session(session):
    """The session's ensemble analysis as an `EnsembleResult`, for its figures (`catrack export`
    items `figure:ensembles_*`) from the session alone.

    The step stores the events, members, event neurons, similarity and parameters; the event
    trains are rebuilt from the session's transients (onsets, the recorded recording length; the
    neurons of the transients' cell table, else the traces', where the step counted neurons
    without transients, as the demos do; the rejected cells left out when the step left them out,
    as the Neuronal ensembles widget does), and
    the coactivity and dendrogram recomputed with the recorded parameters (both deterministic).
    The null distribution is not stored: `null_pmf` is empty (no figure draws it). Transients
    that are not those the step read (edited since: another count of events or neurons, or an
    event whose neurons with an onset in its frames are not those it stored): `InputError`, run
    the ensembles again."""
    import pandas as pd

    from napari_catrack.core.ensembles.clustering import event_linkage
    from napari_catrack.core.ensembles.null import coactivity
    from napari_catrack.core.ensembles.pipeline import EnsembleResult
    from napari_catrack.core.ensembles.trains import trains_from_table
    from napari_catrack.core.ensembles.windows import window_events
    from napari_catrack.errors import InputError

    if STEP not in session or "transients" not in session:
        raise InputError("ensemble figures need the ensembles and transients steps in the session")
    step = session[STEP]
    p = dict(step.params)
    table = session["transients"].tables.get("transients")
    if table is None:
        raise InputError("ensemble figures need the transients table in the session")
    n_frames = p.get("n_frames")
    want = (p.get("n_neurons"), p.get("n_input_events"))
    # the neurons without transients the step counted: the transients' own cell table lists
    # every neuron they were detected on (the two-photon demo: 25 accepted of 28 sources traced,
    # text ids there, integers in the traces), else the traces' neurons (the worm demo)
    lists = [session["transients"].tables.get("cells")]
    if "traces" in session:
        lists.append(session["traces"].tables.get("traces"))
    # every route leaves the rejected cells out (their transients and the neurons themselves,
    # `ensemble_input`); `catrack ensembles --session` and the batch kept them before h19, and a
    # CSV of another analysis keeps them: the curated set first, then all
    rejected = rejected_cells(session)
    for drop in ([rejected] if rejected else []) + [set()]:
        kept = table[~table["neuron_id"].astype(str).isin(drop)]
        trains = trains_from_table(kept, n_frames=n_frames)
        for listed in lists:
            if trains.n_neurons == want[0]:
                break
            if listed is not None and "neuron_id" in listed:
                ids = pd.unique(listed["neuron_id"].to_numpy())
                ids = ids[~pd.Index(ids).astype(str).isin(drop)]
                if pd.Index(kept["neuron_id"]).isin(ids).all():
                    trains = trains_from_table(kept, n_frames=n_frames, neuron_ids=ids)
        if (trains.n_neurons, trains.n_events) == want:
            break
    if (trains.n_neurons, trains.n_events) != want:
        raise InputError(
            f"the session's transients ({trains.n_events} of {trains.n_neurons} neurons) are not "
            f"those its ensembles were found from ({want[1]} of {want[0]}): run the ensembles "
            "again"
        )
    events = step.tables["events"]
    event_neurons = step.tables.get("event_neurons", pd.DataFrame())
    if not _same_participation(trains, events, event_neurons):
        raise InputError(
            "the session's transients are not those its ensembles were found from (an onset "
            "moved into or out of an ensemble event): run the ensembles again"
        )
    threshold = int(step.attrs.get("threshold", p.get("threshold") or 0))
    width = int(p["bin_frames"])
    if p.get("coactivity") == "window":
        coact = window_events(trains, width, threshold, int(p.get("min_neurons", 2)))[1]
    else:
        coact = coactivity(trains, width)
    similarity = np.asarray(step.arrays.get("similarity", np.zeros((0, 0))), float)
    linkage = event_linkage(similarity, p.get("linkage_method", "average"))  # None: < 2 events
    return EnsembleResult(
        events=events,
        members=step.tables["members"],
        event_neurons=event_neurons,
        similarity=similarity,
        linkage=linkage,
        coactivity=np.asarray(coact),
        threshold=threshold,
        null_pmf=np.zeros(0),
        null_maxima=None,
        trains=trains,
        params=p,
        warnings=list(step.attrs.get("warnings") or []),
    )


def _same_participation(trains, events, event_neurons) -> bool:
    """Whether each stored event's neurons are those with an onset in its frames
    (`start_frame`..`end_frame`, as `find_ensembles` took them) in `trains`: an edit that keeps
    the counts (an onset moved) still changes them."""
    if not len(events) or "neuron_id" not in event_neurons or "event_id" not in event_neurons:
        return True
    stored = event_neurons.groupby("event_id")["neuron_id"].agg(lambda s: set(s.tolist()))
    for event_id, lo, hi in events[["event_id", "start_frame", "end_frame"]].itertuples(
        index=False
    ):
        inside = (trains.frame >= lo) & (trains.frame <= hi)
        got = set(trains.neuron_ids[np.unique(trains.neuron[inside])].tolist())
        if got != stored.get(event_id, set()):
            return False
    return True
