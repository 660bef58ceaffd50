"""`catrack train-puncta -o MODEL.json`: train the shared-encoder puncta network on the simulator
(phased: localisation, calcium, joint with Kendall weighting), optionally with bootstrapped labels
from a real movie's ThunderSTORM table. The shipped model is reproduced by the command in
docs/puncta.md (it is also recorded in the model's JSON)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from napari_catrack.commands._common import check_outputs, progress_printer
from napari_catrack.core.puncta.params import TrainPunctaParams
from napari_catrack.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-puncta",
        help="train the puncta network (localisation + calcium heads) on simulated puncta",
        description="Writes MODEL.json (config + provenance) and MODEL.pt (state_dict) beside it.",
    )
    TrainPunctaParams.add_arguments(p, title="training")
    p.add_argument("--labels-movie", default=None, metavar="REC",
                   help="the two-channel movie the --labels table was made from")  # fmt: skip
    p.add_argument("--puncta-channel", type=int, default=0, metavar="I")
    p.add_argument("--calcium-channel", type=int, default=1, metavar="I")
    p.add_argument("--camera", default=None, metavar="JSON", help="camera.json of --labels-movie")
    p.add_argument("--threads", type=int, default=2, metavar="N",
                   help="torch CPU threads (the result is reproducible for a given count)")  # fmt: skip
    p.add_argument("--recalibrate", action="store_true",
                   help="do not train: re-run only the post-hoc uncertainty calibration of the "
                        "existing -o MODEL.json on --calibration-clips held-out clips (scene "
                        "range and seed from its training) and write it back")  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="MODEL.json")
    p.set_defaults(func=run)


def recalibrate(path: str, clips: int, command: str) -> int:
    """Calibrate an existing model again (`calibrate.py`), keeping its weights: the scenes are
    drawn from the range and seed it was trained with; the old calibration stays in its meta."""
    from dataclasses import replace

    import numpy as np

    from napari_catrack.core.puncta.calibrate import (
        MIN_MATCHED,
        apply_calibration,
        calibrate_uncertainty,
    )
    from napari_catrack.core.puncta.network import load_model, save_model

    if clips < 1:
        raise InputError("--recalibrate needs --calibration-clips >= 1")
    net = load_model(path)
    meta = dict(net.config.meta)
    tp = TrainPunctaParams.from_dict(meta.get("train_params")).replace(calibration_clips=clips)
    result = calibrate_uncertainty(net, tp, np.random.default_rng([tp.seed, 1]), clips)
    if result["matched"] < MIN_MATCHED:  # nothing to fit: a, b, c would be placeholders
        raise InputError(
            f"cannot recalibrate {path}: on {clips} held-out clip(s) it matched {result['matched']}"
            f" of {result['truth']} simulated puncta ({result['localizations']} found), and at "
            f"least {MIN_MATCHED} are needed; the model is unchanged (give more "
            "--calibration-clips, or train it longer)"
        )
    apply_calibration(net, result)
    history = [*meta.get("recalibrations", []), {"command": command, "before": meta.get(
        "calibration", {}), "after": result}]  # fmt: skip
    net.config = replace(net.config, meta={**meta, "calibration": result,
                                           "recalibrations": history})  # fmt: skip
    out = save_model(net, path, weights=False)  # the weights are unchanged
    print(f"recalibrated {out}: a={result['a']}, b={result['b_px']} px, c={result['c_px']} px "
          f"(error/reported {result['z_rms_after']:.3f} on {clips} clips)")  # fmt: skip
    return 0


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from napari_catrack.core.puncta.network import _torch, save_model
    from napari_catrack.core.puncta.training import bootstrap_samples, train_network

    model = Path(args.output).with_suffix(".json")  # and its weights beside it (.pt)
    outputs = [model] if args.recalibrate else [model, model.with_suffix(".pt")]
    check_outputs({"-o": outputs}, {"--labels": args.labels, "--labels-movie": args.labels_movie,
                  "--camera": args.camera})  # fmt: skip
    tp = TrainPunctaParams.from_args(args)
    if args.threads < 1:
        raise InputError("--threads must be >= 1")
    _torch().set_num_threads(args.threads)
    command = "catrack " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else ""
    if args.recalibrate:
        return recalibrate(args.output, tp.calibration_clips, command)
    bootstrap = None
    if args.labels_movie and not tp.labels:
        raise InputError("--labels-movie only applies with --labels (the ThunderSTORM table "
                         "made from it)")  # fmt: skip
    if tp.labels:
        if not args.labels_movie:
            raise InputError("--labels needs --labels-movie (the movie the table was made from)")
        from napari_catrack.commands.puncta import open_puncta_recording
        from napari_catrack.core.puncta.camera import CameraModel
        from napari_catrack.io.camera import read_camera
        from napari_catrack.io.thunderstorm import read_localizations

        rec = open_puncta_recording(args.labels_movie, args.puncta_channel, args.calcium_channel)
        camera = read_camera(args.camera) if args.camera else CameraModel()
        locs = read_localizations(tp.labels, tp.pixel_size_nm)
        bootstrap = bootstrap_samples(
            rec.green, rec.red, camera, locs, tp.patch, np.random.default_rng(tp.seed + 1),
            n=min(512, 32 * tp.batch_size),
        )  # fmt: skip
    progress = progress_printer("catrack train-puncta", every_percent=1)
    net = train_network(
        tp, bootstrap=bootstrap, progress=progress,
        meta={"command": command, "threads": args.threads},
    )  # fmt: skip
    path = save_model(net, args.output)
    size = path.with_suffix(".pt").stat().st_size
    print(
        f"puncta network ({net.describe()['parameters']} parameters, {size / 1024:.0f} kB) -> {path}"
    )
    return 0
