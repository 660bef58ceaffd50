"""Parameters of the puncta step and of training its network: the one place for their defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, param

MIN_PSF_SIGMA_PX = 0.3
"""Narrowest PSF (sigma, px) the step accepts: on the sample at 500 nm per pixel (0.26 px) it found
nothing (numpy warnings only), at 350 nm (0.37 px) 139 of ~1,800 puncta."""

MAX_LINK_DISTANCE_NM = 5000.0
"""Longest frame-to-frame step linked (nm): 12x the default 400 nm; puncta are ~1 um apart."""
MODEL_MIN_JACCARD = 0.6
"""A network model whose validation Jaccard (matched / (truth + found - matched) on the held-out
simulated clips its training calibrated on, `calibrate.py`) is below this is used with a warning:
the shipped model recorded 0.87 there (clips up to 3 puncta/um^2 and 100 photons, harder than most
movies); one trained for a few dozen steps about 0.1."""
MAX_TRACK_LENGTH = 100_000
"""Largest `min_track_length` (localisations = frames); the movie's own frame count bounds it
further when it is known (`check_track_length`)."""


def check_track_length(params: PunctaParams, n_frames: int) -> None:
    """Refuse a minimum track length that no track in an `n_frames` movie can reach (every
    localisation would be dropped from the tracks without a word)."""
    if params.min_track_length > n_frames:
        raise InputError(
            f"--min-track-length {params.min_track_length} keeps no track: a track holds at most "
            f"one localisation per frame and the movie has {n_frames} frames"
        )


@dataclass(frozen=True)
class PunctaParams(StepParams):
    """Localisation (classical MLE or network), linking and the calcium call at each punctum."""

    step: ClassVar[str] = "puncta"
    pixel_size_nm: float = param(
        108.0,
        "camera pixel size in the sample",
        minimum=1,
        maximum=10000,
        unit="nm",
        cli=False,
        label="pixel size",
    )
    method: Literal["mle", "network"] = param(
        "mle", "localiser: classical detection + MLE fit, or the shipped/trained network"
    )
    psf_sigma_nm: float = param(
        130.0,
        "expected PSF width (starting value of the fit)",
        minimum=20,
        maximum=2000,
        unit="nm",
        label="PSF sigma",
    )
    detection_filter: Literal["wavelet", "dog"] = param(
        "wavelet",
        "band-pass before finding maxima (ThunderSTORM's wavelet or a DoG)",
        advanced=True,
    )
    threshold: float = param(
        1.5, "detection threshold in noise standard deviations of the first wavelet level "
        "(ThunderSTORM's default 1.5 x std(Wave.F1))",
        minimum=0.1, maximum=100,
    )  # fmt: skip
    fit_radius: int = param(3, "half-width of the fitted box", minimum=2, maximum=10, unit="px",
                            advanced=True)  # fmt: skip
    fit_sigma: bool = param(True, "fit the PSF width per spot (else keep it fixed)", advanced=True)
    neighbour_passes: int = param(
        1, "refits with the other puncta's fitted models subtracted (0 = off)", minimum=0,
        maximum=5, advanced=True,
    )  # fmt: skip
    pair_test: float = param(
        60.0, "split a spot into two puncta when 2 x the log-likelihood gain of a two-emitter "
        "fit exceeds this (0 = never)", minimum=0, advanced=True,
    )  # fmt: skip
    group_passes: int = param(
        2, "joint fits of each punctum with the neighbours in its box (0 = off)", minimum=0,
        maximum=5, advanced=True,
    )  # fmt: skip
    threads: int = param(0, "CPU threads for fitting (0 = all cores)", minimum=0, maximum=256,
                         advanced=True)  # fmt: skip
    likelihood: Literal["auto", "poisson", "scmos"] = param(
        "auto",
        "likelihood: Poisson, or sCMOS-corrected (read noise); auto picks from the camera",
        advanced=True,
    )
    min_photons: float = param(50.0, "drop localisations with fewer photons", minimum=0,
                               unit="photon")  # fmt: skip
    detection_probability: float = param(
        0.5, "network: minimum detection probability", minimum=0.01, maximum=0.99, advanced=True
    )
    model_min_jaccard: float = param(
        MODEL_MIN_JACCARD, "network: warn when the model's validation Jaccard, recorded when it "
        "was trained (held-out simulated clips), is below this, or when it records none",
        minimum=0, maximum=1, advanced=True, label="model min Jaccard",
    )  # fmt: skip
    device: Literal["auto", "cpu", "cuda"] = param(
        "auto", "network: where to run it (auto = GPU when present)", advanced=True
    )
    link_distance_nm: float = param(
        400.0,
        "tracks: largest displacement between frames",
        minimum=1,
        maximum=MAX_LINK_DISTANCE_NM,
        unit="nm",
        label="link distance",
        maximum_why="puncta lie about 1 um apart, so a step this long would join different "
        "puncta, and the linker's search grows with its area",
    )
    gap_frames: int = param(3, "tracks: frames a punctum may vanish (blinking) and be re-joined",
                            minimum=0, maximum=50)  # fmt: skip
    min_track_length: int = param(
        3, "tracks: keep tracks with at least this many localisations", minimum=1,
        maximum=MAX_TRACK_LENGTH, maximum_why="a track holds at most one localisation per frame, "
        "and 100,000 frames is hours of imaging: a longer minimum is a typo",
    )  # fmt: skip
    calcium_radius_nm: float = param(
        250.0, "calcium: radius of the disk at the punctum (an annulus beyond it is the local "
        "background)", minimum=20, maximum=1000, unit="nm", label="calcium radius",
    )  # fmt: skip
    calcium_threshold: float = param(
        4.0, "calcium: local excess (in noise standard deviations) at which the call is 50 %",
        minimum=0.5, maximum=50,
    )  # fmt: skip
    chunk_frames: int = param(64, "frames processed at once", minimum=1, maximum=10000,
                              advanced=True, gui=False)  # fmt: skip

    @property
    def psf_sigma_px(self) -> float:
        return self.psf_sigma_nm / self.pixel_size_nm

    def check(self) -> None:
        if self.psf_sigma_px > 2 * self.fit_radius:
            raise InputError(
                f"the PSF ({self.psf_sigma_nm:g} nm = {self.psf_sigma_px:.1f} px at "
                f"{self.pixel_size_nm:g} nm per pixel) is too wide for a fit radius of "
                f"{self.fit_radius} px: check the pixel size (nm in the sample, e.g. 108), or "
                f"raise --fit-radius (at most 10) or lower --psf-sigma-nm"
            )
        if self.psf_sigma_px < MIN_PSF_SIGMA_PX:  # a typo (1080 for 108): nothing fits, silently
            raise InputError(
                f"the PSF ({self.psf_sigma_nm:g} nm) is only {self.psf_sigma_px:.2f} px at "
                f"{self.pixel_size_nm:g} nm per pixel, too narrow to localise (at least "
                f"{MIN_PSF_SIGMA_PX:g} px): check the pixel size (nm in the sample, e.g. 108) "
                "and --psf-sigma-nm"
            )


@dataclass(frozen=True)
class TrainPunctaParams(StepParams):
    """Training the shared-encoder puncta network on the simulator (phased, reproducible)."""

    step: ClassVar[str] = "puncta_model"
    seed: int = param(0, "random seed (training is reproducible from it)", minimum=0)
    patch: int = param(
        32, "training patch size (a multiple of 4)", minimum=16, maximum=256, unit="px"
    )
    batch_size: int = param(16, "patches per step", minimum=1, maximum=512)
    steps_localization: int = param(10000, "phase 1: encoder + localisation head", minimum=0)
    steps_calcium: int = param(2000, "phase 2: calcium head on the frozen encoder", minimum=0)
    steps_joint: int = param(3000, "phase 3: everything, Kendall-weighted", minimum=0)
    max_density: float = param(
        3.0, "curriculum: densest simulated scenes (reached halfway through phase 1)",
        minimum=0.1, maximum=10, unit="1/um^2",
    )  # fmt: skip
    min_photons: float = param(
        100.0, "curriculum: dimmest mean photons per punctum (half the scenes are below 800)",
        minimum=10, maximum=5000, unit="photon",
    )  # fmt: skip
    calibration_clips: int = param(
        48, "held-out simulated clips for the post-hoc uncertainty calibration (0 = none)",
        minimum=0,
    )  # fmt: skip
    learning_rate: float = param(2e-3, "peak learning rate (one-cycle)", minimum=1e-6, maximum=1)
    base_channels: int = param(16, "U-Net base channels", minimum=4, maximum=64)
    pixel_size_nm: float = param(108.0, "simulated pixel size", minimum=1, unit="nm")
    psf_sigma_nm: float = param(130.0, "simulated PSF width (varied +-20 %)", minimum=20,
                                unit="nm")  # fmt: skip
    labels: str | None = param(
        None, "optional ThunderSTORM CSV of bootstrapped labels for --labels-movie", cli="--labels"
    )

    def check(self) -> None:
        if self.patch % 4:
            raise InputError(
                f"--patch must be a multiple of 4 (the network pools twice); got {self.patch}"
            )
