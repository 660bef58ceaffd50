"""`catrack transients`: detect calcium transients in a traces table and export features."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_catrack.commands._common import (
    OutputFolder,
    add_params_from_argument,
    add_session_argument,
    check_outputs,
    frame_rate_from_args,
    params_from_args,
    positive_float,
    progress_printer,
    session_from_args,
    stated_frame_rate,
    warn,
)
from napari_catrack.core.transients.params import TransientParams
from napari_catrack.errors import InputError
from napari_catrack.export.layout import FIGURE_FORMATS


def register(subparsers) -> None:
    """Add the `transients` sub-command."""
    p = subparsers.add_parser(
        "transients",
        help="detect calcium transients in a traces table",
        description="Detect transients per neuron (model, the default: a trained detector, the "
        "shipped one, trained across 30 ground-truth datasets, or yours from `catrack "
        "train-detector`; rules: CalTrig-style peak/interval/SNR; ksigma: k robust SDs over "
        "baseline) and write one row per transient.",
    )
    p.add_argument(
        "traces", metavar="TRACES", help="traces CSV/XLSX (long: neuron_id,frame,dff; or wide)"
    )
    p.add_argument(
        "--fps",
        type=positive_float,
        default=None,
        help="frame rate in frames per second (default: the --session's, else the one the "
        "table's time_s and frame columns state, as catrack traces and sources write them, or a "
        "wide table's column headers when they are times in seconds)",
    )
    p.add_argument("--layout", choices=("long", "wide"), default=None, help="default: detect")
    p.add_argument("-o", "--output", required=True, help="transients table (.csv or .xlsx)")
    p.add_argument("--cells", default=None, help="also write a per-cell summary table here")
    p.add_argument(
        "--verdicts",
        default=None,
        help="neuron_id,status[,reason] table of cell verdicts, copied into the --cells table "
        "(only with --cells)",
    )
    p.add_argument("--figures", default=None, metavar="DIR", help="write figures into DIR")
    p.add_argument("--figure-format", choices=FIGURE_FORMATS, default="svg",
                   help="format of the --figures (default %(default)s)")  # fmt: skip
    TransientParams.add_arguments(p, title="detection (each method reads its own fields)")
    add_session_argument(p, recording=None)  # a table: no REC
    add_params_from_argument(p, "transients")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read traces, detect, write the transient (and optional cell) tables and figures."""
    import numpy as np

    from napari_catrack.core.transients import (
        cell_table,
        detect_transients,
        frame_times,
        time_offsets,
    )
    from napari_catrack.core.transients.features import check_verdicts, rejected_ids
    from napari_catrack.io.atomic import atomic_write_set
    from napari_catrack.io.tables import read_table, to_matrix, write_table

    figures = None
    if args.figures:
        from napari_catrack.figures.transients import FIGURES

        figures = OutputFolder(args.figures, tuple(f"{n}.{args.figure_format}" for n in FIGURES))
    check_outputs({"-o": args.output, "--cells": args.cells, "--figures": figures,
                   "--session": args.session},
                  {"TRACES": args.traces, "--verdicts": args.verdicts, "--model": args.model})  # fmt: skip
    if args.verdicts and not args.cells:
        raise InputError("--verdicts only applies with --cells (it sets the status column of the "
                         "per-cell table); give --cells FILE too")  # fmt: skip
    target = session_from_args(args)  # traces, not a recording: any session, or a new one
    frame = read_table(args.traces, what="traces")
    # its layout first: a table that is no traces table is said so, not "--fps is required"
    tm = to_matrix(frame, args.layout, where=str(args.traces), lost_ok=True)  # (lost: left out)
    stated = lambda: stated_frame_rate(frame, args.layout, [("frame", "time_s")],  # noqa: E731
                                       "the table's time_s column",
                                       "the table has no time_s column that states it")  # fmt: skip
    fps = frame_rate_from_args(args, target, "transients", stated, "traces")
    params = TransientParams.from_args(args, **params_from_args(args, "transients", "transients"))
    traces = frame  # (read once, above: its time_s gave the rate)
    given = None
    if args.verdicts:  # every input is checked before anything is written
        given = check_verdicts(read_table(args.verdicts, what="verdicts"), args.verdicts)
        stray = sorted(set(given["neuron_id"].astype(str)) - set(map(str, tm.neuron_ids)))
        if stray:
            warn("transients", f"{args.verdicts}: {len(stray)} neuron(s) not in {args.traces} "
                 f"ignored: {', '.join(stray[:5])}{', ...' if len(stray) > 5 else ''}")  # fmt: skip
    # the cells' verdicts: --verdicts, else the session's (the Sources evaluation's, suite2p's
    # iscell, the curation's), as the Transients widget shows them; detection runs on every
    # cell, rejected ones too, as in the widget (docs/transients.md "Rejected cells")
    verdicts = given if given is not None else _session_verdicts(target)
    progress = progress_printer("trained detector") if params.method == "model" else None
    table = detect_transients(tm.dff, fps, None, tm.neuron_ids, params, progress=progress)
    for c in ("start", "peak", "end"):  # matrix columns back to the table's frame numbers
        table[f"{c}_frame"] = tm.frames[table[f"{c}_frame"].to_numpy()]
    # times on each trace's own clock: its time_s (a suite2p plane's time in the volume)
    table = frame_times(table, fps, time_offsets(traces, fps))  # (a wide table: none)
    # the session's components say which cells' dff is dF (h20), of its own traces only: a
    # different table's cells that share their ids are not those components (h21)
    own = _session_traces(target, tm)
    if target is not None and not own and _df_kinds_known(target):
        warn("transients", f"{args.traces} is not the session's traces table: which of its cells "
             "are dF, not dF/F, is unknown (all taken as dF/F)")  # fmt: skip
    cells = None
    if args.cells:
        n_frames = np.isfinite(tm.dff).sum(axis=1)
        cells = cell_table(table, tm.neuron_ids, n_frames, fps, verdicts, tm.dff.shape[1])
        if own:  # the session's components say which cells' dff is dF (h20)
            from napari_catrack.core.sources.session import with_dff_kind

            cells = with_dff_kind(cells, target.session)
    with atomic_write_set():  # the table, cell table and figures replace an older run's together
        write_table(table, args.output)
        if cells is not None:
            write_table(cells, args.cells)
        if args.figures:
            _write_figures(Path(args.figures), args.figure_format, tm, table, fps,
                           source=Path(args.traces).name, rejected=rejected_ids(verdicts),
                           df=_session_df_cells(target) if own else set())  # fmt: skip
    if target is not None:
        from napari_catrack.core.transients.records import record_transients

        if cells is None:
            cells = cell_table(table, tm.neuron_ids, np.isfinite(tm.dff).sum(axis=1), fps,
                               verdicts, tm.dff.shape[1])  # fmt: skip
        if given is not None:  # the curation's table: neuron_id, status, reason
            given = given.assign(neuron_id=given["neuron_id"].astype(str))
            if "reason" not in given:
                given["reason"] = ""
            given = given[["neuron_id", "status", "reason"]]
        inputs = {"traces": args.traces, "verdicts": args.verdicts, "model": args.model}
        # (without --verdicts the session keeps its own)
        target.record(record_transients, table, cells, params, fps=fps, verdicts=given,
                      inputs=inputs, dff_kinds=own)  # fmt: skip
        target.save()
    n_cells = int(table["neuron_id"].nunique())
    print(f"{len(table)} transients in {n_cells}/{len(tm.neuron_ids)} neurons -> {args.output}")
    if args.cells:
        print(f"cell table -> {args.cells}")
    return 0


def _session_traces(target, tm) -> bool:
    """Whether the traces read (`tm`) are the `--session`'s own traces table: the same cells
    with the same dff on the same frames (then its components' `dff_kind` are theirs)."""
    import numpy as np

    from napari_catrack.core.sources.session import TRACES_STEP
    from napari_catrack.io.tables import to_matrix

    session = None if target is None else target.session
    if session is None or TRACES_STEP not in session:
        return False
    own = session[TRACES_STEP].tables.get("traces")
    if own is None or not len(own) or "dff" not in own:
        return False
    try:
        mine = to_matrix(own, None, lost_ok=True)
    except InputError:
        return False
    return (list(map(str, mine.neuron_ids)) == list(map(str, tm.neuron_ids))
            and np.array_equal(mine.frames, tm.frames) and mine.dff.shape == tm.dff.shape
            and bool(np.allclose(mine.dff, tm.dff, rtol=1e-5, atol=1e-7, equal_nan=True)))  # fmt: skip


def _df_kinds_known(target) -> bool:
    """Whether the `--session`'s components say which cells are dF (`dff_kind`)."""
    from napari_catrack.core.sources.session import _dff_kinds

    return _dff_kinds(target.session) is not None


def _session_df_cells(target) -> set[str]:
    """The `--session`'s cells whose dff is dF, not dF/F (components' `dff_kind`)."""
    if target is None:
        return set()
    from napari_catrack.core.sources.session import df_cells

    return set(df_cells(target.session))


def _session_verdicts(target):
    """The `--session`'s cell verdicts (neuron_id, status, reason), None without any."""
    if target is None:
        return None
    from napari_catrack.core.sources.session import read_verdicts

    verdicts = read_verdicts(target.session)
    return verdicts if len(verdicts) else None


def _write_figures(out: Path, fmt: str, tm, table, fps: float, source: str | None = None,
                   rejected: set[str] = frozenset(), df: set[str] = frozenset()) -> None:  # fmt: skip
    """The four transient figures, titled with the traces file they come from (`source`) and
    how many cells they leave out, of the cells not `rejected` (ids as text), as the Transients
    widget draws them; the cells in `df` (dff is dF, not dF/F: the session's `dff_kind`) are
    left off the dF/F axes (traces, amplitudes) and counted in their titles."""
    import numpy as np

    from napari_catrack.figures import save_figure
    from napari_catrack.figures.style import label_recording, left_out_label
    from napari_catrack.figures.transients import DFF_AXES, transient_figures

    keep = ~np.isin(np.asarray(tm.neuron_ids).astype(str), list(rejected))
    ids, dff = np.asarray(tm.neuron_ids)[keep], tm.dff[keep]
    if len(keep) and not keep.any():
        warn("transients", f"every cell is rejected ({len(keep)} by the verdicts): the figures "
             "draw no cell")  # fmt: skip
    local = table[~table["neuron_id"].astype(str).isin(rejected)].copy()
    for c in ("start", "peak", "end"):  # figures index the matrix, not the table's frames
        local[f"{c}_frame"] = local[f"{c}_frame"] - tm.frames[0]
    figs, n_df = transient_figures(dff, ids, local, fps, df)
    for name, fig in figs.items():
        axis = name in DFF_AXES  # their numbers are the tables' less the dF cells too
        label_recording(fig, left_out_label(source, int((~keep).sum()), n_df if axis else 0))
        save_figure(fig, out / f"{name}.{fmt}")
    print(f"{len(figs)} figures -> {out}")
