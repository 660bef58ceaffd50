"""`catrack train-detector`: train a transient detector (TCN, GRU, LSTM, Transformer) on curated cells."""

from __future__ import annotations

import argparse
import sys

from napari_catrack.commands._common import (
    check_outputs,
    frame_rate_from_args,
    positive_float,
    stated_frame_rate,
    warn,
)
from napari_catrack.core.transients.params import TrainDetectorParams


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-detector",
        help="train a transient detector (TCN, GRU, LSTM or Transformer) on curated transients",
        description="Learn transient detection from your own curated transients (CPU, minutes). "
        "Each transient's start-to-peak frames are the rise the network learns to find. With "
        "--verdicts, only accepted cells are used when there are any (else all but rejected). "
        "Use the result with `catrack transients --method model --model FILE`.",
    )
    p.add_argument(
        "traces", metavar="TRACES", help="traces CSV/XLSX (long or wide), as for transients"
    )
    p.add_argument("transients", metavar="TRANSIENTS", help="curated transient table (CSV/XLSX)")
    p.add_argument("--fps", type=positive_float, default=None,
                   help="frame rate in frames per second (default: the one the table's time_s "
                   "and frame columns state, as catrack traces and sources write them, or a wide "
                   "table's column headers when they are times in seconds)")  # fmt: skip
    p.add_argument("--layout", choices=("long", "wide"), default=None, help="default: detect")
    p.add_argument("--verdicts", default=None, help="neuron_id,status[,reason] table")
    p.add_argument("-o", "--output", required=True, help="detector file to write (.pt)")
    TrainDetectorParams.add_arguments(p, title="training")
    p.add_argument("--init", default=None, metavar="FILE", help="fine-tune this detector instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from napari_catrack.core.transients.learned import load_detector, save_detector
    from napari_catrack.core.transients.training import (
        train_detector,
        training_data,
        undertrained,
    )
    from napari_catrack.errors import InputError
    from napari_catrack.io.tables import read_table, to_matrix

    check_outputs({"-o": args.output}, {"TRACES": args.traces, "TRANSIENTS": args.transients,
                  "--verdicts": args.verdicts, "--init": args.init})  # fmt: skip
    frame = read_table(args.traces, what="traces")
    tm = to_matrix(frame, args.layout, where=str(args.traces))
    # the rate by `catrack transients`' rule: --fps, else what the table states (h22 walk)
    stated = lambda: stated_frame_rate(frame, args.layout, [("frame", "time_s")],  # noqa: E731
                                       "the table's time_s column",
                                       "the table has no time_s column that states it")  # fmt: skip
    args.fps = frame_rate_from_args(args, None, "train-detector", stated, "traces")
    table = read_table(args.transients).copy()
    if "neuron_id" not in table.columns:
        raise InputError(f"{args.transients} has no 'neuron_id' column")
    known = set(map(str, tm.neuron_ids))
    stray = table["neuron_id"].astype(str).map(lambda n: n not in known)
    if stray.any():  # said, not silently dropped: a wrong id column or the wrong traces file
        names = sorted(set(table.loc[stray, "neuron_id"].astype(str)))
        warn("train-detector", f"{int(stray.sum())} transient(s) of neuron(s) "
             f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''} not in {args.traces}: "
             "left out")  # fmt: skip
    for c in ("start_frame", "peak_frame"):
        if c not in table.columns:
            raise InputError(f"{args.transients} has no {c!r} column")
        frames = pd.to_numeric(table[c], errors="coerce").to_numpy()
        if np.isnan(frames).any():
            i = int(np.isnan(frames).nonzero()[0][0])
            cell = table[c].iloc[i]  # an empty cell read as NaN: not "np.float64(nan)"
            raise InputError(f"{args.transients}: {c} must be frame numbers; row {i + 1} has "
                             f"{'an empty cell' if pd.isna(cell) else repr(cell)}")  # fmt: skip
        idx = np.searchsorted(tm.frames, frames)
        if (idx >= tm.frames.size).any() or (
            tm.frames[np.minimum(idx, tm.frames.size - 1)] != frames
        ).any():
            raise InputError(f"{args.transients}: some {c} values are not frames of {args.traces}")
        table[c] = idx
    statuses = None
    if args.verdicts:
        from napari_catrack.core.transients.features import check_verdicts

        v = check_verdicts(read_table(args.verdicts), args.verdicts)  # the one verdicts check
        statuses = dict(zip(v["neuron_id"].astype(str), v["status"].astype(str)))
    traces, intervals, used = training_data(tm.dff, tm.neuron_ids, table, args.fps, statuses)
    params = TrainDetectorParams.from_args(args)
    init = load_detector(args.init) if args.init else None
    if init is not None:
        given = {k: v for k, v in params.network().items() if getattr(args, k, None) is not None}
        differ = [f"--{k.replace('_', '-')} {v}" for k, v in given.items()
                  if getattr(init.config, k) != v]  # fmt: skip
        if differ:
            warn("train-detector", f"--init {args.init} keeps its own network "
                 f"({init.config.arch}); ignoring {', '.join(differ)}")  # fmt: skip
    last = [-1]

    def progress(step: int, total: int, message: str) -> None:
        pct = 100 * step // total
        if pct // 10 != last[0]:
            last[0] = pct // 10
            print(f"{pct:3d}% {message}", file=sys.stderr)

    det = train_detector(
        traces, args.fps, intervals, None, params, init=init, progress=progress,
        meta={"trained_on": str(args.traces), "labels": str(args.transients),
              "cells": [str(i) for i in used], "seed": params.seed,
              "params": params.to_dict()},
    )  # fmt: skip
    save_detector(det, args.output)
    if said := undertrained(det, traces, args.fps, intervals):  # here, not left to the next step
        warn("train-detector", f"{said}: train longer (--epochs; {params.epochs} now) or "
             "fine-tune the shipped detector (--init "
             "src/napari_catrack/models/transient_detector.pt)")  # fmt: skip
    m = det.meta
    print(
        f"trained {det.config.arch} on {len(used)} cells, {m['n_labelled_transients']} transients "
        f"({m['train_seconds']} s, final loss {m['final_loss']}) -> {args.output}"
    )
    return 0
