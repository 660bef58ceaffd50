"""A two-channel recording of a freely moving *C. elegans* head, with ground truth.

The worm is a curvilinear body: a centerline in world coordinates (µm) with a tube of growing radius
around it. Body coordinates (s = arc length from the nose tip, u = lateral offset) of each neuron and
gut granule are fixed; every frame the body is posed (crawl, head swing about the neck, bending that
grows towards the nose, a small stretch and per-neuron jitter), world positions are mapped to pixels
through the stage position, and blobs are splatted there. The stage follows the head with a lag, in
discrete jumps. Red is rendered through the inverse of the channel misalignment so that
`truth.misalignment` maps red onto green (see docs/synthetic.md and ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.signal import lfilter

from napari_catrack.errors import InputError
from napari_catrack.synthetic._render import (
    camera,
    check_shape,
    child_rngs,
    frame_chunks,
    gaussian_inverse_cov,
    smooth_noise,
    splat_gaussians,
    upsample2,
)
from napari_catrack.synthetic.calcium import (
    choose_groups,
    draw_event_rates,
    group_spikes,
    simulate_spikes,
    spikes_to_dff,
)


@dataclass(frozen=True)
class WormTruth:
    """Ground truth of a synthetic worm recording (positions in GREEN-frame pixels, (y, x))."""

    positions: np.ndarray  # (T, N, 2) neuron centres in green pixels
    activity: np.ndarray  # (N, T) true green dF/F
    spikes: np.ndarray  # (N, T) spike counts per frame
    stage_um: np.ndarray  # (T, 2) stage (y, x) µm
    misalignment: dict[str, float]  # maps RED onto GREEN
    neuron_ids: list[str]
    red_positions: np.ndarray  # (T, N, 2) the same centres in red-frame pixels
    focus: np.ndarray  # (N, T) multiplicative focus factor (1 = in focus), both channels
    green_intensity: np.ndarray  # (N, T) noise-free blob peak, photons
    red_intensity: np.ndarray  # (N, T) noise-free blob peak, photons
    in_view: np.ndarray  # (T, N) centre inside the image
    centerline: np.ndarray  # (T, K, 2) nose→tail centerline in green pixels
    head_angle_deg: np.ndarray  # (T,) head swing angle about the neck
    sigma_px: np.ndarray  # (N, 2) blob sigmas (major, minor)
    ensemble_members: list[list[str]] = field(default_factory=list)  # neuron ids per planted group
    ensemble_events: list[np.ndarray] = field(default_factory=list)  # frames of each group's events


@dataclass(frozen=True)
class WormRecording:
    """A synthetic two-channel recording: green = GCaMP (activity), red = structural marker."""

    green: np.ndarray  # (T, Y, X) uint16
    red: np.ndarray  # (T, Y, X) uint16
    fps: float
    pixel_size_um: float
    truth: WormTruth
    params: dict[str, Any] = field(default_factory=dict)


def misalignment_matrix(
    m: dict[str, float], shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) with green = R @ red + t for (y, x) pixel coordinates (the ARCHITECTURE.md convention).

    `scipy.ndimage.affine_transform(red, R_inv, offset=...)` style warps use the inverse; see
    `warp_red_to_green`.
    """
    th = np.deg2rad(float(m["rotation_deg"]))
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    c = (np.asarray(shape, dtype=float) - 1) / 2
    t = c + np.array([m["dy"], m["dx"]], dtype=float) - rot @ c
    return rot, t


def warp_red_to_green(red: np.ndarray, m: dict[str, float], order: int = 1) -> np.ndarray:
    """Resample a red frame (Y, X) into the green frame with the red→green transform `m`."""
    from scipy.ndimage import affine_transform

    rot, t = misalignment_matrix(m, red.shape[-2:])
    inv = rot.T
    return affine_transform(red.astype(float), inv, offset=-inv @ t, order=order, mode="nearest")


def _radius_um(s: np.ndarray, nose_radius_um: float, body_radius_um: float) -> np.ndarray:
    """Body half-width along the axis: thin at the nose tip, widening towards the neck."""
    s = np.maximum(s, 0.0)
    return nose_radius_um + (body_radius_um - nose_radius_um) * (1 - np.exp(-s / 35.0))


def _place_neurons(
    rng: np.random.Generator, n: int, min_spacing: float, centre: np.ndarray, aspect: float
) -> np.ndarray:
    """Random sequential placement in an ellipse sized so nearest neighbours sit ~1.1-1.3 x apart."""
    area = n * 1.7 * min_spacing**2
    b = np.sqrt(area / (np.pi * aspect))
    a = aspect * b
    pts: list[np.ndarray] = []
    tries = 0
    while len(pts) < n:
        tries += 1
        if tries % 2000 == 0:  # too crowded: grow the ganglion a little
            a, b = a * 1.05, b * 1.05
        r, phi = np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
        p = centre + np.array([a * r * np.cos(phi), b * r * np.sin(phi)])
        if all(np.hypot(*(p - q)) >= min_spacing for q in pts):
            pts.append(p)
    return np.array(pts)  # (n, 2) as (s, u) in pixels


def _dips(
    rng: np.random.Generator,
    n: int,
    n_frames: int,
    rate_per_frame: float,
    depth: tuple[float, float],
    frames: tuple[int, int],
) -> np.ndarray:
    """Multiplicative dips (N, T): each event scales by 1 - depth * sin² window over a few frames."""
    out = np.ones((n, n_frames))
    cells, starts = np.nonzero(rng.random((n, n_frames)) < rate_per_frame)
    for i, t0 in zip(cells, starts):
        length = int(rng.integers(frames[0], frames[1] + 1))
        d = rng.uniform(*depth)
        k = np.arange(length)
        shape = np.sin(np.pi * (k + 0.5) / length) ** 2
        t = t0 + k
        ok = t < n_frames
        out[i, t[ok]] *= 1 - d * shape[ok]
    return out


def make_worm_recording(
    n_frames: int = 300,
    shape: tuple[int, int] = (256, 256),
    n_neurons: int = 15,
    seed: int | None = 0,
    *,
    fps: float = 10.0,
    pixel_size_um: float = 0.45,
    min_spacing_px: float = 6.5,
    neuron_sigma_px: float = 1.7,
    neuron_sigma_jitter: float = 0.15,
    neuron_anisotropy: float = 1.3,
    red_brightness: float = 300.0,
    green_brightness: float = 90.0,
    brightness_cv: float = 0.3,
    background_photons: float = 3.0,
    body_red: float = 25.0,
    body_green: float = 18.0,
    n_granules: int = 150,
    granule_red: float = 90.0,
    granule_green_ratio: float = 0.25,
    ganglion_s_um: float = 40.0,
    neck_s_um: float = 90.0,
    nose_radius_um: float = 5.0,
    body_radius_um: float = 22.0,
    swing_amplitude_deg: float = 12.0,
    swing_period_s: float = 5.0,
    swing_noise_deg: float = 4.0,
    bend_amplitude_um: float = 4.0,
    body_wave_deg: float = 10.0,
    deformation: float = 0.03,
    jitter_px: float = 0.25,
    crawl_speed_um_s: float = 3.0,
    turn_rate_deg_s: float = 4.0,
    max_jump_px: float = 15.0,
    stage_trigger_px: float | None = None,
    stage_lag_frames: int = 2,
    stage_smoothing_s: float = 1.0,
    misalignment: dict[str, float] | None = None,
    max_misalignment_px: float = 3.0,
    max_misalignment_deg: float = 2.0,
    bleach_tau_green_s: float = 400.0,
    bleach_tau_red_s: float = 900.0,
    focus_dip_rate_hz: float = 0.02,
    global_dip_rate_hz: float = 0.01,
    focus_dip_depth: tuple[float, float] = (0.1, 0.4),
    focus_dip_frames: tuple[int, int] = (2, 6),
    silent_fraction: float = 0.3,
    event_rate_hz: tuple[float, float] = (0.05, 0.4),
    burst_mean_spikes: float = 2.0,
    tau_rise_s: tuple[float, float] = (0.05, 0.1),
    tau_decay_s: tuple[float, float] = (0.5, 1.0),
    spike_amplitude: float = 0.5,
    dff_max: float | None = 3.0,
    ensembles: int = 2,
    ensemble_size: int = 5,
    ensemble_rate_hz: float = 0.3,
    ensemble_own_rate: float = 0.25,
    ensemble_jitter_frames: int = 0,
    ensemble_refractory_s: float = 2.0,
    ensemble_separation_s: float = 1.0,
    camera_offset: float = 100.0,
    gain_adu_per_photon: float = 2.0,
    read_noise_adu: float = 3.0,
    saturation_adu: int = 65535,
) -> WormRecording:
    """Make a synthetic two-channel moving-worm recording with ground truth.

    Deterministic for a given `seed`; every argument is recorded in `params`. Units are in the
    names (_px, _um, _s, _hz, _deg; brightness in photons at the blob peak). Groups: anatomy
    (spacing, blob size/brightness, body and gut granules), posture (swing, bend, body wave,
    deformation, jitter, crawl, turns), stage (max_jump_px, trigger, lag, smoothing), channel
    misalignment (dict dy, dx, rotation_deg mapping RED onto GREEN, or None = random draw),
    bleaching, focus dips, activity (calcium model, with `ensembles` co-active groups of
    `ensemble_size` neurons firing together at `ensemble_rate_hz`, at least
    `ensemble_refractory_s` apart and `ensemble_separation_s` from another group's activation,
    their own events scaled by `ensemble_own_rate`) and camera.
    docs/synthetic.md has each one.
    """
    params = {k: v for k, v in locals().items()}
    h, w = check_shape(shape)
    if n_frames < 1 or n_neurons < 1:
        raise InputError("n_frames and n_neurons must be at least 1")
    if fps <= 0 or pixel_size_um <= 0:
        raise InputError("fps and pixel_size_um must be positive")
    if misalignment is not None:
        missing = {"dy", "dx", "rotation_deg"} - set(misalignment)
        if missing:
            raise InputError(
                f"misalignment needs keys dy, dx, rotation_deg (missing {sorted(missing)})"
            )
    r_geo, r_mot, r_act, r_foc, r_noise, r_ens = child_rngs(seed, 6)  # r_ens: added last
    dt, px = 1.0 / fps, pixel_size_um
    T, N = n_frames, n_neurons
    t_s = np.arange(T) * dt

    # --- body-frame anatomy (s along the axis from the nose, u lateral), in µm
    su_px = _place_neurons(r_geo, N, min_spacing_px, np.array([ganglion_s_um / px, 0.0]), 1.5)
    neur_s, neur_u = su_px[:, 0] * px, su_px[:, 1] * px
    sig = neuron_sigma_px * np.exp(neuron_sigma_jitter * r_geo.standard_normal(N))
    aniso = r_geo.uniform(1.0, max(neuron_anisotropy, 1.0), N)
    sig_major, sig_minor = sig * np.sqrt(aniso), sig / np.sqrt(aniso)
    body_angle = r_geo.uniform(0, np.pi, N)  # major axis relative to the local body axis
    lognorm = np.sqrt(np.log(1 + brightness_cv**2))
    red_base = red_brightness * np.exp(lognorm * r_geo.standard_normal(N) - lognorm**2 / 2)
    green_base = green_brightness * np.exp(lognorm * r_geo.standard_normal(N) - lognorm**2 / 2)
    s_end = neck_s_um + 2.2 * max(h, w) * px
    gran_s = r_geo.uniform(neck_s_um - 15, s_end, n_granules)
    gran_u = r_geo.uniform(-0.85, 0.85, n_granules) * _radius_um(
        gran_s, nose_radius_um, body_radius_um
    )
    gran_sig = r_geo.uniform(0.8, 2.0, n_granules)
    gran_amp = granule_red * np.exp(0.5 * r_geo.standard_normal(n_granules))

    # --- posture over time
    omega = 2 * np.pi / swing_period_s
    phase = r_mot.uniform(0, 2 * np.pi)
    sm = max(1.0, 0.5 * fps)  # ~0.5 s smoothing
    swing = np.deg2rad(
        swing_amplitude_deg * np.sin(omega * t_s + phase)
        + swing_noise_deg * smooth_noise(r_mot, (T,), 2 * sm)
    )
    d_nose = neck_s_um
    kappa = (2 * bend_amplitude_um / d_nose**2) * (
        np.sin(omega * t_s + phase + np.pi / 3) + 0.3 * smooth_noise(r_mot, (T,), 2 * sm)
    )
    heading = r_mot.uniform(0, 2 * np.pi) + np.cumsum(
        np.deg2rad(turn_rate_deg_s) * dt * smooth_noise(r_mot, (T,), 4 * sm)
    )
    speed = crawl_speed_um_s * np.clip(1 + 0.5 * smooth_noise(r_mot, (T,), 6 * sm), 0, None)
    stretch = deformation * smooth_noise(r_mot, (T,), 2 * sm)
    widen = 0.5 * deformation * smooth_noise(r_mot, (T,), 2 * sm)

    ds = 1.0
    s_grid = np.arange(0.0, s_end + ds, ds)
    k_neck = round(neck_s_um / ds)
    g = np.clip((neck_s_um + 8 - s_grid) / 16, 0, 1)
    g = g * g * (3 - 2 * g)  # smoothstep: 1 on the head, 0 behind the neck
    to_nose = np.clip(neck_s_um - s_grid, 0, None)
    behind = np.clip(s_grid - neck_s_um, 0, None)
    alpha = (
        heading[:, None]
        + swing[:, None] * g[None]
        + kappa[:, None] * to_nose[None]
        + np.deg2rad(body_wave_deg)
        * np.clip(behind / 40, 0, 1)[None]
        * np.sin(2 * np.pi * behind[None] / 250 - omega * t_s[:, None] + phase)
    )  # (T, K) tangent angle, pointing tailwards
    tang = np.stack([np.sin(alpha), np.cos(alpha)], axis=-1)  # (T, K, 2) (y, x)
    rel = np.concatenate(
        [np.zeros((T, 1, 2)), np.cumsum(0.5 * (tang[:, 1:] + tang[:, :-1]) * ds, axis=1)], axis=1
    )
    rel -= rel[:, k_neck : k_neck + 1]
    neck = np.zeros((T, 2))
    neck[1:] = np.cumsum(-speed[:-1, None] * dt * tang[:-1, k_neck], axis=0)
    centre_world = neck[:, None] + rel  # (T, K, 2) µm

    def pose(s_um: np.ndarray, u_um: np.ndarray, deform: bool) -> np.ndarray:
        """World positions (T, M, 2) of body points, and the local tangent angle (T, M)."""
        s_eff = np.broadcast_to(s_um, (T, s_um.size)).copy()
        u_eff = np.broadcast_to(u_um, (T, u_um.size)).copy()
        if deform:
            s_eff = neck_s_um + (s_eff - neck_s_um) * (1 + stretch[:, None])
            u_eff = u_eff * (1 + widen[:, None])
        f = np.clip(s_eff / ds, 0, len(s_grid) - 1.001)
        i0 = f.astype(np.int64)
        fr = (f - i0)[..., None]
        tt = np.arange(T)[:, None]
        c = centre_world[tt, i0] * (1 - fr) + centre_world[tt, i0 + 1] * fr
        a = alpha[tt, i0] * (1 - fr[..., 0]) + alpha[tt, i0 + 1] * fr[..., 0]
        normal = np.stack([np.cos(a), -np.sin(a)], axis=-1)
        return c + u_eff[..., None] * normal, a

    neur_world, neur_alpha = pose(neur_s, neur_u, True)
    gran_world, gran_alpha = pose(gran_s, gran_u, True)
    track_world, _ = pose(np.array([ganglion_s_um]), np.array([0.0]), True)
    # the tracker follows an exponentially smoothed head position (it ignores fast swings)
    track_world = (
        lfilter(
            [1 - np.exp(-dt / stage_smoothing_s)],
            [1, -np.exp(-dt / stage_smoothing_s)],
            track_world - track_world[0],
            axis=0,
        )
        + track_world[0]
    )

    # --- stage: recentres the tracked point in lagging, discrete jumps
    trigger = 0.8 * max_jump_px if stage_trigger_px is None else stage_trigger_px
    stage = np.zeros((T, 2))
    stage[0] = track_world[0, 0] + r_mot.normal(0, 2.0, 2) * px
    last_jump = -(10**9)
    for t in range(1, T):
        stage[t] = stage[t - 1]
        tl = max(t - stage_lag_frames, 0)
        if t - last_jump <= stage_lag_frames:
            continue
        seen = (track_world[tl, 0] - stage[t - 1]) / px
        if np.hypot(*seen) > trigger:
            move = seen + r_mot.normal(0, 0.5, 2)
            norm = np.hypot(*move)
            if norm > max_jump_px:
                move *= max_jump_px / norm
            stage[t] = stage[t - 1] + move * px
            last_jump = t

    img_c = (np.array([h, w], dtype=float) - 1) / 2

    def to_px(world: np.ndarray) -> np.ndarray:
        return (world - stage[:, None]) / px + img_c

    jitter = jitter_px * smooth_noise(r_mot, (N, 2, T), fps).transpose(2, 0, 1)
    pos_g = to_px(neur_world) + jitter  # (T, N, 2)
    gran_g = to_px(gran_world)
    cl_g = to_px(centre_world)

    # --- misalignment: red pixel p lands at R (p - c) + c + d in green
    if misalignment is None:
        misalignment = {
            "dy": float(r_geo.uniform(-max_misalignment_px, max_misalignment_px)),
            "dx": float(r_geo.uniform(-max_misalignment_px, max_misalignment_px)),
            "rotation_deg": float(r_geo.uniform(-max_misalignment_deg, max_misalignment_deg)),
        }
    misalignment = {k: float(misalignment[k]) for k in ("dy", "dx", "rotation_deg")}
    rot, tvec = misalignment_matrix(misalignment, (h, w))
    theta = np.deg2rad(misalignment["rotation_deg"])

    def to_red(p: np.ndarray) -> np.ndarray:
        return (p - tvec) @ rot  # R^T (p - t) for row vectors

    pos_r, gran_r, cl_r = to_red(pos_g), to_red(gran_g), to_red(cl_g)

    # --- intensities
    rates = draw_event_rates(N, r_act, silent_fraction, event_rate_hz)
    groups = choose_groups(N, ensembles, ensemble_size, r_ens)
    for g in groups:  # members fire mostly with their group
        rates[g] *= ensemble_own_rate
    spikes = simulate_spikes(rates, T, fps, r_act, burst_mean_spikes)
    extra, group_events = group_spikes(
        groups, N, T, fps, r_ens, ensemble_rate_hz, ensemble_jitter_frames, burst_mean_spikes,
        ensemble_refractory_s, ensemble_separation_s,
    )  # fmt: skip
    spikes = spikes + extra
    activity = spikes_to_dff(
        spikes, fps, r_act.uniform(*tau_rise_s, N), r_act.uniform(*tau_decay_s, N),
        spike_amplitude, dff_max,
    )  # fmt: skip
    focus = _dips(r_foc, N, T, focus_dip_rate_hz * dt, focus_dip_depth, focus_dip_frames)
    focus *= _dips(r_foc, 1, T, global_dip_rate_hz * dt, focus_dip_depth, focus_dip_frames)
    bleach_g = np.exp(-t_s / bleach_tau_green_s)
    bleach_r = np.exp(-t_s / bleach_tau_red_s)
    red_int = red_base[:, None] * bleach_r[None] * focus
    green_int = green_base[:, None] * bleach_g[None] * focus * (1 + activity)

    # --- render chunk by chunk
    green = np.empty((T, h, w), np.uint16)
    red = np.empty((T, h, w), np.uint16)
    half_n = int(np.ceil(3.5 * sig_major.max()))
    half_g = int(np.ceil(3.5 * gran_sig.max()))
    r_px = _radius_um(s_grid, nose_radius_um, body_radius_um) / px
    cam = dict(
        gain_adu_per_photon=gain_adu_per_photon,
        offset_adu=camera_offset,
        read_noise_adu=read_noise_adu,
        saturation_adu=saturation_adu,
    )
    for t0, t1 in frame_chunks(T, (h, w)):
        sl = slice(t0, t1)
        nt = t1 - t0
        for chan, pos, gpos, cl, inten, body, gamp, bleach, ang in (
            ("g", pos_g, gran_g, cl_g, green_int, body_green, granule_green_ratio, bleach_g, 0.0),
            ("r", pos_r, gran_r, cl_r, red_int, body_red, 1.0, bleach_r, theta),
        ):
            img = _tube(cl[sl], r_px, (h, w)) * body
            img += background_photons
            img *= bleach[sl, None, None]
            # neurons
            fr = np.repeat(np.arange(nt), N)
            p = pos[sl].reshape(-1, 2)
            a = (neur_alpha[sl] + body_angle[None] + ang).reshape(-1)
            ic = gaussian_inverse_cov(np.tile(sig_major, nt), np.tile(sig_minor, nt), a)
            splat_gaussians(img, fr, p, inten[:, sl].T.reshape(-1), ic, half_n)
            # gut granules (only those near the field of view)
            gp = gpos[sl]
            near = (
                (gp[..., 0] > -half_g) & (gp[..., 0] < h + half_g)
                & (gp[..., 1] > -half_g) & (gp[..., 1] < w + half_g)
            )  # fmt: skip
            ti, gi = np.nonzero(near)
            gs = gran_sig[gi]
            splat_gaussians(
                img, ti, gp[ti, gi], gran_amp[gi] * gamp * bleach[t0 + ti],
                gaussian_inverse_cov(gs, gs, np.zeros_like(gs)), half_g,
            )  # fmt: skip
            out = green if chan == "g" else red
            out[sl] = camera(img, r_noise, **cam)

    in_view = (pos_g[..., 0] >= 0) & (pos_g[..., 0] <= h - 1)
    in_view &= (pos_g[..., 1] >= 0) & (pos_g[..., 1] <= w - 1)
    k_sub = np.linspace(0, len(s_grid) - 1, 60).round().astype(int)
    truth = WormTruth(
        positions=pos_g,
        activity=activity,
        spikes=spikes,
        stage_um=stage,
        misalignment=misalignment,
        neuron_ids=[f"n{i:02d}" for i in range(N)],
        red_positions=pos_r,
        focus=focus,
        green_intensity=green_int,
        red_intensity=red_int,
        in_view=in_view,
        centerline=cl_g[:, k_sub],
        head_angle_deg=np.rad2deg(swing),
        sigma_px=np.stack([sig_major, sig_minor], axis=1),
        ensemble_members=[[f"n{i:02d}" for i in g] for g in groups],
        ensemble_events=group_events,
    )
    return WormRecording(green, red, float(fps), float(pixel_size_um), truth, params)


def _tube(cl: np.ndarray, r_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Soft-edged tube of radius r_px[k] around centerline points cl (T, K, 2), values 0..1.

    Computed on a 1/f grid with a Euclidean distance transform (nearest centerline point gives the
    local radius) and upsampled: the body is smooth, so this loses nothing visible and is fast.
    """
    h, w = shape
    f = 2
    nt = cl.shape[0]
    pad = int(np.ceil(r_px.max() / f)) + 3
    hs, ws = -(-h // f) + 2 * pad, -(-w // f) + 2 * pad
    out = np.empty((nt, hs - 2 * pad, ws - 2 * pad), np.float32)
    for t in range(nt):
        q = (cl[t] - (f - 1) / 2) / f + pad
        iy, ix = np.rint(q[:, 0]).astype(int), np.rint(q[:, 1]).astype(int)
        ok = (iy >= 0) & (iy < hs) & (ix >= 0) & (ix < ws)
        lab = np.full((hs, ws), -1, np.int64)
        lab[iy[ok], ix[ok]] = np.nonzero(ok)[0]
        if not ok.any():
            out[t] = 0
            continue
        d, (jy, jx) = distance_transform_edt(lab < 0, return_indices=True)
        k = lab[jy, jx]
        v = 1 / (1 + np.exp(-(r_px[k] / f - d) / 1.5))
        out[t] = v[pad:-pad, pad:-pad]
    return np.ascontiguousarray(upsample2(out)[:, :h, :w])
