"""Parameters of motion correction (one place for every default: core, CLI, widget, session)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from napari_catrack.errors import InputError
from napari_catrack.params import NONE_GIVEN, StepParams, param

AUTO_PATCH_PX = 96  # the automatic patch size on a frame whose smaller side holds it
AUTO_MARK = "patch_px_auto"  # stored beside the parameters: patch_px null means automatic


def _patch_size(text: str) -> int | object:
    """Option text: "auto" (or "none": the automatic size) or a whole number of pixels."""
    return NONE_GIVEN if text.strip().lower() in ("auto", "none", "") else int(text)


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
    patch_px: int | None = param(
        None,
        "patch size (piecewise mode); auto (none): 96, or on a frame under 96 px half the "
        "frame's smaller side (at least 16) with a third of it as overlap; a number is used as "
        "given",
        minimum=16,
        unit="px",
        label="patch size",
        parse=_patch_size,
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
        patch = AUTO_PATCH_PX if self.patch_px is None else self.patch_px
        if self.patch_overlap_px >= patch:
            raise InputError(
                f"the patch overlap (--patch-overlap-px, {self.patch_overlap_px}) must be smaller "
                f"than the patch size (--patch-px, {patch}), e.g. --patch-overlap-px {patch // 3}"
            )

    def for_frame(self, shape: tuple[int, int]) -> tuple[RegisterParams, str | None]:
        """The parameters a (h, w) frame runs with (patch_px a number), and a note when the
        automatic patch size is not 96.

        The automatic patch size (None) is 96 px; on a frame whose smaller side m is under 96 it
        is half of m (at least 16 px: 32 px for 64 x 64), with an overlap of a third of the
        patch (as 32 is of 96) unless a smaller overlap was given. A patch size given (96 too)
        is used as given (a patch larger than the frame is refused with values that fit).
        """
        m = min(shape)
        if self.patch_px is not None or self.mode != "piecewise":
            return self, None  # rigid mode has no patches
        auto = replace(self, patch_px=AUTO_PATCH_PX)
        if m >= AUTO_PATCH_PX or m < 16:
            return auto, None  # under 16 px no patch fits: `patch_grid` says to use rigid mode
        patch = max(16, m // 2)
        given = self.patch_overlap_px
        default_overlap = type(self)().patch_overlap_px
        overlap = given if given != default_overlap and given < patch else patch // 3
        note = (
            f"the default {AUTO_PATCH_PX} px patches do not fit the {shape[0]}x{shape[1]} frame: "
            f"{patch} px patches overlapping by {overlap} px are used (--patch-px, patch size "
            "in the widget, to choose)"
        )
        return replace(self, patch_px=patch, patch_overlap_px=overlap), note

    def stored(self) -> dict:
        """`to_dict()` as sessions store it: with `AUTO_MARK`, so that a stored 96 tells a size
        given from the automatic one of a session written before it could be told."""
        return {**self.to_dict(), AUTO_MARK: self.patch_px is None}

    def key_dict(self) -> dict:
        """What a batch step key hashes: the automatic size as the 96 it was stored as before
        (a finished batch stays up to date), a given 96 told apart from it."""
        values = {**self.to_dict(), "patch_px": self.patch_px or AUTO_PATCH_PX}
        return {**values, "patch_px_given": 96} if self.patch_px == AUTO_PATCH_PX else values


def recorded_values(values: dict | None) -> dict:
    """A session's stored registration parameters as this version reads them: a record without
    `AUTO_MARK` was written when the automatic patch size was stored as 96 (a 96 given could not
    be told from it), so its 96 is the automatic size it meant; the mark itself is dropped."""
    values = dict(values or {})
    marked = values.pop(AUTO_MARK, None) is not None
    if not marked and values.get("patch_px") == AUTO_PATCH_PX:
        values["patch_px"] = None
    return values
