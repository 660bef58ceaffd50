"""Ground truth for training and scoring transient detectors (Cascade's recipe).

A ground-truth recording is a dF/F trace with simultaneously recorded spike times (Cascade's
database: juxtacellular electrophysiology + calcium imaging, 30 datasets, 2.5-500 Hz, many
indicators). What made Cascade generalise to recordings nobody trained on is reproduced here:

- every recording is RESAMPLED to the frame rates a user may have (`rate_variants`: box-averaged
  like a slower camera, never upsampled), and
- brought to the NOISE LEVEL of the user's data by adding noise (`add_noise_to_level`: shot-like
  noise that grows with the fluorescence, scaled until Cascade's standardised noise nu reaches
  the target), so the detector learns what a transient looks like at that rate and noise.

Labels are per spike BURST (spikes closer than `burst_gap_s`), from the first spike minus
`pre_s` to the last spike plus `post_s` (`burst_intervals`): the rising phase a detector should
mark, matched by the same burst rule the scoring uses (`scoring.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from napari_catrack.core.signals.noise import standardized_noise
from napari_catrack.errors import InputError

from .resampling import resample_rate
from .scoring import burst_spans

# Rates below the detector's own rate (30 Hz) change what it sees (interpolated, slower rises);
# every rate above it is box-averaged to it, so one variant at 30 Hz stands for all of them.
VARIANT_RATES = (30.0, 15.0, 7.5, 3.75)
SAME_RATE = 0.05  # within 5 % of a rate: not resampled (Cascade's rule)


@dataclass(frozen=True)
class GroundTruthTrace:
    """One recording: dF/F at `fps` and spike times in seconds from its first frame."""

    dataset: str
    neuron: int  # index of the neuron (file) within its dataset
    fps: float
    dff: np.ndarray
    spikes_s: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.dff.size / self.fps


def load_cascade_dataset(folder: str | os.PathLike) -> list[GroundTruthTrace]:
    """Every recording of one Cascade dataset folder (one `*.mat` file per neuron)."""
    from napari_catrack.io.cascade import read_cascade_file

    folder = Path(folder)
    files = sorted(folder.glob("*.mat"))
    if not files:
        raise InputError(f"no Cascade ground-truth files (*.mat) in {folder}")
    out = []
    for neuron, f in enumerate(files):
        for t, y, spikes in read_cascade_file(f):
            if y.size < 2:
                continue
            # the span's rate, (n - 1) / (t[-1] - t[0]), as `frame_rate_of_times` states it;
            # benchmark data, not checked for gaps (Cascade's DS24-27 end on a repeated time)
            fps = float(1.0 / np.mean(np.diff(t)))
            out.append(
                GroundTruthTrace(
                    folder.name,
                    neuron,
                    fps,
                    np.asarray(y, np.float32),
                    np.asarray(spikes, float) - float(t[0]),
                )
            )
    return out


def load_cascade(
    root: str | os.PathLike, names: list[str] | None = None
) -> dict[str, list[GroundTruthTrace]]:
    """Datasets (folders `DS*` under `root`, or those named) -> their recordings."""
    root = Path(root)
    folders = sorted(p for p in root.glob("DS*") if p.is_dir())
    if names is not None:
        folders = [p for p in folders if p.name in names]
    if not folders:
        raise InputError(f"no Cascade datasets (DS* folders) in {root}")
    return {p.name: load_cascade_dataset(p) for p in folders}


def rate_variants(
    rec: GroundTruthTrace, rates: tuple[float, ...] = VARIANT_RATES, model_rate: float = 30.0
) -> list[GroundTruthTrace]:
    """The recording at each rate in `rates` it can be downsampled to, plus itself when slower
    than `model_rate` (a 60 Hz recording and its 30 Hz version look the same to the detector)."""
    out = [rec] if rec.fps < model_rate * (1 - SAME_RATE) else []
    for rate in rates:
        if rate > rec.fps * (1 + SAME_RATE):
            continue  # never invent frames
        if abs(rate - rec.fps) / rec.fps <= SAME_RATE:
            if not any(o is rec for o in out):
                out.append(rec)
            continue
        y = resample_rate(rec.dff[None].astype(float), rec.fps, rate)[0]
        out.append(replace(rec, fps=float(rate), dff=y.astype(np.float32)))
    return out


def add_noise_to_level(
    dff: np.ndarray, fps: float, target_nu: float, rng: np.random.Generator
) -> np.ndarray:
    """`dff` plus Gaussian noise that brings its standardised noise up to `target_nu`.

    As Cascade: the added SD grows with sqrt(|dF/F + 1|) (shot noise rises with the light), and
    traces already noisier than the target are returned unchanged. nu adds in quadrature for
    independent noise, which hits the target within a few percent."""
    y = np.asarray(dff, float)
    nu0 = float(standardized_noise(y[None], fps)[0])
    if not target_nu > nu0:
        return y.copy()
    from napari_catrack.synthetic.noise import white_sd_for_nu

    sd = white_sd_for_nu(np.sqrt(target_nu**2 - nu0**2), fps)
    level = np.sqrt(np.abs(y + 1.0))
    level /= max(float(np.median(level)), 1e-12)
    return y + rng.standard_normal(y.shape) * sd * level


def burst_intervals(
    spikes_s: np.ndarray,
    burst_gap_s: float = 0.3,
    pre_s: float = 0.05,
    post_s: float = 0.15,
    min_spikes: int = 1,
    max_spikes: int | None = None,
) -> np.ndarray:
    """(n, 2) rising-phase intervals in seconds: one per burst of spikes closer than
    `burst_gap_s` (with `min_spikes`..`max_spikes` spikes), from its first spike - `pre_s` to
    its last spike + `post_s`."""
    first, last, count = burst_spans(np.asarray(spikes_s, float), burst_gap_s)
    keep = count >= min_spikes
    if max_spikes is not None:
        keep &= count <= max_spikes
    first, last = first[keep], last[keep]
    return np.stack([first - pre_s, last + post_s], axis=1) if first.size else np.zeros((0, 2))
