"""A red/green calibration measured by another tool (a 2 × 3 or 3 × 3 affine matrix), read into
the `AlignmentTransform` convention.

Why a module of its own: dual-camera rigs are calibrated once (with beads or a grid) and the
matrix is kept as a file, in the other tool's axis order and direction. OpenCV and most tools
that write 2 × 3 matrices use (x, y) (the first row gives x); napari, scikit-image and this
package use (y, x). Files seldom say which camera is mapped onto which (wbfm's
`warp_mat_green_to_red` names a direction but not whether it is the forward or the inverse
map). A recording can tell: `readings` gives the four ways to read a matrix, and the caller
scores them on the recording (`alignment.score_alignments`, the NCC the estimate reports) and
keeps the best, saying which it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_catrack.core.alignment_params import AXES, DIRECTIONS
from napari_catrack.core.rigid import AlignmentTransform
from napari_catrack.errors import InputError

_SWAP = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def read_matrix(path: str | os.PathLike) -> np.ndarray:
    """The 3 × 3 homogeneous matrix in a `.npy` file or a text file (`.txt`, `.csv`, `.tsv`:
    numbers separated by commas, tabs or spaces), checked: 2 × 3 or 3 × 3 (last row 0 0 1),
    finite, and not mirroring or collapsing the image."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"calibration matrix not found: {path}")
    try:
        if path.suffix.lower() == ".npy":
            values = np.load(path, allow_pickle=False)
        else:
            text = path.read_text(encoding="utf-8-sig").replace(",", " ").replace(";", " ")
            values = np.loadtxt(text.splitlines(), ndmin=2)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path} is not a calibration matrix (a .npy array or a text file of numbers): {exc}"
        ) from None
    m = np.asarray(values)
    if m.dtype.kind not in "iuf" or m.shape not in ((2, 3), (3, 3)):
        raise InputError(
            f"{path} holds an array of shape {m.shape} ({m.dtype}); a calibration matrix is "
            "2 x 3 (OpenCV's form) or 3 x 3 of numbers"
        )
    m = m.astype(float)
    if not np.isfinite(m).all():
        raise InputError(f"{path}: the calibration matrix has NaN or infinite entries")
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    elif not np.allclose(m[2], [0.0, 0.0, 1.0]):
        raise InputError(
            f"{path}: the last row of a 3 x 3 calibration matrix must be 0 0 1 (an affine map), "
            f"got {m[2].tolist()}"
        )
    det = float(np.linalg.det(m[:2, :2]))
    if not det > 0:
        raise InputError(
            f"{path}: the calibration matrix {'mirrors' if det < 0 else 'collapses'} the image "
            "(determinant of its 2 x 2 part is not positive); it is not a camera alignment"
        )
    return m


def reading(
    matrix: np.ndarray, shape: tuple[int, ...], axes: str, direction: str
) -> AlignmentTransform:
    """The red → green transform a 3 × 3 `matrix` is under one axis order and direction.

    Pixel coordinates are those of both conventions alike (pixel centres at integers, origin at
    the first pixel), so only the axis order and the direction differ.
    """
    if axes not in AXES:
        raise InputError(f"matrix axes must be one of {', '.join(AXES)}, got {axes!r}")
    if direction not in DIRECTIONS:
        raise InputError(
            f"matrix direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}"
        )
    m = np.asarray(matrix, dtype=float)
    if axes == "xy":
        m = _SWAP @ m @ _SWAP
    if direction == "green-to-red":
        m = np.linalg.inv(m)
    return AlignmentTransform.from_matrix(m, shape, source="file")


def readings(
    matrix: np.ndarray, shape: tuple[int, ...], axes: str = "auto", direction: str = "auto"
) -> dict[str, AlignmentTransform]:
    """Every reading of `matrix` allowed by `axes` and `direction` ("auto" = both), keyed
    "AXES, DIRECTION" (e.g. "xy, green-to-red")."""
    axes_list = AXES if axes == "auto" else (axes,)
    directions = DIRECTIONS if direction == "auto" else (direction,)
    return {f"{a}, {d}": reading(matrix, shape, a, d) for a in axes_list for d in directions}


def max_distance_px(a: AlignmentTransform, b: AlignmentTransform, shape: tuple[int, ...]) -> float:
    """How far apart two transforms put the frame's corners (px): whether two readings that
    score alike are the same map or the recording cannot tell them apart."""
    h, w = (int(n) for n in shape[-2:])
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], dtype=float)
    return float(np.abs(a.map_points(corners, shape) - b.map_points(corners, shape)).max())


@dataclass(frozen=True)
class MatrixFit:
    """The reading of a calibration matrix that fits a recording best, and how the others did."""

    transform: AlignmentTransform  # source "file", `info` says the file, the reading and scores
    scores: dict[str, float]  # NCC on the recording of every reading scored, best first
    ambiguous_with: str | None = None  # a different reading that fits almost as well
    unaligned: float | None = None  # the NCC of red as it is (no alignment), same frame pairs

    @property
    def reading(self) -> str:
        return next(iter(self.scores))

    def describe(self, name: str) -> str:
        """One line: which reading was kept, with its NCC and the others'."""
        others = "; ".join(f"{k}: {v}" for k, v in list(self.scores.items())[1:])
        return (
            f"{name} read as {self.reading} (NCC {self.scores[self.reading]} on the recording"
            + (f"; other readings: {others})" if others else ")")
        )

    def misfit(self, name: str, fix: str) -> str | None:
        """The warning when the best reading puts red on green worse than no alignment at all:
        the matrix is not this recording's (another rig's, or the channels the other way)."""
        best = self.scores[self.reading]
        if self.unaligned is None or not best < self.unaligned:
            return None
        return (
            f"{name} read as {self.reading} scores NCC {best} on the recording, below the "
            f"{self.unaligned} of no alignment at all: this matrix does not fit this recording "
            f"(another rig's calibration?); {fix}"
        )

    def ambiguity(self, name: str, fix: str) -> str | None:
        """The warning when the recording cannot tell two different readings apart."""
        if self.ambiguous_with is None:
            return None
        a, b = self.reading, self.ambiguous_with
        return (
            f"the recording fits the readings {a} and {b} of {name} almost equally (NCC "
            f"{self.scores[a]} and {self.scores[b]}) though they differ; {fix}"
        )


def fit_matrix(
    green: Any,
    red: Any,
    matrix: np.ndarray,
    axes: str = "auto",
    direction: str = "auto",
    params: Any = None,
    file: str = "",
) -> MatrixFit:
    """Score every allowed reading of `matrix` on the recording (the estimate's NCC, the same
    frame pairs; `params` an `AlignParams` for which frames) and keep the best. Two readings
    within 0.01 NCC that put the frame's corners more than 0.25 px apart are ambiguous. Red as
    it is (no alignment) is scored too: a best reading below it does not fit (`misfit`)."""
    from napari_catrack.core.alignment import score_alignments  # scikit-image: only when used

    shape = tuple(int(n) for n in green.shape[-2:])
    options = readings(matrix, shape, axes, direction)
    *values, unaligned = score_alignments(
        green, red, [*options.values(), AlignmentTransform()], params
    )
    raw = dict(zip(options, values, strict=True))
    ranked = sorted(raw, key=lambda k: -raw[k] if raw[k] == raw[k] else np.inf)  # NaN last
    scores = {k: raw[k] for k in ranked}
    ambiguous = None
    if len(ranked) > 1:
        best, second = ranked[0], ranked[1]
        close = raw[best] - raw[second] < 0.01
        if close and max_distance_px(options[best], options[second], shape) > 0.25:
            ambiguous = second
    info = {
        "method": "calibration matrix",
        "file": str(file),
        "reading": ranked[0],
        "ncc": raw[ranked[0]],
        "ncc_readings": scores,
        "ncc_unaligned": unaligned,
        "shape": list(shape),
    }
    return MatrixFit(options[ranked[0]].replace(info=info), scores, ambiguous, unaligned)
