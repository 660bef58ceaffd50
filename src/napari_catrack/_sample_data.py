"""npe2 sample data: synthetic recordings with ground truth, cached on disk after the first time
(`synthetic.cache`: napari calls these in the GUI thread, so the window would freeze for the
seconds generation takes)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_catrack.layers import (
    GREEN_COLORMAP,
    RED_COLORMAP,
    contrast_from_frame,
    tracks_layer,
    with_axis_labels,
)


def _make_worm(n_frames: int, seed: int) -> dict:
    from napari_catrack.synthetic import make_worm_recording

    rec = make_worm_recording(n_frames=n_frames, seed=seed)
    return {
        "green": rec.green,
        "red": rec.red,
        "positions": np.asarray(rec.truth.positions, dtype=np.float64),
        "neuron_ids": [str(n) for n in rec.truth.neuron_ids],
        "fps": float(rec.fps),
        "pixel_size_um": float(rec.pixel_size_um),
        "misalignment": _plain(rec.truth.misalignment),
    }


def _plain(value):
    """JSON-able copy (the misalignment is a dict of numbers or a small dataclass)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, np.generic):
        return value.item()
    return value


def moving_worm_sample(n_frames: int = 200, seed: int = 0) -> list:
    """Two-channel freely-moving worm head, plus its ground-truth tracks (hidden layer)."""
    from napari_catrack.synthetic.cache import cached

    rec, _ = cached("moving_worm", {"n_frames": n_frames, "seed": seed},
                    lambda: _make_worm(n_frames, seed))  # fmt: skip
    summary = {
        "frames": n_frames,
        "fps": rec["fps"],
        "pixel_size_um": rec["pixel_size_um"],
        "misalignment": rec["misalignment"],
    }
    layers = []
    for role, cmap in (("green", GREEN_COLORMAP), ("red", RED_COLORMAP)):
        data = rec[role]
        meta = {
            "name": f"worm {role}",
            "colormap": cmap,
            "blending": "additive",
            "contrast_limits": contrast_from_frame(data[0]),
            "metadata": {
                "catrack": {"role": role, "sample": "moving_worm", "seed": seed, "summary": summary}
            },
        }
        layers.append((data, meta, "image"))
    pos = rec["positions"]  # (T, N, 2)
    t_idx, n_idx = np.meshgrid(np.arange(pos.shape[0]), np.arange(pos.shape[1]), indexing="ij")
    truth = pd.DataFrame(
        {
            "neuron_id": np.asarray(rec["neuron_ids"])[n_idx.ravel()],
            "frame": t_idx.ravel(),
            "y": pos[..., 0].ravel(),
            "x": pos[..., 1].ravel(),
        }
    )
    # marked as ground truth: no widget picks it for the user (it is there to compare with)
    layers.append(
        tracks_layer(
            truth, name="ground truth tracks", visible=False,
            metadata={"catrack": {"ground_truth": True}},
        )
    )  # fmt: skip
    return with_axis_labels(layers)


def two_photon_sample(n_frames: int = 300, seed: int = 0) -> list:
    """Head-fixed two-photon-like movie with ground-truth footprints (hidden Labels layer)."""
    from napari_catrack.synthetic import make_two_photon_movie

    mov = make_two_photon_movie(n_frames=n_frames, seed=seed)
    fp = mov.truth.footprints
    labels = np.where(fp.max(axis=0) > 0.2 * fp.max(), fp.argmax(axis=0) + 1, 0).astype(np.int32)
    layers = [
        (
            mov.movie,
            {
                "name": "two-photon",
                "colormap": "gray",
                "contrast_limits": contrast_from_frame(mov.movie.mean(axis=0)),
                "metadata": {
                    "catrack": {
                        "role": "green",
                        "sample": "two_photon",
                        "seed": seed,
                        "summary": {
                            "frames": n_frames,
                            "fps": mov.fps,
                            "pixel_size_um": mov.pixel_size_um,
                        },
                    }
                },
            },
            "image",
        ),
        (labels, {"name": "ground truth footprints", "visible": False, "opacity": 0.4}, "labels"),
    ]
    return with_axis_labels(layers)


def puncta_sample(n_frames: int = 100, seed: int = 0) -> list:
    """TIRF-like PIEZO1 puncta (HaloTag) + calcium dye, with ground-truth puncta (hidden)."""
    from napari_catrack.synthetic.puncta import make_puncta_recording

    rec = make_puncta_recording(shape=(96, 96), n_frames=n_frames, seed=seed)
    cfg = rec.config
    summary = {
        "frames": n_frames,
        "fps": 1.0 / cfg.frame_interval_s,
        "pixel_size_um": cfg.pixel_size_nm / 1000.0,
    }
    layers = []
    for role, name, data, cmap in (
        ("green", "puncta (HaloTag)", rec.puncta, "gray"),
        ("red", "calcium", rec.calcium, "magma"),
    ):
        meta = {
            "name": name,
            "colormap": cmap,
            "blending": "additive",
            "contrast_limits": contrast_from_frame(data[0]),
            "visible": role == "green",
            "metadata": {
                "catrack": {
                    "role": role,
                    "sample": "puncta",
                    "seed": seed,
                    "summary": summary,
                    "camera": rec.camera.to_dict(),
                }
            },
        }
        layers.append((data, meta, "image"))
    em = rec.truth.emitters
    truth = {
        "name": "ground truth puncta",
        "visible": False,
        "size": 3,
        "face_color": "transparent",
        "border_color": "yellow",
        "features": em[["punctum_id", "photons", "calcium"]].reset_index(drop=True),
    }
    layers.append((em[["frame", "y", "x"]].to_numpy(float), truth, "points"))
    return with_axis_labels(layers)


def behaviour_sample(n_frames: int = 150, seed: int = 0) -> list:
    """A behaviour-camera video of a crawling worm, with its true masks (hidden Labels layer)."""
    from napari_catrack.synthetic.behaviour import make_behaviour_video

    video = make_behaviour_video(n_frames, seed=seed)
    summary = {"frames": n_frames, "fps": video.fps, "pixel_size_um": video.pixel_size_um}
    meta = {
        "name": "worm behaviour",
        "colormap": "gray",
        "contrast_limits": (0, 255),
        "metadata": {"catrack": {"role": "behaviour", "sample": "behaviour", "seed": seed,
                                 "summary": summary}},
    }  # fmt: skip
    truth = {"name": "ground truth masks", "visible": False, "opacity": 0.3}
    return with_axis_labels(
        [(video.frames, meta, "image"), (video.truth.masks.astype(np.uint8), truth, "labels")]
    )
