"""TIRF-like movies of PIEZO1-HaloTag puncta with a calcium-dye channel, with ground truth.

What is modelled (each part has its own random stream, so changing one leaves the others):
- puncta: a pixelated Gaussian or Airy PSF, log-normal brightness in detected photons, a uniform
  background, Poisson shot noise; immobile puncta and puncta diffusing in 2D (reflected at the
  field edge); two-state blinking (on <-> off Markov chain) and irreversible bleaching;
- calcium channel: a smooth dye background (a cell footprint), brief local signals at some puncta
  (a PSF-sized spot at the punctum, `calcium_sigma_nm` wide, lasting a few frames: the "flickers"
  of Ellefsen et al. 2019) and diffuse events elsewhere (micron-wide blobs that are not puncta
  localised: they must not be called);
- the camera: sCMOS (offset, e-/ADU, read noise) or EMCCD (EM gain with its excess noise), with
  quantum efficiency, written as uint16 ADU.
What is not: out-of-focus structure, drift, cell motion, spatially varying read noise.

Coordinates in the truth tables are pixels (x = column, y = row, pixel centre at the integer).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from napari_catrack.core.puncta.camera import CameraModel, simulate_camera
from napari_catrack.core.puncta.psf import render_spots
from napari_catrack.errors import InputError
from napari_catrack.synthetic._render import child_rngs

SCMOS = CameraModel(
    offset_adu=100.0, e_per_adu=0.5, em_gain=1.0, quantum_efficiency=0.8, read_noise_e=1.5
)
EMCCD = CameraModel(
    offset_adu=100.0, e_per_adu=12.0, em_gain=100.0, quantum_efficiency=0.9, read_noise_e=40.0
)


@dataclass(frozen=True)
class PunctaSceneConfig:
    """What a simulated puncta recording looks like (photons are detected photons)."""

    shape: tuple[int, int] = (64, 64)
    n_frames: int = 60
    pixel_size_nm: float = 108.0
    frame_interval_s: float = 0.05
    density_per_um2: float = 0.25  # puncta per square micron at the start
    psf: str = "gaussian"  # or "airy"
    psf_sigma_nm: float = 130.0
    psf_sigma_spread: float = 0.05  # relative spread of the PSF width between puncta
    photons: float = 1500.0  # mean detected photons per punctum per frame
    photons_spread: float = 0.3  # sigma of the log-normal brightness between puncta
    background: float = 20.0  # detected background photons per pixel per frame
    immobile_fraction: float = 0.5
    diffusion_um2_s: float = 0.05  # of the mobile puncta
    p_off: float = 0.03  # per-frame chance a punctum blinks off
    p_on: float = 0.35  # per-frame chance an off punctum comes back
    bleach_per_frame: float = 0.003
    calcium_fraction: float = 0.4  # puncta that show local calcium signals
    calcium_rate: float = 0.04  # signal starts per frame for such a punctum
    calcium_frames: tuple[int, int] = (2, 6)  # duration range (frames)
    calcium_photons: float = 1500.0  # mean photons of one local signal per frame
    calcium_sigma_nm: float = 250.0
    calcium_background: float = 40.0  # dye photons per pixel inside the cell
    diffuse_rate: float = 0.08  # diffuse events starting per frame in the field
    diffuse_sigma_nm: tuple[float, float] = (1200.0, 2500.0)
    diffuse_peak: float = 30.0  # peak photons per pixel of a diffuse event
    diffuse_frames: tuple[int, int] = (3, 10)
    camera: CameraModel = field(default_factory=lambda: SCMOS)

    def __post_init__(self) -> None:
        if min(self.shape) < 8 or self.n_frames < 1:
            raise InputError("a puncta scene needs at least 8 x 8 pixels and one frame")
        if self.psf not in ("gaussian", "airy"):
            raise InputError(f"psf must be 'gaussian' or 'airy', got {self.psf!r}")
        if self.pixel_size_nm <= 0 or self.psf_sigma_nm <= 0 or self.photons < 0:
            raise InputError("pixel size and PSF width must be > 0 and photons >= 0")

    @property
    def psf_sigma_px(self) -> float:
        return self.psf_sigma_nm / self.pixel_size_nm


@dataclass
class PunctaTruth:
    """Ground truth: one row per visible punctum per frame, calcium events, diffuse events."""

    emitters: pd.DataFrame  # frame, punctum_id, x, y (px), photons, sigma (px), mobile, calcium
    calcium_events: pd.DataFrame  # punctum_id, start_frame, end_frame, photons
    diffuse_events: pd.DataFrame  # start_frame, end_frame, x, y, sigma (px), peak
    positions: np.ndarray  # (T, K, 2) y, x of every punctum (visible or not)


@dataclass
class PunctaRecording:
    puncta: np.ndarray  # (T, H, W) uint16 ADU
    calcium: np.ndarray  # (T, H, W) uint16 ADU
    config: PunctaSceneConfig
    truth: PunctaTruth

    @property
    def camera(self) -> CameraModel:
        return self.config.camera

    def stack(self) -> np.ndarray:
        """(T, 2, H, W): puncta channel 0, calcium channel 1 (as `catrack puncta` reads it)."""
        return np.stack([self.puncta, self.calcium], axis=1)


def _motion(cfg: PunctaSceneConfig, rng: np.random.Generator, n: int):
    h, w = cfg.shape
    t_n = cfg.n_frames
    start = np.column_stack([rng.uniform(-0.5, h - 0.5, n), rng.uniform(-0.5, w - 0.5, n)])
    mobile = rng.random(n) >= cfg.immobile_fraction
    step_px = np.sqrt(2 * cfg.diffusion_um2_s * cfg.frame_interval_s) * 1000 / cfg.pixel_size_nm
    steps = rng.normal(0, step_px, (t_n, n, 2)) * mobile[None, :, None]
    steps[0] = 0
    pos = start[None] + np.cumsum(steps, axis=0)
    for axis, size in enumerate((h, w)):  # reflect at the field edges
        lo, hi = -0.5, size - 0.5
        span = 2 * (hi - lo)
        p = np.mod(pos[..., axis] - lo, span)
        pos[..., axis] = lo + np.where(p > span / 2, span - p, p)
    return pos, mobile


def _visibility(cfg: PunctaSceneConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    t_n = cfg.n_frames
    on = np.ones((t_n, n), bool)
    state = rng.random(n) < cfg.p_on / max(cfg.p_on + cfg.p_off, 1e-9)  # stationary start
    u = rng.random((t_n, n))
    for t in range(t_n):
        if t:
            state = np.where(state, u[t] >= cfg.p_off, u[t] < cfg.p_on)
        on[t] = state
    bleach = rng.geometric(cfg.bleach_per_frame, n) if cfg.bleach_per_frame > 0 else np.full(n, t_n)
    on &= np.arange(t_n)[:, None] < bleach[None, :]
    return on


def _events(rng, n_frames: int, rate: float, frames: tuple[int, int]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) frame intervals (end inclusive) from a per-frame start rate."""
    out, t = [], 0
    while t < n_frames:
        if rng.random() < rate:
            d = int(rng.integers(frames[0], frames[1] + 1))
            out.append((t, min(n_frames - 1, t + d - 1)))
            t += d + 2
        else:
            t += 1
    return out


def make_puncta_recording(
    config: PunctaSceneConfig | None = None, seed: int | None = 0, **changes
) -> PunctaRecording:
    """Simulate a dual-channel puncta + calcium recording (see the module docstring)."""
    cfg = replace(config or PunctaSceneConfig(), **changes)
    r_pos, r_vis, r_bright, r_ca, r_diff, r_cam, r_cell = child_rngs(seed, 7)
    h, w = cfg.shape
    t_n = cfg.n_frames
    area_um2 = h * w * (cfg.pixel_size_nm / 1000) ** 2
    n = int(r_pos.poisson(cfg.density_per_um2 * area_um2))
    pos, mobile = _motion(cfg, r_pos, n)
    visible = _visibility(cfg, r_vis, n)
    brightness = cfg.photons * np.exp(
        r_bright.normal(-0.5 * cfg.photons_spread**2, cfg.photons_spread, n)
    )
    sigma = cfg.psf_sigma_px * np.exp(r_bright.normal(0, cfg.psf_sigma_spread, n))
    flicker = np.exp(r_bright.normal(-0.005, 0.1, (t_n, n)))  # frame-to-frame intensity change
    t_idx, k_idx = np.nonzero(visible)
    photons = brightness[k_idx] * flicker[t_idx, k_idx]
    expected = render_spots(
        (t_n, h, w), t_idx, pos[t_idx, k_idx, 0], pos[t_idx, k_idx, 1], photons,
        sigma[k_idx], cfg.psf,
    )  # fmt: skip
    expected += cfg.background
    puncta = simulate_camera(expected / cfg.camera.quantum_efficiency, cfg.camera, r_cam)

    # ---- calcium channel
    active = r_ca.random(n) < cfg.calcium_fraction
    ca_on = np.zeros((t_n, n), bool)
    ca_rows = []
    ca_amp = np.zeros((t_n, n))
    for k in np.nonzero(active)[0]:
        for a, b in _events(r_ca, t_n, cfg.calcium_rate, cfg.calcium_frames):
            amp = cfg.calcium_photons * np.exp(r_ca.normal(-0.08, 0.4))
            ca_on[a : b + 1, k] = True
            ca_amp[a : b + 1, k] = amp
            ca_rows.append((k, a, b, amp))
    cell = gaussian_filter(r_cell.normal(0, 1, (h, w)), min(h, w) / 6, mode="wrap")
    cell = 1.0 + 0.3 * cell / max(cell.std(), 1e-9)
    calcium_expected = np.broadcast_to(cfg.calcium_background * cell, (t_n, h, w)).copy()
    ct, ck = np.nonzero(ca_on)
    ca_sigma = cfg.calcium_sigma_nm / cfg.pixel_size_nm
    render_spots(
        (t_n, h, w), ct, pos[ct, ck, 0], pos[ct, ck, 1], ca_amp[ct, ck], ca_sigma, "gaussian",
        out=calcium_expected,
    )  # fmt: skip
    diffuse_rows = []
    yy, xx = np.mgrid[0:h, 0:w]
    for a, b in _events(r_diff, t_n, cfg.diffuse_rate, (1, 1)):
        d = int(r_diff.integers(cfg.diffuse_frames[0], cfg.diffuse_frames[1] + 1))
        b = min(t_n - 1, a + d - 1)
        cy, cx = r_diff.uniform(0, h), r_diff.uniform(0, w)
        s = r_diff.uniform(*cfg.diffuse_sigma_nm) / cfg.pixel_size_nm
        peak = cfg.diffuse_peak * np.exp(r_diff.normal(0, 0.3))
        blob = peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s**2))
        calcium_expected[a : b + 1] += blob[None]
        diffuse_rows.append((a, b, cx, cy, s, peak))
    calcium = simulate_camera(calcium_expected / cfg.camera.quantum_efficiency, cfg.camera, r_cam)

    emitters = pd.DataFrame(
        {
            "frame": t_idx,
            "punctum_id": k_idx,
            "x": pos[t_idx, k_idx, 1],
            "y": pos[t_idx, k_idx, 0],
            "photons": photons,
            "sigma": sigma[k_idx],
            "mobile": mobile[k_idx],
            "calcium": ca_on[t_idx, k_idx].astype(np.int8),
        }
    )
    emitters["snr"] = snr(emitters.photons, emitters.sigma, cfg.background)
    truth = PunctaTruth(
        emitters=emitters,
        calcium_events=pd.DataFrame(
            ca_rows, columns=["punctum_id", "start_frame", "end_frame", "photons"]
        ),
        diffuse_events=pd.DataFrame(
            diffuse_rows, columns=["start_frame", "end_frame", "x", "y", "sigma", "peak"]
        ),
        positions=pos,
    )
    return PunctaRecording(puncta, calcium, cfg, truth)


def snr(photons, sigma_px, background) -> np.ndarray:
    """Peak signal over background noise: N / (2 pi sigma^2) / sqrt(bg), the definition the
    benchmarks use for "SNR > 5" (ThunderSTORM's and Picasso's users quote the same ratio)."""
    peak = np.asarray(photons, float) / (2 * np.pi * np.asarray(sigma_px, float) ** 2)
    return peak / np.sqrt(max(float(background), 1e-9))


def match_to_truth(truth: pd.DataFrame, locs: pd.DataFrame, max_px: float):
    """Per-frame optimal one-to-one matching of localisations to true puncta within `max_px`
    (both tables with frame, x, y): the (truth index, localisation index) arrays of the pairs.
    The scoring rule of the benchmarks and tests (SMLM-challenge style)."""
    from scipy.optimize import linear_sum_assignment

    ti, li = [], []
    by_frame = {f: g for f, g in locs.groupby("frame")}
    for f, a in truth.groupby("frame"):
        b = by_frame.get(f)
        if b is None or b.empty:
            continue
        d = np.hypot(a.x.values[:, None] - b.x.values, a.y.values[:, None] - b.y.values)
        i, j = linear_sum_assignment(np.where(d <= max_px, d, 1e6))
        ok = d[i, j] <= max_px
        ti += list(a.index[i[ok]])
        li += list(b.index[j[ok]])
    return np.array(ti, int), np.array(li, int)
