"""The figures an export can draw from a session alone (no viewer, no widget state).

Each entry names the steps it needs and builds a matplotlib Figure from the session's tables with
the same builders the widgets and commands use (`napari_catrack.figures`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_catrack.errors import InputError
from napari_catrack.export.layout import FIGURE_FORMATS, PUNCTA_FIGURES, ExportItem

MAX_TRACE_NEURONS = 8


@dataclass(frozen=True)
class FigureSpec:
    name: str
    label: str
    needs: tuple[str, ...]  # session steps (and tables "step.table")
    build: Callable[[Any, float | None], Any]  # (session, fps): see `build_figure`


def _rejected(session) -> set[str]:
    """Ids (as text) of the cells the session's verdicts reject (curation, Sources: a component
    the evaluation rejected or one deleted): no neuron, so no figure draws it, as the curation
    widget's figures leave them out."""
    from napari_catrack.core.ensembles.records import rejected_cells

    return set(rejected_cells(session))


# the figures of cells that leave the rejected ones out (as the curation widget's do)
_CURATED = frozenset(("traces", "traces_heatmap", "transients_traces", "transients_raster",
                      "transients_amplitudes", "transients_iti"))  # fmt: skip


# the figures with a dF/F axis: cells whose dff is dF (`dff_kind`, core/sources/dff.py) are left
# out of them, and counted in the title, never drawn as dF/F
_DFF_AXIS = frozenset(("traces", "traces_heatmap", "transients_traces", "transients_amplitudes"))


def _df_cells(session) -> set[str]:
    from napari_catrack.core.sources.session import df_cells

    return set(df_cells(session))


def _df_shown(session) -> int:
    """How many dF cells (not rejected) the session's traces hold."""
    df = _df_cells(session) - _rejected(session)
    if not df or "traces" not in session:
        return 0
    return len(df & set(session["traces"].tables["traces"]["neuron_id"].astype(str)))


def _rejected_shown(session) -> int:
    """How many rejected cells the session's traces (else its transients) hold."""
    rejected = _rejected(session)
    if not rejected:
        return 0
    step, table = ("traces", "traces") if "traces" in session else ("transients", "transients")
    ids = session[step].tables[table]["neuron_id"].astype(str)
    return len(rejected & set(ids))


def _kept_traces(session, dff_axis: bool = False):
    """The session's traces without the rejected cells' rows (all of them rejected: refused);
    `dff_axis`: without the cells whose dff is dF either (all of them dF: refused)."""
    traces = session["traces"].tables["traces"]
    rejected = _rejected(session)
    if not rejected:
        kept = traces
    else:
        kept = traces[~traces["neuron_id"].astype(str).isin(rejected)]
        if kept.empty:
            raise InputError("every cell is rejected (curation verdicts): no trace to draw")
    df = _df_cells(session) if dff_axis and "dff" in traces else set()
    if df:
        kept = kept[~kept["neuron_id"].astype(str).isin(df)]
        if kept.empty:
            raise InputError("every cell's dff is dF, not dF/F (no baseline + background under it: see dff_kind in the components): no dF/F trace to draw")  # fmt: skip
    return kept


def _kept_transients(session, dff_axis: bool = False):
    table = session["transients"].tables["transients"]
    out = _rejected(session) | (_df_cells(session) if dff_axis else set())
    return table[~table["neuron_id"].astype(str).isin(out)] if out else table


def _dff_matrix(session, dff_axis: bool = True):
    from napari_catrack.io.tables import long_to_matrix

    traces = _kept_traces(session, dff_axis)
    column = "dff" if "dff" in traces.columns else "green"
    return long_to_matrix(traces, column, sort_ids=False)


def _signal(session) -> str:
    """What the transient figures' y axes show, with its unit: the traces' `dff` is ΔR/R₀ on a
    two-channel ratio recording, ΔF/F otherwise (`_dff_matrix` falls back to raw green)."""
    from napari_catrack.figures.style import RATIO_LABEL, signal_label
    from napari_catrack.figures.traces import dff_is_ratio

    traces = session["traces"].tables["traces"]
    if "dff" not in traces.columns:
        return signal_label("green")
    return RATIO_LABEL if dff_is_ratio(traces) else signal_label("dff")


def _fps(session, fps: float | None) -> float:
    """The rate the time axes are drawn at: `fps` (what `build_figure` was given), else the
    session's."""
    fps = fps or session.frame_rate()
    if not fps:
        raise InputError("the session has no frame rate: set one before drawing time axes")
    return fps


def _frame_times(session, frames: np.ndarray) -> np.ndarray | None:
    """Seconds of `frames` from the traces' `time_s` (the recording's frame times), when every
    frame has one; None: the figures fall back to frame / frame rate."""
    traces = session["traces"].tables["traces"]
    if "time_s" not in traces:
        return None
    import pandas as pd  # (here: `catrack export --help` builds this module's items without it)

    one = traces.drop_duplicates("frame").set_index("frame")["time_s"]
    t = pd.to_numeric(one.reindex(frames), errors="coerce").to_numpy(float)
    return t if np.isfinite(t).all() else None


def _recording(session, step: str | None = None) -> str | None:
    """The file name a figure's title names: the behaviour video a behaviour step read (its
    `inputs.recording`), else the session's recording."""
    read = (session[step].attrs.get("inputs") or {}) if step and step in session else {}
    video = (read.get("recording") or {}).get("path") if isinstance(read, dict) else None
    path = video or (session.recording or {}).get("path")
    return Path(str(path)).name if path else None


def _local_transients(session, frames: np.ndarray, dff_axis: bool = False):
    """Transients with frames counted from the matrix's first column (the figures index it)."""
    table = _kept_transients(session, dff_axis).copy()
    for c in ("start", "peak", "end"):
        table[f"{c}_frame"] = table[f"{c}_frame"].to_numpy(np.int64) - int(frames[0])
    return table


def _traces(session, fps: float | None = None):
    from napari_catrack.figures.traces import PANELS, trace_figure

    traces = _kept_traces(session, dff_axis=True)
    ids = list(dict.fromkeys(traces["neuron_id"].astype(str)))[:MAX_TRACE_NEURONS]
    panels = [p for p, (col, *_) in PANELS.items() if col in traces and traces[col].notna().any()]
    return trace_figure(traces, ids, panels or ["dff"])


def _traces_heatmap(session, fps: float | None = None):
    """Every neuron's ΔF/F as one heat map (a row per neuron): the overview a long recording
    with hundreds of neurons needs, where lines would overlap."""
    from napari_catrack.figures.traces import trace_figure

    traces = _kept_traces(session, dff_axis=True)
    ids = list(dict.fromkeys(traces["neuron_id"].astype(str)))
    column = "dff" if "dff" in traces and traces["dff"].notna().any() else "green"
    return trace_figure(traces, ids, [column], heatmap=True)


def _transient_traces(session, fps: float | None = None):
    from napari_catrack.figures.transients import traces_figure

    m = _dff_matrix(session)
    local = _local_transients(session, m.frames, dff_axis=True)
    return traces_figure(m.dff, _fps(session, fps), local, m.neuron_ids,
                         times=_frame_times(session, m.frames), signal=_signal(session))  # fmt: skip


def _raster(session, fps: float | None = None):
    from napari_catrack.figures.transients import raster_figure

    m = _dff_matrix(session, dff_axis=False)  # events only: no dF/F axis, every kept cell
    local = _local_transients(session, m.frames)
    return raster_figure(local, m.neuron_ids, _fps(session, fps), m.dff.shape[1],
                         times=_frame_times(session, m.frames))  # fmt: skip


def _amplitudes(session, fps: float | None = None):
    from napari_catrack.figures.transients import amplitude_figure

    signal = _signal(session) if "traces" in session else "ΔF/F"
    return amplitude_figure(_kept_transients(session, dff_axis=True), signal=signal)


def _iti(session, fps: float | None = None):
    from napari_catrack.figures.transients import iti_figure

    return iti_figure(_kept_transients(session))


def _eta(session, fps: float | None = None):
    from napari_catrack.figures.events import eta_figure

    step = session["eta"]
    events = session["events"].tables.get("events") if "events" in session else None
    signal = str((step.params or {}).get("signal") or "dff")
    from napari_catrack.figures.traces import session_dff_is_ratio

    return eta_figure(step.tables["eta"], step.tables["significance"], events, signal=signal,
                      ratio=session_dff_is_ratio(session))  # fmt: skip


def _behaviour_speed(session, fps: float | None = None):
    """The demo's `figures/behaviour_speed`: signed speed over time (forward +, backward -)."""
    from napari_catrack.figures.behaviour import speed_figure

    bouts = session["bouts"].tables.get("bouts") if "bouts" in session else None
    return speed_figure(session["velocity"].tables["velocity"], bouts=bouts)


def _behaviour_kymograph(session, fps: float | None = None):
    """The demo's `figures/behaviour_kymograph`: curvature along the body over time, in 1/µm
    when the posture was computed with a pixel size (else 1/pixel), the colour scale from the
    good frames (as the Behaviour plot and the demo draw it)."""
    from napari_catrack.core.behaviour.posture import kymograph, median_length
    from napari_catrack.core.behaviour.records import (
        behaviour_pixel_size_um,
        centerline_from_session,
    )
    from napari_catrack.figures.behaviour import kymograph_figure

    found = centerline_from_session(session)
    if found is None:
        raise InputError("figure behaviour_kymograph needs a centerline in the session")
    result = found[0]
    px = behaviour_pixel_size_um(session)  # the posture's, else the video's the session holds
    scale = float(px) if px else 1.0
    kymo = kymograph(result.points, result.posture_ok, pixel_size=scale)
    length = median_length(result.points, result.posture_ok, scale)  # the colour limits' floor
    return kymograph_figure(kymo, _behaviour_times(session, len(kymo), fps),
                            unit="1/µm" if px else "1/pixel", good=result.reliable,
                            length=length)  # fmt: skip


def _behaviour_times(session, n: int, fps: float | None) -> np.ndarray:
    """Seconds of the behaviour video's frames 0..n-1: the velocity table's `time_s` (its
    frames' times), else frame / the session's frame rate."""
    vel = session["velocity"].tables.get("velocity") if "velocity" in session else None
    if vel is not None and {"frame", "time_s"} <= set(vel.columns) and len(vel) > 1:
        return np.interp(np.arange(n), vel["frame"].to_numpy(float), vel["time_s"].to_numpy(float))
    return np.arange(n) / _fps(session, fps)


def _ensembles(kind: str):
    """An ensemble figure (`figures.ensembles`, as `catrack ensembles --figures` draws it) of
    the session's ensembles step, its trains rebuilt from the session's transients."""

    def build(session, fps: float | None = None):
        from napari_catrack.core.ensembles.records import ensembles_from_session
        from napari_catrack.figures import ensembles

        result = ensembles_from_session(session)
        return getattr(ensembles, f"{kind}_figure")(result)

    return build


def _puncta(name: str):
    """A puncta figure (`figures.puncta.puncta_figure`, as `catrack puncta --figures` draws it)
    of the session's puncta step: its localisations, pixel size and frame count, the calcium
    raster's axis in seconds at `fps` or the session's frame rate (in frames without one)."""

    def build(session, fps: float | None = None):
        from napari_catrack.figures.puncta import puncta_figure

        step = session["puncta"]
        locs = step.tables["localizations"]
        pixel = (step.params or {}).get("pixel_size_nm")
        if not pixel:
            raise InputError("the puncta step holds no pixel size: cannot draw nm")
        n_frames = step.attrs.get("n_frames") or int(locs["frame"].max()) + 1
        rate = fps or session.frame_rate()
        return puncta_figure(name, locs, float(pixel), int(n_frames), rate)

    return build


_PUNCTA_LABELS = {
    "precision_photons": "Puncta: localisation precision and photons",
    "calcium_raster": "Puncta: calcium at each punctum over time",
}


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("traces", "Traces of the first neurons", ("traces.traces",), _traces),
    FigureSpec(
        "traces_heatmap", "Every neuron's trace (heat map)", ("traces.traces",), _traces_heatmap
    ),
    FigureSpec(
        "transients_traces",
        "Transients on the traces",
        ("traces.traces", "transients.transients"),
        _transient_traces,
    ),
    FigureSpec(
        "transients_raster", "Transient raster", ("traces.traces", "transients.transients"), _raster
    ),
    FigureSpec(
        "transients_amplitudes", "Transient amplitudes", ("transients.transients",), _amplitudes
    ),
    FigureSpec("transients_iti", "Inter-transient intervals", ("transients.transients",), _iti),
    FigureSpec("eta", "Event-triggered averages", ("eta.eta", "eta.significance"), _eta),
    FigureSpec(
        "ensembles_coactivity",
        "Coactivity and ensemble events",
        ("ensembles", "transients.transients"),  # drawn without events too, as the command does
        _ensembles("coactivity"),
    ),
    FigureSpec(
        "ensembles_raster",
        "Transient raster with ensemble events",
        ("ensembles", "transients.transients"),  # drawn without events too, as the command does
        _ensembles("raster"),
    ),
    FigureSpec(
        "ensembles_similarity",
        "Ensemble events: Jaccard similarity and dendrogram",
        ("ensembles.events", "transients.transients"),
        _ensembles("similarity"),
    ),
    FigureSpec(
        "behaviour_speed", "Signed speed (behaviour)", ("velocity.velocity",), _behaviour_speed
    ),
    FigureSpec(
        "behaviour_kymograph",
        "Curvature kymograph (behaviour)",
        ("centerline.centerline",),
        _behaviour_kymograph,
    ),
    *(
        FigureSpec(name, _PUNCTA_LABELS[name], ("puncta.localizations",), _puncta(name))
        for name in PUNCTA_FIGURES
    ),
)


def _has(session, need: str) -> bool:
    step, _, table = need.partition(".")
    if step not in session:
        return False
    if not table:
        return True
    df = session[step].tables.get(table)
    return df is not None and len(df) > 0


def available_figures(session) -> list[ExportItem]:
    return [
        ExportItem(
            f"figure:{f.name}", f.label, "figure", f"figures/{f.name}", FIGURE_FORMATS, name=f.name
        )
        for f in FIGURES
        if all(_has(session, n) for n in f.needs)
    ]


def build_figure(session, name: str, fps: float | None = None):
    """The named figure of `session` (an InputError when it cannot be drawn).

    `fps`: the rate time axes are drawn at where frame times are not in the tables, the one
    the NWB file gets (`export_session`'s `nwb_fps`: `catrack export --fps`, the Export
    widget's rate from the recording's layer); None: the session's (`Session.frame_rate`)."""
    for spec in FIGURES:
        if spec.name == name:
            missing = [n for n in spec.needs if not _has(session, n)]
            if missing:
                raise InputError(f"figure {name} needs {', '.join(missing)} in the session")
            from napari_catrack.figures.style import label_recording, left_out_label

            fig = spec.build(session, fps)
            behaviour = name.startswith("behaviour_")
            label = _recording(session, spec.needs[0].split(".")[0] if behaviour else None)
            left_out = _rejected_shown(session) if name in _CURATED else 0
            df = _df_shown(session) if name in _DFF_AXIS else 0
            if name == "eta":  # the cells its dF/F averages left out (`traces_for_eta`)
                df = len(session["eta"].attrs.get("df_left_out") or [])
            # its numbers are the tables' less these cells: say so (dF under a dF/F axis would
            # set its scale wrongly)
            label_recording(fig, left_out_label(label, left_out, df))
            return fig
    raise InputError(f"unknown figure {name!r}; known: {', '.join(f.name for f in FIGURES)}")
