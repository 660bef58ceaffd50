"""Parameters of the signals step: trace extraction and trace cleaning.

One frozen dataclass each (`napari_catrack.params.StepParams`): the single source of the defaults
used by `extraction.extract_traces` / `roi.polygon_trace` and `cleaning.clean_traces`, the
`catrack traces` options, the Traces widget's controls and the provenance stored with the traces.
This module imports nothing heavy, so building the command line stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, auto_or_float, param

CLEANING_STEP_NAMES = ("bleach", "dff", "zscore", "drift", "wavelet", "savgol")
"""Steps `clean_traces` knows, in no particular order (the order is `CleaningParams.steps`)."""


def _saturation(text: str) -> float | str | None:
    """Option text: "auto" (the integer dtype's maximum), "none" (no check) or a pixel value."""
    return None if text.strip().lower() == "none" else auto_or_float(text)


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


@dataclass(frozen=True)
class TracesParams(StepParams):
    """Extracting a trace per tracked neuron: ROI, local background, red ratio, dF/F baseline."""

    step: ClassVar[str] = "traces"

    radius: float = param(3.0, "ROI disk radius", minimum=0.5, unit="px", step=0.5)
    weighting: Literal["gaussian", "uniform"] = param(
        "gaussian", "ROI average: Gaussian-weighted (sigma = radius/2, less noise) or plain mean"
    )
    sigma: float | None = param(None, "Gaussian ROI sigma (none = radius/2)", minimum=0.0,
                                unit="px", advanced=True)  # fmt: skip
    background: Literal["annulus", "none"] = param(
        "annulus", "local background: a low percentile of an annulus around the ROI, or none"
    )
    bg_inner: float | None = param(None, "annulus inner radius (none = radius + 2)", minimum=0.0,
                                   unit="px", advanced=True)  # fmt: skip
    bg_outer: float | None = param(None, "annulus outer radius (none = radius + 6)", minimum=0.0,
                                   unit="px", advanced=True)  # fmt: skip
    bg_percentile: float = param(20.0, "annulus percentile taken as background", minimum=0.0,
                                 maximum=100.0, advanced=True)  # fmt: skip
    saturation: float | str | None = param(
        "auto", "pixel value flagged as saturated (auto = the integer type's maximum; none = off)",
        parse=_saturation, advanced=True,
    )  # fmt: skip
    use_ratio: bool = param(True, "dff from the ratio G/R (dR/R0); off: green alone (dF/F0)",
                            cli="--ratio", label="ratio dR/R0")  # fmt: skip
    bleach: Literal["exponential", "running"] | None = param(
        None, "correct photobleaching of each channel before the ratio (needs fps)"
    )
    min_red_fraction: float = param(
        0.05, "red below this fraction of the neuron's own red (its red reference percentile) "
        "counts as no red (ratio NaN); 0 = off", minimum=0.0, maximum=1.0, advanced=True,
    )  # fmt: skip
    red_reference_percentile: float = param(
        90.0, "the neuron's own red that min red fraction compares with: this percentile of its "
        "red over the recording (50 = the median)", minimum=0.0, maximum=100.0, advanced=True,
    )  # fmt: skip
    red_noise_floor: float = param(
        3.0, "red less than this many noise sd above what background alone measures (from the "
        "red annulus, per frame) counts as no red (ratio NaN); 0 = off", minimum=0.0,
        maximum=100.0, advanced=True,
    )  # fmt: skip
    dff_baseline: Literal["percentile", "running", "caiman"] = param(
        "percentile", "F0: constant low percentile, running percentile, or CaImAn-style "
        "(running, at the mode's percentile; needs fps)", cli="--baseline", label="F0 baseline",
    )  # fmt: skip
    baseline_percentile: float = param(10.0, "F0 percentile (percentile and running baselines)",
                                       minimum=0.0, maximum=100.0)  # fmt: skip
    baseline_window_s: float = param(30.0, "running window of the running and CaImAn baselines",
                                     minimum=0.0, unit="s", cli="--baseline-window")  # fmt: skip
    lost_frames: Literal["missing", "measure"] = param(
        "missing", "frames where the track is lost (status 'lost', not placed by you): a "
        "missing sample (NaN), or measured at the held place as before", cli="--lost-frames",
    )  # fmt: skip
    chunk_frames: int = param(256, "frames read at once", minimum=1, maximum=100000,
                              advanced=True, gui=False)  # fmt: skip

    def check(self) -> None:
        if self.sigma is not None and not self.sigma > 0:
            raise InputError(f"ROI sigma must be positive, got {self.sigma}")
        if not self.baseline_window_s > 0:
            raise InputError(f"--baseline-window must be positive, got {self.baseline_window_s}")
        sat = self.saturation
        if (isinstance(sat, str) and sat != "auto") or (
            isinstance(sat, int | float) and not sat > 0
        ):
            raise InputError(
                f"--saturation must be a positive pixel value, auto or none; got {sat!r}"
            )

    def baseline_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `baselines.baseline` for `dff_baseline` (CaImAn chooses its
        percentile per trace, at the mode of the distribution)."""
        if self.dff_baseline == "percentile":
            return {"percentile": self.baseline_percentile}
        if self.dff_baseline == "running":
            return {"percentile": self.baseline_percentile, "window_s": self.baseline_window_s}
        return {"window_s": self.baseline_window_s}


def recorded_values(values: dict | None) -> dict:
    """A session's stored traces parameters as this version reads them: a `catrack traces` record
    without `lost_frames` was written before h16, when lost frames were measured at the held
    place, so it means "measure" (this version's default would make a re-run from it, by
    `--params-from`, `catrack info --params`, the Batch or Traces widget, give other traces).
    Likewise one without `red_noise_floor` was written before h17, without that rule: 0 (off);
    and one without `red_reference_percentile` before h18, when the relative red rule compared
    with the neuron's median red: 50 (its recorded `min_red_fraction`, 0.05 then, is kept)."""
    values = dict(values or {})
    if "radius" in values and "lost_frames" not in values:  # (radius: a traces record's own)
        values["lost_frames"] = "measure"
    if "radius" in values and "red_noise_floor" not in values:
        values["red_noise_floor"] = 0.0
    if "radius" in values and "red_reference_percentile" not in values:
        values["red_reference_percentile"] = 50.0
        values.setdefault("min_red_fraction", 0.05)
    return values


@dataclass(frozen=True)
class CleaningParams(StepParams):
    """Cleaning dF/F traces: which steps run, in which order, and each step's values."""

    step: ClassVar[str] = "cleaning"

    steps: tuple[str, ...] = param(("drift", "wavelet"), "cleaning steps in order, comma-separated, from "
                         + ", ".join(CLEANING_STEP_NAMES), parse=_names,
                         cli="--clean-steps")  # fmt: skip
    drift_cutoff_s: float = param(20.0, "drift: changes slower than this are removed",
                                  minimum=0.0, unit="s", cli="--drift-cutoff")  # fmt: skip
    drift_method: Literal["envelope", "highpass"] = param(
        "envelope", "drift: lower envelope (keeps long transients) or Butterworth high-pass",
        advanced=True,
    )  # fmt: skip
    drift_percentile: float = param(10.0, "drift: percentile of the lower envelope", minimum=0.0,
                                    maximum=100.0, advanced=True)  # fmt: skip
    drift_mode: Literal["subtract", "divide"] = param(
        "subtract", "drift: subtract the trend (dF/F) or divide by it (raw fluorescence)",
        advanced=True,
    )  # fmt: skip
    wavelet: str = param("sym4", "wavelet: the PyWavelets wavelet", advanced=True)
    wavelet_method: Literal["BayesShrink", "VisuShrink"] = param(
        "BayesShrink", "wavelet: threshold rule (BayesShrink adapts per scale)"
    )
    wavelet_mode: Literal["soft", "hard"] = param("soft", "wavelet: thresholding", advanced=True)
    wavelet_levels: int | None = param(None, "wavelet: decomposition levels (none = automatic)",
                                       minimum=1, maximum=30, advanced=True)  # fmt: skip
    savgol_window_s: float = param(0.5, "savgol: smoothing window", minimum=0.0, unit="s",
                                   cli="--savgol-window")  # fmt: skip
    savgol_polyorder: int = param(2, "savgol: polynomial order", minimum=0, maximum=10,
                                  advanced=True)  # fmt: skip
    bleach_method: Literal["exponential", "running"] = param(
        "exponential", "bleach: exponential fit or running lower envelope", advanced=True
    )
    bleach_window_s: float = param(30.0, "bleach: envelope window", minimum=0.0, unit="s",
                                   cli="--bleach-window", advanced=True)  # fmt: skip
    bleach_percentile: float = param(10.0, "bleach: envelope percentile", minimum=0.0,
                                     maximum=100.0, advanced=True)  # fmt: skip
    dff_method: Literal["percentile", "running", "caiman"] = param(
        "percentile", "dff: the F0 baseline", advanced=True
    )

    def check(self) -> None:
        unknown = [s for s in self.steps if s not in CLEANING_STEP_NAMES]
        if unknown:
            raise InputError(
                f"unknown cleaning step {unknown[0]!r}: choose from {sorted(CLEANING_STEP_NAMES)}"
            )
        for name in ("drift_cutoff_s", "savgol_window_s", "bleach_window_s"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if "wavelet" in self.steps:
            import pywt  # what the wavelet step runs with (denoise.py)

            if self.wavelet not in pywt.wavelist(kind="discrete"):
                raise InputError(
                    f"unknown wavelet {self.wavelet!r}: choose a discrete PyWavelets wavelet "
                    "such as sym4, db4, coif2, haar (pywt.wavelist(kind='discrete'))"
                )

    def step_params(self, name: str) -> dict[str, Any]:
        """The keyword arguments cleaning step `name` runs with (what `clean_traces` records)."""
        if name == "bleach":
            return {"method": self.bleach_method, "window_s": self.bleach_window_s,
                    "percentile": self.bleach_percentile}  # fmt: skip
        if name == "dff":
            return {"method": self.dff_method}
        if name == "zscore":
            return {}
        if name == "drift":
            return {"cutoff_s": self.drift_cutoff_s, "method": self.drift_method,
                    "percentile": self.drift_percentile, "mode": self.drift_mode}  # fmt: skip
        if name == "wavelet":
            return {"wavelet": self.wavelet, "method": self.wavelet_method,
                    "mode": self.wavelet_mode, "levels": self.wavelet_levels}  # fmt: skip
        if name == "savgol":
            return {"window_s": self.savgol_window_s, "polyorder": self.savgol_polyorder}
        raise InputError(
            f"unknown cleaning step {name!r}: choose from {sorted(CLEANING_STEP_NAMES)}"
        )
