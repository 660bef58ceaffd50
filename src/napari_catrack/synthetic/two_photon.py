"""A head-fixed two-photon-like calcium movie with ground truth (footprints, traces, spikes, motion).

Cells are soma footprints (filled or ring-like ellipses, blurred; nucleus-excluded GCaMP looks like a
ring) that may overlap a little. The movie is the sum of each footprint times its fluorescence
F0 (1 + dF/F), a neuropil haze with its own slow fluctuations (partly driven by population activity),
and a dark level; each frame is then shifted rigidly by `truth.shifts[t]` and passed through a camera
model (shot + read noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter, shift

from napari_catrack.errors import InputError
from napari_catrack.synthetic._render import camera, check_shape, child_rngs, smooth_noise
from napari_catrack.synthetic.calcium import draw_event_rates, simulate_spikes, spikes_to_dff


@dataclass(frozen=True)
class TwoPhotonTruth:
    """Ground truth; footprints and centres are in the reference (unshifted) frame."""

    footprints: np.ndarray  # (N, Y, X) float, peak 1
    traces: np.ndarray  # (N, T) dF/F
    spikes: np.ndarray  # (N, T) spike counts
    shifts: np.ndarray  # (T, 2) content displacement (dy, dx): movie[t](p) = scene(p - shift)
    centres: np.ndarray  # (N, 2) (y, x)
    baseline: np.ndarray  # (N,) F0 in photons at the footprint peak
    neuropil: np.ndarray  # (T,) neuropil multiplicative time course
    neuropil_image: np.ndarray  # (Y, X) neuropil photons at neuropil == 1


@dataclass(frozen=True)
class TwoPhotonMovie:
    """A synthetic single-channel two-photon movie."""

    movie: np.ndarray  # (T, Y, X) uint16
    fps: float
    pixel_size_um: float
    truth: TwoPhotonTruth
    params: dict[str, Any] = field(default_factory=dict)


def _footprint(
    yy: np.ndarray, xx: np.ndarray, c: np.ndarray, radii: np.ndarray, angle: float, ring: bool
) -> np.ndarray:
    """A filled (or nucleus-excluded, ring-like) ellipse, before blurring."""
    dy, dx = yy - c[0], xx - c[1]
    ca, sa = np.cos(angle), np.sin(angle)
    a = (dy * sa + dx * ca) / radii[0]
    b = (dy * ca - dx * sa) / radii[1]
    rho = np.sqrt(a * a + b * b)
    img = (rho <= 1).astype(float)
    if ring:
        img[rho < 0.55] = 0.3
    return img


def make_two_photon_movie(
    n_frames: int = 500,
    shape: tuple[int, int] = (128, 128),
    n_cells: int = 30,
    seed: int | None = 0,
    *,
    fps: float = 30.0,
    pixel_size_um: float = 1.0,
    cell_radius_px: tuple[float, float] = (4.0, 6.5),
    ring_fraction: float = 0.6,
    max_overlap: float = 0.2,
    footprint_blur_px: float = 1.0,
    cell_brightness: tuple[float, float] = (20.0, 60.0),
    neuropil_brightness: float = 12.0,
    neuropil_fluctuation: float = 0.1,
    neuropil_tau_s: float = 3.0,
    neuropil_coupling: float = 0.3,
    background_photons: float = 2.0,
    motion_px: float = 0.7,
    motion_tau_s: float = 0.3,
    silent_fraction: float = 0.2,
    event_rate_hz: tuple[float, float] = (0.05, 0.5),
    burst_mean_spikes: float = 1.5,
    tau_rise_s: tuple[float, float] = (0.03, 0.08),
    tau_decay_s: tuple[float, float] = (0.4, 1.2),
    spike_amplitude: float = 0.25,
    dff_max: float | None = 6.0,
    camera_offset: float = 100.0,
    gain_adu_per_photon: float = 1.0,
    read_noise_adu: float = 2.0,
    saturation_adu: int = 65535,
) -> TwoPhotonMovie:
    """Make a synthetic head-fixed two-photon movie with ground truth.

    Deterministic for a given `seed`; every argument is recorded in `params`. Units are in the
    names; brightness in photons at the footprint peak. docs/synthetic.md describes each one.
    """
    params = {k: v for k, v in locals().items()}
    h, w = check_shape(shape, 16)
    if n_frames < 1 or n_cells < 1:
        raise InputError("n_frames and n_cells must be at least 1")
    if fps <= 0:
        raise InputError("fps must be positive")
    r_geo, r_act, r_mot, r_noise = child_rngs(seed, 4)
    T, N = n_frames, n_cells

    # --- cell placement (overlapping at most by `max_overlap` of the radii sum)
    radius = r_geo.uniform(*cell_radius_px, N)
    centres = np.zeros((N, 2))
    for i in range(N):
        for _ in range(5000):
            c = r_geo.uniform([radius[i], radius[i]], [h - 1 - radius[i], w - 1 - radius[i]])
            d = np.hypot(*(centres[:i] - c).T)
            if np.all(d >= (1 - max_overlap) * (radius[:i] + radius[i])):
                centres[i] = c
                break
        else:
            raise InputError(f"cannot place {N} cells of this size in a {h}x{w} field; use fewer")
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    elong = r_geo.uniform(0.85, 1.15, N)
    angles = r_geo.uniform(0, np.pi, N)
    rings = r_geo.random(N) < ring_fraction
    fps_ = np.empty((N, h, w))
    for i in range(N):
        fp = _footprint(
            yy, xx, centres[i], radius[i] * np.array([elong[i], 1 / elong[i]]), angles[i], rings[i]
        )
        fp = gaussian_filter(fp, footprint_blur_px)
        fps_[i] = fp / fp.max()
    baseline = r_geo.uniform(*cell_brightness, N)
    np_img = gaussian_filter(r_geo.standard_normal((h, w)), 8.0)
    np_img = neuropil_brightness * np.clip(1 + 0.3 * np_img / (np_img.std() + 1e-12), 0.2, None)

    # --- activity
    rates = draw_event_rates(N, r_act, silent_fraction, event_rate_hz)
    spikes = simulate_spikes(rates, T, fps, r_act, burst_mean_spikes)
    traces = spikes_to_dff(
        spikes, fps, r_act.uniform(*tau_rise_s, N), r_act.uniform(*tau_decay_s, N),
        spike_amplitude, dff_max,
    )  # fmt: skip
    neuropil = (
        1
        + neuropil_fluctuation * smooth_noise(r_act, (T,), neuropil_tau_s * fps)
        + neuropil_coupling * traces.mean(axis=0)
    )
    neuropil = np.clip(neuropil, 0.1, None)

    # --- motion: smooth jitter (Gaussian-filtered noise) around zero
    shifts = motion_px * smooth_noise(r_mot, (2, T), max(motion_tau_s * fps, 0.5)).T

    # --- render
    movie = np.empty((T, h, w), np.uint16)
    weights = (fps_ * baseline[:, None, None]).reshape(N, -1)
    cam = dict(
        gain_adu_per_photon=gain_adu_per_photon,
        offset_adu=camera_offset,
        read_noise_adu=read_noise_adu,
        saturation_adu=saturation_adu,
    )
    step = max(1, (1 << 20) // (h * w))
    for t0 in range(0, T, step):
        t1 = min(T, t0 + step)
        scene = ((1 + traces[:, t0:t1]).T @ weights).reshape(t1 - t0, h, w)
        scene += neuropil[t0:t1, None, None] * np_img + background_photons
        for k in range(t1 - t0):
            scene[k] = shift(scene[k], shifts[t0 + k], order=1, mode="nearest")
        movie[t0:t1] = camera(scene, r_noise, **cam)

    truth = TwoPhotonTruth(
        footprints=fps_,
        traces=traces,
        spikes=spikes,
        shifts=shifts,
        centres=centres,
        baseline=baseline,
        neuropil=neuropil,
        neuropil_image=np_img,
    )
    return TwoPhotonMovie(movie, float(fps), float(pixel_size_um), truth, params)
