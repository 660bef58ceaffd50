"""A behaviour-camera video of a whole crawling *C. elegans*, with ground truth.

The worm is a tube (a width profile along its length) that moves along its own track without
slipping sideways ("follow the leader", how a worm crawls on agar): the track is a curve whose
tangent angle undulates with the crawling wavelength, the head moves along it forwards and the
tail leads backwards during reversals. After a reversal the worm leaves on a new heading, often
through a deep omega-like bend that makes the body touch itself. A tracking stage follows the
worm's centroid with a lag, so the worm stays near the image centre while the background
(illumination is fixed in the image, debris is fixed on the plate) moves.

Rendering follows a cylinder: absorbance (bright-field, dark worm) or emission (dark-field and
fluorescence, bright worm) grows with the optical path through the body, so the edges fade in
the way real frames do; the pharynx makes the head a little lighter, and the tail tapers to a
point. Ground truth: the centerline (head first), the mask (pixel centres inside the tube), the
stage, the world-frame centroid velocity and the signed crawling direction of every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter, gaussian_filter1d
from scipy.spatial import cKDTree

from napari_catrack.errors import InputError
from napari_catrack.synthetic._render import check_shape, child_rngs, smooth_noise


@dataclass(frozen=True)
class BehaviourTruth:
    """Ground truth of a synthetic behaviour video (image coordinates are pixels, (y, x))."""

    centerline: np.ndarray  # (T, K, 2) head tip -> tail tip, image pixels
    radius_px: np.ndarray  # (K,) body half-width at each centerline point
    masks: np.ndarray  # (T, Y, X) bool: pixel centre inside the body
    stage_um: np.ndarray  # (T, 2) stage (y, x) position, µm
    world_centerline_um: np.ndarray  # (T, K, 2) centerline on the plate, µm
    centroid_um: np.ndarray  # (T, 2) body centroid on the plate, µm
    velocity_um_s: np.ndarray  # (T, 2) centroid velocity (vy, vx), µm/s
    signed_speed_um_s: np.ndarray  # (T,) centroid speed, + forward / - backward
    direction: np.ndarray  # (T,) +1 forward, -1 backward, 0 still
    state: np.ndarray  # (T,) "forward" / "reverse" / "pause" (the behaviour schedule)
    coiled: np.ndarray  # (T,) the body touches or crosses itself

    @property
    def speed_um_s(self) -> np.ndarray:
        """(T,) the centroid's true speed, µm/s (`signed_speed_um_s` is 0 on still frames)."""
        return np.hypot(self.velocity_um_s[:, 0], self.velocity_um_s[:, 1])


@dataclass(frozen=True)
class BehaviourVideo:
    """A synthetic single-channel behaviour video (uint8 frames) and its ground truth."""

    frames: np.ndarray  # (T, Y, X) uint8
    fps: float
    pixel_size_um: float
    polarity: str  # "dark" worm on a light background, or "bright" worm on a dark one
    truth: BehaviourTruth
    params: dict[str, Any] = field(default_factory=dict)

    def stage_table(self):
        """The stage log a tracking rig writes: `frame,time_s,stage_y_um,stage_x_um`."""
        import pandas as pd

        n = len(self.frames)
        return pd.DataFrame(
            {
                "frame": np.arange(n),
                "time_s": np.arange(n) / self.fps,
                "stage_y_um": self.truth.stage_um[:, 0],
                "stage_x_um": self.truth.stage_um[:, 1],
            }
        )


def body_radius_profile(x: np.ndarray, aspect: float = 12.5) -> np.ndarray:
    """Half-width along the body (x = 0 head tip .. 1 tail tip) as a fraction of the widest.

    A blunt, round nose, widest near mid-body, and a tail that tapers over its last 15 % to a
    narrow rounded tip (the taper is a head/tail cue, as on real worms; the finest tail spike
    of a real worm is below a behaviour camera's resolution and is not drawn). Both ends are
    circular caps, so the body's outline ends where its centerline ends. `aspect` is the
    body's length / width.
    """
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    base = 0.6 + 0.4 * np.sin(np.pi * np.clip(x * 0.95 + 0.02, 0, 1)) ** 0.7
    t = np.clip((x - 0.85) / 0.15, 0.0, 1.0)
    base = base * (1.0 - 0.45 * t**1.3)
    out = base.copy()
    for tip in (0.0, 1.0):
        end = 0.6 + 0.4 * np.sin(np.pi * (0.02 + 0.95 * tip)) ** 0.7
        end *= 1.0 - 0.45 * tip
        r = end / (2 * aspect)  # cap radius = the end's half-width, in body lengths
        u = np.clip(np.abs(x - tip) / r, 0.0, 1.0)
        out = out * np.sqrt(np.clip(1 - (1 - u) ** 2, 0, None))
    return out


def _schedule(
    rng: np.random.Generator,
    n_frames: int,
    fps: float,
    forward_s: tuple[float, float],
    reverse_s: tuple[float, float],
    pause_probability: float,
    pause_s: tuple[float, float],
) -> list[tuple[str, int]]:
    """Episodes (state, frames): forward runs alternating with reversals, some pauses."""
    episodes: list[tuple[str, int]] = []
    total = 0
    state = "forward"
    while total < n_frames:
        if state == "forward":
            dur = rng.uniform(*forward_s)
        elif state == "reverse":
            dur = rng.uniform(*reverse_s)
        else:
            dur = rng.uniform(*pause_s)
        n = max(2, round(dur * fps))
        episodes.append((state, n))
        total += n
        if state == "forward":
            state = "pause" if rng.random() < pause_probability else "reverse"
        elif state == "pause":
            state = "reverse"
        else:
            state = "forward"
    return episodes


def make_behaviour_video(
    n_frames: int = 300,
    shape: tuple[int, int] = (256, 256),
    seed: int | None = 0,
    *,
    fps: float = 15.0,
    pixel_size_um: float = 8.0,
    polarity: Literal["dark", "bright"] = "dark",
    length_um: float = 1000.0,
    width_um: float = 80.0,
    wave_hz: float = 0.5,
    reverse_wave_hz: float = 0.6,
    wavelength_body: float = 0.65,
    amplitude_deg: float = 35.0,
    drag_ratio: float = 30.0,
    steering: float = 0.4,
    forward_s: tuple[float, float] = (3.0, 6.0),
    reverse_s: tuple[float, float] = (1.2, 2.5),
    pause_probability: float = 0.25,
    pause_s: tuple[float, float] = (0.4, 1.0),
    omega_probability: float = 0.7,
    omega_turn_deg: tuple[float, float] = (220.0, 280.0),
    transition_s: float = 0.25,
    still_speed_um_s: float = 20.0,
    stage_gain: float = 0.25,
    stage_lag_frames: int = 2,
    background: float = 160.0,
    contrast: float = 90.0,
    illumination_gradient: float = 0.12,
    vignetting: float = 0.15,
    n_debris: int = 12,
    blur_px: float = 0.9,
    edge_exponent: float = 0.8,
    noise_sd: float = 3.0,
    flicker: float = 0.01,
) -> BehaviourVideo:
    """Make a synthetic behaviour video of a crawling worm with ground truth.

    Deterministic for a given `seed`; every argument is kept in `params`. Units are in the names
    (_um, _s, _hz, _px, _deg, _body = fraction of the body length). `polarity` "dark" is
    bright-field (a dark worm on a light background), "bright" is dark-field or fluorescence.
    `drag_ratio` is normal/tangential drag (on agar the body barely slips sideways).
    """
    params = {k: v for k, v in locals().items()}
    h, w = check_shape(shape)
    if n_frames < 2:
        raise InputError("a behaviour video needs at least 2 frames")
    if fps <= 0 or pixel_size_um <= 0 or length_um <= 0 or width_um <= 0:
        raise InputError("fps, pixel_size_um, length_um and width_um must be positive")
    if polarity not in ("dark", "bright"):
        raise InputError(f"polarity must be 'dark' or 'bright', got {polarity!r}")
    r_kin, r_sched, r_omega, r_scene, r_noise = child_rngs(seed, 5)
    dt = 1.0 / fps
    T = n_frames
    L = float(length_um)
    K = 101  # truth resolution along the body
    arc_frac = np.linspace(0.0, 1.0, K)
    radius_um = 0.5 * width_um * body_radius_profile(arc_frac, L / width_um)

    # --- behaviour schedule -> wave frequency (signed: + travels head -> tail = forward)
    episodes = _schedule(r_sched, T, fps, forward_s, reverse_s, pause_probability, pause_s)
    state = np.concatenate([[s] * n for s, n in episodes])[:T]
    freq = np.where(state == "forward", wave_hz, 0.0)
    freq = np.where(state == "reverse", -reverse_wave_hz, freq)
    freq = gaussian_filter1d(freq, max(transition_s * fps, 0.5), mode="nearest")
    phase = r_kin.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(freq) * dt
    amp = np.deg2rad(amplitude_deg) * 2 * np.pi / (wavelength_body * L)  # curvature, 1/µm
    envelope = 1.0 + 0.4 * (1 - arc_frac)  # the head bends more than the tail
    bias = steering / L * smooth_noise(r_kin, (T,), 2 * fps)

    # omega turns: a deep bend that starts at the head after a reversal and travels tailwards
    omega = np.zeros((T, K))
    starts = np.nonzero((state[1:] == "forward") & (state[:-1] == "reverse"))[0] + 1
    wave_speed = wave_hz * wavelength_body  # body lengths per second
    for t0 in starts:
        if r_omega.random() >= omega_probability:
            continue
        total = np.deg2rad(r_omega.uniform(*omega_turn_deg)) * r_omega.choice([-1, 1])
        sigma = 0.18
        dur = round(1.1 / wave_speed * fps)
        for k in range(dur):
            t = t0 + k
            if t >= T:
                break
            centre = 0.08 + wave_speed * k / fps
            grow = min(1.0, k / (0.3 * fps)) * max(0.0, 1 - (centre - 0.55) / 0.45)
            bump = np.exp(-0.5 * ((arc_frac - centre) / sigma) ** 2)
            omega[t] += grow * total * bump / (sigma * L * np.sqrt(2 * np.pi))

    # --- posture from curvature, placed on the plate with anisotropic drag (no sideways slip)
    ds = L / (K - 1)
    world = np.empty((T, K, 2))
    for t in range(T):
        kappa = amp * envelope * np.sin(2 * np.pi * arc_frac / wavelength_body - phase[t])
        kappa = kappa + bias[t] + omega[t]
        shape_t = _shape_from_curvature(kappa, ds)
        world[t] = shape_t if t == 0 else _place(shape_t, world[t - 1], drag_ratio)

    centroid = world.mean(axis=1)
    velocity = np.gradient(centroid, dt, axis=0)
    speed = np.hypot(velocity[:, 0], velocity[:, 1])
    direction = np.where(speed < still_speed_um_s, 0, np.sign(freq)).astype(int)
    signed = speed * direction

    # --- stage following the centroid with a lag
    stage = np.empty((T, 2))
    stage[0] = centroid[0] + r_scene.normal(0, 3.0, 2) * pixel_size_um
    for t in range(1, T):
        seen = centroid[max(t - stage_lag_frames, 0)]
        stage[t] = stage[t - 1] + stage_gain * (seen - stage[t - 1])
    img_c = (np.array([h, w], dtype=float) - 1) / 2
    cl_px = (world - stage[:, None]) / pixel_size_um + img_c
    r_px = radius_um / pixel_size_um

    # --- scene: fixed illumination in the image, debris fixed on the plate
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ry, rx = (yy - img_c[0]) / h, (xx - img_c[1]) / w
    ang = r_scene.uniform(0, 2 * np.pi)
    illum = 1 + illumination_gradient * (np.cos(ang) * ry + np.sin(ang) * rx) * 2
    illum = illum - vignetting * 2 * (ry**2 + rx**2)
    extent = np.abs(centroid - centroid[0]).max() + 0.75 * max(h, w) * pixel_size_um
    debris_um = centroid[0] + r_scene.uniform(-extent, extent, (n_debris, 2))
    debris_r = r_scene.uniform(0.8, 2.5, n_debris)
    debris_a = r_scene.uniform(0.2, 0.6, n_debris)
    body_tex = 1 + 0.08 * smooth_noise(r_scene, (K,), 2.0)
    head_light = 1 - 0.15 * np.exp(-(((arc_frac - 0.06) / 0.05) ** 2))  # pharynx: lighter
    body_contrast = body_tex * head_light

    frames = np.empty((T, h, w), np.uint8)
    masks = np.zeros((T, h, w), bool)
    coiled = np.zeros(T, bool)
    far = np.abs(arc_frac[:, None] - arc_frac[None, :]) * L > 1.5 * width_um
    for t in range(T):
        absorb, inside = _render_body(cl_px[t], r_px, body_contrast, (h, w), edge_exponent)
        masks[t] = inside
        d = np.linalg.norm(world[t][:, None] - world[t][None, :], axis=-1)
        coiled[t] = bool(np.any(far & (d < radius_um[:, None] + radius_um[None, :])))
        dpos = (debris_um - stage[t]) / pixel_size_um + img_c
        for (dy, dx), rr, aa in zip(dpos, debris_r, debris_a):
            ya, yb = max(int(dy - 4 * rr), 0), min(int(dy + 4 * rr) + 2, h)
            xa, xb = max(int(dx - 4 * rr), 0), min(int(dx + 4 * rr) + 2, w)
            if ya < yb and xa < xb:
                gy, gx = yy[ya:yb, xa:xb] - dy, xx[ya:yb, xa:xb] - dx
                absorb[ya:yb, xa:xb] += aa * np.exp(-(gy * gy + gx * gx) / (2 * rr * rr))
        if blur_px > 0:
            absorb = gaussian_filter(absorb, blur_px)
        gain = 1 + flicker * r_noise.standard_normal()
        if polarity == "dark":
            img = background * illum * gain * (1 - contrast / background * absorb)
        else:
            img = (background * 0.15) * illum * gain + contrast * absorb * illum
        img = img + noise_sd * r_noise.standard_normal((h, w)).astype(np.float32)
        frames[t] = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    truth = BehaviourTruth(
        centerline=cl_px,
        radius_px=r_px,
        masks=masks,
        stage_um=stage,
        world_centerline_um=world,
        centroid_um=centroid,
        velocity_um_s=velocity,
        signed_speed_um_s=signed,
        direction=direction,
        state=state,
        coiled=coiled,
    )
    return BehaviourVideo(frames, float(fps), float(pixel_size_um), polarity, truth, params)


def _render_body(
    cl: np.ndarray,
    r_px: np.ndarray,
    contrast: np.ndarray,
    shape: tuple[int, int],
    exponent: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """(absorbance 0..1, mask) of a tube around the centerline cl (K, 2) on an image.

    Exact distances from pixel centres to a densely resampled centerline (a k-d tree), so the
    ground-truth mask is the union of discs of the local radius; the absorbance is the optical
    path through a cylinder, sqrt(1 - (d / r)^2).
    """
    h, w = shape
    seg = np.linalg.norm(np.diff(cl, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(int(arc[-1] / 0.2), 2)
    a = np.linspace(0, arc[-1], n)
    dense = np.stack([np.interp(a, arc, cl[:, 0]), np.interp(a, arc, cl[:, 1])], axis=1)
    rad = np.interp(a, arc, r_px)
    con = np.interp(a, arc, contrast)
    absorb = np.zeros((h, w), np.float32)
    inside = np.zeros((h, w), bool)
    pad = float(r_px.max()) + 3
    y0, x0 = (np.floor(dense.min(axis=0) - pad)).astype(int)
    y1, x1 = (np.ceil(dense.max(axis=0) + pad)).astype(int)
    y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, h - 1), min(x1, w - 1)
    if y1 < y0 or x1 < x0:
        return absorb, inside
    # exact distances only near the body: a coarse distance map picks the pixels to query
    raster = np.ones((y1 - y0 + 1, x1 - x0 + 1), bool)
    iy = np.clip(np.rint(dense[:, 0]).astype(int) - y0, 0, y1 - y0)
    ix = np.clip(np.rint(dense[:, 1]).astype(int) - x0, 0, x1 - x0)
    raster[iy, ix] = False
    near = distance_transform_edt(raster) < r_px.max() + 1.5
    py, px = np.nonzero(near)
    d, k = cKDTree(dense).query(np.stack([py + y0, px + x0], axis=1).astype(float), k=1)
    u = d / np.maximum(rad[k], 1e-6)
    absorb[py + y0, px + x0] = np.clip(1 - u * u, 0, None) ** exponent * con[k]
    inside[py + y0, px + x0] = u <= 1
    return absorb, inside


def _shape_from_curvature(kappa: np.ndarray, ds: float) -> np.ndarray:
    """Body points (K, 2) (y, x) in µm from curvature samples, head first, centred."""
    theta = np.concatenate([[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * ds)])
    mid = 0.5 * (theta[1:] + theta[:-1])
    steps = ds * np.stack([np.sin(mid), np.cos(mid)], axis=1)
    pts = np.concatenate([[[0.0, 0.0]], np.cumsum(steps, axis=0)])
    return pts - pts.mean(axis=0)


def _place(shape: np.ndarray, previous: np.ndarray, drag_ratio: float) -> np.ndarray:
    """Rotate and translate a new body shape so its motion from `previous` costs least drag.

    Drag is `drag_ratio` times stronger across the body than along it: the body moves along its
    own length (crawling) and barely sideways. The rotation starts from the best rigid fit
    (Kabsch) and is refined on the anisotropic cost; the translation is solved exactly for each
    rotation (a 2 x 2 weighted least-squares problem).
    """
    from scipy.optimize import minimize_scalar

    tang = np.gradient(previous, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    norm = np.stack([-tang[:, 1], tang[:, 0]], axis=1)
    # per-point metric M_i = t t^T + c n n^T
    M = tang[:, :, None] * tang[:, None, :] + drag_ratio * norm[:, :, None] * norm[:, None, :]
    Msum_inv = np.linalg.inv(M.sum(axis=0))

    def placed(phi: float) -> np.ndarray:
        c, s = np.cos(phi), np.sin(phi)
        rot = shape @ np.array([[c, s], [-s, c]])  # rotate (y, x) points by phi
        d0 = previous - rot
        t = Msum_inv @ np.einsum("kij,kj->i", M, d0)
        return rot + t

    def cost(phi: float) -> float:
        d = placed(phi) - previous
        return float(np.einsum("ki,kij,kj->", d, M, d))

    a = shape - shape.mean(axis=0)
    b = previous - previous.mean(axis=0)
    phi0 = np.arctan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b))
    res = minimize_scalar(cost, bounds=(phi0 - 0.5, phi0 + 0.5), method="bounded",
                          options={"xatol": 1e-6})  # fmt: skip
    return placed(float(res.x))
