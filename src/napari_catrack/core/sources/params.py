"""Parameters of source extraction and component evaluation (one place for every default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, param


@dataclass(frozen=True)
class EvaluationParams(StepParams):
    """Component evaluation thresholds (CaImAn's min_SNR / rval_thr, plus size limits)."""

    step: ClassVar[str] = "sources_evaluation"

    min_snr: float = param(
        3.0, "accept components whose peak SNR reaches this", minimum=0, label="min SNR"
    )
    min_r: float = param(
        0.5, "accept components whose footprint matches the movie (r-value) this well",
        minimum=-1, maximum=1, label="min r-value",
    )  # fmt: skip
    min_area_px: int = param(
        30, "smallest footprint accepted", minimum=0, unit="px", label="min area"
    )
    max_area_px: int = param(
        800, "largest footprint accepted", minimum=1, unit="px", label="max area"
    )

    def check(self) -> None:
        if self.min_area_px > self.max_area_px:
            raise InputError(
                f"--min-area-px ({self.min_area_px}) must not exceed --max-area-px "
                f"({self.max_area_px})"
            )


@dataclass(frozen=True)
class SourcesParams(StepParams):
    """CNMF-style extraction: seeds from correlation x peak-to-noise, HALS, low-rank background."""

    step: ClassVar[str] = "sources"

    cell_radius_px: float = param(
        5.0,
        "typical cell radius (CaImAn's gSig)",
        minimum=1,
        maximum=50,
        unit="px",
        label="cell radius",
    )
    patch_px: int = param(
        64,
        "patches processed independently, then merged (0 = whole frame)",
        minimum=0,
        unit="px",
        label="patch size",
    )
    patch_overlap_px: int = param(
        16, "overlap of neighbouring patches", minimum=0, unit="px", label="patch overlap"
    )
    min_corr: float = param(
        0.2, "seeds need this local correlation (filtered movie)", minimum=0, maximum=1
    )
    min_pnr: float = param(3.0, "seeds need this peak-to-noise ratio", minimum=0)
    min_activity: float = param(
        5.0, "seeds need this activity score (positive skew of the filtered trace in units of "
        "its spread without a cell: noise scores 0 +- 1)", minimum=0,
    )  # fmt: skip
    max_per_patch: int = param(40, "most components initialised in one patch", minimum=1)
    background_rank: int = param(
        2, "components of the low-rank background (neuropil)", minimum=0, maximum=10
    )
    iterations: int = param(
        8, "alternating spatial/temporal (HALS) updates", minimum=1, maximum=100, advanced=True
    )
    time_bin_s: float = param(
        0.3, "seeds and footprints are found on the movie binned to this time step (traces "
        "stay at the full frame rate)", minimum=0, maximum=5, unit="s", advanced=True,
    )  # fmt: skip
    merge_threshold: float = param(
        0.8, "merge overlapping components whose traces correlate this much",
        minimum=0, maximum=1, advanced=True,
    )  # fmt: skip
    deconvolution: Literal["oasis", "none"] = param(
        "oasis", "denoise and infer spikes with OASIS (oasis-deconv), or keep raw traces"
    )
    baseline_window_s: float = param(
        30.0, "running window of the dF/F baseline (the percentile at the trace's mode, as CaImAn)", minimum=0.1, unit="s",
        advanced=True,
    )  # fmt: skip

    def check(self) -> None:
        if self.patch_px and self.patch_overlap_px >= self.patch_px:
            raise InputError(
                f"the patch overlap (--patch-overlap-px, {self.patch_overlap_px}) must be smaller "
                f"than the patch size (--patch-px, {self.patch_px}), e.g. --patch-overlap-px "
                f"{self.patch_px // 4}"
            )
        if self.patch_px and self.patch_px < 4 * self.cell_radius_px:
            raise InputError(
                f"--patch-px {self.patch_px} is too small for cells of radius "
                f"{self.cell_radius_px} px: use at least {int(4 * self.cell_radius_px)} (or 0)"
            )


@dataclass(frozen=True)
class NeuropilParams(StepParams):
    """Neuropil correction of hand-drawn (ImageJ) ROIs, suite2p's rule: raw = F - c * Fneu, Fneu
    the mean of a ring around the ROI that leaves a gap and holds no ROI's pixels. The gap and
    ring size are suite2p's defaults (`inner_neuropil_radius` 2, `min_neuropil_pixels` 350,
    suite2p/extraction/masks.py `create_neuropil_masks`); c = 0 (off) by default because the
    right c depends on the preparation (suite2p uses 0.7)."""

    neuropil_coefficient: float = param(
        0.0, "subtract this x the mean of a ring around each ROI (0 = off; suite2p uses 0.7)",
        minimum=0, maximum=3, step=0.1, label="neuropil coefficient",
    )  # fmt: skip
    inner_neuropil_radius_px: int = param(
        2, "gap left between a ROI and its neuropil ring (suite2p's inner_neuropil_radius)",
        minimum=0, maximum=50, unit="px", label="neuropil gap",
    )  # fmt: skip
    min_neuropil_pixels: int = param(
        350, "the ring grows until it holds this many pixels outside every ROI "
        "(suite2p's min_neuropil_pixels)", minimum=1, label="neuropil ring size (px)",
    )  # fmt: skip
