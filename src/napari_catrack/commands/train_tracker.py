"""`catrack train-tracker -o DIR`: reproduce the shipped tracker weights from synthetic worms."""

from __future__ import annotations

import argparse
import sys

from napari_catrack.commands._common import OutputFolder, check_outputs
from napari_catrack.core.tracking.params import TrainTrackerParams


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-tracker",
        help="train the neuron-tracking CNN on synthetic moving-worm recordings (CPU, minutes)",
        description="Train the tracker CNN on synthetic recordings; writes DIR/tracker.pt + .json.",
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    TrainTrackerParams.add_arguments(p, title="training parameters")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.tracking.model import save_model
    from napari_catrack.core.tracking.training import train_on_synthetic

    check_outputs({"-o": OutputFolder(args.output, ("tracker.pt", "tracker.json"))}, {})
    model = train_on_synthetic(
        TrainTrackerParams.from_args(args), log=lambda m: print(m, file=sys.stderr)
    )
    path = save_model(model, args.output)
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0
