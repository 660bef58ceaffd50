"""Trained transient detectors: a network marks each frame's chance of being in a RISE.

A detector reads dF/F traces and gives, per frame, the probability that the frame lies in the
rising phase of a transient (onset to peak). Runs of frames above a threshold become transients;
the peak is the highest smoothed point of the run and the end comes from the same walk-forward
rule as the other detectors, so the output is the usual transient table (`source == "model"`).

What the network sees (`model_input.py`): the trace at the detector's rate, in units of its own
noise, plus a few numbers describing the recording (frame rate, how smooth its noise is), so one
detector serves any indicator, frame rate, scale and prior denoising. The shipped detector is
trained across the 30 Cascade ground-truth datasets (`training.py`, recipe in
`benchmarks/bench_transients_lodo.py`).

Inference is batched over neurons and windows and spread over the CPU cores with one torch
thread per worker (torch's own intra-op threads stall on a busy machine). A detector is saved as
ONE `.pt` file (config + provenance + state_dict), read back with `torch.load(weights_only=True)`,
and can also be stored as bytes in a session.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from napari_catrack.errors import InputError, check_cancelled
from napari_catrack.io.atomic import atomic_write_path
from napari_catrack.io.weights import fit_weights, read_weights

from .bounds import bounds_flat
from .model_input import INPUTS_VERSION, N_CHANNELS, N_COND, legacy_inputs, model_inputs
from .networks import ARCHITECTURES, build_network, receptive_frames, torch_module
from .params import TrainDetectorParams
from .prepare import Prepared, check_fps, check_length, neuron_ids_for, prepare
from .resampling import to_native
from .results import table_from_bounds

FORMAT = "napari-catrack transient detector"
FORMAT_VERSION = 2
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "transient_detector.pt"
Progress = Callable[[int, int, str], None]
TCN_WINDOW = 4096  # frames per inference window of the convolutional network (~2.3 min at 30 Hz)


@dataclass
class DetectorConfig:
    """Everything needed to rebuild a detector (stored in its file)."""

    arch: str = TrainDetectorParams.arch  # the network defaults are the training defaults
    hidden: int = TrainDetectorParams.hidden
    layers: int = TrainDetectorParams.layers  # recurrent / Transformer layers
    heads: int = 4  # Transformer
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)  # tcn
    head: int = 8  # tcn: channels of the full-rate head
    attention_window_s: float = 4.0  # transformer: attend to +- this much ("local transformer")
    sample_rate_hz: float = TrainDetectorParams.sample_rate_hz
    window_s: float = 30.0  # training crop; inference window of the recurrent networks
    margin_s: float = 3.0  # recurrent networks: context discarded at each window edge
    baseline_window_s: float = 30.0
    threshold: float = 0.5
    min_gap_s: float = 0.1  # runs closer than this are one transient
    min_duration_s: float = 0.05
    inputs_version: int = INPUTS_VERSION

    def __post_init__(self):
        self.dilations = tuple(int(d) for d in self.dilations)

    def check(self) -> DetectorConfig:
        if self.arch not in ARCHITECTURES:
            raise InputError(
                f"unknown detector architecture {self.arch!r}; choose {', '.join(ARCHITECTURES)}"
            )
        for name in ("hidden", "layers", "heads", "head"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"detector {name} must be >= 1, got {getattr(self, name)}")
        if self.arch == "tcn" and (not self.dilations or min(self.dilations) < 1):
            raise InputError(f"detector dilations must be >= 1, got {self.dilations}")
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
        if self.inputs_version not in (1, INPUTS_VERSION):
            raise InputError(f"unknown detector inputs version {self.inputs_version}")
        return self

    @property
    def n_inputs(self) -> tuple[int, int]:
        """(input channels, conditioning values) of the network."""
        return (N_CHANNELS, N_COND) if self.inputs_version >= 2 else (2, 0)


def windows(n: int, length: int, margin: int, align: int = 1) -> list[tuple[int, int, int, int]]:
    """(window start, window end, keep from, keep to) covering [0, n) with windows of `length`
    frames whose outer `margin` frames are discarded (except at the trace's ends). Every window
    has the same length, so they stack into one batch, and starts at a multiple of `align` (a
    strided network then sees every window on the whole trace's grid); the last one may end
    past n, where the caller pads."""
    if n <= length:
        return [(0, n, 0, n)]
    hop = max(align, (length - 2 * margin) // align * align)
    last = -(-(n - length) // align) * align
    starts = [*range(0, last, hop), last]
    out: list[tuple[int, int, int, int]] = []
    for k, s in enumerate(starts):
        keep_from = s if k == 0 else max(s + margin, out[-1][3])
        keep_to = n if k == len(starts) - 1 else s + length - margin
        out.append((s, s + length, keep_from, keep_to))
    return out


@dataclass
class TransientDetector:
    """A trained network plus the config it needs; `detect` gives a transient table."""

    net: object
    config: DetectorConfig
    meta: dict = field(default_factory=dict)

    # ---- inference
    def inputs(self, dff: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
        """Network inputs (N, C, T') and conditioning (N, K) of traces at `fps`."""
        cfg = self.config
        fn = model_inputs if cfg.inputs_version >= 2 else legacy_inputs
        return fn(dff, fps, cfg.sample_rate_hz, cfg.baseline_window_s)

    def _windows(self, n: int) -> list[tuple[int, int, int, int]]:
        cfg = self.config
        if cfg.arch == "tcn":
            margin = receptive_frames(cfg)
            return windows(n, max(TCN_WINDOW, 4 * margin), margin, align=3)
        w = max(8, round(cfg.window_s * cfg.sample_rate_hz))
        return windows(n, w, round(cfg.margin_s * cfg.sample_rate_hz))

    def probability(
        self,
        dff: np.ndarray,
        fps: float,
        *,
        batch: int = 32,
        workers: int | None = None,
        progress: Progress | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Per-frame probability (N, T) of being in a transient's rise, at the native rate.

        All (neuron, window) pairs are batched; batches run on `workers` threads (default: the
        CPU cores) with one torch thread each. `progress(done, total, message)` after each
        batch; `cancel()` is checked between batches (raises `errors.Cancelled`)."""
        torch = torch_module()
        fps = check_fps(fps)
        x = np.asarray(dff, float)
        x = x[None] if x.ndim == 1 else x
        check_length(x.shape[1])
        feats, cond = self.inputs(x, fps)
        n_rows, _, n = feats.shape
        wins = self._windows(n)
        if wins[-1][1] > n:  # the last aligned window runs past the end: zeros, as at an edge
            feats = np.pad(feats, ((0, 0), (0, 0), (0, wins[-1][1] - n)))
        jobs = [(r, w) for r in range(n_rows) for w in wins]
        chunks = [jobs[c : c + batch] for c in range(0, len(jobs), batch)]
        logits = np.zeros((n_rows, n), np.float32)
        net = self.net
        net.eval()
        dev = next(net.parameters()).device  # a net moved to a GPU runs there

        def run(part):
            torch.set_num_threads(1)  # per thread: a new thread's default stalls recurrent nets
            xb = np.stack([feats[r, :, w[0] : w[1]] for r, w in part])
            cb = np.stack([cond[r] for r, _ in part])
            with torch.inference_mode():
                xt, ct = torch.from_numpy(xb).to(dev), torch.from_numpy(cb).to(dev)
                out = net(xt, ct).float().cpu().numpy()
            for (r, (s, _e, a, b)), o in zip(part, out):
                logits[r, a:b] = o[a - s : b - s]

        n_workers = max(1, min(workers or os.cpu_count() or 1, len(chunks)))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(n_workers) as pool:
                pending = [pool.submit(run, part) for part in chunks]
                for done, fut in enumerate(pending, 1):
                    if cancel is not None and cancel():
                        for f in pending:
                            f.cancel()
                    check_cancelled(cancel, "transient detection")
                    fut.result()
                    if progress is not None:
                        progress(done, len(pending), f"detector: batch {done}/{len(pending)}")
        finally:
            torch.set_num_threads(threads)
        p = 1.0 / (1.0 + np.exp(-logits))
        return to_native(p, self.config.sample_rate_hz, fps, x.shape[1])

    def detect(
        self,
        dff: np.ndarray | None,
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
        progress: Progress | None = None,
        cancel: Callable[[], bool] | None = None,
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
            source = prep.raw if dff is None else dff
            probability = self.probability(source, prep.fps, progress=progress, cancel=cancel)
        gap = max(0, round((cfg.min_gap_s if min_gap_s is None else min_gap_s) * prep.fps))
        dur = max(
            1, round((cfg.min_duration_s if min_duration_s is None else min_duration_s) * prep.fps)
        )
        rows, starts, peaks = runs_to_peaks(probability >= thr, prep.smooth, gap, dur, prep.fps)
        _, ends = bounds_flat(prep.smooth, rows, peaks, prep.fps, onset_fraction)
        return table_from_bounds(prep, ids, rows, starts, peaks, ends, "model", features)

    # ---- persistence
    def state(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": {**asdict(self.config), "dilations": list(self.config.dilations)},
            "meta": self.meta,
            "state_dict": self.net.state_dict(),
        }

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch_module().save(self.state(), buf)
        return buf.getvalue()


def runs_to_peaks(
    on: np.ndarray, smooth: np.ndarray, gap: int, min_len: int, fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, start, peak) per run of True frames: runs closer than `gap` frames merge, runs
    shorter than `min_len` drop; the peak is the highest smoothed frame from the run start to
    shortly after its end (the rise label ends at the peak, the probability a little before).
    Vectorised over all runs of all rows (in chunks of bounded memory)."""
    t = on.shape[1]
    d = np.diff(np.pad(on.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rows, a = np.nonzero(d == 1)  # run starts, sorted by (row, frame)
    b = np.nonzero(d == -1)[1]  # run ends (exclusive), same order
    if a.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    if gap > 0 and a.size > 1:
        keep = np.r_[True, (rows[1:] != rows[:-1]) | (a[1:] - b[:-1] > gap)]
        last = np.r_[np.flatnonzero(keep)[1:] - 1, a.size - 1]  # last piece of each merged run
        rows, a, b = rows[keep], a[keep], b[last]
    ok = b - a >= min_len
    rows, a, b = rows[ok], a[ok], b[ok]
    if a.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    after = max(1, round(0.15 * fps))
    same_next = np.r_[rows[1:] == rows[:-1], False]
    nxt = np.where(same_next, np.r_[a[1:], t], t)
    stop = np.minimum(np.minimum(t, b + after), np.maximum(nxt, b))
    peaks = np.empty_like(a)
    order = np.argsort(stop - a)  # similar lengths together: small matrices
    chunk = 1 << 20
    i = 0
    while i < order.size:
        span = int(stop[order[i]] - a[order[i]])
        j = min(order.size, i + max(1, chunk // max(span, 1)))
        sel = order[i:j]
        span = int((stop[sel] - a[sel]).max())
        k = np.arange(span)
        idx = np.minimum(a[sel, None] + k[None], t - 1)
        vals = np.where(
            k[None] < (stop[sel] - a[sel])[:, None], smooth[rows[sel, None], idx], -np.inf
        )
        peaks[sel] = a[sel] + np.argmax(vals, axis=1)
        i = j
    as_int = lambda v: np.asarray(v, np.int64)  # noqa: E731
    return as_int(rows), as_int(a), as_int(peaks)


def build_detector(
    config: DetectorConfig | None = None, seed: int = 0, **meta
) -> TransientDetector:
    """An untrained detector (random weights from `seed`)."""
    torch = torch_module()
    cfg = (config or DetectorConfig()).check()
    torch.manual_seed(seed)
    return TransientDetector(build_network(cfg, *cfg.n_inputs), cfg, dict(meta))


# -------------------------------------------------------------------------- persistence


def detector_from_state(state: dict, where: str = "detector") -> TransientDetector:
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(f"{where} is not a napari-catrack transient detector")
    version = int(state.get("format_version", 0))
    if version > FORMAT_VERSION:
        raise InputError(f"{where} was written by a newer napari-catrack; please upgrade")
    known = {f.name for f in fields(DetectorConfig)}
    try:
        raw = dict(state["config"])
        if version < 2:  # the first version: a GRU/LSTM/Transformer on two input channels
            raw.setdefault("inputs_version", 1)
        cfg = DetectorConfig(**{k: v for k, v in raw.items() if k in known})
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where} has no usable config: {exc}") from None
    cfg.check()
    det = TransientDetector(build_network(cfg, *cfg.n_inputs), cfg, dict(state.get("meta", {})))
    fit_weights(det.net, state.get("state_dict"), where)
    det.net.eval()
    return det


def detector_from_bytes(data: bytes, where: str = "session detector") -> TransientDetector:
    torch_module()  # without torch: the message names the feature ("a learned transient detector")
    state = read_weights(bytes(data), where, "a napari-catrack transient detector")
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
