"""Sources in the session: components + footprints, the traces every later step reads, verdicts.

- step "sources": table `components`, the footprints as the parts of a sparse (pixels x
  components) CSC matrix (arrays `footprint_data`, `footprint_indices`, `footprint_indptr`,
  `footprint_shape` = (K, Y, X); `footprints.Footprints`), the parameters, and attrs `notes`
  when the run had any (the NaN border left out: the region used). Sessions written before
  session 14 hold a dense array `footprints` (K, Y, X) instead: still read (`session_footprints`);
- step "traces": table `traces` (neuron_id, frame, time_s, raw, denoised, spikes, dff, and
  `green` = raw, the column the trace viewer plots), so transients, curation, ensembles and
  exports work on extracted or imported cells unchanged;
- cell verdicts live where the transients curation keeps them (step "transients", table
  `verdicts`: neuron_id, status, reason): accepting or rejecting a component here is the same
  verdict the curation shows, and the reverse. Components the evaluation rejected start out
  "rejected" with the evaluation's reason prefixed "auto: "; new thresholds replace those
  automatic verdicts and never a user's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from napari_catrack.core.sources.evaluation import typed_components
from napari_catrack.core.sources.extract import SourcesResult
from napari_catrack.core.sources.footprints import SESSION_ARRAYS, Footprints, as_footprints
from napari_catrack.errors import InputError

SOURCES_STEP = "sources"
TRACES_STEP = "traces"
VERDICT_STEP = "transients"
VERDICT_COLUMNS = ["neuron_id", "status", "reason"]
AUTO = "auto: "  # reason prefix of verdicts the evaluation made (new thresholds replace them)
DELETED = "deleted in the footprints layer"  # reason of a verdict made by erasing a whole label


def traces_for_session(result: SourcesResult) -> pd.DataFrame:
    table = result.traces_table()
    table["green"] = table["raw"]
    return table


def check_against_movie(
    result: SourcesResult,
    frames: int | None,
    shape: tuple[int, int] | None,
    *,
    what: str = "the import",
) -> list[str]:
    """Call before `record_sources` with the session's movie (frames, (height, width); None when
    unknown). Footprints of another image size belong to another movie: refused (InputError).
    Traces of another length are kept (a tool may have run on a longer or shorter movie), with
    the warning returned: their frames do not line up with the movie's, and the NWB export
    refuses them until they do."""
    fp_shape = tuple(np.shape(result.footprints)[1:])
    if shape and all(shape) and fp_shape and tuple(int(v) for v in shape) != fp_shape:
        raise InputError(
            f"{what}'s footprints are {fp_shape[0]}x{fp_shape[1]} px (height x width) but the "
            f"session's movie is {int(shape[0])}x{int(shape[1])} px: they belong to another movie"
        )
    n = int(np.shape(result.raw)[1]) if np.ndim(result.raw) == 2 else 0
    if frames and n and n != int(frames):
        return [
            f"{what}'s traces have {n} frames but the session's movie has {int(frames)}: their "
            "frames do not line up with the movie's (another movie, or a part of it?); the NWB "
            "export refuses them"
        ]
    return []


def record_sources(
    session, result: SourcesResult, *, origin: str = "extracted", inputs=None, save=None
) -> list[str]:
    """Store components, footprints, traces and the evaluation's verdicts in the session;
    `inputs` ({role: path}) are the files read (`io.provenance`, attrs `inputs` of both steps).
    Hand verdicts on cells these components no longer have are dropped, and said: a line in
    `result.notes` and the step's attrs `notes`, also returned (the lines to show)."""
    from napari_catrack.io.provenance import inputs_provenance

    made, read = _made_by(session, result, origin, inputs_provenance(session, inputs))
    comps = result.components.reset_index(drop=True)
    moved = _moved_ids(session, comps, result, origin)  # before the new components replace the old
    mine, dropped = _hand_verdicts(session, comps, moved)  # all decided before anything is recorded
    what = "extraction" if origin == "extracted" else "import"
    said = [_dropped_text(dropped, why=_by_footprint(session, comps, origin), what=what)] if dropped else []  # fmt: skip
    if twins := _twin_text(session, dropped, result):  # one footprint, two verdicts (h21)
        said.append(twins)
    result.notes.extend(n for n in said if n not in result.notes)
    attrs = {"origin": origin, "fps": result.fps, "inputs": read}
    if origin == "edited" and SOURCES_STEP in session:  # who made the cells edited (h19); an
        # edit made before h19 (origin "edited", no edited_from) stays unknown when re-judged
        before = session[SOURCES_STEP].attrs
        if (was := before.get("edited_from") or before.get("origin")) and was != "edited":
            attrs["edited_from"] = str(was)
    if notes := [*_notes(session, result, origin), *said]:
        attrs["notes"] = notes
    session.record(
        SOURCES_STEP,
        tables={"components": comps},
        arrays=as_footprints(result.footprints).to_arrays(),  # sparse: never K full frames
        attrs={**attrs, "n_components": len(comps)},
        params={**made, "evaluation": result.evaluation.to_dict()},
        save=False,
    )
    session.record(
        TRACES_STEP,
        tables={"traces": traces_for_session(result)},
        attrs={"source": SOURCES_STEP, "origin": origin, "fps": result.fps, "inputs": read},
        params=made,
        save=False,
    )
    auto = comps.loc[~comps["accepted"].astype(bool), ["neuron_id", "reason"]]
    verdicts = pd.DataFrame(
        {
            "neuron_id": auto["neuron_id"].astype(str),
            "status": "rejected",
            "reason": AUTO + auto["reason"].astype(str),
        }
    )
    verdicts = verdicts[~verdicts["neuron_id"].isin(mine["neuron_id"])]
    verdicts = pd.concat([mine, verdicts], ignore_index=True) if len(mine) else verdicts
    write_verdicts(session, verdicts, fps=result.fps, save=save)
    return said


def _hand_verdicts(session, comps: pd.DataFrame, moved: dict | None) -> tuple[pd.DataFrame, list[str]]:  # fmt: skip
    """The session's hand verdicts (not the evaluation's "auto: " ones) on `comps`' cells, each
    under its cell's new id (`moved`), and the ids of those whose cell is gone (as they were)."""
    mine = read_verdicts(session)
    mine = mine[~mine["reason"].str.startswith(AUTO)]
    was = mine["neuron_id"].to_numpy()
    if moved is not None:  # the same cells under new ids: each verdict stays on its cell
        mine = mine.assign(neuron_id=[moved.get(i, i) for i in mine["neuron_id"]])
    kept = (mine["neuron_id"].notna() & mine["neuron_id"].isin(comps["neuron_id"].astype(str))).to_numpy()  # fmt: skip
    # twins (one footprint) that said the same found one new cell: its verdict once (h22)
    return mine[kept].drop_duplicates("neuron_id"), sorted((str(i) for i in was[~kept]), key=_id_key)  # fmt: skip


def _dropped_text(ids: list[str], why: str = "", what: str = "import") -> str:
    """The note on hand verdicts a re-import (`what` "import") or a new extraction dropped: how
    many, and their ids. `why`: the cells were found by footprint (`_by_footprint`), and why
    these have none in this import or extraction."""
    shown = ", ".join(ids[:20]) + (", ..." if len(ids) > 20 else "")
    why = f" ({why})" if why else ""
    if len(ids) == 1:
        return f"1 hand verdict on a cell this {what} no longer has was dropped: id {shown}{why}"
    return f"{len(ids)} hand verdicts on cells this {what} no longer has were dropped: ids {shown}{why}"  # fmt: skip


def _moved_ids(session, comps: pd.DataFrame, result: SourcesResult | None = None, origin: str | None = None) -> dict[str, str] | None:  # fmt: skip
    """{old id: new id} of the cells the session's components and `comps` both place by
    (`plane`, `plane_roi`) (a multi-plane suite2p import: ids run through the planes, so a
    plane that gained a ROI moves every later plane's ids); None when either has no such
    columns (ids are the cells' own there). A cell no longer there maps to nothing; a cell
    without a place (drawn by hand: NaN) keeps its id unless that id is now a placed cell's
    (a re-import replaced the drawn cell: its verdict would land on another).

    A session whose cells are one suite2p plane imported before session 17 (`--plane N` or a
    planeN folder: ids 0..K-1 within the plane, no `plane` column; its provenance records no
    `plane`), or cells edited by hand before h19 (whose record no longer says where they came
    from), gets its ids mapped by footprint (`_plane_local_ids`; cells drawn or reshaped by hand
    map to nothing), or an InputError when its hand verdicts cannot be placed for sure.

    Every path that replaces the session's cells (`_replaces`: any import, the same tool's
    again included, and any extraction) follows one rule: a hand verdict follows the cell of the
    same footprint (to float rounding: `_same_footprint`), else nothing (`_same_cells_ids`). Another run of a tool numbers its
    cells in its own order (CaImAn, Minian, ImageJ: ids; suite2p: its rows, `plane_roi`), an
    extraction over cells extracted before with other settings too, and another maker's cells
    share no ids with the session's: by id (before h19; the same tool's re-import before h20)
    a verdict landed on another cell. Cells re-judged in place keep their footprints, so their
    verdicts stay; cells edited in place ("edited": drawn or reshaped) keep their ids, and go
    by id (or place) as above."""
    cols = ["plane", "plane_roi"]
    if SOURCES_STEP not in session or "components" not in session[SOURCES_STEP].tables:
        return None
    old = session[SOURCES_STEP].tables["components"]
    if _replaces(origin) and not _legacy_plane(session, old, comps):
        return _same_cells_ids(session, old, comps, result)
    if not set(cols) <= set(comps.columns):
        return None
    if not set(cols) <= set(old.columns):
        if how := _plane_local(session[SOURCES_STEP]):
            return _plane_local_ids(session, old, comps, result, known=how == "suite2p")
        return None

    def places(table: pd.DataFrame) -> dict[str, tuple]:  # a cell drawn by hand has none (NaN)
        at = table[cols].apply(pd.to_numeric, errors="coerce")
        ok = at.notna().all(axis=1).to_numpy()
        ids = table["neuron_id"].astype(str).to_numpy()[ok]
        return dict(zip(ids, map(tuple, at.to_numpy(np.int64, na_value=-1)[ok]), strict=True))

    new = {place: i for i, place in places(comps).items()}
    placed = set(new.values())
    before = places(old)  # ids without a place keep their id, if no placed cell took it
    keep = set(old["neuron_id"].astype(str)) - set(before)
    return {**{i: new.get(place) for i, place in before.items()},
            **{i: None if i in placed else i for i in keep}}  # fmt: skip


def _replaces(origin: str | None) -> bool:
    """Whether cells of this `origin` replace the session's (an import or an extraction: found
    again, numbered in their own order) rather than being the session's own cells re-judged or
    edited in place ("re-evaluated", "edited", or None: a caller that does not say)."""
    return origin == "extracted" or origin in IMPORTED


def _legacy_plane(session, old: pd.DataFrame, comps: pd.DataFrame) -> bool:
    """The session holds one suite2p plane imported before session 17 (no place columns, ids
    counted within the plane: `_plane_local`) and `comps` have places: `_plane_local_ids` maps
    them, telling the plane (its error when it cannot be told is for that case)."""
    cols = {"plane", "plane_roi"}
    return (cols <= set(comps.columns) and not cols <= set(old.columns)
            and _plane_local(session[SOURCES_STEP]) is not None)  # fmt: skip


def _by_footprint(session, comps: pd.DataFrame, origin: str | None = None) -> str:
    """Why a hand verdict has no cell when `_moved_ids` finds the session's cells by footprint
    (`_same_cells_ids`, `_plane_local_ids`); "" when it goes by id or place."""
    if SOURCES_STEP not in session or "components" not in session[SOURCES_STEP].tables:
        return ""
    what = "extraction" if origin == "extracted" else "import"
    if was := _other_maker(session, origin):
        return (f"the session's cells were {_maker_words(was)}, these are {_maker_words(origin)}, "
                f"with ids of their own: no cell of this {what} has its footprint")  # fmt: skip
    if origin == "extracted":  # a new run (other settings): ids in its own order
        before = "extracted" if _cells_made_by(session[SOURCES_STEP]) == "extracted" else "found"
        return (f"the session's cells were {before} before, these are a new extraction's, with "
                "ids of their own: no cell of this extraction has its footprint")  # fmt: skip
    old = session[SOURCES_STEP].tables["components"]
    if _legacy_plane(session, old, comps):
        return "drawn or reshaped by hand, or changed in the output since: no cell of this import has its footprint"  # fmt: skip
    if origin in IMPORTED:  # the same tool's output again
        from napari_catrack.core.sources.imported import tool_name

        return (f"{tool_name(origin)}'s cells are found again by their footprints, as another run of it "
                "numbers them in its own order: no cell of this import has its footprint")  # fmt: skip
    return ""


def _maker_words(maker: str | None) -> str:
    from napari_catrack.core.sources.imported import tool_name

    return "extracted by catrack" if maker == "extracted" else f"{tool_name(maker)}'s"


def _cells_made_by(rec) -> str | None:
    """Who found a "sources" step's cells: an imported tool (suite2p, ...), "extracted"
    (catrack's own), or None when its record cannot say (an edit made before h19)."""
    params = rec.params or {}
    origin = rec.attrs.get("origin")
    if origin == "edited":
        origin = rec.attrs.get("edited_from")
    elif origin not in (*IMPORTED, "extracted"):  # re-evaluated: what it re-judged
        tool = (params.get("import") or {}).get("tool")
        origin = tool or ("extracted" if params.get("sources") else None)
    return str(origin) if origin in (*IMPORTED, "extracted") else None


def _other_maker(session, origin: str | None) -> str | None:
    """The maker of the session's cells when `origin` (the new cells') is another one."""
    if origin not in (*IMPORTED, "extracted") or SOURCES_STEP not in session:
        return None
    was = _cells_made_by(session[SOURCES_STEP])
    return was if was is not None and was != origin else None


def _same_cells_ids(session, old: pd.DataFrame, comps: pd.DataFrame, result) -> dict:
    """{id: new id} for the session's cells that have a hand verdict and whose footprint (the
    pixels, weights up to a scale and to float rounding: `_same_footprint`) is a cell's of `comps`; every other id
    (hand verdicts on ids the session no longer has included) maps to nothing. Where both say
    their cell's `plane`, it must be the same (planes overlaid in one frame: the same pixels in
    another plane are another cell). Where several cells of `comps` still have that footprint,
    the one at the same place (`plane`, `plane_roi`), else of the same id, else the first."""
    ids = old["neuron_id"].astype(str).tolist()
    mine = read_verdicts(session)
    given = set(mine.loc[~mine["reason"].str.startswith(AUTO), "neuron_id"].astype(str))
    out = dict.fromkeys([*ids, *given])
    if result is None or not given:
        return out
    before, now = session_footprints(session[SOURCES_STEP]), as_footprints(result.footprints)
    if len(before) != len(ids) or tuple(before.frame_shape) != tuple(now.frame_shape):
        return out
    new_ids = comps["neuron_id"].astype(str).to_numpy()
    was_in, now_in = _places(old, ["plane"]), _places(comps, ["plane"])
    if new_ids.tolist() == ids and was_in == now_in and _same_matrix(before, now):
        return {**out, **{i: i for i in ids if i in given}}  # the same cells (re-judged): fast
    was_at, now_at = _places(old), _places(comps)
    found = _matching_cells(before, [j for j, i in enumerate(ids) if i in given], now)
    for j, i in enumerate(ids):
        if i in given:
            same = [k for k in found[j]  # another plane's: another cell
                    if was_in[j] is None or now_in[k] is None or was_in[j] == now_in[k]]  # fmt: skip
            if len(same) > 1:  # the same footprint twice: its place, else its id, else the first
                same = ([k for k in same if was_at[j] is not None and now_at[k] == was_at[j]]
                        or [k for k in same if new_ids[k] == i] or same)  # fmt: skip
            out[i] = str(new_ids[same[0]]) if same else None
    # two of the session's cells with the one footprint found one new cell: which verdict is its
    # cell's cannot be told, so neither is kept (dropped and named: `_twin_text`) (h21), unless
    # both say the same (status and reason): then it is the new cell's either way (h22)
    said = mine[~mine["reason"].str.startswith(AUTO)].astype({"neuron_id": str})
    said = dict(zip(said["neuron_id"], zip(said["status"], said["reason"], strict=True), strict=True))  # fmt: skip
    olds: dict[str, set] = {}
    for i, n in out.items():
        if n is not None:
            olds.setdefault(n, set()).add(said.get(i))
    split = {n for n, verdicts in olds.items() if len(verdicts) > 1}
    return {i: (None if n in split else n) for i, n in out.items()}


def _twin_text(session, ids: list[str], result) -> str:
    """Of the dropped hand verdicts' `ids`, those on session cells that share one footprint which
    a cell of `result` has (`_same_cells_ids` keeps neither: whose verdict is that cell's cannot
    be told), said; "" if none. Twins whose verdicts agree kept theirs: not dropped, not named."""
    if (SOURCES_STEP not in session or "components" not in session[SOURCES_STEP].tables
            or not ids or result is None):  # fmt: skip
        return ""
    old = session[SOURCES_STEP].tables["components"]["neuron_id"].astype(str).tolist()
    before, now = session_footprints(session[SOURCES_STEP]), as_footprints(result.footprints)
    if len(before) != len(old) or tuple(before.frame_shape) != tuple(now.frame_shape):
        return ""
    cols = [old.index(i) for i in ids if i in old]
    found = _matching_cells(before, cols, now)
    rows = [(old[j], _cell_pixels(before, j)) for j in cols if found[j]]  # a new cell has it
    twins = sorted({i for i, a in rows for j, b in rows if i != j and _same_footprint(a, b)}, key=_id_key)  # fmt: skip
    if not twins:
        return ""
    return (f"ids {', '.join(twins)} had one footprint, which one cell of this import or "
            "extraction has: whose verdict is its cannot be told, so none was kept")  # fmt: skip


def _same_matrix(a: Footprints, b: Footprints) -> bool:
    """The very same footprints, stored alike (cells recorded again as they were: a
    re-evaluation of an import's or an extraction's cells), told without comparing cell by cell."""
    ma, mb = a.matrix, b.matrix
    return (ma.shape == mb.shape and np.array_equal(ma.indptr, mb.indptr)
            and np.array_equal(ma.indices, mb.indices) and np.array_equal(ma.data, mb.data))  # fmt: skip


def _places(table: pd.DataFrame, cols=("plane", "plane_roi")) -> list[tuple | None]:
    """Each row's (`plane`, `plane_roi`) (or the `cols` given), None where it has none (no such
    columns, or NaN: a cell drawn by hand)."""
    if not set(cols) <= set(table.columns):
        return [None] * len(table)
    at = table[list(cols)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    return [tuple(int(v) for v in row) if np.isfinite(row).all() else None for row in at]


def check_verdicts_follow(session, result: SourcesResult, origin: str) -> None:
    """Raise the InputError `record_sources(..., origin=origin)` would (a session's hand
    verdicts that cannot be placed on these cells, `_moved_ids`), before anything is written:
    the same `origin`, so the check takes the record's path (by footprint for an import)."""
    _moved_ids(session, result.components.reset_index(drop=True), result, origin)


def _plane_local(rec) -> str | None:
    """How sure it is that the "sources" step holds one suite2p plane's cells recorded before
    session 17 (ids counted within that plane, the import recorded no `plane`): "suite2p" when
    its provenance says so (an import, or cells edited or re-judged since h19, which keep it);
    "unknown" for cells edited by hand ("Fit drawn/edited cells") before h19, whose record
    says only "edited" (they may be such a plane's, or extracted; since h19 an edit records
    `edited_from`, the origin of the cells it edited); None otherwise."""
    made = (rec.params or {}).get("import") or {}
    suite2p = made.get("tool") == "suite2p" or (not made and rec.attrs.get("origin") == "suite2p")
    if suite2p and "plane" not in made:
        return "suite2p"
    if not made and rec.attrs.get("origin") == "edited" and "edited_from" not in rec.attrs:
        return "unknown"
    return None


def _plane_local_ids(session, old: pd.DataFrame, comps: pd.DataFrame, result, known: bool = True) -> dict:  # fmt: skip
    """{old id: new id} for a session of one suite2p plane imported before session 17 (its ids
    0..K-1 were that plane's rows, whichever plane it was; the provenance did not say which):
    the plane of `comps` whose row `id` has the footprint (pixels, and weights up to a scale) of
    the session's cell `id` for most of the session's cells (`_plane_matches`), and where two
    planes do, the session's raw traces. Cells drawn or reshaped by hand since ("Fit
    drawn/edited cells") have footprints of their own: they map to nothing (their hand verdicts
    are dropped, and said). No such plane, or more than one: an InputError when the user gave
    verdicts by hand (they could land on other cells), else every old id maps to nothing (the
    evaluation's verdicts are made again). `known`: the provenance says the cells are suite2p's
    (else they were edited before h19, `_plane_local` "unknown", and may be another origin's)."""
    ids = old["neuron_id"].astype(str).tolist()
    mine = read_verdicts(session)
    given = mine[~mine["reason"].str.startswith(AUTO) & mine["neuron_id"].isin(ids)]
    nothing = dict.fromkeys(ids)
    if not len(given):
        return nothing
    planes, matches = [], {}
    if result is not None:
        matches = _plane_matches(session, comps, result, ids)
        planes = [p for p, m in matches.items() if m]
        most = max((len(matches[p]) for p in planes), default=0)
        planes = [p for p in planes if len(matches[p]) == most]
        if len(planes) > 1:
            planes = [p for p in planes if _same_traces(session, comps, result, matches[p])] or planes  # fmt: skip
    if len(planes) == 1:
        return {**nothing, **matches[planes[0]]}
    why = (
        f"planes {', '.join(map(str, planes))} all have its cells' footprints and traces"
        if planes
        else "no plane of this import has most of its cells' footprints (the suite2p output "
        "re-run or edited since?)"
    )
    shown = ", ".join(sorted(given["neuron_id"].unique(), key=_id_key)[:5])
    verdicts = (
        f"Its {len(given)} hand verdict(s) (cell(s) {shown}"
        f"{', ...' if given['neuron_id'].nunique() > 5 else ''}) would land on other cells "
        "under this import's ids"
    )
    if known:
        raise InputError(
            f"this session's cells were imported from one suite2p plane before session 17 "
            f"(ids counted within that plane, no 'plane' column), and which plane cannot be "
            f"told: {why}. {verdicts}: import that plane of the unchanged suite2p output into "
            "it, or import into a new session"
        )
    raise InputError(
        "this session's cells were edited by hand (Fit drawn/edited cells) before h19, which "
        "did not record where they came from (extracted, or one suite2p plane imported before "
        f"session 17 with ids counted within it), and this import cannot tell: {why}. "
        f"{verdicts}: import into a new session"
    )


def _cell_pixels(fp: Footprints, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Footprint k as (sorted (row, column) pairs, weights): comparable across frame sizes."""
    m = fp.matrix
    lo, hi = m.indptr[k], m.indptr[k + 1]
    flat, w = m.indices[lo:hi], m.data[lo:hi]
    keep = w != 0
    yx = np.column_stack(np.divmod(flat[keep].astype(np.int64), fp.frame_shape[1]))
    order = np.lexsort((yx[:, 1], yx[:, 0]))
    return yx[order], w[keep][order]


FOOTPRINT_TOLERANCE = 1e-4  # of a footprint's peak: two footprints within it are one cell


def _same_footprint(a: tuple, b: tuple, tol: float = FOOTPRINT_TOLERANCE) -> bool:
    """Two `_cell_pixels`: one cell's footprint up to float rounding. Weights are compared up to
    a scale (footprints are stored at peak 1; an older version may not have), pixel by pixel
    over both footprints' pixels (a pixel one of them lacks weighs 0 there): the same cell when
    no weight differs by more than `tol` of the peak. A run in float32 rather than float64, or
    with another BLAS, moves weights by about 1e-7 of the peak and may leave out (or keep) a
    pixel that weighs less than that; a pixel added, removed or reshaped by hand weighs far
    more. Before h22 the pixels had to be the very same, so such a run dropped the verdicts."""
    (pa, wa), (pb, wb) = a, b
    if pa.shape == pb.shape and np.array_equal(pa, pb):  # the same pixels (most often): no merge
        va, vb = wa, wb
    else:
        ka, kb = (p[:, 0] * (1 << 32) + p[:, 1] for p in (pa, pb))  # sorted as the (y, x) pairs
        union = np.union1d(ka, kb)
        va, vb = np.zeros(union.size, wa.dtype), np.zeros(union.size, wb.dtype)
        va[np.searchsorted(union, ka)], vb[np.searchsorted(union, kb)] = wa, wb
    va = va.astype(np.float64) / max(float(wa.max(initial=0)), 1e-30)
    vb = vb.astype(np.float64) / max(float(wb.max(initial=0)), 1e-30)
    return bool(np.all(np.abs(va - vb) <= tol))


def _matching_cells(before: Footprints, cols: list[int], now: Footprints) -> dict[int, list[int]]:  # fmt: skip
    """{column j of `before` (of `cols`): the cells k of `now` (in order) with its footprint
    (`_same_footprint`)}, looked for among the cells that share a pixel with it (a cell without
    pixels: among those without). The two have one frame size."""
    a = before.matrix[:, cols] if cols else sparse.csc_matrix((before.matrix.shape[0], 0), dtype=np.float32)  # fmt: skip
    a = (abs(a) > 0).astype(np.int32)
    b = (abs(now.matrix) > 0).astype(np.int32)
    shared = (a.T @ b).tocsr()  # (len(cols), K): pixels each pair shares
    empty = np.flatnonzero(np.diff(b.tocsc().indptr) == 0)  # cells without pixels
    out = {}
    for n, j in enumerate(cols):
        cell = _cell_pixels(before, j)
        near = shared.indices[shared.indptr[n] : shared.indptr[n + 1]] if len(cell[0]) else empty
        out[j] = [int(k) for k in np.sort(near) if _same_footprint(cell, _cell_pixels(now, int(k)))]
    return out


def _plane_matches(session, comps, result, ids: list[str]) -> dict[int, dict[str, str]]:
    """{plane: {old id: new id}} of the session's cells (`ids`, in its footprints' order) whose
    footprint is that of the plane's row `id` in `comps` (`plane_roi`), for the planes where
    they are more than half of the session's cells whose id is a row of the plane (the others:
    drawn or reshaped by hand, or a suite2p output run again); planes below that: left out."""
    old = session_footprints(session[SOURCES_STEP])
    new = as_footprints(result.footprints)
    if len(old) != len(ids):
        return {}
    plane = pd.to_numeric(comps["plane"], errors="coerce").to_numpy(float)
    roi = pd.to_numeric(comps["plane_roi"], errors="coerce").to_numpy(float)
    new_ids = comps["neuron_id"].astype(str).to_numpy()
    out = {}
    for p in np.unique(plane[np.isfinite(plane)]):
        rows = {int(r): k for k, r in enumerate(roi) if plane[k] == p and np.isfinite(r)}
        asked = [(j, int(i)) for j, i in enumerate(ids) if i.isdigit() and int(i) in rows]
        found = {ids[j]: str(new_ids[rows[i]]) for j, i in asked if _same_footprint(_cell_pixels(old, j), _cell_pixels(new, rows[i]))}  # fmt: skip
        if 2 * len(found) > len(asked):
            out[int(p)] = found
    return out


def _same_traces(session, comps, result, pairs: dict[str, str]) -> bool:
    """The session's raw traces of the old ids of `pairs` are the new ids' (common frames)."""
    if TRACES_STEP not in session or "traces" not in session[TRACES_STEP].tables:
        return False
    traces = session[TRACES_STEP].tables["traces"]
    if "raw" not in traces or not len(traces):
        return False
    wide = traces.assign(neuron_id=traces["neuron_id"].astype(str)).pivot_table(index="neuron_id", columns="frame", values="raw", dropna=False)  # fmt: skip
    wide = wide.reindex(index=list(pairs)).to_numpy(float)
    row = {str(n): k for k, n in enumerate(comps["neuron_id"])}
    new = np.asarray(result.raw)[[row[n] for n in pairs.values()]]
    t = min(wide.shape[1], new.shape[1])
    return bool(np.allclose(wide[:, :t], new[:, :t], rtol=1e-5, atol=1e-6, equal_nan=True))


IMPORTED = ("suite2p", "caiman", "minian", "imagej")  # origins that are another tool's cells


def imported_tool(session) -> str | None:
    """The tool whose import the session's cells are (suite2p, ...), also after "Fit
    drawn/edited cells" (origin "edited", `edited_from` the import's tool, h19): its verdicts
    stand unless re-judged; None for extracted cells (and for an edit made before h19, which
    did not record what it edited)."""
    if SOURCES_STEP not in session:
        return None
    attrs = session[SOURCES_STEP].attrs
    origin = attrs.get("origin")
    if origin == "edited":
        origin = attrs.get("edited_from")
    return str(origin) if origin in IMPORTED else None


def traces_from_sources(session) -> bool:
    """The session's traces are its sources' (a two-photon extraction, or the cells of suite2p,
    CaImAn, Minian or ImageJ imported): the traces step says so (`source` "sources"), not
    traces measured at tracked neurons (the worm path's green, red and ratio)."""
    return TRACES_STEP in session and session[TRACES_STEP].attrs.get("source") == SOURCES_STEP


def two_photon_session(session) -> bool:
    """A head-fixed (two-photon) session: it holds sources (extracted or imported), their
    traces, or a motion correction; the rule by which the NWB export writes a TwoPhotonSeries
    when the metadata name no imaging method (io/nwb_ophys.py). What the widgets' wording
    follows (a mouse, not a worm, in the Export widget's examples; h22)."""
    return SOURCES_STEP in session or "registration" in session or traces_from_sources(session)


def _notes(session, result: SourcesResult, origin: str) -> list[str]:
    """What the user should know about how the cells were made (the NaN border left out: the
    region used), kept in the step's attrs `notes` as the summary step keeps its own. Cells
    edited or re-judged in place keep the notes of the run that made them."""
    notes = [str(w) for w in result.warnings]
    if origin in ("edited", "re-evaluated") and SOURCES_STEP in session:
        before = [str(n) for n in session[SOURCES_STEP].attrs.get("notes") or []]
        notes = [*before, *(n for n in notes if n not in before)]
    return notes


def _made_by(session, result: SourcesResult, origin: str, read: dict) -> tuple[dict, dict]:
    """What made the cells, for the provenance: our extraction's parameters, or for another
    tool's cells the import (never our extraction defaults, which did not make them). A
    re-evaluation keeps what the step it re-judges said, and its input files."""
    if origin == "re-evaluated" and SOURCES_STEP in session:
        before = session[SOURCES_STEP]
        made = {k: v for k, v in (before.params or {}).items() if k in ("sources", "import")}
        if made:
            return made, read or dict(before.attrs.get("inputs") or {})
    if origin == "edited" and SOURCES_STEP in session:  # cells drawn or reshaped by hand:
        # fitted with these values, among the cells of the import (if any) they were drawn on,
        # which is kept: an edited suite2p plane is still told from its provenance (h19)
        before = session[SOURCES_STEP]
        if imported := (before.params or {}).get("import"):
            return {"import": imported, "sources": result.params.to_dict()}, read or dict(before.attrs.get("inputs") or {})  # fmt: skip
    if origin in IMPORTED:
        return {"import": {"tool": origin, "fps": result.fps, **result.made_with}}, read
    return {"sources": result.params.to_dict()}, read


def _dff_kinds(session) -> pd.Series | None:
    """Each component's `dff_kind` by id (as text), when the session's traces are the sources'
    components' and they say it (sessions before h20 do not); else None."""
    if session is None or SOURCES_STEP not in session or TRACES_STEP not in session:
        return None
    if session[TRACES_STEP].attrs.get("source") != SOURCES_STEP:
        return None
    comps = session[SOURCES_STEP].tables.get("components")
    if comps is None or "dff_kind" not in comps:
        return None
    # "": unknown (a cell refitted into a session written before h20 has the only kind)
    kind = comps["dff_kind"].fillna("").astype(str)
    return pd.Series(kind.to_numpy(), index=comps["neuron_id"].astype(str))


def df_cells(session) -> list[str]:
    """Ids (as text) of the cells whose traces `dff` is dF, not dF/F: the sources' components
    with `dff_kind` "dF" (no baseline + background to divide by, core/sources/dff.py), when the
    session's traces are those components'. Figures with a dF/F axis leave them out."""
    from napari_catrack.core.sources.dff import DF

    kinds = _dff_kinds(session)
    return [] if kinds is None else kinds.index[kinds == DF].tolist()


def with_dff_kind(cells: pd.DataFrame, session) -> pd.DataFrame:
    """The cells table with each cell's `dff_kind` (dF/F, or dF: its amplitudes are then in the
    trace's units) when the session's components say it; else `cells` unchanged."""
    kinds = _dff_kinds(session)
    if kinds is None or cells is None or "neuron_id" not in cells:
        return cells
    kind = cells["neuron_id"].astype(str).map(kinds)
    return cells.assign(dff_kind=kind.fillna("").to_numpy(object))


def read_verdicts(session) -> pd.DataFrame:
    if VERDICT_STEP in session and "verdicts" in session[VERDICT_STEP].tables:
        v = session[VERDICT_STEP].tables["verdicts"]
        if len(v):
            return v.assign(neuron_id=v["neuron_id"].astype(str), reason=v["reason"].fillna("").astype(str))  # fmt: skip
    return pd.DataFrame({c: pd.Series(dtype=object) for c in VERDICT_COLUMNS})


def write_verdicts(session, verdicts: pd.DataFrame, *, fps: float | None = None, save=None) -> None:
    """Replace the verdicts table of the curation step, keeping everything else it holds."""
    from napari_catrack.core.transients import empty_table

    if VERDICT_STEP in session:
        rec = session[VERDICT_STEP]
        tables, attrs, params = dict(rec.tables), dict(rec.attrs), dict(rec.params)
    else:
        tables, attrs, params = {"transients": empty_table()}, {"traces_source": "session"}, {}
    if fps and not attrs.get("fps"):
        attrs["fps"] = float(fps)
    tables["verdicts"] = verdicts[VERDICT_COLUMNS].reset_index(drop=True)
    session.record(VERDICT_STEP, tables=tables, attrs=attrs, params=params, save=save)


def set_verdict(session, neuron_id, status: str, reason: str = "") -> None:
    """Accept / reject / reset (status "unverified") one cell, as the curation does."""
    if status not in ("accepted", "rejected", "unverified"):
        raise InputError(f"a verdict is accepted, rejected or unverified, not {status!r}")
    v = read_verdicts(session)
    v = v[v["neuron_id"] != str(neuron_id)]
    if status != "unverified":
        row = pd.DataFrame([{"neuron_id": str(neuron_id), "status": status, "reason": reason}])
        v = pd.concat([v, row], ignore_index=True) if len(v) else row
    write_verdicts(session, v)


def _evaluation_verdict(comps: pd.DataFrame, neuron_id: str) -> tuple[str, str]:
    row = comps[comps["neuron_id"].astype(str) == neuron_id]
    if len(row) and not bool(row["accepted"].iloc[0]):
        return "rejected", AUTO + str(row["reason"].iloc[0])
    return "unverified", ""


def sync_deleted_labels(session, shown_ids, present_ids) -> tuple[list[str], list[str]]:
    """Verdicts after labels were erased from (or, by the layer's undo, put back into) the
    footprints layer: (deleted, restored) neuron ids.

    A component whose label was shown (`shown_ids`) and is now absent from the layer
    (`present_ids`) is rejected with the reason DELETED; one with that reason whose label is
    back gets the evaluation's verdict again. Deleting is a verdict, not a loss: the component
    stays in the table (Accept brings it back) and later steps leave it out like any rejected cell.
    """
    shown, present = {str(i) for i in shown_ids}, {str(i) for i in present_ids}
    v = read_verdicts(session)
    reason = dict(zip(v["neuron_id"], v["reason"], strict=True))
    deleted = sorted((i for i in shown - present if reason.get(i) != DELETED), key=_id_key)
    restored = sorted((i for i in shown & present if reason.get(i) == DELETED), key=_id_key)
    if not deleted and not restored:
        return [], []
    comps = session[SOURCES_STEP].tables["components"]
    v = v[~v["neuron_id"].isin(deleted + restored)]
    rows = [("rejected", DELETED, i) for i in deleted]
    rows += [(*_evaluation_verdict(comps, i), i) for i in restored]
    new = pd.DataFrame([{"neuron_id": i, "status": st, "reason": r} for st, r, i in rows if st != "unverified"],
                       columns=VERDICT_COLUMNS)  # fmt: skip
    write_verdicts(session, pd.concat([v, new], ignore_index=True) if len(v) else new)
    return deleted, restored


def _id_key(i: str):
    return (0, int(i), "") if i.isdigit() else (1, 0, i)


def components_with_verdicts(session) -> pd.DataFrame:
    """The components table with each cell's verdict as the Sources widget shows it: `verdict`
    (accepted / rejected; a cell nobody judged is accepted) and `verdict_reason` (why it was
    rejected: the evaluation's "auto: ..." reason, yours, or DELETED). `accepted` / `reason`
    stay the evaluation's. This is the table an export writes as sources/components, its columns
    in the order `catrack sources` writes them (`io.sources.COMPONENT_COLUMNS` first)."""
    from napari_catrack.io.sources import COMPONENT_COLUMNS

    comps = typed_components(session[SOURCES_STEP].tables["components"])
    first = [c for c in COMPONENT_COLUMNS if c in comps.columns]
    comps = comps[first + [c for c in comps.columns if c not in first]].copy()
    statuses = status_of(session, comps["neuron_id"])
    comps["verdict"] = ["accepted" if s == "unverified" else s for s, _ in statuses]
    comps["verdict_reason"] = [r for _, r in statuses]
    return comps


def status_of(session, ids) -> list[tuple[str, str]]:
    """(status, reason) per neuron id; "unverified" when the cell has no verdict."""
    v = read_verdicts(session).drop_duplicates("neuron_id", keep="last").set_index("neuron_id")
    return [
        (str(v.at[str(i), "status"]), str(v.at[str(i), "reason"]))
        if str(i) in v.index
        else ("unverified", "")
        for i in ids
    ]


def label_offset(ids) -> int:
    """What a neuron id adds to become its label in a Labels layer: 0 when every id is at least 1,
    else what lifts the smallest to 1. Label 0 is the background, and suite2p, CaImAn and Minian
    number their cells from 0 (their numbering is kept as `neuron_id`), so their first cell was
    invisible and could not be edited."""
    ids = np.asarray(ids, np.int64)
    return int(max(0, 1 - ids.min())) if ids.size else 0


def shown_labels(session, result) -> tuple[np.ndarray, list[int], int]:
    """The 'footprints' label image of `result` as the Sources widget shows it, with the ids
    shown and the label offset: cells deleted in that layer (reason DELETED) stay erased when
    the layer is rebuilt or the session reopened."""
    ids = result.components["neuron_id"].to_numpy()
    labels = labels_from_footprints(result.footprints, ids)
    offset = label_offset(ids)  # label = neuron id + offset (0-based tools' ids)
    deleted = [int(i) + offset for i, (_, why) in zip(ids, status_of(session, ids), strict=True) if why == DELETED]  # fmt: skip
    if deleted:
        labels[np.isin(labels, np.array(deleted, dtype=labels.dtype))] = 0
    return labels, [int(i) - offset for i in np.unique(labels) if i], offset


def plane_labels(session, result, offset: int) -> dict[int, np.ndarray] | None:
    """{plane: label image of that plane's cells} when the cells come from several imaging
    planes (components' `plane`, all >= 0: a multi-plane suite2p import, ImageJ ROIs of several
    Z planes), else None. On the one 'footprints' frame cells of different planes overlap; each
    plane's own image does not. Labels as in 'footprints' (id + `offset`); cells deleted
    there (reason DELETED) are left out, as `shown_labels` leaves them out."""
    comps = result.components
    if "plane" not in comps or not len(comps):
        return None
    planes = comps["plane"].to_numpy(np.int64)
    if len(set(planes.tolist())) < 2 or planes.min() < 0:
        return None
    fp = as_footprints(result.footprints)
    ids = comps["neuron_id"].to_numpy(np.int64)
    keep = np.array([why != DELETED for _, why in status_of(session, ids)], bool)
    out = {}
    for p in sorted(set(planes.tolist())):
        idx = np.flatnonzero((planes == p) & keep)
        out[int(p)] = fp[idx].labels(ids[idx] + offset, 0.2)
    return out


def labels_from_footprints(footprints, ids, level: float = 0.2) -> np.ndarray:
    """(Y, X) int32 label image: each pixel takes the label (id + `label_offset(ids)`) of the
    footprint strongest there, where that footprint exceeds `level` of its peak (0 =
    background). `footprints`: `Footprints` (worked on its non-zero entries) or (K, Y, X)."""
    ids = np.asarray(ids, np.int64)
    return as_footprints(footprints).labels(ids + label_offset(ids), level)


def session_footprints(rec) -> Footprints:
    """The footprints of a "sources" step record: its sparse parts, or the dense (K, Y, X) array
    `footprints` of a session written before session 14 (converted on reading)."""
    if all(name in rec.arrays for name in SESSION_ARRAYS):
        return Footprints.from_arrays(rec.arrays)
    if "footprints" in rec.arrays:
        from napari_catrack.session import array_blocks, array_header

        # a few components at a time (from the file, when the session was loaded lazily)
        shape = array_header(rec.arrays, "footprints")[0]
        rows, values = [], []
        for block in array_blocks(rec.arrays, "footprints", 16):
            for fp in np.asarray(block, np.float32).reshape(len(block), -1):
                rows.append(np.flatnonzero(fp))
                values.append(fp[rows[-1]])
        return Footprints.from_pixels(rows, shape[1:], values)
    raise InputError("the session's sources hold no footprints")


def footprints_shape(rec) -> tuple[int, int, int] | None:
    """(K, Y, X) of a "sources" step's footprints without reading them; None when it has none."""
    if "footprint_shape" in rec.arrays:
        return tuple(int(v) for v in np.asarray(rec.arrays["footprint_shape"]))
    if "footprints" in rec.arrays:
        from napari_catrack.session import array_header

        return tuple(int(v) for v in array_header(rec.arrays, "footprints")[0])
    return None


def sources_from_session(session) -> SourcesResult:
    """The SourcesResult the session holds (components, footprints, traces)."""
    if SOURCES_STEP not in session or TRACES_STEP not in session:
        raise InputError("the session has no sources yet: extract or import them first")
    rec = session[SOURCES_STEP]
    comps = typed_components(rec.tables["components"])
    traces = session[TRACES_STEP].tables["traces"]
    ids = comps["neuron_id"].to_numpy()
    t = int(traces["frame"].max()) + 1 if len(traces) else 0
    mats = {}
    for col in ("raw", "denoised", "spikes", "dff"):
        wide = traces.pivot(index="neuron_id", columns="frame", values=col)
        mats[col] = wide.reindex(index=ids, columns=range(t)).to_numpy(float)
    from napari_catrack.core.sources.params import EvaluationParams, SourcesParams

    p = rec.params or {}
    red = {}
    if {"red", "red_bg"} <= set(traces.columns):  # an import's red channel (suite2p F_chan2)
        for col in ("red", "red_bg"):
            wide = traces.pivot(index="neuron_id", columns="frame", values=col)
            red[col] = wide.reindex(index=ids, columns=range(t)).to_numpy(float)
    return SourcesResult(
        session_footprints(rec), comps, mats["raw"], mats["denoised"], mats["spikes"],
        mats["dff"], float(rec.attrs.get("fps") or 1.0),
        SourcesParams.from_dict(p.get("sources")), EvaluationParams.from_dict(p.get("evaluation")),
        red=red.get("red"), red_background=red.get("red_bg"),
    )  # fmt: skip
