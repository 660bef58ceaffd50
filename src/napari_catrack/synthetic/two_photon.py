"""A head-fixed two-photon-like calcium movie with ground truth (footprints, traces, spikes, motion).

Cells are soma footprints (filled or ring-like ellipses, blurred; nucleus-excluded GCaMP looks like a
ring) that may overlap a little. The movie is the sum of each footprint times its fluorescence
F0 (1 + dF/F), a neuropil haze with its own slow fluctuations (partly driven by population activity),
and a dark level; each frame is then displaced and passed through a camera model (shot + read noise).

Motion is what a head-fixed preparation shows: smooth jitter (breathing, heartbeat), a slow
random-walk drift, sudden jumps (the animal pushes), and a mild non-rigid part (a smooth warp of
the field, different across the frame). `truth.shifts[t]` is the whole-frame (mean) displacement;
`truth.displacement(t)` is the full per-pixel field. `TWO_PHOTON_VARIANTS` holds an "easy" and a
"hard" parameter set (active neuropil, few photons, overlapping cells) used by the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates, shift

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
    nonrigid_basis: np.ndarray | None = None  # (B, 2, Y, X) zero-mean displacement fields
    nonrigid_coef: np.ndarray | None = None  # (T, B) their weight in each frame

    def displacement(self, t: int) -> np.ndarray:
        """(2, Y, X) content displacement (dy, dx) of frame t at every pixel.

        The movie is rendered as movie[t](p) = scene(p - displacement(t)(p)); its mean over the
        frame is `shifts[t]` (the non-rigid basis has zero mean).
        """
        h, w = self.footprints.shape[1:]
        field = np.broadcast_to(self.shifts[t][:, None, None], (2, h, w)).astype(float)
        if self.nonrigid_basis is not None:
            field = field + np.tensordot(self.nonrigid_coef[t], self.nonrigid_basis, axes=1)
        return field


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
    drift_px_per_sqrt_s: float = 0.0,
    jump_rate_hz: float = 0.0,
    jump_px: float = 3.0,
    nonrigid_px: float = 0.0,
    nonrigid_tau_s: float = 2.0,
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
    r_geo, r_act, r_mot, r_noise, r_drift, r_warp = child_rngs(seed, 6)
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

    # --- motion: smooth jitter (Gaussian-filtered noise) around zero, random-walk drift, jumps
    shifts = motion_px * smooth_noise(r_mot, (2, T), max(motion_tau_s * fps, 0.5)).T
    shifts = shifts + _drift_and_jumps(r_drift, T, fps, drift_px_per_sqrt_s, jump_rate_hz, jump_px)
    basis, coef = _nonrigid(r_warp, T, (h, w), fps, nonrigid_px, nonrigid_tau_s)

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
            t = t0 + k
            if basis is None:
                scene[k] = shift(scene[k], shifts[t], order=3, mode="nearest")
            else:
                field = shifts[t][:, None, None] + np.tensordot(coef[t], basis, axes=1)
                coords = np.stack([yy - field[0], xx - field[1]])
                scene[k] = map_coordinates(scene[k], coords, order=3, mode="nearest")
        movie[t0:t1] = camera(np.maximum(scene, 0), r_noise, **cam)

    truth = TwoPhotonTruth(
        footprints=fps_,
        traces=traces,
        spikes=spikes,
        shifts=shifts,
        centres=centres,
        baseline=baseline,
        neuropil=neuropil,
        neuropil_image=np_img,
        nonrigid_basis=basis,
        nonrigid_coef=coef,
    )
    return TwoPhotonMovie(movie, float(fps), float(pixel_size_um), truth, params)


def _drift_and_jumps(
    rng: np.random.Generator, T: int, fps: float, drift: float, jump_rate_hz: float, jump_px: float
) -> np.ndarray:
    """(T, 2) random-walk drift (std `drift` px after 1 s) plus sudden jumps of about `jump_px`."""
    out = np.zeros((T, 2))
    if drift > 0:
        out += np.cumsum(rng.standard_normal((T, 2)) * drift / np.sqrt(fps), axis=0)
    if jump_rate_hz > 0 and jump_px > 0:
        n = rng.poisson(jump_rate_hz * T / fps)
        for t in np.sort(rng.integers(1, max(T, 2), n)):
            angle = rng.uniform(0, 2 * np.pi)
            size = jump_px * rng.uniform(0.5, 1.0)
            out[t:] += size * np.array([np.sin(angle), np.cos(angle)])
    return out - out.mean(axis=0)


def _nonrigid(
    rng: np.random.Generator, T: int, shape: tuple[int, int], fps: float, px: float, tau_s: float
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A smooth zero-mean warp: 3 low-frequency field patterns with slowly varying weights.

    The largest displacement across the field is about `px` (beyond the rigid part).
    """
    if px <= 0:
        return None, None
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    u, v = yy / max(h - 1, 1) - 0.5, xx / max(w - 1, 1) - 0.5
    patterns = [
        np.stack([u, np.zeros_like(u)]),  # vertical stretch
        np.stack([np.zeros_like(v), v]),  # horizontal stretch
        np.stack([np.sin(np.pi * v), np.cos(np.pi * u) - np.cos(np.pi * u).mean()]),  # bend
    ]
    basis = np.stack([p - p.mean(axis=(1, 2), keepdims=True) for p in patterns])
    basis /= np.abs(basis).max(axis=(1, 2, 3), keepdims=True)
    coef = px / np.sqrt(len(patterns)) * smooth_noise(rng, (len(patterns), T), tau_s * fps).T
    return basis.astype(np.float32), coef


TWO_PHOTON_VARIANTS: dict[str, dict[str, Any]] = {
    # bright cells, quiet neuropil, little overlap: what a good preparation gives
    "easy": dict(
        cell_brightness=(40.0, 100.0),
        neuropil_brightness=10.0,
        neuropil_fluctuation=0.05,
        neuropil_coupling=0.2,
        max_overlap=0.1,
        motion_px=0.5,
        drift_px_per_sqrt_s=0.15,
        jump_rate_hz=0.05,
        jump_px=3.0,
        nonrigid_px=0.5,
    ),
    # dim cells over an active neuropil, more overlap: where methods separate
    "hard": dict(
        cell_brightness=(10.0, 30.0),
        neuropil_brightness=15.0,
        neuropil_fluctuation=0.3,
        neuropil_coupling=1.0,
        max_overlap=0.35,
        background_photons=1.0,
        motion_px=0.7,
        drift_px_per_sqrt_s=0.25,
        jump_rate_hz=0.1,
        jump_px=4.0,
        nonrigid_px=1.0,
    ),
}
