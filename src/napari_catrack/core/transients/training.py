"""Training transient detectors: random crops, augmentation, masked BCE and the project's AdamW.

`CropSampler` draws training windows from labelled traces. Each crop is a stretch of a trace at
its own rate, changed the way recordings differ (`Augmentation`), then turned into model inputs
by the same `model_inputs` as at detection time, so training sees exactly what inference sees:

- noise added up to a random level (Cascade's recipe: shot-like Gaussian noise, up to
  `max_nu` % Hz^-1/2), extra pink (1/f) noise, a slow drift;
- smoothing a user may already have applied (Savitzky-Golay 0.1-0.6 s, wavelet shrinkage),
  with the labels kept: the detector must find transients in denoised traces too;
- pure-noise crops (white or pink, raw or smoothed) with no label at all, so it learns to stay
  quiet where there is nothing to find.

Crops are shared equally between groups (datasets) when several are given, as Cascade balances
its ground-truth datasets, so a large dataset does not decide what a transient looks like.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import savgol_filter

from napari_catrack.core.signals.noise import standardized_noise
from napari_catrack.errors import InputError, check_cancelled

from .groundtruth import add_noise_to_level
from .learned import DetectorConfig, TransientDetector, build_detector, detector_from_bytes
from .model_input import label_grid, model_inputs
from .params import TrainDetectorParams
from .prepare import check_fps

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class TrainingTrace:
    """A labelled trace: dF/F at `fps`, rising-phase intervals in seconds, and its group.

    `ignore_s`: intervals (s) left out of the loss, neither event nor background (e.g. isolated
    single spikes when a detector is trained for bursts: firing there is neither rewarded nor
    punished)."""

    dff: np.ndarray
    fps: float
    intervals_s: np.ndarray
    group: str = ""
    ignore_s: np.ndarray | None = None


@dataclass(frozen=True)
class Augmentation:
    """Probabilities (per crop) and ranges of the changes applied before a crop is seen."""

    add_noise: float = 0.7  # add noise up to a level drawn log-uniformly up to max_nu
    max_nu: float = 8.0
    pink: float = 0.25  # add pink noise at 0.3-1x the crop's noise level
    drift: float = 0.15  # add a slow sinusoidal drift (10-60 s period)
    savgol: float = 0.2  # Savitzky-Golay smoothing, 0.1-0.6 s
    wavelet: float = 0.1  # wavelet shrinkage (BayesShrink)
    noise_only: float = 0.25  # replace the crop by pure noise, no labels

    @classmethod
    def none(cls) -> Augmentation:
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


COLORED_SPAN_S = 600.0  # pink noise is drawn over 10 min: its slow wander is part of it
WAVELET_CROP_S = 300.0  # wavelet shrinkage acts on long traces: denoise 5 min, keep a crop


def _smooth(y: np.ndarray, fps: float, rng: np.random.Generator, kind: str) -> np.ndarray:
    """Savitzky-Golay (0.1-0.6 s, order 2 or 3) or wavelet shrinkage at a random depth."""
    if kind == "savgol":
        w = max(5, round(rng.uniform(0.1, 0.6) * fps)) | 1
        return (
            savgol_filter(y, w, 2 if rng.random() < 0.7 else 3, mode="nearest") if w < y.size else y
        )
    if kind == "wavelet" and y.size >= 64:
        import pywt

        from napari_catrack.core.signals.denoise import denoise_wavelet

        top = pywt.dwt_max_level(y.size, pywt.Wavelet("sym4").dec_len)
        return denoise_wavelet(y, levels=int(rng.integers(min(3, top), top + 1)))
    return y


class CropSampler:
    """Random training windows (model inputs, conditioning, labels, mask) from labelled traces."""

    def __init__(
        self,
        traces: Sequence[TrainingTrace],
        rate: float,
        window: int,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        crop_s: float = 40.0,
        baseline_window_s: float = 30.0,
    ):
        self.traces = [t for t in traces if np.asarray(t.dff).size >= 8]
        if not self.traces:
            raise InputError("no usable traces to train on (all empty)")
        self.rate, self.window, self.crop_s = float(rate), int(window), float(crop_s)
        self.aug = augmentation or Augmentation.none()
        self.rng = np.random.default_rng(seed)
        self.baseline_window_s = baseline_window_s
        groups: dict[str, list[int]] = {}
        for i, t in enumerate(self.traces):
            groups.setdefault(t.group, []).append(i)
        self.groups = list(groups.values())
        # within a group, a trace is drawn in proportion to its duration
        self.weights = [
            np.array([self.traces[i].dff.size / self.traces[i].fps for i in g]) for g in self.groups
        ]
        self.weights = [w / w.sum() for w in self.weights]

    def crop(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One window: (inputs (C, W), conditioning (K,), labels (W,), mask (W,))."""
        rng, aug = self.rng, self.aug
        g = int(rng.integers(len(self.groups)))
        tr = self.traces[self.groups[g][rng.choice(len(self.groups[g]), p=self.weights[g])]]
        fps = tr.fps
        noise_only = rng.random() < aug.noise_only
        # smoothed noise is what fools detectors: pure-noise crops are smoothed more often
        u = rng.random() * (0.5 if noise_only else 1.0)
        smoothing = (
            "savgol" if u < aug.savgol else "wavelet" if u < aug.savgol + aug.wavelet else ""
        )
        n = max(8, round((WAVELET_CROP_S if smoothing == "wavelet" else self.crop_s) * fps))
        a = int(rng.integers(0, max(1, tr.dff.size - n + 1)))
        y = np.asarray(tr.dff[a : a + n], dtype=np.float64)
        y = np.where(np.isfinite(y), y, np.nanmedian(y))
        iv = np.asarray(tr.intervals_s, float).reshape(-1, 2) - a / fps
        ig = np.zeros((0, 2)) if tr.ignore_s is None else np.asarray(tr.ignore_s, float)
        ig = ig.reshape(-1, 2) - a / fps
        if noise_only:
            y, iv, ig = self._pure_noise(y.size, fps), np.zeros((0, 2)), np.zeros((0, 2))
        else:
            nu = float(standardized_noise(y[None], fps)[0])
            if rng.random() < aug.add_noise and aug.max_nu > nu > 0:
                target = math.exp(rng.uniform(math.log(nu), math.log(aug.max_nu)))
                y = add_noise_to_level(y, fps, target, rng)
            if rng.random() < aug.pink:
                level = standardized_noise(y[None], fps)[0] * rng.uniform(0.3, 1.0)
                y = y + self._colored(y.size, fps, level)
        if rng.random() < aug.drift:
            sd = max(float(standardized_noise(y[None], fps)[0]), 1e-6) / 100 * math.sqrt(fps)
            t = np.arange(y.size) / fps
            phase = 2 * np.pi * t / rng.uniform(10, 60) + rng.uniform(0, 7)
            y = y + rng.normal(0, 3) * sd * np.sin(phase)
        y = _smooth(y, fps, rng, smoothing)
        keep = max(8, round(self.crop_s * fps))
        if y.size > keep:  # the long wavelet crop: keep a crop_s stretch of it
            b0 = int(rng.integers(0, y.size - keep + 1))
            y, iv, ig = y[b0 : b0 + keep], iv - b0 / fps, ig - b0 / fps
        x, cond = model_inputs(y[None], fps, self.rate, self.baseline_window_s)
        x, cond = x[0], cond[0]
        lab = label_grid(iv, x.shape[1], self.rate)
        mask = np.ones(x.shape[1], np.float32)
        if ig.size:  # ignored stretches leave the loss, unless they are also labelled events
            mask[(label_grid(ig, x.shape[1], self.rate) > 0) & (lab == 0)] = 0.0
        w = self.window
        if x.shape[1] < w:  # short trace: pad, and keep the padding out of the loss
            pad = w - x.shape[1]
            x, lab, mask = (
                np.pad(x, ((0, 0), (0, pad))),
                np.pad(lab, (0, pad)),
                np.pad(mask, (0, pad)),
            )
        b = int(rng.integers(0, x.shape[1] - w + 1))
        return x[:, b : b + w], cond, lab[b : b + w], mask[b : b + w]

    def batch(self, n: int) -> tuple[np.ndarray, ...]:
        return tuple(np.stack(z) for z in zip(*(self.crop() for _ in range(n))))

    def _colored(self, n: int, fps: float, nu: float) -> np.ndarray:
        """Pink-ish noise (1/f^0.5 to 1/f^1.5) at standardised level `nu`: a stretch of a
        10-minute series, so it wanders as slowly as a long recording's noise does."""
        from napari_catrack.synthetic.noise import noise_traces

        long = max(n, round(COLORED_SPAN_S * fps))
        x = noise_traces(1, long, fps, nu, "pink", self.rng, self.rng.uniform(0.5, 1.5))[0]
        a = int(self.rng.integers(0, long - n + 1))
        return x[a : a + n]

    def _pure_noise(self, n: int, fps: float) -> np.ndarray:
        """White or pink-ish noise at a random level around a random offset."""
        nu = math.exp(self.rng.uniform(math.log(0.3), math.log(max(self.aug.max_nu, 0.31))))
        if self.rng.random() < 0.5:
            from napari_catrack.synthetic.noise import noise_traces

            y = noise_traces(1, n, fps, nu, "white", self.rng)[0]
        else:
            y = self._colored(n, fps, nu)
        return y + self.rng.normal(0, 0.2)


class CropPool:
    """Crops drawn once (e.g. per ground-truth dataset) and re-sampled at random by `batch`:
    augmentation costs more than a training step on a CPU, and leave-one-dataset-out training
    reuses every dataset's crops in 29 of 30 folds. Pools are combined with `concat`."""

    def __init__(
        self, x: np.ndarray, cond: np.ndarray, y: np.ndarray, mask: np.ndarray, seed: int = 0
    ):
        self.x, self.cond, self.y, self.mask = x, cond, y, mask
        self.groups = np.zeros(len(x), np.int64)
        self.shares: np.ndarray | None = None  # None: every group an equal share
        self.rng = np.random.default_rng(seed)

    @classmethod
    def draw(cls, sampler: CropSampler, n: int) -> CropPool:
        x, cond, y, mask = sampler.batch(n)
        return cls(x.astype(np.float16), cond, y.astype(bool), mask.astype(bool))

    @classmethod
    def concat(
        cls, pools: Sequence[CropPool], seed: int = 0, shares: Sequence[float] | None = None
    ) -> CropPool:
        """One pool whose batches take an equal share from each of `pools` (datasets), or the
        given `shares` (e.g. a pure-noise pool given a fixed fraction of every batch)."""
        out = cls(
            *(np.concatenate([getattr(p, k) for p in pools]) for k in ("x", "cond", "y", "mask")),
            seed=seed,
        )
        out.groups = np.concatenate([np.full(len(p.x), i) for i, p in enumerate(pools)])
        if shares is not None:
            w = np.asarray(shares, float)
            if w.shape != (len(pools),) or (w < 0).any() or not w.sum() > 0:
                raise InputError(f"need one non-negative share per pool, got {list(shares)}")
            out.shares = w / w.sum()
        return out

    def batch(self, n: int) -> tuple[np.ndarray, ...]:
        starts = np.r_[0, np.cumsum(np.bincount(self.groups))]
        if self.shares is None:
            g = self.rng.integers(len(starts) - 1, size=n)
        else:
            g = self.rng.choice(len(starts) - 1, size=n, p=self.shares)
        idx = starts[g] + (self.rng.random(n) * (starts[g + 1] - starts[g])).astype(np.int64)
        return (
            self.x[idx].astype(np.float32),
            self.cond[idx],
            self.y[idx].astype(np.float32),
            self.mask[idx].astype(np.float32),
        )


def fit(
    net,
    sampler: CropSampler | CropPool,
    steps: int,
    *,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    device: str = "cpu",
) -> dict:
    """Train `net` in place on `steps` batches; returns a summary (losses, time, skipped steps).

    A non-finite loss or gradient skips that batch instead of ruining the weights. `cancel`
    (checked every batch) raises `errors.Cancelled`; the caller keeps its previous detector.
    `device` ("cpu", "cuda", "cuda:1"): where the arithmetic runs; the net is back on the CPU
    when this returns (so it saves and loads anywhere)."""
    from napari_catrack.core.optim import AdamW, one_cycle

    from .networks import torch_module

    torch = torch_module()
    torch.manual_seed(seed)
    dev = torch.device(device)
    net.to(dev)
    opt = AdamW(list(net.parameters()), weight_decay=1e-4)
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none")
    t0 = time.perf_counter()
    losses, skipped, recent = [], 0, []
    net.train()
    try:
        for step in range(steps):
            check_cancelled(cancel, "detector training")
            x, cond, y, m = (torch.from_numpy(a).to(dev) for a in sampler.batch(batch_size))
            loss = (lossf(net(x, cond), y) * m).sum() / m.sum().clamp(min=1.0)
            opt.zero_grad()
            if not torch.isfinite(loss):
                skipped += 1
                continue
            loss.backward()
            if not torch.isfinite(torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)):
                skipped += 1
                continue
            opt.step(one_cycle(step, steps, learning_rate))
            recent.append(float(loss.detach()))
            if len(recent) == 50 or step == steps - 1:
                losses.append(round(float(np.mean(recent)), 4))
                recent = []
            if progress is not None:  # the last 50-step mean; before step 50 the mean so far
                # (there is no 50-step mean yet: it said "loss nan", h22 walk)
                shown = losses[-1] if losses else float(np.mean(recent))
                progress(step + 1, steps, f"step {step + 1}/{steps} loss {shown:.3f}")
    finally:
        net.eval()
        net.to("cpu")
    return {
        "steps": steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "loss_every_50_steps": losses,
        "skipped_steps": skipped,
        "train_seconds": round(time.perf_counter() - t0, 1),
        **({"device": str(dev)} if dev.type != "cpu" else {}),
    }


# ----------------------------------------------------------------- curated cells (user data)


def intervals_from_table(table: pd.DataFrame, neuron_ids: Sequence, fps: float) -> list[np.ndarray]:
    """Per neuron (in `neuron_ids` order), the start-to-peak interval of each transient, in s."""
    fps = check_fps(fps)
    for col in ("neuron_id", "start_frame", "peak_frame"):
        if col not in table.columns:
            raise InputError(f"transient table has no {col!r} column")
    backwards = table[table["start_frame"] > table["peak_frame"]]
    if len(backwards):
        raise InputError(
            f"{len(backwards)} transient(s) start after their peak (neuron "
            f"{backwards['neuron_id'].iloc[0]}, first): a transient rises from start_frame to "
            "peak_frame; fix the table"
        )
    by_id = {str(k): g for k, g in table.groupby(table["neuron_id"].astype(str))}
    out = []
    for nid in neuron_ids:
        g = by_id.get(str(nid))
        out.append(
            np.zeros((0, 2))
            if g is None
            else g[["start_frame", "peak_frame"]].to_numpy(float) / fps
        )
    return out


def labelled_found(
    det, traces: Sequence[np.ndarray], fps: float, intervals_s: Sequence[np.ndarray]
) -> tuple[int, int, int]:
    """(found, labelled, called): how many of the labelled rises (start-to-peak intervals in s, one
    list per trace, as `training_data` gives them) the detector `det` finds on the traces it was
    trained on: a transient it calls (`det.detect`, its own threshold) whose start-to-peak
    frames overlap the rise (within a frame), each call matched to one rise at most (a run over
    a whole trace finds one). An in-sample check, not a score: a detector that finds few of its
    own labels, or calls many more transients than were labelled, was trained too briefly (h22
    walk: 20 steps from scratch on the demo found 0 of 111; one step on clean traces, 6 of 6
    with 27 calls)."""
    found = total = called = 0
    for y, iv in zip(traces, intervals_s, strict=True):
        iv = np.asarray(iv, float).reshape(-1, 2)
        if not len(iv):
            continue
        total += len(iv)
        calls = det.detect(np.asarray(y, float), fps, features=False)
        called += len(calls)
        free = list(zip(calls["start_frame"].to_numpy(), calls["peak_frame"].to_numpy(),
                        strict=True))  # fmt: skip
        for start_s, peak_s in iv:
            a, b = np.floor(start_s * fps) - 1, np.ceil(peak_s * fps) + 1
            hit = next((k for k, (s0, p0) in enumerate(free) if s0 <= b and p0 >= a), None)
            if hit is not None:
                found += 1
                free.pop(hit)
    return found, total, called


def undertrained(
    det, traces: Sequence[np.ndarray], fps: float, intervals_s: Sequence[np.ndarray]
) -> str | None:
    """What `labelled_found` says of a detector just trained, when it finds fewer than half of
    its own labels or calls more than twice as many transients ("the detector finds 0 of the
    111 labelled transients ..."), else None: the check `catrack train-detector` and the
    Transients widget's "Train on curated cells" run after training (each adds its own way to
    train longer)."""
    found, labelled, called = labelled_found(det, traces, fps, intervals_s)
    if found < 0.5 * labelled or called > 2 * labelled:
        return (
            f"the detector finds {found} of the {labelled} labelled transients on the traces it "
            f"was trained on, and calls {called} in all"
        )
    return None


def training_data(
    dff: np.ndarray,
    neuron_ids: Sequence,
    table: pd.DataFrame,
    fps: float,
    statuses: dict | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], list]:
    """(traces, rise intervals in s, neuron ids) of the cells to learn from.

    The user's verdicts decide: when any cell is "accepted", only accepted cells are used
    (their transients were reviewed); otherwise every cell that is not "rejected". Frames in
    `table` index the columns of `dff`.
    """
    x = np.asarray(dff, float)
    x = x[None] if x.ndim == 1 else x
    ids = list(neuron_ids)
    if len(ids) != x.shape[0]:
        raise InputError(f"got {len(ids)} neuron ids for {x.shape[0]} traces")
    status = {str(k): str(v) for k, v in (statuses or {}).items()}
    accepted = [i for i in ids if status.get(str(i)) == "accepted"]
    use = accepted or [i for i in ids if status.get(str(i)) != "rejected"]
    if not use:
        raise InputError("every cell is rejected: nothing to train on")
    rows = [ids.index(i) for i in use]
    return [x[r] for r in rows], intervals_from_table(table, use, fps), use


def train_detector(
    traces: Sequence[np.ndarray],
    fps: float | Sequence[float],
    intervals_s: Sequence[np.ndarray],
    config: DetectorConfig | None = None,
    params: TrainDetectorParams | None = None,
    *,
    augment: bool = True,
    init: TransientDetector | None = None,
    groups: Sequence[str] | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    should_stop: Callable[[], bool] | None = None,
    meta: dict | None = None,
    **changes,
) -> TransientDetector:
    """Train (or fine-tune a copy of `init`) on traces with rising-phase intervals (s).

    `params` (a `TrainDetectorParams`; keyword `changes` override single values) gives the
    training values (epochs, batch size, learning rate, seed) and, without `config`, the
    network. Each epoch draws random `window_s` crops covering the training frames about once
    (with the default `Augmentation` when `augment`). `groups` (one name per trace, e.g. the
    dataset) shares the crops equally between groups. `cancel()` raises `errors.Cancelled`;
    `should_stop()` instead ends training early and returns the model so far
    (`meta["stopped_early"]`)."""
    from napari_catrack.errors import Cancelled

    tp = TrainDetectorParams.resolve(params, **changes)
    epochs, batch_size, learning_rate, seed = tp.epochs, tp.batch_size, tp.learning_rate, tp.seed
    if config is None:
        config = DetectorConfig(**tp.network())

    # a copy: never change the caller's (or the cached shipped) detector in place
    det = detector_from_bytes(init.to_bytes()) if init is not None else build_detector(config, seed)
    cfg = det.config
    if cfg.inputs_version < 2:
        raise InputError("this detector predates the current inputs: train a new one")
    traces = [np.asarray(t, float).ravel() for t in traces]
    if not traces or len(traces) != len(intervals_s):
        raise InputError(
            f"need one interval list per trace, got {len(traces)} traces and {len(intervals_s)} lists"
        )
    rates = np.broadcast_to(np.asarray(fps, float), (len(traces),))
    for r in rates:
        check_fps(r)
    if epochs < 1 or batch_size < 1 or not learning_rate > 0:
        raise InputError("epochs and batch size must be >= 1 and the learning rate > 0")
    n_labels = sum(len(np.asarray(iv).reshape(-1, 2)) for iv in intervals_s)
    if n_labels == 0:
        raise InputError("no labelled transients to train on: mark or accept some first")
    if groups is not None and len(groups) != len(traces):
        raise InputError(f"got {len(groups)} group names for {len(traces)} traces")
    usable = [i for i, t in enumerate(traces) if t.size >= 8 and np.isfinite(t).any()]
    if not usable:
        raise InputError("no usable traces to train on (all empty or all NaN)")
    items = [
        TrainingTrace(traces[i], float(rates[i]), np.asarray(intervals_s[i], float),
                      "" if groups is None else str(groups[i]))
        for i in usable
    ]  # fmt: skip
    window = max(8, round(cfg.window_s * cfg.sample_rate_hz))
    sampler = CropSampler(
        items, cfg.sample_rate_hz, window, Augmentation() if augment else None, seed,
        baseline_window_s=cfg.baseline_window_s,
    )  # fmt: skip
    total = sum(t.dff.size / t.fps for t in items) * cfg.sample_rate_hz
    steps = epochs * max(1, int(np.ceil(total / window / batch_size)))

    def stop() -> bool:
        return bool(
            (cancel is not None and cancel()) or (should_stop is not None and should_stop())
        )

    stopped = False
    try:
        summary = fit(
            det.net, sampler, steps, batch_size=batch_size, learning_rate=learning_rate,
            seed=seed, progress=progress, cancel=stop,
        )  # fmt: skip
    except Cancelled:
        if cancel is not None and cancel():
            raise
        stopped, summary = True, {"loss_every_50_steps": [], "train_seconds": None}
    losses = summary["loss_every_50_steps"]
    det.meta = {
        **det.meta,
        **(meta or {}),
        **{k: v for k, v in summary.items() if k != "loss_every_50_steps"},
        "epochs": epochs,
        "stopped_early": stopped,
        "final_loss": losses[-1] if losses else None,
        "n_traces": len(items),
        "n_labelled_transients": int(n_labels),
        "train_frames_model_rate": int(total),
    }
    return det
