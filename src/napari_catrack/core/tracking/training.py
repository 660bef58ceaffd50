"""Train the tracker CNN on synthetic recordings, or fine-tune it on a user's corrected tracks.

Training pairs come from consecutive frames (both directions, since tracking runs backward too):
the previous patch sits on the neuron, the current patch on a position perturbed by a few pixels
(what global motion leaves), and the target is the true offset. CPU-only and short by design.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from scipy import ndimage as ndi

from napari_catrack.core.optim import AdamW, cosine_annealing
from napari_catrack.core.tracking.model import DEFAULT_CONFIG, TrackerNet
from napari_catrack.core.tracking.motion import extract_patches
from napari_catrack.core.tracking.params import TrainTrackerParams
from napari_catrack.errors import InputError


def make_samples(
    stack, positions: np.ndarray, patch: int, rng: np.random.Generator, *,
    max_offset: float = 4.0, sigma: float = 1.0, stride: int = 1,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(prev, cur) patch pairs (M, 2, P, P) and offsets (M, 2) from a stack + positions (T, N, 2)."""
    T = positions.shape[0]
    frames = np.asarray(stack, dtype=np.float32)
    smooth = [ndi.gaussian_filter(f, sigma) for f in frames]
    xs, ys = [], []
    for t in range(0, T - 1, stride):
        for a, b in ((t, t + 1), (t + 1, t)):
            ok = np.isfinite(positions[a]).all(1) & np.isfinite(positions[b]).all(1)
            if not ok.any():
                continue
            p, nxt = positions[a, ok], positions[b, ok]
            p_obs = p + rng.normal(0, 0.3, p.shape)
            q = nxt + rng.uniform(-max_offset, max_offset, nxt.shape)
            xs.append(
                np.stack(
                    [
                        extract_patches(smooth[a], p_obs, patch),
                        extract_patches(smooth[b], q, patch),
                    ],
                    axis=1,
                )
            )
            ys.append(nxt - np.rint(q) - (p_obs - np.rint(p_obs)))
    if not xs:
        raise InputError("no usable frame pairs to train on (need tracks in consecutive frames)")
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


def fit(
    model: TrackerNet, x: np.ndarray, y: np.ndarray, *, epochs: int = 4, lr: float = 2e-3,
    batch: int = 256, seed: int = 0, log: Callable[[str], None] | None = None,
) -> list[float]:  # fmt: skip
    """Adam (the project's AdamW without weight decay) + smooth-L1 on (x, y), cosine-annealed
    learning rate; returns the per-epoch mean loss. Never torch.optim: it imports triton, which
    crashes napari under Mesa, and fine-tuning runs inside napari."""
    torch.manual_seed(seed)
    xt = TrackerNet.prepare(x[:, 0], x[:, 1], model.config["patch"])
    yt = torch.from_numpy(y)
    opt = AdamW(model.parameters(), weight_decay=0.0)
    total = max(1, epochs * (len(xt) // batch + 1))
    step = 0
    gen = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for ep in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        tot = 0.0
        for i in range(0, len(xt), batch):
            j = perm[i : i + batch]
            loss = torch.nn.functional.smooth_l1_loss(model(xt[j]), yt[j])
            opt.zero_grad()
            loss.backward()
            opt.step(cosine_annealing(step, total, lr))
            step += 1
            tot += loss.item() * len(j)
        losses.append(tot / len(xt))
        if log:
            log(f"epoch {ep + 1}/{epochs}: loss {losses[-1]:.4f}")
    model.eval()
    return losses


def train_on_synthetic(
    params: TrainTrackerParams | None = None, *, log: Callable[[str], None] | None = None
) -> TrackerNet:
    """Train a fresh TrackerNet on `recordings` synthetic moving worms (seeds seed*1000 + i)."""
    from napari_catrack.synthetic import make_worm_recording

    p = params or TrainTrackerParams()
    seed, recordings, epochs, n_frames = p.seed, p.recordings, p.epochs, p.frames
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    patch = DEFAULT_CONFIG["patch"]
    xs, ys = [], []
    t0 = time.perf_counter()
    for i in range(recordings):
        rec = make_worm_recording(
            n_frames=n_frames, shape=(192, 192), n_neurons=int(rng.integers(10, 21)),
            seed=seed * 1000 + i, max_jump_px=15.0,
        )  # fmt: skip
        x, y = make_samples(rec.red, rec.truth.red_positions, patch, rng)
        xs.append(x)
        ys.append(y)
        if log:
            log(f"recording {i + 1}/{recordings}: {len(x)} samples")
    model = TrackerNet(
        **DEFAULT_CONFIG,
        trained_on="synthetic make_worm_recording (red channel)",
        seed=seed, recordings=recordings, epochs=epochs, n_frames=n_frames, params=p.to_dict(),
        command=shlex.join(["catrack", "train-tracker", "-o", "DIR", *p.cli_options()]),
    )  # fmt: skip
    losses = fit(
        model, np.concatenate(xs), np.concatenate(ys), epochs=epochs, lr=p.lr, seed=seed, log=log
    )
    model.meta.update(
        final_loss=round(losses[-1], 5), train_seconds=round(time.perf_counter() - t0)
    )
    return model


def fine_tune(
    model: TrackerNet, recording, tracks: pd.DataFrame, *, epochs: int = 3, lr: float = 5e-4,
    seed: int = 0, log: Callable[[str], None] | None = None,
) -> TrackerNet:  # fmt: skip
    """Fine-tune a copy of `model` on a user's curated tracks (`neuron_id,frame,y,x`) of `recording`."""
    need = {"neuron_id", "frame", "y", "x"}
    if not need <= set(tracks.columns):
        raise InputError(f"tracks need columns {', '.join(sorted(need))}")
    T = recording.shape[0]
    ids = list(dict.fromkeys(tracks.neuron_id))
    pos = np.full((T, len(ids), 2), np.nan)
    ni = tracks.neuron_id.map({n: i for i, n in enumerate(ids)}).to_numpy()
    fr = tracks.frame.to_numpy().astype(int)
    if (fr < 0).any() or (fr >= T).any():
        raise InputError(f"track frames must lie in 0..{T - 1}")
    pos[fr, ni] = tracks[["y", "x"]].to_numpy(dtype=float)
    x, y = make_samples(recording, pos, model.config["patch"], np.random.default_rng(seed))
    tuned = TrackerNet(**model.config, **{**model.meta, "fine_tuned": True})
    tuned.load_state_dict(model.state_dict())
    fit(tuned, x, y, epochs=epochs, lr=lr, seed=seed, log=log)
    return tuned
