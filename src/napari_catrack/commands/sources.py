"""`catrack sources REC [--fps F] -o DIR`: CNMF-style source extraction and evaluation.

The movie as given (pass the registered movie). Writes DIR/footprints.h5 (dataset `footprints`,
(K, Y, X) float32; row k = the k-th row of components.csv), DIR/components.csv
(`neuron_id,y,x,area,snr,r_value,accepted,reason,dff_kind`; y, x = footprint centroids;
`dff_kind`: dF/F, or dF for a cell with no baseline + background to divide by) and DIR/traces.csv
(`neuron_id,frame,time_s,raw,denoised,spikes,dff`).
"""

from __future__ import annotations

import argparse
import json
import sys

from napari_catrack.commands._common import (
    OutputFolder,
    add_movie_arguments,
    add_params_from_argument,
    add_session_argument,
    check_outputs,
    frames_from_args,
    movie_options,
    params_from_args,
    recording_inputs,
    session_from_args,
    warn,
)
from napari_catrack.core.sources.params import EvaluationParams, SourcesParams


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sources",
        help="find cells (footprints + traces) in a head-fixed movie and evaluate them",
        description=__doc__.split("\n\n", 1)[1],
    )
    add_movie_arguments(p)
    SourcesParams.add_arguments(p, title="source extraction")
    EvaluationParams.add_arguments(p, title="component evaluation")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    add_session_argument(p)
    add_params_from_argument(p, "sources")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.sources.extract import extract_sources
    from napari_catrack.io.sources import SOURCES_FILES, write_sources

    check_outputs(
        {"-o": OutputFolder(args.output, SOURCES_FILES), "--session": args.session},
        recording_inputs(args.recording),
    )
    # --params-from: the session's extraction values and evaluation thresholds (the batch
    # `sources` step's one set of names), each under the options given here
    taken = params_from_args(args, "sources", "sources")
    params = SourcesParams.from_args(args, **_own(SourcesParams, taken))
    evaluation = EvaluationParams.from_args(args, **_own(EvaluationParams, taken))
    # the movie as given: the session's recording, or the movie its registration wrote
    target = session_from_args(args, args.recording, also=("registration",))
    if target is not None:
        target.open_options = movie_options(args)
    with frames_from_args(args) as source:
        result = extract_sources(source, params, evaluation, fps=args.fps or source.fps)
    attrs = {"params": json.dumps(params.to_dict()), "evaluation": json.dumps(evaluation.to_dict()),
             "source": str(args.recording), "fps": result.fps}  # fmt: skip
    write_sources(args.output, result.footprints, result.components, result.traces_table(), attrs)
    if target is not None:
        from napari_catrack.core.sources.session import record_sources

        said = target.record(record_sources, result, inputs={"recording": args.recording})
        target.save()
        for line in said:  # hand verdicts on cells this run no longer has
            print(f"catrack sources: {line}", file=sys.stderr)
    n_acc = int(result.components["accepted"].sum())
    for note in result.warnings:
        warn("sources", note)
    # the result line, on stdout as every command's (notes and warnings: stderr)
    print(f"{len(result.components)} components, {n_acc} accepted -> {args.output}")
    return 0


def _own(cls, values: dict) -> dict:
    """The values of `values` that are fields of `cls`."""
    names = {f.name for f in cls.fields()}
    return {k: v for k, v in values.items() if k in names}
