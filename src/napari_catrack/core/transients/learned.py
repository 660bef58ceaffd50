"""Trainable transient detectors (GRU, LSTM, local Transformer), CalTrig style.

A detector reads one dF/F trace and gives, per frame, the probability that the frame lies in
the RISING phase of a transient (onset to peak). Runs of frames above a threshold become
transients; the peak is the highest smoothed point of the run and the end comes from the same
walk-forward rule as the other detectors, so the output is the usual transient table
(`source == "model"`).

Portability across recordings: every trace is resampled to the detector's own rate
(`sample_rate_hz`, 30 Hz by default) and expressed in noise units (baseline removed, divided by
the frame-to-frame noise), so one model serves 10 Hz OGB-1 and 120 Hz jGCaMP8f alike and the
probabilities are mapped back onto the native frames.

Training labels are intervals in seconds per trace: from a curated transient table
(`intervals_from_table`, start to peak of each row) or from ground-truth spikes
(`intervals_from_spikes`). A detector is saved as ONE `.pt` file (config + state_dict), read
back with `torch.load(weights_only=True)`, and can also be stored as bytes in a session.
"""

from __future__ import annotations

import functools
import io
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d

from napari_catrack.core.optim import AdamW as _AdamW
from napari_catrack.core.optim import one_cycle as _one_cycle
from napari_catrack.core.signals.baselines import rolling_baseline
from napari_catrack.core.signals.denoise import smooth
from napari_catrack.core.signals.nan import fill_nan
from napari_catrack.core.signals.noise import robust_sd
from napari_catrack.errors import InputError
from napari_catrack.io.atomic import atomic_write_path

from .bounds import bounds_flat
from .params import TrainDetectorParams
from .prepare import Prepared, check_fps, neuron_ids_for, prepare
from .results import table_from_bounds
from .scoring import burst_spans

ARCHITECTURES = ("gru", "lstm", "transformer")
FORMAT = "napari-catrack transient detector"
FORMAT_VERSION = 1
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "transient_detector.pt"
Progress = Callable[[int, int, str], None]


@dataclass
class DetectorConfig:
    """Everything needed to rebuild a detector (stored in its file)."""

    arch: str = TrainDetectorParams.arch  # the network defaults are the training defaults
    hidden: int = TrainDetectorParams.hidden
    layers: int = TrainDetectorParams.layers
    heads: int = 4
    attention_window_s: float = 4.0  # transformer: attend to +- this much ("local transformer")
    sample_rate_hz: float = TrainDetectorParams.sample_rate_hz
    window_s: float = 30.0  # training crop and inference window
    margin_s: float = 3.0  # inference: this much context on each side is discarded
    baseline_window_s: float = 30.0
    threshold: float = 0.5
    min_gap_s: float = 0.1  # runs closer than this are one transient
    min_duration_s: float = 0.05

    def check(self) -> DetectorConfig:
        if self.arch not in ARCHITECTURES:
            raise InputError(
                f"unknown detector architecture {self.arch!r}; choose {', '.join(ARCHITECTURES)}"
            )
        for name in ("hidden", "layers", "heads"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"detector {name} must be >= 1, got {getattr(self, name)}")
        if self.arch == "transformer" and self.hidden % self.heads:
            raise InputError(f"hidden size {self.hidden} must be divisible by heads {self.heads}")
        if not 1.0 <= self.sample_rate_hz <= 1000.0:
            raise InputError(f"detector sample rate must be 1-1000 Hz, got {self.sample_rate_hz}")
        w = round(self.window_s * self.sample_rate_hz)
        if not (
            self.window_s > 0
            and self.margin_s > 0
            and w - 2 * round(self.margin_s * self.sample_rate_hz) >= 1
        ):
            raise InputError("detector window must be longer than twice its margin")
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"probability threshold must be in (0, 1), got {self.threshold}")
        return self


# --------------------------------------------------------------------------- the network


def _torch():
    from napari_catrack.optional import require

    return require("torch", "a learned transient detector")


@functools.cache
def _net_class():
    """Defined lazily so importing the transients package does not import torch."""
    torch = _torch()
    nn = torch.nn

    class TransientNet(nn.Module):
        """Conv front end (local shape) + bidirectional RNN or local Transformer + per-frame logit."""

        def __init__(self, cfg: DetectorConfig, in_channels: int = 2):
            super().__init__()
            h = cfg.hidden
            self.arch = cfg.arch
            self.front = nn.Sequential(
                nn.Conv1d(in_channels, h, 5, padding=2),
                nn.GELU(),
                nn.Conv1d(h, h, 5, padding=2),
                nn.GELU(),
            )
            if cfg.arch in ("gru", "lstm"):
                rnn = nn.GRU if cfg.arch == "gru" else nn.LSTM
                self.core = rnn(h, h, cfg.layers, batch_first=True, bidirectional=True)
                out = 2 * h
            else:
                layer = nn.TransformerEncoderLayer(
                    h, cfg.heads, dim_feedforward=2 * h, dropout=0.1, batch_first=True
                )
                self.core = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
                self.reach = max(1, round(cfg.attention_window_s * cfg.sample_rate_hz))
                out = h
            self.head = nn.Linear(out, 1)

        def _positions(self, n: int, h: int, device) -> torch.Tensor:
            pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
            freq = torch.exp(torch.arange(0, h, 2, device=device) * (-math.log(1e4) / h))
            pe = torch.zeros(n, h, device=device)
            pe[:, 0::2] = torch.sin(pos * freq)
            pe[:, 1::2] = torch.cos(pos * freq[: h // 2])
            return pe

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """(batch, channels, time) -> logits (batch, time)."""
            z = self.front(x).transpose(1, 2)
            if self.arch == "transformer":
                n, h = z.shape[1], z.shape[2]
                z = z + self._positions(n, h, z.device)
                i = torch.arange(n, device=z.device)
                far = (i[:, None] - i[None, :]).abs() > self.reach
                z = self.core(z, mask=far)
            else:
                z = self.core(z)[0]
            return self.head(z)[..., 0]

    return TransientNet


# ------------------------------------------------------------------ features at model rate


def resample(x: np.ndarray, fps: float, rate: float) -> np.ndarray:
    """(N, T) traces at `fps` onto a `rate` grid starting at frame 0 (box-averaged when
    downsampling, so the noise drops as it would with a slower camera)."""
    if fps == rate:  # exactly: a near-equal rate still drifts over a long recording
        return x
    t = x.shape[-1]
    if fps > rate:
        x = uniform_filter1d(x, max(1, round(fps / rate)), axis=-1, mode="nearest")
    n_out = max(1, int(np.floor((t - 1) * rate / fps)) + 1)
    pos = np.arange(n_out) * (fps / rate)
    i0 = np.minimum(pos.astype(np.intp), t - 1)
    i1 = np.minimum(i0 + 1, t - 1)
    w = pos - i0
    return x[..., i0] * (1 - w) + x[..., i1] * w


def model_inputs(dff: np.ndarray, fps: float, cfg: DetectorConfig) -> np.ndarray:
    """(N, 2, T') float32 network input: trace in noise units above a slow baseline, and a
    compressed copy so large transients keep their shape without saturating the net."""
    raw = np.asarray(dff, float)
    raw = raw[None] if raw.ndim == 1 else raw
    x = fill_nan(raw)
    # frame-to-frame noise at the native rate, from measured neighbours only (the filled gaps
    # are flat and would read as no noise); box averaging divides it by sqrt(frames)
    noise = robust_sd(np.diff(raw, axis=-1)) / np.sqrt(2.0)  # NaN differences ignored
    noise = noise / np.sqrt(max(1.0, fps / cfg.sample_rate_hz))
    noise = np.where(noise > 0, noise, np.finfo(float).eps)
    y = resample(x, fps, cfg.sample_rate_hz)
    base = rolling_baseline(
        smooth(y, cfg.sample_rate_hz, 0.2), cfg.sample_rate_hz, cfg.baseline_window_s
    )
    z = (y - base) / noise[:, None]
    return np.stack([np.clip(z, -10, 40) / 5.0, np.arcsinh(z / 3.0)], axis=1).astype(np.float32)


def _label_grid(intervals_s: np.ndarray, n: int, rate: float) -> np.ndarray:
    """Frame labels on the model grid: 1 inside any [start, end] interval (at least one frame)."""
    lab = np.zeros(n, np.float32)
    for a, b in np.asarray(intervals_s, float).reshape(-1, 2):
        i0 = max(0, int(np.floor(a * rate + 0.5)))
        i1 = min(n - 1, max(i0, int(np.floor(b * rate + 0.5))))
        if i0 < n:
            lab[i0 : i1 + 1] = 1.0
    return lab


def intervals_from_spikes(
    spike_times_s: np.ndarray,
    t0_s: float = 0.0,
    burst_gap_s: float = 0.3,
    pre_s: float = 0.05,
    post_s: float = 0.15,
) -> np.ndarray:
    """Rising-phase intervals (seconds from the first frame) from ground-truth spike times:
    one per burst (spikes closer than `burst_gap_s`), from first spike - `pre_s` to last
    spike + `post_s`."""

    first, last, _ = burst_spans(np.asarray(spike_times_s, float) - t0_s, burst_gap_s)
    return np.stack([first - pre_s, last + post_s], axis=1) if first.size else np.zeros((0, 2))


def intervals_from_table(table: pd.DataFrame, neuron_ids: Sequence, fps: float) -> list[np.ndarray]:
    """Per neuron (in `neuron_ids` order), the start-to-peak interval of each transient, in s."""
    fps = check_fps(fps)
    for col in ("neuron_id", "start_frame", "peak_frame"):
        if col not in table.columns:
            raise InputError(f"transient table has no {col!r} column")
    out = []
    by_id = {str(k): g for k, g in table.groupby(table["neuron_id"].astype(str))}
    for nid in neuron_ids:
        g = by_id.get(str(nid))
        if g is None:
            out.append(np.zeros((0, 2)))
            continue
        out.append(g[["start_frame", "peak_frame"]].to_numpy(float) / fps)
    return out


# ----------------------------------------------------------------------------- detector


@dataclass
class TransientDetector:
    """A trained network plus the config it needs; `detect` gives a transient table."""

    net: object
    config: DetectorConfig
    meta: dict = field(default_factory=dict)

    # ---- inference
    def _windows(self, n: int) -> list[tuple[int, int, int, int]]:
        """(window start, window end, keep from, keep to) covering [0, n)."""
        cfg = self.config
        w = max(8, round(cfg.window_s * cfg.sample_rate_hz))
        m = round(cfg.margin_s * cfg.sample_rate_hz)
        if n <= w:
            return [(0, n, 0, n)]
        hop = w - 2 * m
        starts = [*range(0, n - w, hop), n - w]
        out = []
        for k, s in enumerate(starts):
            keep_from = s if k == 0 else s + m
            keep_to = s + w if k == len(starts) - 1 else s + w - m
            if k == len(starts) - 1:
                keep_from = max(keep_from, out[-1][3]) if out else keep_from
            out.append((s, s + w, keep_from, keep_to))
        return out

    def probability(self, dff: np.ndarray, fps: float, batch: int = 256) -> np.ndarray:
        """Per-frame probability (N, T) of being in a transient's rise, at the native rate."""
        torch = _torch()
        fps = check_fps(fps)
        x = np.asarray(dff, float)
        x = x[None] if x.ndim == 1 else x
        feats = model_inputs(x, fps, self.config)
        n_rows, _, n = feats.shape
        wins = self._windows(n)
        logits = np.zeros((n_rows, n), np.float32)
        jobs = [(r, w) for r in range(n_rows) for w in wins]
        self.net.eval()
        with torch.inference_mode():
            for c in range(0, len(jobs), batch):
                part = jobs[c : c + batch]
                length = part[0][1][1] - part[0][1][0]
                if any(w[1] - w[0] != length for _, w in part):  # short single window
                    groups = [[j] for j in part]
                else:
                    groups = [part]
                for g in groups:
                    xb = np.stack([feats[r, :, w[0] : w[1]] for r, w in g])
                    out = self.net(torch.from_numpy(xb)).numpy()
                    for (r, (s, _e, a, b)), o in zip(g, out):
                        logits[r, a:b] = o[a - s : b - s]
        p = 1.0 / (1.0 + np.exp(-logits))
        # back onto native frames
        t_native = np.arange(x.shape[1]) / fps
        t_model = np.arange(n) / self.config.sample_rate_hz
        return np.stack([np.interp(t_native, t_model, row) for row in p])

    def detect(
        self,
        dff: np.ndarray,
        fps: float,
        neuron_ids=None,
        *,
        threshold: float | None = None,
        min_gap_s: float | None = None,
        min_duration_s: float | None = None,
        onset_fraction: float = 0.1,
        smooth_window_s: float | str = "auto",
        baseline_window_s: float = 30.0,
        features: bool = True,
        prepared: Prepared | None = None,
        probability: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """Transient table: one row per run of frames with probability >= `threshold`.

        The smoothing and baseline windows shape only the peak search, amplitudes and
        features (as for the other detectors); the network sees its own normalised input."""
        cfg = self.config
        thr = cfg.threshold if threshold is None else float(threshold)
        if not 0.0 < thr < 1.0:
            raise InputError(f"probability threshold must be in (0, 1), got {thr}")
        prep = prepared or prepare(dff, fps, smooth_window_s, baseline_window_s=baseline_window_s)
        ids = neuron_ids_for(neuron_ids, prep.raw.shape[0])
        if probability is None:  # the unfilled traces when we have them (noise of real frames)
            probability = self.probability(prep.raw if dff is None else dff, prep.fps)
        p = probability
        gap = max(0, round((cfg.min_gap_s if min_gap_s is None else min_gap_s) * prep.fps))
        dur = max(
            1, round((cfg.min_duration_s if min_duration_s is None else min_duration_s) * prep.fps)
        )
        rows, starts, peaks = runs_to_peaks(p >= thr, prep.smooth, gap, dur, prep.fps)
        _, ends = bounds_flat(prep.smooth, rows, peaks, prep.fps, onset_fraction)
        return table_from_bounds(prep, ids, rows, starts, peaks, ends, "model", features)

    # ---- persistence
    def state(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": asdict(self.config),
            "meta": self.meta,
            "state_dict": self.net.state_dict(),
        }

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        _torch().save(self.state(), buf)
        return buf.getvalue()


def runs_to_peaks(
    on: np.ndarray, smooth: np.ndarray, gap: int, min_len: int, fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, start, peak) per run of True frames: runs closer than `gap` frames merge, runs
    shorter than `min_len` drop; the peak is the highest smoothed frame from the run start to
    shortly after its end (the rise label ends at the peak, the probability a little before)."""
    rows, starts, peaks = [], [], []
    n, t = on.shape
    after = max(1, round(0.15 * fps))
    for r in range(n):
        d = np.diff(np.r_[0, on[r].astype(np.int8), 0])
        a, b = np.flatnonzero(d == 1), np.flatnonzero(d == -1)  # [a, b)
        if a.size == 0:
            continue
        if gap > 0 and a.size > 1:
            keep = np.r_[True, a[1:] - b[:-1] > gap]
            a, b = a[keep], np.r_[b[np.flatnonzero(keep)[1:] - 1], b[-1]]
        ok = b - a >= min_len
        a, b = a[ok], b[ok]
        nxt = np.r_[a[1:], t]
        for s, e, lim in zip(a, b, nxt):
            stop = min(t, e + after, max(lim, e))
            pk = s + int(np.argmax(smooth[r, s:stop]))
            rows.append(r)
            starts.append(s)
            peaks.append(pk)
    as_int = lambda v: np.asarray(v, np.int64)  # noqa: E731
    return as_int(rows), as_int(starts), as_int(peaks)


def build_detector(
    config: DetectorConfig | None = None, seed: int = 0, **meta
) -> TransientDetector:
    """An untrained detector (random weights from `seed`)."""
    torch = _torch()
    cfg = (config or DetectorConfig()).check()
    torch.manual_seed(seed)
    return TransientDetector(_net_class()(cfg), cfg, dict(meta))


def train_detector(
    traces: Sequence[np.ndarray],
    fps: float | Sequence[float],
    intervals_s: Sequence[np.ndarray],
    config: DetectorConfig | None = None,
    params: TrainDetectorParams | None = None,
    *,
    augment: bool = True,
    init: TransientDetector | None = None,
    trace_weights: Sequence[float] | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    meta: dict | None = None,
    **changes: Any,
) -> TransientDetector:
    """Train (or fine-tune `init`) on traces with rising-phase intervals (seconds per trace).

    `params` (a `TrainDetectorParams`; keyword `changes` override single values) gives the
    training values (epochs, batch size, learning rate, seed) and, without `config`, the network.

    Each epoch draws random `window_s` crops covering the training frames about once; a crop
    comes from a trace with probability proportional to its length, or to `trace_weights`
    (e.g. to give every dataset the same share when they differ in size).
    `should_stop` (checked every batch) ends training early and returns the model so far.
    """
    tp = TrainDetectorParams.resolve(params, **changes)
    epochs, batch_size, learning_rate, seed = tp.epochs, tp.batch_size, tp.learning_rate, tp.seed
    if config is None:
        config = DetectorConfig(**tp.network())
    torch = _torch()
    # a copy: never change the caller's (or the cached shipped) detector in place
    det = detector_from_bytes(init.to_bytes()) if init is not None else build_detector(config, seed)
    cfg = det.config
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
    if trace_weights is not None and len(trace_weights) != len(traces):
        raise InputError(f"got {len(trace_weights)} trace weights for {len(traces)} traces")
    weights = np.ones(len(traces)) if trace_weights is None else np.asarray(trace_weights, float)
    if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
        raise InputError("trace weights must be finite, >= 0 and not all 0")
    xs, ys, kept = [], [], []
    for i, (tr, r, iv) in enumerate(zip(traces, rates, intervals_s)):
        if tr.size < 8 or not np.isfinite(tr).any():
            continue
        kept.append(i)
        f = model_inputs(tr[None], r, cfg)[0]
        xs.append(f)
        ys.append(_label_grid(iv, f.shape[1], cfg.sample_rate_hz))
    if not xs:
        raise InputError("no usable traces to train on (all empty or all NaN)")
    w = max(8, round(cfg.window_s * cfg.sample_rate_hz))
    # pad short traces so every crop has length w; padded frames are masked from the loss
    xs = [np.pad(x, ((0, 0), (0, max(0, w - x.shape[1]))), mode="edge") for x in xs]
    masks = [
        np.r_[np.ones(y.size, np.float32), np.zeros(max(0, w - y.size), np.float32)] for y in ys
    ]
    ys = [np.pad(y, (0, max(0, w - y.size))) for y in ys]
    lengths = np.array([x.shape[1] for x in xs])
    if trace_weights is None:
        pick = lengths / lengths.sum()
    else:
        pick = weights[kept] / max(weights[kept].sum(), np.finfo(float).tiny)
    total = int(sum(y.size for y in ys))
    per_epoch = max(1, int(np.ceil(total / w / batch_size)))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = det.net
    opt = _AdamW(list(net.parameters()), weight_decay=1e-4)
    total_steps = epochs * per_epoch
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none")
    t0 = time.perf_counter()
    step, losses = 0, []
    stopped = False
    net.train()
    for ep in range(epochs):
        run = []
        for _ in range(per_epoch):
            if should_stop is not None and should_stop():
                stopped = True
                break
            k = rng.choice(len(xs), size=batch_size, p=pick)
            s = (rng.random(batch_size) * (lengths[k] - w + 1)).astype(int)
            xb = np.stack([xs[i][:, a : a + w] for i, a in zip(k, s)])
            yb = np.stack([ys[i][a : a + w] for i, a in zip(k, s)])
            mb = np.stack([masks[i][a : a + w] for i, a in zip(k, s)])
            if augment:
                xb = _augment(xb, rng)
            logits = net(torch.from_numpy(xb))
            loss = (lossf(logits, torch.from_numpy(yb)) * torch.from_numpy(mb)).sum() / max(
                1.0, float(mb.sum())
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step(_one_cycle(step, total_steps, learning_rate))
            step += 1
            run.append(float(loss.detach()))
            if progress is not None:
                progress(
                    step, epochs * per_epoch, f"epoch {ep + 1}/{epochs} loss {np.mean(run):.3f}"
                )
        if run:
            losses.append(float(np.mean(run)))
        if stopped:
            break
    net.eval()
    det.meta = {
        **det.meta,
        **(meta or {}),
        "epochs_run": len(losses),
        "stopped_early": stopped,
        "final_loss": round(losses[-1], 4) if losses else None,
        "n_traces": len(xs),
        "n_labelled_transients": int(n_labels),
        "train_frames_model_rate": total,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    return det


def _augment(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lower the SNR of some crops (extra noise, then renormalised) and vary the gain."""
    z = np.sinh(xb[:, 1]) * 3.0  # undo the compression to get noise units back
    b = z.shape[0]
    extra = rng.uniform(0, 0.8, (b, 1)) * (rng.random((b, 1)) < 0.5)
    z = (z + extra * rng.standard_normal(z.shape)) / np.sqrt(1 + extra**2)
    z = z * rng.uniform(0.8, 1.25, (b, 1))
    return np.stack([np.clip(z, -10, 40) / 5.0, np.arcsinh(z / 3.0)], axis=1).astype(np.float32)


# -------------------------------------------------------------------------- persistence


def detector_from_state(state: dict, where: str = "detector") -> TransientDetector:
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{where} is not a napari-catrack transient detector")
    if int(state.get("format_version", 0)) > FORMAT_VERSION:
        raise InputError(f"{where} was written by a newer napari-catrack; please upgrade")
    known = DetectorConfig.__dataclass_fields__
    try:
        cfg = DetectorConfig(**{k: v for k, v in dict(state["config"]).items() if k in known})
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where} has no usable config: {exc}") from None
    cfg.check()
    det = TransientDetector(_net_class()(cfg), cfg, dict(state.get("meta", {})))
    try:
        det.net.load_state_dict(state["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise InputError(f"{where} has weights that do not fit its config: {exc}") from None
    det.net.eval()
    return det


def detector_from_bytes(data: bytes, where: str = "session detector") -> TransientDetector:
    torch = _torch()
    try:
        state = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise InputError(f"{where} could not be read: {exc}") from None
    return detector_from_state(state, where)


def save_detector(det: TransientDetector, path: str | os.PathLike) -> Path:
    """One `.pt` file (config, provenance, weights), written atomically."""
    path = Path(path)
    with atomic_write_path(path) as tmp:
        tmp.write_bytes(det.to_bytes())
    return path


def load_detector(path: str | os.PathLike) -> TransientDetector:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no detector file at {path}")
    return detector_from_bytes(path.read_bytes(), str(path))


@functools.cache
def default_detector() -> TransientDetector:
    """The detector shipped with the package (trained on the Cascade ground truth)."""
    if not DEFAULT_MODEL.is_file():
        raise InputError(f"the shipped transient detector is missing: {DEFAULT_MODEL}")
    return load_detector(DEFAULT_MODEL)


def resolve_detector(model: TransientDetector | str | os.PathLike | None) -> TransientDetector:
    """A detector object, a path to one, or None for the shipped default."""
    if model is None:
        return default_detector()
    if isinstance(model, TransientDetector):
        return model
    return load_detector(model)


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
    intervals = intervals_from_table(table, use, fps)
    return [x[r] for r in rows], intervals, use
