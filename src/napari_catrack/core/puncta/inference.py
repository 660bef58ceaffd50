"""Running the puncta network over a movie: CPU by default, the GPU when there is one.

Frames are processed in chunks (with the neighbours the inputs need), padded to a multiple of
the network's stride, and turned into localisations with DECODE's post-processing: local maxima
of the detection probability, whose probability summed over the 3 x 3 neighbourhood (one punctum
can be shared by two pixels) must reach `detection_probability`. The position uncertainties are
the network's standard deviations through the calibration stored with the model, which depends
on how crowded the whole movie is (its localisations per pixel and frame), so it is applied once
every frame has been localised.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.inputs import (
    BASELINE_HALF,
    input_options,
    network_input,
    normalisation,
)
from napari_catrack.core.puncta.localize import (
    LOC_COLUMNS,
    blank_frames,
    check_finite,
    check_has_photons,
    empty_localizations,
    warn_blank_frames,
)
from napari_catrack.core.puncta.network import load_model, shipped_model
from napari_catrack.core.puncta.params import PunctaParams
from napari_catrack.errors import InputError, check_cancelled

RAW_THRESHOLD = 0.1  # pixels below this do not add to a neighbour's summed probability
BATCH = 8


def resolve_model(model=None):
    """A network object, a path to one, or None for the shipped model."""
    if model is None:
        return shipped_model()
    if isinstance(model, str | Path):
        return load_model(model)
    return model


def pick_device(choice: str = "auto"):
    from napari_catrack.core.puncta.network import _torch

    torch = _torch()

    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for, but torch sees no GPU")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def _sample_frames(stack, n: int = 40) -> np.ndarray:
    idx = np.unique(np.linspace(0, stack.shape[0] - 1, min(n, stack.shape[0])).astype(int))
    return np.asarray(stack[idx])


def localize_network(
    net,
    puncta,
    calcium,
    camera: CameraModel,
    params: PunctaParams | None = None,
    *,
    progress: Callable | None = None,
    cancel: Callable | None = None,
) -> pd.DataFrame:
    """Localisations (internal table + `calcium_probability`) of a (T, H, W) ADU movie."""
    from napari_catrack.core.puncta.network import _torch

    torch = _torch()

    params = params or PunctaParams()
    device = pick_device(params.device)
    net = net.to(device).eval()
    stride = 2**net.config.depth
    n, h, w = (int(s) for s in puncta.shape)
    sample = camera.to_photons(_sample_frames(puncta))
    check_has_photons(sample, camera, "puncta channel")
    pn = normalisation(sample)
    cn = normalisation(camera.to_photons(_sample_frames(calcium))) if calcium is not None else (
        0.0, 1.0)  # fmt: skip
    ph, pw = -h % stride, -w % stride
    scale = net.config.photon_scale * pn[1]
    parts = []
    blank: list[int] = []
    chunk = max(params.chunk_frames, 1)
    for start in range(0, n, chunk):
        check_cancelled(cancel, "network localisation")
        stop = min(n, start + chunk)
        lo, hi = max(0, start - BASELINE_HALF), min(n, stop + BASELINE_HALF)
        p_ph = camera.to_photons(np.asarray(puncta[lo:hi]))
        c_ph = camera.to_photons(np.asarray(calcium[lo:hi])) if calcium is not None else None
        check_finite(p_ph, lo, "puncta channel")
        if c_ph is not None:
            check_finite(c_ph, lo, "calcium channel")
        blank += [f for f in blank_frames(p_ph, lo) if start <= f < stop]
        for b0 in range(start, stop, BATCH):
            frames = np.arange(b0, min(stop, b0 + BATCH))
            x = network_input(p_ph, c_ph, frames - lo, pn, cn, **input_options(net.config, camera))
            if ph or pw:
                x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
            with torch.no_grad():
                out = net(torch.from_numpy(x).to(device))
            maps = {k: v[:, :h, :w].float().cpu().numpy() for k, v in out.items()}
            parts.append(_detections(maps, frames, params, pn, scale, camera))
        if progress is not None:
            progress(stop, n, f"network frames {stop}/{n}")
    warn_blank_frames(blank, n)
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_localizations().assign(calcium_probability=pd.Series(dtype=float))
    table = pd.concat(parts, ignore_index=True)
    density = len(table) / (n * h * w)
    ux = calibrated_sd(table.uncertainty_x.to_numpy(), net.config, density)
    uy = calibrated_sd(table.uncertainty_y.to_numpy(), net.config, density)
    table["uncertainty_x"], table["uncertainty_y"] = ux, uy
    table["uncertainty"] = np.sqrt((ux**2 + uy**2) / 2)
    return table


def calibrated_sd(sd: np.ndarray, config, density: float = 0.0) -> np.ndarray:
    """The head's standard deviation (px) through the model's post-hoc calibration, for a movie
    with `density` localisations per pixel and frame (`calibrate.py`)."""
    crowd = 1.0 + config.uncertainty_crowding_px * np.sqrt(max(density, 0.0))
    return np.hypot(config.uncertainty_scale * sd * np.sqrt(crowd), config.uncertainty_floor_px)


def _detections(maps: dict, frames, params: PunctaParams, pn, scale: float,
                camera) -> pd.DataFrame:  # fmt: skip
    p = 1.0 / (1.0 + np.exp(-maps["logit"]))
    kept = np.where(p > RAW_THRESHOLD, p, 0.0)
    summed = ndi.uniform_filter(kept, size=(1, 3, 3), mode="constant") * 9
    peak = ndi.maximum_filter(p, size=(1, 3, 3), mode="constant")
    t, r, c = np.nonzero((p == peak) & (summed >= params.detection_probability))
    sd_x, sd_y = maps["sd_x"][t, r, c], maps["sd_y"][t, r, c]  # calibrated by the caller
    background = maps["background"][t, r, c] * pn[1] + pn[0]
    table = pd.DataFrame(
        {
            "frame": frames[t],
            "x": c + maps["dx"][t, r, c],
            "y": r + maps["dy"][t, r, c],
            "sigma": maps["sigma"][t, r, c],
            "photons": maps["photons"][t, r, c] * scale,
            "background": background,
            # the expected background noise (the network does not fit a box to measure it)
            "bkgstd": np.sqrt(np.clip(background, 0, None) + camera.read_noise_photons**2),
            "uncertainty": np.nan,  # with x and y, once they are calibrated (caller)
            "uncertainty_x": sd_x,
            "uncertainty_y": sd_y,
            "log_likelihood": np.nan,
            "calcium_probability": 1.0 / (1.0 + np.exp(-maps["calcium_logit"][t, r, c])),
        }
    )
    table = table[table.photons >= params.min_photons]
    return table[[*LOC_COLUMNS, "calcium_probability"]].astype({"frame": int})
