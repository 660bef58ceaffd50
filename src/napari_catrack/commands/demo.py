"""`catrack demo -o DIR`: the whole pipeline on the bundled synthetic recording."""

from __future__ import annotations

import argparse

from napari_catrack.commands._common import OutputFolder, check_outputs, non_negative_int

# the recording lengths `catrack demo` makes (`run_demo`'s and `run_two_photon_demo`'s
# defaults: tests/core/test_cli_help_defaults.py keeps them equal; importing those modules
# for `--help` would load pandas)
FRAMES = 300
TWO_PHOTON_FRAMES = 600


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="make the synthetic two-channel worm recording and run every step on it",
        description="Writes recording.tif, ground_truth/, align.json, candidates.csv, tracks.csv, "
        "traces.csv, transients.csv, cells.csv, ensembles/, figures/, summary.json, the "
        "session file demo.catrack.h5 and behaviour/ (the behaviour camera: behaviour.avi and its "
        "stage log stage.csv, then masks.tif, centerline.csv, posture.csv, velocity.csv, "
        "figures/, ground_truth/) into DIR, and scores each step against the ground truth. "
        "With --two-photon: movie.tif, registered.tif, shifts.csv, patches.csv, summary/, "
        "sources/, transients.csv, cells.csv, ensembles/, ground_truth/, summary.json and "
        "two_photon.catrack.h5.",
    )
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument(
        "--frames",
        type=int,
        default=None,
        help=f"recording length (default {FRAMES}; {TWO_PHOTON_FRAMES} with --two-photon)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed of the recording")
    p.add_argument(
        "--two-photon",
        action="store_true",
        help="instead: the head-fixed two-photon path (register, summary images, sources, "
        f"transients, ensembles) on the synthetic two-photon movie (default {TWO_PHOTON_FRAMES} frames)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.demo import run_demo
    from napari_catrack.errors import InputError

    check_outputs({"-o": OutputFolder(args.output)}, {})
    if args.frames is not None and args.frames < 20:
        raise InputError("--frames must be at least 20")
    if args.two_photon:
        from napari_catrack.demo_two_photon import run_two_photon_demo

        run_two_photon_demo(args.output, n_frames=args.frames or TWO_PHOTON_FRAMES, seed=args.seed)
        return 0
    run_demo(args.output, n_frames=args.frames or FRAMES, seed=args.seed)
    return 0
