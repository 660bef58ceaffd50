"""Parameters of motion correction (one place for every default: core, CLI, widget, session)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import StepParams, param


@dataclass(frozen=True)
class RegisterParams(StepParams):
    step: ClassVar[str] = "registration"

    mode: Literal["rigid", "piecewise"] = param(
        "piecewise", "rigid: one shift per frame; piecewise: NoRMCorre-style patches"
    )
    max_shift_px: float = param(
        20.0, "largest whole-frame motion searched", minimum=1, unit="px", label="max shift"
    )
    template_frames: int = param(
        300, "frames sampled (spread over the movie) to build the template", minimum=2
    )
    template_iterations: int = param(
        4, "template refinements (register the sample, average the best)", minimum=0, maximum=20
    )
    smooth_sigma_px: float = param(
        1.15,
        "Gaussian smoothing of the phase correlation (larger for noisier data)",
        minimum=0.3,
        maximum=5,
        unit="px",
        label="smooth sigma",
        advanced=True,
    )
    highpass_px: float = param(
        0.0,
        "subtract a Gaussian blur of this size before matching (0 = off; helps low-SNR data "
        "with uneven background)",
        minimum=0,
        unit="px",
        label="highpass",
        advanced=True,
    )
    bidirectional: bool = param(
        False, "estimate and correct the odd/even line offset of a resonant (bidirectional) scan"
    )
    patch_px: int = param(
        96,
        "patch size (piecewise mode); the default 96 on a frame under 96 px becomes half the "
        "frame's smaller side (at least 16), its overlap a third of it",
        minimum=16,
        unit="px",
        label="patch size",
    )
    patch_overlap_px: int = param(
        32, "overlap of neighbouring patches", minimum=0, unit="px", label="patch overlap"
    )
    max_deviation_px: float = param(
        3.0,
        "largest patch shift away from the rigid shift",
        minimum=0,
        unit="px",
        label="max deviation",
    )
    patch_min_psr: float = param(
        1.3,
        "patches whose correlation peak is weaker than this (peak-to-sidelobe) follow the rigid "
        "shift",
        minimum=1,
        advanced=True,
    )
    chunk_frames: int = param(
        200, "frames processed at a time (bounds memory)", minimum=1, advanced=True
    )
    bad_frames: Literal["error", "keep"] = param(
        "error",
        "frames that are constant or contain NaN: stop with an error, or keep them unshifted "
        "(their NaN/infinite pixels written as the template's, so later steps can read them)",
        advanced=True,
    )

    def check(self) -> None:
        if self.patch_overlap_px >= self.patch_px:
            raise InputError(
                f"the patch overlap (--patch-overlap-px, {self.patch_overlap_px}) must be smaller "
                f"than the patch size (--patch-px, {self.patch_px}), e.g. --patch-overlap-px "
                f"{self.patch_px // 3}"
            )

    def for_frame(self, shape: tuple[int, int]) -> tuple[RegisterParams, str | None]:
        """The parameters a (h, w) frame runs with, and a note when they differ from `self`.

        Piecewise patches at the default size (96 px) that do not fit a small frame become
        half its smaller side m (at least 16 px: 32 px for 64 x 64), with an overlap of a third
        of the patch (as 32 is of 96) unless a smaller overlap was given. Any other patch size
        is used as given (a patch larger than the frame is refused with values that fit).
        """
        default = type(self)()
        m = min(shape)
        if self.mode != "piecewise" or self.patch_px != default.patch_px or m >= self.patch_px:
            return self, None
        if m < 16:
            return self, None  # no patch fits: `patch_grid` says to use rigid mode
        patch = max(16, m // 2)
        given = self.patch_overlap_px
        overlap = given if given != default.patch_overlap_px and given < patch else patch // 3
        note = (
            f"the default {self.patch_px} px patches do not fit the {shape[0]}x{shape[1]} frame: "
            f"{patch} px patches overlapping by {overlap} px are used (--patch-px, patch size "
            "in the widget, to choose)"
        )
        return replace(self, patch_px=patch, patch_overlap_px=overlap), note
