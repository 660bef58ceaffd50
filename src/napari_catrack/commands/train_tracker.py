"""`catrack train-tracker -o DIR`: reproduce the shipped tracker weights from synthetic worms."""

from __future__ import annotations

import argparse
import sys

from napari_catrack.commands._common import non_negative_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-tracker",
        help="train the neuron-tracking CNN on synthetic moving-worm recordings (CPU, minutes)",
        description="Train the tracker CNN on synthetic recordings; writes DIR/tracker.pt + .json.",
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--recordings", type=int, default=4, help="synthetic recordings (default 4)")
    p.add_argument("--epochs", type=int, default=4, help="training epochs (default 4)")
    p.add_argument("--frames", type=int, default=120, help="frames per recording (default 120)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.tracking.model import save_model
    from napari_catrack.core.tracking.training import train_on_synthetic
    from napari_catrack.errors import InputError

    if args.recordings < 1 or args.epochs < 1 or args.frames < 2:
        raise InputError("--recordings and --epochs must be >= 1, --frames >= 2")
    model = train_on_synthetic(
        seed=args.seed, recordings=args.recordings, epochs=args.epochs, n_frames=args.frames,
        log=lambda m: print(m, file=sys.stderr),
    )  # fmt: skip
    path = save_model(model, args.output)
    print(f"wrote {path} and {path.with_suffix('.json')}")
    return 0
