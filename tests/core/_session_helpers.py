"""Small but complete sessions for the export, NWB and batch tests, built without running the
slow steps: every table is made from a synthetic ground truth, so the tests can check numbers."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd

FPS = 10.0


def worm_session(folder: Path, *, video: bool = True):
    """A moving-animal session: recording TIFF, tracks, traces, transients with verdicts,
    velocity, centerline and posture, behaviour events with ETAs, and a behaviour video."""
    from napari_catrack.core.events.align import align_events
    from napari_catrack.core.events.clock import Clock
    from napari_catrack.core.events.eta import event_triggered_averages
    from napari_catrack.core.events.params import EtaParams, EventAlignParams
    from napari_catrack.core.events.session import record_eta, record_events, record_video
    from napari_catrack.core.sources.session import set_verdict
    from napari_catrack.core.transients import cell_table, detect_transients
    from napari_catrack.io.recording import open_recording
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session
    from napari_catrack.synthetic.events import make_event_session

    folder.mkdir(parents=True, exist_ok=True)
    syn = make_event_session(
        n_neurons=6,
        duration_s=90.0,
        fps=FPS,
        n_excited=1,
        n_inhibited=1,
        event_rate_hz=0.15,
        drop_fraction=0.0,
        seed=3,
    )
    n_neurons, n_frames = syn.dff.shape
    ids = syn.neuron_ids
    rng = np.random.default_rng(0)
    green = rng.integers(90, 110, (n_frames, 24, 32)).astype(np.uint16)
    red = rng.integers(190, 210, (n_frames, 24, 32)).astype(np.uint16)
    rec_path = write_movie_tiff(folder / "rec.tif", green, red, fps=FPS, pixel_size_um=0.5)
    rec = open_recording(rec_path)
    session = Session(folder / "rec.catrack.h5", autosave=False)
    session.set_recording(str(rec_path), rec.options, rec.summary())
    frames = np.arange(n_frames)
    base = np.array([[6.0, 6.0], [6.0, 16.0], [6.0, 26.0], [17.0, 6.0], [17.0, 16.0], [17.0, 26.0]])
    drift = np.stack([np.sin(frames / 40.0), np.cos(frames / 55.0)], axis=1)
    tracks = pd.DataFrame(
        {
            "neuron_id": np.repeat(ids, n_frames),
            "frame": np.tile(frames, n_neurons),
            "y": (base[:, None, 0] + drift[None, :, 0]).ravel(),
            "x": (base[:, None, 1] + drift[None, :, 1]).ravel(),
        }
    )
    session.record("tracks", tables={"tracks": tracks}, params={"seed_frame": 0})
    dff = syn.dff
    traces = pd.DataFrame(
        {
            "neuron_id": np.repeat(ids, n_frames),
            "frame": np.tile(frames, n_neurons),
            "time_s": np.tile(frames / FPS, n_neurons),
            "green": (100.0 * (1 + dff)).ravel(),
            "red": np.full(dff.size, 200.0),
            "ratio": (0.5 * (1 + dff)).ravel(),
            "dff": dff.ravel(),
        }
    )
    session.record("traces", tables={"traces": traces}, params={"radius": 2.5})
    transients = detect_transients(dff, FPS, method="rules", neuron_ids=ids)
    cells = cell_table(transients, ids, n_frames, FPS)
    session.record(
        "transients",
        tables={"transients": transients, "cells": cells},
        attrs={"fps": FPS},
        params={"method": "rules"},
    )
    set_verdict(session, ids[0], "accepted")
    set_verdict(session, ids[1], "rejected", "out of focus")
    t = frames / FPS
    cx, cy = 100.0 + 3.0 * t, 50.0 + np.sin(t)
    vel = pd.DataFrame(
        {
            "frame": frames,
            "time_s": t,
            "x_um": cx,
            "y_um": cy,
            "vy_um_s": np.gradient(cy, t),
            "vx_um_s": np.gradient(cx, t),
        }
    )
    vel["speed_um_s"] = np.hypot(vel.vx_um_s, vel.vy_um_s)
    vel["direction"] = 1
    vel["signed_speed_um_s"] = vel.speed_um_s
    stage = pd.DataFrame({"time_s": t, "stage_y_um": cy - 5, "stage_x_um": cx - 7})
    session.record("velocity", tables={"velocity": vel, "stage": stage}, attrs={"source": "test"})
    pts = 5
    cl = pd.DataFrame(
        {
            "frame": np.repeat(frames, pts),
            "point": np.tile(np.arange(pts), n_frames),
            "y": np.tile(np.linspace(4, 20, pts), n_frames),
            "x": (np.tile(np.linspace(3, 28, pts), n_frames) + np.repeat(drift[:, 1], pts)),
        }
    )
    posture = pd.DataFrame({"frame": frames, "curvature": np.sin(t), "eigen_1": np.cos(t)})
    session.record("centerline", tables={"centerline": cl, "posture": posture})
    imaging = Clock.regular(n_frames, FPS)
    align = EventAlignParams(
        events_start_s=syn.events_start_s, video_fps=syn.video_fps, video_start_s=syn.video_start_s
    )
    video_clock = Clock.regular(syn.n_video_frames, syn.video_fps, syn.video_start_s)
    aligned = align_events(syn.events, imaging, align, video=video_clock)
    pd.DataFrame(syn.events).to_csv(folder / "events.csv", index=False)
    record_events(session, aligned, imaging, align, source="events.csv", save=False)
    result = event_triggered_averages(dff, imaging.times, ids, aligned, EtaParams(n_shuffles=200))
    record_eta(session, result, save=False)
    if video:
        from napari_catrack.io.video import write_video

        n_video = 40  # a short video is enough for the link; its clock is the synthetic one
        write_video(
            folder / "behaviour.avi",
            rng.integers(0, 255, (n_video, 16, 16), np.uint8),
            fps=syn.video_fps,
        )
        record_video(session, str(folder / "behaviour.avi"), video_clock, imaging, save=False)
    session.save()
    return session, syn


def two_photon_session(folder: Path):
    """A head-fixed session with extracted sources (footprints), their traces and verdicts."""
    from napari_catrack.core.sources.session import set_verdict
    from napari_catrack.io.tiff import write_movie_tiff
    from napari_catrack.session import Session

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    k, n_frames, shape = 4, 60, (20, 24)
    movie = rng.integers(0, 50, (n_frames, *shape)).astype(np.uint16)
    path = write_movie_tiff(folder / "movie.tif", movie, fps=FPS, pixel_size_um=1.0)
    session = Session(folder / "movie.catrack.h5", autosave=False)
    session.set_recording(
        str(path),
        {},
        {
            "frames": n_frames,
            "height": shape[0],
            "width": shape[1],
            "channels": 1,
            "fps": FPS,
            "pixel_size_um": 1.0,
        },
    )
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    centres = np.array([[5, 5], [5, 18], [14, 6], [15, 17]], float)
    footprints = np.exp(
        -((yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2) / 6.0
    )
    ids = np.arange(1, k + 1)
    comps = pd.DataFrame(
        {
            "neuron_id": ids,
            "y": centres[:, 0],
            "x": centres[:, 1],
            "area": 20,
            "snr": [5.0, 4.0, 1.0, 6.0],
            "r_value": 0.8,
            "accepted": [True, True, False, True],
        }
    )
    raw = rng.random((k, n_frames))
    traces = pd.DataFrame(
        {
            "neuron_id": np.repeat(ids, n_frames),
            "frame": np.tile(np.arange(n_frames), k),
            "time_s": np.tile(np.arange(n_frames) / FPS, k),
            "raw": raw.ravel(),
            "denoised": raw.ravel() * 0.9,
            "spikes": (raw > 0.9).ravel() * 1.0,
            "dff": raw.ravel() - 0.5,
        }
    )
    traces["green"] = traces["raw"]
    session.record(
        "sources",
        tables={"components": comps},
        arrays={"footprints": footprints.astype(np.float32)},
        attrs={"fps": FPS},
    )
    session.record("traces", tables={"traces": traces}, attrs={"fps": FPS, "source": "sources"})
    set_verdict(session, 3, "rejected", "auto: low snr")
    session.save()
    return session, footprints


NWB_METADATA = {
    "session_start_time": "2024-05-01T10:00:00+02:00",
    "experimenter": ["Doe, Jane"],
    "institution": "Test institute",
    "experiment_description": "synthetic test session",
    "keywords": ["calcium imaging"],
    "subject": {
        "subject_id": "s1",
        "species": "Caenorhabditis elegans",
        "sex": "XX",
        "age": "P3D",
        "description": "synthetic",
    },
}


def inspect_problems(path: Path) -> list[str]:
    """nwbinspector's critical/error/validation findings for an NWB file (empty = passes)."""
    import pytest

    nwbinspector = pytest.importorskip("nwbinspector")
    bad = {"CRITICAL", "ERROR", "PYNWB_VALIDATION"}
    return [
        f"{m.importance.name} {m.check_function_name} {m.location}: {m.message}"
        for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(path))
        if m.importance.name in bad
    ]


def nwb_problems(session, path: Path, metadata: dict | None = None) -> list[str]:
    """Write `session` as NWB and return nwbinspector's critical/error/validation findings
    (empty = passes); the dF/F read back must equal the session's."""
    from pynwb import NWBHDF5IO

    from napari_catrack.io.nwb import write_nwb
    from napari_catrack.io.nwb_ophys import neuron_order

    write_nwb(session, path, metadata=metadata or NWB_METADATA)
    traces = session["traces"].tables["traces"]
    wide = traces.assign(neuron_id=traces.neuron_id.astype(str)).pivot_table(
        index="frame", columns="neuron_id", values="dff", dropna=False
    )
    with NWBHDF5IO(str(path), "r") as io:
        dff = io.read().processing["ophys"]["DfOverF"]["dff"].data[:]
    np.testing.assert_allclose(dff, wide[neuron_order(session)].to_numpy(), equal_nan=True)
    return inspect_problems(path)


@contextlib.contextmanager
def held_for_writing(path: Path):
    """`path` held open for writing by another process (h5py 'r+', as HDFView or a notebook
    would), so HDF5's file lock refuses other opens until the block ends."""
    import subprocess
    import sys

    code = f"import h5py, sys; f = h5py.File({str(path)!r}, 'r+'); print('held', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.stdin.close()  # the holder ends when its input does
        holder.wait(timeout=30)


def damage_first_chunk(path: Path, dataset: str = "steps/segmentation/arrays/masks") -> None:
    """Garbage inside the first compressed chunk of `dataset` (its header and the file's
    structure intact): what only reading the array's bytes can find."""
    import h5py

    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[info.byte_offset + 8 : info.byte_offset + info.size] = b"\x55" * (info.size - 8)
    path.write_bytes(bytes(data))
