"""Green/red ratio: motion and focus dim both channels while calcium changes only green.

The ratio R = G / R cancels those common-mode artefacts; dR/R0 is then the activity readout.
"""

from __future__ import annotations

import warnings

import numpy as np

from napari_catrack.errors import InputError

__all__ = ["ratio"]


def ratio(
    green: np.ndarray,
    red: np.ndarray,
    *,
    min_red: float | np.ndarray = 0.0,
    min_red_text: str | None = None,
    warn: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """R = G / R with a division guard: returns (ratio, invalid).

    Where red is <= `min_red` (a number, or an array broadcasting against red, e.g. one
    threshold per neuron as (N, 1)), NaN or infinite (an empty or off-worm ROI, a dark frame) the
    ratio is NaN and `invalid` is True, with one warning: never inf, never a huge spike. The
    warning says the threshold with `min_red_text` (the setting a user can change), else the
    number.
    """
    g = np.asarray(green, dtype=np.float64)
    r = np.asarray(red, dtype=np.float64)
    if g.shape != r.shape:
        raise InputError(f"green {g.shape} and red {r.shape} traces differ in shape")
    invalid = ~np.isfinite(r) | (r <= min_red)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(invalid, np.nan, g / np.where(invalid, 1.0, r))
    bad_red = invalid & np.isfinite(r)
    if warn and bad_red.any():
        if min_red_text is None:
            floor = np.unique(np.asarray(min_red, dtype=np.float64))
            min_red_text = f"<= {floor[0]:g}" if floor.size == 1 else "<= the threshold"
        warnings.warn(
            f"red intensity too low ({min_red_text}) in {int(bad_red.sum())} samples: "
            "ratio set to NaN there",
            RuntimeWarning,
            stacklevel=2,
        )
    return out, invalid
