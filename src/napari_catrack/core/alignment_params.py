"""Parameters of the alignment estimate (red -> green): the one source of its defaults.

Kept apart from `core/alignment.py` (scikit-image, scipy) so that building the command line
imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from napari_catrack.params import StepParams, param


@dataclass(frozen=True)
class AlignParams(StepParams):
    """Estimating the transform (rigid, scaled or affine) that puts the red channel on green."""

    step: ClassVar[str] = "alignment"

    max_frames: int = param(64, "evenly spaced frames summarised for the initial guess (the "
                            "frame pairs of the final fit come from the same read)", minimum=1,
                            cli="--frames", label="frames")  # fmt: skip
    projection: Literal["mean", "max", "median", "percentile"] = param(
        "mean", "summary image for the initial guess"
    )
    refine_frames: int = param(12, "simultaneous frame pairs for the final sub-pixel fit "
                               "(0 = summaries only, fine for a still sample)", minimum=0)  # fmt: skip
    estimate_scale: bool = param(False, "also estimate a scale factor", cli="--scale",
                                 label="estimate scale")  # fmt: skip
    estimate_affine: bool = param(False, "also estimate different scales along y and x and a "
                                  "shear: a full affine, for two cameras or light paths with "
                                  "different optics (implies the scale)", cli="--affine",
                                  label="full affine")  # fmt: skip


PROJECTIONS: tuple[str, ...] = next(
    f.choices for f in AlignParams.fields() if f.name == "projection"
)
"""The summary images an alignment estimate can start from."""

AXES: tuple[str, ...] = ("xy", "yx")
"""Axis orders of a calibration matrix (`alignment_matrix`): `xy` = OpenCV's (first row gives
x), `yx` = napari's and this package's. Here, not there, so the command line builds without
scipy."""
DIRECTIONS: tuple[str, ...] = ("red-to-green", "green-to-red")
"""Which camera a calibration matrix maps onto which (this package's transforms map red onto
green)."""
