"""`catrack ensembles`: find neuronal ensembles in a transient table (or a wide raster).

Writes DIR/ensemble_events.csv, DIR/ensemble_members.csv, DIR/event_neurons.csv,
DIR/ensemble_similarity.csv, DIR/coactivity.csv, DIR/params.json and the figures, each atomically:
into DIR as SVG + PNG, or, as `catrack transients` does, into `--figures FIG_DIR` in
`--figure-format` (default svg). Unusable input (no events, one neuron, a bin as long as the recording) is reported
on stderr as a warning and still gives well-formed, empty tables (exit 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from napari_catrack.commands._common import (
    OutputFolder,
    add_params_from_argument,
    add_session_argument,
    check_outputs,
    frame_rate_from_args,
    params_from_args,
    positive_float,
    session_from_args,
    stated_frame_rate,
    warn,
)
from napari_catrack.core.ensembles.params import EnsembleParams
from napari_catrack.export.layout import FIGURE_FORMATS

if TYPE_CHECKING:
    import pandas as pd

EVENTS_CSV_COLUMNS = ["event_id", "bin", "start_frame", "end_frame", "n_active", "ensemble_id"]
TABLE_FILES = ("ensemble_events.csv", "ensemble_members.csv", "event_neurons.csv",
               "ensemble_similarity.csv", "coactivity.csv", "params.json")  # fmt: skip
FIGURES = ("coactivity", "raster", "similarity", "members")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ensembles",
        help="find neuronal ensembles (repeated significant coactivity) in a transient table",
        description=(
            "Coactivity per bin against a circular-shift null, ensemble events, Jaccard similarity "
            "and hierarchical clustering into ensembles."
        ),
    )
    p.add_argument("events", metavar="EVENTS.csv", help="transient table (long) or raster (wide)")
    p.add_argument("--fps", type=positive_float, default=None,
                   help="frames per second (default: the --session's frame rate, else the one "
                   "the table's start/peak/end_time_s columns state against their frames, or "
                   "a wide raster's column headers when they are times in seconds)")  # fmt: skip
    EnsembleParams.add_arguments(p, title="ensembles")
    g = p.add_argument_group("input")
    g.add_argument(
        "--layout",
        choices=("long", "wide"),
        default="long",
        help="long: one row per transient; wide: one row per neuron, one column per frame",
    )
    g.add_argument("--frame-column", default="start_frame", help="onset column (long layout)")
    g.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="wide layout: a neuron is active where value >= threshold (default %(default)s)",
    )
    g.add_argument(
        "--neurons",
        default=None,
        metavar="FILE",
        help="long layout: table whose neuron_id column lists every neuron traced (cells.csv of "
        "`catrack transients --cells`, or the traces), so that neurons without transients count "
        "(n_neurons); cells its status column marks rejected are left out with their transients; "
        "default: the neurons traced in --session FILE, else those in the table",
    )
    g.add_argument(
        "--n-frames",
        type=int,
        default=None,
        help="recording length (long layout; default: the length of the traces in --session when "
        "its neurons are used, else of --traces, else the --neurons cell table's "
        "frames_measured + frames_missing, else last frame in the table + 1)",
    )
    g.add_argument(
        "--traces",
        default=None,
        metavar="FILE",
        help="long layout: the traces (neuron_id, frame, missing or dff) the transients came "
        "from; frames where a neuron was not measured (missing, NaN) are unknown, not silent; "
        "default: the --session's traces when its transients are these, else every frame observed",
    )
    p.add_argument(
        "--positions", default=None, help="CSV neuron_id,y,x for the member maps (optional)"
    )
    figures = p.add_mutually_exclusive_group()
    figures.add_argument("--no-figures", action="store_true", help="write the tables only")
    figures.add_argument("--figures", default=None, metavar="DIR",
                         help="write figures into DIR, in --figure-format (default: into -o, as "
                         "SVG and PNG)")  # fmt: skip
    p.add_argument("--figure-format", choices=FIGURE_FORMATS, default=None,
                   help="figure format: svg (default with --figures), png or pdf; without "
                   "--figures, the figures in -o are SVG and PNG unless this is given")  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    add_session_argument(p, recording=None)  # a table: no REC
    add_params_from_argument(p, "ensembles")
    p.set_defaults(func=run)


def read_events(path: str, args: argparse.Namespace):
    """EVENTS.csv in the layout the user named, read once (`load_trains` and the frame rate
    it states, `_frame_rate`, both take it): a transient table, or a wide raster."""
    from napari_catrack.io.tables import read_table

    if args.layout == "wide":
        return read_table(path, what="raster table")
    return read_table(path, required=("neuron_id", args.frame_column), what="transient table")


def load_trains(path: str, table, args: argparse.Namespace, session=None):
    """Event trains from EVENTS.csv at `path`, its `table` (`read_events`), and where its
    neurons came from.

    A transient table lists only neurons with transients; every neuron traced counts
    (`n_neurons`, as the widget, the demo and the batch count them): those of `--neurons FILE`,
    else those traced in the `--session` (`records.traced_neurons`; then the recording length
    is its traces' unless --n-frames), else the table's alone. When the table's transients are
    the session's, the cells its verdicts reject are left out with their transients
    (`records.ensemble_input`, the rule of every route).
    """
    import pandas as pd

    from napari_catrack.core.ensembles import (
        trains_from_raster,
        trains_from_table,
        wide_table_to_raster,
    )
    from napari_catrack.core.ensembles.records import (
        ensemble_input,
        traced_frames,
        traced_observed,
    )
    from napari_catrack.core.ensembles.trains import observed_from_traces
    from napari_catrack.core.transients.features import rejected_ids
    from napari_catrack.errors import InputError
    from napari_catrack.io.tables import read_table

    if args.layout == "wide":
        if args.traces:
            raise InputError("--traces is for a transient table (--layout long): a wide raster "
                             "has no missing frames (NaN cells are refused)")  # fmt: skip
        if args.neurons:
            raise InputError("--neurons is for a transient table (--layout long): the rows of a "
                             "wide raster are its neurons")  # fmt: skip
        raster = wide_table_to_raster(table)
        return trains_from_raster(raster, threshold=args.threshold), "the rows of the raster"
    ids, source = None, "only those with transients: --neurons FILE counts every neuron traced"
    mine = session is not None and _events_in_session(session, table, args)
    traced, rejected = None, frozenset()
    if mine:  # the session's own transients: its rejected cells and their transients are left
        # out, as the widget, the demos and the batch leave them (`records.ensemble_input`)
        table, traced, rejected = ensemble_input(session, table)
    if args.neurons:
        listed = read_table(args.neurons, required=("neuron_id",), what="neuron list (--neurons)")
        ids = pd.unique(listed["neuron_id"].to_numpy())
        missing = ~pd.Index(table["neuron_id"]).isin(ids)
        if missing.any():
            raise InputError(
                f"neuron {table['neuron_id'][missing].iloc[0]!r} of {Path(path).name} is not in "
                f"--neurons {Path(args.neurons).name}: give the neuron list of the same analysis"
            )
        source = f"listed in {Path(args.neurons).name}"
        if "status" in listed:  # a cells.csv of `catrack transients --cells`: its verdicts
            rejected = rejected | rejected_ids(listed)
            table = table[~table["neuron_id"].astype(str).isin(rejected)].reset_index(drop=True)
        if rejected:
            ids = ids[~pd.Index(ids).astype(str).isin(rejected)]
    n_frames = args.n_frames
    if not args.neurons and session is not None:
        ids = traced
        if ids is None:
            source += " (the --session's transients are not these)"
        else:  # the session's analysis: its recording length too
            source = "traced in --session"
            if n_frames is None:
                n_frames = traced_frames(session)
    if rejected:
        source += f", {len(rejected)} rejected cell(s) left out"
    traces = None
    if args.traces:
        traces = read_table(args.traces, required=("neuron_id", "frame"), what="traces (--traces)")
    if n_frames is None:  # what the inputs state, before the table's last frame (h22 walk)
        n_frames = _stated_length(traces, listed if args.neurons else None)
    trains = trains_from_table(
        table, frame_column=args.frame_column, n_frames=n_frames, neuron_ids=ids
    )
    if traces is not None:
        trains = trains.with_observed(
            observed_from_traces(traces, trains.neuron_ids, trains.n_frames)
        )
    elif mine:
        trains = traced_observed(session, trains)
    elif args.neurons and "frames_missing" in listed:
        lost = pd.to_numeric(listed["frames_missing"], errors="coerce").fillna(0).sum()
        if lost > 0:
            warn("ensembles", f"{Path(args.neurons).name} says {int(lost)} neuron-frame(s) were "
                 "not measured, but not which: give --traces FILE so that they count as unknown, "
                 "not silent")  # fmt: skip
    return trains, source


def _stated_length(traces, cells) -> int | None:
    """The recording length the inputs state when neither --n-frames nor the --session's traces
    give it: the `--traces`' (one past their last frame, as `records.traced_frames` reads a
    session's), else a `--neurons` cell table's `frames_measured + frames_missing` (the length of
    the traces `catrack transients --cells` wrote it from); None: neither (then one past the
    transient table's last frame, which cuts a recording that ends in silence)."""
    import pandas as pd

    if traces is not None and len(traces):
        last = pd.to_numeric(traces["frame"], errors="coerce").max()
        if pd.notna(last) and last >= 0:
            return int(last) + 1
    if cells is not None and {"frames_measured", "frames_missing"} <= set(cells.columns):
        total = pd.to_numeric(cells["frames_measured"], errors="coerce") + pd.to_numeric(
            cells["frames_missing"], errors="coerce"
        )
        if total.notna().any():
            return int(total.max())
    return None


def _events_in_session(session, table, args: argparse.Namespace) -> bool:
    """Whether the table's transients are (a subset of) the --session's own: integer neuron ids
    such as 0..N are in almost any session's traces, so the ids alone would take another
    analysis's neurons and recording length (second review of h15). A session without a
    transients table, or with an empty one (a step that holds only verdicts: the Sources
    evaluation's, the curation's; h20), or tables without the frame column, cannot tell: taken
    as the same."""
    col = args.frame_column
    theirs = session["transients"].tables.get("transients") if "transients" in session else None
    if theirs is None or not len(theirs) or col not in theirs or "neuron_id" not in theirs:
        return True

    def events(t) -> set:
        return set(zip(t["neuron_id"].astype(str), t[col].astype("int64"), strict=True))

    try:
        return events(table) <= events(theirs)
    except (TypeError, ValueError):  # frames that are not whole numbers: cannot tell
        return True


def _save_figure(fig, path: Path, fmt: str) -> None:
    from napari_catrack.figures import save_figure

    save_figure(fig, path, format=fmt)


def write_outputs(
    result,
    out: Path,
    positions: pd.DataFrame | None,
    figures: bool = True,
    source: str | None = None,
    figures_dir: Path | None = None,
    formats: tuple[str, ...] = ("svg", "png"),
) -> None:
    """All tables (and figures) of one run into `out`, as one set (all or none replace the old);
    the figures go into `figures_dir` (default `out`) in each of `formats`, their titles naming
    `source` (the events file)."""
    from napari_catrack.io.atomic import atomic_write_set

    out.mkdir(parents=True, exist_ok=True)
    if figures and figures_dir is not None:
        figures_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write_set():
        _write_all(result, out, positions, figures, source, figures_dir or out, formats)


def _write_all(
    result,
    out: Path,
    positions: pd.DataFrame | None,
    figures: bool,
    source: str | None = None,
    figures_dir: Path | None = None,
    formats: tuple[str, ...] = ("svg", "png"),
) -> None:
    import numpy as np
    import pandas as pd

    from napari_catrack.core.ensembles.pipeline import MEMBER_COLUMNS
    from napari_catrack.io.atomic import write_text_atomic
    from napari_catrack.io.tables import write_table

    extra = ["n_observed"] if "n_observed" in result.events else []  # with unobserved frames
    write_table(result.events[EVENTS_CSV_COLUMNS + extra], out / "ensemble_events.csv")
    # with `fraction` (the share of the ensemble's events the neuron is in), as the session, the
    # demo and `catrack export` write it: one ensemble_members.csv whichever route made it
    write_table(result.members[list(MEMBER_COLUMNS)], out / "ensemble_members.csv")
    write_table(result.event_neurons, out / "event_neurons.csv")
    ids = result.events["event_id"].to_numpy()
    sim = pd.DataFrame(result.similarity, index=pd.Index(ids, name="event_id"), columns=ids)
    write_table(sim.reset_index(), out / "ensemble_similarity.csv", float_format="%.4f")
    starts = result.coactivity_frames
    coact = pd.DataFrame(
        {
            "bin": np.arange(len(starts)),  # window (= its start frame) or bin index
            "start_frame": starts,
            "time_s": starts / result.params["fps"],
            "n_active": result.coactivity,
        }
    )
    write_table(coact, out / "coactivity.csv")
    params = {**result.params, "warnings": result.warnings}
    write_text_atomic(out / "params.json", json.dumps(params, indent=2, default=_json_default))
    if figures:
        from napari_catrack.figures.ensembles import ensemble_figures
        from napari_catrack.figures.style import label_recording

        for name, fig in ensemble_figures(result, positions).items():
            label_recording(fig, source)
            for fmt in formats:
                _save_figure(fig, (figures_dir or out) / f"ensembles_{name}.{fmt}", fmt)


def _frame_rate(args: argparse.Namespace, target, table) -> float:
    """The rule of `catrack transients` (`frame_rate_from_args`): --fps, else the session's frame
    rate, else the rate the events `table` states: a transient table's start/peak/end frame and
    time columns (`frame_rate_of_times`), a wide raster's column headers when they are times
    (`wide_fps`)."""

    def stated():
        return stated_frame_rate(
            table,
            args.layout,
            [(f"{c}_frame", f"{c}_time_s") for c in ("start", "peak", "end")],
            "the table's *_time_s columns",
            "the table has no start/peak/end_time_s columns that state it",
        )

    what = "transients" if args.layout == "long" else "raster"
    return frame_rate_from_args(args, target, "ensembles", stated, what)


def _figure_formats(args: argparse.Namespace) -> tuple[str, ...]:
    """The figures' file formats: --figure-format, else svg with --figures (as `catrack
    transients`), else SVG and PNG into -o (the command's output before --figures)."""
    if args.figure_format:
        if args.no_figures:
            warn("ensembles", "--figure-format is ignored with --no-figures")
        return (args.figure_format,)
    return ("svg",) if args.figures else ("svg", "png")


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.ensembles import find_ensembles
    from napari_catrack.core.ensembles.records import observation_line
    from napari_catrack.io.tables import read_table

    formats = _figure_formats(args)
    names = () if args.no_figures else tuple(f"ensembles_{n}.{f}" for n in FIGURES for f in formats)
    files, figures = TABLE_FILES + (() if args.figures else names), None
    if args.figures:
        figures = OutputFolder(args.figures, names)
    check_outputs({"-o": OutputFolder(args.output, files), "--figures": figures,
                   "--session": args.session},
                  {"EVENTS.csv": args.events, "--positions": args.positions,
                   "--neurons": args.neurons, "--traces": args.traces})  # fmt: skip
    params = EnsembleParams.from_args(args, **params_from_args(args, "ensembles", "ensembles"))
    target = session_from_args(args)  # a table, not a recording: any session, or a new one
    events = read_events(args.events, args)
    trains, neurons_from = load_trains(
        args.events, events, args, target.session if target is not None else None
    )
    fps = _frame_rate(args, target, events)
    positions = None
    if args.positions:
        positions = read_table(args.positions, required=("neuron_id", "y", "x"), what="positions")
    result = find_ensembles(trains, fps, params)
    for msg in result.warnings:
        warn("ensembles", msg)
    out = Path(args.output)
    write_outputs(result, out, positions, figures=not args.no_figures,
                  source=Path(args.events).name, formats=formats,
                  figures_dir=Path(args.figures) if args.figures else None)  # fmt: skip
    if target is not None:
        from napari_catrack.core.ensembles.records import record_ensembles

        inputs = {"transients": args.events, "positions": args.positions, "neurons": args.neurons,
                  "traces": args.traces}  # fmt: skip
        target.record(record_ensembles, result, inputs=inputs)
        target.save()
    active = len(set(trains.neuron.tolist()))
    # no events at all: no null threshold was drawn ("threshold > 0" read as a result) (h21)
    said = f"threshold > {result.threshold} coactive neurons" if active else "no events to test"
    print(
        f"{len(result.events)} ensemble events ({said}), "
        f"{result.n_ensembles} ensembles of {trains.n_neurons} neurons ({neurons_from}; "
        f"{active} with events) -> {out}"
    )
    print(f"observation: {observation_line(trains)}")
    return 0
