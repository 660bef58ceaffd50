"""Training the puncta network: simulated data (plus optional bootstrapped labels), three phases.

Phase 1 (localisation): encoder + localisation head on DECODE's loss, the background and the PSF
width. Phase 2 (calcium): the calcium head alone on the frozen encoder. Phase 3 (joint): every
weight, the four task losses weighted by Kendall's learned uncertainties. Each phase has its own
one-cycle schedule with the project's AdamW (`core/optim.py`, never torch.optim).

Data: fresh simulated clips (`synthetic/puncta.py`) every `REFRESH` steps, each with its own
density, brightness, background, PSF (Gaussian or Airy, width +-20 %), camera (sCMOS or EMCCD),
calcium signals and diffuse calcium events, so the network sees the range it will meet. A
curriculum makes the scenes denser as phase 1 goes on (up to `max_density` halfway through it);
half the scenes are dim (`min_photons`..800 photons), because dense and dim is where a network
should beat the classical fitter; most frames carry a diffuse calcium event (the negatives the
calcium head must learn to ignore). Bootstrapped labels (e.g. a ThunderSTORM table of a real
movie) join phases 1 and 3 as crops whose calcium is unknown. After training, the position
uncertainties are calibrated on held-out clips (`calibrate.py`). Reproducible: the same seed and
parameters give the same weights (single-threaded torch).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from napari_catrack.core.optim import AdamW, one_cycle
from napari_catrack.core.puncta.camera import CameraModel
from napari_catrack.core.puncta.inputs import (
    BASELINE_HALF,
    input_options,
    network_input,
    normalisation,
)
from napari_catrack.core.puncta.loss import make_kendall, pad_targets, task_losses
from napari_catrack.core.puncta.network import NetConfig, make_network
from napari_catrack.core.puncta.params import TrainPunctaParams
from napari_catrack.core.puncta.scenes import CLIP_FRAMES, random_scene
from napari_catrack.errors import InputError, check_cancelled

REFRESH = 100  # steps between fresh simulated pools
POOL_CLIPS = 48  # at most; small batches (tests) use fewer
JOINT_LR = 0.25  # phase 3 fine-tunes a trained network: a quarter of the peak learning rate


@dataclass
class Samples:
    """Network inputs with their targets (emitters: x, y, photons (network units), sigma,
    calcium (1/0, -1 unknown)) and normalised background."""

    inputs: np.ndarray  # (N, C, P, P) float32
    emitters: list = field(default_factory=list)
    background: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.inputs)


def simulate_samples(
    rng: np.random.Generator, n_clips: int, tp: TrainPunctaParams, config, hardness: float = 1.0
) -> Samples:
    """Training samples from `n_clips` fresh simulated clips (`config`: the network's)."""
    from napari_catrack.synthetic.puncta import make_puncta_recording

    inputs, emitters, background = [], [], []
    frames = np.arange(BASELINE_HALF, CLIP_FRAMES - BASELINE_HALF)
    for _ in range(n_clips):
        cfg = random_scene(rng, tp, hardness)
        rec = make_puncta_recording(cfg, seed=int(rng.integers(2**31)))
        puncta = cfg.camera.to_photons(rec.puncta)
        calcium = cfg.camera.to_photons(rec.calcium)
        pn, cn = normalisation(puncta), normalisation(calcium)
        inputs.append(network_input(puncta, calcium, frames, pn, cn,
                                    **input_options(config, cfg.camera)))  # fmt: skip
        em = rec.truth.emitters
        for t in frames:
            e = em[em.frame == t]
            emitters.append(np.column_stack([
                e.x, e.y, e.photons / pn[1] / config.photon_scale, e.sigma, e.calcium,
            ]).astype(np.float32))  # fmt: skip
            background.append((cfg.background - pn[0]) / pn[1])
    return Samples(np.concatenate(inputs), emitters, np.asarray(background, np.float32))


def bootstrap_samples(
    puncta_adu, calcium_adu, camera: CameraModel, locs, patch: int, rng, n: int, config=None
) -> Samples:
    """Crops of a real movie with localisations (internal table, e.g. from a ThunderSTORM CSV)
    as labels: positions, photons and widths are trusted, calcium is unknown (-1). `config`:
    the network's (default: a new one's)."""
    config = config or NetConfig()
    photon_scale = config.photon_scale
    puncta = camera.to_photons(np.asarray(puncta_adu))
    calcium = None if calcium_adu is None else camera.to_photons(np.asarray(calcium_adu))
    t_n, h, w = puncta.shape
    if h < patch or w < patch:
        raise InputError(f"the labelled movie ({h} x {w}) is smaller than the {patch} px patch")
    labelled = np.unique(locs["frame"].to_numpy(int))
    labelled = labelled[(labelled >= 0) & (labelled < t_n)]
    if labelled.size == 0:
        raise InputError("the bootstrapped labels name no frame of the movie")
    pn = normalisation(puncta[:: max(1, t_n // 50)])
    cn = normalisation(calcium[:: max(1, t_n // 50)]) if calcium is not None else (0.0, 1.0)
    bg = float(np.nanmedian(locs["background"])) if "background" in locs else pn[0]
    inputs, emitters = [], []
    for _ in range(n):
        t = int(rng.choice(labelled))
        r0, c0 = int(rng.integers(0, h - patch + 1)), int(rng.integers(0, w - patch + 1))
        x = network_input(puncta, calcium, np.array([t]), pn, cn, **input_options(config, camera))[
            :, :, r0 : r0 + patch, c0 : c0 + patch
        ]
        inputs.append(x)
        e = locs[locs["frame"] == t]
        ex, ey = e["x"].to_numpy(float) - c0, e["y"].to_numpy(float) - r0
        keep = (ex >= -0.5) & (ex < patch - 0.5) & (ey >= -0.5) & (ey < patch - 0.5)
        sig = e["sigma"].to_numpy(float) if "sigma" in e else np.full(len(e), 1.2)
        emitters.append(np.column_stack([
            ex[keep], ey[keep], e["photons"].to_numpy(float)[keep] / pn[1] / photon_scale,
            sig[keep], np.full(int(keep.sum()), -1.0),
        ]).astype(np.float32))  # fmt: skip
    background = np.full(n, (bg - pn[0]) / pn[1], np.float32)
    return Samples(np.concatenate(inputs), emitters, background)


PHASES = (
    ("localization", ("localization", "background", "sigma")),
    ("calcium", ("calcium",)),
    ("joint", ("localization", "background", "sigma", "calcium")),
)


def train_network(
    tp: TrainPunctaParams | None = None,
    *,
    bootstrap: Samples | None = None,
    meta: dict | None = None,
    progress: Callable | None = None,
    cancel: Callable | None = None,
):
    """Train a new network (see the module docstring); returns it with provenance in its config."""
    from napari_catrack.core.puncta.network import _torch

    torch = _torch()

    tp = tp or TrainPunctaParams()
    rng = np.random.default_rng(tp.seed)
    torch.manual_seed(tp.seed)
    config = NetConfig(base_channels=tp.base_channels)
    net = make_network(config)
    kendall = make_kendall()
    steps = {"localization": tp.steps_localization, "calcium": tp.steps_calcium,
             "joint": tp.steps_joint}  # fmt: skip
    total = sum(steps.values())
    if total == 0:
        raise InputError("nothing to train: every phase has 0 steps")
    history: list[dict] = []
    done = 0
    t0 = time.perf_counter()
    pool = None
    for phase, tasks in PHASES:
        n_steps = steps[phase]
        if n_steps == 0:
            continue
        for p in net.encoder.parameters():
            p.requires_grad_(phase != "calcium")
        if phase == "localization":
            params = [*net.encoder.parameters(), *net.loc_head.parameters()]
        elif phase == "calcium":
            params = list(net.calcium_head.parameters())
        else:
            params = [*net.parameters(), *kendall.parameters()]
        opt = AdamW(params, weight_decay=1e-4)
        running: dict[str, list[float]] = {t: [] for t in tasks}
        net.train()
        for step in range(n_steps):
            check_cancelled(cancel, "training")
            if pool is None or done % REFRESH == 0:
                clips = min(POOL_CLIPS, 3 * tp.batch_size)
                hardness = done / max(0.5 * tp.steps_localization, 1)
                pool = simulate_samples(rng, clips, tp, config, hardness)
            batch = _batch(pool, bootstrap if phase != "calcium" else None, tp.batch_size, rng)
            out = net(torch.from_numpy(batch.inputs))
            emitters, mask = pad_targets(batch.emitters)
            losses = task_losses(
                out, emitters, mask, torch.from_numpy(batch.background)[:, None, None]
            )
            if phase == "joint":
                loss = kendall(losses)
            else:
                loss = sum(losses[t] for t in tasks)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            peak = tp.learning_rate * (JOINT_LR if phase == "joint" else 1.0)
            opt.step(one_cycle(step, n_steps, peak))
            for t in tasks:
                running[t].append(float(losses[t].detach()))
            done += 1
            if (step + 1) % 50 == 0 or step + 1 == n_steps:
                row = {"phase": phase, "step": step + 1,
                       **{t: round(float(np.mean(v[-50:])), 4) for t, v in running.items()}}  # fmt: skip
                if phase == "joint":
                    row["kendall_weights"] = kendall.weights()
                history.append(row)
            if progress is not None:
                shown = ", ".join(f"{t} {np.mean(v[-20:]):.3f}" for t, v in running.items())
                progress(done, total, f"{phase} {step + 1}/{n_steps}: {shown}")
    for p in net.parameters():
        p.requires_grad_(True)
    net.eval()
    calibration = {}
    if tp.calibration_clips > 0:
        from napari_catrack.core.puncta.calibrate import apply_calibration, calibrate_uncertainty

        check_cancelled(cancel, "training")
        if progress is not None:
            progress(total, total, f"calibrating on {tp.calibration_clips} held-out clips")
        calibration = calibrate_uncertainty(
            net, tp, np.random.default_rng([tp.seed, 1]), tp.calibration_clips
        )
        apply_calibration(net, calibration)
    info = {
        **(meta or {}),
        "train_params": tp.to_dict(),
        "history": history,
        "kendall_weights": kendall.weights(),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
        "bootstrapped_samples": len(bootstrap) if bootstrap is not None else 0,
        "calibration": calibration,
    }
    net.config = NetConfig(**{**net.config.__dict__, "meta": info})
    return net


def _batch(pool: Samples, extra: Samples | None, size: int, rng) -> Samples:
    """A random batch from the simulated pool, a quarter from `extra` when given."""
    n_extra = size // 4 if extra is not None and len(extra) else 0
    idx = rng.integers(0, len(pool), size - n_extra)
    inputs = [pool.inputs[idx]]
    emitters = [pool.emitters[i] for i in idx]
    background = [pool.background[idx]]
    if n_extra:
        j = rng.integers(0, len(extra), n_extra)
        inputs.append(extra.inputs[j])
        emitters += [extra.emitters[i] for i in j]
        background.append(extra.background[j])
    x = np.concatenate(inputs)
    for axis in (0, 1):  # mirror the whole batch in x and/or y: the physics has no handedness
        if rng.random() < 0.5:
            x = np.flip(x, axis=-1 - axis)
            size = x.shape[-1 - axis]
            emitters = [_mirror(e, axis, size) for e in emitters]
    return Samples(np.ascontiguousarray(x), emitters, np.concatenate(background))


def _mirror(e: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Emitters (x, y, ...) mirrored along x (axis 0) or y (axis 1) of a `size`-px patch."""
    if not len(e):
        return e
    e = e.copy()
    e[:, axis] = size - 1 - e[:, axis]
    return e
