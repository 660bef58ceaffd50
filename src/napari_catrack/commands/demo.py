"""`catrack demo -o DIR`: the whole pipeline on the bundled synthetic recording."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_catrack.commands._common import OutputFolder, check_outputs, non_negative_int
from napari_catrack.text import counted

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
    p.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="folder to write the demo into"
    )
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
    import sys

    from napari_catrack.demo import run_demo
    from napari_catrack.errors import InputError

    check_outputs({"-o": OutputFolder(args.output)}, {})
    if args.frames is not None and args.frames < 20:
        raise InputError("--frames must be at least 20")
    # each step's line is a note (stderr); the result lines below are stdout's
    log = lambda line: print(f"catrack demo: {line}", file=sys.stderr, flush=True)  # noqa: E731
    out = Path(args.output)
    if args.two_photon:
        from napari_catrack.demo_two_photon import run_two_photon_demo

        n = args.frames or TWO_PHOTON_FRAMES
        summary = run_two_photon_demo(out, n_frames=n, seed=args.seed, log=log)
        lines = result_lines(summary, out, "two_photon.catrack.h5", two_photon=True)
    else:
        summary = run_demo(out, n_frames=args.frames or FRAMES, seed=args.seed, log=log)
        lines = result_lines(summary, out, "demo.catrack.h5")
    print("\n".join(lines))
    return 0


def result_lines(summary: dict, out, session: str, *, two_photon: bool = False) -> list[str]:
    """The demo's result lines (stdout): what it made, its headline scores from summary.json,
    and the session, each `... -> PATH` as every command's result line."""

    head = f"demo recording: {summary['frames']} frames, seed {summary['seed']} -> {out}"
    if two_photon:
        reg, src = summary["registration"], summary["sources"]
        tr, ens = summary["transients"], summary["ensembles"]
        r = "n/a" if src["median_r"] is None else src["median_r"]
        scores = (
            f"scores: registration median error {reg['median_error_px']} px (vs truth); sources "
            f"{src['accepted']} of {src['components']} accepted, F1 {src['f1']}, median r {r} "
            f"(vs truth); {tr['transients']} transients in {_active(tr)}{tr['cells']} cells; "
            f"{counted(ens['events'], 'ensemble event')}"
        )
    else:
        tr, tk = summary["transients"], summary["tracking"]
        ens, beh = summary["ensembles"], summary["behaviour"]
        scores = (
            f"scores vs truth: transients precision {tr['precision_vs_truth']}, recall "
            f"{tr['recall_vs_truth']}; tracking {100 * tk['within_2px']:.1f} % within 2 px; "
            f"ensembles {ens['ensembles']} found, {ens['planted_found']} of {ens['planted']} "
            f"planted recovered; behaviour mask IoU {beh['mask_iou_median']}, reversal onsets "
            f"precision {_na(beh.get('reversal_onset_precision'))}, recall "
            f"{_na(beh.get('reversal_onset_recall'))}"
        )
    return [head, f"{scores} -> {Path(out) / 'summary.json'}", f"session -> {Path(out) / session}"]


def _na(value) -> str:
    """A score, or n/a where there was nothing to score (no reversal planted or called)."""
    return "n/a" if value is None else str(value)


def _active(tr: dict) -> str:
    """ "7 of " before the cells counted: those with transients (a summary.json written before
    h21 has no `active_cells`, and the line then counts the cells looked at)."""
    return f"{tr['active_cells']} of " if "active_cells" in tr else ""
