"""The puncta step in one call: localise (classical MLE or network), link, call calcium at every
punctum in every frame, summarise. The widget, the CLI, the tests and the benchmarks call this."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_catrack.core.puncta.calcium import calcium_events, call_calcium
from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.link import link_localizations, tracks_table
from napari_catrack.core.puncta.localize import localize_classical, step_warning
from napari_catrack.core.puncta.params import PunctaParams, check_track_length
from napari_catrack.core.puncta.stats import colocalisation, track_summary
from napari_catrack.errors import InputError
from napari_catrack.io.thunderstorm import to_thunderstorm


@dataclass
class PunctaResult:
    """Localisations (internal units: px, 0-based frames) with track ids and calcium calls."""

    localizations: pd.DataFrame
    events: pd.DataFrame  # per-track calcium events
    tracks: pd.DataFrame  # per-track summary
    stats: dict
    params: PunctaParams
    camera: CameraModel
    frame_shape: tuple[int, int]
    n_frames: int
    model_info: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what the run warned (the widget shows it)

    def thunderstorm(self) -> pd.DataFrame:
        """localizations.csv: ThunderSTORM's columns and units."""
        return to_thunderstorm(self.localizations, self.params.pixel_size_nm)

    def tracks_csv(self) -> pd.DataFrame:
        """tracks.csv: track_id, frame (0-based), x_nm, y_nm."""
        return tracks_table(self.localizations, self.params.pixel_size_nm)

    def calcium_csv(self, fps: float | None = None) -> pd.DataFrame:
        """calcium.csv (`calcium_table`)."""
        return calcium_table(self.localizations, fps)

    def events_csv(self, fps: float | None = None) -> pd.DataFrame:
        """events.csv (`events_table`)."""
        return events_table(self.events, fps)


def calcium_table(localizations: pd.DataFrame, fps: float | None = None) -> pd.DataFrame:
    """calcium.csv of `localizations` (internal units, with track ids and calcium calls: a
    `PunctaResult`'s or a session's): track_id, frame, probability, event (linked localisations
    only), then time_s = frame / `fps` (s from the first frame; empty without a frame rate).
    `catrack puncta`, the widget's save and `catrack export` write it."""
    linked = localizations[localizations["track_id"] >= 0]
    frames = linked["frame"].to_numpy(int)
    return pd.DataFrame(
        {
            "track_id": linked["track_id"].to_numpy(int),
            "frame": frames,
            "probability": linked["calcium_probability"].to_numpy(float),
            "event": linked["calcium"].to_numpy(int),
            "time_s": frame_times(frames, fps),
        }
    ).sort_values(["track_id", "frame"], ignore_index=True)


def events_table(events: pd.DataFrame, fps: float | None = None) -> pd.DataFrame:
    """events.csv: the per-track calcium events, then start_s and end_s (the times of their
    first and last frames; empty without a frame rate). `catrack puncta`, the widget's save and
    `catrack export` write it."""
    events = events.copy()
    for col in ("start", "end"):
        frames = events[f"{col}_frame"].to_numpy(float) if len(events) else np.zeros(0)
        events[f"{col}_s"] = frame_times(frames, fps)
    return events


def frame_times(frames: np.ndarray, fps: float | None) -> np.ndarray:
    """Seconds of 0-based `frames` from the first frame at `fps` (NaN without a frame rate)."""
    frames = np.asarray(frames, float)
    return frames / fps if fps else np.full(frames.shape, np.nan)


def _check_stacks(puncta, calcium) -> None:
    if puncta is None or getattr(puncta, "ndim", 0) != 3:
        shape = getattr(puncta, "shape", None)
        raise InputError(f"the puncta channel must be a (frames, height, width) movie; got {shape}")
    if 0 in tuple(puncta.shape):  # it used to "succeed": 0 localisations in 0 frames
        raise InputError(f"the puncta channel is empty: shape {tuple(puncta.shape)}")
    if calcium is not None and tuple(calcium.shape) != tuple(puncta.shape):
        raise InputError(
            f"the puncta channel {tuple(puncta.shape)} and the calcium channel "
            f"{tuple(calcium.shape)} differ in shape"
        )


def analyse_puncta(
    puncta,
    calcium,
    camera: CameraModel | None = None,
    params: PunctaParams | None = None,
    *,
    model=None,
    progress: Callable | None = None,
    cancel: Callable | None = None,
) -> PunctaResult:
    """Run the whole puncta step on (T, H, W) ADU movies (numpy or dask; `calcium` may be None).

    `model` is a `PunctaNet` (or a path) for `method="network"` (None: the shipped model).
    Progress is reported over the three stages as one 0-100 scale.
    """
    params = params or PunctaParams()
    camera = camera or CameraModel()
    _check_stacks(puncta, calcium)
    n_frames = int(puncta.shape[0])
    check_track_length(params, n_frames)
    shape = (int(puncta.shape[1]), int(puncta.shape[2]))

    def stage(lo: float, hi: float):
        if progress is None:
            return None
        return lambda done, total, msg="": progress(
            int(lo + (hi - lo) * done / max(total, 1)), 100, msg
        )

    model_info: dict = {}
    if params.method == "network":
        from napari_catrack.core.puncta.inference import localize_network, resolve_model
        from napari_catrack.core.puncta.network import model_quality

        net = resolve_model(model)
        model_info = net.describe()
        # a barely trained model (or one that says nothing of its quality) is said, and stored
        # with the result's provenance (summary.json, the session's `model` attrs)
        model_info["quality"] = model_quality(net, params.model_min_jaccard)
        if model_info["quality"]["warning"]:
            step_warning(model_info["quality"]["warning"])
        locs = localize_network(
            net, puncta, calcium, camera, params, progress=stage(0, 70), cancel=cancel
        )
    else:
        locs = localize_classical(puncta, camera, params, progress=stage(0, 70), cancel=cancel)
    locs = locs.reset_index(drop=True)
    locs["track_id"] = link_localizations(locs, params).to_numpy()
    if progress is not None:
        progress(75, 100, "linked tracks")
    stats: dict = {"localizations": len(locs), "frames": n_frames}
    if calcium is not None and len(locs):
        call = call_calcium(calcium, locs, camera, params, progress=stage(75, 98), cancel=cancel)
        locs["calcium_score"] = call.score
        if params.method != "network" or "calcium_probability" not in locs:
            locs["calcium_probability"] = call.probability
        locs["calcium"] = (locs["calcium_probability"].to_numpy() >= 0.5).astype(np.int8)
        stats.update(
            colocalisation(locs, call, params.calcium_threshold, shape, params.pixel_size_nm)
        )
        if params.method == "network":
            # the calls the tables, the layers and the raster show are the network's; the
            # enrichment against control positions needs a score there, which only the classical
            # call has: its count is kept under its own name (the statistics said 36 event
            # punctum-frames beside 0 calcium events of a network that called none)
            stats["classical_event_punctum_frames"] = stats["event_punctum_frames"]
            stats["event_punctum_frames"] = int(locs["calcium"].sum())
            stats["enrichment_from"] = "classical score"
    else:
        locs["calcium_score"] = np.nan
        locs["calcium_probability"] = np.nan
        locs["calcium"] = np.zeros(len(locs), np.int8)
    events = calcium_events(locs)
    tracks = track_summary(locs, events, params.pixel_size_nm)
    stats.update(
        {
            "tracks": len(tracks),
            "tracks_with_events": int((tracks["events"] > 0).sum()) if len(tracks) else 0,
            "calcium_events": len(events),
            "median_uncertainty_nm": float(np.median(locs["uncertainty"]) * params.pixel_size_nm)
            if len(locs) else float("nan"),
            "median_photons": float(np.median(locs["photons"])) if len(locs) else float("nan"),
        }
    )  # fmt: skip
    if progress is not None:
        progress(100, 100, "done")
    return PunctaResult(locs, events, tracks, stats, params, camera, shape, n_frames, model_info)
