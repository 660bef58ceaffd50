"""The whole pipeline on the bundled synthetic recording, scored against its ground truth.

`catrack demo -o DIR` calls `run_demo`: the same core functions as the widgets and the other
commands, in order, recording each step in one session file. It is both the first thing a new user
runs and an end-to-end check that the steps fit together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from napari_catrack.figures import save_figure
from napari_catrack.io.atomic import write_text_atomic
from napari_catrack.io.tables import long_to_matrix, write_table

Log = Callable[[str], None]


def _save_figure(fig, folder: Path, name: str) -> None:
    """SVG (editable text) and PNG (300 dpi) of a figure of the demo's recording."""
    from napari_catrack.figures.style import label_recording

    label_recording(fig, "recording.tif")  # the demo's recording (`rec_path` below)
    for ext in ("svg", "png"):
        save_figure(fig, folder / f"{name}.{ext}")  # the style's size and 300 dpi


def _truth_tables(syn) -> dict[str, pd.DataFrame]:
    pos = syn.truth.positions
    t_idx, n_idx = np.meshgrid(np.arange(pos.shape[0]), np.arange(pos.shape[1]), indexing="ij")
    ids = np.asarray(syn.truth.neuron_ids)
    tracks = pd.DataFrame(
        {
            "neuron_id": ids[n_idx.ravel()],
            "frame": t_idx.ravel(),
            "y": pos[..., 0].ravel(),
            "x": pos[..., 1].ravel(),
        }
    ).sort_values(["neuron_id", "frame"], ignore_index=True)
    activity = pd.DataFrame(syn.truth.activity, index=ids)
    activity.index.name = "neuron_id"
    n = pos.shape[0]
    stage = pd.DataFrame(
        {
            "frame": np.arange(n),
            "time_s": np.arange(n) / syn.fps,
            "stage_y_um": syn.truth.stage_um[:, 0],
            "stage_x_um": syn.truth.stage_um[:, 1],
        }
    )
    return {"tracks": tracks, "activity": activity.reset_index(), "stage": stage}


def _match_to_truth(points_yx: np.ndarray, truth_yx: np.ndarray, max_px: float) -> np.ndarray:
    """Index of the true neuron each point belongs to (-1 if none within max_px), one-to-one."""
    from scipy.optimize import linear_sum_assignment

    if len(points_yx) == 0:
        return np.zeros(0, dtype=int)
    d = np.linalg.norm(points_yx[:, None, :] - truth_yx[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(np.where(d <= max_px, d, 1e6))
    out = np.full(len(points_yx), -1)
    ok = d[rows, cols] <= max_px
    out[rows[ok]] = cols[ok]
    return out


def _planted_vs_found(syn, result, truth_of: dict) -> pd.DataFrame:
    """Each planted group of the sample (ground truth) and the found ensemble closest to it
    (Jaccard similarity of the member sets, neurons named by the truth)."""
    names = {str(k): syn.truth.neuron_ids[v] for k, v in truth_of.items() if v >= 0}
    found = {
        int(e): {names.get(str(n), f"cand {n}") for n in g.neuron_id}
        for e, g in result.members.groupby("ensemble_id")
    }
    rows = []
    for i, group in enumerate(syn.truth.ensemble_members):
        scores = {e: len(set(group) & m) / len(set(group) | m) for e, m in found.items()}
        best = max(scores, key=scores.get) if scores else -1
        rows.append({"group": i, "members": " ".join(group),
                     "events": len(syn.truth.ensemble_events[i]), "best_ensemble_id": best,
                     "jaccard": round(scores.get(best, 0.0), 3)})  # fmt: skip
    return pd.DataFrame(rows, columns=["group", "members", "events", "best_ensemble_id", "jaccard"])


def _behaviour_part(out: Path, n_frames: int, seed: int, session, log: Log) -> dict[str, Any]:
    """The behaviour camera's video through segment/centerline/velocity (demo_behaviour.py)."""
    from napari_catrack.demo_behaviour import run_behaviour_demo

    return run_behaviour_demo(out / "behaviour", n_frames=n_frames, seed=seed, session=session,
                              log=log)  # fmt: skip


def _score_transients(transients, ids, frames, truth_of: dict, spikes: np.ndarray, fps: float):
    """Detected transients against the generator's spikes, with the matching rule of the Cascade
    benchmark (one transient per burst of spikes < 0.3 s apart; a spike of the burst within
    [onset - 0.15 s, peak + 0.15 s]). Only neurons matched to a planted one are scored."""
    from napari_catrack.core.transients.scoring import (
        empty_result,
        match_events,
        precision_recall_f1,
    )

    frames = np.asarray(frames)
    total, by_id = (
        empty_result(),
        {str(k): g for k, g in transients.groupby(transients["neuron_id"].astype(str))},
    )
    for nid in ids:
        k = truth_of.get(str(nid), -1)
        if k < 0:
            continue
        counts = spikes[k, frames]
        spike_s = np.repeat(frames, counts) / fps
        g = by_id.get(str(nid))
        on = frames[g["start_frame"].to_numpy()] / fps if g is not None else np.zeros(0)
        pk = frames[g["peak_frame"].to_numpy()] / fps if g is not None else np.zeros(0)
        total = total + match_events(on, pk, spike_s, 0.3, 0.15)
    m = precision_recall_f1(total)
    return {
        "precision_vs_truth": round(m["precision"], 3),
        "recall_vs_truth": round(m["recall"], 3),
        "f1_vs_truth": round(m["f1"], 3),
        "burst_f1_vs_truth": round(m["burst_f1"], 3),
        "planted_bursts": int(total.n_bursts),
    }


def run_demo(
    output: str | Path, *, n_frames: int = 300, seed: int = 0, log: Log = print
) -> dict[str, Any]:
    """Make the sample recording, run every step, write session/tables/figures; returns the summary."""
    from napari_catrack import __version__
    from napari_catrack.core.alignment import estimate_alignment
    from napari_catrack.core.alignment_params import AlignParams
    from napari_catrack.core.alignment_records import record_alignment
    from napari_catrack.core.detection import detect_candidates
    from napari_catrack.core.ensembles import find_ensembles, trains_from_table
    from napari_catrack.core.ensembles.params import EnsembleParams
    from napari_catrack.core.ensembles.records import (
        ensemble_input,
        record_ensembles,
        traced_observed,
    )
    from napari_catrack.core.signals.cleaning import clean_table_column
    from napari_catrack.core.signals.extraction import extract_traces
    from napari_catrack.core.signals.params import CleaningParams, TracesParams
    from napari_catrack.core.signals.records import record_traces
    from napari_catrack.core.tracking import track
    from napari_catrack.core.tracking.params import DetectParams, TrackParams
    from napari_catrack.core.tracking.records import record_neurons, record_tracks
    from napari_catrack.core.transients import cell_table, detect_transients
    from napari_catrack.core.transients.params import TransientParams
    from napari_catrack.core.transients.records import record_transients
    from napari_catrack.figures import ensembles as ens_fig
    from napari_catrack.figures import traces as trace_fig
    from napari_catrack.figures import transients as tr_fig
    from napari_catrack.figures.style import DFF_LABEL, RATIO_LABEL
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session
    from napari_catrack.synthetic import make_worm_recording

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    figures = out / "figures"
    summary: dict[str, Any] = {"version": __version__, "frames": n_frames, "seed": seed}
    clock = time.perf_counter()

    def step_done(name: str, **facts: Any) -> None:
        nonlocal clock
        now = time.perf_counter()
        summary[name] = {**facts, "seconds": round(now - clock, 2)}
        clock = now
        shown = ", ".join(f"{k} {v}" for k, v in facts.items())
        log(f"[{name}] {shown} ({summary[name]['seconds']:.1f} s)")

    # 0. The recording and its ground truth, written as a user would have them.
    syn = make_worm_recording(n_frames=n_frames, seed=seed)
    rec_path = write_movie_tiff(
        out / "recording.tif", syn.green, syn.red, fps=syn.fps, pixel_size_um=syn.pixel_size_um
    )
    truth = _truth_tables(syn)
    truth_dir = out / "ground_truth"
    for name, table in truth.items():
        write_table(table, truth_dir / f"{name}.csv")
    write_text_atomic(truth_dir / "alignment.json", json.dumps(syn.truth.misalignment, indent=2))
    rec = open_recording(rec_path)
    shape = rec.frame_shape
    session = Session(out / "demo.catrack.h5")
    session.set_recording(str(rec_path), rec.options, rec.summary())
    step_done("recording", path=rec_path.name, neurons=len(syn.truth.neuron_ids))

    # 1. Alignment of red onto green.
    align_params = AlignParams()
    align = estimate_alignment(rec.green, rec.red, align_params)
    align.save_json(out / "align.json")
    record_alignment(session, align, align_params, inputs={"recording": rec_path})
    t = syn.truth.misalignment
    step_done(
        "alignment",
        dy_error_px=round(abs(align.dy - t["dy"]), 3),
        dx_error_px=round(abs(align.dx - t["dx"]), 3),
        rotation_error_deg=round(abs(align.rotation_deg - t["rotation_deg"]), 3),
    )

    # 2. Candidate neurons on the red (structural) channel at frame 0, in green coordinates,
    # with the default detection parameters (the same a new user gets in the widget).
    detect_params = DetectParams()
    _, cand = detect_candidates(np.asarray(rec.red[0], dtype=np.float32), detect_params)
    cand_green = cand.copy()
    cand_green[["y", "x"]] = align.map_points(cand[["y", "x"]].to_numpy(float), shape)
    write_table(cand_green, out / "candidates.csv")
    record_neurons(
        session, cand_green, detect_params, frame=0, channel="red", inputs={"recording": rec_path}
    )
    truth0 = syn.truth.positions[0]
    match = _match_to_truth(cand_green[["y", "x"]].to_numpy(float), truth0, 3.0)
    step_done(
        "detection",
        candidates=len(cand),
        recall=round(float(np.isin(np.arange(len(truth0)), match).mean()), 3),
        spurious=int((match < 0).sum()),
    )

    # 3. Tracking every candidate through the recording (red channel, reported in green pixels).
    seeds = cand[["neuron_id", "y", "x"]]
    track_params = TrackParams()
    tracks = track(rec.red, rec.green, seeds, 0, params=track_params)
    tracks[["y", "x"]] = align.map_points(tracks[["y", "x"]].to_numpy(float), shape)
    from napari_catrack.io.table_formats import write_step_table

    # with `source`, in `catrack track`'s format: the export writes the same file
    write_step_table(tracks, out / "tracks.csv", "tracks", "tracks")
    record_tracks(
        session, tracks, track_params, seed_frame=0, alignment=align, inputs={"recording": rec_path}
    )
    truth_of = dict(zip(cand_green["neuron_id"].astype(str), match))
    errors = []
    for nid, grp in tracks.groupby("neuron_id"):
        k = truth_of.get(str(nid), -1)
        if k >= 0:
            true = syn.truth.positions[grp["frame"].to_numpy(), k]
            errors.append(np.linalg.norm(grp[["y", "x"]].to_numpy() - true, axis=1))
    err = np.concatenate(errors) if errors else np.array([np.nan])
    step_done(
        "tracking",
        neurons=int(tracks["neuron_id"].nunique()),
        within_2px=round(float(np.mean(err <= 2.0)), 4),
        median_error_px=round(float(np.nanmedian(err)), 3),
    )

    # 4. Traces: green/red in a disk, red through the alignment, ratio dR/R0, cleaned.
    traces_params, cleaning_params = TracesParams(), CleaningParams()
    traces = extract_traces(rec.green, tracks, rec.red, traces_params, transform=align, fps=rec.fps)
    m = long_to_matrix(traces, "dff", sort_ids=False)
    dff, ids, frames = m.dff, m.neuron_ids, m.frames
    traces["dff_clean"], clean_record = clean_table_column(traces, rec.fps, cleaning_params)
    write_table(traces, out / "traces.csv")
    record_traces(
        session,
        traces,
        traces_params,
        fps=rec.fps,
        alignment=align,
        cleaning=clean_record,
        cleaning_params=cleaning_params,
        inputs={"recording": rec_path},
    )
    rs = []
    for row, nid in enumerate(ids):
        k = truth_of.get(str(nid), -1)
        if k >= 0 and np.nanstd(dff[row]) > 0 and syn.truth.activity[k].std() > 0:
            ok = np.isfinite(dff[row])
            rs.append(np.corrcoef(dff[row, ok], syn.truth.activity[k, frames[ok]])[0, 1])
    step_done("traces", neurons=len(ids), median_r_vs_truth=round(float(np.median(rs)), 3),
              lost_samples=int(traces["lost"].sum()),  # NaN: the tracker had lost them
              red_invalid=int(traces["red_invalid"].sum()))  # NaN ratio: red too low  # fmt: skip
    _save_figure(trace_fig.trace_figure(traces, list(ids[:4])), figures, "traces")

    # 5. Transients and per-cell statistics with the default (trained) detector on the extracted
    # dF/F. It measures the noise on its own (median absolute first difference, measured frames
    # only), so on the wavelet-cleaned traces it finds nearly the same transients and keeps
    # the silent neurons quiet; scored against the planted spikes.
    transient_params = TransientParams()
    transients = detect_transients(dff, rec.fps, None, ids, transient_params)
    # per measured frame: a lost neuron's missing samples (NaN) are not silent frames
    cells = cell_table(transients, ids, np.isfinite(dff).sum(axis=1), rec.fps,
                       total_frames=len(frames))  # fmt: skip
    write_table(transients, out / "transients.csv")
    write_table(cells, out / "cells.csv")
    record_transients(session, transients, cells, transient_params, fps=rec.fps)
    scores = _score_transients(transients, ids, frames, truth_of, syn.truth.spikes, rec.fps)
    step_done("transients", transients=len(transients), cells=len(cells), **scores)
    signal = RATIO_LABEL if trace_fig.dff_is_ratio(traces) else DFF_LABEL  # the ratio's ΔR/R₀
    _save_figure(tr_fig.traces_figure(dff, rec.fps, transients, ids, signal=signal), figures,
                 "transients")  # fmt: skip
    _save_figure(tr_fig.raster_figure(transients, ids, rec.fps, len(frames)), figures, "raster")
    if len(transients):
        _save_figure(tr_fig.amplitude_figure(transients, signal=signal), figures, "amplitudes")

    # 6. Ensembles.
    # every neuron traced (the cell table recorded above) less any rejected cell, as the widget,
    # `catrack ensembles --session` and the batch count them (`ensemble_input`),
    # and the traces' missing (NaN) frames are unknown there, not silent (docs/ensembles.md)
    kept, ids, _rejected = ensemble_input(session, transients)
    trains = trains_from_table(kept, n_frames=len(frames), neuron_ids=ids)
    trains = traced_observed(session, trains)
    result = find_ensembles(trains, rec.fps, EnsembleParams(seed=seed))
    ens_dir = out / "ensembles"
    write_table(result.events, ens_dir / "ensemble_events.csv")
    write_table(result.members, ens_dir / "ensemble_members.csv")
    record_ensembles(session, result)
    planted = _planted_vs_found(syn, result, truth_of)
    write_table(planted, truth_dir / "ensembles.csv")
    step_done(
        "ensembles",
        events=len(result.events),
        ensembles=int(result.n_ensembles),
        planted=len(planted),
        planted_found=int((planted.jaccard >= 0.6).sum()),
    )
    if len(result.events):
        _save_figure(ens_fig.coactivity_figure(result), figures, "coactivity")

    summary["behaviour"] = _behaviour_part(out, n_frames, seed, session, log)

    session.save()
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, default=float))
    log(f"session: {session.path}")
    return summary
