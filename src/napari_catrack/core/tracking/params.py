"""Parameters of the neuron steps: candidate detection, tracking and tracker training.

One frozen dataclass per step (`napari_catrack.params.StepParams`): the single source of the
defaults used by the core functions, the `catrack detect/track/train-tracker` options, the
tracking widget's controls and the provenance stored in the session. This module imports nothing
heavy, so building the command line stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, param


@dataclass(frozen=True)
class DetectParams(StepParams):
    """Candidate neurons on one frame: hysteresis threshold, size filters, watershed split.

    Two thresholds, as in hysteresis thresholding: `threshold` (low) sets how far a candidate's
    region extends; `min_peak_snr` (high) decides whether the region is a candidate at all. The
    defaults were chosen on synthetic worms (all neurons found; the bright gut granules that remain
    are as bright as dim neurons) and checked on real worm volumes (docs/tracking.md).
    """

    step: ClassVar[str] = "neurons"

    sigma: float = param(1.0, "Gaussian smoothing before thresholding", minimum=0.0, maximum=10.0,
                         unit="px", step=0.1)  # fmt: skip
    block_size: int = param(21, "local-background window (odd sizes behave best)", minimum=3,
                            maximum=501, unit="px")  # fmt: skip
    threshold: float = param(3.0, "region extent: smoothed noise s.d. above local background",
                             minimum=0.0, maximum=100.0, step=0.5)  # fmt: skip
    min_peak_snr: float = param(
        15.0, "keep a region only if its peak stands this many pixel-noise s.d. above the local "
        "background (0 = keep all)", minimum=0.0, maximum=1000.0, step=1.0, label="min peak SNR",
    )  # fmt: skip
    min_brightness: float | None = param(None, "minimum mean brightness (image units; none = off)",
                                         minimum=0.0, advanced=True)  # fmt: skip
    min_area: int = param(6, "smallest region kept", minimum=1, maximum=100000, unit="px")
    max_area: int = param(400, "largest region kept", minimum=1, maximum=1000000, unit="px")
    min_bbox: int = param(2, "smallest bounding-box side", minimum=1, maximum=10000, unit="px",
                          advanced=True)  # fmt: skip
    max_bbox: int = param(30, "largest bounding-box side", minimum=1, maximum=10000, unit="px",
                          advanced=True)  # fmt: skip
    split_touching: bool = param(True, "split touching neurons (watershed from intensity maxima)",
                                 cli="--split-touching")  # fmt: skip
    min_distance: int = param(2, "closest two split neurons may lie", minimum=1, maximum=100,
                              unit="px", advanced=True)  # fmt: skip

    auto_scale: bool = param(
        False, "derive smoothing, window, spacing and size limits from the image's own blob scale "
        "(and count thresholds in its bright level when the background is flat, as after a DoG "
        "filter); the size settings above are then ignored", cli="--auto-scale",
    )  # fmt: skip

    def check(self) -> None:
        if self.min_area > self.max_area:
            raise InputError(
                f"--min-area {self.min_area} is larger than --max-area {self.max_area}"
            )
        if self.min_bbox > self.max_bbox:
            raise InputError(
                f"--min-bbox {self.min_bbox} is larger than --max-bbox {self.max_bbox}"
            )


@dataclass(frozen=True)
class TrackParams(StepParams):
    """Following picked neurons through a moving worm (pixels unless said otherwise)."""

    step: ClassVar[str] = "tracks"

    channel: Literal["red", "green"] = param(
        "red", "channel to track (red: the structural marker; single-channel data: green)"
    )
    model: str = param(
        "default", "local refinement: default/classical (patch correlation), cnn (the shipped "
        "CNN) or a folder holding tracker.pt + tracker.json",
    )  # fmt: skip
    sigma: float = param(1.0, "smoothing before peak finding", minimum=0.0, maximum=10.0,
                         unit="px", advanced=True)  # fmt: skip
    downsample: int = param(2, "downsampling for the global motion estimate", minimum=1,
                            maximum=16, advanced=True)  # fmt: skip
    patch: int = param(32, "side of the local-motion patch", minimum=16, maximum=256, unit="px",
                       advanced=True)  # fmt: skip
    gate: float = param(5.0, "farthest a neuron may lie from its predicted position", minimum=0.5,
                        maximum=100.0, unit="px")  # fmt: skip
    peak_snr: float = param(3.0, "a neuron's peak must exceed the background by this many "
                            "(smoothed) noise s.d.", minimum=0.0, maximum=1000.0, advanced=True)  # fmt: skip
    lost_after: int = param(
        10, "frames without a peak of its own after which a neuron is lost: held at its last "
        "supported place (moved with the tracked neurons around it), confidence 0, until a peak "
        "of its brightness reappears (0 = never lost: the motion estimate carries it on)",
        minimum=0, maximum=100000, unit="frames",
    )  # fmt: skip
    reacquire_radius: float = param(
        5.0, "how far from a lost neuron's held place a peak of its brightness is taken back",
        minimum=0.5, maximum=100.0, unit="px", advanced=True,
    )  # fmt: skip
    brightness: Literal["auto", "steady", "calcium"] = param(
        "auto", "brightness rules: steady (a structural channel: a neuron's own peak stays within "
        "4x of its running brightness) or calcium (its own transients, up to 30x its baseline, "
        "are still its own; a bright peak nearer another neuron is that neuron's); auto: calcium "
        "when the tracked channel is green, steady when it is red", advanced=True,
    )  # fmt: skip
    size_ratio: float = param(
        2.0, "size check: a lost neuron is not taken back by a blob whose scale (Laplacian of "
        "Gaussian) differs from its own (measured on its good frames) by more than this factor "
        "(another cell, two merged), nor does a followed neuron jump onto one that much smaller "
        "(a noise speck); 1 or more, or 0 = no size check", minimum=0.0,
        maximum=100.0, step=0.1, advanced=True,
    )  # fmt: skip
    size_jump: float = param(
        2.0, "the size check applies to a peak farther than this from the neuron's predicted "
        "place (a jump; a lost neuron's take-back is always checked)", minimum=0.0,
        maximum=100.0, unit="px", advanced=True,
    )  # fmt: skip
    chunk: int = param(64, "frames read at once from a file", minimum=1, maximum=100000,
                       advanced=True, gui=False)  # fmt: skip
    low_confidence: float = param(0.5, "confidence below which a frame is listed for review",
                                  minimum=0.0, maximum=1.0, step=0.05)  # fmt: skip
    review_gap: int = param(10, "low-confidence runs of one neuron this close (frames) are one "
                            "place to review", minimum=0, maximum=100000, advanced=True)  # fmt: skip

    def check(self) -> None:
        if 0 < self.size_ratio < 1:  # a factor between two sizes: 1 or more, or 0 for off
            raise InputError(f"--size-ratio must be 0 (off) or at least 1, got {self.size_ratio}")


OLD_TRACK_RULES = {"lost_after": 0, "brightness": "steady", "size_ratio": 0.0}
"""What a tracks record without these names was made with: before h15 (no `lost_after`) no
lost stage (0: exactly the positions of that tracker), before h16 (no `brightness`) the steady
rules, before h17 (no `size_ratio`) no blob size check."""


def recorded_values(values: dict | None) -> dict:
    """A session's stored tracks parameters as this version reads them: the rules a record made
    before them ran (`OLD_TRACK_RULES`) where it lacks them, not this version's defaults (a
    re-track in the widget, `--params-from`, `catrack info --params` or the Batch widget would
    otherwise run other rules than the tracks were made with)."""
    return {**OLD_TRACK_RULES, **(values or {})}


@dataclass(frozen=True)
class TrainTrackerParams(StepParams):
    """Training the tracker CNN on synthetic moving worms (reproduces the shipped weights)."""

    step: ClassVar[str] = "tracker_model"

    seed: int = param(0, "random seed", minimum=0)
    recordings: int = param(4, "synthetic recordings to train on", minimum=1, maximum=1000)
    epochs: int = param(4, "training epochs", minimum=1, maximum=1000)
    frames: int = param(120, "frames per synthetic recording", minimum=2, maximum=100000)
    lr: float = param(2e-3, "learning rate", minimum=0.0, maximum=1.0, advanced=True)

    def check(self) -> None:
        if not self.lr > 0:  # 0 trains nothing
            raise InputError(f"--lr must be positive, got {self.lr}")
