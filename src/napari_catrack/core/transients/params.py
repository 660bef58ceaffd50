"""Parameters of transient detection: one dataclass for the three methods.

`catrack transients` is one command whose `--method` picks the detector, and several values
(smoothing, baseline window, onset fraction) mean the same for every method, so one dataclass
holds them all: shared fields first, then each method's own (named in its help as "rules:",
"k-sigma:" or "model:"); a method ignores the others' fields. `detect_transients` takes it and
hands each detector its values. This module imports nothing heavy, so building the command line
stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, auto_or_float, param

KSIGMA_SMOOTH_S = 0.2
"""k-sigma's smoothing window for "auto": a fixed 0.2 s, because its sigma is measured on the
smoothed trace itself (the capped "auto" window serves the residual-noise SNR of the rules)."""


@dataclass(frozen=True)
class TransientParams(StepParams):
    """Detecting calcium transients in dF/F traces (rules, k-sigma or a trained model)."""

    step: ClassVar[str] = "transients"

    method: Literal["model", "rules", "ksigma"] = param(
        "model", "model: the trained detector (shipped: trained across 30 ground-truth "
        "datasets; robust to noise level, frame rate and prior smoothing); rules: CalTrig-style "
        "peak/interval/SNR; ksigma: k robust SDs over baseline",
    )  # fmt: skip
    smooth_window_s: float | str = param(
        "auto", "Savitzky-Golay window; auto = 0.2 s but at most 13 frames (k-sigma: 0.2 s)",
        parse=auto_or_float, unit="s", cli="--smooth-window", label="smoothing window",
    )  # fmt: skip
    baseline_window_s: float = param(30.0, "rolling baseline window", minimum=0.0, unit="s",
                                     cli="--baseline-window")  # fmt: skip
    onset_fraction: float = param(0.1, "onset/end: last frame within this fraction of the rise",
                                  minimum=0.0, maximum=1.0, advanced=True)  # fmt: skip
    # rules
    peak_threshold: float = param(0.0, "rules: minimum peak height above baseline", unit="dF/F")
    min_interval_s: float = param(0.3, "rules: minimum time between peaks", minimum=0.0,
                                  unit="s", cli="--min-interval")  # fmt: skip
    snr_threshold: float = param(5.0, "rules: minimum SNR at the peak (noise of the smoothed "
                                 "trace)", minimum=0.0)  # fmt: skip
    prominence_snr: float = param(5.0, "rules: minimum prominence in noise units", minimum=0.0,
                                  advanced=True)  # fmt: skip
    rise_snr: float = param(5.0, "rules: minimum rise within the rise window before the peak, "
                            "in noise units", minimum=0.0, advanced=True)  # fmt: skip
    rise_window_s: float = param(0.5, "rules: time a transient may take to rise", minimum=0.0,
                                 unit="s", cli="--rise-window", advanced=True)  # fmt: skip
    colour_max: float = param(6.0, "rules: the peak SNR threshold is raised by the trace's "
                              "noise colour (slow / lag noise, 1 for white noise), at most this "
                              "factor; 1 = off", minimum=1.0, advanced=True)  # fmt: skip
    noise_window_s: float | None = param(10.0, "rules: rolling noise window (none = one value "
                                         "per neuron)", minimum=0.0, unit="s",
                                         cli="--noise-window", advanced=True)  # fmt: skip
    # k-sigma
    k: float = param(2.5, "k-sigma: threshold in robust SDs (MAD)", minimum=0.0)
    abs_threshold: float = param(0.0, "k-sigma: absolute floor of the threshold", unit="dF/F")
    split_k: float = param(3.0, "k-sigma: valley depth (SDs) that splits two peaks",
                           advanced=True)  # fmt: skip
    min_duration_s: float = param(0.1, "k-sigma: shortest event above threshold", minimum=0.0,
                                  unit="s", cli="--min-duration", advanced=True)  # fmt: skip
    baseline_percentile: float = param(50.0, "k-sigma: percentile of the rolling baseline",
                                       minimum=0.0, maximum=100.0, advanced=True)  # fmt: skip
    # model
    model: str | None = param(None, "model: detector file from `catrack train-detector` (none = "
                              "the shipped detector, trained on the Cascade ground truth)",
                              gui=False)  # fmt: skip
    threshold: float | None = param(None, "model: probability threshold (none = the detector's "
                                    "own)", minimum=0.0, maximum=1.0)  # fmt: skip
    min_gap_s: float | None = param(None, "model: rises closer than this are one transient "
                                    "(none = the detector's own)", minimum=0.0, unit="s",
                                    cli="--min-gap", advanced=True)  # fmt: skip

    def check(self) -> None:
        if not self.baseline_window_s > 0:
            raise InputError(f"--baseline-window must be positive, got {self.baseline_window_s}")
        if self.noise_window_s is not None and not self.noise_window_s > 0:
            raise InputError(f"--noise-window must be positive, got {self.noise_window_s}")
        if not self.k > 0:
            raise InputError(f"--k must be positive, got {self.k}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise InputError(f"--threshold must be a probability in (0, 1), got {self.threshold}")
        w = self.smooth_window_s
        if isinstance(w, str) and w != "auto":
            raise InputError(f"smoothing window must be a number of seconds or 'auto', got {w!r}")

    def ksigma_smooth_window_s(self) -> float:
        """k-sigma's window: "auto" is its fixed 0.2 s."""
        return KSIGMA_SMOOTH_S if self.smooth_window_s == "auto" else float(self.smooth_window_s)


METHODS: tuple[str, ...] = next(f.choices for f in TransientParams.fields() if f.name == "method")
"""The detection methods, in the order the command line lists them."""


@dataclass(frozen=True)
class TrainDetectorParams(StepParams):
    """Training a transient detector (TCN, GRU, LSTM or local Transformer) on curated transients."""

    step: ClassVar[str] = "transient_detector"

    arch: Literal["tcn", "gru", "lstm", "transformer"] = param(
        "tcn", "network: tcn (fast temporal convolutions, the shipped detector's), gru, lstm, "
        "transformer",
    )  # fmt: skip
    hidden: int = param(24, "channels (tcn) or hidden units", minimum=1, maximum=4096)
    layers: int = param(2, "layers (gru, lstm, transformer)", minimum=1, maximum=16)
    sample_rate_hz: float = param(30.0, "rate the detector works at (traces are resampled to "
                                  "it)", minimum=1.0, maximum=1000.0, unit="Hz",
                                  cli="--sample-rate")  # fmt: skip
    epochs: int = param(20, "passes over the data", minimum=1, maximum=100000)
    batch_size: int = param(32, "crops per step", minimum=1, maximum=100000, advanced=True)
    learning_rate: float = param(3e-3, "peak learning rate (one-cycle schedule)", minimum=0.0,
                                 maximum=1.0, advanced=True)  # fmt: skip
    seed: int = param(0, "random seed", minimum=0, advanced=True)

    def check(self) -> None:
        if not self.learning_rate > 0:
            raise InputError(f"--learning-rate must be positive, got {self.learning_rate}")

    def network(self) -> dict:
        """The network's part, as `DetectorConfig` fields (stored in the detector file)."""
        return {"arch": self.arch, "hidden": self.hidden, "layers": self.layers,
                "sample_rate_hz": self.sample_rate_hz}  # fmt: skip
