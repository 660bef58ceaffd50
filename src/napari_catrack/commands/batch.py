"""`catrack batch MANIFEST -o DIR [--scheduler ADDRESS | --workers N]`: many recordings on dask."""

from __future__ import annotations

import argparse
import sys

from napari_catrack.commands._common import non_negative_int, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch",
        help="run steps over many recordings on dask.distributed (resumable)",
        description="Run the manifest's steps on every recording, each recording on a dask worker "
        "(a local cluster of processes by default). Writes DIR/<name>/ (session.catrack.h5 and the "
        "step tables), DIR/pooled/cells.csv and transients.csv, DIR/report.csv. Rerunning skips "
        "every step already done with the same parameters and inputs (docs/batch.md).",
    )
    p.add_argument("manifest", metavar="MANIFEST", help="manifest (.yaml, .toml or .csv)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR",
        help="output folder: one sub-folder per recording, pooled/ and report.csv",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running dask scheduler, e.g. tcp://10.0.0.5:8786",
    )
    where.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="worker processes of the local cluster (default: min(4, cores))",
    )
    p.add_argument(
        "--memory-limit",
        default=None,
        metavar="SIZE",
        help="per local worker, e.g. 2GB (default: the machine's memory / workers)",
    )
    p.add_argument(
        "--retries",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="times a recording whose worker died is retried (default %(default)s)",
    )
    p.add_argument(
        "--params-from",
        default=None,
        metavar="SESSION",
        help="a session file (*.catrack.h5) whose steps' parameters that differ from the "
        "defaults become the batch's defaults (the manifest's own params win): settings tuned "
        "on one recording for all (docs/batch.md)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.batch.manifest import read_manifest
    from napari_catrack.batch.runner import check_batch_output, run_batch

    say = lambda line: print(f"catrack batch: {line}", file=sys.stderr)  # noqa: E731
    session = None
    if args.params_from:
        from napari_catrack.batch.from_session import read_session_params

        session = read_session_params(args.params_from)
    manifest = read_manifest(args.manifest, session=session, output=args.output)
    check_batch_output(manifest, args.output)
    from napari_catrack.text import counted

    say(f"{counted(len(manifest.recordings), 'recording')} from {args.manifest} -> {args.output}")
    if session is not None:
        from napari_catrack.batch.from_session import override_lines

        run = {s for r in manifest.recordings for s in r.steps}
        for line in (*session.lines(run), *override_lines(manifest)):
            say(line)
        own = _own_session(manifest, args.output, session.path)
        if own is not None:
            say(
                f"warning: {session.path.name} is {own}'s session of this batch: its steps "
                "whose parameters change are recomputed into it (hand edits in them replaced)"
            )
    try:
        import rich  # noqa: F401  (the progress bar; plain lines without it)
    except ImportError:
        args.no_progress = True
    where = dict(
        scheduler=args.scheduler,
        workers=args.workers,
        memory_limit=args.memory_limit,
        retries=args.retries,
    )
    if args.no_progress or not sys.stderr.isatty():
        progress = lambda d, t, n: n and say(f"[{d}/{t}] {n} finished")  # noqa: E731
        result = run_batch(manifest, args.output, log=say, progress=progress, **where)
    else:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        name = TextColumn("{task.description}", markup=False)  # a recording's name as it is
        columns = (name, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        # the bar and the notes above it on stderr, as without the bar (rich's default console
        # is stdout, where only the result line belongs); a note as it is: no markup, no colours
        # (a file name in [brackets] is text), no line breaks added
        with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task("recordings", total=len(manifest.recordings))

            def progress(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, description=name or "recordings")

            def note(line: str) -> None:
                bar.console.print(f"catrack batch: {line}", markup=False, highlight=False,
                                  soft_wrap=True)  # fmt: skip

            result = run_batch(manifest, args.output, log=note, progress=progress, **where)
    # the result line, on stdout as every command's (the batch's notes and warnings: stderr)
    print(result.summary() + f" ({result.seconds:.1f} s) -> {result.output / 'report.csv'}")
    for r in result.set_aside.itertuples():
        say(f"{r.recording}: warning: {r.message}")
    # each failed step was said (run_batch's log) when its recording finished
    return 1 if result.failed else 0


def _own_session(manifest, output: str, session) -> str | None:
    """The recording whose batch session (`DIR/<name>/session.catrack.h5`) `session` is."""
    import os
    from pathlib import Path

    from napari_catrack.batch.recording import SESSION_NAME

    for spec in manifest.recordings:
        theirs = Path(output) / spec.name / SESSION_NAME
        try:
            if theirs.is_file() and os.path.samefile(theirs, session):
                return spec.name
        except OSError:
            continue
    return None
