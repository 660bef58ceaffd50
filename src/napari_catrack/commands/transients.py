"""`catrack transients`: detect calcium transients in a traces table and export features."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_catrack.commands._common import non_negative_float, positive_float, probability
from napari_catrack.errors import InputError
from napari_catrack.figures import save_figure

FIGURE_FORMATS = ("svg", "png", "pdf")


def _window(value: str) -> float | str:
    """`auto` or seconds: the rules detector picks the window from the frame rate when auto."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'auto', got {value!r}") from None


def register(subparsers) -> None:
    """Add the `transients` sub-command."""
    p = subparsers.add_parser(
        "transients",
        help="detect calcium transients in a traces table",
        description="Detect transients per neuron (rules: CalTrig-style peak/interval/SNR; "
        "ksigma: k robust SDs over baseline; model: a trained GRU/LSTM/Transformer detector, "
        "the shipped one or yours from `catrack train-detector`) and write one row per transient.",
    )
    p.add_argument(
        "traces", metavar="TRACES", help="traces CSV/XLSX (long: neuron_id,frame,dff; or wide)"
    )
    p.add_argument(
        "--fps", type=float, default=None, help="frame rate in frames per second (required)"
    )
    p.add_argument("--method", choices=("rules", "ksigma", "model"), default="rules")
    p.add_argument("--layout", choices=("long", "wide"), default=None, help="default: detect")
    p.add_argument("-o", "--output", required=True, help="transients table (.csv or .xlsx)")
    p.add_argument("--cells", default=None, help="also write a per-cell summary table here")
    p.add_argument(
        "--verdicts", default=None, help="neuron_id,status[,reason] table of cell verdicts"
    )
    p.add_argument("--figures", default=None, metavar="DIR", help="write figures into DIR")
    p.add_argument("--figure-format", choices=FIGURE_FORMATS, default="svg")
    g = p.add_argument_group("both methods")
    g.add_argument(
        "--smooth-window",
        type=_window,
        default="auto",
        metavar="S|auto",
        help="Savitzky-Golay window in s; auto = 0.2 s but at most 13 frames (default)",
    )
    g.add_argument("--baseline-window", type=positive_float, default=30.0, metavar="S")
    r = p.add_argument_group("rules method")
    r.add_argument(
        "--peak-threshold", type=float, default=0.0, metavar="DFF", help="min peak above baseline"
    )
    r.add_argument(
        "--min-interval",
        type=non_negative_float,
        default=0.3,
        metavar="S",
        help="min time between peaks",
    )
    r.add_argument("--snr-threshold", type=non_negative_float, default=3.0, metavar="X")
    r.add_argument(
        "--prominence-snr",
        type=float,
        default=3.0,
        metavar="X",
        help="min prominence in noise units",
    )
    r.add_argument(
        "--noise-window",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="rolling noise window (s)",
    )
    k = p.add_argument_group("ksigma method")
    k.add_argument("--k", type=positive_float, default=2.5, help="threshold in robust SDs (MAD)")
    k.add_argument("--abs-threshold", type=float, default=0.0, metavar="DFF", help="absolute floor")
    k.add_argument("--split-k", type=float, default=3.0, help="valley depth (SDs) splitting peaks")
    k.add_argument("--min-duration", type=non_negative_float, default=0.1, metavar="S")
    m = p.add_argument_group("model method")
    m.add_argument(
        "--model", default=None, metavar="FILE",
        help="detector file from `catrack train-detector` (default: the shipped detector, "
        "trained on the Cascade ground truth)",
    )  # fmt: skip
    m.add_argument(
        "--threshold", type=probability, default=None, metavar="P",
        help="probability threshold (default: the detector's own, 0.5)",
    )  # fmt: skip
    m.add_argument(
        "--min-gap", type=non_negative_float, default=None, metavar="S",
        help="rises closer than this are one transient (default: the detector's own, 0.1 s)",
    )  # fmt: skip
    p.set_defaults(func=run)


def _params(args: argparse.Namespace) -> dict:
    if args.method == "model":
        return {
            "model": args.model,
            "threshold": args.threshold,
            "min_gap_s": args.min_gap,
            "smooth_window_s": args.smooth_window,
            "baseline_window_s": args.baseline_window,
        }
    common: dict = {"baseline_window_s": args.baseline_window}
    if args.smooth_window != "auto":  # auto: each method's own default (rules adapts to fps)
        common["smooth_window_s"] = args.smooth_window
    if args.method == "rules":
        return common | {
            "peak_threshold": args.peak_threshold,
            "min_interval_s": args.min_interval,
            "snr_threshold": args.snr_threshold,
            "prominence_snr": args.prominence_snr,
            "noise_window_s": args.noise_window,
        }
    return common | {
        "k": args.k,
        "abs_threshold": args.abs_threshold,
        "split_k": args.split_k,
        "min_duration_s": args.min_duration,
    }


def run(args: argparse.Namespace) -> int:
    """Read traces, detect, write the transient (and optional cell) tables and figures."""
    from napari_catrack.core.transients import cell_table, check_fps, detect_transients
    from napari_catrack.io.tables import read_table, read_traces, write_table

    if args.fps is None:
        raise InputError("--fps is required: the frame rate of the traces in frames per second")
    fps = check_fps(args.fps)
    tm = read_traces(args.traces, args.layout)
    table = detect_transients(tm.dff, fps, args.method, tm.neuron_ids, **_params(args))
    for c in ("start", "peak", "end"):  # matrix columns back to the table's frame numbers
        table[f"{c}_frame"] = tm.frames[table[f"{c}_frame"].to_numpy()]
        table[f"{c}_time_s"] = table[f"{c}_frame"] / fps
    write_table(table, args.output)
    n_cells = int(table["neuron_id"].nunique())
    print(f"{len(table)} transients in {n_cells}/{len(tm.neuron_ids)} neurons -> {args.output}")
    if args.cells:
        verdicts = read_table(args.verdicts) if args.verdicts else None
        n_frames = np.isfinite(tm.dff).sum(axis=1)
        write_table(cell_table(table, tm.neuron_ids, n_frames, fps, verdicts), args.cells)
        print(f"cell table -> {args.cells}")
    if args.figures:
        _write_figures(Path(args.figures), args.figure_format, tm, table, fps)
    return 0


def _write_figures(out: Path, fmt: str, tm, table, fps: float) -> None:

    from napari_catrack.figures.transients import (
        amplitude_figure,
        iti_figure,
        raster_figure,
        traces_figure,
    )

    local = table.copy()
    for c in ("start", "peak", "end"):  # figures index the matrix, not the table's frames
        local[f"{c}_frame"] = local[f"{c}_frame"] - tm.frames[0]
    figs = {
        "transients_traces": traces_figure(tm.dff, fps, local, tm.neuron_ids),
        "transients_raster": raster_figure(local, tm.neuron_ids, fps, tm.dff.shape[1]),
        "transients_amplitudes": amplitude_figure(local),
        "transients_iti": iti_figure(local),
    }
    for name, fig in figs.items():
        save_figure(fig, out / f"{name}.{fmt}")
    print(f"{len(figs)} figures -> {out}")
