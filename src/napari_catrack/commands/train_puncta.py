"""`catrack train-puncta -o MODEL.json`: train the shared-encoder puncta network on the simulator
(phased: localisation, calcium, joint with Kendall weighting), optionally with bootstrapped labels
from a real movie's ThunderSTORM table. The shipped model is reproduced by the command in
docs/puncta.md (it is also recorded in the model's JSON)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from napari_catrack.commands._common import check_outputs, progress_printer, warn
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
    p.add_argument("--puncta-channel", type=int, default=0, metavar="I",
                   help="channel of --labels-movie holding the puncta (HaloTag) (default 0)")  # fmt: skip
    p.add_argument("--calcium-channel", type=int, default=1, metavar="I",
                   help="channel of --labels-movie holding the calcium dye (default 1)")  # fmt: skip
    p.add_argument("--camera", default=None, metavar="JSON", help="camera.json of --labels-movie")
    p.add_argument("--threads", type=int, default=2, metavar="N",
                   help="torch CPU threads (the result is reproducible for a given count; default "
                   "%(default)s)")  # fmt: skip
    p.add_argument("--recalibrate", action="store_true",
                   help="do not train: re-run only the post-hoc uncertainty calibration of the "
                        "existing -o MODEL.json on --calibration-clips held-out clips (scene "
                        "range and seed from its training) and write it back")  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="MODEL.json",
                   help="the trained model (its weights are written beside it)")  # fmt: skip
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


def labels_pixel_size_nm(labels, rec, fallback: float) -> tuple[float, str]:
    """The pixel size (nm) at which the --labels table's nm become the movie's pixels, and where
    it came from: the summary.json that `catrack puncta` wrote beside the table, else the movie's
    own, else --pixel-size-nm (the *simulated* pixel size: at 108 nm a 65 nm movie's labels
    landed 1.7x too close to the corner, without a word)."""
    import json

    summary = Path(labels).with_name("summary.json")
    if summary.is_file():
        try:
            pixel = json.loads(summary.read_text(encoding="utf-8"))["params"]["pixel_size_nm"]
            if float(pixel) > 0:
                return float(pixel), str(summary)
        except (ValueError, KeyError, TypeError):
            pass  # not catrack puncta's summary: the next source
    if getattr(rec, "pixel_size_um", None):
        return float(rec.pixel_size_um) * 1000.0, "the movie"
    return float(fallback), "--pixel-size-nm"


def check_labels_inside(locs, shape, pixel: float, source: str) -> None:
    """Labels outside the movie mean the wrong pixel size (or the wrong movie): refused."""

    _, h, w = (int(v) for v in shape)
    x, y = locs["x"].to_numpy(float), locs["y"].to_numpy(float)
    outside = int(((x < -0.5) | (x >= w - 0.5) | (y < -0.5) | (y >= h - 0.5)).sum())
    if outside > 0.01 * max(len(locs), 1):
        raise InputError(
            f"{outside} of {len(locs)} --labels lie outside the {w} x {h} px movie at {pixel:g} "
            f"nm per pixel (from {source}): wrong pixel size, or not this movie's table?"
        )


def say_quality(net, path) -> None:
    """The validation the model recorded (stderr): a warning in the words `catrack puncta` will
    use whenever it runs the model, when it is below `PunctaParams.model_min_jaccard` or none;
    the training used to end with the model's size only (Jaccard 0.16 said nowhere)."""
    from napari_catrack.core.puncta.network import model_quality
    from napari_catrack.core.puncta.params import PunctaParams

    net.source = str(path)
    quality = model_quality(net, PunctaParams().model_min_jaccard)
    if quality["warning"]:
        warn("train-puncta", f"{quality['warning']} (catrack puncta and the widget say so "
             "whenever they use it)")  # fmt: skip
    else:
        n = quality["validation_clips"]
        print(f"catrack train-puncta: validation Jaccard {quality['validation_jaccard']:.2f} on "
              f"{n} held-out simulated clip{'s' if n != 1 else ''}", file=sys.stderr)  # fmt: skip


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
        pixel, source = labels_pixel_size_nm(tp.labels, rec, tp.pixel_size_nm)
        if source == "--pixel-size-nm":
            warn("train-puncta", f"--labels: neither a summary.json of catrack puncta beside the "
                 f"table nor the movie gives the pixel size; its nm are converted at {pixel:g} nm "
                 "per pixel (--pixel-size-nm): give the movie's pixel size there if it differs")  # fmt: skip
        locs = read_localizations(tp.labels, pixel)
        check_labels_inside(locs, rec.green.shape, pixel, source)
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
    say_quality(net, path)
    size = path.with_suffix(".pt").stat().st_size
    print(
        f"puncta network ({net.describe()['parameters']} parameters, {size / 1024:.0f} kB) -> {path}"
    )
    return 0
