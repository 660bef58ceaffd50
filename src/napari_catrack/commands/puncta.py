"""`catrack puncta REC --puncta-channel 0 --calcium-channel 1 --pixel-size-nm NM -o DIR`:
localise puncta, link them into tracks and call calcium at each punctum in each frame."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from napari_catrack.commands._common import (
    OutputFolder,
    add_session_argument,
    check_outputs,
    positive_float,
    progress_printer,
    recording_inputs,
    session_from_args,
    warn,
)
from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.errors import InputError
from napari_catrack.export.layout import FIGURE_FORMATS, PUNCTA_FIGURES
from napari_catrack.io.layouts import LAYOUTS

# the reader's words for its channels -> the options that chose them
PUNCTA_WORDS = {"green and red channel indices": "--puncta-channel and --calcium-channel",
                "green channel": "--puncta-channel", "red channel": "--calcium-channel"}  # fmt: skip
PUNCTA_FILES = ("localizations.csv", "tracks.csv", "calcium.csv", "events.csv", "summary.json")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "puncta",
        help="localise puncta (sub-pixel), track them and call calcium signals at each punctum",
        description=(
            "Writes DIR/localizations.csv (ThunderSTORM format: frames 1-based, nm, photons), "
            "DIR/tracks.csv (track_id,frame,x_nm,y_nm; frames 0-based), DIR/calcium.csv "
            "(track_id,frame,probability,event,time_s), DIR/events.csv (per-track calcium "
            "events, with start_s,end_s) and DIR/summary.json (co-localisation statistics, "
            "parameters, camera, model, frame rate)."
        ),
    )
    p.add_argument("recording", metavar="REC", help="TIFF/HDF5 file, TIFF folder or glob")
    p.add_argument("--puncta-channel", type=int, default=0, metavar="I",
                   help="channel index of the puncta (HaloTag) [default: 0]")  # fmt: skip
    p.add_argument("--calcium-channel", type=int, default=1, metavar="I",
                   help="channel index of the calcium dye [default: 1]")  # fmt: skip
    p.add_argument("--layout", choices=LAYOUTS, default=None,
                   help="how the two channels are stored (default: a channel axis)")  # fmt: skip
    p.add_argument("--dataset", default=None, help="HDF5 dataset path (when ambiguous)")
    p.add_argument("--axes", default=None, help="override the file's axis letters, e.g. TCYX")
    p.add_argument("--pixel-size-nm", type=float, default=None, metavar="NM",
                   help="pixel size in the sample (default: from the file, if it has one)")  # fmt: skip
    p.add_argument("--camera", default=None, metavar="JSON",
                   help="camera.json: offset_adu, e_per_adu, em_gain, quantum_efficiency "
                   f"[, read_noise_e] (default: {CameraModel.defaults_text()})")  # fmt: skip
    p.add_argument("--fps", type=positive_float, default=None, metavar="F",
                   help="frame rate of the movie (frames per second), for the times in "
                   "calcium.csv (time_s) and events.csv (start_s, end_s) (default: the "
                   "--session's, else the file's; none: those columns left empty)")  # fmt: skip
    p.add_argument("--figures", default=None, metavar="DIR",
                   help="also write the figures into DIR: precision_photons (precision and "
                   "photon histograms) and calcium_raster (calcium per punctum over time)")  # fmt: skip
    p.add_argument("--figure-format", choices=FIGURE_FORMATS, default="svg",
                   help="format of the --figures (default %(default)s)")  # fmt: skip
    p.add_argument("--model", default=None, metavar="JSON",
                   help="network model (.json beside its .pt) for --method network "
                   "(default: the shipped model)")  # fmt: skip
    PunctaParams.add_arguments(p, title="puncta parameters")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    add_session_argument(p)
    p.set_defaults(func=run)


def open_puncta_recording(path, puncta_channel: int, calcium_channel: int, layout=None, **options):
    """The movie as green = puncta, red = calcium, every message in the words of the puncta
    options (the reader speaks of green and red channels)."""
    from napari_catrack.io.recording import open_recording

    try:
        rec = open_recording(path, layout=layout, green_channel=puncta_channel,
                             red_channel=calcium_channel, **options)  # fmt: skip
    except InputError as exc:
        text = str(exc)
        for reader, ours in PUNCTA_WORDS.items():
            text = text.replace(reader, ours)
        raise InputError(text) from None
    if rec.red is None:
        rec.close()
        if layout == "single":
            raise InputError(f"--layout single opens one channel of {path}, but puncta analysis "
                             "needs two (puncta + calcium): leave --layout out for a file with a "
                             "channel axis, or give the layout that holds both")  # fmt: skip
        raise InputError(
            f"{path} has one channel, but puncta analysis needs two (puncta + calcium); "
            "give a two-channel recording, or --layout for side-by-side/interleaved channels"
        )
    return rec


def puncta_frame_rate(given: float | None, target, stated: float | None):
    """(frame rate or None, where it came from) for the puncta tables' times, by the rule of every
    command: --fps, else the --session's (`Session.frame_rate`), else the file's; a --fps that
    contradicts one of those is used, with a warning. None of them: (None, "none"), said on
    stderr (the times are left empty; the localisations need no rate)."""
    known, where, source = None, "", "none"
    session = target.session.frame_rate() if target is not None else None
    if session and not (stated and abs(session - stated) <= 1e-6 * stated):
        known, where, source = session, "the session", "session"
    elif session or stated:
        known, where, source = float(stated), "the file", "file"
    if given is not None:
        if known and abs(given - known) > 1e-3 * known:
            warn("puncta", f"--fps {given:g} differs from the {known:g} Hz of {where}; using --fps")
        return float(given), "--fps"
    if known:
        print(f"catrack puncta: frame rate {known:g} Hz, from {where} (--fps to give another)",
              file=sys.stderr)  # fmt: skip
        return known, source
    print("catrack puncta: no frame rate in the file or the session and no --fps: the times in "
          "calcium.csv (time_s) and events.csv (start_s, end_s) are left empty", file=sys.stderr)  # fmt: skip
    return None, "none"


def write_figures(folder: Path, fmt: str, result, fps: float | None) -> None:
    """The widget's two figures (`figures.puncta.puncta_figure`, as `catrack export` draws them
    from a session): the calcium raster's axis in seconds at `fps`, in frames without a rate."""
    from napari_catrack.figures import save_figure
    from napari_catrack.figures.puncta import puncta_figure

    folder.mkdir(parents=True, exist_ok=True)
    locs, px = result.localizations, result.params.pixel_size_nm
    for name in PUNCTA_FIGURES:
        figure = puncta_figure(name, locs, px, result.n_frames, fps)
        save_figure(figure, folder / f"{name}.{fmt}")


def run(args: argparse.Namespace) -> int:
    from napari_catrack.core.puncta.pipeline import analyse_puncta
    from napari_catrack.core.puncta.tables import write_puncta_table
    from napari_catrack.io.atomic import atomic_write_set, write_text_atomic
    from napari_catrack.io.camera import read_camera
    from napari_catrack.io.thunderstorm import write_thunderstorm

    if args.puncta_channel == args.calcium_channel:
        raise InputError("--puncta-channel and --calcium-channel must differ")
    if min(args.puncta_channel, args.calcium_channel) < 0:
        raise InputError("channel indices must be >= 0")
    out = Path(args.output)
    figures = None
    if args.figures:
        names = tuple(f"{n}.{args.figure_format}" for n in PUNCTA_FIGURES)
        figures = OutputFolder(args.figures, names)
    check_outputs({"-o": OutputFolder(out, PUNCTA_FILES), "--session": args.session,
                   "--figures": figures},
                  {**recording_inputs(args.recording), "--camera": args.camera,
                   "--model": args.model})  # fmt: skip
    target = session_from_args(args, args.recording)
    rec = open_puncta_recording(args.recording, args.puncta_channel, args.calcium_channel,
                                args.layout, dataset=args.dataset, axes=args.axes)  # fmt: skip
    pixel = args.pixel_size_nm
    if pixel is None:
        if not rec.pixel_size_um:
            raise InputError("the file has no pixel size: give --pixel-size-nm")
        pixel = rec.pixel_size_um * 1000.0
    if not pixel > 0:
        raise InputError(f"--pixel-size-nm must be > 0, got {pixel}")
    if args.camera:
        camera = read_camera(args.camera)
    else:
        camera = CameraModel()
        warn("puncta", f"no --camera file: assuming {CameraModel.defaults_text()}; "
             "photon counts and uncertainties are only right with your camera's values")  # fmt: skip
    params = PunctaParams.from_args(args, pixel_size_nm=pixel)
    fps, fps_source = puncta_frame_rate(args.fps, target, rec.fps)
    model = None
    if args.model and params.method != "network":
        raise InputError(
            f"--model is for --method network; with --method {params.method} it would be "
            "ignored (add --method network, or leave --model out)"
        )
    if params.method == "network" and args.model:
        from napari_catrack.core.puncta.network import load_model

        model = load_model(args.model)
    # a long movie says it is alive and how far it got (stderr; stdout keeps the one result line)
    progress = progress_printer("catrack puncta")
    result = analyse_puncta(rec.green, rec.red, camera, params, model=model, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    from napari_catrack import __version__
    from napari_catrack.io.provenance import inputs_provenance

    inputs = {"recording": args.recording, "camera": args.camera, "model": args.model}
    summary = {
        "version": __version__,
        "recording": str(args.recording),
        "inputs": inputs_provenance(None, inputs),  # paths, sizes and SHA-256: which files exactly
        "stats": result.stats,
        "params": params.to_dict(),
        "camera": camera.to_dict(),
        "model": result.model_info,
        "fps": fps,
        "fps_source": fps_source,
    }
    with atomic_write_set():  # the files (and figures) replace an older run's together, or none
        write_thunderstorm(result.localizations, out / "localizations.csv", pixel)
        write_puncta_table(result.tracks_csv(), out / "tracks.csv")
        write_puncta_table(result.calcium_csv(fps), out / "calcium.csv")
        write_puncta_table(result.events_csv(fps), out / "events.csv")
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
        if args.figures:
            write_figures(Path(args.figures), args.figure_format, result, fps)
    if target is not None:
        from napari_catrack.core.puncta.records import record_puncta

        target.record(record_puncta, result, inputs=inputs, fps=fps)
        target.save(rec)
    s = result.stats
    print(
        f"{s['localizations']} localisations in {result.n_frames} frames, {s['tracks']} tracks, "
        f"{s['calcium_events']} calcium events -> {out}"
    )
    return 0
